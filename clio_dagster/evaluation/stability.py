"""Stability: does the offline pipeline give the same clusters when only the seed, or a tenth of the data, changes?

    clio eval stability [--data FILE.jsonl[.gz]] [--seeds A B] [--fraction 0.9] [--subsample-seed S] [--per-day N]

Three runs of every daily asset (the same Dagster assets `clio run` materialises, offline backend), each in
its own temporary home: seed A; seed B; seed A on a seeded `fraction` subsample of every day. Run A is
compared with each other run:

* `ari`: adjusted Rand index between the base-cluster assignments (`base_cluster_members`), per day over the
  conversations present in both runs, then averaged over days weighted by those conversations. Clusters are
  cut per day, so a pooled ARI over all days would count every cross-day pair as agreement.
* `topics_matched`: published clusters (every level) of run A matched one-to-one to the other run's, per day
  and level, with the topic matcher of `clio_dagster.core.topics` (Hungarian assignment on the cosine of
  "name: description" embeddings, accepted at `topic_match_threshold`). `topics_matched_fraction` is the
  share of run A's published clusters that found a partner; `..._other` the share of the other run's.

Data: the bundled sample (default) or `--data`, a JSONL file of conversations in any accepted shape; each
record is staged under the UTC day of its timestamp (undated records: `partitions_start`). Thresholds and
the k rule come from the usual settings (CLIO_* variables or clio.toml). Prints one JSON object.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import tempfile
import time
from collections import Counter, defaultdict
from datetime import date, timedelta
from pathlib import Path

from clio_dagster.evaluation.staging import DayLines, conversation_lines_by_day, stage_lines
from clio_dagster.settings import ClioSettings, SettingsError, load_settings

STAGED_FILE = "conversations.jsonl"


def subsample(lines: DayLines, fraction: float, seed: int) -> DayLines:
    """round(fraction * n) lines of every day, chosen with `seed`, in their original order."""
    if not 0 < fraction <= 1:
        raise SettingsError(f"--fraction must be in (0, 1], not {fraction}.")
    rng = random.Random(seed)
    kept = {}
    for day in lines.days:
        day_lines = lines.by_day[day]
        keep = sorted(rng.sample(range(len(day_lines)), round(fraction * len(day_lines))))
        kept[day] = [day_lines[i] for i in keep]
    return DayLines(kept, lines.rejected)


def run_pipeline(settings: ClioSettings, lines: DayLines) -> None:
    """Stage `lines` under settings.home and materialise every daily asset for each day, offline."""
    from clio_dagster.runner import run_partitions

    for day in lines.days:
        stage_lines(settings.landing_dir, day, STAGED_FILE, lines.by_day[day])
    with open(os.devnull, "w") as quiet:
        ok = run_partitions(settings, [date.fromisoformat(d) for d in lines.days], out=quiet)
    if not ok:
        raise RuntimeError(f"the pipeline failed on a partition (run `clio run` with CLIO_HOME={settings.home})")


def _assignments(settings: ClioSettings) -> dict[str, dict[str, int]]:
    """Base-cluster id of every clustered conversation, by ISO day (private DB; ids stay in this process)."""
    import duckdb

    con = duckdb.connect(str(settings.private_db), read_only=True)
    try:
        rows = con.execute(
            "SELECT partition_date, conversation_id, cluster_id FROM base_cluster_members ORDER BY 1, 2"
        ).fetchall()
    finally:
        con.close()
    by_day: dict[str, dict[str, int]] = defaultdict(dict)
    for day, conversation_id, cluster_id in rows:
        by_day[day.isoformat()][conversation_id] = cluster_id
    return dict(by_day)


def _published(settings: ClioSettings) -> list[tuple]:
    """(day, level, cluster_id, name, description, conversations, unique_users, share, concerning_mean)."""
    import duckdb

    con = duckdb.connect(str(settings.public_db), read_only=True)
    try:
        return con.execute(
            "SELECT partition_date, level, cluster_id, name, description, conversations, unique_users, share, "
            "concerning_mean FROM published_clusters ORDER BY partition_date, level, cluster_id"
        ).fetchall()
    finally:
        con.close()


def assignment_agreement(run_a: dict[str, dict[str, int]], run_b: dict[str, dict[str, int]]) -> dict:
    """ARI per day over the conversations both runs clustered, and its mean weighted by those conversations."""
    from clio_dagster.evaluation.metrics import ari

    by_day = {}
    weighted = common_total = 0
    for day in sorted(set(run_a) & set(run_b)):
        common = sorted(set(run_a[day]) & set(run_b[day]))
        if not common:
            continue
        score = ari([run_a[day][c] for c in common], [run_b[day][c] for c in common])
        by_day[day] = {"ari": round(score, 4), "common_conversations": len(common)}
        weighted += score * len(common)
        common_total += len(common)
    return {
        "ari": round(weighted / common_total, 4) if common_total else None,
        "common_conversations": common_total,
        "ari_by_day": by_day,
    }


def topic_agreement(published_a: list[tuple], published_b: list[tuple], embed, threshold: float) -> dict:
    """Published clusters of run A matched one-to-one to run B's, per day and level, by the topic matcher.

    Each day is given to `match_topics` as two consecutive pseudo-days, run A's clusters then run B's, so a
    cluster of B continues a topic exactly when the matcher pairs it with a cluster of A of the same level."""
    import numpy as np

    from clio_dagster.assets.topics import topic_text
    from clio_dagster.core.topics import DayCluster, DayClusters, match_topics

    rows = published_a + published_b
    vectors = embed([topic_text(r[3], r[4]) for r in rows]) if rows else np.zeros((0, 0))
    clusters_a, clusters_b = defaultdict(list), defaultdict(list)
    for i, row in enumerate(rows):
        day, level, cluster_id, name, description, conversations, users, share, concerning = row
        cluster = DayCluster(level=level, cluster_id=cluster_id, name=name, description=description,
                             conversations=conversations, users=users, share=share,
                             concerning_mean=concerning, vector=vectors[i])
        (clusters_a if i < len(published_a) else clusters_b)[day].append(cluster)

    matched_by_level: dict[int, int] = defaultdict(int)
    for day in sorted(set(clusters_a) & set(clusters_b)):
        registry = match_topics([DayClusters(day, clusters_a[day]), DayClusters(day + timedelta(days=1),
                                                                                 clusters_b[day])],
                                threshold=threshold)
        for topic_day in registry.topic_days:
            if topic_day.day != day and topic_day.similarity is not None:
                matched_by_level[registry.topics[topic_day.topic_id].level] += 1

    levels = sorted({r[1] for r in rows})
    per_level_a = Counter(r[1] for r in published_a)
    per_level_b = Counter(r[1] for r in published_b)
    matched = sum(matched_by_level.values())
    return {
        "topics_matched": matched,
        "topics_matched_fraction": round(matched / len(published_a), 4) if published_a else None,
        "topics_matched_fraction_other": round(matched / len(published_b), 4) if published_b else None,
        "published": len(published_a),
        "published_other": len(published_b),
        "by_level": {
            str(level): {"published": per_level_a[level], "published_other": per_level_b[level],
                         "matched": matched_by_level[level]}
            for level in levels
        },
    }


def run_stability(
    settings: ClioSettings,
    data: Path | None = None,
    seeds: tuple[int, int] = (0, 1),
    fraction: float = 0.9,
    subsample_seed: int = 0,
    n_per_day: int | None = None,
    workdir: Path | None = None,
) -> dict:
    """Three offline runs (seed A, seed B, seed A on a subsample) under `workdir` (default: a temp dir,
    removed), compared with run A. `settings` gives thresholds, k rule and model; home and seed are set here."""
    from clio_dagster.core.embedding import SentenceEmbedder
    from clio_dagster.sample_data import sample_path

    started = time.perf_counter()
    source = Path(data) if data is not None else sample_path()
    lines = conversation_lines_by_day(source, n_per_day, undated_day=settings.partitions_start)
    if not lines.total:
        raise SettingsError(f"{source} holds no conversation the pipeline accepts.")
    runs = {
        "seed_a": (seeds[0], lines),
        "seed_b": (seeds[1], lines),
        "subsample": (seeds[0], subsample(lines, fraction, subsample_seed)),
    }
    assignments, published, seconds = {}, {}, {}
    with tempfile.TemporaryDirectory(dir=workdir) as tmp:
        for name, (seed, run_lines) in runs.items():
            run_settings = settings.model_copy(update={"home": Path(tmp) / name, "seed": seed,
                                                       "llm_backend": "offline"})
            run_started = time.perf_counter()
            run_pipeline(run_settings, run_lines)
            seconds[name] = round(time.perf_counter() - run_started, 1)
            assignments[name] = _assignments(run_settings)
            published[name] = _published(run_settings)

    embedder = SentenceEmbedder(settings.embedding_model, settings.embedding_device, settings.embedding_batch_size,
                                settings.e5_engine)
    comparisons = {}
    for other in ("seed_b", "subsample"):
        comparisons[f"seed_a_vs_{other}"] = {
            **assignment_agreement(assignments["seed_a"], assignments[other]),
            **topic_agreement(published["seed_a"], published[other], embedder.encode,
                              settings.topic_match_threshold),
        }
    return {
        "evaluation": "stability",
        "date": date.today().isoformat(),
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
        "data": "bundled sample" if data is None else str(source),
        "days": lines.days,
        "conversations": lines.total,
        "records_rejected": lines.rejected,
        "seeds": list(seeds),
        "subsample_fraction": fraction,
        "subsample_seed": subsample_seed,
        "topic_match_threshold": settings.topic_match_threshold,
        "target_cluster_size": settings.target_cluster_size,
        "min_unique_users": settings.min_unique_users,
        "min_conversations": settings.min_conversations,
        "runs": {
            name: {"seed": seed, "conversations": sum(len(v) for v in assignments[name].values()),
                   "base_clusters": sum(len(set(v.values())) for v in assignments[name].values()),
                   "published": len(published[name]), "seconds": seconds[name]}
            for name, (seed, _) in runs.items()
        },
        **comparisons,
        "seconds": round(time.perf_counter() - started, 1),
    }


def _cmd_stability(args: argparse.Namespace) -> int:
    # Evaluation homes are temporary and removed; the demo HMAC key is enough when none is configured.
    settings = load_settings(demo_mode=True)
    result = run_stability(settings, args.data, tuple(args.seeds), args.fraction, args.subsample_seed, args.per_day)
    print(json.dumps(result, ensure_ascii=False))
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "stability", help="ARI and topics matched across seeds and a 90%% subsample (prints one JSON object)",
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--data", type=Path, default=None,
                        help="a .jsonl or .jsonl.gz file of conversations (default: the bundled sample)")
    parser.add_argument("--seeds", type=int, nargs=2, default=[0, 1], metavar=("A", "B"),
                        help="the two seeds compared (default 0 1); the subsample run uses A")
    parser.add_argument("--fraction", type=float, default=0.9, help="share of each day kept in the subsample run")
    parser.add_argument("--subsample-seed", type=int, default=0)
    parser.add_argument("--per-day", type=int, default=None, help="at most N conversations per day (file order)")
    parser.set_defaults(func=_cmd_stability)
