"""Fixtures for the Binance-compatible API: keys, funded accounts, fresh markets, and a
runner for the client libraries' scenario scripts.

The tests use the session's shared server on each database (tests/e2e/conftest.py);
each works on users and a market of its own. ccxt pins exact versions of its own
dependencies, so it lives in a virtual environment of its own, and so do python-binance
and binance-connector (`make binance-clients`, which `make test` builds); the scripts
in scripts/ run there as subprocesses and print JSON that the tests assert on.
"""

import hashlib
import hmac
import json
import os
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.e2e.client import API, QUOTE, Api, User, ok

# Every kline interval Binance's spot API documents.
INTERVALS = [
    "1s",
    "1m",
    "3m",
    "5m",
    "15m",
    "30m",
    "1h",
    "2h",
    "4h",
    "6h",
    "8h",
    "12h",
    "1d",
    "3d",
    "1w",
    "1M",
]

ROOT = Path(__file__).resolve().parents[3]
SCRIPTS = Path(__file__).parent / "scripts"
CCXT_PYTHON = Path(os.environ.get("TRADE_ENGINE_CCXT_PYTHON", ROOT / ".venv-ccxt" / "bin" / "python"))
PYTHON_BINANCE_PYTHON = ROOT / ".venv-python-binance" / "bin" / "python"
CONNECTOR_PYTHON = ROOT / ".venv-binance-connector" / "bin" / "python"


@dataclass(frozen=True)
class Account:
    user: User
    key: str
    secret: str

    def credentials(self) -> dict[str, str]:
        return {"key": self.key, "secret": self.secret}


class Binance:
    """Setup through the native admin API, and the ccxt runner."""

    def __init__(self, api: Api) -> None:
        self.api = api

    @property
    def url(self) -> str:
        return self.api.server.url

    def market(self) -> tuple[str, str, str]:
        """A fresh market: (native symbol, Binance symbol, ccxt symbol)."""
        native = self.api.add_market()
        base = native.split("-")[0]
        return native, f"{base}{QUOTE}", f"{base}/{QUOTE}"

    def account(
        self, name: str, funds: dict[str, str], permissions: tuple[str, ...] = ("read", "trade")
    ) -> Account:
        user = self.api.user(name)
        for asset, value in funds.items():
            self.api.deposit(user, asset, value)
        return Account(user, *self.key(user, permissions))

    def key(self, user: User, permissions: tuple[str, ...] = ("read", "trade")) -> tuple[str, str]:
        body = {"user_id": user.id, "permissions": list(permissions)}
        created = ok(self.api.http.post(f"{API}/admin/api-keys", json=body, headers=self.api.admin), 201)
        return str(created["api_key"]), str(created["secret"])

    def revoke(self, key: str) -> None:
        ok(self.api.http.delete(f"{API}/admin/api-keys/{key}", headers=self.api.admin))

    def ccxt(self, script: str, symbol: str, accounts: list[Account], **extra: Any) -> dict[str, Any]:
        """Run a scenario script in the ccxt environment; its JSON report."""
        return self.run_script(CCXT_PYTHON, script, symbol, accounts, **extra)

    def run_script(
        self, python: Path, script: str, symbol: str, accounts: list[Account], **extra: Any
    ) -> dict[str, Any]:
        """Run a script of scripts/ with a client library's interpreter; its JSON report."""
        assert python.exists(), f"{python} is missing: run `make binance-clients`"
        config = {
            "http": self.url,
            "symbol": symbol,
            "accounts": [a.credentials() for a in accounts],
            **extra,
        }
        completed = subprocess.run(
            [str(python), str(SCRIPTS / script), json.dumps(config)],
            capture_output=True,
            text=True,
            timeout=180,
            check=False,
        )
        assert completed.returncode == 0, completed.stderr[-4000:] + self.api.server.log_tail()
        report: dict[str, Any] = json.loads(completed.stdout.strip().splitlines()[-1])
        return report


@pytest.fixture(scope="session")
def binance(api: Api) -> Binance:
    return Binance(api)


class SignedClient:
    """Hand-made Binance requests (not ccxt): exact bytes, to test the signature rules."""

    def __init__(self, binance: Binance, account: Account) -> None:
        self.http = binance.api.http
        self.account = account

    def request(
        self,
        method: str,
        path: str,
        query: str = "",
        body: str = "",
        *,
        timestamp: int | None = None,
        recv_window: str | None = None,
        key: str | None = None,
        secret: str | None = None,
        transform: Any = None,
    ) -> httpx.Response:
        """Append timestamp (and recvWindow) to the body if there is one, else to the
        query; sign query + body; `transform` may alter the signature before sending."""
        stamp = f"timestamp={timestamp if timestamp is not None else int(time.time() * 1000)}"
        if recv_window is not None:
            stamp += f"&recvWindow={recv_window}"
        if body:
            body = f"{body}&{stamp}"
        else:
            query = f"{query}&{stamp}" if query else stamp
        signature = hmac.new(
            (secret or self.account.secret).encode(), (query + body).encode(), hashlib.sha256
        ).hexdigest()
        if transform is not None:
            signature = transform(signature)
        if body:
            body = f"{body}&signature={signature}"
        else:
            query = f"{query}&signature={signature}"
        headers = {"X-MBX-APIKEY": key if key is not None else self.account.key}
        if body:
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        url = path if path.startswith("/") else f"/api/v3/{path}"  # a full path, or one under /api/v3
        return self.http.request(method, f"{url}?{query}", content=body.encode(), headers=headers)


def binance_error(response: httpx.Response, status: int, code: int, msg: str | None = None) -> None:
    assert response.status_code == status, (response.status_code, response.text)
    body = response.json()
    assert set(body) == {"code", "msg"}, body
    assert body["code"] == code, body
    if msg is not None:
        assert body["msg"] == msg, body
