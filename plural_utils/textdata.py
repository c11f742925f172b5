"""Text toolkit for the text-domain experiments (E4, Sec. 4.3 / App. C.6; E11).

Corpora, a tokenizer behind one interface, a small GPT-2 style decoder, and
the three things a retraining loop does with it: fine-tune, generate, score.

Corpora (:func:`load_corpus`)
    ``"wikitext2"``
        WikiText-2 (Merity et al., 2016), the paper's seed data: the raw files
        ``wiki.train.raw``/``wiki.valid.raw``/``wiki.test.raw`` in a local
        folder. Never downloaded here; a clear error says how to fetch them.
    ``"python-doc"``
        the Python 3.11 manual as Debian installs it
        (``/usr/share/info/python3.11.info.gz``, about 2M words), the offline
        stand-in of the ``cpu`` profile.
    ``"stdlib-docstrings"``
        docstrings of the running Python's standard library, read from its
        source files with :mod:`ast` (nothing is imported, so no module's
        import side effects run); always present, so smoke runs and tests
        never depend on a data file.

Tokenizers (:class:`TextTokenizer`)
    a byte-level BPE trained here with ``tokenizers`` (:func:`train_bpe`,
    cached as its JSON with a SHA-256 sidecar; JSON, not pickle), or GPT-2's
    tokenizer from the local Hugging Face cache (:func:`load_gpt2_tokenizer`,
    ``local_files_only``: fails at once when absent). Both are a
    ``tokenizers.Tokenizer`` underneath and give the same interface.

Models
    :func:`small_gpt2` is the paper's decoder (6 layers, 6 heads, width 384;
    App. C.6); :func:`pretrain_lm` trains it once per (corpus, tokenizer,
    config, steps, seed) and caches the weights with
    :func:`plural_utils.modelcache.cached`; :func:`finetune` (AdamW),
    :func:`generate` (batched nucleus sampling) and :func:`perplexity` work on
    any ``GPT2LMHeadModel``. Everything runs on
    :func:`plural_utils.modelcache.default_device` and seeds torch from the
    given seed.
"""

from __future__ import annotations

import ast
import gzip
import hashlib
import json
import math
import os
import re
import sysconfig
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any, Iterable, Sequence

import numpy as np

from .checkpoint import stable_hash
from .modelcache import cache_dir, cached, default_device
from .results import atomic_write_text

CORPORA = ("python-doc", "stdlib-docstrings", "wikitext2")
PYTHON_DOC_PATH = Path("/usr/share/info/python3.11.info.gz")
WIKITEXT2_ENV = "PLURAL_WIKITEXT2_DIR"
WIKITEXT2_FILES = {"train": "wiki.train.raw", "valid": "wiki.valid.raw", "test": "wiki.test.raw"}
GPT2_TOKENIZER_ENV = "PLURAL_GPT2_TOKENIZER_DIR"
SPECIAL_TOKENS = ("<pad>", "<bos>", "<eos>")
_GPT2_EOS = "<|endoftext|>"

_WIKITEXT2_HELP = (
    "WikiText-2 (raw) is not on this machine. Put wiki.train.raw, wiki.valid.raw and wiki.test.raw "
    "(from https://s3.amazonaws.com/research.metamind.io/wikitext/wikitext-2-raw-v1.zip, or the "
    "'Salesforce/wikitext' dataset, config 'wikitext-2-raw-v1', on the Hugging Face hub) in one folder "
    f"and pass it as root= or set {WIKITEXT2_ENV}=<folder>."
)


# ---------------------------------------------------------------- corpora


