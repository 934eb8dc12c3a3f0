"""Real processes for the cluster tests: a NATS JetStream cluster on loopback (one node
or three), cores and gateways, each a separate process, killed and restarted on demand.

`scripts/nats-up.sh` installs `nats-server` 2.10 (Debian's package) into .tools/; every
server here runs in a directory of its own under the test's temporary directory, on free
ports, and fsyncs every JetStream write (`sync_interval: always`), as
deploy/nats-server.conf does.
"""

import asyncio
import contextlib
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Coroutine
from concurrent.futures import ThreadPoolExecutor
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any, TypeVar

import httpx
import nats as nats_client
from nats import errors as nats_errors
from nats.aio.client import Client
from nats.js.errors import NotFoundError

from tests.e2e.server import Server, free_port
from tests.postgres_locks import held

T = TypeVar("T")

NATS_SERVER = str(Path(__file__).resolve().parents[2] / ".tools" / "nats-server" / "nats-server")


class NatsNode:
    def __init__(
        self,
        name: str,
        directory: Path,
        port: int,
        cluster_port: int | None,
        routes: list[int],
        users: Path | None = None,
    ) -> None:
        """`users`: a file of NATS users and permissions (deploy/nats-users.conf) the
        server includes; none: no authentication."""
        self.name, self.directory, self.port = name, directory, port
        self.cluster_port, self.routes = cluster_port, routes
        self.users = users
        self.monitor_port = free_port()  # its monitoring endpoint (/varz, /jsz)
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"nats://127.0.0.1:{self.port}"

    def start(self) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        command = [NATS_SERVER, "-a", "127.0.0.1", "-p", str(self.port), "-n", self.name]
        command += ["-m", str(self.monitor_port)]
        config = f'jetstream {{\n  store_dir: "{self.directory / "js"}"\n  sync_interval: always\n}}\n'
        if self.users is not None:
            # Included from the server's own directory, as deploy/nats-server.conf does.
            shutil.copy(self.users, self.directory / self.users.name)
            config += f"include {self.users.name}\n"
        (self.directory / "nats.conf").write_text(config)
        command += ["-c", str(self.directory / "nats.conf")]
        if self.cluster_port is not None:
            command += ["--cluster_name", "te", "--cluster", f"nats://127.0.0.1:{self.cluster_port}"]
            command += ["--routes", ",".join(f"nats://127.0.0.1:{port}" for port in self.routes)]
        with (self.directory / "nats.log").open("ab") as log:
            self.process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(timeout=10)
        self.process = None


