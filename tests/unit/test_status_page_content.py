"""The status page's content without a browser (tests/cli/test_status_page.py
opens it in chromium; a name of its own, as pytest collects by basename): the
site's headline, the facts of its lines, the tiles, the escaping, and its
size at 10,000 desks."""

from __future__ import annotations

import re
import time

import pytest

from vdictl.records.status_page import (
    RoomBlock, SitePage, VmLine, desk_time, headline, render_page, room_facts, site_facts, span)

#: 2026-12-06 01:12 local time (the page speaks local time, like vdictl status)
NIGHT = time.mktime((2026, 12, 6, 1, 12, 0, 0, 0, -1))
MORNING = NIGHT + 6 * 3600


def desks(room, count, outcome="ok", **fields):
    return [VmLine(name=f"{room}-d{i:02d}", state="stopped", ip=f"10.0.0.{i}",
                   outcome=outcome, **fields) for i in range(1, count + 1)]


def room(name, at=NIGHT, result="ok", vms=None, **fields):
    return RoomBlock(name=name, vms=desks(name, 25) if vms is None else vms, reset_at=at,
                     reset_result=result, **fields)


def test_all_well_the_headline_says_when_every_room_was_reset():
    site = SitePage([room(f"lab{n:02d}", at=NIGHT + n * 300) for n in range(10)],
                    generated=MORNING)
    assert headline(site) == "All 10 rooms reset at 01:12–01:57"
    assert site_facts(site) == ["10 rooms, 250 desks: 250 ok", "As of 2026-12-06 07:12:00"]


@pytest.mark.parametrize("first, last, generated, said", [
    (NIGHT, NIGHT + 30, MORNING, "at 01:12"),
    (NIGHT - 3600 * 2, NIGHT, MORNING, "at 23:12–01:12"),
    (NIGHT, NIGHT + 60, MORNING + 86400, "on 2026-12-06 at 01:12–01:13"),
    (NIGHT - 8 * 86400, NIGHT, MORNING, "between 2026-11-28 01:12 and 2026-12-06 01:12"),
])
def test_the_reset_times_are_a_span_with_the_date_when_it_is_not_today(first, last, generated,
                                                                      said):
    assert span(first, last, generated) == said


def test_rooms_that_need_attention_lead_the_headline_and_the_page():
    failed = desks("lab02", 25)
    failed[4] = VmLine("lab02-d05", "stopped", "10.0.0.5", outcome="failed",
                       reason="VM lab02-d05: no snapshot matches")
    rooms = [room("lab01"), room("lab02", result="failed", vms=failed),
             room("lab03", at=None, result="", vms=desks("lab03", 25, outcome=""),
                  problems=["No reset on record."])]
    site = SitePage(rooms, generated=MORNING)
    assert headline(site) == "2 rooms need attention"
    assert site_facts(site)[:2] == ["3 rooms, 75 desks: 49 ok, 1 failed, 25 not reset",
                                    "Last resets at 01:12"]
    assert room_facts(rooms[1], MORNING) == ["reset 01:12: failed", "24 ok, 1 failed"]
    assert room_facts(rooms[2], MORNING) == ["no reset on record", "25 not reset"]
    page = render_page(site)
    # in the page's order: lab02 and lab03 as sections, then lab01 as a line
    order = re.findall(r'<(section|details) class="room" id="room-(\w+)"', page)
    assert order == [("section", "lab02"), ("section", "lab03"), ("details", "lab01")]
    # a failed desk's reason is said once, in its room's list of failed desks
    assert "<li><b>lab02-d05</b> <span class=\"reason\">no snapshot matches</span></li>" in page
    assert page.count("no snapshot matches") == 1


def test_desks_failed_for_one_reason_are_named_together():
    vms = desks("lab04", 4)
    for vm, reason in zip(vms, ["engine2 unreachable: Connection refused",
                                "engine2 unreachable: Connection refused",
                                "VM lab04-d03 does not exist (run virtroom-rollout lab04)",
                                "VM lab04-d04 does not exist (run virtroom-rollout lab04)"]):
        vm.outcome, vm.reason = "failed", reason
    vms.append(VmLine("lab04-d05", "stopped", "", outcome="failed",
                      reason="VM lab04-d05: no snapshot matches"))
    assert room("lab04", vms=vms).failures() == [
        (["lab04-d01", "lab04-d02"], "engine2 unreachable: Connection refused"),
        (["lab04-d03", "lab04-d04"], "VM … does not exist (run virtroom-rollout lab04)"),
        (["lab04-d05"], "no snapshot matches")]


