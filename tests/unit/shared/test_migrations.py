from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from alembic import command

from ccp_shared import schema
from ccp_shared.migrate import alembic_config, current_revision, head_revision, upgrade
from ccp_shared.records import BODY_COLUMNS, REQUEST_COLUMNS
from ccp_shared.store import (
    SCHEMA_HEAD,
    SCHEMA_REVISIONS,
    SchemaError,
    check_schema,
    connect,
)


def test_one_head_and_it_is_what_the_code_expects() -> None:
    assert head_revision() == SCHEMA_HEAD


def test_a_blank_database_upgraded_to_head_has_every_table_and_index(tmp_path: Path) -> None:
    db = tmp_path / "new" / "ccp.db"
    upgrade(db)
    assert current_revision(db) == SCHEMA_HEAD
    conn = sqlite3.connect(db)
    names = {(kind, name) for kind, name in conn.execute("SELECT type, name FROM sqlite_master")}
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    conn.close()
    for table in schema.metadata.sorted_tables:
        assert ("table", table.name) in names
        for index in table.indexes:
            assert ("index", index.name) in names, index.name
    assert ("table", "messages_fts") in names


def test_migrations_and_the_sqlalchemy_schema_agree(data_dir: Path) -> None:
    # Autogenerate through env.py (so FTS tables are ignored as in real use) finds nothing to do.
    command.check(alembic_config(data_dir / "ccp.db"))


def test_the_schema_and_the_record_columns_agree() -> None:
    assert {c.name for c in schema.requests.columns} == {"seq", *REQUEST_COLUMNS}
    assert {c.name for c in schema.request_bodies.columns} == set(BODY_COLUMNS)


def test_upgrade_is_repeatable(data_dir: Path) -> None:
    upgrade(data_dir / "ccp.db")
    assert current_revision(data_dir / "ccp.db") == SCHEMA_HEAD


def test_a_behind_schema_is_refused_naming_the_fix(tmp_path: Path) -> None:
    db = tmp_path / "ccp.db"
    upgrade(db, "0001")
    with pytest.raises(SchemaError, match=r"revision 0001.*ccp db upgrade"):
        check_schema(db)
    with pytest.raises(SchemaError, match="ccp db upgrade"):
        check_schema(tmp_path / "absent.db")


