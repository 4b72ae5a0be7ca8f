"""HTTP surface: REST routes, pages, webhooks, the error middleware."""
