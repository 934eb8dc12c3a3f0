"""The interactive API docs (Swagger UI) render from the service's own assets."""

from tests.e2e.server import Server
from tests.e2e.web.page import Page


def test_api_docs_render_every_operation_from_local_assets(page: Page, web_server: Server) -> None:
    page.open("/docs")
    page.browser.wait(lambda _: len(page.browser.find_all(".opblock")) > 30, "the operations never rendered")
    paths = page.browser.script(
        "return [...document.querySelectorAll('.opblock-summary-path')]"
        "  .map(e => e.textContent.replace(/\\u200b/g, ''))"  # Swagger UI breaks paths with zero-width spaces
    )
    assert "/api/v1/orders" in paths
    assert "/api/v1/admin/audit-log" in paths
    loaded = page.browser.script("return performance.getEntriesByType('resource').map(e => e.name)")
    assert "http" in " ".join(loaded)
    assert [url for url in loaded if not url.startswith(web_server.url + "/")] == []
