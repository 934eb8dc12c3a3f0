"""The process roles of the composition root, as a table (`ROLES`): "serve" runs the
core in this process (`LocalCore`), "gateway" reaches a core in another process over
NATS (`NatsCore`, docs/cluster.md; its part is app/gateway_role.py). What differs
between them is stated step by step (app/service.py, `Role`); root.py builds everything
else the same way for both. The cluster's "core" is a process of its own
(app/core_process.py).
"""

import asyncio
import contextlib
import logging
import os
import signal
from collections.abc import Callable
from typing import Final

from trade_engine.app.service import Opened, Role, Service
from trade_engine.core.bootstrap import Core, recover_core
from trade_engine.core.local import LocalCore
from trade_engine.storage.apikeys import ApiKeyStore
from trade_engine.storage.database import is_unavailable

log = logging.getLogger(__name__)
# Recovery at start-up while the database is unavailable: retried, waiting this long
# at first, doubling up to the most.
RECOVERY_RETRY_SECONDS: Final = (0.5, 5.0)


class InProcessCore(Role):
    """The core recovered in this process: from the database (a snapshot and the
    journal's tail), verified, then started once every reader is attached."""

    name = "serve"

    def __init__(self) -> None:
        self._port: LocalCore | None = None

    async def open(self, service: Service) -> Opened | None:
        core = await _recover(service)
        if core is None:
            return None  # stopped before the database came back
        self._port = LocalCore(core, roundtrip=service.config.core.port_roundtrip)
        return Opened(self._port, core.database, {})

    def _core(self) -> Core:
        assert self._port is not None
        return self._port.core

    async def settled(self, seq: int, stopping: asyncio.Event) -> bool:
        # The tables hold what recovery replayed: the core takes no command before `started`.
        await self._core().settled()
        return True

    async def started(self, service: Service, opened: Opened) -> None:
        # Started once every reader is in place: each batch from now on, the configured
        # markets the store lacked first, reaches them all.
        core = self._core()
        try:
            await core.start()
        except BaseException:
            service.core = None  # abandoned here: nothing for `stop` to close
            await core.abandon()
            raise
        opened.recovered.update(
            markets=core.recovery.markets,
            accounts=core.recovery.accounts,
            open_orders=core.recovery.open_orders,
            recovery_seconds=round(core.recovery_seconds, 3),
            from_snapshot=None if core.recovered_from is None else core.recovered_from.seq,
        )

    async def keys_made(self, service: Service, api_keys: ApiKeyStore) -> None:
        """Nothing to share: this process is the only one that serves the keys."""

    def serving(self, service: Service) -> None:
        assert self._port is not None
        service.watch = asyncio.create_task(_restart_when_stopped(service, self._port), name="core-watch")


def _gateway() -> Role:
    # Imported by a gateway only: NATS's client and the cluster's modules are no part of
    # a single process's start (about 40 ms of imports, a restart's time included).
    from trade_engine.app.gateway_role import RemoteCore  # noqa: PLC0415

    return RemoteCore()


# Each role's name, and how its part is made.
ROLES: Final[dict[str, Callable[[], Role]]] = {InProcessCore.name: InProcessCore, "gateway": _gateway}


async def _recover(service: Service) -> Core | None:
    """Recover the core, again and again while the database is unavailable: a service
    started during an outage (or restarted after one, below) becomes ready once the
    database is back. None: the service was stopped meanwhile."""
    config = service.config
    delay, most = RECOVERY_RETRY_SECONDS
    while True:
        try:
            return await recover_core(
                config.database.url,
                markets=config.validated_markets(),
                settings=config.sequencer,
                snapshot_every=config.sequencer.snapshot_every_commands,
            )
        except Exception as error:
            if not is_unavailable(error):
                raise
            log.warning(
                "the database is unavailable: recovery waits for it",
                extra={"error": f"{type(error).__name__}: {error}", "retry_in_seconds": delay},
            )
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(service.stopping.wait(), delay)
            return None
        delay = min(delay * 2, most)


async def _restart_when_stopped(service: Service, port: LocalCore) -> None:
    """The sequencer stopped for good (the database stayed away longer than
    `sequencer.retry_total_seconds`): its engine may hold state the database lacks, so
    the service starts afresh from the database, as after a crash. It drains like a
    SIGTERM, then the process replaces itself (app/server.py) and recovers as soon as the
    database answers: trading resumes by itself."""
    error = await port.stopped_for_good()
    log.error("the core stopped for good: restarting from the database", extra={"error": repr(error)})
    service.restart_requested = True
    os.kill(os.getpid(), signal.SIGTERM)
