"""E11 (Appendix C.8, Fig. 9): RLHF-style recursive SFT on Bradley–Terry-curated outputs.

Each round the current policy answers ``n_prompts`` prompts ``per_prompt``
times (``N`` continuations), every continuation is scored by a helpfulness
reward ``r_help`` and a safety reward ``r_safe = 1 - P(unsafe)``, ``n_curated``
of them are chosen by the K-candidate Bradley–Terry rule (eq. (1) with the
temperature of (C.1)) under ``r_safe`` with probability ``q_safe`` and
``r_help`` otherwise (:func:`plural_utils.curation.curate`, fresh pools), and
the policy is fine-tuned (SFT) on them. ``q_safe = 0`` is helpfulness-only,
``1`` safety-only, ``0.5`` the balanced pluralistic curator of the paper.

Backends
    ``"small"`` (``cpu``/``smoke``): the GPT-2 style decoder of
    :mod:`plural_utils.textdata` with a BPE tokenizer trained on the Python
    manual, first fine-tuned on the (prompt, answer) pairs of ``data/e11``; the
    rewards are the MiniLM heads of :mod:`plural_utils.text_rewards`.
    ``"hf"`` (``paper``): Qwen-2.5-1.5B, UltraFeedback prompts, a helpfulness
    reward model and Llama-Guard-3-1B, all read from local files only
    (:func:`check_paper_assets` names whatever is missing at once).

Per round ``t`` (the policy after ``t`` rounds of SFT) the table records the
mean of both rewards over the round's ``N`` continuations, Distinct-2 over
them, and the perplexity of held-out reference texts. Rounds are checkpointed
(weights first, then the round record that names them) and a killed run
resumes from its last finished round with the same table.
"""

from __future__ import annotations

import dataclasses
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from .. import textdata as td
from .. import text_rewards as tr
from ..checkpoint import (RoundCheckpoint, generator_state, maybe_simulate_kill, resolve_checkpoint_dir,
                          restore_generator)
from ..curation import curate
from ..modelcache import default_device
from ..validation import check_choice, check_K, check_nonnegative_int, check_positive, check_q

BACKENDS = ("small", "hf")
# q_safe of each curator of Fig. 9.
CONDITIONS = {"helpfulness-only": 0.0, "balanced": 0.5, "safety-only": 1.0}
REWARD_NAMES = ("helpfulness", "safety")
N_SAMPLES_KEPT = 6

POLICY_ENV = "PLURAL_E11_POLICY"
HELPFULNESS_ENV = "PLURAL_E11_HELPFULNESS_RM"
SAFETY_ENV = "PLURAL_E11_SAFETY_MODEL"
PROMPTS_ENV = "PLURAL_ULTRAFEEDBACK_PATH"


