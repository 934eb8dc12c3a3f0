"""The grammar of the names clients choose or send: user ids, client order ids, transfer
references, assets, symbols. One place, so that the API's validation, its OpenAPI
description and the token check agree.

`whole` makes a pattern match a whole string where it is checked with `re.search`
(msgspec's `Meta(pattern=...)`): Python's `$` also matches before a final newline, so
`^...$` alone let `"alice\\n"` through as a user id no token could ever name. The
lookahead keeps the pattern valid JSON Schema (ECMA-262, where `\\Z` means something
else)."""

from typing import Final

USER_ID: Final = r"[A-Za-z0-9_.@:-]{1,64}"
CLIENT_ORDER_ID: Final = r"[A-Za-z0-9_-]{1,36}"
REFERENCE: Final = r"[A-Za-z0-9_.:-]{1,128}"
ASSET: Final = r"[A-Z0-9]{1,12}"
SYMBOL: Final = rf"{ASSET}-{ASSET}"
API_KEY: Final = r"[A-Za-z0-9]{1,128}"
PRINTABLE: Final = r"[^\x00-\x1f\x7f]*"


def whole(pattern: str) -> str:
    """`pattern` matching a whole string, under `re.search` and in JSON Schema alike."""
    return rf"^(?:{pattern})$(?!\n)"
