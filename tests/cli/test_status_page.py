"""The site status page (vdictl report --html) after real runs on test:///,
opened in a real headless browser: Debian's chromium driven by selenium
through chromium-driver, at a phone's width (412 CSS pixels) and a desktop's
(1280).

Skipped where chromium is missing, except under CI, where scripts/install-deps
has installed it and its absence is a failure. With VDICTL_UPDATE_SCREENSHOT=1
the screenshots of a 10-room site with failures are copied to
docs/status-page-phone.png and docs/status-page-desktop.png:

    VDICTL_UPDATE_SCREENSHOT=1 .venv/bin/python -m pytest tests/cli/test_status_page.py
"""

from __future__ import annotations

import os
import re
import shutil
from datetime import datetime
from pathlib import Path

import pytest

from tests.sandbox import in_ci

REPO = Path(__file__).resolve().parents[2]
CHROMIUM = shutil.which("chromium")
CHROMEDRIVER = shutil.which("chromedriver")
PHONE = (412, 915)  # CSS pixels of a common Android phone
DESKTOP = (1280, 800)
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
    screen(driver, PHONE)
    yield driver
    driver.quit()


def screen(driver, size, height=None):
    """The viewport of a phone (mobile, 2 device pixels a CSS pixel) or a desktop
    (a headless window is at least 500 px wide, so the size is emulated)."""
    width = size[0]
    driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", {
        "width": width, "height": height or size[1], "deviceScaleFactor": 2 if width < 600
        else 1, "mobile": width < 600})


def local(iso):
    return datetime.fromisoformat(iso).astimezone().strftime("%Y-%m-%d %H:%M:%S")


def clock(iso):
    return datetime.fromisoformat(iso).astimezone().strftime("%H:%M")


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
    """The element's text as laid out (innerText follows the CSS: a cell shown as
    inline is on the line of its row; what a closed <details> hides is left out)."""
    text = element.parent.execute_script("return arguments[0].innerText", element)
    return [line.strip() for line in text.splitlines() if line.strip()]


def laid_out(row):
    """A desk's row as the phone shows it: its cells on one line (a row's
    height is one line's, or more for a long reason), each after the label or
    separator its CSS puts before it; empty cells are not shown."""
    return row.parent.execute_script("""
        const cells = [...arguments[0].cells].filter(td => getComputedStyle(td).display != "none");
        return cells.map(td => {
            const before = getComputedStyle(td, "::before").content;
            return (before == "none" ? "" : JSON.parse(before)) + td.innerText;
        }).join("");""", row).replace("\u00a0", " ").strip()


def on_first_screen(browser, element):
    """Whether the element is laid out within the first screen, without a scroll."""
    return browser.execute_script(
        "const r = arguments[0].getBoundingClientRect();"
        "return r.height > 0 && r.top >= 0 && r.bottom <= window.innerHeight", element)


def page_height(browser):
    return browser.execute_script("return document.documentElement.scrollHeight")


def fits_the_width(browser):
    return browser.execute_script(
        "return document.documentElement.scrollWidth <= window.innerWidth")


def tiles(room):
    """{desk: its tile's accessible name} of a room's seating grid, as a screen
    reader gets it (chromium's computed label)."""
    return {tile.get_attribute("title").split(":")[0]: tile.accessible_name
            for tile in room.find_elements("css selector", ".g i")}


