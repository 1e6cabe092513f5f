"""Wallet intelligence: labels, churn state, loyalty tier and the next due date of one wallet.

Matching wallets against segments builds on this in shared.segments.wallets (docs/architecture.md,
"Contexts": segments sit above intel).
"""

from shared.intel.churn_store import (
    activity_rows,
    iter_profiles,
    load_churn_model,
    nightly_backtest,
    refit_churn_model,
    save_churn_model,
)
from shared.intel.derivation import came_back_at, label_due, next_churn_state, next_state
from shared.intel.lending_records import LendingRecords, loyalty_inputs
from shared.intel.models import MAX_TRANSITIONS, ChurnState, Context, Transition, WalletInputs, WalletState
from shared.intel.overview import WalletOverview, WalletSummary, overview, summarize
from shared.intel.population import population_labels
from shared.intel.tiers import EVENT_SOURCE, TIER_CHANGED, apply_loyalty, publish_tier_change
from shared.intel.wallet import due_wallets, evaluated_at, load_wallet

__all__ = [
    "EVENT_SOURCE",
    "MAX_TRANSITIONS",
    "TIER_CHANGED",
    "ChurnState",
    "Context",
    "LendingRecords",
    "Transition",
    "WalletInputs",
    "WalletOverview",
    "WalletState",
    "WalletSummary",
    "activity_rows",
    "apply_loyalty",
    "came_back_at",
    "due_wallets",
    "evaluated_at",
    "iter_profiles",
    "label_due",
    "load_churn_model",
    "load_wallet",
    "loyalty_inputs",
    "next_churn_state",
    "next_state",
    "nightly_backtest",
    "overview",
    "population_labels",
    "publish_tier_change",
    "refit_churn_model",
    "save_churn_model",
    "summarize",
]
