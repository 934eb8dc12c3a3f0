"""The engine's record of one open order (resting limit order or pending stop).

Orders are mutable and live only inside the engine. They are `gc=False` structs: they
never reference containers, so the garbage collector need not scan a million of them.
"""

import msgspec


class Order(msgspec.Struct, kw_only=True, gc=False):
    id: int
    user_id: str
    market: str
    side: str
    order_type: str
    time_in_force: str
    price: int
    stop_price: int
    quantity: int
    quote_quantity: int
    # Lots still to fill (0 for orders sized by quote amount). A cancelled or replaced
    # order is set to 0, which is how a book level recognises a stale queue entry.
    remaining: int
    # Quote minor units traded so far.
    filled_quote: int = 0
    # Sum of notional × fee rate over all fills, in millionths of a quote minor unit.
    # The fee charged so far is always ceil(fee_numer / FEE_SCALE): see holds.py.
    fee_numer: int = 0
    ts: int
    client_order_id: str | None
    stp_mode: str
    post_only: bool
    # True while a stop order waits for its trigger price.
    pending: bool = False
