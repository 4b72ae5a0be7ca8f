"""Settings from the environment, and the secret rules."""

from __future__ import annotations

import pytest

from app.config import ConfigError, check_secret, load_config, resolve_secret


def test_environment_settings_and_flags() -> None:
    config = load_config(port=9000, env={"CONDORITO_PORT": "8000", "CONDORITO_PING_INTERVAL": "5",
                                         "CONDORITO_MAX_SOCKETS_PER_USER": "3",
                                         "CONDORITO_ALLOWED_ORIGINS": "https://a.example, https://b.example"})
    assert config.port == 9000  # a flag wins over the environment
    assert config.ping_interval == 5.0 and config.pong_timeout == 10.0
    assert config.max_sockets_per_user == 3
    assert config.allowed_origins == ("https://a.example", "https://b.example")
    assert config.wal_limit_mb == 64
    assert load_config(env={"CONDORITO_WAL_LIMIT_MB": "8"}).wal_limit_mb == 8


@pytest.mark.parametrize("env", [{"CONDORITO_PORT": "eighty"}, {"CONDORITO_PONG_TIMEOUT": "-1"},
                                 {"CONDORITO_TOKEN_TTL": "1.5"}, {"CONDORITO_WAL_LIMIT_MB": "0"}])
def test_bad_settings_are_refused_clearly(env: dict[str, str]) -> None:
    with pytest.raises(ConfigError, match=next(iter(env))):
        load_config(env=env)


@pytest.mark.parametrize("secret", ["short", "mysecret" * 5, "a" * 40, "changeme-changeme-changeme-123456"])
def test_weak_secrets_are_refused(secret: str) -> None:
    with pytest.raises(ConfigError):
        check_secret(secret)


def test_generated_secret_is_kept_private_and_reused(tmp_path) -> None:
    config = load_config(db=str(tmp_path / "data" / "c.db"), env={})
    first = resolve_secret(config)
    assert len(first.secret) >= 32
    assert (tmp_path / "data" / "secret.key").stat().st_mode & 0o777 == 0o600
    assert resolve_secret(config).secret == first.secret


def test_custom_api_base_is_off_unless_the_operator_allows_it() -> None:
    assert load_config(env={}).allow_custom_api_base is False
    assert load_config(env={"CONDORITO_ALLOW_CUSTOM_API_BASE": "0"}).allow_custom_api_base is False
    assert load_config(env={"CONDORITO_ALLOW_CUSTOM_API_BASE": "1"}).allow_custom_api_base is True
