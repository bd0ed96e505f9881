"""Scaling benchmark: one daily partition of 1k, 10k and 100k conversations through every daily asset, offline.

    .venv/bin/python bench/bench_scale.py [--sizes 1000 10000 100000] [--workdir DIR] [--keep]

Volume. The partition is synthesised by seeded resampling (with replacement) of real conversations: the bundled
sample plus the conversation sets in ../shared/data named in POOL_SOURCES (read from there at run time, never
copied; licences in each set's README: MIT / Apache-2.0 for hh_rlhf_harmless, oasst1_*, arena_hard_v01;
CC BY-NC 4.0 for alpaca_eval_gpt4; research use only for sharegpt_sample and lmsys_chat_sample, which is why
nothing of their text is written anywhere but the temporary landing folder; `--sources` leaves sets out).
Every copy gets a fresh conversation id, a timestamp on the benchmark day and a user id from a pool of n/4
users with heavy-tailed activity (weight of the r-th user ~ r^-0.5, so a few users have hundreds of
conversations and most have one or two, and distinct-user thresholds behave as on real traffic). The pool holds
about 4,900 distinct conversations, so a 100k partition repeats each ~20 times; copies after the first start
with a greeting/politeness opener made only of stop words ("Hi there. Could you help me with this?"), one of
~240, so their summaries (and embeddings) are distinct, as a real day's are, while their topic terms are not.

Measurement. Each size runs in a child process (fresh CLIO_HOME, fresh Dagster instance), which materialises
the daily assets for the partition, then materialises the unchanged partition again. The parent samples the
child's resident set (VmRSS of the process tree in /proc, every 0.2 s) and takes its exact peak from
wait4's ru_maxrss; per-stage peaks are the sampled maxima inside each step's start/end window from Dagster's
event log; per-stage times are the step durations Dagster records (as in bench_pipeline.py). The
child also times base clustering alone on the partition's embeddings (the micro-bench). The Claude cost per
size is `clio_dagster.llm.estimate.estimate_run` on the same synthetic conversations (as bench_llm_cost.py).
`os.getloadavg()` before and after each size is recorded: other jobs on a shared 2-core machine slow it.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.bench_pipeline import seconds_by_stage, update_section  # noqa: E402

SHARED = ROOT.parent / "shared" / "data"
POOL_SOURCES = ("hh_rlhf_harmless", "oasst1_en_val", "oasst1_en_modeleval", "oasst1_zh", "sharegpt_sample",
                "lmsys_chat_sample", "alpaca_eval_gpt4", "arena_hard_v01")
DAY = date(2023, 3, 1)
SEED = 20231
SECTION_START = "<!-- scale:start -->"
SECTION_END = "<!-- scale:end -->"
TARGETS = {"end_to_end_100k_seconds": 30 * 60, "peak_rss_100k_gib": 8.0, "base_clustering_100k_seconds": 60.0,
           "unchanged_rerun_ratio": 0.10}

# Openers made only of stop words and request filler (clio_dagster.core.naming.STOP_WORDS), so they vary the
# text without adding topic terms. Index 0 of each list is "nothing"; copy 0 of a conversation stays verbatim.
_GREETINGS = ["", "Hi.", "Hello.", "Hey.", "Hi there.", "Hello there.", "Hey there.", "Okay.", "Ok so.", "Yes.",
              "Sure.", "Thanks.", "Please.", "So.", "Well.", "Hello again."]
_ASKS = ["", "I have a question.", "I need help.", "Can you help me?", "Could you help me with this?",
         "Please help me.", "I would like to know something.", "Tell me please.", "I want to know.",
         "Help me please.", "Can you tell me?", "Thank you so much.", "I need some help with this.",
         "Could you please help?", "Something I want to know."]
# Chinese is named by character bigrams, so only filler bigrams (你好, 谢谢, 请问) with varied punctuation.
_GREETINGS_ZH = ["", "你好！", "你好，", "你好。", "谢谢！", "谢谢，", "谢谢。"]
_ASKS_ZH = ["", "请问，", "请问：", "请问。", "请问！", "请问？"]


def _openers(greetings: list[str], asks: list[str]) -> list[str]:
    return [" ".join(p for p in (g, a) if p) for g in greetings for a in asks]


OPENERS = _openers(_GREETINGS, _ASKS)
OPENERS_ZH = [o.replace(" ", "") for o in _openers(_GREETINGS_ZH, _ASKS_ZH)]


# ----------------------------------------------------------------------------------------------- the data
def load_pool(sources: tuple[str, ...] = POOL_SOURCES) -> list:
    """Distinct valid conversations (as the ingest parses them) of the bundled sample and `sources`."""
    from clio_dagster.core.ingest import Accepted, iter_landing_file
    from clio_dagster.sample_data import sample_path

    files = [sample_path()] + [SHARED / name / "conversations.jsonl" for name in sources]
    missing = [str(f) for f in files if not f.is_file()]
    if missing:
        raise SystemExit(f"Missing conversation sets: {', '.join(missing)} (expected ../shared/data next to the repo).")
    pool: dict[str, object] = {}
    for path in files:
        for item in iter_landing_file(path):
            if isinstance(item, Accepted):
                pool.setdefault(item.conversation.conversation_id, item.conversation)
    return [pool[k] for k in sorted(pool)]


def _is_cjk(text: str) -> bool:
    cjk = sum(1 for c in text[:200] if "\u3040" <= c <= "\u9fff" or "\uac00" <= c <= "\ud7af")
    return cjk > 0.3 * min(len(text), 200)


def resample(pool: list, n: int, day: date = DAY, seed: int = SEED):
    """Yield n (record dict, Conversation) pairs: seeded resampling of `pool` with fresh ids, users and times."""
    import numpy as np

    from clio_dagster.core.records import Conversation, Message

    rng = np.random.default_rng(seed + n)
    picks = rng.integers(0, len(pool), size=n)
    n_users = max(50, n // 4)
    weights = 1.0 / np.sqrt(np.arange(1, n_users + 1))
    users = rng.choice(n_users, size=n, p=weights / weights.sum())
    seconds = np.sort(rng.integers(0, 86_400, size=n))
    opener_order = rng.permutation(len(OPENERS) - 1) + 1
    opener_order_zh = rng.permutation(len(OPENERS_ZH) - 1) + 1
    copies: Counter[int] = Counter()
    start = datetime(day.year, day.month, day.day, tzinfo=UTC)
    for i in range(n):
        source = pool[int(picks[i])]
        copy = copies[int(picks[i])]
        copies[int(picks[i])] += 1
        messages = [{"role": m.role, "content": m.text} for m in source.messages]
        if copy:
            first_user = next(k for k, m in enumerate(messages) if m["role"] == "user")
            text = messages[first_user]["content"]
            if _is_cjk(text):
                opener = OPENERS_ZH[opener_order_zh[(copy - 1) % len(opener_order_zh)]]
                messages[first_user]["content"] = opener + text
            else:
                opener = OPENERS[opener_order[(copy - 1) % len(opener_order)]]
                messages[first_user]["content"] = f"{opener} {text}"
        ts = start + timedelta(seconds=int(seconds[i]))
        record = {"id": f"scale-{n}-{i:07d}", "user_id": f"scale-user-{int(users[i]):06d}",
                  "timestamp": ts.isoformat(), "messages": messages}
        conversation = Conversation(
            conversation_id=record["id"], user_id=record["user_id"], timestamp=ts,
            messages=tuple(Message(role=m["role"], text=m["content"]) for m in messages),
        )
        yield record, conversation


def write_partition(pool: list, n: int, landing: Path, day: date = DAY) -> tuple[dict, list]:
    """The partition's landing file (one JSONL, written as it is generated) and its conversations."""
    folder = landing / day.isoformat()
    folder.mkdir(parents=True, exist_ok=True)
    conversations, users = [], set()
    with (folder / "scale.jsonl").open("w", encoding="utf-8") as out:
        for record, conversation in resample(pool, n, day):
            out.write(json.dumps(record, ensure_ascii=False) + "\n")
            conversations.append(conversation)
            users.add(record["user_id"])
    stats = {"conversations": n, "users": len(users), "pool": len(pool),
             "landing_bytes": (folder / "scale.jsonl").stat().st_size}
    return stats, conversations


