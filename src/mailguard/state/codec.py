"""How Python values are stored in SQLite text columns.

Timestamps are ISO-8601 text in UTC with microseconds, so they sort as text,
stay readable with the ``sqlite3`` shell, and round-trip to aware datetimes.
JSON columns are written with ``ensure_ascii=False`` so Japanese subjects and
reasons stay legible when someone inspects the file by hand.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping, Sequence
from datetime import UTC, date, datetime
from typing import Any


def utcnow() -> datetime:
    """The default clock: an aware UTC datetime."""
    return datetime.now(UTC)


def dt_to_db(value: datetime | None) -> str | None:
    """Store an aware datetime as UTC ISO-8601 text.

    Naive datetimes are refused: a naive ``datetime.now()`` on a machine in
    Tokyo is nine hours off, and such a bug must fail loudly, not skew the
    schedule silently.
    """
    if value is None:
        return None
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"naive datetime {value!r}: pass an aware datetime (e.g. UTC)")
    return value.astimezone(UTC).isoformat(timespec="microseconds")


def message_dt_to_db(value: datetime | date | str | None) -> str | None:
    """Store a date taken from mail (Date header, INTERNALDATE, Sent folder).

    Unlike our own timestamps these come from outside and may be naive
    ("-0000" means "zone unknown"); they are only displayed, so a naive value
    is taken as UTC rather than rejected. Strings are parsed as ISO-8601 and a
    bare date means midnight UTC.
    """
    if value is None or value == "":
        return None
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    if not isinstance(value, datetime):
        value = datetime(value.year, value.month, value.day)
    if value.tzinfo is None or value.utcoffset() is None:
        value = value.replace(tzinfo=UTC)
    return dt_to_db(value)


def dt_from_db(value: str | None) -> datetime | None:
    """Parse what :func:`dt_to_db` wrote back into an aware UTC datetime."""
    if value is None:
        return None
    parsed = datetime.fromisoformat(value)
    if parsed.tzinfo is None:  # written by hand or by an old tool: it is UTC by convention
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)


def _json_default(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return dataclasses.asdict(value)
    if isinstance(value, set | frozenset):
        return sorted(value, key=str)
    return str(value)


def to_json(value: Any) -> str:
    """Serialise for a JSON column; unknown objects degrade to text, never raise."""
    return json.dumps(value, ensure_ascii=False, default=_json_default, separators=(",", ":"))


def from_json(value: str | None, default: Any) -> Any:
    return default if value is None else json.loads(value)


def reasons_to_dicts(reasons: Sequence[Any] | None) -> list[dict[str, Any]]:
    """Accept reasons as dicts or as ``Reason`` dataclasses and return plain dicts."""
    out: list[dict[str, Any]] = []
    for r in reasons or ():
        if dataclasses.is_dataclass(r) and not isinstance(r, type):
            out.append(dataclasses.asdict(r))
        elif isinstance(r, Mapping):
            out.append(dict(r))
        else:
            raise TypeError(f"a reason must be a mapping or a dataclass, not {type(r).__name__}")
    return out
