"""Claude Code sessions with real-sized bodies, for the indexer's figure on realistic traffic.

The filler's bodies are a few KB; a real turn resends Claude Code's ~40 KB of system prompt and
tool definitions plus the whole history, and that is what the indexer has to parse. Each session
here starts from the captured first turn (``../shared/fixtures``) and grows by a tool call and its
result per turn, with the ``cache_control`` marker moved to the newest message as Claude Code does.
"""

from __future__ import annotations

import random
import uuid
from pathlib import Path
from typing import Any

import orjson

from bench.filler import sse_reply
from bench.proxy_bench import BODY_FILE
from ccp_shared.bodies import Keyframes
from ccp_shared.records import STATUS_OK, RequestRecord
from ccp_shared.store import connect, write_batch

TOOL_OUTPUT_CHARS = 1500
SESSIONS_AT_ONCE = 10
MARKER = {"type": "ephemeral"}


def _marked(messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """``messages`` with the cache marker on the last block of the last message only."""
    out = []
    for i, message in enumerate(messages):
        blocks = [{k: v for k, v in b.items() if k != "cache_control"} for b in message["content"]]
        if i == len(messages) - 1:
            blocks[-1] = {**blocks[-1], "cache_control": MARKER}
        out.append({"role": message["role"], "content": blocks})
    return out


def _reply(rng: random.Random, turn: int) -> list[dict[str, Any]]:
    words = " ".join(f"step{rng.randrange(10_000)}" for _ in range(40))
    return [
        {"type": "text", "text": f"Turn {turn}: I'll check the next file. {words}"},
        {
            "type": "tool_use",
            "id": f"toolu_{rng.getrandbits(64):016x}",
            "name": "Bash",
            "input": {"command": f"sed -n 1,80p src/module_{rng.randrange(500)}.py"},
        },
    ]


def _tool_result(rng: random.Random, tool_id: str) -> dict[str, Any]:
    lines, size = [], 0
    while size < TOOL_OUTPUT_CHARS:
        line = f"def handler_{rng.randrange(10**6)}(request): return process(request)  # ok"
        lines.append(line)
        size += len(line) + 1
    block = {"type": "tool_result", "tool_use_id": tool_id, "content": "\n".join(lines)}
    return {"role": "user", "content": [block]}


def session(
    first_turn: dict[str, Any], rng: random.Random, turns: int, t0: float
) -> list[RequestRecord]:
    session_id = str(uuid.UUID(int=rng.getrandbits(128), version=4))
    history: list[dict[str, Any]] = first_turn["messages"]
    records = []
    for turn in range(turns):
        body = orjson.dumps({**first_turn, "messages": _marked(history)})
        reply = _reply(rng, turn)
        record = RequestRecord(
            id=f"req_{rng.getrandbits(96):024x}",
            ts_start=t0 + turn * 20,
            path="/v1/messages",
            session_id=session_id,
            model=first_turn["model"],
            model_requested=first_turn["model"],
            provider="anthropic",
            request_body=body,
            request_bytes=len(body),
        )
        usage = {"input_tokens": 5, "output_tokens": 80}
        record.response_body = sse_reply(record.id, first_turn["model"], reply, usage)
        record.response_bytes = len(record.response_body)
        record.status, record.http_status, record.stream = STATUS_OK, 200, True
        record.ts_end = record.ts_start + 3
        records.append(record)
        history = [*history, {"role": "assistant", "content": reply}]
        history.append(_tool_result(rng, reply[-1]["id"]))
    return records


def fill_real(db_path: Path, sessions: int, turns: int, *, seed: int = 11, t0: float) -> int:
    """Append ``sessions`` sessions of ``turns`` real-sized requests; the bytes of their bodies.

    Written as proxy-core writes them: one transaction per round of turns (ten sessions at a
    time), bodies stored as differences from their session's keyframe (``ccp_shared.bodies``)."""
    first_turn = orjson.loads(BODY_FILE.read_bytes())
    rng = random.Random(seed)
    conn = connect(db_path, busy_timeout=30)
    keyframes = Keyframes()
    written = 0
    try:
        for start in range(0, sessions, SESSIONS_AT_ONCE):
            group = [
                session(first_turn, rng, turns, t0 + n * turns * 20)
                for n in range(start, min(start + SESSIONS_AT_ONCE, sessions))
            ]
            for turn in range(turns):
                records = [records[turn] for records in group]
                write_batch(conn, records, keyframes)
                written += sum(r.request_bytes or 0 for r in records)
    finally:
        conn.close()
    return written


def stored_body_bytes(db_path: Path) -> tuple[int, int]:
    """(requests, bytes their request_body columns hold): what storing differences saves."""
    conn = connect(db_path, readonly=True)
    try:
        count, size = conn.execute(
            "SELECT count(*), coalesce(sum(length(CAST(request_body AS BLOB))), 0) "
            "FROM request_bodies"
        ).fetchone()
    finally:
        conn.close()
    return int(count), int(size)