def test_a_phone_shows_the_failed_vm_and_the_rooms_summary(browser, page_after_a_failed_reset):
    from selenium.webdriver.common.by import By

    page, record = page_after_a_failed_reset
    when = local(record["ended"])[11:]  # a reset of today: its time of day
    screen(browser, PHONE)
    browser.get(page.as_uri())
    header = browser.find_element(By.TAG_NAME, "header")
    assert visible_lines(header)[:3] == [
        "1 room needs attention", "2 rooms, 7 desks: 4 ok, 1 failed, 2 skipped",
        f"Last resets at {clock(record['ended'])}"]
    # the room that needs attention leads, its failed desk and reason named unopened
    lab1 = browser.find_element(By.ID, "room-lab1")
    assert lab1.tag_name == "section"
    assert visible_lines(lab1.find_element(By.CLASS_NAME, "facts")) == [
        f"reset {clock(record['ended'])}: failed · 4 ok, 1 failed"]
    [failed] = lab1.find_elements(By.CSS_SELECTOR, "ul.failed li")
    assert visible_lines(failed) == [f"lab1-vd02 {NO_SNAPSHOT.replace('VM lab1-vd02: ', '')}"]
    assert on_first_screen(browser, failed)
    assert tiles(lab1) == {"lab1-vd01": "lab1-vd01: ok", "lab1-vd02": "lab1-vd02: failed",
                           "lab1-vd03": "lab1-vd03: ok", "lab1-vd04": "lab1-vd04: ok",
                           "lab1-teacher01": "lab1-teacher01: ok"}
    # colour is not the only signal: the failed tile carries a sign
    failed_tile = lab1.find_element(By.CSS_SELECTOR, "i[title='lab1-vd02: failed']")
    assert browser.execute_script(
        "return getComputedStyle(arguments[0], '::after').content", failed_tile) == '"✕"'
    assert failed_tile.value_of_css_property("background-color") == "rgba(179, 38, 30, 1)"
    # the seating grid: a row per subsection (4 students, then the teacher)
    assert [len(row.find_elements(By.TAG_NAME, "i"))
            for row in lab1.find_elements(By.CSS_SELECTOR, ".g .r")] == [4, 1]
    # its desks open with a click: on a phone each is a line of its own
    table = lab1.find_element(By.TAG_NAME, "table")
    assert not table.is_displayed()
    lab1.find_element(By.CSS_SELECTOR, "details.desks summary").click()
    rows = lab1.find_elements(By.CSS_SELECTOR, "tbody tr")
    assert laid_out(rows[1]) == f"lab1-vd02 · stopped · 192.0.2.12 · reset {when} · FAILED"
    assert rows[1].find_element(By.TAG_NAME, "td").value_of_css_property(
        "background-color") == "rgba(253, 231, 230, 1)"
    assert laid_out(rows[0]) == f"lab1-vd01 · stopped · 192.0.2.11 · reset {when} · ok"
    # every other room is one line that opens to its desks
    kiosk = browser.find_element(By.ID, "room-kiosk")
    assert kiosk.tag_name == "details" and kiosk.get_attribute("open") is None
    assert visible_lines(kiosk) == ["kiosk", f"reset {clock(record['ended'])} · 2 skipped"]
    assert tiles(kiosk) == {"kiosk-01": "kiosk-01: skipped", "kiosk-02": "kiosk-02: skipped"}
    # readable on a phone: nothing wider than the screen, text at 16 px
    assert fits_the_width(browser)
    assert browser.find_element(By.TAG_NAME, "body").value_of_css_property(
        "font-size") == "16px"
    # self-contained: the browser loaded nothing but the page itself, and ran nothing
    assert browser.execute_script(
        "return performance.getEntriesByType('resource').length") == 0
    assert browser.find_elements(By.TAG_NAME, "script") == []


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
    screen(browser, PHONE)
    browser.get(page.as_uri())
    banner = browser.find_element(By.CLASS_NAME, "banner")
    assert banner.text.startswith("The backend could not be asked for the VMs' state: ")
    assert browser.find_element(By.TAG_NAME, "h1").text == "1 room needs attention"
    lab1 = browser.find_element(By.ID, "room-lab1")
    assert visible_lines(lab1.find_element(By.CLASS_NAME, "facts")) == [
        "no reset on record · 5 not reset"]
    assert visible_lines(lab1.find_element(By.CLASS_NAME, "problem")) == [
        "No reset on record."]
    assert set(tiles(lab1).values()) == {f"{vm}: not reset" for vm in tiles(lab1)}
    lab1.find_element(By.CSS_SELECTOR, "details.desks summary").click()
    assert laid_out(lab1.find_elements(By.CSS_SELECTOR, "tbody tr")[0]) == (
        "lab1-vd01 · unknown · 192.0.2.11 · no reset on record")


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
    screen(browser, PHONE)
    browser.get(page.as_uri())
    lab1 = browser.find_element(By.ID, "room-lab1")
    in_use = {vm for vm, label in tiles(lab1).items() if label.endswith(": in use")}
    assert in_use == {"lab1-vd02", "lab1-vd03"}
    lab1.find_element(By.CSS_SELECTOR, "details.desks summary").click()
    rows = {laid_out(row).split(" · ")[0]: laid_out(row).split(" · ")
            for row in lab1.find_elements(By.CSS_SELECTOR, "tbody tr")}
    assert rows["lab1-vd02"][:3] == ["lab1-vd02", "running", "in use: console 192.0.2.7"]
    assert rows["lab1-vd03"][:3] == ["lab1-vd03", "running", "in use: guest anna"]
    assert rows["lab1-vd01"][:3] == ["lab1-vd01", "running", "192.0.2.11"]  # nobody: no cell


