"""Custom facets: the analyst's own questions about every conversation (Clio §1: facets are not fixed).

A definition (settings `[[facets]]` in the TOML file, or `CLIO_FACETS` as JSON) names a facet, asks its
question and gives its type: `categorical` (allowed values), `numeric` (an integer range) or `open` (free text).
Claude answers every facet in the one facet call; offline, a categorical facet is answered by the keyword or
regex rules of its definition, or by the value whose description lies nearest the summary embedding. Answers
stay in the private DB; a published facet reaches the public DB only as per-cluster counts with rare values
pooled, and an open answer never does (it may only be clustered on).

Pure module: no Dagster, no database.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np

FacetType = Literal["categorical", "numeric", "open"]
FACET_TYPES = ("categorical", "numeric", "open")
NAME_PATTERN = re.compile(r"^[a-z][a-z0-9_]{0,39}$")
# Names the built-in facets (and their breakdowns, and the facet call's own fields) already use.
RESERVED_NAMES = frozenset({"request", "task", "language", "languages", "concerning", "turns", "summary"})
OFFLINE_METHODS = ("rules", "nearest")
OPEN_ANSWER_MAX_CHARS = 300
# Offline nearest-value answers below this cosine are "no answer" (or the facet's default value).
DEFAULT_MIN_SIMILARITY = 0.0
_KEYS = {"name", "question", "type", "values", "descriptions", "min", "max", "prefill", "publish", "rules",
         "keywords", "offline", "default", "min_similarity"}


class FacetDefinitionError(ValueError):
    """A custom facet definition the user must fix; the message names the facet and the field."""


@dataclass(frozen=True)
class CustomFacet:
    name: str
    question: str
    type: FacetType
    values: tuple[str, ...] = ()
    descriptions: dict[str, str] = field(default_factory=dict)
    min: int | None = None
    max: int | None = None
    # Claude: the answer's required beginning (Clio's prefill, as the built-in `request` facet has); open facets only.
    prefill: str | None = None
    # Whether per-cluster counts reach the public DB; never for an open facet.
    publish: bool = True
    # Offline, categorical: value -> regexes (keywords become whole-word regexes); the first value in `values`
    # order with a match in the user's messages is the answer.
    rules: dict[str, tuple[str, ...]] = field(default_factory=dict)
    offline: str | None = None  # "rules" or "nearest"; None: rules when any, else nearest
    default: str | None = None  # offline: the value when nothing matches (else no answer)
    min_similarity: float = DEFAULT_MIN_SIMILARITY

    @property
    def offline_method(self) -> str | None:
        """How the offline backend answers this facet; None: it cannot (an open or numeric question)."""
        if self.type != "categorical":
            return None
        return self.offline or ("rules" if self.rules else "nearest")

    @property
    def published(self) -> bool:
        return self.publish and self.type != "open"

    def version(self) -> str:
        """A hash of everything that changes the question asked: a changed definition re-asks this facet only."""
        asked = {"name": self.name, "question": self.question, "type": self.type, "values": list(self.values),
                 "descriptions": dict(sorted(self.descriptions.items())), "min": self.min, "max": self.max,
                 "prefill": self.prefill}
        return hashlib.sha256(json.dumps(asked, sort_keys=True).encode("utf-8")).hexdigest()[:12]

    def value_texts(self) -> list[str]:
        """What the nearest-value matcher embeds per value: the value and its description."""
        return [f"{v}: {self.descriptions[v]}" if self.descriptions.get(v) else v for v in self.values]

    def instruction(self) -> str:
        """The question as the facet prompt asks it (the tool schema's field carries the same rules)."""
        if self.type == "categorical":
            options = "; ".join(f"{v} ({self.descriptions[v]})" if self.descriptions.get(v) else v
                                for v in self.values)
            return f"{self.question} Answer with exactly one of: {options}."
        if self.type == "numeric":
            return f"{self.question} Answer with a whole number from {self.min} to {self.max}."
        start = f" Start the answer with '{self.prefill}'." if self.prefill else ""
        return f"{self.question} Answer in at most two sentences, with no private information.{start}"


def _fail(index: int, name: str | None, field_name: str, reason: str) -> FacetDefinitionError:
    which = f"facet {name!r}" if name else f"facet #{index + 1}"
    return FacetDefinitionError(f"custom {which}, field '{field_name}': {reason}")


def _strings(value: Any, index: int, name: str, field_name: str) -> tuple[str, ...]:
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(v, str) and v.strip() for v in value):
        raise _fail(index, name, field_name, "must be a list of non-empty strings")
    return tuple(v.strip() for v in value)


