"""2-D map of the clusters (Clio §G.6): UMAP of the summary embeddings, published per cluster only.

`project` maps every conversation's summary embedding to 2-D (UMAP, n_neighbors=15, min_dist=0.0,
cosine metric, fixed seed) and min-max normalises each axis to [0, 1]. Those per-conversation points
are an intermediate: they must never leave the pipeline. What the explorer gets is
`cluster_positions` (centroid, spread and size of each cluster's members) and, for the hierarchy,
`parent_positions` (size-weighted means of the children).

Behaviour by size:

* n == 0: an empty (0, 2) array; n == 1: the origin.
* n < n_neighbors + 2: too few points for a UMAP neighbour graph, so the map is a deterministic PCA
  to 2-D (scikit-learn, full SVD, `random_state=seed`) of the L2-normalised rows, which keeps the
  cosine geometry UMAP would have used.
* otherwise UMAP. Up to EXACT_KNN_MAX_POINTS points the k-nearest-neighbour graph is computed
  exactly here (blocked numpy matrix products) and passed in through UMAP's public
  `precomputed_knn`; that skips both umap-learn's slow exact path below 4,096 points and
  pynndescent, whose numba functions can't be cached on disk and cost ~25 s of JIT compilation in
  every fresh process. Above it UMAP runs pynndescent (`force_approximation_algorithm=True` is set
  throughout, so umap-learn never takes its slow exact path).
* n > UMAP_FIT_MAX_POINTS: UMAP as above on a seeded sample of UMAP_FIT_MAX_POINTS points; every other
  point goes to the distance-weighted mean position of its n_neighbors nearest sampled points (exact
  cosine neighbours, `place_by_neighbours`), as umap-learn initialises points it transforms.

The same input and seed give bit-identical output (a fixed `random_state` makes umap-learn run
single-threaded). umap-learn and numba are imported lazily, on the first UMAP call; that call pays
numba's JIT compilation of the layout code (~2.5 s on 2 cores; umap-learn caches what it can on
disk, which takes the import from ~12 s to ~1.5 s in later processes, see `configure_numba_cache`). The
neighbour graph's kernels, which umap-learn compiles afresh in every process (~9 s), run in numpy instead
(`core.fuzzy_graph`).
"""

from __future__ import annotations

import os
import sys
import warnings
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from clio_dagster.core.fuzzy_graph import numpy_neighbour_graph

__all__ = [
    "ClusterPosition",
    "cluster_positions",
    "configure_numba_cache",
    "exact_cosine_knn",
    "normalise_unit_square",
    "parent_positions",
    "place_by_neighbours",
    "project",
    "projection_method",
]

# Up to this many points the neighbour graph is computed exactly here (blocked numpy) and handed to
# UMAP as `precomputed_knn`; above it UMAP runs pynndescent. Measured on 2 cores, 384-d: exact kNN
# 0.3 s at 5,000 points and 5.6 s at 20,000 (whole warm UMAP 12.3 s vs 11.3 s with pynndescent).
EXACT_KNN_MAX_POINTS = 20_000
# Above this many points UMAP is fitted on a seeded sample of this size and every other point is placed from
# its nearest sampled points (`place_by_neighbours`): the map is published per cluster only, and a full fit
# at 100k points costs minutes on 2 cores. Measured at 100k (2 cores): see BENCHMARKS.md, scale section.
UMAP_FIT_MAX_POINTS = 20_000


@dataclass(frozen=True)
class ClusterPosition:
    cluster_id: int
    x: float  # centroid of the members' 2-D points, in the [0, 1] map square
    y: float
    spread: float  # RMS distance of the members to (x, y)
    size: int  # number of members


