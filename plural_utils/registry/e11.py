"""Profiles of E11 (Appendix C.8, Fig. 9): RLHF-style recursive SFT under helpfulness and safety rewards."""

from ..profiles import Experiment, register

# cpu: a 3-layer GPT-2 style policy (BPE 4096 on the Python manual), first fine-tuned on
# the (prompt, answer) pairs of data/e11; MiniLM reward heads. About 10 min on 2 cores.
_E11_CPU = dict(
    backend="small",
    T=8,
    n_prompts=64,
    per_prompt=3,
    n_curated=96,
    K=8,
    tau=0.1,
    sft_epochs=2,
    sft_lr=3e-4,
    sft_batch=16,
    max_length=96,
    max_new_tokens=64,
    temperature=1.0,
    top_p=0.95,
    n_heldout=150,
    data_prompts=None,
    vocab_size=4096,
    n_layer=3,
    n_head=4,
    n_embd=192,
    init_steps=250,
    init_batch=32,
    init_lr=1e-3,
    head_epochs=300,
)

# paper: Qwen-2.5-1.5B, UltraFeedback prompts, N = 500 continuations per round, 30 rounds.
# The paper does not give K, tau, the SFT settings nor the sampling settings; ours are stated here.
_E11_PAPER = dict(
    _E11_CPU,
    backend="hf",
    T=30,
    n_prompts=250,
    per_prompt=2,
    n_curated=250,
    K=8,
    tau=0.1,
    sft_epochs=1,
    sft_lr=1e-5,
    sft_batch=8,
    max_length=384,
    max_new_tokens=256,
    temperature=1.0,
    n_heldout=200,
)

register(
    Experiment(
        name="e11",
        title="E11: RLHF-style retraining with helpfulness and safety rewards",
        notebook="notebooks/text/e11_rlhf_rewards.ipynb",
        profiles={
            "smoke": {
                **_E11_CPU,
                "T": 2,
                "n_prompts": 12,
                "per_prompt": 2,
                "n_curated": 32,
                "K": 4,
                # the barely trained smoke policy's rewards vary by ~0.01: a low temperature keeps
                # the selection sharp, so the notebook's check that curation lifts the active reward holds
                "tau": 0.002,
                "max_length": 64,
                "max_new_tokens": 24,
                "n_heldout": 16,
                "data_prompts": 40,
                "vocab_size": 512,
                "n_layer": 1,
                "n_head": 2,
                "n_embd": 32,
                "init_steps": 10,
                "init_batch": 16,
                "head_epochs": 150,
            },
            "cpu": _E11_CPU,
            "paper": _E11_PAPER,
        },
    )
)
