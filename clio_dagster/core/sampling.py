"""Samples for contrastive cluster naming (Clio §G.5): up to N summaries from inside each cluster, chosen
at random with a seed, and the N summaries nearest the cluster's centroid that belong to other clusters."""

from __future__ import annotations

import numpy as np


def contrastive_samples(
    labels: np.ndarray,
    embeddings: np.ndarray,
    centroids: np.ndarray,
    n: int = 50,
    seed: int = 0,
    chunk: int = 8192,
) -> dict[int, tuple[list[int], list[int]]]:
    """cluster id → (row indices of the in-cluster sample, row indices of the nearest non-members)."""
    labels = np.asarray(labels)
    if len(labels) != len(embeddings):
        raise ValueError("labels and embeddings must have the same length")
    rng = np.random.default_rng(seed)
    out: dict[int, tuple[list[int], list[int]]] = {}
    x = np.asarray(embeddings, dtype=np.float32)
    for cid in range(len(centroids)):
        members = np.flatnonzero(labels == cid)
        if members.size == 0:
            continue
        inside = np.sort(rng.choice(members, size=min(n, members.size), replace=False))
        # Nearest non-members to the centroid, scanned in chunks so memory stays bounded at any n.
        best_idx = np.empty(0, dtype=np.int64)
        best_dist = np.empty(0, dtype=np.float32)
        for start in range(0, len(x), chunk):
            block = x[start : start + chunk]
            dist = np.linalg.norm(block - centroids[cid], axis=1)
            idx = np.arange(start, start + len(block))
            keep = labels[start : start + len(block)] != cid
            best_idx = np.concatenate([best_idx, idx[keep]])
            best_dist = np.concatenate([best_dist, dist[keep]])
            if best_idx.size > n:
                top = np.argsort(best_dist, kind="stable")[:n]
                best_idx, best_dist = best_idx[top], best_dist[top]
        order = np.argsort(best_dist, kind="stable")
        outside = best_idx[order][:n]
        out[cid] = ([int(i) for i in inside], [int(i) for i in outside])
    return out
