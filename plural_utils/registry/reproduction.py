"""Profile of the reproduction page: it gathers the other experiments' ``paper_comparison`` files.

``reference_profile`` names the committed results under ``data/results/<experiment>/``
that the page falls back to when the current profile has no comparison file at all
(the smoke test runs with an empty results folder). ``stage=1`` makes ``run-all``
execute the page after every experiment.
"""

from ..profiles import Experiment, register

_REPRODUCTION = dict(reference_profile="cpu")

register(
    Experiment(
        name="reproduction",
        title="Reproduction status",
        notebook="notebooks/reproduction.ipynb",
        profiles={"smoke": _REPRODUCTION, "cpu": _REPRODUCTION, "paper": _REPRODUCTION},
        stage=1,
    )
)
