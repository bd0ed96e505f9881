"""A published custom facet in the explorer, in a real headless browser: the cluster panel shows its question and
per-cluster breakdown, and the map can be coloured by a categorical value's share; `clio show` prints it."""

from __future__ import annotations

import io
import threading

import duckdb
import pytest

from clio_dagster.cli import show
from clio_dagster.explorer.serve import build_missing, make_server
from clio_dagster.settings import ClioSettings
from tests import test_explorer_browser
from tests.test_explorer_browser import Watched, _fragment
from tests.test_explorer_render import DAYS, embedded_data, write_public_db

DAY = DAYS[1]
browser = test_explorer_browser.browser  # the headless Chromium fixture
QUESTION = "Which programming language is the user working in?"


def _python_share(cluster_id: str) -> int:
    """A per-cluster Python count that differs between clusters (so colouring by it changes the fills)."""
    return 5 + sum(map(ord, cluster_id)) % 20


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    root = tmp_path_factory.mktemp("custom-facet-explorer")
    db = write_public_db(root / "public.duckdb")
    with duckdb.connect(str(db)) as con:
        con.execute("INSERT INTO facet_questions VALUES (?, 'programming_language', ?, 'categorical')", [DAY, QUESTION])
        clusters = [r[0] for r in con.execute("SELECT cluster_id FROM published_clusters WHERE partition_date = ? "
                                              "ORDER BY 1", [DAY]).fetchall()]
        con.executemany("INSERT INTO cluster_facets VALUES (?, ?, 'programming_language', ?, ?)",
                        [row for c in clusters for row in ([DAY, c, "Python", _python_share(c)], [DAY, c, "None", 10],
                                                           [DAY, c, "Other (each below the user threshold)", 2])])
    out = root / "explorer"
    build_missing(db, out)
    server = make_server(out)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}", embedded_data(out / f"{DAY}.html"), db
    server.shutdown()
    server.server_close()


def test_panel_shows_the_breakdown_and_the_map_colours_by_a_value(browser, site):
    origin, data, _ = site
    assert data["custom_facets"] == [{"facet": "programming_language", "question": QUESTION, "type": "categorical"}]
    target = next(c for c in data["clusters"] if c["level"] == 0 and c["x"] is not None)
    watched = Watched(browser, origin)
    try:
        page = watched.open(f"{DAY}.html#node={target['cluster_id']}")
        panel = page.locator("#panel").inner_text()
        python = _python_share(target["cluster_id"])
        assert "programming_language" in panel.lower() and QUESTION in panel  # headings are upper-cased by CSS
        assert f"{round(100 * python / (python + 12))}% · {python}" in panel  # Python's share and count
        assert "Other (each below the user threshold)" in panel

        def fills():
            return page.eval_on_selector_all("#map circle.node", "cs => cs.map(c => c.getAttribute('fill'))")

        by_size = fills()
        page.select_option("#color", "facet:programming_language=Python")
        by_python = fills()
        assert by_python != by_size and len(set(by_python)) > 2
        assert _fragment(page)["color"] == "facet:programming_language=Python"
        assert "Python" in page.locator("#legend").inner_text()
        watched.assert_clean("custom-facet")
    finally:
        watched.page.close()


def test_clio_show_prints_the_breakdowns(site, tmp_path):
    _, data, db = site
    home = tmp_path / "h"
    home.mkdir()
    (home / "public.duckdb").write_bytes(db.read_bytes())
    out = io.StringIO()
    assert show(ClioSettings(home=home), DAY, out) == 0
    text = out.getvalue()
    assert f"custom facet programming_language (categorical): {QUESTION}" in text
    target = next(c for c in data["clusters"] if c["level"] == 0)
    python = _python_share(target["cluster_id"])
    share = f"Python {python} ({python / (python + 12):.0%})"
    line = next(i for i, t in enumerate(text.splitlines()) if t.strip().startswith(target["cluster_id"] + " "))
    assert share in text.splitlines()[line + 1] and "programming_language:" in text.splitlines()[line + 1]
