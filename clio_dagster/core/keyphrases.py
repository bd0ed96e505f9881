"""Distinctive phrases of a cluster's request summaries, in any language: the words users actually wrote.

- Tokens: words of Latin, Cyrillic, Greek, Arabic, Devanagari… scripts; Chinese runs segmented into words
  by jieba (no broken character pairs); katakana runs kept whole, hiragana (particles) dropped.
- Stop words: scikit-learn's English list plus request filler ("please", "help"…) always; the summary's own
  language from stopwords-iso (Latin-script languages only when the summary is in them, since German
  "die" or "war" are English words too); for other scripts the lists of every language written in them.
- Candidates: runs of 1–3 adjacent content tokens inside one clause (never across punctuation or a stop
  word), so a phrase never holds a stop word or a fragment.
- Privacy: a phrase is used only if at least `min_unique_users` distinct users of the partition wrote it,
  and never with a word that only ever appears capitalised mid-sentence (a proper noun).
- Ranking: c-TF-IDF relevance (share of the cluster's users against the partition), a sub-phrase dropped
  when a longer phrase holding it is nearly as common, then maximal marginal relevance against the
  phrases already chosen (word and character-trigram overlap), so the list is relevant and diverse.
"""

from __future__ import annotations

import math
import re
import unicodedata
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache

import regex
from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS

from clio_dagster.core.terms import REQUEST_FILLER, WORD, nfc, proper_nouns

_PLACEHOLDER = re.compile(r"\[[A-Z_]+\]")
# Clause breaks: a phrase never spans one.
_CLAUSE = re.compile(r"[\n\r\t.,;:!?()\[\]{}\"“”«»„`/\\|<>=+*#@&%~^$–—…、，。；：！？（）【】《》「」『』・]+|\s['‘’]|['‘’](?=\s|$)")
_HAN = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]+")
_KATAKANA = re.compile(r"[\u30a0-\u30ff\u31f0-\u31ff]{2,}")
_TOKEN = regex.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]+|[\u30a0-\u30ff\u31f0-\u31ff]+|[\u3040-\u309f]+|" + WORD.pattern)
# English contractions and possessives: "I've" → "i", "user's" → "user" (never a stray "ve" or "s").
_CONTRACTION = re.compile(r"['’](s|re|ve|ll|d|m|t)$")
_MANY_DIGITS = re.compile(r"\d.*\d.*\d")

# Scripts whose stop words are safe to pool across languages (none of them collides with English).
_SCRIPT_LANGUAGES = {
    "CYRILLIC": ("ru", "uk", "bg"),
    "GREEK": ("el",),
    "ARABIC": ("ar", "fa", "ur", "ku"),
    "HEBREW": ("he",),
    "DEVANAGARI": ("hi", "mr"),
    "BENGALI": ("bn",),
    "GUJARATI": ("gu",),
    "THAI": ("th",),
    "HANGUL": ("ko",),
    "ARMENIAN": ("hy",),
    "CJK": ("zh", "ja"),
}
# Chinese request wording that stopwords-iso leaves in ("write", "help me"…): it says nothing about a topic.
_CHINESE_FILLER = frozenset(
    """请 帮 帮我 帮忙 给我 我 你 他 她 它 我们 你们 一个 一下 一些 什么 哪些 如何 怎么 怎样 可以 能否 是否 为什么 请问 请你 这个 那个
    告诉 需要 应该 问题 以下 下面 如下 关于 进行 提供 使用 我想 想要 能 会 要 吗 呢 吧 的 了 是 和 与 及 或 在 有 对 从""".split()
)
_RUSSIAN_FILLER = frozenset(
    """пожалуйста помоги помогите напиши напишите сделай сделайте дай дайте расскажи расскажите объясни объясните
    можешь можете нужно надо хочу хотел хотела текст ответ вопрос вопросы следующий следующие следующего ниже""".split()
)


def script_of(token: str) -> str:
    """The Unicode script of a token's first letter (LATIN, CYRILLIC, CJK, …)."""
    for char in token:
        if char.isalpha():
            name = unicodedata.name(char, "")
            if name.startswith(("CJK", "KATAKANA", "HIRAGANA")):
                return "CJK"
            return name.split(" ")[0] if name else "UNKNOWN"
    return "UNKNOWN"


@lru_cache(maxsize=64)
def _iso_stopwords(language: str) -> frozenset[str]:
    import stopwordsiso

    return frozenset(w.lower() for w in stopwordsiso.stopwords(language)) if stopwordsiso.has_lang(language) else frozenset()


ALWAYS_STOP = frozenset(ENGLISH_STOP_WORDS) | REQUEST_FILLER | _CHINESE_FILLER | _RUSSIAN_FILLER


