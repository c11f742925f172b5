"""Reward landscapes on grids, ready for the exact dynamics.

Each builder returns a :class:`Landscape`: grid points, the rewards at them
(``(M, n)``), an initial law ``p0`` and the reward centres. The theory
notebooks sweep these (separation, reward scale, plateau gaps) and hand
``rewards`` and ``p0`` to :func:`plural_utils.dynamics.iterate`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .measures import gaussian_on_grid, grid_1d, grid_2d, uniform
from .rewards import quadratic_rewards
from .validation import check_positive


@dataclass(frozen=True)
class Landscape:
    """Grid points ``(n, d)``, rewards ``(M, n)``, initial law ``p0`` and centres ``(M, d)``."""

    points: np.ndarray
    rewards: np.ndarray
    p0: np.ndarray
    centers: np.ndarray

    @property
    def M(self) -> int:
        return self.rewards.shape[0]


def _initial(points: np.ndarray, init: str, init_var: float) -> np.ndarray:
    if init == "uniform":
        return uniform(points.shape[0])
    if init == "gaussian":
        return gaussian_on_grid(points, points.mean(axis=0), init_var)
    raise ValueError(f"init must be 'uniform' or 'gaussian'; got {init!r}")


def quadratic_pair(distance: float, gamma: float = 1.0, n: int = 801, dim: int = 1,
                   half_width: float | None = None, init: str = "uniform", init_var: float = 3.0) -> Landscape:
    """Two quadratic rewards ``-gamma ||x - mu_i||^2`` with centres ``distance`` apart.

    The centres sit symmetrically about the origin on the first axis (1-D) or
    the diagonal (2-D), as in Appendix C.4 with the midpoint fixed. The grid
    spans ``[-half_width, half_width]^dim`` (default: 3 beyond each centre)
    with ``n`` points per axis.
    """
    if distance < 0:
        raise ValueError(f"distance must be >= 0; got {distance}")
    if dim not in (1, 2):
        raise ValueError(f"dim must be 1 or 2; got {dim}")
    gamma = check_positive(gamma, "gamma")
    half = 0.5 * distance
    width = half_width if half_width is not None else max(6.0, half + 3.0)
    points = grid_1d(-width, width, n) if dim == 1 else grid_2d(-width, width, n)
    direction = np.ones(dim) / np.sqrt(dim)
    centers = np.stack([-half * direction, half * direction])
    return Landscape(points, quadratic_rewards(points, centers, gamma), _initial(points, init, init_var), centers)


def quadratic_family(centers, gamma: float = 1.0, n: int = 801, half_width: float | None = None,
                     init: str = "uniform", init_var: float = 3.0) -> Landscape:
    """``M`` quadratic rewards with the given centres (Appendix B.4), on a 1-D or 2-D grid."""
    c = np.atleast_2d(np.asarray(centers, dtype=float))
    if c.shape[1] not in (1, 2):
        raise ValueError(f"centers must be 1-D or 2-D points; got shape {c.shape}")
    width = half_width if half_width is not None else float(np.abs(c).max()) + 3.0
    points = grid_1d(-width, width, n) if c.shape[1] == 1 else grid_2d(-width, width, n)
    return Landscape(points, quadratic_rewards(points, c, gamma), _initial(points, init, init_var), c)


def plateau_pair(gap1: float, gap2: float, distance: float = 6.0, width: float = 1.0, floor: float | None = None,
                 n: int = 801, half_width: float | None = None, init: str = "uniform",
                 init_var: float = 3.0) -> Landscape:
    """Plateau basins of Assumption B.6 / Proposition 4 on a 1-D grid.

    Basin ``S_j`` is the interval of half-width ``width`` around centre
    ``mu_j`` (centres ``distance`` apart). On ``S_1``: ``(r_1, r_2) = (0, -gap2)``;
    on ``S_2``: ``(r_1, r_2) = (-gap1, 0)``; elsewhere both rewards equal
    ``floor`` (default ``-(max(gap1, gap2) + 1)``), so outside mass decays.
    """
    for name, v in (("gap1", gap1), ("gap2", gap2), ("width", width)):
        check_positive(v, name)
    if distance <= 2 * width:
        raise ValueError(f"distance must exceed 2 * width so the basins are disjoint; got {distance} <= {2 * width}")
    floor = -(max(gap1, gap2) + 1.0) if floor is None else float(floor)
    width_all = half_width if half_width is not None else 0.5 * distance + width + 3.0
    points = grid_1d(-width_all, width_all, n)
    x = points[:, 0]
    centers = np.array([[-0.5 * distance], [0.5 * distance]])
    in1 = np.abs(x - centers[0, 0]) <= width
    in2 = np.abs(x - centers[1, 0]) <= width
    r1 = np.full_like(x, floor)
    r2 = np.full_like(x, floor)
    r1[in1], r2[in1] = 0.0, -gap2
    r1[in2], r2[in2] = -gap1, 0.0
    return Landscape(points, np.stack([r1, r2]), _initial(points, init, init_var), centers)