def load_corpus(name: str, root: str | os.PathLike | None = None, max_words: int | None = None,
                split: str = "train") -> list[str]:
    """Prose paragraphs of corpus ``name``, each one string of single-spaced words.

    Parameters
    ----------
    name : {"python-doc", "stdlib-docstrings", "wikitext2"}
    root : path, optional
        ``"wikitext2"``: the folder with the raw files (else
        ``$PLURAL_WIKITEXT2_DIR``); ``"python-doc"``: the ``.info.gz`` file
        (else :data:`PYTHON_DOC_PATH`). Ignored for ``"stdlib-docstrings"``.
    max_words : int, optional
        Stop after the paragraph that reaches this many words in total.
    split : {"train", "valid", "test"}
        Only for ``"wikitext2"``.

    Raises
    ------
    ValueError
        For an unknown ``name`` or ``split`` or a bad ``max_words``.
    FileNotFoundError
        When the corpus' files are missing; the message says where to put them
        and how to fetch them.
    """
    if name not in CORPORA:
        raise ValueError(f"unknown corpus name={name!r}; allowed values: {', '.join(CORPORA)}")
    if max_words is not None and (int(max_words) != max_words or max_words < 1):
        raise ValueError(f"max_words must be a positive integer or None, got {max_words!r}")
    if name == "python-doc":
        paragraphs = _python_doc(str(Path(root) if root is not None else PYTHON_DOC_PATH))
    elif name == "stdlib-docstrings":
        paragraphs = _stdlib_docstrings()
    else:
        if split not in WIKITEXT2_FILES:
            raise ValueError(f"unknown split={split!r}; allowed values: {', '.join(WIKITEXT2_FILES)}")
        paragraphs = _wikitext2(str(_wikitext2_dir(root)), split)
    return _truncate(list(paragraphs), max_words)


def _truncate(paragraphs: list[str], max_words: int | None) -> list[str]:
    if max_words is None:
        return paragraphs
    counts = np.cumsum([len(p.split()) for p in paragraphs])
    stop = int(np.searchsorted(counts, max_words)) + 1
    return paragraphs[:stop]


_NOTE_REF = re.compile(r"\*note\s+([^:]*?):\s*[^.,;)]*[.,;)]?", re.S)
_RULE = re.compile(r"^\s*([-=.*_~])\1{2,}\s*$")
_FOOTNOTE_REF = re.compile(r"\(\d+\)")


def _is_prose(paragraph: str) -> bool:
    """A paragraph of running text: several words, mostly letters, a sentence end."""
    words = paragraph.split()
    if len(words) < 6:
        return False
    letters = sum(ch.isalpha() for ch in paragraph)
    return letters >= 0.6 * len(paragraph) and paragraph.rstrip()[-1:] in ".:!?)"


@lru_cache(maxsize=2)
def _python_doc(path: str) -> tuple[str, ...]:
    """Prose paragraphs of a GNU info manual (``.info.gz``).

    Info nodes are separated by ``\\x1f``; each node opens with a ``File:``
    header. Menus (``* item::``), underlines, footnotes, code (indented blocks
    and ``>>>`` sessions) and tables go; cross references ``*note X: id.``
    become ``X``.
    """
    file = Path(path)
    if not file.exists():
        raise FileNotFoundError(
            f"the python-doc corpus needs {file}; install it with `apt-get install python3.11-doc` "
            "(Debian/Ubuntu) or pass root=<path to an .info.gz file>"
        )
    with gzip.open(file, "rt", encoding="utf-8", errors="replace") as fh:
        text = fh.read()
    out = []
    for node in text.split("\x1f"):
        lines = [ln for ln in node.splitlines() if not ln.startswith("File:")]
        for block in "\n".join(lines).split("\n\n"):
            raw = block.strip("\n")
            if not raw.strip() or raw.startswith(("   ", "\t", "* ", ">>>")) or "---------- Footnotes" in raw:
                continue
            if any(_RULE.match(ln) for ln in raw.splitlines()) or raw.lstrip().startswith("("):
                continue
            flat = _FOOTNOTE_REF.sub("", _NOTE_REF.sub(r"\1", " ".join(raw.split())))
            flat = " ".join(flat.replace("\u2018", "'").replace("\u2019", "'").split())
            if _is_prose(flat):
                out.append(flat)
    return tuple(out)


@lru_cache(maxsize=1)
def _stdlib_docstrings() -> tuple[str, ...]:
    """Prose paragraphs of the docstrings in the standard library's top-level modules."""
    stdlib = Path(sysconfig.get_paths()["stdlib"])
    out = []
    for source in sorted(stdlib.glob("*.py")):
        try:
            tree = ast.parse(source.read_text(encoding="utf-8", errors="replace"))
        except (SyntaxError, ValueError):
            continue
        nodes = [tree] + [n for n in ast.walk(tree)
                          if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))]
        for node in nodes:
            doc = ast.get_docstring(node)
            if not doc:
                continue
            for block in doc.split("\n\n"):
                if block.lstrip().startswith((">>>", "*", "-")):
                    continue
                flat = " ".join(block.split())
                if _is_prose(flat):
                    out.append(flat)
    if not out:
        raise FileNotFoundError(f"no standard-library sources with docstrings under {stdlib}")
    return tuple(out)


