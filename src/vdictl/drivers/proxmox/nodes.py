"""The nodes of one cluster that `url` lists, any of which answers for all
(docs/backends/proxmox.md, "Several nodes in url"): which one a run uses, the
API object of each, and which have been silent since the cluster last
answered. A node that does not answer is left for the next one, logged once
per node and run; the endpoint counts as silent only when every node is."""

from __future__ import annotations

import logging
import threading
from typing import Any, Dict, List, Optional, Set, Tuple

from vdictl.errors import DriverError

from .api import Endpoint, api_at, node_answers
from .errors import map_error

log = logging.getLogger(__name__)


class Nodes:
    """The node in use (an index of `endpoints`), each node's API object,
    the nodes silent since the last answer, and those whose leaving was
    logged; shared by the connection's threads."""

    def __init__(self, endpoints: List[Endpoint]):
        self.endpoints = endpoints
        self.in_use = 0
        self._apis: Dict[int, Any] = {}
        self._silent: Set[int] = set()
        self._left: Set[int] = set()
        self._secrets: List[Optional[str]] = []
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self.endpoints)

    def order(self) -> List[int]:
        """The nodes to try a login at: the one in use first, then the next."""
        count = len(self.endpoints)
        return [(self.in_use + step) % count for step in range(count)]

    def logged_in(self, index: int, api: Any, silences: List[str],
                  secrets: List[Optional[str]]) -> None:
        """The login worked at node `index` after the nodes before it in
        order() were silent (`silences`, their reasons); `secrets`: the
        login's, kept out of messages."""
        with self._lock:
            self._secrets = secrets
            for quiet, reason in zip(self.order(), silences):
                self._leaving(quiet, index, reason)
            self.in_use = index
            self._apis = {index: api}
            self._silent.clear()

    def forget(self) -> None:
        with self._lock:
            self._apis = {}

    def current(self, first: Any) -> Tuple[int, Any]:
        """The node in use and its API object (made from `first`, the logged-in
        API object, the first time a node is used)."""
        with self._lock:
            index = self.in_use
            api = self._apis.get(index)
            if api is None:
                seed = next(iter(self._apis.values()), first)
                api = self._apis[index] = api_at(seed, self.endpoints[index])
            return index, api

    def silent_others(self, urls: List[str]) -> List[Tuple[str, str]]:
        """For the preflight: each node but the one in use that does not
        answer now, as (its URL in `urls`, why); asked once each through the
        logged-in session (none before a login), not retried; the node in use
        stays the same."""
        with self._lock:
            api = next(iter(self._apis.values()), None)
            secrets = list(self._secrets)
        found = []
        for index, endpoint in enumerate(self.endpoints):
            if api is None or index == self.in_use:
                continue
            try:
                node_answers(api, endpoint)
            except Exception as exc:  # noqa: BLE001 - every failure is said
                found.append((urls[index],
                              map_error(exc, what=f"node {urls[index]}", secrets=secrets).message))
        return found

    def silent(self, index: int, err: DriverError) -> bool:
        """Node `index` did not answer a call: the next node is used from now
        on. True while some node has not been silent since the cluster last
        answered (the endpoint is not down)."""
        count = len(self.endpoints)
        if count == 1:
            return False
        with self._lock:
            self._silent.add(index)
            if index == self.in_use:
                self.in_use = (index + 1) % count
                self._leaving(index, self.in_use, err.message)
            return len(self._silent) < count

    def answered(self) -> None:
        if self._silent:
            with self._lock:
                self._silent.clear()

    def _leaving(self, index: int, to: int, reason: str) -> None:
        """Log once per node and run that the run goes on without it (the
        lock held)."""
        url = self.endpoints[index].url
        if index in self._left:
            log.debug("%s does not answer (%s); using %s", url, reason,
                      self.endpoints[to].url)
            return
        self._left.add(index)
        reason = reason.replace(f"cannot connect to {url}: ", "", 1)
        log.warning("%s does not answer (%s); going on with %s, another node of the "
                    "cluster", url, reason, self.endpoints[to].url)
