"""Request parameters as Binance takes them: query string and/or form body, query wins.

Values stay strings until a getter converts them; a getter that fails answers with
Binance's code and wording for that failure.
"""

import re
from collections.abc import Mapping
from typing import Final
from urllib.parse import parse_qsl

import msgspec

from trade_engine.binance.errors import (
    ILLEGAL_ENCODING,
    illegal,
    invalid_value,
    mandatory,
    refusal,
)
from trade_engine.edge.client_json import decode

_FORM: Final = "application/x-www-form-urlencoded"
# Binance's integer parameters: a Java long, stated as this pattern in its refusals (a
# value of 19 digits past the long's range is refused the same way, before any query).
INTEGER: Final = re.compile(r"-?[0-9]{1,19}")
_LONG_RANGE: Final = "^-?[0-9]{1,19}$"
_LONG_MIN: Final = -(2**63)
_LONG_MAX: Final = 2**63 - 1
_json: Final = msgspec.json.Decoder()


def parse(query: bytes, body: bytes, content_type: str) -> "Params":
    values: dict[str, str] = {}
    if body and content_type.split(";", maxsplit=1)[0].strip().lower() == _FORM:
        values.update(_pairs(body))
    values.update(_pairs(query))  # the query string wins
    return Params(values)


def _pairs(raw: bytes) -> dict[str, str]:
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as error:
        raise refusal(ILLEGAL_ENCODING) from error
    return dict(parse_qsl(text, keep_blank_values=True))


class Params:
    def __init__(self, values: Mapping[str, str]) -> None:
        self.values = dict(values)

    def __contains__(self, name: str) -> bool:
        return bool(self.values.get(name))

    def text(self, name: str) -> str | None:
        """A parameter's value; an empty value counts as not sent."""
        value = self.values.get(name)
        return value if value else None

    def required(self, name: str) -> str:
        value = self.text(name)
        if value is None:
            raise mandatory(name)
        return value

    def true(self, name: str) -> bool:
        """A boolean parameter: "true" in any case; anything else, or none, is false."""
        return (self.text(name) or "").lower() == "true"

    def integer(self, name: str, default: int | None = None) -> int | None:
        value = self.text(name)
        if value is None:
            return default
        if INTEGER.fullmatch(value) is None or not _LONG_MIN <= (number := int(value)) <= _LONG_MAX:
            raise illegal(name, _LONG_RANGE)
        return number

    def limit(self, default: int, maximum: int) -> int:
        """`limit`, clamped to `maximum` as Binance does; below 1 is refused."""
        value = self.integer("limit", default)
        assert value is not None
        if value < 1:
            raise invalid_value("limit")
        return min(value, maximum)

    def symbol_list(self) -> list[str] | None:
        """`symbols=["A","B"]` (a JSON array, URL-encoded), or None if not sent."""
        raw = self.text("symbols")
        if raw is None:
            return None
        try:
            symbols = decode(_json, raw)
        except msgspec.DecodeError:
            symbols = None
        if not isinstance(symbols, list) or not symbols or not all(isinstance(s, str) for s in symbols):
            raise illegal("symbols", '^\\[("[A-Z0-9-_.]{1,20}"(,"[A-Z0-9-_.]{1,20}"){0,}){0,1}\\]$')
        return [str(s) for s in symbols]
