"""Static explorer pages built from the PUBLIC DuckDB file only.

Each page is one self-contained HTML file: the template, `static/explorer.css` and `static/explorer.js` are
inlined at build time and the page's data sits in a `<script type="application/json">` tag. Nothing is
fetched at view time (no CDN, no fonts, no XHR), so a page works from a file:// URL or any static server.

Only the public tables are read (`published_clusters`, `cluster_facets`, `partition_summaries`, `facet_questions`),
through a read-only connection; callers that share the file with a writer take the warehouse's file
lock around these calls (see `clio_dagster.assets.explorer`).
"""

from __future__ import annotations

import html
import math
from datetime import date, datetime
from pathlib import Path
from typing import Any

import duckdb

from clio_dagster.core.concern import DEFAULT_CONCERN_FLOOR
from clio_dagster.explorer.compare import TITLES, load_comparisons
from clio_dagster.explorer.pages import STATIC, page, write_text
from clio_dagster.lake import LakeWarehouse, public_source
from clio_dagster.settings import ClioSettings

SCHEMA_VERSION = 1
CLUSTER_COLUMNS = (
    "partition_date", "cluster_id", "level", "parent_id", "name", "description", "conversations", "unique_users",
    "share", "mean_turns", "concerning_mean", "naming_method", "heuristic", "x", "y", "spread",
)
FACET_COLUMNS = ("partition_date", "cluster_id", "facet", "value", "conversations")
SUMMARY_COLUMNS = (
    "partition_date", "conversations", "clusters_total", "clusters_published", "suppressed_min_users",
    "suppressed_min_conversations", "suppressed_audit", "published_generic_name", "conversations_in_published",
    "min_unique_users", "min_conversations", "llm_backend", "embedding_model", "generic_share_by_level",
)
# The topics table of the index shows at most this many (level, name) rows, largest first.
INDEX_TOPIC_LIMIT = 500


def page_name(day: date) -> str:
    return f"{day.isoformat()}.html"


def _value(v: Any) -> Any:
    if isinstance(v, (date, datetime)):
        return v.isoformat()
    if isinstance(v, float) and not math.isfinite(v):
        return None
    return v


def _select(con: duckdb.DuckDBPyConnection, columns: tuple[str, ...], sql: str, params: list) -> list[dict]:
    return [dict(zip(columns, map(_value, row))) for row in con.execute(sql, params).fetchall()]


def connect_public(source: Path | LakeWarehouse) -> duckdb.DuckDBPyConnection:
    """A read-only connection to the public DB file, or to the public lake (`lake.public_source`)."""
    if isinstance(source, LakeWarehouse):
        return source.open_reader("public")
    if not Path(source).is_file():
        raise FileNotFoundError(f"No public DB at {source}: run `clio demo` or `clio run` first.")
    return duckdb.connect(str(source), read_only=True)


def open_public(settings: ClioSettings) -> duckdb.DuckDBPyConnection:
    """A read-only connection to the public DB or lake, with the public credentials only."""
    return connect_public(public_source(settings))


def list_partitions(con: duckdb.DuckDBPyConnection) -> list[date]:
    return [r[0] for r in con.execute("SELECT partition_date FROM partition_summaries ORDER BY 1").fetchall()]


def custom_facet_questions(con: duckdb.DuckDBPyConnection, day: date) -> list[dict]:
    """(facet, question, type) of the day's published custom facets; none in a public DB older than them."""
    tables = "SELECT count(*) FROM information_schema.tables WHERE table_name = 'facet_questions'"
    if not con.execute(tables).fetchone()[0]:
        return []
    return _select(con, ("facet", "question", "type"), "SELECT facet, question, type FROM facet_questions "
                                                        "WHERE partition_date = ? ORDER BY facet", [day])


def partition_data(con: duckdb.DuckDBPyConnection, day: date, concern_floor: float = DEFAULT_CONCERN_FLOOR) -> dict:
    """Everything one partition's page shows: the day's public rows, plus the shares of same-named clusters
    in earlier partitions (for growth and the over-time chart). `concern_floor`: the mean concern from which
    the page lists a cluster as concerning (CLIO_CONCERN_FLOOR)."""
    cols = ", ".join(CLUSTER_COLUMNS)
    clusters = _select(con, CLUSTER_COLUMNS, f"SELECT {cols} FROM published_clusters WHERE partition_date = ? "
                                             "ORDER BY level, cluster_id", [day])
    facets = _select(con, FACET_COLUMNS, f"SELECT {', '.join(FACET_COLUMNS)} FROM cluster_facets "
                                         "WHERE partition_date = ? ORDER BY cluster_id, facet, value", [day])
    # The published custom facets' questions (their breakdowns are among `facets`, under the facet's name).
    questions = custom_facet_questions(con, day)
    summary = _select(con, SUMMARY_COLUMNS, f"SELECT {', '.join(SUMMARY_COLUMNS)} FROM partition_summaries "
                                            "WHERE partition_date = ?", [day])
    history = _select(
        con, ("partition_date", "level", "name", "share"),
        "SELECT p.partition_date, p.level, p.name, sum(p.share) FROM published_clusters p "
        "WHERE p.partition_date < ? AND EXISTS (SELECT 1 FROM published_clusters c WHERE c.partition_date = ? "
        "AND c.level = p.level AND c.name = p.name) GROUP BY ALL ORDER BY ALL",
        [day, day],
    )
    return {
        "kind": "partition",
        "schema": SCHEMA_VERSION,
        "date": day.isoformat(),
        "summary": summary[0] if summary else None,
        "clusters": clusters,
        "facets": facets,
        "custom_facets": questions,
        "history": history,
        "partitions": [d.isoformat() for d in list_partitions(con)],
        "concern_floor": concern_floor,
    }


