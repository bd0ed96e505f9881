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
    sizes = np.bincount(raw, minlength=k)
    order = sorted(range(k), key=lambda c: (-sizes[c], c))
    relabel = np.empty(k, dtype=np.int32)
    relabel[order] = np.arange(k, dtype=np.int32)
    labels = relabel[raw]
    centroids = model.cluster_centers_.astype(np.float32)[order]
    distances = np.linalg.norm(x - centroids[labels], axis=1).astype(np.float32)
    return KMeansResult(labels=labels, centroids=centroids, distances=distances)
