"""Alembic environment: migrations run on a connection handed over by `migrate()`.

The service and `trade-engine migrate` call `trade_engine.storage.migrate.upgrade`,
which opens the (async) database and passes its connection in `config.attributes`.
"""

from alembic import context

from trade_engine.storage.schema import metadata

connection = context.config.attributes["connection"]
context.configure(
    connection=connection,
    target_metadata=metadata,
    render_as_batch=connection.dialect.name == "sqlite",
    compare_type=True,
)
with context.begin_transaction():
    context.run_migrations()
