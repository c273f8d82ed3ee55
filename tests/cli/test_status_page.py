"""The room status page (vdictl report --html) after real runs on test:///,
opened in a real headless browser: Debian's chromium driven by selenium
through chromium-driver, at a phone's width.

Skipped where chromium is missing, except under CI, where scripts/install-deps
has installed it and its absence is a failure. With VDICTL_UPDATE_SCREENSHOT=1
the phone screenshot of the test is copied to docs/status-page.png.
"""

from __future__ import annotations

import os
import shutil
from datetime import datetime
from pathlib import Path

import pytest

from tests.sandbox import in_ci

REPO = Path(__file__).resolve().parents[2]
CHROMIUM = shutil.which("chromium")
CHROMEDRIVER = shutil.which("chromedriver")
PHONE = (412, 915)  # CSS pixels of a common Android phone
NO_SNAPSHOT = ("VM lab1-vd02: no snapshot matches reset_to_snapshot_regex "
               "'vdictl rollout .*' (0 snapshot(s))")


def browser_missing():
    try:
        import selenium  # noqa: F401
    except ImportError:
        return "selenium is not installed (pip install -e '.[dev]')"
    if not (CHROMIUM and CHROMEDRIVER):
        return "chromium or chromium-driver is not installed (scripts/install-deps)"
    return None


@pytest.fixture(scope="module")
def browser():
    missing = browser_missing()
    if missing:
        if in_ci():
            pytest.fail(f"{missing}: CI must run the browser test", pytrace=False)
        pytest.skip(missing)
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for argument in ("--headless=new", "--disable-gpu", "--disable-dev-shm-usage",
                     "--hide-scrollbars"):
        options.add_argument(argument)
    if os.geteuid() == 0:
        options.add_argument("--no-sandbox")  # chromium's sandbox refuses to run as root
    driver = webdriver.Chrome(service=Service(executable_path=CHROMEDRIVER), options=options)
    phone_screen(driver, PHONE[1])
    yield driver
    driver.quit()


def phone_screen(driver, height):
    """The viewport of a phone (a headless window is at least 500 px wide)."""
    driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", {
        "width": PHONE[0], "height": height, "deviceScaleFactor": 2, "mobile": True})


def local(iso):
    return datetime.fromisoformat(iso).astimezone().strftime("%Y-%m-%d %H:%M:%S")


@pytest.fixture
def page_after_a_failed_reset(run, hypervisor, tmp_path):
    """lab1 rolled out and reset, lab1-vd02 without its snapshot: (page, reset record)."""

    assert run("virtroom-rollout", "lab1").exit_code == 0
    for snapshot in hypervisor.dom("lab1-vd02").listAllSnapshots():
        snapshot.delete()
    assert run("virtroom-reset", "--all").exit_code == 1
    page = tmp_path / "www" / "index.html"
    page.parent.mkdir()
    result = run("report", "--html", str(page))
    assert (result.exit_code, result.stdout, result.stderr) == (0, "", "")
    from vdictl.records.history import records

    [record] = records(os.environ["VDICTL_STATE_DIR"], "reset")
    return page, record


def visible_lines(element):
    """The element's text as laid out (innerText follows the CSS: a cell shown as a
    block is a line of its own; selenium's .text keeps table cells on one line)."""
    text = element.parent.execute_script("return arguments[0].innerText", element)
    return [line.strip() for line in text.splitlines() if line.strip()]


