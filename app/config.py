"""A typed, frozen configuration built from flags and the environment."""

from __future__ import annotations

import ipaddress
import os
import secrets
from dataclasses import dataclass, replace
from pathlib import Path

from app.private_files import private_dir, private_file, tighten

# Secrets that appear in tutorials and default configs; a server signing tokens with one of them
# can be impersonated by anyone (whaticket shipped "mysecret").
WELL_KNOWN_SECRETS = frozenset(
    {
        "secret", "mysecret", "changeme", "change-me", "jwt-secret", "jwtsecret", "supersecret",
        "your-secret-key", "your_jwt_secret", "default", "password", "secretkey", "s3cr3t",
    }
)
MIN_SECRET_BYTES = 32  # HS256 uses a 256-bit HMAC key; RFC 7518 §3.2 asks for at least that

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
# A reverse proxy on the same machine (docs/deploy.md): only a local process could forge the
# header from there, and a remote client's TCP peer is never loopback.
LOOPBACK = "127.0.0.0/8,::1"


class ConfigError(ValueError):
    """The configuration cannot be used; the message says why, in one line."""


@dataclass(frozen=True, slots=True)
class Config:
    """Everything an operator can tune. Built by `load_config`; tests build it directly."""

    db_path: Path
    host: str = "127.0.0.1"
    port: int = 8080
    secret: str = ""
    token_ttl: int = 12 * 3600          # seconds; an agent's working day
    max_sockets_per_user: int = 20
    max_polls_per_user: int = 4
    login_max_failures: int = 10         # per account, within login_window
    login_ip_max_failures: int = 50      # per client address, within login_window
    login_window: int = 15 * 60
    ping_interval: float = 25.0
    pong_timeout: float = 10.0
    hello_timeout: float = 10.0
    retention_seconds: int = 24 * 3600
    retention_events: int = 10_000
    retention_period: float = 60.0
    allowed_origins: tuple[str, ...] = ()
    public_url: str = ""                 # base URL the phone uses to reach pairing links
    ws_compress: bool = False
    secure_cookies: bool = False
    header_timeout: float = 75.0         # seconds for a request head, and idle between requests
    body_timeout: float = 60.0           # seconds for a whole request body once its head arrived
    # A Graph API base other than Meta's (a stand-in for tests): the server would POST the tenant's
    # bearer token there, so only the operator may allow it, never a tenant admin alone.
    allow_custom_api_base: bool = False
    wal_limit_mb: int = 64               # the WAL is checkpointed and cut back past this size
    send_rate: float = 20.0              # sends/s per WhatsApp number (app/services/governor.py); 0: no limit
    log_level: str = "INFO"
    log_format: str = "text"             # or "json": one object per line
    revocation_check: float = 2.0        # seconds between looks for sessions revoked elsewhere
    metrics_token: str = ""              # /metrics wants it as a bearer token; empty: local only
    # Peers whose X-Forwarded-For names the client (app/web/client_addr.py): the login throttle
    # counts that address, not the proxy's, which every client behind it shares.
    trusted_proxies: tuple[Network, ...] = ()

    @property
    def data_dir(self) -> Path:
        """The directory that holds the database and the generated secret."""
        return self.db_path.parent

    def with_secret(self, secret: str) -> Config:
        """Return a copy with the given secret (validated)."""
        check_secret(secret)
        return replace(self, secret=secret)


def check_secret(secret: str) -> None:
    """Refuse short, well-known or low-entropy JWT secrets (also well-known words padded out)."""
    if len(secret.encode()) < MIN_SECRET_BYTES:
        raise ConfigError(f"CONDORITO_SECRET must be at least {MIN_SECRET_BYTES} bytes long")
    rest = secret.lower()
    for word in sorted(WELL_KNOWN_SECRETS, key=len, reverse=True):
        rest = rest.replace(word, "")
    rest = "".join(c for c in rest if c.isalnum())
    if len(rest) < 24 or len(set(rest)) < 10:
        raise ConfigError("CONDORITO_SECRET is a well-known or low-entropy value; use a random one")


def resolve_secret(config: Config) -> Config:
    """Take the secret from the config/env, or from (or into) the data directory."""
    if config.secret:
        return config.with_secret(config.secret)
    path = config.data_dir / "secret.key"
    private_dir(config.data_dir)
    if path.exists():
        tighten(path)  # one an older version or a copy left readable
        return config.with_secret(path.read_text().strip())
    secret = secrets.token_urlsafe(48)
    # Created 0600 before the secret is written, so other local users never can read it.
    private_file(path)
    path.write_text(secret + "\n")
    return config.with_secret(secret)


def _env_float(env: dict[str, str], name: str, default: float) -> float:
    """Read a positive number setting, with a clear error when it is not one."""
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ConfigError(f"{name} must be a number, got {raw!r}") from None
    if value <= 0:
        raise ConfigError(f"{name} must be positive, got {raw!r}")
    return value


