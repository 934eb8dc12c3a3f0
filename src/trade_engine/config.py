"""Configuration: one YAML file plus `TRADE_ENGINE_*` environment overrides.

Configuration is data: frozen structs, validated once at start with messages that say
what is wrong and where. Every field has a default that runs, so the service starts
with no file at all (SQLite under ./data, three markets, a development JWT secret
that is announced loudly in the log).

Environment overrides name a section and a field: `TRADE_ENGINE_HTTP_PORT=9000`,
`TRADE_ENGINE_DATABASE_URL=postgresql://...`, `TRADE_ENGINE_AUTH_SECRET=...`.
`TRADE_ENGINE_CONFIG` names the YAML file when `--config` is not given.
"""

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Final

import msgspec
import yaml

from trade_engine.domain.errors import TradeEngineError
from trade_engine.domain.market import Market, MarketSpec, market_from_spec

ENV_PREFIX: Final = "TRADE_ENGINE_"
# Environment variables of the prefix that are not settings: the file to read, and the
# crash points of the failover tests (cluster/failpoints.py).
NOT_SETTINGS: Final = (ENV_PREFIX + "CONFIG", ENV_PREFIX + "FAILPOINT")
DEV_SECRET: Final = "development-secret-change-me-please-0123456789"
JWT_ALGORITHMS: Final = ("HS256", "HS384", "HS512", "RS256", "RS384", "RS512", "ES256", "ES384", "ES512")


class ConfigError(Exception):
    """The configuration cannot be used; the message says which setting and why."""


class HttpConfig(msgspec.Struct, frozen=True, kw_only=True):
    host: str = "127.0.0.1"
    port: int = 8000
    max_body_bytes: int = 64 * 1024
    # Seconds a graceful shutdown waits for queued orders to commit.
    shutdown_timeout_seconds: float = 30.0


class DatabaseConfig(msgspec.Struct, frozen=True, kw_only=True):
    url: str = "sqlite:///./data/trade-engine.db"
    pool_size: int = 5
    # A ledger verification (the operator API's) not done by then is reported FAILED:
    # a stalled database must not hold the requests waiting for it for ever.
    verification_timeout_seconds: float = 300.0


class AuthConfig(msgspec.Struct, frozen=True, kw_only=True):
    algorithm: str = "HS256"
    # HS*: the shared secret. RS*/ES*: a PEM public key, inline or as a file path.
    secret: str | None = DEV_SECRET
    public_key: str | None = None
    issuer: str | None = None
    audience: str | None = None
    leeway_seconds: int = 0
    # Key that encrypts API-key secrets at rest (32+ characters).
    api_key_encryption_key: str = DEV_SECRET


class RateLimitConfig(msgspec.Struct, frozen=True, kw_only=True):
    enabled: bool = True
    per_user_per_second: float = 200.0
    per_user_burst: int = 400
    per_ip_per_second: float = 400.0
    per_ip_burst: int = 800


class BinanceConfig(msgspec.Struct, frozen=True, kw_only=True):
    """The Binance-compatible API's limits, Binance's values by default. Windows are
    fixed and aligned to the clock (a minute runs from :00), as Binance's are; the
    limits are refused only when `rate_limits.enabled`, but always counted and reported
    (X-MBX-USED-WEIGHT-1M, X-MBX-ORDER-COUNT-10S and -1D)."""

    # Request weight per client address and window.
    request_weight_limit: int = 6_000
    request_weight_window_seconds: int = 60
    # New orders per user, in a short and a long window.
    orders_limit: int = 100
    orders_window_seconds: int = 10
    orders_daily_limit: int = 200_000
    orders_daily_window_seconds: int = 86_400
    # An address that goes on sending after this many 429s in one weight window is
    # banned (418) for `ban_seconds`, twice as long each time it is banned again, up to
    # `max_ban_seconds` (Binance: from 2 minutes to 3 days).
    ban_after_refusals: int = 20
    ban_seconds: int = 120
    max_ban_seconds: int = 259_200
    # Listen keys (the user-data stream by key): how long one lives without a
    # keep-alive, and how often the streams of this process check theirs in storage for
    # keys closed elsewhere (a key expires at its deadline, whatever this says).
    listen_key_validity_seconds: float = 3_600.0
    listen_key_check_seconds: float = 5.0


