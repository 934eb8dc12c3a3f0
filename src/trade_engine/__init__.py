"""An exact, durable, deterministic trade engine for crypto exchanges."""

__version__ = "0.1.0"
