"""The room status page of `vdictl report --html`: one self-contained HTML file
(inline CSS, no script, no external asset) that a phone shows well.

Names and reasons come from the config and the backend, so the template
escapes everything (Jinja2's autoescape, in its sandbox).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import List, Optional

PAGE = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>vdictl: {{ rooms|length }} room(s)
{%- if failed %}, {{ failed }} failed VM(s){% endif %}</title>
<style>
body { font-family: system-ui, -apple-system, "Segoe UI", sans-serif; margin: 0;
       background: #f4f5f7; color: #1d2127; font-size: 16px; }
header { background: #25303b; color: #fff; padding: 12px 16px; }
header h1 { font-size: 1.25em; margin: 0 0 4px; }
header p { margin: 0; font-size: .9em; opacity: .85; }
main { padding: 8px; max-width: 1100px; margin: 0 auto; }
.banner { background: #b3261e; color: #fff; padding: 10px 14px; border-radius: 6px;
          margin: 8px 0; }
section.room { background: #fff; border-radius: 8px; margin: 12px 0; padding: 12px;
               box-shadow: 0 1px 3px rgba(0,0,0,.12); border-left: 6px solid #2e7d32; }
section.room.bad { border-left-color: #b3261e; }
section.room.none { border-left-color: #9aa0a6; }
section.room h2 { font-size: 1.15em; margin: 0 0 6px; }
.summary { margin: 0 0 10px; }
.badge { display: inline-block; padding: 1px 8px; border-radius: 10px; font-size: .85em;
         font-weight: 600; background: #e0e0e0; }
.badge.ok { background: #d7f0da; color: #1b5e20; }
.badge.failed { background: #b3261e; color: #fff; }
table { border-collapse: collapse; width: 100%; }
th, td { text-align: left; padding: 6px 8px; border-bottom: 1px solid #e3e5e8;
         vertical-align: top; }
th { font-size: .8em; text-transform: uppercase; color: #5f6368; }
tr.failed td { background: #fde7e6; }
tr.failed td.vm { font-weight: 700; color: #8c1d18; }
.reason { display: block; color: #5f6368; font-size: .9em; }
tr.failed .reason { color: #8c1d18; }
td.when { white-space: nowrap; }
@media (max-width: 640px) {
  table, tbody, tr, td { display: block; width: 100%; box-sizing: border-box; }
  thead { display: none; }
  tr { border-bottom: 2px solid #e3e5e8; padding: 4px 0; }
  td { border: 0; padding: 2px 8px; }
  td::before { content: attr(data-label) ": "; color: #5f6368; font-size: .85em; }
  td.vm::before { content: ""; }
  td.nobody { display: none; }
}
</style>
</head>
<body>
<header>
<h1>Virtual rooms</h1>
<p>{{ rooms|length }} room(s), {{ vm_count }} VM(s){% if failed %},
<strong>{{ failed }} failed at their last reset</strong>{% endif %}.
As of {{ generated }}.</p>
</header>
<main>
{% if error %}<div class="banner" role="alert">The backend could not be asked for the
VMs' state: {{ error }}</div>{% endif %}
{% for room in rooms %}
<section class="room {{ room.css }}" id="room-{{ room.name }}">
<h2>{{ room.name }}</h2>
<p class="summary">{{ room.summary }}</p>
{% if room.desks %}<p class="summary desks">Desks: {{ room.desks }}.</p>{% endif %}
<table>
<thead><tr><th>VM</th><th>State</th><th>In use</th><th>IP</th><th>Last reset</th><th>Result</th>
</tr></thead>
<tbody>
{% for vm in room.vms %}
<tr class="{{ 'failed' if vm.failed else '' }}">
<td class="vm" data-label="VM">{{ vm.name }}</td>
<td data-label="State">{{ vm.state }}</td>
<td class="in-use{{ '' if vm.in_use else ' nobody' }}" data-label="In use">{{ vm.in_use }}</td>
<td data-label="IP">{{ vm.ip }}</td>
<td class="when" data-label="Last reset">{{ vm.reset_time }}</td>
<td data-label="Result"><span class="badge {{ vm.outcome_css }}">{{ vm.outcome_text }}</span>
{% if vm.reason %}<span class="reason">{{ vm.reason }}</span>{% endif %}</td>
</tr>
{% endfor %}
</tbody>
</table>
</section>
{% endfor %}
</main>
</body>
</html>
"""


@dataclass
class VmLine:
    name: str
    state: str
    ip: str
    reset_time: str = ""
    #: who is at the VM ("console 192.0.2.7 since 09:12", "?": cannot tell, "": nobody)
    in_use: str = ""
    #: the outcome of the VM's last reset ("" if none on record)
    outcome: str = ""
    reason: str = ""

    @property
    def failed(self) -> bool:
        return self.outcome in ("failed", "not-started")

    @property
    def outcome_text(self) -> str:
        return self.outcome.upper() if self.failed else (self.outcome or "no reset on record")

    @property
    def outcome_css(self) -> str:
        return "failed" if self.failed else ("ok" if self.outcome == "ok" else "")


@dataclass
class RoomBlock:
    name: str
    #: one line: the room's last reset, when, its result and counts
    summary: str
    #: "bad" (a VM failed), "none" (no reset on record) or "" (fine)
    css: str = ""
    vms: List[VmLine] = field(default_factory=list)
    #: "2 in use, 1 vacated (not yet reset), 5 idle" (records.occupancy.counts_text);
    #: "" when the room was never probed
    desks: str = ""


def render_page(rooms: List[RoomBlock], *, generated: str, error: Optional[str] = None) -> str:
    from jinja2.sandbox import SandboxedEnvironment

    env = SandboxedEnvironment(autoescape=True, trim_blocks=True, lstrip_blocks=True)
    return env.from_string(PAGE).render(
        rooms=rooms, generated=generated, error=error,
        vm_count=sum(len(room.vms) for room in rooms),
        failed=sum(1 for room in rooms for vm in room.vms if vm.failed))
