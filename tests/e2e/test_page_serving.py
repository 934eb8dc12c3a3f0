"""The web page, the API docs and their assets as served over HTTP (no browser): the
security headers of every answer, no inline script, nothing from another host."""

from tests.e2e.client import API, Api, error

CSP = "default-src 'self'; script-src 'self'; connect-src 'self'; frame-ancestors 'none'"


def test_every_answer_carries_the_security_headers(api: Api) -> None:
    for path in ("/", "/docs", "/static/js/main.js", "/openapi.json", f"{API}/markets", "/health"):
        response = api.http.get(path)
        assert response.status_code == 200, path
        assert response.headers["content-security-policy"] == CSP, path
        assert response.headers["x-content-type-options"] == "nosniff", path
    unknown = api.http.get("/static/nope.js")
    assert unknown.status_code == 404
    assert unknown.headers["content-security-policy"] == CSP
    # Paths the file system refuses: 404, not 500 (other spellings of a served file, which
    # httpx would tidy up before sending: tests/unit/test_static_files.py).
    for odd in ("/static/a%00b", "/static/" + "x" * 300):
        error(api.http.get(odd), 404, "NOT_FOUND")


def test_the_page_and_docs_are_served_without_inline_scripts(api: Api) -> None:
    for path in ("/", "/docs"):
        page = api.http.get(path)
        assert page.headers["content-type"].startswith("text/html")
        html = page.text
        assert "<script>" not in html
        assert "<script " in html
        for tag in html.split("<script")[1:]:
            assert ' src="/static/' in tag.split(">", 1)[0], tag[:80]
        assert "https://" not in html.replace('href="https://www.tradingview.com/"', "")
    favicon = api.http.get("/favicon.ico")
    assert (favicon.status_code, favicon.headers["content-type"]) == (200, "image/svg+xml")
