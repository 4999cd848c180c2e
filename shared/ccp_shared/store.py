"""Plain sqlite3 helpers for the hot path: opening connections and writing request records.

proxy-core uses these instead of SQLAlchemy so its writer thread stays small and fast; the
SQLAlchemy schema in ``schema.py`` describes the same tables for migrations (a test keeps the two
in step). Inserts skip a request id already present (``ON CONFLICT … DO NOTHING``), so replaying a
spool is idempotent; unlike ``INSERT OR IGNORE``, a row breaking another constraint (a NULL in a
NOT NULL column) raises instead of vanishing, so the writer can keep it.
"""

from __future__ import annotations

import functools
import logging
import sqlite3
from collections.abc import Callable, Collection, Iterable, Sequence
from pathlib import Path
from typing import Any

import orjson

from ccp_shared.bodies import MIN_BODY_BYTES, Delta, Keyframes, difference
from ccp_shared.records import BODY_COLUMNS, REQUEST_COLUMNS, RequestRecord, body_text

log = logging.getLogger(__name__)

# Every Alembic revision this code knows, oldest first; a test checks it against the migrations.
SCHEMA_REVISIONS = ("0001", "0002", "0003", "0004")
# The revision the code expects: the migrations' one head.
SCHEMA_HEAD = SCHEMA_REVISIONS[-1]

_MAX_INT = 2**63 - 1
_INT_COLUMNS = frozenset(
    {
        "http_status",
        "input_tokens",
        "output_tokens",
        "cache_creation_input_tokens",
        "cache_read_input_tokens",
        "cache_creation_5m_tokens",
        "cache_creation_1h_tokens",
        "request_bytes",
        "response_bytes",
    }
)

# Rows bound to one INSERT statement. sqlite3 lets go of the GIL around every statement it steps,
# and a writer thread then waits to get it back while the event loop runs: a statement per 16 rows
# instead of one per row is what lets proxy-core's writer keep up under load. A power of two: see
# ``_insert``.
ROWS_PER_STATEMENT = 16


@functools.lru_cache(maxsize=32)
def insert_sql(table: str, columns: tuple[str, ...], key: str, rows: int) -> str:
    """``INSERT … VALUES (…), (…) ON CONFLICT (key) DO NOTHING`` for ``rows`` rows."""
    values = ", ".join([f"({', '.join('?' * len(columns))})"] * rows)
    return (
        f"INSERT INTO {table} ({', '.join(columns)}) VALUES {values} ON CONFLICT ({key}) DO NOTHING"
    )


# Pages of 16 KiB rather than SQLite's 4 KiB: a Claude Code request body is 50 KB and more, and
# SQLite writes each page of it to the WAL (and again at the checkpoint) with calls of its own.
# Writing a 52 KB record took 175-222 µs of CPU with 4 KiB pages and 97-125 µs with 16 KiB (same
# WAL bytes between checkpoints; 8 KiB gave 130, 32 KiB 112-115): docs/performance.md.
PAGE_SIZE = 16384
# A writer's commit checkpoints once the WAL holds this much (SQLite counts pages: its default of
# 1000 is 4 MiB of 4 KiB pages), whatever the page size, so the WAL stays as small as it was.
AUTOCHECKPOINT_BYTES = 4 * 1024 * 1024


class SchemaError(RuntimeError):
    """The database schema is missing or not at the revision this code expects."""


def connect(
    path: str | Path, *, readonly: bool = False, busy_timeout: float = 2.0
) -> sqlite3.Connection:
    """A connection with ccp's pragmas: WAL checkpointed every ``AUTOCHECKPOINT_BYTES``,
    synchronous=NORMAL, busy timeout, foreign keys, and ``PAGE_SIZE`` pages when it creates the
    database.

    Autocommit mode (``isolation_level=None``): callers issue ``BEGIN IMMEDIATE`` themselves so
    write transactions take the lock up front and stay short.
    """
    if readonly:
        conn = sqlite3.connect(
            f"file:{path}?mode=ro", uri=True, timeout=busy_timeout, check_same_thread=False
        )
    else:
        conn = sqlite3.connect(
            str(path), timeout=busy_timeout, isolation_level=None, check_same_thread=False
        )
        # Only a database not yet written takes it (an existing one keeps its page size).
        conn.execute(f"PRAGMA page_size={PAGE_SIZE}")
        conn.execute("PRAGMA journal_mode=WAL")
        (page_size,) = conn.execute("PRAGMA page_size").fetchone()
        conn.execute(f"PRAGMA wal_autocheckpoint={max(1, AUTOCHECKPOINT_BYTES // page_size)}")
    conn.execute(f"PRAGMA busy_timeout={int(busy_timeout * 1000)}")
    conn.execute("PRAGMA synchronous=NORMAL")
    conn.execute("PRAGMA foreign_keys=ON")
    return conn


