"""The realtime package: event names, frames, the SQLite stream, the hub, /ws and long-polling."""
