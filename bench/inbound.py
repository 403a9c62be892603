#!/usr/bin/env python3
"""Inbound turns: signed Twilio webhooks from participants who are mid-check-in.

    python bench/inbound.py --database sqlite
    python bench/inbound.py --database postgresql [--postgres-url postgresql+asyncpg://...]
    python bench/inbound.py --database sqlite --profile      # py-spy on the serve process
    python bench/inbound.py --database sqlite --replies      # wait for each reply too
    python bench/inbound.py --database postgresql --serves 2 # two serve processes
    python bench/inbound.py --database sqlite --count-statements  # SQL per turn, counted
    python bench/inbound.py --database sqlite --gc-pauses  # the collector's pauses, timed
    python bench/inbound.py --database postgresql --loop-lag  # how late the loop comes back
    python bench/inbound.py --database sqlite --rate 150 --seconds 40 --fanout 10000  # beside a burst
    python bench/inbound.py --database sqlite --rate 150 --seconds 40 --timeouts 10000  # of timeouts
    python bench/inbound.py --database sqlite --rate 50 --seconds 100 --timeouts 10000  # and their review

One ``python -m bot serve`` process (scheduler and outbox sender in-process, replies
going out to ``bench/provider.py``, a local fake Twilio) gets ``--connections``
concurrent clients answering the sleep check-in for ``--seconds``; each participant
has one message in flight at a time, and when their check-in ends the client starts
the next one through the API (counted as ``flow_starts``, not as turns). Then, in
the same run, the same load goes to a bare aiohttp handler that only parses the form
and answers ``<Response/>``. Afterwards the database and the fake provider are
checked: every 2xx'd message stored and processed once, every reply sent once.
Figures are printed as JSON. ``serve.per_second`` counts turns until the load stopped;
``serve.per_second_with_replies_out`` counts them until the last reply reached the
provider (``drain_seconds`` later), which is the rate a deployment could hold when the
sender falls behind the intake. ``reply_delay`` is what participants wait: from each text
queued during the load (its row's ``created_at``) to the provider taking it, as
percentiles and as the median of each second of the load. Clients that answer without
waiting for the question (the default) are not people: ``--replies`` waits for each
question first, as a participant must; ``--openers`` waits only for a new check-in's
first question, so an open loop (``--rate``) is not answering questions not yet sent.

``--serves N`` (PostgreSQL only) runs N ``serve`` processes on the one database, each
sending in-process, with the clients spread evenly over them: how production grows
past one core. The serve figures are then the sum (CPU) or the whole (latencies).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.burst import (  # noqa: E402
    Reviews,
    chart,
    move_timeouts,
    report,
    seed_due,
    started_before,
)
from bench.harness import (  # noqa: E402
    Database,
    MachineCpu,
    Person,
    Profiler,
    Provider,
    Sampler,
    batch_sizes,
    drive,
    emit,
    engine_arguments,
    env_for,
    exactly_once,
    inbound_settled,
    machine_load,
    outbox_settled,
    phone_of,
    reply_delays,
    rss_mb,
    scratch,
    seed_history,
    seed_participants,
    stagger,
    start_all,
)
from tests.system.processes import ServiceProcess, daytime_zone, free_port  # noqa: E402

PROBES = ROOT / "bench" / "probes"  # sitecustomize for the service processes
EMPTY_TWIML = '<?xml version="1.0" encoding="UTF-8"?><Response/>'


async def bare_server(port: int) -> None:
    """The floor: parse the form, answer empty TwiML, nothing else."""
    from aiohttp import web

    async def handler(request: web.Request) -> web.Response:
        await request.post()
        return web.Response(text=EMPTY_TWIML, content_type="text/xml")

    async def healthz(request: web.Request) -> web.Response:
        return web.json_response({"status": "ok"})

    app = web.Application()
    app.router.add_post("/webhooks/twilio", handler)
    app.router.add_get("/healthz", healthz)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    print("bare handler running", flush=True)
    await asyncio.Event().wait()


def start_bare(folder: Path) -> ServiceProcess:
    port = free_port()
    bare = ServiceProcess("serve", {}, folder / "bare.log", port=port, starts=1)
    with (folder / "bare.log").open("ab") as log:
        bare.popen = subprocess.Popen(
            [sys.executable, __file__, "--bare-server", str(port)],
            stdout=log, stderr=subprocess.STDOUT, cwd=ROOT,
        )  # fmt: skip
    return bare


async def measure_bare(folder: Path, people: list[Person], args: argparse.Namespace) -> Any:
    bare = start_bare(folder)
    try:
        await bare.ready()
        load_before = machine_load()
        load = await drive(
            bare.url, people, seconds=args.seconds, connections=args.connections,
            restart_flows=False, rate=args.rate,
        )  # fmt: skip
        return {**load.summary(), "machine_before": load_before, "machine_after": machine_load()}
    finally:
        bare.stop()


async def run(args: argparse.Namespace) -> dict[str, Any]:
    figures: dict[str, Any] = {
        "engine": args.database,
        "participants_in_check_in": args.participants,
        "participants_in_database": args.participants + args.extra_participants,
        "history_weeks": args.history,
        "connections": args.connections,
        "sending": "worker process" if args.worker else "in the serve process",
        "machine_at_start": machine_load(),
    }
    if args.serves > 1:
        figures["serve_processes"] = args.serves
    async with scratch(keep=args.keep) as folder:
        db = await Database.create(args.database, folder, args.postgres_url, "checkins_bench")
        engine = db.engine()
        provider = Provider(folder)
        serves: list[ServiceProcess] = []
        worker: ServiceProcess | None = None
        try:
            if args.extra_participants:
                await seed_participants(db.url, args.extra_participants, first=args.participants)
            ids = await seed_participants(db.url, args.participants)
            burst_ids: list[int] = []
            burst = args.fanout or args.timeouts
            if burst:
                zone = daytime_zone(datetime.now(UTC))
                figures["fanout_zone"] = zone
                first = args.participants + args.extra_participants
                burst_ids = await seed_participants(db.url, burst, first, timezone=zone)
            if args.history:
                figures["history_rows"] = await seed_history(db.url, ids, args.history)
            people = [Person(pid, phone_of(i)) for i, pid in enumerate(ids)]
            await provider.ready()
            in_process = "false" if args.worker else "true"
            if args.count_statements or args.gc_pauses or args.loop_lag:  # bench/probes
                args.env["PYTHONPATH"] = os.pathsep.join([str(PROBES), str(ROOT)])
            if args.count_statements:
                args.env["STATEMENTS_OUT"] = str(folder / "statements")
            if args.gc_pauses:
                args.env["GC_PAUSES_OUT"] = str(folder / "gc")
            if args.loop_lag:
                args.env["LOOP_LAG_OUT"] = str(folder / "loop")
            env = env_for(db.url, provider, RUN_WORKERS_IN_PROCESS=in_process, **args.env)
            for n in range(args.serves):
                log_name = "serve.log" if n == 0 else f"serve-{n + 1}.log"
                serves.append(ServiceProcess("serve", env, folder / log_name).start())
            for process in serves:
                await process.ready(within=120)
            serve = serves[0]
            if args.worker:  # the production layout on PostgreSQL: sending in its own process
                worker = ServiceProcess("worker", env, folder / "worker.log").start()
                await worker.ready(within=120)
            await start_all(serve.url, people)
            if burst:
                figures["staggered_answers"] = await stagger(serve.url, people)
            if args.timeouts:  # their check-ins start now, through the service's own sweep
                await seed_due(db.url, burst_ids, datetime.now(UTC))
                figures["timeouts_not_started"] = await started_before(engine, within=600)
            await outbox_settled(engine, within=120)  # the opening questions have gone out
            figures["serve_rss_before_mb"] = round(rss_mb(serve.pid), 1)
            samplers = [Sampler(process.pid).start() for process in serves]
            profiler = (
                Profiler(serve.pid, args.seconds, folder / "profile.txt") if args.profile else None
            )
            worker_profiler = (
                Profiler(worker.pid, args.seconds, folder / "worker-profile.txt")
                if args.profile and worker is not None
                else None
            )
            worker_sampler = Sampler(worker.pid).start() if worker is not None else None
            due_at = datetime.now(UTC) + timedelta(seconds=args.fanout_at)
            if args.fanout:
                await seed_due(db.url, burst_ids, due_at)
            if args.timeouts:
                figures["timeouts_moved"] = await move_timeouts(db.url, burst_ids, due_at)
            load_before = machine_load()
            machine_cpu = MachineCpu()
            load_started = datetime.now(UTC)
            reviews = Reviews(engine).start() if args.timeouts else None
            load = await drive(
                [process.url for process in serves], people, seconds=args.seconds,
                connections=args.connections, rate=args.rate,
                replies=provider.url if args.replies else None,
                openers=provider.url if args.openers else None,
            )  # fmt: skip
            stopped, load_stopped = time.monotonic(), datetime.now(UTC)
            if reviews is not None:  # the review sweep (every 60 s) after the timeouts
                figures["reviews"] = await reviews.stop()
            figures["serve"] = {
                **load.summary(),
                **together([await sampler.stop() for sampler in samplers]),
                "machine_before": load_before,
                "machine_after": machine_load(),
                "cores_by_process": machine_cpu.stop(),
            }
            figures["serve"].update(together([await batch_sizes(p.url) for p in serves]))
            # Replies not yet at the provider when the load stopped: a sender that fell
            # behind would make turns per second look better than a whole turn is.
            figures["outbox_when_load_stopped"] = await outbox_settled(engine, within=0)
            if worker_sampler is not None:
                figures["worker"] = await worker_sampler.stop()
            if profiler is not None:
                figures["profile_top"] = profiler.finish()
            if worker_profiler is not None:
                figures["worker_profile_top"] = worker_profiler.finish()
            if profiler is not None and args.keep:
                figures["profile_file"] = str(folder / "profile.txt")
            figures["outbox_after"] = await outbox_settled(engine, within=args.drain, every=0.1)
            figures["serve"].update(with_replies_out(figures, stopped))
            figures["inbound_unprocessed_after"] = await inbound_settled(engine, within=60)
            figures["checks"] = await exactly_once(engine, load, provider)
            figures["reply_delay"] = await reply_delays(
                engine, provider, load_started, load_stopped, set(ids) if burst_ids else None
            )
            if burst_ids:
                figures["fanout"] = await report(
                    engine, provider, load, burst_ids, load_started, due_at, bool(args.timeouts)
                )
            for process in [*serves, worker]:
                if process is not None:
                    process.stop()
            serves, worker = [], None
            if args.count_statements:
                figures["statements"] = counted(
                    folder, len(load.accepted) + load.starts + len(people)
                )
            if args.loop_lag:
                figures["loop_lag"] = loop_lag(folder, load_started, load_stopped)
            if args.gc_pauses:
                figures["gc_pauses"] = [
                    json.loads(path.read_text()) for path in sorted(folder.glob("gc.*.json"))
                ]
            if not args.skip_bare:
                figures["bare"] = await measure_bare(folder, people, args)
                serve_rate = figures["serve"]["per_second"] or 0
                bare_rate = figures["bare"]["per_second"] or 1
                figures["ratio_to_bare"] = round(serve_rate / bare_rate, 3)
        finally:
            for process in [*serves, worker]:
                if process is not None:
                    process.stop()
            provider.stop()
            await engine.dispose()
            if not args.keep:
                await db.drop()
    return figures


def with_replies_out(figures: dict[str, Any], stopped: float) -> dict[str, Any]:
    """Turns a second counted until the last reply reached the provider, not until the
    load stopped: in the closed loop the sender can fall behind the intake, and the rate
    then says more than a deployment could hold. None if the outbox did not drain."""
    if any(figures["outbox_after"].get(s, 0) for s in ("pending", "claimed", "sending")):
        return {"drain_seconds": None, "per_second_with_replies_out": None}
    drain, serve = time.monotonic() - stopped, figures["serve"]
    return {
        "drain_seconds": round(drain, 2),
        "per_second_with_replies_out": round(serve["ok"] / (serve["seconds"] + drain), 1),
    }


def counted(folder: Path, units: int) -> dict[str, Any]:
    """What the service processes ran over the whole run (the opening starts and the
    drain included), per ``units``: the turns and flow starts, the opening ones too."""
    transactions: Counter[str] = Counter()
    statements: Counter[str] = Counter()
    waited: Counter[str] = Counter()
    by_task: Counter[str] = Counter()
    prepared: Counter[str] = Counter()
    prepare_ms = 0.0
    for path in folder.glob("statements.*.json"):
        found = json.loads(path.read_text())
        prepared.update(found.get("prepared", {}))
        prepare_ms += found.get("prepare_ms", 0.0)
        transactions.update(found["transactions"])
        statements.update(found["statements"])
        waited.update(found["statement_ms_by_task"])
        by_task.update(found["statements_by_task"])
    return {
        "turns_and_starts": units,
        "transactions": dict(transactions),
        "statements": statements.total(),
        "per_turn_or_start": {
            "statements": round(statements.total() / max(units, 1), 2),
            "commits": round(transactions["commit"] / max(units, 1), 3),
        },
        "most_run": statements.most_common(25),
        "statement_ms_by_task": {task: round(ms) for task, ms in waited.most_common()},
        "statements_by_task": dict(by_task.most_common()),
        # PostgreSQL: statements prepared on the server (per connection and text), and
        # the wall time spent preparing them.
        "prepared": prepared.total(),
        "prepare_ms": round(prepare_ms),
        "most_prepared": prepared.most_common(10),
    }


def loop_lag(folder: Path, started: datetime, stopped: datetime) -> dict[str, Any]:
    """How late the serve process's event loop came back to a ready timer during the
    load (``bench/probes/probe_loop.py``): the wait of any task that was ready."""
    lateness = sorted(
        late
        for path in folder.glob("loop.*.json")
        for at, late in json.loads(path.read_text())["samples"]
        if started.timestamp() <= at <= stopped.timestamp()
    )
    if not lateness:
        return {"samples": 0}

    def at(share: float) -> float:
        return round(lateness[min(len(lateness) - 1, int(share * len(lateness)))], 2)

    return {
        "samples": len(lateness),
        "mean_ms": round(sum(lateness) / len(lateness), 2),
        "p50_ms": at(0.5), "p90_ms": at(0.9), "p99_ms": at(0.99), "max_ms": lateness[-1],
    }  # fmt: skip


def together(parts: list[dict[str, float]]) -> dict[str, float]:
    """Several serve processes' samples as one: CPU and batches summed, RSS the largest,
    the mean batch weighted by batches."""
    if len(parts) == 1:
        return parts[0]
    whole: dict[str, float] = {}
    for key in ("cpu_cores_used", "batches"):
        if any(key in part for part in parts):
            whole[key] = round(sum(part.get(key, 0.0) for part in parts), 2)
    for key in ("rss_start_mb", "rss_peak_mb", "rss_end_mb"):
        if any(key in part for part in parts):
            whole[key] = max(part.get(key, 0.0) for part in parts)
    if whole.get("batches"):
        weighted = sum(part.get("mean_batch", 0.0) * part.get("batches", 0.0) for part in parts)
        whole["mean_batch"] = round(weighted / whole["batches"], 1)
    return whole


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    engine_arguments(p)
    p.add_argument("--participants", type=int, default=1000)
    p.add_argument("--extra-participants", type=int, default=0, help="idle rows besides them")
    p.add_argument(
        "--history", type=int, default=0, metavar="WEEKS",
        help="weeks of finished check-ins per participant before the run (PostgreSQL: analysed)",
    )  # fmt: skip
    p.add_argument("--seconds", type=float, default=20.0)
    p.add_argument("--connections", type=int, default=32)
    p.add_argument("--rate", type=float, help="offer this many turns a second (open loop)")
    p.add_argument("--drain", type=float, default=180.0, help="seconds to wait for the outbox")
    p.add_argument("--profile", action="store_true", help="py-spy the serve process")
    p.add_argument("--worker", action="store_true", help="send from a separate worker process")
    p.add_argument("--serves", type=int, default=1, help="serve processes (PostgreSQL only)")
    p.add_argument(
        "--count-statements", action="store_true",
        help="count the service's SQL statements and transactions (bench/probes)",
    )  # fmt: skip
    p.add_argument(
        "--gc-pauses", action="store_true",
        help="time every garbage collection in the service processes (bench/probes)",
    )  # fmt: skip
    p.add_argument(
        "--loop-lag", action="store_true",
        help="how late the serve process's event loop comes back to a ready task (bench/probes)",
    )  # fmt: skip
    p.add_argument(
        "--replies", action="store_true",
        help="each person waits for the reply to reach the provider before answering again",
    )  # fmt: skip
    p.add_argument(
        "--openers", action="store_true",
        help="each person waits for a new check-in's first question before answering it",
    )  # fmt: skip
    p.add_argument(
        "--fanout", type=int, default=0, metavar="N",
        help="N more participants whose check-in falls due during the load (bench/burst.py); "
        "the people answering are staggered, so their check-ins do not end together",
    )  # fmt: skip
    p.add_argument(
        "--fanout-at", type=float, default=5.0, metavar="S",
        help="seconds into the load their check-ins fall due (the scheduler sweeps every 15 s)",
    )  # fmt: skip
    p.add_argument(
        "--timeouts", type=int, default=0, metavar="N",
        help="N more participants whose check-in starts before the load and whose first "
        "question times out --fanout-at seconds into it (the timeouts sweep runs every 15 s)",
    )  # fmt: skip
    p.add_argument("--svg", type=Path, help="with --fanout or --timeouts: draw the seconds here")
    p.add_argument("--skip-bare", action="store_true")
    p.add_argument("--keep", action="store_true", help="keep the scratch folder and database")
    p.add_argument("--env", action="append", default=[], help="NAME=value for the service")
    p.add_argument("--bare-server", type=int, help=argparse.SUPPRESS)
    return p


def main() -> None:
    args = parser().parse_args()
    if args.bare_server:
        asyncio.run(bare_server(args.bare_server))
        return
    args.env = dict(item.split("=", 1) for item in args.env)
    if args.fanout and args.timeouts:
        parser().error("--fanout and --timeouts are two different bursts: one at a time")
    if args.serves < 1 or (args.serves > 1 and args.database != "postgresql"):
        parser().error("--serves above 1 needs --database postgresql (SQLite has one writer)")
    figures = asyncio.run(run(args))
    if args.svg is not None and "fanout" in figures:
        if args.timeouts:
            title = f"{args.timeouts:,} questions timing out beside the answers ({args.database})"
            drawn = chart(figures["fanout"]["by_second"], title, "questions timed out")
        else:
            title = f"{args.fanout:,} check-ins falling due beside the answers ({args.database})"
            drawn = chart(figures["fanout"]["by_second"], title)
        args.svg.write_text(drawn)
        figures["fanout"]["chart"] = str(args.svg)
    emit(figures)


if __name__ == "__main__":
    main()