class Nats:
    """One node, or three in a JetStream cluster (R3 streams)."""

    def __init__(self, directory: Path, nodes: int = 1, users: Path | None = None) -> None:
        ports = [free_port() for _ in range(nodes)]
        cluster_ports = [free_port() for _ in range(nodes)] if nodes > 1 else []
        self.nodes = [
            NatsNode(
                f"n{index}",
                directory / f"nats{index}",
                ports[index],
                cluster_ports[index] if cluster_ports else None,
                [p for i, p in enumerate(cluster_ports) if i != index],
                users,
            )
            for index in range(nodes)
        ]

    @property
    def urls(self) -> str:
        return ",".join(node.url for node in self.nodes)

    @property
    def replicas(self) -> int:
        return 3 if len(self.nodes) >= 3 else 1

    def launch(self) -> None:
        """Start every node at once and wait until each listens for clients, not until
        the cluster has formed (as a deployment's nodes start)."""
        for node in self.nodes:
            node.start()
        deadline = time.monotonic() + 20
        for node in self.nodes:
            while not _listening(node.port):
                assert time.monotonic() < deadline, f"nats {node.name} did not start"
                time.sleep(0.01)

    def start(self) -> None:
        self.launch()
        if len(self.nodes) > 1 and all(node.users is None for node in self.nodes):
            self.until_meta_group_whole()

    def operated(self, work: Callable[[], T]) -> tuple[T, int]:
        """`work` (a core setting its streams up, say) while an operator watches the
        meta group beside it on a thread (`until_meta_group_whole`): its result, and the
        number of nodes the operator restarted."""
        done = threading.Event()
        with ThreadPoolExecutor(1) as operator:
            watching = operator.submit(self.until_meta_group_whole, until=done)
            try:
                result = work()
            except BaseException as error:
                done.set()
                if watching.exception() is not None:
                    error.add_note(f"the operator: {watching.exception()!r}")
                raise
            done.set()
            return result, watching.result()

    def until_meta_group_whole(
        self, timeout: float = 60.0, grace: float = 5.0, until: threading.Event | None = None
    ) -> int:
        """Wait until the JetStream meta group holds every node running, online and
        current; given `until`, watch it until that is set instead, as an operator beside
        a core does (a group can lose a node again while the core sets its streams up).
        The number of nodes restarted meanwhile. nats-server 2.10.27, its three
        nodes started at once, sometimes forms the group of two and never takes the
        third in (7 of 41 starts on this machine, once in CI): no R3 stream can be
        placed ("no suitable peers for placement") however long a core waits.
        Restarting the node left out brings it in within a second, and an operator does
        the same (docs/cluster.md). A node is restarted once the group has had a leader
        without it for `grace` seconds in a row."""
        deadline, restarted = time.monotonic() + timeout, 0
        left_out_since: dict[str, float] = {}
        while until is None or not until.is_set():
            left_out = self._left_out_of_meta_group()
            if left_out == [] and until is None:
                return restarted
            now = time.monotonic()
            # Only a node missing at every look since its first counts towards `grace`.
            left_out_since = {node.name: left_out_since.get(node.name, now) for node in left_out or []}
            for node in left_out or []:
                if now - left_out_since[node.name] > grace:
                    node.stop()
                    node.start()
                    restarted += 1
                    del left_out_since[node.name]
            lacking = "no leader yet" if left_out is None else [node.name for node in left_out]
            assert left_out == [] or now < deadline, f"the JetStream meta group after {timeout} s: {lacking}"
            time.sleep(0.2)
        return restarted

    def _left_out_of_meta_group(self) -> list[NatsNode] | None:
        """The nodes running that are not in the meta leader's group, are in it but
        offline or not current, or do not name it as their leader; None while a node
        does not answer or no node leads. Only the leader lists the group
        (`meta_cluster.replicas`, itself left out), and stream placement picks its peers
        from the members of that list that are online and current."""
        running = [node for node in self.nodes if node.process is not None]
        try:
            metas = {
                node.name: httpx.get(f"http://127.0.0.1:{node.monitor_port}/jsz", timeout=2)
                .json()
                .get("meta_cluster")
                or {}
                for node in running
            }
        except httpx.HTTPError:
            return None
        leaders = [name for name, meta in metas.items() if meta.get("leader") == name]
        if len(leaders) != 1:
            return None
        (leader,) = leaders
        members = {
            leader,
            *(
                replica["name"]
                for replica in metas[leader].get("replicas") or []
                if replica.get("current") and not replica.get("offline")
            ),
        }
        return [
            node for node in running if node.name not in members or metas[node.name].get("leader") != leader
        ]

    def stop(self) -> None:
        for node in self.nodes:
            node.stop()

    def until_streams_led(self, timeout: float = 60.0) -> None:
        """Wait until every stream (the lease's bucket too) has a leader among the nodes
        running: after a node stops, the streams it led elect new leaders only after
        the raft election timeout (seconds), and until then commands or lease renewals
        on them fail."""
        asyncio.run(_until_streams_led([n for n in self.nodes if n.process is not None], timeout))


async def until_subscribed(client: Client) -> None:
    """Return once the server has every subscription `client` has made so far.

    `Client.flush` does not promise that in nats-py 2.16: its PING is written straight
    to the socket (`Client._send_ping`), ahead of a SUB still in the client's buffer, so
    the PONG may come back before the server has read the SUB. Under CPU contention a
    command published from another connection then missed the test's subscription. A
    request travels in the buffer behind the SUB, and the server answers it ("no
    responders") only after it has read what came before it on that connection."""
    with contextlib.suppress(nats_errors.NoRespondersError):
        await client.request(f"probe.{secrets.token_hex(6)}", b"", timeout=10)


