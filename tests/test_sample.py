"""The bundled sample: present, 4 days, licensed sources only, every record ingests cleanly."""

from __future__ import annotations

import gzip
import json
from collections import Counter
from datetime import UTC, date, datetime
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
DATA = REPO.parent / "shared" / "data"

from clio_dagster.core.ingest import Accepted, DuplicateFilter, IngestLimits, iter_landing_file
from clio_dagster.sample_data import notice_path, sample_path, stage_sample

DAYS = {"2023-02-04", "2023-02-05", "2023-02-06", "2023-02-07"}
SOURCES = {
    "hh_rlhf_harmless": "MIT",
    "oasst1_en_val": "Apache-2.0",
    "oasst1_zh": "Apache-2.0",
    "oasst1_en_modeleval": "Apache-2.0",
    "arena_hard_v01": "Apache-2.0",
}


@pytest.fixture(scope="module")
def raw_records() -> list[dict]:
    with gzip.open(sample_path(), "rt", encoding="utf-8") as fh:
        return [json.loads(line) for line in fh if line.strip()]


@pytest.fixture(scope="module")
def ingested(tmp_path_factory: pytest.TempPathFactory) -> list:
    # iter_landing_file reads .jsonl.gz directly; stage a copy so the file name is neutral.
    path = tmp_path_factory.mktemp("sample") / "conversations.jsonl.gz"
    path.write_bytes(sample_path().read_bytes())
    dedupe = DuplicateFilter()
    return [dedupe(i) for i in iter_landing_file(path, IngestLimits())]


def test_gz_exists_and_is_deterministically_compressed() -> None:
    data = sample_path().read_bytes()
    assert data[:2] == b"\x1f\x8b"
    assert data[4:8] == b"\x00\x00\x00\x00"  # gzip mtime = 0


def test_size_days_and_fields(raw_records: list[dict]) -> None:
    assert len(raw_records) >= 2800
    days = Counter(r["timestamp"][:10] for r in raw_records)
    assert set(days) == DAYS
    for r in raw_records:
        assert r["id"] and r["user_id"].startswith("sample-user-") and r["timestamp"]
        assert r["metadata"]["source"] in SOURCES
        assert isinstance(r["metadata"]["timestamp_assigned"], bool)
        # only oasst1_en_val has real timestamps
        assert r["metadata"]["timestamp_assigned"] == (r["metadata"]["source"] != "oasst1_en_val")
    assert len({r["id"] for r in raw_records}) == len(raw_records)
    assert {r["metadata"]["source"] for r in raw_records} == set(SOURCES)
    keys = [(datetime.fromisoformat(r["timestamp"]), r["id"]) for r in raw_records]
    assert keys == sorted(keys)
    assert len({r["user_id"] for r in raw_records}) > 500


def test_every_record_is_accepted(raw_records: list[dict], ingested: list) -> None:
    assert len(ingested) == len(raw_records)
    rejects = [i for i in ingested if not isinstance(i, Accepted)]
    assert rejects == []
    for item in ingested:
        conv = item.conversation
        assert conv.user_id and conv.timestamp is not None
        assert conv.timestamp.tzinfo is not None
        assert conv.timestamp.astimezone(UTC).date() in {date.fromisoformat(d) for d in DAYS}
        assert conv.metadata["source"] in SOURCES


def test_notice_mentions_sources_and_licences() -> None:
    text = notice_path().read_text(encoding="utf-8")
    for name, licence in SOURCES.items():
        assert name in text
        assert licence in text
    assert "Copyright (c) 2022 Anthropic" in text
    assert "apache.org/licenses/LICENSE-2.0" in text
    assert "content warning" in text.lower()
    assert "synthetic" in text.lower()


def test_stage_sample(tmp_path: Path, raw_records: list[dict]) -> None:
    landing = tmp_path / "landing"
    counts = stage_sample(landing)
    assert set(counts) == DAYS
    assert sum(counts.values()) == len(raw_records)
    assert sorted(p.name for p in landing.iterdir()) == sorted(DAYS)
    for day, n in counts.items():
        f = landing / day / "sample.jsonl"
        lines = f.read_bytes().splitlines()
        assert len(lines) == n
        assert all(json.loads(line)["timestamp"].startswith(day) for line in lines)
    first = {d: (landing / d / "sample.jsonl").read_bytes() for d in counts}
    assert stage_sample(landing) == counts  # idempotent
    assert {d: (landing / d / "sample.jsonl").read_bytes() for d in counts} == first
    assert sorted(p.name for p in (landing / "2023-02-05").iterdir()) == ["sample.jsonl"]


@pytest.mark.shared_data
@pytest.mark.skipif(not (DATA / "hh_rlhf_harmless").is_dir(), reason="needs ../shared/data")
def test_build_is_reproducible(tmp_path: Path) -> None:
    import subprocess
    import sys

    subprocess.run(
        [sys.executable, str(REPO / "scripts" / "build_sample.py"), "--data", str(DATA), "--out", str(tmp_path)],
        check=True,
        capture_output=True,
    )
    assert (tmp_path / "conversations.jsonl.gz").read_bytes() == sample_path().read_bytes()
    assert (tmp_path / "NOTICE.md").read_bytes() == notice_path().read_bytes()
