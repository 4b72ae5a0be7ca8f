"""The domain. Services call db.write and stream.append, never a socket."""
