"""Room `desk` on the private libvirtd (tests/sandbox.py): three real QEMU
guests with VNC displays, rolled out and started through the CLI, for the
daytime-safety tests (test_in_use_on_qemu, test_vacated_on_qemu)."""

from __future__ import annotations

import contextlib
from pathlib import Path

from tests.vdictl_cli import vdictl as run_vdictl

VMS = ["desk-vd01", "desk-vd02", "desk-vd03"]
#: the desk a VNC client sits at
AT_DESK = "desk-vd02"

CONFIG = """\
[general]
    [[connect]]
    driver = libvirt
    uri = "{uri}"
    [[throttle]]
    snapshot_batch_size = 3
    snapshot_batch_pause = 0
    parallel = 3
    shutdown_timeout = 4
    operation_timeout = 60

[room desk]
    template_name = desk-tmpl
    memory = 32MiB
    snapshot_description = "vdictl rollout"
    reset_to_snapshot_regex = "^vdictl rollout"
    reset_startvm = Always
    [[vms]]
    ids = "1-3"
    names = "${{roomname}}-vd${{id}}"
"""


@contextlib.contextmanager
def desk_room(libvirt_sandbox, directory: Path):
    """(vdictl(*args), libvirt connection): room desk rolled out and started,
    its config in `directory`; deleted with its template afterwards."""
    libvirt_sandbox.make_template("desk-tmpl", "acpi", graphics="vnc")
    config = directory / "vdi.conf"
    config.write_text(CONFIG.format(uri=libvirt_sandbox.uri))

    def vdictl(*args):
        return run_vdictl(config, *args)

    assert vdictl("virtroom-rollout", "desk").exit_code == 0
    assert vdictl("virtroom-start", "desk").exit_code == 0
    try:
        yield vdictl, libvirt_sandbox.conn
    finally:
        vdictl("virtroom-delete", "--yes", "desk")
        libvirt_sandbox.remove_domain("desk-tmpl", delete_volumes=True)
