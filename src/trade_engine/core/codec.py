"""The one encoding of everything that crosses the core port (messages.py): MessagePack,
decoded into the same immutable values. Other processes read and write these bytes;
in tests the in-process port round-trips every message through them, so nothing but
these values can cross it."""

from typing import Final

import msgspec

from trade_engine.core.messages import CommittedBatch, CoreState, CoreStatus, Outcome, Submission

_encoder: Final = msgspec.msgpack.Encoder()
_submissions: Final = msgspec.msgpack.Decoder(Submission)
_outcomes: Final[msgspec.msgpack.Decoder[Outcome]] = msgspec.msgpack.Decoder(Outcome)
_batches: Final = msgspec.msgpack.Decoder(CommittedBatch)
_states: Final = msgspec.msgpack.Decoder(CoreState)
_statuses: Final = msgspec.msgpack.Decoder(CoreStatus)


def encode(message: Submission | Outcome | CommittedBatch | CoreState | CoreStatus) -> bytes:
    return _encoder.encode(message)


def decode_submission(data: bytes) -> Submission:
    return _submissions.decode(data)


def decode_outcome(data: bytes) -> Outcome:
    return _outcomes.decode(data)


def decode_batch(data: bytes) -> CommittedBatch:
    return _batches.decode(data)


def decode_state(data: bytes) -> CoreState:
    return _states.decode(data)


def decode_status(data: bytes) -> CoreStatus:
    return _statuses.decode(data)
