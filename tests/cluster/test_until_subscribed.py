"""The harness's `until_subscribed`, against a server that reads one connection late.

A cluster test that plays a core subscribes to the command subject and then has a
gateway publish a command from another connection. Under CPU contention the command
sometimes missed the subscription (the test then timed out, in CI too): nats-py's
`flush` writes its PING ahead of the SUB still in its buffer, so the server's PONG says
nothing about the SUB. What the real server's scheduling did now and then, this stand-in
does every time: having answered a PING, it reads nothing more on that connection for a
while. It speaks just enough of the NATS protocol for a nats-py client to connect,
subscribe, flush and make a request that has no responders.
"""

import asyncio
import json

import nats
from nats.aio.msg import Msg

from tests.cluster.harness import until_subscribed

STALL_SECONDS = 0.5
SUBJECT = "te.cmd"
INFO = {"server_id": "stand-in", "version": "2.10.27", "proto": 1, "headers": True, "max_payload": 1 << 20}


class LateReader:
    """Answers PING with PONG, then reads nothing on that connection for STALL_SECONDS
    (the connection's first PING, the client's handshake, excepted); answers a request
    with "no responders"; records the subjects subscribed, in the order it read them."""

    def __init__(self) -> None:
        self.subscribed: list[str] = []
        self.port = 0

    async def start(self) -> asyncio.Server:
        server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.port = server.sockets[0].getsockname()[1]
        return server

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(f"INFO {json.dumps(INFO)}\r\n".encode())
        sids: dict[str, str] = {}  # subject (or prefix of a wildcard) -> sid
        handshake = True
        try:
            while line := (await reader.readline()).decode().strip():
                verb, *args = line.split()
                if verb == "PING":
                    writer.write(b"PONG\r\n")
                    await writer.drain()
                    if not handshake:
                        await asyncio.sleep(STALL_SECONDS)  # a starved reader
                    handshake = False
                elif verb == "SUB":
                    subject, sid = args[0], args[-1]
                    self.subscribed.append(subject)
                    sids[subject.removesuffix("*")] = sid
                elif verb in ("PUB", "HPUB"):
                    await reader.readexactly(int(args[-1]) + 2)  # the payload and its CRLF
                    reply = args[1] if len(args) > (3 if verb == "HPUB" else 2) else ""
                    inbox = next((s for prefix, s in sids.items() if reply.startswith(prefix)), None)
                    if inbox is not None:
                        status = b"NATS/1.0 503\r\n\r\n"
                        writer.write(f"HMSG {reply} {inbox} {len(status)} {len(status)}\r\n".encode())
                        writer.write(status + b"\r\n")
                        await writer.drain()
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            writer.close()


async def _subscribed_after(settle: str) -> list[str]:
    """What the server has read of the client's subscriptions right after `settle`."""
    stand_in = LateReader()
    server = await stand_in.start()
    client = await nats.connect(f"nats://127.0.0.1:{stand_in.port}", allow_reconnect=False)

    async def ignore(message: Msg) -> None:
        pass

    try:
        await client.subscribe(SUBJECT, cb=ignore)
        if settle == "flush":
            await client.flush()
        else:
            await until_subscribed(client)
        return [subject for subject in stand_in.subscribed if subject == SUBJECT]
    finally:
        await client.close()
        server.close()
        await server.wait_closed()


def test_until_subscribed_returns_only_once_the_server_has_read_the_subscription() -> None:
    assert asyncio.run(_subscribed_after("until_subscribed")) == [SUBJECT]


def test_a_flush_alone_can_return_before_the_server_has_read_the_subscription() -> None:
    # Why the helper exists. Should a nats-py release write its PING behind the buffer,
    # this fails, and `until_subscribed` can become a plain flush again.
    assert asyncio.run(_subscribed_after("flush")) == []
