import pytest

from plural_utils.profiles import (
    DEFAULT_PROFILE,
    EXPERIMENTS,
    PROFILES,
    get_profile,
    list_experiments,
)


def test_registry_has_the_book_experiments():
    assert {"lemma1", "e1"} <= set(list_experiments())
    assert DEFAULT_PROFILE in PROFILES
    for exp in EXPERIMENTS.values():
        assert set(exp.profiles) == set(PROFILES)
        assert exp.notebook.endswith(".ipynb")


def test_every_profile_of_an_experiment_has_the_same_keys():
    for exp in EXPERIMENTS.values():
        keys = {p: set(v) for p, v in exp.profiles.items()}
        assert all(k == keys["cpu"] for k in keys.values()), exp.name


def test_e1_cpu_is_the_paper_setting():
    assert get_profile("e1", "cpu") == get_profile("e1", "paper")
    assert get_profile("e1", "smoke")["T"] < get_profile("e1", "cpu")["T"]


def test_lemma1_paper_differs_from_cpu_only_in_draws():
    cpu, paper = get_profile("lemma1", "cpu"), get_profile("lemma1", "paper")
    assert paper.pop("n_draws") == 2_000_000
    cpu.pop("n_draws")
    assert cpu == paper


def test_default_profile_is_cpu():
    assert get_profile("e1") == get_profile("e1", "cpu")


def test_unknown_experiment_names_parameter_and_choices():
    with pytest.raises(ValueError, match=r"experiment='nope'.*allowed values:.*(e1.*lemma1|lemma1.*e1)"):
        get_profile("nope")


def test_unknown_profile_names_parameter_and_choices():
    with pytest.raises(ValueError, match=r"profile='gpu'.*smoke, cpu, paper"):
        get_profile("e1", "gpu")


def test_unknown_override_names_key_and_allowed_keys():
    with pytest.raises(ValueError, match=r"Kk=3.*allowed keys:.*\bK\b"):
        get_profile("e1", "smoke", Kk=3)


def test_overrides_apply_and_none_is_ignored():
    params = get_profile("e1", "smoke", K=7, q=None)
    assert params["K"] == 7
    assert params["q"] == get_profile("e1", "smoke")["q"]


def test_copies_are_independent():
    first = get_profile("lemma1", "smoke")
    first["n_atoms"] = -1
    first["K_values"] = (99,)
    assert get_profile("lemma1", "smoke")["n_atoms"] == 8
    assert get_profile("lemma1", "smoke")["K_values"] == (1, 2, 3, 8)


def test_registry_entries_cannot_be_mutated():
    with pytest.raises(TypeError):
        EXPERIMENTS["e1"].profiles["cpu"]["T"] = 1
