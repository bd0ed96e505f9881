"""A loopback fake of Anthropic's Messages and Message Batches APIs, for tests.

The real `anthropic` SDK (sync or async) talks to it over HTTP on 127.0.0.1:

    with FakeAnthropic() as fake:
        client = anthropic.Anthropic(base_url=fake.base_url, api_key="test-key")
        client.messages.create(...)

Answers are derived deterministically from the request (same request -> same tool input) for Clio's forced-tool
tasks (`record_<task>`, see `clio_dagster.llm.schemas`); faults for retry tests come from a `FaultPlan`.
Standard library only; the server runs in a background thread and stops when the `with` block exits.
"""

from __future__ import annotations

import hashlib
import html
import json
import math
import re
import socket
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit

__all__ = ["FAULT_KINDS", "DEFAULT_KNOWN_NAMES", "FakeAnthropic", "FaultInjectingServer", "FaultPlan", "LoopbackServer", "derive_tool_input"]

FAULT_KINDS = ("429", "529", "500", "timeout", "invalid_json", "invalid_schema", "no_tool")

# Capitalised two-word person names the privacy audit recognises (rating 2); extend with `known_names=`.
DEFAULT_KNOWN_NAMES = frozenset({"John Smith", "Jane Doe", "Maria Garcia", "Wei Zhang", "Ivan Petrov", "Alice Johnson"})


# --------------------------------------------------------------------------------------------------- fault plan


@dataclass(frozen=True)
class FaultPlan:
    """Which `/v1/messages` calls fail, and how. Pure configuration: the per-body state lives in the fake.

    - `script`: one entry per successive `/v1/messages` call that passes auth/validation ("ok" or a kind in
      `FAULT_KINDS`); calls beyond the script are "ok". Applied literally (no `max_consecutive` guard).
    - `rate`/`kinds`/`seed`: otherwise, a call faults when `decide(body_sha256, attempt)` says so, a pure function
      of (seed, sha256 of the canonical request JSON, 0-based attempt number of that body). After
      `max_consecutive` faults in a row for one body, its next attempt is "ok", so retries terminate.
    - `retry_after_s`: sent on 429 as `retry-after` (seconds, may be fractional) and `retry-after-ms`.
      NB: the SDK ignores a retry-after of 0 (uses its own 0.5 s backoff), hence the 10 ms default.
    - `retry_after_5xx_s`: if not None, also sent on 500/529 (the real API usually sends none there).
    - `timeout_sleep_s`: a "timeout" call sleeps this long before answering normally (set the client's
      timeout lower).
    - `x_should_retry`: if not None, sent as `x-should-retry: true|false` on 429/500/529 (the SDK obeys it).
    """

    script: Sequence[str] | None = None
    rate: float = 0.0
    kinds: Sequence[str] = ("429", "529", "500")
    seed: int = 0
    max_consecutive: int = 2
    retry_after_s: float = 0.01
    retry_after_5xx_s: float | None = None
    timeout_sleep_s: float = 2.0
    x_should_retry: bool | None = None

    def __post_init__(self) -> None:
        for kind in list(self.script or []) + list(self.kinds):
            if kind != "ok" and kind not in FAULT_KINDS:
                raise ValueError(f"unknown fault kind {kind!r}; expected 'ok' or one of {FAULT_KINDS}")
        if not 0.0 <= self.rate <= 1.0:
            raise ValueError("rate must be within [0, 1]")
        if self.rate > 0 and not self.kinds:
            raise ValueError("a fault rate needs at least one kind")

    def decide(self, body_sha256: str, attempt: int) -> str | None:
        """The seeded random decision, ignoring `max_consecutive`: a fault kind or None."""
        if self.rate <= 0:
            return None
        digest = hashlib.sha256(f"{self.seed}|{body_sha256}|{attempt}".encode()).digest()
        if int.from_bytes(digest[:8], "big") / 2**64 >= self.rate:
            return None
        return self.kinds[int.from_bytes(digest[8:16], "big") % len(self.kinds)]


# --------------------------------------------------------------------------------------------------- parsing helpers

_EMAIL_RE = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")
_PHONE_RE = re.compile(r"\+?\(?\d[\d().\s-]*\d")
_DIGITS_RE = re.compile(r"\d+")
_CJK_RE = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")
_CYRILLIC_RE = re.compile(r"[\u0400-\u04ff]")
_CONCERN_RE = re.compile(r"\b(?:kill|bomb|steal|poison|weapon|hack|hurt)", re.IGNORECASE)
_TURN_RE = re.compile(r"^\s*(User|Human|Assistant|System|Tool)\s*:\s?(.*)$", re.IGNORECASE)
_WORD_RE = re.compile(r"[^\W\d_]+(?:['’][^\W\d_]+)?")
_CAP_BIGRAM_RE = re.compile(r"(?=\b([A-Z][a-z]+ [A-Z][a-z]+)\b)")

