"""How the offline namers and the rule-based auditor read words: unigrams and adjacent-word bigrams (character
bigrams for CJK runs), English stop words and request filler, proper nouns and plural folding. The auditor
counts users per term with exactly these rules, so a term a namer may use is never reported as rare."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence

import regex
from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS

_PLACEHOLDER = re.compile(r"\[[A-Z_]+\]")
_CJK_RUN = re.compile(r"[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af]+")
# A word: a letter, then letters, combining marks, digits, apostrophes or hyphens. The `regex` module's \w
# holds combining marks (the vowel signs of Devanagari, Bengali, Tamil, Thai…, and accents typed as separate
# code points); the standard library's does not and would cut "नहीं" into "नह", "করতে" into "কর".
WORD = regex.compile(r"[^\W\d_][\w'’-]*")
_MANY_DIGITS = re.compile(r"\d.*\d.*\d")
_POSSESSIVE = re.compile(r"['’](s|re|ve|ll|d|m|t)$")
REQUEST_FILLER = frozenset(
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
STOP_WORDS = frozenset(ENGLISH_STOP_WORDS) | REQUEST_FILLER | _CHINESE_FILLER


def nfc(text: str) -> str:
    """Text as every word counter reads it: NFC, so "café" typed as e + combining accent is the same word as
    "café" (for the user floor, the rare-term counts and the proper-noun block alike)."""
    return unicodedata.normalize("NFC", text)


def terms_of(text: str) -> list[str]:
    """Unigrams and adjacent-word bigrams (Latin/Cyrillic/...), character bigrams for CJK runs."""
    text = _PLACEHOLDER.sub(" ", nfc(text)).lower()
    terms: list[str] = []
    for run in _CJK_RUN.findall(text):
        bigrams = [run] if len(run) == 1 else [run[i : i + 2] for i in range(len(run) - 1)]
        terms.extend(b for b in bigrams if b not in STOP_WORDS)
    words = [_POSSESSIVE.sub("", w).strip("'’-") for w in WORD.findall(_CJK_RUN.sub(" ", text))]
    words = [w for w in words if len(w) >= 2 and w not in STOP_WORDS and not _MANY_DIGITS.search(w)]
    terms.extend(words)
    terms.extend(f"{a} {b}" for a, b in zip(words, words[1:]) if a != b)
    return terms


_MID_SENTENCE_CAPITAL = re.compile(r"(?<![.!?。！？:;\n]\s)(?<!^)\b([A-ZÀ-ÖØ-ÞА-ЯЁ][a-zß-öø-ÿа-яё][\w'’-]*)")


def proper_nouns(summaries: Sequence[str]) -> frozenset[str]:
    """Lowercased words that appear capitalised in mid-sentence and never in lower case anywhere in the
    partition: names of people, places and organisations, which no published name may carry ('Python' stays
    a term because somebody writes 'python')."""
    capitalised: set[str] = set()
    lowercase: set[str] = set()
    for summary in summaries:
        text = _PLACEHOLDER.sub(" ", nfc(summary))
        for match in _MID_SENTENCE_CAPITAL.finditer(text):
            capitalised.add(_POSSESSIVE.sub("", match.group(1)).lower())
        lowercase.update(w for w in WORD.findall(text) if w.islower())
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
