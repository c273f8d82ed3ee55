"""What a run's session does once per VM stays cheap on a site of thousands.

Engines down (the admin host cut off) make each of their VMs fail with a
line naming the endpoint and where the config gives it. Where it is given
was worked out by walking every VM of the site for every failed VM: 10,000
failures on a 10,000-VM site walked 100 million VMs (7 s here). It is worked
out once per endpoint now.
"""

from __future__ import annotations

import time

from vdictl.config.load import load_config
from vdictl.ops.session import Session

ROOMS = 400
URL = "https://eng01.example.org/ovirt-engine/api"


def site(tmp_path):
    lines = ["[general]", "    [[connect]]", "    driver = ovirt",
             "    url = https://eng00.example.org/ovirt-engine/api",
             "    username = vdi@internal", "    password = secret"]
    lines += ["[connect eng01]", "    driver = ovirt", f"    url = {URL}",
              "    username = vdi@internal", "    password = secret"]
    for r in range(ROOMS):
        lines += [f"[room lab{r:03d}]", "    connect = eng01", "    template_name = tmpl",
                  "    [[pcs]]", '    ids = "1-25"', '    names = "${roomname}-pc${id}"']
    path = tmp_path / "vdi.conf"
    path.write_text("\n".join(lines) + "\n")
    path.chmod(0o600)
    return load_config(str(path))


def test_ten_thousand_failures_naming_their_endpoint_cost_no_walk_of_the_site(tmp_path):
    session = Session(site(tmp_path))
    message = f"cannot connect to {URL}: Connection refused"
    started = time.monotonic()
    lines = {session.with_origin(message, URL) for _ in range(10000)}
    took = time.monotonic() - started
    assert lines == {f"cannot connect to {URL} ({tmp_path / 'vdi.conf'} [connect eng01] url): "
                     "Connection refused"}
    assert took < 1.5, f"{took:.1f} s for 10,000 lines"   # it was 10,000 walks of 10,000 VMs
