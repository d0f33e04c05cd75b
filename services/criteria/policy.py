"""Who may call which criteria route (shared.authz): one rule per route.

Units, lineage and criteria sets are published reference data: public. Evaluations, reports,
titles, targets and profiles are published aggregates. Indicator values (the raw figures) are
read within one's scope; writes are the officers' within their scope, or an integrator's with
the matching scope. Title events are appraisal's outbox relay (an integrator with
`events:titles`) or the central level's."""

from __future__ import annotations

from services.criteria.models import SCHEMA
from shared.authz import (
    AGGREGATE,
    OFFICERS,
    PUBLIC,
    Policy,
    body,
    path,
    read,
    write,
)
from shared.jobs import import_rules

VALUES_SCOPE = "write:indicator-values"
IMPORT_SCOPE = "import:indicator-values"
PLANNERS = OFFICERS - {"commune_officer"}  # region, group and targets are set from above
PROVINCIAL = frozenset({"province_officer", "central_officer"})

POLICY = Policy(
    {
        "GET /v1/units/{code}": PUBLIC,
        "GET /v1/units": PUBLIC,
        "GET /v1/units/{code}/children": PUBLIC,
        "GET /v1/units/{code}/lineage": PUBLIC,
        "POST /v1/units/{code}/villages": write(OFFICERS, path("code")),
        "POST /v1/units/lookup": PUBLIC,
        "POST /v1/units/children/lookup": PUBLIC,
        "POST /v1/units/lineage/lookup": PUBLIC,
        "GET /v1/criteria-sets": PUBLIC,
        "GET /v1/criteria-sets/{code}": PUBLIC,
        "POST /v1/criteria-sets/lookup": PUBLIC,
        "PUT /v1/criteria-sets/{code}/variants/{province}": write(PROVINCIAL, path("province")),
        "POST /v1/indicator-values": write(
            OFFICERS, body("values", "*", "unit"), scope=VALUES_SCOPE
        ),
        "GET /v1/units/{code}/indicator-values": read(path("code"), scope=VALUES_SCOPE),
        "GET /v1/units/{code}/indicator-values/{indicator}/history": read(
            path("code"), scope=VALUES_SCOPE
        ),
        "GET /v1/units/{code}/profile": AGGREGATE,
        "PUT /v1/units/{code}/profile": write(PLANNERS, path("code")),
        "GET /v1/units/{code}/evaluation": AGGREGATE,
        "POST /v1/evaluations/lookup": AGGREGATE,
        "GET /v1/units/{code}/criteria-report": AGGREGATE,
        "GET /v1/units/{code}/criteria-report.xlsx": AGGREGATE,
        # appraisal's relay; the central level may also record decisions made before the system
        "POST /v1/events/titles": write({"central_officer"}, scope="events:titles"),
        "GET /v1/units/{code}/titles": AGGREGATE,
        "POST /v1/titles/lookup": AGGREGATE,
        "GET /v1/units/{code}/targets/{year}": AGGREGATE,
        "PUT /v1/units/{code}/targets/{year}": write(PLANNERS, path("code")),
        "POST /v1/targets/lookup": AGGREGATE,
        # rows are checked one by one against the caller's scope (shared.jobs.handle_import);
        # a job is read by its submitter and within the submitter's unit
        **import_rules("indicator-values", IMPORT_SCOPE, SCHEMA),
    }
)
