"""Binance's request weights: what each request costs against its address's limit
(binance/limits.py), as Binance's spot API documents them. A weight that depends on the
request is a function of its parameters; one that cannot be read costs the least."""

from collections.abc import Callable

from trade_engine.binance.errors import BinanceError
from trade_engine.binance.params import Params

Weight = int | Callable[[Params], int]


def of(weight: Weight, params: Params) -> int:
    if isinstance(weight, int):
        return weight
    try:
        return weight(params)
    except BinanceError:  # malformed parameters: the handler refuses them
        return 1


def depth(params: Params) -> int:
    limit = params.integer("limit", 100) or 100
    return 5 if limit <= 100 else 25 if limit <= 500 else 50 if limit <= 1000 else 250


def _symbols(params: Params) -> int | None:
    """How many symbols the request names (None: all markets)."""
    if params.text("symbol") is not None:
        return 1
    names = params.symbol_list()
    return None if names is None else len(names)


def day_ticker(params: Params) -> int:
    count = _symbols(params)
    if count is None:
        return 80
    return 2 if count <= 20 else 40 if count <= 100 else 80


def one_or_all(params: Params) -> int:
    """/ticker/price and /ticker/bookTicker: 2 for one symbol, 4 otherwise."""
    return 2 if params.text("symbol") is not None else 4


def rolling_ticker(params: Params) -> int:
    count = _symbols(params) or 1
    return 200 if count > 50 else 4 * count


def test_order(params: Params) -> int:
    return 20 if params.true("computeCommissionRates") else 1


def open_orders(params: Params) -> int:
    return 6 if params.text("symbol") is not None else 80


def my_trades(params: Params) -> int:
    return 5 if params.text("orderId") is not None else 20
