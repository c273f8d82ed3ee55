"""The corpus of broken and hostile configs and command lines.

Each case is a config file (text) and a command line. Run through the real
CLI, each must end with its exit status and exactly one line on stderr
that names the file, the section and the key (where the problem has
them). ``MARKER`` in a config stands for a file that injected code would
create; ``SECRET`` for a password that must never be shown.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Optional, Tuple

SECRET = "hunter2-Corpus-Secret"

CONNECT = """\
[general]
    [[connect]]
    uri = "test:///default"
"""

#: The keys of the one subsection of room r1, before a case changes them.
VM_KEYS = {
    "ids": '"1-2"',
    "names": '"${roomname}-vd${id}"',
    "template_name": "tmpl",
}


def room(name: str = "r1", sub: str = "vms", **keys: Optional[str]) -> str:
    """[room NAME] [[SUB]] with VM_KEYS changed by ``keys`` (None removes a key).

    Values are written as given: quote them in the argument when needed.
    """
    values = dict(VM_KEYS)
    for key, value in keys.items():
        if value is None:
            values.pop(key, None)
        else:
            values[key] = value
    body = "".join(f"    {k} = {v}\n" for k, v in values.items())
    return f"[room {name}]\n    [[{sub}]]\n{body}"


def config(**keys: Optional[str]) -> str:
    """A libvirt config with room r1 changed by ``keys``."""
    return CONNECT + room(**keys)


def throttle(**keys: str) -> str:
    body = "".join(f"    {k} = {v}\n" for k, v in keys.items())
    return CONNECT + "    [[throttle]]\n" + body + room()


def connect(*lines: str) -> str:
    body = "".join(f"    {line}\n" for line in lines)
    return "[general]\n    [[connect]]\n" + body + room()


OVIRT = ("url = https://engine.invalid/ovirt-engine/api", "username = admin@internal")


@dataclass(frozen=True)
class Case:
    id: str
    config: str
    #: the error line must contain these, in this order (file comes first)
    section: Optional[str] = None       # "room r1/vms" -> "[room r1/vms]"
    key: Optional[str] = None
    text: str = ""                      # a fragment of the message
    exit: int = 2
    #: a command that acts on every room: it checks the whole config before it
    #: touches a VM (plain `vdictl rooms` reads the room titles only)
    args: Tuple[str, ...] = ("virtroom-reset", "--all", "--dry-run")
    #: the message names the config file (false for some command-line errors)
    names_file: bool = True
    #: prepares tmp_path (extra files, modes); gets (tmp_path, config_path)
    setup: Optional[Callable] = field(default=None, compare=False)
    #: mode of the config file (private, so that no permission warning is printed)
    mode: int = 0o600
    #: root reads any file: a "permission denied" case cannot be made as root
    needs_non_root: bool = False


def _world_readable_password_file(tmp_path, config_path):
    secret = tmp_path / "engine.pw"
    secret.write_text(SECRET + "\n")
    secret.chmod(0o644)


def _private_password_file(tmp_path, config_path):
    secret = tmp_path / "engine.pw"
    secret.write_text(SECRET + "\n")
    secret.chmod(0o600)


def _unreadable_password_file(tmp_path, config_path):
    _private_password_file(tmp_path, config_path)
    (tmp_path / "engine.pw").chmod(0o000)


CASES = (
    # --- syntax errors ---------------------------------------------------
    Case("unclosed-quote", config(names='"${roomname}-vd${id}'),
         "room r1/vms", "names", "Parse error in value"),
    Case("line-without-equals", config(names='"x"\n    template tmpl'),
         "room r1/vms", None, "Invalid line"),
    Case("duplicate-key", config(ids='"1-2"\n    ids = 3'),
         "room r1/vms", "ids", "Duplicate keyword name"),
    Case("duplicate-room", CONNECT + room() + room(),
         None, None, "Duplicate section name: '[room r1]'"),
    Case("broken-subsection-header", CONNECT + "[room r1]\n    [[vms]\n    ids = 1\n",
         "room r1", None, "Cannot compute the section depth"),
    Case("section-too-nested", CONNECT + "[room r1]\n    [[[vms]]]\n    ids = 1\n",
         "room r1", None, "Section too nested"),
    Case("unclosed-triple-quote", config(names="'''${roomname}"),
         "room r1/vms", "names", "Parse error in multiline value"),
    Case("not-utf8", CONNECT + "# caf\udce9\n" + room(), None, None, "not valid UTF-8"),
    # --- missing sections and keys ----------------------------------------
    Case("no-general", room(), None, None, "missing [general] section"),
    Case("no-connect", "[general]\n" + room(), "general", None, "missing [[connect]]"),
    Case("room-without-subsection", CONNECT + "[room r1]\n    ids = 1\n",
         "room r1", None, "has no subsections"),
    Case("room-without-name", CONNECT + room().replace("[room r1]", "[room ]"),
         "room", None, "a room needs a name"),
    Case("missing-ids", config(ids=None), "room r1/vms", "ids", "missing required key"),
    Case("missing-names", config(names=None), "room r1/vms", "names",
         "missing required key"),
    Case("missing-template", config(template_name=None), "room r1/vms", "template_name",
         "missing required key"),
    Case("no-driver", connect("pool = default"), "general/connect", "driver",
         "set driver = ovirt|libvirt"),
    Case("ovirt-without-url", connect("driver = ovirt"), "general/connect", "url",
         "the ovirt driver needs url"),
    # --- wrong types ----------------------------------------------------
    Case("int-not-a-number", throttle(parallel="many"), "general/throttle", "parallel",
         "'many' is not a whole number"),
    Case("float-nan", throttle(snapshot_batch_pause="nan"), "general/throttle",
         "snapshot_batch_pause", "'nan' is not a number"),
    Case("int-below-minimum", throttle(parallel="0"), "general/throttle", "parallel",
         "0 is less than 1"),
    Case("int-too-many-digits", throttle(parallel="9" * 5000), "general/throttle",
         "parallel", "is not a whole number"),
    Case("netmask-above-32", config(netmask_suffix="33"), "room r1/vms", "netmask_suffix",
         "33 is more than 32"),
    Case("bool-maybe", connect('uri = "test:///default"', "insecure = maybe"),
         "general/connect", "insecure", "'maybe' is not a boolean"),
    Case("choice-unknown", config(reset_startvm="Sometimes"), "room r1/vms",
         "reset_startvm", "'Sometimes' is not one of Always, Auto, Never"),
    Case("driver-unknown", connect("driver = vmware"), "general/connect", "driver",
         "'vmware' is not one of ovirt, libvirt, proxmox"),
    Case("gateway-not-ip", config(default_gateway="300.1.1.1"), "room r1/vms",
         "default_gateway", "'300.1.1.1' is not an IP address"),
    Case("list-for-a-scalar", config(template_name="tmpl, other"), "room r1/vms",
         "template_name", "a single value is expected, not a list"),
    # --- ids: no code, no huge ranges --------------------------------------------
    Case("ids-import-os", config(ids="\"__import__('os').system('touch MARKER')\""),
         "room r1/vms", "ids", "only range(start, stop[, step]) may be called"),
    Case("ids-lambda", config(ids='"(lambda: 0)()"'), "room r1/vms", "ids",
         "only range(start, stop[, step]) may be called"),
    Case("ids-attribute-call", config(ids="\"().__class__.__base__.__subclasses__()\""),
         "room r1/vms", "ids", "only range(start, stop[, step]) may be called"),
    Case("ids-power", config(ids='"range(1, 10**9)"'), "room r1/vms", "ids",
         "not allowed here (BinOp)"),
    Case("ids-too-many", config(ids='"range(0, 100000)"'), "room r1/vms", "ids",
         "more than 10000"),
    Case("ids-backwards", config(ids='"10-1"'), "room r1/vms", "ids", "runs backwards"),
    Case("ids-twice", config(ids='"[1, 1]"'), "room r1/vms", "ids", "id 1 appears twice"),
    Case("ids-5000-digits", config(ids='"1-' + "9" * 5000 + '"'), "room r1/vms", "ids",
         "value is too long"),
    Case("ids-nested-brackets", config(ids='"' + "[" * 60 + "1" + "]" * 60 + '"'),
         "room r1/vms", "ids", "not allowed here (List)"),
    Case("ids-deep-unary", config(ids='"[' + "-" * 200 + '1]"'),
         "room r1/vms", "ids", "nested more than 50 deep"),
    Case("ids-syntax", config(ids='"range(1,"'), "room r1/vms", "ids", "cannot parse"),
    # --- memory --------------------------------------------------------------
    Case("memory-import-os", config(memory="\"__import__('os').system('touch MARKER')\""),
         "room r1/vms", "memory", "not allowed here (Call)"),
    Case("memory-open-file", config(memory="\"len(open('/etc/passwd').read())\""),
         "room r1/vms", "memory", "not allowed here (Call)"),
    Case("memory-deep-unary", config(memory='"' + "-" * 900 + '1"'), "room r1/vms",
         "memory", "nested more than 50 deep"),
    Case("memory-power", config(memory='"2 ** 70"'), "room r1/vms", "memory",
         "not allowed here (BinOp)"),
    Case("memory-unknown-unit", config(memory='"4 ZiB"'), "room r1/vms", "memory",
         "unknown unit 'ZiB'"),
    Case("memory-too-large", config(memory='"100 TiB"'), "room r1/vms", "memory",
         "more than 64 TiB"),
    # --- templates: the sandbox holds ------------------------------------------
    Case("jinja-lipsum-globals",
         config(names="\"{{ lipsum.__globals__['os'].system('touch MARKER') }}\""),
         "room r1/vms", "names", "is not allowed"),
    Case("jinja-cycler-popen",
         config(names="\"{{ cycler.__init__.__globals__.os.popen('touch MARKER') }}\""),
         "room r1/vms", "names", "is not allowed"),
    Case("jinja-subclasses",
         config(snapshot_description="\"{{ ''.__class__.__mro__[1].__subclasses__() }}\""),
         "room r1/vms", "snapshot_description", "is not allowed"),
    Case("jinja-attr-filter", config(names="\"{{ roomname|attr('__class__') }}\""),
         "room r1/vms", "names", "filter 'attr' is not allowed"),
    Case("jinja-getitem-method", config(names="\"{{ roomname['format'] }}-$id\""),
         "room r1/vms", "names", "only [number] and [start:stop]"),
    Case("jinja-include-file", config(names="\"{% include '/etc/passwd' %}\""),
         "room r1/vms", "names", "{% include %} is not allowed"),
    Case("jinja-import", config(names="\"{% from 'os' import system %}\""),
         "room r1/vms", "names", "{% from %} is not allowed"),
    Case("jinja-loop-bomb",
         config(names='"{% for i in range(100000) %}{% for j in range(100000) %}x'
                      '{% endfor %}{% endfor %}"'),
         "room r1/vms", "names", "{% for %} is not allowed"),
    Case("jinja-set-doubling",
         config(snapshot_description="\"{% set a = 'x' * 9000 %}{{ a ~ a ~ a }}\""),
         "room r1/vms", "snapshot_description", "{% set %} is not allowed"),
    Case("jinja-printf-bomb", config(ip_addresses="\"{{ '%999999999d' % 1 }}\""),
         "room r1/vms", "ip_addresses", "printf-style % formatting is not allowed"),
    Case("jinja-repeat-bomb", config(names="\"{{ 'x' * 100000000 }}\""),
         "room r1/vms", "names", "repetition result is too large"),
    Case("jinja-method-call", config(names='"{{ roomname.ljust(1000000000) }}"'),
         "room r1/vms", "names", "calling a function is not allowed"),
    Case("jinja-center-filter", config(names='"{{ roomname|center(1000000000) }}"'),
         "room r1/vms", "names", "filter 'center' is not allowed"),
    Case("jinja-syntax", config(names='"{{ roomname"'), "room r1/vms", "names",
         "syntax error"),
    Case("template-unknown-variable", config(names='"${roomname}-${nosuch}"'),
         "room r1/vms", "names", "unknown variable 'nosuch'"),
    Case("template-no-suffix", config(ip_addresses='"192.0.2.${suffix}"'),
         "room r1/vms", "ip_addresses", "set ip_addresses_suffix"),
    Case("ip-out-of-range", config(ip_addresses='"192.0.2.${suffix}"',
                                   ip_addresses_suffix="300"),
         "room r1/vms", "ip_addresses", "'192.0.2.300' is not a valid IP address"),
    # --- regular expressions ---------------------------------------------------
    Case("regex-invalid", config(reset_to_snapshot_regex='"vdictl ("'), "room r1/vms",
         "reset_to_snapshot_regex", "invalid regular expression"),
    # patterns that need backtracking: RE2, which matches in linear time, has no
    # lookarounds or backreferences ((a+)+$ and the like are fine: linear there)
    Case("regex-lookahead", config(reset_to_snapshot_regex='"(?=vdictl)v.*"'), "room r1/vms",
         "reset_to_snapshot_regex", "invalid perl operator at '(?=' (vdictl matches with RE2"),
    Case("regex-backreference", config(reset_to_snapshot_regex='"(a)\\1"'), "room r1/vms",
         "reset_to_snapshot_regex", "invalid escape sequence at '\\\\1' (vdictl matches with RE2"),
    Case("regex-too-long", config(reset_to_snapshot_regex='"' + "a" * 1001 + '"'),
         "room r1/vms", "reset_to_snapshot_regex", "regular expression is too long"),
    # --- VM names --------------------------------------------------------------
    Case("name-slash", config(names='"${roomname}/${id}"'), "room r1/vms", "names",
         "VM name 'r1/01' (id 1) is invalid"),
    Case("name-space", config(names='"${roomname} ${id}"'), "room r1/vms", "names",
         "VM name 'r1 01' (id 1) is invalid"),
    Case("name-leading-dash", config(names='"-vd${id}"'), "room r1/vms", "names",
         "VM name '-vd01' (id 1) is invalid"),
    Case("name-non-ascii", config(names='"pc-é${id}"'), "room r1/vms", "names",
         "VM name 'pc-é01' (id 1) is invalid"),
    Case("name-newline", config(names="\"{{ roomname ~ '\\n' ~ id }}\""), "room r1/vms",
         "names", "VM name 'r1\\n01' (id 1) is invalid"),
    Case("name-too-long", config(names='"' + "n" * 70 + '${id}"'), "room r1/vms",
         "names", "is 72 characters long"),
    Case("name-huge", config(names="\"{{ 'n' * 9000 }}$id\""), "room r1/vms", "names",
         "is 9002 characters long"),
    Case("name-twice-in-subsection", config(names='"pc"'), "room r1/vms", "names",
         "VM name 'pc' is defined twice"),
    Case("name-twice-across-rooms",
         CONNECT + room("a", names='"pc-${id}"') + room("b", names='"pc-${id}"'),
         "room b/vms", "names", "VM name 'pc-01' is defined twice: in [room a/vms]"),
    Case("name-twice-across-subsections",
         CONNECT + room(sub="one") + "    [[two]]\n    ids = 2\n"
         "    names = \"${roomname}-vd${id}\"\n    template_name = tmpl\n",
         "room r1/two", "names", "VM name 'r1-vd02' is defined twice"),
    # --- guard rails: mistakes that used to load and do nothing (issue 12) -----
    Case("memory-2048-bytes", config(memory="2048"), "room r1/vms", "memory",
         'memory = 2048 is 2048 bytes (2 KiB); a VM needs at least 32 MiB: did you mean '
         '"2048MiB"?'),
    Case("memory-64-bytes", config(memory="64"), "room r1/vms", "memory",
         'memory = 64 is 64 bytes; a VM needs at least 32 MiB: did you mean "64MiB" or '
         '"64GiB"?'),
    Case("key-typo-snapshot-description",
         config(snapshot_descripton='"r1 clean"', reset_to_snapshot_regex='"r1 clean"'),
         "room r1/vms", "snapshot_descripton",
         "unknown key; did you mean 'snapshot_description'?"),
    Case("key-in-the-wrong-section", throttle(uri='"qemu:///system"'), "general/throttle",
         "uri", "uri is not a key of [general] [[throttle]]; it belongs in [general] "
         "[[connect]] or [connect NAME] or [room NAME] [[subsection]]"),
    Case("single-bracket-subsection",
         CONNECT + room(sub="students") + "[teacher_vms]\n    ids = 9\n"
         '    names = "${roomname}-teacher${id}"\n    template_name = tmpl\n',
         "teacher_vms", None, "a single-bracket section ends [room r1], so these VMs belong "
         "to no room and would be ignored; write [[teacher_vms]] inside [room r1]"),
    Case("regex-without-snapshot-description", config(reset_to_snapshot_regex='"r1 clean"'),
         "room r1/vms", "snapshot_description",
         "missing while reset_to_snapshot_regex is set: rollout would take no snapshot and "
         "every reset would skip these VMs"),
    Case("regex-misses-its-description",
         config(ip_addresses='"192.0.2.${suffix}"', ip_addresses_suffix="11",
                snapshot_description='"lab1 clean, IP=${ip}"',
                reset_to_snapshot_regex='"lab1 clean .*"'),
         "room r1/vms", "reset_to_snapshot_regex",
         "'lab1 clean .*' does not match the snapshot description of VM r1-vd01, 'lab1 clean, "
         "IP=192.0.2.11', so every reset of it would fail; write e.g. reset_to_snapshot_regex "
         '= "^lab1 clean, IP=.*"'),
    Case("ip-twice", CONNECT + room(sub="students", ids='"1-4"', ip_addresses_suffix="11",
                                    ip_addresses='"192.0.2.${suffix}"')
         + '    [[teacher]]\n    ids = 1\n    names = "${roomname}-teacher${id}"\n'
         '    template_name = tmpl\n    ip_addresses = "192.0.2.${suffix}"\n'
         "    ip_addresses_suffix = 12\n",
         "room r1/teacher", "ip_addresses_suffix",
         "IP 192.0.2.12 is given twice: to VM r1-vd02 in [room r1/students] and to VM "
         "r1-teacher01 in [room r1/teacher]; give each VM its own IP"),
    Case("ids-unknown-form", config(ids='"1..10"'), "room r1/vms", "ids",
         "cannot parse '1..10'; write ids as \"range(1,10+1)\", \"[1,2,3]\", \"1-10\", "
         '"1-4,7", 5 or 1, 2, 3'),
    # --- secrets --------------------------------------------------------------
    Case("password-file-missing", connect(*OVIRT, 'password_file = "nosuch.pw"'),
         "general/connect", "password_file", "does not exist"),
    Case("password-file-unreadable", connect(*OVIRT, 'password_file = "engine.pw"'),
         "general/connect", "password_file", "cannot be read",
         setup=_unreadable_password_file, needs_non_root=True),
    Case("password-and-file", connect(*OVIRT, f"password = {SECRET}",
                                      'password_file = "engine.pw"'),
         "general/connect", "password_file", "set password or password_file, not both"),
    Case("password-line-without-equals", connect(*OVIRT, f'password "{SECRET}"'),
         "general/connect", None, "the line is not shown"),
    Case("password-unclosed-quote", connect(*OVIRT, f'password = "{SECRET}'),
         "general/connect", "password", "the line is not shown"),
    Case("password-as-list", connect(*OVIRT, f"password = {SECRET},{SECRET}"),
         "general/connect", "password", "a single value is expected"),
    Case("password-readable-strict", connect(*OVIRT, f"password = {SECRET}"),
         "general/connect", "password", "is readable by group and others (mode 0644); "
         "run: chmod 600", args=("--strict-permissions", "virtroom-reset", "--all", "--dry-run"), mode=0o644),
    Case("password-file-readable-strict", connect(*OVIRT, 'password_file = "engine.pw"'),
         "general/connect", "password_file", "is readable by group and others",
         args=("--strict-permissions", "virtroom-reset", "--all", "--dry-run"), setup=_world_readable_password_file),
    # --- command lines ------------------------------------------------------
    Case("unknown-room", config(), None, None, "unknown room 'nosuch'",
         args=("virtroom-show", "nosuch")),
    Case("unknown-room-among-known", config(), None, None, "unknown room 'r2'",
         args=("virtroom-reset", "--dry-run", "r1", "r2")),
    Case("rooms-and-all", config(), None, None, "give room names or --all, not both",
         args=("virtroom-start", "--all", "r1"), names_file=False),
    Case("no-room", config(), None, None, "no room given", args=("virtroom-shutdown",),
         names_file=False),
    Case("delete-without-yes", config(), None, None, "refusing to delete without --yes",
         args=("virtroom-delete", "r1"), names_file=False),
    Case("uri-with-ovirt", connect(*OVIRT, "password_file = engine.pw"), None, None,
         "--uri is for the libvirt driver", args=("--uri", "test:///default", "virtroom-show", "r1"),
         setup=_private_password_file),
)
