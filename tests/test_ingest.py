"""Tests for clio_dagster.core.ingest: accepted shapes, every reject reason, conservation, privacy."""

from __future__ import annotations

import gzip
import json
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from clio_dagster.core import ingest
from clio_dagster.core.ingest import (
    Accepted,
    DuplicateFilter,
    IngestLimits,
    RejectReason,
    Rejected,
    SourceLocation,
    derived_conversation_id,
    iter_landing_file,
    parse_record,
)

LIMITS = IngestLimits()
LOC = SourceLocation("test.jsonl", 1)

PLANTED_TEXT = "The purple giraffe negotiates quietly with seventeen lighthouses"
PLANTED_USER = "user-zq9-secret-7781"


def _write_jsonl(path: Path, records: list[object]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    return path


def _only(items: list) -> Accepted | Rejected:
    assert len(items) == 1, items
    return items[0]


def _accepted(obj: object) -> Accepted:
    item = parse_record(obj, LOC, LIMITS)
    assert isinstance(item, Accepted), item
    return item


def _rejected(obj: object, limits: IngestLimits = LIMITS) -> Rejected:
    item = parse_record(obj, LOC, limits)
    assert isinstance(item, Rejected), item
    return item


# ------------------------------------------------------------------------------------------
# Accepted shapes
# ------------------------------------------------------------------------------------------


def test_openai_string_content(tmp_path: Path) -> None:
    rec = {
        "id": "c1",
        "user_id": "u1",
        "timestamp": "2023-02-05T10:00:00Z",
        "messages": [
            {"role": "system", "content": "be nice"},
            {"role": "user", "content": "hello"},
            {"role": "assistant", "content": "hi!"},
        ],
        "language": "en",
        "label": "greeting",
        "flagged": False,
        "metadata": {"source": "unit", "label": "explicit wins"},
    }
    item = _only(list(iter_landing_file(_write_jsonl(tmp_path / "a.jsonl", [rec]), LIMITS)))
    assert isinstance(item, Accepted)
    conv = item.conversation
    assert item.location == SourceLocation(str(tmp_path / "a.jsonl"), 1)
    assert conv.conversation_id == "c1"
    assert conv.user_id == "u1"
    assert conv.timestamp == datetime(2023, 2, 5, 10, tzinfo=UTC)
    assert [(m.role, m.text) for m in conv.messages] == [
        ("system", "be nice"),
        ("user", "hello"),
        ("assistant", "hi!"),
    ]
    assert conv.metadata == {
        "language": "en",
        "label": "explicit wins",
        "flagged": False,
        "source": "unit",
    }


def test_block_list_content_ignores_non_text_blocks() -> None:
    conv = _accepted(
        {
            "messages": [
                {
                    "role": "user",
                    "content": [
                        {"type": "image", "source": {"type": "base64", "data": "AAAA"}},
                        {"type": "text", "text": "what is in"},
                        {"type": "text", "text": "this picture?"},
                    ],
                },
                {"role": "assistant", "content": [{"type": "text", "text": "a cat"}]},
                {"role": "user", "content": "thanks"},
            ]
        }
    ).conversation
    assert [m.text for m in conv.messages] == ["what is in\nthis picture?", "a cat", "thanks"]
    assert conv.conversation_id.startswith("auto-") and len(conv.conversation_id) == 37


def test_role_aliases() -> None:
    conv = _accepted(
        {
            "messages": [
                {"role": "Human", "content": "a"},
                {"role": "ai", "content": "b"},
                {"role": "model", "content": "c"},
                {"role": "bot", "content": "d"},
                {"role": "tool", "content": "e"},
            ]
        }
    ).conversation
    assert [m.role for m in conv.messages] == ["user", "assistant", "assistant", "assistant", "tool"]


def test_sharegpt_shape() -> None:
    conv = _accepted(
        {
            "id": "sg-1",
            "conversations": [
                {"from": "system", "value": "sys"},
                {"from": "human", "value": "q1"},
                {"from": "gpt", "value": "a1"},
                {"from": "user", "value": "q2"},
                {"from": "chatgpt", "value": "a2"},
                {"from": "bing", "value": "a3"},
                {"from": "bard", "value": "a4"},
                {"from": "assistant", "value": "a5"},
            ],
        }
    ).conversation
    assert conv.conversation_id == "sg-1"
    assert [m.role for m in conv.messages] == [
        "system", "user", "assistant", "user", "assistant", "assistant", "assistant", "assistant",
    ]


def test_field_aliases() -> None:
    conv = _accepted(
        {
            "conversation_id": 42,
            "userId": "u-9",
            "created_at": "2023-02-06T01:02:03+00:00",
            "messages": [{"role": "user", "content": "x"}],
        }
    ).conversation
    assert conv.conversation_id == "42"
    assert conv.user_id == "u-9"
    assert conv.timestamp == datetime(2023, 2, 6, 1, 2, 3, tzinfo=UTC)
    conv = _accepted({"user": "u-1", "time": 0, "messages": [{"role": "user", "content": "x"}]}).conversation
    assert conv.user_id == "u-1"
    assert conv.timestamp == datetime(1970, 1, 1, tzinfo=UTC)


def test_conflicting_aliases_rejected() -> None:
    r = _rejected({"id": "a", "conversation_id": "b", "messages": [{"role": "user", "content": "x"}]})
    assert r.reason is RejectReason.INVALID_RECORD
    assert "conflicting" in r.detail


def test_nul_bytes_stripped_not_rejected() -> None:
    conv = _accepted({"messages": [{"role": "user", "content": "he\x00llo"}]}).conversation
    assert conv.messages[0].text == "hello"


def test_derived_id_is_stable_and_content_based() -> None:
    a = _accepted({"messages": [{"role": "user", "content": "same"}]}).conversation
    b = _accepted({"conversations": [{"from": "human", "value": "same"}]}).conversation
    c = _accepted({"messages": [{"role": "user", "content": "different"}]}).conversation
    assert a.conversation_id == b.conversation_id != c.conversation_id
    assert a.conversation_id == derived_conversation_id(None, None, a.messages)


def test_json_single_object_and_list(tmp_path: Path) -> None:
    one = tmp_path / "one.json"
    one.write_text(json.dumps({"id": "o1", "messages": [{"role": "user", "content": "x"}]}))
    item = _only(list(iter_landing_file(one, LIMITS)))
    assert isinstance(item, Accepted) and item.location.line == 1

    many = tmp_path / "many.json"
    many.write_text(
        json.dumps(
            [
                {"id": "l1", "messages": [{"role": "user", "content": "x"}]},
                {"id": "l2", "conversations": [{"from": "human", "value": "y"}]},
                "not a record",
                {"id": "l4", "messages": []},
            ]
        )
    )
    items = list(iter_landing_file(many, LIMITS))
    assert [i.location.line for i in items] == [1, 2, 3, 4]
    assert isinstance(items[0], Accepted) and isinstance(items[1], Accepted)
    assert isinstance(items[2], Rejected) and items[2].reason is RejectReason.INVALID_RECORD
    assert isinstance(items[3], Rejected) and items[3].reason is RejectReason.NO_USER_TURN


def _parquet_messages(path: Path, n: int = 3) -> Path:
    msg = pa.struct([("role", pa.string()), ("content", pa.string())])
    table = pa.table(
        {
            "id": pa.array([f"p{i}" for i in range(n)]),
            "user_id": pa.array([f"u{i % 2}" for i in range(n)]),
            "timestamp": pa.array(
                [datetime(2023, 2, 4, 12, tzinfo=UTC) + timedelta(seconds=i) for i in range(n)],
                type=pa.timestamp("ns", tz="UTC"),
            ),
            "language": pa.array(["en" if i % 2 else None for i in range(n)]),
            "messages": pa.array(
                [
                    [{"role": "user", "content": f"question {i}"}, {"role": "assistant", "content": "answer"}]
                    for i in range(n)
                ],
                type=pa.list_(msg),
            ),
        }
    )
    pq.write_table(table, path, row_group_size=max(1, n // 3))
    return path


def test_parquet_messages(tmp_path: Path) -> None:
    items = list(iter_landing_file(_parquet_messages(tmp_path / "m.parquet", 2500), LIMITS))
    assert len(items) == 2500
    assert all(isinstance(i, Accepted) for i in items)
    assert [i.location.line for i in items[:3]] == [1, 2, 3]
    first, second = items[0].conversation, items[1].conversation
    assert first.conversation_id == "p0" and first.user_id == "u0"
    assert first.timestamp == datetime(2023, 2, 4, 12, tzinfo=UTC)
    assert first.metadata == {}  # null cell = absent field
    assert second.metadata == {"language": "en"}
    assert [m.role for m in first.messages] == ["user", "assistant"]


def test_parquet_sharegpt_and_naive_timestamps(tmp_path: Path) -> None:
    turn = pa.struct([("from", pa.string()), ("value", pa.string())])
    table = pa.table(
        {
            "conversations": pa.array(
                [[{"from": "human", "value": "hi"}, {"from": "gpt", "value": "yo"}],
                 [{"from": "wizard", "value": "hi"}]],
                type=pa.list_(turn),
            ),
            "created_at": pa.array([datetime(2023, 2, 5, 8), datetime(2023, 2, 5, 9)], type=pa.timestamp("us")),
        }
    )
    path = tmp_path / "sg.parquet"
    pq.write_table(table, path)
    items = list(iter_landing_file(path, LIMITS))
    assert isinstance(items[0], Accepted)
    assert items[0].conversation.timestamp == datetime(2023, 2, 5, 8, tzinfo=UTC)
    assert isinstance(items[1], Rejected) and items[1].reason is RejectReason.UNKNOWN_ROLE
    assert items[1].location.line == 2


def test_jsonl_gz(tmp_path: Path) -> None:
    path = tmp_path / "c.jsonl.gz"
    with gzip.open(path, "wt", encoding="utf-8") as fh:
        for i in range(5):
            fh.write(json.dumps({"id": f"g{i}", "messages": [{"role": "user", "content": "x"}]}) + "\n")
    assert sum(isinstance(i, Accepted) for i in iter_landing_file(path, LIMITS)) == 5
    # truncated gzip: the lines read so far, then one UNREADABLE_FILE item
    data = path.read_bytes()
    bad = tmp_path / "bad.jsonl.gz"
    bad.write_bytes(data[: len(data) - 12])
    items = list(iter_landing_file(bad, LIMITS))
    assert isinstance(items[-1], Rejected) and items[-1].reason is RejectReason.UNREADABLE_FILE


# ------------------------------------------------------------------------------------------
# Reject reasons
# ------------------------------------------------------------------------------------------


def test_malformed_json_lines(tmp_path: Path) -> None:
    path = tmp_path / "bad.jsonl"
    path.write_bytes(
        b'{"messages": [{"role": "user", "content": "ok"}]}\n'
        b"{not json\n"
        b"[1, 2, 3]\n"
        b'"just a string"\n'
        b'{"messages": [{"role": "user", "content": "caf\xe9 \xff"}]}\n'
        b"   \n"
        b'{"x": NaN}\n'
        b'{"messages": [{"role": "user", "content": "still ok"}]}'
    )
    items = list(iter_landing_file(path, LIMITS))
    assert [i.location.line for i in items] == [1, 2, 3, 4, 5, 7, 8]
    assert [type(i).__name__ for i in items] == ["Accepted"] + ["Rejected"] * 5 + ["Accepted"]
    assert all(i.reason is RejectReason.MALFORMED_JSON for i in items[1:6])
    assert "UTF-8" in items[4].detail


def test_bom_is_ignored(tmp_path: Path) -> None:
    path = tmp_path / "bom.jsonl"
    path.write_bytes(b'\xef\xbb\xbf{"messages": [{"role": "user", "content": "x"}]}\n')
    assert isinstance(_only(list(iter_landing_file(path, LIMITS))), Accepted)


def test_malformed_whole_json_file(tmp_path: Path) -> None:
    path = tmp_path / "bad.json"
    path.write_text('[{"messages": [{"role": "user", "content": "x"}]}, {oops')
    item = _only(list(iter_landing_file(path, LIMITS)))
    assert isinstance(item, Rejected)
    assert item.reason is RejectReason.MALFORMED_JSON and item.location.line is None
    path.write_text("42")
    item = _only(list(iter_landing_file(path, LIMITS)))
    assert isinstance(item, Rejected) and item.reason is RejectReason.MALFORMED_JSON


@pytest.mark.parametrize(
    "obj",
    [
        {"id": "x"},
        {"messages": "hello"},
        {"messages": [{"role": "user"}]},
        {"messages": [{"role": "user", "content": 5}]},
        {"messages": [{"role": 1, "content": "x"}]},
        {"messages": [{"role": "user", "content": [{"type": "text"}]}]},
        {"messages": [{"role": "user", "content": [{"text": "no type"}]}]},
        {"messages": [{"role": "user", "content": "x"}], "conversations": []},
        {"messages": [{"role": "user", "content": "x"}], "metadata": "not a dict"},
        {"messages": [{"role": "user", "content": "x"}], "user_id": {"nested": True}},
        {"messages": [{"role": "user", "content": "x"}], "timestamp": True},
        {"conversations": [{"from": "human", "value": 3}]},
        "a string",
        None,
    ],
)
def test_invalid_record(obj: object) -> None:
    r = _rejected(obj)
    assert r.reason is RejectReason.INVALID_RECORD
    assert r.detail


def test_invalid_record_names_the_field() -> None:
    r = _rejected({"id": "r1", "messages": [{"role": "user", "content": "x"}, {"role": "user", "content": 5}]})
    assert r.detail.startswith("messages[1].content:")
    assert r.record_id == "r1"


def test_unknown_role() -> None:
    r = _rejected({"messages": [{"role": "user", "content": "x"}, {"role": "user", "content": "y"}, {"role": "wizard", "content": "z"}]})
    assert r.reason is RejectReason.UNKNOWN_ROLE
    assert r.detail == "messages[2].role: 'wizard' is not a known role"
    r = _rejected({"conversations": [{"from": "human", "value": "x"}, {"from": "narrator", "value": "y"}]})
    assert r.detail == "conversations[1].from: 'narrator' is not a known role"


@pytest.mark.parametrize(
    "messages",
    [
        [],
        [{"role": "assistant", "content": "I speak alone"}],
        [{"role": "system", "content": "sys"}, {"role": "assistant", "content": "x"}],
        [{"role": "user", "content": "   "}, {"role": "assistant", "content": "x"}],
        [{"role": "user", "content": [{"type": "image", "source": {}}]}],
        [{"role": "user", "content": None}],
    ],
)
def test_no_user_turn(messages: list) -> None:
    assert _rejected({"messages": messages}).reason is RejectReason.NO_USER_TURN


@pytest.mark.parametrize(
    ("messages", "where"),
    [
        ([{"role": "user", "content": "q"}, {"role": "assistant", "content": ""}], "messages[1].content"),
        ([{"role": "user", "content": "q"}, {"role": "user", "content": " \n\t"}], "messages[1].content"),
        ([{"role": "user", "content": "q"}, {"role": "assistant", "content": None}], "messages[1].content"),
        ([{"role": "user", "content": "\x00"}, {"role": "user", "content": "q"}], "messages[0].content"),
        (
            [{"role": "user", "content": "q"}, {"role": "assistant", "content": [{"type": "tool_use", "id": "t"}]}],
            "messages[1].content",
        ),
    ],
)
def test_empty_text(messages: list, where: str) -> None:
    r = _rejected({"messages": messages})
    assert r.reason is RejectReason.EMPTY_TEXT
    assert r.detail.startswith(where + ":")


def test_empty_text_sharegpt() -> None:
    r = _rejected({"conversations": [{"from": "human", "value": "q"}, {"from": "gpt", "value": ""}]})
    assert r.reason is RejectReason.EMPTY_TEXT
    assert r.detail.startswith("conversations[1].value:")


def test_text_too_long() -> None:
    limits = IngestLimits(max_message_chars=100, max_conversation_chars=250)
    r = _rejected({"messages": [{"role": "user", "content": "a" * 152}]}, limits)
    assert r.reason is RejectReason.TEXT_TOO_LONG
    assert r.detail == "messages[0].content: 152 chars > limit 100"
    r = _rejected({"messages": [{"role": "user", "content": "a" * 100}] * 3}, limits)
    assert r.reason is RejectReason.TEXT_TOO_LONG
    assert r.detail == "conversation: 300 chars > limit 250"
    _accepted({"messages": [{"role": "user", "content": "a" * 100_000}]})
    assert _rejected({"messages": [{"role": "user", "content": "a" * 100_001}]}).reason is RejectReason.TEXT_TOO_LONG


def test_duplicate_filter_across_files(tmp_path: Path) -> None:
    a = _write_jsonl(
        tmp_path / "a.jsonl",
        [
            {"id": "dup", "messages": [{"role": "user", "content": "first"}]},
            {"id": "solo", "messages": [{"role": "user", "content": "x"}]},
            {"id": "bad", "messages": []},
        ],
    )
    b = _write_jsonl(
        tmp_path / "b.jsonl",
        [
            {"id": "other", "messages": [{"role": "user", "content": "y"}]},
            {"id": "dup", "messages": [{"role": "user", "content": "second"}]},
            {"id": "bad", "messages": []},
        ],
    )
    dedupe = DuplicateFilter()
    items = [dedupe(i) for f in (a, b) for i in iter_landing_file(f, LIMITS)]
    assert len(items) == 6
    dup = items[4]
    assert isinstance(dup, Rejected) and dup.reason is RejectReason.DUPLICATE_ID
    assert dup.record_id == "dup"
    assert dup.location == SourceLocation(str(b), 2)
    assert dup.detail == f"conversation_id already seen at {a}:1"
    assert isinstance(items[0], Accepted) and items[0].conversation.messages[0].text == "first"
    # rejects pass through untouched (not turned into duplicates)
    assert items[5].reason is RejectReason.NO_USER_TURN


def test_unreadable_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    d = tmp_path / "dir.jsonl"
    d.mkdir()
    for path in (d, tmp_path / "missing.jsonl", tmp_path / "notes.txt"):
        if path.suffix == ".txt":
            path.write_text("hello")
        item = _only(list(iter_landing_file(path, LIMITS)))
        assert isinstance(item, Rejected)
        assert item.reason is RejectReason.UNREADABLE_FILE and item.location.line is None

    # permission denied (simulated: tests may run as root)
    f = _write_jsonl(tmp_path / "locked.jsonl", [{"messages": [{"role": "user", "content": "x"}]}])

    def deny(*args: object, **kwargs: object) -> None:
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(ingest, "open", deny, raising=False)
    item = _only(list(iter_landing_file(f, LIMITS)))
    assert isinstance(item, Rejected)
    assert item.reason is RejectReason.UNREADABLE_FILE and item.location.line is None
    j = tmp_path / "locked.json"
    j.write_text("{}")
    item = _only(list(iter_landing_file(j, LIMITS)))
    assert isinstance(item, Rejected) and item.reason is RejectReason.UNREADABLE_FILE


def test_truncated_and_fake_parquet(tmp_path: Path) -> None:
    good = _parquet_messages(tmp_path / "good.parquet", 50)
    data = good.read_bytes()
    trunc = tmp_path / "trunc.parquet"
    trunc.write_bytes(data[: len(data) // 2])
    fake = tmp_path / "fake.parquet"
    fake.write_text('{"messages": []}')
    for path in (trunc, fake):
        item = _only(list(iter_landing_file(path, LIMITS)))
        assert isinstance(item, Rejected)
        assert item.reason is RejectReason.UNREADABLE_FILE and item.location.line is None


def test_parquet_bad_rows_are_rejects(tmp_path: Path) -> None:
    table = pa.table({"messages": pa.array([None, "not a list"]), "id": pa.array(["a", "b"])})
    path = tmp_path / "rows.parquet"
    pq.write_table(table, path)
    items = list(iter_landing_file(path, LIMITS))
    assert [i.reason for i in items] == [RejectReason.INVALID_RECORD, RejectReason.INVALID_RECORD]
    assert [i.record_id for i in items] == ["a", "b"]


# ------------------------------------------------------------------------------------------
# Timestamps
# ------------------------------------------------------------------------------------------

T = datetime(2023, 2, 7, 17, 29, 24, tzinfo=UTC)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2023-02-07T17:29:24Z", T),
        ("2023-02-07T17:29:24+00:00", T),
        ("2023-02-07T19:29:24+02:00", T),
        ("2023-02-07T12:29:24-05:00", T),
        ("2023-02-07T17:29:24", T),
        ("2023-02-07 17:29:24", T),
        ("2023-02-07T17:29:24.727400+00:00", T.replace(microsecond=727400)),
        ("2023-02-07", datetime(2023, 2, 7, tzinfo=UTC)),
        (1675790964, T),
        (1675790964.5, T.replace(microsecond=500000)),
        (1675790964000, T),
        (1675790964250, T.replace(microsecond=250000)),
        (datetime(2023, 2, 7, 17, 29, 24), T),
        (datetime(2023, 2, 7, 18, 29, 24, tzinfo=timezone(timedelta(hours=1))), T),
    ],
)
def test_timestamp_variants(value: object, expected: datetime) -> None:
    ts = _accepted({"timestamp": value, "messages": [{"role": "user", "content": "x"}]}).conversation.timestamp
    assert ts == expected
    assert ts.tzinfo is not None and ts.utcoffset() == timedelta(0)


def test_no_timestamp_is_none() -> None:
    assert _accepted({"messages": [{"role": "user", "content": "x"}]}).conversation.timestamp is None


@pytest.mark.parametrize(
    "value",
    ["yesterday", "", "  ", "2023-13-01", "2023-02-30T00:00:00", "1675790964", float("nan"), float("inf"), 1e300],
)
def test_bad_timestamp(value: object) -> None:
    r = _rejected({"timestamp": value, "messages": [{"role": "user", "content": "x"}]})
    assert r.reason is RejectReason.BAD_TIMESTAMP
    assert r.detail.startswith("timestamp:")


def test_bad_timestamp_names_alias() -> None:
    r = _rejected({"created_at": "soon", "messages": [{"role": "user", "content": "x"}]})
    assert r.detail.startswith("created_at:")


# ------------------------------------------------------------------------------------------
# Conservation and privacy
# ------------------------------------------------------------------------------------------


def _planted_lines() -> list[bytes]:
    """One record line per reject reason (+ accepted ones), all carrying the planted values."""
    u = PLANTED_USER
    t = PLANTED_TEXT

    def line(obj: object) -> bytes:
        return json.dumps(obj).encode()

    return [
        line({"id": "ok-1", "user_id": u, "messages": [{"role": "user", "content": t}]}),
        b'{"id": "mal", "user_id": "' + u.encode() + b'", "messages": [' + t.encode(),
        b'{"user_id": "' + u.encode() + b'", "text": "' + t.encode() + b' \xc3\x28"}',
        line([u, t]),
        line({"id": t, "user_id": u, "messages": [{"role": "user", "content": 17, "extra": t}]}),
        line({"id": "bad-user", "user_id": {"name": u}, "messages": [{"role": "user", "content": t}]}),
        line({"user_id": u, "messages": [{"role": "user", "content": t}], "metadata": t}),
        line({"user_id": u, "messages": [{"role": "assistant", "content": t}]}),
        line({"user_id": u, "messages": [{"role": "user", "content": t}, {"role": t, "content": t}]}),
        line({"user_id": u, "messages": [{"role": "user", "content": t}, {"role": "assistant", "content": " "}]}),
        line({"user_id": u, "messages": [{"role": "user", "content": t * 3000}]}),
        line({"user_id": u, "timestamp": t, "messages": [{"role": "user", "content": t}]}),
        line({"user_id": u, "timestamp": u, "messages": [{"role": "user", "content": t}]}),
        line({"id": "ok-1", "user_id": u, "messages": [{"role": "user", "content": t}]}),
        line({"conversation_id": u, "id": t, "user_id": u, "messages": [{"role": "user", "content": t}]}),
        line({"conversations": [{"from": t, "value": t}], "user": u}),
        b"",
        b"  ",
        line({"id": "ok-2", "user_id": u, "conversations": [{"from": "human", "value": t}]}),
    ]


def test_mixed_file_conservation_and_no_leaks(tmp_path: Path) -> None:
    lines = _planted_lines()
    path = tmp_path / "mixed.jsonl"
    path.write_bytes(b"\n".join(lines) + b"\n")
    dedupe = DuplicateFilter()
    items = [dedupe(i) for i in iter_landing_file(path, LIMITS)]
    non_blank = [n for n, raw in enumerate(lines, 1) if raw.strip()]
    assert len(items) == len(non_blank)
    assert [i.location.line for i in items] == non_blank

    reasons = {i.reason for i in items if isinstance(i, Rejected)}
    assert reasons == set(RejectReason) - {RejectReason.UNREADABLE_FILE}
    assert sum(isinstance(i, Accepted) for i in items) == 2

    fragments = [PLANTED_TEXT, PLANTED_USER, "giraffe", "lighthouses", "zq9", "secret-7781"]
    for item in items:
        if isinstance(item, Rejected):
            for frag in fragments:
                assert frag not in item.detail, (item.reason, item.detail)


def test_no_leaks_from_python_objects() -> None:
    """parse_record on non-JSON Python values (e.g. from parquet) must not leak either."""
    bad = [
        {"messages": [{"role": "user", "content": PLANTED_TEXT}], "blob": PLANTED_TEXT.encode()},
        {"messages": [{"role": "user", "content": PLANTED_TEXT}], "metadata": {PLANTED_USER: {1, 2}}},
        {"messages": [{"role": "user", "content": PLANTED_TEXT}], PLANTED_TEXT: object()},
        {"messages": [{"role": "user", "content": PLANTED_TEXT}], "user_id": 3.5},
    ]
    for obj in bad:
        r = _rejected(obj)
        assert r.reason is RejectReason.INVALID_RECORD
        assert PLANTED_TEXT not in r.detail and PLANTED_USER not in r.detail


# ------------------------------------------------------------------------------------------
# Property tests
# ------------------------------------------------------------------------------------------

json_scalars = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20)
json_values = st.recursive(
    json_scalars,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=15,
)
role_names = st.sampled_from(["user", "assistant", "system", "tool", "human", "gpt", "wizard", "", "User"])
content = st.text(max_size=30) | st.none() | st.integers() | st.lists(
    st.fixed_dictionaries({"type": st.sampled_from(["text", "image"])}, optional={"text": st.text(max_size=10) | st.integers()}),
    max_size=3,
)
message_like = st.fixed_dictionaries({}, optional={"role": role_names | json_scalars, "content": content})
record_like = st.fixed_dictionaries(
    {},
    optional={
        "id": st.text(max_size=10) | st.integers() | json_values,
        "conversation_id": st.text(max_size=10) | json_values,
        "user_id": st.text(max_size=10) | json_values,
        "timestamp": st.text(max_size=30) | st.integers() | st.floats() | st.datetimes() | json_values,
        "messages": st.lists(message_like, max_size=4) | json_values,
        "conversations": st.lists(
            st.fixed_dictionaries({}, optional={"from": role_names, "value": st.text(max_size=20) | st.none()}),
            max_size=3,
        ),
        "metadata": json_values,
        "language": json_values,
    },
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(record_like | json_values)
def test_parse_record_never_raises(obj: object) -> None:
    item = parse_record(obj, LOC, LIMITS)
    assert isinstance(item, Accepted | Rejected)
    if isinstance(item, Rejected):
        assert isinstance(item.reason, RejectReason) and item.detail
        assert not item.detail.startswith("unexpected"), item.detail  # no bug hidden by the catch-all


def _line_strategy() -> st.SearchStrategy[bytes]:
    raw = st.binary(max_size=40).map(lambda b: b.replace(b"\n", b" "))
    dumped = (record_like | json_values).map(lambda o: json.dumps(o, default=str).encode())
    return raw | dumped | st.sampled_from([b"", b"   ", b"\r", b"{", b"\xff\xfe", b"\xef\xbb\xbf"])


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(st.lists(_line_strategy(), max_size=12), st.booleans())
def test_jsonl_one_item_per_non_blank_line(tmp_path: Path, lines: list[bytes], trailing_newline: bool) -> None:
    path = tmp_path / "prop.jsonl"
    path.write_bytes(b"\n".join(lines) + (b"\n" if trailing_newline and lines else b""))
    items = list(iter_landing_file(path, LIMITS))

    def blank(n: int, raw: bytes) -> bool:
        if n == 1 and raw.startswith(b"\xef\xbb\xbf"):
            raw = raw[3:]
        return not raw.strip()

    expected = [n for n, raw in enumerate(lines, 1) if not blank(n, raw)]
    assert [i.location.line for i in items] == expected
    assert all(isinstance(i, Accepted | Rejected) for i in items)
    assert not any(isinstance(i, Rejected) and i.detail.startswith("unexpected") for i in items)
