"""What each command does; argument parsing lives in ``bot.cli``."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal
import sys

from aiohttp import web

from bot.cli import staff
from bot.cli.loop import run_service, settle_heap
from bot.config import load_settings
from bot.host.services import build_services
from bot.logs import configure_logging
from bot.outbox.wake import can_notify, listen_for_wakes, relay_wakes
from bot.store.migrate import upgrade


def run(args: argparse.Namespace) -> int:
    if args.command == "flows" and args.action in ("extract", "coverage"):
        from bot.cli.translations import run as run_translations

        return run_translations(args.action, args.format)
    if args.command == "flows":
        from bot.cli.flows_check import run as run_flows

        return run_flows(args)
    if args.command == "chat":
        from bot.cli.chat import chat

        return chat(args.flow, args.lang, args.name)
    settings = load_settings()
    configure_logging()
    if args.command == "db":
        upgrade(settings.database_url)
        print("database is up to date")
        return 0
    if args.command == "users":
        from bot.cli.users import add_user_command

        return asyncio.run(add_user_command(settings, args.email, args.role, args.name))
    upgrade(settings.database_url)
    if args.command in staff.COMMANDS:
        return staff.run(args, settings)
    if args.command == "serve":
        return run_service(_serve(settings))
    return run_service(_worker(settings))


async def _serve(settings: object) -> int:
    from bot.config import Settings
    from bot.staff.demo import DEMO_COACH, seed_demo
    from bot.web.app import create_app

    assert isinstance(settings, Settings)
    signalled = _signal_event()
    services = build_services(settings)
    from bot.authoring.library import poll_library, refresh_library

    await refresh_library(services)  # run the published flow versions (issue 7)
    background: list[asyncio.Task[None]] = []
    if not settings.run_workers_in_process:  # no scheduler here to poll for publishes
        background.append(asyncio.create_task(poll_library(services)))
        if can_notify(services.engine):  # and no sender here: wake the worker's
            background.append(
                asyncio.create_task(relay_wakes(services.engine, services.outbox_wake))
            )
    if settings.seed_demo:
        password = await seed_demo(services)
        if password:
            print(f"Demo coach login (shown once): {DEMO_COACH} / {password}", flush=True)
    app = create_app(services)
    runner = web.AppRunner(app, handle_signals=False, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, host="0.0.0.0", port=settings.port, shutdown_timeout=20)
    await site.start()
    settle_heap()
    print(f"Rethink Check-ins on http://localhost:{settings.port}/simulator", flush=True)
    await _until_signal(signalled)
    await runner.cleanup()  # stops taking requests, finishes in-flight ones
    await _cancel(background)
    return 0


async def _worker(settings: object) -> int:
    from bot.config import Settings
    from bot.outbox.sender import run_sender
    from scheduler import build_scheduler

    assert isinstance(settings, Settings)
    signalled = _signal_event()
    services = build_services(settings)
    from bot.authoring.library import refresh_library

    await refresh_library(services)  # then the scheduler's flows_reload job keeps it fresh
    stop = asyncio.Event()
    sender = asyncio.create_task(run_sender(services, stop, services.outbox_wake))
    listener: list[asyncio.Task[None]] = []
    if can_notify(services.engine):  # web processes wake this sender at once
        listener.append(
            asyncio.create_task(listen_for_wakes(services.engine, services.outbox_wake))
        )
    scheduler = build_scheduler(services)
    scheduler.start()
    settle_heap()
    print("worker running: scheduler and outbox sender", flush=True)
    await _until_signal(signalled)
    await _cancel(listener)
    scheduler.shutdown(wait=False)
    stop.set()
    services.outbox_wake.set()
    with contextlib.suppress(asyncio.CancelledError, TimeoutError):
        await asyncio.wait_for(sender, timeout=20)
    await services.close()
    return 0


async def _cancel(tasks: list[asyncio.Task[None]]) -> None:
    for task in tasks:
        task.cancel()
    for task in tasks:
        with contextlib.suppress(asyncio.CancelledError):
            await task


def _signal_event() -> asyncio.Event:
    """Handle SIGTERM/SIGINT from now on: installed before the process says it is ready, so
    a signal can never arrive while the default handler would kill it mid-work."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, stop.set)
    return stop


async def _until_signal(stop: asyncio.Event) -> None:
    await stop.wait()
    print("stopping…", file=sys.stderr, flush=True)
