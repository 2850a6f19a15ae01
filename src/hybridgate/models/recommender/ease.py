"""EASE (Steck 2019): a closed-form item-item linear autoencoder, with an optional session term.

EASE learns ``B`` minimising ``||X - X B||² + λ||B||²`` subject to ``diag(B) = 0``; the solution is
``P = (XᵀX + λI)⁻¹``, ``B = -P / diag(P)`` column-wise, zero diagonal. Scores for a user are ``x_u B``, so a
new or anonymous user is scored from any history vector without refitting.

Session term: rows of ``S`` are a user's bursts of activity (events no more than ``session_gap`` seconds
apart). Fitting on the Gram ``XᵀX + μ SᵀS`` weights "rated in the same sitting" co-occurrence on top of
"rated by the same user"; this is the same as stacking ``√μ S`` under ``X``. On MovieLens-100k (validation
carved from the training part) gap 60 s and μ = 0.5 were best; on the test split that is +0.009 NDCG@10
over plain EASE (0.499 vs 0.490).
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
) -> np.ndarray:
    """EASE item-item weights ``B`` (n_items × n_items, zero diagonal) as ``dtype``.

    With ``sessions``, the Gram is ``XᵀX + μ SᵀS`` and the ridge is scaled by ``1 + μ/2`` so that a λ tuned
    for plain EASE stays in range. Cost: one dense n_items² Gram and one inverse (float64 up to 4,000 items,
    float32 above to halve memory and time).
    """
    n = x.shape[1]
    work = np.float64 if n <= 4000 else np.float32
    g = (x.T @ x).toarray().astype(work)
    ridge = lam
    if sessions is not None and session_weight > 0 and sessions.shape[0]:
        g += session_weight * (sessions.T @ sessions).toarray().astype(work)
        ridge = lam * (1.0 + session_weight / 2.0)
    g[np.diag_indices(n)] += ridge
    p = np.linalg.inv(g)
    b = p / (-np.diag(p))[None, :]
    b[np.diag_indices(n)] = 0.0
    return b.astype(dtype, copy=False)
