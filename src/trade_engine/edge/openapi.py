"""The OpenAPI document, generated from the routes: the same types that validate a
request describe it, so the description cannot promise what the server refuses.

Each documented route becomes an operation: its path and query parameters from the
fields of its path and query types (with every bound and pattern msgspec knows), its
request body from its body type, its answer from what the route's API wraps its data
in, and one response per documented error status with the error body, `Retry-After`
declared where the error table says it comes.
"""

from collections.abc import Sequence
from typing import Any, Final

import msgspec

from trade_engine.edge.errors import ERRORS
from trade_engine.edge.routes import Access, Route

REF: Final = "#/components/schemas/{name}"
JSON: Final = "application/json"
_RETRY_AFTER: Final = {
    "Retry-After": {
        "description": "Seconds to wait before retrying",
        "required": True,
        "schema": {"type": "string", "pattern": "^[0-9]+$"},
    }
}
_RETRIED: Final = frozenset(rule.status for rule in ERRORS.values() if rule.retry_after)


def document(
    routes: Sequence[Route],
    *,
    title: str,
    version: str,
    description: str,
    answer_type: Any,
    error_type: type,
) -> dict[str, Any]:
    """`answer_type(route)`: the type the route's answer body has (its data wrapped);
    `error_type`: the error body's type."""
    documented = [route for route in routes if route.documented]
    answers = {id(route): answer_type(route) for route in documented}
    bodies = [route.body_type for route in documented if route.body_type is not None]
    data_types = [kind for kind in answers.values() if kind is not None]
    schemas, components = msgspec.json.schema_components([*bodies, *data_types, error_type], ref_template=REF)
    by_type = dict(zip([*bodies, *data_types, error_type], schemas, strict=True))
    paths: dict[str, dict[str, Any]] = {}
    for route in documented:
        operation: dict[str, Any] = {"operationId": route.handler.__name__, "tags": list(route.tags)}
        summary = route.summary
        if summary:
            operation["summary"] = summary
        parameters = _parameters(route.path_type, "path") + _parameters(route.query_type, "query")
        if parameters:
            operation["parameters"] = parameters
        if route.body_type is not None:
            operation["requestBody"] = {
                "required": True,
                "content": {JSON: {"schema": by_type[route.body_type]}},
            }
        answer = answers[id(route)]
        responses: dict[str, Any] = {}
        for status in (route.status, *route.also):
            responses[str(status)] = {"description": "Success" if status < 400 else "Not ready"}
            if answer is not None:
                responses[str(status)]["content"] = {route.media_type: {"schema": by_type[answer]}}
            elif route.media_type != JSON:
                responses[str(status)]["content"] = {route.media_type: {"schema": {"type": "string"}}}
        for status in sorted(route.errors):
            entry: dict[str, Any] = {
                "description": "An error",
                "content": {JSON: {"schema": by_type[error_type]}},
            }
            if status in _RETRIED:
                entry["headers"] = _RETRY_AFTER
            responses[str(status)] = entry
        operation["responses"] = responses
        if route.access is not Access.PUBLIC:
            operation["security"] = [{"bearer": []}]
        paths.setdefault(route.template, {})[route.method.lower()] = operation
    return {
        "openapi": "3.1.0",
        "info": {"title": title, "version": version, "description": description},
        "paths": paths,
        "components": {
            "schemas": components,
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}},
        },
    }


def _parameters(kind: type[msgspec.Struct] | None, where: str) -> list[dict[str, Any]]:
    """One parameter per field of `kind`, each with its own schema (no references)."""
    if kind is None:
        return []
    (schema,), components = msgspec.json.schema_components([kind], ref_template=REF)
    name = schema["$ref"].rsplit("/", 1)[-1]
    body = components[name]
    required = set(body.get("required", ()))
    parameters = []
    for field, field_schema in body["properties"].items():
        parameter: dict[str, Any] = {
            "name": field,
            "in": where,
            "required": where == "path" or field in required,
            "schema": field_schema,
        }
        description = field_schema.get("description")
        if description:
            parameter["description"] = description
        parameters.append(parameter)
    return parameters
