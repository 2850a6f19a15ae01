"""EASE (Steck 2019): a closed-form item-item linear autoencoder, with extra co-occurrence terms.

EASE learns ``B`` minimising ``||X - X B||² + λ||B||²`` subject to ``diag(B) = 0``; the solution is
``P = (XᵀX + λI)⁻¹``, ``B = -P / diag(P)`` column-wise, zero diagonal. Scores for a user are ``x_u B``, so a
new or anonymous user is scored from any history vector without refitting. Every extra term below only
changes the Gram (and the ridge) that is inverted; serving is the same ``x_u B``.

- Sessions and pages: rows of ``S`` are a user's bursts of activity (events no more than ``session_gap``
  seconds apart), rows of ``P`` the events one user sent with the same timestamp (MovieLens stores a page
  of ratings under one second). Adding ``μ SᵀS + ν PᵀP`` weights "rated in the same sitting / on the same
  page" co-occurrence on top of "rated by the same user" (the same as stacking ``√μ S`` and ``√ν P`` under X).
- User weights: row u of X weighted ``(n_u / n̄)^-b`` so that a user with 700 ratings does not dominate the
  counts of one with 20.
- Strong positives: ``ρ LᵀWL`` with ``L`` the interactions whose weight (rating) is at least a threshold.
- Popularity-scaled ridge: item j's ridge ``λ (n_j / n̄)^a`` (a = 0: plain EASE).

Measured on MovieLens-100k, validation carved from the training parts (means over 3 split seeds × 2 carves):
NDCG@10 0.2613 for plain EASE λ=300, 0.2665 for the previous model (60-s sessions only), 0.2758 with all the
terms (the default configuration); BENCHMARKS.md lists each step.
"""

from __future__ import annotations

import numpy as np
from scipy import sparse

__all__ = ["ease_weights", "interaction_matrix", "session_matrix"]


def interaction_matrix(rows: np.ndarray, cols: np.ndarray, shape: tuple[int, int]) -> sparse.csr_matrix:
    """Binary CSR matrix with ones at (rows, cols); duplicates collapse to 1."""
    m = sparse.csr_matrix((np.ones(len(rows), np.float32), (rows, cols)), shape=shape)
    m.sum_duplicates()
    m.data[:] = 1.0
    return m


def session_matrix(
    users: np.ndarray, items: np.ndarray, timestamps: np.ndarray, n_items: int, gap: float
) -> sparse.csr_matrix:
    """Binary session × item matrix: a user's events split where consecutive timestamps differ by > ``gap``."""
    order = np.lexsort((timestamps, users))
    u, i, t = users[order], items[order], timestamps[order]
    new = np.ones(len(u), bool)
    if len(u) > 1:
        new[1:] = (u[1:] != u[:-1]) | ((t[1:] - t[:-1]) > gap)
    sid = np.cumsum(new) - 1
    n_sessions = int(sid[-1]) + 1 if len(sid) else 0
    return interaction_matrix(sid, i, (n_sessions, n_items))


def ease_weights(
    x: sparse.csr_matrix,
    lam: float = 450.0,
    sessions: sparse.csr_matrix | None = None,
    session_weight: float = 0.5,
    dtype: type = np.float32,
    *,
    pages: sparse.csr_matrix | None = None,
    page_weight: float = 0.0,
    ridge_exponent: float = 0.0,
    user_exponent: float = 0.0,
    strong: sparse.csr_matrix | None = None,
    strong_weight: float = 0.0,
) -> np.ndarray:
    """EASE item-item weights ``B`` (n_items × n_items, zero diagonal) as ``dtype``.

    The Gram is ``XᵀWX + ρ LᵀWL + μ SᵀS + ν PᵀP``: ``W`` weights user u's row by ``(n_u / n̄_u)^-b``
    (``n_u`` the user's number of items, ``b = user_exponent``; 0: unweighted), so that the heaviest users do
    not dominate the co-occurrence counts; ``L`` (``strong``, same rows and columns as ``X``) marks the strong
    positives (e.g. ratings ≥ 4) with weight ρ = ``strong_weight``; sessions ``S`` come with weight
    ``session_weight``, pages ``P`` with ``page_weight`` (each may be None). The ridge of item j is
    ``λ (n_j / n̄)^a`` with ``n_j`` its number of users, ``n̄`` the mean over items and ``a = ridge_exponent``
    (0: the plain constant ridge), times the ratio of weighted to unweighted interaction mass (so λ keeps its
    scale when users are weighted). Cost: one dense
    n_items² Gram and one inverse (float64 up to 4,000 items, float32 above to halve memory and time).
    """
    n = x.shape[1]
    work = np.float64 if n <= 4000 else np.float32
    counts = np.asarray(x.multiply(x).sum(axis=0), np.float64).ravel()  # diag(XᵀX)
    xw, lw, mass = x, strong, 1.0
    if user_exponent:
        n_u = np.diff(x.indptr).astype(np.float64)
        active = n_u > 0
        w = np.ones(len(n_u))
        if active.any():
            w[active] = (n_u[active] / n_u[active].mean()) ** (-user_exponent)
        rw = sparse.diags(np.sqrt(w).astype(np.float32))
        xw = rw @ x
        lw = rw @ strong if strong is not None else None
        mass = float(np.asarray(xw.multiply(xw).sum()) / max(counts.sum(), 1e-12))
    g = (xw.T @ xw).toarray().astype(work)
    if lw is not None and strong_weight > 0 and lw.nnz:
        g += strong_weight * (lw.T @ lw).toarray().astype(work)
    for mat, weight in ((sessions, session_weight), (pages, page_weight)):
        if mat is not None and weight > 0 and mat.shape[0]:
            g += weight * (mat.T @ mat).toarray().astype(work)
    ridge: float | np.ndarray = lam
    if ridge_exponent and n and counts.max() > 0:
        ridge = lam * (np.maximum(counts, 1.0) / counts[counts > 0].mean()) ** ridge_exponent
    g[np.diag_indices(n)] += ridge * mass
    p = np.linalg.inv(g)
    b = p / (-np.diag(p))[None, :]
    b[np.diag_indices(n)] = 0.0
    return b.astype(dtype, copy=False)
