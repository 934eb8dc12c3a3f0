"""Probes, metrics and the API's own description: `/health`, `/ready`, `/metrics`,
`/openapi.json`. Probes and scrapes are never rate limited."""

from typing import Final

import msgspec
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from trade_engine.api.schemas import HealthView, ReadyView
from trade_engine.api.services import Services
from trade_engine.edge.http import Response
from trade_engine.edge.routes import Call

_encode: Final = msgspec.json.Encoder().encode


async def health(services: Services, call: Call) -> Response:
    """Alive (the process answers); says nothing about readiness."""
    return Response(200, _encode(HealthView(status="ok")))


async def ready(services: Services, call: Call) -> Response:
    """200 once recovered, verified and the database answers; 503 before and after (and
    at once when the service starts to shut down)."""
    core = services.core
    reachable = await services.database_reachable()
    accepting = core is not None and core.sequencer.available and not services.draining
    view = ReadyView(
        ready=accepting and reachable,
        recovered=core is not None,
        database=reachable,
        accepting_orders=accepting,
    )
    return Response(200 if view.ready else 503, _encode(view))


async def metrics(services: Services, call: Call) -> Response:
    """Prometheus metrics of this process."""
    core, view = services.core, services.view
    if core is not None and view is not None:
        services.metrics.queue_depth.set(core.sequencer.queue_depth())
        services.metrics.open_orders.set(len(view.orders))
    return Response(
        200, generate_latest(services.metrics.registry), content_type=CONTENT_TYPE_LATEST.encode()
    )


async def openapi(services: Services, call: Call) -> Response:
    """This document."""
    return Response(200, services.openapi)
