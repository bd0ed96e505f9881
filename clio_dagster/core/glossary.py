"""English glosses of the users' phrases in other scripts, without a translation model.

A multilingual embedder places a word and its translation close together, so the word of the taxonomy's
public English vocabulary nearest a Russian or Chinese phrase is usually a fair gloss of it ("перефразируй"
→ "paraphrase", "计算" → "calculate"). Descriptions show it beside the phrase, marked "≈": an English reader
can read what the users wrote in any language. It is approximate and labelled so; read on the shipped
sample and sets, about four glosses in five are right or close, and the rest are a neighbouring word
("千克", a kilogram, → "check"). Only an embedder that is multilingual glosses (`GLOSS_MIN_SIMILARITY`): an
English model's nearest word to a Chinese phrase means nothing.

Privacy: a gloss is a word of the taxonomy (public vocabulary) and glosses a phrase already shown, one that
passed the user floor.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

# Cosine a gloss needs, per embedder known to align languages; other embedders never gloss.
GLOSS_MIN_SIMILARITY = {"multilingual-e5-small": 0.85}
# Said once in a description that shows glosses.
GLOSS_NOTE = "≈: the nearest English word by the multilingual embedder, approximate"
MIN_WORD_LETTERS = 3


def glossary_words(vocabulary: frozenset[str]) -> list[str]:
    """The taxonomy's content words (letters only, at least 3, not English stop words), sorted."""
    from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS

    return sorted(w for w in vocabulary if w.isalpha() and w.isascii() and len(w) >= MIN_WORD_LETTERS
                  and w not in ENGLISH_STOP_WORDS)


def gloss_phrases(phrases: Sequence[str], phrase_vectors: np.ndarray, words: Sequence[str],
                  word_vectors: np.ndarray, min_similarity: float) -> dict[str, str]:
    """Each phrase's nearest word (unit vectors: cosine), where it is at least `min_similarity` close and
    not the phrase itself."""
    if not len(phrases) or not len(words):
        return {}
    similarity = np.asarray(phrase_vectors, dtype=np.float32) @ np.asarray(word_vectors, dtype=np.float32).T
    best = similarity.argmax(axis=1)
    return {phrase: words[j] for phrase, j, row in zip(phrases, best, similarity)
            if row[j] >= min_similarity and words[j] != phrase.lower()}


Glosser = Callable[[list[str]], dict[str, str]]
