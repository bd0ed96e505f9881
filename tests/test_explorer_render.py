"""Explorer pages from a small public DB written directly with the real public schema (no pipeline run):
self-contained, the embedded JSON is exactly the public rows, the index lists every partition."""

from __future__ import annotations

import json
import random
import re
from datetime import date
from html.parser import HTMLParser
from pathlib import Path

import duckdb
import pytest

from clio_dagster.explorer.render import build_index, build_partition_page
from clio_dagster.explorer.serve import build_missing
from clio_dagster.storage import load_sql

DAYS = [date(2023, 2, 4), date(2023, 2, 5), date(2023, 2, 6)]
# The last day comes from the claude backend (concern scores, LLM names); the others are offline.
BACKENDS = {DAYS[0]: "offline", DAYS[1]: "offline", DAYS[2]: "claude"}
TOPICS = [
    "Debug Python dataframe merges", "Write cover letters for jobs", "Explain calculus limits",
    "Translate Chinese business emails", "Plan budget travel itineraries", "Fix </script> tags & 'quotes'",
    "Draft fantasy story chapters", "Optimise SQL queries", "Summarise research papers", "Write SEO blog posts",
]
PARENTS = ["Help with software development", "Help with writing and language", "Help with learning and planning"]
ROOTS = ["Technical and professional work", "Creative and everyday tasks"]
LANGUAGES = ["English", "Chinese", "Spanish", "Other"]


