"""Protocol limits and codes. Each number says why it is what it is."""

from __future__ import annotations

from typing import Final

PROTOCOL_VERSION: Final = 1
FEATURE_LEVEL: Final = 1  # goes up with every additive change within v1
SUPPORTED_FEATURES: Final = frozenset({"batch"})

# Inbound frames are hello/pong/call: tiny. 64 KiB matches centrifuge's limit; aiohttp's 4 MiB
# default would let one client make us parse megabytes.
MAX_INBOUND_FRAME: Final = 64 * 1024

# Per-socket outbound limits (reference §B.10, after Home Assistant's MAX_PENDING_MSG): past
# either, the socket is closed 4001 and the client resumes from its cursor, losing nothing.
MAX_PENDING_FRAMES: Final = 2048
MAX_PENDING_BYTES: Final = 2 * 1024 * 1024  # ~2 000 typical events: a long burst, not a stall
# Above this many bytes in the transport's buffer we stop writing and queue instead, so a
# client that stops reading costs at most this, the queue limit and the kernel buffer below.
WRITE_HIGH_WATER: Final = 512 * 1024
# The kernel send buffer per WebSocket (Linux doubles the value). Autotuning would let it grow
# to 4 MB per socket; 256 KiB still fills a 100 ms path at 5 MB/s.
SOCKET_SEND_BUFFER: Final = 256 * 1024
# After a server-side close, a peer that does not take the close frame is cut after this long
# (long enough for a phone leaving a tunnel to still read its 4001 and resume).
CLOSE_GRACE: Final = 30.0
# While a socket is backed up we look again this often (aiohttp offers no public drain hook for
# raw transport writes); only backed-up sockets pay for it.
BACKLOG_RECHECK: Final = 0.02
# A peer that keeps the kernel's send buffer full this long is not keeping up, even under the
# caps (Home Assistant's PENDING_MSG_PEAK_TIME is 5 s too). It reconnects and resumes.
SLOW_CONSUMER_SECONDS: Final = 5.0

# Batch feature: HA's PENDING_MSG_MAX_FORCE_READY; keeps one message parseable in a browser.
BATCH_MAX_FRAMES: Final = 256
BATCH_MAX_BYTES: Final = 1024 * 1024

# Long-poll answers hold at most this much (Engine.IO's maxPayload is 1e6).
POLL_MAX_EVENTS: Final = 500
POLL_MAX_BYTES: Final = 1_000_000
POLL_MAX_TIMEOUT: Final = 50  # stays under the ~55 s NAT idle ceiling Zulip measured
POLL_DEFAULT_TIMEOUT: Final = 25

# Replay reads the log in pages so a long gap never sits in memory at once.
REPLAY_PAGE: Final = 500

# Calls: one client may not flood the loop; 100/minute is OWASP's suggested starting point,
# typing indicators fire a few times per conversation.
CALLS_PER_MINUTE: Final = 120

# Close codes (PROTOCOL §3.3): 4000-4499 reconnect and resume, 4500-4999 stop.
CLOSE_GOING_AWAY: Final = 1001
CLOSE_RECONNECT: Final = 4000
CLOSE_SLOW_CONSUMER: Final = 4001
CLOSE_NO_PONG: Final = 4002
CLOSE_TOKEN_EXPIRED: Final = 4003
CLOSE_HELLO_TIMEOUT: Final = 4004
CLOSE_BAD_FRAME: Final = 4500
CLOSE_UNAUTHORIZED: Final = 4501
CLOSE_UNSUPPORTED_VERSION: Final = 4502
CLOSE_FORBIDDEN: Final = 4503
CLOSE_TOO_MANY: Final = 4504

# Codes of `error` frames and failed call results that close nothing (PROTOCOL §3.1).
ERR_INVALID_FRAME: Final = "invalid_frame"
ERR_UNKNOWN_TYPE: Final = "unknown_type"
ERR_ID_REUSE: Final = "id_reuse"
ERR_RATE_LIMITED: Final = "rate_limited"
ERR_UNKNOWN_METHOD: Final = "unknown_method"
ERR_INVALID_PARAMS: Final = "invalid_params"
ERR_TIMEOUT: Final = "timeout"
ERR_INTERNAL: Final = "internal"

# The error code name sent in the `error` frame before each close.
CLOSE_NAMES: Final = {
    CLOSE_RECONNECT: "reconnect",
    CLOSE_SLOW_CONSUMER: "slow_consumer",
    CLOSE_NO_PONG: "no_pong",
    CLOSE_TOKEN_EXPIRED: "token_expired",
    CLOSE_HELLO_TIMEOUT: "hello_timeout",
    CLOSE_BAD_FRAME: "bad_frame",
    CLOSE_UNAUTHORIZED: "unauthorized",
    CLOSE_UNSUPPORTED_VERSION: "unsupported_version",
    CLOSE_FORBIDDEN: "forbidden",
    CLOSE_TOO_MANY: "too_many_connections",
}
