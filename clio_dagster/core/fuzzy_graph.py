"""umap-learn's two neighbour-graph kernels, vectorised in numpy, for `core.projection`.

umap-learn builds its fuzzy neighbour graph with `smooth_knn_dist` and `compute_membership_strengths`, numba
functions compiled without an on-disk cache: every fresh process pays ~9 s of JIT compilation for them (2 cores),
whatever the number of points, so each `clio run` paid it again. These are the same computations (same float32
arithmetic, neighbours summed in the same order), vectorised over points; `numpy_neighbour_graph()` has umap
use them while our own fit runs. At 100k points they take well under a second.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import numpy as np

# umap-learn's constants (umap/umap_.py).
SMOOTH_K_TOLERANCE = 1e-5
MIN_K_DIST_SCALE = 1e-3
_FLOAT32_MAX = np.finfo(np.float32).max


def _local_connectivity_rho(distances: np.ndarray, local_connectivity: float) -> np.ndarray:
    """Per point, the distance to its `local_connectivity`-th nearest neighbour at a positive distance
    (interpolated between neighbours for a fractional value); the largest positive one when there are fewer."""
    n, k = distances.shape
    positive = distances > 0.0
    count = positive.sum(axis=1)
    # Positive distances first, each row keeping its (ascending) order.
    order = np.argsort(~positive, axis=1, kind="stable")
    nonzero = np.take_along_axis(distances, order, axis=1)
    rho = np.zeros(n, dtype=np.float32)
    index = int(np.floor(local_connectivity))
    interpolation = np.float32(local_connectivity - index)
    enough = count >= local_connectivity
    if index > 0:
        rho[enough] = nonzero[enough, index - 1]
        if interpolation > SMOOTH_K_TOLERANCE:
            following = nonzero[enough, min(index, k - 1)]
            rho[enough] += interpolation * (following - nonzero[enough, index - 1])
    else:
        rho[enough] = interpolation * nonzero[enough, 0]
    fewer = ~enough & (count > 0)
    rho[fewer] = np.where(positive[fewer], distances[fewer], 0.0).max(axis=1)
    return rho


def smooth_knn_dist(distances, k, n_iter=64, local_connectivity=1.0, bandwidth=1.0):
    """(sigma, rho) per point, as umap.umap_.smooth_knn_dist: rho is the local connectivity distance, sigma
    the kernel width (binary search, at most n_iter steps) at which the memberships sum to log2(k)·bandwidth."""
    distances = np.asarray(distances, dtype=np.float32)
    n, width = distances.shape
    target = np.float32(np.log2(k) * bandwidth)
    rho = _local_connectivity_rho(distances, local_connectivity)
    lo = np.zeros(n, dtype=np.float32)
    hi = np.full(n, _FLOAT32_MAX, dtype=np.float32)
    mid = np.ones(n, dtype=np.float32)
    searching = np.ones(n, dtype=bool)
    shifted = distances - rho[:, None]
    with np.errstate(over="ignore", under="ignore"):
        for _ in range(n_iter):
            if not searching.any():
                break
            rows = np.flatnonzero(searching)
            d = shifted[rows]
            terms = np.where(d > 0, np.exp(-(d / mid[rows, None])), np.float32(1.0)).astype(np.float32)
            psum = np.zeros(rows.size, dtype=np.float32)
            for j in range(1, width):  # the first neighbour (the point itself) is skipped, as in umap
                psum += terms[:, j]
            done = np.abs(psum - target) < SMOOTH_K_TOLERANCE
            above = ~done & (psum > target)
            below = ~done & ~above
            r_above, r_below = rows[above], rows[below]
            hi[r_above] = mid[r_above]
            mid[r_above] = (lo[r_above] + hi[r_above]) / np.float32(2.0)
            lo[r_below] = mid[r_below]
            unbounded = hi[r_below] >= _FLOAT32_MAX
            mid[r_below] = np.where(unbounded, mid[r_below] * np.float32(2.0),
                                    (lo[r_below] + hi[r_below]) / np.float32(2.0))
            searching[rows[done]] = False
    floor = np.where(rho > 0.0, distances.mean(axis=1), distances.mean()) * MIN_K_DIST_SCALE
    sigma = np.where(mid < floor, floor, mid).astype(np.float32)
    return sigma, rho


def compute_membership_strengths(knn_indices, knn_dists, sigmas, rhos, return_dists=False, bipartite=False):
    """COO (rows, cols, vals, dists) of each point's fuzzy membership to its neighbours, as
    umap.umap_.compute_membership_strengths: exp(-(d - rho) / sigma), 1 within rho, 0 to itself."""
    knn_indices = np.asarray(knn_indices)
    knn_dists = np.asarray(knn_dists, dtype=np.float32)
    sigmas = np.asarray(sigmas, dtype=np.float32)
    rhos = np.asarray(rhos, dtype=np.float32)
    n, k = knn_indices.shape
    own = np.arange(n)[:, None]
    shifted = knn_dists - rhos[:, None]
    with np.errstate(divide="ignore", invalid="ignore", over="ignore", under="ignore"):
        kernel = np.exp(-(shifted / sigmas[:, None])).astype(np.float32)
    vals = np.where((shifted <= 0.0) | (sigmas[:, None] == 0.0), np.float32(1.0), kernel)
    if not bipartite:
        vals = np.where(knn_indices == own, np.float32(0.0), vals)
    missing = knn_indices == -1  # umap leaves these entries at zero
    rows = np.where(missing, 0, np.broadcast_to(own, (n, k))).astype(np.int32).ravel()
    cols = np.where(missing, 0, knn_indices).astype(np.int32).ravel()
    vals = np.where(missing, np.float32(0.0), vals).astype(np.float32).ravel()
    dists = np.where(missing, np.float32(0.0), knn_dists).astype(np.float32).ravel() if return_dists else None
    return rows, cols, vals, dists


@contextlib.contextmanager
def numpy_neighbour_graph() -> Iterator[None]:
    """Within the block, umap-learn builds its neighbour graph with the functions above instead of its
    uncached numba ones (restored on exit)."""
    import umap.umap_ as umap_module

    saved = umap_module.smooth_knn_dist, umap_module.compute_membership_strengths
    umap_module.smooth_knn_dist, umap_module.compute_membership_strengths = (smooth_knn_dist,
                                                                             compute_membership_strengths)
    try:
        yield
    finally:
        umap_module.smooth_knn_dist, umap_module.compute_membership_strengths = saved
