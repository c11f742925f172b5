"""Exact retraining dynamics on a discrete measure (grid or weighted atoms).

Under the idealised MLE retraining of Sec. 2.1 the model after one round is
the law of the curated sample (Lemma 1 / B.1)::

    p_{t+1}(x) = p_t(x) * sum_i q_i H^{K, r_i}_{p_t}(x),                (Lemma 1, B.4)

with the Bradley–Terry weight of eq. (2),
``H^{K,r}_p(x) = E[K e^{r(x)} / (e^{r(x)} + sum_{j<K} e^{r(y_j)})]``, and, as
``K -> infinity``, the exponential tilt of eq. (5),
``H^{inf,r}_p(x) = e^{r(x)} / E_p[e^r]``.

Computing H^K exactly
---------------------
By the Gumbel-max identity the BT choice is the argmax of ``r/tau + G`` over
the pool, with ``G`` standard Gumbel. Candidate ``x`` wins iff its key beats
the maximum key of the other ``K - 1``, whose CDF is ``F(z)^{K-1}`` with
``F(z) = sum_j p_j exp(-exp(s_j - z))`` (``s = r / tau``). Hence::

    H^K(x) = K * integral f_G(z - s(x)) F(z)^{K-1} dz,

a one-dimensional integral that depends on ``p`` only through the law of
``e^{r(y)}``, as eq. (2) does. The integrand is entire and decays
double-exponentially on the left and exponentially on the right, so the
trapezoid rule on a lattice of step 0.25 is accurate to ~1e-13 (checked in
the tests against the exact double and triple sums at K = 2, 3, and in
``benchmarks/bench_finite_k.py`` against an independent Laplace-transform
quadrature, ~1e-13 relative even for atoms 900 nats below the rest). ``F`` is
evaluated by binning the atoms in ``s`` and expanding each bin to tenth order
(Touchard polynomials), which costs O(bins x nodes) instead of
O(atoms x nodes) and is accurate to ~1e-15.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
from scipy.special import logsumexp, stirling2

from .validation import check_distribution, check_K, check_nonnegative_int, check_positive, check_q, check_rewards

_STEP = 0.25  # trapezoid step in z (error < 1e-13 against exact sums at K = 2, 3)
_LEFT = 6.0  # f_G(g) = exp(-g - e^{-g}) < 1e-170 for g < -6
_RIGHT = 40.0  # f_G(g) < e^{-g} < 5e-18 for g > 40
_BIN = 0.1  # bin width in s for the Taylor evaluation of F
_ORDER = 10  # Taylor order; remainder < (0.05^11 / 11!) * max|T_11(-a)| e^{-a} ~ 1e-17
_ABOVE = 7.5  # exp(-exp(s - z)) == 0 in double precision for s - z > 6.6
_BELOW = 38.0  # exp(-exp(s - z)) == 1 to 1e-16 for s - z < -37
_CHUNK = 256
_SPLINE_STEP = 0.05
_MAX_NODES = 400_000

_M = np.arange(_ORDER + 1)
_FACT = np.array([math.factorial(m) for m in _M], dtype=float)
# _STIRLING[k, m] = S(m, k): T_m(x) = sum_k S(m, k) x^k (Touchard polynomials)
_STIRLING = np.array([[stirling2(m, k, exact=True) for m in _M] for k in _M], dtype=float)


def _chunk_windows(queries: np.ndarray, grid: np.ndarray, below: float, above: float):
    """Chunks of sorted ``queries`` with the slice ``grid[lo:hi]`` within ``[q - below, q + above]``.

    Yields ``(start, chunk, lo, hi)``; both integrals only need the grid
    points near each query, so work stays O(chunk x window).
    """
    for start in range(0, queries.shape[0], _CHUNK):
        chunk = queries[start:start + _CHUNK]
        lo = np.searchsorted(grid, chunk[0] - below, side="left")
        hi = np.searchsorted(grid, chunk[-1] + above, side="right")
        yield start, chunk, lo, hi


def _gumbel_mixture_cdf(z: np.ndarray, s: np.ndarray, w: np.ndarray) -> np.ndarray:
    """``F(z) = sum_j w_j exp(-exp(s_j - z))`` at sorted nodes ``z``.

    Atoms are binned in ``s``; inside a bin with centre ``c`` the term is
    expanded in ``delta = s - c``:
    ``exp(-a e^delta) = e^{-a} sum_m delta^m / m! T_m(-a)``, ``a = e^{c - z}``,
    with ``T_m(x) = sum_k S(m, k) x^k`` (Touchard). Collecting powers of
    ``x = -a`` gives per bin a polynomial ``sum_k c_k x^k`` with
    ``c_k = sum_m S(m, k) E[delta^m / m!]``, evaluated by Horner's rule.
    """
    bins, inverse = _bin_index(s)
    centre = (bins + 0.5) * _BIN
    delta = s - centre[inverse]
    moments = np.empty((bins.shape[0], _ORDER + 1))
    term = w.copy()
    for m in range(_ORDER + 1):
        moments[:, m] = np.bincount(inverse, weights=term, minlength=bins.shape[0])
        term = term * delta / (m + 1)
    coeffs = moments @ _STIRLING.T  # coeffs[b, k] multiplies x^k
    below = np.concatenate([[0.0], np.cumsum(moments[:, 0])])

    out = np.empty(z.shape[0])
    for start, zc, lo, hi in _chunk_windows(z, centre, _BELOW, _ABOVE):
        d = centre[None, lo:hi] - zc[:, None]
        x = -np.exp(np.minimum(d, _ABOVE))
        poly = np.broadcast_to(coeffs[lo:hi, _ORDER], x.shape).copy()
        for k in range(_ORDER - 1, -1, -1):
            poly *= x
            poly += coeffs[lo:hi, k]
        poly *= np.exp(x)
        poly[d > _ABOVE] = 0.0
        out[start:start + _CHUNK] = below[lo] + poly.sum(axis=1)
    return np.clip(out, 0.0, 1.0)


def _bin_index(s: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Occupied bins of width ``_BIN`` (sorted) and each atom's bin, in O(n) when compact."""
    key = np.floor(s / _BIN).astype(np.int64)
    offset = key.min()
    span = int(key.max() - offset) + 1
    if span > 4 * key.shape[0] + 4096:
        return np.unique(key, return_inverse=True)
    occupied = np.bincount(key - offset, minlength=span) > 0
    slot = np.cumsum(occupied) - 1
    return np.flatnonzero(occupied) + offset, slot[key - offset]


