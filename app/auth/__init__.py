"""Authentication: password hashing, tokens, login throttling, the request middleware."""