# --- a site of 10 rooms × 25 desks ---------------------------------------------------

SITE = """\
[general]
    [[connect]]
    driver = libvirt
    uri = "test:///default"
    [[throttle]]
    snapshot_batch_size = 10
    snapshot_batch_pause = 0
    parallel = 10
"""
SITE_ROOM = """
[room lab{n:02d}]
    template_name = tmpl
    ip_addresses = "10.0.{n}.${{suffix}}"
    netmask_suffix = 24
    snapshot_description = "vdictl rollout IP=${{ip}}/${{netmask_as_suffix}} at ${{scripttime}}"
    reset_to_snapshot_regex = "vdictl rollout .*"
    [[desks]]
    ids = "1-25"
    names = "${{roomname}}-d${{id}}"
    ip_addresses_suffix = 10
"""
ROOMS = [f"lab{n:02d}" for n in range(1, 11)]
FAILING = ["lab03-d05", "lab03-d12", "lab03-d13"]


@pytest.fixture
def site(hypervisor, tmp_path):
    """10 rooms of 25 desks rolled out and reset on test:///default: the config."""
    from tests.vdictl_cli import vdictl, write_config

    config = write_config(tmp_path, SITE + "".join(SITE_ROOM.format(n=n) for n in range(1, 11)))
    assert vdictl(config, "virtroom-rollout", "--all").exit_code == 0
    assert vdictl(config, "virtroom-reset", "--all").exit_code == 0
    return config


def report(config, tmp_path):
    from tests.vdictl_cli import vdictl

    page = tmp_path / "index.html"
    result = vdictl(config, "report", "--html", str(page))
    assert (result.exit_code, result.stderr) == (0, "")
    return page


def test_a_site_where_all_is_well_fits_in_two_phone_screens(browser, site, tmp_path):
    from selenium.webdriver.common.by import By

    page = report(site, tmp_path)
    for size in (PHONE, DESKTOP):
        screen(browser, size)
        browser.get(page.as_uri())
        h1 = browser.find_element(By.TAG_NAME, "h1").text
        assert re.fullmatch(r"All 10 rooms reset at \d\d:\d\d(–\d\d:\d\d)?", h1), h1
        lines = browser.find_elements(By.CSS_SELECTOR, "details.room")
        assert [line.get_attribute("id") for line in lines] == [f"room-{r}" for r in ROOMS]
        assert browser.find_elements(By.CSS_SELECTOR, "section.room") == []
        for line in lines:
            assert line.get_attribute("open") is None
            # (then the desks' occupancy, where a probe saw some in use or idle: issue 26)
            assert re.fullmatch(r"reset \d\d:\d\d · 25 ok( · Desks now: 25 idle\.)?",
                                line.find_element(By.CLASS_NAME, "facts").text)
        assert len(browser.find_elements(By.CSS_SELECTOR, "details.room .g i.o")) == 250
        assert fits_the_width(browser)
        assert page_height(browser) <= 2 * size[1], (size, page_height(browser))
        if size == DESKTOP:
            # a room is one line: its name, facts and seating grid side by side
            for line in lines:
                summary = line.find_element(By.TAG_NAME, "summary")
                parts = [summary.find_element(By.CSS_SELECTOR, css).rect
                         for css in (".name", ".facts", ".g")]
                assert parts[0]["x"] < parts[1]["x"] < parts[2]["x"]
                assert summary.rect["height"] < 80
    # a room opens to its desks, with the page's scripts off (it has none to need)
    browser.execute_cdp_cmd("Emulation.setScriptExecutionDisabled", {"value": True})
    try:
        browser.get(page.as_uri())
        lab01 = browser.find_element(By.ID, "room-lab01")
        rows = lab01.find_elements(By.CSS_SELECTOR, "tbody tr")
        assert not rows[0].is_displayed()
        lab01.find_element(By.TAG_NAME, "summary").click()
        assert len(rows) == 25 and rows[0].is_displayed()
        assert [cell.text for cell in rows[0].find_elements(By.TAG_NAME, "td")][:4] == [
            "lab01-d01", "stopped", "", "10.0.1.10"]
    finally:
        browser.execute_cdp_cmd("Emulation.setScriptExecutionDisabled", {"value": False})


