"""The price table: the built-in ``ccp_shared/data/pricing.json`` with config overrides on top.

Model ids are matched leniently because clients and providers spell them differently:
``claude-sonnet-4-5-20250929`` and ``claude-sonnet-4-5[1m]`` both price as ``claude-sonnet-4-5``.
A model that matches nothing has no price: its cost is unknown, never zero.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Mapping
from functools import lru_cache
from importlib.resources import files
from typing import Any

import orjson

from ccp_shared.config import PRICE_FIELDS, ModelPrice

_DATE_SUFFIX = re.compile(r"-(\d{8}|latest)$")
_BRACKET_SUFFIX = re.compile(r"\[[^\]]*\]$")


@lru_cache(maxsize=1)
def builtin_catalogue() -> dict[str, dict[str, Any]]:
    """``{"<model id>": {"display_name", "created_at", "input", ...}}`` from pricing.json."""
    raw = files("ccp_shared").joinpath("data/pricing.json").read_bytes()
    models = orjson.loads(raw)["models"]
    assert isinstance(models, dict)
    return models


def canonical_model(model: str) -> str:
    """The base id a model is priced under: no provider prefix, ``[…]`` tag or date suffix."""
    name = model.strip().rsplit("/", 1)[-1]
    return _DATE_SUFFIX.sub("", _BRACKET_SUFFIX.sub("", name))


class PriceTable:
    """Prices by base model id; every spelling of a model resolves to its base id."""

    def __init__(self, prices: Mapping[str, ModelPrice]) -> None:
        self._prices = {canonical_model(model): price for model, price in prices.items()}
        self._resolved: dict[str, ModelPrice | None] = {}

    def __contains__(self, model: object) -> bool:
        return isinstance(model, str) and self.lookup(model) is not None

    def models(self) -> list[str]:
        return sorted(self._prices)

    def lookup(self, model: str) -> ModelPrice | None:
        if model not in self._resolved:
            if len(self._resolved) > 10_000:  # model ids come from clients: keep the memo bounded
                self._resolved.clear()
            self._resolved[model] = self._prices.get(canonical_model(model))
        return self._resolved[model]


def _price_from_entry(entry: Mapping[str, Any]) -> ModelPrice:
    return ModelPrice(**{name: entry.get(name) for name in PRICE_FIELDS})


def load_price_table(overrides: Mapping[str, ModelPrice] | None = None) -> PriceTable:
    """Built-in prices, each field replaced by the config's ``pricing.<model>.<field>`` if set."""
    prices = {
        canonical_model(model): _price_from_entry(entry)
        for model, entry in builtin_catalogue().items()
    }
    for model, override in (overrides or {}).items():
        model = canonical_model(model)
        base = prices.get(model, ModelPrice())
        changes = {
            f.name: getattr(override, f.name)
            for f in dataclasses.fields(override)
            if getattr(override, f.name) is not None
        }
        prices[model] = dataclasses.replace(base, **changes)
    return PriceTable(prices)
