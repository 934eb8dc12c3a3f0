"""The core and the narrow port the gateways reach it through (core/port.py)."""
