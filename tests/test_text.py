"""plural_utils.textdata (the text toolkit) and the E4 runner, at toy sizes."""

import os
import subprocess
import sys
import time

import numpy as np
import pytest
import torch

from plural_utils import textdata as td


@pytest.fixture(scope="module")
def corpus():
    return td.load_corpus("stdlib-docstrings", max_words=20_000)


@pytest.fixture(scope="module")
def tok(corpus, tmp_path_factory):
    return td.train_bpe(corpus, 300, directory=tmp_path_factory.mktemp("bpe"))


def test_corpus_names_and_contents(corpus):
    with pytest.raises(ValueError, match="allowed values: python-doc, stdlib-docstrings, wikitext2"):
        td.load_corpus("wiki")
    with pytest.raises(ValueError, match="max_words"):
        td.load_corpus("stdlib-docstrings", max_words=0)
    words = td.word_count(corpus)
    assert len(corpus) > 100 and words.min() >= 6
    assert 20_000 <= words.sum() < 20_000 + words.max() + 1
    assert all("\n" not in p and "  " not in p for p in corpus)


def test_python_doc_is_prose():
    # E4's cpu corpus; scripts/setup.sh installs it, so its absence is a failure, not a skip.
    assert td.PYTHON_DOC_PATH.exists(), (f"{td.PYTHON_DOC_PATH} is missing: run scripts/setup.sh as root "
                                         "or apt-get install python3.11-doc")
    paragraphs = td.load_corpus("python-doc", max_words=200_000)
    text = "\n".join(paragraphs)
    assert td.word_count(paragraphs).sum() >= 200_000
    for marker in ("File: python3.11.info", "*note", "---------- Footnotes", "\x1f"):
        assert marker not in text, marker
    with pytest.raises(FileNotFoundError, match="python3.11-doc"):
        td.load_corpus("python-doc", root="/nonexistent/python.info.gz")


def test_wikitext2_fails_fast_then_reads_raw_files(tmp_path, monkeypatch):
    monkeypatch.delenv(td.WIKITEXT2_ENV, raising=False)
    started = time.perf_counter()
    with pytest.raises(FileNotFoundError, match="wiki.train.raw.*PLURAL_WIKITEXT2_DIR"):
        td.load_corpus("wikitext2")
    with pytest.raises(FileNotFoundError, match="Missing in .*wiki.valid.raw"):
        (tmp_path / "wiki.train.raw").write_text(" = Title = \n\n A first line of text . \n")
        td.load_corpus("wikitext2", root=tmp_path)
    assert time.perf_counter() - started < 1.0
    for name in ("wiki.valid.raw", "wiki.test.raw"):
        (tmp_path / name).write_text(" = = Heading = = \n Some words here . \n")
    monkeypatch.setenv(td.WIKITEXT2_ENV, str(tmp_path))
    assert td.load_corpus("wikitext2") == ["A first line of text ."]
    assert td.load_corpus("wikitext2", split="test") == ["Some words here ."]
    with pytest.raises(ValueError, match="split"):
        td.load_corpus("wikitext2", split="dev")


def test_gpt2_tokenizer_fails_fast_offline(tmp_path):
    # a fresh interpreter with an empty HF cache and the hub switched off: no network, no retries
    code = ("import time, transformers; from plural_utils import textdata as td; t = time.perf_counter()\n"
            "try:\n    td.load_gpt2_tokenizer()\nexcept FileNotFoundError as e:\n"
            "    print(round(time.perf_counter() - t, 3)); print(e)\n")
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_HOME": str(tmp_path / "hf"), "PLURAL_GPT2_TOKENIZER_DIR": ""}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120)
    seconds, message = out.stdout.split("\n", 1)
    assert float(seconds) < 1.0, out.stdout + out.stderr
    assert "not available offline" in message and "save_pretrained" in message


def test_bpe_round_trip_and_cache(corpus, tmp_path):
    first = td.train_bpe(corpus, 300, directory=tmp_path)
    files = sorted(p.name for p in tmp_path.iterdir())
    assert len(files) == 2 and all(f.startswith("bpe-") for f in files)
    again = td.train_bpe(corpus, 300, directory=tmp_path)
    assert again.fingerprint == first.fingerprint and again.vocab_size == 300
    assert len({first.pad_id, first.bos_id, first.eos_id}) == 3
    ids = first.encode_batch(corpus[:5])
    assert all(s[0] == first.bos_id and s[-1] == first.eos_id for s in ids)
    assert first.decode_batch(ids) == corpus[:5]
    cut = first.encode_batch(corpus[:5], max_length=6)
    assert all(len(s) == 6 and s[-1] == first.eos_id for s in cut)
    json_file = next(tmp_path.glob("bpe-*[0-9a-f].json"))
    json_file.write_text(json_file.read_text().replace('"<eos>"', '"<EOS>"'))  # corrupt: retrained
    assert td.train_bpe(corpus, 300, directory=tmp_path).fingerprint == first.fingerprint
    with pytest.raises(ValueError, match="vocab_size"):
        td.train_bpe(corpus, 100, directory=tmp_path)


