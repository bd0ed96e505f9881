"""Offline (heuristic) cluster names from class-based TF-IDF terms, after BERTopic's c-TF-IDF.

Privacy rule built in: a term can appear in a name or description only if at least `min_unique_users`
distinct users of the partition used it, so no single user's (or small group's) wording can be published;
PII placeholders from the scrubber are never terms. So that a name describes its cluster rather than one
corner of it, a term must also be used by at least `min_cluster_support` of the cluster's users (and by 2),
and be at least `min_lift` times more frequent in the cluster than in the whole partition.
"""

from __future__ import annotations

import math
import re
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass

from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS

NAMING_METHOD = "heuristic: c-TF-IDF terms shared by >= min_unique_users users"

_PLACEHOLDER = re.compile(r"\[[A-Z_]+\]")
_CJK_RUN = re.compile(r"[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af]+")
_WORD = re.compile(r"[^\W\d_][\w'’-]*")
_MANY_DIGITS = re.compile(r"\d.*\d.*\d")
_POSSESSIVE = re.compile(r"['’](s|re|ve|ll|d|m|t)$")
_REQUEST_FILLER = frozenset(
    """please thanks thank hi hello hey could would can just also really get got want wanted need needs know
    like tell im i'm dont don't does did doing thing things way ways use using make help give let lets let's
    yes ok okay sure something anything question answer don doesn didn isn aren wasn won shouldn couldn wouldn
    best good better going try trying provide following lot right getting say said think look looking feel""".split()
)
# Function-word bigrams that dominate Chinese requests and say nothing about the topic.
_CHINESE_FILLER = frozenset(
    """一个 一下 什么 哪些 如何 怎么 怎样 可以 我的 帮我 我想 你的 你能 能否 是否 为什么 请问 请你 是什 么是 一些 这个 那个
    如果 的是 了解 告诉 写一 给我 我们 他们 你好 有什 有没 没有 谢谢 以及 关于 应该 需要 还是 或者 就是 的话 吗？ 是一""".split()
)
STOP_WORDS = frozenset(ENGLISH_STOP_WORDS) | _REQUEST_FILLER | _CHINESE_FILLER


def terms_of(text: str) -> list[str]:
    """Unigrams and adjacent-word bigrams (Latin/Cyrillic/...), character bigrams for CJK runs."""
    text = _PLACEHOLDER.sub(" ", text).lower()
    terms: list[str] = []
    for run in _CJK_RUN.findall(text):
        bigrams = [run] if len(run) == 1 else [run[i : i + 2] for i in range(len(run) - 1)]
        terms.extend(b for b in bigrams if b not in STOP_WORDS)
    words = [_POSSESSIVE.sub("", w).strip("'’-") for w in _WORD.findall(_CJK_RUN.sub(" ", text))]
    words = [w for w in words if len(w) >= 2 and w not in STOP_WORDS and not _MANY_DIGITS.search(w)]
    terms.extend(words)
    terms.extend(f"{a} {b}" for a, b in zip(words, words[1:]) if a != b)
    return terms


_MID_SENTENCE_CAPITAL = re.compile(r"(?<![.!?。！？:;\n]\s)(?<!^)\b([A-Z][a-z][\w'’-]*)")


def proper_nouns(summaries: Sequence[str]) -> frozenset[str]:
    """Lowercased words that appear capitalised in mid-sentence and never in lower case anywhere in the
    partition: names of people, places and organisations, which no published name may carry ('Python' stays
    a term because somebody writes 'python')."""
    capitalised: set[str] = set()
    lowercase: set[str] = set()
    for summary in summaries:
        text = _PLACEHOLDER.sub(" ", summary)
        for match in _MID_SENTENCE_CAPITAL.finditer(text):
            capitalised.add(_POSSESSIVE.sub("", match.group(1)).lower())
        lowercase.update(w for w in _WORD.findall(text) if w.islower())
    return frozenset(capitalised - lowercase)


def plural_folding(vocabulary: set[str]) -> dict[str, str]:
    """Map 'insults' to 'insult' (and 'stories' to 'story') only when the singular form occurs too,
    so a name like 'pandas' is never cut to 'panda'."""
    folding = {}
    for word in vocabulary:
        if " " in word:
            continue
        if len(word) > 4 and word.endswith("ies") and word[:-3] + "y" in vocabulary:
            folding[word] = word[:-3] + "y"
        elif len(word) > 3 and word.endswith("s") and not word.endswith("ss") and word[:-1] in vocabulary:
            folding[word] = word[:-1]
    return folding


