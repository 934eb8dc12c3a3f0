"""A WebSocket client on a bare socket, for what a library client cannot do: stop
reading altogether (with a small receive window, so the server's side fills) and later
read every byte that arrived, frame by frame."""

import base64
import json
import os
import socket
import struct
from typing import Any


class RawWebSocket:
    def __init__(self, port: int, path: str = "/ws", *, receive_buffer: int = 4096) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        # Before connecting: the window the server may fill is this small.
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, receive_buffer)
        self.sock.connect(("127.0.0.1", port))
        key = base64.b64encode(os.urandom(16)).decode()
        request = (
            f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\n"
            f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n"
        )
        self.sock.sendall(request.encode())
        self._buffer = b""
        while b"\r\n\r\n" not in self._buffer:
            chunk = self.sock.recv(4096)
            if not chunk:
                raise ConnectionError("closed during the handshake")
            self._buffer += chunk
        head, _, self._buffer = self._buffer.partition(b"\r\n\r\n")
        if not head.startswith(b"HTTP/1.1 101"):
            raise ConnectionError(head.decode(errors="replace"))

    def send_json(self, message: dict[str, Any]) -> None:
        payload = json.dumps(message).encode()
        mask = os.urandom(4)
        header = bytes([0x81])
        if len(payload) < 126:
            header += bytes([0x80 | len(payload)])
        else:
            header += bytes([0x80 | 126]) + struct.pack("!H", len(payload))
        masked = bytes(byte ^ mask[index % 4] for index, byte in enumerate(payload))
        self.sock.sendall(header + mask + masked)

    def read_all(self, timeout: float) -> list[tuple[int, bytes]]:
        """Every frame until the server closes the connection: (opcode, payload)."""
        self.sock.settimeout(timeout)
        data = self._buffer
        while chunk := self.sock.recv(1 << 20):
            data += chunk
        frames, at = [], 0
        while at + 2 <= len(data):
            opcode, length = data[at] & 0x0F, data[at + 1] & 0x7F
            at += 2
            if length == 126:
                (length,) = struct.unpack("!H", data[at : at + 2])
                at += 2
            elif length == 127:
                (length,) = struct.unpack("!Q", data[at : at + 8])
                at += 8
            frames.append((opcode, data[at : at + length]))
            at += length
        return frames

    def close(self) -> None:
        self.sock.close()
