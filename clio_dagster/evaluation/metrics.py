"""Scores for comparing predicted categories or clusters with known labels.

Pure functions over equal-length sequences of hashable labels. `nmi` and `ari` are scikit-learn's
(NMI with the arithmetic-mean normalisation); the rest are written out so their definitions are visible."""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Hashable, Sequence


def _check_pair(a: Sequence[Hashable], b: Sequence[Hashable]) -> None:
    if len(a) != len(b):
        raise ValueError(f"label sequences differ in length: {len(a)} != {len(b)}")
    if len(a) == 0:
        raise ValueError("label sequences are empty")


def accuracy(y_true: Sequence[Hashable], y_pred: Sequence[Hashable]) -> float:
    """Share of items whose predicted label equals the true one."""
    _check_pair(y_true, y_pred)
    return sum(t == p for t, p in zip(y_true, y_pred, strict=True)) / len(y_true)


def macro_f1(y_true: Sequence[Hashable], y_pred: Sequence[Hashable]) -> float:
    """Unweighted mean of per-class F1 over every class that is true or predicted at least once.

    A class never predicted (or predicted but never true) scores F1 = 0, so predicting labels outside the
    true set is penalised, as in scikit-learn's `f1_score(average="macro")`."""
    _check_pair(y_true, y_pred)
    true_counts = Counter(y_true)
    pred_counts = Counter(y_pred)
    hits = Counter(t for t, p in zip(y_true, y_pred, strict=True) if t == p)
    scores = []
    for label in set(true_counts) | set(pred_counts):
        denominator = true_counts[label] + pred_counts[label]
        scores.append(2 * hits[label] / denominator)
    return sum(scores) / len(scores)


def nmi(labels_a: Sequence[Hashable], labels_b: Sequence[Hashable]) -> float:
    """Normalised mutual information (arithmetic mean of the two entropies), in [0, 1]."""
    from sklearn.metrics import normalized_mutual_info_score

    _check_pair(labels_a, labels_b)
    return float(normalized_mutual_info_score(_codes(labels_a), _codes(labels_b)))


def ari(labels_a: Sequence[Hashable], labels_b: Sequence[Hashable]) -> float:
    """Adjusted Rand index: 1 for identical partitions, about 0 for independent ones (can be negative)."""
    from sklearn.metrics import adjusted_rand_score

    _check_pair(labels_a, labels_b)
    return float(adjusted_rand_score(_codes(labels_a), _codes(labels_b)))


def purity(labels_true: Sequence[Hashable], clusters: Sequence[Hashable]) -> float:
    """Share of items that carry their cluster's most common true label."""
    _check_pair(labels_true, clusters)
    by_cluster: dict[Hashable, Counter] = defaultdict(Counter)
    for label, cluster in zip(labels_true, clusters, strict=True):
        by_cluster[cluster][label] += 1
    return sum(max(counts.values()) for counts in by_cluster.values()) / len(labels_true)


def per_group_accuracy(
    y_true: Sequence[Hashable], y_pred: Sequence[Hashable], groups: Sequence[Hashable]
) -> dict:
    """Accuracy within each group (e.g. language), keyed by group, sorted by key."""
    _check_pair(y_true, y_pred)
    _check_pair(y_true, groups)
    hits: Counter = Counter()
    totals: Counter = Counter()
    for t, p, g in zip(y_true, y_pred, groups, strict=True):
        totals[g] += 1
        hits[g] += t == p
    return {g: hits[g] / totals[g] for g in sorted(totals, key=str)}


def _codes(labels: Sequence[Hashable]) -> list[int]:
    """Integer codes, so mixed or unorderable label types work with scikit-learn."""
    index: dict[Hashable, int] = {}
    return [index.setdefault(label, len(index)) for label in labels]