def _lattice(s_points: np.ndarray) -> np.ndarray:
    """Lattice nodes ``k * _STEP`` for the integrals of the query points ``s_points``.

    The whole range ``[min s - _LEFT, max s + _RIGHT]`` when it has at most
    ``_MAX_NODES`` nodes (then every right tail is on the lattice and H is
    accurate to ~1e-10 relative, far tail included); otherwise only the union
    of the windows ``[s - _LEFT, s + _RIGHT]`` (accurate to ~1e-13 absolute).
    """
    lo = np.ceil((s_points.min() - _LEFT) / _STEP)
    hi = np.floor((s_points.max() + _RIGHT) / _STEP)
    if hi - lo + 1 <= _MAX_NODES:
        return np.arange(lo, hi + 1) * _STEP
    starts = np.ceil((s_points - _LEFT) / _STEP).astype(np.int64)
    ends = np.floor((s_points + _RIGHT) / _STEP).astype(np.int64)
    order = np.argsort(starts)
    starts, ends = starts[order], np.maximum.accumulate(ends[order])
    new_group = np.concatenate([[True], starts[1:] > ends[:-1] + 1])
    group_starts = starts[new_group]
    group_ends = np.concatenate([ends[np.flatnonzero(new_group)[1:] - 1], ends[-1:]])
    pieces = [np.arange(a, b + 1) for a, b in zip(group_starts, group_ends)]
    return np.concatenate(pieces) * _STEP


