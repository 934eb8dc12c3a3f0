"""`trade-engine`: serve (or run a cluster's core and gateways), migrate, verify, mint a token,
deposit, run benchmarks."""

import argparse
import asyncio
import json
import runpy
import sys
import urllib.error
import urllib.request
import uuid
from pathlib import Path

from trade_engine.app.process import long_lived
from trade_engine.config import ConfigError, load_config


def _config(args: argparse.Namespace):  # type: ignore[no-untyped-def]
    try:
        return load_config(args.config)
    except ConfigError as error:
        print(f"configuration error: {error}", file=sys.stderr)
        raise SystemExit(2) from error


def cmd_serve(args: argparse.Namespace) -> int:
    with long_lived():  # the service's modules
        from trade_engine.app.server import serve

    serve(_config(args))
    return 0


def cmd_gateway(args: argparse.Namespace) -> int:
    with long_lived():  # the service's modules
        from trade_engine.app.server import serve

    serve(_config(args), role="gateway")
    return 0


def cmd_core(args: argparse.Namespace) -> int:
    with long_lived():  # the service's modules
        from trade_engine.app import core_process

    config = _config(args)
    if args.step_down:
        return core_process.step_down(config)
    return core_process.run(config, restarted=args.restarted)


def cmd_migrate(args: argparse.Namespace) -> int:
    from trade_engine.storage.database import normalise_url, open_database
    from trade_engine.storage.migrate import upgrade

    config = _config(args)

    async def run() -> None:
        database = open_database(normalise_url(config.database.url))
        await upgrade(database)
        await database.dispose()

    asyncio.run(run())
    print("migrations applied")
    return 0


def cmd_verify(args: argparse.Namespace) -> int:
    from trade_engine.storage.database import normalise_url, open_database
    from trade_engine.storage.recovery import load_engine, verify

    config = _config(args)

    async def run() -> list[str]:
        database = open_database(normalise_url(config.database.url))
        try:
            engine, report = await load_engine(database)
            problems = await verify(database, engine)
        finally:
            await database.dispose()
        print(
            json.dumps(
                {"markets": report.markets, "accounts": report.accounts, "open_orders": report.open_orders}
            )
        )
        return problems

    problems = asyncio.run(run())
    for problem in problems:
        print(f"INCONSISTENT: {problem}")
    print("store is consistent" if not problems else f"{len(problems)} problem(s) found")
    return 0 if not problems else 1


def cmd_token(args: argparse.Namespace) -> int:
    from trade_engine.edge.auth import mint_token

    config = _config(args)
    print(mint_token(config, args.user, args.role or ["trader"], args.ttl))
    return 0


