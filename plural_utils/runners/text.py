"""Retraining a small GPT-2 on curated samples of itself under length preferences (E4).

Section 4.3 and Appendix C.6 of the paper: two rewards
``R(y; T) = -|L(y) - T|`` (C.3), with ``L(y)`` the word count of ``y`` and
targets ``T_A`` and ``T_B = T_A + d``. Each round of a condition

1. scores the pool (seed passages plus the survivors of earlier rounds) under
   both rewards;
2. curates ``n_curated`` texts by Bradley-Terry choice (C.1) over the whole
   pool, the active reward drawn with probabilities ``(q, 1 - q)``
   (:func:`plural_utils.curation.curate`, ``M = 2``);
3. fine-tunes the model on them (AdamW, ``epochs`` epochs, batch ``batch_size``);
4. generates ``n_generate`` texts by nucleus sampling (temperature 0.8);
5. filters them with the same rule (a BT curation of ``n_generate`` draws
   over the generated batch; the distinct picks survive) and adds the
   survivors to the pool.

It logs the entropy ``H(L)`` of the generated word counts (Fig. 5) and the
leakage proxy of Appendix C.7: under the active reward, the fraction of
curated texts that fall in the other target's bin ``|L - T_other| <= delta``.

Choices the paper leaves open (stated in the notebook): ``T_A`` and the
``d`` values, ``top_p``, the generation length, the filter rule, BT over the
whole pool rather than K-candidate pools, a fresh AdamW per round, and how
the base model was pretrained.

Every round saves the model weights (:func:`plural_utils.modelcache.save_state`)
and then a :class:`~plural_utils.checkpoint.RoundCheckpoint` naming them; a
killed run resumes from its last finished round with identical results.
"""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from tqdm import tqdm

from .. import textdata as td
from ..checkpoint import (RoundCheckpoint, generator_state, maybe_simulate_kill,
                          resolve_checkpoint_dir, restore_generator)
from ..curation import curate
from ..metrics import label_entropy
from ..modelcache import default_device
from ..validation import check_positive, check_q

TOKENIZERS = ("bpe", "gpt2")


