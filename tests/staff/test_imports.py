"""Importing referrals from CSV: every bad row reported, all or nothing, spreadsheet quirks."""

from __future__ import annotations

import io
from typing import Any

from aiohttp.test_utils import TestClient
from sqlalchemy import func, select

from bot.host.services import Services
from bot.staff.imports import ImportReport, import_participants
from bot.store.models import AuditEntry, Consent, Participant, User
from bot.store.models.staff import ParticipantProfile, TierChange
from tests.staff.conftest import AUTH

HEADER = "phone,language,channel,consent,name,coach\n"


async def run_import(
    services: Services, text: str | bytes, *, good_rows: bool = False
) -> ImportReport:
    data = text.encode() if isinstance(text, str) else text
    async with services.sessions() as db, db.begin():
        return await import_participants(
            db, io.BytesIO(data), services.clock.now(), "test", good_rows=good_rows
        )


async def count(services: Services, model: Any = Participant) -> int:
    async with services.sessions() as db:
        return int(await db.scalar(select(func.count()).select_from(model)) or 0)


async def phones(services: Services) -> list[str | None]:
    async with services.sessions() as db:
        return list(await db.scalars(select(Participant.phone).order_by(Participant.id)))


async def test_a_clean_file_imports_every_row(services: Services, coach: User) -> None:
    report = await run_import(
        services,
        HEADER
        + "07911 123456,en,sms,yes,Ann,coach@example.org\n"
        + "+447911123457,ur,whatsapp,Y,Bilal,\n"
        + ",pl,telegram,true,,\n",
    )
    assert report.errors == [] and report.imported == 3, report.as_json()
    assert await phones(services) == ["+447911123456", "+447911123457", None]
    async with services.sessions() as db:
        first = await db.scalar(select(Participant).order_by(Participant.id))
        assert first is not None
        assert first.coach_id == coach.id and first.consent and first.language == "en"
        assert await db.scalar(select(func.count()).select_from(Consent)) == 3
        actions = list(await db.scalars(select(AuditEntry.action)))
    assert actions.count("participant.create") == 3 and "participants.import" in actions


async def test_every_bad_row_is_listed_with_its_line_and_nothing_is_imported(
    services: Services, coach: User
) -> None:
    report = await run_import(
        services,
        HEADER
        + "07911 123456,en,sms,yes,Ann,\n"  # line 2: fine
        + "12345,en,sms,yes,,\n"  # 3: invalid number
        + "07911 123457,xx,sms,yes,,\n"  # 4: unknown language
        + "07911 123456,en,sms,yes,,\n"  # 5: duplicate of line 2
        + "07911 123458,en,sms,no,,\n"  # 6: no consent
        + "07911 123459,en,fax,yes,,\n"  # 7: bad channel
        + "07911 123460,en,sms,yes,,nobody@example.org\n"  # 8: unknown coach
        + "01274 123456,en,sms,yes,,\n",  # 9: a landline cannot get texts
    )
    got = {(p.line, p.code) for p in report.errors}
    assert got == {
        (3, "invalid_phone"),
        (4, "unknown_language"),
        (5, "duplicate_in_file"),
        (6, "missing_consent"),
        (7, "invalid_channel"),
        (8, "unknown_coach"),
        (9, "not_mobile"),
    }
    assert report.imported == 0 and report.refused and report.bad_rows == 7
    assert "nothing was imported" in report.summary()
    assert await count(services) == 0
    assert await count(services, AuditEntry) == 1  # only the coach's creation


async def test_good_rows_mode_imports_the_good_ones_and_reports_the_rest(
    services: Services,
) -> None:
    report = await run_import(
        services,
        HEADER + "07911 123456,en,sms,yes,,\n12345,en,sms,yes,,\n07911 123457,en,sms,no,,\n",
        good_rows=True,
    )
    assert report.imported == 1 and report.bad_rows == 2 and not report.refused
    assert await phones(services) == ["+447911123456"]


async def test_a_phone_number_already_enrolled_is_a_duplicate(services: Services) -> None:
    await run_import(services, HEADER + "07911 123456,en,sms,yes,,\n")
    report = await run_import(services, HEADER + "+44 7911 123456,en,sms,yes,,\n")
    assert [(p.line, p.code) for p in report.errors] == [(2, "already_enrolled")]
    assert await count(services) == 1


async def test_bom_semicolons_blank_lines_and_crlf_are_read(services: Services) -> None:
    text = "\ufeffPhone;Language;Consent\r\n\r\n07911 123456;ur;Yes\r\n;;\r\n07911 123457;pa-Arab;yes\r\n"
    report = await run_import(services, text.encode("utf-8"))
    assert report.errors == [] and report.imported == 2 and report.rows == 2
    async with services.sessions() as db:
        assert list(await db.scalars(select(Participant.language).order_by(Participant.id))) == [
            "ur",
            "pa_Arab",
        ]


async def test_a_utf16_file_from_excel_is_read(services: Services) -> None:
    text = "phone\tlanguage\tconsent\tname\r\n07911 123456\tbn\tyes\tরহিম\r\n"
    report = await run_import(services, text.encode("utf-16"))
    assert report.imported == 1, report.as_json()


