"""Condorito: `create_app(config)` is the only way an application is built."""

from app.server import create_app

__all__ = ["create_app"]
