"""Behind a reverse proxy (docs/deploy.md) every request comes from the proxy's address: the
login throttle must count the client's address that a trusted proxy forwarded, or a few failed
logins from anyone lock everybody out. An untrusted peer's X-Forwarded-For is ignored, and so is
what a client wrote to the left of the trusted hops."""

from __future__ import annotations

import dataclasses
import ipaddress
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import make_mocked_request

from app import create_app, keys
from app.config import LOOPBACK, Config, ConfigError, load_config, trusted_proxies
from app.web.client_addr import client_address
from tests.helpers.actors import PASSWORD, make_actor

PROXY = "203.0.113.7"


def address(xff: list[str], peer: str, trusted: str) -> str:
    """client_address of a request from `peer` carrying these X-Forwarded-For headers."""
    app = web.Application()
    app[keys.CONFIG] = Config(db_path=Path("unused.db"), trusted_proxies=trusted_proxies(trusted))
    headers = [("X-Forwarded-For", value) for value in xff]
    req = make_mocked_request("POST", "/api/v1/auth/login", headers=headers, app=app,
                              transport=_Transport(peer))
    return client_address(req)


class _Transport:
    """Just enough of a transport for request.remote."""

    def __init__(self, peer: str) -> None:
        self.peer = peer

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return (self.peer, 40000) if name == "peername" else default

    def is_closing(self) -> bool:
        return False


@pytest.mark.parametrize(("xff", "peer", "trusted", "expected"), [
    (["198.51.100.4"], PROXY, PROXY, "198.51.100.4"),                     # one trusted hop
    (["6.6.6.6, 198.51.100.4"], PROXY, PROXY, "198.51.100.4"),            # the client's own claim is left of it
    (["198.51.100.4, 10.0.0.2"], PROXY, f"{PROXY},10.0.0.0/8", "198.51.100.4"),   # two trusted hops
    (["6.6.6.6", "198.51.100.4"], PROXY, PROXY, "198.51.100.4"),          # repeated header, same order
    (["198.51.100.4"], "192.0.2.9", PROXY, "192.0.2.9"),                  # an untrusted peer: its header ignored
    (["198.51.100.4"], PROXY, "", PROXY),                                 # nothing trusted
    ([], PROXY, PROXY, PROXY),                                            # a trusted peer, no header
    (["1.2.3.4, not-an-ip"], PROXY, PROXY, PROXY),                        # malformed nearest hop: the peer
    (["2001:db8::5"], "::1", LOOPBACK, "2001:db8::5"),                    # IPv6, the loopback default
])
def test_the_client_is_the_nearest_untrusted_hop(xff: list[str], peer: str, trusted: str, expected: str) -> None:
    assert address(xff, peer, trusted) == expected


def test_the_setting() -> None:
    default = load_config(env={}).trusted_proxies
    assert ipaddress.ip_address("127.0.0.1") in default[0] and ipaddress.ip_address("::1") in default[1]
    assert load_config(env={"CONDORITO_TRUSTED_PROXIES": ""}).trusted_proxies == ()
    assert len(load_config(env={"CONDORITO_TRUSTED_PROXIES": "10.0.0.1, 192.168.0.0/16"}).trusted_proxies) == 2
    with pytest.raises(ConfigError, match="not an address"):
        load_config(env={"CONDORITO_TRUSTED_PROXIES": "10.0.0.1,proxy.local"})


async def test_behind_a_proxy_one_address_failing_does_not_lock_out_the_others(
    aiohttp_client: Any, config: Config,
) -> None:
    """The test client is the proxy (loopback, trusted); X-Forwarded-For says who is behind it."""
    app = create_app(dataclasses.replace(config, login_ip_max_failures=3, trusted_proxies=trusted_proxies(LOOPBACK)))
    client = await aiohttp_client(app)
    alice = await make_actor(client, "acme")

    async def login(forwarded: str, email: str, password: str) -> int:
        resp = await client.post("/api/v1/auth/login", json={"email": email, "password": password},
                                 headers={"X-Forwarded-For": forwarded})
        await resp.read()
        return resp.status

    for i in range(3):
        assert await login("198.51.100.66", f"guess{i}@acme.test", "wrong") == 401
    assert await login("198.51.100.66", alice.email, PASSWORD) == 429     # that address is locked
    assert await login("198.51.100.10", alice.email, PASSWORD) == 200     # the others are not
    # Spoofing a fresh address to the left of the proxy's hop does not escape the lock.
    assert await login("192.0.2.1, 198.51.100.66", alice.email, PASSWORD) == 429
    assert app[keys.THROTTLE].retry_after(alice.email, "198.51.100.66") > 0


async def test_without_trusted_proxies_every_client_behind_one_shares_its_count(
    aiohttp_client: Any, config: Config,
) -> None:
    """The same requests with nothing trusted: the header is ignored, all share the peer's count."""
    client = await aiohttp_client(create_app(dataclasses.replace(config, login_ip_max_failures=3)))
    alice = await make_actor(client, "acme")
    for i in range(3):
        resp = await client.post("/api/v1/auth/login", json={"email": f"g{i}@acme.test", "password": "x"},
                                 headers={"X-Forwarded-For": "198.51.100.66"})
        assert resp.status == 401
    resp = await client.post("/api/v1/auth/login", json={"email": alice.email, "password": PASSWORD},
                             headers={"X-Forwarded-For": "198.51.100.10"})
    assert resp.status == 429
