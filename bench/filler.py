"""Fill a database with synthetic Claude Code traffic, fast, for the data-side benchmark.

Rows are generated directly (no HTTP) and written with ``ccp_shared.store.write_batch`` in big
transactions, shaped like the captures in ``../shared/fixtures``: sessions of several turns
that resend their whole history, subagents with their agent-id header, tool use and tool
results, title/quota/warm-up helpers and count_tokens calls, a few upstream errors, three models,
over the last 30 days with a daily rhythm and one busy hour. Streamed responses are stored as the
SSE text proxy-core records. A rare word and a common word are planted for the search figures.
Bodies are far shorter than real ones (a real first turn is 50 KB), so database size per request
here is a floor, not an estimate.
"""

from __future__ import annotations

import random
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from ccp_shared.records import STATUS_OK, STATUS_UPSTREAM_ERROR, RequestRecord
from ccp_shared.store import connect, write_batch

DAY = 86400
HOUR = 3600
RARE_WORD = "quetzalcoatlite"
RARE_EVERY = 5000  # one user prompt in this many carries the rare word
COMMON_WORD = "function"
BATCH = 5000
ACTIVE_SESSIONS = 40
MODELS = (("claude-sonnet-4-5", 6), ("claude-opus-4-1", 3), ("claude-haiku-4-5", 1))
HELPER_MODEL = "claude-haiku-4-5"
CLIENT = "claude-cli/2.1.328 (external, cli)"
KEY_HASHES = ("kh_5f1c0a9e", "kh_9b2d44e1", "kh_c07e1d35")
SYSTEM = [
    {
        "type": "text",
        "text": "x-anthropic-billing-header: cc_version=2.1.328.593; cc_entrypoint=cli;",
    },
    {
        "type": "text",
        "text": "You are Claude Code, Anthropic's official CLI for Claude.",
        "cache_control": {"type": "ephemeral"},
    },
    {
        "type": "text",
        "text": "\nYou are an interactive CLI tool that helps users with software "
        "engineering tasks. Use the instructions below and the tools available to you.\n",
        "cache_control": {"type": "ephemeral"},
    },
]
TOOLS = [
    {
        "name": "Bash",
        "description": "Run a shell command.",
        "input_schema": {"type": "object", "properties": {"command": {"type": "string"}}},
    },
    {
        "name": "Read",
        "description": "Read a file.",
        "input_schema": {"type": "object", "properties": {"file_path": {"type": "string"}}},
    },
]
REMINDER = (
    "<system-reminder>\nAs you answer the user's questions, you can use the following "
    "context: the current working directory is a git repository.\n</system-reminder>"
)
PROMPTS = (
    "Refactor the {w} {common} in {f} so it no longer mutates its argument",
    "Why does {f} fail with a KeyError on {w}? Fix it and add a test",
    "Add a --{w} flag to the CLI and document it in the README",
    "Write a unit test for the {w} parser covering empty input",
    "Rename {w} to {v} everywhere and keep the public API stable",
    "The {w} endpoint is slow; profile {f} and make the hot {common} faster",
    "Explain what {f} does with {w} and {v}",
    "Make the {w} migration idempotent and run it twice in a test",
)
REPLIES = (
    "I'll look at {f} first to see how {w} is handled.",
    "The {common} `{w}` mutates its input; I changed it to return a copy and updated {f}.",
    "Done: {w} is now renamed to {v}, and the tests pass.",
    "The KeyError comes from a missing default for {w}; I added one in {f}.",
    "I profiled {f}: most time goes to re-parsing {w}; caching it makes the {common} 4x faster.",
)
TOOL_OUTPUTS = ("ok", "3 passed in 0.12s", "src/{f}\ntests/test_{w}.py", "M {f}")
TITLE_SYSTEM = "Generate a concise, sentence-case title (3-7 words) that captures the main topic."


def _vocabulary(rng: random.Random, size: int = 3000) -> list[str]:
    syllables = (
        "ka",
        "lo",
        "mi",
        "ne",
        "ru",
        "ta",
        "vo",
        "zi",
        "pe",
        "gu",
        "sha",
        "dri",
        "qu",
        "bel",
        "tor",
        "xan",
        "mor",
        "fi",
        "ly",
        "den",
    )
    words: set[str] = set()
    while len(words) < size:
        words.add("".join(rng.choice(syllables) for _ in range(rng.randint(2, 4))))
    return sorted(words)


@dataclass
class Session:
    id: str
    model: str
    turns_left: int
    agent_id: str | None = None
    key_hash: str = KEY_HASHES[0]
    messages: list[dict[str, Any]] = field(default_factory=list)
    pending_tool: str | None = None  # tool_use id the next user turn answers


