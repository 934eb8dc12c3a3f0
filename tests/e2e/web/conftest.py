"""Fixtures of the browser tests: one real server (SQLite) and one headless Chromium for
the whole web suite, and a check after every test that the browser saw no failed
request and no console error but those the test allowed.

Each test opens the page afresh and works on users and a market of its own (an admin
adds one with a fresh base asset), so tests do not see each other's orders or trades.
"""

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.client import Api
from tests.e2e.server import Server
from tests.e2e.web.browser import Browser
from tests.e2e.web.page import Page


@pytest.fixture(scope="session")
def web_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    directory = tmp_path_factory.mktemp("web")
    running = Server(f"sqlite:///{directory}/trade-engine.db", directory)
    running.start()
    try:
        yield running
    finally:
        running.kill()


@pytest.fixture(scope="session")
def web_api(web_server: Server) -> Iterator[Api]:
    client = Api(web_server)
    try:
        yield client
    finally:
        client.close()


@pytest.fixture(scope="session")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Browser]:
    started = Browser.start(tmp_path_factory.mktemp("chromium-profile"))
    try:
        yield started
    finally:
        started.quit()


@pytest.fixture
def page(browser: Browser, web_server: Server, web_api: Api) -> Iterator[Page]:
    """The page in the browser's only tab; the browser must end the test clean."""
    browser.problems()  # what an earlier, failed test left behind is not this test's
    browser.allowed.clear()
    opened = Page(browser, web_server, web_api)
    try:
        yield opened
        browser.assert_clean()
    finally:
        opened.close_other_tabs()


@pytest.fixture
def web_market(web_api: Api) -> str:
    return web_api.add_market()


@pytest.fixture(autouse=True)
def _browser_installed() -> None:
    for binary in ("/usr/bin/chromium", "/usr/bin/chromedriver"):
        assert Path(binary).exists(), f"{binary} missing: run scripts/browser-up.sh (make test does)"
