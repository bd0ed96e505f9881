"""Reconstruction judged by the names a person sees (`clio eval reconstruct --assign names`).

The labelled texts go through the pipeline itself: staged as one day of single-turn conversations (one
user each) in a throw-away home, then materialised from `raw_conversations` to `published_clusters` with
the configured backend, embedder, thresholds and auditor. Only what the public DB holds is judged: a judge
embedder (default all-MiniLM-L6-v2, fixed, so changing the pipeline's embedder does not change the judge)
encodes each published base cluster's "name. description" and each category's readable name (plus its
sub-categories' names where the set has `--top` above `--label`); a cluster goes to the category of the
nearest of those anchors, and every item inherits its cluster's category. An item in an unpublished cluster
(suppressed by the thresholds or the auditor) counts as wrong.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from contextlib import contextmanager
from datetime import date
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from clio_dagster.core.naming import generic_shares

DEFAULT_JUDGE_MODEL = "all-MiniLM-L6-v2"
HMAC_SECRET_ENV = "CLIO_HMAC_SECRET"
NAME_EVAL_ASSETS = ("raw_conversations", "facets", "summary_embeddings", "base_clusters", "cluster_names",
                    "hierarchy", "privacy_audit", "published_clusters")


def stage_labelled_day(data: Any, landing_dir: Path, day: date) -> Path:
    """The labelled texts as one landing file of single-turn conversations, item i by user i."""
    folder = landing_dir / day.isoformat()
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "labelled.jsonl"
    with path.open("w", encoding="utf-8") as fh:
        for i, text in enumerate(data.texts):
            fh.write(json.dumps({"id": item_id(i), "user_id": f"user-{i:07d}", "timestamp": f"{day}T12:00:00Z",
                                 "messages": [{"role": "user", "content": text}]}, ensure_ascii=False) + "\n")
    return path


def item_id(index: int) -> str:
    return f"item-{index:07d}"


def judge_clusters(cluster_texts: list[str], anchor_texts: list[str], owners: list[int], judge: Any) -> list[int]:
    """Per cluster text, the owner (category index) of the nearest anchor text by cosine similarity."""
    if not cluster_texts:
        return []
    vectors = np.asarray(judge.encode(cluster_texts + anchor_texts), dtype=np.float32)
    vectors /= np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)
    similarity = vectors[: len(cluster_texts)] @ vectors[len(cluster_texts):].T
    return [owners[int(j)] for j in similarity.argmax(axis=1)]


def clustering_ceiling(items: pl.DataFrame) -> float:
    """The accuracy of the best names the published base clusters could have: each named as its most common
    category. Whatever names say, an item outside that category, or in an unpublished cluster, is wrong; so
    the accuracy judged by names is at most this, and the gap between them is the names' share of the loss.
    `items`: one row per item with its `category`, `cluster_id` and `published` (bool)."""
    if items.is_empty():
        return 0.0
    best = (items.filter(pl.col("published"))
            .group_by("cluster_id", "category").len()
            .group_by("cluster_id").agg(pl.col("len").max())
            .get_column("len").sum())
    return best / items.height


@contextmanager
def _evaluation_secret(seed: int):
    """The staged users are synthetic ("user-0000001"), so an evaluation needs no real secret: one fixed by the
    seed lets `clio eval reconstruct` run where CLIO_HMAC_SECRET is unset, and keeps the caller's secret out of
    the run. The caller's value is restored afterwards."""
    previous = os.environ.get(HMAC_SECRET_ENV)
    os.environ[HMAC_SECRET_ENV] = hashlib.sha256(f"clio-eval-labelled-set-{seed}".encode()).hexdigest()
    try:
        yield
    finally:
        if previous is None:
            os.environ.pop(HMAC_SECRET_ENV, None)
        else:
            os.environ[HMAC_SECRET_ENV] = previous


