"""A WebSocket client for the end-to-end tests: real connections (`websockets`, sync API).

`WsClient` sends requests and keeps every message it receives, in order; `BookMirror`
is what a careful client of the order book channel does: apply a snapshot, then deltas
whose `seq` must be exactly one more than the last, and report a gap otherwise.
"""

import itertools
import json
import time
from collections.abc import Callable
from decimal import Decimal
from typing import Any

from websockets.exceptions import ConnectionClosed
from websockets.sync.client import ClientConnection, connect

from tests.e2e.server import Server

Message = dict[str, Any]
WAIT = 20.0  # seconds to wait for a message that must come (a hang guard, not a timing check)


class Gap(Exception):
    """A delta did not continue the sequence: a message was missed."""


class Closed(Exception):
    def __init__(self, code: int | None, reason: str) -> None:
        super().__init__(f"closed: {code} {reason}")
        self.code = code
        self.reason = reason


class WsClient:
    def __init__(self, server: Server, *, token: str | None = None, batch: bool = False) -> None:
        headers = {"Authorization": f"Bearer {token}"} if token else None
        url = server.url.replace("http://", "ws://") + ("/ws?batch=true" if batch else "/ws")
        self.frames = 0
        self.batches = 0  # frames that held several messages
        self.connection: ClientConnection = connect(
            url, additional_headers=headers, compression=None, proxy=None, max_queue=None, max_size=None
        ).__enter__()
        self.received: list[Message] = []  # everything, in order
        self._unread = 0  # index in `received` of the first message not yet taken by `next`
        self._ids = itertools.count(1)

    def __enter__(self) -> "WsClient":
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def close(self) -> None:
        self.connection.__exit__(None, None, None)

    # -- sending --

    def send(self, **message: Any) -> None:
        self.connection.send(json.dumps(message))

    def request(self, op: str, **fields: Any) -> Message:
        """Send a request and return its answer (a success or an error)."""
        request_id = next(self._ids)
        self.send(op=op, id=request_id, **fields)
        return self.wait(lambda m: m.get("id") == request_id and m["type"] != "heartbeat")

    def subscribe(self, *channels: str) -> Message:
        answer = self.request("subscribe", channels=list(channels))
        assert answer["type"] == "subscribed", answer
        return answer

    def authenticate(self, token: str) -> Message:
        return self.request("authenticate", token=token)

    # -- receiving --

    def _receive(self, timeout: float) -> None:
        try:
            data = self.connection.recv(timeout=timeout)
        except ConnectionClosed as closed:
            frame = closed.rcvd
            raise Closed(frame.code if frame else None, frame.reason if frame else "") from closed
        decoded = json.loads(data)
        self.frames += 1
        if isinstance(decoded, list):  # a batch (connected with ?batch=true)
            self.batches += 1
            self.received.extend(decoded)
        else:
            self.received.append(decoded)

    def next(self, timeout: float = WAIT) -> Message:
        """The next message not yet taken (waiting for it if needed)."""
        if self._unread >= len(self.received):
            self._receive(timeout)
        message = self.received[self._unread]
        self._unread += 1
        return message

    def taken(self) -> list[Message]:
        """The messages `next` has returned so far."""
        return self.received[: self._unread]

    def wait(self, predicate: Callable[[Message], bool], timeout: float = WAIT) -> Message:
        """The first message from here on that satisfies `predicate` (skipping others)."""
        deadline = time.monotonic() + timeout
        while True:
            message = self.next(max(0.0, deadline - time.monotonic()))
            if predicate(message):
                return message

    def drain(self, quiet: float = 0.3) -> list[Message]:
        """Whatever arrives until nothing has come for `quiet` seconds."""
        messages = []
        while True:
            try:
                messages.append(self.next(quiet))
            except TimeoutError:
                return messages

    def closed(self, timeout: float = WAIT) -> Closed:
        """Read until the server closes the connection; the close frame."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                self.next(max(0.0, deadline - time.monotonic()))
            except Closed as closed:
                return closed

    def of(self, message_type: str, channel: str | None = None) -> list[Message]:
        return [
            m
            for m in self.received
            if m["type"] == message_type and (channel is None or m.get("channel") == channel)
        ]


def decimal_levels(levels: dict[Decimal, Decimal], descending: bool) -> list[tuple[Decimal, Decimal]]:
    return sorted(levels.items(), reverse=descending)


class BookMirror:
    """A client's copy of one market's book, kept from the `book:<market>` channel."""

    def __init__(self, channel: str) -> None:
        self.channel = channel
        self.bids: dict[Decimal, Decimal] = {}
        self.asks: dict[Decimal, Decimal] = {}
        self.seq: int | None = None
        self.market_seq = 0
        self.deltas = 0

    def apply(self, message: Message) -> None:
        """Apply a message of the channel (others are ignored); Gap if one was missed."""
        if message.get("channel") != self.channel:
            return
        if message["type"] == "book_snapshot":
            self.bids = {Decimal(p): Decimal(q) for p, q in message["bids"]}
            self.asks = {Decimal(p): Decimal(q) for p, q in message["asks"]}
            self.seq = message["seq"]
            self.market_seq = message["market_seq"]
        elif message["type"] == "book_delta":
            if self.seq is None:
                return  # a delta queued before the snapshot we are waiting for
            if message["seq"] != self.seq + 1:
                raise Gap(f"expected seq {self.seq + 1}, got {message['seq']}")
            for side, levels in ((self.bids, message["bids"]), (self.asks, message["asks"])):
                for price, quantity in levels:
                    if Decimal(quantity):
                        side[Decimal(price)] = Decimal(quantity)
                    else:
                        side.pop(Decimal(price), None)
            self.seq = message["seq"]
            self.market_seq = message["market_seq"]
            self.deltas += 1

    def levels(self) -> dict[str, list[tuple[Decimal, Decimal]]]:
        return {"bids": decimal_levels(self.bids, True), "asks": decimal_levels(self.asks, False)}


def rest_levels(depth: dict[str, Any]) -> dict[str, list[tuple[Decimal, Decimal]]]:
    return {side: [(Decimal(p), Decimal(q)) for p, q in depth[side]] for side in ("bids", "asks")}
