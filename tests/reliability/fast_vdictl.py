"""`python -m tests.reliability.fast_vdictl ARGS`: the real vdictl command in
its own process, with the oVirt driver polling the simulator every 20 ms
instead of every 2 s (the only change: a timing seam)."""

import atexit
import os
import sys

from vdictl.cli import main
from vdictl.drivers.ovirt import OvirtDriver

OvirtDriver.poll_interval = 0.02
OvirtDriver.retry_initial = 0.02
OvirtDriver.retry_maximum = 0.2


@atexit.register
def _report_peak_rss() -> None:
    """VmHWM of this process. Not getrusage's ru_maxrss: Linux folds the
    parent's peak into it at exec, so under a big pytest process it reported
    pytest's memory, not vdictl's."""
    if os.environ.get("VDICTL_TEST_PEAK_RSS"):  # the load test reads it
        with open("/proc/self/status", encoding="ascii") as status:
            kib = next(int(line.split()[1]) for line in status if line.startswith("VmHWM:"))
        sys.stderr.write(f"peak-rss-kib={kib}\n")


if __name__ == "__main__":
    main()
