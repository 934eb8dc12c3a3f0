"""Listen keys of the user-data stream: `POST`, `PUT` and `DELETE /api/v3/userDataStream`,
and the WebSocket API's `userDataStream.start`, `.ping` and `.stop`, which do the same.

Binance's USER_STREAM security: the API key alone (the `X-MBX-APIKEY` header, or the
`apiKey` parameter on the WebSocket API), no signature. A key is valid for
`binance.listen_key_validity_seconds` (60 minutes) after it was opened or last kept
alive; opening one while the account has a live key returns that key, kept alive. The
keys are rows in the database (storage/listen_keys.py), so any process validates them;
the stream itself is `/ws/<listenKey>` (binance/ws.py). A key that is unknown, expired,
closed or another user's is -1125 through the error table.
"""

import time
from typing import Any

from trade_engine.binance.auth import READ, api_key
from trade_engine.binance.requests import params_of
from trade_engine.domain.errors import ErrorCode, TradeEngineError
from trade_engine.edge.gateway import Gateway
from trade_engine.edge.routes import Call


def _not_found() -> TradeEngineError:
    return TradeEngineError(ErrorCode.INVALID_LISTEN_KEY, "This listenKey does not exist.")


async def start(gateway: Gateway, key: str | None) -> dict[str, Any]:
    active = await api_key(gateway, key, READ)
    assert key is not None
    listen_key = await gateway.listen_key_store().open(active.user_id, key, time.time_ns())
    return {"listenKey": listen_key}


async def ping(gateway: Gateway, key: str | None, listen_key: str) -> dict[str, Any]:
    active = await api_key(gateway, key, READ)
    if not await gateway.listen_key_store().keep_alive(listen_key, active.user_id, time.time_ns()):
        raise _not_found()
    return {}


async def stop(gateway: Gateway, key: str | None, listen_key: str) -> dict[str, Any]:
    active = await api_key(gateway, key, READ)
    if not await gateway.listen_key_store().close(listen_key, active.user_id):
        raise _not_found()
    return {}


# -- REST ---------------------------------------------------------------------------------


def _key_header(call: Call) -> str | None:
    return call.request.header(b"x-mbx-apikey")


async def open_listen_key(gateway: Gateway, call: Call) -> dict[str, Any]:
    """POST /userDataStream."""
    await params_of(gateway, call)
    return await start(gateway, _key_header(call))


async def keep_alive(gateway: Gateway, call: Call) -> dict[str, Any]:
    """PUT /userDataStream?listenKey=..."""
    params, _, _ = await params_of(gateway, call)
    return await ping(gateway, _key_header(call), params.required("listenKey"))


async def close_listen_key(gateway: Gateway, call: Call) -> dict[str, Any]:
    """DELETE /userDataStream?listenKey=..."""
    params, _, _ = await params_of(gateway, call)
    return await stop(gateway, _key_header(call), params.required("listenKey"))
