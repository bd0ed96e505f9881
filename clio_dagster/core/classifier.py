"""Comparing an external safety classifier with Clio's concern score, cluster by cluster (Clio §4.3).

Input records may carry a classifier's output in their metadata (a flag, or a score in [0, 1]). Per published
cluster we compare the classifier's flag rate with the cluster's mean concern (1-5), correlate the two over
clusters (Clio reports Pearson r = 0.71), and list where they disagree most: flagged but of low concern (likely
false positives of the classifier) and of high concern but rarely flagged (likely false negatives).

Disagreement = flag rate - (mean concern - 1) / 4: both on [0, 1], so 0 where they agree, up to +1 for a
cluster always flagged with concern 1, down to -1 for concern 5 never flagged.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import polars as pl

LIKELY_FALSE_POSITIVE = "likely_false_positive"
LIKELY_FALSE_NEGATIVE = "likely_false_negative"
AGREE = "agree"
# |disagreement| at or beyond this labels a cluster (a quarter of either scale).
DISAGREEMENT_MARGIN = 0.25
_TRUE = frozenset({"true", "yes", "flagged", "y", "t"})
_FALSE = frozenset({"false", "no", "not_flagged", "unflagged", "n", "f"})


def json_path(field: str) -> str:
    """DuckDB JSON path for a dotted metadata field: `safety.flag` -> `$."safety"."flag"`."""
    return "$" + "".join(f'."{part}"' for part in field.split("."))


def classifier_score(value: Any) -> float | None:
    """A flag (bool, or "true"/"false"…) as 1.0/0.0, or a score in [0, 1]; None for anything else."""
    if isinstance(value, bool):
        return 1.0 if value else 0.0
    if isinstance(value, str):
        text = value.strip().lower()
        if text in _TRUE:
            return 1.0
        if text in _FALSE:
            return 0.0
        try:
            value = float(text)
        except ValueError:
            return None
    if isinstance(value, (int, float)) and math.isfinite(value) and 0.0 <= value <= 1.0:
        return float(value)
    return None


# Columns of the scored conversations `compare_clusters` reads: the node, the user key, the classifier score in
# [0, 1] (a flag is 0 or 1; null without a value) and the concern 1-5 (null when the backend gave none).
SCORED_SCHEMA = {"cluster_id": pl.String, "account": pl.String, "score": pl.Float64, "concerning": pl.Int64}


@dataclass(frozen=True)
class ClusterComparison:
    cluster_id: str
    conversations_scored: int
    accounts_scored: int
    flag_rate: float
    score_mean: float
    concerning_mean: float
    disagreement: float
    verdict: str


def disagreement(flag_rate: float, concerning_mean: float) -> float:
    return flag_rate - (concerning_mean - 1.0) / 4.0


def verdict_of(value: float, margin: float = DISAGREEMENT_MARGIN) -> str:
    if value >= margin:
        return LIKELY_FALSE_POSITIVE
    if value <= -margin:
        return LIKELY_FALSE_NEGATIVE
    return AGREE


def compare_clusters(
    scored: pl.DataFrame, flag_threshold: float, min_conversations: int, min_accounts: int
) -> list[ClusterComparison]:
    """Per cluster of `scored` (SCORED_SCHEMA): flag rate (score >= flag_threshold), mean score, mean concern,
    disagreement and verdict, sorted by cluster id.

    Only conversations with both a classifier value and a concern score count, and a cluster is reported only
    when those meet the privacy thresholds (a rate over two conversations would reveal them). The scores are
    summed with math.fsum, exact in any order, so the public tables are the same bytes on every run."""
    grouped = (
        scored.lazy()
        .filter(pl.col("score").is_not_null() & pl.col("concerning").is_not_null())
        .group_by("cluster_id")
        .agg(conversations=pl.len(), accounts=pl.col("account").n_unique(),
             flagged=(pl.col("score") >= flag_threshold).sum(), concern_total=pl.col("concerning").sum(),
             scores=pl.col("score"))
        .filter((pl.col("conversations") >= min_conversations) & (pl.col("accounts") >= min_accounts))
        .sort("cluster_id")
        .collect()
    )
    out = []
    for row in grouped.iter_rows(named=True):
        n = row["conversations"]
        flag_rate, concern = row["flagged"] / n, row["concern_total"] / n
        gap = disagreement(flag_rate, concern)
        out.append(ClusterComparison(row["cluster_id"], n, row["accounts"], flag_rate, math.fsum(row["scores"]) / n,
                                     concern, gap, verdict_of(gap)))
    return out


def pearson(xs: Sequence[float], ys: Sequence[float]) -> float | None:
    """Pearson's r; None with fewer than 3 pairs or when either side is constant."""
    if len(xs) != len(ys):
        raise ValueError("xs and ys differ in length")
    n = len(xs)
    if n < 3:
        return None
    mx, my = sum(xs) / n, sum(ys) / n
    sxx = sum((x - mx) ** 2 for x in xs)
    syy = sum((y - my) ** 2 for y in ys)
    if sxx == 0 or syy == 0:
        return None
    return sum((x - mx) * (y - my) for x, y in zip(xs, ys)) / math.sqrt(sxx * syy)


