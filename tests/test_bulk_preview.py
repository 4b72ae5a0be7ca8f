"""POST /api/v1/bulk/preview: a CSV, pasted numbers or the caller's contacts -> recipients, problems
with row numbers, the first rendered messages; nothing written; another tenant's contacts never."""

from __future__ import annotations

import aiohttp
from aiohttp.test_utils import TestClient

from app.services import bulk_import
from tests.helpers.actors import Actor, make_actor
from tests.helpers.api import assert_error, json_ok

CSV_ES = "Nombre;Teléfono;Cita\nJosé;9 8765 4321;lunes\nAna;no tiene;martes\nLuis;+56987654321;jueves\n"


def form(data: bytes, body: str = "", filename: str = "clientes.csv") -> aiohttp.FormData:
    fd = aiohttp.FormData()
    fd.add_field("body", body)
    fd.add_field("file", data, filename=filename, content_type="text/csv")
    return fd


async def preview(actor: Actor, fd: aiohttp.FormData) -> aiohttp.ClientResponse:
    return await actor.client.post("/api/v1/bulk/preview", data=fd, headers=actor.headers)


async def test_a_spanish_csv_is_read_and_its_bad_rows_reported(alice: Actor) -> None:
    before = await json_ok(await alice.get("/api/v1/stats"))
    got = await json_ok(await preview(alice, form(CSV_ES.encode("cp1252"), "Hola {{nombre}}, tu cita es el {{cita}} {{x}}")))
    assert (got["source"], got["encoding"], got["delimiter"], got["default_country"]) == ("csv", "cp1252", ";", "CL")
    assert [(r["row"], r["phone"], r["name"], r["vars"]["cita"]) for r in got["recipients"]] == [
        (2, "56987654321", "José", "lunes")]
    assert got["problems"] == [{"row": 3, "value": "no tiene", "reason": "not_a_number"},
                               {"row": 4, "value": "+56987654321", "reason": "duplicate", "first_row": 2}]
    assert got["counts"] == {"rows": 3, "valid": 1, "invalid": 1, "duplicate": 1}
    assert got["preview"] == [{"phone": "56987654321", "display": "+56 9 8765 4321", "name": "José",
                               "text": "Hola José, tu cita es el lunes "}]
    assert got["variables"] == ["nombre", "cita", "x"] and got["unknown_variables"] == ["x"]
    after = await json_ok(await alice.get("/api/v1/stats"))
    assert after["contacts"] == before["contacts"] == 0 and after["seq"] == before["seq"]  # nothing written


async def test_the_tenants_default_country_reads_local_numbers(alice: Actor) -> None:
    await json_ok(await alice.patch("/api/v1/tenant", {"default_country": "AR"}))
    got = await json_ok(await alice.post("/api/v1/bulk/preview", {"numbers": "011 15 2345-6789\n9 8765 4321"}))
    assert got["source"] == "pasted" and [r["phone"] for r in got["recipients"]] == ["5491123456789"]
    assert got["problems"] == [{"row": 2, "value": "9 8765 4321", "reason": "too_short"}]


async def test_contacts_source_is_the_callers_tenant_only(alice: Actor, bob: Actor) -> None:
    await alice.inbound(phone="56987650001", name="Cliente Acme", body="hola")
    await alice.inbound(phone="56987650002", name="Otra Persona", body="hola")
    await bob.inbound(phone="56987650003", name="Cliente Globex", body="hola")
    got = await json_ok(await alice.post("/api/v1/bulk/preview", {"body": "Hola {{name}}", "contacts": {"q": ""}}))
    assert [r["phone"] for r in got["recipients"]] == ["56987650001", "56987650002"]
    assert got["preview"][0]["text"] == "Hola Cliente Acme"
    got = await json_ok(await alice.post("/api/v1/bulk/preview", {"contacts": {"q": "cliente"}}))
    assert [r["name"] for r in got["recipients"]] == ["Cliente Acme"]
    got = await json_ok(await bob.post("/api/v1/bulk/preview", {"contacts": {"q": ""}}))
    assert [r["phone"] for r in got["recipients"]] == ["56987650003"]
    got = await json_ok(await bob.post("/api/v1/bulk/preview", {"contacts": {"q": "acme"}}))
    assert got["recipients"] == [] and "Acme" not in str(got)


async def test_agents_may_preview_too(client: TestClient, alice: Actor) -> None:
    agent = await make_actor(client, "acme", role="agent")
    got = await json_ok(await agent.post("/api/v1/bulk/preview", {"numbers": "987654321"}))
    assert got["counts"]["valid"] == 1


async def test_bad_requests_are_4xx_with_a_code(alice: Actor) -> None:
    cases = [
        ({}, "missing_source"),
        ({"numbers": 5}, "invalid_field"),
        ({"numbers": " \n"}, "empty_list"),
        ({"contacts": "all"}, "invalid_field"),
        ({"contacts": {"q": 3}}, "invalid_field"),
        ({"numbers": "987654321", "body": "x" * 5000}, "invalid_field"),
        ({"numbers": "987654321", "body": ["no"]}, "invalid_field"),
    ]
    for body, code in cases:
        await assert_error(await alice.post("/api/v1/bulk/preview", body), 400, code)
    resp = await alice.client.post("/api/v1/bulk/preview", data=b"[1]", headers={**alice.headers,
                                   "Content-Type": "application/json"})
    await assert_error(resp, 400, "invalid_json")
    # Found by schemathesis (tests/test_openapi.py): a multipart type without its boundary was a 500.
    resp = await alice.client.post("/api/v1/bulk/preview", data=b"{}", headers={**alice.headers,
                                   "Content-Type": "multipart/form-data"})
    await assert_error(resp, 400, "invalid_form")
    bad_part = b'--B\r\nContent-Disposition: form-data; name="\x0e"\r\n\r\nx\r\n--B--\r\n'
    resp = await alice.client.post("/api/v1/bulk/preview", data=bad_part, headers={**alice.headers,
                                   "Content-Type": "multipart/form-data; boundary=B"})
    await assert_error(resp, 400, "invalid_form")
    await assert_error(await preview(alice, form(b"producto;precio\npan;1000\n")), 400, "no_phone_column")
    await assert_error(await preview(alice, form(b"")), 400, "empty_file")
    big = b"telefono\n" + b"987654321\n" * (bulk_import.MAX_FILE_BYTES // 10 + 1)
    await assert_error(await preview(alice, form(big)), 400, "file_too_large")
    assert (await alice.client.post("/api/v1/bulk/preview", json={"numbers": "1"})).status == 401
