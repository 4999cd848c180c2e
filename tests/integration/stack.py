"""Start the split stack (Caddy, proxy-core, proxy-data) as real processes for integration tests.

Every stack gets its own free ports and its own ``DATA_DIR`` so several can run at once::

    with Stack(tmp_path / "data", upstream_url=fake.url) as stack:
        httpx.post(f"{stack.front_url}/v1/messages", ...)
        stack.data.stop()                      # one service at a time, too

``RunSplit`` drives ``run-split.sh`` itself (the foreground supervisor and its subcommands).
Processes are started in their own session and always stopped (``stop`` escalates to SIGKILL), so
a failing test never leaves a server behind.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

import httpx

from ccp_shared.config import LEGACY_ENV
from ccp_shared.migrate import upgrade
from tests.support.polling import wait_until

REPO = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
CADDYFILE = REPO / "deploy" / "Caddyfile"
RUN_SPLIT = REPO / "run-split.sh"
FAKE_UPSTREAM = REPO / "tests" / "support" / "fake_upstream.py"
START_TIMEOUT = 30.0
STOP_TIMEOUT = 20.0


def free_ports(count: int) -> list[int]:
    """``count`` distinct ports the OS considers free (all held open at once, then released)."""
    with contextlib.ExitStack() as stack:
        socks = [stack.enter_context(socket.socket()) for _ in range(count)]
        for sock in socks:
            sock.bind(("127.0.0.1", 0))
        return [sock.getsockname()[1] for sock in socks]


def http_status(url: str, method: str = "GET", timeout: float = 2.0) -> int | None:
    try:
        return httpx.request(method, url, timeout=timeout).status_code
    except httpx.HTTPError:
        return None


NO_CONFIG = REPO / "tests" / "support" / "no-config.toml"


GO_ENV = ("GOMAXPROCS", "GOGC")


def clean_environ() -> dict[str, str]:
    """The test process environment without any ccp setting that could leak into a stack.

    CCP_CONFIG names an empty file, so a developer's ./ccp.toml is not read either; Go's own
    knobs go too, so Caddy runs as run-split.sh sets it up.
    """
    environ = {k: v for k, v in os.environ.items() if not k.startswith("CCP_")}
    environ = {k: v for k, v in environ.items() if k not in {*LEGACY_ENV, *GO_ENV}}
    return {**environ, "CCP_CONFIG": str(NO_CONFIG)}


@dataclass(frozen=True)
class Ports:
    front: int
    core: int
    data: int

    @classmethod
    def free(cls) -> Ports:
        return cls(*free_ports(3))


def stack_env(
    data_dir: Path, ports: Ports, upstream_url: str | None, extra: Mapping[str, str] | None = None
) -> dict[str, str]:
    env = clean_environ()
    env.update(
        DATA_DIR=str(data_dir),
        CCP_PORT=str(ports.front),
        CCP_CORE_PORT=str(ports.core),
        CCP_DATA_PORT=str(ports.data),
        CCP_HOST="127.0.0.1",
        PYTHONUNBUFFERED="1",
    )
    if upstream_url:
        env["CCP_PROVIDERS__ANTHROPIC__BASE_URL"] = upstream_url
    env.update(extra or {})
    return env


@dataclass
class Service:
    """One long-running process with a log file and an HTTP health probe."""

    name: str
    argv: list[str]
    env: dict[str, str]
    log_path: Path
    health_url: str
    health_method: str = "GET"
    proc: subprocess.Popen[bytes] | None = None
    _log: IO[bytes] | None = field(default=None, repr=False)

    def start(self) -> Service:
        assert self.proc is None or self.proc.poll() is not None, f"{self.name} already running"
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        self._log = self.log_path.open("ab")
        self.proc = subprocess.Popen(
            self.argv,
            env=self.env,
            cwd=REPO,
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        return self

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def healthy(self) -> bool:
        return http_status(self.health_url, self.health_method) == 200

    def wait_healthy(self, timeout: float = START_TIMEOUT) -> Service:
        def probe() -> bool:
            if not self.alive():
                raise RuntimeError(f"{self.name} exited during start-up:\n{self.log_tail()}")
            return self.healthy()

        try:
            wait_until(probe, timeout, f"{self.name} health at {self.health_url}")
        except TimeoutError as exc:
            raise TimeoutError(f"{exc}\n{self.log_tail()}") from None
        return self

    def stop(self, sig: int = signal.SIGTERM, timeout: float = STOP_TIMEOUT) -> int | None:
        """Signal the process, wait for it (SIGKILL after ``timeout``); its exit code."""
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        if self._log is not None:
            self._log.close()
            self._log = None
        return self.proc.returncode

    def log_text(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def log_tail(self, lines: int = 40) -> str:
        tail = "\n".join(self.log_text().splitlines()[-lines:])
        return f"--- last lines of {self.log_path} ---\n{tail}"


class Stack:
    """proxy-core, proxy-data and Caddy on free ports, sharing one DATA_DIR and database."""

    def __init__(
        self,
        data_dir: Path,
        upstream_url: str | None = None,
        *,
        ports: Ports | None = None,
        env: Mapping[str, str] | None = None,
    ) -> None:
        self.data_dir = data_dir
        self.ports = ports or Ports.free()
        self.env = stack_env(data_dir, self.ports, upstream_url, env)
        logs = data_dir / "logs"
        self.core = Service(
            "proxy-core",
            [str(BIN / "proxy-core")],
            self.env,
            logs / "core.log",
            f"{self.core_url}/health",
        )
        self.data = Service(
            "proxy-data",
            [str(BIN / "proxy-data")],
            self.env,
            logs / "data.log",
            f"{self.data_url}/health",
        )
        self.caddy = Service(
            "caddy",
            [str(BIN / "caddy"), "run", "--config", str(CADDYFILE), "--adapter", "caddyfile"],
            self.env,
            logs / "caddy.log",
            f"{self.front_url}/",
            health_method="HEAD",
        )

    @property
    def front_url(self) -> str:
        return f"http://127.0.0.1:{self.ports.front}"

    @property
    def core_url(self) -> str:
        return f"http://127.0.0.1:{self.ports.core}"

    @property
    def data_url(self) -> str:
        return f"http://127.0.0.1:{self.ports.data}"

    @property
    def db_path(self) -> Path:
        return self.data_dir / "ccp.db"

    def services(self) -> list[Service]:
        return [self.core, self.data, self.caddy]

    def ccp(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        """Run the ``ccp`` ops CLI against this stack's configuration."""
        return subprocess.run(
            [str(BIN / "ccp"), *args],
            env=self.env,
            cwd=REPO,
            capture_output=True,
            text=True,
            timeout=120,
            check=check,
        )

    def upgrade(self) -> None:
        # In-process, like tests/conftest.py; run-split.sh's tests exercise `ccp db upgrade`.
        self.data_dir.mkdir(parents=True, exist_ok=True)
        upgrade(self.db_path)

    def start(self, *, upgrade: bool = True) -> Stack:
        if upgrade:
            self.upgrade()
        for service in self.services():
            service.start()
        for service in self.services():
            service.wait_healthy()
        return self

    def stop(self) -> None:
        # The order run-split.sh uses: core drains its streams, then data, then the front.
        for service in self.services():
            service.stop()

    def logs(self) -> str:
        return "\n".join(service.log_tail() for service in self.services())

    def __enter__(self) -> Stack:
        try:
            return self.start()
        except BaseException:
            self.stop()
            raise

    def __exit__(self, *exc: object) -> None:
        self.stop()


