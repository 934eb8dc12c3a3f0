"""A tables write built by hand, row by row, for tests of the writers' statements (the
rows a projection makes need a whole engine and flow behind them)."""

from trade_engine.storage.projection import (
    LEDGER_COLUMNS,
    ORDER_COLUMNS,
    STATE_COLUMNS,
    STATE_ROW_ID,
    TRADE_COLUMNS,
    USER_COLUMNS,
    BatchRows,
)
from trade_engine.storage.writes import PreparedBatch


def _row(columns: tuple[str, ...], **values: object) -> tuple[object, ...]:
    return tuple(values[column] for column in columns)


def one_of_each(seq: int, position: int | None = None) -> PreparedBatch:
    """One new order, one trade, one ledger entry (PostgreSQL inserts those without a
    conflict clause), a user, and the tables' position after them (`seq` unless
    `position` says otherwise), keyed by `seq`."""
    ts = 1_800_000_000_000_000_000 + seq
    order = _row(
        ORDER_COLUMNS,
        id=seq,
        created_ts=ts,
        updated_ts=ts,
        user_id="hand-built-user",
        market="BTC-USDT",
        side="BUY",
        order_type="LIMIT",
        time_in_force="GTC",
        price=100,
        stop_price=0,
        quantity=1,
        quote_quantity=0,
        remaining=1,
        executed=0,
        filled_quote=0,
        fee_paid=0,
        fee_residue=0,
        client_order_id=None,
        stp_mode="NONE",
        post_only=False,
        pending=False,
        status="NEW",
        reason=None,
        priority=seq,
        meta=None,
    )
    trade = _row(
        TRADE_COLUMNS,
        id=seq,
        ts=ts,
        market="BTC-USDT",
        seq=seq,
        price=100,
        quantity=1,
        base_amount=1,
        quote_amount=100,
        taker_side="BUY",
        maker_order_id=seq,
        taker_order_id=seq,
        buyer_user_id="hand-built-user",
        seller_user_id="hand-built-user",
        maker_fee=0,
        taker_fee=0,
    )
    entry = _row(
        LEDGER_COLUMNS,
        ts=ts,
        source="BTC-USDT",
        source_seq=seq,
        leg=0,
        user_id="hand-built-user",
        asset="USDT",
        available_delta=0,
        locked_delta=0,
        kind="TRADE",
        ref_id=seq,
    )
    rows = BatchRows(
        users=[_row(USER_COLUMNS, id="hand-built-user", created_ts=ts)],
        new_orders=[order],
        trades=[trade],
        ledger=[entry],
        state=[
            _row(
                STATE_COLUMNS, id=STATE_ROW_ID, last_seq=seq if position is None else position, updated_ts=ts
            )
        ],
    )
    return PreparedBatch(rows)