async def test_excel_mangled_numbers_are_recovered_or_refused_clearly(services: Services) -> None:
    report = await run_import(
        services,
        "phone,language,consent\n"
        "7.7009E+11,en,yes\n"  # digits lost: refuse
        "4.47911123456E+11,en,yes\n"  # all digits present: recover
        "7911123457,en,yes\n",  # leading zero dropped: recover
        good_rows=True,
    )
    assert [(p.line, p.code) for p in report.errors] == [(2, "spreadsheet_number")]
    assert "Text" in report.errors[0].message
    assert {p.line for p in report.warnings} == {3, 4}
    assert await phones(services) == ["+447911123456", "+447911123457"]


async def test_line_numbers_count_blank_lines_and_quoted_newlines(services: Services) -> None:
    text = 'phone,language,consent,name\n\n07911 123456,en,yes,"two\nlines"\n12345,en,yes,x\n'
    report = await run_import(services, text)
    assert [(p.line, p.code) for p in report.errors] == [(5, "invalid_phone")]


async def test_file_level_problems_refuse_the_whole_file(services: Services) -> None:
    cases = {
        "": "empty_file",
        "phone,language\n07911 123456,en\n": "missing_column",
        "phone,language,consent,nhs_number\n07911 123456,en,yes,1\n": "unknown_column",
        "phone,phone,language,consent\n": "duplicate_column",
    }
    for text, code in cases.items():
        report = await run_import(services, text, good_rows=True)
        assert report.file_error is not None and report.file_error.code == code, text
    report = await run_import(services, b"phone,language,consent\n07911 123456,en,\xff\xfe\xfa\n")
    assert report.file_error is not None and report.file_error.code == "not_utf8"
    assert await count(services) == 0


async def test_wide_rows_long_cells_and_html_are_refused_per_row(services: Services) -> None:
    report = await run_import(
        services,
        "phone,language,consent,name\n"
        "07911 123456,en,yes,Ann,surprise\n"
        f"07911 123457,en,yes,{'x' * 600}\n"
        "07911 123458,en,yes,Ann,,,\n"  # trailing empty cells from a spreadsheet are fine
        "07911 123459,en,yes,<script>alert(1)</script>\n",  # stored as text, escaped on output
        good_rows=True,
    )
    assert [(p.line, p.code) for p in report.errors] == [(2, "too_many_cells"), (3, "too_long")]
    assert report.imported == 2


async def test_postcode_interpreter_and_tier_columns_fill_the_profile(services: Services) -> None:
    report = await run_import(
        services,
        "phone,language,consent,postcode,interpreter,tier\n"
        "07911 123456,ur,yes,bd3 9ab,Pahari-Pothwari,1\n"
        "07911 123457,en,yes,ZZ,,\n"
        "07911 123458,en,yes,,,3\n",
        good_rows=True,
    )
    assert [(p.line, p.code) for p in report.errors] == [
        (3, "invalid_postcode"),
        (4, "tier3_needs_note"),
    ]
    async with services.sessions() as db:
        profile = await db.scalar(select(ParticipantProfile))
        assert profile is not None
        assert profile.postcode_district == "BD3" and profile.interpreter_needed
        assert profile.interpreter_language == "Pahari-Pothwari" and profile.tier == 1
        assert await db.scalar(select(func.count()).select_from(TierChange)) == 1


async def test_the_api_imports_a_csv_body(client: TestClient[Any, Any], services: Services) -> None:
    body = HEADER + "07911 123456,en,sms,yes,,\n12345,en,sms,yes,,\n"
    headers = {**AUTH, "Content-Type": "text/csv"}
    response = await client.post("/api/participants/import", data=body, headers=headers)
    assert response.status == 422
    refused = await response.json()
    assert refused["error"]["code"] == "invalid_rows" and refused["imported"] == 0
    assert refused["errors"] == [
        {
            "line": 3,
            "column": "phone",
            "code": "invalid_phone",
            "message": "not a valid phone number",
        }
    ]
    assert await count(services) == 0
    response = await client.post(
        "/api/participants/import?good_rows=true", data=body, headers=headers
    )
    assert response.status == 201
    assert (await response.json())["imported"] == 1


async def test_the_api_refuses_other_content_types(client: TestClient[Any, Any]) -> None:
    response = await client.post("/api/participants/import", json={"a": 1}, headers=AUTH)
    assert response.status == 415
    assert (await response.json())["error"]["code"] == "unsupported_media_type"
    response = await client.post(
        "/api/participants/import?good_rows=maybe",
        data="x",
        headers={**AUTH, "Content-Type": "text/csv"},
    )
    assert response.status == 400


async def test_a_large_file_imports_in_one_go(services: Services) -> None:
    rows = 10_000
    lines = [f"+4479{i:08d},en,sms,yes,,\n" for i in range(rows)]
    report = await run_import(services, HEADER + "".join(lines))
    assert report.errors == [] and report.imported == rows
    assert await count(services) == rows


async def test_an_upload_over_the_size_limit_is_a_413(
    client: TestClient[Any, Any], services: Services, monkeypatch: Any
) -> None:
    import bot.api.imports

    monkeypatch.setattr(bot.api.imports, "MAX_UPLOAD", 100)
    body = HEADER + "07911 123456,en,sms,yes,,\n" * 10
    response = await client.post(
        "/api/participants/import", data=body, headers={**AUTH, "Content-Type": "text/csv"}
    )
    assert response.status == 413
    assert (await response.json())["error"]["code"] == "too_large"
    assert await count(services) == 0
