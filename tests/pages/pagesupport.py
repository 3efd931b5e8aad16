"""Headless Chromium for the page tests: every request outside the server blocked and recorded."""

from __future__ import annotations

import json
import os
import warnings
from dataclasses import dataclass, field
from urllib.parse import urlsplit

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"


def require_chromium() -> None:
    """Skip (fail with GEOPUBLISH_REQUIRE_BROWSER=1) when Debian's chromium is not installed."""
    import pytest

    missing = [path for path in (CHROMIUM, CHROMEDRIVER) if not os.access(path, os.X_OK)]
    if missing:
        reason = f"no {', '.join(missing)} (apt install chromium chromium-driver)"
        if os.environ.get("GEOPUBLISH_REQUIRE_BROWSER") == "1":
            pytest.fail(reason + " and GEOPUBLISH_REQUIRE_BROWSER=1")
        pytest.skip(reason)


@dataclass
class Visit:
    """What one page load did: requests, failures, console messages, blocked requests."""

    requests: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    console: list[dict] = field(default_factory=list)


class Browser:
    """Chromium driven by chromedriver; only ``allowed_origin`` can be reached."""

    def __init__(self, allowed_origin: str) -> None:
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service

        require_chromium()
        self.origin = allowed_origin.rstrip("/")
        options = webdriver.ChromeOptions()
        options.binary_location = CHROMIUM
        for arg in (
            "--headless=new",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--window-size=1280,1000",
            "--force-device-scale-factor=1",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-default-apps",
            "--disable-sync",
            "--lang=fr-FR",
        ):
            options.add_argument(arg)
        # Offline: every host but the server's fails to resolve and every connection not to
        # the server goes to a closed proxy port, so nothing can leave the machine.
        port = urlsplit(self.origin).port
        options.add_argument("--proxy-server=http://127.0.0.1:9")
        options.add_argument(f"--proxy-bypass-list=127.0.0.1:{port}")
        options.add_argument("--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE 127.0.0.1")
        options.set_capability("goog:loggingPrefs", {"browser": "ALL", "performance": "ALL"})
        self.driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
        self.driver.set_page_load_timeout(60)

    def visit(self, url: str, wait_for: str | None = None, timeout: float = 30) -> Visit:
        """Load ``url``; wait until ``wait_for`` (a CSS selector) exists; collect what happened."""
        from selenium.webdriver.common.by import By
        from selenium.webdriver.support.ui import WebDriverWait

        self.driver.get_log("performance")
        self.driver.get_log("browser")
        self.driver.get(url)
        if wait_for:
            WebDriverWait(self.driver, timeout).until(
                lambda d: d.find_elements(By.CSS_SELECTOR, wait_for)
            )
        visit = Visit(console=self.driver.get_log("browser"))
        for entry in self.driver.get_log("performance"):
            message = json.loads(entry["message"])["message"]
            params = message.get("params", {})
            if message["method"] == "Network.requestWillBeSent":
                visit.requests.append(params["request"]["url"])
            elif message["method"] == "Network.loadingFailed":
                visit.failed.append(f"{params.get('errorText')} {params.get('blockedReason', '')}")
        return visit

    def script(self, source: str):
        """Run ``source`` in the page and return its value."""
        return self.driver.execute_script(source)

    def element_pixels(self, css: str):
        """The element's screenshot as an (height, width, 3) RGB array (decoded by GDAL)."""
        from rasterio.errors import NotGeoreferencedWarning
        from rasterio.io import MemoryFile
        from selenium.webdriver.common.by import By

        png = self.driver.find_element(By.CSS_SELECTOR, css).screenshot_as_png
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", NotGeoreferencedWarning)  # a screenshot has no CRS
            with MemoryFile(png) as memory, memory.open() as image:
                return image.read([1, 2, 3]).transpose(1, 2, 0)

    def quit(self) -> None:
        self.driver.quit()
