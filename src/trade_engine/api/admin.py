"""The native admin routes: deposits and withdrawals, markets, API keys (admin role)."""

import time
from typing import Literal

from trade_engine.api import views
from trade_engine.api.params import ApiKeyPath, ApiKeysQuery, MarketPath
from trade_engine.api.schemas import (
    ApiKeyBody,
    ApiKeyCreated,
    ApiKeyView,
    MarketBody,
    MarketView,
    TransferBody,
    TransferView,
)
from trade_engine.domain.errors import ErrorCode, TradeEngineError
from trade_engine.domain.market import asset_units, market_from_spec
from trade_engine.domain.timestamps import ms
from trade_engine.edge.gateway import Gateway
from trade_engine.edge.routes import Call
from trade_engine.engine import (
    AddMarket,
    Balance,
    Deposit,
    FundsDeposited,
    FundsWithdrawn,
    SetMarketStatus,
    Withdraw,
)
from trade_engine.storage.apikeys import ApiKey


async def _transfer(
    gateway: Gateway, body: TransferBody, kind: Literal["DEPOSIT", "WITHDRAWAL"]
) -> TransferView:
    decimals = gateway.asset_decimals().get(body.asset)
    if decimals is None:
        raise TradeEngineError(ErrorCode.UNKNOWN_ASSET, f"unknown asset {body.asset!r}")
    amount = asset_units(body.amount, decimals)
    command_type = Deposit if kind == "DEPOSIT" else Withdraw
    command = command_type(
        ts=0, user_id=body.user_id, asset=body.asset, amount=amount, reference=body.reference
    )
    replayed = False
    try:
        seq, events = await gateway.submit_numbered(command)
    except TradeEngineError as refused:
        duplicate_of = refused.detail("duplicate_of")
        if refused.code != ErrorCode.DUPLICATE_REFERENCE or not isinstance(duplicate_of, int):
            raise
        # A retry of a transfer that was applied (or another transfer reusing its
        # reference, told apart below): answered with the original.
        seq, transfer_id, replayed = 0, duplicate_of, True
    else:
        transfer_id = next(e for e in events if isinstance(e, FundsDeposited | FundsWithdrawn)).transfer_id
    if replayed or not gateway.holds(seq):
        history = await gateway.history(seq)
        found = await history.transfer_with_balance(transfer_id)
        if found is None:  # a replay of a transfer committed while this request waited
            raise TradeEngineError(ErrorCode.UNAVAILABLE, "the transfer is being recorded; retry shortly")
        row, available, locked = found
        original = (row["kind"], row["user_id"], row["asset"], row["amount"])
        if original != (kind, body.user_id, body.asset, amount):
            raise TradeEngineError(
                ErrorCode.DUPLICATE_REFERENCE, "this reference was used for a different transfer"
            )
        asset, balance = row["asset"], Balance(available, locked)
    else:  # answered from what was committed, not from history: never a 503 for a transfer made
        asset, balance = body.asset, gateway.read_model().balances.balance(body.user_id, body.asset)
    return TransferView(
        transfer_id=transfer_id,
        user_id=body.user_id,
        asset=asset,
        amount=views.asset_amount(amount, decimals),
        kind=kind,
        reference=body.reference,
        balance=views.balance_view(asset, decimals, balance),
        replayed=replayed,
    )


async def deposit(gateway: Gateway, call: Call) -> TransferView:
    """Credit a user (the wallet system's integration point); idempotent by `reference`."""
    return await _transfer(gateway, call.body_as(TransferBody), "DEPOSIT")


async def withdraw(gateway: Gateway, call: Call) -> TransferView:
    """Debit a user's available balance; idempotent by `reference`."""
    return await _transfer(gateway, call.body_as(TransferBody), "WITHDRAWAL")


async def add_market(gateway: Gateway, call: Call) -> MarketView:
    """Add a market, as in the configuration file."""
    market = market_from_spec(call.body_as(MarketBody))
    await gateway.submit(AddMarket(ts=0, market=market))
    return views.market_view(gateway.market(market.symbol))


async def _set_status(gateway: Gateway, call: Call, status: str) -> MarketView:
    symbol = call.path_as(MarketPath).symbol
    gateway.market(symbol)
    await gateway.submit(SetMarketStatus(ts=0, market=symbol, status=status))
    return views.market_view(gateway.market(symbol))


async def halt_market(gateway: Gateway, call: Call) -> MarketView:
    """Stop all activity in the market (new orders, amends and cancels)."""
    return await _set_status(gateway, call, "HALT")


async def cancel_only_market(gateway: Gateway, call: Call) -> MarketView:
    """Allow cancels only."""
    return await _set_status(gateway, call, "CANCEL_ONLY")


async def resume_market(gateway: Gateway, call: Call) -> MarketView:
    """Trade again."""
    return await _set_status(gateway, call, "TRADING")


async def create_api_key(gateway: Gateway, call: Call) -> ApiKeyCreated:
    """A new API key for a user; the secret is in this answer and nowhere else."""
    body = call.body_as(ApiKeyBody)
    key, secret = await gateway.key_store().create(
        body.user_id, list(body.permissions), body.label, time.time_ns()
    )
    return ApiKeyCreated(
        api_key=key.key,
        secret=secret,
        user_id=key.user_id,
        permissions=list(key.permissions),
        label=key.label,
    )


def _key_view(key: ApiKey) -> ApiKeyView:
    return ApiKeyView(
        api_key=key.key,
        user_id=key.user_id,
        permissions=list(key.permissions),
        label=key.label,
        created_at=ms(key.created_ts),
        revoked_at=None if key.revoked_ts is None else ms(key.revoked_ts),
    )


async def list_api_keys(gateway: Gateway, call: Call) -> list[ApiKeyView]:
    """API keys (of one user, if given), oldest first; secrets are never shown."""
    user_id = call.query_as(ApiKeysQuery).user_id
    return [_key_view(key) for key in await gateway.key_store().list(user_id=user_id)]


async def revoke_api_key(gateway: Gateway, call: Call) -> ApiKeyView:
    """Revoke a key at once: requests signed with it are refused from now on, and the
    Binance user-data subscriptions it signed end (`eventStreamTerminated`, then close)."""
    key = await gateway.key_store().revoke(call.path_as(ApiKeyPath).api_key, time.time_ns())
    if key is None:
        raise TradeEngineError(ErrorCode.NOT_FOUND, "no such API key")
    return _key_view(key)
