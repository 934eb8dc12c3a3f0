"""ccxt.pro against the streams: the order book stays consistent through a random flow;
trades, orders and balances arrive over the market streams and the WebSocket API.

A watch resolves only once its subscription is live and something happens, so each
check keeps causing events (a bounded number of times) until its watch has answered.
"""

import asyncio
import random
from typing import Any

from common import pro_exchange, run

FLOW_ORDERS = 80


async def until_answered(watch: "asyncio.Task[Any]", act: Any, attempts: int = 50) -> Any:
    for _ in range(attempts):
        if watch.done():
            break
        await act()
        await asyncio.wait({watch}, timeout=0.2)
    return await watch


def _free_used(balance: Any, asset: str) -> Any:
    return {k: balance[asset][k] for k in ("free", "used")} if asset in balance else None


async def patiently(watch: Any, seconds: float = 30) -> Any:
    """The watch's result, or None if it has not answered in time (a failure the test
    reports; the watch is left to the client's close rather than cancelled)."""
    task = asyncio.ensure_future(watch)
    done, _ = await asyncio.wait({task}, timeout=seconds)
    return task.result() if done else None


async def random_flow(clients: list[Any], symbol: str, seed: int) -> int:
    """Random limit, market and cancel traffic around 100 from both accounts."""
    rng = random.Random(seed)
    placed = 0
    for _ in range(FLOW_ORDERS):
        client = rng.choice(clients)
        kind = rng.random()
        side = rng.choice(["buy", "sell"])
        amount = rng.choice([0.05, 0.1, 0.2, 0.5])
        if kind < 0.7:
            await client.create_order(symbol, "limit", side, amount, 100 + rng.randint(-10, 10) * 0.5)
        elif kind < 0.85:
            await client.create_order(symbol, "market", side, amount)
        else:
            orders = await client.fetch_open_orders(symbol)
            if orders:
                await client.cancel_order(rng.choice(orders)["id"], symbol)
        placed += 1
        if placed % 5 == 0:
            await asyncio.sleep(0.05)  # spread the flow over several depth diffs
    return placed


async def book_consistency(a: Any, b: Any, symbol: str, seed: int) -> dict[str, Any]:
    book = await a.watch_order_book(symbol)
    first_nonce = book["nonce"]
    updates = 0
    errors: list[str] = []
    stop = asyncio.Event()

    async def watch() -> None:
        nonlocal updates
        while not stop.is_set():
            try:
                await a.watch_order_book(symbol)
                updates += 1
            except Exception as error:
                errors.append(f"{type(error).__name__}: {error}")

    watcher = asyncio.create_task(watch())
    await random_flow([a, b], symbol, seed)
    stop.set()
    # A last change far from the action (it also wakes the watcher up), then the
    # snapshot the stream must reach.
    await a.create_order(symbol, "limit", "buy", 0.05, 50)
    snapshot = await a.fetch_order_book(symbol, 1000)
    await watcher
    book = a.orderbooks[symbol]
    while book["nonce"] < snapshot["nonce"]:
        book = await patiently(a.watch_order_book(symbol))
        if book is None:
            errors.append("the stream did not reach the snapshot")
            book = a.orderbooks[symbol]
            break
    return {
        "first_nonce": first_nonce,
        "updates": updates,
        "errors": errors,
        "stream_nonce": book["nonce"],
        "snapshot_nonce": snapshot["nonce"],
        # Copies: the client keeps updating its book after this returns.
        "stream_bids": [list(level) for level in book["bids"]],
        "stream_asks": [list(level) for level in book["asks"]],
        "snapshot_bids": snapshot["bids"],
        "snapshot_asks": snapshot["asks"],
    }


