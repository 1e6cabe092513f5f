"""The simulator's output: where everything was deployed and the ground truth about each wallet."""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

# Persona names, as keys of Deployment.personas. Primary personas partition the wallets; the others
# are roles a wallet takes on top of its primary persona.
PRIMARY_PERSONAS = ("whale", "steady", "trader", "seller_exited", "dormant", "newcomer", "casual")
ROLE_PERSONAS = (
    "voter",
    "collector",
    "lender",
    "borrower",
    "borrower_repaid",
    "borrower_at_risk",
    "liquidated",
    "liquidator",
    "cross_chain",
)
PERSONA_DEFINITIONS: dict[str, str] = {
    "whale": "holds at least 1% of the token supply at the end (no other wallet does)",
    "steady": "received at launch (day 0) plus monthly rewards, never sent a token",
    "trader": "sends tokens about every third day (to traders and casual members); some trade NFTs and items",
    "seller_exited": "held from the first days, then sold everything; balance 0 and no activity since",
    "dormant": "active early, then nothing for the last 50 days or more (runs under 70 days: nothing after the "
    "airdrop); still holds tokens",
    "newcomer": "first received tokens within the last 7 days",
    "casual": "occasional transfers, with at least one in the last 30 days",
    "voter": "voted on at least 3 proposals (nobody else ever voted)",
    "collector": "holds 5 or more ERC-721 tokens; every other wallet holds at most 4 NFTs in all",
    "lender": "supplied USDC to a lending pool (either chain), never borrowed",
    "borrower": "open borrow with a health factor of 1.5 or more at the end",
    "borrower_repaid": "borrowed, repaid everything and withdrew the collateral",
    "borrower_at_risk": "open borrow with a health factor between 1.0 and 1.1 at the end, never liquidated",
    "liquidated": "was liquidated at least once, then repaid what was left and withdrew the rest",
    "liquidator": "called liquidationCall on others",
    "cross_chain": "also active on the second chain",
}


class ChainDeployment(BaseModel):
    model_config = ConfigDict(frozen=True)

    chain_id: int
    rpc_url: str
    deployer: str
    contracts: dict[str, str]  # role -> lower-case address ("treasury" is the deployer)
    standards: dict[str, str]  # role -> shared.events.Standard value, for the contracts to ingest
    start_block: int  # first block of the deployment: ingest from here
    head_block: int
    start_time: int  # unix seconds of day 0, midnight UTC
    end_time: int  # timestamp of the last simulated block
    transactions: int
    events: dict[str, int]  # kind -> count of logs emitted by the suite's contracts


class Summary(BaseModel):
    model_config = ConfigDict(frozen=True)

    wallets: int
    days: int
    transactions: int
    events_total: int
    events_by_kind: dict[str, int]
    events_per_chain: dict[str, int]  # chain id (as a string: JSON keys) -> logs
    persona_counts: dict[str, int]
    elapsed_seconds: float


class Deployment(BaseModel):
    model_config = ConfigDict(frozen=True)

    seed: int
    days: int
    chains: list[ChainDeployment]
    wallets: list[str]
    personas: dict[str, list[str]]
    persona_definitions: dict[str, str] = Field(default_factory=lambda: dict(PERSONA_DEFINITIONS))
    # Ground truth for churn and labels: unix seconds of each wallet's first and last on-chain
    # appearance (any chain, any contract of the suite, sent or received).
    first_seen: dict[str, int]
    last_activity: dict[str, int]
    summary: Summary

    def chain(self, chain_id: int) -> ChainDeployment:
        for chain in self.chains:
            if chain.chain_id == chain_id:
                return chain
        raise KeyError(f"chain {chain_id} is not in this deployment")

    def save(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(self.model_dump_json(indent=2))

    @classmethod
    def load(cls, path: Path) -> Deployment:
        return cls.model_validate_json(path.read_text())
