"""Comparisons of two date windows around an event: topics that appear, vanish, grow or shrink.

Computed from the public topic tables only (core/topics.py `compare_periods`), stored in the public DB
(`topic_comparisons`, `topic_changes`) and written as Markdown and as an explorer page linked from the index.
"""

from __future__ import annotations

import html
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import duckdb
import pyarrow as pa

from clio_dagster.core.topics import Change, compare_periods
from clio_dagster.explorer.pages import page, write_text

Period = tuple[date, date]
TITLES = {"appears": "Appear (only after)", "vanishes": "Vanish (only before)", "grows": "Grow", "shrinks": "Shrink"}


def parse_period(text: str) -> Period:
    """`YYYY-MM-DD..YYYY-MM-DD`, both days included."""
    try:
        start, end = (date.fromisoformat(p) for p in text.split(".."))
    except ValueError:
        raise ValueError(f"{text!r} is not a period YYYY-MM-DD..YYYY-MM-DD") from None
    if end < start:
        raise ValueError(f"{text!r} ends before it starts")
    return start, end


@dataclass(frozen=True)
class Comparison:
    before: Period
    after: Period
    factor: float
    days_before: int  # partitions with topic data in each window
    days_after: int
    changes: list[Change]

    @property
    def key(self) -> str:
        return f"{self.before[0]}..{self.before[1]} vs {self.after[0]}..{self.after[1]}"

    @property
    def file_stem(self) -> str:
        return f"compare_{self.before[0]}_{self.before[1]}__{self.after[0]}_{self.after[1]}"


def compare_windows(con: duckdb.DuckDBPyConnection, before: Period, after: Period, factor: float = 1.5) -> Comparison:
    has_topics = con.execute(
        "SELECT count(*) FROM information_schema.tables WHERE table_name = 'topic_days'").fetchone()[0]
    rows = con.execute(
        "SELECT d.topic_id, t.level, t.latest_name, d.partition_date, d.share FROM topic_days AS d "
        "JOIN topics AS t USING (topic_id) ORDER BY d.topic_id, d.partition_date"
    ).fetchall() if has_topics else []

    def days_in(period: Period) -> int:
        return len({r[3] for r in rows if period[0] <= r[3] <= period[1]})

    return Comparison(before, after, factor, days_in(before), days_in(after),
                      compare_periods(rows, before, after, factor))


def comparison_tables(c: Comparison) -> dict[str, pa.Table]:
    return {
        "topic_comparisons": pa.Table.from_pylist([{
            "comparison": c.key, "before_start": c.before[0], "before_end": c.before[1], "after_start": c.after[0],
            "after_end": c.after[1], "factor": c.factor, "days_before": c.days_before, "days_after": c.days_after,
        }]),
        "topic_changes": pa.table({
            "comparison": [c.key] * len(c.changes), "topic_id": [x.topic_id for x in c.changes],
            "level": pa.array([x.level for x in c.changes], pa.int32()), "name": [x.name for x in c.changes],
            "kind": [x.kind for x in c.changes],
            "share_before": pa.array([x.share_before for x in c.changes], pa.float64()),
            "share_after": pa.array([x.share_after for x in c.changes], pa.float64()),
        }),
    }


def load_comparisons(con: duckdb.DuckDBPyConnection) -> list[Comparison]:
    """Every stored comparison, newest windows first (for the explorer index)."""
    exists = con.execute(
        "SELECT count(*) FROM information_schema.tables WHERE table_name = 'topic_comparisons'").fetchone()[0]
    if not exists:
        return []
    changes: dict[str, list[Change]] = {}
    for key, *fields in con.execute(
        "SELECT comparison, topic_id, level, name, kind, share_before, share_after FROM topic_changes "
        "ORDER BY comparison, kind, topic_id"
    ).fetchall():
        changes.setdefault(key, []).append(Change(*fields))
    return [Comparison((b0, b1), (a0, a1), factor, nb, na, changes.get(key, []))
            for key, b0, b1, a0, a1, factor, nb, na in con.execute(
                "SELECT comparison, before_start, before_end, after_start, after_end, factor, days_before, days_after "
                "FROM topic_comparisons ORDER BY after_end DESC, after_start DESC, before_start DESC, comparison"
            ).fetchall()]


def _ratio(c: Change) -> str:
    return f"{c.share_after / c.share_before:.2f}x" if c.share_before and c.share_after else "-"


def to_markdown(c: Comparison) -> str:
    lines = [f"# Topics: {c.before[0]}..{c.before[1]} vs {c.after[0]}..{c.after[1]}", "",
             f"Partitions with data: {c.days_before} before, {c.days_after} after. Mean daily share per period "
             f"(0 on days a topic is absent); grows/shrinks: ratio beyond {c.factor:g}x.", ""]
    if not c.days_before or not c.days_after:
        lines += ["No topic data in one of the periods: materialise the days and `topic_registry` "
                  "(`clio run`, then `clio topics`) first.", ""]
    for kind, title in TITLES.items():
        picked = [x for x in c.changes if x.kind == kind]
        lines += [f"## {title} ({len(picked)})", ""]
        if picked:
            lines += ["| topic | level | name | share before | share after | ratio |", "|---|---:|---|---:|---:|---:|"]
            for x in picked:
                name = x.name.replace("|", "/")
                lines.append(f"| {x.topic_id} | {x.level} | {name} | {x.share_before:.1%} | {x.share_after:.1%} | "
                             f"{_ratio(x)} |")
            lines.append("")
    return "\n".join(lines)


def render_comparison_body(c: Comparison) -> str:
    e = html.escape
    sections = []
    for kind, title in TITLES.items():
        picked = [x for x in c.changes if x.kind == kind]
        rows = "".join(
            f'<tr><td>{e(x.topic_id)}</td><td class="num">{x.level}</td><th scope="row">{e(x.name)}</th>'
            f'<td class="num">{x.share_before:.1%}</td><td class="num">{x.share_after:.1%}</td>'
            f'<td class="num">{_ratio(x)}</td></tr>' for x in picked)
        table = ('<table class="grid"><thead><tr><th scope="col">topic</th><th scope="col" class="num">level</th>'
                 '<th scope="col">name</th><th scope="col" class="num">share before</th>'
                 '<th scope="col" class="num">share after</th><th scope="col" class="num">ratio</th></tr></thead>'
                 f'<tbody>{rows}</tbody></table>') if picked else '<p class="muted">None.</p>'
        sections.append(f'<section class="change-{kind}"><h2>{e(title)} ({len(picked)})</h2>{table}</section>')
    return f"""
<header class="top"><h1>Topics: {e(c.key)}</h1>
<p class="sub"><a href="index.html">All partitions</a> · partitions with data: {c.days_before} before,
{c.days_after} after. Mean daily share per window (0 on days a topic is absent); grows or shrinks: ratio beyond
{c.factor:g}x. From the public topic tables only.</p></header>
<main class="index-main">{"".join(sections)}</main>"""


def write_comparison(c: Comparison, out_dir: Path) -> tuple[Path, Path]:
    """`<out_dir>/<file_stem>.md` and `.html` (the page the explorer index links to)."""
    markdown = write_text(Path(out_dir) / f"{c.file_stem}.md", to_markdown(c) + "\n")
    data = {"kind": "comparison", "comparison": c.key}
    page_path = write_text(Path(out_dir) / f"{c.file_stem}.html",
                           page(f"Clio explorer: {c.key}", render_comparison_body(c), data, "index"))
    return markdown, page_path