def on_one_node(tmp_path: Path, run: Callable[[Nats], Coroutine[Any, Any, T]]) -> T:
    """Run the coroutine `run` makes against a NATS server of one node, started for it
    and stopped after, whatever happens."""
    nats = Nats(tmp_path, 1)
    nats.start()
    try:
        return asyncio.run(run(nats))
    finally:
        nats.stop()


async def _until_streams_led(running: list[NatsNode], timeout: float) -> None:
    deadline, names = time.monotonic() + timeout, {node.name for node in running}
    client = await nats_client.connect([node.url for node in running])
    try:
        js = client.jetstream(timeout=2)
        while True:
            try:
                streams = [info.config.name for info in await js.streams_info()]
                leaders = [(await js.stream_info(name)).cluster for name in streams if name]
                if streams and all(c is not None and c.leader in names for c in leaders):
                    return
            except (nats_errors.Error, TimeoutError):
                pass  # no meta leader or no stream leader yet
            assert time.monotonic() < deadline, f"streams without a running leader after {timeout} s"
            await asyncio.sleep(0.2)
    finally:
        await client.close()


def _listening(port: int) -> bool:
    with socket.socket() as probe:
        probe.settimeout(0.2)
        return probe.connect_ex(("127.0.0.1", port)) == 0


def cluster_settings(nats: Nats, **extra: str) -> dict[str, str]:
    return {
        "TRADE_ENGINE_CLUSTER_NATS_URLS": nats.urls,
        "TRADE_ENGINE_CLUSTER_REPLICAS": str(nats.replicas),
        "TRADE_ENGINE_CLUSTER_LEASE_SECONDS": "1.5",
        "TRADE_ENGINE_CLUSTER_OUTCOME_TIMEOUT_SECONDS": "8",
        **extra,
    }


class Gateway(Server):
    """A `trade-engine gateway` process: the same HTTP surface as `serve`."""

    role = "gateway"

    def start(self, *, wait: bool = True, timeout: float = 60.0) -> None:
        self.starts += 1
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "trade_engine.cli", self.role],
                env=self.env,
                cwd=self.workdir,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        if wait:
            self.wait_ready(timeout)


