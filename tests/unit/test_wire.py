"""The WebSocket frame's size on the wire agrees with the frame built (edge/wire.py)."""

import pytest

from trade_engine.edge.wire import frame_bytes, frame_size


@pytest.mark.parametrize("size", [0, 1, 125, 126, 65_535, 65_536, 200_000])
def test_frame_size_is_the_length_of_the_frame(size: int) -> None:
    assert frame_size(size) == len(frame_bytes(b"x" * size))
