"""The real Claude Code CLI through the whole stack: a tool round trip shows up as one conversation.

The CLI is installed with npm into ``.cache/npm`` (git-ignored) once and reused. Behind the stack
a scripted upstream answers the first main turn with a Bash ``tool_use`` and the turn carrying the
``tool_result`` with text; anything else Claude Code sends (quota, title, warmup) gets a plain
answer, non-streaming when it asked for JSON.
"""

from __future__ import annotations

import itertools
import json
import shutil
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from tests.integration.stack import REPO, Stack, clean_environ
from tests.support.fake_upstream import message_json, sse_events, usage_for
from tests.support.polling import wait_until

pytestmark = pytest.mark.integration

PACKAGE = "@anthropic-ai/claude-code"
PREFERRED_VERSION = "2.1.328"
NPM_PREFIX = REPO / ".cache" / "npm"
CLAUDE = NPM_PREFIX / "node_modules" / ".bin" / "claude"
TOOL_USE_ID = "toolu_fake_01"  # what fake_upstream's tool_use mode names its Bash call


def install_claude_code() -> Path:
    """The CLI from the npm cache, installing the preferred version (else the latest) once."""
    if CLAUDE.exists():
        return CLAUDE
    npm = shutil.which("npm")
    if npm is None:
        pytest.skip("npm is not installed: cannot install the Claude Code CLI")
    NPM_PREFIX.mkdir(parents=True, exist_ok=True)
    errors = []
    for spec in (f"{PACKAGE}@{PREFERRED_VERSION}", PACKAGE):
        result = subprocess.run(
            [npm, "install", "--prefix", str(NPM_PREFIX), "--no-audit", "--no-fund", spec],
            capture_output=True,
            text=True,
            timeout=600,
            check=False,
        )
        if result.returncode == 0 and CLAUDE.exists():
            return CLAUDE
        errors.append(f"{spec}: {result.stderr[-1500:]}")
    pytest.fail("npm could not install Claude Code:\n" + "\n".join(errors))


def texts_of(message: dict[str, Any]) -> list[str]:
    content = message.get("content")
    if isinstance(content, str):
        return [content]
    if not isinstance(content, list):
        return []
    return [block.get("text", "") for block in content if isinstance(block, dict)]


def has_tool_result(request: dict[str, Any]) -> bool:
    blocks = (m.get("content") for m in request.get("messages", []) if m.get("role") == "user")
    return any(
        isinstance(block, dict) and block.get("type") == "tool_result"
        for block in itertools.chain.from_iterable(b for b in blocks if isinstance(b, list))
    )


def wants_the_tool(request: dict[str, Any], marker: str) -> bool:
    """The main turn carrying our prompt, before any tool result came back."""
    tools = {tool.get("name") for tool in request.get("tools", []) if isinstance(tool, dict)}
    prompted = any(marker in text for m in request.get("messages", []) for text in texts_of(m))
    return "Bash" in tools and prompted and not has_tool_result(request)


class ScriptedUpstream:
    """An Anthropic upstream whose answer depends on where the conversation is."""

    def __init__(self, marker: str) -> None:
        self.marker = marker
        self.seen: list[tuple[dict[str, str], dict[str, Any]]] = []

    def __call__(self, request: Request) -> Response:
        body = request.get_data()
        payload = orjson.loads(body)
        self.seen.append(({k.lower(): v for k, v in request.headers.items()}, payload))
        modes = frozenset({"tool_use"}) if wants_the_tool(payload, self.marker) else frozenset()
        model = str(payload.get("model", "claude-sonnet-4-5"))
        msg_id = f"msg_scripted_{len(self.seen):04d}"
        usage = usage_for(body, 9)
        if payload.get("stream") is True:
            frames = sse_events(model, msg_id, usage, 9, modes)
            return Response(iter(frames), status=200, mimetype="text/event-stream")
        reply = message_json(model, msg_id, usage, 9, modes)
        return Response(orjson.dumps(reply), status=200, mimetype="application/json")


@pytest.fixture
def claude() -> Path:
    return install_claude_code()


@pytest.fixture
def scripted() -> ScriptedUpstream:
    return ScriptedUpstream(f"marker-{uuid.uuid4().hex[:12]}")


