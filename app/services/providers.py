"""Which provider serves which tenant."""

from __future__ import annotations

from app.errors import Conflict
from app.services.tenants import Directory
from app.whatsapp.base import Provider


class ProviderRegistry:
    """Provider instances by name; a tenant's provider comes from its row."""

    def __init__(self, tenants: Directory) -> None:
        self._tenants = tenants
        self._providers: dict[str, Provider] = {}

    def add(self, provider: Provider) -> None:
        """Make a provider available."""
        self._providers[provider.name] = provider

    async def for_tenant(self, tenant_id: int) -> Provider:
        """The provider configured for a tenant."""
        tenant = await self._tenants.get(tenant_id)
        provider = self._providers.get(tenant.provider)
        if provider is None:
            raise Conflict(f"provider {tenant.provider!r} is not available in this install",
                           code="provider_unavailable")
        return provider