def _bt_weight_scaled(s_support: np.ndarray, w_support: np.ndarray, s_query: np.ndarray, K: int) -> np.ndarray:
    """H^K at scaled rewards ``s_query`` for the law ``sum_j w_j delta_{s_j}``.

    Atoms with ``s = -inf`` (mass ``d``) never beat a finite one, so they add
    ``d`` to ``F`` everywhere; a pool made only of them is won uniformly (the
    convention of :func:`plural_utils.curation.bt_probabilities`, the limit of
    equal low rewards), which gives them ``H = d^{K-1}``.
    """
    if K == 1:
        return np.ones_like(s_query)
    dead_mass = float(w_support[np.isneginf(s_support)].sum())
    out = np.full_like(s_query, dead_mass ** (K - 1))
    finite = np.isfinite(s_query)
    if not finite.any():
        return out
    live = np.isfinite(s_support) & (w_support > 0)
    s_support, w_support = s_support[live], w_support[live]
    uq, inverse = np.unique(s_query[finite], return_inverse=True)
    nodes = _lattice(uq)
    F = _gumbel_mixture_cdf(nodes, s_support, w_support) + dead_mass
    with np.errstate(divide="ignore"):
        G = np.exp((K - 1) * np.log(np.minimum(F, 1.0)))
    tail = _right_tails(nodes, G)
    H = np.empty(uq.shape[0])
    for start, sc, lo, hi in _chunk_windows(uq, nodes, _LEFT, _RIGHT):
        g = nodes[None, lo:hi] - sc[:, None]
        far_left = g < -_LEFT - 1.0
        g = np.where(far_left, 0.0, g)
        density = np.exp(-g - np.exp(-g))
        density[far_left] = 0.0
        # Beyond the block the Gumbel density is e^{-g} to 1e-17 relative, so
        # the rest of the integral is e^{s} * tail[hi]: this keeps H accurate
        # in relative terms for atoms far below the rest, which win only
        # through pools whose other members all lose.
        H[start:start + _CHUNK] = K * _STEP * (density @ G[lo:hi] + np.exp(sc + tail[hi]))
    out[finite] = H[inverse]
    return out


def _right_tails(nodes: np.ndarray, G: np.ndarray) -> np.ndarray:
    """``tail[k] = log sum_{j >= k} e^{-z_j} G_j`` with the lattice continued to infinity (G = 1).

    The continuation adds ``sum_{j > L} e^{-z_j} = e^{-z_L} e^{-h} / (1 - e^{-h})``.
    """
    with np.errstate(divide="ignore"):
        terms = -nodes + np.log(G)
    beyond = -nodes[-1] + np.log(np.exp(-_STEP) / -np.expm1(-_STEP))
    terms = np.append(terms, beyond)
    return np.logaddexp.accumulate(terms[::-1])[::-1]


def bt_weight_table(s_support: np.ndarray, w_support: np.ndarray, K: int, low: float, high: float):
    """Tabulate ``H^K`` on a lattice of step ``_SPLINE_STEP`` over ``[low, high]``.

    Returns ``(lattice, values, spline)``; ``H^K`` is analytic and increasing
    in the scaled reward ``s``, so the cubic spline is accurate to ~1e-7
    relative (far below any sampling noise; it serves the exact-law sampler) and
    ``values[k + 1]`` bounds ``H^K`` on ``[lattice[k], lattice[k + 1]]``.
    """
    from scipy.interpolate import CubicSpline

    lattice = np.arange(low - 2 * _SPLINE_STEP, high + 2.5 * _SPLINE_STEP, _SPLINE_STEP)
    values = _bt_weight_scaled(s_support, w_support, lattice, K)
    return lattice, values, CubicSpline(lattice, values)


