"""bench/eval_names.py rewrites the headline figures (labelled "default settings") only from a default run."""

from pathlib import Path

from bench.eval_names import headline_blockers


def test_a_default_run_may_rewrite_the_headline(tmp_path: Path) -> None:
    out = tmp_path / "names.json"
    assert headline_blockers(out, out, {"CLIO_HMAC_SECRET": "x", "HOME": "/root"}, tmp_path) == []


def test_a_run_with_changed_settings_or_another_out_may_not(tmp_path: Path) -> None:
    default_out = tmp_path / "names.json"
    (tmp_path / "clio.toml").write_text("target_cluster_size = 30\n", encoding="utf-8")
    reasons = headline_blockers(tmp_path / "experiment.json", default_out,
                                {"CLIO_TARGET_CLUSTER_SIZE": "30", "CLIO_HMAC_SECRET": "x"}, tmp_path)
    assert reasons == ["CLIO_TARGET_CLUSTER_SIZE is set", f"{tmp_path / 'clio.toml'} is read",
                       f"--out {tmp_path / 'experiment.json'} is not {default_out}"]
