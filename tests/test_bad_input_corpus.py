"""A corpus of malformed landing data, generated with hypothesis: invalid UTF-8, NUL bytes, deeply nested
JSON, 10 MB messages, wrong types, unknown roles, empty files, truncated Parquet and duplicate ids across
files and days. Every record is accepted or quarantined with a reason (exactly once, in the partition that
owns it), nothing crashes, counts are conserved, and no reject detail repeats the record's text or ids."""

from __future__ import annotations

import io
import json
import tempfile
import tracemalloc
from collections import Counter
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path

import dagster as dg
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from clio_dagster.core.ingest import Accepted, IngestLimits, RejectReason, iter_landing_file
from clio_dagster.core.landing import collect_partition
from clio_dagster.core.records import Conversation, Message
from clio_dagster.llm.offline import OfflineBackend
from tests.conftest import write_jsonl
from tests.test_pipeline import _sample_records

FOLDER_DAYS = [date(2023, 2, 4), date(2023, 2, 5), date(2023, 2, 6)]
LOOKAROUND = 1
LIMITS = IngestLimits()
TEN_MB = 10 * 1024 * 1024
MARKER = "zebra-quokka-7731"  # in every generated text and id: must never show in a reject's detail
ID_POOL = [f"{MARKER}-conv-{i}" for i in range(4)]  # few ids, so they repeat across files and days
KNOWN_ROLES = {"user", "human", "assistant", "gpt", "chatgpt", "bing", "bard", "ai", "model", "bot", "system",
               "developer", "tool", "function"}
ACCEPTED = "accepted"
HYPOTHESIS = settings(derandomize=True, deadline=None, database=None,
                      suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                             HealthCheck.function_scoped_fixture])


@dataclass(frozen=True)
class Expected:
    """What may become of one record: outcomes (ACCEPTED and/or reject reasons), and the day it belongs to
    when accepted (None: the folder's day)."""

    outcomes: frozenset[str]
    owner: date | None = None


@dataclass
class PlannedFile:
    name: str
    data: bytes
    records: dict[int | None, Expected] = field(default_factory=dict)  # location line → expectation


# ------------------------------------------------------------------------------------------ record strategies

texts = st.text(st.characters(blacklist_categories=("Cs",)), min_size=1, max_size=40).map(
    lambda t: f"{MARKER} {t}")


def _turns(text: str) -> list[dict]:
    return [{"role": "user", "content": text}, {"role": "assistant", "content": f"{MARKER} answer"}]


def _expect_valid(record: dict, folder: date) -> Expected:
    """A well-formed record belongs to its timestamp's day, or is quarantined when that is too far from its
    folder's day; without a timestamp, to its folder's day."""
    if "timestamp" not in record:
        return Expected(frozenset({ACCEPTED, "duplicate_id"}))
    owner = date.fromisoformat(record["timestamp"][:10])
    if abs((owner - folder).days) > LOOKAROUND:
        return Expected(frozenset({"bad_timestamp"}))
    return Expected(frozenset({ACCEPTED, "duplicate_id"}), owner)


@st.composite
def valid_records(draw, folder: date):
    record: dict = {"messages": _turns(draw(texts))}
    if draw(st.booleans()):
        record["id"] = draw(st.sampled_from(ID_POOL))
    record["user_id"] = draw(st.sampled_from([f"{MARKER}-user-{i}" for i in range(3)]))
    offset = draw(st.none() | st.integers(-3, 3))
    if offset is not None:
        record["timestamp"] = f"{folder + timedelta(days=offset)}T{draw(st.integers(0, 23)):02d}:30:00Z"
    return record, _expect_valid(record, folder)


WRONG_TYPES = [
    {"id": [1, 2]}, {"user_id": {"name": MARKER}}, {"messages": MARKER}, {"messages": {"role": "user"}},
    {"messages": [{"role": "user", "content": 7}]}, {"messages": [{"role": 5, "content": MARKER}]},
    {"messages": [{"role": "user", "content": [{"type": "text", "text": 3}]}]}, {"messages": [MARKER]},
    {"conversations": [{"from": "human", "value": [MARKER]}]}, {"metadata": MARKER}, {"id": 1.5},
    {"timestamp": True}, {"timestamp": MARKER}, {"timestamp": [2023, 2, 5]},
]


