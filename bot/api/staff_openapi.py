"""OpenAPI paths and schemas for the staff-operations API (issue 8).

Kept next to the handlers; ``bot/api/openapi.py`` merges them into the document.
Schemas match the real responses (tests validate responses against them).
"""

from __future__ import annotations

from typing import Any

from bot.i18n.languages import LANGUAGES

ERROR = {"$ref": "#/components/schemas/Error"}
LANGUAGE = {"type": "string", "enum": list(LANGUAGES)}
ID_PARAM = {
    "name": "id",
    "in": "path",
    "required": True,
    "schema": {"type": "integer", "minimum": 1, "maximum": 999_999_999_999_999_999},
}
PAGE = [
    {"name": "limit", "in": "query", "schema": {"type": "integer", "minimum": 1, "maximum": 1000}},
    {
        "name": "offset",
        "in": "query",
        "schema": {"type": "integer", "minimum": 0, "maximum": 1_000_000_000},
    },
]
DATE_OR_TIME = (
    "^[0-9]{4}-[0-9]{2}-[0-9]{2}"
    "([T ][0-9]{2}:[0-9]{2}(:[0-9]{2}([.][0-9]+)?)?(Z|[+-][0-9]{2}:?[0-9]{2}))?$"
)
PERIOD = [
    {
        "name": "from",
        "in": "query",
        "description": "A UK date (2026-03-01, from its start) or an ISO 8601 time with offset",
        "schema": {"type": "string", "maxLength": 40, "pattern": DATE_OR_TIME},
    },
    {
        "name": "to",
        "in": "query",
        "description": "A UK date (to its end) or an ISO 8601 time with offset; default now",
        "schema": {"type": "string", "maxLength": 40, "pattern": DATE_OR_TIME},
    },
]
BOOLEAN_QUERY = {"type": "string", "enum": ["true", "false"]}
NULLABLE_TIME = {"type": ["string", "null"], "format": "date-time"}
TIME = {"type": "string", "format": "date-time"}
USER_REF = {
    "type": ["integer", "string"],
    "minimum": 1,
    "maximum": 999_999_999_999_999_999,
    "minLength": 1,
    "maxLength": 254,
    "description": "a user id or email",
}
COACH_REF = {**USER_REF, "type": ["integer", "string", "null"], "description": "null: none"}


def _ref(name: str) -> dict[str, Any]:
    return {"$ref": f"#/components/schemas/{name}"}


def _json(description: str, schema: dict[str, Any]) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _errors(*codes: int) -> dict[str, Any]:
    return {str(c): _json("Error", ERROR) for c in codes}


def _body(schema: dict[str, Any]) -> dict[str, Any]:
    return {"required": True, "content": {"application/json": {"schema": schema}}}


