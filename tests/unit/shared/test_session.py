"""The one session rule both services use: header, then metadata.user_id as JSON, then legacy."""

from __future__ import annotations

import orjson
import pytest

from ccp_shared.session import session_of, session_of_user_id

SESSION = "a7fef5e5-c038-416e-a21a-9d947304b249"
ACCOUNT = "0a1b2c3d-0000-4000-8000-000000000001"
LEGACY = f"user_{'ab' * 32}_account_{ACCOUNT}_session_{SESSION}"
JSON_FORM = orjson.dumps({"device_id": "d", "account_uuid": ACCOUNT, "session_id": "js"}).decode()


def body(user_id: object) -> dict[str, object]:
    return {"model": "m", "metadata": {"user_id": user_id}}


def test_the_header_wins() -> None:
    assert session_of("from-header", body(JSON_FORM)) == "from-header"
    assert session_of("from-header", body(LEGACY)) == "from-header"


def test_the_json_form_then_the_legacy_form() -> None:
    assert session_of(None, body(JSON_FORM)) == "js"
    assert session_of("", body(LEGACY)) == SESSION  # an empty header is no header


@pytest.mark.parametrize(
    "user_id",
    [
        "{broken",
        '["not", "an object"]',
        '{"session_id": 5}',
        '{"session_id": ""}',
        "someone",
        "user_x_account_y_session_not-a-uuid",
    ],
)
def test_anything_else_names_no_session(user_id: str) -> None:
    assert session_of_user_id(user_id) is None


@pytest.mark.parametrize("payload", [None, [], {"metadata": []}, body(5), {"model": "m"}])
def test_bodies_without_a_user_id_name_no_session(payload: object) -> None:
    assert session_of(None, payload) is None
