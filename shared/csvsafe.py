"""CSV cells that spreadsheets will not run: a cell starting with = + - @ (or a tab or carriage return
before them) is a formula to Excel, LibreOffice and Sheets, so `=HYPERLINK(...)` from an imported row
would become a live link, or worse, in whoever opens an export. Such cells get a leading apostrophe,
which spreadsheets show as text; the stored value stays as it was imported."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Sequence

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def cell(value: object) -> str:
    text = "" if value is None else str(value)
    return "'" + text if text.startswith(FORMULA_STARTS) else text


def csv_text(header: Sequence[str], rows: Iterable[Sequence[object]]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow([cell(h) for h in header])
    writer.writerows([cell(v) for v in row] for row in rows)
    return out.getvalue()
