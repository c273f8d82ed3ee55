"""The site status page of `vdictl report --html`: one self-contained HTML file
(inline CSS, no script, no external asset) that leads with the answer.

The page is, in order: the site in one line ("All 10 rooms reset at
01:12–01:58", or "3 rooms need attention") with the site's facts and a
legend of the desk tiles; the rooms that need attention, each with its
failed desks and their reasons named; then every other room as one line
(its facts and its seating grid of tiles) that opens to its desks.

Other views add to it without changing the layout: a line of a room is
built from `RoomBlock.facts` after the reset's own facts (`room_facts`), a
room needs attention for each of its `problems`, and the site header lists
`SitePage.facts` after its own (`site_facts`).

Names and reasons come from the config and the backend, so the template
escapes everything (Jinja2's autoescape, in its sandbox, with StrictUndefined).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Dict, List, Optional, Tuple

#: the tile of a desk: (CSS class, the word the page shows), in the legend's order
TILES: Dict[str, Tuple[str, str]] = {
    "ok": ("o", "ok"),
    "failed": ("f", "failed"),
    "in-use": ("u", "in use"),
    "skipped": ("s", "skipped"),
    "not-reset": ("n", "not reset"),
}
FAILING = ("failed", "not-started")


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
    #: the [[subsection]] of its room: each starts a row of the seating grid
    subsection: str = ""

    @property
    def failed(self) -> bool:
        return self.outcome in FAILING

    @property
    def tile(self) -> str:
        """The key of its tile in TILES: failed before in use before the last outcome."""
        if self.failed:
            return "failed"
        if self.in_use and self.in_use != "?":
            return "in-use"
        if self.outcome in ("ok", "skipped"):
            return self.outcome
        return "not-reset"

    @property
    def tile_css(self) -> str:
        return TILES[self.tile][0]

    @property
    def tile_label(self) -> str:
        """The tile's text (title): "lab1-vd02: failed"."""
        return f"{self.name}: {TILES[self.tile][1]}"

    @property
    def short_reason(self) -> str:
        """The reason without the "VM NAME: " it starts with, where the desk is named."""
        prefix = f"VM {self.name}: "
        return self.reason[len(prefix):] if self.reason.startswith(prefix) else self.reason

    @property
    def outcome_text(self) -> str:
        return self.outcome.upper() if self.failed else (self.outcome or "no reset on record")


@dataclass
class RoomBlock:
    name: str
    vms: List[VmLine] = field(default_factory=list)
    #: when its last reset ended (or started, if it is running); None: none on record
    reset_at: Optional[float] = None
    #: the result of its last reset: ok, failed, running, unfinished; "": none on record
    reset_result: str = ""
    #: why the room needs attention, besides failed desks ("no reset on record", the
    #: run's error); other views add theirs
    problems: List[str] = field(default_factory=list)
    #: more facts for the room's line, after the reset's; other views add theirs
    facts: List[str] = field(default_factory=list)
    #: False: a room vdictl does not reset (stateless, or no snapshot configured)
    resettable: bool = True

    @property
    def failed_vms(self) -> List[VmLine]:
        return [vm for vm in self.vms if vm.failed]

    @property
    def attention(self) -> bool:
        return bool(self.problems or self.failed_vms or self.reset_result == "failed")

    def failures(self) -> List[Tuple[List[str], str]]:
        """The failed desks grouped by reason: ([desks], reason), in desk order.
        Desks whose reasons differ only by their own name are one group (an
        engine down fails a room's 25 desks for one reason), its reason said
        with "…" for the names."""
        groups: Dict[str, Tuple[List[str], str]] = {}
        for vm in self.failed_vms:
            reason = vm.short_reason or "(no reason on record)"
            key = reason.replace(vm.name, "\0")
            if key in groups:
                groups[key][0].append(vm.name)
            else:
                groups[key] = ([vm.name], reason)
        return [(names, reason if len(names) == 1 else reason.replace(names[0], "…"))
                for names, reason in groups.values()]

    def seating(self) -> List[List[VmLine]]:
        """The desks in config order, a row of the grid per subsection."""
        rows: List[List[VmLine]] = []
        for vm in self.vms:
            if not rows or rows[-1][-1].subsection != vm.subsection:
                rows.append([])
            rows[-1].append(vm)
        return rows


@dataclass
class SitePage:
    rooms: List[RoomBlock]
    #: when the page was made (seconds since the epoch)
    generated: float
    #: the backend could not be asked: why (the page comes from the records alone)
    error: Optional[str] = None
    #: more lines under the site's headline, after its own; other views add theirs
    facts: List[str] = field(default_factory=list)


