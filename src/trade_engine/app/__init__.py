"""The one composition root: builds the core, the read models and the gateways, and
registers every reader of committed batches from one table (root.py)."""
