from __future__ import annotations

import json

import pytest

from clio_dagster.cli import main


@pytest.mark.shared_data
@pytest.mark.slow
def test_injected_pii_never_reaches_the_public_db(shared_data, tmp_path, capsys):
    from clio_dagster.evaluation.privacy import ID_PREFIX

    args = ["eval", "privacy", "--shared-data", str(shared_data), "--home", str(tmp_path / "clio"),
            "--per-day", "60", "--pii-per-day", "40"]
    assert main(args) == 0
    out = capsys.readouterr().out
    result = json.loads(out)  # one JSON object and nothing else

    assert result["n_injected"] == 160 and result["n_sample_conversations"] == 240
    assert result["n_spans"] > 0
    assert isinstance(result["leaked_summaries_rate"], float) and 0.0 <= result["leaked_summaries_rate"] <= 1.0
    assert result["leaked_public"] == 0, result["leaked_public_strings"]
    assert all(v["leaked_public"] == 0 for v in result["per_label"].values())
    # Re-rated as the pipeline's auditor rates (taxonomy words are public), nothing published is below 3.
    ratings = {int(k): n for k, n in result["published_audit_ratings"].items()}
    assert ratings and min(ratings) >= 3, ratings
    # Structured identifiers never survive the summary's scrubber.
    for kind in ("EMAIL_ADDRESS", "CREDIT_CARD", "IBAN_CODE", "IP_ADDRESS"):
        if kind in result["per_label"]:
            assert result["per_label"][kind]["leaked_in_summary"] == 0, kind
    # The run really happened where it was told to, and injected ids stayed private.
    assert (tmp_path / "clio" / "public.duckdb").is_file()
    assert ID_PREFIX.startswith("pii-eval-") and ID_PREFIX not in out


def test_missing_shared_data_is_a_clear_error(tmp_path, capsys):
    assert main(["eval", "privacy", "--shared-data", str(tmp_path / "nowhere")]) == 2
    err = capsys.readouterr().err
    assert "nowhere is not a folder" in err and "pii_presidio_synth" in err and "--shared-data" in err


def test_a_string_counts_as_leaked_unless_only_the_taxonomys_own_text_holds_it():
    from clio_dagster.core.taxonomy import load_taxonomy
    from clio_dagster.evaluation.privacy import _contains, without_taxonomy_text

    taxonomy = load_taxonomy()
    leaf = next(node for node in taxonomy.leaves if "green cards" in node.description)
    quoted = f"{leaf.name}\n{leaf.description} Users wrote: visa, спонсор (≈ sponsor)."
    assert _contains(quoted, "green") and _contains(quoted, "sponsor")
    outside = without_taxonomy_text(quoted, taxonomy)
    assert not _contains(outside, "green") and not _contains(outside, "sponsor")
    assert _contains(outside, "visa") and _contains(outside, "спонсор")
    # The same word written by the users (a phrase of theirs, or a name refined by it) still counts.
    assert _contains(without_taxonomy_text(quoted + " Users wrote: green.", taxonomy), "green")
    assert _contains(without_taxonomy_text(f"{leaf.name} (green)", taxonomy), "green")
