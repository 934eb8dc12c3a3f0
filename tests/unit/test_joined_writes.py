"""`JoinedWrites` (app/http_protocol.py) on a real transport over a socket pair: what the
peer receives, and when. That the head and body go out as one segment is the e2e test's
(tests/e2e/test_response_writes.py, counted by the kernel)."""

import asyncio
import socket

from trade_engine.app.http_protocol import CONTINUE, JoinedWrites

HEAD = b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\n"


async def _transport(sock: socket.socket) -> asyncio.Transport:
    transport, _ = await asyncio.get_running_loop().create_connection(asyncio.Protocol, sock=sock)
    return transport


def _received(peer: socket.socket) -> bytes:
    peer.settimeout(5)
    data = b""
    while chunk := peer.recv(1 << 16):
        data += chunk
    return data


def test_the_head_waits_for_the_body_and_goes_out_with_it() -> None:
    async def scenario(ours: socket.socket, peer: socket.socket) -> None:
        writes = JoinedWrites(await _transport(ours))
        writes.write(HEAD)
        peer.setblocking(False)
        try:
            early = peer.recv(1 << 16)
        except BlockingIOError:
            early = b""
        assert early == b""  # nothing sent yet: the head is held
        writes.write(b"{}")
        writes.write(b"more")  # after the body: passed through
        writes.close()
        await asyncio.sleep(0)
        assert _received(peer) == HEAD + b"{}more"

    ours, peer = socket.socketpair()
    with ours, peer:
        asyncio.run(scenario(ours, peer))


def test_a_head_whose_body_does_not_follow_goes_out_at_the_next_turn() -> None:
    """A stream's head (its body comes later) is not held until the body."""

    async def scenario(ours: socket.socket, peer: socket.socket) -> None:
        writes = JoinedWrites(await _transport(ours))
        writes.write(HEAD)
        await asyncio.sleep(0)
        peer.settimeout(5)
        assert peer.recv(1 << 16) == HEAD
        writes.write(b"{}")
        writes.close()
        await asyncio.sleep(0)
        assert _received(peer) == b"{}"

    ours, peer = socket.socketpair()
    with ours, peer:
        asyncio.run(scenario(ours, peer))


def test_what_the_cycle_does_not_call_is_the_transport_s_own() -> None:
    async def scenario(ours: socket.socket) -> None:
        transport = await _transport(ours)
        writes = JoinedWrites(transport)
        assert writes.get_write_buffer_size() == transport.get_write_buffer_size()
        assert writes.get_extra_info("socket") is transport.get_extra_info("socket")
        writes.close()

    ours, peer = socket.socketpair()
    with ours, peer:
        asyncio.run(scenario(ours))


def test_a_head_without_a_body_goes_out_before_the_close() -> None:
    """The answer of an application that failed after its head: the head, then the end."""

    async def scenario(ours: socket.socket, peer: socket.socket) -> None:
        writes = JoinedWrites(await _transport(ours))
        writes.write(HEAD)
        assert not writes.is_closing()
        writes.close()
        assert writes.is_closing()
        await asyncio.sleep(0)
        assert _received(peer) == HEAD

    ours, peer = socket.socketpair()
    with ours, peer:
        asyncio.run(scenario(ours, peer))


def test_continue_is_not_a_head() -> None:
    async def scenario(ours: socket.socket, peer: socket.socket) -> None:
        writes = JoinedWrites(await _transport(ours))
        writes.write(CONTINUE)
        peer.settimeout(5)
        assert peer.recv(1 << 16) == CONTINUE  # at once, alone
        writes.write(HEAD)
        writes.write(b"{}")
        writes.close()
        await asyncio.sleep(0)
        assert _received(peer) == HEAD + b"{}"

    ours, peer = socket.socketpair()
    with ours, peer:
        asyncio.run(scenario(ours, peer))
