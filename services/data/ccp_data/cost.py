"""What a request cost, from its token usage and the price table.

Cache writes and reads are priced apart from plain input — the bug other tools are best known for
is pricing cache tokens as input. When the 5-minute/1-hour split of cache writes is known each part
gets its own price; tokens outside the split are priced as 5-minute writes (the API's default).
An unknown model, or a price the table lacks for tokens that were used, gives ``None``: the
cost is unknown, never silently zero. A request that used no tokens (a refused or failed one)
cost nothing, whatever its model.
"""

from __future__ import annotations

from typing import Any, Protocol

from ccp_data.pricing import PriceTable

_PER_TOKEN = 1e-6  # prices are USD per million tokens


class Usage(Protocol):
    """A dict or a ``sqlite3.Row`` with the ``requests`` token columns."""

    def keys(self) -> Any: ...

    def __getitem__(self, key: str, /) -> Any: ...


def _tokens(usage: Usage, name: str) -> int:
    if name not in usage.keys():
        return 0
    value = usage[name]
    return int(value) if isinstance(value, int | float) and value > 0 else 0


def cost_of(pricing: PriceTable, model: str | None, usage: Usage) -> float | None:
    """USD for one request, or ``None`` when the model or a needed price is unknown."""
    cache_write = _tokens(usage, "cache_creation_input_tokens")
    write_1h = _tokens(usage, "cache_creation_1h_tokens")
    tokens = {
        "input": _tokens(usage, "input_tokens"),
        "output": _tokens(usage, "output_tokens"),
        "cache_read": _tokens(usage, "cache_read_input_tokens"),
        "cache_write_5m": max(cache_write - write_1h, _tokens(usage, "cache_creation_5m_tokens")),
        "cache_write_1h": write_1h,
    }
    if not any(tokens.values()):
        return 0.0
    price = pricing.lookup(model) if model else None
    if price is None:
        return None
    total = 0.0
    for name, count in tokens.items():
        if count == 0:
            continue
        per_million: float | None = getattr(price, name)
        if per_million is None:
            return None
        total += count * per_million * _PER_TOKEN
    return total
