"""What bounds one endpoint of a run, and how many worker threads a run needs.

The limits of an endpoint (a libvirt URI, an engine, a Proxmox VE cluster) are
its [connect NAME] profile's own [[throttle]] where written, else
parallel_per_host, else none of its own; the global [[throttle]] limits are
held beside them (Session.power_for ...). The worker threads are sized from
the endpoints: each endpoint can keep its own power and snapshot limits busy
(plus the VMs that look themselves up meanwhile), and the run hands its VMs
out round-robin over the endpoints (executor.run_each's `group`), so one
endpoint's backlog never stands in front of another's VMs. Never a thread
per VM: at most WORKER_CAP, whatever the site.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Dict, Iterable, Optional

from vdictl.config.rooms import Config, EndpointThrottle, VmSpec

#: worker threads of one run at most, whatever the number of endpoints
WORKER_CAP = 256
#: threads per endpoint beyond its power and snapshot slots: VMs looking
#: themselves up (snapshot lists ...) while the slots are busy
LOOKAHEAD = 2


@dataclass(frozen=True)
class EndpointLimits:
    """One endpoint's own limits; None: only the global one binds."""

    power: Optional[int] = None
    snapshots: Optional[int] = None
    snapshot_pause: float = 0.0

    @property
    def any(self) -> bool:
        return self.power is not None or self.snapshots is not None or self.snapshot_pause > 0


def endpoint_limits(config: Config, spec: VmSpec) -> EndpointLimits:
    """The limits of `spec`'s endpoint: its profile's [[throttle]], else
    parallel_per_host; each at most the global limit it sits beside."""
    t = config.throttle
    own = config.connect_of(spec).throttle or EndpointThrottle()
    power = own.parallel or t.parallel_per_host
    snapshots = own.snapshot_batch_size or t.parallel_per_host
    return EndpointLimits(
        power=min(power, t.parallel) if power else None,
        snapshots=min(snapshots, t.snapshot_batch_size) if snapshots else None,
        snapshot_pause=own.snapshot_batch_pause or 0.0)


def endpoint_workers(config: Config, spec: VmSpec) -> int:
    """Threads that keep `spec`'s endpoint busy: its power and snapshot slots,
    plus LOOKAHEAD VMs getting ready."""
    t = config.throttle
    own = endpoint_limits(config, spec)
    return (own.power or t.parallel) + (own.snapshots or t.snapshot_batch_size) + LOOKAHEAD


def run_workers(config: Config, specs: Iterable[VmSpec]) -> int:
    """The worker threads of a run over `specs`: what their endpoints can keep
    busy, at most what the global limits admit (with LOOKAHEAD per endpoint),
    at most WORKER_CAP."""
    per: Dict[str, int] = {}
    for spec in specs:
        endpoint = config.endpoint_of(spec)
        if endpoint not in per:
            per[endpoint] = endpoint_workers(config, spec)
    if not per:
        return 1
    t = config.throttle
    admitted = t.parallel + t.snapshot_batch_size + LOOKAHEAD * len(per)
    return max(1, min(WORKER_CAP, sum(per.values()), admitted))
