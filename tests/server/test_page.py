"""The web page in a real headless Chromium: open a waiting run, answer it, see it succeed.

Drives Debian's ``chromium`` through its matching ``chromium-driver`` with Selenium; nothing is
downloaded. Without them the test skips (loudly), except under CI, where it must run.
"""

from __future__ import annotations

import os
import shutil
import time
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator
    from pathlib import Path

    import httpx

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"


def _browser_available() -> bool:
    return os.path.exists(CHROMIUM) and os.path.exists(CHROMEDRIVER)


@pytest.fixture
def browser(tmp_path: Path) -> Iterator[Any]:
    if not _browser_available():
        message = (
            "chromium and chromium-driver are not installed "
            "(apt-get install chromium chromium-driver)"
        )
        if os.environ.get("CI") == "true":
            pytest.fail(f"the browser test must run under CI: {message}")
        pytest.skip(f"BROWSER TEST SKIPPED: {message}")
    webdriver = pytest.importorskip("selenium.webdriver")
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for argument in (
        "--no-sandbox",
        "--headless=new",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--window-size=1366,900",
        f"--user-data-dir={tmp_path / 'chromium-profile'}",
    ):
        options.add_argument(argument)
    service = webdriver.ChromeService(executable_path=CHROMEDRIVER)
    driver = webdriver.Chrome(options=options, service=service)
    try:
        yield driver
    finally:
        driver.quit()


def shown(check: Callable[[], Any], what: str, timeout_s: float = 15) -> Any:
    """Poll ``check`` every 20 ms until it returns something truthy."""
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            found = check()
        except Exception:  # the page is still changing under us
            found = None
        if found:
            return found
        assert time.monotonic() < deadline, f"the page never showed {what}"
        time.sleep(0.02)


def test_a_waiting_run_is_answered_by_clicking_its_option_and_turns_succeeded(
    api: httpx.Client, browser: Any, tmp_path: Path, until: Callable[..., dict[str, Any]]
) -> None:
    from selenium.webdriver.common.by import By

    run_id = api.post("/graphs/approval/runs", json={"inputs": {"item": "box"}}).json()["run_id"]
    until(run_id, "waiting")
    root = str(api.base_url).removesuffix("/api/v1/")

    browser.get(f"{root}/ui/")
    row = shown(
        lambda: browser.find_element(By.CSS_SELECTOR, f'tr[data-run-id="{run_id}"]'),
        "the run in the runs list",
    )
    assert "waiting" in row.text
    row.click()

    ship = shown(
        lambda: browser.find_element(By.CSS_SELECTOR, 'button[data-option="Ship"]'),
        "the wait's option buttons",
    )
    assert "Ship it?" in browser.find_element(By.ID, "run-wait").text
    ship.click()

    shown(
        lambda: browser.find_element(By.CSS_SELECTOR, '#run-head .badge[data-status="succeeded"]'),
        "the run turn succeeded",
    )
    shown(
        lambda: len(browser.find_elements(By.CSS_SELECTOR, 'g.node[data-status="succeeded"]')) == 3,
        "every node of the graph drawn as succeeded",
    )
    assert "T-box Ship" in browser.find_element(By.ID, "run-outputs").text
    shot = tmp_path / "run-page.png"
    assert browser.save_screenshot(str(shot))
    assert shot.stat().st_size > 10_000
    assert until(run_id, "succeeded")["outputs"] == {"status": "T-box Ship"}


def test_a_run_started_from_the_form_opens_its_page_and_shows_its_outputs(
    api: httpx.Client, browser: Any
) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.select import Select

    root = str(api.base_url).removesuffix("/api/v1/")
    browser.get(f"{root}/ui/#/start")
    choose = shown(lambda: browser.find_element(By.ID, "start-graph"), "the graph picker")
    Select(choose).select_by_value("arith")
    shown(lambda: browser.find_element(By.NAME, "a"), "the input fields").send_keys("2")
    browser.find_element(By.NAME, "b").send_keys("3")
    browser.find_element(By.CSS_SELECTOR, "#start-form button[type=submit]").click()
    shown(
        lambda: browser.find_element(By.CSS_SELECTOR, '#run-head .badge[data-status="succeeded"]'),
        "the started run succeed",
    )
    assert '"result": 10' in browser.find_element(By.ID, "run-outputs").text


def test_behind_a_token_the_page_asks_for_it_once_and_then_lists_runs(browser: Any) -> None:
    from selenium.webdriver.common.by import By

    from aethergraph import start_server, stop_server

    url = start_server(port=0, token="s3cret")
    try:
        browser.get(f"{url}/ui/")
        field = shown(
            lambda: browser.find_element(By.CSS_SELECTOR, "dialog[open] #token-input"),
            "the token prompt",
        )
        field.send_keys("s3cret")
        browser.find_element(By.CSS_SELECTOR, "#token-form button").click()
        shown(
            lambda: "No runs yet" in browser.find_element(By.ID, "runs").text,
            "the runs list after the token was given",
        )
        stored = browser.execute_script("return sessionStorage.getItem('aethergraph-token')")
        assert stored == "s3cret"
    finally:
        stop_server()