@dataclass(frozen=True)
class TextConfig:
    """Settings of E4 (App. C.6); the defaults are the paper's where it gives them.

    Attributes
    ----------
    corpus : {"wikitext2", "python-doc", "stdlib-docstrings"}
        Seed and pretraining text (:func:`plural_utils.textdata.load_corpus`).
    corpus_root : str or None
        Folder/file of the corpus (WikiText-2's raw files), if not the default.
    corpus_max_words : int or None
        Use only the first paragraphs of the corpus, up to this many words.
    tokenizer : {"bpe", "gpt2"}
        A byte-level BPE of ``vocab_size`` trained here, or GPT-2's (50,257).
    n_layer, n_head, n_embd, n_positions : int
        The decoder (paper: 6, 6, 384).
    pretrain_steps, pretrain_batch, pretrain_lr, n_pretrain : int, int, float, int
        The base model is trained from scratch on ``n_pretrain`` passages
        drawn like the seed pool (the paper does not say how its base model
        was obtained).
    n_seed, seed_min_words, seed_max_words : int
        Seed pool of ``n_seed`` passages of ``U{min..max}`` words (paper: 1,000).
    T_A : int
        The fixed target (words); ``T_B = T_A + d``.
    distances : list of int
        Conflict distances ``d = |T_A - T_B|`` (balanced, ``q``).
    baselines : bool
        Also run single-target curation (``q = 1``) at ``T_A`` and at
        ``T_A + max(distances)``.
    rounds, n_curated, n_generate : int
        Rounds (paper: 20), curated texts per round (200), generated per round (200).
    q, tau : float
        Probability of reward A (0.5) and BT temperature (0.5).
    epochs, lr, batch_size : int, float, int
        Fine-tuning per round (paper: 2, 5e-5, 8).
    temperature, top_p, max_new_tokens, max_length : float, float, int, int
        Nucleus sampling (paper: temperature 0.8) and the token cap of training sequences.
    delta : int
        Half-width (words) of the target bins of the leakage proxy (C.7).
    """

    corpus: str = "wikitext2"
    corpus_root: str | None = None
    corpus_max_words: int | None = None
    tokenizer: str = "gpt2"
    vocab_size: int = 50257
    n_layer: int = 6
    n_head: int = 6
    n_embd: int = 384
    n_positions: int = 128
    pretrain_steps: int = 2000
    pretrain_batch: int = 32
    pretrain_lr: float = 5e-4
    n_pretrain: int = 50_000
    n_seed: int = 1000
    seed_min_words: int = 1
    seed_max_words: int = 48
    T_A: int = 10
    distances: list = field(default_factory=lambda: [0, 5, 10, 20, 30])
    baselines: bool = True
    rounds: int = 20
    n_curated: int = 200
    n_generate: int = 200
    q: float = 0.5
    tau: float = 0.5
    epochs: int = 2
    lr: float = 5e-5
    batch_size: int = 8
    temperature: float = 0.8
    top_p: float = 0.95
    max_new_tokens: int = 96
    max_length: int = 96
    delta: int = 2

    def __post_init__(self) -> None:
        if self.corpus not in td.CORPORA:
            raise ValueError(f"unknown corpus={self.corpus!r}; allowed values: {', '.join(td.CORPORA)}")
        if self.tokenizer not in TOKENIZERS:
            raise ValueError(f"unknown tokenizer={self.tokenizer!r}; allowed values: {', '.join(TOKENIZERS)}")
        for name in ("n_layer", "n_head", "n_embd", "n_positions", "pretrain_batch", "n_pretrain", "n_seed",
                     "seed_min_words", "n_curated", "n_generate", "batch_size", "max_new_tokens", "max_length",
                     "T_A"):
            value = getattr(self, name)
            if int(value) != value or value < 1:
                raise ValueError(f"{name} must be a positive integer, got {value!r}")
        for name in ("rounds", "pretrain_steps", "epochs", "delta"):
            value = getattr(self, name)
            if int(value) != value or value < 0:
                raise ValueError(f"{name} must be a non-negative integer, got {value!r}")
        if self.seed_max_words < self.seed_min_words:
            raise ValueError(f"seed_max_words ({self.seed_max_words}) must be >= seed_min_words "
                             f"({self.seed_min_words})")
        if not self.distances or any(int(d) != d or d < 0 for d in self.distances):
            raise ValueError(f"distances must be a non-empty list of integers >= 0, got {self.distances!r}")
        if max(self.max_length, self.max_new_tokens + 1) > self.n_positions:
            raise ValueError(f"max_length ({self.max_length}) and max_new_tokens + 1 ({self.max_new_tokens + 1}) "
                             f"must be <= n_positions ({self.n_positions})")
        check_q(self.q, 2)
        for name in ("tau", "lr", "pretrain_lr", "temperature"):
            check_positive(getattr(self, name), name)
        if not 0 < self.top_p <= 1:
            raise ValueError(f"top_p must lie in (0, 1], got {self.top_p!r}")
        object.__setattr__(self, "distances", [int(d) for d in self.distances])

    def conditions(self) -> list[dict]:
        """One dict per run: ``name``, ``d``, ``T_A``, ``T_B``, ``q``, ``kind``."""
        out = [dict(name=f"d={d}", d=d, T_A=self.T_A, T_B=self.T_A + d, q=float(self.q), kind="plural")
               for d in self.distances]
        if self.baselines:
            far = self.T_A + max(self.distances)
            out += [dict(name=f"only T_A={self.T_A}", d=max(self.distances), T_A=self.T_A, T_B=far, q=1.0,
                         kind="single A"),
                    dict(name=f"only T_B={far}", d=max(self.distances), T_A=self.T_A, T_B=far, q=0.0,
                         kind="single B")]
        return out


def length_rewards(lengths, targets) -> np.ndarray:
    """``R(y; T) = -|L(y) - T|`` (C.3) for each target: shape ``(len(targets), len(lengths))``."""
    L = np.asarray(lengths, dtype=float)
    return -np.abs(L[None, :] - np.asarray(targets, dtype=float)[:, None])


def bin_leakage(lengths, active, targets, delta: int) -> float:
    """Leakage proxy of App. C.7: share of curated texts in the non-active target's bin.

    Pooled over both rewards: a draw made under reward ``i`` leaks when its
    word count is within ``delta`` of the other target. NaN with no draws.
    """
    L = np.asarray(lengths)
    other = np.asarray(targets)[1 - np.asarray(active)]
    return float(np.mean(np.abs(L - other) <= delta)) if L.size else float("nan")


@dataclass
class Setup:
    """What every condition shares: tokenizer, base weights, seed pool, round-0 generations."""

    tok: td.TextTokenizer
    base_state: dict
    pretrain_info: dict
    seed_pool: list
    round0: list
    model_key: dict
    seconds: float