def _op(
    summary: str,
    responses: dict[str, Any],
    *,
    errors: tuple[int, ...] = (400, 401, 403, 404),
    body: dict[str, Any] | None = None,
    parameters: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    op: dict[str, Any] = {
        "summary": summary,
        "parameters": [ID_PARAM] if parameters is None else parameters,
        "responses": {**responses, **_errors(*errors)},
    }
    if body is not None:
        op["requestBody"] = _body(body)
    return op


PROBLEM = {
    "type": "object",
    "required": ["line", "column", "code", "message"],
    "properties": {
        "line": {"type": "integer"},
        "column": {"type": ["string", "null"]},
        "code": {"type": "string"},
        "message": {"type": "string"},
    },
}
IMPORT_REPORT = {
    "type": "object",
    "required": ["summary", "mode", "rows", "valid", "bad_rows", "imported", "errors", "warnings"],
    "properties": {
        "summary": {"type": "string"},
        "mode": {"type": "string", "enum": ["all_or_nothing", "good_rows"]},
        "rows": {"type": "integer"},
        "valid": {"type": "integer"},
        "bad_rows": {"type": "integer"},
        "imported": {"type": "integer"},
        "file_error": {"oneOf": [{"type": "null"}, PROBLEM]},
        "errors": {"type": "array", "items": PROBLEM},
        "warnings": {"type": "array", "items": PROBLEM},
        "error": {
            "type": "object",
            "required": ["code", "message"],
            "properties": {"code": {"type": "string"}, "message": {"type": "string"}},
        },
    },
}
PARTICIPANT_DETAIL = {
    "allOf": [
        _ref("Participant"),
        {
            "type": "object",
            "required": ["tier", "postcode_district", "interpreter", "beliefs_flag", "carer"],
            "properties": {
                "tier": {"type": ["integer", "null"], "enum": [1, 2, 3, None]},
                "postcode_district": {"type": ["string", "null"]},
                "interpreter": {
                    "type": "object",
                    "required": ["needed", "language", "gender"],
                    "properties": {
                        "needed": {"type": "boolean"},
                        "language": {"type": ["string", "null"]},
                        "gender": {"type": ["string", "null"]},
                    },
                },
                "beliefs_flag": {"type": "boolean"},
                "carer": {
                    "oneOf": [
                        {"type": "null"},
                        {
                            "type": "object",
                            "required": ["reminders"],
                            "properties": {"reminders": {"type": "boolean"}},
                        },
                    ]
                },
                "open_escalations": {"type": "integer"},
            },
        },
    ]
}
PATCH_BODY = {
    "type": "object",
    "minProperties": 1,
    "additionalProperties": False,
    "properties": {
        "language": {**LANGUAGE, "description": "a language code; pa_Arab or pa_Guru, never pa"},
        "timezone": {"type": "string", "maxLength": 64},
        "coach": COACH_REF,
        "name": {"type": ["string", "null"], "maxLength": 200},
        "consent": {
            "type": "boolean",
            "description": "consent for the (new) channel; a new channel without it has none",
        },
        "channel": {"type": "string", "enum": ["sms", "whatsapp", "telegram"]},
        "phone": {"type": ["string", "null"]},
        "interpreter_needed": {"type": "boolean"},
        "interpreter_language": {"type": ["string", "null"], "maxLength": 64},
        "interpreter_gender": {"type": ["string", "null"], "enum": ["any", "female", "male", None]},
        "postcode": {"type": ["string", "null"], "description": "only the district is kept"},
    },
}
TIER_CHANGE = {
    "type": "object",
    "required": ["from_tier", "to_tier", "note", "decided_by", "at"],
    "properties": {
        "from_tier": {"type": ["integer", "null"], "enum": [1, 2, 3, None]},
        "to_tier": {"type": "integer", "enum": [1, 2, 3]},
        "note": {"type": ["string", "null"]},
        "decided_by": {"type": ["integer", "null"]},
        "at": TIME,
    },
}
TIER = {
    "type": "object",
    "required": ["tier", "history"],
    "additionalProperties": False,
    "properties": {
        "tier": {"type": ["integer", "null"], "enum": [1, 2, 3, None]},
        "history": {"type": "array", "items": TIER_CHANGE},
    },
}
BELIEFS = {
    "type": "object",
    "required": ["flag", "note", "by", "at"],
    "additionalProperties": False,
    "properties": {
        "flag": {"type": "boolean"},
        "note": {"type": ["string", "null"]},
        "by": {"type": ["integer", "null"]},
        "at": NULLABLE_TIME,
    },
}
CARER = {
    "type": "object",
    "required": [
        "name",
        "relationship",
        "phone",
        "channel",
        "language",
        "participant_asked",
        "consent",
        "consent_at",
        "opted_out_at",
        "receives_reminders",
    ],
    "additionalProperties": False,
    "properties": {
        "name": {"type": ["string", "null"]},
        "relationship": {"type": ["string", "null"]},
        "phone": {"type": ["string", "null"]},
        "channel": {"type": "string", "enum": ["sms", "whatsapp"]},
        "language": {**LANGUAGE, "description": "reminders are sent in this language"},
        "participant_asked": {"type": "boolean"},
        "consent": {"type": "boolean"},
        "consent_at": NULLABLE_TIME,
        "opted_out_at": NULLABLE_TIME,
        "receives_reminders": {"type": "boolean"},
    },
}
ERASURE_REQUEST = {
    "type": "object",
    "required": [
        "id",
        "participant_id",
        "status",
        "reason",
        "requested_by",
        "requested_at",
        "decided_by",
        "decided_at",
    ],
    "additionalProperties": False,
    "properties": {
        "id": {"type": "integer"},
        "participant_id": {"type": "integer"},
        "status": {"type": "string", "enum": ["requested", "confirmed", "rejected", "cancelled"]},
        "reason": {"type": "string"},
        "requested_by": {"type": "integer"},
        "requested_at": TIME,
        "decided_by": {"type": ["integer", "null"]},
        "decided_at": NULLABLE_TIME,
    },
}
MDT_ESCALATION = {
    "type": "object",
    "required": [
        "priority",
        "reason",
        "status",
        "opened_at",
        "acknowledged_at",
        "resolved_at",
        "outcome",
        "notes",
    ],
    "additionalProperties": False,
    "properties": {
        "priority": {"type": "string", "enum": ["urgent", "high", "routine"]},
        "reason": {"type": "string"},
        "status": {"type": "string", "enum": ["open", "claimed", "resolved"]},
        "opened_at": TIME,
        "acknowledged_at": NULLABLE_TIME,
        "resolved_at": NULLABLE_TIME,
        "outcome": {"type": ["string", "null"]},
        "notes": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["at", "text"],
                "additionalProperties": False,
                "properties": {"at": TIME, "text": {"type": "string"}},
            },
        },
    },
}
MDT_BOOKING = {
    "type": "object",
    "required": ["module", "starts_at", "status"],
    "additionalProperties": False,
    "properties": {
        "module": {"type": "string"},
        "starts_at": TIME,
        "status": {"type": "string", "enum": ["booked", "cancelled", "attended", "no_show"]},
    },
}
MDT_REPORT = {
    "type": "object",
    "required": ["from", "to", "coach", "pseudonymised", "generated_at", "participants"],
    "properties": {
        "from": TIME,
        "to": TIME,
        "coach": {"type": "string"},
        "pseudonymised": {"type": "boolean"},
        "generated_at": TIME,
        "participants": {
            "type": "array",
            "items": {
                "type": "object",
                "required": [
                    "participant",
                    "language",
                    "channel",
                    "tier",
                    "interpreter",
                    "beliefs_flag",
                    "escalations",
                    "trends",
                    "checkins_due",
                    "checkins_missed",
                    "bookings",
                    "tier_changes",
                ],
                "properties": {
                    "participant": {"type": "string"},
                    "language": LANGUAGE,
                    "channel": {"type": "string"},
                    "tier": {"type": ["integer", "null"], "enum": [1, 2, 3, None]},
                    "interpreter": {"type": ["string", "null"]},
                    "beliefs_flag": {"type": "boolean"},
                    "escalations": {"type": "array", "items": MDT_ESCALATION},
                    "trends": {
                        "type": "array",
                        "items": {
                            "type": "object",
                            "required": ["key", "label", "values", "worse"],
                            "properties": {
                                "key": {"type": "string"},
                                "label": {"type": "string"},
                                "values": {"type": "array", "items": {"type": "number"}},
                                "worse": {"type": "boolean"},
                            },
                        },
                    },
                    "checkins_due": {"type": "integer", "minimum": 0},
                    "checkins_missed": {"type": "integer", "minimum": 0},
                    "bookings": {"type": "array", "items": MDT_BOOKING},
                    "tier_changes": {"type": "array", "items": TIER_CHANGE},
                },
            },
        },
    },
}
RATE = {
    "type": "object",
    "required": ["group", "answered", "missed", "participants", "rate"],
    "properties": {
        "group": {"type": "string"},
        "answered": {"type": "integer"},
        "missed": {"type": "integer"},
        "participants": {"type": "integer"},
        "rate": {"type": ["number", "null"]},
    },
}
SERVICE_REPORT = {
    "type": "object",
    "required": ["from", "to", "weeks", "response_rates", "escalations", "modules"],
    "properties": {
        "from": TIME,
        "to": TIME,
        "weeks": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["week", "sent", "answered", "missed"],
                "properties": {
                    "week": {"type": "string", "format": "date"},
                    "sent": {"type": "integer"},
                    "answered": {"type": "integer"},
                    "missed": {"type": "integer"},
                },
            },
        },
        "response_rates": {
            "type": "object",
            "additionalProperties": {"type": "array", "items": RATE},
        },
        "escalations": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["priority", "opened", "acknowledged", "median_minutes", "p90_minutes"],
                "properties": {
                    "priority": {"type": "string"},
                    "opened": {"type": "integer"},
                    "acknowledged": {"type": "integer"},
                    "median_minutes": {"type": ["number", "null"]},
                    "p90_minutes": {"type": ["number", "null"]},
                },
            },
        },
        "modules": {"type": "array", "items": {"type": "object"}},
    },
}
CSV_RESPONSE = {
    "description": "CSV (UTF-8 with a byte-order mark), streamed",
    "content": {"text/csv": {"schema": {"type": "string"}}},
}

