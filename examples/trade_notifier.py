"""A downstream consumer of a trade-engine cluster: every trade of one market, printed
as one JSON line as soon as it is committed (docs/cluster.md, "Events").

It runs as the `downstream` NATS user of deploy/nats-users.conf, in an account of its
own that sees only the cluster's public market subjects `<name>.market.>` (imported
from the cluster's account). The cluster's streams are out of its reach, so it keeps
the market messages in a stream of its own account, `<NAME>_MARKETS`, made if missing:
that stream holds what was committed since it was made, up to `--keep-hours` (on a
NATS without accounts, where the events stream is in reach, it reads that one). It reads
its market from that stream through a named pull consumer, makes the consumer again
from the last message it had if it is lost, checks that the market's sequence numbers
follow on from batch to batch, and turns the engine's integers into decimal text with
the market's tick and step sizes, read once from a gateway's REST API.

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
from nats.js.errors import BadRequestError, NotFoundError

from trade_engine.cluster.downstream import decode_market
from trade_engine.cluster.names import Names
from trade_engine.engine import TradeExecuted

IDLE_SECONDS: Final = 30.0  # the server drops the consumer once nobody has asked for this long
FETCH_SECONDS: Final = 5.0
STREAM_IN_USE: Final = 10058  # JetStream's error code: the stream exists with another configuration


async def market_stream(js: JetStreamContext, names: Names, args: argparse.Namespace) -> str:
    """The stream of this account that holds the market's subject. In the downstream
    account that is its own stream of the imported market subjects, made here if
    missing (several notifiers share it; one that finds it made with another retention
    takes it as it is). On a NATS without accounts it is the cluster's events stream."""
    try:
        return await js.find_stream_name_by_subject(names.market(args.market))
    except NotFoundError:
        pass
    name = f"{names.prefix.upper()}_MARKETS"
    stream = api.StreamConfig(
        name=name,
        subjects=[f"{names.prefix}.market.>"],
        storage=api.StorageType.FILE,
        max_age=args.keep_hours * 3600,
        num_replicas=args.replicas,
    )
    try:
        await js.add_stream(stream)
    except BadRequestError as error:
        if error.err_code != STREAM_IN_USE:
            raise
    return name


async def notify(args: argparse.Namespace) -> None:
    markets = httpx.get(f"{args.gateway}/api/v1/markets", timeout=10).json()["data"]
    market = next(m for m in markets if m["symbol"] == args.market)
    tick, step = Decimal(market["tick_size"]), Decimal(market["step_size"])
    names = Names(args.name)
    options: dict[str, Any] = {}
    if args.user:
        options["user"], options["password"] = args.user, args.password
    client = await nats.connect(args.nats.split(","), **options)
    js = client.jetstream()
    stream = await market_stream(js, names, args)
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
        return await js.pull_subscribe(names.market(args.market), stream=stream, config=config)

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
    parser.add_argument(
        "--from-start", action="store_true", help="every trade its own stream holds (since it was made)"
    )
    parser.add_argument("--keep-hours", type=float, default=24.0, help="retention of its own stream")
    parser.add_argument("--replicas", type=int, default=1, help="of its own stream (3 on a NATS cluster)")
    parser.add_argument("--user", help="NATS user (deploy/nats-users.conf: downstream)")
    parser.add_argument("--password", default="")
    asyncio.run(notify(parser.parse_args()))


if __name__ == "__main__":
    main()