def index_data(con: duckdb.DuckDBPyConnection) -> dict:
    partitions = _select(con, SUMMARY_COLUMNS, f"SELECT {', '.join(SUMMARY_COLUMNS)} FROM partition_summaries "
                                               "ORDER BY partition_date", [])
    topic_columns = ("topic", "level", "name", "partition_date", "share", "conversations", "cluster_id", "emerging")
    stable = con.execute("SELECT count(*) FROM topic_days").fetchone()[0] > 0
    if stable:
        # Stable topic ids (topic_registry): one row per topic whatever its name was on each day.
        topics = _select(con, topic_columns, """
            SELECT d.topic_id, t.level, t.latest_name, d.partition_date, d.share, d.conversations, d.cluster_id,
                   e.reason
            FROM topic_days AS d JOIN topics AS t USING (topic_id)
            LEFT JOIN emerging_topics AS e ON e.topic_id = d.topic_id AND e.partition_date = d.partition_date
            ORDER BY ALL""", [])
    else:  # before the first topic_registry run: clusters of the same name and level
        topics = _select(con, topic_columns,
                         "SELECT level || ':' || name, level, name, partition_date, sum(share), sum(conversations), "
                         "min(cluster_id), NULL FROM published_clusters GROUP BY level, name, partition_date "
                         "ORDER BY ALL", [])
    comparisons = [{"comparison": c.key, "page": f"{c.file_stem}.html", "days_before": c.days_before,
                    "days_after": c.days_after,
                    "counts": {kind: sum(1 for x in c.changes if x.kind == kind) for kind in TITLES}}
                   for c in load_comparisons(con)]
    classifier_days = [r[0].isoformat() for r in con.execute(
        "SELECT DISTINCT partition_date FROM classifier_summary ORDER BY 1").fetchall()]
    return {"kind": "index", "schema": SCHEMA_VERSION, "partitions": partitions, "topics": topics,
            "stable_topics": stable, "comparisons": comparisons, "classifier_days": classifier_days}


def write_partition_page(data: dict, out_dir: Path) -> Path:
    day = date.fromisoformat(data["date"])
    body = (STATIC / "partition_body.html").read_text(encoding="utf-8")
    return write_text(Path(out_dir) / page_name(day), page(f"Clio explorer: {day.isoformat()}", body, data, "app"))


def build_partition_page(public_db: Path | LakeWarehouse, day: date, out_dir: Path,
                         concern_floor: float = DEFAULT_CONCERN_FLOOR) -> Path:
    """Write `<out_dir>/<YYYY-MM-DD>.html` for one partition, from the public DB only."""
    con = connect_public(public_db)
    try:
        data = partition_data(con, day, concern_floor)
    finally:
        con.close()
    return write_partition_page(data, out_dir)


def _fmt_int(n: int) -> str:
    return f"{n:,}"


