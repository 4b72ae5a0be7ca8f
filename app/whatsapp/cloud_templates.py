"""Message templates of a tenant's WhatsApp Business Account (Cloud API).

Outside the 24-hour window only approved templates can be sent (shared/reference/
whatsapp-apis.md §2.6). The list comes from `GET /{waba_id}/message_templates` and is cached a
short while per tenant: the composer asks for it each time a closed window is opened, and a
template approved in Meta's dashboard shows up here within CACHE_SECONDS.
"""

from __future__ import annotations

import re
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from app.errors import Invalid

CACHE_SECONDS = 60.0
MAX_PARAMS = 20
MAX_PARAM_LEN = 1024
_PLACEHOLDER = re.compile(r"\{\{\s*(\d{1,2})\s*\}\}")
_NAME = re.compile(r"^[a-z0-9_]{1,512}$")
_LANGUAGE = re.compile(r"^[a-z]{2,3}(_[A-Za-z]{2,4})?$")


@dataclass(frozen=True, slots=True)
class Template:
    """An approved template, as the composer needs it."""

    name: str
    language: str
    category: str
    body: str          # the BODY text with {{1}}, {{2}}... placeholders
    params: int        # how many body parameters it takes

    def public(self) -> dict[str, Any]:
        """The item of GET /api/v1/whatsapp/templates."""
        return {"name": self.name, "language": self.language, "category": self.category,
                "body": self.body, "params": self.params}

    def render(self, params: list[str]) -> str:
        """The text the customer reads (what the thread shows for the send)."""
        return _PLACEHOLDER.sub(lambda m: params[int(m.group(1)) - 1]
                                if 0 < int(m.group(1)) <= len(params) else m.group(0), self.body)


def parse_templates(data: Any) -> list[Template]:
    """Graph's message_templates page -> the approved templates with a body (others skipped)."""
    items = data.get("data") if isinstance(data, dict) else None
    out: list[Template] = []
    for item in items if isinstance(items, list) else []:
        if not isinstance(item, dict) or item.get("status") != "APPROVED":
            continue
        body = next((str(c.get("text", "")) for c in item.get("components") or []
                     if isinstance(c, dict) and str(c.get("type", "")).upper() == "BODY"), "")
        name, language = str(item.get("name", "")), str(item.get("language", ""))
        if not body or not _NAME.match(name) or not _LANGUAGE.match(language):
            continue
        params = max((int(n) for n in _PLACEHOLDER.findall(body)), default=0)
        out.append(Template(name, language, str(item.get("category", "")), body, params))
    return sorted(out, key=lambda t: (t.name, t.language))


@dataclass(frozen=True, slots=True)
class TemplateSend:
    """A template send as the API takes it: `{"name", "language", "params": [..]}`."""

    name: str
    language: str
    params: tuple[str, ...]

    def stored(self) -> dict[str, Any]:
        """What the message row keeps (and the outbox sends)."""
        return {"name": self.name, "language": self.language, "params": list(self.params)}


def check_template_send(raw: Any) -> TemplateSend:
    """Validate the shape of the `template` field (the template itself is checked later)."""
    if not isinstance(raw, dict):
        raise Invalid("template must be an object", code="invalid_template", field="template")
    name, language, params = raw.get("name"), raw.get("language"), raw.get("params", [])
    if not isinstance(name, str) or not _NAME.match(name):
        raise Invalid("template.name must be a template name", code="invalid_template",
                      field="template")
    if not isinstance(language, str) or not _LANGUAGE.match(language):
        raise Invalid("template.language must be a language code such as es or en_US",
                      code="invalid_template", field="template")
    if (not isinstance(params, list) or len(params) > MAX_PARAMS
            or not all(isinstance(p, str) and p.strip() and len(p) <= MAX_PARAM_LEN for p in params)):
        raise Invalid(f"template.params must be up to {MAX_PARAMS} non-empty strings",
                      code="invalid_template", field="template")
    return TemplateSend(name, language, tuple(p.strip() for p in params))


def graph_component(send: dict[str, Any]) -> dict[str, Any]:
    """The Graph API `template` object for a stored template send (positional parameters)."""
    out: dict[str, Any] = {"name": send["name"], "language": {"code": send["language"]}}
    if send.get("params"):
        out["components"] = [{"type": "body", "parameters": [
            {"type": "text", "text": p} for p in send["params"]]}]
    return out


class TemplateCache:
    """Approved templates per tenant, fetched at most once per CACHE_SECONDS."""

    def __init__(self, fetch: Callable[[int], Awaitable[list[Template]]], *,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._fetch = fetch
        self._clock = clock
        self._cache: dict[int, tuple[float, list[Template]]] = {}

    async def get(self, tenant_id: int) -> list[Template]:
        """The tenant's approved templates (a ProviderError when Meta cannot be asked)."""
        hit = self._cache.get(tenant_id)
        if hit is not None and self._clock() < hit[0]:
            return hit[1]
        templates = await self._fetch(tenant_id)
        self._cache[tenant_id] = (self._clock() + CACHE_SECONDS, templates)
        return templates

    def forget(self, tenant_id: int) -> None:
        """The tenant's settings changed (another account, another token)."""
        self._cache.pop(tenant_id, None)