def schema_revision(conn: sqlite3.Connection) -> str | None:
    try:
        row = conn.execute("SELECT version_num FROM alembic_version").fetchone()
    except sqlite3.OperationalError:
        return None
    return str(row[0]) if row else None


def check_schema(path: str | Path, *, writer: bool = False) -> None:
    """Raise SchemaError, naming the fix, unless the database exists at ``SCHEMA_HEAD``.

    ``writer=True`` is proxy-core's looser check (see ``schema_problem``).
    """
    path = Path(path)
    if not path.exists():
        raise SchemaError(f"database {path} does not exist; run `ccp db upgrade` to create it")
    try:
        conn = connect(path, readonly=True)
    except sqlite3.Error as exc:
        raise SchemaError(f"cannot open database {path}: {exc}") from None
    try:
        problem = schema_problem(conn, writer=writer)
    except sqlite3.Error as exc:
        raise SchemaError(f"cannot read the schema of database {path}: {exc}") from None
    finally:
        conn.close()
    if problem is not None:
        raise SchemaError(f"database {path} {problem}")


def schema_problem(conn: sqlite3.Connection, *, writer: bool = False) -> str | None:
    """Why this code cannot use the database, or None; the reason names the fix.

    Readers need exactly ``SCHEMA_HEAD``. A writer of request records (proxy-core) also accepts a
    revision newer than any it knows, as long as the columns it writes are there: ``ccp db
    upgrade`` run for a newer proxy-data must not stop an older proxy-core from recording.
    """
    revision = schema_revision(conn)
    if revision == SCHEMA_HEAD:
        return None
    behind = (
        f"is at schema revision {revision or 'none'}, this version needs {SCHEMA_HEAD}; "
        "run `ccp db upgrade` (./run-split.sh runs it for you)"
    )
    if not writer or revision is None or revision in SCHEMA_REVISIONS:
        return behind
    missing = missing_columns(conn)
    if missing:
        return (
            f"is at schema revision {revision}, which lacks {', '.join(missing)}; "
            "run `ccp db upgrade`"
        )
    return None


def missing_columns(conn: sqlite3.Connection) -> list[str]:
    """``table.column`` for every column a record is written to that the database lacks."""
    missing: list[str] = []
    for table, columns in (("requests", REQUEST_COLUMNS), ("request_bodies", BODY_COLUMNS)):
        present = {row[1] for row in conn.execute(f"PRAGMA table_info({table})")}
        missing.extend(f"{table}.{column}" for column in columns if column not in present)
    return missing


def in_transaction(conn: sqlite3.Connection, work: Callable[[], None]) -> None:
    """Run ``work`` in one ``BEGIN IMMEDIATE`` transaction: committed, or rolled back on any error.

    A failing ROLLBACK (the connection broke too) is logged, never raised: the error that made
    the work fail is the one the caller needs to see.
    """
    conn.execute("BEGIN IMMEDIATE")
    try:
        work()
        conn.execute("COMMIT")
    except BaseException:
        if conn.in_transaction:
            try:
                conn.execute("ROLLBACK")
            except sqlite3.Error as exc:
                log.debug("rollback failed: %s", exc)
        raise


def _clamp(column: str, value: Any) -> Any:
    # SQLite integers are 64-bit: an absurd token count must not make a whole batch fail.
    if column in _INT_COLUMNS and isinstance(value, int) and not -_MAX_INT <= value <= _MAX_INT:
        return _MAX_INT if value > 0 else -_MAX_INT
    return value


def request_row(record: RequestRecord) -> tuple[Any, ...]:
    row = []
    for column in REQUEST_COLUMNS:
        value = getattr(record, column)
        if column == "route_decision":
            value = orjson.dumps(value).decode() if value is not None else None
        elif column == "stream":
            value = int(bool(value))
        row.append(_clamp(column, value))
    return tuple(row)


def body_row(record: RequestRecord, delta: Delta | None = None) -> tuple[Any, ...]:
    """The ``request_bodies`` row: the request body whole, or as ``delta`` (see ``bodies.py``)."""
    headers = (
        record.id,
        orjson.dumps(record.request_headers).decode(),
        orjson.dumps(record.response_headers).decode(),
    )
    response = body_text(record.response_body)
    if delta is None:
        return (*headers, body_text(record.request_body), response, None, None, None)
    return (*headers, delta.middle.decode(), response, delta.base, delta.prefix, delta.suffix)


# The key a body's keyframe is kept under: the turns of one conversation thread share it.
KeyframeKey = tuple[str | None, str | None, str | None, str]


def keyframe_key(record: RequestRecord) -> KeyframeKey:
    return (record.session_id, record.agent_id, record.model_requested, record.path)


