"""HMAC-SHA256 request signatures, verified on the raw bytes exactly as Binance does.

REST: the payload is the raw query string followed (no separator) by the raw body, with
the `signature` parameter taken out where it appears; the signature is the hex HMAC of
that payload under the key's secret, compared case-insensitively. Nothing is decoded and
re-encoded first: parameter order and percent-encoding stay as the client sent them.

WebSocket API: the payload is every parameter but `signature`, sorted by name and joined
as `name=value&...` (Binance's rule for `*.signature` methods).
"""

import hashlib
import hmac
from collections.abc import Mapping


def sign(secret: bytes, payload: bytes) -> str:
    return hmac.new(secret, payload, hashlib.sha256).hexdigest()


def _split_signature(raw: bytes) -> tuple[bytes, list[bytes]]:
    """`raw` without its `signature=` parameters, and their values."""
    kept: list[bytes] = []
    found: list[bytes] = []
    for part in raw.split(b"&"):
        if part.startswith(b"signature="):
            found.append(part[len(b"signature=") :])
        else:
            kept.append(part)
    return b"&".join(kept), found


def signed_payload(query: bytes, body: bytes) -> tuple[bytes, str | None]:
    """The bytes a REST signature covers, and the signature sent (None if absent or repeated)."""
    query_part, in_query = _split_signature(query) if query else (b"", [])
    body_part, in_body = _split_signature(body) if body else (b"", [])
    sent = in_query + in_body
    if len(sent) != 1:
        return query_part + body_part, None
    try:
        signature = sent[0].decode("ascii")
    except UnicodeDecodeError:
        return query_part + body_part, None
    return query_part + body_part, signature


def verify(secret: bytes, payload: bytes, signature: str) -> bool:
    """Whether `signature` is the payload's; compared as bytes, since `compare_digest`
    raises on text that is not ASCII, which a WebSocket API request may carry."""
    expected = sign(secret, payload)
    return hmac.compare_digest(expected.encode(), signature.lower().encode())


def ws_payload(params: Mapping[str, object]) -> bytes:
    """The WebSocket API's signed text: params but `signature`, sorted, `k=v` joined by `&`."""
    parts = [f"{name}={_text(value)}" for name, value in sorted(params.items()) if name != "signature"]
    return "&".join(parts).encode()


def _text(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)
