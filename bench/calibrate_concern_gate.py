"""Measure the concern gate on taxonomy leaves (`core.naming.concern_gate`): which clusters a concerning leaf
("Plan financial fraud and forged documents") would name on wording alone, and what the concern facet says of them.

    .venv/bin/python bench/calibrate_concern_gate.py [--shared-data ../shared/data] [--out bench/results/concern_gate.json]

Each unlabelled conversation set of the taxonomy calibration (`bench/calibrate_taxonomy.py`: first user turns,
offline facets, the default multilingual-e5-small with language-neutral centring, seeded k-means k = n / 50) is
clustered on its own. For every cluster whose best leaf before or after the gate is a concerning one, it records
the best concerning leaf's lead over the best other leaf, the share of conversations the concern facet scored and the share of those
rated >= 3, and the clusters the gate moves to a concerning leaf. HH-RLHF's red-team requests show what real
harmful clusters look like; the other sets are mostly benign. Writes a JSON result and the `concern gate` section of BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.bench_pipeline import write_result  # noqa: E402
from bench.calibrate_taxonomy import PER_SET, SEED, SETS, first_requests  # noqa: E402

MODEL = "multilingual-e5-small"
SECTION_START = "<!-- concern-gate:start -->"
SECTION_END = "<!-- concern-gate:end -->"


def concerning_leaf_clusters(texts: list[str], languages: list[str], ratings: list[int | None]) -> list[dict]:
    from clio_dagster.core.clustering import kmeans
    from clio_dagster.core.embedding import SentenceEmbedder
    from clio_dagster.core.language_centering import centre_languages
    from clio_dagster.core.naming import concern_gate, concern_support, contrastive_scores
    from clio_dagster.core.taxonomy import load_taxonomy
    from clio_dagster.core.taxonomy_vectors import taxonomy_vectors

    embedder = SentenceEmbedder(MODEL)
    vectors = centre_languages(np.asarray(embedder.encode(texts), dtype=np.float32), languages)
    clusters = kmeans(vectors, max(2, len(texts) // 50), SEED)
    taxonomy = load_taxonomy()
    leaves = taxonomy.leaves
    concerning = np.array([leaf.concerning for leaf in leaves], dtype=bool)
    _, score = contrastive_scores(clusters.centroids, taxonomy_vectors("leaves", taxonomy, embedder.encode, MODEL))
    support = concern_support(clusters.labels.tolist(), ratings)
    rows = [support[c] for c in range(len(score))]
    gated = concern_gate(score, concerning, rows)
    found = []
    for c in range(len(score)):
        best, chosen = int(score[c].argmax()), int(gated[c].argmax())
        if not (concerning[best] or concerning[chosen]):
            continue
        found.append({
            "cluster": c, "leaf": leaves[best].name, "chosen": leaves[chosen].name,
            "outcome": ("kept" if best == chosen else "dropped" if concerning[best] else "moved"),
            "lead": round(float(score[c, concerning].max() - score[c, ~concerning].max()), 4),
            "scored_share": round(rows[c].scored, 3), "concerning_share": round(rows[c].concerning, 3),
        })
    return found


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--shared-data", type=Path, default=ROOT.parent / "shared" / "data")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "concern_gate.json")
    args = parser.parse_args()
    started = time.time()
    result: dict = {"model": MODEL, "per_set": PER_SET, "sets": {}}
    lines = ["| set | clusters | a concerning leaf is best on wording | kept | dropped | moved to a concerning leaf "
             "| lead of the best concerning leaf (max) | concerning share: kept (min) / dropped (max) / moved (min) |",
             "|---|---:|---:|---:|---:|---:|---:|---|"]
    for name in SETS:
        triples = first_requests(args.shared_data / name, PER_SET)
        found = concerning_leaf_clusters([t[0] for t in triples], [t[1] for t in triples], [t[2] for t in triples])
        by = {kind: [f for f in found if f["outcome"] == kind] for kind in ("kept", "dropped", "moved")}
        result["sets"][name] = {"conversations": len(triples), "clusters": max(2, len(triples) // 50),
                                "concerning_leaf_clusters": found}
        lead = max((f["lead"] for f in found), default=0.0)

        def share(kind: str, pick) -> str:
            values = [f["concerning_share"] for f in by[kind]]
            return f"{pick(values):.2f}" if values else "–"

        lines.append(f"| {name} | {max(2, len(triples) // 50)} | {len(by['kept']) + len(by['dropped'])} | "
                     f"{len(by['kept'])} | {len(by['dropped'])} | {len(by['moved'])} | {lead:.3f} | "
                     f"{share('kept', min)} / {share('dropped', max)} / {share('moved', min)} |")
        print(lines[-1], flush=True)
    result["seconds"] = round(time.time() - started, 1)
    section = (f"{SECTION_START}\n## Concern gate on taxonomy leaves\n\n`.venv/bin/python bench/calibrate_concern_gate.py`: "
               "each set's first requests clustered on their own (default embedder, k = n/50). A concerning leaf "
               "names a cluster only when >= 20% of its scored conversations are rated >= 3, or, where the English "
               "concern lexicon scored under half of them, when it leads the best other leaf by 0.03; where >= 50% "
               "are rated >= 3, only a concerning leaf names it (*moved*).\n\n"
               + "\n".join(lines) + f"\n{SECTION_END}")
    write_result(result, args.out, section, SECTION_START, SECTION_END)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