@st.composite
def wrong_type_records(draw):
    base = {"id": draw(st.sampled_from(ID_POOL)), "user_id": f"{MARKER}-user", "messages": _turns(draw(texts))}
    mutation = draw(st.sampled_from(WRONG_TYPES))
    return {**base, **mutation}, Expected(frozenset({"invalid_record", "bad_timestamp"}))


@st.composite
def unknown_role_records(draw):
    role = draw(st.text(max_size=12).filter(lambda r: r.strip().lower() not in KNOWN_ROLES))
    messages = [{"role": "user", "content": draw(texts)}, {"role": role, "content": draw(texts)}]
    return {"user_id": f"{MARKER}-user", "messages": messages}, Expected(frozenset({"unknown_role"}))


@st.composite
def nul_records(draw):
    """NULs (as JSON escapes) are removed from texts; a turn of nothing but NULs is then empty."""
    nuls = "\x00" * draw(st.integers(1, 5))
    only_nuls = draw(st.booleans())
    text = nuls if only_nuls else f"{MARKER}{nuls}{draw(texts)}"
    outcomes = {"no_user_turn"} if only_nuls else {ACCEPTED, "duplicate_id"}
    return {"user_id": f"{MARKER}-user", "messages": _turns(text)}, Expected(frozenset(outcomes))


@st.composite
def deep_records(draw):
    """Nested metadata: shallow is kept, deeper than 64 levels rejected (deeper than the JSON parser goes:
    see `malformed_lines`)."""
    depth = draw(st.sampled_from([3, 120]))
    nested: object = MARKER
    for _ in range(depth):
        nested = [nested]
    outcomes = {ACCEPTED, "duplicate_id"} if depth == 3 else {"invalid_record"}
    return {"user_id": f"{MARKER}-user", "messages": _turns(draw(texts)), "metadata": {"deep": nested}}, \
        Expected(frozenset(outcomes))


@st.composite
def huge_records(draw):
    size = draw(st.sampled_from([LIMITS.max_message_chars + 1, TEN_MB]))
    return {"user_id": f"{MARKER}-user", "messages": _turns(MARKER + "x" * size)}, Expected(frozenset({"text_too_long"}))


def _dumps(record: dict) -> bytes:
    return json.dumps(record, ensure_ascii=False).encode("utf-8")


@st.composite
def malformed_lines(draw):
    """Lines that are not one JSON object: bad UTF-8, raw NULs, cut-off JSON, nesting deeper than the parser
    recurses, other JSON values."""
    good = _dumps({"user_id": f"{MARKER}-user", "messages": _turns(draw(texts))})
    kind = draw(st.sampled_from(["utf8", "nul", "cut", "deep", "not_object"]))
    if kind == "utf8":
        bad = draw(st.sampled_from([b"\xff", b"\xc3\x28", b"\xed\xa0\x80", b"\xc0\xaf", b"\xf8\x88\x80\x80\x80"]))
        at = good.index(MARKER.encode())
        line = good[:at] + bad + good[at:]
    elif kind == "nul":
        at = good.index(MARKER.encode())
        line = good[:at] + b"\x00" + good[at:]
    elif kind == "cut":
        line = good[: draw(st.integers(1, len(good) - 1))]
    elif kind == "deep":
        depth = draw(st.sampled_from([5_000, 200_000]))
        line = b'{"messages": [], "metadata": ' + b"[" * depth + b"]" * depth + b"}"
    else:
        line = _dumps(draw(st.sampled_from([[MARKER], MARKER, 42, None, [{"messages": []}]])))
    # A cut line can end on whitespace-only bytes or a lone "{" etc.: every non-blank line is a record.
    return line.replace(b"\n", b" "), Expected(frozenset({"malformed_json"}))


def record_lines(folder: date):
    objects = st.one_of(valid_records(folder), wrong_type_records(), unknown_role_records(), nul_records(),
                        deep_records(), huge_records())
    return st.one_of(objects.map(lambda pair: (_dumps(pair[0]), pair[1])), malformed_lines())


# ------------------------------------------------------------------------------------------ file strategies

