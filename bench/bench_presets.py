"""What each LLM preset costs and how many API calls it makes (README "Choosing the LLM backend").

    .venv/bin/python bench/bench_presets.py            # both parts, BENCHMARKS.md section rewritten
    .venv/bin/python bench/bench_presets.py --no-run   # the estimates only (the last run's table is kept)

1. `clio estimate --preset P` (cli.estimate_stages, the same code) for claude, claude-names and local, on one day
   of 100,000 conversations resampled from the bundled sample and the shared conversation sets (bench_scale's
   generator, same seed), and on the bundled sample itself.
2. The whole daily job of every day of the bundled sample with the claude-names preset, the real anthropic SDK
   talking to the loopback fake of the API (tests/fake_anthropic.py): API calls per day against the day's base
   clusters, and facet calls (none: facets are offline). Thresholds and k rule are the defaults; the embedder is
   all-MiniLM-L6-v2 (call counts follow k, which the embedder does not change).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from collections import Counter
from datetime import date
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

SECTION_START = "<!-- bench_presets:start -->"
SECTION_END = "<!-- bench_presets:end -->"
PRESETS = ("claude", "claude-names", "local")
LOCAL = {"openai_base_url": "http://127.0.0.1:8000/v1", "openai_model": "qwen2.5-7b-instruct"}


def estimate(preset: str, by_day: dict) -> dict:
    from clio_dagster.cli import estimate_stages
    from clio_dagster.settings import load_settings

    settings = load_settings(llm_preset=preset, home=Path(tempfile.gettempdir()) / "clio-bench-presets", **LOCAL)
    stages = estimate_stages(settings, by_day)
    facets = [e for e in stages if e.stage == "facets"]
    return {"calls": sum(e.calls for e in stages), "facet_calls": sum(e.calls for e in facets),
            "cost_interactive": round(sum(e.cost_interactive for e in stages), 2),
            "cost_batch": round(sum(e.cost_batch for e in stages), 2),
            # What a run costs with CLIO_CLAUDE_USE_BATCHES: facets through Message Batches, the rest interactive.
            "cost_facets_batched": round(sum(e.cost_interactive for e in stages)
                                         - sum(e.cost_interactive - e.cost_batch for e in facets), 2)}


def estimates() -> dict:
    from bench.bench_scale import load_pool, resample
    from clio_dagster.cli import _conversations_by_day
    from clio_dagster.settings import load_settings

    sample = _conversations_by_day(load_settings(), [], use_sample=True)
    pool = load_pool()
    day = [conversation for _, conversation in resample(pool, 100_000)]
    return {
        "sample_conversations": sum(len(v) for v in sample.values()),
        "sample": {preset: estimate(preset, sample) for preset in PRESETS},
        "day_100k": {preset: estimate(preset, {date(2023, 3, 1): day}) for preset in PRESETS},
    }


def run_claude_names() -> dict:
    """The daily job of each sample day under claude-names against the Anthropic fake."""
    import dagster as dg

    from clio_dagster.assets import DAILY_ASSETS
    from clio_dagster.resources import build_resources
    from clio_dagster.sample_data import stage_sample
    from clio_dagster.settings import load_settings
    from tests.fake_anthropic import FakeAnthropic

    os.environ.update({"ANTHROPIC_API_KEY": "bench-key", "CLIO_DEMO_MODE": "1"})
    days = []
    with tempfile.TemporaryDirectory() as home, FakeAnthropic(api_key="bench-key") as fake:
        settings = load_settings(home=home, llm_preset="claude-names", claude_base_url=fake.base_url, demo_mode=True,
                                 embedding_model="all-MiniLM-L6-v2", language_neutral=False)
        staged = stage_sample(settings.landing_dir)
        for day in sorted(staged):
            before = len(fake.message_requests)
            started = time.perf_counter()
            result = dg.materialize(DAILY_ASSETS, partition_key=day, resources=build_resources(settings),
                                    instance=dg.DagsterInstance.ephemeral())
            requests = fake.message_requests[before:]
            k = next(e.materialization.metadata["k"].value for e in result.get_asset_materialization_events()
                     if e.asset_key.to_user_string() == "base_clusters")
            tasks = Counter(r["json"]["tool_choice"]["name"].removeprefix("record_") for r in requests)
            days.append({"day": day, "conversations": staged[day], "base_clusters": k, "api_calls": len(requests),
                         "calls_per_base_cluster": round(len(requests) / k, 2), "facet_calls": tasks["extract_facets"],
                         "calls_by_task": dict(sorted(tasks.items())), "seconds": round(time.perf_counter() - started, 1),
                         "success": result.success})
    return {"days": days}


def section(result: dict) -> str:
    est, run = result["estimates"], result.get("claude_names_run")
    lines = [SECTION_START, f"## LLM presets: cost per 100k conversations and API calls ({result['date']})", "",
             "Command: `.venv/bin/python bench/bench_presets.py` (the estimate is `clio estimate --preset P`, the "
             "same code; prices per million tokens: haiku $1 / $5, sonnet $3 / $15; local: $0 by default).", "",
             "| preset | what is an LLM call | calls, 100k in one day | facet calls | interactive | facets batched | "
             "every stage at batch price | sample: per 1,000 (interactive) |", "|---|---|---:|---:|---:|---:|---:|---:|"]
    what = {"claude": "every task", "claude-names": "cluster-level tasks only",
            "local": "every task, on your own server"}
    n = est["sample_conversations"]
    for preset in PRESETS:
        day, sample = est["day_100k"][preset], est["sample"][preset]
        lines.append(f"| {preset} | {what[preset]} | {day['calls']:,} | {day['facet_calls']:,} | "
                     f"${day['cost_interactive']:,.2f} | ${day['cost_facets_batched']:,.2f} | ${day['cost_batch']:,.2f} | "
                     f"${1000 * sample['cost_interactive'] / n:.3f} |")
    lines += ["", "A run with CLIO_CLAUDE_USE_BATCHES sends only facets through the Message Batches API (half price): "
              "the 'facets batched' column. claude-names makes no facet call, so it pays the interactive price; "
              "'every stage at batch price' is what `clio estimate` prints as its batch column. At 100k a day "
              "k is 2,000 base clusters, each named from 100 summaries, which is most of claude-names' cost."]
    if run:
        lines += ["", "The daily job under claude-names on the bundled sample, the anthropic SDK against the loopback "
                  "fake of the API (default thresholds and k rule; all-MiniLM-L6-v2):", "",
                  "| day | conversations | base clusters | API calls | calls per base cluster | facet calls | "
                  "calls by task |", "|---|---:|---:|---:|---:|---:|---|"]
        for d in run["days"]:
            by_task = ", ".join(f"{t} {c}" for t, c in d["calls_by_task"].items())
            lines.append(f"| {d['day']} | {d['conversations']} | {d['base_clusters']} | {d['api_calls']} | "
                         f"{d['calls_per_base_cluster']} | {d['facet_calls']} | {by_task} |")
        worst = max(d["calls_per_base_cluster"] for d in run["days"])
        lines += ["", f"At most **{worst} API calls per base cluster** in a day (target: <= 10), and 0 facet calls."]
    return "\n".join(lines + [SECTION_END])


def main() -> None:
    from bench.bench_pipeline import update_section

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--no-run", action="store_true", help="only the estimates")
    args = parser.parse_args()
    result = {"benchmark": "bench_presets", "date": date.today().isoformat(), "estimates": estimates()}
    out = ROOT / "bench" / "results" / "bench_presets.json"
    if not args.no_run:
        result["claude_names_run"] = run_claude_names()
    elif out.is_file():  # keep the last measured run
        result["claude_names_run"] = json.loads(out.read_text(encoding="utf-8")).get("claude_names_run")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    update_section(section(result), SECTION_START, SECTION_END)
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
