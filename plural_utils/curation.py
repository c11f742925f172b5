"""Bradley–Terry curation of synthetic samples.

Implements the selection step of the paper's retraining loop: a reward is drawn
(reward ``i`` with probability ``q_i``), then one candidate out of a pool of
``K`` is chosen with the Bradley–Terry (softmax) probabilities of eq. (1),
with the temperature of (C.1)::

    P(x = x_k | r, x_{1:K}) = exp(r(x_k) / tau) / sum_j exp(r(x_j) / tau).

Repeating the draw ``n`` times gives the curated set (Algorithm 1, lines 6-12).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .validation import (
    as_generator,
    check_choice,
    check_distribution,
    check_K,
    check_nonnegative_int,
    check_positive,
    check_q,
    check_rewards,
)

POOL_MODES = ("shared", "fresh")
FRESH_METHODS = ("auto", "exact", "pools")

# Fresh pools are scored in chunks of at most this many (draw, candidate) pairs
# so that memory stays bounded for large n * K.
_CHUNK_ELEMENTS = 1 << 21


@dataclass(frozen=True)
class CurationResult:
    """Outcome of :func:`curate`.

    Attributes
    ----------
    indices : ndarray of int, shape (n,)
        Index (into the ``N`` candidates) of the item selected at each draw.
        Draws are with replacement: an item can be selected more than once.
    active : ndarray of int, shape (n,)
        Index of the reward that was active for each draw; with the basin of
        each selected item this gives the leakage estimate of Appendix C.7.
    pool : ndarray of int, shape (K,), or None
        The shared pool (``pool="shared"``); ``None`` for fresh pools.
    """

    indices: np.ndarray
    active: np.ndarray
    pool: np.ndarray | None


def bt_probabilities(rewards, tau: float = 1.0, axis: int = -1) -> np.ndarray:
    """Bradley–Terry selection probabilities, eq. (1) with temperature (C.1).

    Computed as a max-shifted softmax of ``rewards / tau`` along ``axis``, so
    any reward scale is safe (rewards of -1e6 scaled by 1e3 give no NaN or
    inf). Entries of ``-inf`` get probability 0; if every entry along
    ``axis`` is ``-inf`` the choice is uniform (the limit of equal rewards).
    """
    tau = check_positive(tau, "tau")
    s = np.asarray(rewards, dtype=float)
    if np.isnan(s).any() or np.isposinf(s).any():
        raise ValueError("rewards must be finite or -inf (no NaN, no +inf)")
    return _softmax(s / tau, axis)


def _softmax(s: np.ndarray, axis: int) -> np.ndarray:
    """Max-shifted softmax; an all ``-inf`` slice is uniform."""
    top = np.max(s, axis=axis, keepdims=True)
    if np.isfinite(top).all():
        weights = np.exp(s - top)
    else:
        dead = np.isneginf(top)
        weights = np.where(dead, 1.0, np.exp(s - np.where(dead, 0.0, top)))
    return weights / weights.sum(axis=axis, keepdims=True)


def draw_active_rewards(n: int, q: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Draw, independently for each of ``n`` draws, which reward is active."""
    if q.shape[0] == 1:
        return np.zeros(n, dtype=np.int64)
    return _inverse_cdf(np.cumsum(q), rng.random(n))


