# SPDX-License-Identifier: GPL-3.0-or-later
"""Who may do what: the engine's roles, their permits, the permissions that
give a role to a user on the system, a cluster or a VM, and the check a
command makes before it runs.

As ovirt-engine has it:

* a role's permits are its action groups (``ActionGroup.java``), named in
  the REST API by their enum name in lower case (``PermitMapper.map``); the
  predefined roles hold those of ``packaging/dbscripts/data/
  00700_insert_roles_groups.sql`` (only the permits a VDI tool's commands
  need are modelled: the others change no answer here);
* a command checks its action group for the user on the object and on the
  objects above it (``CommandBase.checkUserAuthorization``: a VM inherits
  from its cluster and the system); refused, the REST API answers 403 with
  ``USER_NOT_AUTHORIZED_TO_PERFORM_ACTION`` (``EngineMessage``: ErrorType
  NO_PERMISSION -> ``ErrorMessageHelper.getStatus``: FORBIDDEN);
* a user's permissions (``GET /users/{id}/permissions``) are those given to
  them and to their groups (``GetPermissionsOnBehalfByAdElementIdQuery``;
  the simulator has no groups, so only the user's own);
* a VM added by a user who may not manipulate permissions on it makes its
  creator its UserVmManager (``AddVmCommand.addVmPermission``).
"""

from __future__ import annotations

from tests.ovirt_sim.state.entities import Entity
from tests.ovirt_sim.state.errors import EngineError

#: ActionGroup's enum names (lower case, as the API's permits are named)
CREATE_VM = "create_vm"
DELETE_VM = "delete_vm"
EDIT_VM_PROPERTIES = "edit_vm_properties"
CONFIGURE_VM_NETWORK = "configure_vm_network"
MANIPULATE_VM_SNAPSHOTS = "manipulate_vm_snapshots"
REBOOT_VM = "reboot_vm"
STOP_VM = "stop_vm"
SHUT_DOWN_VM = "shut_down_vm"
RUN_VM = "run_vm"
CREATE_TEMPLATE = "create_template"
MANIPULATE_PERMISSIONS = "manipulate_permissions"
LOGIN = "login"

_VM_OPERATOR = {CREATE_VM, DELETE_VM, EDIT_VM_PROPERTIES, CONFIGURE_VM_NETWORK,
                MANIPULATE_VM_SNAPSHOTS, REBOOT_VM, STOP_VM, SHUT_DOWN_VM, RUN_VM, LOGIN}

#: role name -> its permits (its id: entities.ROLES, from 00500_insert_roles.sql)
ROLE_PERMITS = {
    "SuperUser": frozenset(_VM_OPERATOR | {CREATE_TEMPLATE, MANIPULATE_PERMISSIONS}),
    "UserRole": frozenset({LOGIN, REBOOT_VM, RUN_VM, SHUT_DOWN_VM, STOP_VM}),
    "PowerUserRole": frozenset({LOGIN, CREATE_VM, CREATE_TEMPLATE}),
    "UserVmManager": frozenset(_VM_OPERATOR),
    # "with permissions for any operations on VMs except snapshot manipulation"
    "UserVmRunTimeManager": frozenset(_VM_OPERATOR - {MANIPULATE_VM_SNAPSHOTS}),
    "VmCreator": frozenset({LOGIN, CREATE_VM}),
}


class NotAuthorized(EngineError):
    def __init__(self):
        super().__init__("User is not authorized to perform this action.")


class Grant:
    """A permission: ``role`` (a role Entity) given to ``user`` (a user
    Entity) on ``target``: None (the system), or ("cluster", entity)."""

    def __init__(self, role, user, target=None):
        self.id = Entity("permission").id
        self.role, self.user, self.target = role, user, target


def permits_of(role):
    return ROLE_PERMITS.get(role.name, frozenset())


def held(engine, user_name, vm=None, cluster=None):
    """The permits ``user_name`` holds on ``vm`` (or on ``cluster``; on the
    system when neither): its permissions there and above."""
    found = set()
    for grant in engine.grants:
        if grant.user.user_name != user_name:
            continue
        if grant.target is None or (
                cluster is not None and grant.target == ("cluster", cluster)) or (
                vm is not None and grant.target == ("cluster", vm.cluster)):
            found |= permits_of(grant.role)
    if vm is not None:
        for perm in vm.permissions:
            if perm.user.user_name == user_name:
                found |= permits_of(perm.role)
    return found


def require(engine, user_name, permit, vm=None, cluster=None):
    """Raise NotAuthorized unless ``user_name`` holds ``permit`` there."""
    if user_name is not None and permit not in held(engine, user_name, vm, cluster):
        raise NotAuthorized()


def of_user(engine, user):
    """The permissions given to ``user`` (GetPermissionsOnBehalfByAdElementId),
    as (id, role, target) each: target None (the system), ("cluster", cluster)
    or ("vm", vm)."""
    found = [(g.id, g.role, g.target) for g in engine.grants if g.user is user]
    for vm in engine.inventory.vms.values():
        found.extend((p.id, p.role, ("vm", vm)) for p in vm.permissions if p.user is user)
    return found
