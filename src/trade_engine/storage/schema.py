"""The database schema, one definition for SQLite and PostgreSQL (SQLAlchemy Core).

Every amount is an integer in engine units (ticks, lots, minor units); every time is
Unix nanoseconds. Constraints carry names so that migrations (and SQLite's batch
mode) can refer to them.

PostgreSQL partitions `trades` by day (`ts`) and `orders` by month (`created_ts`); the
migration creates those tables with partition-aware DDL (primary keys that include the
partition key). PostgreSQL cannot enforce a unique index across partitions that leaves
out the partition key, so there the uniqueness of a client order id among a user's
open orders is enforced by the engine alone (SQLite enforces it with a partial index
too); see docs/storage.md.
"""

from typing import Final

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Column,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    PrimaryKeyConstraint,
    SmallInteger,
    Table,
    Text,
    text,
)

from trade_engine.domain import lifecycle
from trade_engine.domain.vocabulary import ORDER_TYPES

NAMING: Final = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

metadata = MetaData(naming_convention=NAMING)

# Statuses an order can be recorded with (Binance's names, which clients know).
OPEN_STATUSES: Final = tuple(str(status) for status in lifecycle.OPEN_STATUSES)
# The open orders, as literal SQL: a partial index is used only by a query whose WHERE
# states its predicate in the same words, values included (no bound parameters).
OPEN_ORDER: Final = "status IN ({})".format(", ".join(f"'{status}'" for status in OPEN_STATUSES))

users = Table(
    "users",
    metadata,
    Column("id", Text, nullable=False),
    Column("created_ts", BigInteger, nullable=False),
    PrimaryKeyConstraint("id"),
)

api_keys = Table(
    "api_keys",
    metadata,
    Column("id", Text, nullable=False),
    Column("user_id", Text, ForeignKey("users.id"), nullable=False),
    Column("label", Text, nullable=False, server_default=""),
    Column("permissions", Text, nullable=False),
    # The secret, encrypted with the configured key: HMAC verification needs the secret.
    Column("secret_ciphertext", LargeBinary, nullable=False),
    Column("created_ts", BigInteger, nullable=False),
    Column("revoked_ts", BigInteger, nullable=True),
    PrimaryKeyConstraint("id"),
    Index(None, "user_id"),
)

# Listen keys of Binance's user-data stream (binance/userstream.py): each belongs to a
# user and to the API key that opened it, and lives until `expires_ts` (Unix ns) unless
# kept alive. Kept here, not in one process's memory, so that every gateway process
# validates the same keys.
listen_keys = Table(
    "listen_keys",
    metadata,
    Column("id", Text, nullable=False),
    Column("user_id", Text, ForeignKey("users.id"), nullable=False),
    Column("api_key", Text, nullable=False),
    Column("created_ts", BigInteger, nullable=False),
    Column("expires_ts", BigInteger, nullable=False),
    PrimaryKeyConstraint("id"),
    Index(None, "user_id"),
)

markets = Table(
    "markets",
    metadata,
    Column("symbol", Text, nullable=False),
    # The validated `Market` (engine integers), msgspec JSON.
    Column("definition", Text, nullable=False),
    Column("status", Text, nullable=False),
    Column("seq", BigInteger, nullable=False),
    Column("last_price", BigInteger, nullable=False),
    Column("created_ts", BigInteger, nullable=False),
    Column("updated_ts", BigInteger, nullable=False),
    PrimaryKeyConstraint("symbol"),
    CheckConstraint("status IN ('TRADING', 'HALT', 'CANCEL_ONLY')", name="status_known"),
)

