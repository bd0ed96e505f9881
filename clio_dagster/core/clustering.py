"""Seeded, deterministic k-means for base clusters (Clio §G.5)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from sklearn.cluster import KMeans


def choose_k(n: int, target_cluster_size: int, k_min: int, k_max: int) -> int:
    """k = clamp(n / target_cluster_size, k_min, k_max), and never more clusters than points."""
    if n <= 0:
        return 0
    k = round(n / target_cluster_size)
    return max(1, min(n, max(k_min, min(k_max, k))))


@dataclass(frozen=True)
class KMeansResult:
    labels: np.ndarray  # (n,) int32, cluster index per point, clusters numbered by decreasing size
    centroids: np.ndarray  # (k, dim) float32
    distances: np.ndarray  # (n,) float32, Euclidean distance to the own centroid


# Above the threshold, k-means++ seeds the centres from a seeded sample of at most this many points, and
# Lloyd's iterations are capped (at 100k points they converge in ~15; each costs seconds on 2 cores).
SEEDING_SAMPLE_MAX = 20_000
LARGE_MAX_ITER = 50


def _sampled_kmeans_plus_plus(x: np.ndarray, k: int, seed: int) -> np.ndarray:
    """scikit-learn's greedy k-means++ centres drawn from a seeded sample of at most SEEDING_SAMPLE_MAX points:
    seeding costs O(n k) distance computations, an hour at 100k points and k = 2,000 on 2 cores, while Lloyd's
    iterations over all points then move the centres where full k-means would."""
    from sklearn.cluster import kmeans_plusplus

    rng = np.random.default_rng(seed)
    sample = np.sort(rng.choice(len(x), size=min(len(x), max(SEEDING_SAMPLE_MAX, k)), replace=False))
    centres, _ = kmeans_plusplus(x[sample], k, random_state=seed)
    return centres


def kmeans(embeddings: np.ndarray, k: int, seed: int, minibatch_threshold: int = 20_000) -> KMeansResult:
    """k-means with a fixed seed; clusters are renumbered by size (ties by centroid order) so ids are stable.

    Up to `minibatch_threshold` points: scikit-learn's k-means (greedy k-means++, best of 3 runs). Above it,
    one Lloyd run over all points from `_sampled_kmeans_plus_plus` centres (inertia and time at 100k points:
    BENCHMARKS.md, scale section). BLAS runs single-threaded throughout: k-means++ multiplies skinny matrices,
    on which multi-threaded OpenBLAS spends 10-30x longer synchronising threads than computing (Lloyd's
    iterations are parallel through OpenMP either way)."""
    from threadpoolctl import threadpool_limits

    x = np.ascontiguousarray(embeddings, dtype=np.float32)
    n = x.shape[0]
    if n == 0 or k <= 0:
        raise ValueError(f"cannot cluster {n} points into {k} clusters")
    # Never more clusters than distinct points (clustering on a categorical facet embeds a few texts only).
    k = min(k, n, len(np.unique(x, axis=0)))
    with threadpool_limits(limits=1, user_api="blas"):
        if n > minibatch_threshold:
            model = KMeans(n_clusters=k, init=_sampled_kmeans_plus_plus(x, k, seed), n_init=1,
                           max_iter=LARGE_MAX_ITER, random_state=seed)
        else:
            model = KMeans(n_clusters=k, random_state=seed, n_init=3)
        raw = model.fit_predict(x)
    return _numbered_by_size(x, raw, model.cluster_centers_)


def _numbered_by_size(x: np.ndarray, raw: np.ndarray, centres: np.ndarray) -> KMeansResult:
    """Clusters renumbered 0.. by decreasing size (ties by their old number); clusters left empty dropped."""
    sizes = np.bincount(raw, minlength=len(centres))
    order = sorted(np.flatnonzero(sizes).tolist(), key=lambda c: (-sizes[c], c))
    relabel = np.full(len(centres), -1, dtype=np.int32)
    relabel[order] = np.arange(len(order), dtype=np.int32)
    labels = relabel[raw]
    centroids = np.asarray(centres, dtype=np.float32)[order]
    distances = np.linalg.norm(x - centroids[labels], axis=1).astype(np.float32)
    return KMeansResult(labels=labels, centroids=centroids, distances=distances)


def merge_undersized(embeddings: np.ndarray, result: KMeansResult, min_size: int) -> tuple[KMeansResult, int]:
    """`result` with every cluster of fewer than `min_size` points dissolved, and the number dissolved.

    k-means leaves some clusters too small to ever be published (under the `min_conversations` floor): their
    conversations would sit under no published name at any level. Smallest first (ties by number), each such
    cluster's points join their nearest remaining centroid, whose centroid becomes its members' mean again, until
    every cluster reaches `min_size` or one is left (a partition smaller than the floor stays one cluster, still
    unpublished)."""
    x = np.ascontiguousarray(embeddings, dtype=np.float32)
    labels = result.labels.astype(np.int64)
    k = len(result.centroids)
    sizes = np.bincount(labels, minlength=k)
    members = np.split(np.argsort(labels, kind="stable"), np.cumsum(sizes)[:-1])
    sums = np.stack([x[rows].sum(axis=0, dtype=np.float64) for rows in members])
    centroids = result.centroids.astype(np.float32)
    squared_norms = (centroids.astype(np.float64) ** 2).sum(axis=1)
    alive = sizes > 0
    dissolved = 0
    while alive.sum() > 1:
        small = np.flatnonzero(alive & (sizes < min_size))
        if small.size == 0:
            break
        victim = int(small[np.argmin(sizes[small])])  # argmin takes the lowest number among ties
        alive[victim] = False
        squared_norms[victim] = np.inf
        rows = members[victim]
        targets = (squared_norms[None, :] - 2 * (x[rows] @ centroids.T)).argmin(axis=1)
        labels[rows] = targets
        np.add.at(sums, targets, x[rows])
        np.add.at(sizes, targets, 1)
        sizes[victim] = 0
        for target in np.unique(targets):
            members[target] = np.concatenate([members[target], rows[targets == target]])
            centroids[target] = (sums[target] / sizes[target]).astype(np.float32)
            squared_norms[target] = float((centroids[target].astype(np.float64) ** 2).sum())
        dissolved += 1
    if not dissolved:
        return result, 0
    return _numbered_by_size(x, labels, centroids), dissolved
