"""Importing referrals from a CSV file: check every row, then import all of them or none.

Staff export referrals from spreadsheets, so the reader accepts what spreadsheets
write: a byte-order mark, UTF-16, semicolons or tabs instead of commas, blank lines,
trailing empty cells, numbers Excel reformatted. Every problem is reported with its
line number and a reason; nothing is imported while any row is bad, unless staff
explicitly ask to import the good rows. The file is read twice from disk (check,
then write), never held in memory, so 100,000 rows import in constant memory.
"""

from __future__ import annotations

import asyncio
import codecs
import csv
import io
import json
import re
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import IO, Any, cast

from sqlalchemy import Table, func, insert, select, text, update
from sqlalchemy.ext.asyncio import AsyncSession

from bot.errors import ValidationError
from bot.host.audit import audit
from bot.i18n.languages import normalise_language
from bot.staff.participants import CHANNELS, check_timezone
from bot.staff.phones import clean_phone
from bot.staff.profiles import postcode_district
from bot.store.models import AuditEntry, Consent, Participant, User
from bot.store.models.staff import ParticipantProfile, TierChange

MAX_ROWS = 200_000
MAX_CELL = 500
MAX_REPORTED = 100_000  # more than this many problems: the file is not a referral list
CHUNK = 1000
COLUMNS = {
    "phone": ("phone", "mobile", "mobile_number", "phone_number", "telephone", "tel", "number"),
    "language": ("language", "lang", "preferred_language"),
    "channel": ("channel",),
    "consent": ("consent", "consented", "consent_given"),
    "name": ("name", "first_name", "preferred_name"),
    "coach": ("coach", "coach_email"),
    "timezone": ("timezone", "time_zone"),
    "postcode": ("postcode", "post_code", "postcode_district"),
    "interpreter": ("interpreter", "interpreter_language"),
    "tier": ("tier",),
}
ALIASES = {alias: column for column, aliases in COLUMNS.items() for alias in aliases}
REQUIRED = ("phone", "language", "consent")
YES = {"yes", "y", "true", "1", "agreed", "given", "x", "✓"}
NO = {"no", "n", "false", "0", "", "not given", "declined"}
CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")
TEXT_CHANNELS = ("sms", "whatsapp")


@dataclass(frozen=True)
class Problem:
    line: int
    code: str
    message: str
    column: str | None = None

    def as_json(self) -> dict[str, Any]:
        return {
            "line": self.line,
            "column": self.column,
            "code": self.code,
            "message": self.message,
        }


@dataclass
class ImportReport:
    good_rows: bool
    rows: int = 0  # data rows read (blank lines not counted)
    valid: int = 0
    imported: int = 0
    file_error: Problem | None = None
    errors: list[Problem] = field(default_factory=list)
    warnings: list[Problem] = field(default_factory=list)

    @property
    def bad_rows(self) -> int:
        return len({p.line for p in self.errors})

    @property
    def committed(self) -> bool:
        return self.imported > 0

    @property
    def refused(self) -> bool:
        """Nothing imported because of a problem (not merely because the file was empty)."""
        return self.file_error is not None or (self.imported == 0 and bool(self.errors))

    def summary(self) -> str:
        if self.file_error is not None:
            return f"nothing was imported: {self.file_error.message}"
        if self.imported == 0 and self.errors:
            return (
                f"nothing was imported: {self.bad_rows} of {self.rows} rows have problems; "
                "fix them, or choose to import only the good rows"
            )
        skipped = f"; {self.bad_rows} rows with problems were skipped" if self.errors else ""
        return f"imported {self.imported} of {self.rows} rows{skipped}"

    def as_json(self) -> dict[str, Any]:
        return {
            "summary": self.summary(),
            "mode": "good_rows" if self.good_rows else "all_or_nothing",
            "rows": self.rows,
            "valid": self.valid,
            "bad_rows": self.bad_rows,
            "imported": self.imported,
            "file_error": self.file_error.as_json() if self.file_error else None,
            "errors": [p.as_json() for p in self.errors],
            "warnings": [p.as_json() for p in self.warnings],
        }


class FileProblem(Exception):
    """The file as a whole cannot be read: nothing is imported, whatever the mode."""

    def __init__(self, problem: Problem) -> None:
        self.problem = problem
        super().__init__(problem.message)