orders = Table(
    "orders",
    metadata,
    Column("id", BigInteger, nullable=False),
    Column("created_ts", BigInteger, nullable=False),
    Column("updated_ts", BigInteger, nullable=False),
    Column("user_id", Text, ForeignKey("users.id"), nullable=False),
    Column("market", Text, ForeignKey("markets.symbol"), nullable=False),
    Column("side", Text, nullable=False),
    Column("order_type", Text, nullable=False),
    Column("time_in_force", Text, nullable=False),
    Column("price", BigInteger, nullable=False),
    Column("stop_price", BigInteger, nullable=False),
    Column("quantity", BigInteger, nullable=False),
    Column("quote_quantity", BigInteger, nullable=False),
    Column("remaining", BigInteger, nullable=False),
    Column("executed", BigInteger, nullable=False),
    Column("filled_quote", BigInteger, nullable=False),
    # The engine's exact fee state: fee_numer = fee_paid * 1e6 - fee_residue (holds.py).
    Column("fee_paid", BigInteger, nullable=False),
    Column("fee_residue", BigInteger, nullable=False),
    Column("client_order_id", Text, nullable=True),
    Column("stp_mode", Text, nullable=False),
    Column("post_only", Boolean, nullable=False),
    Column("pending", Boolean, nullable=False),
    Column("status", Text, nullable=False),
    Column("reason", Text, nullable=True),
    # Time priority within its price level: the market sequence number at which the
    # order (re-)entered the book.
    Column("priority", BigInteger, nullable=False),
    # The caller's labels as JSON (domain/order_meta.py); NULL when it has none.
    Column("meta", Text, nullable=True),
    # The partition key is part of the key (PostgreSQL requires it); ids alone are unique
    # too, and SQLite, which does not partition, enforces that with an index.
    PrimaryKeyConstraint("id", "created_ts"),
    CheckConstraint("quantity > 0 OR quote_quantity > 0", name="quantity_positive"),
    CheckConstraint("executed <= quantity OR quantity = 0", name="filled_within_quantity"),
    CheckConstraint("remaining >= 0 AND executed >= 0", name="amounts_not_negative"),
    CheckConstraint("side IN ('BUY', 'SELL')", name="side_known"),
    # Recovery derives a pending order's trigger direction from its side and type, and
    # trusts what it reads: an unknown type must never get in (migration 0002).
    CheckConstraint(
        "order_type IN ({})".format(", ".join(f"'{kind}'" for kind in sorted(ORDER_TYPES))),
        name="order_type_known",
    ),
    Index(None, "user_id", "status", "id"),
    Index(None, "user_id", "created_ts"),
    # Recovery reads every open order of each market in time priority: this index holds
    # exactly those, in that order (no sort; the closed orders are not in it).
    Index(
        "ix_orders_open_market_priority",
        "market",
        "priority",
        sqlite_where=text(OPEN_ORDER),
        postgresql_where=text(OPEN_ORDER),
    ),
    Index("uq_orders_id", "id", unique=True).ddl_if(dialect="sqlite"),
    Index(
        "uq_orders_user_id_client_order_id_open",
        "user_id",
        "client_order_id",
        unique=True,
        sqlite_where=text(f"client_order_id IS NOT NULL AND {OPEN_ORDER}"),
    ).ddl_if(dialect="sqlite"),
    postgresql_partition_by="RANGE (created_ts)",
)

trades = Table(
    "trades",
    metadata,
    Column("id", BigInteger, nullable=False),
    Column("ts", BigInteger, nullable=False),
    Column("market", Text, ForeignKey("markets.symbol"), nullable=False),
    Column("seq", BigInteger, nullable=False),
    Column("price", BigInteger, nullable=False),
    Column("quantity", BigInteger, nullable=False),
    Column("base_amount", BigInteger, nullable=False),
    Column("quote_amount", BigInteger, nullable=False),
    Column("taker_side", Text, nullable=False),
    Column("maker_order_id", BigInteger, nullable=False),
    Column("taker_order_id", BigInteger, nullable=False),
    Column("buyer_user_id", Text, nullable=False),
    Column("seller_user_id", Text, nullable=False),
    Column("maker_fee", BigInteger, nullable=False),
    Column("taker_fee", BigInteger, nullable=False),
    PrimaryKeyConstraint("id", "ts"),
    CheckConstraint("quantity > 0", name="quantity_positive"),
    Index(None, "market", "ts"),
    Index(None, "buyer_user_id", "ts"),
    Index(None, "seller_user_id", "ts"),
    Index(None, "maker_order_id"),
    Index(None, "taker_order_id"),
    Index("uq_trades_id", "id", unique=True).ddl_if(dialect="sqlite"),
    postgresql_partition_by="RANGE (ts)",
)

balances = Table(
    "balances",
    metadata,
    Column("user_id", Text, ForeignKey("users.id"), nullable=False),
    Column("asset", Text, nullable=False),
    Column("available", BigInteger, nullable=False),
    Column("locked", BigInteger, nullable=False),
    Column("updated_ts", BigInteger, nullable=False),
    PrimaryKeyConstraint("user_id", "asset"),
    CheckConstraint("available >= 0 AND locked >= 0", name="not_negative"),
)

ledger_entries = Table(
    "ledger_entries",
    metadata,
    Column("ts", BigInteger, nullable=False),
    # The event that caused the movement: (market symbol, event seq) or, for deposits and
    # withdrawals, ("$transfer", transfer id); `leg` numbers its movements. The key, so
    # writing a batch twice cannot double an entry. No index by account: nothing looks
    # the ledger up that way; verification folds all of it in one scan.
    Column("source", Text, nullable=False),
    Column("source_seq", BigInteger, nullable=False),
    Column("leg", SmallInteger, nullable=False),
    Column("user_id", Text, nullable=False),
    Column("asset", Text, nullable=False),
    Column("available_delta", BigInteger, nullable=False),
    Column("locked_delta", BigInteger, nullable=False),
    Column("kind", Text, nullable=False),
    # The order, trade or transfer id the movement belongs to.
    Column("ref_id", BigInteger, nullable=False),
    PrimaryKeyConstraint("source", "source_seq", "leg"),
    sqlite_with_rowid=False,
)

