"""/segments: live audiences defined by rules, their members, and community overlap."""

from __future__ import annotations

from typing import Annotated, Any

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.api_gateway import Router
from aws_lambda_powertools.event_handler.openapi.params import Path, Query
from pydantic import BaseModel, Field

from shared import overlap
from shared.api.caller import audit
from shared.api.cursor import decode_cursor, encode_cursor
from shared.api.errors import Conflict, NotFound, Unprocessable
from shared.api.routes.wallets import valid_address, valid_token
from shared.segments import export, preview, store
from shared.segments.evaluation import evaluation_progress, start_evaluation
from shared.segments.rules import SegmentRule
from shared.settings import get_settings

router = Router()


class SegmentCreate(BaseModel):
    name: str = Field(min_length=1, max_length=120)
    description: str = Field(default="", max_length=1000)
    rule: SegmentRule


class SegmentUpdate(BaseModel):
    expected_version: int | None = Field(default=None, ge=1, description="the version you edited; 409 if stale")
    name: str | None = Field(default=None, min_length=1, max_length=120)
    description: str | None = Field(default=None, max_length=1000)
    rule: SegmentRule | None = None


class SegmentView(BaseModel):
    definition: store.SegmentDefinition
    evaluation: store.EvalProgress | None


class SegmentList(BaseModel):
    items: list[store.SegmentDefinition]


class SegmentHistory(BaseModel):
    items: list[store.SegmentDefinition]


class Member(BaseModel):
    address: str
    entered_at: int
    segment_version: int


class MemberPage(BaseModel):
    items: list[Member]
    next_cursor: str | None


class MembershipCheck(BaseModel):
    segment_id: str
    address: str
    member: bool
    entered_at: int | None


def _segment(segment_id: str) -> store.SegmentDefinition:
    try:
        return store.get_segment(segment_id, get_settings())
    except store.SegmentNotFound:
        raise NotFound(f"no segment {segment_id}; GET /segments lists them", "segment_id") from None


@router.get("/segments", summary="All segments", tags=["segments"])
def list_segments() -> SegmentList:
    settings = get_settings()
    return SegmentList(items=[store.with_live_count(s, settings) for s in store.list_segments(settings)])


@router.post(
    "/segments", summary="Create a segment and evaluate it over every wallet", tags=["segments"], status_code=201
)
def create_segment(body: SegmentCreate) -> SegmentView:
    settings = get_settings()
    definition = store.create_segment(body.name, body.rule, settings, body.description)
    start_evaluation(definition, settings)
    audit("segment.created", definition.segment_id)
    return SegmentView(
        definition=definition, evaluation=evaluation_progress(definition.segment_id, definition.version, settings)
    )


@router.get("/segments/<segment_id>", summary="A segment and its evaluation progress", tags=["segments"])
def get_segment(segment_id: Annotated[str, Path(max_length=40)]) -> SegmentView:
    settings = get_settings()
    definition = store.with_live_count(_segment(segment_id), settings)
    return SegmentView(definition=definition, evaluation=evaluation_progress(segment_id, definition.version, settings))


@router.put("/segments/<segment_id>", summary="Edit a segment (a new version)", tags=["segments"])
def update_segment(segment_id: Annotated[str, Path(max_length=40)], body: SegmentUpdate) -> SegmentView:
    settings = get_settings()
    _segment(segment_id)
    try:
        updated = store.update_segment(
            segment_id,
            expected_version=body.expected_version,
            name=body.name,
            description=body.description,
            rule=body.rule,
            settings=settings,
        )
    except store.VersionConflict as exc:
        raise Conflict(str(exc), "expected_version") from None
    if body.rule is not None:
        start_evaluation(updated, settings)
    audit("segment.updated", segment_id, version=updated.version)
    return SegmentView(definition=updated, evaluation=evaluation_progress(segment_id, updated.version, settings))


@router.delete("/segments/<segment_id>", summary="Delete a segment and its members", tags=["segments"])
def delete_segment(segment_id: Annotated[str, Path(max_length=40)]) -> dict[str, Any]:
    _segment(segment_id)
    removed = store.delete_segment(segment_id, get_settings())
    audit("segment.deleted", segment_id, members_removed=removed)
    return {"segment_id": segment_id, "members_removed": removed}