_STOPWORDS = frozenset(
    """a about above after again against all also am an and any are as at be because been before being below between
    both but by can could did do does doing down during each few for from further had has have having he her here hers
    him his how i if in into is it its itself just me more most my no nor not of off on once only or other our ours out
    over own same she should so some such than that the their theirs them then there these they this those through to
    too under until up very was we were what when where which while who whom why will with would you your yours
    user users user's users' overall request requests requested requesting assistant assistant's task tasks asked asking
    ask help helped helping get got wanted want wants needed need needs use used using like via into onto
    """.split()
)


def _tag_pattern(tag: str) -> re.Pattern[str]:
    # The innermost <tag>…</tag>: the body may not contain another opening <tag>, so a bare mention of "<tag>" in the
    # instructions before the data does not swallow the instructions.
    return re.compile(rf"<{tag}(?:\s[^>]*)?>((?:(?!<{tag}[\s>]).)*?)</{tag}>", re.DOTALL)


def find_tags(text: str, tag: str) -> list[str]:
    """Every <tag>…</tag> body in `text`, in order (raw: inner tags kept, entities not unescaped)."""
    return _tag_pattern(tag).findall(text or "")


def find_tag(text: str, tag: str) -> str | None:
    """The last <tag>…</tag> body (data usually follows any example in the instructions), or None."""
    found = find_tags(text, tag)
    return found[-1] if found else None


def _leaf(text: str) -> str:
    return html.unescape(text).strip()


def _split_cluster(text: str) -> tuple[str, str]:
    """`name: description` -> (name, description); no colon -> (whole text, "")."""
    text = _leaf(text)
    name, sep, description = text.partition(":")
    if not sep:
        return text, ""
    return name.strip() or text, description.strip()


def _words(text: str) -> list[str]:
    return [w.lower() for w in _WORD_RE.findall(text)]


def _scrub(text: str) -> str:
    text = _EMAIL_RE.sub(" ", text)
    text = _PHONE_RE.sub(lambda m: " " if len(re.sub(r"\D", "", m.group())) >= 7 else m.group(), text)
    return _DIGITS_RE.sub(" ", text)


def _has_phone(text: str) -> bool:
    return any(len(re.sub(r"\D", "", m.group())) >= 7 for m in _PHONE_RE.finditer(text))


def _first_user_turn(conversation: str) -> str:
    """Text of the first `User: ` turn (continuation lines included); the whole text if there are no turn markers."""
    turns: list[tuple[str, list[str]]] = []
    for line in conversation.splitlines():
        match = _TURN_RE.match(line)
        if match:
            role = "user" if match.group(1).lower() in {"user", "human"} else "assistant"
            turns.append((role, [match.group(2)]))
        elif turns:
            turns[-1][1].append(line)
    for role, lines in turns:
        if role == "user":
            return "\n".join(lines).strip()
    return "" if turns else conversation.strip()


def _truncate_words(text: str, max_words: int, max_chars: int) -> str:
    text = " ".join(text.split()[:max_words])
    return text[:max_chars].rstrip() or "general requests"


# --------------------------------------------------------------------------------------------------- task answers

def _answer_extract_facets(text: str, known_names: frozenset[str]) -> dict:
    conversation = find_tag(text, "conversation")
    if conversation is None:
        phrase, languages, concerning = "get help with an unspecified task", ["English"], 1
    else:
        conversation = html.unescape(conversation)
        first = _first_user_turn(conversation)
        words = [w for w in (tok.strip(".,;:!?\"'()[]{}<>`*_~/\\|") for tok in _scrub(first).split()) if w]
        phrase = " ".join(words[:12]).lower()[:300].strip() or "get help with an unspecified task"
        if _CJK_RE.search(conversation):
            languages = ["Chinese"]
        elif _CYRILLIC_RE.search(conversation):
            languages = ["Russian"]
        else:
            languages = ["English"]
        concerning = 4 if _CONCERN_RE.search(first) else 1
    return {
        "request": f"The user's overall request for the assistant is to {phrase}.",
        "task": f"The task is to {phrase}.",
        "languages": languages,
        "concerning": concerning,
    }


def _top_words(texts: Iterable[str], n: int = 3) -> list[str]:
    counts = Counter(w for t in texts for w in _words(t) if len(w) >= 3 and w not in _STOPWORDS)
    return [w for w, _ in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))[:n]]