def claude_cost(conversations: list) -> dict:
    """Predicted Claude tokens and dollars for this partition (the estimate `clio estimate` prints)."""
    from clio_dagster.llm.estimate import estimate_run
    from clio_dagster.resources import build_resources
    from clio_dagster.settings import load_settings

    settings = load_settings(llm_backend="claude", home=Path(tempfile.gettempdir()) / "clio-bench-estimate")
    claude = build_resources(settings)["llm"].claude_settings()
    estimates = estimate_run([conversations], claude.models, claude.prices, claude.conversation_token_budget,
                             settings.target_cluster_size, settings.k_min, settings.k_max,
                             levels=settings.hierarchy_levels, naming_sample_size=settings.naming_sample_size)
    return {
        "stages": {e.stage: {"calls": e.calls, "input_tokens": e.input_tokens, "output_tokens": e.output_tokens,
                             "cost_interactive": round(e.cost_interactive, 4), "cost_batch": round(e.cost_batch, 4)}
                   for e in estimates},
        "cost_interactive": round(sum(e.cost_interactive for e in estimates), 2),
        "cost_batch": round(sum(e.cost_batch for e in estimates), 2),
    }


# --------------------------------------------------------------------------------------- the child process
def _step_windows(instance, run_id: str) -> dict[str, list[float]]:
    """step key -> [start, end] unix times from the run's event log."""
    windows: dict[str, list[float]] = {}
    for entry in instance.all_logs(run_id):
        event = entry.dagster_event
        if event is None or not event.step_key:
            continue
        if event.event_type_value == "STEP_START":
            windows[event.step_key] = [entry.timestamp, entry.timestamp]
        elif event.event_type_value in ("STEP_SUCCESS", "STEP_FAILURE") and event.step_key in windows:
            windows[event.step_key][1] = entry.timestamp
    return windows


