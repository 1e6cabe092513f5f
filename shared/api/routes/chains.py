"""/chains: the tracked chains and the contracts ingested on each (data in the App table, shared.tracking)."""

from __future__ import annotations

from typing import Annotated, Any

from aws_lambda_powertools.event_handler.api_gateway import Router
from aws_lambda_powertools.event_handler.openapi.params import Path
from pydantic import BaseModel, Field

from shared import tracking
from shared.api.caller import audit
from shared.api.errors import NotFound, Unprocessable
from shared.api.routes.wallets import valid_address
from shared.events import Standard
from shared.settings import TrackedContract, get_settings

router = Router()
ChainId = Annotated[int, Path(ge=1, le=2**63 - 1, description="the chain id, e.g. 1 for Ethereum mainnet")]


class ChainView(BaseModel):
    chain_id: int
    name: str
    rpc_url_parameter: str = Field(description="the SSM SecureString parameter holding the RPC URL (never the URL)")
    confirmations: int
    use_finalized_tag: bool
    max_range: int
    every_token: bool = Field(
        description="every ERC-20/721/1155 Transfer on the chain is ingested, from any contract; no contract list"
    )
    start_block: int = Field(
        description="the block the chain's first ingest run starts at; no block below it is read by ingestion"
    )
    contracts: int = Field(description="how many contracts are tracked on it")


class ChainList(BaseModel):
    items: list[ChainView]


class ContractIn(BaseModel):
    address: str = Field(pattern=r"^0x[0-9a-fA-F]{40}$", description="the contract's 0x-prefixed address")
    standard: Standard
    start_block: int = Field(
        default=0, ge=0, le=2**63 - 1, description="its first block worth reading (its deployment)"
    )
    label: str = Field(default="", max_length=80)
    underlying: str | None = Field(
        default=None,
        pattern=r"^0x[0-9a-fA-F]{40}$",
        description="erc4626-vault and staking: the token the contract holds, so stakes can count as holdings of it",
    )
    fee_recipients: list[Annotated[str, Field(pattern=r"^0x[0-9a-fA-F]{40}$")]] = Field(
        default_factory=list,
        max_length=20,
        description="seaport: the marketplace's fee addresses; a sale's other payees but the seller are royalties",
    )


class ContractsAdd(BaseModel):
    contracts: list[ContractIn] = Field(min_length=1, max_length=tracking.MAX_CONTRACTS_PER_REQUEST)


class ContractView(BaseModel):
    address: str
    standard: Standard
    start_block: int
    label: str
    underlying: str | None = None
    fee_recipients: list[str] = Field(default_factory=list, description="seaport: the marketplace's fee addresses")
    added_at: int | None = None
    backfill_job: str | None = Field(default=None, description="the backfill that read its history, if any")


class ContractList(BaseModel):
    chain_id: int
    items: list[ContractView]


class ContractsAdded(BaseModel):
    chain_id: int
    added: list[ContractView]
    already_tracked: list[str] = Field(description="addresses that were tracked before: left as they were")
    backfill_job: str | None = Field(description="reads the new contracts' history; follow it on GET /backfill/{id}")
    note: str = Field(description="why no backfill was started, when none was")


def _chain(chain_id: int) -> None:
    try:
        tracking.tracked_chain(get_settings(), chain_id)
    except tracking.ChainNotTracked as exc:
        raise NotFound(str(exc), "chain_id") from None


def _contract_view(item: dict[str, Any]) -> ContractView:
    return ContractView(
        address=item["address"],
        standard=item["standard"],
        start_block=int(item.get("start_block", 0)),
        label=str(item.get("label", "")),
        underlying=item.get("underlying") or None,
        fee_recipients=[str(r) for r in item.get("fee_recipients") or []],
        added_at=item.get("added_at"),
        backfill_job=item.get("backfill_job"),
    )


@router.get("/chains", summary="The tracked chains", tags=["chains"])
def list_chains() -> ChainList:
    chains = tracking.tracked_chains(get_settings())
    return ChainList(
        items=[
            ChainView(
                chain_id=c.chain_id,
                name=c.name,
                rpc_url_parameter=c.rpc_url_parameter,
                confirmations=c.confirmations,
                use_finalized_tag=c.use_finalized_tag,
                max_range=c.max_range,
                every_token=c.every_token,
                start_block=c.start_block,
                contracts=len(c.contracts),
            )
            for c in chains
        ]
    )


@router.get("/chains/<chain_id>/contracts", summary="The contracts tracked on a chain", tags=["chains"])
def list_contracts(chain_id: ChainId) -> ContractList:
    _chain(chain_id)
    items = tracking.list_contracts(get_settings(), chain_id)
    return ContractList(chain_id=chain_id, items=[_contract_view(i) for i in items])


@router.post(
    "/chains/<chain_id>/contracts",
    summary="Track contracts on a chain; their history is backfilled from each one's start block",
    tags=["chains"],
    status_code=202,
)
def add_contracts(chain_id: ChainId, body: ContractsAdd) -> ContractsAdded:
    _chain(chain_id)
    contracts = [
        TrackedContract(
            address=c.address.lower(),
            standard=c.standard,
            start_block=c.start_block,
            label=c.label,
            underlying=c.underlying,
            fee_recipients=c.fee_recipients,
        )
        for c in body.contracts
    ]
    try:
        outcome = tracking.track_contracts(get_settings(), chain_id, contracts)
    except tracking.TrackingError as exc:
        raise Unprocessable(str(exc), exc.field) from None
    audit(
        "chain.contracts_added",
        str(chain_id),
        contracts=[c.address for c in outcome.added],
        backfill_job=outcome.backfill_job,
    )
    return ContractsAdded(
        chain_id=chain_id,
        added=[ContractView(**c.model_dump(), backfill_job=outcome.backfill_job) for c in outcome.added],
        already_tracked=outcome.already_tracked,
        backfill_job=outcome.backfill_job,
        note=outcome.note,
    )


@router.delete(
    "/chains/<chain_id>/contracts/<address>",
    summary="Stop tracking a contract (its stored events stay)",
    tags=["chains"],
)
def remove_contract(chain_id: ChainId, address: Annotated[str, Path(pattern=r"^0x[0-9a-fA-F]{40}$")]) -> ContractView:
    _chain(chain_id)
    removed = tracking.untrack_contract(get_settings(), chain_id, valid_address(address))
    if removed is None:
        raise NotFound(f"contract {address.lower()} is not tracked on chain {chain_id}", "address")
    audit("chain.contract_removed", str(chain_id), contract=address.lower())
    return _contract_view(removed)
