"""The explorer in a real headless browser (Debian's Chromium driven by Playwright): tree, search, map,
side panel, deep links, colouring, no console errors and no request leaving the local server.

Screenshots (1280×800) go to test-artifacts/explorer/."""

from __future__ import annotations

import threading
from pathlib import Path
from urllib.parse import unquote

import pytest

from clio_dagster.explorer.serve import build_missing, make_server
from tests.conftest import ROOT
from tests.test_explorer_render import DAYS, TOPICS, embedded_data, write_public_db

CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = ROOT / "test-artifacts" / "explorer"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-background-networking", "--disable-gpu", "--no-first-run",
                 "--disable-component-update", "--disable-sync"]
DAY = DAYS[1].isoformat()  # an offline day with earlier and later partitions


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    root = tmp_path_factory.mktemp("explorer-browser")
    db = write_public_db(root / "public.duckdb")
    out = root / "explorer"
    build_missing(db, out)
    server = make_server(out)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    origin = f"http://127.0.0.1:{server.server_address[1]}"
    yield origin, embedded_data(out / f"{DAY}.html")
    server.shutdown()
    server.server_close()


@pytest.fixture(scope="module")
def browser():
    if not CHROMIUM.exists():
        pytest.fail(f"{CHROMIUM} is missing: the explorer's browser tests need Debian's Chromium. "
                    "Run `bash scripts/install.sh --browser` (it apt-installs chromium).", pytrace=False)
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.fail("The Python package `playwright` is missing: run `bash scripts/install.sh --browser`.",
                    pytrace=False)
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield b
        b.close()


class Watched:
    """A page with its console errors, page errors and requested URLs recorded."""

    def __init__(self, browser, origin: str):
        self.origin = origin
        self.page = browser.new_page(viewport={"width": 1280, "height": 800})
        self.page.set_default_timeout(5000)
        self.errors: list[str] = []
        self.requests: list[str] = []
        self.page.on("console", lambda m: self.errors.append(f"console.{m.type}: {m.text}") if m.type == "error" else None)
        self.page.on("pageerror", lambda e: self.errors.append(f"pageerror: {e}"))
        self.page.on("request", lambda r: self.requests.append(r.url))

    def open(self, path: str):
        self.page.goto(f"{self.origin}/{path}")
        self.page.wait_for_selector("#tree li[role=treeitem]")
        return self.page

    def assert_clean(self, shot: str) -> None:
        self.page.screenshot(path=str(ARTIFACTS / f"{shot}.png"))
        assert self.errors == []
        outside = [u for u in self.requests
                   if not (u.startswith(self.origin + "/") or u.startswith("data:") or u.startswith("about:"))]
        assert outside == [], outside


@pytest.fixture
def watched(browser, site):
    w = Watched(browser, site[0])
    yield w
    w.page.close()


def _cluster(data: dict, name: str) -> dict:
    return next(c for c in data["clusters"] if c["name"] == name)


def _fragment(page) -> dict[str, str]:
    frag = page.evaluate("location.hash").lstrip("#")
    return dict((k, unquote(v)) for k, v in (part.split("=", 1) for part in frag.split("&") if part))


def test_tree_expands_collapses_and_keyboard_navigation(watched, site):
    _, data = site
    page = watched.open(f"{DAY}.html")
    roots = [c for c in data["clusters"] if c["parent_id"] is None]
    top = page.locator("#tree > li[role=treeitem]")
    assert top.count() == len(roots)
    first = top.first
    first_id = first.get_attribute("data-id")
    kids = [c for c in data["clusters"] if c["parent_id"] == first_id]
    assert first.get_attribute("aria-expanded") == "false"
    assert first.locator(":scope > ul > li").first.is_hidden()
    first.locator(":scope > .row > .twisty").click()
    assert first.get_attribute("aria-expanded") == "true"
    assert first.locator(":scope > ul > li[role=treeitem]:visible").count() == len(kids)
    # Keyboard: down to the first child, right expands it, enter selects it, left collapses, left to the parent.
    first.focus()
    page.keyboard.press("ArrowDown")
    child = page.locator(":focus")
    child_id = child.get_attribute("data-id")
    assert child_id in {k["cluster_id"] for k in kids}
    page.keyboard.press("ArrowRight")
    assert child.get_attribute("aria-expanded") == "true"
    page.keyboard.press("Enter")
    assert page.locator("#panel-name").inner_text() == next(c["name"] for c in data["clusters"] if c["cluster_id"] == child_id)
    assert child.get_attribute("aria-selected") == "true"
    page.keyboard.press("ArrowLeft")
    assert child.get_attribute("aria-expanded") == "false"
    page.keyboard.press("ArrowLeft")
    assert page.locator(":focus").get_attribute("data-id") == first_id
    # Focus is visible: the focused row has an outline.
    outline = page.evaluate("getComputedStyle(document.activeElement.querySelector('.row')).outlineStyle")
    assert outline != "none"
    assert page.locator("[role=tree]").count() == 1
    watched.assert_clean("tree")