@st.composite
def jsonl_files(draw, folder: date, name: str):
    lines = draw(st.lists(record_lines(folder), max_size=8))
    planned = PlannedFile(name + ".jsonl", b"")
    chunks = []
    for raw, expected in lines:
        if draw(st.booleans()):
            chunks.append(draw(st.sampled_from([b"", b"   ", b"\t\r"])))  # blank lines are not records
        chunks.append(raw)
        planned.records[len(chunks)] = expected
    planned.data = b"\n".join(chunks) + (b"\n" if chunks and draw(st.booleans()) else b"")
    return planned


@st.composite
def json_files(draw, folder: date, name: str):
    shape = draw(st.sampled_from(["list", "object", "broken", "empty"]))
    planned = PlannedFile(name + ".json", b"")
    if shape == "broken":
        planned.data = b'[{"messages": [' + MARKER.encode()
        planned.records[None] = Expected(frozenset({"malformed_json"}))
    elif shape == "empty":
        planned.records[None] = Expected(frozenset({"malformed_json"}))
    elif shape == "object":
        record, expected = draw(valid_records(folder))
        planned.data = _dumps(record)
        planned.records[1] = expected
    else:
        items = draw(st.lists(st.one_of(valid_records(folder), wrong_type_records(), unknown_role_records(),
                                        st.just((MARKER, Expected(frozenset({"invalid_record"}))))), max_size=5))
        planned.data = _dumps([record for record, _ in items])  # type: ignore[arg-type]
        planned.records = {i + 1: expected for i, (_, expected) in enumerate(items)}
    return planned


def _parquet_bytes(records: list[dict]) -> bytes:
    message = pa.struct([("role", pa.string()), ("content", pa.string())])
    table = pa.table({
        "id": pa.array([r.get("id") for r in records], pa.string()),
        "user_id": pa.array([r.get("user_id") for r in records], pa.string()),
        "timestamp": pa.array([r.get("timestamp") for r in records], pa.string()),
        "messages": pa.array([r["messages"] for r in records], pa.list_(message)),
    })
    sink = io.BytesIO()
    pq.write_table(table, sink)
    return sink.getvalue()


@st.composite
def parquet_files(draw, folder: date, name: str):
    records = draw(st.lists(valid_records(folder), min_size=1, max_size=4))
    data = _parquet_bytes([r for r, _ in records])
    planned = PlannedFile(name + ".parquet", data)
    cut = draw(st.none() | st.integers(0, len(data) - 1))
    if cut is None:
        planned.records = {i + 1: expected for i, (_, expected) in enumerate(records)}
    else:
        # Parquet's footer is at the end: any cut makes the whole file unreadable, one reject for the file.
        planned.data = data[:cut]
        planned.records[None] = Expected(frozenset({"unreadable_file"}))
    return planned


@st.composite
def corpora(draw) -> dict[date, list[PlannedFile]]:
    corpus = {}
    for folder in FOLDER_DAYS:
        kinds = draw(st.lists(st.sampled_from(["jsonl", "jsonl", "json", "parquet", "empty"]), max_size=3))
        files = []
        for i, kind in enumerate(kinds):
            name = f"{kind}-{i}"
            if kind == "empty":
                files.append(PlannedFile(name + ".jsonl", b""))  # no records at all
            else:
                files.append(draw({"jsonl": jsonl_files, "json": json_files, "parquet": parquet_files}[kind](folder, name)))
        corpus[folder] = files
    # The same record in two folders (or twice in one): a duplicate id across files and days.
    copies = {folder: PlannedFile("copies.jsonl", b"") for folder in FOLDER_DAYS}
    for _ in range(draw(st.integers(0, 3))):
        first, second = draw(st.sampled_from(FOLDER_DAYS)), draw(st.sampled_from(FOLDER_DAYS))
        record, _ = draw(valid_records(first))
        record["id"] = draw(st.sampled_from(ID_POOL))
        for folder in (first, second):
            lines = copies[folder].data.splitlines()
            copies[folder].data = b"\n".join([*lines, _dumps(record)]) + b"\n"
            copies[folder].records[len(lines) + 1] = _expect_valid(record, folder)
    for folder, planned in copies.items():
        if planned.records:
            corpus[folder].append(planned)
    return corpus


