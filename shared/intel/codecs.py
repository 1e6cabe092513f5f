"""The documents of a wallet's partition and of the churn model, as intel and the read models above it
decode them (shared.store.codec)."""

from __future__ import annotations

from shared.churn import ChurnModel
from shared.intel.models import WalletState
from shared.profiles.model import Activity, Holding, WalletProfile
from shared.store.codec import DocCodec

PROFILE_CODEC = DocCodec(WalletProfile)
HOLDING_CODEC = DocCodec(Holding)
ACTIVITY_CODEC = DocCodec(Activity)
WALLET_STATE_CODEC = DocCodec(WalletState)
CHURN_MODEL_CODEC = DocCodec(ChurnModel)