@pytest.mark.parametrize("service", ["ccp_data.main", "ccp_core.main"])
def test_services_refuse_to_start_on_a_behind_schema(
    tmp_path: Path,
    service: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    import importlib

    monkeypatch.chdir(tmp_path)
    for name in ("DATA_DIR", "CCP_DB_PATH", "CCP_CONFIG", "CCP_PERSIST"):
        monkeypatch.delenv(name, raising=False)
    data = tmp_path / "data"
    upgrade(data / "ccp.db", "0002")
    main = importlib.import_module(service).main
    assert main(["--data-dir", str(data), "--port", "1"]) == 2
    assert "ccp db upgrade" in capsys.readouterr().err


def test_the_store_opens_head_databases(data_dir: Path) -> None:
    check_schema(data_dir / "ccp.db")
    conn = connect(data_dir / "ccp.db", readonly=True)
    assert conn.execute("SELECT count(*) FROM rollups").fetchone()[0] == 0
    conn.close()


@pytest.mark.parametrize("directory", ["100%", "%(here)s", "50%%off"])
def test_a_percent_sign_in_the_database_path_is_taken_literally(
    tmp_path: Path, directory: str
) -> None:
    db = tmp_path / directory / "ccp.db"
    assert alembic_config(db).get_main_option("sqlalchemy.url") == f"sqlite:///{db}"
    upgrade(db)
    assert current_revision(db) == SCHEMA_HEAD


def test_the_known_revisions_are_the_migrations_history() -> None:
    from alembic.script import ScriptDirectory

    script = ScriptDirectory.from_config(alembic_config(":memory:"))
    history = [rev.revision for rev in script.walk_revisions()][::-1]
    assert tuple(history) == SCHEMA_REVISIONS


def set_revision(db: Path, revision: str) -> None:
    with sqlite3.connect(db) as conn:
        conn.execute("UPDATE alembic_version SET version_num = ?", (revision,))
    conn.close()


def test_a_writer_accepts_a_newer_revision_that_has_its_columns(data_dir: Path) -> None:
    # `ccp db upgrade` run for a newer proxy-data: readers stay strict, the writer goes on.
    db = data_dir / "ccp.db"
    set_revision(db, "0042_from_the_future")
    check_schema(db, writer=True)
    with pytest.raises(SchemaError, match=r"0042_from_the_future.*ccp db upgrade"):
        check_schema(db)


def test_a_writer_refuses_an_older_revision_naming_the_fix(tmp_path: Path) -> None:
    db = tmp_path / "ccp.db"
    upgrade(db, "0002")
    with pytest.raises(SchemaError, match=r"revision 0002.*ccp db upgrade"):
        check_schema(db, writer=True)


def test_a_writer_refuses_a_newer_revision_without_its_columns(data_dir: Path) -> None:
    db = data_dir / "ccp.db"
    set_revision(db, "0042_from_the_future")
    with sqlite3.connect(db) as conn:
        conn.execute("ALTER TABLE requests DROP COLUMN agent_id")
    conn.close()
    with pytest.raises(SchemaError, match=r"requests\.agent_id.*ccp db upgrade"):
        check_schema(db, writer=True)


def test_0004_upgrades_a_database_with_bodies_and_downgrades_it_whole_again(
    tmp_path: Path, first_turn_body: bytes
) -> None:
    from ccp_shared.bodies import Keyframes
    from ccp_shared.records import RequestRecord
    from ccp_shared.store import write_batch

    def turn(rid: str) -> RequestRecord:
        return RequestRecord(
            id=rid, ts_start=1.0, status="ok", session_id="s", request_body=first_turn_body
        )

    db = tmp_path / "ccp.db"
    upgrade(db, "0003")
    with sqlite3.connect(db) as conn:
        conn.execute("INSERT INTO request_bodies (request_id, request_body) VALUES ('old', 'x')")
    conn.close()
    upgrade(db)
    conn = connect(db)
    frames = Keyframes()
    write_batch(conn, [turn("k")], frames)
    write_batch(conn, [turn("d")], frames)
    assert conn.execute(
        "SELECT request_body_base FROM request_bodies WHERE request_id = 'd'"
    ).fetchone() == ("k",)
    conn.close()

    command.downgrade(alembic_config(db), "0003")
    conn = sqlite3.connect(db)
    columns = {row[1] for row in conn.execute("PRAGMA table_info(request_bodies)")}
    assert "request_body_base" not in columns
    bodies = dict(conn.execute("SELECT request_id, request_body FROM request_bodies"))
    conn.close()
    assert bodies == {"old": "x", "k": first_turn_body.decode(), "d": first_turn_body.decode()}


def test_0004_refuses_to_downgrade_while_a_body_cannot_be_rebuilt(
    tmp_path: Path, first_turn_body: bytes
) -> None:
    from ccp_shared.bodies import Keyframes
    from ccp_shared.records import RequestRecord
    from ccp_shared.store import write_batch

    db = tmp_path / "ccp.db"
    upgrade(db)
    conn = connect(db)
    frames = Keyframes()
    for rid in ("k", "d"):
        body = RequestRecord(id=rid, ts_start=1.0, status="ok", request_body=first_turn_body)
        write_batch(conn, [body], frames)
    conn.execute("DELETE FROM request_bodies WHERE request_id = 'k'")
    conn.close()
    with pytest.raises(RuntimeError, match=r"1 request bodies .* cannot be stored whole"):
        command.downgrade(alembic_config(db), "0003")
    assert current_revision(db) == SCHEMA_HEAD
    conn = sqlite3.connect(db)
    assert conn.execute("SELECT request_body_base FROM request_bodies").fetchall() == [("k",)]
    conn.close()