def prepare(config: TextConfig, seed: int = 0, device: str | None = None, progress: bool = True,
            cache: str | None = None) -> Setup:
    """Corpus, tokenizer, pretrained base model (cached), seed pool and the base model's samples.

    Raises ``FileNotFoundError`` at once when the corpus or GPT-2's tokenizer
    is not on the machine (the paper profile without its data).
    """
    import torch

    started = time.perf_counter()
    device = device or default_device()
    paragraphs = td.load_corpus(config.corpus, root=config.corpus_root, max_words=config.corpus_max_words)
    if config.tokenizer == "gpt2":
        tok = td.load_gpt2_tokenizer()
    else:
        tok = td.train_bpe(paragraphs, config.vocab_size, directory=cache)
    pool_rng, pretrain_rng = (np.random.default_rng(s) for s in np.random.SeedSequence([seed, 4]).spawn(2))
    seed_pool = td.sample_passages(paragraphs, config.n_seed, config.seed_min_words, config.seed_max_words, pool_rng)
    pretrain_texts = td.sample_passages(paragraphs, config.n_pretrain, config.seed_min_words,
                                        config.seed_max_words, pretrain_rng)
    model, info = td.pretrain_lm(tok, pretrain_texts, steps=config.pretrain_steps, batch_size=config.pretrain_batch,
                                 lr=config.pretrain_lr, max_length=config.max_length, seed=seed,
                                 n_layer=config.n_layer, n_head=config.n_head, n_embd=config.n_embd,
                                 n_positions=config.n_positions, name="e4-base", directory=cache, device=device,
                                 progress=progress)
    round0 = _generate(model, tok, config, _torch_seed(seed, -1, 0), device)
    base_state = {k: v.detach().to("cpu").clone() for k, v in model.state_dict().items()}
    del model
    if device == "cuda":
        torch.cuda.empty_cache()
    model_key = {"tokenizer": tok.fingerprint, "seed_pool": td.texts_hash(seed_pool)}
    return Setup(tok, base_state, info, seed_pool, round0, model_key, time.perf_counter() - started)


def _torch_seed(seed: int, condition: int, t: int) -> int:
    """A torch seed per (run seed, condition, round), so a resumed round draws what it would have."""
    return int(np.random.SeedSequence([seed, condition + 1, t]).generate_state(1)[0])


def _generate(model, tok, config: TextConfig, torch_seed: int, device: str) -> list[str]:
    return td.generate(model, tok, n=config.n_generate, max_new_tokens=config.max_new_tokens,
                       temperature=config.temperature, top_p=config.top_p, seed=torch_seed,
                       batch_size=config.n_generate, device=device)


def _round_row(cond: dict, t: int, generated_lengths: np.ndarray, delta: int, **extra) -> dict:
    targets = (cond["T_A"], cond["T_B"])
    # numbers only: the checkpoint stores the rows as plain (non-object) arrays; "+ 0.0" turns -0.0 into 0.0
    return dict(d=cond["d"], T_A=cond["T_A"], T_B=cond["T_B"], q=cond["q"], round=t,
                H_L=label_entropy(generated_lengths) + 0.0,
                mean_L=float(generated_lengths.mean()), sd_L=float(generated_lengths.std()),
                bin_A=float(np.mean(np.abs(generated_lengths - targets[0]) <= delta)),
                bin_B=float(np.mean(np.abs(generated_lengths - targets[1]) <= delta)), **extra)


_EMPTY_ROUND = dict(leakage=float("nan"), curated_reward=float("nan"), pool_reward=float("nan"),
                    finetune_loss=float("nan"), survivors=0, pool_size=0, seconds=0.0)