def _clusters(day: date, rng: random.Random) -> tuple[list[dict], list[dict]]:
    backend = BACKENDS[day]
    total = 1000
    base = []
    # The first day lacks one topic (so it has no growth value on later days) and sizes differ per day.
    names = TOPICS[1:] if day == DAYS[0] else TOPICS
    for i, name in enumerate(names):
        n = rng.randint(25, 120)
        langs = [rng.randint(5, 60) if lang == "English" else rng.randint(0, 25) for lang in LANGUAGES]
        if "Chinese" in name:
            langs[1] += 40
        scale = n / sum(langs)
        lang_counts = [int(v * scale) for v in langs]
        lang_counts[0] += n - sum(lang_counts)
        turns = [n // 2, n // 4, n // 8]
        turns.append(n - sum(turns))
        base.append({
            "cluster_id": f"b{i:05d}", "level": 0, "parent_id": f"p1{i % 3:03d}", "name": name,
            "description": f"The user asked for help to {name.lower()}. Requests varied in detail.",
            "conversations": n, "unique_users": n - rng.randint(0, 10), "mean_turns": rng.uniform(1, 6),
            "concerning_mean": rng.uniform(1, 3) if backend == "claude" else None,
            "x": rng.random(), "y": rng.random(), "spread": rng.uniform(0.01, 0.1),
            "facets": {"language": dict(zip(LANGUAGES, lang_counts)), "turns": dict(zip(["1-2", "3-4", "5-8", "9+"], turns))},
        })
    rows = list(base)
    for level, parent_names, prefix, child_prefix, grand in ((1, PARENTS, "p1", "b", "p2"), (2, ROOTS, "p2", "p1", None)):
        for j, pname in enumerate(parent_names):
            cid = f"{prefix}{j:03d}"
            kids = [r for r in rows if r["parent_id"] == cid]
            if not kids:
                continue
            n = sum(k["conversations"] for k in kids)
            facets: dict[str, dict[str, int]] = {}
            for k in kids:
                for facet, counts in k["facets"].items():
                    for v, c in counts.items():
                        facets.setdefault(facet, {}).setdefault(v, 0)
                        facets[facet][v] += c
            concern = [k["concerning_mean"] for k in kids if k["concerning_mean"] is not None]
            rows.append({
                "cluster_id": cid, "level": level, "parent_id": f"{grand}{j % 2:03d}" if grand else None,
                "name": pname, "description": f"Conversations about {pname.lower()}.",
                "conversations": n, "unique_users": sum(k["unique_users"] for k in kids),
                "mean_turns": sum(k["mean_turns"] for k in kids) / len(kids),
                "concerning_mean": sum(concern) / len(concern) if concern else None,
                # The top level has no map position (published without one, like clusters without points).
                "x": None if level == 2 else sum(k["x"] for k in kids) / len(kids),
                "y": None if level == 2 else sum(k["y"] for k in kids) / len(kids),
                "spread": None if level == 2 else 0.2, "facets": facets,
            })
    clusters, facet_rows = [], []
    for r in rows:
        clusters.append({
            "partition_date": day, **{k: v for k, v in r.items() if k != "facets"},
            "share": r["conversations"] / total, "naming_method": "c-tf-idf" if backend == "offline" else "claude",
            "heuristic": backend == "offline",
        })
        for facet, counts in r["facets"].items():
            for value, c in counts.items():
                if c:
                    facet_rows.append({"partition_date": day, "cluster_id": r["cluster_id"], "facet": facet,
                                       "value": value, "conversations": c})
    return clusters, facet_rows


def write_public_db(path: Path) -> Path:
    """A public DB with three partitions, three levels, language and turns facets, with the real schema."""
    rng = random.Random(7)
    con = duckdb.connect(str(path))
    try:
        con.execute(load_sql("public_schema.sql"))
        for day in DAYS:
            clusters, facets = _clusters(day, rng)
            for table, rows in (("published_clusters", clusters), ("cluster_facets", facets)):
                cols = list(rows[0])
                con.executemany(f"INSERT INTO {table} ({', '.join(cols)}) VALUES ({', '.join('?' * len(cols))})",
                                [[r[c] for c in cols] for r in rows])
            base = [c for c in clusters if c["level"] == 0]
            con.execute(
                "INSERT INTO partition_summaries VALUES (?, 1000, ?, ?, 2, 1, 0, 0, ?, 10, 20, ?, 'all-MiniLM-L6-v2', [0.0])",
                [day, len(base) + 3, len(base), sum(c["conversations"] for c in base), BACKENDS[day]],
            )
    finally:
        con.close()
    return path


def embedded_data(page: Path) -> dict:
    text = page.read_text(encoding="utf-8")
    blocks = re.findall(r'<script type="application/json" id="clio-data">(.*?)</script>', text, re.S)
    assert len(blocks) == 1
    return json.loads(blocks[0])


class _Refs(HTMLParser):
    def __init__(self):
        super().__init__()
        self.refs: list[tuple[str, str, str]] = []
        self.tags: list[tuple[str, dict]] = []

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        self.tags.append((tag, a))
        for key in ("src", "href", "action", "srcset", "poster", "data"):
            if key in a and a[key] is not None:
                self.refs.append((tag, key, a[key]))


def assert_self_contained(page: Path, sibling_pages: set[str]) -> None:
    text = page.read_text(encoding="utf-8")
    parser = _Refs()
    parser.feed(text)
    for tag, key, value in parser.refs:
        if value.startswith("#") or value == "data:,":
            continue
        target = value.split("#", 1)[0]
        assert target in sibling_pages, f"{page.name}: <{tag} {key}={value!r}> is not a sibling page or fragment"
    for tag, attrs in parser.tags:
        assert not (tag == "link" and "stylesheet" in (attrs.get("rel") or "")), f"{page.name}: external stylesheet"
        assert not (tag == "script" and "src" in attrs), f"{page.name}: external script"
    lowered = text.lower()
    for needle in ("fetch(", "xmlhttprequest", "websocket", "eventsource", "@import", "url(", "sendbeacon",
                   "importscripts", "src=\"//", "href=\"//", "src=\"http", "href=\"http"):
        assert needle not in lowered, f"{page.name}: {needle!r}"
    # The only absolute URL in the file is the SVG namespace name used by createElementNS (never fetched).
    assert set(re.findall(r"https?://[^\s\"'<>)]+", text)) <= {"http://www.w3.org/2000/svg"}


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    root = tmp_path_factory.mktemp("explorer")
    db = write_public_db(root / "public.duckdb")
    out = root / "explorer"
    pages = {d: build_partition_page(db, d, out) for d in DAYS}
    index = build_index(db, out)
    return db, out, pages, index


def _public_rows(db: Path, table: str, day: date) -> list[dict]:
    con = duckdb.connect(str(db), read_only=True)
    try:
        cur = con.execute(f"SELECT * FROM {table} WHERE partition_date = ? ORDER BY ALL", [day])
        cols = [d[0] for d in cur.description]
        return [{k: (v.isoformat() if isinstance(v, date) else v) for k, v in zip(cols, row)} for row in cur.fetchall()]
    finally:
        con.close()


def _key(row: dict) -> str:
    return json.dumps(row, sort_keys=True, default=str)


def test_pages_are_self_contained(built):
    _, out, pages, index = built
    siblings = {p.name for p in pages.values()} | {"index.html"}
    for page in [*pages.values(), index]:
        assert_self_contained(page, siblings)
        text = page.read_text(encoding="utf-8")
        assert "<style>" in text and "<script>" in text and "{{" not in text


def test_embedded_json_is_exactly_the_public_rows(built):
    db, _, pages, _ = built
    for day, page in pages.items():
        data = embedded_data(page)
        assert data["date"] == day.isoformat()
        assert sorted(map(_key, data["clusters"])) == sorted(map(_key, _public_rows(db, "published_clusters", day)))
        assert sorted(map(_key, data["facets"])) == sorted(map(_key, _public_rows(db, "cluster_facets", day)))
        assert [data["summary"]] == _public_rows(db, "partition_summaries", day)
        assert data["partitions"] == [d.isoformat() for d in DAYS]
        # Earlier partitions only, and only names that exist on this day.
        names = {(c["level"], c["name"]) for c in data["clusters"]}
        assert all(h["partition_date"] < day.isoformat() and (h["level"], h["name"]) in names for h in data["history"])
    last = embedded_data(pages[DAYS[-1]])
    # Every topic but the one missing on the first day has two earlier shares.
    per_name = {}
    for h in last["history"]:
        per_name.setdefault((h["level"], h["name"]), []).append(h["partition_date"])
    assert len(per_name[(0, TOPICS[1])]) == 2 and len(per_name[(0, TOPICS[0])]) == 1


def test_data_cannot_break_out_of_the_json_block(built):
    _, _, pages, _ = built
    text = pages[DAYS[1]].read_text(encoding="utf-8")
    assert "Fix </script>" not in text  # the planted name is escaped inside the JSON…
    assert any(c["name"] == "Fix </script> tags & 'quotes'" for c in embedded_data(pages[DAYS[1]])["clusters"])  # …and intact


def test_index_lists_every_partition_with_public_totals(built):
    db, _, _, index = built
    text = index.read_text(encoding="utf-8")
    data = embedded_data(index)
    assert [p["partition_date"] for p in data["partitions"]] == [d.isoformat() for d in DAYS]
    for d in DAYS:
        assert f'<a href="{d.isoformat()}.html">{d.isoformat()}</a>' in text
    assert "heuristic" in text.lower()
    # Topic names appear with public aggregates only, escaped.
    assert "Fix &lt;/script&gt; tags &amp; &#x27;quotes&#x27;" in text
    assert set(data) == {"kind", "schema", "partitions", "topics", "stable_topics", "comparisons", "classifier_days"}
    # no topic_registry run here: topics are grouped by level and name, and no comparison exists yet
    assert data["stable_topics"] is False and data["comparisons"] == [] and data["classifier_days"] == []
    assert {tuple(sorted(t)) for t in data["topics"]} == {("cluster_id", "conversations", "emerging", "level", "name",
                                                           "partition_date", "share", "topic")}
    assert all(t["topic"] == f'{t["level"]}:{t["name"]}' and t["emerging"] is None for t in data["topics"])


def test_heuristic_label_and_offline_concern_text_are_in_the_page(built):
    _, _, pages, _ = built
    text = pages[DAYS[0]].read_text(encoding="utf-8")
    assert "Names are heuristic (offline backend: taxonomy topics refined by phrases users wrote), not written by an LLM" in text
    assert "not available (offline backend)" in text
    assert 'role="tree"' in text


def test_build_missing_writes_only_missing_pages_and_the_index(tmp_path):
    db = write_public_db(tmp_path / "public.duckdb")
    out = tmp_path / "explorer"
    build_partition_page(db, DAYS[0], out)
    before = (out / "2023-02-04.html").stat().st_mtime_ns
    written = build_missing(db, out)
    assert [p.name for p in written] == ["2023-02-05.html", "2023-02-06.html", "index.html"]
    assert (out / "2023-02-04.html").stat().st_mtime_ns == before
    assert len(build_missing(db, out, rebuild=True)) == len(DAYS) + 1


def test_public_db_is_opened_read_only(tmp_path):
    db = write_public_db(tmp_path / "public.duckdb")
    before = db.read_bytes()
    build_partition_page(db, DAYS[1], tmp_path / "explorer")
    build_index(db, tmp_path / "explorer")
    assert db.read_bytes() == before
    assert not (tmp_path / "public.duckdb.wal").exists()


def test_cli_explore_parses_and_explains_a_missing_public_db(tmp_path, monkeypatch, capsys):
    from clio_dagster.cli import build_parser, main

    args = build_parser().parse_args(["explore", "--port", "0"])
    assert args.port == 0 and args.func.__name__ == "_cmd_explore"
    monkeypatch.setenv("CLIO_HOME", str(tmp_path / "empty"))
    assert main(["explore"]) == 1
    assert "run `clio demo` or `clio run` first" in capsys.readouterr().out
