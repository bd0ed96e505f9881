"""Coordinated-use signals for trust-and-safety review (Clio §4.1): clusters that come from few accounts for
their size, and groups of many accounts sending near-identical requests.

Pure functions over one partition's conversations: no Dagster, no storage. Their output identifies accounts
(keyed hashes) and is only ever written to the private DB by safety-mode assets.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Hashable, Sequence
from dataclasses import dataclass

import numpy as np

# Similarity blocks of at most this many entries (float32: 64 MiB) bound memory on large partitions.
MAX_BLOCK_ENTRIES = 16_000_000


@dataclass(frozen=True)
class FewAccountCluster:
    """A cluster whose conversations come from few accounts relative to its size."""

    cluster_id: Hashable
    conversations: int
    accounts: int
    accounts_ratio: float  # distinct accounts / conversations
    top_account_share: float  # share of the cluster's conversations sent by its busiest account
    top_accounts: tuple[str, ...]  # up to 10, busiest first


def few_account_clusters(
    cluster_of: Sequence[Hashable], account_of: Sequence[str], min_size: int, max_ratio: float
) -> list[FewAccountCluster]:
    """Clusters of at least `min_size` conversations whose distinct accounts / conversations <= `max_ratio`,
    lowest ratio first."""
    if len(cluster_of) != len(account_of):
        raise ValueError("cluster_of and account_of differ in length")
    per_cluster: dict[Hashable, Counter[str]] = defaultdict(Counter)
    for cluster, account in zip(cluster_of, account_of):
        per_cluster[cluster][account] += 1
    flagged = []
    for cluster, counts in per_cluster.items():
        n = sum(counts.values())
        ratio = len(counts) / n
        if n >= min_size and ratio <= max_ratio:
            busiest = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
            flagged.append(FewAccountCluster(cluster, n, len(counts), ratio, busiest[0][1] / n,
                                             tuple(a for a, _ in busiest[:10])))
    return sorted(flagged, key=lambda c: (c.accounts_ratio, -c.conversations, str(c.cluster_id)))


@dataclass(frozen=True)
class NearDuplicateGroup:
    """Conversations linked by near-identical requests (single linkage at the similarity threshold)."""

    members: tuple[int, ...]  # row indices, ascending
    accounts: int
    min_similarity: float  # weakest link used to join the group
    mean_similarity: float  # mean over the links found inside the group


def _similar_pairs(vectors: np.ndarray, threshold: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Every pair i < j with cosine similarity >= threshold (rows are L2-normalised), block by block."""
    n = len(vectors)
    block = max(1, min(n, MAX_BLOCK_ENTRIES // max(n, 1)))
    rows, cols, sims = [], [], []
    for start in range(0, n, block):
        stop = min(n, start + block)
        # Only columns right of the block's first row: each pair is computed at most twice, kept once.
        similarity = vectors[start:stop] @ vectors[start:].T
        i, j = np.nonzero(similarity >= threshold)
        i_abs, j_abs = i + start, j + start
        keep = j_abs > i_abs
        rows.append(i_abs[keep])
        cols.append(j_abs[keep])
        sims.append(similarity[i[keep], j[keep]])
    if not rows:
        return np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0, np.float32)
    return np.concatenate(rows), np.concatenate(cols), np.concatenate(sims)


def near_duplicate_groups(
    vectors: np.ndarray, account_of: Sequence[str], threshold: float, min_accounts: int
) -> list[NearDuplicateGroup]:
    """Connected groups of near-identical requests (cosine >= `threshold` on L2-normalised summary embeddings)
    that span at least `min_accounts` distinct accounts, most accounts first.

    Exact over the partition (every pair is compared, in blocks): near-duplicates that k-means happened to
    split across two clusters are still joined."""
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    n = len(vectors)
    if n != len(account_of):
        raise ValueError("vectors and account_of differ in length")
    if n == 0:
        return []
    vectors = np.ascontiguousarray(vectors, dtype=np.float32)
    rows, cols, sims = _similar_pairs(vectors, threshold)
    graph = coo_matrix((np.ones(len(rows), np.int8), (rows, cols)), shape=(n, n))
    _, labels = connected_components(graph, directed=False)
    members: dict[int, list[int]] = defaultdict(list)
    for index, label in enumerate(labels):
        members[int(label)].append(index)
    link_sims: dict[int, list[float]] = defaultdict(list)
    for i, s in zip(rows, sims):
        link_sims[int(labels[i])].append(float(s))
    groups = []
    for label, indices in members.items():
        accounts = len({account_of[i] for i in indices})
        if len(indices) < 2 or accounts < min_accounts:
            continue
        links = link_sims[label]
        groups.append(NearDuplicateGroup(tuple(indices), accounts, min(links), float(np.mean(links))))
    return sorted(groups, key=lambda g: (-g.accounts, -len(g.members), g.members[0]))