@dataclass
class _Reader:
    """Rows of a CSV file as dicts keyed by canonical column, with their line numbers."""

    text: IO[str]
    columns: list[str | None]
    reader: Iterator[list[str]]
    offset: int = 1  # lines before the first data row (the header, blank lines above it)
    line: int = 1

    def rows(self) -> Iterator[tuple[int, dict[str, str]]]:
        while True:
            try:
                cells = next(self.reader)
            except StopIteration:
                return
            except UnicodeDecodeError:
                raise FileProblem(
                    Problem(
                        self.line + 1,
                        "not_utf8",
                        "the file is not UTF-8 text; in Excel use Save As, 'CSV UTF-8'",
                    )
                ) from None
            except csv.Error as exc:
                raise FileProblem(
                    Problem(self.line + 1, "unreadable_csv", f"the CSV cannot be read: {exc}")
                ) from None
            self.line = self.offset + self.reader.line_num  # type: ignore[attr-defined]
            if not any(c.strip() for c in cells):
                continue
            extra = cells[len(self.columns) :]
            if any(c.strip() for c in extra):
                yield (
                    self.line,
                    {"": f"this row has {len(cells)} cells but the header has {len(self.columns)}"},
                )
                continue
            row = {
                column: cells[i].strip() if i < len(cells) else ""
                for i, column in enumerate(self.columns)
                if column is not None
            }
            yield self.line, row


def _open(binary: IO[bytes]) -> _Reader:
    start = binary.read(4)
    binary.seek(0)
    if start.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        encoding = "utf-16"
    else:
        encoding = "utf-8-sig"
    text = io.TextIOWrapper(binary, encoding=encoding, newline="", errors="strict")
    try:
        header = text.readline()
        consumed = 1
        while header and not header.strip():
            header = text.readline()
            consumed += 1
    except UnicodeDecodeError:
        raise FileProblem(
            Problem(1, "not_utf8", "the file is not UTF-8 text; in Excel use Save As, 'CSV UTF-8'")
        ) from None
    if not header.strip():
        raise FileProblem(Problem(1, "empty_file", "the file is empty: no header row"))
    delimiter = max(",;\t", key=header.count)
    names = next(csv.reader([header], delimiter=delimiter))
    columns: list[str | None] = []
    unknown: list[str] = []
    for raw in names:
        key = re.sub(r"[\s\-]+", "_", raw.strip().strip("\ufeff").lower())
        if not key:
            columns.append(None)  # an unnamed trailing column from a spreadsheet
            continue
        column = ALIASES.get(key)
        if column is None:
            unknown.append(raw.strip()[:40])
        elif column in columns:
            raise FileProblem(
                Problem(1, "duplicate_column", f"the column {column!r} appears twice")
            )
        columns.append(column)
    if unknown:
        raise FileProblem(
            Problem(
                1,
                "unknown_column",
                f"unknown column(s) {', '.join(repr(u) for u in unknown[:5])}; remove them "
                f"(only what the service needs is imported). Known columns: {', '.join(COLUMNS)}",
            )
        )
    missing = [c for c in REQUIRED if c not in columns]
    if missing:
        raise FileProblem(
            Problem(1, "missing_column", f"the header has no {', '.join(missing)} column")
        )
    reader = csv.reader(text, delimiter=delimiter)
    return _Reader(text, columns, reader, offset=consumed, line=consumed)


@dataclass
class _Known:
    """What rows are checked against: coaches, and phones seen earlier in the file."""

    coaches: dict[str, int]
    seen: dict[str, int] = field(default_factory=dict)


