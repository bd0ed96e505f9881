"""End-to-end offline benchmark on the bundled sample, and embedding throughput vs bare sentence-transformers.

    .venv/bin/python bench/bench_pipeline.py [--out bench/results/pipeline_sample.json]

Writes a JSON result and rewrites its section of BENCHMARKS.md. Each partition runs every daily asset in
this process (as `clio demo` does); the embedding model is loaded once before timing starts, so the
embedding comparison measures encoding plus the pipeline's own work (hashing, cache lookups, DuckDB writes)
against `SentenceTransformer.encode` alone on the same texts with the same batch size.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

STAGES = ["raw_conversations", "facets", "summary_embeddings", "base_clusters", "cluster_names", "hierarchy",
          "privacy_audit", "map_projection", "published_clusters"]
SECTION_START = "<!-- bench_pipeline:start -->"
SECTION_END = "<!-- bench_pipeline:end -->"


def peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def seconds_by_stage(result, stages: list[str]) -> dict[str, float]:
    """Each asset's own wall time in one materialize result: the step duration Dagster records."""
    durations = {event.step_key: event.event_specific_data.duration_ms / 1000 for event in result.all_events
                 if event.event_type_value == "STEP_SUCCESS"}
    return {stage: round(durations[stage], 3) for stage in stages}


def run(home: Path) -> dict:
    import dagster as dg
    import duckdb

    from clio_dagster.assets import DAILY_ASSETS
    from clio_dagster.cli import QUIET_RUN_CONFIG
    from clio_dagster.resources import build_resources
    from clio_dagster.sample_data import stage_sample
    from clio_dagster.settings import ClioSettings

    os.environ.setdefault("CLIO_HMAC_SECRET", "bench-secret")
    settings = ClioSettings(home=home, llm_backend="offline")
    staged = stage_sample(settings.landing_dir)
    resources = build_resources(settings)
    embedder = resources["embedder"].get()
    load_started = time.perf_counter()
    embedder.dim  # load the model before timing the pipeline
    model_load_seconds = time.perf_counter() - load_started

    instance = dg.DagsterInstance.ephemeral()
    stage_seconds = {s: 0.0 for s in STAGES}
    partitions = []
    started = time.perf_counter()
    for day in sorted(staged):
        t0 = time.perf_counter()
        result = dg.materialize(
            DAILY_ASSETS, partition_key=day, resources=resources, instance=instance, run_config=QUIET_RUN_CONFIG
        )
        assert result.success, day
        for stage, seconds in seconds_by_stage(result, STAGES).items():
            stage_seconds[stage] += seconds
        published = result.asset_materializations_for_node("published_clusters")[0].metadata
        partitions.append(
            {"partition": day, "conversations": published["conversations"].value,
             "clusters_published": published["dagster/row_count"].value,
             "seconds": round(time.perf_counter() - t0, 2)}
        )
    wall = time.perf_counter() - started

    con = duckdb.connect(str(settings.private_db), read_only=True)
    texts = [r[0] for r in con.execute("SELECT request FROM facets ORDER BY partition_date, conversation_id").fetchall()]
    con.close()
    unique_texts = list(dict.fromkeys(texts))

    from sentence_transformers import SentenceTransformer

    from clio_dagster.core.embedding import resolve_model

    bare = SentenceTransformer(resolve_model(settings.embedding_model), device="cpu")
    bare.encode(unique_texts[:64], batch_size=settings.embedding_batch_size, normalize_embeddings=True)  # warm-up
    t0 = time.perf_counter()
    bare.encode(unique_texts, batch_size=settings.embedding_batch_size, normalize_embeddings=True,
                convert_to_numpy=True, show_progress_bar=False)
    bare_seconds = time.perf_counter() - t0

    pipeline_rate = len(unique_texts) / stage_seconds["summary_embeddings"]
    bare_rate = len(unique_texts) / bare_seconds
    return {
        "benchmark": "bench_pipeline",
        "date": date.today().isoformat(),
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "platform": platform.platform()},
        "conversations": sum(p["conversations"] for p in partitions),
        "partitions": partitions,
        "wall_seconds_end_to_end": round(wall, 2),
        "model_load_seconds": round(model_load_seconds, 2),
        "stage_seconds": {k: round(v, 2) for k, v in stage_seconds.items()},
        "peak_rss_mib": round(peak_rss_mib(), 1),
        "embedding": {
            "texts": len(unique_texts),
            "pipeline_texts_per_second": round(pipeline_rate, 1),
            "bare_encode_texts_per_second": round(bare_rate, 1),
            "ratio_pipeline_to_bare": round(pipeline_rate / bare_rate, 3),
            "target_ratio": 0.85,
        },
    }


def markdown(result: dict, command: str) -> str:
    stages = ", ".join(f"{k} {v:.1f} s" for k, v in result["stage_seconds"].items())
    e = result["embedding"]
    rows = "\n".join(
        f"| {p['partition']} | {p['conversations']} | {p['clusters_published']} | {p['seconds']:.1f} |"
        for p in result["partitions"]
    )
    return f"""{SECTION_START}
## End to end, offline, bundled sample ({result['date']}, {result['machine']['cpus']} CPUs)

Command: `{command}`

| measure | value |
|---|---|
| conversations | {result['conversations']} in {len(result['partitions'])} daily partitions |
| wall time, all partitions (model preloaded) | {result['wall_seconds_end_to_end']:.1f} s |
| embedding model load | {result['model_load_seconds']:.1f} s |
| peak RSS | {result['peak_rss_mib']:.0f} MiB |
| per stage (sum over partitions) | {stages} |
| embedding: pipeline vs bare `encode` | {e['pipeline_texts_per_second']:.1f} vs {e['bare_encode_texts_per_second']:.1f} texts/s, ratio **{e['ratio_pipeline_to_bare']:.2f}** (target ≥ {e['target_ratio']}) |

| partition | conversations | clusters published | seconds |
|---|---:|---:|---:|
{rows}
{SECTION_END}"""


def update_section(section: str, start: str = SECTION_START, end: str = SECTION_END, path: Path | None = None) -> None:
    """Replace (or append) one benchmark's section of BENCHMARKS.md (or of `path`)."""
    path = path or ROOT / "BENCHMARKS.md"
    text = path.read_text(encoding="utf-8") if path.exists() else "# Benchmarks\n"
    if start in text:
        head, rest = text.split(start, 1)
        text = head + section + rest.split(end, 1)[1]
    else:
        text = text.rstrip() + "\n\n" + section + "\n"
    path.write_text(text, encoding="utf-8")


def write_result(result: dict, out: Path, section: str | None, start: str, end: str) -> None:
    """A benchmark's last step: its JSON to `out`, its section of BENCHMARKS.md (unless None), and the JSON on
    stdout."""
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    if section is not None:
        update_section(section, start, end)
    print(json.dumps(result, ensure_ascii=False))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", default=str(ROOT / "bench" / "results" / "pipeline_sample.json"))
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        result = run(Path(tmp) / "clio")
    write_result(result, Path(args.out), markdown(result, ".venv/bin/python bench/bench_pipeline.py"),
                 SECTION_START, SECTION_END)


if __name__ == "__main__":
    main()
