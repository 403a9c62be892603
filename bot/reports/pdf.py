"""Print a standalone HTML document (the MDT report) to an A4 PDF with headless Chromium.

Chromium lays out Urdu, Arabic, Bengali and Gurmukhi correctly when the fonts are
installed, which no pure-Python PDF library does; it runs as a child process (never on
the event loop), with no network, no profile of its own beyond a throwaway directory,
and a time limit. The page's own print styles (``@page { size: A4 }``) set the paper.
When Chromium is missing or disabled the caller gets ``PdfUnavailable`` (503), never a 500.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import shutil
import signal
import tempfile
import weakref
from pathlib import Path

from bot.config import Settings
from bot.errors import ValidationError

log = logging.getLogger(__name__)
TIMEOUT_SECONDS = 60.0
MAX_AT_ONCE = 2  # each Chromium takes a few hundred MB
_LIMITS: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Semaphore] = (
    weakref.WeakKeyDictionary()
)
FLAGS = (
    "--headless",
    "--no-sandbox",  # containers rarely allow its namespaces; the page is our own HTML
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-extensions",
    "--disable-breakpad",
    "--no-first-run",
    "--no-default-browser-check",
    "--mute-audio",
    "--host-resolver-rules=MAP * ~NOTFOUND",  # the document loads nothing: no network at all
    "--no-pdf-header-footer",  # else the temporary file's path is printed on every page
)


class PdfUnavailable(ValidationError):
    """This server cannot make PDFs now; the HTML page and CSV still work."""

    status = 503


def chromium_command(settings: Settings) -> str:
    """The Chromium executable to run, or PdfUnavailable (checked before any work is done)."""
    configured = settings.chromium_path
    if configured is None:
        raise PdfUnavailable(
            "PDF export is turned off on this server (CHROMIUM_PATH=off); "
            "print the page or download the CSV",
            "pdf_unavailable",
        )
    found = shutil.which(configured)
    if found is None or not os.access(found, os.X_OK):
        raise PdfUnavailable(
            "PDF export needs Chromium, which is not installed on this server; "
            "print the page or download the CSV",
            "pdf_unavailable",
        )
    return found


def pdf_available(settings: Settings) -> bool:
    try:
        chromium_command(settings)
    except PdfUnavailable:
        return False
    return True


async def html_to_pdf(
    html: str, settings: Settings, limit_seconds: float = TIMEOUT_SECONDS
) -> bytes:
    """Write the page to a private temporary directory, print it, return the PDF bytes.

    The directory (page, PDF and Chromium's profile) is removed afterwards: the page
    holds personal data.
    """
    command = chromium_command(settings)
    async with _limit():
        with tempfile.TemporaryDirectory(prefix="checkins-pdf-") as tmp:
            folder = Path(tmp)
            page, output = folder / "document.html", folder / "document.pdf"
            page.write_text(html, encoding="utf-8")
            args = [
                *FLAGS,
                f"--user-data-dir={folder / 'profile'}",
                f"--print-to-pdf={output}",
                page.as_uri(),
            ]
            returncode = await _run(command, args, folder, limit_seconds)
            if returncode != 0 or not output.is_file():
                log.warning("pdf: chromium failed", extra={"returncode": returncode})
                raise PdfUnavailable("the PDF could not be made; try again", "pdf_failed")
            pdf = output.read_bytes()
    if not pdf.startswith(b"%PDF"):
        raise PdfUnavailable("the PDF could not be made; try again", "pdf_failed")
    return pdf


def _limit() -> asyncio.Semaphore:
    """One limit per event loop (a semaphore belongs to the loop it first waits in)."""
    loop = asyncio.get_running_loop()
    limit = _LIMITS.get(loop)
    if limit is None:
        limit = _LIMITS[loop] = asyncio.Semaphore(MAX_AT_ONCE)
    return limit


async def _run(command: str, args: list[str], folder: Path, limit_seconds: float) -> int | None:
    """Run Chromium in its own process group so that a timeout ends all its helpers."""
    env = {  # none of the service's secrets: Chromium needs only a path, a home and a locale
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(folder),
        "XDG_CONFIG_HOME": str(folder),
        "XDG_CACHE_HOME": str(folder),
        "TMPDIR": str(folder),
        "LANG": "C.UTF-8",
    }
    try:
        process = await asyncio.create_subprocess_exec(
            command,
            *args,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.DEVNULL,
            cwd=folder,
            env=env,
            start_new_session=True,
        )
    except OSError:
        log.warning("pdf: chromium could not be started")
        raise PdfUnavailable(
            "PDF export needs Chromium, which could not be started on this server",
            "pdf_unavailable",
        ) from None
    try:
        return await asyncio.wait_for(process.wait(), limit_seconds)
    except TimeoutError:
        log.warning("pdf: chromium timed out", extra={"seconds": limit_seconds})
        return None
    finally:
        if process.returncode is None:  # timed out or cancelled: end Chromium and its helpers
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