def correlation(comparisons: Sequence[ClusterComparison]) -> float | None:
    """Pearson r over clusters between mean concern and flag rate."""
    return pearson([c.concerning_mean for c in comparisons], [c.flag_rate for c in comparisons])


def most_disagreeing(
    comparisons: Sequence[ClusterComparison], verdict: str, limit: int = 10
) -> list[ClusterComparison]:
    """The clusters with this verdict, strongest disagreement first."""
    picked = [c for c in comparisons if c.verdict == verdict]
    sign = -1.0 if verdict == LIKELY_FALSE_POSITIVE else 1.0
    return sorted(picked, key=lambda c: (sign * c.disagreement, str(c.cluster_id)))[:limit]


def render_report(
    day: str, field: str, flag_threshold: float, by_level: dict[int, list[ClusterComparison]],
    names: dict[str, str], heuristic_concern: bool, limit: int = 10,
) -> str:
    """Markdown: per level, the correlation and the clusters where classifier and concern disagree most."""

    def table(rows: list[ClusterComparison]) -> list[str]:
        if not rows:
            return ["None.", ""]
        lines = ["| cluster | name | conversations | flag rate | mean concern | disagreement |",
                 "|---|---|---:|---:|---:|---:|"]
        for c in rows:
            name = names.get(c.cluster_id, "").replace("|", "/")
            lines.append(f"| {c.cluster_id} | {name} | {c.conversations_scored} | {c.flag_rate:.0%} | "
                         f"{c.concerning_mean:.2f} | {c.disagreement:+.2f} |")
        return [*lines, ""]

    lines = [f"# Classifier vs concern: {day}", "",
             f"Classifier field `{field}` (flagged when its score >= {flag_threshold:g}); concern 1-5 from the "
             + ("offline heuristic (English harm lexicon)" if heuristic_concern else "LLM facet extractor")
             + ". Published clusters only, counting conversations that carry both values; disagreement = flag rate "
             f"- (mean concern - 1) / 4, labelled beyond ±{DISAGREEMENT_MARGIN:g}. Clio (§4.3) reports r = 0.71.", ""]
    if not any(by_level.values()):
        lines += ["No published cluster had enough conversations carrying the classifier field.", ""]
    for level in sorted(by_level, reverse=True):
        rows = by_level[level]
        r = correlation(rows)
        lines += [f"## Level {level}: {len(rows)} clusters, Pearson r = " + ("n/a" if r is None else f"{r:.2f}"), ""]
        lines += ["### Likely false positives (flagged, low concern)", ""]
        lines += table(most_disagreeing(rows, LIKELY_FALSE_POSITIVE, limit))
        lines += ["### Likely false negatives (high concern, rarely flagged)", ""]
        lines += table(most_disagreeing(rows, LIKELY_FALSE_NEGATIVE, limit))
    return "\n".join(lines)
