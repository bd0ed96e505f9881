"""Stability benchmark: `clio eval stability` on the bundled sample (clio_dagster/evaluation/stability.py, where
the method is described), plus bench/results/stability.json and the `stability` section of BENCHMARKS.md.

    .venv/bin/python bench/eval_stability.py [--data FILE.jsonl] [--seeds A B] [--fraction 0.9]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from clio_dagster.evaluation.stability import run_stability  # noqa: E402
from clio_dagster.settings import load_settings  # noqa: E402

SECTION_START = "<!-- stability:start -->"
SECTION_END = "<!-- stability:end -->"
COMMAND = ".venv/bin/python bench/eval_stability.py"


def _levels(comparison: dict) -> str:
    return ", ".join(f"level {level}: {v['matched']}/{v['published']}" for level, v in comparison["by_level"].items())


def markdown(result: dict) -> str:
    a, b = result["seeds"]
    pct = f"{result['subsample_fraction']:.0%}"
    rows = []
    for key, title in (("seed_a_vs_seed_b", f"seed {a} vs seed {b}, all conversations"),
                       ("seed_a_vs_subsample", f"seed {a}: all vs a {pct} subsample (seed {result['subsample_seed']})")):
        c = result[key]
        days = ", ".join(f"{v['ari']:.2f}" for v in c["ari_by_day"].values())
        matched = "n/a" if c["topics_matched_fraction"] is None else f"{c['topics_matched_fraction']:.0%}"
        rows.append(f"| {title} | {c['common_conversations']:,} | **{c['ari']:.3f}** ({days}) | "
                    f"**{matched}** ({c['topics_matched']}/{c['published']}; {_levels(c)}) | "
                    f"{c['topics_matched_fraction_other']:.0%} of {c['published_other']} |")
    runs = "; ".join(f"{name} {r['base_clusters']} base clusters, {r['published']} published, {r['seconds']:.0f} s"
                     for name, r in result["runs"].items())
    return f"""{SECTION_START}
## Stability, offline, {result['data']} ({result['date']}, {result['machine']['cpus']} CPUs)

Command: `{COMMAND}` (the same numbers as `.venv/bin/clio eval stability`)

Three runs of every daily asset over {len(result['days'])} days ({result['conversations']:,} conversations) with the offline
backend, k = n / {result['target_cluster_size']} per day, published clusters need {result['min_unique_users']} users and {result['min_conversations']} conversations.
ARI: base-cluster assignments per day over the conversations in both runs, averaged weighted by them (per day
in brackets). Topics matched: published clusters
of every level paired one-to-one per day and level by the topic matcher (`core/topics.py`, cosine of "name:
description" embeddings ≥ {result['topic_match_threshold']}), as a share of the first run's and of the other run's.

| runs compared | conversations in both | ARI of base clusters | published clusters matched (of the first run) | of the other run |
|---|---:|---|---|---:|
{chr(10).join(rows)}

Runs (wall time on the shared machine, other jobs running): {runs}.
{SECTION_END}"""


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=None, help="a .jsonl(.gz) of conversations (default: the sample)")
    parser.add_argument("--seeds", type=int, nargs=2, default=[0, 1], metavar=("A", "B"))
    parser.add_argument("--fraction", type=float, default=0.9)
    parser.add_argument("--subsample-seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "stability.json")
    args = parser.parse_args(argv)
    result = run_stability(load_settings(demo_mode=True), args.data, tuple(args.seeds), args.fraction,
                           args.subsample_seed)
    from bench.bench_pipeline import write_result

    write_result(result, args.out, markdown(result), SECTION_START, SECTION_END)
    return 0


if __name__ == "__main__":
    sys.exit(main())
