"""The spool: JSONL files holding records the database could not take yet.

Files are named ``{start-ms}-{pid}-{n}.jsonl``, one ``RequestRecord.to_json()`` per line, the
same shape as lite mode's ``records/*.jsonl``. A process holds an exclusive ``flock`` on the file
it appends to, so a replaying process (maybe another proxy-core sharing ``DATA_DIR``) never takes a
file that is still being written; the lock dies with its process, so the files of a process killed
with ``kill -9`` are replayed by the next one. Only the recorder's writer thread touches a Spool.
"""

from __future__ import annotations

import contextlib
import dataclasses
import fcntl
import logging
import os
import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

import orjson

from ccp_shared.records import RequestRecord, body_text

log = logging.getLogger(__name__)

SUFFIX = ".jsonl"
FAILED_SUFFIX = ".failed"
CORRUPT_SUFFIX = ".corrupt"
# A file being created, before it is locked and gets its ``*.jsonl`` name.
CREATING_SUFFIX = ".creating"
# Files are replayed whole, one per step: small files keep each step (and the time the writer is
# away from the live queue) short.
MAX_FILE_BYTES = 4 * 1024 * 1024


def encode_line(record: RequestRecord) -> bytes:
    """One JSONL line, newline included."""
    try:
        return record.to_json() + b"\n"
    except TypeError:
        # A value orjson cannot encode (say a set inside route_decision) must not cost the record.
        data = dataclasses.asdict(record)
        data["request_body"] = body_text(record.request_body)
        data["response_body"] = body_text(record.response_body)
        return orjson.dumps(data, default=repr) + b"\n"


def decode_line(line: bytes) -> RequestRecord:
    """Parse one line; ``ValueError`` when it is not a request record."""
    try:
        return RequestRecord.from_json(line)
    except TypeError as exc:
        raise ValueError(str(exc)) from None


@dataclass(slots=True)
class Chunk:
    """Up to ``max_records`` consecutive records of a spool file, and the lines that were not."""

    records: list[RequestRecord] = field(default_factory=list)
    corrupt: list[tuple[int, bytes]] = field(default_factory=list)
    size: int = 0


def read_chunks(handle: BinaryIO, max_records: int, max_bytes: int) -> Iterator[Chunk]:
    """Stream a spool file in chunks, so a large spool never has to fit in memory at once."""
    chunk = Chunk()
    for number, line in enumerate(handle, start=1):
        stripped = line.strip()
        if not stripped:
            continue
        try:
            chunk.records.append(decode_line(stripped))
        except ValueError:
            chunk.corrupt.append((number, line))
        chunk.size += len(line)
        if len(chunk.records) >= max_records or chunk.size >= max_bytes:
            yield chunk
            chunk = Chunk()
    if chunk.records or chunk.corrupt:
        yield chunk


def count_lines(path: Path) -> int:
    count = 0
    last = b"\n"
    with path.open("rb") as handle:
        while block := handle.read(1 << 20):
            count += block.count(b"\n")
            last = block[-1:]
    return count + (last != b"\n")


