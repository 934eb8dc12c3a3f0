"""Time as the service counts it: Unix nanoseconds inside, milliseconds on the wire.

Only arithmetic lives here (the domain reads no clock): the sequencer stamps commands,
and every adapter converts with these.
"""

from typing import Final

NS_PER_SECOND: Final = 1_000_000_000
NS_PER_MS: Final = 1_000_000
NS_PER_US: Final = 1_000


def ms(ns: int) -> int:
    """Unix nanoseconds as whole milliseconds (rounded down, as every API shows times)."""
    return ns // NS_PER_MS


def us(ns: int) -> int:
    """Unix nanoseconds as whole microseconds."""
    return ns // NS_PER_US