def _fold(term: str, folding: dict[str, str]) -> str:
    return " ".join(folding.get(part, part) for part in term.split(" "))


@dataclass(frozen=True)
class ClusterName:
    cluster_id: int
    name: str
    description: str
    terms: tuple[str, ...]


def _drop_covered(ranked: list[str]) -> list[str]:
    """Keep a bigram's words out of the list once the bigram itself is in it."""
    kept: list[str] = []
    covered: set[str] = set()
    for term in ranked:
        parts = term.split(" ")
        if len(parts) == 1 and term in covered:
            continue
        if len(parts) == 2 and any(p in kept for p in parts):
            kept = [k for k in kept if k not in parts]
        covered.update(parts)
        kept.append(term)
    return kept


def name_clusters(
    labels: Sequence[int],
    summaries: Sequence[str],
    user_keys: Sequence[str],
    min_unique_users: int,
    min_cluster_support: float = 0.05,
    min_lift: float = 1.5,
    n_name_terms: int = 3,
    n_description_terms: int = 8,
    excluded_terms: frozenset[str] = frozenset(),
    excluded_by_cluster: dict[int, frozenset[str]] | None = None,
) -> list[ClusterName]:
    """One heuristic name and description per cluster label, deterministic for the same input.
    `excluded_terms` (and bigrams containing them) are never used, nor `excluded_by_cluster[label]` in that
    cluster: how names the auditor rejected are regenerated."""
    if not (len(labels) == len(summaries) == len(user_keys)):
        raise ValueError("labels, summaries and user_keys must have the same length")
    tokenised = [terms_of(summary) for summary in summaries]
    folding = plural_folding({t for terms in tokenised for t in terms})
    excluded_terms = excluded_terms | proper_nouns(summaries)
    term_counts: dict[int, Counter[str]] = defaultdict(Counter)
    term_users: dict[int, dict[str, set[str]]] = defaultdict(lambda: defaultdict(set))
    for label, raw_terms, user in zip(labels, tokenised, user_keys):
        terms = [_fold(t, folding) for t in raw_terms]
        term_counts[int(label)].update(terms)
        for term in set(terms):
            term_users[int(label)][term].add(user)

    total_frequency: Counter[str] = Counter()
    partition_users: dict[str, set[str]] = defaultdict(set)
    for label, counts in term_counts.items():
        total_frequency.update(counts)
        for term, users in term_users[label].items():
            partition_users[term] |= users
    all_tokens = sum(total_frequency.values()) or 1
    mean_tokens = all_tokens / max(1, len(term_counts))

    names: list[ClusterName] = []
    for label in sorted(term_counts):
        counts = term_counts[label]
        size = sum(counts.values()) or 1
        cluster_users = len(set().union(*term_users[label].values())) if term_users[label] else 0
        support = max(2, math.ceil(min_cluster_support * cluster_users))
        excluded = excluded_terms | (excluded_by_cluster or {}).get(label, frozenset())
        eligible = [
            t
            for t, users in term_users[label].items()
            if len(users) >= support
            and len(partition_users[t]) >= min_unique_users
            and not (t in excluded or any(part in excluded for part in t.split(" ")))
            and (counts[t] / size) / (total_frequency[t] / all_tokens) >= min_lift
        ]
        scored = sorted(
            eligible,
            key=lambda t: (-(counts[t] / size) * math.log(1 + mean_tokens / total_frequency[t]), t),
        )
        ranked = _drop_covered(scored[: n_description_terms * 3])
        names.append(_compose(label, ranked[:n_name_terms], ranked[:n_description_terms], min_unique_users))
    return names


def _compose(label: int, name_terms: list[str], description_terms: list[str], min_users: int) -> ClusterName:
    if not name_terms:
        return ClusterName(
            cluster_id=label,
            name="Requests with no term shared by enough users",
            description=(
                "Heuristic (offline) label: no word of these request summaries is both common in this cluster "
                f"and used by at least {min_users} distinct users, so no distinctive term can be shown."
            ),
            terms=(),
        )
    if len(name_terms) == 1:
        joined = name_terms[0]
    else:
        joined = ", ".join(name_terms[:-1]) + " and " + name_terms[-1]
    return ClusterName(
        cluster_id=label,
        name=f"Requests about {joined}",
        description=(
            "Heuristic (offline) label from the terms most distinctive of this cluster's request summaries, "
            f"each used by at least {min_users} distinct users: " + ", ".join(description_terms) + "."
        ),
        terms=tuple(description_terms),
    )