@pytest.fixture
def upstream(httpserver: HTTPServer, scripted: ScriptedUpstream) -> HTTPServer:
    httpserver.expect_request("/v1/messages", method="POST").respond_with_handler(scripted)
    httpserver.expect_request("/v1/messages/count_tokens", method="POST").respond_with_json(
        {"input_tokens": 42}
    )
    return httpserver


@pytest.fixture
def stack(upstream: HTTPServer, tmp_path: Path) -> Iterator[Stack]:
    url = upstream.url_for("/").rstrip("/")
    with Stack(tmp_path / "data", url) as running:
        yield running


def run_claude(claude: Path, stack: Stack, workdir: Path, prompt: str) -> dict[str, Any]:
    home = workdir.parent / "home"
    home.mkdir(exist_ok=True)
    # Nothing of a Claude Code session the tests may run in (CLAUDECODE=1 makes the CLI refuse
    # to start nested) or of the developer's own credentials.
    inherited = {
        k: v for k, v in clean_environ().items() if not k.startswith(("CLAUDE", "ANTHROPIC_"))
    }
    env = {
        **inherited,
        "HOME": str(home),
        # localhost, exactly as users are told to write it.
        "ANTHROPIC_BASE_URL": f"http://localhost:{stack.ports.front}",
        "ANTHROPIC_API_KEY": "sk-ant-test-0000",
        "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC": "1",
        "DISABLE_TELEMETRY": "1",
        "DISABLE_AUTOUPDATER": "1",
        "DISABLE_ERROR_REPORTING": "1",
    }
    argv = [str(claude), "-p", prompt, "--output-format", "json", "--allowedTools", "Bash"]
    result = subprocess.run(
        argv,
        cwd=workdir,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        stdin=subprocess.DEVNULL,
    )
    assert result.returncode == 0, f"claude failed:\n{result.stdout}\n{result.stderr}"
    return dict(json.loads(result.stdout))


def main_conversation(front: httpx.Client, session_id: str) -> dict[str, Any] | None:
    listed = front.get("/api/conversations", params={"session": session_id}).json()
    mains = [c for c in listed["conversations"] if c["kind"] == "main"]
    if len(mains) != 1:
        return None
    detail = front.get(f"/api/conversations/{mains[0]['id']}").json()
    main_turns = [t for t in detail["turns"] if t.get("class", "main") == "main"]
    return detail if len(main_turns) >= 2 and detail["messages"] else None


def test_claude_code_tool_round_trip_is_one_conversation(
    claude: Path, stack: Stack, scripted: ScriptedUpstream, tmp_path: Path
) -> None:
    workdir = tmp_path / "project"
    workdir.mkdir()
    (workdir / "notes.txt").write_text("hello from the project\n")

    result = run_claude(claude, stack, workdir, f"List the files here ({scripted.marker}).")

    assert result.get("is_error") is False, result
    assert "quick brown fox" in str(result.get("result")), result
    main_turns = [payload for _, payload in scripted.seen if "tools" in payload]
    assert any(has_tool_result(payload) for payload in main_turns), "the tool never ran"
    sessions = {headers.get("x-claude-code-session-id") for headers, _ in scripted.seen}
    assert len(sessions) == 1 and None not in sessions, sessions
    session_id = str(sessions.pop())
    assert result.get("session_id") in (None, session_id)

    with httpx.Client(base_url=stack.front_url, timeout=10) as front:
        detail = wait_until(
            lambda: main_conversation(front, session_id), 5, "the session's main conversation"
        )

    assert detail["conversation"]["session_id"] == session_id
    stored = [(m["role"], orjson.dumps(m["content"])) for m in detail["messages"]]
    assert len(stored) == len(set(stored)), "a message was stored twice"
    marker, tool_id = scripted.marker.encode(), TOOL_USE_ID.encode()
    assert [role for role, content in stored if marker in content] == ["user"]
    calls = [c for role, c in stored if role == "assistant" and b'"tool_use"' in c and tool_id in c]
    results = [c for role, c in stored if role == "user" and b'"tool_result"' in c and tool_id in c]
    assert len(calls) == 1 and len(results) == 1
    # The Bash call really ran `ls -la` in the project directory, and its output was recorded.
    assert b"notes.txt" in results[0]
    answers = [c for role, c in stored if role == "assistant" and b'"tool_use"' not in c]
    assert len(answers) == 1 and b"lazy dog" in answers[0]