def clock(seconds: float, today: float) -> str:
    """"01:12" on the day of `today`, else "2026-12-05 01:12"."""
    moment, now = time.localtime(seconds), time.localtime(today)
    if moment[:3] == now[:3]:
        return time.strftime("%H:%M", moment)
    return time.strftime("%Y-%m-%d %H:%M", moment)


def desk_time(seconds: Optional[float], today: float) -> str:
    """A desk's last reset: "01:12:03" on the day of `today`, else with its date."""
    if seconds is None:
        return ""
    moment = time.localtime(seconds)
    if moment[:3] == time.localtime(today)[:3]:
        return time.strftime("%H:%M:%S", moment)
    return time.strftime("%Y-%m-%d %H:%M:%S", moment)


def span(first: float, last: float, today: float) -> str:
    """"at 01:12–01:58", "on 2026-12-05 at 23:50–01:58" (within a day), or
    "between 2026-11-28 01:12 and 2026-12-06 01:58"."""
    if last - first >= 24 * 3600:
        return f"between {clock(first, 0)} and {clock(last, 0)}"
    start, end = (time.strftime("%H:%M", time.localtime(t)) for t in (first, last))
    times = start if start == end else f"{start}–{end}"
    if time.localtime(last)[:3] == time.localtime(today)[:3]:
        return f"at {times}"
    return f"on {time.strftime('%Y-%m-%d', time.localtime(first))} at {times}"


def plural(count: int, word: str) -> str:
    return f"{count} {word}" if count == 1 else f"{count} {word}s"


def headline(site: SitePage) -> str:
    """The site in one line: what needs attention, else when all was reset."""
    rooms = site.rooms
    attention = sum(1 for room in rooms if room.attention)
    if attention:
        return f"{plural(attention, 'room')} {'needs' if attention == 1 else 'need'} attention"
    running = sum(1 for room in rooms if room.reset_result == "running")
    if running:
        return f"Reset under way in {running} of {plural(len(rooms), 'room')}"
    reset = [room.reset_at for room in rooms if room.reset_at is not None]
    if not reset:
        return f"{plural(len(rooms), 'room')}, none reset by vdictl"
    # a room vdictl does not reset, without a reset on record, is as it should be
    everyone = "All " if len(reset) > 1 and all(
        room.reset_at is not None or not room.resettable for room in rooms) else ""
    return (f"{everyone}{plural(len(reset), 'room')} reset "
            f"{span(min(reset), max(reset), site.generated)}")


def tile_counts(vms: List[VmLine]) -> Dict[str, int]:
    counts = {key: 0 for key in TILES}
    for vm in vms:
        counts[vm.tile] += 1
    return counts


def counts_text(vms: List[VmLine]) -> str:
    """"24 ok, 1 failed" (the states no desk is in left out); "no desks"."""
    counts = tile_counts(vms)
    return ", ".join(f"{n} {TILES[key][1]}" for key, n in counts.items() if n) or "no desks"


def room_facts(room: RoomBlock, today: float) -> List[str]:
    """The facts of the room's line: its last reset, its desks, then the room's own."""
    if room.reset_at is None:
        reset = "no reset on record" if room.resettable else "not reset by vdictl"
    else:
        result = "" if room.reset_result == "ok" else f": {room.reset_result}"
        reset = f"reset {clock(room.reset_at, today)}{result}"
    return [reset, counts_text(room.vms)] + list(room.facts)


def site_facts(site: SitePage) -> List[str]:
    """The lines under the headline: the site's size, the reset times when the
    headline does not say them, when the page was made, then the site's own."""
    vms = [vm for room in site.rooms for vm in room.vms]
    facts = [f"{plural(len(site.rooms), 'room')}, {plural(len(vms), 'desk')}: "
             f"{counts_text(vms)}"]
    reset = [room.reset_at for room in site.rooms if room.reset_at is not None]
    times = span(min(reset), max(reset), site.generated) if reset else ""
    if times and not headline(site).endswith(times):
        facts.append(f"Last resets {times}")
    facts.append(f"As of {time.strftime('%Y-%m-%d %H:%M:%S', time.localtime(site.generated))}")
    return facts + list(site.facts)


def render_page(site: SitePage) -> str:
    from jinja2 import StrictUndefined
    from jinja2.sandbox import SandboxedEnvironment

    from .status_page_html import PAGE

    env = SandboxedEnvironment(autoescape=True, trim_blocks=True, lstrip_blocks=True,
                               undefined=StrictUndefined)
    vms = [vm for room in site.rooms for vm in room.vms]
    return env.from_string(PAGE).render(
        site=site, headline=headline(site), site_facts=site_facts(site),
        attention=[room for room in site.rooms if room.attention],
        others=[room for room in site.rooms if not room.attention],
        facts={room.name: room_facts(room, site.generated) for room in site.rooms},
        tiles=TILES, counts=tile_counts(vms))
