"""Reading JSON columns: the standard library's own scanner, called directly.

A turn reads about eighteen JSON values (its session's state, the answers its flow looks
back at), most of them a number or a short word. ``json.loads`` reaches the C scanner
through three layers of Python (``loads``, ``decode``, ``raw_decode``); for a value of a
few characters those layers cost four times the scan. ``loads`` here calls the scanner
and gives anything it does not take whole to ``json.loads``, so the result, and every
error, is ``json.loads``'s. (orjson was tried: it reads an integer past 64 bits as a
float, silently.)

SQLite hands a stored number back as a number (a JSON column has NUMERIC affinity), which
``json.loads`` refuses with a TypeError that SQLAlchemy's SQLite JSON type catches to
return the number as it is. ``loads`` returns it at once: the same value, without raising
and catching an exception for most of the answers a turn reads.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from json.scanner import make_scanner
from typing import Any

_scan: Callable[[str, int], tuple[Any, int]] = make_scanner(json.JSONDecoder())  # type: ignore[arg-type]


def loads(text: str | bytes | int | float) -> Any:
    if type(text) is str:
        try:
            value, end = _scan(text, 0)
        except StopIteration:  # leading space, or not JSON: json.loads says which
            return json.loads(text)
        if end == len(text):
            return value
    elif type(text) is int or type(text) is float:
        return text
    return json.loads(text)  # type: ignore[arg-type]