def _metadata(result, stage: str, keys: tuple[str, ...]) -> dict:
    meta = result.asset_materializations_for_node(stage)[0].metadata
    return {k: meta[k].value for k in keys if k in meta}


def child(home: Path, out: Path, cluster_bench: bool, reference_kmeans: bool) -> None:
    """Materialise the partition, then again unchanged; then (optionally) base clustering alone."""
    os.environ.setdefault("CLIO_HMAC_SECRET", "bench-secret")
    import dagster as dg

    from clio_dagster.assets import DAILY_ASSETS
    from clio_dagster.cli import QUIET_RUN_CONFIG
    from clio_dagster.resources import build_resources
    from clio_dagster.settings import ClioSettings

    settings = ClioSettings(home=home, llm_backend="offline")
    resources = build_resources(settings)
    instance = dg.DagsterInstance.ephemeral()
    stages = [asset.key.path[-1] for asset in DAILY_ASSETS]
    report: dict = {"runs": [], "stages": stages}
    for label in ("first", "unchanged"):
        started = time.time()
        result = dg.materialize(DAILY_ASSETS, partition_key=DAY.isoformat(), resources=resources,
                                instance=instance, run_config=QUIET_RUN_CONFIG)
        ended = time.time()
        if not result.success:
            raise SystemExit(f"{label} run failed")
        report["runs"].append({
            "label": label, "start": started, "end": ended,
            "stage_seconds": seconds_by_stage(result, stages),
            "windows": _step_windows(instance, result.run_id),
            "details": {
                "summary_embeddings": _metadata(result, "summary_embeddings",
                                                ("encoded", "cache_hits", "encode_seconds", "texts_per_second")),
                "base_clusters": _metadata(result, "base_clusters", ("k", "fit_seconds", "largest_cluster")),
                "map_projection": _metadata(result, "map_projection", ("method",)),
                "published_clusters": _metadata(result, "published_clusters",
                                                ("dagster/row_count", "published_per_level")),
                "reused": sorted(s for s in stages if _metadata(result, s, ("reused",)).get("reused")),
            },
        })
    import duckdb

    con = duckdb.connect(str(settings.private_db), read_only=True)
    report["distinct_summaries"] = con.execute("SELECT count(DISTINCT request) FROM facets").fetchone()[0]
    report["facets"] = con.execute("SELECT count(*) FROM facets").fetchone()[0]
    con.close()
    if cluster_bench:
        report["base_clustering"] = clustering_microbench(settings, reference_kmeans)
    out.write_text(json.dumps(report), encoding="utf-8")


