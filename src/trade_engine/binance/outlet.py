"""Where Binance's market streams meet the WebSocket hub: each stream has a raw hub key
(`/ws/<stream>`) and a combined one (`/stream?streams=...`, each message wrapped with
its stream name), and a payload is encoded once, only if someone subscribes."""

from typing import Any, Final

import msgspec

from trade_engine.edge.hub import Hub

# Hub keys of this gateway (the native protocol uses plain channel names).
RAW: Final = "binance"
COMBINED: Final = "binance-combined"
# The one stream of every market (statistics.py): the mini tickers of those that traded.
ALL_MINI_TICKERS: Final = "!miniTicker@arr"
_encode = msgspec.json.Encoder().encode


def stream_key(stream: str, combined: bool = False) -> tuple[str, str]:
    return (COMBINED if combined else RAW, stream)


class StreamOutlet:
    def __init__(self, hub: Hub) -> None:
        self._hub = hub

    def wanted(self, stream: str) -> bool:
        """Whether anyone subscribes to `stream`: a payload is built only then."""
        hub = self._hub
        return hub.has_subscribers(stream_key(stream)) or hub.has_subscribers(stream_key(stream, True))

    def publish(self, stream: str, payload: Any) -> None:
        hub = self._hub
        raw = hub.has_subscribers(stream_key(stream))
        combined = hub.has_subscribers(stream_key(stream, True))
        if not (raw or combined):
            return
        data = _encode(payload)
        if raw:
            hub.publish(stream_key(stream), data)
        if combined:
            wrapped = b'{"stream":' + _encode(stream) + b',"data":' + data + b"}"
            hub.publish(stream_key(stream, True), wrapped)
