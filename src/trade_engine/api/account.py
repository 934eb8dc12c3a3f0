"""The native account routes: the user's fills and balances (committed state)."""

from trade_engine.api import views
from trade_engine.api.params import FillsQuery
from trade_engine.api.schemas import BalanceView, FillPage
from trade_engine.edge.gateway import Gateway
from trade_engine.edge.routes import Call
from trade_engine.engine import Balance


async def list_fills(gateway: Gateway, call: Call) -> FillPage:
    """The user's own fills (one per trade and side), newest first."""
    query = call.query_as(FillsQuery)
    history = await gateway.history()
    start_ns, end_ns = views.time_range(query.start_time, query.end_time)
    rows, total = await history.fill_rows(
        call.user().user_id,
        market=query.market,
        start_ns=start_ns,
        end_ns=end_ns,
        limit=query.limit,
        offset=query.offset,
    )
    fills = [views.fill_from_row(row, gateway.market(row["market"])) for row in rows]
    has_more = query.offset + len(fills) < total
    return FillPage(fills=fills, total=total, limit=query.limit, offset=query.offset, has_more=has_more)


async def list_balances(gateway: Gateway, call: Call) -> list[BalanceView]:
    """The user's committed balances per asset."""
    history = await gateway.history()
    decimals = gateway.asset_decimals()
    rows = await history.balance_rows(call.user().user_id)
    return [
        views.balance_view(asset, decimals.get(asset, 8), Balance(available, locked))
        for asset, available, locked, _ in rows
        if available or locked
    ]
