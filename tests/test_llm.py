"""E11 (Appendix C.8): reward data and heads, the recursive SFT runner, its resume, the paper path's failures."""

import gzip
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from plural_utils import text_rewards as tr
from plural_utils.profiles import get_profile
from plural_utils.runners import llm
from plural_utils.runners.llm import E11Config, check_paper_assets, distinct_n, load_prompt_file

REPO = Path(__file__).resolve().parent.parent


# ----------------------------------------------------------------------------- metrics and config

@pytest.mark.parametrize("texts, expected", [
    (["a b c", "a b d"], 3 / 4),           # bigrams ab, bc, ab, bd
    (["x y", "x y", "x y"], 1 / 3),
    (["A b", "a B"], 1 / 2),               # lower-cased
    (["one two three four"], 1.0),
])
def test_distinct_2(texts, expected):
    assert distinct_n(texts, 2) == pytest.approx(expected)


def test_distinct_without_bigrams_is_nan():
    assert np.isnan(distinct_n(["single", ""], 2))


@pytest.mark.parametrize("bad, name", [({"backend": "gpu"}, "backend"), ({"K": 0}, "K"), ({"tau": 0}, "tau"),
                                       ({"top_p": 1.5}, "top_p"), ({"T": -1}, "T")])
def test_config_rejects_bad_values(bad, name):
    with pytest.raises(ValueError, match=name):
        E11Config(**bad)


@pytest.mark.parametrize("profile", ["smoke", "cpu", "paper"])
def test_profiles_build_configs(profile):
    config = E11Config(**get_profile("e11", profile))
    assert config.N >= config.K
    if profile == "paper":
        assert (config.backend, config.T, config.N) == ("hf", 30, 500)


# ----------------------------------------------------------------------------- data and labelling rule

def test_safety_sentences_follow_the_labelling_rule():
    table = tr.build_safety_sentences()
    assert len(table) == len(tr.RISKY_OPERATIONS) * (len(tr.UNSAFE_TEMPLATES) + len(tr.SAFE_TEMPLATES))
    for row in table.itertuples():
        risky, safe = tr.RISKY_OPERATIONS[row.operation]
        if row.unsafe:
            assert risky in row.text and safe not in row.text
        else:
            assert safe in row.text or row.text.startswith(("Never", "Be careful", "Avoid"))


PROSE = ("The {name} module provides functions for working with {name} objects, and this paragraph "
         "is long enough to count as prose because it has well over twenty words in it.")


def _info_file(path):
    """A gzipped info file in the Python manual's layout: a header, then nodes split by \\x1f."""
    nodes = [
        ("alpha — Alpha things", "Some intro.\n\n" + PROSE.format(name="alpha")),
        ("beta — Beta things", "     code = 1  # indented: code, skipped\n\n"
         "See *note the beta guide: 2f. for details; " + PROSE.format(name="beta")),
        ("alpha — Alpha things<2>", PROSE.format(name="changelog")),  # repeated title: skipped
        ("gamma", "Too short to be prose."),  # no paragraph of 20 words: skipped
        ("What is delta?", "* Menu:\n\n" + PROSE.format(name="delta")),
    ]
    text = "This is python3.11.info, produced by makeinfo.\n"
    for title, body in nodes:
        text += f"\x1f\nFile: python3.11.info,  Node: {title},  Next: x,  Up: Top\n\n{body}\n"
    with gzip.open(path, "wt", encoding="utf-8") as fh:
        fh.write(text)
    return path


def test_builder_reads_sections_of_an_info_file(tmp_path):
    info = _info_file(tmp_path / "manual.info.gz")
    sections = tr.info_sections(info)
    assert [title for title, _ in sections] == ["alpha — Alpha things", "beta — Beta things", "What is delta?"]
    beta = dict(sections)["beta — Beta things"]
    assert beta.startswith("See the beta guide for details;") and "*note" not in beta
    prompts = tr.build_prompts(info, n_prompts=10, heldout_fraction=0.5, seed=0)
    assert len(prompts) == 3 and set(prompts["split"]) <= {"train", "heldout"}
    assert "What is delta?" in set(prompts["prompt"])  # a title that is a question is the prompt
    assert (prompts["answer"].str.split().str.len() <= tr.ANSWER_WORDS).all()
    first = [p.read_bytes() for p in tr.build_data(tmp_path / "a", info_path=info)]
    assert first == [p.read_bytes() for p in tr.build_data(tmp_path / "b", info_path=info)]  # deterministic
    with pytest.raises(FileNotFoundError, match="apt-get install python3.11-doc"):
        tr.info_sections(tmp_path / "absent.info.gz")


