"""A fake Twilio REST API: ``POST /2010-04-01/Accounts/{sid}/Messages.json``.

Records every request (form fields, Basic auth, arrival time) and answers like
Twilio: 201 with a Message resource, or the error the test scripted:
``429``, ``500``, ``timeout`` (answers after ``slow_seconds``), ``drop`` (closes
the connection without an answer), or a Twilio error code such as ``21610``,
``63016``, ``30007``, ``21211`` (400 with Twilio's JSON error body).

``GET /2010-04-01/Accounts/{sid}/Messages.json`` lists the messages it created (newest
first), filtered by ``To``, ``From``, ``DateSent``, ``DateSent<`` and ``DateSent>`` and cut
to ``PageSize``, as Twilio's Message list does; ``list_answer`` scripts a failure
(``500``, ``drop``) and ``lookups`` records each query. ``now`` gives the messages' dates
(tests point it at their fixed clock).
"""

from __future__ import annotations

import asyncio
import base64
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import format_datetime
from typing import Any

from aiohttp import web

from tests.fakes.server import FakeServer

ACCOUNT_SID = "AC" + "1" * 32
AUTH_TOKEN = "twilio-test-auth-token"
MESSAGES = {
    "21610": "Attempt to send to unsubscribed recipient",
    "63016": "Failed to send freeform message because you are outside the allowed window.",
    "30007": "Message filtered",
    "21211": "Invalid 'To' Phone Number",
    "21617": "The concatenated message body exceeds the 1600 character limit",
}


@dataclass
class TwilioRequest:
    form: dict[str, str]
    auth: tuple[str, str] | None
    at: float  # time.monotonic() on arrival
    answered: str = "201"
    sid: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    created: datetime | None = None  # the message's date_created, when one was created


