"""Per-request usage samples from the hot ``requests`` table (by the ts_start index; no bodies)."""

from __future__ import annotations

import sqlite3
from collections import defaultdict
from typing import Any

from ccp_data.cost import cost_of
from ccp_data.pricing import PriceTable
from ccp_data.rollups import INFERENCE_PATH
from ccp_data.window import key_label

_FIELDS = (
    "id, ts_start, ts_end, model, provider, status, http_status, input_tokens, output_tokens, "
    "cache_read_input_tokens, cache_creation_input_tokens, cache_creation_5m_tokens, "
    "cache_creation_1h_tokens, ttft_ms, duration_ms, session_id"
)


def samples(
    conn: sqlite3.Connection,
    since: float,
    until: float | None,
    limit: int,
    pricing: PriceTable,
    *,
    model: str | None = None,
) -> dict[str, Any]:
    """``{"models": {model: [sample, ...]}, "truncated", "last_ts"}`` oldest first."""
    sql = f"SELECT {_FIELDS} FROM requests WHERE ts_start >= ? AND path = ?"
    params: list[Any] = [since, INFERENCE_PATH]
    if until is not None:
        sql += " AND ts_start < ?"
        params.append(until)
    if model is not None:
        sql += " AND model = ?"
        params.append(model)
    sql += " ORDER BY ts_start LIMIT ?"
    params.append(limit + 1)
    cursor = conn.execute(sql, params)
    cursor.row_factory = sqlite3.Row
    rows = cursor.fetchall()
    truncated = len(rows) > limit
    rows = rows[:limit]
    models: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for row in rows:
        cost = cost_of(pricing, row["model"], row)
        models[key_label(row["model"])].append(
            {
                "id": row["id"],
                "ts": row["ts_start"],
                "ts_end": row["ts_end"],
                "provider": row["provider"],
                "status": row["status"],
                "http_status": row["http_status"],
                "input_tokens": row["input_tokens"],
                "output_tokens": row["output_tokens"],
                "cache_read_input_tokens": row["cache_read_input_tokens"],
                "cache_creation_input_tokens": row["cache_creation_input_tokens"],
                "ttft_ms": row["ttft_ms"],
                "duration_ms": row["duration_ms"],
                "session_id": row["session_id"],
                "cost_usd": cost,
                "cost_known": cost is not None,
            }
        )
    return {
        "models": dict(models),
        "truncated": truncated,
        "last_ts": rows[-1]["ts_start"] if rows else None,
    }