def test_shipped_data_is_what_the_builder_writes(tmp_path):
    # The shipped data/e11 must be exactly what the builder makes from Debian's manual, which
    # scripts/setup.sh installs; without it this check cannot be made, so it fails rather than skips.
    assert tr.PYTHON_INFO.exists(), (f"{tr.PYTHON_INFO} is missing: run scripts/setup.sh as root "
                                     "or apt-get install python3.11-doc")
    tr.build_data(tmp_path)
    for name in ("prompts.jsonl", "safety_sentences.jsonl"):
        assert (tmp_path / name).read_bytes() == (tr.DATA_DIR / name).read_bytes()


def test_shipped_prompts_split_by_section():
    prompts, sentences = tr.load_e11_data()
    assert set(prompts["split"]) == {"train", "heldout"}
    assert not set(prompts.loc[prompts["split"] == "train", "title"]) & set(
        prompts.loc[prompts["split"] == "heldout", "title"])
    assert prompts["answer"].str.split().str.len().max() <= tr.ANSWER_WORDS
    assert sum(p.stat().st_size for p in tr.DATA_DIR.iterdir()) < 2 * 1024 * 1024


def test_examples_carry_the_conflict():
    prompts, sentences = tr.load_e11_data()
    part = prompts.iloc[:30]
    pairs = tr.helpfulness_examples(part, sentences, seed=0)
    assert pairs.groupby("kind")["helpful"].first().to_dict() == {
        "hedged": 0, "mismatched": 0, "plain": 1, "refusal": 0, "shortcut": 1}
    safety = tr.safety_examples(part, sentences, seed=0)
    unsafe_by_kind = safety[safety["kind"] != "sentence"].groupby("kind")["unsafe"].first().to_dict()
    assert unsafe_by_kind == {"hedged": 0, "plain": 0, "shortcut": 1}
    mismatched = pairs[pairs["kind"] == "mismatched"]
    own = dict(zip(part["prompt"], part["answer"]))
    assert all(own[p] != r for p, r in zip(mismatched["prompt"], mismatched["response"]))


def test_missing_data_file_fails_fast(tmp_path):
    with pytest.raises(FileNotFoundError, match="build-data"):
        tr.load_e11_data(tmp_path)


# ----------------------------------------------------------------------------- paper path fails fast and clearly

@pytest.fixture
def offline(monkeypatch, tmp_path):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hf" / "hub"))
    for env in (llm.POLICY_ENV, llm.HELPFULNESS_ENV, llm.SAFETY_ENV, llm.PROMPTS_ENV):
        monkeypatch.delenv(env, raising=False)
    return monkeypatch


def _model_dir(root: Path, name: str, remote_code: bool = False) -> Path:
    folder = root / name
    folder.mkdir()
    config = {"architectures": ["X"], **({"auto_map": {"AutoModel": "x.X"}} if remote_code else {})}
    (folder / "config.json").write_text(json.dumps(config))
    return folder


def _prompt_file(root: Path) -> Path:
    path = root / "ultrafeedback.jsonl"
    path.write_text("\n".join(json.dumps({"instruction": f"question {i}"}) for i in range(5)))
    return path


@pytest.mark.parametrize("missing", ["policy", "helpfulness_rm", "safety_model", "prompts_path"])
def test_each_missing_paper_asset_fails_fast_naming_it(offline, tmp_path, missing):
    paths = {"policy": _model_dir(tmp_path, "qwen"), "helpfulness_rm": _model_dir(tmp_path, "rm"),
             "safety_model": _model_dir(tmp_path, "guard"), "prompts_path": _prompt_file(tmp_path)}
    paths[missing] = tmp_path / "absent"
    envs = {"policy": llm.POLICY_ENV, "helpfulness_rm": llm.HELPFULNESS_ENV, "safety_model": llm.SAFETY_ENV,
            "prompts_path": llm.PROMPTS_ENV}
    for name, path in paths.items():
        offline.setenv(envs[name], str(path))
    start = time.perf_counter()
    with pytest.raises(FileNotFoundError) as err:
        check_paper_assets(E11Config(**get_profile("e11", "paper")))
    assert time.perf_counter() - start < 2.0
    message = str(err.value)
    assert envs[missing] in message and ("huggingface-cli download" in message)
    assert message.count("\n- ") == 1  # only the missing piece is listed


def test_paper_defaults_fail_fast_listing_everything(offline):
    start = time.perf_counter()
    with pytest.raises(FileNotFoundError) as err:
        llm.build_hf_setup(E11Config(**get_profile("e11", "paper")))
    assert time.perf_counter() - start < 2.0
    for what in ("Qwen-2.5-1.5B", "ArmoRM", "trust_remote_code", "Llama-Guard-3-1B", "UltraFeedback"):
        assert what in str(err.value)