def test_failed_desks_lead_the_page_at_both_widths(browser, site, hypervisor, tmp_path,
                                                   monkeypatch):
    """3 desks of lab03 lose their snapshot and fail the next reset; 2 desks of
    lab05 (started) are in use. The failed desks are named with their reason on the first
    screen, phone or desktop, without a click."""
    from selenium.webdriver.common.by import By

    from tests.cli.at_desks import use_at_desks
    from tests.vdictl_cli import vdictl

    for vm in FAILING:
        for snapshot in hypervisor.dom(vm).listAllSnapshots():
            snapshot.delete()
    assert vdictl(site, "virtroom-reset", "--all").exit_code == 1
    assert vdictl(site, "virtroom-start", "lab05").exit_code == 0
    use_at_desks(monkeypatch, {
        "lab05-d03": [{"kind": "console", "client": "192.0.2.7", "source": "qemu vnc"}],
        "lab05-d04": [{"kind": "guest", "user": "anna", "source": "guest agent"}]})
    page = report(site, tmp_path)
    for size, name in ((PHONE, "phone"), (DESKTOP, "desktop")):
        screen(browser, size)
        browser.get(page.as_uri())
        assert browser.find_element(By.TAG_NAME, "h1").text == "1 room needs attention"
        legend = browser.find_element(By.CLASS_NAME, "legend")
        assert visible_lines(legend) == [
            "ok 245", "failed 3", "in use 2", "skipped 0", "not reset 0"]
        [lab03] = browser.find_elements(By.CSS_SELECTOR, "section.room")
        assert lab03.get_attribute("id") == "room-lab03"
        # failed for one reason, they are named together, with it
        [failed] = lab03.find_elements(By.CSS_SELECTOR, "ul.failed li")
        assert " ".join(visible_lines(failed)) == (
            f"{', '.join(FAILING)} no snapshot matches reset_to_snapshot_regex "
            "'vdictl rollout .*' (0 snapshot(s))")
        assert on_first_screen(browser, failed), size
        assert {vm: label for vm, label in tiles(lab03).items()
                if not label.endswith(": ok")} == {vm: f"{vm}: failed" for vm in FAILING}
        others = browser.find_elements(By.CSS_SELECTOR, "details.room")
        assert [o.get_attribute("id") for o in others] == [
            f"room-{r}" for r in ROOMS if r != "lab03"]
        lab05 = browser.find_element(By.ID, "room-lab05")
        assert lab05.find_element(By.CLASS_NAME, "facts").text.endswith(
            "23 ok, 2 in use · Desks now: 2 in use, 23 idle.")
        assert fits_the_width(browser)
        assert page_height(browser) <= 2 * size[1], (size, page_height(browser))
        save_screenshot(browser, size, f"status-page-{name}.png")


def save_screenshot(browser, size, name):
    """The whole page at this width; docs/NAME when asked."""
    screen(browser, size, height=min(page_height(browser), 2400))
    try:
        shot = browser.get_screenshot_as_png()
    finally:
        screen(browser, size)
    assert shot.startswith(b"\x89PNG")
    if os.environ.get("VDICTL_UPDATE_SCREENSHOT"):
        (REPO / "docs" / name).write_bytes(shot)


def test_a_runs_error_and_an_unfinished_reset_make_a_room_need_attention(run, hypervisor,
                                                                          tmp_path):
    """lab1's last reset failed as a whole (its error, no VM touched); kiosk's
    was killed (a "running" record whose process is gone): both rooms lead the
    page with what is wrong, said once per room."""
    import html
    import re

    from vdictl.records import history

    assert run("virtroom-rollout", "lab1").exit_code == 0
    state = os.environ["VDICTL_STATE_DIR"]
    failed = history.RunRecord(state, "reset", ["lab1"])
    failed.start()
    failed.finish(exit_status=3, status="error", vms=[], error="engine2 unreachable: refused")
    killed = history.RunRecord(state, "reset", ["kiosk"])
    killed.data["pid"] = 2 ** 22 + 1  # above pid_max: no such process
    killed.start()
    page = tmp_path / "index.html"
    assert run("report", "--html", str(page)).exit_code == 0
    text = page.read_text()
    assert "<h1>2 rooms need attention</h1>" in text
    sections = dict(re.findall(r'<section class="room" id="room-(\w+)">(.*?)</section>', text,
                               re.S))
    problems = {room: [html.unescape(p) for p in re.findall(r'<p class="problem">(.*?)</p>',
                                                            body)]
                for room, body in sections.items()}
    assert problems == {"lab1": ["engine2 unreachable: refused"],
                        "kiosk": ["Its last reset did not finish (its process is gone)."]}
    assert re.search(r'<p class="facts">reset \d\d:\d\d: unfinished · 2 not reset</p>',
                     sections["kiosk"])
