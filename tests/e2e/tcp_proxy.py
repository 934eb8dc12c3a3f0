"""A TCP proxy between the service and its database that can lose a commit's answer.

Armed with a marker (bytes a test puts in a command, such as a client order id), it
watches the client's side of every connection; when a message carrying the marker has
gone through to the database, it waits for the database's answer, drops it and cuts the
connection. The statement ran and committed; the service never hears so. Everything
else passes through untouched, so reconnecting and asking the database works.
"""

import asyncio
import threading
from collections.abc import Awaitable, Callable


class LosingProxy:
    def __init__(self, upstream_port: int) -> None:
        self.upstream_port = upstream_port
        self.port = 0
        self.marker: bytes | None = None
        self.cuts = 0
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, name="losing-proxy", daemon=True)
        self._server: asyncio.Server | None = None

    def start(self) -> None:
        self._thread.start()
        if not self._ready.wait(10):
            raise RuntimeError("the proxy did not start")

    def stop(self) -> None:
        async def close() -> None:
            assert self._server is not None
            self._server.close()
            await self._server.wait_closed()

        asyncio.run_coroutine_threadsafe(close(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
        self._loop.close()

    def arm(self, marker: bytes | None) -> None:
        """From now on, lose the answer to every message that carries `marker` (None:
        pass everything)."""
        self.marker = marker

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        self._server = self._loop.run_until_complete(asyncio.start_server(self._serve, "127.0.0.1", 0))
        self.port = self._server.sockets[0].getsockname()[1]
        self._ready.set()
        self._loop.run_forever()

    async def _serve(self, client_reader: asyncio.StreamReader, client_writer: asyncio.StreamWriter) -> None:
        try:
            upstream_reader, upstream_writer = await asyncio.open_connection("127.0.0.1", self.upstream_port)
        except OSError:
            client_writer.close()
            return
        carried = asyncio.Event()  # a message with the marker went through

        async def to_server(data: bytes, window: bytearray) -> bool:
            window.extend(data)
            marker = self.marker
            if marker is not None and marker in window:
                carried.set()
            del window[: max(0, len(window) - len(marker or b""))]
            upstream_writer.write(data)
            await upstream_writer.drain()
            return True

        async def to_client(data: bytes, _: bytearray) -> bool:
            if carried.is_set():
                self.cuts += 1
                return False  # the answer to the marked message: lost, and the line cut
            client_writer.write(data)
            await client_writer.drain()
            return True

        pumps = [
            asyncio.ensure_future(_pump(client_reader, to_server)),
            asyncio.ensure_future(_pump(upstream_reader, to_client)),
        ]
        # Either side ending (or the cut) ends the connection on both sides.
        await asyncio.wait(pumps, return_when=asyncio.FIRST_COMPLETED)
        for writer in (client_writer, upstream_writer):
            writer.transport.abort()
        for pump in pumps:
            pump.cancel()
        await asyncio.gather(*pumps, return_exceptions=True)


async def _pump(reader: asyncio.StreamReader, forward: Callable[[bytes, bytearray], Awaitable[bool]]) -> None:
    window = bytearray()
    try:
        while data := await reader.read(65536):
            if not await forward(data, window):
                return
    except OSError:
        return
