"""Offline stand-in for Clio's `request` facet: an extractive, PII-scrubbed summary of what the user asked.

Without an LLM the best cheap signal is the opening of the first user turn. Pasted code, logs and
long documents are context rather than the request, so they are dropped before picking sentences.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from clio_dagster.core.pii import Redaction, scrub
from clio_dagster.core.records import Conversation

MIN_MEANINGFUL_CHARS = 15
LONG_BLOCK_CHARS = 1200


@dataclass(frozen=True)
class RequestSummary:
    text: str
    redactions: tuple[Redaction, ...]  # offsets into the cleaned request text, before scrubbing
    truncated: bool


_FENCED = re.compile(r"```.*?(?:```|\Z)|~~~.*?(?:~~~|\Z)|<code>.*?(?:</code>|\Z)", re.DOTALL | re.IGNORECASE)
_PARAGRAPH_SPLIT = re.compile(r"\n[ \t]*\n+")
_CODE_LINE = re.compile(
    r"^\s*(?:(?:def|class|import|from|return|elif|else:|try:|except|finally:|const|let|var|function|public|"
    r"private|protected|static|void|#include|#define|using|package|SELECT|INSERT|UPDATE|DELETE|CREATE)\b"
    r".*|.*[;{}]\s*$|\s*[})\]]+[;,]?\s*|\s*(?:Traceback|File \"|at [\w.$]+\().*|.*\b\w+\s*(?:=|\+=|==|=>|->)\s*\S.*"
    r"|\s*(?:\$|>>>|#|//)\s.*)$"
)
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+|(?<=[。！？…])\s*")
_WS = re.compile(r"\s+")
_CJK_END = frozenset("。！？…")
_PLACEHOLDER_TAIL = re.compile(r"\[[A-Z]*$")


def _looks_like_code(block: str) -> bool:
    lines = [ln for ln in block.splitlines() if ln.strip()]
    if not lines:
        return False
    code = sum(1 for ln in lines if _CODE_LINE.match(ln))
    return code >= 2 and code / len(lines) >= 0.5


def _meaningful(text: str) -> int:
    return sum(1 for c in text if c.isalnum())


def _clean_request(text: str) -> str:
    """The prose part of a user turn: fenced code, code-like and very long pasted blocks removed."""
    text = _FENCED.sub("\n\n", text)
    blocks = [b for b in _PARAGRAPH_SPLIT.split(text) if b.strip()]
    kept: list[str] = []
    for i, block in enumerate(blocks):
        if _looks_like_code(block):
            continue
        if i > 0 and len(block) > LONG_BLOCK_CHARS and kept:
            continue
        kept.append(block)
    return _WS.sub(" ", " ".join(kept)).strip()


def _sentences(text: str) -> list[str]:
    return [s.strip() for s in _SENTENCE_END.split(text) if s.strip()]


def _cut_at_word(text: str, limit: int) -> str:
    """Longest prefix within `limit` ending on a word boundary (hard cut for unspaced scripts)."""
    if len(text) <= limit:
        return text
    head = text[:limit]
    space = head.rfind(" ")
    if text[limit : limit + 1].isspace():
        cut = head
    elif space >= limit // 3:
        cut = head[:space]
    else:
        cut = head
    cut = _PLACEHOLDER_TAIL.sub("", cut)
    return cut.rstrip(" ,;:-–—")


def _join(head: str, tail: str) -> str:
    if not head:
        return tail
    if not tail:
        return head
    return head + ("" if head[-1] in _CJK_END else " ") + tail


def _lead(text: str, max_chars: int) -> tuple[str, bool]:
    out = ""
    for sent in _sentences(text):
        candidate = _join(out, sent)
        if len(candidate) <= max_chars:
            out = candidate
            continue
        room = max_chars - len(_join(out, "x")) + 1
        if not out or _meaningful(out) < MIN_MEANINGFUL_CHARS or room >= max_chars // 3:
            out = _join(out, _cut_at_word(sent, room) if room > 0 else "")
        return out, True
    return out, False


def _request_text(conversation: Conversation) -> str:
    """Cleaned first user turn, topped up with later user turns while it is only a greeting."""
    users = [t for t in conversation.user_texts() if t and t.strip()]
    text = ""
    for turn in users:
        cleaned = _clean_request(turn)
        if cleaned:
            text = f"{text} {cleaned}".strip() if text else cleaned
        if _meaningful(text) >= MIN_MEANINGFUL_CHARS:
            break
    return text


def extractive_request_summary(conversation: Conversation, max_chars: int = 300) -> RequestSummary:
    """Leading sentences of the user's request, at most `max_chars`, with PII replaced by placeholders."""
    max_chars = max(1, int(max_chars))
    users = [t for t in conversation.user_texts() if t and t.strip()]
    if not users:
        return RequestSummary("", (), False)
    text = _request_text(conversation)
    if not text:
        text = _WS.sub(" ", users[0]).strip()
    budget = max_chars * 4 + 200
    source = _cut_at_word(text, budget) if len(text) > budget else text
    scrubbed, redactions = scrub(source)
    summary, truncated = _lead(scrubbed, max_chars)
    truncated = truncated or len(source) < len(text)
    if not summary.strip():
        summary = _cut_at_word(scrubbed, max_chars) or scrubbed[:max_chars]
        truncated = len(summary) < len(scrubbed)
    kept = tuple(r for r, pos in zip(redactions, _placeholder_positions(redactions), strict=True) if pos < len(summary))
    return RequestSummary(summary, kept, truncated)


def _placeholder_positions(redactions: list[Redaction]) -> list[int]:
    """Where each redaction's placeholder starts in the scrubbed text."""
    positions: list[int] = []
    shift = 0
    for r in redactions:
        positions.append(r.start + shift)
        shift += len(r.kind) + 2 - (r.end - r.start)
    return positions


def computed_facets(conversation: Conversation) -> dict[str, int]:
    """Facets that need no model: turn counts and character volume per side."""
    user = [m.text for m in conversation.messages if m.role == "user"]
    assistant = [m.text for m in conversation.messages if m.role == "assistant"]
    return {
        "n_turns": len(conversation.messages),
        "n_user_turns": len(user),
        "user_chars": sum(len(t) for t in user),
        "assistant_chars": sum(len(t) for t in assistant),
    }