@dataclass(frozen=True)
class E11Config:
    """Settings of E11; see ``plural_utils/registry/e11.py`` for the profiles.

    Attributes
    ----------
    backend : {"small", "hf"}
    T : int
        Retraining rounds (the paper: 30).
    n_prompts, per_prompt : int
        Prompts drawn per round and continuations per prompt; ``N`` is their
        product (the paper: ``N = 500``).
    n_curated : int
        Bradley–Terry draws per round (with replacement) forming the SFT set.
    K : int
        Candidates per Bradley–Terry pool (fresh pools drawn from the ``N``).
    tau : float
        Temperature of (C.1); both rewards lie in ``[0, 1]``.
    sft_epochs, sft_lr, sft_batch : int, float, int
        SFT of each round (AdamW, a fresh optimizer per round).
    max_length, max_new_tokens, temperature, top_p :
        Training sequence length and nucleus sampling of the continuations.
    n_heldout : int
        Held-out reference texts for perplexity.
    data_prompts : int or None
        ``small``: use only the first this many prompts of ``data/e11``.
    vocab_size, n_layer, n_head, n_embd, init_steps, init_batch, init_lr :
        ``small``: tokenizer and policy, and the initial SFT of the policy.
    head_epochs : int
        ``small``: training epochs of the reward heads.
    policy, helpfulness_rm, safety_model, prompts_path : str
        ``hf``: local folders or Hugging Face ids found in the local cache
        (environment variables ``PLURAL_E11_POLICY``,
        ``PLURAL_E11_HELPFULNESS_RM``, ``PLURAL_E11_SAFETY_MODEL``,
        ``PLURAL_ULTRAFEEDBACK_PATH`` override them).
    """

    backend: str = "small"
    T: int = 8
    n_prompts: int = 64
    per_prompt: int = 3
    n_curated: int = 96
    K: int = 8
    tau: float = 0.1
    sft_epochs: int = 2
    sft_lr: float = 3e-4
    sft_batch: int = 16
    max_length: int = 96
    max_new_tokens: int = 64
    temperature: float = 1.0
    top_p: float = 0.95
    n_heldout: int = 150
    data_prompts: int | None = None
    vocab_size: int = 4096
    n_layer: int = 3
    n_head: int = 4
    n_embd: int = 192
    init_steps: int = 250
    init_batch: int = 32
    init_lr: float = 1e-3
    head_epochs: int = 300
    policy: str = "Qwen/Qwen2.5-1.5B"
    helpfulness_rm: str = "RLHFlow/ArmoRM-Llama3-8B-v0.1"
    safety_model: str = "meta-llama/Llama-Guard-3-1B"
    prompts_path: str = ""

    def __post_init__(self) -> None:
        check_choice(self.backend, "backend", BACKENDS)
        check_nonnegative_int(self.T, "T")
        for name in ("n_prompts", "per_prompt", "n_curated", "sft_batch", "max_length", "max_new_tokens",
                     "n_heldout", "vocab_size", "n_layer", "n_head", "n_embd", "init_batch", "head_epochs"):
            check_K(getattr(self, name), name)
        check_K(self.K, "K")
        for name in ("tau", "sft_lr", "temperature", "init_lr"):
            check_positive(getattr(self, name), name)
        check_nonnegative_int(self.sft_epochs, "sft_epochs")
        check_nonnegative_int(self.init_steps, "init_steps")
        if not 0 < self.top_p <= 1:
            raise ValueError(f"top_p must lie in (0, 1]; got {self.top_p!r}")
        if self.data_prompts is not None:
            check_K(self.data_prompts, "data_prompts")

    @property
    def N(self) -> int:
        """Continuations generated per round."""
        return self.n_prompts * self.per_prompt


@dataclass
class E11Setup:
    """What every condition shares: tokenizer, initial policy, rewards, prompts, held-out texts.

    ``new_policy()`` returns a fresh copy of the initial policy; ``rewards``
    maps ``(prompts, responses)`` to an array of shape ``(2, n)`` (row 0
    helpfulness, row 1 ``r_safe``); ``info`` holds the build's diagnostics
    (reward heads' accuracies, the initial SFT's loss).
    """

    tokenizer: td.TextTokenizer
    new_policy: Callable
    rewards: Callable
    train_prompts: list[str]
    heldout_texts: list[str]
    key: dict
    info: dict = field(default_factory=dict)


# ----------------------------------------------------------------------------- metrics

def distinct_n(texts, n: int = 2) -> float:
    """Distinct-n: distinct word n-grams over all n-grams of ``texts`` (Li et al., 2016).

    Words are whitespace tokens, lower-cased; n-grams do not cross texts.
    ``nan`` when no text has ``n`` words.
    """
    n = check_K(n, "n")
    grams = [tuple(words[i:i + n]) for words in (t.lower().split() for t in texts)
             for i in range(len(words) - n + 1)]
    return len(set(grams)) / len(grams) if grams else float("nan")


# ----------------------------------------------------------------------------- small backend

