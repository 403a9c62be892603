"""Telegram through python-telegram-bot's ``Bot`` (no Application, no polling).

Updates arrive at our own webhook (``bot.web.webhooks.telegram``); this module
only sends. Choices become an inline keyboard whose ``callback_data`` is the
option value, so a press comes back as an exact answer. Telegram allows about
one message per second per chat and thirty per second overall; both are held
here, and ``RetryAfter`` pauses every send for as long as Telegram says.
"""

from __future__ import annotations

import asyncio
import logging
import warnings
from datetime import timedelta

import httpx
from telegram import (
    Bot,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    KeyboardButton,
    ReplyKeyboardMarkup,
)
from telegram.error import (
    BadRequest,
    Forbidden,
    InvalidToken,
    NetworkError,
    RetryAfter,
    TelegramError,
    TimedOut,
)
from telegram.request import HTTPXRequest

from bot.channels.base import OutboundMessage, SendResult
from bot.channels.ratelimit import RateLimiter, acquire_together
from bot.errors import ChannelError, ChannelForbidden, ChannelRateLimited, ChannelUncertain

log = logging.getLogger(__name__)
MAX_TEXT = 4096
MAX_CALLBACK_BYTES = 64
ANSWER_TIMEOUT = 3.0
# Failures that happen before the request is written: nothing reached Telegram.
NOT_SENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)
ReplyMarkup = InlineKeyboardMarkup | ReplyKeyboardMarkup


def keyboard(buttons: tuple[tuple[str, str], ...]) -> ReplyMarkup | None:
    """Inline buttons carrying the option value; a reply keyboard if a value is too long."""
    if not buttons:
        return None
    if all(0 < len(value.encode()) <= MAX_CALLBACK_BYTES for _, value in buttons):
        return InlineKeyboardMarkup(
            [[InlineKeyboardButton(label[:64], callback_data=value)] for label, value in buttons]
        )
    return ReplyKeyboardMarkup(
        [[KeyboardButton(label[:64])] for label, _ in buttons],
        one_time_keyboard=True,
        resize_keyboard=True,
    )


def retry_after_seconds(exc: RetryAfter) -> float:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        value = exc.retry_after
    return value.total_seconds() if isinstance(value, timedelta) else float(value)


def _sent_or_not(exc: TelegramError, what: str) -> ChannelError:
    cause = exc.__cause__
    if isinstance(cause, NOT_SENT):
        return ChannelError(f"could not reach Telegram ({what})", code="connect", permanent=False)
    return ChannelUncertain(f"no answer from Telegram after sending ({what})", code="no_answer")


class TelegramChannel:
    name = "telegram"

    def __init__(
        self,
        token: str,
        *,
        api_base_url: str = "https://api.telegram.org/bot",
        chat_rate: float = 1.0,
        overall_rate: float = 30.0,
        timeout: float = 15.0,
    ) -> None:
        request = HTTPXRequest(
            connect_timeout=min(5.0, timeout), read_timeout=timeout, write_timeout=timeout
        )
        self.bot = Bot(token, base_url=api_base_url, request=request)
        self.per_chat = RateLimiter(chat_rate)
        self.overall = RateLimiter(overall_rate)
        self._ready = asyncio.Lock()
        self._initialized = False

    async def _initialize(self) -> None:
        """``getMe`` once (PTB needs it); a failure here sent nothing, so it is retryable."""
        async with self._ready:
            if self._initialized:
                return
            try:
                await self.bot.initialize()
                self._initialized = True
            except InvalidToken as exc:
                log.error("Telegram rejected the bot token")
                raise ChannelError(
                    "Telegram rejected the bot token", code="401", permanent=False
                ) from exc
            except TelegramError as exc:
                raise ChannelError(
                    "could not reach Telegram (getMe)", code="connect", permanent=False
                ) from exc

    async def username(self) -> str:
        await self._initialize()
        return str(self.bot.username)

    async def send(self, message: OutboundMessage) -> SendResult:
        if not message.body.strip():
            raise ChannelError("the message is empty", code="empty")
        if len(message.body) > MAX_TEXT:
            raise ChannelError(
                f"the message is {len(message.body)} characters; Telegram allows {MAX_TEXT}",
                code="too_long",
            )
        try:
            chat_id = int(message.to)
        except ValueError:
            raise ChannelError("the Telegram chat id is not a number", code="bad_chat") from None
        await self._initialize()
        await acquire_together((self.per_chat, message.to, 1), (self.overall, "all", 1))
        try:
            sent = await self.bot.send_message(
                chat_id=chat_id, text=message.body, reply_markup=keyboard(message.buttons)
            )
        except RetryAfter as exc:
            wait = retry_after_seconds(exc)
            self.overall.pause(None, wait)
            raise ChannelRateLimited("Telegram flood control", retry_after=wait) from exc
        except Forbidden as exc:
            raise ChannelForbidden(
                "the participant blocked the bot or never started it", code="403"
            ) from exc
        except BadRequest as exc:
            raise ChannelError(
                f"Telegram refused the message: {exc.message[:200]}", code="400"
            ) from exc
        except InvalidToken as exc:
            raise ChannelError(
                "Telegram rejected the bot token", code="401", permanent=False
            ) from exc
        except TimedOut as exc:
            raise _sent_or_not(exc, "timeout") from exc
        except NetworkError as exc:
            raise _sent_or_not(exc, "network") from exc
        except TelegramError as exc:
            raise ChannelUncertain(f"Telegram error after sending: {type(exc).__name__}") from exc
        return SendResult(provider_id=f"{chat_id}:{sent.message_id}", status="sent")

    async def answer_button(self, callback_query_id: str) -> None:
        """Stop the button's spinner; failure only affects the look, so it is logged."""
        try:
            async with asyncio.timeout(ANSWER_TIMEOUT):  # the webhook is waiting on this
                await self._initialize()
                await self.bot.answer_callback_query(callback_query_id)
        except (TelegramError, ChannelError, TimeoutError):
            log.warning("could not answer a Telegram button press")

    async def close(self) -> None:
        self._initialized = False
        try:
            await self.bot.shutdown()
        except TelegramError:
            log.warning("Telegram client did not close cleanly")
