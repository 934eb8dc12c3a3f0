"""The domain vocabulary shared by the engine and every adapter.

Nothing in this package performs I/O, reads a clock or draws random numbers.
"""
