"""The Binance-compatible gateway: `/api/v3` REST, market streams and the WebSocket API.

An adapter like the native API: it converts Binance requests into the engine's commands
and committed state into Binance's shapes, so that unmodified Binance clients (ccxt and
everything built on it) can trade here. It owns no state of its own beyond stream
subscriptions; see docs in README ("Binance-compatible API").
"""
