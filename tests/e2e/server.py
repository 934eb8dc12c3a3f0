"""A real service process for end-to-end tests: started, killed, restarted on demand."""

import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

from trade_engine.config import load_config
from trade_engine.edge.auth import mint_token

_handed_out: set[int] = set()


def free_port() -> int:
    """A port free now, never handed out before by this process: the kernel may offer a
    port again as soon as its probe is closed (about 4 in 100 of a thousand probes here),
    and a three-node NATS was once given the same port as one node's client port and its
    cluster port (`nats n2 did not start`)."""
    while True:
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = int(probe.getsockname()[1])
        if port not in _handed_out:
            _handed_out.add(port)
            return port


def anchored_environment() -> dict[str, str]:
    """This process's environment for a child started in another directory: PYTHONPATH's
    relative entries made absolute. `PYTHONPATH=build/compiled` (the Makefile's and the
    notes' way to run the compiled core) read from a server's own directory names
    nothing, and Python then imports the source instead, silently."""
    environment = dict(os.environ)
    entries = environment.get("PYTHONPATH")
    if entries:
        environment["PYTHONPATH"] = os.pathsep.join(
            os.path.abspath(entry)
            for entry in entries.split(os.pathsep)  # "" (this directory) too
        )
    return environment


class Server:
    def __init__(self, database_url: str, workdir: Path, **settings: str) -> None:
        self.port = free_port()
        self.workdir = workdir
        self.url = f"http://127.0.0.1:{self.port}"
        self.env = {
            **anchored_environment(),
            "TRADE_ENGINE_HTTP_PORT": str(self.port),
            "TRADE_ENGINE_DATABASE_URL": database_url,
            "TRADE_ENGINE_RATE_LIMITS_ENABLED": "false",
            # Every message across the core port goes through its codec, as between processes.
            "TRADE_ENGINE_CORE_PORT_ROUNDTRIP": "true",
            **settings,
        }
        self.config = load_config(None, {k: v for k, v in self.env.items() if k.startswith("TRADE_ENGINE_")})
        self.process: subprocess.Popen[bytes] | None = None
        self.log_path = workdir / "server.log"
        self.starts = 0

    def start(self, *, wait: bool = True, timeout: float = 60.0) -> None:
        self.starts += 1
        with self.log_path.open("ab") as log:  # the child keeps its own descriptor
            self.process = subprocess.Popen(
                [sys.executable, "-m", "trade_engine.cli", "serve"],
                env=self.env,
                cwd=self.workdir,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        if wait:
            self.wait_ready(timeout)

    def wait_ready(self, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self.process is not None
            if self.process.poll() is not None:
                raise RuntimeError(f"server exited with {self.process.returncode}:\n{self.log_tail()}")
            try:
                if httpx.get(f"{self.url}/ready", timeout=1.0).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.05)
        raise RuntimeError(f"server not ready after {timeout} s:\n{self.log_tail()}")

    def kill(self) -> None:
        """SIGKILL: no shutdown code runs."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(timeout=30)

    def terminate(self, timeout: float = 60.0) -> int:
        """SIGTERM: graceful shutdown; returns the exit code."""
        assert self.process is not None
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.kill()
                raise AssertionError(f"still running {timeout} s after SIGTERM:\n{self.log_tail()}") from None
        return int(self.process.returncode)

    def token(self, user: str, *roles: str, ttl: int = 3600) -> str:
        return mint_token(self.config, user, list(roles) or ["trader"], ttl)

    def headers(self, user: str, *roles: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token(user, *roles)}"}

    def core_build(self) -> str:
        """The engine build the server runs, as its metrics say (`trade_engine_build_info`)."""
        metrics = httpx.get(f"{self.url}/metrics", timeout=10).text
        found = re.search(r'^trade_engine_build_info\{core="([^"]+)"\} 1\.0$', metrics, re.MULTILINE)
        assert found is not None, metrics[:2000]
        return found.group(1)

    def log_tail(self, lines: int = 40) -> str:
        if not self.log_path.exists():
            return ""
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