def run_condition(config: TextConfig, setup: Setup, index: int, seed: int = 0,
                  checkpoint_dir: str | None = None, device: str | None = None,
                  progress: bool = True) -> tuple[pd.DataFrame, dict[int, np.ndarray]]:
    """Rounds ``0..rounds`` of condition ``config.conditions()[index]``.

    Returns the table (one row per round) and the generated word counts of
    each round (``{round: lengths}``). Round 0 is the base model.
    """
    import torch

    device = device or default_device()
    cond = config.conditions()[index]
    targets = (cond["T_A"], cond["T_B"])
    q = (cond["q"], 1.0 - cond["q"])
    model = td.small_gpt2(setup.tok.vocab_size, config.n_layer, config.n_head, config.n_embd,
                          config.n_positions, tokenizer=setup.tok)
    folder = resolve_checkpoint_dir(checkpoint_dir)
    ckpt = None
    key = {"config": dataclasses.asdict(config), "condition": cond, "seed": int(seed), **setup.model_key}
    if folder is not None:
        ckpt = RoundCheckpoint(folder, "text", key)
    saved = ckpt.load() if ckpt is not None else None
    if saved is None:
        rng = np.random.default_rng(np.random.SeedSequence([seed, 5, index]))
        pool = list(setup.seed_pool)
        lengths0 = td.word_count(setup.round0)
        rows = [_round_row(cond, 0, lengths0, config.delta, **{**_EMPTY_ROUND, "pool_size": len(pool)})]
        history = {0: lengths0}
        td.load_into(model, setup.base_state)
        start = 1
    else:
        rng = restore_generator(saved.state["rng"])
        pool = [str(s) for s in saved.arrays["pool"]]
        rows = saved.rows
        history = {int(k[len("lengths_"):]): v for k, v in saved.arrays.items() if k.startswith("lengths_")}
        td.load_into(model, ckpt.load_weights(saved))
        start = saved.state["t"] + 1
    model.to(device)
    bar = tqdm(range(start, config.rounds + 1), desc=cond["name"], leave=False, disable=not progress,
               mininterval=2.0)
    for t in bar:
        tic = time.perf_counter()
        pool_lengths = td.word_count(pool)
        R = length_rewards(pool_lengths, targets)
        picked = curate(R, config.n_curated, q=q, tau=config.tau, pool="shared", rng=rng)
        curated_reward = float(R[picked.active, picked.indices].mean())
        pool_reward = float(R[picked.active].mean(axis=1).mean())
        leakage = bin_leakage(pool_lengths[picked.indices], picked.active, targets, config.delta)
        losses = td.finetune(model, setup.tok, [pool[i] for i in picked.indices], epochs=config.epochs,
                             lr=config.lr, batch_size=config.batch_size, seed=_torch_seed(seed, index, t),
                             max_length=config.max_length, device=device)
        generated = _generate(model, setup.tok, config, _torch_seed(seed, index, 10_000 + t), device)
        lengths = td.word_count(generated)
        kept = curate(length_rewards(lengths, targets), config.n_generate, q=q, tau=config.tau,
                      pool="shared", rng=rng)
        survivors = [generated[i] for i in np.unique(kept.indices)]
        pool.extend(survivors)
        history[t] = lengths
        rows.append(_round_row(cond, t, lengths, config.delta, leakage=leakage, curated_reward=curated_reward,
                               pool_reward=pool_reward, finetune_loss=float(np.mean(losses[-10:])),
                               survivors=len(survivors), pool_size=len(pool),
                               seconds=time.perf_counter() - tic))
        if ckpt is not None:
            ckpt.save_round({"t": t, "rng": generator_state(rng)},
                            {"pool": np.array(pool, dtype=str), **{f"lengths_{k}": v for k, v in history.items()}},
                            rows, td.state_of(model))
            maybe_simulate_kill(t)
    del model
    if device == "cuda":
        torch.cuda.empty_cache()
    table = pd.DataFrame(rows)
    table.insert(0, "condition", cond["name"])
    table.insert(1, "kind", cond["kind"])
    return table, history


def run_text_curation(config: TextConfig, seed: int = 0, checkpoint_dir: str | None = None,
                      device: str | None = None, progress: bool = True,
                      cache: str | None = None) -> tuple[pd.DataFrame, pd.DataFrame, Setup]:
    """All conditions of E4: the per-round table, the generated word counts, and the shared setup.

    The word-count table has columns ``condition, round, length`` (one row
    per generated text).
    """
    device = device or default_device()
    setup = prepare(config, seed, device=device, progress=progress, cache=cache)
    tables, lengths = [], []
    for index, cond in enumerate(tqdm(config.conditions(), desc="E4 conditions", disable=not progress)):
        table, history = run_condition(config, setup, index, seed, checkpoint_dir, device, progress)
        tables.append(table)
        lengths += [pd.DataFrame({"condition": cond["name"], "round": t, "length": v}) for t, v in history.items()]
    return pd.concat(tables, ignore_index=True), pd.concat(lengths, ignore_index=True), setup


def sustained_entropy(table: pd.DataFrame, last: int | None = None) -> pd.Series:
    """Mean ``H(L)`` over the last ``last`` rounds (default: the second half), per condition."""
    final = int(table["round"].max())
    last = max(1, final // 2) if last is None else last
    tail = table[table["round"] > final - last]
    return tail.groupby("condition", sort=False)["H_L"].mean()


def config_from_profile(params: dict) -> TextConfig:
    """A :class:`TextConfig` from a profile dict (keys the config does not know are ignored)."""
    names = {f.name for f in dataclasses.fields(TextConfig)}
    return TextConfig(**{k: v for k, v in params.items() if k in names})


__all__ = ["TextConfig", "Setup", "bin_leakage", "config_from_profile", "length_rewards", "prepare",
           "run_condition", "run_text_curation", "sustained_entropy"]
