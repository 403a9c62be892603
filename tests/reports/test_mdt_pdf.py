"""The MDT report as a PDF, printed by headless Chromium on the server (A4, every script shaped).

Needs Debian's Chromium (CI installs it); the text checks also need ``pdftotext``
(poppler-utils). Without Chromium the PDF route must answer a clear 503, never a 500:
that part runs everywhere.
"""

from __future__ import annotations

import dataclasses
import shutil
import subprocess
import unicodedata
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from sqlalchemy import select

from bot.host.services import Services
from bot.reports.pdf import PdfUnavailable, html_to_pdf
from bot.store.models import AuditEntry, Escalation, Participant
from tests.reports.conftest import AUTH
from tests.reports.pages import login
from tests.reports.seed import World, seed

CHROMIUM = shutil.which("chromium") or shutil.which("/usr/bin/chromium")
PDFTOTEXT = shutil.which("pdftotext")
needs_chromium = pytest.mark.skipif(
    CHROMIUM is None, reason="Debian's chromium is not installed (apt-get install chromium)"
)
URDU_NAME = "عائشہ بی بی"
BENGALI_NAME = "রহিম উদ্দিন"
PERIOD = "from=2026-02-14&to=2026-03-02"
BIDI_MARKS = dict.fromkeys(
    map(ord, "\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")
)


@pytest.fixture
async def world(services: Services) -> World:
    """The report seed, plus two participants whose names are in Urdu and Bengali script."""
    world = await seed(services)
    now = services.clock.now()
    async with services.sessions() as db, db.begin():
        for phone, name, language in (
            ("+447911000011", URDU_NAME, "ur"),
            ("+447911000012", BENGALI_NAME, "bn"),
        ):
            person = Participant(
                phone=phone, channel="sms", language=language, timezone="Europe/London",
                name=name, coach_id=world.coach.id, status="active", consent=True, consent_at=now,
                fields={}, demo=False, created_at=now - timedelta(days=30), updated_at=now,
            )  # fmt: skip
            db.add(person)
            await db.flush()
            db.add(
                Escalation(
                    participant_id=person.id, priority="routine", reason="Asked to talk to a coach",
                    source="keyword", status="open", created_at=now - timedelta(days=1),
                    updated_at=now - timedelta(days=1),
                )
            )  # fmt: skip
    return world


def pdf_text(pdf: bytes, tmp_path: Path) -> str:
    """The PDF's text, with bidi controls removed and normalised (as a reader would search it)."""
    if PDFTOTEXT is None:
        pytest.skip("pdftotext (poppler-utils) is not installed: cannot read the PDF's text")
    path = tmp_path / "report.pdf"
    path.write_bytes(pdf)
    result = subprocess.run(
        [PDFTOTEXT, "-enc", "UTF-8", str(path), "-"], capture_output=True, check=True, timeout=60
    )
    text = result.stdout.decode("utf-8").translate(BIDI_MARKS)
    return unicodedata.normalize("NFC", text)


def pdf_info(pdf: bytes, tmp_path: Path) -> str:
    """``pdfinfo``'s summary (page size among it), from poppler-utils like pdftotext."""
    pdfinfo = shutil.which("pdfinfo")
    if pdfinfo is None:
        pytest.skip("pdfinfo (poppler-utils) is not installed: cannot read the page size")
    path = tmp_path / "info.pdf"
    path.write_bytes(pdf)
    return subprocess.run([pdfinfo, str(path)], capture_output=True, text=True, check=True).stdout


@needs_chromium
async def test_the_pdf_holds_the_report_with_urdu_and_bengali_names(
    client: TestClient[Any, Any], services: Services, world: World, tmp_path: Path
) -> None:
    response = await client.get(f"/api/reports/mdt.pdf?{PERIOD}", headers=AUTH)
    assert response.status == 200, await response.text()
    assert response.content_type == "application/pdf"
    assert "attachment" in response.headers["Content-Disposition"]
    pdf = await response.read()
    assert pdf.startswith(b"%PDF")
    text = pdf_text(pdf, tmp_path)
    assert "MDT report" in text and "Amina Khan" in text
    assert URDU_NAME in text and BENGALI_NAME in text  # shaped, and extractable as text
    assert "Interpreter: Pahari-Pothwari" in text
    assert "file://" not in text and "document.html" not in text  # no header or footer
    assert "(A4)" in pdf_info(pdf, tmp_path)  # the page's own @page rule sets the paper
    async with services.sessions() as db:
        entry = await db.scalar(select(AuditEntry).where(AuditEntry.action == "report.mdt"))
    assert entry is not None and entry.actor == "api" and entry.detail["export"] == "pdf"


