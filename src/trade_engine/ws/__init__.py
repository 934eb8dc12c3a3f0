"""Real-time streams over WebSocket: the hub (fan-out), the native protocol and channels.

`hub.py` and `connection.py` are protocol-agnostic; `protocol.py`, `channels.py`,
`session.py` and `streams.py` are the native protocol of `/ws` (docs/websocket.md);
`endpoint.py` is its route.
"""
