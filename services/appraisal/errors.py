"""The appraisal service's errors (problem+json, Vietnamese and English)."""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from shared.errors import Conflict, FieldError, InvalidInput, NotFound, ProblemError


def invalid_field(field: str, code: str, vi: str, en: str) -> InvalidInput:
    return InvalidInput(
        vi, en, code=code, errors=[FieldError(field=field, code=code, message_vi=vi, message_en=en)]
    )


class DossierNotFound(NotFound):
    code = "dossier.not_found"

    def __init__(self, ref: object) -> None:
        super().__init__(f"Không tìm thấy hồ sơ {ref}.", f"Dossier {ref} not found.")


class DecisionNotFound(NotFound):
    code = "decision.not_found"

    def __init__(self, ref: object) -> None:
        super().__init__(f"Không tìm thấy quyết định {ref}.", f"Decision {ref} not found.")


class DossierExists(Conflict):
    code = "dossier.exists"

    def __init__(self, unit: str, title: str, year: int) -> None:
        super().__init__(
            f"Đơn vị {unit} đã có hồ sơ '{title}' năm {year} đang xử lý hoặc đã được công nhận.",
            f"Unit {unit} already has a live or recognised '{title}' dossier for {year}.",
        )


class Forbidden(ProblemError):
    status = 403
    code = "forbidden"


class NotEditable(Forbidden):
    code = "dossier.locked"

    def __init__(self, level: str, editable: str | None, step: str) -> None:
        if editable is None:
            super().__init__(
                "Hồ sơ đã kết thúc, không thể sửa.", "The dossier is closed and cannot be edited."
            )
        else:
            super().__init__(
                f"Hồ sơ đang ở bước '{step}', chỉ cấp {editable} được sửa; cấp {level} không có"
                " quyền.",
                f"The dossier is at step '{step}': only the {editable} level may edit it, not"
                f" the {level} level.",
            )


class OutOfScope(Forbidden):
    code = "dossier.out_of_scope"

    def __init__(self, unit: str | None, dossier_unit: str) -> None:
        super().__init__(
            f"Đơn vị {unit or '(không rõ)'} không quản lý đơn vị {dossier_unit}.",
            f"Unit {unit or '(none)'} has no authority over unit {dossier_unit}.",
        )


class SectorForbidden(Forbidden):
    code = "dossier.sector_forbidden"

    def __init__(self, criterion: int, sector: str | None, sectors: list[str]) -> None:
        mine = ", ".join(sectors)
        super().__init__(
            f"Tiêu chí {criterion} thuộc ngành {sector or '(không rõ)'}, không thuộc ngành thẩm"
            f" định của bạn ({mine}).",
            f"Criterion {criterion} belongs to the {sector or '(unknown)'} sector, not to yours"
            f" ({mine}).",
        )


class StaleVersion(Conflict):
    code = "dossier.version_conflict"

    def __init__(self, expected: int, actual: int) -> None:
        super().__init__(
            f"Hồ sơ đã được cập nhật (phiên bản {actual}, yêu cầu gửi theo {expected}).",
            f"The dossier changed meanwhile (version {actual}, request was for {expected}).",
            errors=[
                FieldError(
                    field="If-Match",
                    code="dossier.version_conflict",
                    message_vi="Tải lại hồ sơ rồi thử lại.",
                    message_en="Reload the dossier and retry.",
                )
            ],
        )


class UpstreamUnavailable(ProblemError):
    status = 503
    code = "upstream.unavailable"

    def __init__(self, service: str, detail: str) -> None:
        super().__init__(
            f"Không kết nối được dịch vụ {service}: {detail}",
            f"The {service} service is unavailable: {detail}",
        )


class UpstreamRefused(ProblemError):
    """A client error another service answered (its problem+json, passed on with its status,
    code and failing fields): what the request named is not there or not acceptable; the
    service is not down."""

    def __init__(self, service: str, status: int, problem: object) -> None:
        body = problem if isinstance(problem, dict) else {}
        vi = str(body.get("message_vi") or f"HTTP {status}")
        en = str(body.get("message_en") or f"HTTP {status}")
        code = body.get("code")
        fields = []
        for item in body.get("errors") or []:
            try:
                fields.append(FieldError.model_validate(item))
            except ValueError:
                continue
        super().__init__(
            f"Dịch vụ {service} từ chối yêu cầu: {vi}",
            f"The {service} service refused the request: {en}",
            code=code if isinstance(code, str) and code else f"{service}.refused",
            status=status,
            errors=fields,
        )


def workflow_refusal(
    code: str, vi: str, en: str, gates: Sequence[str], messages: dict[str, tuple[str, str]]
) -> ProblemError:
    """A refusal of the engine as problem+json: 403 for who may act, 409 otherwise."""
    status = 403 if code == "workflow.forbidden" else 409
    errors = [
        FieldError(field=g, code=f"gate.{g}", message_vi=messages[g][0], message_en=messages[g][1])
        for g in gates
        if g in messages
    ]
    return ProblemError(vi, en, code=code, status=status, errors=errors)


def decision_id_conflict(ref: uuid.UUID) -> Conflict:
    return Conflict(f"Hồ sơ {ref} đã có quyết định.", f"Dossier {ref} already has a decision.")


class EvidenceTooLarge(ProblemError):
    status = 413
    code = "evidence.too_large"

    def __init__(self, limit: int) -> None:
        mib = f"{limit / 1024 / 1024:g} MiB"
        vi = f"Tệp minh chứng (file) vượt quá dung lượng cho phép ({mib})."
        en = f"The evidence file (file) exceeds the size limit ({mib})."
        super().__init__(
            vi, en, errors=[FieldError(field="file", code=self.code, message_vi=vi, message_en=en)]
        )


class UnsupportedEvidenceType(ProblemError):
    status = 415
    code = "evidence.unsupported_type"

    def __init__(self, allowed: Sequence[str]) -> None:
        kinds = ", ".join(allowed)
        vi = f"Loại tệp minh chứng (file) không được chấp nhận; chỉ nhận: {kinds}."
        en = f"The evidence file (file) is of a type not accepted; accepted: {kinds}."
        super().__init__(
            vi, en, errors=[FieldError(field="file", code=self.code, message_vi=vi, message_en=en)]
        )


class EvidenceNotFound(NotFound):
    code = "evidence.not_found"

    def __init__(self, ref: str) -> None:
        super().__init__(f"Không tìm thấy tệp minh chứng {ref}.", f"Evidence {ref} not found.")


class EvidenceStoreUnavailable(ProblemError):
    status = 503
    code = "evidence.store_unavailable"

    def __init__(self, detail: str) -> None:
        super().__init__(
            f"Kho lưu tệp minh chứng tạm thời không phản hồi ({detail}); hãy thử lại.",
            f"The evidence store is not answering ({detail}); retry later.",
        )
