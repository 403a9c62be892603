"""A fake Telegram Bot API (``/bot<token>/<method>``) and Update JSON as Telegram sends it.

Implements ``getMe``, ``sendMessage`` and ``answerCallbackQuery``; records every
call with its decoded parameters (PTB posts form fields whose values are JSON)
and can answer ``forbidden`` (403, blocked), ``retry_after`` (429 with
``parameters.retry_after``), ``bad_request`` (400 chat not found), ``500`` or
``timeout`` (answers after ``slow_seconds``).
"""

from __future__ import annotations

import asyncio
import itertools
import json
import time
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from tests.fakes.server import FakeServer

BOT_TOKEN = "123456789:TEST-token_for-the-fake-bot-api-abcdef"
BOT_ID = 123456789
BOT_USERNAME = "rethink_checkins_test_bot"
DATE = 1772445600  # 2026-03-02 10:00 UTC


@dataclass
class TelegramCall:
    method: str
    params: dict[str, Any]
    at: float
    answered: str = "ok"


def _decode(value: str) -> Any:
    try:
        return json.loads(value)
    except ValueError:
        return value


class FakeTelegram(FakeServer):
    def __init__(self, token: str = BOT_TOKEN, username: str = BOT_USERNAME) -> None:
        super().__init__()
        self.token = token
        self.username = username
        self.calls: list[TelegramCall] = []
        self.retry_after = 3
        self.slow_seconds = 1.0
        self._message_ids = itertools.count(1000)
        self.app.router.add_post("/bot{token}/{method}", self._method)

    @property
    def api_base(self) -> str:
        return self.url + "/bot"

    def sent(self, chat_id: int | str | None = None) -> list[TelegramCall]:
        return [
            c
            for c in self.calls
            if c.method == "sendMessage"
            and c.answered == "ok"
            and (chat_id is None or str(c.params.get("chat_id")) == str(chat_id))
        ]

    def texts(self, chat_id: int | str | None = None) -> list[str]:
        return [str(c.params.get("text")) for c in self.sent(chat_id)]

    def _error(self, status: int, description: str, **extra: Any) -> web.Response:
        body: dict[str, Any] = {"ok": False, "error_code": status, "description": description}
        body.update(extra)
        return web.json_response(body, status=status)

    async def _method(self, request: web.Request) -> web.StreamResponse:
        if request.match_info["token"] != self.token:
            return self._error(401, "Unauthorized")
        method = request.match_info["method"]
        if request.content_type == "application/json":
            params = await request.json()
        else:
            params = {k: _decode(str(v)) for k, v in (await request.post()).items()}
        call = TelegramCall(method, params, time.monotonic())
        self.calls.append(call)
        if method == "getMe":
            return web.json_response(
                {
                    "ok": True,
                    "result": {
                        "id": BOT_ID, "is_bot": True, "first_name": "Check-ins",
                        "username": self.username, "can_join_groups": False,
                        "can_read_all_group_messages": False, "supports_inline_queries": False,
                    },
                }
            )  # fmt: skip
        if method == "answerCallbackQuery":
            return web.json_response({"ok": True, "result": True})
        if method != "sendMessage":
            return self._error(404, "Not Found: method not found")
        answer = self.next_answer() or "ok"
        call.answered = answer
        if answer == "forbidden":
            return self._error(403, "Forbidden: bot was blocked by the user")
        if answer == "retry_after":
            return self._error(
                429,
                f"Too Many Requests: retry after {self.retry_after}",
                parameters={"retry_after": self.retry_after},
            )
        if answer == "bad_request":
            return self._error(400, "Bad Request: chat not found")
        if answer == "500":
            return self._error(500, "Internal Server Error")
        if answer == "timeout":
            await asyncio.sleep(self.slow_seconds)
        chat_id = params.get("chat_id")
        result = {
            "message_id": next(self._message_ids),
            "date": DATE,
            "chat": {"id": chat_id, "type": "private", "first_name": "Test"},
            "from": {
                "id": BOT_ID,
                "is_bot": True,
                "first_name": "Check-ins",
                "username": self.username,
            },
            "text": params.get("text"),
        }
        if "reply_markup" in params:
            result["reply_markup"] = params["reply_markup"]
        return web.json_response({"ok": True, "result": result})


# Updates exactly as Telegram posts them to a webhook.


def _user(chat_id: int, language_code: str | None) -> dict[str, Any]:
    user: dict[str, Any] = {"id": chat_id, "is_bot": False, "first_name": "Sam"}
    if language_code:
        user["language_code"] = language_code
    return user


def _chat(chat_id: int) -> dict[str, Any]:
    return {"id": chat_id, "first_name": "Sam", "type": "private"}


def text_update(
    update_id: int, chat_id: int, text: str, *, language_code: str | None = "en"
) -> dict[str, Any]:
    message: dict[str, Any] = {
        "message_id": update_id % 100000,
        "from": _user(chat_id, language_code),
        "chat": _chat(chat_id),
        "date": DATE,
        "text": text,
    }
    if text.startswith("/"):
        command = text.split(" ", 1)[0]
        message["entities"] = [{"offset": 0, "length": len(command), "type": "bot_command"}]
    return {"update_id": update_id, "message": message}


def voice_update(update_id: int, chat_id: int) -> dict[str, Any]:
    return {
        "update_id": update_id,
        "message": {
            "message_id": update_id % 100000,
            "from": _user(chat_id, "en"),
            "chat": _chat(chat_id),
            "date": DATE,
            "voice": {
                "file_id": "AwACAgQAAxkBAAIBQ2Zvoice",
                "file_unique_id": "AgADvoice",
                "duration": 4,
                "mime_type": "audio/ogg",
                "file_size": 9000,
            },
        },
    }


def callback_update(
    update_id: int,
    chat_id: int,
    data: str,
    *,
    buttons: list[tuple[str, str]] | None = None,
    message_text: str = "How are you today?",
) -> dict[str, Any]:
    keyboard = [[{"text": label, "callback_data": value}] for label, value in (buttons or [])]
    return {
        "update_id": update_id,
        "callback_query": {
            "id": f"4382bfdwdsb323b2d9{update_id}",
            "from": _user(chat_id, "en"),
            "message": {
                "message_id": 77,
                "from": {
                    "id": BOT_ID,
                    "is_bot": True,
                    "first_name": "Check-ins",
                    "username": BOT_USERNAME,
                },
                "chat": _chat(chat_id),
                "date": DATE,
                "text": message_text,
                "reply_markup": {"inline_keyboard": keyboard},
            },
            "chat_instance": "-123456789012345678",
            "data": data,
        },
    }


def member_update(update_id: int, chat_id: int, status: str) -> dict[str, Any]:
    """``my_chat_member``: ``kicked`` when the user blocks the bot, ``member`` when unblocked."""
    old = "member" if status == "kicked" else "kicked"
    bot_user = {"id": BOT_ID, "is_bot": True, "first_name": "Check-ins", "username": BOT_USERNAME}
    return {
        "update_id": update_id,
        "my_chat_member": {
            "chat": _chat(chat_id),
            "from": _user(chat_id, "en"),
            "date": DATE,
            "old_chat_member": {"user": bot_user, "status": old},
            "new_chat_member": {"user": bot_user, "status": status, "until_date": 0},
        },
    }
