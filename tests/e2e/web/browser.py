"""Headless Chromium (Debian's `chromium` and its `chromium-driver`) driven by Selenium,
with the checks every web test ends with: no failed request and no console error.

Chromium resolves no host name but 127.0.0.1 (`--host-resolver-rules`), so a page that
needed anything from another host would show a failed request here. Failed requests
are read from Chromium's performance log (the DevTools network events: a response of
status 400 or more, or a request that failed to load); console errors from its
browser log (level SEVERE, which includes CSP violations and uncaught exceptions).
A test that provokes a failure on purpose (a refused order, a server restart) allows
it by a pattern; anything else fails the test.
"""

import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar, cast

from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webelement import WebElement
from selenium.webdriver.support.ui import WebDriverWait

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
WAIT_SECONDS = 20.0
T = TypeVar("T")

FLAGS = (
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-extensions",
    "--disable-default-apps",
    "--password-store=basic",
    # Every host but 127.0.0.1 is unknown: the page must need nothing from elsewhere.
    "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
)


@dataclass
class Browser:
    driver: webdriver.Chrome
    allowed: list[re.Pattern[str]] = field(default_factory=list)
    _urls: dict[str, str] = field(default_factory=dict)
    _found: list[str] = field(default_factory=list)  # problems read, not yet reported
    # What the page sent: each WebSocket's URL as it was opened, and each text frame.
    socket_urls: list[str] = field(default_factory=list)
    frames_sent: list[str] = field(default_factory=list)

    @classmethod
    def start(cls, profile: Path, width: int = 1440, height: int = 1000) -> "Browser":
        options = webdriver.ChromeOptions()
        options.binary_location = CHROMIUM
        for flag in (*FLAGS, f"--user-data-dir={profile}", f"--window-size={width},{height}"):
            options.add_argument(flag)
        options.set_capability("goog:loggingPrefs", {"browser": "ALL", "performance": "ALL"})
        driver = webdriver.Chrome(options=options, service=Service(CHROMEDRIVER))
        browser = cls(driver)
        # Chromium's own start page loads before any test page: not ours to judge.
        driver.get("about:blank")
        browser.problems()
        return browser

    def quit(self) -> None:
        self.driver.quit()

    # -- waiting and finding --

    def wait(
        self, condition: Callable[[webdriver.Chrome], T | None], message: str, timeout: float = WAIT_SECONDS
    ) -> T:
        """Poll `condition` until it returns something truthy, and return that (an
        explicit wait: no sleeping; the timeout only guards against hanging)."""
        return cast(T, WebDriverWait(self.driver, timeout, poll_frequency=0.05).until(condition, message))

    def find(self, css: str) -> WebElement:
        return self.driver.find_element(By.CSS_SELECTOR, css)

    def find_all(self, css: str) -> list[WebElement]:
        return self.driver.find_elements(By.CSS_SELECTOR, css)

    def text(self, css: str) -> str:
        return str(
            self.driver.execute_script("return document.querySelector(arguments[0])?.textContent ?? ''", css)
        )

    def wait_text(self, css: str, predicate: Callable[[str], bool], message: str) -> str:
        """The text of `css` once `predicate` holds for it."""

        def matching(_: webdriver.Chrome) -> str | None:
            text = self.text(css)
            return text if predicate(text) else None

        return self.wait(matching, message)

    def type(self, css: str, value: str) -> None:
        element = self.find(css)
        element.clear()
        element.send_keys(value)

    def script(self, source: str, *args: Any) -> Any:
        return self.driver.execute_script(source, *args)

    # -- what went wrong --

    def allow(self, pattern: str) -> None:
        """Failed requests and console errors matching `pattern` are expected."""
        self.allowed.append(re.compile(pattern))

    def problems(self) -> list[str]:
        """Failed requests and console errors since the last call."""
        self.read_network()
        found, self._found = self._found, []
        for entry in self.driver.get_log("browser"):
            if entry["level"] == "SEVERE":
                found.append(f"console {entry['source']}: {entry['message']}")
        return found

    def read_network(self) -> None:
        """Take in the DevTools network events so far: failures (for `problems`), the
        WebSocket URLs opened and the frames sent."""
        found = self._found
        for entry in self.driver.get_log("performance"):
            message = json.loads(entry["message"])["message"]
            method, params = message.get("method"), message.get("params", {})
            if method == "Network.requestWillBeSent":
                self._urls[params["requestId"]] = params["request"]["url"]
            elif method == "Network.responseReceived":
                response = params["response"]
                if response["status"] >= 400:
                    found.append(f"HTTP {response['status']} {response['url']}")
            elif method == "Network.loadingFailed" and not params.get("canceled"):
                url = self._urls.get(params["requestId"], "?")
                found.append(f"request failed ({params.get('errorText')}) {url}")
            elif method == "Network.webSocketCreated":
                self._urls[params["requestId"]] = params["url"]
                self.socket_urls.append(params["url"])
            elif method == "Network.webSocketFrameSent":
                self.frames_sent.append(params["response"]["payloadData"])

    def assert_clean(self) -> None:
        """Nothing failed but what was allowed; the allowances end here."""
        unexpected = [p for p in self.problems() if not any(a.search(p) for a in self.allowed)]
        self.allowed.clear()
        assert unexpected == [], "\n".join(unexpected)
