"""Executable companion to "Curated Synthetic Data Doesn't Have to Collapse".

The math core lives in one module per concern (``curation``, ``dynamics``,
``theory``, ``metrics``, ``rewards``, ``measures``), experiment settings in
``profiles``, result files in ``results`` and the notebook runner in ``cli``.
Import the module you need; nothing heavy is imported here.
"""

__version__ = "0.1.0"
