"""The single writer: batches commands through the engine and commits them together."""

from trade_engine.sequencer.ports import Busy, CommitFailed, OutcomeUnknown, SequencerStats, Unavailable
from trade_engine.sequencer.sequencer import Sequencer

__all__ = ["Busy", "CommitFailed", "OutcomeUnknown", "Sequencer", "SequencerStats", "Unavailable"]
