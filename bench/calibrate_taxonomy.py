"""Calibrate the taxonomy-match threshold (CLIO_TAXONOMY_MIN_MARGIN) per bundled embedding model, without labels.

    .venv/bin/python bench/calibrate_taxonomy.py [--shared-data ../shared/data] [--out bench/results/taxonomy_calibration.json]

Real assistant traffic (the first user turns of the unlabelled conversation sets in ../shared/data: LMSYS,
ShareGPT, OpenAssistant en/zh, HH-RLHF, Alpaca-eval; up to 1,500 each) goes through the offline facets, the
model and seeded k-means (k = n / 50) as the pipeline runs them; each cluster's best leaf is found as the namer
finds it (`core.naming.match_leaves`). The threshold is the 5th percentile of the best leaf's margin (its cosine
minus the median cosine over all leaves),
rounded down to 0.001: 95% of real clusters are named by a leaf, the least typical 5% by their own phrases.
As a check, clusters of off-taxonomy text (random word salad from the same vocabulary) should fall below it.
No evaluation set's labels are read. Writes a JSON result and the `taxonomy` section of BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.bench_pipeline import write_result  # noqa: E402

SETS = ("lmsys_chat_sample", "sharegpt_sample", "oasst1_en_val", "oasst1_zh", "hh_rlhf_harmless", "alpaca_eval_gpt4")
MODELS = ("multilingual-e5-small", "all-MiniLM-L6-v2")
PER_SET = 1500
SEED = 0
SECTION_START = "<!-- taxonomy:start -->"
SECTION_END = "<!-- taxonomy:end -->"


def first_requests(folder: Path, limit: int) -> list[tuple[str, str, int | None]]:
    """(request summary, language code, concern rating) of the first `limit` accepted conversations, via the
    offline facets."""
    from clio_dagster.core.ingest import Accepted, IngestLimits, SourceLocation, parse_record
    from clio_dagster.llm.offline import OfflineBackend

    conversations = []
    with (folder / "conversations.jsonl").open(encoding="utf-8") as fh:
        for number, line in enumerate(fh, 1):
            parsed = parse_record(json.loads(line), SourceLocation(folder.name, number), IngestLimits())
            if isinstance(parsed, Accepted):
                conversations.append(parsed.conversation)
            if len(conversations) >= limit:
                break
    facets = OfflineBackend().extract_facets(conversations)
    return [(f.request, f.language_code, f.concerning) for f in facets]


def best_margins(texts: list[str], languages: list[str], model: str, language_neutral: bool) -> np.ndarray:
    from clio_dagster.core.clustering import kmeans
    from clio_dagster.core.embedding import SentenceEmbedder
    from clio_dagster.core.language_centering import centre_languages
    from clio_dagster.core.naming import match_leaves
    from clio_dagster.core.taxonomy import load_taxonomy
    from clio_dagster.core.taxonomy_vectors import embed_leaves

    embedder = SentenceEmbedder(model)
    vectors = np.asarray(embedder.encode(texts), dtype=np.float32)
    if language_neutral:
        vectors = centre_languages(vectors, languages)
    clusters = kmeans(vectors, max(2, len(texts) // 50), SEED)
    taxonomy = load_taxonomy()
    leaves = embed_leaves(taxonomy, embedder.encode)
    matches = match_leaves(clusters.centroids, leaves, taxonomy.leaves, min_margin=-1.0)
    return np.array([m.margin for m in matches])


def word_salad(texts: list[str], n: int, seed: int) -> list[str]:
    """Texts of random words drawn from the real texts' vocabulary: no topic of any taxonomy."""
    rng = np.random.default_rng(seed)
    vocabulary = sorted({w for t in texts for w in t.split() if w.isalpha()})
    return [" ".join(rng.choice(vocabulary, size=12)) for _ in range(n)]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--shared-data", type=Path, default=ROOT.parent / "shared" / "data")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "taxonomy_calibration.json")
    args = parser.parse_args()
    started = time.time()
    pairs = []
    for name in SETS:
        pairs += first_requests(args.shared_data / name, PER_SET)
    texts, languages = [p[0] for p in pairs], [p[1] for p in pairs]
    salad = word_salad(texts, 1500, SEED)
    result = {"sets": list(SETS), "conversations": len(texts), "percentile": 5, "models": {}}
    for model in MODELS:
        language_neutral = model == "multilingual-e5-small"
        real = best_margins(texts, languages, model, language_neutral)
        noise = best_margins(salad, ["und"] * len(salad), model, False)
        threshold = math.floor(float(np.percentile(real, 5)) * 1000) / 1000
        result["models"][model] = {
            "language_neutral": language_neutral,
            "threshold": threshold,
            "real_clusters": len(real),
            "real_quantiles": {q: round(float(np.percentile(real, q)), 4) for q in (1, 5, 25, 50, 75)},
            "word_salad_quantiles": {q: round(float(np.percentile(noise, q)), 4) for q in (50, 95, 99)},
            "word_salad_below_threshold": round(float((noise < threshold).mean()), 4),
        }
        print(model, result["models"][model], flush=True)
    result["seconds"] = round(time.time() - started, 1)
    lines = ["| model | threshold (5th pct of real clusters) | real: 1% / 25% / 50% | word salad: 50% / 95% | word-salad clusters below |",
             "|---|---:|---|---|---:|"]
    for model, r in result["models"].items():
        q, w = r["real_quantiles"], r["word_salad_quantiles"]
        lines.append(f"| {model} | {r['threshold']:.3f} | {q[1]:.3f} / {q[25]:.3f} / {q[50]:.3f} | "
                     f"{w[50]:.3f} / {w[95]:.3f} | {r['word_salad_below_threshold']:.0%} |")
    section = (f"{SECTION_START}\n## Taxonomy-match threshold\n\nCalibrated without labels "
               f"(`.venv/bin/python bench/calibrate_taxonomy.py`): {len(texts)} first requests of {', '.join(SETS)}; "
               "k-means k = n/50 per model; the threshold in `clio_dagster/settings.py` "
               "(`TAXONOMY_MIN_MARGIN`) is the 5th percentile.\n\n" + "\n".join(lines) + f"\n{SECTION_END}")
    write_result(result, args.out, section, SECTION_START, SECTION_END)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