def bt_weight(p, reward, K, tau: float = 1.0) -> np.ndarray:
    """Finite-K Bradley–Terry weight ``H^{K,r}_p`` of eq. (2) at every atom.

    Parameters
    ----------
    p : array_like, shape (n,)
        Probability vector over the atoms.
    reward : array_like, shape (n,)
        ``r`` at the atoms (``-inf`` allowed: such atoms never win).
    K : int
        Pool size, ``K >= 1``; ``K = 1`` gives ``H = 1`` (no selection).
    tau : float
        Temperature: the rewards enter as ``r / tau`` (C.1).

    Returns
    -------
    ndarray, shape (n,)
        ``H^{K,r}_p(x)``, deterministic to ~1e-12 (see module notes).
    """
    R = check_rewards(reward, "reward")
    if R.shape[0] != 1:
        raise ValueError(f"reward must be one reward (1-D); got shape {np.shape(reward)}")
    p = check_distribution(p, R.shape[1])
    K = check_K(K)
    tau = check_positive(tau, "tau")
    s = R[0] / tau
    return _bt_weight_scaled(s, p, s, K)


def tilt_weight(p, reward, tau: float = 1.0) -> np.ndarray:
    """Large-K weight ``H^{inf,r}_p(x) = e^{r(x)/tau} / E_p[e^{r/tau}]`` (Lemma 2)."""
    R = check_rewards(reward, "reward")
    if R.shape[0] != 1:
        raise ValueError(f"reward must be one reward (1-D); got shape {np.shape(reward)}")
    p = check_distribution(p, R.shape[1])
    tau = check_positive(tau, "tau")
    return _tilt_scaled(R[0] / tau, p)