def _utf8(body: object) -> bytes | None:
    """The body's bytes when it is valid UTF-8 text (only those are stored as differences); None
    for anything else, such as a spool line whose body is not a string."""
    try:
        if isinstance(body, bytes):
            body.decode()
            return body
        return body.encode() if isinstance(body, str) else None
    except UnicodeError:
        return None


def _plan_bodies(
    conn: sqlite3.Connection, records: Sequence[RequestRecord], keyframes: Keyframes
) -> tuple[dict[str, Delta], dict[str, tuple[KeyframeKey, bytes]]]:
    """How ``records`` store their request bodies: the differences by request id, and the bodies
    that become keyframes once this transaction is committed.

    A difference is only taken from a keyframe of an earlier transaction, checked here to still
    be in the database and whole: nothing can make a stored body depend on a missing one. A record
    already present (a spool replayed twice) is not inserted, so it cannot become a keyframe.
    Two queries per batch at most, not per row: each step of a statement lets go of the GIL, and
    the writer then waits for the event loop to give it back."""
    plans: list[tuple[RequestRecord, KeyframeKey, bytes, tuple[str, bytes] | None]] = []
    for record in records:
        body = _utf8(record.request_body)
        if body is not None:
            key = keyframe_key(record)
            plans.append((record, key, body, keyframes.get(key)))
    bases = {frame[0] for *_, frame in plans if frame is not None}
    lost = bool(bases) and _stored_bodies(conn, bases, whole=True) != bases
    if lost:
        log.warning("keyframe bodies left the database; storing bodies whole")
        keyframes.clear()
    deltas: dict[str, Delta] = {}
    whole: dict[str, tuple[KeyframeKey, bytes]] = {}
    for record, key, body, frame in plans:
        delta = difference(body, *frame) if frame is not None and not lost else None
        if delta is not None:
            deltas[record.id] = delta
        elif len(body) >= MIN_BODY_BYTES:
            whole[record.id] = (key, body)
    for present in _stored_bodies(conn, whole) if whole else ():
        del whole[present]
    return deltas, whole


def _stored_bodies(
    conn: sqlite3.Connection, ids: Collection[str], *, whole: bool = False
) -> set[str]:
    """Which of ``ids`` have a ``request_bodies`` row; with ``whole``, one stored whole."""
    marks = ", ".join("?" * len(ids))
    only_whole = " AND request_body_base IS NULL" if whole else ""
    sql = f"SELECT request_id FROM request_bodies WHERE request_id IN ({marks}){only_whole}"
    return {row[0] for row in conn.execute(sql, list(ids))}


def insert_records(
    conn: sqlite3.Connection,
    records: Sequence[RequestRecord],
    keyframes: Keyframes | None = None,
) -> dict[str, tuple[KeyframeKey, bytes]]:
    """Write records in the caller's transaction; records already present are left as they are.

    With ``keyframes``, request bodies are stored as differences from them where that pays, and
    the bodies stored whole are returned by request id, for the caller to add to ``keyframes``
    once the transaction is committed (``write_batch`` does)."""
    deltas, whole = _plan_bodies(conn, records, keyframes) if keyframes is not None else ({}, {})
    for start in range(0, len(records), ROWS_PER_STATEMENT):
        # Built per group, so only one group's bodies are ever decoded to text at once.
        group = records[start : start + ROWS_PER_STATEMENT]
        _insert(conn, "requests", REQUEST_COLUMNS, "id", [request_row(r) for r in group])
        rows = [body_row(r, deltas.get(r.id)) for r in group]
        _insert(conn, "request_bodies", BODY_COLUMNS, "request_id", rows)
    return whole


def _insert(
    conn: sqlite3.Connection,
    table: str,
    columns: tuple[str, ...],
    key: str,
    rows: list[tuple[Any, ...]],
) -> None:
    # Statements of 16, 8, 4, 2 or 1 rows only: a cached statement keeps a copy of the values it
    # was last run with (bodies of 50 KB and more), so the number of shapes must stay small.
    while rows:
        size = min(ROWS_PER_STATEMENT, 1 << (len(rows).bit_length() - 1))
        part, rows = rows[:size], rows[size:]
        conn.execute(insert_sql(table, columns, key, size), [v for row in part for v in row])


def write_batch(
    conn: sqlite3.Connection,
    records: Iterable[RequestRecord],
    keyframes: Keyframes | None = None,
) -> None:
    """One ``BEGIN IMMEDIATE`` transaction holding ``records``; rolled back on any error.

    With ``keyframes``, bodies are stored as differences (``insert_records``) and the bodies this
    transaction stored whole become keyframes once it is committed."""
    batch = list(records)
    if not batch:
        return
    written: dict[str, tuple[KeyframeKey, bytes]] = {}
    in_transaction(conn, lambda: written.update(insert_records(conn, batch, keyframes)))
    if keyframes is not None:
        for request_id, (key, body) in written.items():
            keyframes.put(key, request_id, body)