def _admin_call(
    args: argparse.Namespace,
    method: str,
    path: str,
    body: dict[str, object] | None,
    unknown_outcome: str = "",
) -> int:
    """Call the running service's admin API with a short-lived admin token. A service
    that cannot be reached, or does not answer in time, is said so in one line (with
    `unknown_outcome` when the call may have been applied), not with a traceback."""
    from trade_engine.edge.auth import mint_token

    config = _config(args)
    try:
        token = mint_token(config, "cli-admin", ["admin"], 300)
    except ValueError as error:  # an RS256 configuration: the CLI holds no private key
        print(f"cannot call the admin API: {error}", file=sys.stderr)
        return 2
    url = args.url or f"http://{config.http.host}:{config.http.port}"
    request = urllib.request.Request(
        f"{url}/api/v1/admin/{path}",
        data=None if body is None else json.dumps(body).encode(),
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
        method=method,
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            print(response.read().decode())
            return 0
    except urllib.error.HTTPError as error:
        print(error.read().decode(), file=sys.stderr)
        if unknown_outcome and error.code >= 500:  # 503 "retry shortly", or a fault
            print(unknown_outcome, file=sys.stderr)
        return 1
    except OSError as error:  # URLError too: refused, unresolvable, timed out
        reason = error.reason if isinstance(error, urllib.error.URLError) else error
        print(f"cannot reach the service at {url}: {reason}", file=sys.stderr)
        if unknown_outcome and not isinstance(reason, ConnectionRefusedError):
            print(unknown_outcome, file=sys.stderr)
        return 1


def cmd_deposit(args: argparse.Namespace) -> int:
    """Deposit through the running service's admin API (the engine must see it). Without
    `--reference` one is made, so that a deposit whose answer was lost can be retried
    without crediting twice."""
    reference = args.reference or f"cli-{uuid.uuid4().hex}"
    body: dict[str, object] = {
        "user_id": args.user,
        "asset": args.asset,
        "amount": args.amount,
        "reference": reference,
    }
    unknown = f"the deposit may have been applied: run it again with --reference {reference} (idempotent)"
    return _admin_call(args, "POST", "deposits", body, unknown_outcome=unknown)


def cmd_api_key(args: argparse.Namespace) -> int:
    if args.action == "create":
        if not args.user:
            print("--user is required to create a key", file=sys.stderr)
            return 2
        body = {
            "user_id": args.user,
            "permissions": args.permission or ["read", "trade"],
            "label": args.label,
        }
        return _admin_call(args, "POST", "api-keys", body)
    if args.action == "revoke":
        if not args.key:
            print("--key is required to revoke a key", file=sys.stderr)
            return 2
        return _admin_call(args, "DELETE", f"api-keys/{args.key}", None)
    return _admin_call(args, "GET", "api-keys" + (f"?user_id={args.user}" if args.user else ""), None)


def cmd_bench(args: argparse.Namespace) -> int:
    script = Path("benchmarks") / f"{args.which}.py"
    if not script.is_file():
        print(f"run from the project root: {script} not found", file=sys.stderr)
        return 2
    sys.argv = [str(script), *args.rest]
    runpy.run_path(str(script), run_name="__main__")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="trade-engine", description=__doc__)
    parser.add_argument("--config", help="YAML configuration file (default: TRADE_ENGINE_CONFIG or built-in)")
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("serve", help="run the service").set_defaults(func=cmd_serve)
    commands.add_parser("gateway", help="run a cluster gateway (docs/cluster.md)").set_defaults(
        func=cmd_gateway
    )
    core = commands.add_parser("core", help="run a cluster core: standby, active on the lease")
    core.add_argument("--step-down", action="store_true", help="ask the active core to hand over")
    # Set by a core that restarts itself (cluster/leader.py restart): it waits for NATS.
    core.add_argument("--restarted", action="store_true", help=argparse.SUPPRESS)
    core.set_defaults(func=cmd_core)
    commands.add_parser("migrate", help="apply database migrations").set_defaults(func=cmd_migrate)
    commands.add_parser("verify", help="check the store's consistency").set_defaults(func=cmd_verify)
    token = commands.add_parser("token", help="mint a JWT from the configured secret (development)")
    token.add_argument("--user", required=True)
    token.add_argument("--role", action="append", choices=["trader", "admin"])
    token.add_argument("--ttl", type=int, default=3600, help="lifetime in seconds")
    token.set_defaults(func=cmd_token)
    deposit = commands.add_parser("deposit", help="credit a user through the running service")
    deposit.add_argument("--user", required=True)
    deposit.add_argument("--asset", required=True)
    deposit.add_argument("--amount", required=True, help="decimal string, e.g. 1000.5")
    deposit.add_argument("--reference", help="idempotency key (default: a new one, printed if needed)")
    deposit.add_argument("--url", help="service base URL (default from the configuration)")
    deposit.set_defaults(func=cmd_deposit)
    api_key = commands.add_parser("api-key", help="create, list or revoke API keys (running service)")
    api_key.add_argument("action", choices=["create", "list", "revoke"])
    api_key.add_argument("--user")
    api_key.add_argument("--permission", action="append", choices=["read", "trade"])
    api_key.add_argument("--label", default="")
    api_key.add_argument("--key", help="the key to revoke")
    api_key.add_argument("--url", help="service base URL (default from the configuration)")
    api_key.set_defaults(func=cmd_api_key)
    bench = commands.add_parser("bench", help="run a benchmark from benchmarks/")
    bench.add_argument("which", choices=["engine", "durable", "http", "ws_fanout"])
    bench.add_argument("rest", nargs=argparse.REMAINDER)
    bench.set_defaults(func=cmd_bench)
    args = parser.parse_args(argv)
    result: int = args.func(args)
    return result


if __name__ == "__main__":
    raise SystemExit(main())