def _answer_name_cluster(text: str, known_names: frozenset[str]) -> dict:
    in_cluster = find_tag(text, "in_cluster")
    summaries = [_leaf(s) for s in find_tags(in_cluster, "summary")] if in_cluster is not None else []
    if in_cluster is not None and not summaries:
        summaries = [_leaf(in_cluster)]
    top = _top_words(summaries)
    if not top:
        return {
            "summary": "The users asked for help with general requests. The requests did not share a clear theme.",
            "name": "Help with general requests",
        }
    joined = ", ".join(top)
    return {
        "summary": f"The users asked for help involving {joined}. These requests most often mentioned {top[0]}.",
        "name": f"Help with {joined}",
    }


def _answer_propose_parents(text: str, known_names: frozenset[str]) -> dict:
    cluster_list = find_tag(text, "cluster_list")
    clusters = [_split_cluster(c)[0] for c in find_tags(cluster_list or "", "cluster")]
    clusters = [c for c in clusters if c]
    if not clusters:
        return {"names": ["Parent: General requests"]}
    desired = _int_tag(text, "desired_names")
    n = max(1, desired if desired is not None else len(clusters))
    k = max(1, math.ceil(len(clusters) / n))
    return {"names": [f"Parent: {clusters[i]}" for i in range(0, len(clusters), k)][:200]}


def _answer_dedupe_names(text: str, known_names: frozenset[str]) -> dict:
    names_block = find_tag(text, "names")
    seen: set[str] = set()
    names: list[str] = []
    for raw in find_tags(names_block or "", "name"):
        name = _leaf(raw)
        if name and name.lower() not in seen:
            seen.add(name.lower())
            names.append(name)
    if not names:
        return {"names": ["General requests"]}
    desired = _int_tag(text, "desired_names")
    if desired is not None:
        names = names[: max(desired, 1)]
    return {"names": names[:400]}


def _answer_assign_parent(text: str, known_names: frozenset[str]) -> dict:
    # The cluster is the <cluster> outside <parent_names>.
    parents_block = find_tag(text, "parent_names")
    outside = text.replace(parents_block, "") if parents_block else text
    cluster = find_tag(outside, "cluster")
    parents = [p for p in (_leaf(p) for p in find_tags(parents_block or "", "name")) if p]
    if not parents:
        return {"parent": "General requests"}
    cluster_words = set(_words(_leaf(cluster or "")))
    best = min(parents, key=lambda p: (-len(cluster_words & set(_words(p))), p))
    return {"parent": best[:200]}


def _answer_rename_parent(text: str, known_names: frozenset[str]) -> dict:
    children = find_tag(text, "children")
    names = [_split_cluster(c)[0] for c in find_tags(children or "", "cluster")]
    names = [n for n in names if n]
    first = names[0] if names else "general requests"
    return {
        "summary": f"The users made requests like {first}. The cluster grouped {max(len(names), 1)} related topics.",
        "name": _truncate_words(f"Parent of {first}", 10, 120),
    }


def _answer_audit_privacy(text: str, known_names: frozenset[str]) -> dict:
    cluster = find_tag(text, "cluster")
    if cluster is None:
        return {"justification": "No cluster was given; nothing identifies a person.", "rating": 5}
    cluster = _leaf(cluster)
    if _EMAIL_RE.search(cluster):
        return {"justification": "The cluster contains an email address.", "rating": 1}
    if _has_phone(cluster):
        return {"justification": "The cluster contains a phone-like number.", "rating": 1}
    if "planted-identity" in cluster.lower():
        return {"justification": "The cluster contains a planted identity marker.", "rating": 1}
    lowered = {n.lower() for n in known_names}
    for bigram in _CAP_BIGRAM_RE.findall(cluster):
        if bigram.lower() in lowered:
            return {"justification": f"The cluster names a specific person ({bigram}).", "rating": 2}
    # Like a real auditor, recognise a known person from one part of the name, in any case.
    words = set(re.findall(r"[^\W\d_]+", cluster.lower()))
    for name in lowered:
        if any(len(part) >= 4 and part in words for part in name.split()):
            return {"justification": "The cluster mentions part of a specific person's name.", "rating": 2}
    return {"justification": "The cluster is general and identifies no individual.", "rating": 5}


def _answer_screen(text: str, known_names: frozenset[str]) -> dict:
    conversation = find_tag(text, "conversation")
    question = find_tag(text, "question")
    if conversation is None or question is None:
        return {"answer": "no"}
    haystack = html.unescape(conversation).lower()
    hit = any(len(w) > 4 and w in haystack for w in _words(_leaf(question)))
    return {"answer": "yes" if hit else "no"}


def _int_tag(text: str, tag: str) -> int | None:
    value = find_tag(text, tag)
    if value is None:
        return None
    match = re.search(r"-?\d+", value)
    return int(match.group()) if match else None


