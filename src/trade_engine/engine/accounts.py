"""Accounts: a user's balances and index of open orders.

`available` and `locked` are per asset, in minor units. `locked` is always exactly the
sum of the holds of the user's open orders and pending stops (see holds.py); the engine
checks `available` before it takes any hold, so funds can never be spent twice.
"""

from trade_engine.engine.order import Order


class Account:
    __slots__ = ("available", "client_ids", "locked", "orders")

    def __init__(self) -> None:
        self.available: dict[str, int] = {}
        self.locked: dict[str, int] = {}
        # Open orders and pending stops by id, in acceptance order.
        self.orders: dict[int, Order] = {}
        # Open orders by client order id (unique among a user's open orders).
        self.client_ids: dict[str, Order] = {}
