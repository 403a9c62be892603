"""The deprivation decile of a postcode district, from a lookup CSV the service is given.

Index of Multiple Deprivation deciles are published per small area (LSOA); the
evaluation team supplies a file mapping each postcode district to a decile
(1 = most deprived 10%). We store only the district, never a full address.
"""

from __future__ import annotations

import csv
from functools import lru_cache
from pathlib import Path

from bot.errors import ConfigError

DISTRICT_COLUMNS = ("postcode_district", "district", "postcode", "outcode")
DECILE_COLUMNS = ("decile", "imd_decile", "deprivation_decile")


@lru_cache(maxsize=4)
def _load(path: str, mtime: float) -> dict[str, int]:
    with Path(path).open(encoding="utf-8-sig", newline="") as handle:
        reader = csv.DictReader(handle)
        fields = {name.strip().lower(): name for name in reader.fieldnames or []}
        district = next((fields[c] for c in DISTRICT_COLUMNS if c in fields), None)
        decile = next((fields[c] for c in DECILE_COLUMNS if c in fields), None)
        if district is None or decile is None:
            raise ConfigError(
                f"DEPRIVATION_LOOKUP needs a postcode_district and a decile column: {path}"
            )
        table: dict[str, int] = {}
        for row in reader:
            key = (row.get(district) or "").replace(" ", "").upper()
            value = (row.get(decile) or "").strip()
            if key and value.isdigit() and 1 <= int(value) <= 10:
                table[key] = int(value)
        return table


def decile_lookup(path: str | None) -> dict[str, int] | None:
    """District -> decile, or None when no lookup file is configured."""
    if path is None:
        return None
    return _load(path, Path(path).stat().st_mtime)
