"""Publishing versions, reloading them, and participants finishing on their own version."""

from __future__ import annotations

import shutil
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy import select

from bot.authoring.library import generation, poll_library, refresh_library, reload_library
from bot.authoring.publish import parse_compatible, publish_directory
from bot.cli import main
from bot.clock import FixedClock
from bot.errors import ValidationError
from bot.host.flows import start_flow
from bot.host.services import FlowLibrary, Services, build_services
from bot.store.models import FlowSession
from bot.store.models.authoring import FlowPublication, FlowVersion
from scheduler import build_scheduler
from tests.authoring.helpers import catalogs
from tests.conftest import make_settings
from tests.host.helpers import answers, bodies, make_participant, say

FIXTURES = Path(__file__).parent / "flows"
QUESTION_V1 = "How bad is your pain today, from 0 to 10?"
QUESTION_V2 = "How strong is your pain today, from 0 to 10?"


@pytest.fixture
def flows_dir(tmp_path: Path) -> Path:
    target = tmp_path / "flows"
    target.mkdir()
    for name in ("checkin.yaml", "talk.yaml"):
        shutil.copy(FIXTURES / name, target / name)
    return target


@pytest.fixture
async def services(
    database_url: str, clock: FixedClock, flows_dir: Path
) -> AsyncIterator[Services]:
    svc = build_services(
        make_settings(database_url), clock=clock, flows=FlowLibrary.load(flows_dir)
    )
    yield svc
    await svc.close()


def edit(flows_dir: Path, old: str, new: str, version: int | None = None) -> None:
    path = flows_dir / "checkin.yaml"
    text = path.read_text().replace(old, new)
    if version is not None:
        text = text.replace("version: 1", f"version: {version}")
    path.write_text(text)


async def publish(services: Services, flows_dir: Path, **kw: object) -> object:
    return await publish_directory(
        services.sessions,
        flows_dir,
        actor="test",
        now=services.clock.now(),
        catalogs=catalogs(),
        **kw,  # type: ignore[arg-type]
    )


async def test_publish_rules(services: Services, flows_dir: Path) -> None:
    first = await publish(services, flows_dir)
    assert [i.outcome for i in first.items] == ["published", "published"] and first.ok
    again = await publish(services, flows_dir)
    assert [i.outcome for i in again.items] == ["unchanged", "unchanged"]

    edit(flows_dir, QUESTION_V1, QUESTION_V2)
    same_version = await publish(services, flows_dir)
    refused = same_version.items[0]
    assert not same_version.ok and refused.outcome == "refused"
    assert "raise 'version' to 2" in refused.reason

    edit(flows_dir, "version: 1", "version: 2")
    bumped = await publish(services, flows_dir)
    assert [i.outcome for i in bumped.items] == ["published", "unchanged"]
    async with services.sessions() as db:
        rows = list(await db.scalars(select(FlowVersion).order_by(FlowVersion.id)))
        assert [(r.flow_id, r.version) for r in rows] == [
            ("checkin", 1),
            ("talk", 1),
            ("checkin", 2),
        ]
        assert QUESTION_V2 in rows[2].source and rows[2].published_by == "test"
        log = list(await db.scalars(select(FlowPublication).order_by(FlowPublication.id)))
        assert [p.outcome for p in log].count("refused") == 1


async def test_a_flow_with_errors_is_refused_and_the_last_good_version_kept(
    services: Services, flows_dir: Path
) -> None:
    await publish(services, flows_dir)
    edit(flows_dir, "count_recent(pain_score, 2", "count_recent(pain_score, 2", version=2)
    edit(flows_dir, '- if: wants_talk == "yes"', "- if: pain_score > 10")
    outcome = await publish(services, flows_dir)
    refused = outcome.items[0]
    assert refused.outcome == "refused" and "never be true" in refused.reason
    assert "line 39" in refused.reason
    library = FlowLibrary.load(flows_dir)
    await reload_library(library, services.sessions)
    assert library.get("checkin").version == 1  # type: ignore[union-attr]
    async with services.sessions() as db:
        row = await db.scalar(select(FlowPublication).where(FlowPublication.outcome == "refused"))
        assert (
            row is not None and row.flow_id == "checkin" and "never be true" in (row.reason or "")
        )
    (flows_dir / "checkin.yaml").write_text("id: [")
    broken = await publish(services, flows_dir)
    assert broken.items[0].outcome == "refused" and "YAML" in broken.items[0].reason


async def test_an_older_version_number_is_refused(services: Services, flows_dir: Path) -> None:
    edit(flows_dir, "version: 1", "version: 3")
    await publish(services, flows_dir)
    edit(flows_dir, "version: 3", "version: 2")
    outcome = await publish(services, flows_dir)
    assert "older than the published version 3" in outcome.items[0].reason


