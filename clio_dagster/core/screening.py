"""Regex screener: restrict a run to conversations whose user turns match (Clio App. B: targeted runs)."""

from __future__ import annotations

import re
from collections.abc import Sequence

from clio_dagster.core.records import Conversation


def regex_screen(conversations: Sequence[Conversation], pattern: str) -> list[bool]:
    compiled = re.compile(pattern, re.IGNORECASE)
    return [any(compiled.search(text) for text in c.user_texts()) for c in conversations]
