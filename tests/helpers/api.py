"""REST test helpers: QR decoding, error-shape checks, figures."""

from __future__ import annotations

import re
from typing import Any

import zxingcpp
from aiohttp import ClientResponse
from PIL import Image

from tests.helpers.actors import Actor

# -- QR codes ---------------------------------------------------------------------------------

_VIEWBOX = re.compile(r'viewBox="0 0 ([\d.]+) ([\d.]+)"')
_SCALE = re.compile(r'transform="scale\(([\d.]+)\)"')
_PATH_D = re.compile(r'\sd="([^"]+)"')
_COMMAND = re.compile(r"([MmHh])\s*(-?[\d.]+)(?:[\s,]+(-?[\d.]+))?")


def rasterize_segno_svg(svg: str, px: int = 8, border: int = 4) -> Image.Image:
    """Draw segno's single-path SVG (`M4 4.5h7m1 0h1...`) as a black-on-white bitmap.

    Coordinates are in modules once the `scale(...)` is undone; `h n` draws a run of n modules,
    one module high, on the row the current y lies in. Every module becomes px*px pixels and a
    white quiet zone of `border` modules is added on top of the one segno declares.
    """
    viewbox = _VIEWBOX.search(svg)
    scale_m = _SCALE.search(svg)
    path = _PATH_D.search(svg)
    assert viewbox and path, svg[:200]
    scale = float(scale_m.group(1)) if scale_m else 1.0
    width = round(float(viewbox.group(1)) / scale)
    height = round(float(viewbox.group(2)) / scale)
    img = Image.new("L", ((width + 2 * border) * px, (height + 2 * border) * px), 255)
    x = y = 0.0
    drawn = 0
    for cmd, a, b in _COMMAND.findall(path.group(1)):
        if cmd in "Mm":
            dx, dy = float(a), float(b or 0)
            x, y = (dx, dy) if cmd == "M" else (x + dx, y + dy)
            continue
        x2 = float(a) if cmd == "H" else x + float(a)
        row = int(y)
        for col in range(round(min(x, x2)), round(max(x, x2))):
            left, top = (col + border) * px, (row + border) * px
            img.paste(0, (left, top, left + px, top + px))
            drawn += 1
        x = x2
    assert drawn > 0, "the SVG path drew nothing"
    return img


def decode_qr_svg(svg: str) -> str:
    """The text of the one QR code in segno's SVG, read back by zxing-cpp."""
    # QR only: with every format on, a 1D reader now and then "finds" digits in the modules.
    results = zxingcpp.read_barcodes(rasterize_segno_svg(svg), formats=zxingcpp.BarcodeFormat.QRCode)
    assert len(results) == 1, [r.text for r in results]
    assert results[0].format == zxingcpp.BarcodeFormat.QRCode
    return results[0].text


# -- REST -------------------------------------------------------------------------------------

async def assert_error(resp: ClientResponse, status: int, code: str | None = None) -> dict[str, Any]:
    """The response is `status` with the JSON error body of PROTOCOL §2; return the error."""
    text = await resp.text()
    assert resp.status == status, (resp.status, text)
    assert resp.content_type == "application/json", (resp.content_type, text)
    body = await resp.json()
    err = body["error"]
    assert isinstance(err["code"], str) and re.fullmatch(r"[a-z][a-z0-9_]*", err["code"]), body
    assert isinstance(err["message"], str) and err["message"], body
    if code is not None:
        assert err["code"] == code, body
    return err


async def json_ok(resp: ClientResponse, status: int = 200) -> Any:
    """The JSON body of a response that must have `status`."""
    text = await resp.text()
    assert resp.status == status, (resp.status, text)
    return await resp.json()


async def stats(actor: Actor) -> dict[str, Any]:
    """GET /api/v1/stats."""
    return await json_ok(await actor.get("/api/v1/stats"))
