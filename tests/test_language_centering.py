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


def _embed_day(settings, records: list[dict], day) -> tuple[np.ndarray, list[str], dict]:
    """Materialise ingest → facets → summary_embeddings for `day`; the stored vectors, their languages and the
    step's metadata."""
    import dagster as dg

    from clio_dagster.assets import facets, raw_conversations, summary_embeddings
    from clio_dagster.resources import build_resources
    from tests.conftest import write_jsonl

    write_jsonl(settings.landing_dir / day.isoformat() / "conversations.jsonl", records)
    resources = build_resources(settings)
    result = dg.materialize([raw_conversations, facets, summary_embeddings], partition_key=day.isoformat(),
                            resources=resources, instance=dg.DagsterInstance.ephemeral())
    assert result.success
    metadata = {k: v.value for k, v in result.asset_materializations_for_node("summary_embeddings")[0].metadata.items()}
    with resources["warehouse"].get().connect("private") as con:
        rows = con.execute("SELECT e.embedding, f.language_code FROM summary_embeddings e JOIN facets f "
                           "USING (partition_date, conversation_id) WHERE e.partition_date = ? "
                           "ORDER BY e.conversation_id", [day]).fetchall()
    return np.array([r[0] for r in rows], dtype=np.float32), [r[1] for r in rows], metadata


def _language_gap(vectors: np.ndarray, languages: list[str]) -> float:
    groups = np.asarray(languages)
    return float(np.linalg.norm(vectors[groups == "en"].mean(axis=0) - vectors[groups == "zh"].mean(axis=0)))


@pytest.mark.slow
def test_language_neutral_setting_centres_the_stored_summary_embeddings(tmp_path):
    """CLIO_LANGUAGE_NEUTRAL: the pipeline stores language-centred vectors, so every later step (k-means, the
    map, topic shares) works in the same space; off, the stored vectors are the model's own."""
    import gzip
    import json
    from datetime import date

    from clio_dagster.sample_data import sample_path
    from clio_dagster.settings import ClioSettings

    day = date(2023, 2, 4)
    with gzip.open(sample_path(), "rt", encoding="utf-8") as fh:
        records = sorted((r for r in map(json.loads, fh) if r["timestamp"].startswith(day.isoformat())),
                         key=lambda r: r["id"])
    plain, languages, plain_meta = _embed_day(
        ClioSettings(home=tmp_path / "plain", llm_backend="offline"), records, day)
    neutral, neutral_languages, neutral_meta = _embed_day(
        ClioSettings(home=tmp_path / "neutral", llm_backend="offline", language_neutral=True), records, day)

    assert languages == neutral_languages
    assert languages.count("en") >= 20 and languages.count("zh") >= 20, "the sample day must hold both languages"
    assert plain_meta["language_neutral"] is False and neutral_meta["language_neutral"] is True
    np.testing.assert_allclose(np.linalg.norm(neutral, axis=1), 1.0, rtol=1e-5)
    np.testing.assert_allclose(neutral, centre_languages(plain, languages), atol=1e-5)
    # The English-Chinese offset of the model shrinks to a fraction of what it was.
    assert _language_gap(neutral, languages) < 0.35 * _language_gap(plain, languages)
