"""GET /v1/models and /v1/models/{model_id}: the built-in model catalogue in Anthropic's shapes."""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from importlib import resources
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response

from ccp_core.errors import InvalidRequest, NotFound

log = logging.getLogger(__name__)

DEFAULT_LIMIT = 20
MAX_LIMIT = 1000
# Config-only models (a [pricing.<model>] table) have no release date; list them last.
UNKNOWN_CREATED_AT = "1970-01-01T00:00:00Z"


@dataclass(frozen=True, slots=True)
class ModelEntry:
    id: str
    display_name: str
    created_at: str

    def as_json(self) -> dict[str, str]:
        return {
            "type": "model",
            "id": self.id,
            "display_name": self.display_name,
            "created_at": self.created_at,
        }


def read_pricing_file() -> Mapping[str, Any]:
    """The ``models`` table of ccp_shared's pricing.json (empty, with a warning, if absent)."""
    try:
        raw = resources.files("ccp_shared").joinpath("data/pricing.json").read_bytes()
    except FileNotFoundError:
        log.warning("ccp_shared/data/pricing.json is missing: /v1/models lists no models")
        return {}
    models = orjson.loads(raw).get("models", {})
    return models if isinstance(models, dict) else {}


class Catalogue:
    """Models newest first, as Anthropic lists them."""

    def __init__(self, entries: Iterable[ModelEntry]) -> None:
        self.entries = sorted(entries, key=lambda e: (e.created_at, e.id), reverse=True)
        self._index = {entry.id: i for i, entry in enumerate(self.entries)}

    @classmethod
    def build(cls, models: Mapping[str, Any], extra_ids: Iterable[str] = ()) -> Catalogue:
        entries = {
            model_id: ModelEntry(
                model_id,
                str(info.get("display_name") or model_id),
                str(info.get("created_at") or UNKNOWN_CREATED_AT),
            )
            for model_id, info in models.items()
            if isinstance(info, dict)
        }
        for model_id in extra_ids:
            entries.setdefault(model_id, ModelEntry(model_id, model_id, UNKNOWN_CREATED_AT))
        return cls(entries.values())

    def page(self, limit: int, after_id: str | None, before_id: str | None) -> dict[str, Any]:
        start, stop = 0, len(self.entries)
        if after_id is not None:
            start = self._position(after_id, "after_id") + 1
        if before_id is not None:
            stop = self._position(before_id, "before_id")
            start = max(start, stop - limit)
            has_more = start > 0
        else:
            has_more = start + limit < stop
        chosen = self.entries[start : min(stop, start + limit)]
        return {
            "data": [entry.as_json() for entry in chosen],
            "has_more": has_more,
            "first_id": chosen[0].id if chosen else None,
            "last_id": chosen[-1].id if chosen else None,
        }

    def get(self, model_id: str) -> ModelEntry:
        if model_id not in self._index:
            raise NotFound(f"model: {model_id!r} is not in proxy-core's model catalogue")
        return self.entries[self._index[model_id]]

    def _position(self, model_id: str, name: str) -> int:
        if model_id not in self._index:
            raise InvalidRequest(f"{name}: unknown model id {model_id!r}")
        return self._index[model_id]


def page_params(query: Mapping[str, str]) -> tuple[int, str | None, str | None]:
    """(limit, after_id, before_id) from the query string, or InvalidRequest saying what's wrong."""
    raw = query.get("limit")
    limit = DEFAULT_LIMIT
    if raw is not None:
        text = raw.strip()
        # str.isdigit alone accepts "²" and other digits int() refuses: ASCII digits only.
        if not (text.isascii() and text.isdigit()) or not 1 <= int(text) <= MAX_LIMIT:
            raise InvalidRequest(f"limit: expected an integer from 1 to {MAX_LIMIT}, got {raw!r}")
        limit = int(text)
    after_id, before_id = query.get("after_id"), query.get("before_id")
    if after_id is not None and before_id is not None:
        raise InvalidRequest("give after_id or before_id, not both")
    return limit, after_id, before_id


async def list_models(request: Request) -> Response:
    limit, after_id, before_id = page_params(request.query_params)
    catalogue: Catalogue = request.state.core.catalogue
    body = orjson.dumps(catalogue.page(limit, after_id, before_id))
    return Response(body, media_type="application/json")


async def retrieve_model(request: Request) -> Response:
    catalogue: Catalogue = request.state.core.catalogue
    entry = catalogue.get(request.path_params["model_id"])
    return Response(orjson.dumps(entry.as_json()), media_type="application/json")