def test_passages_span_the_length_range(corpus):
    passages = td.sample_passages(corpus, 500, 3, 30, np.random.default_rng(0))
    lengths = td.word_count(passages)
    assert lengths.min() >= 1 and lengths.max() == 30 and len(set(lengths.tolist())) >= 20
    assert passages == td.sample_passages(corpus, 500, 3, 30, np.random.default_rng(0))
    with pytest.raises(ValueError, match="min_words"):
        td.sample_passages(corpus, 5, 0, 3, np.random.default_rng(0))


def test_pretrain_finetune_generate_perplexity(corpus, tok, tmp_path):
    texts = td.sample_passages(corpus, 200, 2, 12, np.random.default_rng(1))
    kwargs = dict(steps=30, batch_size=16, lr=3e-3, max_length=24, n_layer=1, n_head=2, n_embd=32,
                  n_positions=32, warmup=5, directory=tmp_path, device="cpu", progress=False)
    model, info = td.pretrain_lm(tok, texts, **kwargs)
    again, info2 = td.pretrain_lm(tok, texts, **kwargs)
    assert info == info2 and len(list(tmp_path.glob("gpt2-pretrain-*.safetensors"))) == 1
    assert all(torch.equal(a, b) for a, b in zip(model.state_dict().values(), again.state_dict().values()))
    torch.manual_seed(12345)  # the global RNG state must not matter: a fresh build is the same model
    fresh, _ = td.pretrain_lm(tok, texts, **{**kwargs, "directory": tmp_path / "fresh"})
    assert all(torch.equal(a, b) for a, b in zip(model.state_dict().values(), fresh.state_dict().values()))
    before = td.perplexity(model, tok, texts[:50], max_length=24)
    losses = td.finetune(model, tok, texts[:50], epochs=3, lr=1e-3, batch_size=8, max_length=24, device="cpu")
    after = td.perplexity(model, tok, texts[:50], max_length=24)
    assert len(losses) == 3 * 7 and np.isfinite(losses).all()
    assert after < before < tok.vocab_size * 2
    one = td.generate(model, tok, n=7, max_new_tokens=12, seed=3, batch_size=4, device="cpu")
    two = td.generate(model, tok, n=7, max_new_tokens=12, seed=3, batch_size=4, device="cpu")
    assert len(one) == 7 and one == two and all(isinstance(t, str) for t in one)
    cont = td.generate(model, tok, prompts=["The module", "A"], max_new_tokens=5, seed=0, device="cpu")
    assert len(cont) == 2
    with pytest.raises(ValueError, match="top_p"):
        td.generate(model, tok, n=2, top_p=0.0)
    with pytest.raises(ValueError, match="n_embd"):
        td.small_gpt2(100, n_head=5, n_embd=32)


# ---------------------------------------------------------------- E4 runner

from plural_utils.profiles import get_profile  # noqa: E402
from plural_utils.runners import text as tx  # noqa: E402

TOY = dict(corpus="stdlib-docstrings", corpus_max_words=15_000, tokenizer="bpe", vocab_size=300, n_layer=1,
           n_head=2, n_embd=32, n_positions=24, pretrain_steps=10, pretrain_batch=8, pretrain_lr=3e-3,
           n_pretrain=200, n_seed=80, seed_max_words=12, T_A=3, distances=[0, 6], baselines=False, rounds=3,
           n_curated=12, n_generate=16, max_new_tokens=16, max_length=16)


def test_config_validation_names_the_parameter():
    for bad, match in [(dict(q=1.5), "q"), (dict(tokenizer="gpt3"), "tokenizer.*bpe, gpt2"),
                       (dict(corpus="x"), "corpus"), (dict(distances=[-1]), "distances"),
                       (dict(top_p=0.0), "top_p"), (dict(max_new_tokens=40), "n_positions"),
                       (dict(rounds=-1), "rounds")]:
        with pytest.raises(ValueError, match=match):
            tx.TextConfig(**{**TOY, **bad})
    names = [c["name"] for c in tx.TextConfig(**{**TOY, "baselines": True}).conditions()]
    assert names == ["d=0", "d=6", "only T_A=3", "only T_B=9"]


def test_rewards_and_leakage_proxy():
    R = tx.length_rewards([0, 3, 9], (3, 9))
    assert np.array_equal(R, [[-3, 0, -6], [-9, -6, 0]])
    # active A picks L=9 (in B's bin): leaks; active B picks L=9: does not
    assert tx.bin_leakage(np.array([9, 9, 3, 5]), np.array([0, 1, 1, 0]), (3, 9), 1) == 0.5


