"""The client's address: the TCP peer, or what a trusted reverse proxy says it forwarded for.

Behind nginx or Caddy every request comes from the proxy's address; per-address limits (the
login throttle) would then count all clients as one, and a few failed logins from anyone would
lock everybody out. A trusted proxy appends the address it saw to X-Forwarded-For, so the list is
read from the right, skipping trusted hops: the first other address is the client. Anything to
its left was written by the client and is ignored.
"""

from __future__ import annotations

import ipaddress

from aiohttp import web

from app import keys
from app.config import Network


def _address(raw: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(raw.strip().split("%")[0])
    except ValueError:
        return None


def _trusted(addr: ipaddress.IPv4Address | ipaddress.IPv6Address, nets: tuple[Network, ...]) -> bool:
    return any(addr in net for net in nets)


def client_address(request: web.Request) -> str:
    """The address per-client limits are keyed by."""
    peer = request.remote or "unknown"
    nets = request.app[keys.CONFIG].trusted_proxies
    peer_addr = _address(peer)
    if not nets or peer_addr is None or not _trusted(peer_addr, nets):
        return peer
    hops = [h for value in request.headers.getall("X-Forwarded-For", []) for h in value.split(",")]
    for hop in reversed(hops):
        addr = _address(hop)
        if addr is None:
            return peer                 # a malformed hop: trust nothing further left
        if not _trusted(addr, nets):
            return str(addr)
    return peer
