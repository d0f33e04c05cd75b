"""GraphQL types of appraisal (contract.md: Dossier, DossierConnection, DossierStatus,
Recognition) and its two mutations, createDossier and dossierAction.

Dossiers come from the appraisal service: `Query.dossier` / `Query.dossiers` read its REST
list (the cursor is appraisal's own), `Unit.dossiers` batches every unit of a query into one
`POST /v1/dossiers/lookup`. Recognitions come from criteria's titles, every unit of a query in
one `POST /v1/titles/lookup`.

Mutations return union payloads: the success type, or typed errors (ValidationError with field
errors, NotFound, WorkflowRefused naming the failed gates or the refused transition,
AccessDenied, DossierConflict). Each is one REST call to appraisal, which applies all of it in
one transaction or nothing. The caller's bearer token is forwarded (appraisal learns who acts
from it); `idempotencyKey` is forwarded as `Idempotency-Key`: a repeat
with the same key and input answers the first result, the key with another input is a
DossierConflict (`idempotency.conflict`). Without a key a repeated createDossier is a
DossierConflict (`dossier.exists`), and `expectedVersion` makes a repeated dossierAction a
DossierConflict (`dossier.version_conflict`) instead of a second move."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from enum import Enum
from typing import Annotated, Any

import strawberry
from strawberry.types import Info

from services.gateway.clients import JSON
from services.gateway.context import Context
from services.gateway.errors import GatewayError, bad_input
from services.gateway.funding_types import (
    AccessDenied,
    FieldError,
    NotFound,
    UserError,
    ValidationError,
)
from services.gateway.types import DEFAULT_FIRST, PageInfo, Unit, check_first
from shared.pagination import encode_cursor

Day = date  # for inputs with a field named `date`
MAX_DOSSIERS_PAGE = 500  # appraisal's largest page


@strawberry.enum(description="Trạng thái hồ sơ — where a dossier stands")
class DossierStatus(Enum):
    OPEN = "open"
    RECOGNISED = "recognised"
    REJECTED = "rejected"
    WITHDRAWN = "withdrawn"
    REVOKED = "revoked"


@strawberry.enum(description="Recognition of a title, or its revocation")
class DossierKind(Enum):
    RECOGNITION = "recognition"
    REVOCATION = "revocation"


def _day(value: str | None) -> date | None:
    return date.fromisoformat(value) if value else None


def _hash(snapshot: JSON | None) -> str | None:
    return snapshot["hash"] if snapshot else None


@strawberry.type(description="Hồ sơ xét công nhận — a recognition (or revocation) dossier")
class Dossier:
    id: strawberry.ID
    kind: DossierKind
    unit_code: str
    title: str = strawberry.field(description="Title code: xa-ntm, xa-ntm-nang-cao, huyen-ntm…")
    year: int
    set: str = strawberry.field(description="The criteria set it is judged against")
    status: DossierStatus
    step: str
    step_name: str | None = strawberry.field(
        description="The step's Vietnamese name; null once closed"
    )
    step_entered_on: date
    due_on: date | None
    overdue: bool
    editable_by: str | None = strawberry.field(description="The level that may edit it now")
    submitted_evaluation_hash: str | None = strawberry.field(
        description="SHA-256 of the evaluation frozen when the commune submitted it"
    )
    decision_evaluation_hash: str | None = strawberry.field(
        description="SHA-256 of the evaluation (conditions) frozen at the decision"
    )
    construction_debt_hash: str | None
    decision_id: strawberry.ID | None
    timeline_entries: int = strawberry.field(description="Entries of the audit chain")
    audit_head: str = strawberry.field(description="Hash of the audit chain's last entry")
    version: int
    created_at: datetime
    updated_at: datetime
    unit_as_of: strawberry.Private[date]

    @classmethod
    def from_json(cls, item: JSON) -> Dossier:
        return cls(
            id=strawberry.ID(item["id"]),
            kind=DossierKind(item["kind"]),
            unit_code=item["unit"]["code"],
            title=item["title"],
            year=item["year"],
            set=item["set"],
            status=DossierStatus(item["status"]),
            step=item["step"],
            step_name=item["step_name_vi"],
            step_entered_on=date.fromisoformat(item["step_entered_on"]),
            due_on=_day(item["due_on"]),
            overdue=item["overdue"],
            editable_by=item["editable_by"],
            submitted_evaluation_hash=_hash(item["submitted_evaluation"]),
            decision_evaluation_hash=_hash(item["decision_evaluation"]),
            construction_debt_hash=_hash(item["construction_debt"]),
            decision_id=strawberry.ID(item["decision_id"]) if item["decision_id"] else None,
            timeline_entries=item["audit_entries"],
            audit_head=item["audit_head"],
            version=item["version"],
            created_at=datetime.fromisoformat(item["created_at"]),
            updated_at=datetime.fromisoformat(item["updated_at"]),
            unit_as_of=date.fromisoformat(item["unit"]["as_of"]),
        )

    @strawberry.field(description="The unit, as valid on the date the dossier was opened for")
    async def unit(self, info: Info[Context, None]) -> Unit | None:
        item = await info.context.loaders.unit.load((self.unit_code, self.unit_as_of))
        return Unit.from_json(item, self.unit_as_of) if item is not None else None


@strawberry.type
class DossierEdge:
    cursor: str
    node: Dossier


@strawberry.type
class DossierConnection:
    edges: list[DossierEdge]
    page_info: PageInfo
    total_count: int = strawberry.field(description="Dossiers matching the filters, over all pages")

    @strawberry.field(description="The nodes of `edges`, for clients that do not need cursors")
    def nodes(self) -> list[Dossier]:
        return [e.node for e in self.edges]

    @classmethod
    def from_page(cls, page: JSON, *, after: str | None, keep: bool = True) -> DossierConnection:
        items: list[JSON] = page["items"] if keep else []
        # appraisal's keyset cursor (created_at, id), shared/pagination's encoding: the last
        # edge carries the REST's own next cursor
        cursors = [encode_cursor([i["created_at"], i["id"]]) for i in items]
        if cursors and page["next_cursor"]:
            cursors[-1] = page["next_cursor"]
        edges = [
            DossierEdge(cursor=c, node=Dossier.from_json(i))
            for i, c in zip(items, cursors, strict=True)
        ]
        return cls(
            edges=edges,
            page_info=PageInfo(
                has_next_page=page["next_cursor"] is not None,
                has_previous_page=after is not None,
                start_cursor=edges[0].cursor if edges else None,
                end_cursor=edges[-1].cursor if edges else None,
            ),
            total_count=page["total_count"],
        )


@strawberry.type(description="Danh hiệu — a title granted to the unit, revoked or not")
class Recognition:
    title: str
    year: int
    granted_on: date = strawberry.field(description="The day the recognition took effect")
    decision_number: str
    decision_date: date
    revoked: bool
    revoked_on: date | None
    revocation_decision: str | None = strawberry.field(description="Number of the decision")

    @classmethod
    def from_json(cls, item: JSON) -> Recognition:
        return cls(
            title=item["title"],
            year=item["year"],
            granted_on=date.fromisoformat(item["effective_on"]),
            decision_number=item["decision_number"],
            decision_date=date.fromisoformat(item["decision_date"]),
            revoked=item["revoked_on"] is not None,
            revoked_on=_day(item["revoked_on"]),
            revocation_decision=item["revocation_decision"],
        )


async def unit_dossiers(info: Info[Context, None], unit: Unit) -> list[Dossier]:
    """`Unit.dossiers`: the dossiers opened on this unit (this edition of its code)."""
    items = await info.context.loaders.unit_dossiers.load(unit.code)
    return [Dossier.from_json(i) for i in items if i["unit"]["edition"] == unit.edition]


async def unit_recognitions(info: Info[Context, None], unit: Unit) -> list[Recognition]:
    items = await info.context.loaders.recognitions.load((unit.code, unit.ref_date))
    return [Recognition.from_json(i) for i in items]  # a failed lookup raised in `load`


@strawberry.type
class AppraisalQuery:
    @strawberry.field(description="A dossier by id")
    async def dossier(self, info: Info[Context, None], id: strawberry.ID) -> Dossier | None:
        try:
            dossier_id = uuid.UUID(str(id))
        except ValueError:
            raise bad_input(
                "id", f"Mã hồ sơ '{id}' không hợp lệ (UUID).", f"Dossier id '{id}' is not a UUID."
            ) from None
        item = await info.context.upstreams.appraisal.get_dossier(str(dossier_id))
        return Dossier.from_json(item) if item is not None else None

    @strawberry.field(description="Dossiers, oldest first, of a unit and status if given")
    async def dossiers(
        self,
        info: Info[Context, None],
        unit_code: str | None = None,
        status: DossierStatus | None = None,
        title: str | None = None,
        year: int | None = None,
        first: int | None = DEFAULT_FIRST,
        after: str | None = None,
    ) -> DossierConnection:
        limit = check_first(first)
        if limit > MAX_DOSSIERS_PAGE:
            raise bad_input(
                "first",
                f"'first' tối đa {MAX_DOSSIERS_PAGE}.",
                f"'first' is at most {MAX_DOSSIERS_PAGE}.",
            )
        page = await info.context.upstreams.appraisal.list_dossiers(
            {
                "unit": unit_code,
                "status": status.value if status else None,
                "title": title,
                "year": year,
                "cursor": after,
                "limit": max(limit, 1),  # the upstream's minimum page; dropped below for 0
            }
        )
        return DossierConnection.from_page(page, after=after, keep=limit > 0)


# --- the write side ------------------------------------------------------------------------


@strawberry.input(description="A dossier to open: the unit, the title and the year")
class DossierInput:
    unit: str
    title: str = strawberry.field(description="xa-ntm, xa-ntm-nang-cao, huyen-ntm…")
    year: int
    set: str | None = strawberry.field(default=None, description="Default: from title and year")
    unit_as_of: date | None = strawberry.field(
        default=None, description="Which unit the code names (default: 31/12 of the year)"
    )


@strawberry.enum
class DossierActionKind(Enum):
    SUBMIT = "submit"
    RETURN = "return"
    ACCEPT = "accept"
    APPROVE = "approve"
    REJECT = "reject"
    WITHDRAW = "withdraw"


@strawberry.input(description="The decision to sign, when approving at the decision step")
class DecisionInput:
    number: str
    date: date
    signer: str
    effective_on: Day | None = None
    pdf_ref: str | None = None


@strawberry.type
class DossierCreated:
    dossier: Dossier


@strawberry.type
class DossierActed:
    dossier: Dossier


@strawberry.type(description="A gate of the step that is not met")
class FailedGate:
    gate: str
    code: str
    message_vi: str
    message_en: str


@strawberry.type(
    description="The workflow refused the move: a gate is not met (`failedGates`), the action "
    "is not one of this step (`workflow.action_not_allowed`), the dossier is closed, or the "
    "actor's role or level may not take it (`forbidden`)"
)
class WorkflowRefused(UserError):
    action: str | None
    forbidden: bool
    failed_gates: list[FailedGate]


@strawberry.type(description="A live dossier exists already, or the dossier changed meanwhile")
class DossierConflict(UserError):
    field_errors: list[FieldError]


CreateDossierPayload = Annotated[
    DossierCreated | ValidationError | NotFound | WorkflowRefused | AccessDenied
    | DossierConflict,
    strawberry.union("CreateDossierPayload"),
]  # fmt: skip
DossierActionPayload = Annotated[
    DossierActed | ValidationError | NotFound | WorkflowRefused | AccessDenied | DossierConflict,
    strawberry.union("DossierActionPayload"),
]


def _camel(field: str | None) -> str | None:
    """REST (snake_case) field paths → this schema's names: `decision.effective_on` →
    `decision.effectiveOn`."""
    if field is None:
        return None

    def one(part: str) -> str:
        head, *rest = part.split("_")
        return head + "".join(p.title() for p in rest)

    return ".".join(one(p) for p in field.split("."))


def _field_errors(exc: GatewayError) -> list[FieldError]:
    return [
        FieldError(
            field=_camel(e.get("field")),
            code=e.get("code", ""),
            message_vi=e.get("message_vi", ""),
            message_en=e.get("message_en", ""),
        )
        for e in exc.extensions.get("errors") or []
    ]


def _user_error(exc: GatewayError, *, action: str | None) -> Any:
    """The union member an upstream refusal stands for; anything else is raised on."""
    ext = exc.extensions
    upstream = ext.get("upstream_code") or ""
    common: dict[str, Any] = {
        "code": upstream or ext["code"],
        "message_vi": ext["message_vi"],
        "message_en": ext["message_en"],
    }
    if upstream.startswith("workflow."):
        gates = [
            FailedGate(
                gate=e.get("field") or "",
                code=e.get("code", ""),
                message_vi=e.get("message_vi", ""),
                message_en=e.get("message_en", ""),
            )
            for e in ext.get("errors") or []
        ]
        return WorkflowRefused(
            **common, action=action, forbidden=upstream == "workflow.forbidden", failed_gates=gates
        )
    if ext["code"] in ("FORBIDDEN", "UNAUTHENTICATED"):
        return AccessDenied(**common)
    if ext["code"] == "CONFLICT":
        return DossierConflict(**common, field_errors=_field_errors(exc))
    if ext["code"] == "NOT_FOUND":
        return NotFound(**common, field_errors=_field_errors(exc))
    if ext["code"] in ("BAD_USER_INPUT", "BAD_REQUEST"):
        return ValidationError(**common, field_errors=_field_errors(exc))
    raise exc


def _headers(info: Info[Context, None], key: str | None, version: int | None) -> dict[str, str]:
    headers = info.context.actor_headers()
    if key is not None:
        headers["Idempotency-Key"] = key
    if version is not None:
        headers["If-Match"] = str(version)
    return headers


@strawberry.type
class AppraisalMutation:
    @strawberry.mutation(
        description="Open a recognition dossier as the caller (the bearer token's role, unit "
        "and subject). A unit has one live dossier per title and year: "
        "a repeat answers DossierConflict (`dossier.exists`), unless it carries the first "
        "call's `idempotencyKey`, which answers the first result."
    )
    async def create_dossier(
        self,
        info: Info[Context, None],
        input: DossierInput,
        idempotency_key: str | None = None,
    ) -> CreateDossierPayload:
        body: JSON = {
            "unit": input.unit,
            "title": input.title,
            "year": input.year,
            "set": input.set,
            "unit_as_of": input.unit_as_of.isoformat() if input.unit_as_of else None,
        }
        try:
            out = await info.context.upstreams.appraisal.write(
                "/v1/dossiers",
                {k: v for k, v in body.items() if v is not None},
                _headers(info, idempotency_key, None),
            )
        except GatewayError as exc:
            return _user_error(exc, action=None)  # type: ignore[no-any-return]
        return DossierCreated(dossier=Dossier.from_json(out))

    @strawberry.mutation(
        description="Take a workflow action on a dossier (submit, return, accept, approve, "
        "reject, withdraw). Gates are checked by appraisal; a refusal names each failed gate. "
        "`expectedVersion` applies the action only to that version of the dossier."
    )
    async def dossier_action(
        self,
        info: Info[Context, None],
        id: strawberry.ID,
        action: DossierActionKind,
        comment: str | None = None,
        decision: DecisionInput | None = None,
        expected_version: int | None = None,
        idempotency_key: str | None = None,
    ) -> DossierActionPayload:
        try:
            dossier_id = uuid.UUID(str(id))
        except ValueError:
            vi, en = f"Mã hồ sơ '{id}' không hợp lệ (UUID).", f"Dossier id '{id}' is not a UUID."
            return ValidationError(
                code="dossier.id_invalid",
                message_vi=vi,
                message_en=en,
                field_errors=[
                    FieldError(field="id", code="dossier.id_invalid", message_vi=vi, message_en=en)
                ],
            )
        body: JSON = {"action": action.value}
        if comment is not None:
            body["comment"] = comment
        if decision is not None:
            fields: JSON = {
                "number": decision.number,
                "date": decision.date.isoformat(),
                "signer": decision.signer,
                "effective_on": decision.effective_on.isoformat()
                if decision.effective_on
                else None,
                "pdf_ref": decision.pdf_ref,
            }
            body["decision"] = {k: v for k, v in fields.items() if v is not None}
        try:
            out = await info.context.upstreams.appraisal.write(
                f"/v1/dossiers/{dossier_id}/actions",
                body,
                _headers(info, idempotency_key, expected_version),
            )
        except GatewayError as exc:
            return _user_error(exc, action=action.value)  # type: ignore[no-any-return]
        return DossierActed(dossier=Dossier.from_json(out))