class FakeTwilio(FakeServer):
    def __init__(self, account_sid: str = ACCOUNT_SID, auth_token: str = AUTH_TOKEN) -> None:
        super().__init__()
        self.account_sid = account_sid
        self.auth_token = auth_token
        self.requests: list[TwilioRequest] = []
        self.by_recipient: dict[str, str] = {}  # To -> answer, every time
        self.slow_seconds = 1.0
        self.retry_after = "2"  # the Retry-After header on 429
        self.next_sids: list[str] = []  # message ids to hand out first, for tests that need them
        self.now: Callable[[], datetime] = lambda: datetime.now(UTC)
        self.list_answer: str | None = None  # "500" or "drop": how the list endpoint fails
        self.lookups: list[dict[str, str]] = []  # the query of each list request
        self.app.router.add_post("/2010-04-01/Accounts/{sid}/Messages.json", self._messages)
        self.app.router.add_get("/2010-04-01/Accounts/{sid}/Messages.json", self._list)

    @property
    def bodies(self) -> list[str]:
        return [r.form.get("Body", "") for r in self.requests]

    def _auth(self, request: web.Request) -> tuple[str, str] | None:
        header = request.headers.get("Authorization", "")
        if not header.startswith("Basic "):
            return None
        user, _, password = base64.b64decode(header[6:]).decode().partition(":")
        return user, password

    def _refused(self, request: web.Request, auth: tuple[str, str] | None) -> web.Response | None:
        """Twilio's 401 unless the request is for this account with its credentials."""
        if auth == (self.account_sid, self.auth_token) and (
            request.match_info["sid"] == self.account_sid
        ):
            return None
        return web.json_response(
            {"code": 20003, "message": "Authenticate", "status": 401}, status=401
        )

    async def _messages(self, request: web.Request) -> web.StreamResponse:
        form = {k: str(v) for k, v in (await request.post()).items()}
        auth = self._auth(request)
        record = TwilioRequest(form=form, auth=auth, at=time.monotonic())
        self.requests.append(record)
        refused = self._refused(request, auth)
        if refused is not None:
            record.answered = "401"
            return refused
        answer = self.next_answer() or self.by_recipient.get(form.get("To", "")) or "201"
        record.answered = answer
        if answer == "429":
            return web.json_response(
                {"code": 20429, "message": "Too Many Requests", "status": 429},
                status=429,
                headers={"Retry-After": self.retry_after},
            )
        if answer == "500":
            return web.json_response(
                {"code": 20500, "message": "Internal", "status": 500}, status=500
            )
        if answer == "drop":
            assert request.transport is not None
            request.transport.close()
            return web.Response()
        if answer.isdigit() and len(answer) == 5:
            return web.json_response(
                {
                    "code": int(answer),
                    "message": MESSAGES.get(answer, "Error"),
                    "more_info": f"https://www.twilio.com/docs/errors/{answer}",
                    "status": 400,
                },
                status=400,
            )
        record.sid = self.next_sids.pop(0) if self.next_sids else "SM" + uuid.uuid4().hex
        record.created = self.now()
        if answer == "timeout":  # Twilio has the message; its answer is late
            await asyncio.sleep(self.slow_seconds)
        return web.json_response(
            {
                "sid": record.sid,
                "account_sid": self.account_sid,
                "to": form.get("To"),
                "from": form.get("From"),
                "messaging_service_sid": form.get("MessagingServiceSid"),
                "body": form.get("Body", ""),
                "status": "accepted" if "MessagingServiceSid" in form else "queued",
                "num_segments": "0" if "MessagingServiceSid" in form else "1",
                "error_code": None,
                "error_message": None,
            },
            status=201,
        )

    def resource(self, record: TwilioRequest) -> dict[str, Any]:
        """A created message as the list endpoint shows it."""
        form = record.form
        created = record.created or self.now()
        return {
            "sid": record.sid,
            "account_sid": self.account_sid,
            "to": form.get("To"),
            "from": form.get("From"),
            "messaging_service_sid": form.get("MessagingServiceSid"),
            "body": form.get("Body", ""),
            "direction": "outbound-api",
            "status": "sent",
            "date_created": format_datetime(created, usegmt=True),
            "date_sent": format_datetime(created, usegmt=True),
            "error_code": None,
        }

    def list_failure(self) -> str | None:
        """How the list endpoint fails right now (None: it answers)."""
        return self.list_answer

    async def _list(self, request: web.Request) -> web.StreamResponse:
        query = dict(request.query)
        self.lookups.append(query)
        refused = self._refused(request, self._auth(request))
        if refused is not None:
            return refused
        failure = self.list_failure()
        if failure == "drop":
            assert request.transport is not None
            request.transport.close()
            return web.Response()
        if failure is not None:
            return web.json_response(
                {"code": 20500, "message": "Internal", "status": 500}, status=500
            )
        day = {  # DateSent filters compare dates (YYYY-MM-DD), as Twilio's do
            "DateSent": lambda d, v: d == v,
            "DateSent<": lambda d, v: d <= v,
            "DateSent>": lambda d, v: d >= v,
        }
        found = []
        for record in reversed(self.requests):
            if record.sid is None:
                continue
            if "To" in query and record.form.get("To") != query["To"]:
                continue
            if "From" in query and record.form.get("From") != query["From"]:
                continue
            sent_on = (record.created or self.now()).date().isoformat()
            if any(
                name in query and not test(sent_on, query[name][:10]) for name, test in day.items()
            ):
                continue
            found.append(self.resource(record))
        size = max(1, min(1000, int(query.get("PageSize", "50"))))
        page, more = found[:size], len(found) > size
        base = f"/2010-04-01/Accounts/{self.account_sid}/Messages.json"
        return web.json_response(
            {
                "messages": page,
                "page": 0,
                "page_size": size,
                "uri": base,
                "first_page_uri": base,
                "previous_page_uri": None,
                "next_page_uri": f"{base}?Page=1&PageSize={size}" if more else None,
            }
        )