def run_pipeline_on(data: Any, settings: Any, day: date, home: Path) -> tuple[pl.DataFrame, list[dict]]:
    """Materialise the naming path for `data` under `home`; (conversation_id, cluster_id) per clustered item,
    and the published clusters with their names, descriptions and member counts."""
    import duckdb

    from clio_dagster.assets import DAILY_ASSETS
    from clio_dagster.runner import run_partitions
    from clio_dagster.storage import query_arrow

    run_settings = settings.model_copy(update={"home": home, "namespace": None})
    stage_labelled_day(data, run_settings.landing_dir, day)
    assets = [a for a in DAILY_ASSETS if a.key.to_user_string() in NAME_EVAL_ASSETS]
    log = home / "run.log"
    with log.open("w", encoding="utf-8") as out, _evaluation_secret(settings.seed):
        ok = run_partitions(run_settings, [day], out=out, assets=assets)
    if not ok:
        raise RuntimeError(f"The pipeline failed on the labelled set: {log.read_text(encoding='utf-8').strip()}")
    with duckdb.connect(str(run_settings.private_db), read_only=True) as con:
        members = pl.from_arrow(query_arrow(
            con, "SELECT conversation_id, cluster_id::BIGINT AS cluster_id FROM base_cluster_members "
            "WHERE partition_date = ? ORDER BY conversation_id", [day]))
    with duckdb.connect(str(run_settings.public_db), read_only=True) as con:
        published = pl.from_arrow(query_arrow(
            con, "SELECT cluster_id, level, name, description, conversations FROM published_clusters "
            "WHERE partition_date = ? ORDER BY level, cluster_id", [day])).to_dicts()
    return members, published


def judged_items(data: Any, members: pl.DataFrame, judged: pl.DataFrame) -> pl.DataFrame:
    """One row per labelled item, in input order: its category and language, its base cluster (null when
    unclustered), whether that cluster was published, and the category its name was judged to be (null when
    unpublished). `judged`: (cluster_id, predicted) per published base cluster."""
    languages = list(data.languages) if data.languages is not None else [None] * len(data.texts)
    items = pl.DataFrame({"conversation_id": [item_id(i) for i in range(len(data.texts))],
                          "category": list(data.categories), "language": languages},
                         schema={"conversation_id": pl.String, "category": pl.String, "language": pl.String})
    return (items.with_row_index("row")
            .join(members, on="conversation_id", how="left")
            .join(judged, on="cluster_id", how="left")
            .with_columns(published=pl.col("predicted").is_not_null(),
                          correct=(pl.col("predicted") == pl.col("category")).fill_null(False))
            .sort("row"))


def reconstruct_by_names(data: Any, settings: Any, judge: Any, judge_model: str, day: date = date(2024, 1, 1),
                         keep_home: Path | None = None) -> dict[str, Any]:
    """Accuracy of the categories recovered from the published names (module doc), with coverage, the share
    of items under a generic name per level, and per-language figures."""
    from clio_dagster.evaluation.categories import category_anchors
    from clio_dagster.evaluation.metrics import macro_f1

    categories = data.category_names
    with tempfile.TemporaryDirectory(prefix="clio-names-eval-") as scratch:
        home = keep_home or Path(scratch)
        members, published = run_pipeline_on(data, settings, day, home)
    base = [p for p in published if p["level"] == 0]
    anchor_texts, owners = category_anchors(categories, data.taxonomy)
    chosen = judge_clusters([f"{p['name']}. {p['description']}" for p in base], anchor_texts, owners, judge)
    judged = pl.DataFrame({"cluster_id": [int(p["cluster_id"][1:]) for p in base],
                           "predicted": [categories[c] for c in chosen]},
                          schema={"cluster_id": pl.Int64, "predicted": pl.String})
    items = judged_items(data, members, judged)

    result: dict[str, Any] = {
        "assignment": "names: judge embedder, nearest category anchor to each published base cluster's "
                      "'name. description'; unpublished items count as wrong",
        "judge_model": judge_model,
        "accuracy": round(items["correct"].mean(), 4) if items.height else 0.0,
        "macro_f1": round(macro_f1(items["category"].to_list(), items["predicted"].to_list()), 4),
        "coverage": round(items["published"].mean(), 4) if items.height else 0.0,
        "clustering_ceiling": round(clustering_ceiling(items), 4),
        "generic_share": generic_shares(published),
        "published_base_clusters": len(base),
        "examples": [p["name"] for p in sorted(base, key=lambda p: -p["conversations"])[:10]],
    }
    if data.languages is not None:
        per_language = (items.group_by("language").agg(accuracy=pl.col("correct").mean(),
                                                        coverage=pl.col("published").mean())
                        .sort("language"))
        result["per_language"] = {k: round(v, 4) for k, v in zip(per_language["language"], per_language["accuracy"])}
        worst = per_language.sort("accuracy", "language").row(0, named=True)
        result["worst_language"] = {"language": worst["language"], "accuracy": round(worst["accuracy"], 4)}
        result["coverage_per_language"] = {k: round(v, 4) for k, v in
                                           zip(per_language["language"], per_language["coverage"])}
    return result