@lru_cache(maxsize=64)
def stopwords_for(language: str | None, script: str) -> frozenset[str]:
    """Stop words for a token of `script` in a summary written in `language` (ISO 639-1, or None)."""
    words = set(ALWAYS_STOP)
    if script == "LATIN":
        if language and language != "en":
            words |= _iso_stopwords(language)
    else:
        for code in _SCRIPT_LANGUAGES.get(script, ()):
            words |= _iso_stopwords(code)
        if language:
            words |= _iso_stopwords(language) if script_of_language(language) == script else set()
    return frozenset(words)


@lru_cache(maxsize=64)
def script_of_language(language: str) -> str:
    """The script most of the language's stop words are written in (a few lists hold stray Latin entries)."""
    scripts = Counter(script_of(word) for word in _iso_stopwords(language))
    return min(scripts.items(), key=lambda kv: (-kv[1], kv[0]))[0] if scripts else "UNKNOWN"


def _segment_han(run: str) -> list[str]:
    import jieba

    jieba.setLogLevel(60)  # its "Building prefix dict" chatter is not the user's business
    return [w for w in jieba.lcut(run, HMM=True) if w.strip()]


def _joiner(script: str) -> str:
    return "" if script == "CJK" else " "


def phrases_of(summary: str, language: str | None = None, max_words: int = 3) -> list[str]:
    """Candidate phrases (1–`max_words` adjacent content tokens within one clause) of one summary."""
    text = _PLACEHOLDER.sub(" . ", nfc(summary))
    phrases: list[str] = []
    for clause in _CLAUSE.split(text):
        run: list[str] = []
        run_script = ""
        run_end = 0

        def flush() -> None:
            for size in range(1, max_words + 1):
                for start in range(len(run) - size + 1):
                    phrases.append(_joiner(run_script).join(run[start : start + size]))
            run.clear()

        for token, start, end in _tokens(clause):
            script = script_of(token)
            word = _CONTRACTION.sub("", token.lower()).strip("'’-")
            if not _content_word(word, script, language):
                flush()
                continue
            # Words written without spaces join only where they touch in the text, so a phrase is always a
            # run of the text itself (what the auditor re-reads), never words across a gap.
            if run and (script != run_script or (script == "CJK" and start != run_end)):
                flush()
            run_script, run_end = script, end
            run.append(word)
        flush()
    return phrases


def _tokens(clause: str) -> list[tuple[str, int, int]]:
    """(token, start, end) in `clause`; Chinese runs split into words."""
    tokens: list[tuple[str, int, int]] = []
    for match in _TOKEN.finditer(clause):
        token, position = match.group(), match.start()
        if _HAN.fullmatch(token):
            for word in _segment_han(token):
                tokens.append((word, position, position + len(word)))
                position += len(word)
        elif "\u3040" <= token[0] <= "\u309f":
            tokens.append(("", match.start(), match.end()))  # hiragana: particles and endings, a phrase boundary
        else:
            tokens.append((token, match.start(), match.end()))
    return tokens


def _content_word(word: str, script: str, language: str | None) -> bool:
    if not word:
        return False
    if script == "CJK":
        # A single Han character is mostly a function word or a fragment; katakana runs are loanwords.
        return len(word) >= 2 and word not in stopwords_for(language, script)
    if len(word) < 2 or _MANY_DIGITS.search(word):
        return False
    return word not in stopwords_for(language, script)


# Zipf frequency (wordfreq: log10 of occurrences per billion words) from which an English word is everyday
# vocabulary ("given", "long", "new", "story"): too common to refine a name, though fine in a description.
COMMON_ZIPF = 5.5


@dataclass(frozen=True)
class Phrase:
    text: str
    score: float
    cluster_users: int
    latin: bool  # written in Latin letters only: may stand in an English name
    common: bool = False  # every word is everyday English (COMMON_ZIPF): says little in a name


def is_common_english(phrase: str) -> bool:
    """Every word of the phrase is among the most frequent English words (wordfreq's Zipf >= COMMON_ZIPF)."""
    from wordfreq import zipf_frequency

    return all(zipf_frequency(word, "en") >= COMMON_ZIPF for word in phrase.split(" "))


def _overlap(a: str, b: str) -> float:
    """Similarity of two phrases for MMR: 1 when one holds the other, else the larger of word and
    character-trigram Jaccard overlaps."""
    if holds(a, b) or holds(b, a):
        return 1.0
    words_a, words_b = set(a.split()), set(b.split())
    word = len(words_a & words_b) / len(words_a | words_b)
    grams_a = {a[i : i + 3] for i in range(max(1, len(a) - 2))}
    grams_b = {b[i : i + 3] for i in range(max(1, len(b) - 2))}
    return max(word, len(grams_a & grams_b) / len(grams_a | grams_b))


