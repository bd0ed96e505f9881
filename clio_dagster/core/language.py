"""Language identification for the `language` facet, offline via py3langid's bundled model.

Code, URLs and markup say nothing about the language a person writes in and would drag a
Chinese question with a Python snippet towards English, so they are stripped first.
"""

from __future__ import annotations

import re
import threading
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

UNKNOWN_CODE = "und"
UNKNOWN_NAME = "Unknown"


@dataclass(frozen=True)
class LanguageGuess:
    code: str  # ISO 639-1 where one exists, e.g. "en"; "und" when undetermined
    name: str  # English display name, e.g. "English", "Chinese"
    confidence: float  # 0..1, normalised probability of the top language


UNKNOWN = LanguageGuess(UNKNOWN_CODE, UNKNOWN_NAME, 0.0)

_FENCED = re.compile(r"```.*?(?:```|\Z)|~~~.*?(?:~~~|\Z)", re.DOTALL)
_INLINE_CODE = re.compile(r"`[^`\n]{1,400}`")
_URL = re.compile(r"\b(?:https?|ftp)://\S+|\bwww\.\S+|[\w.+-]+@[\w-]+(?:\.[\w-]+)+")
_TAG = re.compile(r"</?[A-Za-z][^<>\n]{0,200}>")
_PLACEHOLDER = re.compile(r"\[(?:EMAIL|PHONE|URL|IP|CARD|SSN|IBAN|ADDRESS|NAME)\]")
_CODE_LINE = re.compile(
    r"^\s*(?:(?:def|class|import|from|return|if|elif|else|for|while|try|except|finally|with|const|let|var|"
    r"function|public|private|static|void|int|#include|using|package|SELECT|INSERT|UPDATE|print|console\.log)\b"
    r".*|.*[;{}]\s*$|.*\b\w+\s*(?:=|\+=|==|=>|->)\s*\S.*|\s{4,}\S.*|[\w.]+\(.*\)\s*:?\s*|[})\]]+[;,]?\s*)$"
)
_LETTER = re.compile(r"[^\W\d_]")
_NON_LATIN = re.compile(r"[^\x00-\u024f\u1e00-\u1eff]")

_MIN_CONFIDENCE = 0.15
"""Below this the model is near-uniform over its ~97 languages (e.g. "ok", "hi"): no real evidence."""

_lock = threading.Lock()
_identifier: Any = None


def _get_identifier() -> Any:
    """Load the bundled model once (it takes ~0.5 s); normalised probabilities give a usable confidence."""
    global _identifier
    if _identifier is None:
        with _lock:
            if _identifier is None:
                from py3langid.langid import MODEL_FILE, LanguageIdentifier

                _identifier = LanguageIdentifier.from_model_file(MODEL_FILE, norm_probs=True)
    return _identifier


@lru_cache(maxsize=512)
def language_name(code: str) -> str:
    """English display name for an ISO code, "Unknown" for "und" or anything langcodes rejects."""
    if not code or code == UNKNOWN_CODE:
        return UNKNOWN_NAME
    try:
        import langcodes

        return str(langcodes.Language.get(code).display_name("en"))
    except Exception:
        return code


def _strip_non_prose(text: str) -> str:
    text = _FENCED.sub(" ", text)
    text = _INLINE_CODE.sub(" ", text)
    text = _URL.sub(" ", text)
    text = _TAG.sub(" ", text)
    text = _PLACEHOLDER.sub(" ", text)
    lines = text.splitlines()
    if len(lines) > 1:
        prose = [ln for ln in lines if not _CODE_LINE.match(ln) or _NON_LATIN.search(ln)]
        if any(_LETTER.search(ln) for ln in prose):
            text = "\n".join(prose)
    return text


def detect_language(text: str) -> LanguageGuess:
    """Most likely language of `text`; "und" with confidence 0 when there is nothing to judge."""
    if not isinstance(text, str):
        return UNKNOWN
    cleaned = _strip_non_prose(text[:20000])
    if not _LETTER.search(cleaned):
        return UNKNOWN
    try:
        code, prob = _get_identifier().classify(cleaned)
    except Exception:
        return UNKNOWN
    code = str(code)
    if prob < _MIN_CONFIDENCE:
        return UNKNOWN
    return LanguageGuess(code, language_name(code), max(0.0, min(1.0, float(prob))))


def detect_languages(texts: list[str]) -> list[LanguageGuess]:
    """Batch helper: one guess per text, same order."""
    return [detect_language(t) for t in texts]