def test_search_shows_matches_with_their_ancestors(watched, site):
    _, data = site
    page = watched.open(f"{DAY}.html")
    page.fill("#search", "sql")
    target = _cluster(data, "Optimise SQL queries")
    by_id = {c["cluster_id"]: c for c in data["clusters"]}
    expected = {target["cluster_id"]}
    node = target
    while node["parent_id"]:
        node = by_id[node["parent_id"]]
        expected.add(node["cluster_id"])
    visible = {e.get_attribute("data-id") for e in page.locator("#tree li[role=treeitem]:visible").all()}
    assert visible == expected
    assert page.locator("#tree mark").inner_text().lower() == "sql"
    assert _fragment(page)["q"] == "sql"
    page.fill("#search", "")
    assert page.locator("#tree > li[role=treeitem]:visible").count() == sum(1 for c in data["clusters"] if c["parent_id"] is None)
    watched.assert_clean("search")


def test_clicking_a_map_point_selects_it_in_the_tree_and_panel(watched, site):
    _, data = site
    page = watched.open(f"{DAY}.html")
    base = [c for c in data["clusters"] if c["level"] == 0 and c["x"] is not None]
    assert page.locator("#map circle.node").count() == len(base)
    target = _cluster(data, "Translate Chinese business emails")
    page.locator(f"#map circle.node[data-id={target['cluster_id']}]").hover()
    assert page.locator("#tooltip").is_visible() and target["name"] in page.locator("#tooltip").inner_text()
    page.locator(f"#map circle.node[data-id={target['cluster_id']}]").click()
    assert page.locator("#panel-name").inner_text() == target["name"]
    item = page.locator(f"#ti-{target['cluster_id']}")
    assert item.get_attribute("aria-selected") == "true"
    assert item.locator(":scope > .row").is_visible()
    assert item.locator(":scope > .row").evaluate(
        "e => { const r = e.getBoundingClientRect(); const p = document.querySelector('.tree-pane').getBoundingClientRect();"
        " return r.top >= p.top && r.bottom <= p.bottom; }")
    assert "selected" in page.locator(f"#map circle.node[data-id={target['cluster_id']}]").get_attribute("class")
    panel = page.locator("#panel").inner_text()
    assert "Chinese" in panel and "×" in panel  # language bars with over-representation
    assert "not available (offline backend)" in panel  # offline day: no concern scores
    assert "1-2 turns" in panel
    assert page.locator("#panel svg.chart circle").count() == 2  # the earlier partition and this one
    assert _fragment(page)["node"] == target["cluster_id"]
    # And the other way: selecting in the tree marks the circle.
    other = _cluster(data, "Explain calculus limits")
    page.click("#expand-all")
    page.locator(f"#tl-{other['cluster_id']}").click()
    assert "selected" in page.locator(f"#map circle.node[data-id={other['cluster_id']}]").get_attribute("class")
    watched.assert_clean("map-select")


