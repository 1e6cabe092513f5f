"""The codecs of intel's own models: a wallet's derived state and the churn model (shared.store.codec).

The profile, holding and activity codecs are profiles' (shared.profiles.items), the lending records'
are lending's (shared.lending.store): one codec per model, declared by the context that owns it.
"""

from __future__ import annotations

from shared.churn import ChurnModel
from shared.intel.models import WalletState
from shared.store.codec import DocCodec

WALLET_STATE_CODEC = DocCodec(WalletState)
CHURN_MODEL_CODEC = DocCodec(ChurnModel)