def configure_numba_cache() -> str | None:
    """Point numba's on-disk JIT cache at a writable folder when its default one is not.

    numba caches umap-learn's and pynndescent's `cache=True` functions next to their sources
    (`__pycache__` in site-packages) and falls back to ~/.cache/numba when that is read-only.
    Only when NUMBA_CACHE_DIR is unset and umap-learn's package folder is not writable do we set it
    to ~/.cache/clio-numba (created if needed). It must run before numba is imported to take effect;
    `project` calls it just before importing umap. Returns the folder set, or None if nothing changed.
    """
    if os.environ.get("NUMBA_CACHE_DIR") or "numba" in sys.modules:
        return None
    try:
        import importlib.util

        spec = importlib.util.find_spec("umap")
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.origin:
        return None
    package_dir = Path(spec.origin).parent
    pycache = package_dir / "__pycache__"
    if os.access(pycache if pycache.is_dir() else package_dir, os.W_OK):
        return None
    folder = Path.home() / ".cache" / "clio-numba"
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError:
        return None
    if not os.access(folder, os.W_OK):
        return None
    os.environ["NUMBA_CACHE_DIR"] = str(folder)
    return str(folder)


def normalise_unit_square(points: np.ndarray) -> np.ndarray:
    """Min-max scale each axis to [0, 1]; an axis with zero range (or a single point) maps to 0."""
    pts = np.asarray(points, dtype=np.float64)
    if pts.shape[0] == 0:
        return np.zeros((0, pts.shape[1] if pts.ndim == 2 else 2), dtype=np.float32)
    lo = pts.min(axis=0)
    span = pts.max(axis=0) - lo
    safe = np.where(span > 0, span, 1.0)
    out = np.where(span > 0, (pts - lo) / safe, 0.0)
    return np.clip(out, 0.0, 1.0).astype(np.float32)


def _pca_2d(x: np.ndarray, seed: int) -> np.ndarray:
    """Deterministic PCA of the L2-normalised rows to 2-D (padded with zeros if rank allows fewer)."""
    from sklearn.decomposition import PCA

    n, dim = x.shape
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    unit = x / np.where(norms > 0, norms, 1.0)
    components = min(2, n, dim)
    out = np.zeros((n, 2), dtype=np.float64)
    if components > 0:
        reduced = PCA(n_components=components, svd_solver="full", random_state=seed).fit_transform(unit)
        out[:, :components] = reduced
    return out


