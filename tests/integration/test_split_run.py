"""run-split.sh: start, status, refusals, restart under load, crash reports and graceful stops."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

from tests.integration.stack import (
    REPO,
    FakeUpstreamProcess,
    RunSplit,
    free_ports,
    is_running,
)
from tests.support.polling import wait_until

pytestmark = pytest.mark.integration

SERVICES = ("core", "data", "caddy")
HEADERS = {"x-api-key": "sk-ant-test-0000", "anthropic-version": "2023-06-01"}
BODY = {
    "model": "claude-sonnet-4-5",
    "max_tokens": 64,
    "stream": True,
    "messages": [{"role": "user", "content": "count to ten slowly"}],
}


@pytest.fixture
def upstream(tmp_path: Path) -> Iterator[FakeUpstreamProcess]:
    # Its own process: the load test must not share the test's interpreter with the upstream.
    fake = FakeUpstreamProcess(tmp_path / "fake-upstream.log", "--events", "8")
    fake.start().wait_healthy()
    yield fake
    fake.stop()


@pytest.fixture
def run_split(tmp_path: Path, upstream: FakeUpstreamProcess) -> Iterator[RunSplit]:
    script = RunSplit(tmp_path / "data", upstream.url)
    yield script
    script.kill()


def service_pids(script: RunSplit) -> dict[str, int]:
    pids = {name: script.pid_of(name) for name in SERVICES}
    assert all(pid is not None for pid in pids.values()), pids
    return {name: pid for name, pid in pids.items() if pid is not None}


def assert_all_stopped(script: RunSplit, pids: dict[str, int]) -> None:
    assert not [name for name, pid in pids.items() if is_running(pid)]
    assert not list(script.run_dir.glob("*.pid"))


def test_start_status_refusal_restart_core_crash_report_and_stop(run_split: RunSplit) -> None:
    run_split.start()
    output = run_split.output()
    assert f"ANTHROPIC_BASE_URL=http://localhost:{run_split.ports.front} claude" in output

    status = run_split.command("status")
    assert status.returncode == 0, status.stdout + status.stderr
    for program in ("proxy-core", "proxy-data", "caddy"):
        assert any(
            line.split()[:1] == [program] and line.split()[2:4] == ["yes", "200"]
            for line in status.stdout.splitlines()
        ), status.stdout

    # Caddy runs tuned for a single proxy-core (one Go thread, a lazier collector).
    pids = service_pids(run_split)
    caddy_env = Path(f"/proc/{pids['caddy']}/environ").read_bytes().split(b"\0")
    assert b"GOMAXPROCS=1" in caddy_env
    assert b"GOGC=400" in caddy_env

    second = run_split.command(timeout=60)
    assert second.returncode != 0
    assert "already running" in second.stderr

    old_core = service_pids(run_split)["core"]
    restarted = run_split.command("restart", "core")
    assert restarted.returncode == 0, restarted.stdout + restarted.stderr
    new_core = service_pids(run_split)["core"]
    assert new_core != old_core and is_running(new_core)
    assert "exited unexpectedly" not in run_split.output()

    crashed = service_pids(run_split)["data"]
    os.kill(crashed, signal.SIGKILL)
    wait_until(
        lambda: f"proxy-data (pid {crashed}) exited unexpectedly" in run_split.output(),
        10,
        "the supervisor to report the crash",
    )
    wait_until(lambda: run_split.command("status").returncode == 0, 30, "proxy-data started again")

    pids = service_pids(run_split)
    stopped = run_split.command("stop")
    assert stopped.returncode == 0, stopped.stdout + stopped.stderr
    assert run_split.wait(10) == 0
    assert_all_stopped(run_split, pids)
    assert run_split.command("status").returncode != 0


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["ctrl-c", "sigterm"])
def test_a_signal_stops_all_three(run_split: RunSplit, sig: signal.Signals) -> None:
    run_split.start()
    pids = service_pids(run_split)

    run_split.signal(sig)

    assert run_split.wait() == 0
    assert_all_stopped(run_split, pids)
    assert "stopping proxy-core" in run_split.output()


def test_a_taken_port_is_named_and_nothing_starts(run_split: RunSplit) -> None:
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", run_split.ports.core))
        squatter.listen()

        result = run_split.command(timeout=60)

    assert result.returncode != 0
    assert f"CCP_CORE_PORT (proxy-core) 127.0.0.1:{run_split.ports.core}" in result.stderr
    assert not list(run_split.run_dir.glob("*.pid"))


def core_refuses_connections(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
    except ConnectionRefusedError:
        return True
    return False


def test_restart_core_drains_streams_in_flight_and_holds_new_requests(
    run_split: RunSplit,
) -> None:
    run_split.start()
    slow = {**HEADERS, "x-fake-pace-ms": "300"}  # 8 events: a stream of about 3 s
    quick = {**BODY, "stream": False}

    async def scenario() -> tuple[bytes, list[int], int]:
        async with httpx.AsyncClient(base_url=run_split.front_url, timeout=60) as http:
            async with http.stream("POST", "/v1/messages", json=BODY, headers=slow) as stream:
                chunks = stream.aiter_raw()
                body = await anext(chunks)  # the stream is under way before the restart
                restart = asyncio.create_task(
                    asyncio.to_thread(run_split.command, "restart", "core")
                )
                # The old proxy-core has stopped listening and is draining our stream: new
                # requests now can only succeed if Caddy holds them for the new one.
                await asyncio.to_thread(
                    wait_until,
                    lambda: core_refuses_connections(run_split.ports.core),
                    10,
                    "the old proxy-core to stop listening",
                )
                replies = await asyncio.gather(
                    *(http.post("/v1/messages", json=quick, headers=HEADERS) for _ in range(5))
                )
                body += b"".join([chunk async for chunk in chunks])
            result = await restart
        return body, [r.status_code for r in replies], result.returncode

    body, statuses, restarted = asyncio.run(scenario())

    assert restarted == 0
    assert b"event: message_stop" in body
    assert statuses == [200] * 5
    assert "exited unexpectedly" not in run_split.output()


@dataclass
class Load:
    """What a load run saw: request ids of complete streams, and every failure."""

    ids: list[str] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)
    data_reads: int = 0


async def stream_forever(http: httpx.AsyncClient, load: Load, stop: asyncio.Event) -> None:
    while not stop.is_set():
        try:
            async with http.stream("POST", "/v1/messages", json=BODY) as reply:
                body = await reply.aread()
            if reply.status_code != 200 or b"event: message_stop" not in body:
                load.failures.append(f"stream {reply.status_code}: {body[-300:]!r}")
            else:
                load.ids.append(reply.headers["ccp-request-id"])
        except httpx.HTTPError as exc:
            load.failures.append(f"stream: {exc!r}")


async def read_data_forever(http: httpx.AsyncClient, load: Load, stop: asyncio.Event) -> None:
    # The dashboard's view of a restart: Caddy must hold these until the new proxy-data is up.
    while not stop.is_set():
        try:
            reply = await http.get("/api/requests", params={"limit": 5})
            if reply.status_code != 200:
                load.failures.append(f"data {reply.status_code}: {reply.text[:300]}")
            load.data_reads += 1
        except httpx.HTTPError as exc:
            load.failures.append(f"data: {exc!r}")
        await asyncio.sleep(0.05)


async def restart_data_twice(script: RunSplit, load: Load) -> list[str]:
    outputs = []
    for _ in range(2):
        # Restart once traffic is demonstrably flowing (another 100 streams completed).
        target = len(load.ids) + 100
        while len(load.ids) < target:
            await asyncio.sleep(0.05)
        result = await asyncio.to_thread(script.command, "restart", "data")
        outputs.append(result.stdout + result.stderr)
        assert result.returncode == 0, outputs[-1]
    return outputs


async def run_load(script: RunSplit, seconds: float, concurrency: int) -> tuple[Load, list[str]]:
    load, stop = Load(), asyncio.Event()
    limits = httpx.Limits(max_connections=concurrency + 4)
    headers = {**HEADERS, "x-fake-pace-ms": "40"}
    async with httpx.AsyncClient(
        base_url=script.front_url, headers=headers, timeout=60, limits=limits
    ) as http:
        workers = [
            asyncio.create_task(stream_forever(http, load, stop)) for _ in range(concurrency)
        ]
        workers.append(asyncio.create_task(read_data_forever(http, load, stop)))
        loop = asyncio.get_running_loop()
        started = loop.time()
        try:
            restarts = await asyncio.wait_for(restart_data_twice(script, load), seconds)
            # Keep the load on for the whole run, so the second new proxy-data serves too.
            await asyncio.sleep(max(0.0, started + seconds - loop.time()))
        finally:
            stop.set()
            await asyncio.gather(*workers)
    return load, restarts


def test_restart_data_twice_under_32_streams_loses_nothing(run_split: RunSplit) -> None:
    run_split.start()
    old_data = service_pids(run_split)["data"]

    load, restarts = asyncio.run(run_load(run_split, seconds=20, concurrency=32))

    assert load.failures == []
    assert len(restarts) == 2
    assert service_pids(run_split)["data"] != old_data
    assert len(load.ids) == len(set(load.ids)) > 200
    assert load.data_reads > 0
    db_path = run_split.data_dir / "ccp.db"

    def counts() -> dict[str, int] | None:
        with sqlite3.connect(f"file:{db_path}?mode=ro", uri=True) as conn:
            rows = dict(conn.execute("SELECT id, count(*) FROM requests GROUP BY id").fetchall())
        return rows if set(load.ids) <= rows.keys() else None

    rows = wait_until(counts, 15, "every proxied request in the database")
    assert set(rows) == set(load.ids)
    assert set(rows.values()) == {1}
    assert "exited unexpectedly" not in run_split.output()


def test_bad_commands_and_bad_configuration_are_explained(run_split: RunSplit) -> None:
    unknown = run_split.command("bogus")
    restart_what = run_split.command("restart", "everything")
    run_split.env["CCP_PORTT"] = "3000"
    misconfigured = run_split.command("status")

    assert unknown.returncode == 2
    assert "./run-split.sh restart data" in unknown.stderr
    assert restart_what.returncode == 1
    assert "usage: ./run-split.sh restart core|data" in restart_what.stderr
    assert misconfigured.returncode == 1
    assert "CCP_PORTT: unknown setting" in misconfigured.stderr


def test_status_and_stop_work_from_any_directory(
    tmp_path: Path, upstream: FakeUpstreamProcess
) -> None:
    # A checkout of its own (links to this one's script, venv and Caddyfile), so the default
    # ./data is tmp_path/repo/data and not this repository's.
    repo = tmp_path / "repo"
    repo.mkdir()
    for name in ("run-split.sh", ".venv", "deploy"):
        (repo / name).symlink_to(REPO / name)
    elsewhere = [tmp_path / "a", tmp_path / "b" / "c"]
    for directory in elsewhere:
        directory.mkdir(parents=True)
    script = RunSplit(repo / "data", upstream.url, script=repo / "run-split.sh", cwd=elsewhere[0])
    del script.env["DATA_DIR"]  # the default, ./data

    try:
        script.start(timeout=60)
        assert (repo / "data" / "ccp.db").is_file()
        assert not (elsewhere[0] / "data").exists()

        status = script.command("status", cwd=elsewhere[1])
        assert status.returncode == 0, status.stdout + status.stderr
        assert f"data: {repo / 'data'}" in status.stdout
        # A relative DATA_DIR is the user's: relative to where they run the script.
        relative = script.command("status", cwd=tmp_path, env={"DATA_DIR": "repo/data"})
        assert relative.returncode == 0, relative.stdout + relative.stderr

        pids = service_pids(script)
        stopped = script.command("stop", cwd=elsewhere[1])
        assert stopped.returncode == 0, stopped.stdout + stopped.stderr
        assert "not running" not in stopped.stdout
        assert script.wait(60) == 0
        assert_all_stopped(script, pids)
    finally:
        script.kill()


def test_a_machine_wide_forward_proxy_changes_nothing_on_loopback(
    tmp_path: Path, upstream: FakeUpstreamProcess
) -> None:
    # A corporate machine: every proxy variable names a port nobody answers on. The health
    # checks, Caddy to the services and proxy-core to a provider on this machine stay direct.
    dead = f"http://127.0.0.1:{free_ports(1)[0]}"
    names = ("http_proxy", "https_proxy", "HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY")
    script = RunSplit(tmp_path / "data", upstream.url, extra_env=dict.fromkeys(names, dead))
    try:
        script.start()
        with httpx.Client(trust_env=False, timeout=30) as client:
            response = client.post(f"{script.front_url}/v1/messages", json=BODY, headers=HEADERS)
        assert response.status_code == 200
        assert response.text.rstrip().endswith('data: {"type":"message_stop"}')
    finally:
        script.kill()