def _wikitext2_dir(root) -> Path:
    folder = root if root is not None else os.environ.get(WIKITEXT2_ENV)
    if folder is None:
        raise FileNotFoundError(f"{_WIKITEXT2_HELP} (no folder given and {WIKITEXT2_ENV} is unset)")
    folder = Path(folder)
    missing = [f for f in WIKITEXT2_FILES.values() if not (folder / f).exists()]
    if missing:
        raise FileNotFoundError(f"{_WIKITEXT2_HELP} Missing in {folder}: {', '.join(missing)}.")
    return folder


@lru_cache(maxsize=3)
def _wikitext2(folder: str, split: str) -> tuple[str, ...]:
    """Paragraphs of a WikiText-2 raw file: its non-empty lines that are not ``= Heading =`` lines."""
    out = []
    with open(Path(folder) / WIKITEXT2_FILES[split], encoding="utf-8") as fh:
        for line in fh:
            flat = " ".join(line.split())
            if flat and not (flat.startswith("=") and flat.endswith("=")):
                out.append(flat)
    return tuple(out)


def sample_passages(paragraphs: Sequence[str], n: int, min_words: int, max_words: int,
                    rng: np.random.Generator) -> list[str]:
    """``n`` passages of ``U{min_words..max_words}`` consecutive words from ``paragraphs``.

    Each passage is a window of a paragraph drawn with probability proportional
    to its length (paragraphs shorter than the drawn length give their whole
    text, so a few passages are shorter). The seed pool of E4 is such a set:
    its word counts spread over the whole range, so the initial length
    distribution is broad.
    """
    if not 1 <= min_words <= max_words:
        raise ValueError(f"need 1 <= min_words <= max_words, got min_words={min_words}, max_words={max_words}")
    if n < 0:
        raise ValueError(f"n must be >= 0, got {n}")
    words = [p.split() for p in paragraphs if p.strip()]
    if not words:
        raise ValueError("paragraphs must hold at least one non-empty string")
    sizes = np.array([len(w) for w in words], dtype=float)
    picks = rng.choice(len(words), size=n, p=sizes / sizes.sum())
    lengths = rng.integers(min_words, max_words + 1, size=n)
    starts = rng.random(n)
    out = []
    for i, length, u in zip(picks, lengths, starts):
        w = words[i]
        start = int(u * max(0, len(w) - length + 1))
        out.append(" ".join(w[start:start + length]))
    return out


def word_count(texts: Iterable[str]) -> np.ndarray:
    """``L(y)``, the number of whitespace-separated words of each text (Sec. 4.3)."""
    return np.array([len(t.split()) for t in texts], dtype=np.int64)


def texts_hash(texts: Sequence[str]) -> str:
    """SHA-256 (first 16 hex digits) of a list of texts, for cache keys."""
    h = hashlib.sha256()
    for t in texts:
        h.update(t.encode("utf-8"))
        h.update(b"\x00")
    return h.hexdigest()[:16]


# ---------------------------------------------------------------- tokenizers