def test_paper_profile_fails_fast_without_data(tmp_path, monkeypatch):
    monkeypatch.delenv("PLURAL_WIKITEXT2_DIR", raising=False)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    config = tx.config_from_profile(get_profile("e4", "paper"))
    assert (config.n_layer, config.n_head, config.n_embd, config.vocab_size) == (6, 6, 384, 50257)
    from transformers import GPT2TokenizerFast  # noqa: F401  (import time is not what we measure)

    started = time.perf_counter()
    with pytest.raises(FileNotFoundError, match="wiki.train.raw"):
        tx.prepare(config, cache=str(tmp_path))
    for name in td.WIKITEXT2_FILES.values():
        (tmp_path / name).write_text(" A line of text . \n")
    monkeypatch.setenv("PLURAL_GPT2_TOKENIZER_DIR", str(tmp_path / "no-tokenizer"))
    with pytest.raises(FileNotFoundError, match="GPT-2's tokenizer"):
        tx.prepare(tx.TextConfig(**{**dataclasses_asdict(config), "corpus_root": str(tmp_path)}), cache=str(tmp_path))
    assert time.perf_counter() - started < 2.0


def dataclasses_asdict(config):
    import dataclasses

    return dataclasses.asdict(config)


_RUN = """
import json, sys
from plural_utils.runners import text as tx
config = tx.TextConfig(**json.loads(sys.argv[1]))
table, lengths, _ = tx.run_text_curation(config, seed=3, checkpoint_dir=sys.argv[2], device="cpu", progress=False,
                                         cache=sys.argv[3])
"""


def test_killed_run_resumes_exactly(tmp_path):
    import json

    config = tx.TextConfig(**TOY)
    cache = str(tmp_path / "cache")
    full, full_lengths, _ = tx.run_text_curation(config, seed=3, checkpoint_dir=str(tmp_path / "a"), device="cpu",
                                                 progress=False, cache=cache)
    assert len(full) == 2 * (config.rounds + 1)
    trained = full[full["round"] > 0]
    assert (trained["curated_reward"] > trained["pool_reward"]).all()
    assert np.isfinite(full["H_L"]).all() and (np.diff(trained["pool_size"].to_numpy()[:3]) >= 0).all()
    env = {**os.environ, "PLURAL_CHECKPOINT_KILL_AFTER": "2", "OMP_WAIT_POLICY": "PASSIVE"}
    killed = subprocess.run([sys.executable, "-c", _RUN, json.dumps(TOY), str(tmp_path / "b"), cache],
                            env=env, capture_output=True, text=True, timeout=300)
    assert killed.returncode == -9, killed.stderr[-2000:]
    saved = list((tmp_path / "b").glob("text-*.npz"))
    assert len(saved) == 1 and len(list((tmp_path / "b").glob("text-*-t2.safetensors"))) == 1
    resumed, resumed_lengths, _ = tx.run_text_curation(config, seed=3, checkpoint_dir=str(tmp_path / "b"),
                                                       device="cpu", progress=False, cache=cache)
    columns = [c for c in full.columns if c != "seconds"]
    pd_testing().assert_frame_equal(full[columns], resumed[columns], check_dtype=False)
    pd_testing().assert_frame_equal(full_lengths, resumed_lengths, check_dtype=False)


def pd_testing():
    import pandas.testing

    return pandas.testing


def test_paper_path_runs_on_stand_in_files(corpus, tmp_path, monkeypatch):
    """The wikitext2 + GPT-2-tokenizer path end to end, with local files in the paper's formats."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    wiki = tmp_path / "wikitext-2-raw"
    wiki.mkdir()
    lines = "".join(f" = Section {i} = \n\n {p} \n\n" for i, p in enumerate(corpus[:400]))
    for name in td.WIKITEXT2_FILES.values():
        (wiki / name).write_text(lines)
    backend = Tokenizer(models.BPE())
    backend.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    backend.decoder = decoders.ByteLevel()
    backend.train_from_iterator(corpus, trainer=trainers.BpeTrainer(
        vocab_size=1100, special_tokens=["<|endoftext|>"], show_progress=False,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet()))
    folder = tmp_path / "gpt2-tokenizer"
    folder.mkdir()
    backend.save(str(folder / "tokenizer.json"))
    monkeypatch.setenv("PLURAL_GPT2_TOKENIZER_DIR", str(folder))
    monkeypatch.setenv("PLURAL_WIKITEXT2_DIR", str(wiki))

    tok = td.load_gpt2_tokenizer()
    assert tok.bos_id == tok.eos_id == tok.pad_id == backend.token_to_id("<|endoftext|>")
    assert tok.decode_batch(tok.encode_batch(corpus[:4])) == corpus[:4]
    paper = get_profile("e4", "paper")
    config = tx.TextConfig(**{**paper, **{k: v for k, v in TOY.items() if k not in ("corpus", "tokenizer",
                                                                                   "corpus_max_words")},
                              "vocab_size": 1100, "rounds": 1, "baselines": True})
    assert (config.corpus, config.tokenizer) == ("wikitext2", "gpt2")
    table, lengths, setup = tx.run_text_curation(config, seed=0, device="cpu", progress=False,
                                                 cache=str(tmp_path / "cache"))
    assert setup.tok.name == "gpt2" and len(table) == 4 * 2
    assert set(lengths["round"]) == {0, 1} and np.isfinite(table["H_L"]).all()
