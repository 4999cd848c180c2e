"""Read-side queries: plain functions of a read-only connection, returning dicts."""