@router.get("/segments/<segment_id>/history", summary="Every version of a segment", tags=["segments"])
def segment_history(segment_id: Annotated[str, Path(max_length=40)]) -> SegmentHistory:
    _segment(segment_id)
    return SegmentHistory(items=store.segment_history(segment_id, get_settings()))


@router.get("/segments/<segment_id>/members", summary="Members, one DynamoDB query per page", tags=["segments"])
def list_members(
    segment_id: Annotated[str, Path(max_length=40)],
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    cursor: Annotated[str | None, Query(max_length=4096)] = None,
) -> MemberPage:
    items, after = store.members_page(segment_id, limit, decode_cursor(cursor) if cursor else None, get_settings())
    if not items and cursor is None:
        # only an empty first page pays to tell "no such segment" (404) from "no members yet"
        _segment(segment_id)
    return MemberPage(
        items=[Member(address=i["address"], entered_at=i["entered_at"], segment_version=i["version"]) for i in items],
        next_cursor=encode_cursor(after) if after else None,
    )


@router.get(
    "/segments/<segment_id>/members.csv",
    summary="Members as CSV, one page per call (follow the X-Next-Cursor header)",
    tags=["segments"],
    responses={
        200: {
            "description": "CSV: address,entered_at,segment_version,score,churn_state,labels",
            "content": {"text/csv": {"schema": {"type": "string"}}},
        }
    },
)
def export_members(
    segment_id: Annotated[str, Path(max_length=40)],
    limit: Annotated[int, Query(ge=1, le=5000)] = 1000,
    cursor: Annotated[str | None, Query(max_length=4096)] = None,
) -> Response[str]:
    _segment(segment_id)
    text, after = export.members_csv(segment_id, limit, decode_cursor(cursor) if cursor else None, get_settings())
    headers = {"Content-Disposition": f'attachment; filename="segment-{segment_id}.csv"'}
    if after:
        headers["X-Next-Cursor"] = encode_cursor(after)
    return Response(status_code=200, content_type="text/csv", body=text, headers=headers)


# well inside API Gateway's 29 s: a preview past it extrapolates (complete: false) rather than time out
PREVIEW_BUDGET_S = 8.0


class PreviewRequest(BaseModel):
    rule: SegmentRule
    sample_size: int = Field(default=20, ge=0, le=200)


@router.post("/segments/preview", summary="Count and sample a rule's audience, without saving it", tags=["segments"])
def preview_segment(body: PreviewRequest) -> preview.Preview:
    return preview.preview(body.rule, body.sample_size, get_settings(), budget_s=PREVIEW_BUDGET_S)


@router.get(
    "/segments/<segment_id>/members/<address>", summary="Is this wallet a member? (token gating)", tags=["segments"]
)
def check_member(
    segment_id: Annotated[str, Path(max_length=40)], address: Annotated[str, Path(max_length=42)]
) -> MembershipCheck:
    valid_address(address)
    found = store.is_member(segment_id, address, get_settings())
    if found is None:
        _segment(segment_id)
    return MembershipCheck(
        segment_id=segment_id,
        address=address.lower(),
        member=found is not None,
        entered_at=found["entered_at"] if found else None,
    )


@router.get(
    "/overlap",
    summary="Wallets two segments, or two tokens' holders, have in common",
    tags=["segments"],
    openapi_extensions={"x-kith-errors": [404]},  # an unknown segment_a or segment_b; 422 for a side too large
)
def community_overlap(
    segment_a: Annotated[str | None, Query(max_length=40)] = None,
    segment_b: Annotated[str | None, Query(max_length=40)] = None,
    token_a: Annotated[str | None, Query(max_length=60)] = None,
    token_b: Annotated[str | None, Query(max_length=60)] = None,
    limit: Annotated[int, Query(ge=0, le=1000)] = 100,
) -> overlap.Overlap:
    try:
        if segment_a and segment_b and not (token_a or token_b):
            _segment(segment_a)
            _segment(segment_b)
            return overlap.segment_overlap(segment_a, segment_b, limit, get_settings())
        if token_a and token_b and not (segment_a or segment_b):
            return overlap.token_overlap(
                valid_token(token_a, "token_a"), valid_token(token_b, "token_b"), limit, get_settings()
            )
    except overlap.SideTooLarge as exc:
        raise Unprocessable(str(exc), exc.side) from None
    raise Unprocessable("give either segment_a and segment_b, or token_a and token_b", "segment_a")
