"""DuckLake storage against the local DuckDB files: the same sample days, the same process, three storages.

    .venv/bin/python bench/bench_lake.py [--out bench/results/lake.json]

Starts the local services (`clio services`: embedded PostgreSQL, an S3 emulator), then materialises every
daily asset of the bundled sample's days in this process on (1) the local DuckDB files, (2) two DuckLakes
with PostgreSQL catalogs and data in folders, (3) the same with data on S3 (the emulator). The embedding
model is loaded once before timing; all-MiniLM-L6-v2 keeps the run short (the storage is what differs).
Then it replaces every day once more (a re-run leaves the replaced Parquet files behind) and runs the
housekeeping (`clio lake housekeep`, retention 0), reporting files and bytes before and after. Per-worker
throughput of the stages that scale out comes from the local run. Writes JSON and its BENCHMARKS.md section.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.bench_pipeline import STAGES, peak_rss_mib, seconds_by_stage, update_section  # noqa: E402

SECTION_START = "<!-- bench_lake:start -->"
SECTION_END = "<!-- bench_lake:end -->"
MODEL = "all-MiniLM-L6-v2"


def run_days(settings, days: list[str]) -> dict:
    import dagster as dg

    from clio_dagster.assets import DAILY_ASSETS
    from clio_dagster.resources import build_resources
    from clio_dagster.runner import QUIET_RUN_CONFIG

    resources = build_resources(settings)
    resources["embedder"].get().encode(["warm-up"])  # the model loads before timing (one per process anyway)
    instance = dg.DagsterInstance.ephemeral()
    stage_seconds = {s: 0.0 for s in STAGES}
    started = time.perf_counter()
    for day in days:
        result = dg.materialize(DAILY_ASSETS, partition_key=day, resources=resources, instance=instance,
                                run_config=QUIET_RUN_CONFIG)
        assert result.success, day
        for stage, seconds in seconds_by_stage(result, STAGES).items():
            stage_seconds[stage] += seconds
    return {"wall_seconds": round(time.perf_counter() - started, 2),
            "stage_seconds": {k: round(v, 2) for k, v in stage_seconds.items()}}


def public_rows(settings) -> dict:
    from clio_dagster.explorer.render import open_public
    from clio_dagster.storage import PUBLIC_TABLES

    con = open_public(settings)
    try:
        return {t: con.execute(f"SELECT * FROM {t} ORDER BY ALL").fetchall() for t in sorted(PUBLIC_TABLES)}
    finally:
        con.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=str(ROOT / "bench" / "results" / "lake.json"))
    args = parser.parse_args()
    os.environ.setdefault("CLIO_HMAC_SECRET", "bench-secret")

    from clio_dagster import local_services
    from clio_dagster.lake import LakeWarehouse, housekeep, warehouse_for
    from clio_dagster.sample_data import stage_sample
    from clio_dagster.settings import ClioSettings

    work = Path(tempfile.mkdtemp(prefix="clio-bench-lake-"))
    services = local_services.start(work / "services")
    try:
        base = dict(llm_backend="offline", embedding_model=MODEL, language_neutral=False)
        local = ClioSettings(home=work / "local", storage="duckdb", **base)
        staged = stage_sample(local.landing_dir)
        days = sorted(staged)
        conversations = sum(staged.values())
        runs = {"duckdb files": run_days(local, days)}
        reference = public_rows(local)

        env = services.environment()
        storages = {
            "ducklake, data in folders": {f"lake_{lake}_data": str(work / "folders" / lake) + "/"
                                          for lake in local_services.LAKES},
            "ducklake, data on S3 (emulator)": {f"lake_{lake}_data": f"s3://clio-{lake}/lake/"
                                                for lake in local_services.LAKES},
        }
        lake_settings = None
        for label, overrides in storages.items():
            local_services.reset(services)
            # Lake credentials are read from the environment where a step runs (never from run config).
            os.environ.update({**env, **{f"CLIO_{k.upper()}": v for k, v in overrides.items()}})
            lake_settings = ClioSettings(home=work / label.split(",")[0].replace(" ", "_"), **base)
            stage_sample(lake_settings.landing_dir)
            store = warehouse_for(lake_settings)
            assert isinstance(store, LakeWarehouse)
            for database in local_services.LAKES:
                store.init(database)
            runs[label] = run_days(lake_settings, days)
            runs[label]["public_rows_equal_local"] = public_rows(lake_settings) == reference

        # Housekeeping on the S3 lake: replace every day once more, then merge, expire and clean up.
        rerun = run_days(lake_settings, days)
        housekeeping = {}
        for database in local_services.LAKES:
            done = housekeep(warehouse_for(lake_settings), database, retention_days=0)
            housekeeping[database] = {"files_before": done.before.files, "files_after": done.after.files,
                                      "bytes_before": done.before.bytes, "bytes_after": done.after.bytes}
        housekeeping["public_rows_equal_local"] = public_rows(lake_settings) == reference
        housekeeping["rerun_wall_seconds"] = rerun["wall_seconds"]
    finally:
        local_services.stop(work / "services")

    local_stages = runs["duckdb files"]["stage_seconds"]
    throughput = {stage: round(conversations / local_stages[stage], 1)
                  for stage in ("facets", "summary_embeddings", "base_clusters")}
    result = {
        "benchmark": "bench_lake",
        "date": date.today().isoformat(),
        "machine": {"cpus": os.cpu_count()},
        "embedding_model": MODEL,
        "conversations": conversations,
        "days": days,
        "runs": runs,
        "overhead_ratio": {label: round(run["wall_seconds"] / runs["duckdb files"]["wall_seconds"], 2)
                           for label, run in runs.items()},
        "per_worker_conversations_per_second": throughput,
        "housekeeping": housekeeping,
        "peak_rss_mib": round(peak_rss_mib(), 1),
    }
    Path(args.out).write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    update_section(markdown(result, "`.venv/bin/python bench/bench_lake.py`"), SECTION_START, SECTION_END)
    print(json.dumps(result, indent=2))


def markdown(result: dict, command: str) -> str:
    rows = "\n".join(
        f"| {label} | {run['wall_seconds']:.1f} | {result['overhead_ratio'][label]:.2f} | "
        f"{run['stage_seconds']['raw_conversations'] + run['stage_seconds']['facets']:.1f} | "
        f"{run['stage_seconds']['summary_embeddings']:.1f} | {run['stage_seconds']['published_clusters']:.1f} | "
        f"{'yes' if run.get('public_rows_equal_local', True) else '**no**'} |"
        for label, run in result["runs"].items())
    h = result["housekeeping"]
    keep = "\n".join(f"| {db} lake | {h[db]['files_before']} → {h[db]['files_after']} | "
                     f"{h[db]['bytes_before']:,} → {h[db]['bytes_after']:,} |" for db in ("private", "public"))
    t = result["per_worker_conversations_per_second"]
    return f"""{SECTION_START}
## Lake storage against local DuckDB files ({result['date']}, {result['machine']['cpus']} CPUs)

Command: {command}. The bundled sample ({result['conversations']} conversations, {len(result['days'])} days), every
daily asset in one process, offline, {result['embedding_model']} preloaded; PostgreSQL 18 (embedded) for both
lakes' catalogs, data in folders or on the S3 emulator (moto). *public rows equal*: every public table of the lake
equals the local run's, row for row.

| storage | wall s | ratio to local | ingest + facets s | embeddings s | publish s | public rows equal |
|---|---:|---:|---:|---:|---:|---|
{rows}

Housekeeping (`clio lake housekeep`, retention 0) after every day was replaced once more on the S3 lake:

| lake | files | bytes |
|---|---|---|
{keep}

Public rows still equal after housekeeping: {'yes' if h['public_rows_equal_local'] else '**no**'}.

Per-worker throughput (one process, 2 cores, from the local run): facets {t['facets']:.0f} conversations/s,
embeddings {t['summary_embeddings']:.0f} conversations/s ({result['embedding_model']}), clustering
{t['base_clusters']:.0f} conversations/s. Peak RSS {result['peak_rss_mib']:.0f} MiB.
{SECTION_END}"""


if __name__ == "__main__":
    main()
