"""``python -m bot``: serve, worker, db upgrade, flows check, translations, chat, users add."""

from __future__ import annotations

import argparse
import sys

from bot.cli import commands, flows_check, staff, translations
from bot.errors import CheckinError, ConfigError


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m bot", description="Rethink Check-ins")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("serve", help="run the web process (and, on SQLite, the workers)")
    sub.add_parser("worker", help="run the scheduler and the outbox sender")
    db = sub.add_parser("db", help="database commands")
    db.add_argument("action", choices=["upgrade"])
    flows = sub.add_parser("flows", help="flow commands")
    flows.add_argument("action", choices=["check", "extract", "coverage", "test", "publish"])
    flows.add_argument("--format", choices=["text", "json"], default="text")
    flows_check.add_arguments(flows)
    translations.add_spreadsheet_arguments(sub)
    chat = sub.add_parser("chat", help="talk to a flow in the terminal")
    chat.add_argument("--flow", required=True)
    chat.add_argument("--lang", default="en")
    chat.add_argument("--name", default="Sam")
    users = sub.add_parser("users", help="dashboard accounts")
    users_sub = users.add_subparsers(dest="action", required=True)
    add = users_sub.add_parser(
        "add", help="add an account; the password is read from standard input"
    )
    add.add_argument("email")
    add.add_argument("--role", choices=["coach", "lead", "staff", "admin"], required=True)
    add.add_argument("--name", default="")
    staff.add_arguments(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        if args.command == "translations":  # files only: no settings or database
            return translations.run_spreadsheet(args)
        return commands.run(args)
    except ConfigError as exc:
        print(f"configuration error: {exc}", file=sys.stderr)
        return 2
    except CheckinError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
