"""Peer comparison benchmark: `clio eval peers` (clio_dagster/evaluation/peers.py, where the methods are
described), plus bench/results/peers.json and the `peers` section of BENCHMARKS.md.

    .venv/bin/python bench/eval_peers.py [--shared-data ../shared/data] [--limit N]

BERTopic is optional: `pip install -e '.[bench]'` (also in the `test` extra); without it its column says why
it is absent.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from clio_dagster.evaluation.peers import LABELLED_SETS, METHODS, run_peers  # noqa: E402
from clio_dagster.evaluation.shared_data import shared_data_dir  # noqa: E402
from clio_dagster.settings import load_settings  # noqa: E402

SECTION_START = "<!-- peers:start -->"
SECTION_END = "<!-- peers:end -->"
COMMAND = ".venv/bin/python bench/eval_peers.py"
METHOD_TITLES = {
    "clio_base": "clio base clustering (offline summary → MiniLM → seeded k-means, k = n / {target})",
    "clio_base_k_labels": "clio base clustering, k = number of labels (oracle k)",
    "minilm_kmeans": "raw text → MiniLM → scikit-learn KMeans, k = number of labels",
    "bertopic": "BERTopic {version} (same MiniLM embeddings; UMAP seeded, HDBSCAN; outliers one cluster)",
}


def _row(title: str, scores: dict) -> str:
    if "absent" in scores:
        return f"| {title} | absent: {scores['absent']} | | | | | |"
    clusters = f"{scores['clusters']:,}"
    if "outlier_share" in scores:
        clusters += f" ({scores['outlier_share']:.0%} outliers)"
    return (f"| {title} | {clusters} | {scores['nmi']:.3f} | {scores['ari']:.3f} | {scores['purity']:.3f} | "
            f"{scores['seconds']:.1f} | {scores['cpu_seconds']:.1f} |")


def markdown(result: dict) -> str:
    tables = []
    for name, data in result["sets"].items():
        titles = {m: t.format(target=result["target_cluster_size"], version=result["bertopic"])
                  for m, t in METHOD_TITLES.items()}
        rows = "\n".join(_row(titles[m], s) for m, s in data["methods"].items())
        excluded = LABELLED_SETS.get(name) or ()
        note = f", without label {', '.join(f'`{x}`' for x in sorted(excluded))}" if excluded else ""
        tables.append(f"""### {name}: {data['texts']:,} texts, {data['labels']} labels{note}

Embedding (shared by all methods): {data['embedding_seconds']:.0f} s wall ({data['embedding_cpu_seconds']:.0f} s CPU) for the texts,
{data['summary_embedding_seconds']:.0f} s for the {data['summaries_differing_from_text']:,} offline summaries that differ from their text.

| method | clusters | NMI | ARI | purity | wall s | CPU s |
|---|---:|---:|---:|---:|---:|---:|
{rows}""")
    limit = f", `--limit {result['limit']}`" if result["limit"] else ""
    start = result["machine"]["load_average_at_start"]
    load = ", ".join(f"{x:g}" for x in start) if start else "not recorded"
    load_end = ", ".join(f"{x:g}" for x in result["load_average_at_end"])
    return f"""{SECTION_START}
## Peer comparison on labelled short texts ({result['date']}, {result['machine']['cpus']} CPUs)

Command: `{COMMAND}`{limit} (the same numbers as `.venv/bin/clio eval peers`; reads
{', '.join(f'`../shared/data/{n}`' for n in result['sets'])}; BERTopic from the optional `bench` extra)

One run, seed {result['seed']}, the same texts and the same {result['embedding_model']} embeddings for every
method; scores against the data set's labels (NMI arithmetic-mean normalised, ARI, purity). Times are the
clustering once embeddings exist (for clio: the offline summaries too), wall and CPU (all threads); UMAP's
numba code was compiled before timing ({result['umap_warmup_seconds']:.0f} s). Load average at start: {load},
at end: {load_end} (the machine is shared: wall times are upper bounds, CPU times are steadier). The product's k rule aims at clusters of {result['target_cluster_size']}
conversations, finer than these label sets; finer clusterings raise purity and lower ARI, so the oracle-k
row shows the same embeddings and k-means at the labels' grain.

{(chr(10) * 2).join(tables)}
{SECTION_END}"""


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--shared-data", type=Path, default=ROOT.parent / "shared" / "data")
    parser.add_argument("--limit", type=int, default=None, help="a seeded random N records of each set")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "peers.json")
    args = parser.parse_args(argv)
    sets = tuple(LABELLED_SETS)
    result = run_peers(load_settings(demo_mode=True), shared_data_dir(args.shared_data, sets), sets, args.limit,
                       methods=METHODS)
    from bench.bench_pipeline import write_result

    write_result(result, args.out, markdown(result), SECTION_START, SECTION_END)
    return 0


if __name__ == "__main__":
    sys.exit(main())
