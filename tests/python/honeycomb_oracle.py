"""An independent computation of Honeycomb's query answers over the events a test sent.

Events are dicts of Honeycomb column names to values, plus "w" (the sample rate) and "t" (the
start, Unix seconds as a float). Nothing here asks Combray anything.
"""
import math


def present(events, column):
    return [(e[column], e["w"]) for e in events if e.get(column) is not None]


def weighted_percentile(pairs, fraction):
    pairs = sorted(pairs)
    total = sum(w for _, w in pairs)
    rank = min(max(math.ceil(fraction * total), 1), total)
    seen = 0
    for value, weight in pairs:
        seen += weight
        if seen >= rank:
            return value
    return pairs[-1][0]


PERCENTILES = {"P001": 0.001, "P01": 0.01, "P05": 0.05, "P10": 0.1, "P20": 0.2, "P25": 0.25, "P50": 0.5,
               "P75": 0.75, "P80": 0.8, "P90": 0.9, "P95": 0.95, "P99": 0.99, "P999": 0.999}


def calculate(events, op, column=None, usage_mode=False):
    """The value of one calculation, or None where Honeycomb has none."""
    if usage_mode:
        events = [{**e, "w": 1} for e in events]
    if op == "COUNT":
        return sum(e["w"] for e in events)
    pairs = present(events, column)
    if not pairs:
        return None
    values = [v for v, _ in pairs]
    if op == "COUNT_DISTINCT":
        return len(set(values))
    if op == "SUM":
        return sum(v * w for v, w in pairs)
    if op == "AVG":
        return sum(v * w for v, w in pairs) / sum(w for _, w in pairs)
    if op == "MIN":
        return min(values)
    if op == "MAX":
        return max(values)
    if op in PERCENTILES:
        return weighted_percentile(pairs, PERCENTILES[op])
    raise ValueError(op)


def as_number(value):
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return float(value)
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def matches(event, column, op, value=None):
    """Whether one event passes one filter. Every operator but does-not-exist needs the column."""
    have = event.get(column)
    if op == "exists":
        return have is not None
    if op == "does-not-exist":
        return have is None
    if have is None:
        return False
    text = str(have)
    if op in ("=", "!="):
        number, wanted = as_number(have), as_number(value)
        equal = number == wanted if isinstance(have, (int, float)) and wanted is not None else text == str(value)
        return equal if op == "=" else not equal
    if op in (">", ">=", "<", "<="):
        number = as_number(have)
        if number is None:
            return False
        wanted = float(value)
        return {">": number > wanted, ">=": number >= wanted, "<": number < wanted, "<=": number <= wanted}[op]
    if op == "starts-with":
        return text.startswith(value)
    if op == "does-not-start-with":
        return not text.startswith(value)
    if op == "ends-with":
        return text.endswith(value)
    if op == "does-not-end-with":
        return not text.endswith(value)
    if op == "contains":
        return value in text
    if op == "does-not-contain":
        return value not in text
    if op in ("in", "not-in"):
        found = any(matches(event, column, "=", v) for v in value)
        return found if op == "in" else not found
    raise ValueError(op)


def group_by(events, breakdowns):
    groups = {}
    for event in events:
        groups.setdefault(tuple(event.get(b) for b in breakdowns), []).append(event)
    return groups


def close(got, expected, relative=0.0):
    """Equal, or within `relative` (the percentile sketch is within 0.39%)."""
    if expected is None:
        return got is None
    if got is None:
        return False
    return math.isclose(got, expected, rel_tol=max(relative, 1e-9), abs_tol=1e-9)