def clustering_microbench(settings, reference_kmeans: bool) -> dict:
    """base_clusters' k-means alone on the partition's embeddings: time, and quality against full k-means."""
    import numpy as np

    from clio_dagster.core.vectors import arrow_to_vectors
    from clio_dagster.core.clustering import choose_k, kmeans
    from clio_dagster.storage import Warehouse, load_sql, query_arrow

    with Warehouse(settings.private_db, settings.public_db).connect("private") as con:
        rows = query_arrow(con, load_sql("select_embeddings_for_clustering.sql"), [DAY])
    column = rows.column("embedding").combine_chunks()
    x = arrow_to_vectors(column, column.type.list_size)
    k = choose_k(len(x), settings.target_cluster_size, settings.k_min, settings.k_max)
    started = time.perf_counter()
    result = kmeans(x, k, settings.seed, settings.minibatch_threshold)
    seconds = time.perf_counter() - started
    out = {"n": len(x), "dim": int(x.shape[1]), "k": k, "seconds": round(seconds, 2),
           "inertia": float(np.square(result.distances.astype(np.float64)).sum())}
    if reference_kmeans:
        from sklearn.cluster import KMeans
        from sklearn.metrics import adjusted_rand_score
        from threadpoolctl import threadpool_limits

        started = time.perf_counter()
        with threadpool_limits(limits=1, user_api="blas"):  # as kmeans() runs it; see its docstring
            full = KMeans(n_clusters=k, random_state=settings.seed, n_init=1).fit(x)
        out["reference_full_kmeans"] = {
            "seconds": round(time.perf_counter() - started, 2), "inertia": float(full.inertia_),
            "inertia_ratio": round(out["inertia"] / float(full.inertia_), 4),
            "ari": round(float(adjusted_rand_score(full.labels_, result.labels)), 4),
        }
    return out