def keyword_pattern(keyword: str) -> str:
    """A keyword as a regex: the whole word, not inside a longer Latin word or number. Not `\\b`, which fails beside
    CJK text ("用python写" has no word boundary before "python")."""
    return rf"(?<![A-Za-z0-9_]){re.escape(keyword)}(?![A-Za-z0-9_])"


def _parse_one(raw: Any, index: int) -> CustomFacet:
    if not isinstance(raw, dict):
        raise _fail(index, None, "facets", "each facet must be a table (TOML) or an object (JSON)")
    name = raw.get("name")
    if not isinstance(name, str) or not NAME_PATTERN.match(name):
        raise _fail(index, None, "name", "must be 1-40 characters of a-z, 0-9 and _, starting with a letter")
    if name in RESERVED_NAMES:
        raise _fail(index, name, "name", f"is a built-in facet; reserved: {', '.join(sorted(RESERVED_NAMES))}")
    unknown = sorted(set(raw) - _KEYS)
    if unknown:
        raise _fail(index, name, unknown[0], f"unknown field; known: {', '.join(sorted(_KEYS))}")
    question = raw.get("question")
    if not isinstance(question, str) or not question.strip():
        raise _fail(index, name, "question", "is required: the question to ask about every conversation")
    kind = raw.get("type")
    if kind not in FACET_TYPES:
        raise _fail(index, name, "type", f"must be one of {', '.join(FACET_TYPES)}")
    publish = raw.get("publish", kind != "open")
    if not isinstance(publish, bool):
        raise _fail(index, name, "publish", "must be true or false")
    if kind == "open" and publish:
        raise _fail(index, name, "publish", "an open-text answer is never published (it may only be clustered on)")
    prefill = raw.get("prefill")
    if prefill is not None and (kind != "open" or not isinstance(prefill, str) or not prefill.strip()):
        raise _fail(index, name, "prefill", "is a non-empty string, for open facets only")
    facet = CustomFacet(name=name, question=question.strip(), type=kind, publish=publish,
                        prefill=prefill.strip() if prefill else None)
    if kind != "numeric":
        for key in ("min", "max"):
            if key in raw:
                raise _fail(index, name, key, "is for numeric facets only")
    if kind == "categorical":
        return _categorical(raw, facet, index)
    for key in ("values", "descriptions", "rules", "keywords", "default", "offline"):
        if key in raw:
            raise _fail(index, name, key, "is for categorical facets only")
    if kind == "numeric":
        low, high = raw.get("min"), raw.get("max")
        if not all(isinstance(v, int) and not isinstance(v, bool) for v in (low, high)) or low >= high:
            raise _fail(index, name, "min/max", "a numeric facet needs integers min < max (the answer's range)")
        return CustomFacet(**{**facet.__dict__, "min": low, "max": high})
    return facet


def _categorical(raw: dict, facet: CustomFacet, index: int) -> CustomFacet:
    name = facet.name
    values = _strings(raw.get("values"), index, name, "values")
    if len(values) < 2 or len(set(values)) != len(values):
        raise _fail(index, name, "values", "a categorical facet needs at least two distinct values")
    descriptions = raw.get("descriptions", {})
    if not isinstance(descriptions, dict) or not all(isinstance(v, str) for v in descriptions.values()):
        raise _fail(index, name, "descriptions", "must map values to description strings")
    rules: dict[str, list[str]] = {}
    for key, as_regex in (("rules", lambda p: p), ("keywords", keyword_pattern)):
        table = raw.get(key, {})
        if not isinstance(table, dict):
            raise _fail(index, name, key, "must map values to lists of patterns")
        for value, patterns in table.items():
            for pattern in _strings(patterns, index, name, f"{key}.{value}"):
                try:
                    re.compile(pattern)
                except re.error as exc:
                    raise _fail(index, name, f"{key}.{value}", f"{pattern!r} is not a valid regex: {exc}") from None
                rules.setdefault(value, []).append(as_regex(pattern))
    default = raw.get("default")
    for where, value in [("descriptions", v) for v in descriptions] + [("rules/keywords", v) for v in rules] + (
            [("default", default)] if default is not None else []):
        if value not in values:
            raise _fail(index, name, where, f"{value!r} is not one of the facet's values")
    offline = raw.get("offline")
    if offline is not None and offline not in OFFLINE_METHODS:
        raise _fail(index, name, "offline", f"must be one of {', '.join(OFFLINE_METHODS)}")
    if offline == "rules" and not rules:
        raise _fail(index, name, "offline", "'rules' needs rules or keywords in the definition")
    min_similarity = raw.get("min_similarity", DEFAULT_MIN_SIMILARITY)
    if not isinstance(min_similarity, (int, float)) or not -1 <= min_similarity <= 1:
        raise _fail(index, name, "min_similarity", "must be a number from -1 to 1")
    return CustomFacet(**{**facet.__dict__, "values": values, "descriptions": dict(descriptions),
                          "rules": {v: tuple(p) for v, p in rules.items()}, "offline": offline,
                          "default": default, "min_similarity": float(min_similarity)})