def _unit_rows(x: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    return np.ascontiguousarray(x / np.where(norms > 0, norms, 1.0), dtype=np.float32)


def _blocked_cosine_knn(
    queries: np.ndarray, reference: np.ndarray, k: int, block: int, self_first: bool
) -> tuple[np.ndarray, np.ndarray]:
    """k nearest rows of `reference` (unit rows) for each row of `queries` (unit rows), by 1 - cos, ties by index.
    With `self_first`, queries are the reference itself and each row is put first in its own list."""
    n = queries.shape[0]
    indices = np.empty((n, k), dtype=np.int32)
    distances = np.empty((n, k), dtype=np.float32)
    for start in range(0, n, block):
        stop = min(start + block, n)
        dist = 1.0 - queries[start:stop] @ reference.T
        if self_first:
            rows = np.arange(stop - start)
            dist[rows, rows + start] = -1.0  # self first, whatever the duplicates
        part = np.argpartition(dist, k - 1, axis=1)[:, :k]
        part_dist = np.take_along_axis(dist, part, axis=1)
        order = np.lexsort((part, part_dist), axis=1)  # by distance, then index
        indices[start:stop] = np.take_along_axis(part, order, axis=1)
        distances[start:stop] = np.maximum(np.take_along_axis(part_dist, order, axis=1), 0.0)
    return indices, distances


def exact_cosine_knn(x: np.ndarray, k: int, block: int = 1024) -> tuple[np.ndarray, np.ndarray]:
    """Exact k nearest neighbours by cosine distance (1 - cos), each point first in its own row.

    Blocked matrix products, so memory stays at block * n floats. Ties are broken by index, so the
    result is deterministic. Returns (indices int32, distances float32), both (n, k). Zero rows
    are at distance 1 from every other row.
    """
    n = x.shape[0]
    if not 1 <= k <= n:
        raise ValueError(f"k must be in [1, {n}], got {k}")
    unit = _unit_rows(x)
    return _blocked_cosine_knn(unit, unit, k, block, self_first=True)


def place_by_neighbours(
    queries: np.ndarray, reference: np.ndarray, reference_2d: np.ndarray, k: int, block: int = 1024
) -> np.ndarray:
    """2-D positions for `queries` from a map of `reference`: each query goes to the mean of its k nearest
    reference points' positions (cosine), weighted by 1 / (distance + 0.01), as umap-learn places new points
    before refining them. Deterministic (exact neighbours, ties by index)."""
    k = min(k, reference.shape[0])
    indices, distances = _blocked_cosine_knn(_unit_rows(queries), _unit_rows(reference), k, block, self_first=False)
    weights = 1.0 / (distances.astype(np.float64) + 0.01)
    weights /= weights.sum(axis=1, keepdims=True)
    return np.einsum("nk,nkd->nd", weights, np.asarray(reference_2d, dtype=np.float64)[indices])


def _umap_2d(x: np.ndarray, seed: int, n_neighbors: int, min_dist: float) -> np.ndarray:
    configure_numba_cache()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ImportWarning)  # "Tensorflow not installed; ParametricUMAP ..."
        import umap

    precomputed: tuple = (None, None, None)
    if x.shape[0] <= EXACT_KNN_MAX_POINTS:
        precomputed = exact_cosine_knn(x, n_neighbors)
    reducer = umap.UMAP(
        n_neighbors=n_neighbors,
        n_components=2,
        min_dist=min_dist,
        metric="cosine",
        random_state=seed,
        n_jobs=1,  # what a fixed random_state implies anyway; saying so silences umap's warning
        force_approximation_algorithm=True,  # never umap's slow exact path below 4,096 points
        precomputed_knn=precomputed,
        low_memory=True,
        verbose=False,
    )
    from threadpoolctl import threadpool_limits

    # Single-threaded BLAS: the spectral initialisation's ARPACK iterations multiply skinny matrices, on which
    # multi-threaded OpenBLAS spends most of its time synchronising (57 s instead of 6 s at 20k points).
    with warnings.catch_warnings(), threadpool_limits(limits=1, user_api="blas"), numpy_neighbour_graph():
        # "knn_search_index is not an NNDescent object" (we never call transform) and
        # "graph is not fully connected, spectral embedding may not work as expected"
        warnings.simplefilter("ignore", UserWarning)
        return np.asarray(reducer.fit_transform(x), dtype=np.float64)


def project(embeddings: np.ndarray, seed: int = 0, n_neighbors: int = 15, min_dist: float = 0.0) -> np.ndarray:
    """(n, dim) embeddings -> (n, 2) float32 map coordinates in [0, 1] per axis; deterministic per seed.

    The result is per conversation and private: publish only `cluster_positions` of it.
    """
    x = np.asarray(embeddings)
    if x.ndim != 2:
        raise ValueError(f"embeddings must be 2-D (n, dim), got shape {x.shape}")
    if n_neighbors < 2:
        raise ValueError(f"n_neighbors must be at least 2, got {n_neighbors}")
    n = x.shape[0]
    if n == 0:
        return np.zeros((0, 2), dtype=np.float32)
    if n == 1:
        return np.zeros((1, 2), dtype=np.float32)
    x = np.ascontiguousarray(x, dtype=np.float32)
    if not np.isfinite(x).all():
        raise ValueError("embeddings contain NaN or infinite values")
    if n < n_neighbors + 2:
        raw = _pca_2d(x, seed)
    elif n <= UMAP_FIT_MAX_POINTS:
        raw = _umap_2d(x, seed, n_neighbors, min_dist)
    else:
        fitted = np.sort(np.random.default_rng(seed).choice(n, size=UMAP_FIT_MAX_POINTS, replace=False))
        rest = np.setdiff1d(np.arange(n), fitted, assume_unique=True)
        raw = np.empty((n, 2), dtype=np.float64)
        raw[fitted] = _umap_2d(x[fitted], seed, n_neighbors, min_dist)
        raw[rest] = place_by_neighbours(x[rest], x[fitted], raw[fitted], n_neighbors)
    return normalise_unit_square(raw)


