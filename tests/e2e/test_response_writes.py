"""How responses reach the socket (app/http_protocol.py), on a real server over a raw
TCP connection: each response in one write, one TCP segment; `HEAD` answers and
`100 Continue` are not held back."""

import json
import socket
import struct
from typing import Any, Final

from tests.e2e.client import QUOTE, Api

API = "/api/v1"
# Linux's `struct tcp_info`: `tcpi_data_segs_in`, the segments with data this end received.
DATA_SEGMENTS_IN: Final = 152


def _connect(api: Api) -> socket.socket:
    connection = socket.create_connection(("127.0.0.1", api.server.port), timeout=10)
    connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return connection


def _request(method: str, path: str, headers: dict[str, str], body: bytes = b"") -> bytes:
    lines = [f"{method} {path} HTTP/1.1", "Host: test", *(f"{k}: {v}" for k, v in headers.items())]
    if body:
        lines.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


def _data_segments_in(connection: socket.socket) -> int:
    info = connection.getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO, 256)
    return int(struct.unpack_from("I", info, DATA_SEGMENTS_IN)[0])


def _response(connection: socket.socket, pending: bytearray | None = None) -> tuple[bytes, bytes]:
    """One whole response (its head and its `Content-Length` of body), however it arrives;
    bytes read beyond it (the next response's) are left in `pending`."""
    data = pending if pending is not None else bytearray()
    while b"\r\n\r\n" not in data:
        data += connection.recv(1 << 20)
    head, _, rest = bytes(data).partition(b"\r\n\r\n")
    fields = dict(line.split(b": ", 1) for line in head.split(b"\r\n")[1:])  # after the status line
    length = int(fields[b"content-length"])
    while len(rest) < length:
        rest += connection.recv(1 << 20)
    data[:] = rest[length:]
    return head, rest[:length]


def test_each_response_arrives_in_one_segment(api: Api) -> None:
    """Before, the head and the body were two writes: two TCP segments per response (100
    for these 50), the reader woken for each. Orders placed, and health read."""
    market = api.add_market()
    user = api.user("one-write")
    api.deposit(user, QUOTE, "100000")
    order: dict[str, Any] = {"market": market, "side": "BUY", "type": "LIMIT", "quantity": "1"}
    with _connect(api) as connection:
        received = _data_segments_in(connection)
        for number in range(50):
            if number % 2:
                body = json.dumps({**order, "price": f"{10 + number}.00"}).encode()
                headers = {**user.headers, "Content-Type": "application/json"}
                connection.sendall(_request("POST", f"{API}/orders", headers, body))
                expected_status = b"HTTP/1.1 201"
            else:
                connection.sendall(_request("GET", "/health", {}))
                expected_status = b"HTTP/1.1 200"
            head, _ = _response(connection)
            assert head.startswith(expected_status), head
        assert _data_segments_in(connection) - received == 50


def test_pipelined_requests_are_answered_in_order_each_in_one_segment(api: Api) -> None:
    """Requests sent back to back before any answer: uvicorn answers them one after the
    other, each through a cycle of its own."""
    with _connect(api) as connection:
        received = _data_segments_in(connection)
        connection.sendall(_request("GET", "/health", {}) + _request("GET", "/nowhere", {}))
        pending = bytearray()
        first, _ = _response(connection, pending)
        second, _ = _response(connection, pending)
        assert not pending
        assert first.startswith(b"HTTP/1.1 200"), first
        assert second.startswith(b"HTTP/1.1 404"), second
        assert _data_segments_in(connection) - received == 2


def test_a_head_answer_is_not_held_back(api: Api) -> None:
    """A `HEAD` response is a head with no body write after it: it goes out at once."""
    with _connect(api) as connection:
        for _ in range(3):
            connection.sendall(_request("HEAD", "/health", {}))
            head = connection.recv(1 << 20)
            assert head.startswith(b"HTTP/1.1 "), head
            assert head.endswith(b"\r\n\r\n"), head


def test_continue_goes_out_before_the_body_is_sent(api: Api) -> None:
    """A client that asks `Expect: 100-continue` waits for it before sending the body: the
    interim answer cannot wait for the final one."""
    market = api.add_market()
    user = api.user("continue")
    api.deposit(user, QUOTE, "1000")
    body = json.dumps(
        {"market": market, "side": "BUY", "type": "LIMIT", "quantity": "1", "price": "5.00"}
    ).encode()
    headers = {**user.headers, "Content-Type": "application/json", "Expect": "100-continue"}
    with _connect(api) as connection:
        request = _request("POST", f"{API}/orders", headers, body)
        connection.sendall(request[: -len(body)])  # the head only
        assert connection.recv(1 << 20) == b"HTTP/1.1 100 Continue\r\n\r\n"
        connection.sendall(body)
        head, answer = _response(connection)
        assert head.startswith(b"HTTP/1.1 201"), head
        assert json.loads(answer)["data"]["status"] == "NEW"
