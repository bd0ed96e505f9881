"""centre_languages: each large-enough language group is moved onto the overall mean."""

from __future__ import annotations

import numpy as np
import pytest

from clio_dagster.core.language_centering import centre_languages


def test_language_offsets_are_removed_and_topics_kept():
    # Two topics (axes 0 and 1) in two languages; language "b" carries an offset along axis 2.
    topic = np.array([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]] * 10)
    offset = np.array([0.0, 0.0, 2.0])
    x = np.vstack([topic, topic + offset])
    languages = ["a"] * 20 + ["b"] * 20
    raw_cross = x[0] @ x[20] / (np.linalg.norm(x[0]) * np.linalg.norm(x[20]))
    centred = centre_languages(x, languages, min_group=5)
    np.testing.assert_allclose(np.linalg.norm(centred, axis=1), 1.0, rtol=1e-6)
    # The same topic in the two languages becomes the same vector; different topics stay apart.
    np.testing.assert_allclose(centred[0], centred[20], atol=1e-6)
    assert centred[0] @ centred[21] < 0.5
    assert raw_cross < 0.5  # before centring the language offset dominated


def test_small_groups_are_left_in_place():
    x = np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]])
    out = centre_languages(x, ["a", "a", "b"], min_group=5)
    np.testing.assert_allclose(out, x / np.linalg.norm(x, axis=1, keepdims=True), rtol=1e-6)


def test_lengths_must_match():
    with pytest.raises(ValueError):
        centre_languages(np.zeros((3, 2)), ["a", "b"])
