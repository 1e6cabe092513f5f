"""Lambda event filtering (FilterCriteria) for the local cloud's event-source mappings."""

from __future__ import annotations

import json
import re
from typing import Any

# ----------------------------------------------------------------------------- event filtering
# Lambda event filtering (FilterCriteria) applies before batching. Patterns use EventBridge syntax:
# nested objects select fields; a list at a leaf means "any of": exact values (including null), prefix,
# suffix, equals-ignore-case, anything-but, numeric ranges, exists, wildcard, and $or. Several filters
# in FilterCriteria are OR-ed.

_NUMERIC_OPS = {"=", "<", "<=", ">", ">="}
_SUPPORTED = {"prefix", "suffix", "equals-ignore-case", "anything-but", "numeric", "exists", "wildcard"}


class FilterError(ValueError):
    """A FilterCriteria pattern that Lambda would reject."""


def parse_filters(criteria: dict[str, Any] | None) -> list[dict[str, Any]]:
    """FilterCriteria {"Filters": [{"Pattern": "<json>"}]} to validated pattern objects."""
    patterns: list[dict[str, Any]] = []
    for entry in (criteria or {}).get("Filters", []):
        raw = entry.get("Pattern")
        try:
            pattern = json.loads(raw) if isinstance(raw, str) else raw
        except json.JSONDecodeError as exc:
            raise FilterError(f"filter pattern is not JSON: {raw!r} ({exc.msg})") from exc
        if not isinstance(pattern, dict):
            raise FilterError(f"a filter pattern must be a JSON object: {raw!r}")
        _validate(pattern)
        patterns.append(pattern)
    return patterns


def matches_any(patterns: list[dict[str, Any]], data: dict[str, Any]) -> bool:
    """No filters means every record passes; otherwise a record passes if any pattern matches it."""
    return not patterns or any(matches(p, data) for p in patterns)


def matches(pattern: dict[str, Any], data: Any) -> bool:
    for key, sub in pattern.items():
        if key == "$or":
            if not any(matches(p, data) for p in sub):
                return False
            continue
        present = isinstance(data, dict) and key in data
        value = data[key] if present else None
        if isinstance(sub, dict):
            candidates = value if isinstance(value, list) else [value]
            if not present or not any(isinstance(c, dict) and matches(sub, c) for c in candidates):
                return False
        elif not _match_leaf(sub, present, value):
            return False
    return True


def _match_leaf(matchers: list[Any], present: bool, value: Any) -> bool:
    values = value if isinstance(value, list) else [value]
    for matcher in matchers:
        if isinstance(matcher, dict) and "exists" in matcher:
            # exists applies to leaves: an object-valued field does not count as existing
            exists = present and not isinstance(value, dict)
            if bool(matcher["exists"]) == exists:
                return True
            continue
        if present and any(_match_one(matcher, v) for v in values):
            return True
    return False


def _equal(expected: Any, actual: Any) -> bool:
    if isinstance(expected, bool) or isinstance(actual, bool):
        return isinstance(expected, bool) and isinstance(actual, bool) and expected == actual
    if isinstance(expected, int | float) and isinstance(actual, int | float):
        return float(expected) == float(actual)
    return type(expected) is type(actual) and bool(expected == actual)


def _number(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value)
    # DynamoDB stream images carry numbers as strings ({"N": "12"}); accept them for numeric matching
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            return None
    return None


def _match_one(matcher: Any, value: Any) -> bool:
    if not isinstance(matcher, dict):
        if matcher is None:
            return value is None
        return _equal(matcher, value)
    ((op, arg),) = matcher.items()
    if op == "prefix":
        if isinstance(arg, dict):  # {"prefix": {"equals-ignore-case": "x"}}
            needle = str(arg.get("equals-ignore-case", ""))
            return isinstance(value, str) and value.lower().startswith(needle.lower())
        return isinstance(value, str) and value.startswith(arg)
    if op == "suffix":
        if isinstance(arg, dict):
            needle = str(arg.get("equals-ignore-case", ""))
            return isinstance(value, str) and value.lower().endswith(needle.lower())
        return isinstance(value, str) and value.endswith(arg)
    if op == "equals-ignore-case":
        return isinstance(value, str) and value.lower() == str(arg).lower()
    if op == "wildcard":
        regex = "^" + ".*".join(re.escape(part) for part in str(arg).split("*")) + "$"
        return isinstance(value, str) and re.match(regex, value, re.DOTALL) is not None
    if op == "anything-but":
        if isinstance(arg, dict):
            return value is not None and not _match_one(arg, value)
        excluded = arg if isinstance(arg, list) else [arg]
        return value is not None and not any(_equal(e, value) for e in excluded)
    if op == "numeric":
        number = _number(value)
        if number is None:
            return False
        for i in range(0, len(arg), 2):
            operator, bound = arg[i], float(arg[i + 1])
            ok = {
                "=": number == bound,
                "<": number < bound,
                "<=": number <= bound,
                ">": number > bound,
                ">=": number >= bound,
            }[operator]
            if not ok:
                return False
        return True
    raise FilterError(f"unsupported filter operator {op!r}")


def _validate(pattern: dict[str, Any]) -> None:
    for key, sub in pattern.items():
        if key == "$or":
            if not isinstance(sub, list) or len(sub) < 2:
                raise FilterError("$or needs a list of at least two patterns")
            for p in sub:
                if not isinstance(p, dict):
                    raise FilterError("every $or branch must be an object")
                _validate(p)
        elif isinstance(sub, dict):
            _validate(sub)
        elif isinstance(sub, list):
            for matcher in sub:
                _validate_matcher(matcher)
        else:
            raise FilterError(f"pattern field {key!r}: values must be arrays of matchers or nested objects")


def _validate_matcher(matcher: Any) -> None:
    if not isinstance(matcher, dict):
        if isinstance(matcher, list):
            raise FilterError("a matcher cannot be an array")
        return
    if len(matcher) != 1:
        raise FilterError(f"a matcher object has exactly one operator: {matcher!r}")
    ((op, arg),) = matcher.items()
    if op not in _SUPPORTED:
        raise FilterError(f"unsupported filter operator {op!r}")
    if op == "numeric":
        if not isinstance(arg, list) or len(arg) not in (2, 4) or len(arg) % 2:
            raise FilterError(f"numeric takes [op, n] or [op, n, op, n]: {arg!r}")
        for i in range(0, len(arg), 2):
            if arg[i] not in _NUMERIC_OPS or not isinstance(arg[i + 1], int | float):
                raise FilterError(f"bad numeric matcher: {arg!r}")
    if op == "exists" and not isinstance(arg, bool):
        raise FilterError("exists takes true or false")


# ----------------------------------------------------------------------------- wiring from the template