def parse_facets(raw: Sequence[Any] | None) -> tuple[CustomFacet, ...]:
    """Validated definitions, in the order given; a clear error naming the facet and field otherwise."""
    if raw is None:
        return ()
    if not isinstance(raw, (list, tuple)):
        raise FacetDefinitionError("custom facets: expected a list of facet definitions ([[facets]] in TOML)")
    facets = tuple(_parse_one(item, i) for i, item in enumerate(raw))
    seen: set[str] = set()
    for index, facet in enumerate(facets):
        if facet.name in seen:
            raise _fail(index, facet.name, "name", "is defined twice")
        seen.add(facet.name)
    return facets


def facets_to_json(facets: Sequence[CustomFacet]) -> str:
    """Definitions as JSON (how they travel in a Dagster resource); `facets_from_json` reads them back."""
    return json.dumps([{k: (list(v) if isinstance(v, tuple) else v) for k, v in f.__dict__.items()}
                       for f in facets], sort_keys=True)


def facets_from_json(text: str) -> tuple[CustomFacet, ...]:
    if not text:
        return ()
    return tuple(CustomFacet(**{**d, "values": tuple(d["values"]),
                                "rules": {v: tuple(p) for v, p in d["rules"].items()}}) for d in json.loads(text))


# ---- offline answers ---------------------------------------------------------------------------------------
def rule_answer(facet: CustomFacet, user_text: str) -> str | None:
    """The first value (in the definition's order) one of whose rules matches the user's text, case-insensitively;
    else the facet's default (None when it has none)."""
    for value in facet.values:
        if any(re.search(pattern, user_text, re.IGNORECASE) for pattern in facet.rules.get(value, ())):
            return value
    return facet.default


def nearest_answers(facet: CustomFacet, summary_vectors: np.ndarray, value_vectors: np.ndarray) -> list[str | None]:
    """Per summary vector, the value whose text vector is nearest (cosine); below the facet's min_similarity its
    default (or None). Ties go to the earlier value."""
    if not len(summary_vectors):
        return []
    summaries = summary_vectors / np.maximum(np.linalg.norm(summary_vectors, axis=1, keepdims=True), 1e-12)
    values = value_vectors / np.maximum(np.linalg.norm(value_vectors, axis=1, keepdims=True), 1e-12)
    similarity = summaries @ values.T
    best = similarity.argmax(axis=1)
    return [facet.values[j] if similarity[i, j] >= facet.min_similarity else facet.default
            for i, j in enumerate(best)]


def answer_nearest(facets: Sequence[CustomFacet], summaries: Sequence[str],
                   embed: Callable[[list[str]], np.ndarray]) -> list[dict[str, str]]:
    """Per summary, the answers of the facets matched by nearest value (`offline_method` "nearest"): the summary's
    embedding against each value's "value: description" embedding."""
    answers: list[dict[str, str]] = [{} for _ in summaries]
    nearest = [f for f in facets if f.offline_method == "nearest"]
    if not nearest or not summaries:
        return answers
    vectors = np.asarray(embed(list(summaries)), dtype=np.float32)
    for facet in nearest:
        values = np.asarray(embed(facet.value_texts()), dtype=np.float32)
        for row, value in zip(answers, nearest_answers(facet, vectors, values)):
            if value is not None:
                row[facet.name] = value
    return answers


def offline_refusals(facets: Sequence[CustomFacet]) -> list[str]:
    """Why the offline backend cannot answer some of `facets` (empty: it can answer all)."""
    return [f"custom facet {f.name!r} is {f.type}: it needs an LLM (CLIO_LLM_BACKEND=claude), or make it "
            "categorical with rules/keywords or value descriptions for the offline backend"
            for f in facets if f.offline_method is None]


# ---- storage ---------------------------------------------------------------------------------------------
def encode_answers(answers: dict[str, Any]) -> str | None:
    """One conversation's answers as stored in the private facets table (JSON), None when it has none."""
    return json.dumps(answers, sort_keys=True, ensure_ascii=False) if answers else None


__all__ = [
    "CustomFacet", "FacetDefinitionError", "answer_nearest", "encode_answers", "facets_from_json", "facets_to_json",
    "keyword_pattern", "nearest_answers", "offline_refusals", "parse_facets", "rule_answer",
]