def _tilt_scaled(s: np.ndarray, p: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore"):
        log_z = logsumexp(s + np.log(p))
    return np.exp(s - log_z)


def curation_multiplier(p, rewards, q=None, K=math.inf, tau: float = 1.0) -> np.ndarray:
    """The update multiplier ``sum_i q_i H^{K, r_i}_p`` (W_t of eq. (5) when K is inf)."""
    R = check_rewards(rewards)
    p = check_distribution(p, R.shape[1])
    qv = check_q(q, R.shape[0])
    K = check_K(K, allow_inf=True)
    tau = check_positive(tau, "tau")
    return _multiplier(p, R / tau, qv, K)


def _multiplier(p: np.ndarray, S: np.ndarray, q: np.ndarray, K) -> np.ndarray:
    W = np.zeros(S.shape[1])
    for qi, s in zip(q, S):
        if qi == 0:
            continue
        if math.isinf(K):
            W += qi * _tilt_scaled(s, p)
        else:
            W += qi * _bt_weight_scaled(s, p, s, K)
    return W


def update(p, rewards, q=None, K=math.inf, tau: float = 1.0) -> np.ndarray:
    """One retraining round: ``p_{t+1} = p_t * sum_i q_i H^{K, r_i}_{p_t}``.

    Lemma 1 for finite ``K`` (Appendix B.4 for M rewards) and eq. (5) for
    ``K = math.inf``. The result is renormalised, which only removes
    rounding: the exact multiplier integrates to one (eq. (3)).
    """
    R = check_rewards(rewards)
    p = check_distribution(p, R.shape[1])
    qv = check_q(q, R.shape[0])
    K = check_K(K, allow_inf=True)
    tau = check_positive(tau, "tau")
    new = p * _multiplier(p, R / tau, qv, K)
    return new / new.sum()


@dataclass
class Trajectory:
    """Basin masses and reward moments along an exact trajectory.

    ``a[t, i] = p_t(S_{i,eps})`` (``a_t``, ``b_t`` of Sec. 2.1 are columns 0
    and 1), ``m[t] = p_t(X \\ S_eps)``, ``mean[t, i] = E_{p_t}[r_i]``,
    ``var[t, i] = Var_{p_t}[r_i]`` (unscaled rewards), for ``t = 0..T``.
    ``history`` holds ``p_t`` at the steps in ``history_steps``.
    """

    a: np.ndarray
    m: np.ndarray
    mean: np.ndarray
    var: np.ndarray
    p: np.ndarray
    basins: np.ndarray
    history: np.ndarray = field(repr=False)
    history_steps: np.ndarray = field(repr=False)

    @property
    def T(self) -> int:
        return self.m.shape[0] - 1


class _Recorder:
    """Basin masses and reward moments of ``p`` with one matrix-vector product.

    Variances are computed centred, ``E[(r - E r)^2]``, so that they stay
    accurate when a reward collapses (Var -> 0 while E[r]^2 does not).
    Atoms with reward ``-inf`` enter the moments as 0 (they carry no mass
    after one curation round).
    """

    def __init__(self, R: np.ndarray, masks: np.ndarray):
        self.M = R.shape[0]
        self.R = np.where(np.isfinite(R), R, 0.0)
        outside = ~masks.any(axis=0)
        self.B = np.vstack([masks.astype(float), outside[None, :].astype(float), self.R])

    def __call__(self, p: np.ndarray):
        stats = self.B @ p
        a, m, mean = stats[: self.M], stats[self.M], stats[self.M + 1:]
        var = ((self.R - mean[:, None]) ** 2) @ p
        return a, m, mean, var


def iterate(p0, rewards, q=None, T: int = 50, K=math.inf, tau: float = 1.0, eps: float = 0.1,
            store_every: int | None = None) -> Trajectory:
    """Run ``T`` exact retraining rounds from ``p0`` and record the trajectory.

    Parameters
    ----------
    p0 : array_like, shape (n,)
    rewards : array_like, shape (M, n)
    q : reward-sampling probabilities (uniform by default; scalar for M = 2)
    T : int
        Number of rounds.
    K : int or math.inf
        Pool size; ``math.inf`` uses the tilt of eq. (5).
    tau : float
        Temperature (rewards enter as ``r / tau``).
    eps : float
        Basin tolerance: ``S_{i,eps} = {x : r_i(x) >= max r_i - eps}`` over
        the support of ``p0`` (Sec. 2.1).
    store_every : int, optional
        Keep ``p_t`` every this many rounds (and the last one).
    """
    from .theory import basins as basin_masks

    R = check_rewards(rewards)
    p = check_distribution(p0, R.shape[1], "p0")
    qv = check_q(q, R.shape[0])
    T = check_nonnegative_int(T, "T")
    K = check_K(K, allow_inf=True)
    tau = check_positive(tau, "tau")
    masks = basin_masks(R, eps, support=p > 0)
    record = _Recorder(R, masks)
    S = R / tau

    a = np.empty((T + 1, R.shape[0]))
    m = np.empty(T + 1)
    mean = np.empty((T + 1, R.shape[0]))
    var = np.empty((T + 1, R.shape[0]))
    history, steps = [], []
    fast = _TiltStepper(S, qv) if math.isinf(K) else None

    for t in range(T + 1):
        a[t], m[t], mean[t], var[t] = record(p)
        if store_every and (t % store_every == 0 or t == T):
            history.append(p.copy())
            steps.append(t)
        if t == T:
            break
        p = fast.step(p) if fast is not None else _normalised(p * _multiplier(p, S, qv, K))
    if not history:
        history, steps = [p.copy()], [T]
    return Trajectory(a=a, m=m, mean=mean, var=var, p=p, basins=masks,
                      history=np.array(history), history_steps=np.array(steps))


def _normalised(v: np.ndarray) -> np.ndarray:
    return v / v.sum()


class _TiltStepper:
    """Fast K = inf step with the exponentials computed once.

    ``E_i = exp(s_i - max s_i)``; each step needs only ``Z_i = E_i . p``. If a
    normaliser underflows (all mass far below a reward's maximum) the step
    falls back to log-domain arithmetic.
    """

    _TINY = 1e-280

    def __init__(self, S: np.ndarray, q: np.ndarray):
        keep = q > 0
        self.S, self.q = S[keep], q[keep]
        self.E = np.exp(self.S - self.S.max(axis=1, keepdims=True))

    def step(self, p: np.ndarray) -> np.ndarray:
        Z = self.E @ p
        if (Z < self._TINY).any():
            return _normalised(p * _multiplier(p, self.S, self.q, math.inf))
        W = (self.q / Z) @ self.E
        return _normalised(p * W)