def projection_method(n: int, n_neighbors: int = 15) -> str:
    """How `project` maps n points (for metadata)."""
    if n < n_neighbors + 2:
        return "PCA (too few points for UMAP)"
    method = f"UMAP n_neighbors={n_neighbors} min_dist=0 cosine"
    if n > UMAP_FIT_MAX_POINTS:
        method += f", fitted on a seeded sample of {UMAP_FIT_MAX_POINTS:,}; others placed by their nearest sampled points"
    return method


def cluster_positions(points_2d: np.ndarray, labels: np.ndarray) -> list[ClusterPosition]:
    """Centroid, RMS spread and size of each cluster's 2-D points, sorted by cluster id."""
    pts = np.asarray(points_2d, dtype=np.float64)
    lab = np.asarray(labels)
    if pts.ndim != 2 or pts.shape[1] != 2:
        raise ValueError(f"points_2d must have shape (n, 2), got {pts.shape}")
    if lab.shape != (pts.shape[0],):
        raise ValueError(f"labels must have shape ({pts.shape[0]},), got {lab.shape}")
    if pts.shape[0] == 0:
        return []
    ids, inverse, sizes = np.unique(lab, return_inverse=True, return_counts=True)
    k = len(ids)
    sums = np.zeros((k, 2))
    np.add.at(sums, inverse, pts)
    centroids = sums / sizes[:, None]
    sq = np.zeros(k)
    np.add.at(sq, inverse, ((pts - centroids[inverse]) ** 2).sum(axis=1))
    spreads = np.sqrt(sq / sizes)
    return [
        ClusterPosition(
            cluster_id=int(ids[i]),
            x=float(centroids[i, 0]),
            y=float(centroids[i, 1]),
            spread=float(spreads[i]),
            size=int(sizes[i]),
        )
        for i in range(k)
    ]


def parent_positions(
    children: dict[int, ClusterPosition], parent_of: dict[int, str]
) -> dict[str, tuple[float, float, float]]:
    """(x, y, spread) per parent id: the size-weighted mean of its children's positions.

    The spread is the pooled RMS distance of all the children's members to the parent's position,
    sqrt(sum_i size_i * (spread_i**2 + |c_i - p|**2) / sum_i size_i), i.e. exactly what
    `cluster_positions` would give for the union of the members, so it covers the children.
    For any hierarchy level, pass the base clusters and a map base cluster -> ancestor at that
    level; that keeps the weights and spreads exact at every level. Children missing from
    `parent_of` (and `parent_of` entries with no child position) are skipped. Parents with only
    zero-size children get the unweighted mean. Keys come back sorted.
    """
    groups: dict[str, list[ClusterPosition]] = defaultdict(list)
    for child_id in sorted(children):
        parent = parent_of.get(child_id)
        if parent is not None:
            groups[parent].append(children[child_id])
    out: dict[str, tuple[float, float, float]] = {}
    for parent in sorted(groups):
        members = groups[parent]
        xy = np.array([[c.x, c.y] for c in members], dtype=np.float64)
        spread = np.array([c.spread for c in members], dtype=np.float64)
        weight = np.array([max(c.size, 0) for c in members], dtype=np.float64)
        if weight.sum() <= 0:
            weight = np.ones_like(weight)
        w = weight / weight.sum()
        centre = w @ xy
        pooled = float(np.sqrt(w @ (spread**2 + ((xy - centre) ** 2).sum(axis=1))))
        out[parent] = (float(centre[0]), float(centre[1]), pooled)
    return out
