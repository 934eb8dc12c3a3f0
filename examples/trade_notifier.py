"""A downstream consumer of a trade-engine cluster: every trade of one market, printed
as one JSON line as soon as it is committed (docs/cluster.md, "Events").

It reads the public subject `<name>.market.<symbol>` of the events stream through a
named pull consumer filtered on it (what the `downstream` NATS user of
deploy/nats-users.conf may create; replies come on the inboxes that user may read),
makes it again from the last message it had if it is lost, checks that the market's
sequence numbers follow on from batch to batch, and turns the engine's integers into
decimal text with the market's tick and step sizes, read once from a gateway's REST API.

    .venv/bin/python examples/trade_notifier.py --nats nats://127.0.0.1:4222 \\
        --gateway http://127.0.0.1:8000 --market BTC-USDT [--from-start] \\
        [--user downstream --password ...]
"""

import argparse
import asyncio
import json
import sys
from decimal import Decimal
from typing import Any, Final

import httpx
import nats
from nats.aio.msg import Msg
from nats.errors import TimeoutError as NatsTimeout
from nats.js import JetStreamContext, api

from trade_engine.cluster.downstream import decode_market
from trade_engine.cluster.names import Names
from trade_engine.engine import TradeExecuted

IDLE_SECONDS: Final = 30.0  # the server drops the consumer once nobody has asked for this long
FETCH_SECONDS: Final = 5.0


async def notify(args: argparse.Namespace) -> None:
    markets = httpx.get(f"{args.gateway}/api/v1/markets", timeout=10).json()["data"]
    market = next(m for m in markets if m["symbol"] == args.market)
    tick, step = Decimal(market["tick_size"]), Decimal(market["step_size"])
    names = Names(args.name)
    options: dict[str, Any] = {"inbox_prefix": names.inbox("downstream")}
    if args.user:
        options["user"], options["password"] = args.user, args.password
    client = await nats.connect(args.nats.split(","), **options)
    js = client.jetstream()
    last_seq: int | None = None  # the market's
    resume: int | None = None  # the stream sequence to start from when the consumer is made again

    def on_message(message: Msg) -> None:
        nonlocal last_seq, resume
        resume = message.metadata.sequence.stream + 1
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

    async def consumer() -> JetStreamContext.PullSubscription:
        config = api.ConsumerConfig(ack_policy=api.AckPolicy.NONE, inactive_threshold=IDLE_SECONDS)
        if resume is not None:
            config.deliver_policy, config.opt_start_seq = api.DeliverPolicy.BY_START_SEQUENCE, resume
        else:
            config.deliver_policy = api.DeliverPolicy.ALL if args.from_start else api.DeliverPolicy.NEW
        return await js.pull_subscribe(names.market(args.market), stream=names.events_stream, config=config)

    subscription: JetStreamContext.PullSubscription | None = None
    try:
        while True:
            try:
                if subscription is None:
                    subscription = await consumer()
                for message in await subscription.fetch(batch=100, timeout=FETCH_SECONDS):
                    on_message(message)
            except NatsTimeout:
                continue  # nothing committed meanwhile (or no answer yet: asked again)
            except Exception as error:  # the consumer was lost (a server restarted): again
                print(f"consumer lost ({error!r}); making it again", file=sys.stderr)
                subscription = None
                await asyncio.sleep(1)
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
    parser.add_argument("--user", help="NATS user (deploy/nats-users.conf: downstream)")
    parser.add_argument("--password", default="")
    asyncio.run(notify(parser.parse_args()))


if __name__ == "__main__":
    main()
