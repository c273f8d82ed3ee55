"""The template of the site status page (records/status_page.py renders it).

Compact by design: a site of 10,000 desks stays under 2 MB (a tile is one
<i> with its desk's name and state in its title, a desk's row leaves its
end tags out, and the labels of the phone's layout come from the CSS).
A failed desk's reason is said once, in its room's list of failed desks (desks
failed for one reason together), not again in its row; a desk's last reset
is its time of day when it was today. Tiles say their state by a sign as well
as by colour (✕ failed, ● in use, – skipped, a hollow tile not reset), and
the legend says which is which.
"""

PAGE = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>vdictl: {{ headline }}</title>
<style>
body { font-family: system-ui, -apple-system, "Segoe UI", sans-serif; margin: 0;
       background: #f4f5f7; color: #1d2127; font-size: 16px; }
header { background: #1b5e20; color: #fff; padding: 10px 16px; }
header.bad { background: #8c1d18; }
header.none { background: #25303b; }
header h1 { font-size: 1.3em; margin: 0 0 4px; }
header ul { list-style: none; margin: 0; padding: 0; font-size: .9em; }
ul.legend { display: flex; flex-wrap: wrap; gap: 2px 14px; margin-top: 6px; }
ul.legend li { display: flex; align-items: center; gap: 5px; }
main { padding: 4px 8px; max-width: 1100px; margin: 0 auto; }
h2 { font-size: 1em; text-transform: uppercase; color: #5f6368; margin: 14px 4px 6px; }
.banner { background: #b3261e; color: #fff; padding: 10px 14px; border-radius: 6px;
          margin: 8px 0; }
.room { background: #fff; border-radius: 6px; margin: 6px 0;
        box-shadow: 0 1px 3px rgba(0,0,0,.12); border-left: 6px solid #2e7d32; }
section.room { border-left-color: #b3261e; padding: 10px 12px; }
section.room h3 { font-size: 1.15em; margin: 0 0 4px; }
.room summary { display: flex; flex-wrap: wrap; align-items: center; gap: 4px 12px;
                padding: 8px 12px; cursor: pointer; list-style: none; }
.room summary::-webkit-details-marker { display: none; }
details.room > summary::before { content: "\\25B8"; color: #5f6368; }
details.room[open] > summary::before { content: "\\25BE"; }
.name { font-weight: 700; min-width: 5.5em; }
.facts { color: #3c4043; }
.problem { color: #8c1d18; margin: 4px 0; font-weight: 600; }
ul.failed { margin: 6px 0 8px; padding-left: 1.2em; }
ul.failed li { margin: 3px 0; }
ul.failed b { color: #8c1d18; }
.reason { color: #5f6368; overflow-wrap: anywhere; }
.g { display: inline-flex; flex-direction: column; gap: 5px; margin-left: auto; }
.r { display: flex; flex-wrap: wrap; gap: 3px; max-width: 187px; }
i.o, i.f, i.u, i.s, i.n { display: inline-block; width: 16px; height: 16px;
  border-radius: 3px; box-sizing: border-box; font: 700 11px/16px sans-serif;
  text-align: center; font-style: normal; color: #fff; }
i.o { background: #2e7d32; }
i.f { background: #b3261e; }
i.f::after { content: "\\2715"; }
i.u { background: #1565c0; }
i.u::after { content: "\\25CF"; font-size: 8px; vertical-align: top; }
i.s { background: #9aa0a6; }
i.s::after { content: "\\2013"; }
i.n { background: #fff; border: 2px solid #5f6368; }
section.room .g { margin: 4px 0; }
details.desks summary { padding: 4px 0; color: #1a56a8; }
.room > table { margin: 0 12px 10px; width: calc(100% - 24px); }
table { border-collapse: collapse; width: 100%; font-size: .95em; }
th, td { text-align: left; padding: 4px 8px; border-bottom: 1px solid #e3e5e8;
         vertical-align: top; }
th { font-size: .8em; text-transform: uppercase; color: #5f6368; }
tr.f td { background: #fde7e6; }
tr.f td:first-child { font-weight: 700; color: #8c1d18; }
td:nth-child(5) { white-space: nowrap; }
@media (max-width: 640px) {
  .g { margin-left: 0; flex-basis: 100%; }
  table, tbody, tr { display: block; }
  thead { display: none; }
  tr { border-bottom: 1px solid #e3e5e8; padding: 4px 0; }
  td { display: inline; border: 0; padding: 0; }
  td:first-child { font-weight: 700; }
  td:empty { display: none; }
  td + td::before { content: " \\00B7  "; color: #9aa0a6; }
  td:nth-child(3)::before { content: " \\00B7  in use: "; }
  td:nth-child(5)::before { content: " \\00B7  reset "; }
}
</style>
</head>
{% macro grid(room) %}
<span class="g">{% for row in room.seating() %}<span class="r">
{% for vm in row %}
<i class="{{ vm.tile_css }}" role="img" title="{{ vm.tile_label }}"></i>
{%- endfor %}
</span>{% endfor %}</span>
{% endmacro %}
{% macro desks(room) %}
<table>
<thead><tr><th>Desk</th><th>State</th><th>In use</th><th>IP</th><th>Last reset</th><th>Result</th>
</tr></thead>
<tbody>
{% for vm in room.vms %}
<tr{% if vm.failed %} class="f"{% endif %}><td>{{ vm.name }}<td>{{ vm.state }}<td>{{ vm.in_use -}}
<td>{{ vm.ip }}<td>{{ vm.reset_time }}<td>{{ vm.outcome_text -}}
{% if vm.reason and not vm.failed %} <span class="reason">{{ vm.reason }}</span>{% endif %}</tr>
{% endfor %}
</tbody>
</table>
{% endmacro %}
<body>
<header class="{{ 'bad' if attention or site.error else ('' if site.rooms else 'none') }}">
<h1>{{ headline }}</h1>
<ul class="site-facts">
{% for fact in site_facts %}<li>{{ fact }}</li>
{% endfor %}
</ul>
<ul class="legend" aria-label="Desk tiles">
{% for key, tile in tiles.items() %}
<li><i class="{{ tile[0] }}" aria-hidden="true"></i>{{ tile[1] }} {{ counts[key] }}</li>
{% endfor %}
</ul>
</header>
<main>
{% if site.error %}<div class="banner" role="alert">The backend could not be asked for the
VMs' state: {{ site.error }}</div>{% endif %}
{% if attention %}<h2>Needs attention</h2>
{% for room in attention %}
<section class="room" id="room-{{ room.name }}">
<h3>{{ room.name }}</h3>
<p class="facts">{{ facts[room.name]|join(" · ") }}</p>
{% for problem in room.problems %}<p class="problem">{{ problem }}</p>
{% endfor %}
{% if room.failed_vms %}<ul class="failed">
{% for names, reason in room.failures() %}
<li><b>{{ names|join(", ") }}</b> <span class="reason">{{ reason }}</span></li>
{% endfor %}
</ul>{% endif %}
{{ grid(room) }}
<details class="desks"><summary>All {{ room.vms|length }} desks</summary>
{{ desks(room) }}
</details>
</section>
{% endfor %}
{% endif %}
{% if others %}<h2>{{ "Other rooms" if attention else "Rooms" }}</h2>
{% for room in others %}
<details class="room" id="room-{{ room.name }}"><summary><span class="name">{{ room.name }}</span>
<span class="facts">{{ facts[room.name]|join(" · ") }}</span>
{{ grid(room) }}</summary>
{{ desks(room) }}
</details>
{% endfor %}
{% endif %}
</main>
</body>
</html>
"""
