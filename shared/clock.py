"""Dates as Vietnam sees them."""

from __future__ import annotations

from datetime import date, datetime
from zoneinfo import ZoneInfo

VN_TZ = ZoneInfo("Asia/Ho_Chi_Minh")


def today() -> date:
    """Today's date in Vietnam (UTC+7): the default `as_of` of every dated lookup."""
    return datetime.now(VN_TZ).date()