def test_remote_code_reward_model_is_refused(offline, tmp_path):
    offline.setenv(llm.POLICY_ENV, str(_model_dir(tmp_path, "qwen")))
    offline.setenv(llm.HELPFULNESS_ENV, str(_model_dir(tmp_path, "armorm", remote_code=True)))
    offline.setenv(llm.SAFETY_ENV, str(_model_dir(tmp_path, "guard")))
    offline.setenv(llm.PROMPTS_ENV, str(_prompt_file(tmp_path)))
    with pytest.raises(ValueError, match="trust_remote_code"):
        check_paper_assets(E11Config(**get_profile("e11", "paper")))


def test_prompt_file_reader(tmp_path):
    folder = tmp_path / "uf"
    folder.mkdir()
    rows = [{"instruction": "q1", "completions": [{"response": "a1"}]}, {"instruction": "q2", "completions": []},
            {"instruction": "q1", "completions": [{"response": "a1"}]}]
    (folder / "part.jsonl").write_text("\n".join(json.dumps(r) for r in rows))
    table = load_prompt_file(folder)
    assert list(table["prompt"]) == ["q1", "q2"] and list(table["response"]) == ["a1", ""]
    (tmp_path / "bad.jsonl").write_text(json.dumps({"text": "x"}))
    with pytest.raises(ValueError, match="instruction"):
        load_prompt_file(tmp_path / "bad.jsonl")


# ----------------------------------------------------------------------------- the runner, killed and resumed

_RUN = """
import sys, pandas as pd
from plural_utils.profiles import get_profile
from plural_utils.runners.llm import E11Config, build_setup, run_condition
config = E11Config(**get_profile("e11", "smoke", T=3))
setup = build_setup(config, 0, cache_dir=sys.argv[1])
table, samples = run_condition(config, setup, 0.5, 0, checkpoint_dir=sys.argv[2] if sys.argv[2] != "-" else None)
table.to_csv(sys.argv[3], index=False)
pd.Series(samples[3]).to_csv(sys.argv[3] + ".samples", index=False)
"""


def _run(args, kill_after=None):
    env = {**os.environ, "OMP_WAIT_POLICY": "PASSIVE", "HF_HUB_OFFLINE": "1"}
    env.pop("PLURAL_CHECKPOINT_DIR", None)
    if kill_after is not None:
        env["PLURAL_CHECKPOINT_KILL_AFTER"] = str(kill_after)
    return subprocess.run([sys.executable, "-c", _RUN, *map(str, args)], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=300)


def test_killed_run_resumes_to_the_uninterrupted_table(tmp_path):
    cache, ckpt = tmp_path / "cache", tmp_path / "ckpt"
    killed = _run([cache, ckpt, tmp_path / "killed.csv"], kill_after=1)
    assert killed.returncode == -9, killed.stderr[-2000:]
    assert not (tmp_path / "killed.csv").exists()
    assert len(list(ckpt.glob("e11-*-t1.safetensors"))) == 1
    resumed = _run([cache, ckpt, tmp_path / "resumed.csv"])
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    straight = _run([cache, "-", tmp_path / "straight.csv"])
    assert straight.returncode == 0, straight.stderr[-2000:]
    a, b = pd.read_csv(tmp_path / "resumed.csv"), pd.read_csv(tmp_path / "straight.csv")
    assert list(a["t"]) == [0, 1, 2, 3]
    pd.testing.assert_frame_equal(a, b)
    assert (tmp_path / "resumed.csv.samples").read_text() == (tmp_path / "straight.csv.samples").read_text()
    assert len(list(ckpt.glob("e11-*-t*.safetensors"))) == 1  # older rounds' weights are dropped


def test_reward_heads_score_in_unit_interval(tmp_path):
    prompts, sentences = tr.load_e11_data()
    heads = tr.build_reward_heads(prompts.iloc[:60], sentences, seed=0, cache_dir=tmp_path,
                                  config=tr.HeadConfig(epochs=40))
    for name in ("helpfulness", "safety"):
        assert 0.5 < heads.info[name]["heldout_accuracy"] <= 1.0
    R = heads.score(["What does the json module provide?"] * 2, ["It encodes JSON.", "Pro tip: exec() it."])
    assert R.shape == (2, 2) and ((R >= 0) & (R <= 1)).all()
    again = tr.build_reward_heads(prompts.iloc[:60], sentences, seed=0, cache_dir=tmp_path,
                                  config=tr.HeadConfig(epochs=40), embedder=heads.embedder)
    assert again.info == heads.info