def test_deep_link_restores_node_view_and_colour(watched, site):
    _, data = site
    target = _cluster(data, "Optimise SQL queries")
    page = watched.open(f"{DAY}.html#node={target['cluster_id']}&view=map&color=language:Chinese&level=0")
    assert page.locator("#panel-name").inner_text() == target["name"]
    assert page.locator("#tab-map").get_attribute("aria-selected") == "true"
    assert page.locator("#view-map").is_visible() and page.locator("#view-overview").is_hidden()
    assert page.locator("#color").input_value() == "language:Chinese"
    assert page.locator(f"#ti-{target['cluster_id']}").get_attribute("aria-selected") == "true"
    watched.assert_clean("deep-link")
    # A link to the overview of a parent at level 1 opens that view, and the tab click updates the fragment.
    parent = next(c for c in data["clusters"] if c["level"] == 1)
    page.goto(f"{watched.origin}/{DAY}.html#node={parent['cluster_id']}&view=overview&level=1")
    page.wait_for_selector("#panel-name")
    assert page.locator("#view-overview").is_visible() and page.locator("#view-map").is_hidden()
    assert page.locator("#panel-name").inner_text() == parent["name"]
    assert "over-representation" in page.locator("#overview").inner_text()
    page.click("#tab-map")
    assert _fragment(page)["view"] == "map" and _fragment(page)["level"] == "1"
    watched.assert_clean("deep-link-overview")


def test_switching_colouring_changes_the_fills(watched, site):
    page = watched.open(f"{DAY}.html")

    def fills():
        return page.eval_on_selector_all("#map circle.node", "cs => cs.map(c => c.getAttribute('data-id') + c.getAttribute('fill'))")

    by_size = fills()
    page.select_option("#color", "language:Chinese")
    by_lang = fills()
    assert by_lang != by_size
    assert _fragment(page)["color"] == "language:Chinese"
    page.select_option("#color", "concern")  # offline day: every circle grey, legend says why
    assert {f[6:] for f in fills()} == {"#a3a3a3"}
    assert "not available (offline backend)" in page.locator("#legend").inner_text()
    page.select_option("#color", "growth")  # the topic missing from the first day has no growth value: grey
    growth = {f[:6]: f[6:] for f in fills()}
    missing = _cluster(site[1], TOPICS[0])["cluster_id"]
    assert growth[missing] == "#a3a3a3" and len(set(growth.values())) > 2
    # Sorting by a language reorders the tree; zooming moves the circles.
    page.select_option("#sort", "language:Chinese")
    before = page.locator("#map circle.node").first.get_attribute("cx")
    page.click("#zoom-in")
    assert page.locator("#map circle.node").first.get_attribute("cx") != before
    page.click("#zoom-reset")
    assert page.locator("#map circle.node").first.get_attribute("cx") == before
    # Drag pans (from an empty corner of the map), the wheel zooms.
    box = page.locator("#map").bounding_box()
    page.mouse.move(box["x"] + 6, box["y"] + 6)
    page.mouse.down()
    page.mouse.move(box["x"] + 60, box["y"] + 46, steps=5)
    page.mouse.up()
    panned = page.locator("#map circle.node").first.get_attribute("cx")
    assert abs(float(panned) - float(before) - 54) < 1
    page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    page.mouse.wheel(0, -300)
    page.wait_for_function(f"document.querySelector('#map circle.node').getAttribute('cx') !== '{panned}'")
    watched.assert_clean("colour-growth")


def test_index_and_partition_navigation(watched, site):
    origin, _ = site
    page = watched.page
    page.goto(f"{origin}/index.html")
    links = [a.get_attribute("href") for a in page.locator("#partition-table a").all()]
    assert sorted(links) == [f"{d.isoformat()}.html" for d in DAYS]
    page.fill("#topic-filter", "sql")
    assert page.locator("#topic-table tbody tr:visible").count() == 1
    page.locator("#topic-table tbody tr:visible a").last.click()
    page.wait_for_selector("#panel-name")
    assert page.locator("#panel-name").inner_text() == "Optimise SQL queries"
    assert page.url.startswith(f"{origin}/{DAYS[-1].isoformat()}.html#node=")
    page.click("#prev-day")
    page.wait_for_selector("#tree li[role=treeitem]")
    assert page.url.split("#")[0] == f"{origin}/{DAY}.html"
    watched.assert_clean("index")
