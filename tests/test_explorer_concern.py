"""The explorer's "concerning clusters" list (overview tab): clusters whose mean concern reaches the configured
floor, adjustable in the page, in a real headless browser; and the floor carried into the page data."""

from __future__ import annotations

import threading

import pytest

from clio_dagster.explorer.render import build_index, build_partition_page
from clio_dagster.explorer.serve import make_server
from tests.test_explorer_browser import Watched, _fragment, browser  # noqa: F401 (fixture)
from tests.test_explorer_render import DAYS, embedded_data, write_public_db

FLOOR = 2.0
CLAUDE_DAY, OFFLINE_DAY = DAYS[2].isoformat(), DAYS[1].isoformat()  # concern scores only on the claude day


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    root = tmp_path_factory.mktemp("explorer-concern")
    db = write_public_db(root / "public.duckdb")
    out = root / "explorer"
    for day in DAYS:
        build_partition_page(db, day, out, concern_floor=FLOOR)
    build_index(db, out)
    server = make_server(out)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}", embedded_data(out / f"{CLAUDE_DAY}.html")
    server.shutdown()
    server.server_close()


@pytest.fixture
def watched(browser, site):  # noqa: F811 (the imported fixture)
    w = Watched(browser, site[0])
    yield w
    w.page.close()


def _rows(page) -> list[str]:
    return [tr.get_attribute("data-id") for tr in page.locator("#concerning-table tbody tr").all()]


def test_the_configured_floor_is_in_the_page_data(site):
    _, data = site
    assert data["concern_floor"] == FLOOR


def test_concerning_list_follows_the_floor_and_selects_clusters(watched, site):
    _, data = site
    page = watched.open(f"{CLAUDE_DAY}.html#view=overview")
    expected = sorted((c for c in data["clusters"] if c["concerning_mean"] is not None
                       and c["concerning_mean"] >= FLOOR),
                      key=lambda c: (-c["concerning_mean"], -c["level"], -c["conversations"], c["cluster_id"]))
    assert expected and _rows(page) == [c["cluster_id"] for c in expected]
    assert f"at least {FLOOR:g}" in page.locator("#concerning-note").inner_text()
    # A lower floor lists more clusters and goes into the URL fragment.
    page.fill("#concern-floor", "1")
    page.dispatch_event("#concern-floor", "change")
    scored = [c for c in data["clusters"] if c["concerning_mean"] is not None]
    assert len(_rows(page)) == len(scored) > len(expected)
    assert _fragment(page)["floor"] == "1"
    # Clicking a row selects that cluster.
    top = expected[0]
    page.locator(f"#concerning-table tr[data-id={top['cluster_id']}]").click()
    assert page.locator("#panel-name").inner_text() == top["name"]
    watched.assert_clean("concerning-list")


def test_a_day_without_concern_scores_says_so(watched):
    page = watched.open(f"{OFFLINE_DAY}.html#view=overview")
    assert page.locator("#concerning-table").count() == 0
    assert "No concern scores in this partition" in page.locator("#concerning-empty").inner_text()
    watched.assert_clean("concerning-empty")
