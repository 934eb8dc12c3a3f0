"""The read model's readers (readmodel/views.py): handed each batch later than the read
model builds it, yet in order, once each, at most one batch behind the read model, and
each reading the read model as of its own batch."""

from collections.abc import Callable

from tests.unit.committed_flow import Flow, limit, open_market


def test_readers_are_at_most_one_batch_behind_and_read_the_model_as_of_their_batch() -> None:
    turns: list[Callable[[], None]] = []  # the readers' turns, held until the test runs them
    flow = Flow(defer=turns.append)
    seen: list[tuple[int, int]] = []  # per batch the readers got: its seq, the read model's then
    flow.view.subscribe(lambda views: seen.append((views.seq, flow.view.seq)))
    open_market(flow)  # batches 1 to 3
    flow.commit(limit("alice", "BUY", 100, 10))  # batch 4
    # No turn has come, yet each batch was read before the next one was built.
    assert seen == [(1, 1), (2, 2), (3, 3)]
    turns[-1]()  # the last batch's turn
    assert seen == [(1, 1), (2, 2), (3, 3), (4, 4)]
    for turn in turns:  # the earlier turns, late: nothing is read twice
        turn()
    assert len(seen) == 4