def test_a_desks_last_reset_is_its_time_of_day_when_it_was_today():
    assert desk_time(NIGHT + 3, MORNING) == "01:12:03"
    assert desk_time(NIGHT + 3, MORNING + 86400) == "2026-12-06 01:12:03"
    assert desk_time(None, MORNING) == ""


def test_a_running_reset_and_a_site_without_resets_say_so():
    assert headline(SitePage([room("lab01", result="running"), room("lab02")],
                             generated=MORNING)) == "Reset under way in 1 of 2 rooms"
    stateless = room("kiosk", at=None, result="", vms=desks("kiosk", 2, outcome=""),
                     resettable=False)
    assert headline(SitePage([stateless], generated=MORNING)) == "1 room, none reset by vdictl"
    assert room_facts(stateless, MORNING) == ["not reset by vdictl", "2 not reset"]
    # a room vdictl does not reset takes nothing from "all": it is as it should be
    assert headline(SitePage([room("lab01"), room("lab02"), stateless],
                             generated=MORNING)) == "All 2 rooms reset at 01:12"


@pytest.mark.parametrize("vm, tile", [
    (VmLine("a", "running", "", outcome="ok"), "ok"),
    (VmLine("a", "running", "", outcome="ok", in_use="guest anna"), "in-use"),
    (VmLine("a", "running", "", outcome="ok", in_use="?"), "ok"),  # cannot tell: not in use
    (VmLine("a", "running", "", outcome="failed", in_use="guest anna"), "failed"),
    (VmLine("a", "stopped", "", outcome="not-started"), "failed"),
    (VmLine("a", "running", "", outcome="skipped"), "skipped"),
    (VmLine("a", "unknown", "", outcome=""), "not-reset"),
])
def test_each_desk_has_one_tile(vm, tile):
    assert vm.tile == tile


def test_other_views_add_their_facts_to_a_rooms_line_and_to_the_site():
    lab01 = room("lab01", facts=["preflight 18:00 ok"])
    site = SitePage([lab01], generated=MORNING, facts=["engine2: 40 rooms in use"])
    assert room_facts(lab01, MORNING) == ["reset 01:12", "25 ok", "preflight 18:00 ok"]
    assert site_facts(site)[-1] == "engine2: 40 rooms in use"
    page = render_page(site)
    assert "reset 01:12 · 25 ok · preflight 18:00 ok" in page
    assert "<li>engine2: 40 rooms in use</li>" in page


def test_names_and_reasons_are_escaped():
    evil = '<img src=x onerror=alert(1)>"'
    vms = [VmLine(name=evil, state=evil, ip=evil, in_use=evil, outcome="failed", reason=evil)]
    page = render_page(SitePage([room(evil, vms=vms, facts=[evil], problems=[evil])],
                                generated=MORNING, error=evil, facts=[evil]))
    assert "<img" not in page and "&lt;img src=x onerror=alert(1)&gt;&#34;" in page


@pytest.mark.parametrize("failing", [50, 1], ids=["1 in 50 failed", "all failed"])
def test_ten_thousand_desks_make_a_page_under_two_megabytes(failing):
    """400 rooms of 25 desks, 1 in 10 in use; 1 in 50 failed with a long reason
    that names the desk, or every desk (a night its engine was down). The size
    is asserted, the time only measured (printed with -s)."""
    rooms = []
    for n in range(400):
        vms = []
        for i in range(1, 26):
            failed = (n * 25 + i) % failing == 0
            name = f"lab{n:03d}-desk{i:02d}"
            vms.append(VmLine(
                name=name, state="stopped", ip=f"10.{n // 250}.{n % 250}.{i}",
                reset_time="01:12:03", outcome="failed" if failed else "ok",
                reason=(f"VM {name}: engine2 unreachable: Connection refused "
                        "(https://engine2.example.org/ovirt-engine/api)" if failed else ""),
                in_use="guest student42 since 08:12" if i % 10 == 0 else "",
                subsection="students"))
        rooms.append(room(f"lab{n:03d}", vms=vms, result="failed" if n % 2 else "ok"))
    began = time.perf_counter()
    page = render_page(SitePage(rooms, generated=MORNING))
    took = time.perf_counter() - began
    size = len(page.encode("utf-8"))
    print(f"status page of 10,000 desks, {failing=}: {size / 1e6:.2f} MB, "
          f"rendered in {took:.2f} s")
    assert page.count('role="img"') == 10_000  # a tile for each desk
    assert size < 2_000_000
