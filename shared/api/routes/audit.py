"""/audit: who did what, when (admin only)."""

from __future__ import annotations

import datetime as dt
import time
from typing import Annotated

from aws_lambda_powertools.event_handler.api_gateway import Router
from aws_lambda_powertools.event_handler.openapi.params import Query

from shared import audit
from shared.api.cursor import decode_cursor, encode_cursor
from shared.settings import get_settings

router = Router()
DAY = r"^\d{4}-\d{2}-\d{2}$"


@router.get("/audit", summary="The audit log of one day (UTC), newest first", tags=["audit"])
def audit_log(
    day: Annotated[str | None, Query(pattern=DAY, description="YYYY-MM-DD; today by default")] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    cursor: Annotated[str | None, Query(max_length=4096)] = None,
) -> audit.AuditPage:
    wanted = day or dt.datetime.fromtimestamp(time.time(), tz=dt.UTC).date().isoformat()
    items, after = audit.entries(wanted, limit, decode_cursor(cursor) if cursor else None, get_settings())
    return audit.AuditPage(items=items, next_cursor=encode_cursor(after) if after else None)
