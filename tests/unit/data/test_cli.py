from __future__ import annotations

import csv
import io
import time
from pathlib import Path

import pytest

from ccp_data.cli import main
from ccp_shared.bodies import Keyframes
from ccp_shared.migrate import head_revision
from ccp_shared.store import connect, write_batch
from tests.support.data_app import roll_up
from tests.support.usage import usage_record, write


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    for name in ("DATA_DIR", "CCP_DB_PATH", "CCP_CONFIG"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)
    return tmp_path / "nested" / "data"


def test_upgrade_creates_the_directory_and_status_and_check_follow(
    env: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = run(capsys, "--data-dir", str(env), "db", "status")
    assert code == 0 and "revision: none" in out and "needs `ccp db upgrade`" in out
    code, _, err = run(capsys, "--data-dir", str(env), "db", "check")
    assert code == 1 and "ccp db upgrade" in err
    code, out, _ = run(capsys, "--data-dir", str(env), "db", "upgrade")
    assert code == 0 and (env / "ccp.db").is_file()
    code, out, _ = run(capsys, "--data-dir", str(env), "db", "status")
    assert f"revision: {head_revision()}" in out and "up to date" in out
    code, out, _ = run(capsys, "--data-dir", str(env), "db", "check")
    assert code == 0 and "integrity ok" in out


def test_check_finds_bodies_whose_keyframe_is_gone(
    env: Path, capsys: pytest.CaptureFixture[str], first_turn_body: bytes
) -> None:
    run(capsys, "--data-dir", str(env), "db", "upgrade")
    conn = connect(env / "ccp.db")
    keyframes = Keyframes()
    for n in range(3):
        turn = usage_record(1_767_225_600.0 + n, request_body=first_turn_body, session_id="s")
        write_batch(conn, [turn], keyframes)
    code, out, _ = run(capsys, "--data-dir", str(env), "db", "check")
    assert code == 0 and "integrity ok" in out
    conn.execute("DELETE FROM request_bodies WHERE request_body_base IS NULL")
    conn.close()
    code, _, err = run(capsys, "--data-dir", str(env), "db", "check")
    assert code == 1 and "2 request bodies are stored as a difference" in err


def test_check_fails_on_a_behind_schema(env: Path, capsys: pytest.CaptureFixture[str]) -> None:
    run(capsys, "--data-dir", str(env), "db", "upgrade")
    conn = connect(env / "ccp.db")
    conn.execute("UPDATE alembic_version SET version_num = '0001'")
    conn.close()
    code, _, err = run(capsys, "--data-dir", str(env), "db", "check")
    assert code == 1 and "0001" in err


def test_import_is_idempotent_and_reports_bad_lines(
    env: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run(capsys, "--data-dir", str(env), "db", "upgrade")
    records = [usage_record(1_767_225_600.0 + i, request_body=b'{"model":"x"}') for i in range(3)]
    good = tmp_path / "2026-01-01.jsonl"
    good.write_bytes(b"\n".join(r.to_json() for r in records) + b"\n\n")
    bad = tmp_path / "bad.jsonl"
    bad.write_bytes(records[0].to_json() + b'\nnot json\n{"id": "x"}\n')

    code, out, _ = run(capsys, "--data-dir", str(env), "db", "import", "--jsonl", str(good))
    assert code == 0 and "imported 3 records (0 already present" in out
    code, out, err = run(
        capsys, "--data-dir", str(env), "db", "import", "--jsonl", str(good), str(bad)
    )
    assert code == 1
    assert "imported 0 records (4 already present, 2 skipped)" in out
    assert "bad.jsonl:2" in err and "bad.jsonl:3" in err

    conn = connect(env / "ccp.db")
    assert conn.execute("SELECT count(*) FROM requests").fetchone()[0] == 3
    body = conn.execute(
        "SELECT request_body FROM request_bodies WHERE request_id = ?", (records[0].id,)
    ).fetchone()[0]
    assert body == '{"model":"x"}'
    conn.close()


def test_export_writes_csv_to_stdout_or_a_file(
    env: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run(capsys, "--data-dir", str(env), "db", "upgrade")
    source = tmp_path / "in.jsonl"
    source.write_bytes(usage_record(1_767_225_600.0, model="claude-haiku-4-5").to_json() + b"\n")
    run(capsys, "--data-dir", str(env), "db", "import", "--jsonl", str(source))

    code, out, _ = run(capsys, "--data-dir", str(env), "db", "export", "--csv")
    rows = list(csv.DictReader(io.StringIO(out)))
    assert code == 0 and len(rows) == 1
    assert rows[0]["model"] == "claude-haiku-4-5" and rows[0]["input_tokens"] == "100"

    target = tmp_path / "out.csv"
    code, _, err = run(
        capsys, "--data-dir", str(env), "db", "export", "--csv", "--out", str(target)
    )
    assert code == 0 and "wrote 1 requests" in err
    assert target.read_text().splitlines()[0].startswith("id,ts_start,")


def test_config_errors_are_one_line_and_exit_2(
    env: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("CCP_STORAGE__BUSY_TIMEOUT", "soon")
    code, out, err = run(capsys, "db", "status")
    assert code == 2 and out == ""
    assert err.count("\n") == 1 and "storage.busy_timeout" in err


def test_missing_files_and_databases_are_clear(
    env: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = run(capsys, "--data-dir", str(env), "db", "import", "--jsonl", "nope.jsonl")
    assert code == 2 and "nope.jsonl" in err
    code, _, err = run(capsys, "--data-dir", str(env), "db", "export", "--csv")
    assert code == 2 and "ccp db upgrade" in err


def test_a_file_that_is_not_a_database_is_one_line_and_exit_2(
    env: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    env.mkdir(parents=True)
    (env / "ccp.db").write_bytes(b"not an SQLite file " * 300)
    for action in (["upgrade"], ["status"], ["export", "--csv"], ["rebuild-rollups"]):
        code, out, err = run(capsys, "--data-dir", str(env), "db", *action)
        assert (code, out) == (2, ""), action
        assert err.startswith("ccp: ") and err.count("\n") == 1, action
        assert f"database {env / 'ccp.db'}: file is not a database\n" in err
    assert (env / "ccp.db").read_bytes() == b"not an SQLite file " * 300  # left as it was


def test_a_file_that_cannot_be_written_is_one_line_and_exit_2(
    env: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run(capsys, "--data-dir", str(env), "db", "upgrade")
    target = tmp_path / "missing-dir" / "out.csv"
    code, out, err = run(
        capsys, "--data-dir", str(env), "db", "export", "--csv", "--out", str(target)
    )
    assert (code, out) == (2, "")
    assert err.count("\n") == 1 and str(target) in err and "Traceback" not in err


def test_rebuild_rollups_applies_changed_prices_to_earlier_requests(
    env: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run(capsys, "--data-dir", str(env), "db", "upgrade")
    now = time.time()
    write(env / "ccp.db", [usage_record(now - 60, input_tokens=1_000_000, output_tokens=0)])
    roll_up(env / "ccp.db")  # at the built-in price: $3 per million input tokens
    assert rolled_up_cost(env) == pytest.approx(3.0)
    config = tmp_path / "ccp.toml"
    config.write_text('[pricing."claude-sonnet-4-5"]\ninput = 5.0\n')

    code, out, _ = run(
        capsys, "--config", str(config), "--data-dir", str(env), "db", "rebuild-rollups"
    )

    assert code == 0 and "1 requests" in out
    assert rolled_up_cost(env) == pytest.approx(5.0)


def test_rebuild_rollups_needs_a_current_schema(
    env: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = run(capsys, "--data-dir", str(env), "db", "rebuild-rollups")
    assert code == 2 and "ccp db upgrade" in err


def rolled_up_cost(data_dir: Path) -> float:
    conn = connect(data_dir / "ccp.db")
    try:
        [(nanos,)] = conn.execute(
            "SELECT sum(cost_nanos) FROM rollups WHERE granularity = 'hour'"
        ).fetchall()
    finally:
        conn.close()
    return float(nanos) / 1e9
