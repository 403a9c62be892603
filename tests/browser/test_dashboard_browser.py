"""Real-browser tests: Playwright drives Debian's Chromium against the real app on loopback.

A coach logs in with the keyboard, claims an urgent item opened by a crisis message,
replies, resolves, and sees the reply in the conversation; on a phone-sized screen,
with right-to-left text rendered right-to-left and hostile text never executed.

Needs ``apt-get install -y chromium`` and ``pip install playwright`` (never
``playwright install``: the browser is Debian's). Skipped with the reason otherwise.
"""

from __future__ import annotations

import importlib.util
from collections.abc import AsyncIterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from aiohttp.test_utils import TestServer

from bot.host.services import Services
from bot.web.app import create_app
from tests.escalations.helpers import PASSWORD, add_staff, item
from tests.host.helpers import escalations, make_participant, say

if TYPE_CHECKING:
    from playwright.async_api import Browser, Page

CHROMIUM = Path("/usr/bin/chromium")
pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(
        not CHROMIUM.exists(),
        reason="real-browser test: /usr/bin/chromium is missing (apt-get install -y chromium)",
    ),
    pytest.mark.skipif(
        importlib.util.find_spec("playwright") is None,
        reason="real-browser test: Playwright is missing (pip install playwright)",
    ),
]
LAUNCH_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
]
PHONE = {"width": 390, "height": 844}


@pytest.fixture
async def server(services: Services) -> AsyncIterator[TestServer]:
    test_server = TestServer(create_app(services, run_workers=False), host="127.0.0.1")
    await test_server.start_server()
    yield test_server
    await test_server.close()


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    from playwright.async_api import async_playwright

    async with async_playwright() as playwright:
        launched = await playwright.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=LAUNCH_ARGS
        )
        yield launched
        await launched.close()


async def _phone_page(browser: Browser) -> tuple[Page, list[str]]:
    context = await browser.new_context(viewport=PHONE, is_mobile=True, has_touch=True)
    page = await context.new_page()
    dialogs: list[str] = []

    async def on_dialog(dialog: Any) -> None:
        dialogs.append(dialog.message)
        await dialog.dismiss()

    page.on("dialog", on_dialog)
    return page, dialogs


async def _login_with_keyboard(page: Page, base: str, email: str) -> None:
    await page.goto(f"{base}/")
    assert page.url.startswith(f"{base}/login")
    await page.wait_for_function("document.activeElement && document.activeElement.id === 'email'")
    await page.keyboard.type(email)  # the email field has the focus
    await page.keyboard.press("Tab")
    await page.keyboard.type(PASSWORD)
    await page.keyboard.press("Enter")
    await page.wait_for_url(f"{base}/")


async def _tab_to(page: Page, element_id: str, limit: int = 60) -> None:
    for _ in range(limit):
        await page.keyboard.press("Tab")
        if await page.evaluate("document.activeElement && document.activeElement.id") == element_id:
            return
    raise AssertionError(f"#{element_id} cannot be reached with the Tab key")


async def _fits_the_screen(page: Page) -> bool:
    width: int = await page.evaluate("document.documentElement.scrollWidth")
    return width <= PHONE["width"]


async def test_a_coach_claims_replies_and_resolves_on_a_phone(
    server: TestServer, browser: Browser, services: Services
) -> None:
    coach = await add_staff(services, "coach", "browser.coach@example.org", name="Sam Coach")
    person = await make_participant(services, coach=coach.id, name="Ayesha")
    await say(services, person, "I can't go on any more")  # through bot.host.inbound.process
    (urgent,) = await escalations(services, person.id)
    assert urgent.priority == "urgent"
    base = str(server.make_url("")).rstrip("/")
    page, dialogs = await _phone_page(browser)

    await _login_with_keyboard(page, base, "browser.coach@example.org")
    row = page.locator(f'li[data-item="{urgent.id}"]')
    assert await row.get_attribute("data-priority") == "urgent"
    assert "due in 15 min" in await row.inner_text()
    assert await _fits_the_screen(page)
    await row.locator("a.reason").click()
    await page.wait_for_url(f"{base}/items/{urgent.id}")
    assert await _fits_the_screen(page)
    assert "I can't go on any more" in await page.locator("li.cause").inner_text()

    await _tab_to(page, "claim")
    await page.keyboard.press("Enter")
    await page.wait_for_url(f"{base}/items/{urgent.id}?done=claimed")
    assert (await page.locator("#item-status").inner_text()).startswith("claimed")
    assert "Sam Coach" in await page.locator("#item-assignee").inner_text()

    await page.fill("#reply", "Hello Ayesha, it's Sam. I'll call you in five minutes.")
    await page.click("#send-reply")
    await page.wait_for_url(f"{base}/items/{urgent.id}?done=replied")
    conversation = page.locator("#conversation")
    assert "I'll call you in five minutes." in await conversation.inner_text()
    assert "Coach: Sam Coach" in await conversation.inner_text()

    await page.fill("#note", '<script>alert("x")</script><img src=x onerror=alert(2)>')
    await page.click("#add-note")
    await page.wait_for_url(f"{base}/items/{urgent.id}?done=noted")
    assert '<script>alert("x")</script>' in await page.locator("#notes").inner_text()

    await page.select_option("#outcome", "contacted")
    await page.fill("#resolve_note", "Spoke on the phone; safety plan agreed.")
    await page.click("#resolve")
    await page.wait_for_url(f"{base}/items/{urgent.id}?done=resolved")
    assert (await page.locator("#item-status").inner_text()).startswith("resolved")
    assert "I'll call you in five minutes." in await page.locator("#conversation").inner_text()
    assert await _fits_the_screen(page)
    assert dialogs == []  # nothing typed into the page ever ran

    done = await item(services, urgent.id)
    assert (done.status, done.outcome, done.assignee_id) == ("resolved", "contacted", coach.id)


async def test_right_to_left_text_renders_right_to_left(
    server: TestServer, browser: Browser, services: Services
) -> None:
    coach = await add_staff(services, "coach", "rtl.coach@example.org")
    person = await make_participant(services, coach=coach.id, language="ur", name="عائشہ")
    await say(services, person, "میں خود کو مارنا چاہتا ہوں")
    (urgent,) = await escalations(services, person.id)
    base = str(server.make_url("")).rstrip("/")
    page, _dialogs = await _phone_page(browser)
    await _login_with_keyboard(page, base, "rtl.coach@example.org")
    await page.goto(f"{base}/items/{urgent.id}")
    for selector in ("#causes p.msg", "#conversation li.cause p.msg"):
        message = page.locator(selector)
        assert await message.evaluate("el => getComputedStyle(el).direction") == "rtl", selector
    await page.fill("#reply", "آپ کیسی ہیں؟")
    assert await page.locator("#reply").evaluate("el => getComputedStyle(el).direction") == "rtl"
    assert await page.locator("h1").evaluate("el => getComputedStyle(el).direction") == "ltr"
    assert await _fits_the_screen(page)
