"""Client JSON (request bodies, WebSocket messages) decoded one way: every malformed
document is a `msgspec.DecodeError`, which each adapter answers in its protocol's words.

msgspec raises RecursionError instead for a document nested deeper than about a
thousand levels, even inside a field it would skip: a couple of kilobytes of brackets.
Handlers that catch DecodeError let that through as a 500, or as a WebSocket connection
dropped without a close frame.
"""

from typing import Final, TypeVar

import msgspec

T = TypeVar("T")

TOO_DEEP: Final = "JSON nested too deeply"


def decode(decoder: msgspec.json.Decoder[T], data: bytes | str) -> T:
    try:
        return decoder.decode(data)
    except RecursionError as error:
        raise msgspec.DecodeError(TOO_DEEP) from error