@dataclass(frozen=True)
class TextTokenizer:
    """One interface over a ``tokenizers.Tokenizer``: batch encode/decode and the special ids.

    Sequences are ``[bos] tokens [eos]``; the model learns to stop by emitting
    ``eos``. GPT-2's tokenizer has one special token, ``<|endoftext|>``, which
    then serves as bos, eos and pad.
    """

    backend: Any
    bos_id: int
    eos_id: int
    pad_id: int
    name: str

    @property
    def vocab_size(self) -> int:
        return int(self.backend.get_vocab_size(with_added_tokens=True))

    @property
    def fingerprint(self) -> str:
        """Hash of the tokenizer's JSON: two tokenizers with the same one encode alike."""
        return hashlib.sha256(self.backend.to_str().encode("utf-8")).hexdigest()[:16]

    def encode_batch(self, texts: Sequence[str], max_length: int | None = None,
                     add_bos: bool = True, add_eos: bool = True) -> list[list[int]]:
        """Token ids of each text, with bos/eos, cut to ``max_length`` tokens (eos kept last)."""
        bodies = [e.ids for e in self.backend.encode_batch(list(texts), add_special_tokens=False)]
        head = [self.bos_id] if add_bos else []
        tail = [self.eos_id] if add_eos else []
        out = []
        for ids in bodies:
            if max_length is not None:
                ids = ids[:max(0, max_length - len(head) - len(tail))]
            out.append(head + ids + tail)
        return out

    def decode_batch(self, sequences: Sequence[Sequence[int]]) -> list[str]:
        """Texts of token-id lists, cut at the first eos; special tokens dropped."""
        cut = []
        for ids in sequences:
            ids = [int(i) for i in ids]
            if ids and ids[0] == self.bos_id:
                ids = ids[1:]
            if self.eos_id in ids:
                ids = ids[:ids.index(self.eos_id)]
            cut.append(ids)
        return self.backend.decode_batch(cut, skip_special_tokens=True)

    def pad_batch(self, sequences: Sequence[Sequence[int]], side: str = "right"):
        """``(input_ids, attention_mask)`` LongTensors, padded with ``pad_id`` on ``side``."""
        import torch

        if side not in ("right", "left"):
            raise ValueError(f"side must be 'right' or 'left', got {side!r}")
        width = max(len(s) for s in sequences)
        ids = torch.full((len(sequences), width), self.pad_id, dtype=torch.long)
        mask = torch.zeros((len(sequences), width), dtype=torch.long)
        for row, seq in enumerate(sequences):
            span = slice(0, len(seq)) if side == "right" else slice(width - len(seq), width)
            ids[row, span] = torch.tensor(list(seq), dtype=torch.long)
            mask[row, span] = 1
        return ids, mask


def _bpe_tokenizer(texts: Sequence[str], vocab_size: int, min_frequency: int):
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    backend = Tokenizer(models.BPE())
    backend.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    backend.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, min_frequency=min_frequency,
                                  special_tokens=list(SPECIAL_TOKENS), show_progress=False,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    backend.train_from_iterator(list(texts), trainer=trainer)
    return backend


def _wrap_bpe(backend, name: str) -> TextTokenizer:
    pad, bos, eos = (backend.token_to_id(t) for t in SPECIAL_TOKENS)
    return TextTokenizer(backend=backend, bos_id=bos, eos_id=eos, pad_id=pad, name=name)


def train_bpe(texts: Sequence[str], vocab_size: int, min_frequency: int = 2,
              directory: str | os.PathLike | None = None) -> TextTokenizer:
    """A byte-level BPE tokenizer with ``<pad>``, ``<bos>``, ``<eos>``, trained on ``texts`` once.

    Cached as ``<cache_dir>/bpe-<hash>.json`` (the tokenizer's own JSON
    format) plus ``.sha256.json`` with the key and the file's SHA-256; a file
    whose checksum does not match is retrained.
    """
    from tokenizers import Tokenizer

    if int(vocab_size) != vocab_size or vocab_size < 256 + len(SPECIAL_TOKENS):
        raise ValueError(f"vocab_size must be an integer >= {256 + len(SPECIAL_TOKENS)} "
                         f"(256 bytes + special tokens), got {vocab_size!r}")
    if not texts:
        raise ValueError("texts must be a non-empty list of strings")
    key = {"texts": texts_hash(texts), "vocab_size": int(vocab_size), "min_frequency": int(min_frequency),
           "special": list(SPECIAL_TOKENS), "kind": "byte-level-bpe"}
    stem = cache_dir(directory) / f"bpe-{stable_hash(key)}"
    path, sidecar = stem.with_suffix(".json"), stem.with_suffix(".sha256.json")
    if path.exists() and sidecar.exists():
        text = path.read_text(encoding="utf-8")
        meta = json.loads(sidecar.read_text())
        if meta.get("sha256") == hashlib.sha256(text.encode("utf-8")).hexdigest() and meta.get("key") == key:
            return _wrap_bpe(Tokenizer.from_str(text), f"bpe{vocab_size}")
    backend = _bpe_tokenizer(texts, int(vocab_size), int(min_frequency))
    text = backend.to_str()
    atomic_write_text(path, text)
    atomic_write_text(sidecar, json.dumps({"key": key, "sha256": hashlib.sha256(text.encode("utf-8")).hexdigest()},
                                          indent=2, sort_keys=True))
    return _wrap_bpe(backend, f"bpe{vocab_size}")