class FakeUpstreamProcess(Service):
    """tests/support/fake_upstream.py as its own process (a stack's upstream provider)."""

    def __init__(self, log_path: Path, *args: str) -> None:
        port = free_ports(1)[0]
        super().__init__(
            "fake-upstream",
            [sys.executable, str(FAKE_UPSTREAM), "--port", str(port), *args],
            clean_environ(),
            log_path,
            f"http://127.0.0.1:{port}/v1/models",
        )
        self.url = f"http://127.0.0.1:{port}"


@dataclass
class RunSplit:
    """``run-split.sh`` with a stack's environment: the foreground run and its subcommands."""

    data_dir: Path
    upstream_url: str | None = None
    ports: Ports = field(default_factory=Ports.free)
    extra_env: Mapping[str, str] = field(default_factory=dict)
    proc: subprocess.Popen[str] | None = None
    # Another checkout's script, or another working directory, where a test needs one.
    script: Path = RUN_SPLIT
    cwd: Path = REPO

    def __post_init__(self) -> None:
        # The suite's venv is already installed; the script must not try to reinstall it.
        extra = {"RUN_SPLIT_BOOTSTRAP": "0", **self.extra_env}
        self.env = stack_env(self.data_dir, self.ports, self.upstream_url, extra)
        self.output_path = self.data_dir.parent / f"run-split-{self.ports.front}.out"

    @property
    def front_url(self) -> str:
        return f"http://127.0.0.1:{self.ports.front}"

    @property
    def run_dir(self) -> Path:
        return self.data_dir / "run"

    def pid_of(self, service: str) -> int | None:
        try:
            return int((self.run_dir / f"{service}.pid").read_text().strip())
        except (FileNotFoundError, ValueError):
            return None

    def start(self, timeout: float = START_TIMEOUT + 10) -> RunSplit:
        """Start the foreground supervisor and wait until it says the stack is up."""
        self.data_dir.parent.mkdir(parents=True, exist_ok=True)
        output = self.output_path.open("w")
        self.proc = subprocess.Popen(
            ["bash", str(self.script)],
            env=self.env,
            cwd=self.cwd,
            stdin=subprocess.DEVNULL,
            stdout=output,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,
        )
        output.close()

        def up() -> bool:
            if self.proc is not None and self.proc.poll() is not None:
                code = self.proc.returncode
                raise RuntimeError(f"run-split.sh exited ({code}):\n{self.output()}")
            return "ccp is running" in self.output()

        try:
            wait_until(up, timeout, "run-split.sh to report the stack running", interval=0.1)
        except BaseException:
            self.kill()
            raise
        return self

    def output(self) -> str:
        try:
            return self.output_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def command(
        self,
        *args: str,
        timeout: float = 120,
        cwd: Path | None = None,
        env: Mapping[str, str] | None = None,
    ) -> subprocess.CompletedProcess[str]:
        """A subcommand (``status``, ``stop``...), from ``cwd`` and with ``env`` added if given."""
        return subprocess.run(
            ["bash", str(self.script), *args],
            env={**self.env, **(env or {})},
            cwd=cwd or self.cwd,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )

    def signal(self, sig: int) -> None:
        assert self.proc is not None
        self.proc.send_signal(sig)

    def wait(self, timeout: float = STOP_TIMEOUT + 40) -> int:
        assert self.proc is not None
        return self.proc.wait(timeout)

    def kill(self) -> None:
        """Last resort for a finalizer: stop the supervisor and anything it left running."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(STOP_TIMEOUT + 40)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        for service in ("core", "data", "caddy"):
            pid = self.pid_of(service)
            if pid is not None and is_running(pid):
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)


def is_running(pid: int) -> bool:
    """Whether ``pid`` is a live process (a zombie is not)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, IndexError):
        return False
    return state != "Z"
