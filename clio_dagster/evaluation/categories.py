"""A labelled set's categories as text a judge can read: `readable` names and the anchor texts of each."""

from __future__ import annotations

import re
from collections.abc import Sequence

_CAMEL = re.compile(r"(?<=[a-z0-9])(?=[A-Z])")
_SEPARATORS = re.compile(r"[_\-\s]+")


def readable(name: str) -> str:
    """A label as words: `credit_cards` → `credit cards`, `BookRestaurant` → `book restaurant`,
    `alarm/set_alarm` → `alarm / set alarm`."""
    parts = [_SEPARATORS.sub(" ", _CAMEL.sub(" ", part)).strip().lower() for part in name.split("/")]
    return " / ".join(p for p in parts if p) or name


def category_anchors(categories: Sequence[str], taxonomy: dict[str, list[str]]) -> tuple[list[str], list[int]]:
    """Texts that stand for each category (its readable name, and its sub-categories' names where the set
    defines them), and the category index of each text."""
    texts: list[str] = []
    owners: list[int] = []
    for index, category in enumerate(categories):
        names = [readable(category)] + [readable(s) for s in taxonomy.get(category, []) if s != category]
        for name in dict.fromkeys(names):
            texts.append(name)
            owners.append(index)
    return texts, owners
