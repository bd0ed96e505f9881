"""Seeded, deterministic k-means for base clusters (Clio §G.5)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from sklearn.cluster import KMeans, MiniBatchKMeans


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


def kmeans(embeddings: np.ndarray, k: int, seed: int, minibatch_threshold: int = 200_000) -> KMeansResult:
    """k-means with a fixed seed; clusters are renumbered by size (ties by centroid order) so ids are stable."""
    x = np.ascontiguousarray(embeddings, dtype=np.float32)
    n = x.shape[0]
    if n == 0 or k <= 0:
        raise ValueError(f"cannot cluster {n} points into {k} clusters")
    k = min(k, n)
    if n > minibatch_threshold:
        model = MiniBatchKMeans(n_clusters=k, random_state=seed, n_init=3, batch_size=4096)
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