def build_small_setup(config: E11Config, seed: int = 0, cache_dir=None, progress: bool = False) -> E11Setup:
    """Tokenizer, initial policy and reward heads of the ``cpu``/``smoke`` stand-in, cached.

    The BPE tokenizer is trained on the Python manual (``python-doc``); the
    policy is a :func:`~plural_utils.textdata.small_gpt2` trained
    ``init_steps`` steps on the train prompts' plain, shortcut and hedged
    answers (:func:`~plural_utils.text_rewards.sft_examples`) with
    :func:`~plural_utils.textdata.pretrain_lm` (cached). The held-out texts are
    the held-out prompts with their reference (plain) answers.
    """
    prompts, sentences = tr.load_e11_data()
    if config.data_prompts is not None:
        prompts = prompts.iloc[:config.data_prompts].reset_index(drop=True)
    heads = tr.build_reward_heads(prompts, sentences, seed=seed, cache_dir=cache_dir, progress=progress,
                                  config=tr.HeadConfig(epochs=config.head_epochs))
    tok = td.train_bpe(td.load_corpus("python-doc"), config.vocab_size, directory=cache_dir)
    train = prompts[prompts["split"] == "train"]
    sft = tr.sft_examples(train, sentences, seed)
    texts = [tr.format_example(p, r) for p, r in zip(sft["prompt"], sft["response"])]
    model, init_info = td.pretrain_lm(tok, texts, steps=config.init_steps, batch_size=config.init_batch,
                                      lr=config.init_lr, max_length=config.max_length, seed=seed,
                                      n_layer=config.n_layer, n_head=config.n_head, n_embd=config.n_embd,
                                      n_positions=max(128, config.max_length + config.max_new_tokens),
                                      warmup=max(1, config.init_steps // 10), name="e11-policy-init",
                                      directory=cache_dir, progress=progress)
    init_state = {k: v.detach().cpu().clone() for k, v in model.state_dict().items()}
    arch = dict(n_layer=config.n_layer, n_head=config.n_head, n_embd=config.n_embd,
                n_positions=model.config.n_positions)

    def new_policy():
        fresh = td.small_gpt2(tok.vocab_size, tokenizer=tok, **arch)
        td.load_into(fresh, init_state)
        return fresh.to(default_device()).eval()

    heldout = prompts[prompts["split"] == "heldout"].iloc[:config.n_heldout]
    info = {"reward_heads": heads.info, "policy_init": init_info, "n_train_prompts": len(train),
            "n_heldout_texts": len(heldout), "n_sft_texts": len(texts)}
    key = {"backend": "small", "data": tr.data_fingerprint(prompts, sentences), "tokenizer": tok.fingerprint,
           "policy": td.texts_hash(texts), "seed": seed}
    return E11Setup(tok, new_policy, heads.score, list(train["prompt"]),
                    [tr.format_example(p, a) for p, a in zip(heldout["prompt"], heldout["answer"])], key, info)


# ----------------------------------------------------------------------------- paper (hf) backend

_FETCH = {
    "policy": ("Qwen-2.5-1.5B", POLICY_ENV, "huggingface-cli download Qwen/Qwen2.5-1.5B --local-dir <dir>"),
    "helpfulness_rm": ("the helpfulness reward model (the paper's ArmoRM needs trust_remote_code, kept off here, so "
                       "use one that loads with AutoModelForSequenceClassification and num_labels=1)", HELPFULNESS_ENV,
                       "huggingface-cli download Skywork/Skywork-Reward-Llama-3.1-8B-v0.2 --local-dir <dir>"),
    "safety_model": ("Llama-Guard-3-1B", SAFETY_ENV,
                     "accept the licence on huggingface.co/meta-llama/Llama-Guard-3-1B, then "
                     "huggingface-cli download meta-llama/Llama-Guard-3-1B --local-dir <dir>"),
}


def _resolve(config: E11Config, name: str) -> str:
    env = {"policy": POLICY_ENV, "helpfulness_rm": HELPFULNESS_ENV, "safety_model": SAFETY_ENV,
           "prompts_path": PROMPTS_ENV}[name]
    return os.environ.get(env) or getattr(config, name)


def local_model_dir(name_or_path: str) -> Path | None:
    """The local folder of a model: the path itself, or the Hugging Face cache entry (no download)."""
    folder = Path(name_or_path).expanduser()
    if folder.is_dir():
        return folder if (folder / "config.json").is_file() else None
    if name_or_path.count("/") != 1 or folder.is_absolute():
        return None
    try:
        from huggingface_hub import try_to_load_from_cache
    except ImportError:
        return None
    hit = try_to_load_from_cache(repo_id=name_or_path, filename="config.json")
    return Path(hit).parent if isinstance(hit, str) else None


def needs_remote_code(folder: Path) -> bool:
    """Whether a model's ``config.json`` names classes outside ``transformers`` (``auto_map``)."""
    config = json.loads((folder / "config.json").read_text(encoding="utf-8"))
    return "auto_map" in config


def check_paper_assets(config: E11Config) -> dict[str, Path]:
    """Local folders of the paper backend's models and prompts file; fails at once naming what is missing.

    Raises
    ------
    FileNotFoundError
        Listing every missing model or data file, with the environment
        variable to point at it and the command that fetches it.
    ValueError
        When the helpfulness model needs ``trust_remote_code`` (ArmoRM does:
        its gating head is custom code), which this project keeps off.
    """
    found, missing = {}, []
    for name, (what, env, how) in _FETCH.items():
        source = _resolve(config, name)
        folder = local_model_dir(source)
        if folder is None:
            missing.append(f"- {what} ({source!r}): not in a local folder or the Hugging Face cache; "
                           f"fetch it with `{how}` and set {env}=<dir>")
        else:
            found[name] = folder
    prompts = _resolve(config, "prompts_path")
    if not prompts or not Path(prompts).exists():
        missing.append(f"- UltraFeedback prompts ({prompts or 'unset'}): a .jsonl/.json/.parquet file or folder of "
                       "them with an 'instruction' or 'prompt' column; fetch with `huggingface-cli download "
                       "openbmb/UltraFeedback --repo-type dataset --local-dir <dir>` and set "
                       f"{PROMPTS_ENV}=<dir>")
    else:
        found["prompts_path"] = Path(prompts)
    if missing:
        raise FileNotFoundError("E11's paper profile needs files that are not on this machine "
                                "(nothing is downloaded):\n" + "\n".join(missing))
    if needs_remote_code(found["helpfulness_rm"]):
        raise ValueError(f"the helpfulness reward model at {found['helpfulness_rm']} needs trust_remote_code=True "
                         "(ArmoRM-Llama3-8B-v0.1 does), which this project keeps off. Point "
                         f"{HELPFULNESS_ENV} at a reward model that loads with AutoModelForSequenceClassification "
                         "(num_labels=1), e.g. Skywork/Skywork-Reward-Llama-3.1-8B-v0.2.")
    return found


def load_prompt_file(path: str | os.PathLike) -> pd.DataFrame:
    """UltraFeedback-style prompts as a table with a ``prompt`` column (and ``response`` when present)."""
    path = Path(path)
    files = sorted(p for p in (path.rglob("*") if path.is_dir() else [path])
                   if p.suffix in (".jsonl", ".json", ".parquet"))
    if not files:
        raise FileNotFoundError(f"no .jsonl, .json or .parquet file under {path}")
    frames = [pd.read_parquet(f) if f.suffix == ".parquet" else pd.read_json(f, lines=f.suffix == ".jsonl")
              for f in files]
    table = pd.concat(frames, ignore_index=True)
    column = next((c for c in ("instruction", "prompt") if c in table.columns), None)
    if column is None:
        raise ValueError(f"{path}: need an 'instruction' or 'prompt' column; found {list(table.columns)}")
    out = pd.DataFrame({"prompt": table[column].astype(str)})
    if "completions" in table.columns:  # UltraFeedback: the first completion's text is the reference
        out["response"] = [c[0]["response"] if len(c) else "" for c in table["completions"]]
    return out.drop_duplicates("prompt").reset_index(drop=True)


def _hf_tokenizer(folder: Path) -> td.TextTokenizer:
    from transformers import AutoTokenizer

    hf = AutoTokenizer.from_pretrained(folder, local_files_only=True, trust_remote_code=False)
    eos = hf.eos_token_id
    return td.TextTokenizer(backend=hf.backend_tokenizer, bos_id=eos, eos_id=eos,
                            pad_id=hf.pad_token_id if hf.pad_token_id is not None else eos, name=folder.name)


def _batched(items, size: int):
    for start in range(0, len(items), size):
        yield start, items[start:start + size]


def helpfulness_scorer(folder: Path, batch_size: int = 16) -> Callable:
    """A sequence-classification reward model's score of the chat ``[user: prompt, assistant: response]``."""
    import torch
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    device = default_device()
    tok = AutoTokenizer.from_pretrained(folder, local_files_only=True, trust_remote_code=False)
    model = AutoModelForSequenceClassification.from_pretrained(
        folder, local_files_only=True, trust_remote_code=False, torch_dtype=torch.bfloat16).to(device).eval()
    if tok.pad_token_id is None:  # Llama-based reward models have none; batches need one
        tok.pad_token = tok.eos_token
    model.config.pad_token_id = tok.pad_token_id

    def score(prompts, responses) -> np.ndarray:
        chats = [tok.apply_chat_template([{"role": "user", "content": p}, {"role": "assistant", "content": r}],
                                         tokenize=False) for p, r in zip(prompts, responses)]
        out = np.empty(len(chats))
        with torch.no_grad():
            for start, batch in _batched(chats, batch_size):
                enc = tok(batch, return_tensors="pt", padding=True, truncation=True, max_length=1024,
                          add_special_tokens=False).to(device)  # the chat template already has them
                out[start:start + len(batch)] = model(**enc).logits[:, 0].float().cpu().numpy()
        return 1.0 / (1.0 + np.exp(-out))  # on [0, 1] like r_safe

    return score


def llama_guard_scorer(folder: Path, batch_size: int = 16) -> Callable:
    """``r_safe = 1 - P(unsafe)`` from Llama Guard 3's next token after its chat template.

    ``P(unsafe)`` is the softmax of the logits of the first tokens of
    ``"unsafe"`` and ``"safe"`` at the position where the model writes its
    verdict (Meta's model card: the reply starts with ``safe`` or ``unsafe``).
    """
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    device = default_device()
    tok = AutoTokenizer.from_pretrained(folder, local_files_only=True, trust_remote_code=False)
    tok.padding_side = "left"
    if tok.pad_token_id is None:
        tok.pad_token = tok.eos_token
    model = AutoModelForCausalLM.from_pretrained(folder, local_files_only=True, trust_remote_code=False,
                                                 torch_dtype=torch.bfloat16).to(device).eval()
    ids = [tok.encode(w, add_special_tokens=False)[0] for w in ("unsafe", "safe")]

    def score(prompts, responses) -> np.ndarray:
        chats = [tok.apply_chat_template([{"role": "user", "content": [{"type": "text", "text": p}]},
                                          {"role": "assistant", "content": [{"type": "text", "text": r}]}],
                                         tokenize=False) for p, r in zip(prompts, responses)]
        out = np.empty(len(chats))
        with torch.no_grad():
            for start, batch in _batched(chats, batch_size):
                enc = tok(batch, return_tensors="pt", padding=True, add_special_tokens=False).to(device)
                logits = model(**enc).logits[:, -1, ids].float()
                out[start:start + len(batch)] = torch.softmax(logits, dim=1)[:, 0].cpu().numpy()
        return 1.0 - out

    return score


def build_hf_setup(config: E11Config, seed: int = 0) -> E11Setup:
    """The paper backend: local Qwen-2.5-1.5B, reward models and UltraFeedback prompts (GPU)."""
    found = check_paper_assets(config)  # before the slow imports: a missing file is reported at once
    import torch
    from transformers import AutoModelForCausalLM

    table = load_prompt_file(found["prompts_path"])
    rng = np.random.default_rng([seed, 7])
    order = rng.permutation(len(table))
    heldout = table.iloc[order[:config.n_heldout]]
    train = table.iloc[order[config.n_heldout:]]
    help_score = helpfulness_scorer(found["helpfulness_rm"])
    safe_score = llama_guard_scorer(found["safety_model"])

    def rewards(prompts, responses) -> np.ndarray:
        return np.stack([help_score(prompts, responses), safe_score(prompts, responses)])

    def new_policy():
        return AutoModelForCausalLM.from_pretrained(found["policy"], local_files_only=True, trust_remote_code=False,
                                                    torch_dtype=torch.float32).to(default_device())

    refs = heldout["response"] if "response" in heldout.columns else [""] * len(heldout)
    key = {"backend": "hf", **{k: str(v) for k, v in found.items()}, "seed": seed}
    return E11Setup(_hf_tokenizer(found["policy"]), new_policy, rewards, list(train["prompt"]),
                    [tr.format_example(p, r) for p, r in zip(heldout["prompt"], refs)], key)


def build_setup(config: E11Config, seed: int = 0, cache_dir=None, progress: bool = False) -> E11Setup:
    """:func:`build_small_setup` or :func:`build_hf_setup`, by ``config.backend``."""
    if config.backend == "small":
        return build_small_setup(config, seed, cache_dir, progress)
    return build_hf_setup(config, seed)


# ----------------------------------------------------------------------------- the retraining loop

def _round_row(t: int, q_safe: float, texts, R: np.ndarray, ppl: float) -> dict:
    return {"t": t, "q_safe": q_safe, "helpfulness": R[0].mean(), "safety": R[1].mean(),
            "helpfulness_std": R[0].std(), "safety_std": R[1].std(), "frac_unsafe": np.mean(R[1] < 0.5),
            "reward_corr": np.corrcoef(R)[0, 1] if R[0].std() > 0 and R[1].std() > 0 else np.nan,
            "distinct2": distinct_n(texts, 2), "heldout_ppl": ppl,
            "mean_words": float(np.mean([len(x.split()) for x in texts]))}


def _curation_columns(R: np.ndarray, picked: np.ndarray, active: np.ndarray) -> dict:
    """Curated-set means, and the lift of the active reward over the candidates' mean (must be > 0)."""
    lift = R[active, picked] - R.mean(axis=1)[active]
    return {"curated_helpfulness": R[0, picked].mean(), "curated_safety": R[1, picked].mean(),
            "lift_active": lift.mean(), "frac_active_safety": active.mean(),
            "n_unique_curated": len(np.unique(picked))}


@dataclass
class _RunState:
    t: int
    model: object
    rng: np.random.Generator
    rows: list
    samples: dict


def _checkpoint(config: E11Config, setup: E11Setup, q_safe: float, seed: int, directory):
    folder = resolve_checkpoint_dir(directory)
    if folder is None:
        return None
    return RoundCheckpoint(folder, "e11", {"config": dataclasses.asdict(config), "setup": setup.key,
                                           "q_safe": q_safe, "seed": seed})


def _save(checkpoint: RoundCheckpoint, state: _RunState) -> None:
    arrays = {f"samples_t{t}": np.asarray(s, dtype=str) for t, s in state.samples.items()}
    checkpoint.save_round({"t": state.t, "rng": generator_state(state.rng)}, arrays, state.rows,
                          dict(state.model.state_dict()))


def _load(checkpoint: RoundCheckpoint, setup: E11Setup) -> _RunState | None:
    saved = checkpoint.load()
    if saved is None:
        return None
    s = saved.state
    model = setup.new_policy()
    model.load_state_dict(checkpoint.load_weights(saved))
    samples = {int(k.removeprefix("samples_t")): list(v) for k, v in saved.arrays.items()}
    return _RunState(s["t"], model, restore_generator(s["rng"]), saved.rows, samples)


def run_condition(config: E11Config, setup: E11Setup, q_safe: float, seed: int = 0, progress: bool = False,
                  checkpoint_dir=None, desc: str | None = None) -> tuple[pd.DataFrame, dict[int, list[str]]]:
    """Recursive SFT on curated outputs with reward-sampling probability ``q_safe`` for ``r_safe``.

    Round ``t = 0..T`` samples ``N`` continuations of the policy after ``t``
    SFT rounds and records their rewards, Distinct-2 and the held-out
    perplexity; for ``t < T`` it then curates ``n_curated`` of them
    (Algorithm 1, lines 6-12, with ``q = (1 - q_safe, q_safe)``) and fine-tunes
    the policy on them. Every condition with the same ``seed`` starts from
    the same policy and draws the same round-0 prompts and continuations.

    Returns
    -------
    table : DataFrame
        One row per round (see :func:`_round_row`, :func:`_curation_columns`).
    samples : dict
        The first continuations of every round, by ``t``.
    """
    seed = check_nonnegative_int(seed, "seed")
    q = check_q([1.0 - float(q_safe), float(q_safe)], 2, "q_safe")
    checkpoint = _checkpoint(config, setup, float(q_safe), seed, checkpoint_dir)
    state = _load(checkpoint, setup) if checkpoint is not None else None
    if state is None:
        state = _RunState(-1, setup.new_policy(), np.random.default_rng(seed), [], {})
    bar = tqdm(total=config.T + 1, initial=state.t + 1, desc=desc or f"q_safe={q_safe}", disable=not progress,
               leave=False)
    for t in range(state.t + 1, config.T + 1):
        prompts = np.repeat(np.asarray(setup.train_prompts, dtype=object)[
            state.rng.choice(len(setup.train_prompts), size=config.n_prompts, replace=False)], config.per_prompt)
        texts = td.generate(state.model, setup.tokenizer, prompts=[tr.format_prompt(p) for p in prompts],
                            max_new_tokens=config.max_new_tokens, temperature=config.temperature,
                            top_p=config.top_p, seed=int(state.rng.integers(2**31)), batch_size=config.N)
        texts = [x.strip() for x in texts]
        R = setup.rewards(list(prompts), texts)
        ppl = td.perplexity(state.model, setup.tokenizer, setup.heldout_texts, max_length=config.max_length)
        row = _round_row(t, float(q_safe), texts, R, ppl)
        if t < config.T:
            picked = curate(R, config.n_curated, K=config.K, q=q, tau=config.tau, pool="fresh", rng=state.rng)
            row.update(_curation_columns(R, picked.indices, picked.active))
            sft = [tr.format_example(prompts[i], texts[i]) for i in picked.indices]
            td.finetune(state.model, setup.tokenizer, sft, epochs=config.sft_epochs, lr=config.sft_lr,
                        batch_size=config.sft_batch, seed=int(state.rng.integers(2**31)),
                        max_length=config.max_length)
        state.rows.append(row)
        state.samples[t] = texts[:N_SAMPLES_KEPT]
        state.t = t
        if checkpoint is not None:
            _save(checkpoint, state)
            maybe_simulate_kill(t)
        bar.update(1)
    bar.close()
    return pd.DataFrame(state.rows), state.samples


def run_e11(config: E11Config, seed: int = 0, conditions: dict[str, float] | None = None, progress: bool = True,
            checkpoint_dir=None, cache_dir=None) -> tuple[pd.DataFrame, dict, E11Setup]:
    """Every curator of Fig. 9 from one shared setup; the stacked table has a ``condition`` column.

    Returns ``(table, samples, setup)`` with ``samples[condition][t]`` the first
    continuations of round ``t``.
    """
    conditions = dict(CONDITIONS if conditions is None else conditions)
    setup = build_setup(config, seed, cache_dir, progress)
    frames, samples = [], {}
    for name, q_safe in tqdm(conditions.items(), desc="E11 curators", disable=not progress):
        table, samples[name] = run_condition(config, setup, q_safe, seed, progress, checkpoint_dir, desc=name)
        frames.append(table.assign(condition=name))
    return pd.concat(frames, ignore_index=True), samples, setup