def _env_rate(env: dict[str, str], name: str, default: float) -> float:
    """A rate: a number >= 0, where 0 means no limit."""
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ConfigError(f"{name} must be a number, got {raw!r}") from None
    if not 0 <= value < float("inf"):
        raise ConfigError(f"{name} must be 0 (no limit) or a positive number, got {raw!r}")
    return value


def _env_int(env: dict[str, str], name: str, default: int) -> int:
    """Read an integer setting, with a clear error when it is not one."""
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    try:
        return int(raw)
    except ValueError:
        raise ConfigError(f"{name} must be an integer, got {raw!r}") from None


def _secure_cookies(env: dict[str, str]) -> bool:
    """Explicit CONDORITO_SECURE_COOKIES wins; else on when the public URL is https (a browser
    would otherwise send the session cookie over plain HTTP if one ever reached the host)."""
    raw = env.get("CONDORITO_SECURE_COOKIES", "").strip().lower()
    if raw in ("1", "true", "yes"):
        return True
    if raw in ("0", "false", "no"):
        return False
    if raw:
        raise ConfigError(f"CONDORITO_SECURE_COOKIES must be 1 or 0, got {raw!r}")
    return env.get("CONDORITO_PUBLIC_URL", "").strip().lower().startswith("https://")


def trusted_proxies(raw: str) -> tuple[Network, ...]:
    """Addresses or networks, comma-separated ("" trusts none)."""
    nets = []
    for part in (p.strip() for p in raw.split(",")):
        if not part:
            continue
        try:
            nets.append(ipaddress.ip_network(part, strict=False))
        except ValueError:
            raise ConfigError(f"CONDORITO_TRUSTED_PROXIES: {part!r} is not an address or network") from None
    return tuple(nets)


def _log_format(raw: str) -> str:
    fmt = raw.strip().lower()
    if fmt not in ("text", "json"):
        raise ConfigError(f"the log format must be text or json, got {raw!r}")
    return fmt


def load_config(
    *, db: str | None = None, host: str | None = None, port: int | None = None,
    env: dict[str, str] | None = None, log_format: str | None = None,
) -> Config:
    """Build the Config from flags (which win) and CONDORITO_* environment variables."""
    env = dict(os.environ if env is None else env)
    origins = tuple(o.strip() for o in env.get("CONDORITO_ALLOWED_ORIGINS", "").split(",") if o.strip())
    if _env_int(env, "CONDORITO_WAL_LIMIT_MB", 64) < 1:
        raise ConfigError("CONDORITO_WAL_LIMIT_MB must be at least 1")
    return Config(
        db_path=Path(db or env.get("CONDORITO_DB") or "data/condorito.db"),
        host=host or env.get("CONDORITO_HOST") or "127.0.0.1",
        port=port if port is not None else _env_int(env, "CONDORITO_PORT", 8080),
        secret=env.get("CONDORITO_SECRET", ""),
        token_ttl=_env_int(env, "CONDORITO_TOKEN_TTL", 12 * 3600),
        max_sockets_per_user=_env_int(env, "CONDORITO_MAX_SOCKETS_PER_USER", 20),
        max_polls_per_user=_env_int(env, "CONDORITO_MAX_POLLS_PER_USER", 4),
        login_max_failures=_env_int(env, "CONDORITO_LOGIN_MAX_FAILURES", 10),
        login_ip_max_failures=_env_int(env, "CONDORITO_LOGIN_IP_MAX_FAILURES", 50),
        login_window=_env_int(env, "CONDORITO_LOGIN_WINDOW", 15 * 60),
        ping_interval=_env_float(env, "CONDORITO_PING_INTERVAL", 25.0),
        pong_timeout=_env_float(env, "CONDORITO_PONG_TIMEOUT", 10.0),
        header_timeout=_env_float(env, "CONDORITO_HEADER_TIMEOUT", 75.0),
        body_timeout=_env_float(env, "CONDORITO_BODY_TIMEOUT", 60.0),
        retention_events=_env_int(env, "CONDORITO_RETENTION_EVENTS", 10_000),
        retention_seconds=_env_int(env, "CONDORITO_RETENTION_SECONDS", 24 * 3600),
        allowed_origins=origins,
        public_url=env.get("CONDORITO_PUBLIC_URL", "").rstrip("/"),
        ws_compress=env.get("CONDORITO_WS_COMPRESS", "") in ("1", "true", "yes"),
        secure_cookies=_secure_cookies(env),
        allow_custom_api_base=env.get("CONDORITO_ALLOW_CUSTOM_API_BASE", "") in ("1", "true", "yes"),
        wal_limit_mb=_env_int(env, "CONDORITO_WAL_LIMIT_MB", 64),
        send_rate=_env_rate(env, "CONDORITO_SEND_RATE", 20.0),
        log_level=env.get("CONDORITO_LOG_LEVEL", "INFO").upper(),
        log_format=_log_format(log_format or env.get("CONDORITO_LOG_FORMAT") or "text"),
        metrics_token=env.get("CONDORITO_METRICS_TOKEN", "").strip(),
        trusted_proxies=trusted_proxies(env.get("CONDORITO_TRUSTED_PROXIES", LOOPBACK)),
    )
