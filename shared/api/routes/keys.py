"""/keys: API keys and their scopes (admin only; the authorizer already denies other keys)."""

from __future__ import annotations

from typing import Annotated

from aws_lambda_powertools.event_handler.api_gateway import Router
from aws_lambda_powertools.event_handler.openapi.params import Path

from shared.api.caller import audit, current_caller
from shared.api.errors import Conflict, NotFound, Unprocessable
from shared.api.schemas import KeyCreate, KeyCreated, KeyInfo, KeyList
from shared.auth import manage

router = Router()


@router.post("/keys", summary="Create an API key", tags=["keys"], status_code=201)
def create_key(body: KeyCreate) -> KeyCreated:
    try:
        key_id, secret = manage.create_api_key(body.name, [str(s) for s in body.scopes])
    except ValueError as exc:
        raise Unprocessable(str(exc), "scopes") from None
    audit("key.created", key_id, scopes=[str(s) for s in body.scopes])
    return KeyCreated(key_id=key_id, name=body.name, scopes=body.scopes, secret=secret)


@router.get("/keys", summary="List API keys (never their secrets)", tags=["keys"])
def list_keys() -> KeyList:
    return KeyList(items=[KeyInfo(**k.model_dump()) for k in manage.list_api_keys()])


@router.delete(
    "/keys/<key_id>",
    summary="Revoke an API key (effective at once; never the calling key, nor the last admin key)",
    tags=["keys"],
)
def revoke_key(key_id: Annotated[str, Path(pattern=r"^[0-9a-f]{12}$")]) -> KeyInfo:
    try:
        revoked = manage.revoke_api_key(key_id, revoked_by=current_caller().key_id)
    except manage.RevocationRefused as exc:
        raise Conflict(str(exc), "key_id") from None
    if revoked is None:
        raise NotFound(f"no API key with id {key_id}", "key_id")
    audit("key.revoked", key_id)
    return KeyInfo(**revoked.model_dump())
