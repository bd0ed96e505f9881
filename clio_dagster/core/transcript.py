"""Conversations as prompt text, truncated to a token budget that keeps the first request and the end."""

from __future__ import annotations

from dataclasses import dataclass

from clio_dagster.core.records import Conversation

# Without a tokenizer for Claude models we count ~4 characters per token (documented as an estimate).
CHARS_PER_TOKEN = 4
_LABELS = {"user": "User", "assistant": "Assistant", "system": "System", "tool": "Tool"}


def estimate_tokens(text: str) -> int:
    return (len(text) + CHARS_PER_TOKEN - 1) // CHARS_PER_TOKEN


@dataclass(frozen=True)
class Transcript:
    text: str
    truncated: bool
    omitted_turns: int


def _turn(role: str, text: str) -> str:
    return f"{_LABELS.get(role, role.title())}: {text}"


def format_transcript(conversation: Conversation, token_budget: int) -> Transcript:
    """All turns if they fit; otherwise the first user turn (itself cut to half the budget if needed),
    then as many of the last turns as fit, with a marker saying how many turns were left out."""
    turns = [_turn(m.role, m.text) for m in conversation.messages]
    full = "\n\n".join(turns)
    budget_chars = token_budget * CHARS_PER_TOKEN
    if len(full) <= budget_chars:
        return Transcript(full, False, 0)
    first_index = next(i for i, m in enumerate(conversation.messages) if m.role == "user")
    head = turns[first_index]
    if len(head) > budget_chars // 2:
        head = head[: budget_chars // 2] + " […]"
    remaining = budget_chars - len(head)
    tail: list[str] = []
    for turn in reversed(turns[first_index + 1 :]):
        if len(turn) + 2 > remaining:
            if not tail:
                tail.append("[…] " + turn[-max(0, remaining - 8) :])
            break
        tail.append(turn)
        remaining -= len(turn) + 2
    tail.reverse()
    omitted = len(turns) - 1 - first_index - len(tail)
    marker = [f"[{omitted} turn(s) omitted to fit the length limit]"] if omitted > 0 else []
    return Transcript("\n\n".join([head, *marker, *tail]), True, max(0, omitted))