ANSWERS: dict[str, Callable[[str, frozenset[str]], dict]] = {
    "record_extract_facets": _answer_extract_facets,
    "record_name_cluster": _answer_name_cluster,
    "record_propose_parents": _answer_propose_parents,
    "record_dedupe_names": _answer_dedupe_names,
    "record_assign_parent": _answer_assign_parent,
    "record_rename_parent": _answer_rename_parent,
    "record_audit_privacy": _answer_audit_privacy,
    "record_screen": _answer_screen,
}


def _from_schema(schema: dict, defs: dict | None = None) -> Any:
    """A minimal value valid for a JSON schema (for tools the fake does not know)."""
    defs = defs if defs is not None else schema.get("$defs", {})
    if "$ref" in schema:
        return _from_schema(defs.get(schema["$ref"].rsplit("/", 1)[-1], {}), defs)
    for key in ("anyOf", "oneOf", "allOf"):
        if schema.get(key):
            return _from_schema(schema[key][0], defs)
    if "const" in schema:
        return schema["const"]
    if schema.get("enum"):
        return schema["enum"][0]
    kind = schema.get("type")
    if isinstance(kind, list):
        kind = next((k for k in kind if k != "null"), "null")
    if kind == "object" or "properties" in schema:
        props = schema.get("properties", {})
        return {k: _from_schema(v, defs) for k, v in props.items() if k in schema.get("required", props)}
    if kind == "array":
        return [_from_schema(schema.get("items", {}), defs) for _ in range(max(1, schema.get("minItems", 1)))]
    if kind in ("integer", "number"):
        return schema.get("minimum", 1)
    if kind == "boolean":
        return False
    if kind == "null":
        return None
    return "fake"


def derive_tool_input(
    tool: str, user_text: str, *, known_names: Iterable[str] = (), schema: dict | None = None
) -> dict:
    """The fake's deterministic tool input for `tool` given the user text of a request."""
    handler = ANSWERS.get(tool)
    if handler is not None:
        answer = handler(user_text, frozenset(DEFAULT_KNOWN_NAMES | set(known_names)))
        properties = (schema or {}).get("properties")
        if tool == "record_extract_facets" and properties is not None:
            # The facet tool asks the built-in facets a cached answer lacks and the analyst's custom facets.
            return {name: answer[name] if name in answer else _custom_answer(spec, user_text)
                    for name, spec in properties.items()}
        return answer
    return _from_schema(schema or {"type": "object"}) or {}


def _custom_answer(spec: dict, user_text: str) -> Any:
    """A custom facet's answer: the first allowed value the conversation mentions (else the last one), the middle
    of a numeric range, or a phrase from the first request after the required start (the `pattern`'s prefix)."""
    if spec.get("enum"):
        text = user_text.lower()
        return next((v for v in spec["enum"] if re.search(rf"\b{re.escape(v.lower())}\b", text)), spec["enum"][-1])
    if spec.get("type") == "integer":
        return (spec.get("minimum", 1) + spec.get("maximum", 1)) // 2
    start = re.sub(r"\\(.)", r"\1", spec.get("pattern", "^")[1:])
    conversation = find_tag(user_text, "conversation") or ""
    words = _scrub(_first_user_turn(html.unescape(conversation))).split()[:8]
    return f"{start} {' '.join(words)}".strip() or "fake"


def _wrong_type(value: Any) -> Any:
    if isinstance(value, bool) or isinstance(value, (int, float)):
        return "high"
    if isinstance(value, str):
        return 12345
    if isinstance(value, list):
        return "not-a-list"
    return ["not", "an", "object"]


# --------------------------------------------------------------------------------------------------- request helpers

def _text_of(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "\n".join(b.get("text", "") for b in content if isinstance(b, dict) and b.get("type") == "text")
    return ""


def _canonical_sha(body: Any) -> str:
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode()).hexdigest()


def _iso(ts: float | None) -> str | None:
    if ts is None:
        return None
    return datetime.fromtimestamp(ts, tz=timezone.utc).isoformat().replace("+00:00", "Z")


def _error_body(kind: str, message: str, request_id: str) -> dict:
    return {"type": "error", "error": {"type": kind, "message": message}, "request_id": request_id}


class _Reply:
    def __init__(self, status: int, body: Any, headers: dict[str, str] | None = None, *, jsonl: bool = False,
                 delay_s: float = 0.0):
        self.status, self.body, self.headers, self.jsonl, self.delay_s = status, body, headers or {}, jsonl, delay_s


# --------------------------------------------------------------------------------------------------- the fake