class SequencerConfig(msgspec.Struct, frozen=True, kw_only=True):
    max_queue: int = 10_000
    max_batch: int = 1_000
    retry_total_seconds: float = 30.0
    # The history tables are written behind the journal (docs/adr/0001): at most this
    # many acknowledged commands may wait to be written before new ones wait instead.
    max_projection_lag: int = 50_000
    # How long a read of history waits for the tables to hold every command committed
    # before it (read-your-writes); past it the read answers 503 UNAVAILABLE.
    history_wait_seconds: float = 5.0
    # An engine snapshot every so many commands (0: never): a restart loads the latest
    # and replays the journal since it (docs/adr/0002). `serve` only: the cluster's core
    # recovers from the tables and its command stream.
    snapshot_every_commands: int = 250_000


class CoreConfig(msgspec.Struct, frozen=True, kw_only=True):
    # Encode and decode every message that crosses the core port, as if the core ran in
    # another process (the test suite turns it on; it costs a little time per command).
    port_roundtrip: bool = False


class ClusterConfig(msgspec.Struct, frozen=True, kw_only=True):
    """The cluster roles (`core`, `gateway`; docs/cluster.md). `serve` ignores it."""

    # Comma-separated NATS server URLs; credentials by a .creds file or user/password.
    nats_urls: str = "nats://127.0.0.1:4222"
    credentials: str | None = None
    user: str | None = None
    password: str | None = None
    # Prefix of every stream, subject and bucket: several clusters can share one NATS.
    name: str = "te"
    # Of each stream: 3, a three-node NATS cluster (a command survives a node's loss);
    # 1 only for a single NATS server (development).
    replicas: int = 3
    connect_timeout_seconds: float = 2.0
    publish_timeout_seconds: float = 1.0
    # How long a gateway waits for a command's outcome before answering OUTCOME_UNKNOWN.
    outcome_timeout_seconds: float = 10.0
    # How long a gateway waits for its read model to reach what the core has committed
    # (read-your-writes across gateways) before answering 503 UNAVAILABLE.
    read_wait_seconds: float = 2.0
    # The leader's lease: a core that misses renewing it for this long is replaced.
    lease_seconds: float = 3.0
    # JetStream drops a command published twice with the same id within this window.
    dedup_window_seconds: float = 120.0
    max_in_flight: int = 1_000  # commands a gateway has sent and awaits
    # The command stream's size limit: past it new commands are refused (503 BUSY).
    max_pending_commands: int = 100_000
    max_pending_bytes: int = 256 * 1024 * 1024
    # How long committed events (and the journal the standby follows) stay in their streams.
    event_retention_seconds: float = 24 * 3600.0
    # This process's name in the cluster (outcome subjects, logs): random when empty.
    node_id: str = ""


class WebSocketConfig(msgspec.Struct, frozen=True, kw_only=True):
    heartbeat_seconds: float = 20.0
    idle_timeout_seconds: float = 60.0
    max_clients: int = 2_000
    max_subscriptions: int = 100
    queue_size: int = 1_000
    # A client whose unsent data (its queue, plus what the transport and the kernel
    # still hold for it) passes this many bytes, or whose oldest queued message has
    # waited this long, is too slow: it is told and closed (4001).
    max_unsent_bytes: int = 4 * 1024 * 1024
    max_unsent_seconds: float = 10.0
    # Least time between two messages of one channel: under load a message carries
    # every change since the previous one, so messages per client stay bounded.
    flush_interval_ms: float = 40.0


class LoggingConfig(msgspec.Struct, frozen=True, kw_only=True):
    level: str = "INFO"


DEFAULT_MARKETS: Final = (
    MarketSpec(
        symbol="BTC-USDT",
        tick_size="0.01",
        step_size="0.00001",
        min_quantity="0.00001",
        max_quantity="1000",
        max_price="10000000",
        min_notional="1",
        maker_fee="0.001",
        taker_fee="0.001",
    ),
    MarketSpec(
        symbol="ETH-USDT",
        tick_size="0.01",
        step_size="0.0001",
        min_quantity="0.0001",
        max_quantity="10000",
        max_price="1000000",
        min_notional="1",
        maker_fee="0.001",
        taker_fee="0.001",
    ),
    MarketSpec(
        symbol="ETH-BTC",
        tick_size="0.00001",
        step_size="0.001",
        min_quantity="0.001",
        max_quantity="10000",
        max_price="100",
        min_notional="0.0001",
        maker_fee="0.001",
        taker_fee="0.001",
    ),
)


