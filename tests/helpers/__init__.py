"""Test helpers, one of each: actors, frames, api, stream, security. Fixtures stay in conftest.py."""