def load_gpt2_tokenizer(name_or_path: str | os.PathLike | None = None) -> TextTokenizer:
    """GPT-2's tokenizer (vocabulary 50,257) from local files only; never downloads.

    ``name_or_path`` defaults to ``$PLURAL_GPT2_TOKENIZER_DIR`` or ``"gpt2"``
    (looked up in the Hugging Face cache with ``local_files_only=True``).

    Raises
    ------
    FileNotFoundError
        At once when the files are not there, saying how to fetch them.
    """
    from transformers import GPT2TokenizerFast

    source = str(name_or_path or os.environ.get(GPT2_TOKENIZER_ENV) or "gpt2")
    # transformers 5 quietly builds an EMPTY tokenizer when the files are absent, so look for them first.
    found = _gpt2_tokenizer_files(source)
    hf = None
    if found:
        try:
            hf = GPT2TokenizerFast.from_pretrained(found, local_files_only=True)
        except (OSError, ValueError):
            hf = None
    if hf is None or hf.backend_tokenizer.get_vocab_size() < 1000:
        raise FileNotFoundError(
            f"GPT-2's tokenizer ({source!r}) is not available offline: need tokenizer.json or vocab.json + "
            "merges.txt in a folder or in the Hugging Face cache. On a machine with internet run "
            "`python -c \"from transformers import GPT2TokenizerFast; GPT2TokenizerFast.from_pretrained('gpt2')"
            ".save_pretrained('gpt2-tokenizer')\"`, copy the folder here and pass its path or set "
            f"{GPT2_TOKENIZER_ENV}=<folder>; or fill the Hugging Face cache (HF_HOME) with 'gpt2'."
        )
    backend = hf.backend_tokenizer
    eos = backend.token_to_id(_GPT2_EOS)
    if eos is None:
        raise ValueError(f"tokenizer at {source!r} has no {_GPT2_EOS!r} token; is it GPT-2's?")
    return TextTokenizer(backend=backend, bos_id=eos, eos_id=eos, pad_id=eos, name="gpt2")


# ---------------------------------------------------------------- models


def _gpt2_tokenizer_files(source: str) -> str | None:
    """The folder holding GPT-2's tokenizer files for ``source`` (a folder or a hub id), or ``None``."""
    folder = Path(source)
    if folder.is_dir():
        has = lambda f: (folder / f).is_file()  # noqa: E731
        return str(folder) if has("tokenizer.json") or (has("vocab.json") and has("merges.txt")) else None
    try:
        from huggingface_hub import try_to_load_from_cache
    except ImportError:
        return None
    for name in ("tokenizer.json", "vocab.json"):
        try:
            hit = try_to_load_from_cache(repo_id=source, filename=name)
        except ValueError:  # not a hub id (a missing folder, say)
            return None
        if isinstance(hit, str):
            return str(Path(hit).parent)
    return None


def small_gpt2(vocab_size: int, n_layer: int = 6, n_head: int = 6, n_embd: int = 384,
               n_positions: int = 128, tokenizer: TextTokenizer | None = None, dropout: float = 0.1):
    """A GPT-2 style decoder, by default the paper's 6 layers x 6 heads x 384 (App. C.6)."""
    from transformers import GPT2Config, GPT2LMHeadModel

    for value, name in ((vocab_size, "vocab_size"), (n_layer, "n_layer"), (n_head, "n_head"),
                        (n_embd, "n_embd"), (n_positions, "n_positions")):
        if int(value) != value or value < 1:
            raise ValueError(f"{name} must be a positive integer, got {value!r}")
    if n_embd % n_head:
        raise ValueError(f"n_embd ({n_embd}) must be divisible by n_head ({n_head})")
    special = {}
    if tokenizer is not None:
        special = dict(bos_token_id=tokenizer.bos_id, eos_token_id=tokenizer.eos_id, pad_token_id=tokenizer.pad_id)
    config = GPT2Config(vocab_size=int(vocab_size), n_positions=int(n_positions), n_embd=int(n_embd),
                        n_layer=int(n_layer), n_head=int(n_head), resid_pdrop=dropout, embd_pdrop=dropout,
                        attn_pdrop=dropout, **special)
    return GPT2LMHeadModel(config)


def model_config(model) -> dict:
    """The architecture of a GPT-2 model as plain JSON (a cache key)."""
    c = model.config
    return {k: getattr(c, k) for k in ("vocab_size", "n_positions", "n_embd", "n_layer", "n_head")}


def state_of(model) -> dict:
    """``model.state_dict()`` as a plain dict, ready for :func:`modelcache.save_state`."""
    return dict(model.state_dict())


