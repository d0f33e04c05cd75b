"""Errors the gateway lets through to clients; anything else is masked."""

from __future__ import annotations

from typing import Any


class GatewayError(Exception):
    """An expected failure, shown to the client with a stable code and both messages."""

    def __init__(self, code: str, message_vi: str, message_en: str, **extra: Any) -> None:
        super().__init__(message_en)
        self.extensions: dict[str, Any] = {
            "code": code,
            "message_vi": message_vi,
            "message_en": message_en,
            **extra,
        }


def bad_input(field: str, message_vi: str, message_en: str) -> GatewayError:
    return GatewayError("BAD_USER_INPUT", message_vi, message_en, field=field)
