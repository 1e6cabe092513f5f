"""The churn model in the App table: load, save, and the nightly refit with its backtest over every
wallet's active days (docs/architecture.md, "Profiles, scores and rules")."""

from __future__ import annotations

import time
from collections.abc import Iterator

from shared import churn
from shared.intel.codecs import CHURN_MODEL_CODEC
from shared.profiles.items import PROFILE_CODEC
from shared.profiles.model import DAY, WalletProfile
from shared.settings import Settings
from shared.store import dynamo, keys
from shared.store.paging import query_all


def load_churn_model(settings: Settings) -> churn.ChurnModel:
    item = (
        dynamo.client("dynamodb")
        .get_item(TableName=settings.app_table, Key=dynamo.to_item(keys.churn_model_key()))
        .get("Item")
    )
    if item:
        return CHURN_MODEL_CODEC.decode(item)
    return churn.prior_model()


def save_churn_model(model: churn.ChurnModel, settings: Settings) -> None:
    db = dynamo.client("dynamodb")
    for key in (keys.churn_model_key(), keys.churn_model_key(model.version)):
        db.put_item(TableName=settings.app_table, Item=CHURN_MODEL_CODEC.encode(key, model))


def iter_profiles(settings: Settings) -> Iterator[WalletProfile]:
    """Every wallet profile, shard by shard through the score index (the nightly fit reads them all)."""
    for shard in range(keys.SCORE_SHARDS):
        for item in query_all(
            settings.app_table,
            IndexName=keys.GSI1,
            KeyConditionExpression="gsi1pk = :p",
            ExpressionAttributeValues=dynamo.to_item({":p": keys.score_partition(shard)}),
        ):
            yield PROFILE_CODEC.decode(item)


def activity_rows(settings: Settings, now: int) -> list[churn.Row]:
    """(first_seen, active day numbers, now) of every wallet: what the churn model is fitted on."""
    return [
        (p.first_seen, [int(d) for d in p.active_days], now)
        for p in iter_profiles(settings)
        if p.first_seen is not None
    ]


def refit_churn_model(settings: Settings, now: int | None = None) -> churn.ChurnModel:
    """Fit MBG/NBD and its risk layer to every wallet's active days for the configured horizon
    (labels.churn_horizon_days), backtest the fit on the last horizon, and store both as the next version."""
    now = now or int(time.time())
    rows = activity_rows(settings, now)
    previous = load_churn_model(settings)
    labels = settings.labels
    horizon, recent = labels.churn_horizon_days, labels.dormant_days
    model = churn.fit_churn(rows, horizon_days=horizon, recent_days=recent, version=previous.version + 1, fitted_at=now)
    backtest = nightly_backtest(rows, now, horizon, recent, labels.at_risk_p_alive)
    model = model.model_copy(update={"backtest": backtest})
    save_churn_model(model, settings)
    return model


def nightly_backtest(
    rows: list[churn.Row], now: int, horizon_days: int, recent_days: int, at_risk_p_alive: float = 0.5
) -> churn.ChurnBacktest | None:
    """The backtest at the latest cut whose window has fully happened: how the model would have done
    `horizon_days` ago. None when there is too little history or too few wallets to measure anything."""
    cut = (now // DAY - horizon_days) * DAY  # today is not over: the window ends at the last midnight
    try:
        return churn.backtest(rows, cut, horizon_days, recent_days=recent_days, at_risk_p_alive=at_risk_p_alive)
    except ValueError:
        return None
