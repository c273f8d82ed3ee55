"""What makes failures "the same cause" (vdictl.records.causes)."""

from __future__ import annotations

from vdictl.records.causes import cause, group, group_lines

UNREACHABLE = ("ovirt: engine2 unreachable, given up for this run after 30s without an "
               "answer: Connection refused")


def test_an_endpoint_down_over_a_site_is_one_line_with_the_count_and_the_rooms():
    failures = [(f"lab{r:02d}", f"lab{r:02d}-pc{i:02d}", UNREACHABLE)
                for r in range(1, 41) for i in range(1, 26)]
    failures.insert(7, ("lab01", "lab01-pc99", "VM lab01-pc99: no snapshot matches 'x'"))
    lines, rest = group_lines(failures, "reset")
    assert lines == [f"{UNREACHABLE}: 1,000 VMs of 40 rooms (lab01 \u2026 lab40) not reset"]
    assert rest == [7]


def test_the_vms_own_name_is_taken_out_where_it_labels_or_stands_in_a_sentence():
    assert cause("libvirt: lab1-pc02: template 'tmpl' not found", "lab1-pc02") == (
        "libvirt: template 'tmpl' not found")
    assert cause("VM lab1-pc02: no snapshot matches", "lab1-pc02") == "no snapshot matches"
    assert cause("ovirt: lab1-pc02: VM lab1-pc02 is locked", "lab1-pc02") == (
        "ovirt: VM <vm> is locked")
    assert cause("cannot start 'lab1-pc02'.", "lab1-pc02") == "cannot start '<vm>'."


def test_anything_but_the_whole_name_of_the_vm_itself_stays():
    assert cause("template in use by lab1-pc020", "lab1-pc02") == (
        "template in use by lab1-pc020")
    assert cause("disk lab1-pc02.qcow2 missing", "lab1-pc02") == "disk lab1-pc02.qcow2 missing"
    assert cause("x-lab1-pc02 gone", "lab1-pc02") == "x-lab1-pc02 gone"
    # another VM's name is not the VM's own: these are two causes
    groups, rest = group([("r", f"r-{i}", f"VM r-{i}: locked by r-9") for i in range(3)]
                         + [("r", "r-9", "VM r-9: locked by r-9")], at=2)
    assert [(g.cause, len(g.vms)) for g in groups] == [("locked by r-9", 3)]
    assert rest == [3]      # r-9's own reason reads "locked by <vm>": another cause
    groups, rest = group([("r", "r-1", "took 3s"), ("r", "r-2", "took 4s")], at=2)
    assert (groups, rest) == ([], [0, 1])


def test_fewer_than_three_of_a_cause_are_listed_and_few_rooms_are_named():
    failures = [("a", "a-1", "down"), ("b", "b-1", "down"), ("c", "c-1", "other")]
    assert group_lines(failures, "reset") == ([], [0, 1, 2])
    failures.append(("a", "a-2", "down"))
    assert group_lines(failures, "rollout") == (
        ["down: 3 VMs of 2 rooms (a, b) not rolled out"], [2])
