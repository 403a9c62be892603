#!/usr/bin/env python3
"""Fault runs: processes killed, the database gone, the provider failing, under load.

    python bench/faults.py kill          # kill -9 a web and a worker mid-load (PostgreSQL)
    python bench/faults.py database      # PostgreSQL unreachable for 10 s (a proxy is cut)
    python bench/faults.py provider      # Twilio answers 500, then times out, then is unreachable;
                                         # then waits for reconciliation of uncertain rows
    python bench/faults.py all

Each prints JSON: what the clients saw (statuses over time), and the end state checked
against the database and the fake provider: every message that got a 2xx stored and
processed exactly once, every outbox row sent at most once and never silently
doubled (a send whose outcome is unknown is flagged ``uncertain``). Messages that got
no 2xx are sent again afterwards with the same MessageSid, as a provider retries.
PostgreSQL is never stopped: the "database goes away" run points the service at a TCP
proxy on loopback (bench/tcpproxy.py) and cuts that.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import aiohttp  # noqa: E402
from sqlalchemy.engine import make_url  # noqa: E402

from bench.harness import (  # noqa: E402
    DEFAULT_POSTGRES,
    Database,
    Load,
    Person,
    Provider,
    drive,
    emit,
    env_for,
    exactly_once,
    inbound_settled,
    machine_load,
    outbox_settled,
    phone_of,
    resend,
    scratch,
    seed_participants,
    start_all,
)
from bench.sending import fill_outbox  # noqa: E402
from bench.tcpproxy import Proxy  # noqa: E402
from tests.system.processes import ServiceProcess  # noqa: E402


def timeline(load: Load, start: float, end: float) -> dict[str, int]:
    """Answers the clients got between ``start`` and ``end`` seconds into the load."""
    seen = Counter(str(status or "no answer") for at, status in load.timeline if start <= at < end)
    return dict(seen)


def first_ok_after(load: Load, at: float) -> float | None:
    later = [t for t, status in load.timeline if t >= at and 200 <= status < 300]
    return round(min(later) - at, 2) if later else None


async def people_mid_checkin(url: str, count: int) -> list[Person]:
    ids = await seed_participants(url, count)
    return [Person(pid, phone_of(i)) for i, pid in enumerate(ids)]


async def kill_run(args: argparse.Namespace, folder: Path) -> dict[str, Any]:
    """kill -9 the web process and the worker at ``--kill-at`` s, restart them 2 s later."""
    db = await Database.create("postgresql", folder, args.postgres_url, "checkins_faults")
    engine = db.engine()
    provider = Provider(folder)
    processes: list[ServiceProcess] = []
    figures: dict[str, Any] = {"machine_at_start": machine_load()}
    try:
        people = await people_mid_checkin(db.url, args.participants)
        await provider.ready()
        env = env_for(db.url, provider, RUN_WORKERS_IN_PROCESS="false")
        web = ServiceProcess("serve", env, folder / "web.log").start()
        worker = ServiceProcess("worker", env, folder / "worker.log").start()
        processes = [web, worker]
        await asyncio.gather(web.ready(within=120), worker.ready(within=120))
        await start_all(web.url, people)
        events: dict[str, float] = {}
        began = time.perf_counter()

        async def chaos() -> None:
            await asyncio.sleep(args.kill_at)
            web.kill()
            worker.kill()
            events["killed_at"] = round(time.perf_counter() - began, 2)
            await asyncio.sleep(2)
            web.start()
            worker.start()
            await asyncio.gather(web.ready(within=120), worker.ready(within=120))
            events["back_at"] = round(time.perf_counter() - began, 2)

        task = asyncio.create_task(chaos())
        load = await drive(web.url, people, seconds=args.seconds, connections=args.connections)
        await task
        figures["events"] = events
        figures["clients"] = load.summary()
        figures["around_the_kill"] = timeline(load, events["killed_at"] - 1, events["back_at"] + 1)
        figures["first_2xx_after_restart_s"] = first_ok_after(load, events["back_at"])
        figures["retried_still_refused"] = await resend(web.url, load)
        settle_began = time.monotonic()
        figures["inbound_unprocessed"] = await inbound_settled(engine, within=120)
        figures["outbox_after"] = await outbox_settled(engine, within=args.settle)
        figures["settled_after_s"] = round(time.monotonic() - settle_began, 1)
        figures["checks"] = await exactly_once(engine, load, provider)
    finally:
        await asyncio.gather(*(asyncio.to_thread(p.stop) for p in processes))
        provider.stop()
        await engine.dispose()
        await db.drop()
    return figures


async def database_run(args: argparse.Namespace, folder: Path) -> dict[str, Any]:
    """PostgreSQL unreachable for ``--outage`` s at ``--cut-at`` s, through a cut proxy."""
    db = await Database.create("postgresql", folder, args.postgres_url, "checkins_faults_db")
    direct = make_url(db.url)
    proxy = await Proxy(direct.host or "127.0.0.1", direct.port or 5432).start()
    proxied = direct.set(host="127.0.0.1", port=proxy.port).render_as_string(hide_password=False)
    engine = db.engine()  # the checks go direct, not through the proxy
    provider = Provider(folder)
    serve: ServiceProcess | None = None
    figures: dict[str, Any] = {"machine_at_start": machine_load()}
    try:
        people = await people_mid_checkin(db.url, args.participants)
        await provider.ready()
        env = env_for(proxied, provider, RUN_WORKERS_IN_PROCESS="true")
        serve = ServiceProcess("serve", env, folder / "serve.log").start()
        await serve.ready(within=120)
        await start_all(serve.url, people)
        events: dict[str, float] = {}
        began = time.perf_counter()
        health: list[tuple[float, int]] = []

        async def chaos() -> None:
            await asyncio.sleep(args.cut_at)
            await proxy.cut()
            events["cut_at"] = round(time.perf_counter() - began, 2)
            await asyncio.sleep(args.outage)
            await proxy.restore()
            events["restored_at"] = round(time.perf_counter() - began, 2)

        async def watch_health() -> None:
            assert serve is not None
            async with aiohttp.ClientSession() as client:
                while time.perf_counter() - began < args.seconds:
                    status = 0
                    with contextlib.suppress(aiohttp.ClientError, OSError, TimeoutError):
                        async with client.get(serve.url + "/healthz", timeout=aiohttp.ClientTimeout(total=6)) as r:  # fmt: skip
                            status = r.status
                    health.append((time.perf_counter() - began, status))
                    await asyncio.sleep(0.5)

        tasks = [asyncio.create_task(chaos()), asyncio.create_task(watch_health())]
        load = await drive(serve.url, people, seconds=args.seconds, connections=args.connections)
        await asyncio.gather(*tasks)
        cut, back = events["cut_at"], events["restored_at"]
        figures["events"] = events
        figures["clients"] = load.summary()
        figures["before_the_cut"] = timeline(load, 0, cut)
        figures["during_the_cut"] = timeline(load, cut, back)
        figures["after_the_cut"] = timeline(load, back, args.seconds + 60)
        figures["first_2xx_after_restore_s"] = first_ok_after(load, back)
        figures["healthz_during_cut"] = dict(Counter(s for t, s in health if cut <= t < back))
        healthy = [t for t, s in health if t >= back and s == 200]
        figures["healthz_200_after_restore_s"] = round(min(healthy) - back, 2) if healthy else None
        figures["retried_still_refused"] = await resend(serve.url, load)
        figures["inbound_unprocessed"] = await inbound_settled(engine, within=120)
        figures["outbox_after"] = await outbox_settled(engine, within=args.settle)
        figures["checks"] = await exactly_once(engine, load, provider)
    finally:
        if serve is not None:
            await asyncio.to_thread(serve.stop)
        await proxy.close()
        provider.stop()
        await engine.dispose()
        await db.drop()
    return figures


async def provider_run(args: argparse.Namespace, folder: Path) -> dict[str, Any]:
    """The provider answers 500, then times out, then cannot be reached, 10 s each."""
    db = await Database.create("sqlite", folder, args.postgres_url, "checkins_faults_provider")
    engine = db.engine()
    provider = Provider(folder)
    await provider.ready()
    proxy = await Proxy("127.0.0.1", provider.port).start()
    worker: ServiceProcess | None = None
    figures: dict[str, Any] = {"machine_at_start": machine_load()}
    phases = [("500", 10.0), ("timeout", 10.0), ("unreachable", 10.0), ("ok", 0.0)]
    try:
        people = await seed_participants(db.url, 300)
        await fill_outbox(db.url, people, args.messages)
        env = env_for(
            db.url,
            provider,
            TWILIO_SMS_RATE="40",
            PROVIDER_TIMEOUT_SECONDS="3",
            RECONCILE_GRACE_SECONDS=str(args.grace),
        )
        env["TWILIO_API_BASE_URL"] = f"http://127.0.0.1:{proxy.port}"
        worker = ServiceProcess("worker", env, folder / "worker.log").start()
        await worker.ready(within=120)
        began = time.monotonic()
        await asyncio.sleep(5)  # sending normally first
        marks: dict[str, float] = {}
        for mode, seconds in phases:
            marks[mode] = round(time.monotonic() - began, 1)
            if mode == "unreachable":
                await provider.mode("ok")
                await proxy.cut()
            else:
                await proxy.restore()
                await provider.mode(mode, slow=6.0)
            await asyncio.sleep(seconds)
        figures["phases_began_at_s"] = marks
        figures["outbox_after"] = await outbox_settled(engine, within=args.settle)
        figures["drained_after_recovery_s"] = round(time.monotonic() - began - marks["ok"], 1)
        figures["uncertain_when_drained"] = figures["outbox_after"].get("uncertain", 0)
        figures["outbox_after_reconciliation"] = await reconciled(engine, within=args.settle)
        figures["reconciled_after_recovery_s"] = round(time.monotonic() - began - marks["ok"], 1)
        stats = await provider.stats()
        figures["provider_answers"] = stats["answered"]
        figures["checks"] = await exactly_once(engine, Load(), provider)
    finally:
        if worker is not None:
            await asyncio.to_thread(worker.stop)
        await proxy.close()
        provider.stop()
        await engine.dispose()
    return figures


async def reconciled(engine: Any, within: float) -> dict[str, int]:
    """Wait until no row is waiting or ``uncertain`` (the reconciliation sweep settles those)."""
    return await outbox_settled(
        engine, within, busy=("pending", "claimed", "sending", "uncertain"), every=2.0
    )


RUNS = {"kill": kill_run, "database": database_run, "provider": provider_run}


async def main_async(args: argparse.Namespace) -> dict[str, Any]:
    figures: dict[str, Any] = {}
    names = list(RUNS) if args.run == "all" else [args.run]
    for name in names:
        async with scratch(keep=args.keep) as folder:
            figures[name] = await RUNS[name](args, folder)
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("run", choices=[*RUNS, "all"])
    parser.add_argument("--postgres-url", default=DEFAULT_POSTGRES)
    parser.add_argument("--participants", type=int, default=300)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--kill-at", type=float, default=8.0)
    parser.add_argument("--cut-at", type=float, default=8.0)
    parser.add_argument("--outage", type=float, default=10.0)
    parser.add_argument("--messages", type=int, default=1500, help="queued, for the provider run")
    parser.add_argument(
        "--settle", type=float, default=480.0, help="seconds to wait for the outbox"
    )
    parser.add_argument(
        "--grace", type=float, default=20.0, help="RECONCILE_GRACE_SECONDS for the provider run"
    )
    parser.add_argument("--keep", action="store_true")
    emit(asyncio.run(main_async(parser.parse_args())))


if __name__ == "__main__":
    main()
