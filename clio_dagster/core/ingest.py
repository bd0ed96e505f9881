"""Parse landing files into accepted conversations or explicit rejects, losing nothing.

Pure module: no Dagster imports. Every record read from a landing file comes out as exactly one
`Accepted` or one `Rejected`; `iter_landing_file` never raises for bad content (bad JSON, bad
bytes, bad types, unreadable or truncated files all become `Rejected` items).

Supported files
---------------
* ``*.jsonl`` / ``*.ndjson`` (optionally ``.gz``): one record per line. The file is read as bytes
  and each line is decoded on its own, so one invalid UTF-8 line rejects only that line.
  Blank lines (only ASCII whitespace) are skipped and are not records. A leading UTF-8 BOM is
  ignored. ``SourceLocation.line`` is the 1-based line number.
* ``*.json`` (optionally ``.gz``): one record object, or a list of records. ``line`` is the list
  index + 1 (1 for a single object). A file that is not valid JSON (or not an object / list) gives
  one ``MALFORMED_JSON`` reject with ``line=None``; a list element that is not an object is an
  ``INVALID_RECORD``.
* ``*.parquet`` (or ``*.pq``): one record per row, read with pyarrow in row batches. Null cells count as absent
  fields. ``line`` is the row index + 1. A file pyarrow cannot open (truncated, not parquet) gives
  one ``UNREADABLE_FILE`` reject with ``line=None``; a read error part-way gives one
  ``UNREADABLE_FILE`` reject located at the first row that could not be read.
* A path that cannot be opened at all (missing, permissions, a directory) or has an unsupported
  extension gives one ``UNREADABLE_FILE`` reject with ``line=None``. An I/O or decompression
  error part-way through a JSONL file gives one ``UNREADABLE_FILE`` reject at the line where
  reading stopped (the lines before it have already been yielded).

Record shapes
-------------
* OpenAI / Anthropic: ``{"messages": [{"role", "content"}], ...}`` where ``content`` is a string,
  ``null`` or a list of blocks ``{"type": ..., ...}``. Only ``type == "text"`` blocks count (their
  ``text`` values joined with ``"\\n"``); other blocks (images, tool calls, ...) are ignored.
* ShareGPT: ``{"conversations": [{"from", "value"}], ...}``.
* A record with both ``messages`` and ``conversations`` is an ``INVALID_RECORD`` (ambiguous).
* Roles (case-insensitive, one table for both shapes): user/human -> user;
  assistant/gpt/chatgpt/bing/bard/ai/model/bot -> assistant; system/developer -> system;
  tool/function -> tool. Anything else -> ``UNKNOWN_ROLE``.
* Field aliases: ``id`` | ``conversation_id``; ``user_id`` | ``user`` | ``userId``;
  ``timestamp`` | ``created_at`` | ``time``. Two aliases of one field with different values ->
  ``INVALID_RECORD``. ids may be strings or integers (integers become strings); an empty id counts
  as absent and an empty ``user_id`` as None.
* A record without an id gets ``derived_conversation_id(...)`` ("auto-" + 32 hex chars of a
  sha256 over the normalised user id, timestamp and messages), so identical id-less records are
  caught by ``DuplicateFilter``.
* Unknown top-level fields (``language``, ``label``, flags...) go into ``metadata``, merged with an
  explicit ``metadata`` object; on a key clash the explicit ``metadata`` value wins. Metadata must
  be JSON-like: dates/times become ISO strings, non-finite floats become None, anything else that
  is not str/int/float/bool/None/list/dict is an ``INVALID_RECORD``.
* Timestamps: ISO-8601 strings (a naive one is taken as UTC), epoch numbers in seconds (absolute
  values > 1e11 are milliseconds), or ``datetime`` objects (from parquet). The result is
  timezone-aware UTC. Anything else (including an empty string) -> ``BAD_TIMESTAMP``.

Text normalisation: NUL characters are removed and lone UTF-16 surrogates (possible via JSON
``\\ud800`` escapes) are replaced with U+FFFD, in texts, ids and metadata strings. Texts are
otherwise kept verbatim (no trimming).

Reject policy (checks run in this order; the first failing one decides the reason)
-------------------------------------------------------------------------------------
1. ``MALFORMED_JSON``: a JSONL line that is not valid UTF-8, not valid JSON (``NaN``/``Infinity``
   are not JSON) or not a JSON object.
2. ``INVALID_RECORD``: missing ``messages``/``conversations``, wrong types anywhere in the
   envelope or the turns, conflicting aliases, non-JSON metadata.
3. ``BAD_TIMESTAMP``: a timestamp is present but cannot be parsed.
4. ``UNKNOWN_ROLE``: the first turn whose role is not in the table above.
5. ``NO_USER_TURN``: no user turn with non-whitespace text (including an empty turn list, and a
   conversation whose only user turns are empty).
6. ``EMPTY_TEXT``: otherwise, ANY turn (user, assistant, system or tool) whose text is empty or
   whitespace after dropping non-text blocks and NULs rejects the whole record. We keep this
   strict and simple: a conversation with a blank turn is not silently repaired.
7. ``TEXT_TOO_LONG``: a turn over ``max_message_chars`` or a conversation (sum of turn lengths)
   over ``max_conversation_chars``. A JSONL line longer than ``IngestLimits.max_line_bytes`` gets this
   reason before anything else (it is skipped in chunks, never decoded), so one huge line cannot
   exhaust memory.
8. ``DUPLICATE_ID`` is applied afterwards by ``DuplicateFilter`` (first occurrence wins).

``Rejected.detail`` names the field and the rule, e.g. ``"messages[2].role: 'wizard' is not a
known role"`` or ``"messages[0].content: 152000 chars > limit 100000"``. It never contains record
text, ids, user ids or other input values; the only input values that may appear are role names
(and only when they look like a short identifier) and numbers.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import math
import re
import zlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from decimal import Decimal
from enum import StrEnum
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, StrictInt, StrictStr, ValidationError, model_validator

from clio_dagster.core.records import Conversation, Message

__all__ = [
    "Accepted",
    "DuplicateFilter",
    "IngestLimits",
    "RejectReason",
    "Rejected",
    "SourceLocation",
    "derived_conversation_id",
    "iter_landing_file",
    "parse_record",
]


class RejectReason(StrEnum):
    MALFORMED_JSON = "malformed_json"
    INVALID_RECORD = "invalid_record"
    NO_USER_TURN = "no_user_turn"
    UNKNOWN_ROLE = "unknown_role"
    EMPTY_TEXT = "empty_text"
    TEXT_TOO_LONG = "text_too_long"
    DUPLICATE_ID = "duplicate_id"
    UNREADABLE_FILE = "unreadable_file"
    BAD_TIMESTAMP = "bad_timestamp"


@dataclass(frozen=True)
class SourceLocation:
    file: str
    line: int | None

    def __str__(self) -> str:
        return self.file if self.line is None else f"{self.file}:{self.line}"


@dataclass(frozen=True)
class Accepted:
    location: SourceLocation
    conversation: Conversation


@dataclass(frozen=True)
class Rejected:
    location: SourceLocation
    record_id: str | None
    reason: RejectReason
    detail: str


@dataclass(frozen=True)
class IngestLimits:
    max_message_chars: int = 100_000
    max_conversation_chars: int = 400_000

    @property
    def max_line_bytes(self) -> int:
        """The longest JSONL line worth parsing: a conversation at its character limit written entirely as
        JSON escapes (12 bytes per character at worst), plus 1 MiB for ids and metadata. Anything longer is
        quarantined without being decoded or held in memory whole."""
        return 12 * self.max_conversation_chars + (1 << 20)


# --------------------------------------------------------------------------------------------
# Raw shapes (validated with pydantic in strict mode: no silent int -> str coercion etc.)
# --------------------------------------------------------------------------------------------


class _RawBlock(BaseModel):
    model_config = ConfigDict(extra="ignore", strict=True)

    type: StrictStr
    text: StrictStr | None = None

    @model_validator(mode="after")
    def _text_block_has_text(self) -> _RawBlock:
        if self.type == "text" and self.text is None:
            raise ValueError("a 'text' block needs a string 'text'")
        return self


class _RawMessage(BaseModel):
    model_config = ConfigDict(extra="ignore", strict=True)

    role: StrictStr
    content: StrictStr | list[_RawBlock] | None


class _RawShareGPTTurn(BaseModel):
    model_config = ConfigDict(extra="ignore", strict=True, populate_by_name=False)

    from_: StrictStr = Field(alias="from")
    value: StrictStr | None


class _RawOpenAIRecord(BaseModel):
    model_config = ConfigDict(extra="ignore", strict=True)

    messages: list[_RawMessage]


class _RawShareGPTRecord(BaseModel):
    model_config = ConfigDict(extra="ignore", strict=True)

    conversations: list[_RawShareGPTTurn]


class _RawEnvelope(BaseModel):
    """The non-turn fields, after alias resolution."""

    model_config = ConfigDict(extra="forbid", strict=True)

    id: StrictStr | StrictInt | None = None
    user_id: StrictStr | StrictInt | None = None
    timestamp: StrictStr | StrictInt | float | datetime | None = None
    metadata: dict[str, Any] | None = None


_ALIASES: dict[str, tuple[str, ...]] = {
    "id": ("id", "conversation_id"),
    "user_id": ("user_id", "user", "userId"),
    "timestamp": ("timestamp", "created_at", "time"),
}
_KNOWN_FIELDS = frozenset(
    {"messages", "conversations", "metadata"} | {a for names in _ALIASES.values() for a in names}
)

_ROLE_MAP: dict[str, str] = {
    "user": "user",
    "human": "user",
    "assistant": "assistant",
    "gpt": "assistant",
    "chatgpt": "assistant",
    "bing": "assistant",
    "bard": "assistant",
    "ai": "assistant",
    "model": "assistant",
    "bot": "assistant",
    "system": "system",
    "developer": "system",
    "tool": "tool",
    "function": "tool",
}
_SAFE_ROLE_RE = re.compile(r"[A-Za-z][A-Za-z0-9_\-]{0,23}")


class _Reject(Exception):
    def __init__(self, reason: RejectReason, detail: str) -> None:
        super().__init__(detail)
        self.reason = reason
        self.detail = detail


# --------------------------------------------------------------------------------------------
# Helpers
# --------------------------------------------------------------------------------------------

_SURROGATE_RE = re.compile("[\ud800-\udfff]")


def _clean_str(s: str) -> str:
    if "\x00" in s:
        s = s.replace("\x00", "")
    if _SURROGATE_RE.search(s):
        s = _SURROGATE_RE.sub("\ufffd", s)
    return s


def _format_loc(loc: Iterable[Any]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out or "record"


_LOC_FIELDS = frozenset(
    {"messages", "role", "content", "type", "text", "conversations", "from", "value"}
    | {"id", "user_id", "timestamp", "metadata"}
)
_EXPECTED = {
    "content": "a string, a list of content blocks or null",
    "value": "a string or null",
    "id": "a string or an integer",
    "user_id": "a string or an integer",
    "timestamp": "an ISO-8601 string, an epoch number or null",
}


def _pydantic_detail(err: ValidationError) -> str:
    """One short line from a pydantic error: field path + message, never the input."""
    errors = err.errors(include_input=False, include_url=False, include_context=False)
    # Drop union-member tags ("str", "list[...]") from locations; keep our field names + indexes.
    cleaned = [
        (tuple(p for p in e["loc"] if isinstance(p, int) or p in _LOC_FIELDS), e["msg"])
        for e in errors
    ]
    if not cleaned:
        return "invalid record"
    head = cleaned[0][0]
    group = [c for c in cleaned if c[0][: len(head)] == head]
    deepest = max(group, key=lambda c: len(c[0]))
    if len(deepest[0]) > len(head):
        loc, msg = deepest
    elif len(group) > 1 and head and isinstance(head[-1], str) and head[-1] in _EXPECTED:
        loc, msg = head, f"should be {_EXPECTED[head[-1]]}"
    else:
        loc, msg = cleaned[0]
    others = len({c[0] for c in cleaned if c[0][: len(head)] != head})
    return f"{_format_loc(loc)}: {msg}" + (f" (+{others} more errors)" if others else "")


def _describe_role(role: str) -> str:
    if _SAFE_ROLE_RE.fullmatch(role):
        return f"{role!r} is not a known role"
    return f"unknown role ({len(role)} chars)"


def _jsonable(value: Any, path: str, depth: int = 0) -> Any:
    """Return a JSON-serialisable copy of a metadata value, or raise _Reject."""
    if depth > 64:
        raise _Reject(RejectReason.INVALID_RECORD, f"{path}: nested deeper than 64 levels")
    if value is None or isinstance(value, bool | int):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, str):
        return _clean_str(value)
    if isinstance(value, Decimal):
        return float(value) if value.is_finite() else None
    if isinstance(value, datetime | date | time):
        return value.isoformat()
    if isinstance(value, list | tuple):
        return [_jsonable(v, f"{path}[{i}]", depth + 1) for i, v in enumerate(value)]
    if isinstance(value, dict):
        out: dict[str, Any] = {}
        for k, v in value.items():
            if not isinstance(k, str):
                raise _Reject(RejectReason.INVALID_RECORD, f"{path}: has a non-string key")
            out[_clean_str(k)] = _jsonable(v, f"{path}.<key>", depth + 1)
        return out
    raise _Reject(
        RejectReason.INVALID_RECORD,
        f"{path}: value of type {type(value).__name__} is not JSON-serialisable",
    )


def _parse_timestamp(value: Any, field: str) -> datetime | None:
    if value is None:
        return None
    bad = _Reject(RejectReason.BAD_TIMESTAMP, f"{field}: not an ISO-8601 string or epoch number")
    try:
        if isinstance(value, datetime):
            dt = value
        elif isinstance(value, int | float) and not isinstance(value, bool):
            secs = float(value)
            if not math.isfinite(secs):
                raise bad
            if abs(secs) > 1e11:
                secs /= 1000.0
            return datetime.fromtimestamp(secs, tz=UTC)
        elif isinstance(value, str):
            text = value.strip()
            if not text or not text[0].isdigit():
                raise bad
            dt = datetime.fromisoformat(text)
        else:
            raise bad
        if dt.tzinfo is None or dt.tzinfo.utcoffset(dt) is None:
            return dt.replace(tzinfo=UTC)
        return dt.astimezone(UTC)
    except _Reject:
        raise
    except (ValueError, OverflowError, OSError, TypeError) as e:
        raise bad from e


def _as_id(value: str | int | None) -> str | None:
    if value is None:
        return None
    s = _clean_str(str(value))
    return s if s.strip() else None


def _raw_record_id(obj: Any) -> str | None:
    """Best-effort id of a raw record, for Rejected.record_id (never used in `detail`)."""
    if not isinstance(obj, dict):
        return None
    for name in _ALIASES["id"]:
        v = obj.get(name)
        if isinstance(v, str | int) and not isinstance(v, bool):
            return _as_id(v)
    return None


def derived_conversation_id(
    user_id: str | None, timestamp: datetime | None, messages: Iterable[Message]
) -> str:
    """Stable id for a record without one: "auto-" + first 32 hex chars of sha256 of canonical JSON."""
    canonical = json.dumps(
        {
            "user_id": user_id,
            "timestamp": timestamp.astimezone(UTC).isoformat() if timestamp is not None else None,
            "messages": [[m.role, m.text] for m in messages],
        },
        ensure_ascii=True,
        sort_keys=True,
        separators=(",", ":"),
    )
    return "auto-" + hashlib.sha256(canonical.encode("ascii")).hexdigest()[:32]


# --------------------------------------------------------------------------------------------
# One record
# --------------------------------------------------------------------------------------------


def _resolve_aliases(obj: dict[str, Any]) -> dict[str, Any]:
    envelope: dict[str, Any] = {}
    for canonical, names in _ALIASES.items():
        present = [(n, obj[n]) for n in names if n in obj and obj[n] is not None]
        if not present:
            continue
        first_name, first_value = present[0]
        for other_name, other_value in present[1:]:
            if other_value != first_value or type(other_value) is not type(first_value):
                raise _Reject(
                    RejectReason.INVALID_RECORD,
                    f"{first_name} and {other_name}: conflicting values for {canonical}",
                )
        envelope[canonical] = first_value
    if obj.get("metadata") is not None:
        envelope["metadata"] = obj["metadata"]
    return envelope


def _turns(obj: dict[str, Any]) -> tuple[str, list[tuple[str, str, str]]]:
    """Validate the turn list; return (field name, [(loc, raw role, text)])."""
    has_messages = "messages" in obj
    has_conversations = "conversations" in obj
    if has_messages and has_conversations:
        raise _Reject(
            RejectReason.INVALID_RECORD, "record has both 'messages' and 'conversations'"
        )
    if has_messages:
        try:
            raw = _RawOpenAIRecord.model_validate({"messages": obj["messages"]})
        except ValidationError as e:
            raise _Reject(RejectReason.INVALID_RECORD, _pydantic_detail(e)) from None
        turns = []
        for i, m in enumerate(raw.messages):
            if m.content is None:
                text = ""
            elif isinstance(m.content, str):
                text = m.content
            else:
                text = "\n".join(b.text for b in m.content if b.type == "text" and b.text)
            turns.append((f"messages[{i}]", m.role, _clean_str(text)))
        return "content", turns
    if has_conversations:
        try:
            raw_sg = _RawShareGPTRecord.model_validate({"conversations": obj["conversations"]})
        except ValidationError as e:
            raise _Reject(RejectReason.INVALID_RECORD, _pydantic_detail(e)) from None
        turns = [
            (f"conversations[{i}]", t.from_, _clean_str(t.value or ""))
            for i, t in enumerate(raw_sg.conversations)
        ]
        return "value", turns
    raise _Reject(RejectReason.INVALID_RECORD, "missing 'messages' (or ShareGPT 'conversations')")


def _parse(obj: Any, limits: IngestLimits) -> Conversation:
    if not isinstance(obj, dict):
        raise _Reject(
            RejectReason.INVALID_RECORD, f"record is not an object (got {type(obj).__name__})"
        )
    if not all(isinstance(k, str) for k in obj):
        raise _Reject(RejectReason.INVALID_RECORD, "record has a non-string key")

    # 2. structure
    text_field, turns = _turns(obj)
    try:
        envelope = _RawEnvelope.model_validate(_resolve_aliases(obj))
    except ValidationError as e:
        raise _Reject(RejectReason.INVALID_RECORD, _pydantic_detail(e)) from None
    metadata: dict[str, Any] = {}
    for key, value in obj.items():
        if key not in _KNOWN_FIELDS:
            metadata[_clean_str(key)] = _jsonable(value, "<extra field>")
    if envelope.metadata is not None:
        metadata.update(_jsonable(envelope.metadata, "metadata"))

    # 3. timestamp
    ts_field = next((n for n in _ALIASES["timestamp"] if obj.get(n) is not None), "timestamp")
    timestamp = _parse_timestamp(envelope.timestamp, ts_field)

    # 4. roles
    messages: list[Message] = []
    for loc, role, text in turns:
        mapped = _ROLE_MAP.get(role.strip().lower())
        if mapped is None:
            role_field = "role" if text_field == "content" else "from"
            raise _Reject(RejectReason.UNKNOWN_ROLE, f"{loc}.{role_field}: {_describe_role(role)}")
        messages.append(Message(role=mapped, text=text))  # type: ignore[arg-type]

    # 5. user turn
    if not any(m.role == "user" and m.text.strip() for m in messages):
        roles = sorted({m.role for m in messages})
        raise _Reject(
            RejectReason.NO_USER_TURN,
            f"no user turn with text among {len(messages)} turns (roles: {', '.join(roles) or 'none'})",
        )

    # 6. empty turns
    for (loc, _, _), m in zip(turns, messages, strict=True):
        if not m.text.strip():
            raise _Reject(
                RejectReason.EMPTY_TEXT, f"{loc}.{text_field}: {m.role} turn has no text"
            )

    # 7. lengths
    total = 0
    for (loc, _, _), m in zip(turns, messages, strict=True):
        n = len(m.text)
        if n > limits.max_message_chars:
            raise _Reject(
                RejectReason.TEXT_TOO_LONG,
                f"{loc}.{text_field}: {n} chars > limit {limits.max_message_chars}",
            )
        total += n
    if total > limits.max_conversation_chars:
        raise _Reject(
            RejectReason.TEXT_TOO_LONG,
            f"conversation: {total} chars > limit {limits.max_conversation_chars}",
        )

    user_id = _as_id(envelope.user_id)
    conversation_id = _as_id(envelope.id) or derived_conversation_id(user_id, timestamp, messages)
    return Conversation(
        conversation_id=conversation_id,
        user_id=user_id,
        timestamp=timestamp,
        messages=tuple(messages),
        metadata=metadata,
    )


def parse_record(obj: Any, location: SourceLocation, limits: IngestLimits) -> Accepted | Rejected:
    """Validate one raw record (a decoded JSON object or a parquet row as a dict)."""
    try:
        return Accepted(location=location, conversation=_parse(obj, limits))
    except _Reject as r:
        return Rejected(location, _raw_record_id(obj), r.reason, r.detail)
    except ValidationError as e:  # Conversation itself refused (should not happen)
        return Rejected(
            location, _raw_record_id(obj), RejectReason.INVALID_RECORD, _pydantic_detail(e)
        )
    except RecursionError:
        return Rejected(
            location, _raw_record_id(obj), RejectReason.INVALID_RECORD, "record nested too deeply"
        )
    except Exception as e:  # noqa: BLE001 - odd Python objects (parquet rows, direct callers)
        try:
            record_id = _raw_record_id(obj)
        except Exception:  # noqa: BLE001
            record_id = None
        return Rejected(
            location, record_id, RejectReason.INVALID_RECORD,
            f"unexpected value could not be parsed ({type(e).__name__})",
        )


class DuplicateFilter:
    """Stateful: the first occurrence of a conversation_id wins, later ones become DUPLICATE_ID."""

    def __init__(self) -> None:
        self._seen: dict[str, SourceLocation] = {}

    def __call__(self, item: Accepted | Rejected) -> Accepted | Rejected:
        if isinstance(item, Rejected):
            return item
        cid = item.conversation.conversation_id
        first = self._seen.get(cid)
        if first is None:
            self._seen[cid] = item.location
            return item
        return Rejected(
            location=item.location,
            record_id=cid,
            reason=RejectReason.DUPLICATE_ID,
            detail=f"conversation_id already seen at {first}",
        )

    def __len__(self) -> int:
        return len(self._seen)


# --------------------------------------------------------------------------------------------
# Files
# --------------------------------------------------------------------------------------------

_JSONL_SUFFIXES = (".jsonl", ".ndjson", ".jsonl.gz", ".ndjson.gz")
_JSON_SUFFIXES = (".json", ".json.gz")
_PARQUET_SUFFIXES = (".parquet", ".pq")
_READ_ERRORS = (OSError, EOFError, zlib.error)  # gzip.BadGzipFile is an OSError


def _reject_non_standard_constant(name: str) -> Any:
    raise ValueError(f"non-standard JSON constant {name}")


def _loads(text: str) -> Any:
    return json.loads(text, parse_constant=_reject_non_standard_constant)


def _json_msg(e: json.JSONDecodeError) -> str:
    # The pure-Python decoder appends the offending characters after a colon: drop them.
    return e.msg.split(":", 1)[0]


def _open_bytes(path: Path):  # noqa: ANN202
    return gzip.open(path, "rb") if path.name.lower().endswith(".gz") else open(path, "rb")  # noqa: SIM115


def _bounded_lines(fh: Any, limit: int) -> Iterator[tuple[bytes, int]]:
    """(line, its length in bytes) for each line of a binary file; a line longer than `limit` comes back as
    (b"", length), read in 1 MiB chunks and dropped, so memory stays bounded whatever the file holds."""
    while raw := fh.readline(limit + 1):
        if len(raw) <= limit or raw.endswith(b"\n"):
            yield raw, len(raw)
            continue
        size = len(raw)
        while chunk := fh.readline(1 << 20):
            size += len(chunk)
            if chunk.endswith(b"\n"):
                break
        yield b"", size


def _iter_jsonl(path: Path, file: str, limits: IngestLimits) -> Iterator[Accepted | Rejected]:
    lineno = 0
    try:
        with _open_bytes(path) as fh:
            for raw, size in _bounded_lines(fh, limits.max_line_bytes):
                lineno += 1
                if not raw:
                    yield Rejected(
                        SourceLocation(file, lineno), None, RejectReason.TEXT_TOO_LONG,
                        f"line: {size} bytes > limit {limits.max_line_bytes}",
                    )
                    continue
                if lineno == 1 and raw.startswith(b"\xef\xbb\xbf"):
                    raw = raw[3:]
                if not raw.strip():
                    continue
                loc = SourceLocation(file, lineno)
                try:
                    text = raw.decode("utf-8")
                except UnicodeDecodeError as e:
                    yield Rejected(
                        loc, None, RejectReason.MALFORMED_JSON,
                        f"line is not valid UTF-8 (bad byte at offset {e.start})",
                    )
                    continue
                try:
                    obj = _loads(text)
                except json.JSONDecodeError as e:
                    yield Rejected(
                        loc, None, RejectReason.MALFORMED_JSON,
                        f"invalid JSON at column {e.colno}: {_json_msg(e)}",
                    )
                    continue
                except (ValueError, RecursionError) as e:
                    yield Rejected(
                        loc, None, RejectReason.MALFORMED_JSON,
                        f"invalid JSON ({type(e).__name__})",
                    )
                    continue
                if not isinstance(obj, dict):
                    yield Rejected(
                        loc, None, RejectReason.MALFORMED_JSON,
                        f"line is JSON but not an object (got {type(obj).__name__})",
                    )
                    continue
                yield parse_record(obj, loc, limits)
    except _READ_ERRORS as e:
        yield Rejected(
            SourceLocation(file, lineno + 1 if lineno else None), None, RejectReason.UNREADABLE_FILE,
            f"could not read file after {lineno} lines ({type(e).__name__})",
        )


def _iter_json(path: Path, file: str, limits: IngestLimits) -> Iterator[Accepted | Rejected]:
    try:
        with _open_bytes(path) as fh:
            data = fh.read()
    except _READ_ERRORS as e:
        yield Rejected(
            SourceLocation(file, None), None, RejectReason.UNREADABLE_FILE,
            f"could not read file ({type(e).__name__})",
        )
        return
    whole = SourceLocation(file, None)
    try:
        obj = _loads(data.decode("utf-8-sig"))
    except UnicodeDecodeError as e:
        yield Rejected(
            whole, None, RejectReason.MALFORMED_JSON,
            f"file is not valid UTF-8 (bad byte at offset {e.start})",
        )
        return
    except json.JSONDecodeError as e:
        yield Rejected(
            whole, None, RejectReason.MALFORMED_JSON,
            f"invalid JSON at line {e.lineno} column {e.colno}: {_json_msg(e)}",
        )
        return
    except (ValueError, RecursionError) as e:
        yield Rejected(whole, None, RejectReason.MALFORMED_JSON, f"invalid JSON ({type(e).__name__})")
        return
    if isinstance(obj, dict):
        yield parse_record(obj, SourceLocation(file, 1), limits)
    elif isinstance(obj, list):
        for i, item in enumerate(obj):
            yield parse_record(item, SourceLocation(file, i + 1), limits)
    else:
        yield Rejected(
            whole, None, RejectReason.MALFORMED_JSON,
            f"top level is neither an object nor a list (got {type(obj).__name__})",
        )


def _iter_parquet(
    path: Path, file: str, limits: IngestLimits, batch_size: int = 1024
) -> Iterator[Accepted | Rejected]:
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        pf = pq.ParquetFile(path)
        schema = pf.schema_arrow
    except Exception as e:  # noqa: BLE001 - pyarrow raises ArrowInvalid, OSError, ...
        yield Rejected(
            SourceLocation(file, None), None, RejectReason.UNREADABLE_FILE,
            f"not a readable parquet file ({type(e).__name__})",
        )
        return
    # Nanosecond timestamps cannot become Python datetimes without pandas: truncate to us.
    target = pa.schema(
        [
            f.with_type(pa.timestamp("us", tz=f.type.tz))
            if pa.types.is_timestamp(f.type) and f.type.unit == "ns"
            else f
            for f in schema
        ]
    )
    row = 0
    try:
        for batch in pf.iter_batches(batch_size=batch_size):
            if batch.schema != target:
                batch = batch.cast(target, safe=False)
            rows = batch.to_pylist()
            for record in rows:
                row += 1
                cleaned = {k: v for k, v in record.items() if v is not None}
                yield parse_record(cleaned, SourceLocation(file, row), limits)
    except Exception as e:  # noqa: BLE001
        yield Rejected(
            SourceLocation(file, row + 1), None, RejectReason.UNREADABLE_FILE,
            f"could not read parquet after {row} rows ({type(e).__name__})",
        )


def iter_landing_file(
    path: Path, limits: IngestLimits = IngestLimits()
) -> Iterator[Accepted | Rejected]:
    """Yield one Accepted/Rejected per record in `path`; never raises for bad content."""
    path = Path(path)
    file = str(path)
    name = path.name.lower()
    try:
        is_file, is_dir = path.is_file(), path.is_dir()
    except OSError:
        is_file, is_dir = False, False
    if not is_file:
        what = "is a directory" if is_dir else "does not exist, is not accessible or is not a regular file"
        yield Rejected(SourceLocation(file, None), None, RejectReason.UNREADABLE_FILE, f"path {what}")
        return
    if name.endswith(_JSONL_SUFFIXES):
        yield from _iter_jsonl(path, file, limits)
    elif name.endswith(_JSON_SUFFIXES):
        yield from _iter_json(path, file, limits)
    elif name.endswith(_PARQUET_SUFFIXES):
        yield from _iter_parquet(path, file, limits)
    else:
        yield Rejected(
            SourceLocation(file, None), None, RejectReason.UNREADABLE_FILE,
            "unsupported file type (expected .jsonl, .ndjson, .json or .parquet)",
        )
