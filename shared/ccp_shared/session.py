"""Which Claude Code session a request belongs to: one rule for proxy-core and proxy-data.

The ``X-Claude-Code-Session-Id`` header wins; without it, ``metadata.user_id`` in the body names
the session, as a JSON string (``{"device_id", "account_uuid", "session_id"}``, Claude Code
2.1.78 and later) or in the legacy ``user_<hex>_account_<uuid>_session_<uuid>`` form. Pure
functions, cheap enough for proxy-core's hot path: the regex runs only on the legacy form.
"""

from __future__ import annotations

import re
from typing import Any

import orjson

_LEGACY_MARK = "_session_"
_LEGACY_SESSION = re.compile(r"_session_([0-9a-fA-F-]{36})$")


def session_of(header_session: str | None, body: Any) -> str | None:
    """The session id: the header, else ``metadata.user_id`` of a parsed body (JSON or legacy)."""
    if header_session:
        return header_session
    metadata = body.get("metadata") if isinstance(body, dict) else None
    user_id = metadata.get("user_id") if isinstance(metadata, dict) else None
    return session_of_user_id(user_id) if isinstance(user_id, str) else None


def session_of_user_id(user_id: str) -> str | None:
    """The session named by a ``metadata.user_id`` string, or None."""
    if user_id.startswith("{"):
        try:
            parsed = orjson.loads(user_id)
        except orjson.JSONDecodeError:
            return None
        session = parsed.get("session_id") if isinstance(parsed, dict) else None
        return session if isinstance(session, str) and session else None
    if _LEGACY_MARK not in user_id:
        return None
    legacy = _LEGACY_SESSION.search(user_id)
    return legacy.group(1) if legacy else None
