"""Serving the page: `/` (the trading and operator views), `/docs` (Swagger UI, from
local assets) and `/static/...` (scripts, styles, vendored libraries), straight from
the package's files. Every file is revalidated on each load (`Cache-Control: no-cache`
with an `ETag`), so an upgraded service never runs with a stale script from a browser's
cache; a file that did not change answers 304.
"""

import hashlib
import mimetypes
from pathlib import Path
from typing import Final

from trade_engine.domain.errors import ErrorCode, TradeEngineError
from trade_engine.edge.http import Response
from trade_engine.edge.routes import Api, Call, Handler, Route

STATIC: Final = Path(__file__).parent / "static"
_TYPES: Final = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".svg": "image/svg+xml",
    ".json": "application/json",
    ".txt": "text/plain; charset=utf-8",
    ".md": "text/plain; charset=utf-8",
    ".map": "application/json",
}


class StaticFiles:
    """The files under `root`, listed once (they never change while the service runs),
    each read on first use and kept. Only a listed file's own spelling names it: any
    other path (`a//b`, `./a`, a NUL, a name too long for the file system) is 404
    without touching the disk, so the cache holds one entry per file whatever clients
    ask for."""

    def __init__(self, root: Path) -> None:
        base = root.resolve()
        self._paths: Final = {
            path.relative_to(base).as_posix(): path for path in sorted(base.rglob("*")) if path.is_file()
        }
        self._files: dict[str, tuple[bytes, str, str]] = {}

    def response(self, relative: str, if_none_match: str | None) -> Response:
        found = self._files.get(relative)
        if found is None:
            path = self._paths.get(relative)
            if path is None:
                raise TradeEngineError(ErrorCode.NOT_FOUND, "Not Found")
            content = path.read_bytes()
            kind = _TYPES.get(path.suffix) or mimetypes.guess_type(path.name)[0] or "application/octet-stream"
            etag = '"' + hashlib.sha256(content).hexdigest()[:32] + '"'
            found = self._files[relative] = (content, kind, etag)
        content, kind, etag = found
        headers = [("Cache-Control", "no-cache"), ("ETag", etag)]
        if if_none_match == etag:
            return Response(304, headers=headers)
        return Response(200, content, headers=headers, content_type=kind.encode())


def web_routes(api: Api) -> list[Route]:
    files = StaticFiles(STATIC)

    def page(file: str) -> Handler:
        async def serve(call: Call) -> Response:
            return files.response(file, call.request.header(b"if-none-match"))

        serve.__name__ = f"page_{Path(file).stem}"
        return serve

    async def static(call: Call) -> Response:
        """A file of the page (scripts, styles, vendored libraries)."""
        return files.response(call.request.path_params["path"], call.request.header(b"if-none-match"))

    def route(path: str, handler: Handler) -> Route:
        return Route("GET", path, handler, api, documented=False)

    return [
        route("/", page("index.html")),
        route("/docs", page("docs.html")),
        # Browsers ask for it on their own, for any document.
        route("/favicon.ico", page("favicon.svg")),
        route("/static/{path:path}", static),
    ]
