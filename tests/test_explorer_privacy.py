"""The real pipeline, explorer asset included, on two small sample days: no raw text (any 6-word window of a
message), conversation id, raw user id or user hash appears in any generated explorer file."""

from __future__ import annotations

import json
import re
from datetime import date

import dagster as dg
import pytest

from clio_dagster.settings import ClioSettings
from tests.conftest import write_jsonl
from tests.test_pipeline import (
    PER_DAY,
    PLANTED_CONVERSATION,
    PLANTED_USER,
    PipelineRun,
    _leaks,
    _private_strings,
    _sample_records,
)

DAYS = [date(2023, 2, 4), date(2023, 2, 5)]
RECORDS_PER_DAY = 150


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    home = tmp_path_factory.mktemp("clio-explorer")
    settings = ClioSettings(
        home=home, llm_backend="offline", min_unique_users=5, min_conversations=10, target_cluster_size=25
    )
    for day in DAYS:
        every = _sample_records(day)
        records = [every[i * PER_DAY // RECORDS_PER_DAY] for i in range(RECORDS_PER_DAY)]
        if day == DAYS[0]:
            records.append({
                "id": PLANTED_CONVERSATION, "user_id": PLANTED_USER, "timestamp": f"{day}T12:00:00Z",
                "messages": [{"role": "user", "content": "How do I bake sourdough bread at home with rye flour?"}],
            })
        write_jsonl(settings.landing_dir / day.isoformat() / "conversations.jsonl", records)
    pipeline = PipelineRun(settings, dg.DagsterInstance.ephemeral())
    for day in DAYS:
        assert pipeline.materialize(day).success
    yield pipeline


def test_explorer_asset_writes_a_page_per_partition_and_the_index(run):
    explorer_dir = run.settings.explorer_dir
    assert sorted(p.name for p in explorer_dir.iterdir()) == ["2023-02-04.html", "2023-02-05.html", "index.html"]
    for key, result in run.results.items():
        meta = result.asset_materializations_for_node("explorer")[0].metadata
        assert meta["page"].value == str(explorer_dir / f"{key}.html")
        assert meta["index"].value == str(explorer_dir / "index.html")
        published = result.asset_materializations_for_node("published_clusters")[0].metadata
        assert meta["clusters"].value == meta["dagster/row_count"].value == published["dagster/row_count"].value > 0


def test_no_raw_text_or_identifiers_in_any_explorer_file(run):
    identifiers, texts = _private_strings(run)
    assert PLANTED_CONVERSATION in identifiers and PLANTED_USER in identifiers and len(texts) > 100
    files = sorted(p for p in run.settings.explorer_dir.rglob("*") if p.is_file())
    assert files
    for path in files:
        text = path.read_text(encoding="utf-8")
        # Also scan the embedded data decoded (the HTML escapes `<` inside it).
        decoded = [json.dumps(json.loads(block), ensure_ascii=False) for block in
                   re.findall(r'<script type="application/json" id="clio-data">(.*?)</script>', text, re.S)]
        haystack = "\n".join([text, *decoded])
        assert _leaks(haystack, identifiers, []) == [], path.name
        assert _leaks(" ".join(re.findall(r"\w+", haystack)), set(), texts) == [], path.name