class Config(msgspec.Struct, frozen=True, kw_only=True):
    http: HttpConfig = HttpConfig()
    database: DatabaseConfig = DatabaseConfig()
    auth: AuthConfig = AuthConfig()
    rate_limits: RateLimitConfig = RateLimitConfig()
    binance: BinanceConfig = BinanceConfig()
    sequencer: SequencerConfig = SequencerConfig()
    core: CoreConfig = CoreConfig()
    cluster: ClusterConfig = ClusterConfig()
    websocket: WebSocketConfig = WebSocketConfig()
    logging: LoggingConfig = LoggingConfig()
    markets: tuple[MarketSpec, ...] = DEFAULT_MARKETS

    def validated_markets(self) -> list[Market]:
        markets = []
        for spec in self.markets:
            try:
                markets.append(market_from_spec(spec))
            except TradeEngineError as error:
                raise ConfigError(f"markets: {spec.symbol}: {error.message}") from error
        return markets

    def verification_key(self) -> str:
        """The key that checks JWT signatures under the configured algorithm."""
        auth = self.auth
        if auth.algorithm.startswith("HS"):
            assert auth.secret is not None
            return auth.secret
        assert auth.public_key is not None
        key = auth.public_key
        if "BEGIN" not in key and Path(key).is_file():
            key = Path(key).read_text()
        return key


def _env_overrides(environ: Mapping[str, str]) -> dict[str, dict[str, str]]:
    sections = set(_section_types())
    overrides: dict[str, dict[str, str]] = {}
    for name, value in environ.items():
        if not name.startswith(ENV_PREFIX) or name in NOT_SETTINGS:
            continue
        rest = name[len(ENV_PREFIX) :].lower()
        section = next((s for s in sorted(sections, key=len, reverse=True) if rest.startswith(s + "_")), None)
        if section is None:
            raise ConfigError(
                f"{name}: no configuration section matches (known: {', '.join(sorted(sections))})"
            )
        field = rest[len(section) + 1 :]
        if field not in _section_types()[section].__struct_fields__:
            raise ConfigError(f"{name}: section {section!r} has no setting {field!r}")
        overrides.setdefault(section, {})[field] = value
    return overrides


def _section_types() -> dict[str, type[msgspec.Struct]]:
    return {
        "http": HttpConfig,
        "database": DatabaseConfig,
        "auth": AuthConfig,
        "rate_limits": RateLimitConfig,
        "binance": BinanceConfig,
        "sequencer": SequencerConfig,
        "core": CoreConfig,
        "cluster": ClusterConfig,
        "websocket": WebSocketConfig,
        "logging": LoggingConfig,
    }


def load_config(path: str | Path | None = None, environ: Mapping[str, str] | None = None) -> Config:
    """Read, merge and validate the configuration; raise ConfigError with reasons."""
    environ = os.environ if environ is None else environ
    path = path or environ.get(ENV_PREFIX + "CONFIG")
    raw: dict[str, Any] = {}
    if path:
        try:
            loaded = yaml.safe_load(Path(path).read_text())
        except OSError as error:
            raise ConfigError(f"cannot read configuration file {path}: {error.strerror}") from error
        except yaml.YAMLError as error:
            raise ConfigError(f"configuration file {path} is not valid YAML: {error}") from error
        if loaded is not None and not isinstance(loaded, dict):
            raise ConfigError(f"configuration file {path} must hold a mapping of sections")
        raw = loaded or {}
    for section, values in _env_overrides(environ).items():
        merged = dict(raw.get(section) or {})
        merged.update(values)
        raw[section] = merged
    try:
        config = msgspec.convert(raw, Config, strict=False)
    except msgspec.ValidationError as error:
        raise ConfigError(f"invalid configuration: {error}") from error
    _check(config)
    return config


