"""The OpenAPI description of proxy-data's JSON API, served at ``/api/openapi.json``.

Written as data, not generated: it is the documented contract, and the schemathesis test checks
the running app against it (no 5xx for any input the description allows).
"""

from __future__ import annotations

from typing import Any

from ccp_data import __version__


def _query(name: str, description: str, schema: dict[str, Any] | None = None) -> dict[str, Any]:
    return {
        "name": name,
        "in": "query",
        "required": False,
        "description": description,
        "schema": schema or {"type": "string"},
    }


def _path(name: str, description: str, schema: dict[str, Any] | None = None) -> dict[str, Any]:
    return {
        "name": name,
        "in": "path",
        "required": True,
        "description": description,
        "schema": schema or {"type": "string"},
    }


# Patterns describe the accepted syntax, so schemathesis generates values the parsers take
# (huge spans, numbers and ids) instead of only text they refuse at once. They are
# documentation, not validation: the parsers check ranges themselves.
_TIME = "ISO-8601, unix seconds (or ms), now, or a span ago such as 24h; 1970 to 9999"
_TIME_SCHEMA = {
    "type": "string",
    "pattern": (
        r"^(now|[0-9]+(\.[0-9]+)?[smhdw]?"
        r"|[0-9]{4}-[0-9]{2}-[0-9]{2}([T ][0-9]{2}:[0-9]{2}(:[0-9]{2}(\.[0-9]+)?)?)?"
        r"(Z|[+-][0-9]{2}:[0-9]{2})?)$"
    ),
}
_CURSOR_SCHEMA = {"type": "string", "pattern": r"^[A-Za-z0-9_-]+$"}
SINCE = _query("since", f"Start of the range: {_TIME}.", _TIME_SCHEMA)
UNTIL = _query("until", f"End of the range (default now): {_TIME}.", _TIME_SCHEMA)
MODEL = _query("model", "Only this model.")
PROVIDER = _query("provider", "Only this provider.")
SESSION = _query("session", "Only this Claude Code session id.")
CURSOR = _query(
    "cursor", "The next_cursor of the previous page (opaque URL-safe base64).", _CURSOR_SCHEMA
)
GRANULARITY = _query("granularity", "Window size.", {"type": "string", "enum": ["hour", "day"]})


def _limit(default: int, maximum: int) -> dict[str, Any]:
    schema = {"type": "integer", "minimum": 1, "maximum": maximum, "default": default}
    return _query("limit", f"Page size, 1 to {maximum}.", schema)


_ERROR = {
    "description": "Error in the Anthropic envelope",
    "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
}


def _get(summary: str, parameters: list[dict[str, Any]], *, errors: bool = True) -> dict[str, Any]:
    responses: dict[str, Any] = {
        "200": {
            "description": "OK",
            "content": {"application/json": {"schema": {"type": "object"}}},
        }
    }
    if errors:
        responses["400"] = _ERROR
    return {"get": {"summary": summary, "parameters": parameters, "responses": responses}}


def _with_404(operation: dict[str, Any]) -> dict[str, Any]:
    operation["get"]["responses"]["404"] = _ERROR
    return operation


HEALTH = {
    "get": {
        "summary": "Health of proxy-data: database, indexer, rollups (503 when unhealthy).",
        "parameters": [],
        "responses": {
            "200": {"description": "Healthy or degraded", "content": {"application/json": {}}},
            "503": {"description": "Database unreadable or indexer dead"},
        },
    }
}

PATHS: dict[str, Any] = {
    "/api/health": HEALTH,
    "/api/stats": _get(
        "Totals over since/until (default 24 h): requests, errors, tokens, cost, cache hit rate, "
        "TTFT and duration percentiles, tokens/s; per provider.",
        [SINCE, UNTIL, MODEL, PROVIDER],
    ),
    "/api/stats/hourly": _get(
        "A series of hourly (or daily) windows, empty windows included.",
        [SINCE, UNTIL, MODEL, PROVIDER, GRANULARITY],
    ),
    "/api/stats/models": _get("Totals per model, busiest first.", [SINCE, UNTIL, PROVIDER]),
    "/api/requests": _get(
        "Recorded requests, newest first, cursor-paginated.",
        [
            MODEL,
            _query("status", "ok, upstream_error, client_closed or proxy_error."),
            SESSION,
            _query("class", "main, subagent, title, quota, warmup, suggestion, ..."),
            SINCE,
            UNTIL,
            CURSOR,
            _limit(50, 500),
        ],
    ),
    "/api/requests/summary": _get(
        "Counts by status, class and model for the same filters.",
        [
            MODEL,
            _query("status", "Request status."),
            SESSION,
            _query("class", "Class."),
            SINCE,
            UNTIL,
        ],
    ),
    "/api/requests/{request_id}": _with_404(
        _get(
            "One request in full: headers (masked), bodies, timings, cost.",
            [_path("request_id", "The id proxy-core gave the request.")],
        )
    ),
    "/api/conversations": _get(
        "Conversations, most recent first, cursor-paginated.",
        [SESSION, MODEL, SINCE, UNTIL, CURSOR, _limit(50, 500)],
    ),
    "/api/conversations/search": _get(
        "Full-text search over messages and responses (bm25, highlighted snippets).",
        [
            {**_query("q", 'Words, "phrases", prefix*, -excluded.'), "required": True},
            MODEL,
            SESSION,
            SINCE,
            UNTIL,
            CURSOR,
            _limit(20, 100),
        ],
    ),
    "/api/conversations/{conversation_id}": _with_404(
        _get(
            "One conversation: messages in order, turns with responses.",
            [
                _path(
                    "conversation_id",
                    "A conversation id from /api/conversations.",
                    {"type": "string", "pattern": "^[0-9]+$"},
                )
            ],
        )
    ),
    "/v1/usage": _get("Totals and per-model usage over since/until.", [SINCE, UNTIL]),
    "/v1/usage/samples": _get(
        "One entry per request since `since` (default 1 h), grouped by model.",
        [SINCE, UNTIL, MODEL, _limit(1000, 10000)],
    ),
    "/v1/usage/rollups": _get("Hour or day windows per model.", [GRANULARITY, MODEL, SINCE, UNTIL]),
}

SCHEMA: dict[str, Any] = {
    "openapi": "3.0.3",
    "info": {
        "title": "ccp proxy-data API",
        "version": __version__,
        "description": "Recorded Claude Code traffic: requests, conversations, search, usage.",
    },
    "paths": PATHS,
    "components": {
        "schemas": {
            "Error": {
                "type": "object",
                "required": ["type", "error"],
                "properties": {
                    "type": {"type": "string", "enum": ["error"]},
                    "error": {
                        "type": "object",
                        "required": ["type", "message"],
                        "properties": {
                            "type": {"type": "string"},
                            "message": {"type": "string"},
                        },
                    },
                },
            }
        }
    },
}
