"""Staff commands: ``participants import FILE.csv``, ``retention purge``, ``telegram set-webhook``."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from pathlib import Path
from typing import IO, Any

from bot.config import Settings
from bot.host.services import FlowLibrary, build_services
from bot.staff.imports import ImportReport, import_participants

COMMANDS = ("participants", "retention", "telegram")


def add_arguments(sub: Any) -> None:
    participants = sub.add_parser("participants", help="participant records")
    participants_sub = participants.add_subparsers(dest="action", required=True)
    importer = participants_sub.add_parser(
        "import",
        help="import referrals from a CSV file: every row is checked; nothing is imported "
        "while any row is bad unless --good-rows is given",
    )
    importer.add_argument("file", type=Path)
    importer.add_argument(
        "--good-rows", action="store_true", help="import the good rows and skip the bad ones"
    )
    importer.add_argument(
        "--report", type=Path, help="also write the full validation report as JSON here"
    )
    retention = sub.add_parser("retention", help="retention of personal data")
    retention.add_argument("action", choices=["purge"], help="purge what is past its period now")
    telegram = sub.add_parser("telegram", help="Telegram bot set-up")
    telegram.add_argument(
        "action", choices=["set-webhook"], help="point Telegram at PUBLIC_URL/webhooks/telegram"
    )


def run(args: argparse.Namespace, settings: Settings) -> int:
    if args.command == "participants":
        return _import(settings, args.file, args.good_rows, args.report)
    if args.command == "telegram":
        from bot.cli.telegram_webhook import set_webhook

        return asyncio.run(set_webhook(settings))
    return asyncio.run(_purge(settings))


def _import(settings: Settings, file: Path, good_rows: bool, report_to: Path | None) -> int:
    if not file.is_file():
        print(f"error: {file} is not a file", file=sys.stderr)
        return 1
    with file.open("rb") as source:
        report = asyncio.run(_import_file(settings, source, good_rows))
    problem = report.file_error
    if problem is not None:
        print(f"line {problem.line}: {problem.message} ({problem.code})")
    for p in report.errors:
        print(f"line {p.line}: {p.column or 'row'}: {p.message} ({p.code})")
    for p in report.warnings:
        print(f"line {p.line}: warning: {p.message}")
    if report_to is not None:
        report_to.write_text(json.dumps(report.as_json(), indent=1, ensure_ascii=False))
    print(report.summary())
    return 1 if report.refused else 0


async def _import_file(settings: Settings, source: IO[bytes], good_rows: bool) -> ImportReport:
    services = build_services(settings, flows=FlowLibrary())
    try:
        async with services.sessions() as db, db.begin():
            return await import_participants(
                db, source, services.clock.now(), "cli", good_rows=good_rows
            )
    finally:
        await services.close()


async def _purge(settings: Settings) -> int:
    from bot.privacy.retention import purge_expired

    services = build_services(settings, flows=FlowLibrary())
    try:
        result = await purge_expired(services)
    finally:
        await services.close()
    print(", ".join(f"{k}: {v}" for k, v in result.items()) or "nothing to purge")
    return 0