class LoopbackServer:
    """A threaded HTTP server on 127.0.0.1 whose requests go to `handle` (the fakes below); a context manager."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0):
        self._host, self._port = host, port
        self._lock = threading.RLock()
        self._stop = threading.Event()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._sockets: set[Any] = set()

    # ---------------------------------------------------------------- lifecycle
    def __enter__(self):
        self.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.stop()

    def start(self) -> None:
        if self._server is not None:
            return
        fake = self

        class Handler(_Handler):
            pass

        Handler.fake = fake
        self._stop.clear()
        self._server = ThreadingHTTPServer((self._host, self._port), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05},
                                        name=type(self).__name__, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        server, self._server = self._server, None
        if server is None:
            return
        self._stop.set()  # wakes sleeping "timeout" handlers
        server.shutdown()
        with self._lock:
            sockets = list(self._sockets)
        for sock in sockets:  # close idle keep-alive connections so no handler thread outlives the fake
            try:
                sock.shutdown(2)
            except OSError:
                pass
        server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    @property
    def base_url(self) -> str:
        if self._server is None:
            raise RuntimeError(f"{type(self).__name__} is not running; use it as a context manager")
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def handle(self, method: str, path: str, headers: dict[str, str], raw: bytes) -> _Reply:
        raise NotImplementedError


class FaultInjectingServer(LoopbackServer):
    """A loopback server whose model calls fail as a `FaultPlan` says (per-body state kept here); it counts its
    model calls in `message_calls`."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0, faults: FaultPlan | None = None):
        super().__init__(host, port)
        self._faults = faults
        self.message_calls = 0
        self.fault_log: list[dict] = []
        self._script_pos = 0
        self._body_attempts: dict[str, int] = {}
        self._body_consecutive: dict[str, int] = {}

    @property
    def faults(self) -> FaultPlan | None:
        return self._faults

    @faults.setter
    def faults(self, plan: FaultPlan | None) -> None:
        """A new plan starts from its beginning: script position and per-body fault state are reset."""
        with self._lock:
            self._faults = plan
            self._script_pos = 0
            self._body_attempts.clear()
            self._body_consecutive.clear()

    def _choose_fault(self, body: dict) -> tuple[str | None, str, int]:
        body_sha = _canonical_sha(body)
        plan = self.faults
        with self._lock:
            attempt = self._body_attempts.get(body_sha, 0)
            self._body_attempts[body_sha] = attempt + 1
            kind: str | None = None
            if plan is not None and plan.script is not None and self._script_pos < len(plan.script):
                kind = plan.script[self._script_pos]
                self._script_pos += 1
                kind = None if kind == "ok" else kind
            elif plan is not None and plan.rate > 0:
                if self._body_consecutive.get(body_sha, 0) < plan.max_consecutive:
                    kind = plan.decide(body_sha, attempt)
            self._body_consecutive[body_sha] = self._body_consecutive.get(body_sha, 0) + 1 if kind else 0
            if kind:
                self.fault_log.append({"kind": kind, "body_sha256": body_sha, "attempt": attempt,
                                       "call": self.message_calls})
        return kind, body_sha, attempt