OPENAPI_SCHEMAS: dict[str, Any] = {
    "ImportReport": IMPORT_REPORT,
    "ParticipantDetail": PARTICIPANT_DETAIL,
    "Tier": TIER,
    "Beliefs": BELIEFS,
    "Carer": CARER,
    "ErasureRequest": ERASURE_REQUEST,
    "MdtReport": MDT_REPORT,
    "ServiceReport": SERVICE_REPORT,
}

OPENAPI_PATHS: dict[str, Any] = {
    "/api/participants/import": {
        "post": {
            "summary": "Import referrals from CSV: all rows or none, or ?good_rows=true",
            "parameters": [{"name": "good_rows", "in": "query", "schema": BOOLEAN_QUERY}],
            "requestBody": {
                "required": True,
                "content": {"text/csv": {"schema": {"type": "string"}}},
            },
            "responses": {
                "201": _json("Imported", _ref("ImportReport")),
                "200": _json("Nothing to import (no data rows)", _ref("ImportReport")),
                "422": _json(
                    "Refused: nothing imported; every problem listed", _ref("ImportReport")
                ),
                **_errors(400, 401, 403, 413, 415),
            },
        }
    },
    "/api/participants/{id}": {
        "patch": _op(
            "Change some fields; all are checked before any is written",
            {"200": _json("The participant", _ref("ParticipantDetail"))},
            errors=(400, 401, 403, 404, 409),
            body=PATCH_BODY,
        )
    },
    "/api/participants/{id}/profile": {
        "get": _op(
            "The participant with tier, interpreter, community area and carer (audited view)",
            {"200": _json("The participant", _ref("ParticipantDetail"))},
        )
    },
    "/api/participants/{id}/coach": {
        "put": _op(
            "Assign or reassign the coach (null: none)",
            {"200": _json("The participant", _ref("ParticipantDetail"))},
            body={
                "type": "object",
                "required": ["coach"],
                "additionalProperties": False,
                "properties": {"coach": COACH_REF},
            },
        )
    },
    "/api/coaches/{id}/participants": {
        "get": _op(
            "A coach's caseload, with open escalations per participant",
            {"200": _json("Participants", {"type": "array", "items": _ref("ParticipantDetail")})},
            parameters=[ID_PARAM, *PAGE],
        )
    },
    "/api/participants/{id}/tier": {
        "get": _op("Current tier and history", {"200": _json("Tier", _ref("Tier"))}),
        "post": _op(
            "Record a tier decision (Tier 3 needs a note and the coach who decided)",
            {"201": _json("Tier", _ref("Tier"))},
            errors=(400, 401, 403, 404, 409),
            body={
                "type": "object",
                "required": ["tier"],
                "additionalProperties": False,
                "properties": {
                    "tier": {"type": "integer", "enum": [1, 2, 3]},
                    "note": {"type": "string", "maxLength": 4000},
                    "decided_by": USER_REF,
                },
            },
        ),
    },
    "/api/participants/{id}/beliefs": {
        "get": _op(
            "Faith or beliefs flag and note: for the care team; every read is audited",
            {"200": _json("Beliefs", _ref("Beliefs"))},
        ),
        "put": _op(
            "Set or clear the flag (a note is required when set)",
            {"200": _json("Beliefs", _ref("Beliefs"))},
            body={
                "type": "object",
                "required": ["flag", "by"],
                "additionalProperties": False,
                "properties": {
                    "flag": {"type": "boolean"},
                    "note": {"type": "string", "maxLength": 4000},
                    "by": USER_REF,
                },
            },
        ),
    },
    "/api/participants/{id}/carer": {
        "get": _op("The carer contact (audited view)", {"200": _json("Carer", _ref("Carer"))}),
        "put": _op(
            "Add or replace the carer contact (module reminders only)",
            {"200": _json("Carer", _ref("Carer"))},
            body={
                "type": "object",
                "required": ["phone", "consent", "participant_asked"],
                "additionalProperties": False,
                "properties": {
                    "name": {"type": "string", "maxLength": 200},
                    "relationship": {"type": "string", "maxLength": 64},
                    "phone": {"type": "string", "minLength": 1, "maxLength": 40},
                    "channel": {"type": "string", "enum": ["sms", "whatsapp"]},
                    "language": {
                        "oneOf": [LANGUAGE, {"type": "null"}],
                        "description": "the carer's language; not given: the participant's",
                    },
                    "consent": {"type": "boolean"},
                    "participant_asked": {
                        "const": True,
                        "description": "a carer is added only when the participant asks",
                    },
                },
            },
        ),
        "delete": _op("Remove the carer contact", {"204": {"description": "Removed"}}),
    },
    "/api/participants/{id}/carer/opt-out": {
        "post": _op(
            "The carer opts out of reminders",
            {"200": _json("Carer", _ref("Carer"))},
            errors=(400, 401, 403, 404, 409),
        )
    },
    "/api/exports/{kind}.csv": {
        "get": {
            "summary": "Monitoring data for the evaluation; pseudonymised unless pseudonymise=false",
            "description": "Never phone numbers or names; free-text answers are withheld. Audited.",
            "parameters": [
                {
                    "name": "kind",
                    "in": "path",
                    "required": True,
                    "schema": {
                        "type": "string",
                        "enum": [
                            "answers",
                            "escalations",
                            "checkins",
                            "attendance",
                            "participants",
                        ],
                    },
                },
                *PERIOD,
                {"name": "pseudonymise", "in": "query", "schema": BOOLEAN_QUERY},
            ],
            "responses": {"200": CSV_RESPONSE, **_errors(400, 401, 403, 404)},
        }
    },
    "/api/participants/{id}/subject-access": {
        "get": _op(
            "Everything held about the participant (audited)",
            {
                "200": {
                    "description": "JSON, or a readable HTML page with format=html",
                    "content": {
                        "application/json": {"schema": {"type": "object"}},
                        "text/html": {"schema": {"type": "string"}},
                    },
                }
            },
            parameters=[
                ID_PARAM,
                {
                    "name": "format",
                    "in": "query",
                    "schema": {"type": "string", "enum": ["json", "html"]},
                },
            ],
        )
    },
    "/api/participants/{id}/erasure-requests": {
        "post": _op(
            "A lead asks for erasure; an admin must confirm",
            {"201": _json("The request", _ref("ErasureRequest"))},
            errors=(400, 401, 403, 404, 409),
            body={
                "type": "object",
                "required": ["requested_by", "reason"],
                "additionalProperties": False,
                "properties": {
                    "requested_by": USER_REF,
                    "reason": {"type": "string", "minLength": 1, "maxLength": 500},
                },
            },
        )
    },
    "/api/erasure-requests": {
        "get": {
            "summary": "Erasure requests, oldest first",
            "parameters": [
                {
                    "name": "status",
                    "in": "query",
                    "schema": {
                        "type": "string",
                        "enum": ["requested", "confirmed", "rejected", "cancelled"],
                    },
                },
                *PAGE,
            ],
            "responses": {
                "200": _json("Requests", {"type": "array", "items": _ref("ErasureRequest")}),
                **_errors(400, 401, 403),
            },
        }
    },
    "/api/erasure-requests/{id}/confirm": {
        "post": _op(
            "An admin (not the requester) confirms: personal data is erased at once",
            {"200": _json("The request", _ref("ErasureRequest"))},
            errors=(400, 401, 403, 404, 409),
            body={
                "type": "object",
                "required": ["confirmed_by"],
                "additionalProperties": False,
                "properties": {"confirmed_by": USER_REF},
            },
        )
    },
    "/api/erasure-requests/{id}/reject": {
        "post": _op(
            "An admin rejects the request",
            {"200": _json("The request", _ref("ErasureRequest"))},
            errors=(400, 401, 403, 404, 409),
            body={
                "type": "object",
                "required": ["rejected_by"],
                "additionalProperties": False,
                "properties": {"rejected_by": USER_REF},
            },
        )
    },
    "/api/reports/mdt": {
        "get": _op(
            "The MDT report for a period (default 14 days) and coach (default all); audited",
            {"200": _json("The report", _ref("MdtReport"))},
            errors=(400, 401, 403),
            parameters=[
                *PERIOD,
                {"name": "coach", "in": "query", "schema": USER_REF},
                {"name": "pseudonymise", "in": "query", "schema": BOOLEAN_QUERY},
            ],
        )
    },
    "/api/reports/mdt.csv": {
        "get": _op(
            "The MDT report as CSV, one row per participant",
            {"200": CSV_RESPONSE},
            errors=(400, 401, 403),
            parameters=[
                *PERIOD,
                {"name": "coach", "in": "query", "schema": USER_REF},
                {"name": "pseudonymise", "in": "query", "schema": BOOLEAN_QUERY},
            ],
        )
    },
    "/api/reports/mdt.pdf": {
        "get": _op(
            "The MDT report as an A4 PDF (the printable page, made by Chromium on the server)",
            {
                "200": {
                    "description": "PDF",
                    "content": {"application/pdf": {"schema": {"type": "string"}}},
                }
            },
            errors=(400, 401, 403, 503),
            parameters=[
                *PERIOD,
                {"name": "coach", "in": "query", "schema": USER_REF},
                {"name": "pseudonymise", "in": "query", "schema": BOOLEAN_QUERY},
            ],
        )
    },
    "/api/reports/service": {
        "get": _op(
            "Check-ins per week, response rates by community, time to acknowledge, attendance",
            {"200": _json("The numbers", _ref("ServiceReport"))},
            errors=(400, 401, 403),
            parameters=PERIOD,
        )
    },
}
