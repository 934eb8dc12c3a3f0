"""Serving the page: `/` (the trading and operator views), `/docs` (Swagger UI, from
local assets) and `/static/...` (scripts, styles, vendored libraries).

`/` and `/docs` are served as render "plugins" of Litestar's OpenAPI router, which is
mounted at `/` and owns that path (it serves `/openapi.json` beside them); the pages
themselves are static HTML files.
"""

from pathlib import Path
from typing import Any, Final, cast

from litestar import Request, Router
from litestar.datastructures import CacheControlHeader
from litestar.enums import MediaType
from litestar.openapi.plugins import OpenAPIRenderPlugin
from litestar.static_files import create_static_files_router

STATIC: Final = Path(__file__).parent / "static"


class StaticPage(OpenAPIRenderPlugin):
    """An HTML file of `static/`, served at `path` by the OpenAPI router."""

    def __init__(self, path: str, file: str, media_type: str = MediaType.HTML) -> None:
        # Any media type works: the router hands it to the handler as its content type.
        super().__init__(path=path, media_type=cast(MediaType, media_type))
        self._content = (STATIC / file).read_bytes()

    def render(self, request: Request[Any, Any, Any], openapi_schema: dict[str, Any]) -> bytes:
        return self._content


def page_plugins() -> list[OpenAPIRenderPlugin]:
    """For `OpenAPIConfig.render_plugins`: the page at `/`, the API docs at `/docs`, and
    the icon browsers ask for on their own (for any document, a JSON answer included)."""
    return [
        StaticPage("/", "index.html"),
        StaticPage("/docs", "docs.html"),
        StaticPage("/favicon.ico", "favicon.svg", "image/svg+xml"),
    ]


def static_files() -> Router:
    # Revalidated on every load (ETag / Last-Modified): an upgraded service never runs
    # with a stale script from the browser's cache.
    return create_static_files_router(
        path="/static",
        directories=[STATIC],
        cache_control=CacheControlHeader(no_cache=True),
        include_in_schema=False,
    )