def _write(root: Path, corpus: dict[date, list[PlannedFile]]) -> dict[tuple[str, int | None], tuple[date, Expected]]:
    """Writes the landing tree; returns every record's location → (its folder's day, expectation)."""
    plan = {}
    for folder, files in corpus.items():
        directory = root / folder.isoformat()
        directory.mkdir(parents=True, exist_ok=True)
        for planned in files:
            path = directory / planned.name
            path.write_bytes(planned.data)
            for line, expected in planned.records.items():
                plan[(str(path), line)] = (folder, expected)
    return plan


def _collect_all(root: Path):
    """Every partition that can own a record of these folders: (partition, item) pairs."""
    first, last = FOLDER_DAYS[0] - timedelta(days=LOOKAROUND), FOLDER_DAYS[-1] + timedelta(days=LOOKAROUND)
    found = []
    day = first
    while day <= last:
        partition = collect_partition(root, day, LOOKAROUND, LIMITS)
        found += [(day, item) for item in partition.accepted + partition.rejected]
        day += timedelta(days=1)
    return found


def _assert_every_record_accounted_for_once(plan, found) -> None:
    seen = Counter((item.location.file, item.location.line) for _, item in found)
    assert seen == Counter(plan.keys())  # counts conserved: each record once, none invented
    accepted_ids: dict[date, set[str]] = {}
    duplicates: list[tuple[date, str]] = []
    for partition, item in found:
        event(str(getattr(item, "reason", ACCEPTED)))  # shown by --hypothesis-show-statistics
        folder, expected = plan[(item.location.file, item.location.line)]
        if isinstance(item, Accepted):
            assert ACCEPTED in expected.outcomes, (item.location, expected)
            assert partition == (expected.owner or folder), item.location
            ids = accepted_ids.setdefault(partition, set())
            assert item.conversation.conversation_id not in ids, "a duplicate id was accepted twice"
            ids.add(item.conversation.conversation_id)
        else:
            assert str(item.reason) in expected.outcomes, (item.location, item.reason, item.detail[:200])
            # A duplicate is found in the partition that owns it; other rejects stay with their folder's.
            owner = expected.owner or folder if item.reason is RejectReason.DUPLICATE_ID else folder
            assert partition == owner, item.location
            assert item.detail and MARKER not in item.detail, item.detail[:200]
            if item.reason is RejectReason.DUPLICATE_ID:
                duplicates.append((partition, item.record_id))
    for partition, record_id in duplicates:
        assert record_id in accepted_ids.get(partition, set())  # the first occurrence was kept


@settings(HYPOTHESIS, max_examples=40)
@given(corpora())
def test_every_record_is_accepted_or_quarantined_once(corpus):
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "landing"
        plan = _write(root, corpus)
        _assert_every_record_accounted_for_once(plan, _collect_all(root))



def test_a_huge_line_is_quarantined_in_bounded_memory(tmp_path):
    """A 64 MB line is skipped in chunks: far less memory than the line, and the next line still reads."""
    path = tmp_path / "huge.jsonl"
    line_bytes = 64 * 1024 * 1024
    with path.open("wb") as fh:
        fh.write(b'{"messages": [{"role": "user", "content": "' + b"x" * line_bytes + b'"}]}\n')
        fh.write(_dumps({"user_id": "u", "messages": _turns("after the huge line")}) + b"\n")
    tracemalloc.start()
    try:
        items = list(iter_landing_file(path, LIMITS))
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert [getattr(i, "reason", ACCEPTED) for i in items] == [RejectReason.TEXT_TOO_LONG, ACCEPTED]
    # A read buffer of the line limit and a copy of it, whatever the line's length.
    assert peak < 3 * LIMITS.max_line_bytes < line_bytes / 3, peak


@settings(HYPOTHESIS, max_examples=300)
@given(st.lists(st.tuples(st.sampled_from(["user", "assistant", "system", "tool"]),
                          st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"),
                                  min_size=1, max_size=300)
                          .filter(str.strip)), min_size=1, max_size=4))
def test_offline_facets_never_fail_on_accepted_text(turns):
    """Whatever text ingest accepts (control characters, RTL, combining marks, emoji, lone brackets ...), the
    offline facets give a non-empty request summary."""
    messages = [Message(role="user", text=turns[0][1])] + [Message(role=r, text=t) for r, t in turns[1:]]
    conversation = Conversation(conversation_id="c", messages=tuple(messages))
    (facets,) = OfflineBackend().extract_facets([conversation])
    assert facets.request and facets.language and facets.language_code


