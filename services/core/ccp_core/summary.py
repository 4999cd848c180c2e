"""What a response tells us about itself: model, token usage, stop reason, error.

Fed from a whole JSON message (non-streaming) or from SSE events (streaming). Usage counts are
cumulative in every place Anthropic reports them, so a later value replaces an earlier one; they
are never added up.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

_USAGE_FIELDS = (
    "input_tokens",
    "output_tokens",
    "cache_creation_input_tokens",
    "cache_read_input_tokens",
)


def _count(value: Any) -> int | None:
    # bool is an int subclass; a provider sending true/false is not giving a count.
    return value if isinstance(value, int) and not isinstance(value, bool) else None


@dataclass(slots=True)
class ResponseSummary:
    model: str | None = None
    input_tokens: int | None = None
    output_tokens: int | None = None
    cache_creation_input_tokens: int | None = None
    cache_read_input_tokens: int | None = None
    cache_creation_5m_tokens: int | None = None
    cache_creation_1h_tokens: int | None = None
    stop_reason: str | None = None
    error_type: str | None = None
    error_message: str | None = None

    def apply_usage(self, usage: Any) -> None:
        if not isinstance(usage, dict):
            return
        for name in _USAGE_FIELDS:
            count = _count(usage.get(name))
            if count is not None:
                setattr(self, name, count)
        split = usage.get("cache_creation")
        if isinstance(split, dict):
            five = _count(split.get("ephemeral_5m_input_tokens"))
            hour = _count(split.get("ephemeral_1h_input_tokens"))
            if five is not None:
                self.cache_creation_5m_tokens = five
            if hour is not None:
                self.cache_creation_1h_tokens = hour

    def apply_message(self, message: Any) -> None:
        """A Messages API ``message`` object (a whole response or ``message_start.message``)."""
        if not isinstance(message, dict):
            return
        if isinstance(message.get("model"), str):
            self.model = message["model"]
        if isinstance(message.get("stop_reason"), str):
            self.stop_reason = message["stop_reason"]
        self.apply_usage(message.get("usage"))

    def apply_delta(self, event: Any) -> None:
        """A ``message_delta`` event: stop reason and the latest cumulative usage."""
        if not isinstance(event, dict):
            return
        delta = event.get("delta")
        if isinstance(delta, dict) and isinstance(delta.get("stop_reason"), str):
            self.stop_reason = delta["stop_reason"]
        self.apply_usage(event.get("usage"))

    def apply_error(self, payload: Any) -> None:
        """An ``{"type": "error", "error": {"type", "message"}}`` body or SSE event."""
        error = payload.get("error") if isinstance(payload, dict) else None
        if isinstance(error, dict):
            self.error_type = str(error.get("type") or "error")
            message = error.get("message")
            self.error_message = str(message) if message is not None else None
        else:
            self.error_type = "error"

    def apply_body(self, payload: Any) -> None:
        """A whole JSON response body: a message, or an error."""
        if isinstance(payload, dict) and payload.get("type") == "error":
            self.apply_error(payload)
        else:
            self.apply_message(payload)