@needs_chromium
async def test_a_pseudonymised_pdf_has_no_names_or_phone_numbers(
    client: TestClient[Any, Any], world: World, tmp_path: Path
) -> None:
    response = await client.get(f"/api/reports/mdt.pdf?{PERIOD}&pseudonymise=true", headers=AUTH)
    assert response.status == 200, await response.text()
    text = pdf_text(await response.read(), tmp_path)
    assert "MDT report" in text and "pseudonymised" in text
    # the seeded numbers' national digits: "7911" alone was once found inside a
    # pseudonym's hex (P4b7911b91b37ff16), 13 chances in 65,536 for each pseudonym
    for private in ("Amina", "Khan", "Ben Smith", URDU_NAME, BENGALI_NAME, "+44", "79110000"):
        assert private not in text
    assert "CBT agreed with GP" not in text  # notes are free text: withheld


@needs_chromium
async def test_the_dashboard_offers_the_pdf_to_a_coach(
    client: TestClient[Any, Any], world: World, tmp_path: Path
) -> None:
    await login(client, "coach@example.org")
    page = await (await client.get(f"/reports/mdt?{PERIOD}")).text()
    assert "Download PDF" in page and "/reports/mdt.pdf?" in page
    response = await client.get(f"/reports/mdt.pdf?{PERIOD}")
    assert response.status == 200 and response.content_type == "application/pdf"
    text = pdf_text(await response.read(), tmp_path)
    assert URDU_NAME in text and "Kasia" not in text  # only the coach's own caseload


async def test_without_chromium_the_pdf_is_a_clear_503_and_the_rest_works(
    client: TestClient[Any, Any], services: Services, world: World
) -> None:
    services.settings = dataclasses.replace(
        services.settings, chromium_path="/nonexistent/chromium"
    )
    response = await client.get(f"/api/reports/mdt.pdf?{PERIOD}", headers=AUTH)
    assert response.status == 503
    error = (await response.json())["error"]
    assert error["code"] == "pdf_unavailable" and "Chromium" in error["message"]
    assert (await client.get(f"/api/reports/mdt.csv?{PERIOD}", headers=AUTH)).status == 200
    services.settings = dataclasses.replace(services.settings, chromium_path=None)
    response = await client.get(f"/api/reports/mdt.pdf?{PERIOD}", headers=AUTH)
    assert response.status == 503 and (await response.json())["error"]["code"] == "pdf_unavailable"
    await login(client, "coach@example.org")
    page = await (await client.get(f"/reports/mdt?{PERIOD}")).text()
    assert "Download PDF" not in page and "not available on this server" in page
    response = await client.get(f"/reports/mdt.pdf?{PERIOD}")
    assert response.status == 503 and "text/html" in response.content_type
    assert "PDF export is turned off" in await response.text()


GARBAGE = 'for a; do case "$a" in --print-to-pdf=*) echo not a pdf > "${a#*=}";; esac; done'


def _fake_chromium(tmp_path: Path, script: str) -> str:
    path = tmp_path / "fake-chromium"
    path.write_text("#!/bin/sh\n" + script + "\n")
    path.chmod(0o700)
    return str(path)


@pytest.mark.parametrize(
    ("script", "limit"),
    [("exit 3", 30.0), ("exit 0", 30.0), (GARBAGE, 30.0),
     ("sleep 30", 0.5)],
    ids=["fails", "writes-nothing", "writes-garbage", "hangs"],
)  # fmt: skip
async def test_a_chromium_that_fails_or_hangs_is_a_503_not_a_500(
    services: Services, tmp_path: Path, script: str, limit: float
) -> None:
    settings = dataclasses.replace(
        services.settings, chromium_path=_fake_chromium(tmp_path, script)
    )
    with pytest.raises(PdfUnavailable) as refused:
        await html_to_pdf("<p>x</p>", settings, limit_seconds=limit)
    assert refused.value.status == 503 and refused.value.code == "pdf_failed"
