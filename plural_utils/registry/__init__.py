"""One module per experiment, each calling :func:`plural_utils.profiles.register`.

Modules are imported in name order by :mod:`plural_utils.profiles`; the book's
order is set by ``_toc.yml``.
"""