def _row_problems(
    line: int, row: dict[str, str], known: _Known
) -> tuple[dict[str, Any] | None, list[Problem], list[Problem]]:
    """Check one row: the clean values, or every problem found (not just the first)."""
    if "" in row:
        return None, [Problem(line, "too_many_cells", row[""])], []
    errors: list[Problem] = []
    warnings: list[Problem] = []
    clean: dict[str, Any] = {"line": line}

    def fail(column: str, code: str, message: str) -> None:
        errors.append(Problem(line, code, message, column))

    for column, value in row.items():
        if len(value) > MAX_CELL:
            fail(column, "too_long", f"{column} is longer than {MAX_CELL} characters")
            row[column] = ""
        elif CONTROL.search(value):
            fail(column, "control_characters", f"{column} contains control characters")
            row[column] = ""
    channel = (row.get("channel") or "sms").lower()
    if channel not in CHANNELS[:3]:
        fail(
            "channel",
            "invalid_channel",
            f"channel must be sms, whatsapp or telegram, not {channel[:20]!r}",
        )
    clean["channel"] = channel
    phone = row.get("phone", "")
    clean["phone"] = None
    if phone or channel in TEXT_CHANNELS:
        try:
            cleaned = clean_phone(phone, mobile=channel in TEXT_CHANNELS)
        except ValidationError as exc:
            fail("phone", exc.code, exc.message)
        else:
            clean["phone"] = cleaned.e164
            if cleaned.note:
                warnings.append(Problem(line, "phone_repaired", cleaned.note, "phone"))
            first = known.seen.get(cleaned.e164)
            if first is not None:
                fail("phone", "duplicate_in_file", f"the same phone number as line {first}")
    try:
        clean["language"] = normalise_language(row.get("language", ""))
    except ValidationError as exc:
        fail("language", "unknown_language", exc.message)
    consent = row.get("consent", "").lower()
    if consent not in YES:
        message = (
            "no consent recorded: only people who agreed to messages can be enrolled"
            if consent in NO
            else f"consent must be yes or no, not {consent[:20]!r}"
        )
        fail("consent", "missing_consent", message)
    name = row.get("name") or None
    if name is not None and len(name) > 200:
        fail("name", "too_long", "name is longer than 200 characters")
    clean["name"] = name
    coach = row.get("coach", "").lower()
    clean["coach_id"] = None
    if coach:
        coach_id = known.coaches.get(coach)
        if coach_id is None:
            fail("coach", "unknown_coach", f"no coach or lead with the email or id {coach[:60]!r}")
        clean["coach_id"] = coach_id
    try:
        clean["timezone"] = check_timezone(row.get("timezone") or "Europe/London")
    except ValidationError as exc:
        fail("timezone", exc.code, exc.message)
    postcode = row.get("postcode", "")
    clean["district"] = None
    if postcode:
        district = postcode_district(postcode)
        if district is None:
            fail("postcode", "invalid_postcode", "not a UK postcode or postcode district")
        clean["district"] = district
    clean["interpreter"] = row.get("interpreter") or None
    if clean["interpreter"] and len(clean["interpreter"]) > 64:
        fail("interpreter", "too_long", "interpreter language is longer than 64 characters")
    tier = row.get("tier", "")
    clean["tier"] = None
    if tier:
        if tier == "3":
            fail(
                "tier",
                "tier3_needs_note",
                "Tier 3 is a coach decision recorded with a note; set it per participant",
            )
        elif tier not in ("1", "2"):
            fail("tier", "invalid_tier", "tier must be 1 or 2")
        else:
            clean["tier"] = int(tier)
    if not errors and clean["phone"]:
        known.seen[clean["phone"]] = line
    return (None if errors else clean), errors, warnings


async def _coaches(db: AsyncSession) -> dict[str, int]:
    rows = await db.execute(
        select(User.id, User.email).where(User.role.in_(("coach", "lead")), User.active.is_(True))
    )
    coaches: dict[str, int] = {}
    for user_id, email in rows:
        coaches[email.lower()] = user_id
        coaches[str(user_id)] = user_id
    return coaches


async def _enrolled(db: AsyncSession, phones: list[str]) -> dict[str, int]:
    if not phones:
        return {}
    rows = await db.execute(
        select(Participant.phone, Participant.id).where(
            Participant.phone.in_(phones), Participant.status != "erased"
        )
    )
    return {phone: pid for phone, pid in rows if phone is not None}


def _next_chunk(
    rows: Iterator[tuple[int, dict[str, str]]], known: _Known, report: ImportReport
) -> list[dict[str, Any]]:
    """Read and check up to CHUNK rows (run in a thread: parsing numbers costs CPU)."""
    good: list[dict[str, Any]] = []
    for line, row in rows:
        report.rows += 1
        if report.rows > MAX_ROWS:
            raise FileProblem(
                Problem(line, "too_many_rows", f"more than {MAX_ROWS} rows; split the file")
            )
        clean, errors, warnings = _row_problems(line, row, known)
        report.errors.extend(errors)
        report.warnings.extend(warnings)
        if len(report.errors) > MAX_REPORTED:
            raise FileProblem(
                Problem(line, "too_many_problems", "too many problems: is this the right file?")
            )
        if clean is not None:
            good.append(clean)
        if len(good) >= CHUNK or report.rows % CHUNK == 0:
            break
    return good


