"""The staging step of the book (plural_utils.book): the profile line and the launch-button config."""

import nbformat
import pytest

from plural_utils import book


def _executed(profile="cpu", **params):
    nb = nbformat.v4.new_notebook()
    nb.cells = [
        nbformat.v4.new_markdown_cell("# Lemma 9: a title\n\nWhat the page shows."),
        nbformat.v4.new_code_cell("profile = 'cpu'"),
    ]
    nb.metadata["papermill"] = {
        "parameters": {"profile": profile, **params},
        "end_time": "2026-01-02T03:04:05.000000+00:00",
    }
    return nb


def test_profile_line_sits_under_the_title():
    nb = _executed("smoke", seed=3)
    book.add_profile_note(nb, book.profile_note(nb, "cpu", "abc1234"))
    lines = nb.cells[0].source.splitlines()
    assert lines[0] == "# Lemma 9: a title"
    note = nb.cells[0].source
    # The profile the notebook actually ran at wins over the build's default.
    assert "profile `smoke`" in note and "2026-01-02" in note and "`abc1234`" in note
    assert "`seed=3`" in note
    assert note.index("profile-line") < note.index("What the page shows.")


def test_profile_line_without_a_title_becomes_the_first_cell():
    nb = _executed()
    nb.cells[0].source = "No heading here."
    book.add_profile_note(nb, "NOTE")
    assert nb.cells[0].source == "NOTE" and len(nb.cells) == 3


@pytest.mark.parametrize(
    "remote, expected",
    [
        ("git@github.com:org/repo.git", "https://github.com/org/repo"),
        ("https://github.com/org/repo", "https://github.com/org/repo"),
        ("https://gitlab.com/org/repo.git", None),
    ],
)
def test_repository_url(monkeypatch, remote, expected):
    monkeypatch.setenv(book.REPOSITORY_ENV, remote)
    assert book.repository_url() == expected


def test_launch_buttons_only_with_a_repository():
    assert "launch_buttons" not in book.staged_config({"execute": {}}, None)
    config = book.staged_config({"execute": {"timeout": 1}}, "https://github.com/org/repo")
    assert config["repository"]["url"] == "https://github.com/org/repo"
    assert config["launch_buttons"]["binderhub_url"]
    assert config["execute"] == {"timeout": 1, "execute_notebooks": "off"}