# ------------------------------------------------------------------------------------------ through Dagster

def _fixed_corpus(root: Path) -> None:
    """Every kind of bad record beside real conversations, in three landing folders."""
    for n, folder in enumerate(FOLDER_DAYS):
        good = _sample_records(folder)[:60]
        bad = [
            b"\xff\xfe not utf-8 " + MARKER.encode(),
            b'{"messages": [{"role": "user", "content": "raw NUL \x00 in a string"}]}',
            _dumps({"user_id": MARKER, "messages": _turns("\x00\x00")}),
            _dumps({"messages": _turns("deep"), "metadata": {"d": json.loads("[" * 120 + "1" + "]" * 120)}}),
            b"[" * 50_000 + b"]" * 50_000,
            _dumps({"user_id": MARKER, "messages": _turns("x" * TEN_MB)}),
            _dumps({"id": ["wrong"], "messages": _turns("wrong id type")}),
            _dumps({"messages": [{"role": "user", "content": "hi"}, {"role": "narrator", "content": MARKER}]}),
            _dumps({**good[0], "timestamp": f"{folder}T23:00:00Z"}),  # the same id again in this file
            b'{"messages": [{"role": "user", "content": "cut',
        ]
        folder_dir = root / folder.isoformat()
        write_jsonl(folder_dir / "good.jsonl", good)
        (folder_dir / "bad.jsonl").write_bytes(b"\n".join(bad) + b"\n")
        (folder_dir / "empty.jsonl").write_bytes(b"")
        (folder_dir / "empty.json").write_bytes(b"")
        (folder_dir / "cut.parquet").write_bytes(_parquet_bytes(good[:3])[: 200 + n])
        # The same conversations as the neighbouring day's, a second time: duplicates across days.
        if n:
            write_jsonl(folder_dir / "again.jsonl", _sample_records(FOLDER_DAYS[n - 1])[:20])


@pytest.mark.slow
def test_the_daily_pipeline_runs_through_a_bad_corpus(tmp_path):
    from clio_dagster.assets import DAILY_ASSETS
    from clio_dagster.resources import build_resources
    from clio_dagster.settings import ClioSettings

    settings_ = ClioSettings(home=tmp_path / "clio", llm_backend="offline", min_unique_users=3,
                             min_conversations=5, target_cluster_size=20, hierarchy_levels=2)
    _fixed_corpus(settings_.landing_dir)
    expected = {day: collect_partition(settings_.landing_dir, day, LOOKAROUND, LIMITS) for day in FOLDER_DAYS}
    resources = build_resources(settings_)
    instance = dg.DagsterInstance.ephemeral()
    for day in FOLDER_DAYS:
        result = dg.materialize(DAILY_ASSETS, partition_key=day.isoformat(), resources=resources, instance=instance)
        assert result.success
        assert all(c.passed for c in result.get_asset_check_evaluations())
    with resources["warehouse"].get().connect("private") as con:
        stats = con.execute("SELECT partition_date, records_in, accepted, quarantined FROM ingest_stats "
                            "ORDER BY 1").fetchall()
        reasons = {r[0] for r in con.execute("SELECT DISTINCT reason FROM quarantine ORDER BY 1").fetchall()}
        details = [r[0] for r in con.execute("SELECT detail FROM quarantine ORDER BY 1").fetchall()]
        per_day_ids = con.execute("SELECT partition_date, count(*), count(DISTINCT conversation_id) "
                                  "FROM raw_conversations GROUP BY 1 ORDER BY 1").fetchall()
        facets = con.execute("SELECT count(*) FROM facets").fetchone()[0]
    assert stats == [(d, p.records_in, len(p.accepted), len(p.rejected)) for d, p in expected.items()]
    assert all(records_in == a + q for _, records_in, a, q in stats)
    assert reasons >= {"malformed_json", "invalid_record", "no_user_turn", "unknown_role", "text_too_long",
                       "duplicate_id", "unreadable_file"}
    assert all(n == distinct for _, n, distinct in per_day_ids)
    assert facets == sum(n for _, n, _ in per_day_ids)
    assert not any(MARKER in d for d in details)
