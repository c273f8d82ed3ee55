"""First boot: run the VM once with its sysprep or cloud-init payload, then
apply what must wait until the guest personalised itself."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any, Dict

import ovirtsdk4.types as types

from vdictl.config.rooms import SYSPREP, VmSpec
from vdictl.config.values import netmask

from .connection import OvirtConnection
from .create import grant
from .lookups import find_user

if TYPE_CHECKING:  # pragma: no cover
    from vdictl.firstboot.payload import Payload

log = logging.getLogger(__name__)


def initialization(spec: VmSpec, payload: "Payload") -> Any:
    """The engine's run-once initialization carrying the payload verbatim."""
    kw: Dict[str, Any] = dict(host_name=payload.host_name)
    if payload.kind == SYSPREP:
        kw["custom_script"] = payload.autounattend
    else:
        kw["custom_script"] = payload.user_data
        if spec.ip:
            kw["nic_configurations"] = [types.NicConfiguration(
                name="eth0", on_boot=True, boot_protocol=types.BootProtocol.STATIC,
                ip=types.Ip(address=spec.ip, gateway=spec.default_gateway,
                            netmask=netmask(spec.netmask_suffix)))]
    return types.Initialization(**kw)


def personalise_vm(conn: OvirtConnection, *, spec: VmSpec, payload: "Payload",
                   timeout: float) -> None:
    name = spec.name
    v = conn.sdk_vm(name)
    if v.status == types.VmStatus.DOWN:
        flag = "use_sysprep" if payload.kind == SYSPREP else "use_cloud_init"
        init = initialization(spec, payload)
        conn.call(lambda s: conn.vm_service(s, v.id).start(
            **{flag: True}, vm=types.Vm(initialization=init)),
            vm=name, what=f"VM {name!r}",
            before_retry=lambda: (conn.vm_status(v.id, name) != types.VmStatus.DOWN, None))
        log.info("%s: started once with %s; waiting for the guest's power-off", name, flag)
    conn.wait_status(name, types.VmStatus.DOWN, timeout,
                     f"the guest to power itself off after {payload.kind}")


def finish_vm(conn: OvirtConnection, *, spec: VmSpec, timeout: float) -> None:
    """Stateless and the tc_user role, applied once the first boot is over."""
    name = spec.name
    v = conn.sdk_vm(name)
    if spec.stateless and not v.stateless:
        conn.call(lambda s: conn.vm_service(s, v.id).update(
            types.Vm(stateless=True)), vm=name, what=f"VM {name!r}")
    if spec.tc_user:
        user_id = find_user(conn, spec)
        perms = conn.call(lambda s: conn.vm_service(s, v.id).permissions_service().list(),
                          vm=name)
        if not any(p.user is not None and p.user.id == user_id for p in perms):
            grant(conn, v.id, name, user_id)