def test_a_phone_shows_the_failed_vm_and_the_rooms_summary(browser, page_after_a_failed_reset):
    from selenium.webdriver.common.by import By

    page, record = page_after_a_failed_reset
    when = local(record["ended"])
    browser.get(page.as_uri())
    lab1 = browser.find_element(By.ID, "room-lab1")
    assert visible_lines(lab1.find_element(By.CLASS_NAME, "summary")) == [
        f"Last reset {when}: failed (4 ok, 1 failed, 0 skipped)."]
    [failed] = lab1.find_elements(By.CSS_SELECTOR, "tr.failed")
    # on a phone each VM is a card: its cells stacked, each after its label
    assert visible_lines(failed) == [
        "lab1-vd02", "stopped", "192.0.2.12", when, "FAILED", NO_SNAPSHOT]
    assert failed.find_element(By.TAG_NAME, "td").value_of_css_property(
        "background-color") == "rgba(253, 231, 230, 1)"
    ok_row = lab1.find_elements(By.CSS_SELECTOR, "tbody tr")[0]
    assert visible_lines(ok_row) == ["lab1-vd01", "stopped", "192.0.2.11", when, "ok"]
    kiosk = browser.find_element(By.ID, "room-kiosk")
    assert visible_lines(kiosk.find_element(By.CLASS_NAME, "summary")) == [
        f"Last reset {when}: ok (0 ok, 0 failed, 2 skipped)."]
    header = browser.find_element(By.TAG_NAME, "header")
    assert visible_lines(header)[1].startswith("2 room(s), 7 VM(s), 1 failed at their last "
                                               "reset. As of ")
    # readable on a phone: nothing wider than the screen, text at 16 px
    assert browser.execute_script(
        "return document.documentElement.scrollWidth <= window.innerWidth")
    assert browser.find_element(By.TAG_NAME, "body").value_of_css_property(
        "font-size") == "16px"
    # self-contained: the browser loaded nothing but the page itself
    assert browser.execute_script(
        "return performance.getEntriesByType('resource').length") == 0
    save_screenshot(browser)


def save_screenshot(browser):
    """The phone's view of the whole page; docs/status-page.png when asked."""
    height = browser.execute_script("return document.documentElement.scrollHeight")
    phone_screen(browser, min(height, 1400))
    try:
        shot = browser.get_screenshot_as_png()
    finally:
        phone_screen(browser, PHONE[1])
    assert shot.startswith(b"\x89PNG")
    if os.environ.get("VDICTL_UPDATE_SCREENSHOT"):
        (REPO / "docs" / "status-page.png").write_bytes(shot)


def test_unreachable_backend_still_writes_the_page_and_says_so(browser, tmp_path):
    from selenium.webdriver.common.by import By

    from tests.cli.conftest import CONFIG
    from tests.vdictl_cli import vdictl, write_config

    config = write_config(tmp_path, CONFIG.replace("test:///default",
                                                   "test:///nonexistent/hypervisor.xml"))
    page = tmp_path / "index.html"
    result = vdictl(config, "report", "--html", str(page), "lab1")
    assert result.exit_code == 3
    assert result.stderr.count("\n") == 1 and "test:///nonexistent" in result.stderr
    browser.get(page.as_uri())
    banner = browser.find_element(By.CLASS_NAME, "banner")
    assert banner.text.startswith("The backend could not be asked for the VMs' state: ")
    lab1 = browser.find_element(By.ID, "room-lab1")
    assert visible_lines(lab1.find_element(By.CLASS_NAME, "summary")) == ["No reset on record."]
    assert visible_lines(lab1.find_elements(By.CSS_SELECTOR, "tbody tr")[0]) == [
        "lab1-vd01", "unknown", "192.0.2.11", "no reset on record"]


def test_the_page_says_who_is_at_a_desk(browser, run, hypervisor, tmp_path, monkeypatch):
    """lab1 running; the backend says a console client is at lab1-vd02 and anna
    is logged in at lab1-vd03 (tests/cli/at_desks.py: the real libvirt driver,
    only its sessions() answer fixed); the page shows them, and nothing for the
    desks nobody is at."""
    from selenium.webdriver.common.by import By

    from tests.cli.at_desks import use_at_desks

    use_at_desks(monkeypatch, {
        "lab1-vd02": [{"kind": "console", "client": "192.0.2.7", "source": "qemu vnc"}],
        "lab1-vd03": [{"kind": "guest", "user": "anna", "source": "guest agent"}]})
    assert run("virtroom-rollout", "lab1").exit_code == 0
    assert run("virtroom-start", "lab1").exit_code == 0
    page = tmp_path / "index.html"
    assert run("report", "--html", str(page), "lab1").exit_code == 0
    browser.get(page.as_uri())
    rows = {visible_lines(row)[0]: visible_lines(row)
            for row in browser.find_elements(By.CSS_SELECTOR, "#room-lab1 tbody tr")}
    assert rows["lab1-vd02"][:3] == ["lab1-vd02", "running", "console 192.0.2.7"]
    assert rows["lab1-vd03"][:3] == ["lab1-vd03", "running", "guest anna"]
    assert rows["lab1-vd01"][:3] == ["lab1-vd01", "running", "192.0.2.11"]  # nobody: no line
    labels = browser.execute_script(
        "return [...document.querySelectorAll('#room-lab1 td.in-use')]"
        ".map(td => getComputedStyle(td, '::before').content)")
    assert '"In use: "' in labels
