"""The reset's guard on the account's permissions: before the first VM of an
endpoint is powered off, the endpoint is asked once whether the account may
do what a reset does there (Driver.permission_problems, as the evening
preflight asks). An account that may not restore snapshots would leave each
desk powered off and not restored; with the guard every VM there is left as
it was, failed with the line that says which permission is missing. A line
about some VMs only (drivers.base.VmsLacking: an account whose rights come
VM by VM, one VM without them) stops those VMs only.

A run with nothing to reset asks nothing (the guard is asked VM by VM, once
the VM is known to need a reset). An endpoint whose driver cannot tell, or
whose answer cannot be read, is not held up: the run goes on as before.
"""

from __future__ import annotations

import dataclasses
import logging
import threading
from typing import Dict, List, Sequence

from vdictl.config.rooms import VmSpec
from vdictl.drivers.base import VmsLacking
from vdictl.errors import VdictlError

from .session import Session

log = logging.getLogger(__name__)


class AccountGuard:
    """One verdict per endpoint and run, asked at most once (a lock per endpoint)."""

    def __init__(self, session: Session, specs: Sequence[VmSpec], purpose: str = "reset"):
        """`specs`: the VMs the run may act on (the permissions are judged for
        all of an endpoint's at once)."""
        self.session = session
        self.purpose = purpose
        self._specs: Dict[str, List[VmSpec]] = {}
        for spec in specs:
            self._specs.setdefault(session.endpoint_of(spec), []).append(spec)
        self._verdicts: Dict[str, List[str]] = {}
        self._locks = {endpoint: threading.Lock() for endpoint in self._specs}

    def check(self, spec: VmSpec) -> None:
        """Raise VdictlError when the account may not reset `spec`'s VM."""
        endpoint = self.session.endpoint_of(spec)
        lock = self._locks.get(endpoint)
        if lock is None:
            return
        with lock:
            if endpoint not in self._verdicts:
                self._verdicts[endpoint] = self._ask(endpoint, spec)
        # a line about some VMs only (VmsLacking) stops those VMs only
        lacking = [line for line in self._verdicts[endpoint]
                   if not isinstance(line, VmsLacking) or spec.name in line.vms]
        if lacking:
            raise VdictlError(f"not touched: {'; '.join(lacking)} (vdictl preflight names "
                              "it too)")

    def _ask(self, endpoint: str, spec: VmSpec) -> List[str]:
        driver = self.session.driver_for(spec)
        # what a reset does to the VMs, not the in-use probe (a room's
        # skip_in_use asks more of Proxmox VE: not a reason to refuse); made
        # for the endpoint asked only, not for every VM of a run
        specs = [dataclasses.replace(s, skip_in_use=False) if s.skip_in_use else s
                 for s in self._specs[endpoint]]
        try:
            lacking = driver.permission_problems(specs=specs, purpose=self.purpose)
        except VdictlError as exc:
            log.warning("%s: could not read the account's permissions (%s); the %s goes "
                        "on", endpoint, exc, self.purpose)
            return []
        return list(lacking or [])