def _check(config: Config) -> None:
    auth = config.auth
    if auth.algorithm not in JWT_ALGORITHMS:
        raise ConfigError(
            f"auth.algorithm must be one of {', '.join(JWT_ALGORITHMS)}, not {auth.algorithm!r}"
        )
    if auth.algorithm.startswith("HS"):
        if not auth.secret or len(auth.secret) < 32:
            raise ConfigError("auth.secret must be set, at least 32 characters, for HS* algorithms")
    elif not auth.public_key:
        raise ConfigError(f"auth.public_key (PEM text or file) is required for {auth.algorithm}")
    if len(auth.api_key_encryption_key) < 32:
        raise ConfigError("auth.api_key_encryption_key must be at least 32 characters")
    if not 0 < config.http.port < 65536:
        raise ConfigError(f"http.port must be within 1..65535, not {config.http.port}")
    if config.http.max_body_bytes < 1024:
        raise ConfigError("http.max_body_bytes must be at least 1024")
    if config.sequencer.max_batch < 1 or config.sequencer.max_queue < 1:
        raise ConfigError("sequencer.max_batch and sequencer.max_queue must be positive")
    if config.sequencer.snapshot_every_commands < 0:
        raise ConfigError("sequencer.snapshot_every_commands must be 0 (never) or positive")
    ws = config.websocket
    if min(ws.heartbeat_seconds, ws.idle_timeout_seconds) <= 0 or ws.flush_interval_ms < 0:
        raise ConfigError("websocket: heartbeat and idle timeout must be positive, flush interval >= 0")
    if min(ws.max_clients, ws.max_subscriptions, ws.queue_size) < 1:
        raise ConfigError("websocket.max_clients, max_subscriptions and queue_size must be positive")
    if ws.max_unsent_bytes < 64 * 1024 or ws.max_unsent_seconds <= 0:
        raise ConfigError("websocket.max_unsent_bytes must be at least 65536, max_unsent_seconds positive")
    binance = config.binance
    counts = (binance.request_weight_limit, binance.orders_limit, binance.orders_daily_limit)
    windows = (
        binance.request_weight_window_seconds,
        binance.orders_window_seconds,
        binance.orders_daily_window_seconds,
        binance.ban_seconds,
    )
    if min(*counts, *windows, binance.ban_after_refusals) < 1:
        raise ConfigError("binance: limits, windows and ban durations must be positive")
    if binance.listen_key_validity_seconds <= 0 or binance.listen_key_check_seconds <= 0:
        raise ConfigError("binance: listen-key validity and check interval must be positive")
    if binance.max_ban_seconds < binance.ban_seconds:
        raise ConfigError("binance.max_ban_seconds must be at least binance.ban_seconds")
    if config.logging.level.upper() not in ("DEBUG", "INFO", "WARNING", "ERROR"):
        raise ConfigError("logging.level must be DEBUG, INFO, WARNING or ERROR")
    _check_cluster(config.cluster)
    symbols = [spec.symbol for spec in config.markets]
    if len(set(symbols)) != len(symbols):
        raise ConfigError("markets: a symbol is listed twice")
    config.validated_markets()


def _check_cluster(cluster: ClusterConfig) -> None:
    positive = (
        "connect_timeout_seconds",
        "publish_timeout_seconds",
        "outcome_timeout_seconds",
        "read_wait_seconds",
        "lease_seconds",
        "dedup_window_seconds",
        "max_in_flight",
        "max_pending_commands",
        "max_pending_bytes",
        "event_retention_seconds",
    )
    for name in positive:
        if getattr(cluster, name) <= 0:
            raise ConfigError(f"cluster.{name} must be positive")
    if cluster.replicas not in (1, 3, 5):
        raise ConfigError(f"cluster.replicas must be 1, 3 or 5, not {cluster.replicas}")
    if not cluster.name.isidentifier():
        raise ConfigError(f"cluster.name must be letters, digits and underscores, not {cluster.name!r}")
    if cluster.node_id and not cluster.node_id.replace("-", "_").isidentifier():
        raise ConfigError(f"cluster.node_id must be letters, digits, - and _, not {cluster.node_id!r}")
    for url in cluster.nats_urls.split(","):
        if not url.strip().startswith(("nats://", "tls://")):
            raise ConfigError(f"cluster.nats_urls: {url.strip()!r} is not a nats:// or tls:// URL")
    if cluster.credentials and not Path(cluster.credentials).is_file():
        raise ConfigError(f"cluster.credentials: no such file {cluster.credentials}")
