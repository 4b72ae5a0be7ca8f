"""Settings from the environment, and the secret rules."""

from __future__ import annotations

import secrets
from pathlib import Path
from typing import Any

import pytest

from app import create_app
from app.auth.session import COOKIE_NAME
from app.config import ConfigError, check_secret, load_config, resolve_secret
from tests.helpers.actors import PASSWORD, make_actor


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
                                 {"CONDORITO_TOKEN_TTL": "1.5"}, {"CONDORITO_WAL_LIMIT_MB": "0"},
                                 {"CONDORITO_SECURE_COOKIES": "maybe"}])
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


@pytest.mark.parametrize(("env", "secure"), [
    ({}, False),
    ({"CONDORITO_PUBLIC_URL": "http://crm.example"}, False),
    ({"CONDORITO_PUBLIC_URL": "https://crm.example"}, True),
    ({"CONDORITO_PUBLIC_URL": "HTTPS://crm.example"}, True),
    ({"CONDORITO_PUBLIC_URL": "https://crm.example", "CONDORITO_SECURE_COOKIES": "0"}, False),
    ({"CONDORITO_PUBLIC_URL": "http://crm.example", "CONDORITO_SECURE_COOKIES": "1"}, True),
    ({"CONDORITO_SECURE_COOKIES": "true"}, True),
])
def test_secure_cookies_follow_an_https_public_url(env: dict[str, str], secure: bool) -> None:
    assert load_config(env=env).secure_cookies is secure


async def test_https_public_url_sets_a_secure_session_cookie(aiohttp_client: Any, tmp_path: Path) -> None:
    config = load_config(db=str(tmp_path / "c.db"), env={"CONDORITO_PUBLIC_URL": "https://crm.example",
                                                         "CONDORITO_SECRET": secrets.token_urlsafe(48)})
    client = await aiohttp_client(create_app(config))
    alice = await make_actor(client, "acme")
    resp = await client.post("/login", data={"email": alice.email, "password": PASSWORD},
                             allow_redirects=False)
    assert resp.status == 303
    set_cookie = next(h for h in resp.headers.getall("Set-Cookie") if h.startswith(COOKIE_NAME + "="))
    assert "secure" in [a.strip().lower() for a in set_cookie.split(";")]
