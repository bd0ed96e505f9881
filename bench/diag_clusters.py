"""Diagnostic: why a set's names score what they score, one base cluster at a time (an audit table beside the
judge's reading, after Toponymy's).

    PYTHONPATH=$PWD .venv/bin/python bench/diag_clusters.py [--sets belle sib200 ...] [--out F]

Each set runs the pipeline once (default settings, offline, as bench/eval_names.py). Per base cluster, largest
first: its size and its most common categories; the published name (or why none was published) and the category
the judge reads in its `name. description` (the JSON keeps the name), with the items that reading gets right; the taxonomy leaves the
centroid scores best (contrastive score, as the pipeline matches), each with the category the judge reads in the
leaf's own `name. description`; and the rank of the first leaf the judge reads as the cluster's majority.

Per set: the accuracy, the ceiling (every published cluster named by its majority) and `best_of_top5` (every
published cluster named by whichever of its five best leaves the judge reads best): how much of the gap a better
leaf choice among near candidates could close, against how much is the judge's reading of the leaves themselves.
Writes JSON (bench/results/cluster_audit.json); BENCHMARKS.md cites it by hand.
"""

from __future__ import annotations

import json
import sys
import tempfile
from collections import Counter
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.diag_leaf_choice import run_default  # noqa: E402
from bench.eval_names import SETS, set_arguments  # noqa: E402

TOP_LEAVES = 5


def audit(spec, shared: Path, home: Path) -> dict:
    from clio_dagster.core.naming import contrastive_scores

    run = run_default(spec, shared, home)
    names = run.data.category_names
    leaves = run.taxonomy.leaves
    leaf_reading = [names[c] for c in run.judged([f"{leaf.name}. {leaf.description}" for leaf in leaves])]
    published_ids = sorted(run.published)
    published_reading = dict(zip(published_ids, (names[c] for c in run.judged(
        [f"{run.published[i][0]}. {run.published[i][1]}" for i in published_ids]))))
    score = contrastive_scores(run.centroids, run.leaf_vectors)[1]
    categories: dict[int, Counter] = {}
    for cluster, item, _ in run.members:
        categories.setdefault(cluster, Counter())[run.category_of[item]] += 1

    clusters, right, ceiling, best_of_top = [], 0, 0, 0
    for cluster, counts in sorted(categories.items(), key=lambda kv: (-sum(kv[1].values()), kv[0])):
        majority, majority_items = counts.most_common(1)[0]
        ranked = np.argsort(-score[cluster], kind="stable")
        row = {"cluster_id": cluster, "items": sum(counts.values()), "categories": dict(counts.most_common(4)),
               "majority": majority,
               "top_leaves": [[leaves[j].name, round(float(score[cluster, j]), 4), leaf_reading[j]]
                              for j in ranked[:TOP_LEAVES]],  # leaf, contrastive score, the judge's reading
               "first_majority_leaf_rank": next((r for r, j in enumerate(ranked) if leaf_reading[j] == majority),
                                                None)}
        if cluster in run.published:
            judged = published_reading[cluster]
            row.update(name=run.published[cluster][0], judged=judged, right=counts[judged])
            right += counts[judged]
            ceiling += majority_items
            best_of_top += max(counts[leaf_reading[j]] for j in ranked[:TOP_LEAVES])
        else:
            row.update(name=None, judged=None, right=0)
        clusters.append(row)
    n = len(run.data.texts)
    return {"key": spec.key, "title": spec.title, "accuracy": round(right / n, 4),
            "published_accuracy": run.published_accuracy, "ceiling": round(ceiling / n, 4),
            "best_of_top5": round(best_of_top / n, 4),
            "leaves_read_as": dict(Counter(leaf_reading).most_common()), "clusters": clusters}


def print_audit(result: dict) -> None:
    print(f"\n== {result['title']}: accuracy {result['accuracy']:.1%}, ceiling {result['ceiling']:.1%}, "
          f"best of top-5 leaves {result['best_of_top5']:.1%}")
    for row in result["clusters"]:
        print(f"#{row['cluster_id']} {row['items']} items, majority {row['majority']} {row['categories']}")
        if row["name"] is None:
            print("   not published")
        else:
            print(f"   published: {row['name']} -> read as {row['judged']} ({row['right']} right)")
        for rank, (leaf, score, judged) in enumerate(row["top_leaves"]):
            print(f"   {rank} {score:.3f} {leaf} -> {judged}")


def main() -> None:
    args = set_arguments(__doc__, ROOT / "bench" / "results" / "cluster_audit.json")
    runs = {}
    for spec in SETS:
        if args.sets and spec.key not in args.sets:
            continue
        with tempfile.TemporaryDirectory(prefix="clio-cluster-audit-") as home:
            runs[spec.key] = audit(spec, args.shared_data, Path(home))
        print_audit(runs[spec.key])
    args.out.parent.mkdir(parents=True, exist_ok=True)
    # One line per cluster: the file stays readable in a diff.
    lines = [json.dumps({k: v for k, v in run.items() if k != "clusters"}, ensure_ascii=False)[:-1] + ', "clusters": ['
             + ",".join("\n  " + json.dumps(row, ensure_ascii=False) for row in run["clusters"]) + "]}"
             for run in runs.values()]
    args.out.write_text('{"benchmark": "diag_clusters", "runs": [\n' + ",\n".join(lines) + "\n]}\n", encoding="utf-8")


if __name__ == "__main__":
    main()
