"""Schedule expressions (rate and cron) and the EventBridge events their rules deliver."""

from __future__ import annotations

import datetime as dt
import re
import uuid
from dataclasses import dataclass
from typing import Any

from infra.localcloud.functions import ACCOUNT_ID, TemplateError

# ----------------------------------------------------------------------------- schedule expressions

_RATE = re.compile(r"^rate\((\d+)\s+(minute|minutes|hour|hours|day|days)\)$")
_CRON = re.compile(r"^cron\((.+)\)$")
_UNIT_SECONDS = {"minute": 60, "hour": 3600, "day": 86400}
_MONTHS = {
    m: i
    for i, m in enumerate(["JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"], start=1)
}
_DAYS = {d: i for i, d in enumerate(["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"], start=1)}


def rate_seconds(expression: str) -> float | None:
    match = _RATE.match(expression.strip())
    if match is None:
        return None
    amount, unit = int(match.group(1)), match.group(2).rstrip("s")
    return float(amount * _UNIT_SECONDS[unit])


def validate_schedule(expression: str) -> None:
    if rate_seconds(expression) is not None:
        return
    _cron_fields(expression)


def _cron_fields(expression: str) -> list[set[int] | None]:
    """EventBridge cron: minutes hours day-of-month month day-of-week year; None stands for '?'."""
    match = _CRON.match(expression.strip())
    if match is None:
        raise TemplateError(f"schedule {expression!r}: expected rate(...) or cron(...)")
    parts = match.group(1).split()
    if len(parts) != 6:
        raise TemplateError(f"schedule {expression!r}: cron takes six fields")
    limits = [(0, 59, {}), (0, 23, {}), (1, 31, {}), (1, 12, _MONTHS), (1, 7, _DAYS), (1970, 2199, {})]
    fields: list[set[int] | None] = []
    for text, (low, high, names) in zip(parts, limits, strict=True):
        if text == "?":
            fields.append(None)
            continue
        values: set[int] = set()
        for piece in text.split(","):
            step = 1
            if "/" in piece:
                piece, step_text = piece.split("/", 1)
                step = int(step_text)
            if piece == "*":
                start, end = low, high
            elif "-" in piece:
                a, b = piece.split("-", 1)
                start, end = _cron_value(a, names, expression), _cron_value(b, names, expression)
            else:
                start = _cron_value(piece, names, expression)
                end = high if step != 1 else start
            values.update(range(start, end + 1, step))
        fields.append(values)
    return fields


def _cron_value(text: str, names: dict[str, int], expression: str) -> int:
    if text.upper() in names:
        return names[text.upper()]
    if not text.isdigit():
        raise TemplateError(f"schedule {expression!r}: {text!r} (L, W and # are not supported locally)")
    return int(text)


def next_cron_time(expression: str, after: dt.datetime) -> dt.datetime:
    minutes, hours, days, months, weekdays, years = _cron_fields(expression)
    assert minutes is not None and hours is not None
    day = after.replace(second=0, microsecond=0)
    start_day = day.replace(hour=0, minute=0)
    for offset in range(0, 366 * 5):
        current = start_day + dt.timedelta(days=offset)
        aws_weekday = (current.weekday() + 1) % 7 + 1  # AWS counts SUN=1 ... SAT=7
        if (months is not None and current.month not in months) or (years is not None and current.year not in years):
            continue
        if (days is not None and current.day not in days) or (weekdays is not None and aws_weekday not in weekdays):
            continue
        for hour in sorted(hours):
            for minute in sorted(minutes):
                candidate = current.replace(hour=hour, minute=minute)
                if candidate > after:
                    return candidate
    raise TemplateError(f"schedule {expression!r} never fires")


@dataclass(frozen=True)
class ScheduleSpec:
    logical_id: str
    function: str
    expression: str
    rule_arn: str
    input: Any = None  # the target's Input: when set, Lambda receives it instead of the event
    enabled: bool = True

    @property
    def interval(self) -> float | None:
        """Seconds between firings for rate(...); None for cron(...)."""
        return rate_seconds(self.expression)


def scheduled_event(spec: ScheduleSpec, region: str, when: dt.datetime | None = None) -> dict[str, Any]:
    moment = when or dt.datetime.now(dt.UTC)
    return {
        "version": "0",
        "id": str(uuid.uuid4()),
        "detail-type": "Scheduled Event",
        "source": "aws.events",
        "account": ACCOUNT_ID,
        "time": moment.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "region": region,
        "resources": [spec.rule_arn],
        "detail": {},
    }


# ----------------------------------------------------------------------------- event shapes
