"""Market data over raw HTTP that bots read besides the book: klines from before a
market's first trade, the average price and the rolling-window tickers."""

import time
from typing import Any

import pytest

from tests.e2e.binance.conftest import INTERVALS, Binance, SignedClient, binance_error
from tests.e2e.binance.test_rest import limit_order
from tests.e2e.client import QUOTE


@pytest.fixture(scope="module")
def traded(binance: Binance) -> dict[str, Any]:
    """A fresh market with three trades (at 30, 32 and 31), and when they happened."""
    native, market_id, _ = binance.market()
    base = native.split("-")[0]
    maker = SignedClient(binance, binance.account("md-maker", {base: "10"}))
    taker = SignedClient(binance, binance.account("md-taker", {QUOTE: "10000"}))
    before = int(time.time() * 1000)
    for price, quantity in (("30", "0.5"), ("32", "0.25"), ("31", "1")):
        maker.request("POST", "order", body=limit_order(market_id, "SELL", quantity, price))
        answer = taker.request("POST", "order", body=limit_order(market_id, "BUY", quantity, price))
        assert answer.json()["status"] == "FILLED", answer.text
    return {"id": market_id, "before": before, "after": int(time.time() * 1000)}


def get(binance: Binance, path: str, **params: Any) -> Any:
    response = binance.api.http.get(f"/api/v3/{path}", params=params)
    assert response.status_code == 200, response.text
    return response.json()


def test_klines_from_before_the_first_trade_start_with_the_first_kline_that_exists(
    binance: Binance, traded: dict[str, Any]
) -> None:
    for interval in INTERVALS:
        # What python-binance asks first: the earliest kline there is.
        (first,) = get(binance, "klines", symbol=traded["id"], interval=interval, startTime=0, limit=1)
        assert first[0] <= traded["before"] <= first[6] or traded["before"] <= first[0], interval
        assert first[1] == "30.00000000", interval  # the first trade opens it
        series = get(binance, "klines", symbol=traded["id"], interval=interval, startTime=0)
        assert sum(kline[8] for kline in series) == 3, interval
        assert series[-1][4] == "31.00000000", interval


def test_a_one_minute_history_has_every_minute_since_the_first_trade(
    binance: Binance, traded: dict[str, Any]
) -> None:
    series = get(
        binance, "klines", symbol=traded["id"], interval="1m", startTime=traded["before"] - 3_600_000
    )
    opens = [kline[0] for kline in series]
    assert opens == list(range(opens[0], opens[-1] + 1, 60_000))
    assert [kline[6] - kline[0] for kline in series] == [59_999] * len(series)


def test_klines_in_another_time_zone_are_refused_not_served_in_utc(
    binance: Binance, traded: dict[str, Any]
) -> None:
    assert get(binance, "klines", symbol=traded["id"], interval="1h", timeZone="0")
    response = binance.api.http.get(
        "/api/v3/klines", params={"symbol": traded["id"], "interval": "1h", "timeZone": "+08:00"}
    )
    binance_error(response, 400, -1130, "Data sent for parameter 'timeZone' is not valid.")


def test_the_average_price_weighs_the_last_five_minutes_trades_by_quantity(
    binance: Binance, traded: dict[str, Any]
) -> None:
    average = get(binance, "avgPrice", symbol=traded["id"])
    # (30 * 0.5 + 32 * 0.25 + 31 * 1) / 1.75 = 54 / 1.75 = 30.857142857...
    assert average["mins"] == 5
    assert average["price"] == "30.85714286"
    assert traded["before"] <= average["closeTime"] <= traded["after"]


@pytest.mark.parametrize("window", ["1m", "15m", "4h", "1d", "3d", "7d"])
def test_rolling_windows_cover_the_trades_within_them(
    binance: Binance, traded: dict[str, Any], window: str
) -> None:
    ticker = get(binance, "ticker", symbol=traded["id"], windowSize=window)
    assert (ticker["openPrice"], ticker["highPrice"], ticker["lowPrice"], ticker["lastPrice"]) == (
        "30.00000000",
        "32.00000000",
        "30.00000000",
        "31.00000000",
    )
    assert (ticker["volume"], ticker["quoteVolume"], ticker["count"]) == ("1.75000000", "54.00000000", 3)
    assert (ticker["priceChange"], ticker["priceChangePercent"]) == ("1.00000000", "3.333")
    assert ticker["weightedAvgPrice"] == "30.85714286"
    assert ticker["lastId"] - ticker["firstId"] == 2
    assert ticker["openTime"] % 60_000 == 0
    assert ticker["openTime"] <= traded["before"]
    assert ticker["closeTime"] >= traded["after"]


def test_a_rolling_mini_ticker_for_several_symbols_is_a_list(
    binance: Binance, traded: dict[str, Any]
) -> None:
    symbols = f'["{traded["id"]}","BTCUSDT"]'
    tickers = get(binance, "ticker", symbols=symbols, type="MINI", windowSize="2h")
    assert [t["symbol"] for t in tickers] == [traded["id"], "BTCUSDT"]
    assert "priceChange" not in tickers[0]
    assert tickers[0]["count"] == 3


@pytest.mark.parametrize(
    ("params", "code"),
    [
        ({}, -1102),
        ({"windowSize": "60m"}, -1130),
        ({"windowSize": "8d"}, -1130),
        ({"windowSize": "1d2h"}, -1130),
        ({"windowSize": "0m"}, -1130),
        ({"type": "HALF"}, -1139),  # Binance's "Invalid ticker type."
    ],
)
def test_rolling_tickers_refuse_bad_windows_and_a_missing_symbol(
    binance: Binance, traded: dict[str, Any], params: dict[str, str], code: int
) -> None:
    if params:
        params = {"symbol": traded["id"], **params}
    binance_error(binance.api.http.get("/api/v3/ticker", params=params), 400, code)