@dataclass
class FillResult:
    rows: int
    seconds: float
    busy_hour: int  # start (unix seconds) of the hour with the most requests
    rare_planted: int


class Generator:
    def __init__(self, seed: int, now: float) -> None:
        self.rng = random.Random(seed)
        self.now = now
        self.words = _vocabulary(self.rng)
        self.files = [f"{w}.py" for w in self.words[:200]]
        self.prompts = 0
        self.rare_planted = 0
        self.serial = 0
        self.pool: list[Session] = []
        self._model_names = [m for m, _ in MODELS]
        self._model_weights = [w for _, w in MODELS]

    # -- text
    def _fill(self, template: str) -> str:
        rng = self.rng
        return template.format(
            w=rng.choice(self.words),
            v=rng.choice(self.words),
            f=rng.choice(self.files),
            common=COMMON_WORD,
        )

    def _prompt(self) -> str:
        self.prompts += 1
        text = self._fill(self.rng.choice(PROMPTS))
        if self.prompts % RARE_EVERY == 1:
            self.rare_planted += 1
            text += f" (the {RARE_WORD} fixture)"
        return text

    def _pick_model(self) -> str:
        return self.rng.choices(self._model_names, self._model_weights)[0]

    def _uuid(self) -> str:
        return str(uuid.UUID(int=self.rng.getrandbits(128), version=4))

    # -- sessions
    def _session(self) -> Session:
        rng = self.rng
        if len(self.pool) < ACTIVE_SESSIONS or rng.random() < 0.02:
            parent = rng.choice(self.pool) if self.pool and rng.random() < 0.15 else None
            session = Session(
                id=parent.id if parent else self._uuid(),
                model=parent.model if parent else self._pick_model(),
                turns_left=rng.randint(1, 10),
                agent_id=self._uuid()[:17] if parent else None,
                key_hash=rng.choice(KEY_HASHES),
            )
            self.pool.append(session)
            return session
        return rng.choice(self.pool)

    def _user_turn(self, session: Session) -> dict[str, Any]:
        if session.pending_tool:
            output = self._fill(self.rng.choice(TOOL_OUTPUTS))
            block = {"type": "tool_result", "tool_use_id": session.pending_tool, "content": output}
            return {"role": "user", "content": [block]}
        content = [{"type": "text", "text": self._prompt()}]
        if not session.messages:
            content.insert(0, {"type": "text", "text": REMINDER})
        return {"role": "user", "content": content}

    # -- requests
    def request(self, ts: float) -> RequestRecord:
        self.serial += 1
        roll = self.rng.random()
        session = self._session()
        if roll < 0.03:
            return self._count_tokens(session, ts)
        if roll < 0.07:
            return self._helper(session, ts, "title")
        if roll < 0.09:
            return self._helper(session, ts, "quota")
        if roll < 0.10:
            return self._helper(session, ts, "warmup")
        return self._turn(session, ts, failed=roll < 0.12)

    def _base(
        self, session: Session, ts: float, path: str, model: str, body: bytes
    ) -> RequestRecord:
        headers = {
            "user-agent": CLIENT,
            "anthropic-version": "2023-06-01",
            "x-claude-code-session-id": session.id,
            "x-api-key": "****0000",
            "content-type": "application/json",
        }
        if session.agent_id:
            headers["x-claude-code-agent-id"] = session.agent_id
        return RequestRecord(
            id=f"req_{self.rng.getrandbits(96):024x}",
            ts_start=ts,
            path=path,
            query="beta=true",
            session_id=session.id,
            agent_id=session.agent_id,
            client=CLIENT,
            model_requested=model,
            model=model,
            provider="anthropic",
            route="default",
            key_hash=session.key_hash,
            upstream_url="https://api.anthropic.com" + path,
            request_headers=headers,
            request_body=body,
            request_bytes=len(body),
        )

    def _body(
        self, session: Session, model: str, messages: list[dict[str, Any]], **extra: Any
    ) -> bytes:
        meta = orjson.dumps({"device_id": "5bb7f7a7", "account_uuid": "", "session_id": session.id})
        return orjson.dumps(
            {
                "model": model,
                "messages": messages,
                "system": extra.pop("system", SYSTEM),
                "tools": extra.pop("tools", TOOLS),
                "metadata": {"user_id": meta.decode()},
                "max_tokens": extra.pop("max_tokens", 32000),
                "stream": extra.pop("stream", True),
                **extra,
            }
        )

    def _turn(self, session: Session, ts: float, failed: bool) -> RequestRecord:
        rng = self.rng
        user = self._user_turn(session)
        messages = [*session.messages, user]
        body = self._body(session, session.model, messages)
        record = self._base(session, ts, "/v1/messages", session.model, body)
        record.stream = True
        history_tokens = len(body) // 4
        if failed:
            self._finish(record, rng.uniform(200, 2000))
            record.status, record.http_status = STATUS_UPSTREAM_ERROR, 529
            record.error_type, record.error_message = "overloaded_error", "Overloaded"
            record.response_body = (
                b'{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}'
            )
            record.response_bytes = len(record.response_body)
            return record
        text = self._fill(rng.choice(REPLIES))
        tool_id = f"toolu_{rng.getrandbits(64):016x}" if rng.random() < 0.3 else None
        assistant: list[dict[str, Any]] = [{"type": "text", "text": text}]
        if tool_id:
            assistant.append(
                {
                    "type": "tool_use",
                    "id": tool_id,
                    "name": "Bash",
                    "input": {"command": f"pytest -q tests/test_{rng.choice(self.words)}.py"},
                }
            )
        output_tokens = len(text) // 4 + (20 if tool_id else 0)
        usage = {
            "input_tokens": rng.randint(3, 60),
            "cache_creation_input_tokens": rng.randint(0, 400),
            "cache_read_input_tokens": history_tokens,
            "output_tokens": output_tokens,
        }
        sse = sse_reply(record.id, session.model, assistant, usage)
        record.response_body = sse
        record.response_bytes = len(sse)
        record.status, record.http_status = STATUS_OK, 200
        record.stop_reason = "tool_use" if tool_id else "end_turn"
        record.input_tokens = usage["input_tokens"]
        record.output_tokens = output_tokens
        record.cache_creation_input_tokens = usage["cache_creation_input_tokens"]
        record.cache_creation_5m_tokens = usage["cache_creation_input_tokens"]
        record.cache_creation_1h_tokens = 0
        record.cache_read_input_tokens = history_tokens
        record.ttft_ms = rng.lognormvariate(6.5, 0.5)
        self._finish(record, record.ttft_ms + output_tokens * rng.uniform(8, 25))
        session.messages = [*messages, {"role": "assistant", "content": assistant}]
        session.pending_tool = tool_id
        session.turns_left -= 1
        if session.turns_left <= 0 and not tool_id:
            self.pool.remove(session)
        return record

    def _helper(self, session: Session, ts: float, kind: str) -> RequestRecord:
        rng = self.rng
        if kind == "title":
            text = self._prompt()
            body = self._body(
                session,
                HELPER_MODEL,
                [{"role": "user", "content": text}],
                system=[{"type": "text", "text": TITLE_SYSTEM}],
                tools=[],
                stream=False,
                max_tokens=512,
            )
            reply = " ".join(rng.choice(self.words).title() for _ in range(4))
        elif kind == "quota":
            body = self._body(
                session,
                HELPER_MODEL,
                [{"role": "user", "content": "quota"}],
                tools=[],
                stream=False,
                max_tokens=1,
            )
            reply = "#"
        else:
            body = self._body(
                session, session.model, [{"role": "user", "content": "Warmup"}], stream=False
            )
            reply = "Ready."
        model = orjson.loads(body)["model"]
        record = self._base(session, ts, "/v1/messages", model, body)
        usage = {"input_tokens": len(body) // 4, "output_tokens": max(1, len(reply) // 4)}
        response = orjson.dumps(
            {
                "id": f"msg_{record.id[4:]}",
                "type": "message",
                "role": "assistant",
                "model": model,
                "content": [{"type": "text", "text": reply}],
                "stop_reason": "end_turn",
                "stop_sequence": None,
                "usage": usage,
            }
        )
        record.response_body, record.response_bytes = response, len(response)
        record.status, record.http_status, record.stop_reason = STATUS_OK, 200, "end_turn"
        record.input_tokens, record.output_tokens = usage["input_tokens"], usage["output_tokens"]
        self._finish(record, rng.uniform(300, 1500))
        return record

    def _count_tokens(self, session: Session, ts: float) -> RequestRecord:
        body = self._body(session, session.model, [*session.messages, self._user_turn(session)])
        record = self._base(session, ts, "/v1/messages/count_tokens", session.model, body)
        response = orjson.dumps({"input_tokens": len(body) // 4})
        record.response_body, record.response_bytes = response, len(response)
        record.status, record.http_status = STATUS_OK, 200
        self._finish(record, self.rng.uniform(50, 300))
        return record

    def _finish(self, record: RequestRecord, duration_ms: float) -> None:
        record.duration_ms = duration_ms
        record.ts_end = record.ts_start + duration_ms / 1000
        record.response_headers = {
            "content-type": "application/json",
            "request-id": f"req_up_{self.serial}",
        }


def sse_reply(
    record_id: str, model: str, content: list[dict[str, Any]], usage: dict[str, int]
) -> bytes:
    """The SSE stream of one assistant reply, as the upstream would have sent it."""

    def frame(event: str, data: dict[str, Any]) -> bytes:
        return b"event: " + event.encode() + b"\ndata: " + orjson.dumps(data) + b"\n\n"

    start_usage = {**usage, "output_tokens": 1}
    message: dict[str, Any] = {
        "id": f"msg_{record_id[4:]}",
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": [],
        "stop_reason": None,
        "stop_sequence": None,
        "usage": start_usage,
    }
    out = [frame("message_start", {"type": "message_start", "message": message})]
    for index, block in enumerate(content):
        if block["type"] == "text":
            opened: dict[str, Any] = {"type": "text", "text": ""}
            text = block["text"]
            cut = len(text) // 2
            deltas = [{"type": "text_delta", "text": part} for part in (text[:cut], text[cut:])]
        else:
            opened = {**block, "input": {}}
            deltas = [
                {"type": "input_json_delta", "partial_json": orjson.dumps(block["input"]).decode()}
            ]
        out.append(
            frame(
                "content_block_start",
                {"type": "content_block_start", "index": index, "content_block": opened},
            )
        )
        out.extend(
            frame(
                "content_block_delta", {"type": "content_block_delta", "index": index, "delta": d}
            )
            for d in deltas
        )
        out.append(frame("content_block_stop", {"type": "content_block_stop", "index": index}))
    stop = "tool_use" if content[-1]["type"] == "tool_use" else "end_turn"
    out.append(
        frame(
            "message_delta",
            {
                "type": "message_delta",
                "delta": {"stop_reason": stop, "stop_sequence": None},
                "usage": usage,
            },
        )
    )
    out.append(frame("message_stop", {"type": "message_stop"}))
    return b"".join(out)


def hour_counts(rng: random.Random, requests: int, now: float, days: int) -> list[tuple[int, int]]:
    """(hour start, requests) over ``days`` ending at ``now``: a working-day rhythm, one spike."""
    first = int(now // HOUR) * HOUR - days * DAY + HOUR
    hours = [first + i * HOUR for i in range(days * 24 - 1)]
    weights = []
    for start in hours:
        hour_of_day = (start // HOUR) % 24
        weights.append((3.0 if 8 <= hour_of_day < 19 else 0.4) * rng.uniform(0.7, 1.3))
    weights[len(weights) * 2 // 3] *= 12  # the busy hour the rollup figure is taken over
    total = sum(weights)
    counts = [int(requests * w / total) for w in weights]
    counts[len(counts) // 2] += requests - sum(counts)
    return list(zip(hours, counts, strict=True))


def timestamps(rng: random.Random, plan: list[tuple[int, int]]) -> Iterator[float]:
    for start, count in plan:
        yield from sorted(start + rng.random() * HOUR for _ in range(count))


def fill(
    db_path: Path, requests: int, *, seed: int = 7, now: float | None = None, days: int = 30
) -> FillResult:
    """Append ``requests`` synthetic records to the (migrated) database at ``db_path``."""
    now = time.time() if now is None else now
    generator = Generator(seed, now)
    plan = hour_counts(generator.rng, requests, now - 120, days)
    busy_hour = max(plan, key=lambda hc: hc[1])[0]
    conn = connect(db_path, busy_timeout=30)
    started = time.perf_counter()
    written = 0
    try:
        batch: list[RequestRecord] = []
        for ts in timestamps(generator.rng, plan):
            batch.append(generator.request(ts))
            if len(batch) >= BATCH:
                write_batch(conn, batch)
                written += len(batch)
                batch = []
        write_batch(conn, batch)
        written += len(batch)
    finally:
        conn.close()
    return FillResult(written, time.perf_counter() - started, busy_hour, generator.rare_planted)


def fill_hour(db_path: Path, hour: int, requests: int, *, seed: int) -> int:
    """Append ``requests`` more records timed inside the hour starting at ``hour``: traffic for
    a window the rollups already hold, which a rollup pass must merge into it."""
    generator = Generator(seed, hour + HOUR)
    stamps = sorted(hour + generator.rng.random() * HOUR for _ in range(requests))
    records = [generator.request(ts) for ts in stamps]
    conn = connect(db_path, busy_timeout=30)
    try:
        write_batch(conn, records)
    finally:
        conn.close()
    return len(records)
