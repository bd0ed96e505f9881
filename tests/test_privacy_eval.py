from __future__ import annotations

import pytest


@pytest.mark.shared_data
@pytest.mark.slow
def test_injected_pii_never_reaches_the_public_db(shared_data, tmp_path):
    from bench.privacy_eval import ID_PREFIX, run_privacy_eval

    result = run_privacy_eval(shared_data, tmp_path / "clio", n_per_day=60, n_pii_per_day=40)

    assert result["n_injected"] == 160 and result["n_sample_conversations"] == 240
    assert result["n_spans"] > 0
    assert isinstance(result["leaked_summaries_rate"], float) and 0.0 <= result["leaked_summaries_rate"] <= 1.0
    assert result["leaked_public"] == 0, result["leaked_public_strings"]
    assert all(v["leaked_public"] == 0 for v in result["per_label"].values())
    # Structured identifiers never survive the summary's scrubber.
    for kind in ("EMAIL_ADDRESS", "CREDIT_CARD", "IBAN_CODE", "IP_ADDRESS"):
        if kind in result["per_label"]:
            assert result["per_label"][kind]["leaked_in_summary"] == 0, kind
    assert ID_PREFIX.startswith("pii-eval-")
