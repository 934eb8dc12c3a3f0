"""The single writer: batches commands through the engine and commits them together."""

from trade_engine.sequencer.sequencer import Busy, OutcomeUnknown, Sequencer, SequencerStats, Unavailable

__all__ = ["Busy", "OutcomeUnknown", "Sequencer", "SequencerStats", "Unavailable"]
