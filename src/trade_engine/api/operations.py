"""Probes, metrics and the API's own description: `/health`, `/ready`, `/metrics`,
`/openapi.json`. Probes and scrapes are never rate limited."""

from typing import Final

import msgspec
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from trade_engine.api.schemas import HealthView, ReadyView
from trade_engine.edge.gateway import Gateway
from trade_engine.edge.http import Response
from trade_engine.edge.routes import Call

_encode: Final = msgspec.json.Encoder().encode


async def health(gateway: Gateway, call: Call) -> Response:
    """Alive (the process answers); says nothing about readiness."""
    return Response(200, _encode(HealthView(status="ok")))


async def ready(gateway: Gateway, call: Call) -> Response:
    """200 once recovered, verified and the database answers; 503 before and after (and
    at once when the service starts to shut down)."""
    readiness = await gateway.readiness()
    view = ReadyView(
        ready=readiness.ready,
        recovered=readiness.recovered,
        database=readiness.database,
        accepting_orders=readiness.accepting,
    )
    return Response(200 if view.ready else 503, _encode(view))


async def metrics(gateway: Gateway, call: Call) -> Response:
    """Prometheus metrics of this process."""
    status, open_orders = gateway.core_status(), gateway.open_orders()
    if status is not None and open_orders is not None:
        gateway.metrics.queue_depth.set(status.queue_depth)
        gateway.metrics.open_orders.set(open_orders)
    return Response(200, generate_latest(gateway.metrics.registry), content_type=CONTENT_TYPE_LATEST.encode())


async def openapi(gateway: Gateway, call: Call) -> Response:
    """This document."""
    return Response(200, gateway.openapi)
