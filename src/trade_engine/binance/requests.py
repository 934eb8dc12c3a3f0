"""What every Binance handler does first: read the parameters the Binance way (query
string and form body, query wins), verify a signed request on its raw bytes, and find
the market a `symbol` names."""

import time
from typing import Final

from trade_engine.binance.auth import Caller, verify_request
from trade_engine.binance.errors import INVALID_SYMBOL, invalid_value, refusal
from trade_engine.binance.params import Params, parse
from trade_engine.binance.wire import symbol_of
from trade_engine.domain.market import Market
from trade_engine.domain.timestamps import NS_PER_MS, ms
from trade_engine.edge.gateway import Gateway
from trade_engine.edge.routes import Call

_MAX_MS: Final = 2**63 // NS_PER_MS


def now_ms() -> int:
    return ms(time.time_ns())


async def params_of(gateway: Gateway, call: Call) -> tuple[Params, bytes, bytes]:
    request = call.request
    query = request.query_string
    body = await request.body(gateway.config.http.max_body_bytes)
    return parse(query, body, request.header(b"content-type") or ""), query, body


async def signed(gateway: Gateway, call: Call, permission: str) -> tuple[Caller, Params]:
    params, query, body = await params_of(gateway, call)
    caller = await verify_request(
        gateway,
        key=call.request.header(b"x-mbx-apikey"),
        permission=permission,
        params=params,
        query=query,
        body=body,
    )
    return caller, params


def all_markets(gateway: Gateway) -> list[Market]:
    return gateway.read_model().markets.all()


def markets_by_symbol(gateway: Gateway) -> dict[str, Market]:
    return {symbol_of(market.symbol): market for market in all_markets(gateway)}


def market_named(gateway: Gateway, symbol: str) -> Market:
    market = markets_by_symbol(gateway).get(symbol.upper())
    if market is None:
        raise refusal(INVALID_SYMBOL)
    return market


def market_of(gateway: Gateway, params: Params) -> Market:
    return market_named(gateway, params.required("symbol"))


def selected(gateway: Gateway, params: Params) -> list[Market] | None:
    """`symbol` or `symbols` (None when neither was sent: all markets)."""
    by_symbol = markets_by_symbol(gateway)
    names = params.symbol_list()
    single = params.text("symbol")
    if single is not None:
        names = [single]
    if names is None:
        return None
    found = [by_symbol.get(name.upper()) for name in names]
    if any(market is None for market in found):
        raise refusal(INVALID_SYMBOL)
    return [market for market in found if market is not None]


def time_ns(params: Params, name: str) -> int | None:
    """A millisecond time parameter, as Unix nanoseconds."""
    value = params.integer(name)
    if value is None:
        return None
    if not 0 <= value < _MAX_MS:
        raise invalid_value(name)
    return value * NS_PER_MS
