"""The native REST API (`/api/v1`): HTTP in, commands to the sequencer, envelopes out."""
