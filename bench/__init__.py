"""`make bench`: direct vs proxy-core vs the full stack, and the data side (docs/performance.md)."""
