"""The OpenAPI document for /api/, kept next to the handlers it describes."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from bot.api import schedules, staff_openapi

routes = web.RouteTableDef()

_ERROR = {"$ref": "#/components/schemas/Error"}


def _resp(description: str, schema: dict[str, Any] | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {"description": description}
    if schema is not None:
        body["content"] = {"application/json": {"schema": schema}}
    return body


def _errors(*codes: int) -> dict[str, Any]:
    return {str(c): _resp("Error", _ERROR) for c in codes}


PARTICIPANT = {
    "type": "object",
    "required": ["id", "channel", "language", "status", "consent", "created_at"],
    "properties": {
        "id": {"type": "integer"},
        "phone": {"type": ["string", "null"]},
        "channel": {"type": "string", "enum": ["sms", "whatsapp", "telegram", "simulator"]},
        "language": {"type": "string"},
        "timezone": {"type": "string"},
        "name": {"type": ["string", "null"]},
        "coach_id": {"type": ["integer", "null"]},
        "status": {"type": "string"},
        "consent": {"type": "boolean"},
        "created_at": {"type": "string", "format": "date-time"},
    },
}
ID_PARAM = {
    "name": "id",
    "in": "path",
    "required": True,
    "schema": {"type": "integer", "minimum": 1},
}
PAGE_PARAMS = [
    {"name": "limit", "in": "query", "schema": {"type": "integer", "minimum": 1, "maximum": 1000}},
    {
        "name": "offset",
        "in": "query",
        "schema": {"type": "integer", "minimum": 0, "maximum": 1_000_000_000},
    },
]


def _escalation_action(summary: str, properties: dict[str, Any], required: list[str]) -> Any:
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
                            "properties": {
                                "user": {
                                    "type": ["integer", "string"],
                                    "description": "id or email of the coach or lead acting",
                                },
                                **properties,
                            },
                        }
                    }
                },
            },
            "responses": {
                "200": _resp("The escalation after the change", {"type": "object"}),
                "201": _resp("Note added; the escalation", {"type": "object"}),
                **_errors(400, 401, 403, 404, 409),
            },
        }
    }


ESCALATION_ACTIONS: dict[str, Any] = {
    "/api/escalations/{id}/claim": _escalation_action("Claim (acknowledge) an item", {}, []),
    "/api/escalations/{id}/note": _escalation_action(
        "Add a note to an item", {"text": {"type": "string", "maxLength": 4000}}, ["text"]
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
            "Error": {
                "type": "object",
                "required": ["error"],
                "properties": {
                    "error": {
                        "type": "object",
                        "required": ["code", "message"],
                        "properties": {"code": {"type": "string"}, "message": {"type": "string"}},
                    }
                },
            },
            "Participant": PARTICIPANT,
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
                                "properties": {
                                    "phone": {"type": "string"},
                                    "channel": {
                                        "type": "string",
                                        "enum": ["sms", "whatsapp", "telegram"],
                                    },
                                    "language": {"type": "string"},
                                    "consent": {"type": "boolean"},
                                    "name": {"type": "string"},
                                    "timezone": {"type": "string"},
                                    "coach": {"type": ["integer", "string"]},
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
                                "properties": {"flow": {"type": "string"}},
                            }
                        }
                    },
                },
                "responses": {
                    "202": _resp("Started", {"type": "object"}),
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
                    {"name": "participant", "in": "query", "schema": {"type": "integer"}},
                    *PAGE_PARAMS,
                ],
                "responses": {
                    "200": _resp(
                        "Escalations, most urgent and oldest first",
                        {
                            "type": "array",
                            "items": {
                                "type": "object",
                                "required": [
                                    "id",
                                    "participant_id",
                                    "priority",
                                    "reason",
                                    "status",
                                    "created_at",
                                ],
                                "properties": {
                                    "id": {"type": "integer"},
                                    "participant_id": {"type": ["integer", "null"]},
                                    "priority": {
                                        "type": "string",
                                        "enum": ["urgent", "high", "routine"],
                                    },
                                    "reason": {"type": "string"},
                                    "status": {"type": "string"},
                                    "created_at": {"type": "string", "format": "date-time"},
                                },
                            },
                        },
                    ),
                    **_errors(400, 401, 403),
                },
            }
        },
        **ESCALATION_ACTIONS,
        "/api/flows": {
            "get": {
                "responses": {"200": _resp("Loaded flows", {"type": "object"}), **_errors(401, 403)}
            }
        },
        "/api/flows/validate": {
            "post": {
                "requestBody": {"content": {"application/yaml": {"schema": {"type": "string"}}}},
                "responses": {
                    "200": _resp("Validation result", {"type": "object"}),
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


@routes.get("/api/openapi.json")
async def openapi(request: web.Request) -> web.Response:
    return web.json_response(DOCUMENT)
