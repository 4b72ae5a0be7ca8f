"""Which provider serves which tenant."""

from __future__ import annotations

import asyncio
import logging

from app.errors import Conflict
from app.services.tenants import Directory
from app.whatsapp.base import WEB, WEB_EXTRA_HINT, Provider

log = logging.getLogger("condorito.providers")


class ProviderRegistry:
    """Provider instances by name; a tenant's provider comes from its row."""

    def __init__(self, tenants: Directory) -> None:
        self._tenants = tenants
        self._providers: dict[str, Provider] = {}
        self._tasks: set[asyncio.Task[None]] = set()

    def add(self, provider: Provider) -> None:
        """Make a provider available."""
        self._providers[provider.name] = provider

    async def for_tenant(self, tenant_id: int) -> Provider:
        """The provider configured for a tenant."""
        tenant = await self._tenants.get(tenant_id)
        provider = self._providers.get(tenant.provider)
        if provider is None:
            hint = f": {WEB_EXTRA_HINT}" if tenant.provider == WEB else ""
            raise Conflict(f"provider {tenant.provider!r} is not available in this install{hint}",
                           code="provider_unavailable")
        return provider

    def read_soon(self, tenant_id: int, wa_id: str) -> None:
        """Tell the tenant's provider (if it can) that the customer's messages were read, in the
        background: the agent's request does not wait for Meta."""
        task = asyncio.get_running_loop().create_task(self._read(tenant_id, wa_id))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _read(self, tenant_id: int, wa_id: str) -> None:
        try:
            provider = await self.for_tenant(tenant_id)
            mark_read = getattr(provider, "mark_read", None)  # optional: the sandbox has none
            if mark_read is not None:
                await mark_read(tenant_id, wa_id)
        except Exception:
            log.exception("mark read failed", extra={"fields": {"tenant": tenant_id}})

    async def close(self) -> None:
        """Wait for read marks in flight (before the HTTP session closes)."""
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
