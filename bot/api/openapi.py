"""The OpenAPI document for /api/, kept next to the handlers it describes."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from bot.api import schedules, staff_openapi
from bot.i18n.languages import LANGUAGES

routes = web.RouteTableDef()

_ERROR = {"$ref": "#/components/schemas/Error"}
LANGUAGE = {"type": "string", "enum": list(LANGUAGES)}
LANGUAGE_IN = {  # the server also takes a few spellings (pa-Arab, UR) and normalises them
    **LANGUAGE,
    "description": "a language code; pa_Arab and pa_Guru, never plain pa",
}
ERROR_SCHEMA = {
    "type": "object",
    "required": ["error"],
    "additionalProperties": False,
    "properties": {
        "error": {
            "type": "object",
            "required": ["code", "message"],
            "additionalProperties": False,
            "properties": {
                "code": {"type": "string", "pattern": "^[a-z][a-z0-9_]*$"},
                "message": {"type": "string"},
            },
        }
    },
}


def _resp(description: str, schema: dict[str, Any] | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {"description": description}
    if schema is not None:
        body["content"] = {"application/json": {"schema": schema}}
    return body


def _errors(*codes: int) -> dict[str, Any]:
    return {str(c): _resp("Error", _ERROR) for c in codes}


PARTICIPANT = {
    "type": "object",
    "required": [
        "id",
        "phone",
        "channel",
        "language",
        "timezone",
        "name",
        "coach_id",
        "status",
        "consent",
        "created_at",
    ],
    "properties": {
        "id": {"type": "integer", "minimum": 1},
        "phone": {"type": ["string", "null"], "pattern": "^\\+[1-9][0-9]{6,14}$"},
        "channel": {"type": "string", "enum": ["sms", "whatsapp", "telegram", "simulator"]},
        "language": LANGUAGE,
        "timezone": {"type": "string"},
        "name": {"type": ["string", "null"]},
        "coach_id": {"type": ["integer", "null"]},
        "status": {"type": "string", "enum": ["active", "paused", "opted_out", "erased"]},
        "consent": {"type": "boolean"},
        "created_at": {"type": "string", "format": "date-time"},
    },
}
ESCALATION = {
    "type": "object",
    "required": [
        "id",
        "participant_id",
        "priority",
        "reason",
        "status",
        "created_at",
        "occurrences",
        "assignee_id",
        "deadline_at",
    ],
    "properties": {
        "id": {"type": "integer"},
        "participant_id": {"type": ["integer", "null"]},
        "priority": {"type": "string", "enum": ["urgent", "high", "routine"]},
        "reason": {"type": "string"},
        "status": {"type": "string", "enum": ["open", "claimed", "resolved"]},
        "created_at": {"type": "string", "format": "date-time"},
        "occurrences": {"type": "integer", "minimum": 1},
        "assignee_id": {"type": ["integer", "null"]},
        "deadline_at": {"type": ["string", "null"], "format": "date-time"},
    },
}
_ESCALATION_REF = {"$ref": "#/components/schemas/Escalation"}
ID_PARAM = {
    "name": "id",
    "in": "path",
    "required": True,
    "schema": {"type": "integer", "minimum": 1, "maximum": 999_999_999_999_999_999},
}
PAGE_PARAMS = [
    {"name": "limit", "in": "query", "schema": {"type": "integer", "minimum": 1, "maximum": 1000}},
    {
        "name": "offset",
        "in": "query",
        "schema": {"type": "integer", "minimum": 0, "maximum": 1_000_000_000},
    },
]


def _escalation_action(
    summary: str, properties: dict[str, Any], required: list[str], ok: str = "200"
) -> Any:
    return {
        "post": {
            "summary": summary,
            "parameters": [ID_PARAM],
            "requestBody": {
                "required": True,
                "content": {
                    "application/json": {
                        "schema": {
                            "type": "object",
                            "required": ["user", *required],
                            "additionalProperties": False,
                            "properties": {
                                "user": {
                                    **staff_openapi.USER_REF,
                                    "description": "id or email of the coach or lead acting",
                                },
                                **properties,
                            },
                        }
                    }
                },
            },
            "responses": {
                ok: _resp("The escalation after the change", _ESCALATION_REF),
                **_errors(400, 401, 403, 404, 409),
            },
        }
    }


ESCALATION_ACTIONS: dict[str, Any] = {
    "/api/escalations/{id}/claim": _escalation_action("Claim (acknowledge) an item", {}, []),
    "/api/escalations/{id}/note": _escalation_action(
        "Add a note to an item",
        {"text": {"type": "string", "minLength": 1, "maxLength": 4000}},
        ["text"],
        ok="201",
    ),
    "/api/escalations/{id}/resolve": _escalation_action(
        "Resolve an item with an outcome and a note",
        {
            "outcome": {
                "type": "string",
                "enum": [
                    "contacted",
                    "signposted",
                    "referred_gp",
                    "referred_urgent",
                    "no_action",
                    "could_not_contact",
                    "duplicate",
                ],
            },
            "note": {"type": "string", "maxLength": 4000},
        },
        ["outcome", "note"],
    ),
}

DOCUMENT: dict[str, Any] = {
    "openapi": "3.1.0",
    "info": {"title": "Rethink Check-ins API", "version": "1"},
    "components": {
        "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        "schemas": {
            "Error": ERROR_SCHEMA,
            "Participant": PARTICIPANT,
            "Escalation": ESCALATION,
        },
    },
    "security": [{"bearer": []}],
    "paths": {
        "/api/participants": {
            "post": {
                "summary": "Enrol a participant (starts nothing by itself)",
                "requestBody": {
                    "required": True,
                    "content": {
                        "application/json": {
                            "schema": {
                                "type": "object",
                                "required": ["channel", "language", "consent"],
                                "additionalProperties": False,
                                "properties": {
                                    "phone": {
                                        "type": "string",
                                        "minLength": 1,
                                        "maxLength": 40,
                                        "description": "required for sms and whatsapp",
                                    },
                                    "channel": {
                                        "type": "string",
                                        "enum": ["sms", "whatsapp", "telegram"],
                                    },
                                    "language": LANGUAGE_IN,
                                    "consent": {"type": "boolean"},
                                    "name": {"type": ["string", "null"], "maxLength": 200},
                                    "timezone": {"type": "string", "minLength": 1, "maxLength": 64},
                                    "coach": staff_openapi.COACH_REF,
                                    "fields": {
                                        "type": "object",
                                        "description": "values flows may use",
                                    },
                                },
                            }
                        }
                    },
                },
                "responses": {
                    "201": _resp("Created", {"$ref": "#/components/schemas/Participant"}),
                    **_errors(400, 401, 403, 409),
                },
            },
            "get": {
                "summary": "List participants",
                "parameters": PAGE_PARAMS,
                "responses": {
                    "200": _resp(
                        "OK",
                        {"type": "array", "items": {"$ref": "#/components/schemas/Participant"}},
                    ),
                    **_errors(400, 401, 403),
                },
            },
        },
        "/api/participants/{id}": {
            "get": {
                "parameters": [ID_PARAM],
                "responses": {
                    "200": _resp("OK", {"$ref": "#/components/schemas/Participant"}),
                    **_errors(400, 401, 403, 404),
                },
            }
        },
        "/api/participants/{id}/flows": {
            "post": {
                "summary": "Start a flow now (replaces a running flow; not held for quiet hours)",
                "parameters": [ID_PARAM],
                "requestBody": {
                    "required": True,
                    "content": {
                        "application/json": {
                            "schema": {
                                "type": "object",
                                "required": ["flow"],
                                "additionalProperties": False,
                                "properties": {"flow": {"type": "string"}},
                            }
                        }
                    },
                },
                "responses": {
                    "202": _resp(
                        "Started",
                        {
                            "type": "object",
                            "required": ["session_id", "flow", "participant_id"],
                            "additionalProperties": False,
                            "properties": {
                                "session_id": {"type": "integer"},
                                "flow": {"type": "string"},
                                "participant_id": {"type": "integer"},
                            },
                        },
                    ),
                    **_errors(400, 401, 403, 404, 409),
                },
            }
        },
        "/api/participants/{id}/answers": {
            "get": {
                "parameters": [ID_PARAM],
                "responses": {
                    "200": _resp(
                        "Answers, oldest first",
                        {
                            "type": "array",
                            "items": {
                                "type": "object",
                                "required": ["flow", "key", "value", "at"],
                                "additionalProperties": False,
                                "properties": {
                                    "flow": {"type": "string"},
                                    "key": {"type": "string"},
                                    "value": {},
                                    "at": {"type": "string", "format": "date-time"},
                                },
                            },
                        },
                    ),
                    **_errors(400, 401, 403, 404),
                },
            }
        },
        "/api/participants/{id}/telegram-link": {
            "post": {
                "summary": "A personal, single-use Telegram deep link for this participant",
                "parameters": [ID_PARAM],
                "responses": {
                    "201": _resp(
                        "Created",
                        {
                            "type": "object",
                            "required": ["url", "expires_at"],
                            "additionalProperties": False,
                            "properties": {
                                "url": {"type": "string", "format": "uri"},
                                "expires_at": {"type": "string", "format": "date-time"},
                            },
                        },
                    ),
                    **_errors(400, 401, 403, 404, 409, 503),
                },
            }
        },
        "/api/escalations": {
            "get": {
                "parameters": [
                    {
                        "name": "status",
                        "in": "query",
                        "schema": {"type": "string", "enum": ["open", "claimed", "resolved"]},
                    },
                    {
                        "name": "priority",
                        "in": "query",
                        "schema": {"type": "string", "enum": ["urgent", "high", "routine"]},
                    },
                    {
                        "name": "participant",
                        "in": "query",
                        "schema": {"type": "integer", "minimum": 0},
                    },
                    *PAGE_PARAMS,
                ],
                "responses": {
                    "200": _resp(
                        "Escalations, most urgent and oldest first",
                        {"type": "array", "items": _ESCALATION_REF},
                    ),
                    **_errors(400, 401, 403),
                },
            }
        },
        **ESCALATION_ACTIONS,
        "/api/flows": {
            "get": {
                "responses": {
                    "200": _resp(
                        "Loaded flows, and the files that did not load",
                        {
                            "type": "object",
                            "required": ["flows", "errors"],
                            "additionalProperties": False,
                            "properties": {
                                "flows": {
                                    "type": "array",
                                    "items": {
                                        "type": "object",
                                        "required": ["id", "version", "title", "steps"],
                                        "additionalProperties": False,
                                        "properties": {
                                            "id": {"type": "string"},
                                            "version": {"type": "integer"},
                                            "title": {"type": ["string", "null"]},
                                            "steps": {"type": "integer", "minimum": 0},
                                        },
                                    },
                                },
                                "errors": {
                                    "type": "array",
                                    "items": {
                                        "type": "object",
                                        "required": ["file", "line", "message"],
                                        "additionalProperties": False,
                                        "properties": {
                                            "file": {"type": "string"},
                                            "line": {"type": ["integer", "null"]},
                                            "message": {"type": "string"},
                                        },
                                    },
                                },
                            },
                        },
                    ),
                    **_errors(401, 403),
                }
            }
        },
        "/api/flows/validate": {
            "post": {
                "requestBody": {"content": {"application/yaml": {"schema": {"type": "string"}}}},
                "responses": {
                    "200": _resp(
                        "Whether the file loads: its id and version, or the line and reason",
                        {
                            "oneOf": [
                                {
                                    "type": "object",
                                    "required": ["valid", "id", "version"],
                                    "additionalProperties": False,
                                    "properties": {
                                        "valid": {"const": True},
                                        "id": {"type": "string"},
                                        "version": {"type": "integer"},
                                    },
                                },
                                {
                                    "type": "object",
                                    "required": ["valid", "line", "message"],
                                    "additionalProperties": False,
                                    "properties": {
                                        "valid": {"const": False},
                                        "line": {"type": ["integer", "null"]},
                                        "message": {"type": "string"},
                                    },
                                },
                            ]
                        },
                    ),
                    **_errors(401, 403),
                },
            }
        },
    },
}


DOCUMENT["paths"].update(schedules.OPENAPI_PATHS)
for _path, _operations in staff_openapi.OPENAPI_PATHS.items():  # merged: some paths are shared
    DOCUMENT["paths"].setdefault(_path, {}).update(_operations)
DOCUMENT["components"]["schemas"].update(staff_openapi.OPENAPI_SCHEMAS)

STANDARD_ERRORS = {
    400: "Refused: a parameter or the body is not valid (the code says which rule)",
    401: "No bearer token, or the wrong one",
    403: "The API is disabled (no API_TOKEN is set) or the acting user may not do this",
    404: "No such record (or a path segment that is not an id)",
    413: "The body is larger than the server accepts",
    503: "The database is not answering; try again",
}
NO_DATABASE = {"/api/flows", "/api/flows/validate"}


def complete(paths: dict[str, Any]) -> None:
    """Add the refusals every operation can give, so that none is left undocumented: any
    request can meet 401, 403 and (when the database is down) 503; a path with an id 404
    and 400 (an id too long); parameters or a body 400; a JSON body 413."""
    for path, operations in paths.items():
        for operation in operations.values():
            codes = {401, 403}
            if path not in NO_DATABASE:
                codes.add(503)
            if "{" in path:
                codes |= {400, 404}
            if operation.get("parameters") or "requestBody" in operation:
                codes.add(400)
            if "application/json" in operation.get("requestBody", {}).get("content", {}):
                codes.add(413)
            responses = operation["responses"]
            for code in sorted(codes):
                responses.setdefault(str(code), _resp(STANDARD_ERRORS[code], _ERROR))


complete(DOCUMENT["paths"])


@routes.get("/api/openapi.json")
async def openapi(request: web.Request) -> web.Response:
    return web.json_response(DOCUMENT)