def render_index_body(data: dict) -> str:
    e = html.escape
    parts = data["partitions"]
    classifier_days = set(data.get("classifier_days", []))
    rows = []
    for p in reversed(parts):
        backend = p["llm_backend"] + (" (heuristic names)" if p["llm_backend"] == "offline" else "")
        rows.append(
            f'<tr><td><a href="{e(p["partition_date"])}.html">{e(p["partition_date"])}</a></td>'
            f'<td class="num">{_fmt_int(p["conversations"])}</td>'
            f'<td class="num">{_fmt_int(p["clusters_published"])} / {_fmt_int(p["clusters_total"])}</td>'
            f'<td class="num">{_fmt_int(p["conversations_in_published"])}</td>'
            f'<td>{e(backend)}</td><td>{e(p["embedding_model"])}</td>'
            + (f'<td><a href="classifier_{e(p["partition_date"])}.md">report</a></td>'
               if p["partition_date"] in classifier_days else '<td class="muted">–</td>') + '</tr>'
        )
    days = [p["partition_date"] for p in parts]
    by_topic: dict[tuple[int, str, str], dict[str, dict]] = {}
    for t in data["topics"]:
        by_topic.setdefault((t["level"], t["name"], t["topic"]), {})[t["partition_date"]] = t
    ranked = sorted(by_topic.items(), key=lambda kv: (-kv[0][0], -sum(v["conversations"] for v in kv[1].values()),
                                                      kv[0][1], kv[0][2]))
    shown = ranked[:INDEX_TOPIC_LIMIT]
    head = "".join(f'<th scope="col" class="num">{e(d)}</th>' for d in days)
    topic_rows = []
    for (level, name, _), cells in shown:
        tds = []
        for d in days:
            cell = cells.get(d)
            if cell is None:
                tds.append('<td class="num muted">–</td>')
            else:
                flag = (f' <span class="emerging" title="emerging: {e(cell["emerging"])}">▲</span>'
                        if cell.get("emerging") else "")
                tds.append(f'<td class="num"><a href="{e(d)}.html#node={e(cell["cluster_id"])}" '
                           f'title="{_fmt_int(cell["conversations"])} conversations">{cell["share"] * 100:.1f}%</a>'
                           f'{flag}</td>')
        topic_rows.append(f'<tr data-name="{e(name.lower())}"><td class="num">{level}</td>'
                          f'<th scope="row">{e(name)}</th>{"".join(tds)}</tr>')
    heuristic = any(p["llm_backend"] == "offline" for p in parts)
    banner = ('<p class="banner" role="note">Names are heuristic (offline backend: taxonomy topics refined by phrases users wrote), '
              'not written by an LLM, in the partitions built with the offline backend.</p>') if heuristic else ""
    more = (f'<p class="muted">Showing the {INDEX_TOPIC_LIMIT} largest of {len(ranked)} topics.</p>'
            if len(ranked) > INDEX_TOPIC_LIMIT else "")
    empty = "" if parts else '<p class="empty">No partition has been published yet.</p>'
    matched_by = ("the same stable topic (topic_registry: matched across days by name and description); "
                  "▲ marks a day the topic emerged" if data["stable_topics"] else
                  "the published clusters of the same name and level (run topic_registry for stable topics)")
    comparisons = "".join(
        f'<li><a href="{e(c["page"])}">{e(c["comparison"])}</a> <span class="muted">'
        f'{c["counts"]["appears"]} appear, {c["counts"]["grows"]} grow, {c["counts"]["shrinks"]} shrink, '
        f'{c["counts"]["vanishes"]} vanish</span></li>' for c in data.get("comparisons", []))
    comparisons_section = (
        '<section aria-labelledby="compare-h"><h2 id="compare-h">Window comparisons</h2>'
        f'<ul id="comparison-list">{comparisons}</ul></section>') if comparisons else ""
    return f"""
<header class="top"><h1>Clio explorer</h1>
<p class="sub">Published clusters of every partition, from the public DB only: aggregates that passed the
privacy thresholds and the auditor. No conversation, user id or raw text is in these pages.</p></header>
{banner}
<main class="index-main">
<section aria-labelledby="partitions-h"><h2 id="partitions-h">Partitions</h2>{empty}
<table class="grid" id="partition-table"><thead><tr><th scope="col">date</th><th scope="col" class="num">conversations</th>
<th scope="col" class="num">clusters published / total (base level)</th><th scope="col" class="num">conversations in published clusters</th>
<th scope="col">backend</th><th scope="col">embedding model</th><th scope="col">classifier vs concern</th></tr></thead>
<tbody>{"".join(rows)}</tbody></table></section>
<section aria-labelledby="topics-h"><h2 id="topics-h">Topics across partitions</h2>
<p class="muted">Share of each partition's conversations in {matched_by} (top level first). A dash: the
topic was not published that day.</p>
<label class="filter">Filter by name <input type="search" id="topic-filter" autocomplete="off"></label>{more}
<div class="scroll-x"><table class="grid" id="topic-table"><thead><tr><th scope="col" class="num">level</th>
<th scope="col">name</th>{head}</tr></thead><tbody>{"".join(topic_rows)}</tbody></table></div></section>
{comparisons_section}
</main>"""


def write_index(data: dict, out_dir: Path) -> Path:
    return write_text(Path(out_dir) / "index.html", page("Clio explorer", render_index_body(data), data, "index"))


def build_index(public_db: Path | LakeWarehouse, out_dir: Path) -> Path:
    """Write `<out_dir>/index.html`: every partition with its public totals and a link to its page."""
    con = connect_public(public_db)
    try:
        data = index_data(con)
    finally:
        con.close()
    return write_index(data, out_dir)