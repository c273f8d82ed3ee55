"""TEST DOUBLE OF THE EDGE ONLY: the real libvirt driver, whose sessions()
answers fixed users for the VMs named in $VDICTL_TEST_AT_DESKS.

libvirt's test:/// hypervisor cannot tell who is at a VM (sessions() answers
None), and the real detection (QEMU VNC/SPICE, the engine's sessions) is
built elsewhere with its own end-to-end tests. This subclass stands in for
that answer so the guard, the question and the IN USE column are tested
through the real CLI on a real (test:///) hypervisor; everything else is
the real driver. VMs not named answer [] (looked, nobody there).

$VDICTL_TEST_AT_DESKS is JSON: {"lab1-vd02": [{"kind": "console",
"client": "192.0.2.7", "since": 1764753120}], ...}, or a list of such
answers: the Nth sessions() call of the process answers the Nth (the last
one from then on), for a user who sits down between two questions.

Used in-process by registering it as the "libvirt" driver (use_at_desks), or
as a program on a terminal: python -m tests.cli.at_desks VDICTL-ARGS...
"""

from __future__ import annotations

import json
import os
import sys
from typing import Dict, Sequence

from vdictl.drivers.libvirt import LibvirtDriver
from vdictl.model import Sessions, UserSession

ENV = "VDICTL_TEST_AT_DESKS"


class AtDesks(LibvirtDriver):
    def sessions(self, *, names: Sequence[str]) -> Dict[str, Sessions]:
        AtDesks.calls.append(list(names))
        users = json.loads(os.environ.get(ENV, "{}"))
        if isinstance(users, list):  # one answer per call, the last one from then on
            users = users[min(len(AtDesks.calls), len(users)) - 1]
        return {name: [UserSession(**s) for s in users.get(name, [])] for name in names}

    #: the names of every sessions() call of this process, in order
    calls: list = []


def use_at_desks(monkeypatch, users: dict) -> list:
    """Make "libvirt" this double for the test, with `users` at their desks;
    returns the list every sessions() call is appended to."""
    from vdictl.drivers import DRIVERS

    monkeypatch.setitem(DRIVERS, "libvirt", ("tests.cli.at_desks", "AtDesks", "libvirt"))
    monkeypatch.setenv(ENV, json.dumps(users))
    monkeypatch.setattr(AtDesks, "calls", [])
    return AtDesks.calls


if __name__ == "__main__":
    from vdictl.cli import main
    from vdictl.drivers import DRIVERS

    DRIVERS["libvirt"] = ("tests.cli.at_desks", "AtDesks", "libvirt")
    sys.argv[0] = "vdictl"
    main()
