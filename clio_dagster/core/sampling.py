"""Samples for contrastive cluster naming (Clio §G.5): up to N summaries from inside each cluster, chosen
at random with a seed, and the N summaries nearest the cluster's centroid that belong to other clusters."""

from __future__ import annotations

import numpy as np

# Candidates kept per centroid from the fast (matrix product) distances before the exact re-ranking; the
# margin absorbs float rounding so the final choice is the exact nearest, ties by index.
_RERANK_MARGIN = 16


def contrastive_samples(
    labels: np.ndarray,
    embeddings: np.ndarray,
    centroids: np.ndarray,
    n: int = 50,
    seed: int = 0,
    chunk: int = 8192,
) -> dict[int, tuple[list[int], list[int]]]:
    """cluster id → (row indices of the in-cluster sample, row indices of the nearest non-members).

    Points are scanned in chunks against all centroids at once (one matrix product per chunk), keeping the
    best candidates per centroid, so memory stays at chunk × k floats and time at one pass over the points
    whatever k is; the kept candidates are then ranked by exact distance."""
    labels = np.asarray(labels)
    if len(labels) != len(embeddings):
        raise ValueError("labels and embeddings must have the same length")
    rng = np.random.default_rng(seed)
    x = np.asarray(embeddings, dtype=np.float32)
    centroids = np.asarray(centroids)
    k = len(centroids)
    by_label = np.argsort(labels, kind="stable")
    starts = np.searchsorted(labels[by_label], np.arange(k), side="left")
    ends = np.searchsorted(labels[by_label], np.arange(k), side="right")
    keep = min(len(x), n + _RERANK_MARGIN)
    best_idx = np.zeros((k, 0), dtype=np.int64)
    best_dist = np.zeros((k, 0), dtype=np.float32)
    c32 = centroids.astype(np.float32)
    c_norms = (c32.astype(np.float64) ** 2).sum(axis=1)
    step = max(1, min(chunk, (1 << 23) // max(k, 1)))  # about 64 MB of distances per step at any k
    for start in range(0, len(x), step):
        block = x[start : start + step]
        sq = (block.astype(np.float64) ** 2).sum(axis=1)[None, :] - 2.0 * (c32 @ block.T) + c_norms[:, None]
        sq[labels[start : start + len(block)][None, :] == np.arange(k)[:, None]] = np.inf  # members are not contrast
        idx = np.broadcast_to(np.arange(start, start + len(block)), sq.shape)
        all_idx = np.concatenate([best_idx, idx], axis=1)
        all_dist = np.concatenate([best_dist, sq.astype(np.float32)], axis=1)
        if all_idx.shape[1] > keep:
            top = np.argpartition(all_dist, keep - 1, axis=1)[:, :keep]
            all_idx = np.take_along_axis(all_idx, top, axis=1)
            all_dist = np.take_along_axis(all_dist, top, axis=1)
        best_idx, best_dist = all_idx, all_dist
    out: dict[int, tuple[list[int], list[int]]] = {}
    for cid in range(k):
        members = by_label[starts[cid] : ends[cid]]
        if members.size == 0:
            continue
        inside = np.sort(rng.choice(members, size=min(n, members.size), replace=False))
        candidates = np.sort(best_idx[cid][np.isfinite(best_dist[cid])])
        exact = np.linalg.norm(x[candidates] - centroids[cid], axis=1)
        outside = candidates[np.argsort(exact, kind="stable")][:n]
        out[cid] = ([int(i) for i in inside], [int(i) for i in outside])
    return out
