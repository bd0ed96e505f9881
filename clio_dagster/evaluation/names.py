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

import json
import secrets
import tempfile
from collections import Counter, defaultdict
from datetime import date
from pathlib import Path
from typing import Any

import numpy as np
from pydantic import SecretStr

from clio_dagster.core.naming import generic_shares

DEFAULT_JUDGE_MODEL = "all-MiniLM-L6-v2"
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


def clustering_ceiling(categories: list[str], clusters: list[int | None], published: set[int]) -> float:
    """The accuracy of the best names the published base clusters could have: each named as its most common
    category. Whatever names say, an item outside that category, or in an unpublished cluster, is wrong; so
    the accuracy judged by names is at most this, and the gap between them is the names' share of the loss."""
    by_cluster: dict[int, Counter] = defaultdict(Counter)
    for category, cluster in zip(categories, clusters):
        if cluster is not None and cluster in published:
            by_cluster[cluster][category] += 1
    best = sum(counts.most_common(1)[0][1] for counts in by_cluster.values())
    return best / len(categories) if categories else 0.0


def run_pipeline_on(data: Any, settings: Any, day: date, home: Path) -> tuple[dict[str, int], list[dict]]:
    """Materialise the naming path for `data` under `home`; (item id → base cluster id, published base
    clusters with their names, descriptions and member counts)."""
    import duckdb

    from clio_dagster.assets import DAILY_ASSETS
    from clio_dagster.runner import run_partitions

    run_settings = settings.model_copy(update={"home": home, "namespace": None,
                                               "hmac_secret": SecretStr(secrets.token_hex(32))})
    stage_labelled_day(data, run_settings.landing_dir, day)
    assets = [a for a in DAILY_ASSETS if a.key.to_user_string() in NAME_EVAL_ASSETS]
    log = home / "run.log"
    with log.open("w", encoding="utf-8") as out:
        ok = run_partitions(run_settings, [day], out=out, assets=assets)
    if not ok:
        raise RuntimeError(f"The pipeline failed on the labelled set: {log.read_text(encoding='utf-8').strip()}")
    with duckdb.connect(str(run_settings.private_db), read_only=True) as con:
        membership = dict(con.execute(
            "SELECT conversation_id, cluster_id FROM base_cluster_members WHERE partition_date = ? "
            "ORDER BY conversation_id", [day]).fetchall())
    with duckdb.connect(str(run_settings.public_db), read_only=True) as con:
        published = [dict(zip(("cluster_id", "level", "name", "description", "conversations"), row)) for row in con.execute(
            "SELECT cluster_id, level, name, description, conversations FROM published_clusters "
            "WHERE partition_date = ? ORDER BY level, cluster_id", [day]).fetchall()]
    return membership, published


def reconstruct_by_names(data: Any, settings: Any, judge: Any, judge_model: str, day: date = date(2024, 1, 1),
                         keep_home: Path | None = None) -> dict[str, Any]:
    """Accuracy of the categories recovered from the published names (module doc), with coverage, the share
    of items under a generic name per level, and per-language figures."""
    from clio_dagster.evaluation.metrics import accuracy, macro_f1, per_group_accuracy
    from clio_dagster.evaluation.categories import category_anchors

    categories = data.category_names
    with tempfile.TemporaryDirectory(prefix="clio-names-eval-") as scratch:
        home = keep_home or Path(scratch)
        membership, published = run_pipeline_on(data, settings, day, home)
    base = [p for p in published if p["level"] == 0]
    anchor_texts, owners = category_anchors(categories, data.taxonomy)
    chosen = judge_clusters([f"{p['name']}. {p['description']}" for p in base], anchor_texts, owners, judge)
    category_of = {int(p["cluster_id"][1:]): categories[c] for p, c in zip(base, chosen)}
    clusters = [membership.get(item_id(i)) for i in range(len(data.texts))]
    predicted = [category_of.get(c) if c is not None else None for c in clusters]
    covered = [c is not None and c in category_of for c in clusters]

    result: dict[str, Any] = {
        "assignment": "names: judge embedder, nearest category anchor to each published base cluster's "
                      "'name. description'; unpublished items count as wrong",
        "judge_model": judge_model,
        "accuracy": round(accuracy(data.categories, predicted), 4),
        "macro_f1": round(macro_f1(data.categories, predicted), 4),
        "coverage": round(sum(covered) / len(covered), 4) if covered else 0.0,
        "clustering_ceiling": round(clustering_ceiling(list(data.categories), clusters, set(category_of)), 4),
        "generic_share": generic_shares(published),
        "published_base_clusters": len(base),
        "examples": [p["name"] for p in sorted(base, key=lambda p: -p["conversations"])[:10]],
    }
    if data.languages is not None:
        per_language = per_group_accuracy(data.categories, predicted, data.languages)
        result["per_language"] = {k: round(v, 4) for k, v in per_language.items()}
        worst = min(per_language.items(), key=lambda kv: (kv[1], kv[0]))
        result["worst_language"] = {"language": worst[0], "accuracy": round(worst[1], 4)}
        coverage: dict[str, list[bool]] = defaultdict(list)
        for language, hit in zip(data.languages, covered):
            coverage[language].append(hit)
        result["coverage_per_language"] = {k: round(sum(v) / len(v), 4) for k, v in sorted(coverage.items())}
    return result