async def import_participants(
    db: AsyncSession, source: IO[bytes], now: datetime, actor: str, *, good_rows: bool = False
) -> ImportReport:
    """Check every row of ``source``; import all (or, with ``good_rows``, the valid ones).

    Works inside the caller's transaction; writes nothing unless it imports.
    """
    report = ImportReport(good_rows=good_rows)
    with tempfile.TemporaryFile("w+", encoding="utf-8") as spool:
        try:
            reader = _open(source)
            known = _Known(coaches=await _coaches(db))
            rows = reader.rows()
            while True:
                before = report.rows
                chunk = await asyncio.to_thread(_next_chunk, rows, known, report)
                enrolled = await _enrolled(db, [c["phone"] for c in chunk if c["phone"]])
                for clean in chunk:
                    if clean["phone"] in enrolled:
                        report.errors.append(
                            Problem(
                                clean["line"],
                                "already_enrolled",
                                f"already enrolled as participant {enrolled[clean['phone']]}",
                                "phone",
                            )
                        )
                        continue
                    report.valid += 1
                    spool.write(json.dumps(clean) + "\n")
                if report.rows == before:
                    break
        except FileProblem as exc:
            report.file_error = exc.problem
            return report
        report.errors.sort(key=lambda p: p.line)
        report.warnings.sort(key=lambda p: p.line)
        if report.errors and not good_rows:
            return report
        spool.seek(0)
        report.imported = await _write(db, spool, now, actor)
    if report.imported:
        audit(
            db,
            now,
            actor,
            "participants.import",
            "participants",
            rows=report.rows,
            imported=report.imported,
            skipped=report.bad_rows,
            mode="good_rows" if good_rows else "all_or_nothing",
        )
    return report


async def _write(db: AsyncSession, spool: IO[str], now: datetime, actor: str) -> int:
    written = 0
    batch: list[dict[str, Any]] = []
    for line in spool:
        batch.append(json.loads(line))
        if len(batch) >= CHUNK:
            written += await _write_batch(db, batch, now, actor)
            batch = []
    if batch:
        written += await _write_batch(db, batch, now, actor)
    return written


def _table(model: type[Any]) -> Table:
    """The Core table, for plain multi-row INSERTs (no ORM bookkeeping per row)."""
    return cast(Table, model.__table__)


async def _allocate_ids(db: AsyncSession, count: int) -> list[int]:
    """Participant ids for a batch, so one multi-row INSERT can write it.

    (INSERT .. RETURNING in parameter order falls back to one statement per row on
    SQLite, which made 100,000 rows take minutes.) PostgreSQL hands out sequence
    values; on SQLite a no-op write first takes the database write lock, so the
    highest id cannot change under us before we insert.
    """
    if db.bind.dialect.name == "postgresql":
        rows = await db.execute(
            text(
                "SELECT nextval(pg_get_serial_sequence('participants', 'id')) "
                "FROM generate_series(1, :n)"
            ),
            {"n": count},
        )
        return [int(r[0]) for r in rows]
    await db.execute(
        update(Participant).where(Participant.id == -1).values(status=Participant.status)
    )
    start = int(await db.scalar(select(func.max(Participant.id))) or 0)
    return list(range(start + 1, start + 1 + count))


async def _write_batch(
    db: AsyncSession, batch: list[dict[str, Any]], now: datetime, actor: str
) -> int:
    ids = await _allocate_ids(db, len(batch))
    await db.execute(
        insert(_table(Participant)),
        [
            {
                "id": pid,
                "phone": c["phone"],
                "channel": c["channel"],
                "language": c["language"],
                "timezone": c["timezone"],
                "name": c["name"],
                "coach_id": c["coach_id"],
                "status": "active",
                "consent": True,
                "consent_at": now,
                "fields": {},
                "demo": False,
                "created_at": now,
                "updated_at": now,
            }
            for pid, c in zip(ids, batch, strict=True)
        ],
    )
    await db.execute(
        insert(_table(Consent)),
        [
            {
                "participant_id": pid,
                "channel": c["channel"],
                "given": True,
                "how": "import",
                "at": now,
            }
            for pid, c in zip(ids, batch, strict=True)
        ],
    )
    profiles = [
        {
            "participant_id": pid,
            "tier": c["tier"],
            "tier_changed_at": now if c["tier"] else None,
            "postcode_district": c["district"],
            "interpreter_needed": bool(c["interpreter"]),
            "interpreter_language": c["interpreter"],
            "beliefs_flag": False,
            "updated_at": now,
        }
        for pid, c in zip(ids, batch, strict=True)
        if c["tier"] or c["district"] or c["interpreter"]
    ]
    if profiles:
        await db.execute(insert(_table(ParticipantProfile)), profiles)
    tiers = [
        {
            "participant_id": pid,
            "from_tier": None,
            "to_tier": c["tier"],
            "note": None,
            "decided_by": None,
            "actor": actor,
            "at": now,
        }
        for pid, c in zip(ids, batch, strict=True)
        if c["tier"]
    ]
    if tiers:
        await db.execute(insert(_table(TierChange)), tiers)
    await db.execute(
        insert(_table(AuditEntry)),
        [
            {
                "at": now,
                "actor": actor,
                "action": "participant.create",
                "subject": f"participant:{pid}",
                "detail": {"via": "import"},
            }
            for pid in ids
        ],
    )
    return len(ids)