def mmr(candidates: Sequence[tuple[str, float]], n: int, diversity: float = 0.5) -> list[str]:
    """Maximal marginal relevance: repeatedly pick the candidate with the best
    (1 - diversity) * relevance - diversity * (overlap with what is already picked); relevance scaled to [0, 1]."""
    if not candidates:
        return []
    top = max(score for _, score in candidates) or 1.0
    pool = [(text, score / top) for text, score in candidates]
    chosen: list[str] = []
    while pool and len(chosen) < n:
        best = max(
            range(len(pool)),
            key=lambda i: ((1 - diversity) * pool[i][1] - diversity * max((_overlap(pool[i][0], c) for c in chosen), default=0.0),
                           -i),
        )
        text, _ = pool.pop(best)
        if chosen and max(_overlap(text, c) for c in chosen) >= 1.0:
            continue  # a fragment of (or a phrase holding) one already chosen
        chosen.append(text)
    return chosen


def cluster_phrases(
    labels: Sequence[int],
    summaries: Sequence[str],
    user_keys: Sequence[str],
    min_unique_users: int,
    languages: Sequence[str | None] | None = None,
    n_phrases: int = 8,
    min_cluster_support: float = 0.05,
    min_lift: float = 1.5,
    excluded: frozenset[str] = frozenset(),
    excluded_by_cluster: dict[int, frozenset[str]] | None = None,
) -> dict[int, list[Phrase]]:
    """Up to `n_phrases` distinctive phrases per cluster label, best first, deterministic for the same input.

    A phrase qualifies in a cluster when at least `min_unique_users` users of the partition and
    `min_cluster_support` of the cluster's users (at least 2) wrote it, and it is `min_lift` times more
    common in the cluster than in the partition. `excluded` words or phrases (and phrases holding them) are
    never used, nor `excluded_by_cluster[label]` in that cluster (how a rejected name is regenerated)."""
    if not (len(labels) == len(summaries) == len(user_keys)):
        raise ValueError("labels, summaries and user_keys must have the same length")
    languages = languages if languages is not None else [None] * len(summaries)
    blocked = frozenset(w.lower() for w in excluded) | proper_nouns(summaries)
    users_in: dict[int, dict[str, set[str]]] = defaultdict(lambda: defaultdict(set))
    cluster_users: dict[int, set[str]] = defaultdict(set)
    partition_users: dict[str, set[str]] = defaultdict(set)
    for label, summary, user, language in zip(labels, summaries, user_keys, languages):
        label = int(label)
        cluster_users[label].add(user)
        for phrase in set(phrases_of(summary or "", _base_language(language))):
            users_in[label][phrase].add(user)
            partition_users[phrase].add(user)
    n_users = len(set(user_keys)) or 1

    result: dict[int, list[Phrase]] = {}
    for label in sorted(cluster_users):
        size = len(cluster_users[label])
        support = max(2, math.ceil(min_cluster_support * size))
        stop = blocked | (excluded_by_cluster or {}).get(label, frozenset())
        scored: dict[str, float] = {}
        for phrase, users in users_in[label].items():
            in_cluster, overall = len(users), len(partition_users[phrase])
            if in_cluster < support or overall < min_unique_users:
                continue
            if phrase in stop or any(part in stop for part in phrase.split(" ")):
                continue
            lift = (in_cluster / size) / (overall / n_users)
            if lift < min_lift:
                continue
            scored[phrase] = (in_cluster / size) * math.log(1 + n_users / overall)
        kept = _drop_fragments(scored, users_in[label])
        ranked = sorted(kept.items(), key=lambda kv: (-kv[1], kv[0]))[: n_phrases * 4]
        chosen = mmr(ranked, n_phrases)
        result[label] = [Phrase(p, round(kept[p], 6), len(users_in[label][p]), _is_latin(p),
                                _is_latin(p) and is_common_english(p)) for p in chosen]
    return result


def holds(longer: str, shorter: str) -> bool:
    """`shorter` is a run of whole words of `longer` (a substring, for scripts written without spaces)."""
    if script_of(longer) == "CJK" and " " not in longer:
        return shorter in longer
    return f" {shorter} " in f" {longer} "


def _drop_fragments(scored: dict[str, float], users: dict[str, set[str]], keep_ratio: float = 0.6) -> dict[str, float]:
    """Drop a phrase when a longer phrase holding it is written by at least `keep_ratio` of its users
    ("learning" under "machine learning"); the longer phrase then carries the shorter one's score."""
    result = dict(scored)
    for phrase in sorted(scored, key=lambda p: (-len(p), p)):
        if phrase not in result:
            continue
        for other in list(result):
            if other != phrase and holds(phrase, other) and len(users[phrase]) >= keep_ratio * len(users[other]):
                result[phrase] = max(result[phrase], result.pop(other))
    return result


def _base_language(code: str | None) -> str | None:
    if not code or code == "und":
        return None
    return code.split("-")[0].lower()


def _is_latin(phrase: str) -> bool:
    return all(ch.isascii() for ch in phrase)