def curate(rewards, n, K=None, q=None, tau: float = 1.0, pool: str = "shared", rng=None,
           candidate_weights=None, method: str = "auto") -> CurationResult:
    """Curate ``n`` items from ``N`` candidates by K-candidate Bradley–Terry choice.

    Parameters
    ----------
    rewards : array_like, shape (M, N) or (N,)
        ``rewards[i, j]`` is reward ``r_i`` at candidate ``j``.
    n : int
        Number of curated draws (with replacement, as in Algorithm 1).
    K : int, optional
        Pool size, ``K >= 1``; defaults to ``N``. With ``pool="shared"``,
        ``K <= N``.
    q : array_like of shape (M,), scalar (M = 2) or None
        Reward-sampling probabilities ``q_i`` (Sec. 2; Appendix B.4); uniform
        by default.
    tau : float
        Temperature of (C.1); ``tau = 1`` is eq. (1).
    pool : {"shared", "fresh"}
        ``"shared"``: one pool of ``K`` distinct candidates (all ``N`` when
        ``K == N``) serves every draw, as in Algorithm 1 where the ``K``
        candidates sampled from the model are the pool. ``"fresh"``: every
        draw gets its own pool of ``K`` candidates drawn i.i.d. from the
        ``N`` (with probabilities ``candidate_weights``, uniform by default),
        the finite-sample form of ``x_{1:K} ~ p_t`` in Lemma 1.
    rng : numpy Generator, int seed or None
    candidate_weights : array_like of shape (N,), optional
        Only with ``pool="fresh"``: the law the pool members are drawn from.
    method : {"auto", "exact", "pools"}
        Only with ``pool="fresh"``. ``"pools"`` draws every pool and applies
        the Gumbel-max choice (cost ``n * K``). ``"exact"`` samples from the
        exact law of the selected item, ``w_j H^{K,r}_w(x_j)`` (Lemma 1 with
        ``p`` the candidates' law), computed deterministically by
        :func:`plural_utils.dynamics.bt_weight`'s quadrature (cost ``N``
        plus ``n log N``); the two give the same distribution of draws.
        ``"auto"`` picks ``"exact"`` when ``n * K > 4 N``.

    Returns
    -------
    CurationResult
        Selected indices, the active reward per draw, and the shared pool.

    Notes
    -----
    Vectorised, with no per-draw Python loop: a shared pool needs one softmax
    per reward and one inverse-CDF draw of the pair (active reward, pick) per
    item; fresh pools either sample the exact law of the winner or draw the
    pools and use the Gumbel-max identity (the BT choice is the argmax of
    ``r / tau + Gumbel noise``), scored in chunks.
    """
    R = check_rewards(rewards)
    M, N = R.shape
    qv = check_q(q, M)
    n = check_nonnegative_int(n, "n")
    K = N if K is None else check_K(K)
    tau = check_positive(tau, "tau")
    check_choice(pool, "pool", POOL_MODES)
    rng = as_generator(rng)
    if pool == "shared" and K > N:
        raise ValueError(f"K must be <= N = {N} for a shared pool (distinct candidates); got K = {K}")
    if candidate_weights is not None and pool != "fresh":
        raise ValueError("candidate_weights is only allowed with pool='fresh'")
    check_choice(method, "method", FRESH_METHODS)

    if pool == "shared":
        if K == N:
            members = np.arange(N)
            active, picks = _sample_shared(R, qv, n, tau, rng)
        else:
            members = np.sort(rng.choice(N, size=K, replace=False))
            active, picks = _sample_shared(R[:, members], qv, n, tau, rng)
        return CurationResult(indices=members[picks], active=active, pool=members)

    active = draw_active_rewards(n, qv, rng)
    w = None if candidate_weights is None else check_distribution(candidate_weights, N, "candidate_weights")
    if method == "exact" or (method == "auto" and n * K > 4 * N):
        indices = _sample_exact_law(R, active, K, tau, rng, w)
    else:
        indices = _sample_fresh(R, active, K, tau, rng, None if w is None else np.cumsum(w))
    return CurationResult(indices=indices, active=active, pool=None)


