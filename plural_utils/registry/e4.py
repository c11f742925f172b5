"""Profiles of E4 (Sec. 4.3, App. C.6, Fig. 5): GPT-2 retraining under two length preferences.

``paper`` keeps every setting App. C.6 gives (6 layers x 6 heads x 384, GPT-2's
50,257-token vocabulary, WikiText-2 seeds, 1,000 seed texts, 20 rounds of 200
curated / 200 generated, q = 0.5, tau = 0.5, AdamW 5e-5, 2 epochs, batch 8,
temperature 0.8); the values it leaves open (T_A, the d values, top_p, the
generation length, how the base model was pretrained) are our choices. It
needs WikiText-2's raw files and GPT-2's tokenizer on disk and stops at once
without them.

``cpu`` is an offline stand-in sized for a 2-core laptop: the Python manual
as corpus, a 4,096-token BPE trained here, a smaller decoder (4 layers x 4
heads x 128) pretrained briefly here, shorter texts (targets of 2 to 14 words)
and the paper's 20 rounds; the curation and fine-tuning settings are the paper's.

Measured on the shared 2-core machine: ``smoke`` notebook 10-16 s; ``cpu``
notebook 7.5-11.5 min, of which 100-180 s train the BPE and the base model
once (cached; about 5.5-8.5 min when cached).
"""

from ..profiles import Experiment, register

_E4_PAPER = dict(
    corpus="wikitext2",
    corpus_max_words=None,
    tokenizer="gpt2",
    vocab_size=50257,
    n_layer=6,
    n_head=6,
    n_embd=384,
    n_positions=128,
    pretrain_steps=5000,
    pretrain_batch=32,
    pretrain_lr=5e-4,
    n_pretrain=50_000,
    n_seed=1000,
    seed_min_words=1,
    seed_max_words=48,
    T_A=10,
    distances=[0, 5, 10, 20, 30],
    baselines=True,
    rounds=20,
    n_curated=200,
    n_generate=200,
    q=0.5,
    tau=0.5,
    epochs=2,
    lr=5e-5,
    batch_size=8,
    temperature=0.8,
    top_p=0.95,
    max_new_tokens=96,
    max_length=96,
    delta=2,
)

_E4_CPU = {
    **_E4_PAPER,
    "corpus": "python-doc",
    "tokenizer": "bpe",
    "vocab_size": 4096,
    "n_layer": 4,
    "n_head": 4,
    "n_embd": 128,
    "n_positions": 48,
    "pretrain_steps": 600,
    "pretrain_lr": 2e-3,
    "n_pretrain": 20_000,
    "seed_max_words": 20,
    "T_A": 2,
    "distances": [0, 4, 8, 12],
    "rounds": 20,
    "max_new_tokens": 40,
    "max_length": 40,
}

register(
    Experiment(
        name="e4",
        title="E4: text retraining under conflicting length preferences (Fig. 5)",
        notebook="notebooks/text/e4_length_preferences.ipynb",
        profiles={
            "smoke": {
                **_E4_CPU,
                "corpus": "stdlib-docstrings",
                "corpus_max_words": 30_000,
                "vocab_size": 400,
                "n_layer": 1,
                "n_head": 2,
                "n_embd": 32,
                "n_positions": 24,
                "pretrain_steps": 40,
                "pretrain_batch": 16,
                "pretrain_lr": 3e-3,
                "n_pretrain": 1000,
                "n_seed": 200,
                "seed_max_words": 14,
                "T_A": 3,
                "distances": [0, 6],
                "rounds": 2,
                "n_curated": 32,
                "n_generate": 48,
                "max_new_tokens": 20,
                "max_length": 20,
            },
            "cpu": _E4_CPU,
            "paper": _E4_PAPER,
        },
    )
)