class Spool:
    def __init__(
        self, directory: Path, *, fsync: bool = True, max_file_bytes: int = MAX_FILE_BYTES
    ) -> None:
        self.directory = directory
        self._fsync = fsync
        self._max_file_bytes = max_file_bytes
        self._prefix = f"{int(time.time() * 1000)}-{os.getpid()}"
        self._n = 0
        self._handle: BinaryIO | None = None
        self._path: Path | None = None
        # Lines per known spool file: the exact backlog without re-reading files every time.
        self._lines: dict[Path, int] = {}
        # Read by other threads (health, metrics): a plain int, never the dict being changed.
        self.pending = 0

    def open(self) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        self.files()

    def append(self, records: Sequence[RequestRecord]) -> None:
        """Append and flush; raises ``OSError`` when the disk refuses (the caller keeps them)."""
        if not records:
            return
        # One write, not one per line: each write lets go of the GIL, and getting it back from a
        # busy event loop can take milliseconds.
        data = b"".join(encode_line(record) for record in records)
        handle, path = self._current()
        handle.write(data)
        handle.flush()
        if self._fsync:
            os.fsync(handle.fileno())
        self._lines[path] = self._lines.get(path, 0) + len(records)
        self._count()
        if handle.tell() >= self._max_file_bytes:
            self.rotate()

    def rotate(self) -> None:
        """Close the file being appended to so it can be replayed; the next append opens another."""
        if self._handle is not None:
            handle, self._handle, self._path = self._handle, None, None
            handle.close()

    def close(self) -> None:
        self.rotate()

    def files(self) -> list[Path]:
        """Spool files waiting for replay, oldest first (the one being appended to excluded)."""
        try:
            paths = sorted(self.directory.glob(f"*{SUFFIX}"), key=_name_key)
        except OSError as exc:
            log.warning("cannot list spool directory %s: %s", self.directory, exc)
            return []
        for gone in set(self._lines) - set(paths):
            del self._lines[gone]
        for path in paths:
            if path not in self._lines:
                with contextlib.suppress(OSError):
                    self._lines[path] = count_lines(path)
        self._count()
        return [path for path in paths if path != self._path]

    @contextlib.contextmanager
    def claim(self, path: Path) -> Iterator[BinaryIO | None]:
        """Open ``path`` for replay holding its lock; ``None`` if it is in use or already gone."""
        try:
            handle = path.open("rb")
        except FileNotFoundError:
            yield None
            return
        with handle:
            try:
                fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                yield None
                return
            yield handle

    def finish(self, path: Path, corrupt: Iterable[tuple[int, bytes]] = ()) -> None:
        """Remove a replayed file; lines that were not records are kept beside it for a human."""
        bad = list(corrupt)
        if bad:
            sidecar = path.with_name(path.name + CORRUPT_SUFFIX)
            with sidecar.open("ab") as handle:
                handle.writelines(line if line.endswith(b"\n") else line + b"\n" for _, line in bad)
            log.warning("%d corrupt lines of %s kept in %s", len(bad), path, sidecar)
        path.unlink(missing_ok=True)
        self._lines.pop(path, None)
        self._count()

    def quarantine(self, path: Path) -> Path:
        """Set aside a file the database keeps refusing: renamed ``*.failed``, never deleted."""
        target = path.with_name(path.name + FAILED_SUFFIX)
        path.rename(target)
        self._lines.pop(path, None)
        self._count()
        return target

    def _count(self) -> None:
        self.pending = sum(self._lines.values())

    def _current(self) -> tuple[BinaryIO, Path]:
        if self._handle is None or self._path is None:
            self.directory.mkdir(parents=True, exist_ok=True)
            self._n += 1
            path = self.directory / f"{self._prefix}-{self._n:06d}{SUFFIX}"
            self._handle, self._path = create_locked(path), path
        return self._handle, self._path


def create_locked(path: Path) -> BinaryIO:
    """Open a new spool file that no replay can take before its records are in it.

    Made under a name replays do not look at, locked, and only then renamed: a ``*.jsonl`` that
    exists unlocked, even for a moment, may be claimed by another process's replay, found empty
    and removed, and what we append after that goes to a file nobody will ever read.
    """
    hidden = path.with_name(f".{path.name}{CREATING_SUFFIX}")
    handle = hidden.open("ab")
    try:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        hidden.rename(path)
    except OSError:
        handle.close()
        hidden.unlink(missing_ok=True)
        raise
    return handle


def _name_key(path: Path) -> tuple[int, tuple[int, ...], str]:
    """Our files in the order they were written; any other ``*.jsonl`` dropped in, after them."""
    try:
        return (0, tuple(int(part) for part in path.stem.split("-")), "")
    except ValueError:
        return (1, (), path.name)
