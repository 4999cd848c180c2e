"""The processes a benchmark runs: fake upstream, reference passthrough, proxy-core, proxy-data
and Caddy.

They are started with the commands run-split.sh uses (the console scripts and
``caddy run --config deploy/Caddyfile``), on free loopback ports, each with its log in the
benchmark's own data directory, and always stopped (SIGTERM, then SIGKILL) by ``Stack.close``.
"""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

import psutil  # type: ignore[import-untyped]

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
START_DEADLINE_S = 30.0
STOP_GRACE_S = 10.0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Service:
    name: str
    proc: subprocess.Popen[bytes]
    log: Path

    def log_tail(self, lines: int = 20) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""


# Our own services on loopback: never through an http_proxy the machine may have set.
_DIRECT = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def wait_http(service: Service, url: str, method: str = "GET") -> None:
    """Poll ``url`` until it answers 200; fail early if the process dies."""
    deadline = time.monotonic() + START_DEADLINE_S
    while time.monotonic() < deadline:
        if service.proc.poll() is not None:
            raise RuntimeError(
                f"{service.name} exited ({service.proc.returncode}) during start-up:\n"
                f"{service.log_tail()}"
            )
        with contextlib.suppress(OSError, urllib.error.URLError):
            request = urllib.request.Request(url, method=method)
            with _DIRECT.open(request, timeout=2) as response:
                if response.status == 200:
                    return
        time.sleep(0.05)
    raise RuntimeError(f"{service.name} not healthy at {url} after {START_DEADLINE_S}s")


@dataclass
class Stack:
    """The processes of one benchmark phase and the environment they share."""

    data_dir: Path
    env: dict[str, str] = field(default_factory=dict)
    services: list[Service] = field(default_factory=list)

    @classmethod
    def fresh(cls, data_dir: Path, upstream_url: str) -> Stack:
        data_dir.mkdir(parents=True, exist_ok=True)
        env = {
            **os.environ,
            "DATA_DIR": str(data_dir),
            "CCP_HOST": "127.0.0.1",
            "CCP_SERVICE_HOST": "127.0.0.1",
            "CCP_PORT": str(free_port()),
            "CCP_CORE_PORT": str(free_port()),
            "CCP_DATA_PORT": str(free_port()),
            "CCP_LOG_LEVEL": "warning",
            "CCP_PROVIDERS__ANTHROPIC__BASE_URL": upstream_url,
        }
        env.pop("CCP_CONFIG", None)
        env.pop("CCP_DB_PATH", None)
        return cls(data_dir, env)

    @property
    def db_path(self) -> Path:
        return self.data_dir / "ccp.db"

    def url(self, which: str) -> str:
        port = {"front": "CCP_PORT", "core": "CCP_CORE_PORT", "data": "CCP_DATA_PORT"}[which]
        return f"http://127.0.0.1:{self.env[port]}"

    def start(self, name: str, argv: list[str]) -> Service:
        log_dir = self.data_dir / "logs"
        log_dir.mkdir(parents=True, exist_ok=True)
        log = log_dir / f"{name}.log"
        with log.open("ab") as out:
            proc = subprocess.Popen(
                argv,
                cwd=ROOT,
                env=self.env,
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
        service = Service(name, proc, log)
        self.services.append(service)
        return service

    def migrate(self) -> None:
        done = subprocess.run(
            [str(BIN / "ccp"), "db", "upgrade"],
            cwd=ROOT,
            env=self.env,
            capture_output=True,
            text=True,
            check=False,
            timeout=120,
        )
        if done.returncode != 0:
            raise RuntimeError(f"ccp db upgrade failed:\n{done.stdout}{done.stderr}")

    def start_core(self) -> Service:
        service = self.start("proxy-core", [str(BIN / "proxy-core")])
        wait_http(service, f"{self.url('core')}/health")
        return service

    def start_data(self) -> Service:
        service = self.start("proxy-data", [str(BIN / "proxy-data")])
        wait_http(service, f"{self.url('data')}/health")
        return service

    def start_caddy(self) -> Service:
        argv = [
            str(BIN / "caddy"),
            "run",
            "--config",
            str(ROOT / "deploy" / "Caddyfile"),
            "--adapter",
            "caddyfile",
        ]
        # As run-split.sh starts it (see there for why).
        self.env.setdefault("GOMAXPROCS", "1")
        self.env.setdefault("GOGC", "400")
        service = self.start("caddy", argv)
        wait_http(service, f"{self.url('front')}/", method="HEAD")
        return service

    def close(self) -> None:
        for service in reversed(self.services):
            stop(service.proc)
        self.services.clear()


def start_fake_upstream(log_dir: Path, events: int = 10) -> tuple[Service, str]:
    """The fake upstream in its own process, so it never shares a GIL with what it serves."""
    port = free_port()
    argv = [str(ROOT / "tests" / "support" / "fake_upstream.py"), "--events", str(events)]
    return _start_python("fake-upstream", [*argv, "--port", str(port)], port, log_dir)


def start_reference(log_dir: Path, upstream_url: str) -> tuple[Service, str]:
    """``bench.reference``, the bare passthrough the figures are read against."""
    port = free_port()
    argv = ["-m", "bench.reference", "--port", str(port), "--upstream", upstream_url]
    return _start_python("reference", argv, port, log_dir)


def _start_python(name: str, argv: list[str], port: int, log_dir: Path) -> tuple[Service, str]:
    log_dir.mkdir(parents=True, exist_ok=True)
    log = log_dir / f"{name}.log"
    with log.open("ab") as out:
        proc = subprocess.Popen(
            [sys.executable, *argv],
            cwd=ROOT,
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
    service = Service(name, proc, log)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_http(service, f"{url}/health")
    except RuntimeError:
        stop(proc)
        raise
    return service, url


def stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is not None:
        return
    proc.terminate()
    try:
        proc.wait(STOP_GRACE_S)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(STOP_GRACE_S)


def rss_bytes(pid: int) -> int:
    """Resident memory of a process and its children (hypercorn may fork workers)."""
    try:
        process = psutil.Process(pid)
        total = process.memory_info().rss
        for child in process.children(recursive=True):
            with contextlib.suppress(psutil.Error):
                total += child.memory_info().rss
    except psutil.Error:
        return 0
    return int(total)


class RssSampler:
    """Samples a process's RSS every ``interval`` seconds in a thread; keeps the peak."""

    def __init__(self, pid: int, interval: float = 0.05) -> None:
        self.pid = pid
        self.interval = interval
        self.peak = rss_bytes(pid)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="rss-sampler", daemon=True)

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self.peak = max(self.peak, rss_bytes(self.pid))

    def __enter__(self) -> RssSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, rss_bytes(self.pid))