class FakeAnthropic(FaultInjectingServer):
    """Loopback HTTP fake of `/v1/messages` and `/v1/messages/batches*`. Use as a context manager."""

    def __init__(
        self,
        *,
        faults: FaultPlan | None = None,
        api_key: str = "test-key",
        known_models: Iterable[str] | None = None,
        known_names: Iterable[str] = (),
        batch_polls_until_ended: int = 1,
        batch_errored_ids: Iterable[str] = (),
        host: str = "127.0.0.1",
        port: int = 0,
    ):
        self.api_key = api_key
        self.known_models: set[str] | None = set(known_models) if known_models is not None else None
        self.known_names: set[str] = set(DEFAULT_KNOWN_NAMES) | set(known_names)
        self.batch_polls_until_ended = batch_polls_until_ended
        self.batch_errored_ids: set[str] = set(batch_errored_ids)
        super().__init__(host, port, faults)
        # inspection
        self.requests: list[dict] = []
        self.batch_creates: list[dict] = []
        # state
        self.batches: dict[str, dict] = {}
        self._cache: set[str] = set()
        self._counter = 0

    # ---------------------------------------------------------------- inspection
    def reset_counters(self) -> None:
        """Clear `requests`, `message_calls`, `batch_creates` and `fault_log` (fault, cache and batch state stay)."""
        with self._lock:
            self.requests.clear()
            self.message_calls = 0
            self.batch_creates.clear()
            self.fault_log.clear()

    def reset_cache(self) -> None:
        with self._lock:
            self._cache.clear()

    @property
    def message_requests(self) -> list[dict]:
        with self._lock:
            return [r for r in self.requests if r["method"] == "POST" and r["path"] == "/v1/messages"]

    # ---------------------------------------------------------------- routing
    def _next_id(self, prefix: str, seed: str = "") -> str:
        with self._lock:
            self._counter += 1
            n = self._counter
        return f"{prefix}{hashlib.sha256(f'{seed}|{n}'.encode()).hexdigest()[:24]}"

    def _model_known(self, model: Any) -> bool:
        if not isinstance(model, str) or not model:
            return False
        if self.known_models is not None:
            return model in self.known_models
        return model.startswith("claude-")

    def handle(self, method: str, path: str, headers: dict[str, str], raw: bytes) -> _Reply:
        body: Any = None
        if raw:
            try:
                body = json.loads(raw)
            except ValueError:
                body = None
        with self._lock:
            self.requests.append({"method": method, "path": path, "headers": dict(headers), "json": body})
            if method == "POST" and path == "/v1/messages":
                self.message_calls += 1
        request_id = self._next_id("req_fake")
        # SDK 2.x sends the key as `Authorization: Bearer <key>`; older SDKs (and curl examples) use `x-api-key`.
        if headers.get("x-api-key") != self.api_key and headers.get("authorization") != f"Bearer {self.api_key}":
            return _Reply(401, _error_body("authentication_error", "invalid x-api-key", request_id))
        if raw and body is None:
            return _Reply(400, _error_body("invalid_request_error", "body is not valid JSON", request_id))

        if path == "/v1/messages" and method == "POST":
            return self._messages(body, request_id)
        if path == "/v1/messages/batches":
            if method == "POST":
                return self._create_batch(body, request_id)
            if method == "GET":
                with self._lock:
                    data = [self._batch_view(b) for b in reversed(self.batches.values())]
                return _Reply(200, {"data": data, "has_more": False,
                                    "first_id": data[0]["id"] if data else None,
                                    "last_id": data[-1]["id"] if data else None})
        match = re.fullmatch(r"/v1/messages/batches/([^/]+)(/results|/cancel)?", path)
        if match:
            return self._batch_route(method, match.group(1), match.group(2), request_id)
        return _Reply(404, _error_body("not_found_error", f"{method} {path} is not served by the fake", request_id))

    # ---------------------------------------------------------------- messages
    def _validate(self, body: Any) -> tuple[int, str, str] | None:
        if not isinstance(body, dict):
            return 400, "invalid_request_error", "body must be a JSON object"
        for field in ("model", "max_tokens", "messages"):
            if field not in body:
                return 400, "invalid_request_error", f"{field}: Field required"
        if not isinstance(body["max_tokens"], int) or body["max_tokens"] < 1:
            return 400, "invalid_request_error", "max_tokens: must be a positive integer"
        messages = body["messages"]
        if not isinstance(messages, list) or not messages or not isinstance(messages[0], dict) \
                or messages[0].get("role") != "user":
            return 400, "invalid_request_error", "messages: must be a non-empty list starting with a user turn"
        if body.get("stream"):
            return 400, "invalid_request_error", "stream: the fake does not stream"
        temperature = body.get("temperature")
        if temperature is not None and not (isinstance(temperature, (int, float)) and 0 <= temperature <= 1):
            return 400, "invalid_request_error", "temperature: must be within [0, 1]"
        choice = body.get("tool_choice")
        tools = body.get("tools") or []
        if isinstance(choice, dict) and choice.get("type") == "tool":
            if choice.get("name") not in {t.get("name") for t in tools if isinstance(t, dict)}:
                return 400, "invalid_request_error", f"tool_choice: tool {choice.get('name')!r} not in tools"
        if not self._model_known(body["model"]):
            return 404, "not_found_error", f"model: {body['model']}"
        return None

    def _cache_tokens(self, body: dict) -> tuple[int, int, int]:
        """(uncached system tokens, cache_creation_input_tokens, cache_read_input_tokens)."""
        system = body.get("system")
        text = _text_of(system)
        cached = bool(body.get("cache_control")) or (
            isinstance(system, list) and any(isinstance(b, dict) and b.get("cache_control") for b in system))
        tokens = len(text) // 4
        if not text or not cached:
            return tokens, 0, 0
        key = hashlib.sha256(text.encode()).hexdigest()
        with self._lock:
            hit = key in self._cache
            self._cache.add(key)
        return (0, 0, tokens) if hit else (0, tokens, 0)

    def build_message(self, body: dict, *, service_tier: str = "standard", fault: str | None = None) -> dict:
        """The assistant message the fake answers `body` with (fault: invalid_json / invalid_schema / no_tool)."""
        messages = body.get("messages") or []
        user_text = "\n".join(_text_of(m.get("content")) for m in messages if m.get("role") == "user")
        all_text = "\n".join(_text_of(m.get("content")) for m in messages)
        tools = [t for t in (body.get("tools") or []) if isinstance(t, dict) and t.get("name")]
        choice = body.get("tool_choice") if isinstance(body.get("tool_choice"), dict) else {}
        tool: dict | None = None
        if choice.get("type") == "tool":
            tool = next((t for t in tools if t["name"] == choice.get("name")), None)
        elif choice.get("type") != "none" and tools:
            tool = next((t for t in tools if t["name"] in ANSWERS), tools[0])
        body_sha = _canonical_sha(body)
        if tool is None or fault == "no_tool":
            content: list[dict] = [{"type": "text", "text": "I can't record that answer right now."}]
            stop_reason, output_len = "end_turn", len(content[0]["text"])
        else:
            tool_input = derive_tool_input(tool["name"], user_text, known_names=self.known_names,
                                           schema=tool.get("input_schema"))
            if fault == "invalid_json" and tool_input:
                tool_input = dict(list(tool_input.items())[1:])  # the first required field goes missing
            elif fault == "invalid_schema" and tool_input:
                key = next(iter(tool_input))
                tool_input = {**tool_input, key: _wrong_type(tool_input[key])}
            content = [{"type": "tool_use", "id": f"toolu_{body_sha[:24]}", "name": tool["name"], "input": tool_input}]
            stop_reason, output_len = "tool_use", len(json.dumps(tool_input))
        system_tokens, created, read = self._cache_tokens(body)
        return {
            "id": self._next_id("msg_", body_sha),
            "type": "message",
            "role": "assistant",
            "model": body.get("model"),
            "content": content,
            "stop_reason": stop_reason,
            "stop_sequence": None,
            "usage": {
                "input_tokens": max(1, len(all_text) // 4 + system_tokens),
                "output_tokens": max(1, output_len // 4),
                "cache_creation_input_tokens": created,
                "cache_read_input_tokens": read,
                "service_tier": service_tier,
            },
        }

    def _messages(self, body: Any, request_id: str) -> _Reply:
        problem = self._validate(body)
        if problem:
            status, kind, message = problem
            return _Reply(status, _error_body(kind, message, request_id))
        fault, _, _ = self._choose_fault(body)
        plan = self.faults or FaultPlan()
        headers: dict[str, str] = {}
        if fault in ("429", "500", "529") and plan.x_should_retry is not None:
            headers["x-should-retry"] = "true" if plan.x_should_retry else "false"
        if fault == "429":
            headers.update(_retry_after_headers(plan.retry_after_s))
            return _Reply(429, _error_body("rate_limit_error", "Number of request tokens has exceeded your rate "
                                                               "limit (fake).", request_id), headers)
        if fault in ("500", "529"):
            if plan.retry_after_5xx_s is not None:
                headers.update(_retry_after_headers(plan.retry_after_5xx_s))
            if fault == "500":
                return _Reply(500, _error_body("api_error", "Internal server error (fake).", request_id), headers)
            return _Reply(529, _error_body("overloaded_error", "Overloaded (fake).", request_id), headers)
        message = self.build_message(body, fault=fault if fault != "timeout" else None)
        return _Reply(200, message, delay_s=plan.timeout_sleep_s if fault == "timeout" else 0.0)

    # ---------------------------------------------------------------- batches
    def _create_batch(self, body: Any, request_id: str) -> _Reply:
        requests = body.get("requests") if isinstance(body, dict) else None
        if not isinstance(requests, list) or not requests:
            return _Reply(400, _error_body("invalid_request_error", "requests: must be a non-empty list", request_id))
        ids = [r.get("custom_id") if isinstance(r, dict) else None for r in requests]
        if any(not isinstance(i, str) or not i for i in ids) or len(set(ids)) != len(ids):
            return _Reply(400, _error_body("invalid_request_error", "custom_id: must be unique non-empty strings",
                                           request_id))
        batch_id = self._next_id("msgbatch_", _canonical_sha(body))
        now = time.time()
        batch = {"id": batch_id, "requests": requests, "created_at": now, "expires_at": now + 86400,
                 "ended_at": None, "cancel_initiated_at": None, "status": "in_progress", "polls": 0,
                 "results": None}
        with self._lock:
            self.batches[batch_id] = batch
            self.batch_creates.append({"id": batch_id, "custom_ids": list(ids), "requests": requests})
            view = self._batch_view(batch)
        return _Reply(200, view)

    def _batch_result(self, request: dict, canceled: bool) -> dict:
        custom_id = request["custom_id"]
        if canceled:
            return {"custom_id": custom_id, "result": {"type": "canceled"}}
        if custom_id in self.batch_errored_ids:
            error = _error_body("api_error", "Internal server error (fake, errored on purpose).",
                                self._next_id("req_fake"))
            return {"custom_id": custom_id, "result": {"type": "errored", "error": error}}
        params = request.get("params")
        problem = self._validate(params)
        if problem:
            _, kind, message = problem
            return {"custom_id": custom_id,
                    "result": {"type": "errored", "error": _error_body(kind, message, self._next_id("req_fake"))}}
        return {"custom_id": custom_id,
                "result": {"type": "succeeded", "message": self.build_message(params, service_tier="batch")}}

    def _end_batch(self, batch: dict) -> None:
        canceled = batch["status"] == "canceling"
        batch["results"] = [self._batch_result(r, canceled) for r in batch["requests"]]
        batch["status"] = "ended"
        batch["ended_at"] = time.time()

    def _batch_view(self, batch: dict) -> dict:
        counts = {"processing": 0, "succeeded": 0, "errored": 0, "canceled": 0, "expired": 0}
        if batch["results"] is None:
            counts["processing"] = len(batch["requests"])
        else:
            for line in batch["results"]:
                counts[line["result"]["type"]] += 1
        ended = batch["status"] == "ended"
        return {
            "id": batch["id"],
            "type": "message_batch",
            "processing_status": batch["status"],
            "request_counts": counts,
            "created_at": _iso(batch["created_at"]),
            "expires_at": _iso(batch["expires_at"]),
            "ended_at": _iso(batch["ended_at"]),
            "cancel_initiated_at": _iso(batch["cancel_initiated_at"]),
            "archived_at": None,
            "results_url": f"{self.base_url}/v1/messages/batches/{batch['id']}/results" if ended else None,
        }

    def _batch_route(self, method: str, batch_id: str, suffix: str | None, request_id: str) -> _Reply:
        with self._lock:
            batch = self.batches.get(batch_id)
            if batch is None:
                return _Reply(404, _error_body("not_found_error", f"message batch {batch_id} not found", request_id))
            if suffix is None and method == "GET":
                batch["polls"] += 1
                if batch["status"] != "ended" and (
                        batch["status"] == "canceling" or batch["polls"] >= self.batch_polls_until_ended):
                    self._end_batch(batch)
                return _Reply(200, self._batch_view(batch))
            if suffix is None and method == "DELETE":
                if batch["status"] != "ended":
                    return _Reply(400, _error_body("invalid_request_error", "batch has not ended", request_id))
                del self.batches[batch_id]
                return _Reply(200, {"id": batch_id, "type": "message_batch_deleted"})
            if suffix == "/cancel" and method == "POST":
                if batch["status"] == "in_progress":
                    batch["status"] = "canceling"
                    batch["cancel_initiated_at"] = time.time()
                return _Reply(200, self._batch_view(batch))
            if suffix == "/results" and method == "GET":
                if batch["status"] != "ended":
                    return _Reply(404, _error_body("not_found_error", "batch results are not ready", request_id))
                return _Reply(200, batch["results"], jsonl=True)
        return _Reply(405, _error_body("invalid_request_error", f"{method} not allowed here", request_id))


def _retry_after_headers(seconds: float) -> dict[str, str]:
    return {"retry-after": f"{seconds:g}", "retry-after-ms": f"{seconds * 1000:g}"}


class _Handler(BaseHTTPRequestHandler):
    fake: LoopbackServer
    protocol_version = "HTTP/1.1"
    timeout = 30  # an idle keep-alive connection is dropped after this many seconds

    def setup(self) -> None:
        super().setup()
        # Headers and body go out in separate writes; without this, Nagle + delayed ACK add ~40 ms per response.
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        with self.fake._lock:
            self.fake._sockets.add(self.connection)

    def finish(self) -> None:
        try:
            super().finish()
        except OSError:
            pass
        with self.fake._lock:
            self.fake._sockets.discard(self.connection)

    def log_message(self, format: str, *args: Any) -> None:  # quiet
        pass

    def _read_body(self) -> bytes:
        if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
            chunks = []
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    self.rfile.readline()
                    break
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
            return b"".join(chunks)
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def _serve(self) -> None:
        raw = self._read_body()
        path = urlsplit(self.path).path
        headers = {k.lower(): v for k, v in self.headers.items()}
        try:
            reply = self.fake.handle(self.command, path, headers, raw)
        except Exception as exc:  # a bug in the fake: answer 500 rather than hang the client
            reply = _Reply(500, _error_body("api_error", f"fake crashed: {exc!r}", "req_fake_crash"),
                           {"x-should-retry": "false"})
        if reply.delay_s:
            if self.fake._stop.wait(reply.delay_s):
                self.close_connection = True
                return
        if reply.jsonl:
            payload = "".join(json.dumps(line) + "\n" for line in reply.body).encode()
            content_type = "application/x-jsonl"
        else:
            payload = json.dumps(reply.body).encode()
            content_type = "application/json"
        try:
            self.send_response(reply.status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(payload)))
            self.send_header("request-id", "req_fake")
            for key, value in reply.headers.items():
                self.send_header(key, value)
            self.end_headers()
            self.wfile.write(payload)
            self.wfile.flush()
        except OSError:  # the client gave up (e.g. a "timeout" fault)
            self.close_connection = True

    do_GET = do_POST = do_DELETE = _serve
