"""Committed history as the gateways read it: a user's orders, fills, balances and
transfers, a market's trades and candle aggregate, the operators' records.

This is the read half of the core port. The gateways are handed a `History` (by
`Gateway.history()`, once the tables hold every command committed before the read) and
name each query they make: a `History` keeps its database to itself, so what the APIs
read of history is stated here and nowhere else. (What they write outside the core,
the operators' audit log and API keys, goes through their own stores.) The tables
are the history projection, written behind the acknowledgement (docs/adr/0001); a
cluster's gateway reads the same tables.
"""

from trade_engine.storage.market_reads import MarketHistory
from trade_engine.storage.operations import OperatorHistory
from trade_engine.storage.reads import OwnHistory


class History(OwnHistory, MarketHistory, OperatorHistory):
    """Every committed-history query of the gateways, bound to one database."""
