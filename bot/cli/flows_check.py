"""``python -m bot flows check | test | publish``: the staff authoring commands.

``check`` prints every finding as ``file:line: level: message [code]``, grouped by
file, then a summary; the exit status is 1 when there is any error. ``test`` runs
the example conversations in ``flows/tests/``; ``publish`` stores the checked
flows as new versions that every running process picks up within seconds.
What each finding means: docs/flows-check.md.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path

FLOWS_DIR = Path(__file__).resolve().parents[2] / "flows"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of ``flows check``, ``flows test`` and ``flows publish``."""
    parser.add_argument(
        "paths", nargs="*", type=Path, help="test: the test files to run (default: flows/tests/)"
    )
    parser.add_argument(
        "--dir", type=Path, default=FLOWS_DIR, help="the folder of flow files (default: flows/)"
    )
    parser.add_argument(
        "--compatible",
        action="append",
        default=[],
        metavar="FLOW[:V,...]",
        help="publish: participants part-way through the given older versions of FLOW (default: "
        "every older version) may continue on the new version where their step still exists",
    )
    parser.add_argument("--by", default="cli", help="publish: who is publishing, for the record")


def check(fmt: str = "text", directory: Path = FLOWS_DIR) -> int:
    from bot.authoring.check import check_directory
    from bot.authoring.findings import as_json, as_text

    report = check_directory(directory)
    if fmt == "json":
        print(as_json(report.findings, report.flows))
    else:
        print(as_text(report.findings, len(report.flows)))
    return 0 if report.ok else 1


def test(paths: list[Path], directory: Path = FLOWS_DIR, fmt: str = "text") -> int:
    from bot.authoring.flowtests import flow_test_files, run_files

    files = paths or flow_test_files(directory / "tests")
    if not files:
        print(f"no flow tests found in {directory / 'tests'}")
        return 0
    results = run_files(files, directory)
    if fmt == "json":
        import json

        print(json.dumps([r.as_json() for r in results], ensure_ascii=False, indent=2))
    else:
        for result in results:
            print(result.report())
        failed = sum(1 for r in results if not r.passed)
        print(f"{len(results)} flow tests: {len(results) - failed} passed, {failed} failed")
    return 0 if all(r.passed for r in results) else 1


def publish(args: argparse.Namespace) -> int:
    from bot.authoring.publish import parse_compatible, publish_directory
    from bot.config import load_settings
    from bot.store.db import make_engine, make_sessionmaker
    from bot.store.migrate import upgrade

    settings = load_settings()
    upgrade(settings.database_url)
    compatible = parse_compatible(args.compatible)

    async def go() -> int:
        engine = make_engine(settings.database_url)
        try:
            outcome = await publish_directory(
                make_sessionmaker(engine), args.dir, actor=f"cli:{args.by}", compatible=compatible
            )
        finally:
            await engine.dispose()
        print(outcome.report())
        return 0 if outcome.ok else 1

    return asyncio.run(go())


def run(args: argparse.Namespace) -> int:
    """Dispatch ``flows check | test | publish``."""
    if args.action == "test":
        return test(list(args.paths), args.dir, args.format)
    if args.action == "publish":
        return publish(args)
    if args.paths:
        print("flows check takes no file names; use --dir to check another folder", file=sys.stderr)
        return 2
    return check(args.format, args.dir)
