"""The event loop's drainer (edge/wire.py): clients are written a chunk per loop turn in
the order they became ready, and one that raises stops neither the others nor later
turns (the error reaches the loop's exception handler, it is not swallowed)."""

import asyncio

from trade_engine.edge.wire import CHUNK, Drainer


class Client:
    def __init__(self, name: int, written: list[int], fails: bool = False) -> None:
        self.name, self.written, self.fails = name, written, fails

    def drain(self) -> None:
        if self.fails:
            raise ValueError(f"client {self.name} failed")
        self.written.append(self.name)


def test_clients_are_written_in_order_a_chunk_per_turn_and_a_failure_stops_none() -> None:
    async def scenario() -> tuple[list[int], list[int], list[str]]:
        loop = asyncio.get_running_loop()
        errors: list[str] = []
        loop.set_exception_handler(lambda _, context: errors.append(repr(context.get("exception"))))
        written: list[int] = []
        drainer = Drainer(loop)
        count = CHUNK * 2 + 3
        for name in range(count):
            drainer.add(Client(name, written, fails=name == 5))
        await asyncio.sleep(0)
        after_one_turn = list(written)
        for _ in range(3):
            await asyncio.sleep(0)
        drainer.add(Client(count, written))  # later turns still run
        await asyncio.sleep(0)
        return after_one_turn, written, errors

    first_turn, written, errors = asyncio.run(scenario())
    assert first_turn == [name for name in range(CHUNK) if name != 5]
    assert written == [name for name in range(CHUNK * 2 + 4) if name != 5]
    assert errors == ["ValueError('client 5 failed')"]