class Core(Gateway):
    """A `trade-engine core` process; `/ready` answers on its probe port once it leads
    or follows."""

    role = "core"

    def role_now(self) -> str:
        try:
            return str(httpx.get(f"{self.url}/ready", timeout=1.0).json()["role"])
        except (httpx.HTTPError, ValueError, KeyError):
            return "down"

    def wait_role(self, role: str, timeout: float = 30.0) -> None:
        self._wait_for(lambda: self.role_now() == role, f"not {role}", timeout)

    def wait_took_over(self, timeout: float = 30.0) -> None:
        """Until this core has taken the lead. It may lose it again at once (a failpoint
        can kill it within milliseconds of taking over, quicker than `/ready` is polled),
        so its log is the record: the `took over` line is written as it leads."""
        took_over = '"message":"took over"'
        self._wait_for(lambda: took_over in self.log_path.read_text(errors="replace"), "no takeover", timeout)

    def _wait_for(self, condition: Callable[[], bool], failure: str, timeout: float) -> None:
        """Until `condition` holds; raises with the log if the core exits first or the
        time runs out."""
        deadline = time.monotonic() + timeout
        while not condition():
            assert self.process is not None
            if self.process.poll() is not None:
                raise RuntimeError(f"core exited with {self.process.returncode}:\n{self.log_tail()}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"core: {failure} after {timeout} s:\n{self.log_tail()}")
            time.sleep(0.05)

    def pause(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGSTOP)

    def resume(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGCONT)

    def exited(self, timeout: float) -> int | None:
        assert self.process is not None
        try:
            return self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            return None


def environment(database_url: str, nats: Nats, **extra: str) -> dict[str, str]:
    return {"TRADE_ENGINE_DATABASE_URL": database_url, **cluster_settings(nats, **extra)}


class Cluster:
    """A whole cluster: its NATS, its cores (in start order) and its gateways."""

    def __init__(self, database_url: str, nats: Nats, directory: Path, **settings: str) -> None:
        self.database_url, self.nats, self.directory = database_url, nats, directory
        self.settings = cluster_settings(nats, **settings)
        self.cores: list[Core] = []
        self.gateways: list[Gateway] = []

    def add_core(self, *, wait_role: str | None = "standby", **settings: str) -> Core:
        workdir = self.directory / f"core{len(self.cores)}"
        workdir.mkdir(parents=True, exist_ok=True)
        core = Core(self.database_url, workdir, **self.settings, **settings)
        core.start(wait=False)
        self.cores.append(core)
        if wait_role is not None:
            core.wait_role(wait_role, timeout=60)
        return core

    def add_gateway(self, **settings: str) -> Gateway:
        workdir = self.directory / f"gateway{len(self.gateways)}"
        workdir.mkdir(parents=True, exist_ok=True)
        gateway = Gateway(self.database_url, workdir, **self.settings, **settings)
        gateway.start(timeout=60)
        self.gateways.append(gateway)
        return gateway

    def start(self, *, cores: int, gateways: int) -> None:
        for index in range(cores):
            self.add_core(wait_role="leader" if index == 0 else "standby")
        for _ in range(gateways):
            self.add_gateway()

    def leader(self, timeout: float = 30.0) -> Core:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for core in self.cores:
                if core.process is not None and core.process.poll() is None and core.role_now() == "leader":
                    return core
            time.sleep(0.05)
        raise RuntimeError("no core leads:\n" + "\n".join(core.log_tail(15) for core in self.cores))

    def logs(self) -> str:
        return "\n".join(f"--- {p.workdir.name}\n{p.log_tail(30)}" for p in [*self.cores, *self.gateways])

    def stop(self) -> None:
        for process in [*self.gateways, *self.cores]:
            process.kill()
        self.nats.stop()


def batch_epochs(nats: Nats, stream: str = "TE_EVENTS", subject: str = "te.batch") -> list[tuple[int, int]]:
    """(epoch, last global sequence number) of every committed batch on the stream, in order."""

    async def read() -> list[tuple[int, int]]:
        client = await nats_client.connect(nats.urls.split(","))
        try:
            js = client.jetstream()
            info = await js.stream_info(stream)
            found: list[tuple[int, int]] = []
            seq = info.state.first_seq
            while True:
                # The next message on `subject` from `seq`: the stream's per-market and
                # per-user messages are skipped by the server, and any other error ends
                # the test rather than leaving a batch out of what it checks.
                try:
                    message = await js.get_msg(stream, seq, subject=subject, next=True)
                except NotFoundError:  # no batch after `seq`
                    return found
                assert message.seq is not None, message
                assert message.headers, message
                found.append((int(message.headers["Te-Epoch"]), int(message.headers["Te-Last-Seq"])))
                seq = message.seq + 1
        finally:
            await client.close()

    return asyncio.run(read())


def wait_stream_empty(nats: Nats, stream: str = "TE_COMMANDS", timeout: float = 10.0) -> None:
    """Wait until `stream` holds no message (the core trims the commands it journaled
    every second)."""

    async def wait() -> None:
        client = await nats_client.connect(nats.urls.split(","))
        try:
            js = client.jetstream()
            deadline = time.monotonic() + timeout
            while (await js.stream_info(stream)).state.messages:
                assert time.monotonic() < deadline, f"{stream} still holds messages after {timeout} s"
                await asyncio.sleep(0.1)
        finally:
            await client.close()

    asyncio.run(wait())


def tables_held(url: str) -> AbstractContextManager[None]:
    """Hold the row of the tables' position (`sequencer_state`) until the block ends: every
    write of the tables waits, journal appends (what acknowledges a batch) go on."""
    return held(url, "SELECT last_seq FROM sequencer_state WHERE id = 1 FOR UPDATE")