def load_into(model, tensors) -> None:
    """Load cached tensors into ``model`` (strict: every weight must be there)."""
    model.load_state_dict(dict(tensors), strict=True)


def _lm_batch(tok: TextTokenizer, sequences: Sequence[Sequence[int]], device: str):
    ids, mask = tok.pad_batch(sequences, side="right")
    labels = ids.masked_fill(mask == 0, -100)
    return ids.to(device), mask.to(device), labels.to(device)


def finetune(model, tok: TextTokenizer, texts: Sequence[str], epochs: int = 2, lr: float = 5e-5,
             batch_size: int = 8, seed: int = 0, max_length: int = 64, weight_decay: float = 0.0,
             device: str | None = None, progress: bool = False) -> list[float]:
    """Fine-tune ``model`` on ``texts`` with AdamW (App. C.6: lr 5e-5, 2 epochs, batch 8).

    Each text is one sequence ``[bos] text [eos]`` (cut to ``max_length``
    tokens); the loss is the next-token cross-entropy on the real tokens.
    Batches are reshuffled every epoch from a generator seeded with
    ``seed``; a fresh optimizer is made per call. Returns the batch losses.
    """
    import torch

    if epochs < 0 or batch_size < 1 or lr <= 0:
        raise ValueError(f"need epochs >= 0, batch_size >= 1, lr > 0; got epochs={epochs}, "
                         f"batch_size={batch_size}, lr={lr}")
    if not texts:
        return []
    device = device or default_device()
    torch.manual_seed(seed)
    order_rng = torch.Generator().manual_seed(seed)
    model.to(device).train()
    optimizer = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=weight_decay)
    encoded = tok.encode_batch(texts, max_length=max_length)
    losses = []
    steps = range(epochs * math.ceil(len(encoded) / batch_size))
    bar = _progress(steps, progress, "fine-tune")
    for epoch in range(epochs):
        order = torch.randperm(len(encoded), generator=order_rng).tolist()
        for start in range(0, len(order), batch_size):
            ids, mask, labels = _lm_batch(tok, [encoded[i] for i in order[start:start + batch_size]], device)
            loss = model(input_ids=ids, attention_mask=mask, labels=labels).loss
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            losses.append(float(loss.detach()))
            if bar is not None:
                bar.update(1)
    if bar is not None:
        bar.close()
    model.eval()
    return losses


def _progress(steps, enabled: bool, desc: str):
    if not enabled:
        return None
    from tqdm import tqdm

    return tqdm(total=len(steps), desc=desc, leave=False, mininterval=2.0)


def pretrain_lm(tok: TextTokenizer, texts: Sequence[str], steps: int, batch_size: int = 32, lr: float = 1e-3,
                max_length: int = 64, seed: int = 0, n_layer: int = 6, n_head: int = 6, n_embd: int = 384,
                n_positions: int = 128, warmup: int = 50, name: str = "gpt2-pretrain",
                directory: str | os.PathLike | None = None, device: str | None = None,
                progress: bool = True):
    """A :func:`small_gpt2` trained ``steps`` AdamW steps on ``texts``, built once and cached.

    Each step takes ``batch_size`` texts drawn at random (seeded), as
    ``[bos] text [eos]`` sequences, so the model learns where texts end; the
    learning rate warms up linearly for ``warmup`` steps, then decays by a
    cosine to 10%. The cache key holds the texts' and tokenizer's hashes, the
    architecture, the steps, the optimiser settings and the seed.

    Returns
    -------
    model, info
        The model in eval mode on ``device``; ``info`` has the final training
        loss (mean of the last 20 steps) and the wall time of the build.
    """
    import time

    import torch

    if steps < 0 or batch_size < 1:
        raise ValueError(f"need steps >= 0 and batch_size >= 1, got steps={steps}, batch_size={batch_size}")
    if max_length > n_positions:
        raise ValueError(f"max_length ({max_length}) must be <= n_positions ({n_positions})")
    device = device or default_device()
    torch.manual_seed(seed)  # the initial weights, too, come from the seed
    model = small_gpt2(tok.vocab_size, n_layer, n_head, n_embd, n_positions, tokenizer=tok)
    key = {"texts": texts_hash(texts), "tokenizer": tok.fingerprint, "config": model_config(model),
           "steps": int(steps), "batch_size": int(batch_size), "lr": float(lr), "max_length": int(max_length),
           "warmup": int(warmup), "seed": int(seed)}

    def build():
        started = time.perf_counter()
        torch.manual_seed(seed)
        rng = np.random.default_rng(seed)
        model.to(device).train()
        optimizer = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=0.01)
        schedule = torch.optim.lr_scheduler.LambdaLR(
            optimizer, lambda s: min(1.0, (s + 1) / max(1, warmup))
            * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * min(1.0, s / max(1, steps))))))
        encoded = tok.encode_batch(texts, max_length=max_length)
        losses = []
        bar = _progress(range(steps), progress, "pretrain")
        for _ in range(steps):
            batch = [encoded[i] for i in rng.integers(0, len(encoded), size=batch_size)]
            ids, mask, labels = _lm_batch(tok, batch, device)
            loss = model(input_ids=ids, attention_mask=mask, labels=labels).loss
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            optimizer.step()
            schedule.step()
            losses.append(float(loss.detach()))
            if bar is not None:
                bar.update(1)
        if bar is not None:
            bar.close()
        info = {"final_loss": float(np.mean(losses[-20:])) if losses else float("nan"),
                "build_seconds": time.perf_counter() - started}
        return state_of(model), info

    tensors, info = cached(name, key, build, directory=directory)
    load_into(model, tensors)
    return model.to(device).eval(), info


