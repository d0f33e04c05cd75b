"""The funding service's errors (problem+json, Vietnamese and English)."""

from __future__ import annotations

import uuid
from datetime import date

from shared.errors import Conflict, FieldError, InvalidInput, NotFound


class UnitNotFound(NotFound):
    code = "unit.not_found"

    def __init__(self, code: str, on: date, field: str = "unit") -> None:
        super().__init__(
            f"Không có đơn vị hành chính mã {code} vào ngày {on:%d/%m/%Y}.",
            f"No administrative unit with code {code} on {on.isoformat()}.",
            errors=[
                FieldError(
                    field=field,
                    code="unit.not_found",
                    message_vi=f"Mã đơn vị {code} không tồn tại vào ngày {on:%d/%m/%Y}.",
                    message_en=f"Unit code {code} does not exist on {on.isoformat()}.",
                )
            ],
        )


def invalid_field(field: str, code: str, vi: str, en: str) -> InvalidInput:
    return InvalidInput(
        vi, en, code=code, errors=[FieldError(field=field, code=code, message_vi=vi, message_en=en)]
    )


class TransferNotFound(NotFound):
    code = "transfer.not_found"

    def __init__(self, ref: uuid.UUID | str) -> None:
        super().__init__(f"Không tìm thấy giao dịch {ref}.", f"Transfer {ref} not found.")


class IdempotencyConflict(Conflict):
    code = "transfer.idempotency_conflict"

    def __init__(self, external_id: str) -> None:
        super().__init__(
            f"Mã giao dịch {external_id} đã được dùng cho một giao dịch có nội dung khác.",
            f"External id {external_id} was already used for a transfer with another body.",
            errors=[
                FieldError(
                    field="external_id",
                    code="transfer.idempotency_conflict",
                    message_vi="Cùng mã, khác nội dung: không ghi sổ lần hai.",
                    message_en="Same id, different body: nothing was posted.",
                )
            ],
        )


class AlreadyReversed(Conflict):
    code = "transfer.already_reversed"

    def __init__(self, transfer_id: uuid.UUID) -> None:
        super().__init__(
            f"Giao dịch {transfer_id} đã được đảo bút toán.",
            f"Transfer {transfer_id} has already been reversed.",
        )


class NotReversible(Conflict):
    code = "transfer.not_reversible"

    def __init__(self, transfer_id: uuid.UUID) -> None:
        super().__init__(
            f"Giao dịch {transfer_id} là bút toán đảo, không thể đảo tiếp; hãy ghi giao dịch mới.",
            f"Transfer {transfer_id} is a reversal and cannot be reversed; post a new transfer.",
        )


class WorkNotFound(NotFound):
    code = "work.not_found"

    def __init__(self, ref: object) -> None:
        super().__init__(f"Không tìm thấy công trình {ref}.", f"Work {ref} not found.")