transfers = Table(
    "transfers",
    metadata,
    Column("id", BigInteger, nullable=False),
    Column("ts", BigInteger, nullable=False),
    Column("user_id", Text, ForeignKey("users.id"), nullable=False),
    Column("asset", Text, nullable=False),
    Column("kind", Text, nullable=False),
    Column("amount", BigInteger, nullable=False),
    PrimaryKeyConstraint("id"),
    CheckConstraint("amount > 0", name="amount_positive"),
    CheckConstraint("kind IN ('DEPOSIT', 'WITHDRAWAL')", name="kind_known"),
    Index(None, "user_id", "ts"),
)

idempotency_keys = Table(
    "idempotency_keys",
    metadata,
    # What the key guards ("transfer") and the caller's key; a repeat returns `ref_id`.
    Column("scope", Text, nullable=False),
    Column("key", Text, nullable=False),
    Column("user_id", Text, nullable=False),
    Column("ref_id", BigInteger, nullable=False),
    Column("created_ts", BigInteger, nullable=False),
    PrimaryKeyConstraint("scope", "key"),
    # The operator view lists transfers with the reference they were made under.
    Index(None, "scope", "ref_id"),
)

audit_log = Table(
    "audit_log",
    metadata,
    # Ascending with time of writing; the log is read newest first by it.
    Column("id", BigInteger().with_variant(Integer(), "sqlite"), nullable=False),
    Column("ts", BigInteger, nullable=False),
    # Who (the admin's user id), what (method and route), on what (path parameters or the
    # body's subject), with a short summary of the request body (JSON, secrets left out).
    Column("actor", Text, nullable=False),
    Column("action", Text, nullable=False),
    Column("target", Text, nullable=True),
    Column("summary", Text, nullable=False),
    Column("status", SmallInteger, nullable=False),
    Column("request_id", Text, nullable=True),
    PrimaryKeyConstraint("id"),
)

# The sequencer's durable position (one row): the global sequence number of the last
# committed command. Every batch writes it in its own transaction (storage/writer.py).
# How far the tables above are projected: the global sequence number of the last command
# whose rows are written (commands after it are in the journal).
sequencer_state = Table(
    "sequencer_state",
    metadata,
    Column("id", SmallInteger, nullable=False),
    Column("last_seq", BigInteger, nullable=False),
    Column("updated_ts", BigInteger, nullable=False),
    PrimaryKeyConstraint("id"),
    CheckConstraint("id = 1", name="single_row"),
)


# The command journal: what an acknowledgement is durable in. One row per batch: the
# state-changing commands of global sequence numbers first_seq..last_seq, time-stamped,
# encoded (sequencer/messages.py). Rows are deleted once the batch is projected into the
# tables above; recovery replays what is left (docs/adr/0001).
journal = Table(
    "journal",
    metadata,
    Column("last_seq", BigInteger, nullable=False),
    Column("first_seq", BigInteger, nullable=False),
    Column("ts", BigInteger, nullable=False),
    Column("commands", LargeBinary, nullable=False),
    # The epoch of the cluster core that committed the batch (migration 0012); 0: `serve`.
    Column("epoch", BigInteger, nullable=False, server_default="0"),
    PrimaryKeyConstraint("last_seq"),
)


# Engine snapshots (migration 0011, docs/adr/0002): the engine's image (engine/image.py)
# as of global sequence number `seq`, in parts. The `snapshots` row is written last: a
# snapshot without one is incomplete and never read. The journal keeps every batch after
# the latest snapshot, which a restart replays onto it.
snapshot_parts = Table(
    "snapshot_parts",
    metadata,
    Column("seq", BigInteger, nullable=False),
    Column("part", Integer, nullable=False),
    Column("data", LargeBinary, nullable=False),
    PrimaryKeyConstraint("seq", "part"),
)
snapshots = Table(
    "snapshots",
    metadata,
    Column("seq", BigInteger, nullable=False),
    Column("ts", BigInteger, nullable=False),
    Column("parts", Integer, nullable=False),
    Column("orders", BigInteger, nullable=False),
    Column("size", BigInteger, nullable=False),
    PrimaryKeyConstraint("seq"),
)


# The cluster's fencing state (migration 0009): the active core's epoch, which every
# takeover increments, in two rows (`journal`, `tables`: appends and table writes check
# one each, so they never wait for each other), and in `journal` the command stream's
# sequence number of the last command a journaled batch took (cluster/fencing.py).
cluster_fence = Table(
    "cluster_fence",
    metadata,
    Column("name", Text, nullable=False),
    Column("epoch", BigInteger, nullable=False),
    Column("position", BigInteger, nullable=False),
    Column("leader", Text, nullable=False),
    Column("updated_ts", BigInteger, nullable=False),
    PrimaryKeyConstraint("name"),
    CheckConstraint("name IN ('journal', 'tables')", name="name_known"),
)
