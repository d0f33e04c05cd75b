"""Errors of the criteria service, each with its HTTP status and stable code."""

from __future__ import annotations

from datetime import date

from shared.errors import Conflict, InvalidInput, NotFound


class UnitNotFound(NotFound):
    code = "unit.not_found"

    def __init__(self, code: str, as_of: date) -> None:
        super().__init__(
            f"Không tìm thấy đơn vị hành chính mã '{code}' có hiệu lực ngày {as_of:%d/%m/%Y}.",
            f"No administrative unit with code '{code}' valid on {as_of.isoformat()}.",
        )


class NotACommune(InvalidInput):
    code = "unit.not_a_commune"

    def __init__(self, code: str) -> None:
        super().__init__(
            f"Thôn chỉ được tạo dưới một xã/phường; '{code}' không phải là xã.",
            f"Villages can only be added under a commune; '{code}' is not a commune.",
        )


class UnitExists(Conflict):
    code = "unit.exists"

    def __init__(self, code: str) -> None:
        super().__init__(
            f"Đơn vị mã '{code}' đã tồn tại với tên khác.",
            f"A unit with code '{code}' already exists with another name.",
        )


class InvalidValidity(InvalidInput):
    code = "unit.valid_from_out_of_range"

    def __init__(self) -> None:
        super().__init__(
            "Ngày hiệu lực của thôn phải nằm trong thời gian hiệu lực của xã.",
            "The village's valid_from must fall within the commune's validity.",
        )


class CriteriaSetNotFound(NotFound):
    code = "criteria_set.not_found"

    def __init__(self, code: str) -> None:
        super().__init__(
            f"Không tìm thấy bộ tiêu chí '{code}'.",
            f"No criteria set with code '{code}'.",
        )
