import pytest

from clio_dagster.settings import DEMO_HMAC_SECRET, ClioSettings, SettingsError, load_settings


def test_defaults_and_fixed_env_names(monkeypatch, tmp_path):
    monkeypatch.setenv("CLIO_HOME", str(tmp_path / "h"))
    s = load_settings()
    assert s.home == (tmp_path / "h").resolve()
    assert s.private_db == s.home / "private.duckdb" and s.public_db == s.home / "public.duckdb"
    assert s.landing_dir == s.home / "landing"
    assert s.backend == "offline"  # no API key in the environment


def test_backend_defaults_to_claude_only_with_an_api_key(monkeypatch):
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-test")
    assert load_settings().backend == "claude"
    monkeypatch.setenv("CLIO_LLM_BACKEND", "offline")
    assert load_settings().backend == "offline"


def test_toml_file_and_env_precedence(monkeypatch, tmp_path):
    config = tmp_path / "clio.toml"
    config.write_text("min_unique_users = 7\nmin_conversations = 9\nseed = 4\n")
    monkeypatch.setenv("CLIO_CONFIG", str(config))
    monkeypatch.setenv("CLIO_SEED", "11")
    s = load_settings()
    assert (s.min_unique_users, s.min_conversations, s.seed) == (7, 9, 11)


def test_invalid_values_name_the_field(monkeypatch):
    monkeypatch.setenv("CLIO_MIN_UNIQUE_USERS", "0")
    with pytest.raises(SettingsError, match="min_unique_users"):
        load_settings()


def test_k_range_checked():
    with pytest.raises(SettingsError, match="k_min"):
        load_settings(k_min=10, k_max=5)


def test_missing_config_file_is_a_clear_error(monkeypatch, tmp_path):
    monkeypatch.setenv("CLIO_CONFIG", str(tmp_path / "nope.toml"))
    with pytest.raises(SettingsError, match="CLIO_CONFIG points to"):
        load_settings()


def test_hmac_secret_required_outside_demo_mode(monkeypatch):
    monkeypatch.delenv("CLIO_HMAC_SECRET")
    with pytest.raises(SettingsError, match="CLIO_HMAC_SECRET is not set"):
        ClioSettings().user_id_secret()
    assert ClioSettings(demo_mode=True).user_id_secret() == DEMO_HMAC_SECRET.encode()
    monkeypatch.setenv("CLIO_HMAC_SECRET", "s3cret")
    assert ClioSettings().user_id_secret() == b"s3cret"
