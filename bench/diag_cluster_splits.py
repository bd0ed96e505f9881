"""Diagnostic: base clusters that mix two parts of the taxonomy, cut in two (measured and dropped: BENCHMARKS.md,
"Tried and dropped").

    PYTHONPATH=$PWD .venv/bin/python bench/diag_cluster_splits.py [--sets belle sib200 ...] [--out F]

Each set runs the pipeline once (default settings, offline, as bench/eval_names.py). Variants, on its clusters:
- `unsplit`: the clusters as published;
- `area` / `topic`: every cluster of at least 2 x min_conversations members cut by seeded 2-means on its members'
  summary embeddings, the cut kept when both halves have at least min_conversations members and their best
  leaves (scored as the pipeline scores, with the day's contrast of the uncut clusters) lie in different taxonomy
  areas / topics;
- `area_votes`: every cluster whose members' own best areas (each member's best leaf of each area) give a second
  area at least min_conversations and a quarter of the votes, cut between those two areas.
Per variant: the clusters cut, the accuracy when every cluster is named by its best leaf (judged by the leaf's
`name. description`) and the ceiling (every cluster named by its majority category), over all items. Writes JSON
(bench/results/cluster_splits.json); BENCHMARKS.md cites it by hand.
"""

from __future__ import annotations

import sys
from collections import Counter
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.diag_leaf_choice import diagnose_sets, run_default  # noqa: E402
from bench.eval_names import SEED  # noqa: E402

VOTE_MIN_SHARE = 0.25


def _centroids(labels: np.ndarray, vectors: np.ndarray) -> np.ndarray:
    return np.stack([vectors[labels == c].mean(axis=0) for c in range(int(labels.max()) + 1)])


def two_means_cuts(labels: np.ndarray, vectors: np.ndarray, leaf_vectors: np.ndarray, group_of: np.ndarray,
                   min_size: int) -> tuple[np.ndarray, int]:
    """Labels after the `area` / `topic` cuts (module doc; `group_of`: each leaf's area or topic), and how many."""
    from clio_dagster.core.clustering import kmeans
    from clio_dagster.core.naming import _unit, contrastive_scores

    similarity, score = contrastive_scores(_centroids(labels, vectors), leaf_vectors)
    offset = (similarity - score)[0]
    cut = labels.copy()
    next_label, cuts = int(labels.max()) + 1, 0
    for cluster in range(next_label):
        rows = np.flatnonzero(labels == cluster)
        if len(rows) < 2 * min_size:
            continue
        halves = kmeans(vectors[rows], 2, SEED).labels
        if np.bincount(halves, minlength=2).min() < min_size:
            continue
        half_scores = _unit(_centroids(halves, vectors[rows])) @ _unit(leaf_vectors).T - offset
        best = half_scores.argmax(axis=1)
        if group_of[best[0]] != group_of[best[1]]:
            cut[rows[halves == 1]] = next_label
            next_label, cuts = next_label + 1, cuts + 1
    return cut, cuts


def vote_cuts(labels: np.ndarray, vectors: np.ndarray, leaf_vectors: np.ndarray, group_of: np.ndarray,
              min_size: int) -> tuple[np.ndarray, int]:
    """Labels after the `area_votes` cuts (module doc), and how many."""
    from clio_dagster.core.naming import _unit, contrastive_scores

    similarity, score = contrastive_scores(_centroids(labels, vectors), leaf_vectors)
    member_score = _unit(vectors) @ _unit(leaf_vectors).T - (similarity - score)[0]
    group_score = np.stack([member_score[:, group_of == g].max(axis=1) for g in range(int(group_of.max()) + 1)],
                           axis=1)
    cut = labels.copy()
    next_label, cuts = int(labels.max()) + 1, 0
    for cluster in range(next_label):
        rows = np.flatnonzero(labels == cluster)
        votes = Counter(group_score[rows].argmax(axis=1).tolist()).most_common(2)
        if len(votes) < 2 or votes[1][1] < max(min_size, VOTE_MIN_SHARE * len(rows)):
            continue
        second = group_score[rows, votes[1][0]] > group_score[rows, votes[0][0]]
        if min(second.sum(), (~second).sum()) < min_size:
            continue
        cut[rows[second]] = next_label
        next_label, cuts = next_label + 1, cuts + 1
    return cut, cuts


def judged_by_leaves(labels: np.ndarray, vectors: np.ndarray, categories: np.ndarray, leaf_vectors: np.ndarray,
                     leaf_reading: np.ndarray, n_items: int) -> dict[str, float]:
    """Accuracy with every cluster named by its best leaf, and the ceiling, over `n_items`."""
    from clio_dagster.core.naming import contrastive_scores

    best = contrastive_scores(_centroids(labels, vectors), leaf_vectors)[1].argmax(axis=1)
    clusters = range(int(labels.max()) + 1)
    right = sum(int((categories[labels == c] == leaf_reading[best[c]]).sum()) for c in clusters)
    ceiling = sum(Counter(categories[labels == c].tolist()).most_common(1)[0][1] for c in clusters)
    return {"accuracy": round(right / n_items, 4), "ceiling": round(ceiling / n_items, 4)}


def diagnose(spec, shared: Path, home: Path) -> dict:
    from clio_dagster.settings import load_settings

    run = run_default(spec, shared, home)
    min_size = load_settings(llm_backend="offline", seed=SEED).min_conversations
    names = run.data.category_names
    leaves = run.taxonomy.leaves
    leaf_reading = np.array(run.judged([f"{leaf.name}. {leaf.description}" for leaf in leaves]))
    labels = np.array([m[0] for m in run.members])
    vectors = np.array([m[2] for m in run.members], dtype=np.float32)
    categories = np.array([names.index(run.category_of[item]) for _, item, _ in run.members])

    def group_of(level: int) -> np.ndarray:
        ids = [run.taxonomy.ancestor(leaf.id, level).id for leaf in leaves]
        return np.array([sorted(set(ids)).index(i) for i in ids])

    variants = {"unsplit": (labels, 0),
                "area": two_means_cuts(labels, vectors, run.leaf_vectors, group_of(2), min_size),
                "topic": two_means_cuts(labels, vectors, run.leaf_vectors, group_of(1), min_size),
                "area_votes": vote_cuts(labels, vectors, run.leaf_vectors, group_of(2), min_size)}
    return {"key": spec.key, "title": spec.title, "published_accuracy": run.published_accuracy,
            "variants": {name: {"clusters_cut": cuts,
                                **judged_by_leaves(cut, vectors, categories, run.leaf_vectors, leaf_reading,
                                                   len(run.data.texts))}
                         for name, (cut, cuts) in variants.items()}}


def main() -> None:
    diagnose_sets(__doc__, "cluster_splits", diagnose)

if __name__ == "__main__":
    main()
