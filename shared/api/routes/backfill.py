"""/backfill: fan a historical block range out into SQS range jobs, and follow their progress."""

from __future__ import annotations

from typing import Annotated

from aws_lambda_powertools.event_handler.api_gateway import Router
from aws_lambda_powertools.event_handler.openapi.params import Path
from pydantic import BaseModel, Field, ValidationInfo, field_validator, model_validator

from shared import backfill
from shared.api.caller import audit
from shared.api.errors import NotFound, Unprocessable
from shared.settings import ConfigError, get_settings
from shared.tracking import tracked_chain

router = Router()
# One request enqueues at most this many range jobs: the plan is built in memory before the chain's
# head is checked, so an unbounded block span would exhaust the function instead of answering 422.
MAX_RANGES = 10_000


class BackfillRequest(BaseModel):
    chain_id: int = Field(ge=1)
    from_block: int = Field(ge=0)
    to_block: int = Field(ge=0)
    range_size: int = Field(
        default=2000, ge=1, le=100_000, validate_default=True, description="blocks per SQS range job"
    )

    @field_validator("range_size")
    @classmethod
    def _bounded_fan_out(cls, range_size: int, info: ValidationInfo) -> int:
        span = info.data.get("to_block", 0) - info.data.get("from_block", 0) + 1
        if span > MAX_RANGES * range_size:
            raise ValueError(
                f"{span} blocks in ranges of {range_size} would be over {MAX_RANGES} range jobs: "
                "raise range_size or split the backfill"
            )
        return range_size

    @model_validator(mode="after")
    def _ordered(self) -> BackfillRequest:
        if self.from_block > self.to_block:
            raise ValueError("from_block must be <= to_block")
        return self


class BackfillView(backfill.BackfillStatus):
    progress: float = Field(description="done_ranges / total_ranges")


def _view(status: backfill.BackfillStatus) -> BackfillView:
    progress = status.done_ranges / status.total_ranges if status.total_ranges else 1.0
    return BackfillView(**status.model_dump(), progress=round(progress, 4))


@router.post(
    "/backfill", summary="Backfill a block range through the queue of range jobs", tags=["ingestion"], status_code=202
)
def start(body: BackfillRequest) -> BackfillView:
    settings = get_settings()
    try:
        chain = tracked_chain(settings, body.chain_id)
        status = backfill.open_backfill(settings, chain, body.from_block, body.to_block, body.range_size)
    except ConfigError as exc:
        raise Unprocessable(str(exc), "chain_id") from None
    except backfill.BackfillError as exc:
        raise Unprocessable(str(exc).replace("--to", "to_block"), "to_block") from None
    audit("backfill.started", status.job_id, chain_id=body.chain_id, from_block=body.from_block, to_block=body.to_block)
    return _view(status)


@router.get("/backfill/<job_id>", summary="A backfill job's progress", tags=["ingestion"])
def status(job_id: Annotated[str, Path(pattern=r"^[0-9a-f]{1,32}$")]) -> BackfillView:
    try:
        return _view(backfill.backfill_status(get_settings().app_table, job_id))
    except backfill.BackfillError:
        raise NotFound(f"no backfill job {job_id}", "job_id") from None
