"""WebSocket data frames written straight to the server's transport (edge/wire.py,
edge/connection.py), against a real uvicorn server (uvloop, the sans-I/O protocol the
service runs) and real `websockets` clients on loopback: the frames are ones the client
library parses, they arrive in the order offered across direct writes, ASGI sends while
the transport is paused, and the close frame, and a connection that negotiated
compression keeps going through ASGI."""

import asyncio
import socket
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
import uvicorn
import uvloop
from websockets.asyncio.client import ClientConnection, connect
from websockets.frames import Frame as ParsedFrame
from websockets.frames import Opcode
from websockets.streams import StreamReader

from trade_engine.edge.asgi import Receive, Scope, Send
from trade_engine.edge.connection import Connection, Frame
from trade_engine.edge.websocket import AsgiWebSocket
from trade_engine.edge.wire import frame_bytes


@pytest.mark.parametrize("size", [0, 1, 125, 126, 127, 65_535, 65_536, 200_000])
@pytest.mark.parametrize("binary", [False, True])
def test_a_frame_is_one_the_client_library_parses(size: int, binary: bool) -> None:
    data = bytes(ord("a") + i % 26 for i in range(size))
    reader = StreamReader()
    reader.feed_data(frame_bytes(data, binary=binary))
    reader.feed_eof()
    parser = ParsedFrame.parse(reader.read_exact, mask=False)
    try:
        next(parser)
    except StopIteration as done:
        frame = done.value
    else:  # pragma: no cover - the whole frame was fed
        raise AssertionError("the parser wanted more bytes than the frame has")
    assert (frame.opcode, frame.fin, frame.data) == (Opcode.BINARY if binary else Opcode.TEXT, True, data)
    assert reader.at_eof()


Scenario = Callable[[Connection, ClientConnection], Awaitable[None]]


def run(scenario: Scenario, *, deflate: bool = False, **client: Any) -> None:
    """Serve one WebSocket connection with a `Connection` on a real uvicorn server and
    run `scenario` with it and a client connected to it."""

    async def main() -> None:
        opened: asyncio.Queue[Connection] = asyncio.Queue()

        async def app(scope: Scope, receive: Receive, send: Send) -> None:
            assert scope["type"] == "websocket"
            ws = AsgiWebSocket(scope, receive, send)
            await ws.accept()
            connection = Connection(ws.send, queue_size=1_000_000, max_unsent_bytes=1 << 30)
            connection.start()
            await opened.put(connection)
            while (await ws.receive())["type"] != "websocket.disconnect":
                pass
            connection.disconnected()
            await connection.finish()

        listener = socket.socket()
        listener.bind(("127.0.0.1", 0))
        port = listener.getsockname()[1]
        config = uvicorn.Config(
            app, ws="websockets-sansio", ws_per_message_deflate=deflate, lifespan="off", log_config=None
        )
        server = uvicorn.Server(config)
        serving = asyncio.ensure_future(server.serve(sockets=[listener]))
        while not server.started:
            await asyncio.sleep(0.01)
        try:
            async with connect(
                f"ws://127.0.0.1:{port}/", compression="deflate" if deflate else None, **client
            ) as websocket:
                connection = await asyncio.wait_for(opened.get(), 5)
                await asyncio.wait_for(scenario(connection, websocket), 60)
        finally:
            server.should_exit = True
            await serving

    uvloop.run(main())


async def received(websocket: ClientConnection, count: int) -> list[int]:
    return [int(str(await websocket.recv()).split(" ", 1)[0]) for _ in range(count)]


def numbered(number: int, padding: int = 0) -> Frame:
    return Frame(f"{number} {'x' * padding}".encode())


def test_frames_go_straight_to_the_transport_in_order_then_the_close() -> None:
    async def scenario(connection: Connection, websocket: ClientConnection) -> None:
        assert connection.writes_directly
        count = 250
        for number in range(count):
            connection.offer(numbered(number))
            if number % 50 == 49:
                await asyncio.sleep(0)  # the drainer writes what is queued, in one write
        connection.close(4001, "slow consumer")
        assert await received(websocket, count) == list(range(count))
        await websocket.wait_closed()
        assert (websocket.close_code, websocket.close_reason) == (4001, "slow consumer")

    run(scenario)


def test_frames_offered_while_the_transport_is_paused_follow_in_order() -> None:
    async def scenario(connection: Connection, websocket: ClientConnection) -> None:
        assert connection.writes_directly
        # The client holds one message and reads nothing more: the kernel's buffers
        # fill, then the server's transport pauses and its frames go through ASGI.
        offered = 0
        while True:
            connection.offer(numbered(offered, 4096))
            offered += 1
            await asyncio.sleep(0)  # the drainer's turn
            if connection.queued:  # it left the frame: the transport is paused
                break
            assert offered < 100_000, "the transport never paused"
        assert connection.transport_backlog() > 64 * 1024
        # Now the client reads while frames keep coming, one per loop turn: the
        # transport resumes between them, with a frame in an ASGI send at that moment.
        total = offered + 3000
        reading = asyncio.ensure_future(received(websocket, total))
        while offered < total:
            connection.offer(numbered(offered, 4096))
            offered += 1
            await asyncio.sleep(0)
        assert await reading == list(range(total))

    run(scenario, max_queue=1)


def test_a_connection_that_negotiated_compression_goes_through_the_server() -> None:
    async def scenario(connection: Connection, websocket: ClientConnection) -> None:
        assert not connection.writes_directly
        for number in range(100):
            connection.offer(numbered(number, 100))
        assert await received(websocket, 100) == list(range(100))

    run(scenario, deflate=True)