# -------------------------------------------------------------------------------------- the parent process
def _tree_rss_bytes(pid: int) -> int:
    """Resident set of `pid` and its descendants, from /proc (Linux)."""
    total, stack = 0, [pid]
    while stack:
        p = stack.pop()
        try:
            for line in Path(f"/proc/{p}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1]) * 1024
                    break
            for task in Path(f"/proc/{p}/task").iterdir():
                stack.extend(int(c) for c in (task / "children").read_text().split())
        except (OSError, ValueError):
            continue
    return total


def measure(n: int, pool: list, workdir: Path, cluster_bench: bool, reference_kmeans: bool, keep: bool) -> dict:
    home = Path(tempfile.mkdtemp(prefix=f"scale-{n}-", dir=workdir))
    try:
        generated = time.perf_counter()
        stats, conversations = write_partition(pool, n, home / "landing")
        stats["generate_seconds"] = round(time.perf_counter() - generated, 1)
        stats["claude_estimate"] = claude_cost(conversations)
        del conversations
        out = home / "child.json"
        load_before = os.getloadavg()
        cmd = [sys.executable, __file__, "--child", str(home), str(out)]
        cmd += ["--cluster-bench"] if cluster_bench else []
        cmd += ["--reference-kmeans"] if reference_kmeans else []
        samples: list[tuple[float, int]] = []
        loads: list[float] = []
        started = time.time()
        proc = subprocess.Popen(cmd, cwd=ROOT)
        done = threading.Event()

        def sample() -> None:
            while not done.is_set():
                samples.append((time.time(), _tree_rss_bytes(proc.pid)))
                if len(samples) % 25 == 1:  # every 5 s: how busy the machine was while this size ran
                    loads.append(os.getloadavg()[0])
                done.wait(0.2)

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        _, status, usage = os.wait4(proc.pid, 0)
        proc.returncode = os.waitstatus_to_exitcode(status)
        ended = time.time()
        done.set()
        sampler.join()
        if proc.returncode != 0:
            raise SystemExit(f"benchmark child for n={n} failed with exit code {proc.returncode}")
        report = json.loads(out.read_text(encoding="utf-8"))
        summary = summarise_size(n, stats, report, samples, started, ended, usage.ru_maxrss, load_before)
        summary["loadavg_during"] = {"mean": round(sum(loads) / len(loads), 2), "max": round(max(loads), 2)}
        return summary
    finally:
        if keep:
            print(f"kept {home}", file=sys.stderr)
        else:
            shutil.rmtree(home, ignore_errors=True)


def _peak_mib(samples: list[tuple[float, int]], start: float, end: float) -> float:
    inside = [rss for t, rss in samples if start <= t <= end + 0.2]
    return round(max(inside, default=0) / 2**20, 1)


def summarise_size(n, stats, report, samples, started, ended, maxrss_kib, load_before) -> dict:
    first, rerun = report["runs"]
    stages = {}
    for stage in report["stages"]:
        seconds = first["stage_seconds"][stage]
        window = first["windows"].get(stage, [0.0, 0.0])
        stages[stage] = {
            "seconds": round(seconds, 2),
            "conversations_per_second": round(n / seconds, 1) if seconds else None,
            "peak_rss_mib": _peak_mib(samples, *window),
            "rerun_seconds": round(rerun["stage_seconds"][stage], 2),
        }
    first_wall = first["end"] - first["start"]
    rerun_wall = rerun["end"] - rerun["start"]
    return {
        "conversations": n,
        "data": {k: v for k, v in stats.items() if k != "claude_estimate"}
        | {"distinct_summaries": report["distinct_summaries"], "facet_rows": report["facets"]},
        "end_to_end_seconds": round(first["end"] - started, 1),  # child start (imports, model load) to first run done
        "first_run_seconds": round(first_wall, 1),
        "rerun_seconds": round(rerun_wall, 1),
        "rerun_ratio": round(rerun_wall / first_wall, 4),
        "rerun_reused_stages": rerun["details"]["reused"],
        "peak_rss_mib": round(maxrss_kib / 1024, 1),  # whole child: both runs and the micro-bench
        "peak_rss_first_run_mib": _peak_mib(samples, started, first["end"]),
        "stages": stages,
        "details": first["details"],
        "base_clustering": report.get("base_clustering"),
        "claude_estimate": stats["claude_estimate"],
        "loadavg_before": [round(x, 2) for x in load_before],
        "loadavg_after": [round(x, 2) for x in os.getloadavg()],
        "child_seconds": round(ended - started, 1),
    }


def growth(sizes: list[dict]) -> dict:
    """Exponent b of time ~ n^b between consecutive sizes, per stage and end to end (1 = linear)."""
    out: dict[str, dict[str, float]] = {}
    for a, b in zip(sizes, sizes[1:]):
        ratio = math.log(b["conversations"] / a["conversations"])
        span = f"{a['conversations']}->{b['conversations']}"
        series = {stage: (a["stages"][stage]["seconds"], b["stages"][stage]["seconds"])
                  for stage in a["stages"] if stage in b["stages"]}
        series["first_run"] = (a["first_run_seconds"], b["first_run_seconds"])
        series["peak_rss"] = (a["peak_rss_first_run_mib"], b["peak_rss_first_run_mib"])
        series["claude_cost"] = (a["claude_estimate"]["cost_interactive"], b["claude_estimate"]["cost_interactive"])
        out[span] = {k: round(math.log(y / x) / ratio, 2) for k, (x, y) in series.items() if x > 0 and y > 0}
    return out


def targets(sizes: list[dict]) -> dict:
    big = next((s for s in sizes if s["conversations"] >= 100_000), None)
    out = {}
    for s in sizes:
        out[f"unchanged_rerun_ratio_{s['conversations']}"] = {
            "value": s["rerun_ratio"], "target": TARGETS["unchanged_rerun_ratio"],
            "pass": s["rerun_ratio"] < TARGETS["unchanged_rerun_ratio"]}
    if big:
        clustering = big.get("base_clustering") or {}
        out["end_to_end_100k_seconds"] = {"value": big["end_to_end_seconds"], "target": TARGETS["end_to_end_100k_seconds"],
                                          "pass": big["end_to_end_seconds"] < TARGETS["end_to_end_100k_seconds"]}
        peak_gib = big["peak_rss_first_run_mib"] / 1024
        out["peak_rss_100k_gib"] = {"value": round(peak_gib, 2), "target": TARGETS["peak_rss_100k_gib"],
                                    "pass": peak_gib < TARGETS["peak_rss_100k_gib"]}
        if clustering:
            out["base_clustering_100k_seconds"] = {
                "value": clustering["seconds"], "target": TARGETS["base_clustering_100k_seconds"],
                "pass": clustering["seconds"] < TARGETS["base_clustering_100k_seconds"]}
    return out


def markdown(result: dict, command: str) -> str:
    def mark(key: str) -> str:
        t = result["targets"].get(key)
        return "" if t is None else ("**pass**" if t["pass"] else "**MISS**")

    sizes = result["sizes"]
    header = "| stage | " + " | ".join(f"{s['conversations']:,}: s (conv/s, peak MiB)" for s in sizes) + " |"
    rows = [header, "|---|" + "---:|" * len(sizes)]
    for stage in sizes[0]["stages"]:
        cells = []
        for s in sizes:
            st = s["stages"].get(stage, {"seconds": 0.0, "conversations_per_second": None, "peak_rss_mib": 0})
            rate = f"{st['conversations_per_second']:,.0f}" if st["conversations_per_second"] else "-"
            cells.append(f"{st['seconds']:.1f} ({rate}, {st['peak_rss_mib']:,.0f})")
        rows.append(f"| {stage} | " + " | ".join(cells) + " |")
    summary = ["| measure | " + " | ".join(f"{s['conversations']:,}" for s in sizes) + " |",
               "|---|" + "---:|" * len(sizes)]
    for label, fmt in (
        ("distinct summaries", lambda s: f"{s['data']['distinct_summaries']:,}"),
        ("users", lambda s: f"{s['data']['users']:,}"),
        ("end to end, process start to first run done (s)", lambda s: f"{s['end_to_end_seconds']:.0f}"),
        ("first run, materialize only (s)", lambda s: f"{s['first_run_seconds']:.0f}"),
        ("peak RSS, first run (MiB)", lambda s: f"{s['peak_rss_first_run_mib']:,.0f}"),
        ("unchanged re-run (s)", lambda s: f"{s['rerun_seconds']:.1f}"),
        ("re-run / first run", lambda s: f"{s['rerun_ratio']:.1%} {mark('unchanged_rerun_ratio_' + str(s['conversations']))}"),
        ("base clustering alone (s, k)", lambda s: f"{s['base_clustering']['seconds']:.1f}, k={s['base_clustering']['k']}"
            if s.get("base_clustering") else "-"),
        ("Claude estimate, interactive / batch ($)", lambda s: f"{s['claude_estimate']['cost_interactive']:,.2f} / "
                                                             f"{s['claude_estimate']['cost_batch']:,.2f}"),
        ("load average (1 min): before, during (mean / max)", lambda s: f"{s['loadavg_before'][0]:.1f}, "
            + (f"{s['loadavg_during']['mean']:.1f} / {s['loadavg_during']['max']:.1f}" if "loadavg_during" in s
               else "not recorded")),
    ):
        summary.append(f"| {label} | " + " | ".join(fmt(s) for s in sizes) + " |")
    target_rows = "\n".join(f"| {k} | {v['value']} | < {v['target']} | {'pass' if v['pass'] else 'MISS'} |"
                            for k, v in result["targets"].items())
    embedder = result.get("embedder", "all-MiniLM-L6-v2")  # results written before the field: November's default
    limits = "\n".join(f"- {line}" for line in limiting_factors(sizes[-1], embedder))
    growth_rows = "\n".join(
        f"| {span} | " + ", ".join(f"{k} {v}" for k, v in exps.items()) + " |" for span, exps in result["growth"].items())
    return f"""{SECTION_START}
## Scaling: one partition of 1k / 10k / 100k conversations, offline ({result['date']}, {result['machine']['cpus']} CPUs)

Embedder: {embedder}. Command: `{command}` (volume by seeded resampling of real conversations, see the
docstring of `bench/bench_scale.py`; each size in a fresh child process whose whole resident set is measured).

{chr(10).join(summary)}

Per stage, first run: seconds (conversations per second, peak RSS of the process during the stage in MiB):

{chr(10).join(rows)}

Growth exponent b in time ~ n^b (1 = linear):

| sizes | exponents |
|---|---|
{growth_rows}

| target | value | target | result |
|---|---:|---:|---|
{target_rows}

What limits the largest size ({sizes[-1]['conversations']:,} conversations):

{limits}
{SECTION_END}"""


BUSY_LOAD = 2.5


def _idle_encode_rate() -> float | None:
    """bench_pipeline's bare sentence-transformers encode rate, measured on an idle machine."""
    path = ROOT / "bench" / "results" / "pipeline_sample.json"
    if not path.is_file():
        return None
    return json.loads(path.read_text(encoding="utf-8")).get("embedding", {}).get("bare_encode_texts_per_second")


def embedder_description() -> str:
    """The embedding model the sizes ran with (from the environment, as the children read it)."""
    from clio_dagster.settings import ClioSettings

    settings = ClioSettings()
    engine = f" on {settings.e5_engine}" if "e5" in settings.embedding_model else ""
    centring = ", language-neutral centring" if settings.language_neutral else ""
    return f"{settings.embedding_model}{engine}{centring}"


def limiting_factors(size: dict, embedder: str) -> list[str]:
    """Plain statements, from the measurements, of where the time and memory of one size go."""
    first = size["first_run_seconds"]
    stages = sorted(size["stages"].items(), key=lambda kv: -kv[1]["seconds"])
    lines = [", ".join(f"{name} {st['seconds']:.0f} s ({st['seconds'] / first:.0%})" for name, st in stages[:4])
             + f" of the {first:.0f} s first run."]
    embedding = size["details"].get("summary_embeddings", {})
    if embedding.get("texts_per_second"):
        load = size.get("loadavg_during", {}).get("mean", size["loadavg_before"][0])
        lines.append(f"Encoding {embedding['encoded']:,} distinct summaries with {embedder} on the CPU ran at "
                     f"{embedding['texts_per_second']:.0f} texts/s (mean load average {load:.1f} while the size "
                     "ran): the model's forward pass, not the pipeline, sets the end-to-end time.")
        idle = _idle_encode_rate()
        # Only worth saying when other jobs shared the machine (the benchmark alone keeps the load near 2).
        if idle and load > BUSY_LOAD:
            rest = first - embedding["encode_seconds"]
            lines.append(f"Projection, not a measurement: at the bare `encode` rate measured on an idle machine "
                         f"({idle:.0f} texts/s, bench_pipeline above) encoding would take "
                         f"{embedding['encoded'] / idle:.0f} s, and the first run about "
                         f"{rest + embedding['encoded'] / idle:.0f} s with the other stages as measured here.")
    clustering = size.get("base_clustering") or {}
    reference = clustering.get("reference_full_kmeans")
    if clustering:
        line = (f"Base clustering alone: {clustering['seconds']:.1f} s for {clustering['n']:,} x {clustering['dim']} "
                f"into k = {clustering['k']:,} (inside the pipeline run: "
                f"{size['details']['base_clusters'].get('fit_seconds', 0):.1f} s)")
        if reference:
            line += (f"; its inertia is {reference['inertia_ratio']:.3f}x that of k-means seeded from all points "
                     f"instead of a 20k sample, which takes {reference['seconds']:.0f} s (ARI between the two "
                     f"{reference['ari']:.2f})")
        lines.append(line + ".")
    peak = max(size["stages"].items(), key=lambda kv: kv[1]["peak_rss_mib"])
    lines.append(f"Peak memory {size['peak_rss_first_run_mib']:,.0f} MiB, highest during {peak[0]} "
                 f"({peak[1]['peak_rss_mib']:,.0f} MiB).")
    lines.append(f"Unchanged re-run {size['rerun_seconds']:.1f} s: the stages that kept their stored output "
                 f"({', '.join(size['rerun_reused_stages'])}) only digest their inputs; the rest recompute "
                 "(raw_conversations re-reads the landing files; published_clusters and explorer rewrite the "
                 "public DB and its checks).")
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[1_000, 10_000, 100_000])
    parser.add_argument("--workdir", type=Path, default=None, help="where the temporary CLIO_HOMEs go")
    parser.add_argument("--sources", nargs="+", default=list(POOL_SOURCES), choices=POOL_SOURCES)
    parser.add_argument("--reference-kmeans", action="store_true",
                        help="also fit k-means seeded from all points (greedy k-means++, one run) on the largest size, "
                             "to compare inertia and ARI with the pipeline's clustering (slow)")
    parser.add_argument("--keep", action="store_true", help="keep the temporary CLIO_HOMEs")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "scale.json")
    parser.add_argument("--no-markdown", action="store_true", help="do not rewrite BENCHMARKS.md")
    parser.add_argument("--markdown-only", action="store_true",
                        help="rewrite the BENCHMARKS.md section from the JSON at --out, without running anything")
    parser.add_argument("--child", nargs=2, metavar=("HOME", "OUT"), help=argparse.SUPPRESS)
    parser.add_argument("--cluster-bench", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(Path(args.child[0]), Path(args.child[1]), args.cluster_bench, args.reference_kmeans)
        return

    if args.markdown_only:
        result = json.loads(args.out.read_text(encoding="utf-8"))
        update_section(markdown(result, result.get("command", ".venv/bin/python bench/bench_scale.py")),
                       SECTION_START, SECTION_END)
        return
    sizes = sorted(set(args.sizes))
    pool = load_pool(tuple(args.sources))
    workdir = args.workdir or Path(tempfile.gettempdir())
    workdir.mkdir(parents=True, exist_ok=True)
    measured = []
    for n in sizes:
        print(f"n={n}: running", file=sys.stderr, flush=True)
        measured.append(measure(n, pool, workdir, cluster_bench=n == sizes[-1],
                                reference_kmeans=args.reference_kmeans and n == sizes[-1], keep=args.keep))
        print(json.dumps({k: measured[-1][k] for k in ("conversations", "end_to_end_seconds", "rerun_ratio",
                                                       "peak_rss_first_run_mib")}), file=sys.stderr, flush=True)
    command = ".venv/bin/python bench/bench_scale.py" + ("" if sizes == [1_000, 10_000, 100_000]
                                                         else " --sizes " + " ".join(map(str, sizes)))
    command += " --reference-kmeans" if args.reference_kmeans else ""
    result = {
        "benchmark": "bench_scale",
        "command": command,
        "date": date.today().isoformat(),
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "platform": platform.platform()},
        "partition": DAY.isoformat(),
        "seed": SEED,
        "embedder": embedder_description(),
        "sources": ["bundled sample", *args.sources],
        "sizes": measured,
        "growth": growth(measured),
        "targets": targets(measured),
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    if not args.no_markdown:
        update_section(markdown(result, command), SECTION_START, SECTION_END)
    print(json.dumps(result["targets"], indent=2))


if __name__ == "__main__":
    main()
