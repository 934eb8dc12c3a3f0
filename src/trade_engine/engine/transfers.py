"""Transfers: money in (`Deposit`) and out (`Withdraw`) of the engine.

A transfer names a known asset (one some market uses) and a user; a withdrawal takes
only available funds. The supply (deposits minus withdrawals per asset) is capped at
`MAX_AMOUNT`, and every balance is part of it, so no balance can pass the cap however
trading moves funds around. A transfer's reference is its caller's idempotency key:
once a transfer took it, another is refused with `DUPLICATE_REFERENCE`, forever.

Owns: available balances moved by transfers, the supply, transfer ids and references.
Must not touch: holds, books, markets.
"""

from trade_engine.domain.errors import ErrorCode, TradeEngineError
from trade_engine.domain.units import Minor
from trade_engine.domain.vocabulary import MAX_AMOUNT
from trade_engine.engine.commands import Deposit, Withdraw
from trade_engine.engine.events import Event, FundsDeposited, FundsWithdrawn
from trade_engine.engine.state import EngineState


def deposit(state: EngineState, cmd: Deposit, events: list[Event]) -> None:
    asset, amount = cmd.asset, Minor(cmd.amount)
    _check_reference(state, cmd.reference)
    _check_transfer(state, cmd.user_id, asset, amount)
    supply = state.supply.get(asset, 0) + amount
    if supply > MAX_AMOUNT:
        raise TradeEngineError(ErrorCode.BALANCE_LIMIT_EXCEEDED, f"total {asset} would exceed the limit")

    # -- from here on nothing is rejected --
    state.supply[asset] = supply
    available = state.account(cmd.user_id).available
    available[asset] = available.get(asset, 0) + amount
    events.append(
        FundsDeposited(
            ts=cmd.ts,
            transfer_id=_new_transfer_id(state, cmd.reference),
            user_id=cmd.user_id,
            asset=asset,
            amount=amount,
            reference=cmd.reference,
        )
    )


def withdraw(state: EngineState, cmd: Withdraw, events: list[Event]) -> None:
    asset, amount = cmd.asset, Minor(cmd.amount)
    _check_reference(state, cmd.reference)
    _check_transfer(state, cmd.user_id, asset, amount)
    account = state.accounts.get(cmd.user_id)
    if account is None or account.available.get(asset, 0) < amount:
        raise TradeEngineError(ErrorCode.INSUFFICIENT_BALANCE, f"insufficient {asset} balance")

    # -- from here on nothing is rejected --
    account.available[asset] -= amount
    state.supply[asset] -= amount
    events.append(
        FundsWithdrawn(
            ts=cmd.ts,
            transfer_id=_new_transfer_id(state, cmd.reference),
            user_id=cmd.user_id,
            asset=asset,
            amount=amount,
            reference=cmd.reference,
        )
    )


def _check_transfer(state: EngineState, user_id: str, asset: str, amount: Minor) -> None:
    if not user_id:
        raise TradeEngineError(ErrorCode.INVALID_ORDER, "user id is required")
    if asset not in state.assets:
        raise TradeEngineError(ErrorCode.UNKNOWN_ASSET, f"unknown asset {asset!r}")
    if amount <= 0 or amount > MAX_AMOUNT:
        raise TradeEngineError(ErrorCode.VALUE_OUT_OF_RANGE, "amount must be positive and in range")


def _check_reference(state: EngineState, reference: str | None) -> None:
    if reference is not None:
        taken_by = state.references.get(reference)
        if taken_by is not None:
            raise TradeEngineError(
                ErrorCode.DUPLICATE_REFERENCE,
                f"reference {reference!r} was used by transfer {taken_by}",
                duplicate_of=taken_by,
            )


def _new_transfer_id(state: EngineState, reference: str | None) -> int:
    """The next transfer id; it takes `reference` for good."""
    transfer_id = state.next_transfer_id
    state.next_transfer_id = transfer_id + 1
    if reference is not None:
        state.references[reference] = transfer_id
    return transfer_id