def _sample_shared(R_pool: np.ndarray, q: np.ndarray, n: int, tau: float,
                   rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Joint draws of (active reward, pick) over one shared pool.

    Given the pool, each draw is an independent pair with
    ``P(i, k) = q_i * BT_i(k)``; one uniform per draw inverts the CDF of that
    joint law laid out reward after reward.
    """
    K = R_pool.shape[1]
    joint = q[:, None] * _softmax(R_pool / tau, axis=1)
    active, picks = np.divmod(_inverse_cdf(np.cumsum(joint), rng.random(n)), K)
    return active, picks


def _sample_fresh(R: np.ndarray, active: np.ndarray, K: int, tau: float,
                  rng: np.random.Generator, cdf: np.ndarray | None) -> np.ndarray:
    """Gumbel-max BT choice, each draw from its own i.i.d. pool of ``K``."""
    n = active.shape[0]
    N = R.shape[1]
    scaled = R / tau
    out = np.empty(n, dtype=np.int64)
    rows_per_chunk = max(1, _CHUNK_ELEMENTS // K)
    for start in range(0, n, rows_per_chunk):
        stop = min(n, start + rows_per_chunk)
        m = stop - start
        if cdf is None:
            idx = rng.integers(0, N, size=(m, K))
        else:
            idx = np.searchsorted(cdf, rng.random((m, K)) * cdf[-1], side="right")
            np.minimum(idx, N - 1, out=idx)
        scores = scaled[active[start:stop, None], idx]
        dead = np.isneginf(scores.max(axis=1))
        if dead.any():
            scores[dead] = 0.0
        # exp(s) / E with E ~ Exp(1) is maximised by the BT winner; in logs,
        # s - log(E) = s + Gumbel noise.
        scores -= np.log(rng.standard_exponential((m, K)))
        win = np.argmax(scores, axis=1)
        out[start:stop] = idx[np.arange(m), win]
    return out


def _sample_exact_law(R: np.ndarray, active: np.ndarray, K: int, tau: float,
                      rng: np.random.Generator, w: np.ndarray | None) -> np.ndarray:
    """Draws from the exact law of the BT winner of a fresh pool.

    Given the candidates, draws are i.i.d., and the winner of a pool of ``K``
    i.i.d. candidates from ``w`` is ``x_j`` with probability
    ``w_j H^{K,r}_w(x_j)`` (Lemma 1), so sampling that law is the same process
    without materialising the ``n * K`` pool members. ``H^K`` is increasing
    in the reward, so its value at the upper end of each lattice cell is an
    envelope: propose from ``w_j * envelope(x_j)`` and accept with
    ``H^K(x_j) / envelope(x_j)`` (acceptance ~99%), which needs ``H^K`` only
    at the proposals.
    """
    from .dynamics import bt_weight_table

    N = R.shape[1]
    weights = np.full(N, 1.0 / N) if w is None else w
    out = np.empty(active.shape[0], dtype=np.int64)
    for i in range(R.shape[0]):
        rows = np.flatnonzero(active == i)
        if rows.shape[0] == 0:
            continue
        s = R[i] / tau
        live = np.isfinite(s) & (weights > 0)
        if not live.any() or K == 1:
            out[rows] = _inverse_cdf(np.cumsum(weights), rng.random(rows.shape[0]))
            continue
        low, high = s[live].min(), s[live].max()
        lattice, values, spline = bt_weight_table(s, weights, K, low, high)
        # Candidates with reward -inf win only pools made of them alone: H = d^{K-1}.
        dead_value = float(weights[np.isneginf(s)].sum()) ** (K - 1)
        cell = np.clip(np.floor((np.where(live, s, low) - lattice[0]) / (lattice[1] - lattice[0])).astype(np.int64) + 1,
                       0, lattice.shape[0] - 1)
        envelope = np.where(live, values[cell], dead_value)
        cdf = np.cumsum(weights * envelope)
        pending = rows
        while pending.shape[0]:
            proposal = _inverse_cdf(cdf, rng.random(pending.shape[0]))
            target = np.where(live[proposal], spline(np.where(live[proposal], s[proposal], low)), dead_value)
            accept = rng.random(pending.shape[0]) * envelope[proposal] <= target
            out[pending[accept]] = proposal[accept]
            pending = pending[~accept]
    return out


def _inverse_cdf(cdf: np.ndarray, u: np.ndarray) -> np.ndarray:
    """Indices ``k`` with ``cdf[k-1] <= u * cdf[-1] < cdf[k]`` for uniforms ``u``.

    The uniforms are searched in sorted order (about 3x faster than random
    order, whose binary searches mispredict) and the answers put back in the
    order of ``u``, so draws stay i.i.d. in sequence.
    """
    # A stable radix sort on 16-bit buckets of u is enough to make the keys
    # nearly sorted, and cheaper than a full argsort.
    order = np.argsort((u * 65535.0).astype(np.uint16), kind="stable")
    idx = np.empty(u.shape[0], dtype=np.int64)
    idx[order] = np.searchsorted(cdf, u[order] * cdf[-1], side="right")
    return np.minimum(idx, cdf.shape[0] - 1)


def curate_reference(rewards, n, q=None, tau: float = 1.0, rng=None) -> CurationResult:
    """Literal per-draw loop of Algorithm 1, lines 6-12, over one shared pool.

    For each draw: pick the reward, take its scores on the pool, subtract the
    max, exponentiate, normalise, sample one candidate. Kept as the reference
    the vectorised :func:`curate` is tested and benchmarked against.
    """
    R = check_rewards(rewards)
    M, N = R.shape
    qv = check_q(q, M)
    n = check_nonnegative_int(n, "n")
    tau = check_positive(tau, "tau")
    rng = as_generator(rng)
    indices = np.empty(n, dtype=np.int64)
    active = np.empty(n, dtype=np.int64)
    for j in range(n):
        i = rng.choice(M, p=qv)
        s = R[i]
        s_tilde = s - s.max()
        p = np.exp(s_tilde / tau)
        p /= p.sum()
        indices[j] = rng.choice(N, p=p)
        active[j] = i
    return CurationResult(indices=indices, active=active, pool=np.arange(N))
