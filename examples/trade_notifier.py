"""A downstream consumer of a trade-engine cluster: every trade of one market, printed
as one JSON line as soon as it is committed (docs/cluster.md, "Events").

It reads the public subject `<name>.market.<symbol>` of the events stream through an
ordered consumer (JetStream re-delivers from the last message it had after a
disconnection), checks that the market's sequence numbers follow on from batch to batch,
and turns the engine's integers into decimal text with the market's tick and step
sizes, read once from a gateway's REST API.

    .venv/bin/python examples/trade_notifier.py --nats nats://127.0.0.1:4222 \\
        --gateway http://127.0.0.1:8000 --market BTC-USDT [--from-start]
"""

import argparse
import asyncio
import json
import sys
from decimal import Decimal

import httpx
import nats
from nats.aio.msg import Msg
from nats.js import api

from trade_engine.cluster.downstream import decode_market
from trade_engine.cluster.names import Names
from trade_engine.engine import TradeExecuted


async def notify(nats_url: str, gateway: str, symbol: str, prefix: str, from_start: bool) -> None:
    markets = httpx.get(f"{gateway}/api/v1/markets", timeout=10).json()["data"]
    market = next(m for m in markets if m["symbol"] == symbol)
    tick, step = Decimal(market["tick_size"]), Decimal(market["step_size"])
    names = Names(prefix)
    client = await nats.connect(nats_url.split(","))
    last_seq: int | None = None

    async def on_message(message: Msg) -> None:
        nonlocal last_seq
        events = decode_market(message.data)
        if last_seq is not None and events.first_seq != last_seq + 1:
            print(f"gap: market sequence {last_seq + 1}..{events.first_seq - 1} missed", file=sys.stderr)
        last_seq = events.last_seq
        for event in events.events:
            if isinstance(event, TradeExecuted):
                trade = {
                    "market": event.market,
                    "trade_id": event.trade_id,
                    "price": str(event.price * tick),
                    "quantity": str(event.quantity * step),
                    "taker_side": event.taker_side,
                    "time_ms": event.ts // 1_000_000,
                    "market_seq": event.seq,
                }
                print(json.dumps(trade), flush=True)

    policy = api.DeliverPolicy.ALL if from_start else api.DeliverPolicy.NEW
    await client.jetstream().subscribe(
        names.market(symbol),
        stream=names.events_stream,
        cb=on_message,
        ordered_consumer=True,
        deliver_policy=policy,
    )
    try:
        await asyncio.Event().wait()
    finally:
        await client.close()


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--nats", default="nats://127.0.0.1:4222")
    parser.add_argument("--gateway", default="http://127.0.0.1:8000")
    parser.add_argument("--market", default="BTC-USDT")
    parser.add_argument("--name", default="te", help="cluster.name")
    parser.add_argument("--from-start", action="store_true", help="every trade the stream still holds")
    args = parser.parse_args()
    asyncio.run(notify(args.nats, args.gateway, args.market, args.name, args.from_start))


if __name__ == "__main__":
    main()