def generate(model, tok: TextTokenizer, n: int | None = None, prompts: Sequence[str] | None = None,
             max_new_tokens: int = 64, temperature: float = 0.8, top_p: float = 0.95, seed: int = 0,
             batch_size: int = 200, device: str | None = None) -> list[str]:
    """``n`` texts sampled by nucleus sampling (App. C.6: temperature 0.8), in batches.

    Without ``prompts``, every sample starts from ``bos`` alone; with them,
    one continuation per prompt (left-padded) and the prompt is not part of
    the returned text. A sample ends at ``eos`` or after ``max_new_tokens``.
    """
    import torch

    if prompts is None and (n is None or n < 0):
        raise ValueError(f"give n >= 0 or prompts; got n={n!r}")
    if temperature <= 0 or not 0 < top_p <= 1 or max_new_tokens < 1:
        raise ValueError(f"need temperature > 0, 0 < top_p <= 1, max_new_tokens >= 1; got temperature={temperature}, "
                         f"top_p={top_p}, max_new_tokens={max_new_tokens}")
    device = device or default_device()
    model.to(device).eval()
    starts = ([[tok.bos_id]] * n if prompts is None
              else tok.encode_batch(prompts, add_eos=False))
    torch.manual_seed(seed)
    out: list[str] = []
    with torch.no_grad():
        for first in range(0, len(starts), batch_size):
            ids, mask = tok.pad_batch(starts[first:first + batch_size], side="left")
            sampled = model.generate(input_ids=ids.to(device), attention_mask=mask.to(device), do_sample=True,
                                     temperature=temperature, top_p=top_p, top_k=0,
                                     max_new_tokens=max_new_tokens, pad_token_id=tok.pad_id,
                                     eos_token_id=tok.eos_id, bos_token_id=tok.bos_id)
            new = sampled[:, ids.shape[1]:].tolist()
            out.extend(tok.decode_batch([[tok.bos_id] + s for s in new]))
    return out


def perplexity(model, tok: TextTokenizer, texts: Sequence[str], batch_size: int = 32, max_length: int = 64,
               device: str | None = None) -> float:
    """``exp`` of the mean next-token cross-entropy over all real tokens of ``texts``."""
    import torch

    if not texts:
        raise ValueError("texts must be non-empty")
    device = device or default_device()
    model.to(device).eval()
    encoded = tok.encode_batch(texts, max_length=max_length)
    total, count = 0.0, 0
    with torch.no_grad():
        for start in range(0, len(encoded), batch_size):
            ids, mask, labels = _lm_batch(tok, encoded[start:start + batch_size], device)
            logits = model(input_ids=ids, attention_mask=mask).logits[:, :-1]
            target = labels[:, 1:]
            loss = torch.nn.functional.cross_entropy(logits.reshape(-1, logits.shape[-1]).float(),
                                                     target.reshape(-1), ignore_index=-100, reduction="sum")
            total += float(loss)
            count += int((target != -100).sum())
    return math.exp(total / max(1, count))