async def test_reload_only_when_the_counter_moves(services: Services, flows_dir: Path) -> None:
    assert await generation(services.sessions) == 0
    assert not await refresh_library(services)
    await publish(services, flows_dir)
    assert await refresh_library(services)
    assert services.flows.generation == await generation(services.sessions)
    assert services.flows.get("checkin").file == "published:checkin@1"  # type: ignore[union-attr]
    assert not await refresh_library(services)


async def test_a_participant_finishes_on_the_version_they_started(
    services: Services, flows_dir: Path
) -> None:
    await publish(services, flows_dir)
    await refresh_library(services)
    early = await make_participant(services, name="Early Bird")
    async with services.sessions() as db, db.begin():
        await start_flow(services, db, early, "checkin")

    edit(flows_dir, QUESTION_V1, QUESTION_V2, version=2)
    edit(flows_dir, 'ask: "Did pain wake you?"', 'ask: "Did pain wake you last night?"')
    await publish(services, flows_dir)
    assert await refresh_library(services)

    late = await make_participant(services, name="Late")
    async with services.sessions() as db, db.begin():
        await start_flow(services, db, late, "checkin")
    await say(services, early, "4")
    await say(services, late, "4")

    early_said, late_said = await bodies(services, early), await bodies(services, late)
    assert early_said[1].startswith(QUESTION_V1) and early_said[2].startswith("Did pain wake you?")
    assert late_said[1].startswith(QUESTION_V2)
    assert late_said[2].startswith("Did pain wake you last night?")
    assert (await answers(services, early))["pain_score"] == 4
    async with services.sessions() as db:
        versions = {s.participant_id: s.flow_version for s in await db.scalars(select(FlowSession))}
    assert versions == {early.id: 1, late.id: 2}


async def test_a_compatible_change_moves_waiting_participants(
    services: Services, flows_dir: Path
) -> None:
    await publish(services, flows_dir)
    await refresh_library(services)
    person = await make_participant(services)
    async with services.sessions() as db, db.begin():
        await start_flow(services, db, person, "checkin")
    edit(flows_dir, 'ask: "Did pain wake you?"', 'ask: "Did pain wake you up?"', version=2)
    outcome = await publish(services, flows_dir, compatible=parse_compatible(["checkin"]))
    assert "participants on version 1 move to it" in outcome.items[0].reason
    await refresh_library(services)
    await say(services, person, "4")
    assert (await bodies(services, person))[-1].startswith("Did pain wake you up?")
    async with services.sessions() as db:
        session = await db.scalar(select(FlowSession))
        assert session is not None and session.flow_version == 2
        assert session.state["engine"]["flow_version"] == 2


async def test_no_move_where_the_step_is_gone(services: Services, flows_dir: Path) -> None:
    await publish(services, flows_dir)
    await refresh_library(services)
    person = await make_participant(services)
    async with services.sessions() as db, db.begin():
        await start_flow(services, db, person, "checkin")
    edit(flows_dir, "  - id: pain\n", "  - id: pain_now\n", version=2)
    await publish(services, flows_dir, compatible={"checkin": None})
    await refresh_library(services)
    await say(services, person, "4")
    assert (await bodies(services, person))[-1].startswith("Did pain wake you?")  # still v1
    async with services.sessions() as db:
        session = await db.scalar(select(FlowSession))
        assert session is not None and session.flow_version == 1


def test_parse_compatible() -> None:
    assert parse_compatible(["a", "b:1,2", "b:3"]) == {
        "a": None,
        "b": frozenset({1, 2, 3}),
    }
    with pytest.raises(ValidationError):
        parse_compatible(["b:one"])


async def test_the_scheduler_polls_for_publishes(services: Services) -> None:
    scheduler = build_scheduler(services)
    job = scheduler.get_job("flows_reload")
    assert job is not None and job.trigger.interval.total_seconds() <= 10


async def test_poll_library_reloads_then_stops(services: Services, flows_dir: Path) -> None:
    import asyncio

    await publish(services, flows_dir)
    stop = asyncio.Event()
    task = asyncio.create_task(poll_library(services, stop, every=0.01))
    for _ in range(200):
        if services.flows.generation:
            break
        await asyncio.sleep(0.01)
    stop.set()
    await asyncio.wait_for(task, timeout=5)
    assert services.flows.generation == await generation(services.sessions)


def test_the_publish_command(
    sqlite_url: str,
    flows_dir: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("DATABASE_URL", sqlite_url)
    assert main(["flows", "publish", "--dir", str(flows_dir), "--by", "sam"]) == 0
    out = capsys.readouterr().out
    assert "published  checkin version 1" in out and "2 published, 0 unchanged, 0 refused" in out
    edit(flows_dir, QUESTION_V1, QUESTION_V2)
    assert main(["flows", "publish", "--dir", str(flows_dir)]) == 1
    assert "refused    checkin version 1" in capsys.readouterr().out