async def tickers(a: Any, b: Any, symbol: str) -> dict[str, Any]:
    """watch_tickers() with no symbols (`!miniTicker@arr`) after a trade at 100, then
    watch_ticker on `@ticker` (which shows the best bid and ask) after bids that move the
    best bid, with no trade: its bid must be the new one (once it went out only for
    trades, and went stale)."""
    every = asyncio.create_task(a.watch_tickers())

    async def trade() -> None:
        await b.create_order(symbol, "limit", "buy", 0.05, 100)
        await a.create_order(symbol, "market", "sell", 0.05)

    seen = await until_answered(every, trade)
    result: dict[str, Any] = {"tickers": {s: {"last": t["last"]} for s, t in seen.items()}}
    await a.cancel_all_orders(symbol)
    # `@ticker` (it carries the best bid and ask), named: ccxt's default stream for
    # watch_ticker has changed between its versions.
    watch = asyncio.create_task(a.watch_ticker(symbol, {"name": "ticker"}))
    bid, placed, ticker = 41.0, 0.0, None
    for _ in range(20):  # each a new best bid, until a ticker shows the latest one
        await a.create_order(symbol, "limit", "buy", 0.05, bid)
        placed, bid = bid, bid + 0.5
        done, _ = await asyncio.wait({watch}, timeout=1.5)
        if done:
            ticker = watch.result()
            if ticker["bid"] == placed:
                break  # (one from before the latest bid shows an earlier best)
            watch = asyncio.create_task(a.watch_ticker(symbol, {"name": "ticker"}))
    result["ticker"] = (
        None if ticker is None else {"bid": ticker["bid"], "last": ticker["last"], "best": placed}
    )
    return result


async def scenario(config: dict[str, Any]) -> dict[str, Any]:
    symbol = config["symbol"]
    a = pro_exchange(config, config["accounts"][0])
    b = pro_exchange(config, config["accounts"][1])
    try:
        await a.load_markets()
        await b.load_markets()
        result: dict[str, Any] = {"book": await book_consistency(a, b, symbol, config.get("seed", 7))}
        await a.cancel_all_orders(symbol)
        await b.cancel_all_orders(symbol)

        trades_watch = asyncio.create_task(a.watch_trades(symbol))

        async def trade() -> None:
            await b.create_order(symbol, "limit", "buy", 0.05, 100)
            await a.create_order(symbol, "market", "sell", 0.05)

        trades = await until_answered(trades_watch, trade)
        result["trades"] = [
            {"price": t["price"], "amount": t["amount"], "side": t["side"], "symbol": t["symbol"]}
            for t in trades
        ]

        orders_watch = asyncio.create_task(a.watch_orders(symbol))
        placed: list[str] = []

        async def rest() -> None:
            placed.append((await a.create_order(symbol, "limit", "buy", 0.05, 60))["id"])

        orders = await until_answered(orders_watch, rest)
        result["orders_new"] = [
            {"id": o["id"], "status": o["status"], "price": o["price"], "amount": o["amount"]} for o in orders
        ]
        result["placed"] = placed
        fill_watch = asyncio.create_task(a.watch_orders(symbol))
        await b.create_order(symbol, "market", "sell", 0.05 * len(placed))
        filled = await fill_watch
        result["orders_filled"] = [
            {"id": o["id"], "status": o["status"], "filled": o["filled"]} for o in filled
        ]

        balance_watch = asyncio.create_task(a.watch_balance())

        async def move() -> None:
            await a.create_order(symbol, "limit", "buy", 0.05, 40)

        balance = await until_answered(balance_watch, move)
        base, quote = symbol.split("/")
        rest_balance = await a.fetch_balance()
        # The watch answers with the first update after it subscribed, which may come from
        # the flow before or from the first of several moves: the stream's later updates
        # must bring it to what REST says.
        later = None
        for _ in range(20):
            if all(_free_used(balance, asset) == _free_used(rest_balance, asset) for asset in (base, quote)):
                break
            later = later or asyncio.ensure_future(a.watch_balance())
            done, _ = await asyncio.wait({later}, timeout=0.5)
            if done:
                balance, later = later.result(), None
            rest_balance = await a.fetch_balance()
        result["balance"] = {
            asset: {
                "stream": {k: balance[asset][k] for k in ("free", "used")} if asset in balance else None,
                "rest": {k: rest_balance[asset][k] for k in ("free", "used")},
            }
            for asset in (base, quote)
        }
        result.update(await tickers(a, b, symbol))
    finally:
        await a.close()
        await b.close()
    return result


run(scenario)
