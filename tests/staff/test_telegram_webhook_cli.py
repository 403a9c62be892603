"""``python -m bot telegram set-webhook`` against a local fake of the Bot API."""

from __future__ import annotations

import json
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from bot.cli import build_parser
from bot.cli.telegram_webhook import set_webhook
from bot.config import load_settings

TOKEN = "123456:fake-token"


class FakeBotApi:
    def __init__(self) -> None:
        self.calls: list[tuple[str, dict[str, Any]]] = []
        self.webhook = ""
        app = web.Application()
        app.router.add_post("/bot{token}/{method}", self.method)
        self.server = TestServer(app, host="127.0.0.1")

    async def method(self, request: web.Request) -> web.Response:
        if request.match_info["token"] != TOKEN:
            return web.json_response(
                {"ok": False, "error_code": 401, "description": "Unauthorized"}, status=401
            )
        raw = await request.text()
        if request.content_type == "application/json":
            params = json.loads(raw) if raw else {}
        else:
            params = {k: str(v) for k, v in (await request.post()).items()}
        if isinstance(params.get("allowed_updates"), str):
            params["allowed_updates"] = json.loads(params["allowed_updates"])
        name = request.match_info["method"]
        self.calls.append((name, params))
        if name == "setWebhook":
            self.webhook = params["url"]
            return web.json_response({"ok": True, "result": True})
        if name == "getWebhookInfo":
            info = {"url": self.webhook, "has_custom_certificate": False, "pending_update_count": 0}
            return web.json_response({"ok": True, "result": info})
        if name == "getMe":
            me = {"id": 1, "is_bot": True, "first_name": "Bot", "username": "checkins_bot"}
            return web.json_response({"ok": True, "result": me})
        return web.json_response(
            {"ok": False, "error_code": 404, "description": "Not Found"}, status=404
        )


@pytest.fixture
async def fake() -> Any:
    api = FakeBotApi()
    await api.server.start_server()
    yield api
    await api.server.close()


def settings_for(fake: FakeBotApi, token: str = TOKEN) -> Any:
    return load_settings(
        {
            "TELEGRAM_BOT_TOKEN": token,
            "TELEGRAM_WEBHOOK_SECRET": "s3cret",
            "TELEGRAM_API_BASE_URL": str(fake.server.make_url("/bot")),
            "PUBLIC_URL": "https://checkins.example.org",
        }
    )


async def test_the_webhook_is_set_with_our_secret(
    fake: FakeBotApi, capsys: pytest.CaptureFixture[str]
) -> None:
    assert await set_webhook(settings_for(fake)) == 0
    params = next(p for name, p in fake.calls if name == "setWebhook")
    assert params["url"] == "https://checkins.example.org/webhooks/telegram"
    assert params["secret_token"] == "s3cret"
    assert "callback_query" in params["allowed_updates"]
    assert (
        "webhook set to https://checkins.example.org/webhooks/telegram" in capsys.readouterr().out
    )


async def test_a_refusal_is_reported(fake: FakeBotApi, capsys: pytest.CaptureFixture[str]) -> None:
    assert await set_webhook(settings_for(fake, token="999:wrong")) == 1
    assert "refused" in capsys.readouterr().err


async def test_without_a_bot_token_it_says_what_to_set(capsys: pytest.CaptureFixture[str]) -> None:
    assert await set_webhook(load_settings({})) == 2
    assert "TELEGRAM_BOT_TOKEN" in capsys.readouterr().err


def test_the_command_is_wired() -> None:
    args = build_parser().parse_args(["telegram", "set-webhook"])
    assert (args.command, args.action) == ("telegram", "set-webhook")
