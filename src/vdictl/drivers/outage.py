"""How long one endpoint has not answered, and when the run gives it up.

A driver tells its Outage when a call found the endpoint unreachable and
when the endpoint answered again. Reconnecting is worth it for a while (a
libvirtd restart takes seconds); once the endpoint has been silent for
`bound` seconds it is given up for the rest of the run, so the VMs still
queued for it fail at once with the same line instead of each waiting the
bound again (docs/troubleshooting.md, "One endpoint down or hung").

The first contact of a run (the login) is bounded the same way
(`first_contact`): a 503 or a refused connection at 01:00 that clears within
the bound costs nothing; an endpoint still down after it is given up.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Callable, Optional, TypeVar

from vdictl.errors import Unreachable
from vdictl.wait import is_transient, retry_transient

T = TypeVar("T")
log = logging.getLogger(__name__)


class Outage:
    """The state of one endpoint's connection, shared by the driver's threads."""

    def __init__(self, endpoint: str, bound: float, *, driver: str,
                 clock: Callable[[], float] = time.monotonic):
        self.endpoint = endpoint
        self.bound = bound
        self.driver = driver
        self._clock = clock
        self._lock = threading.Lock()
        self._since: Optional[float] = None
        self._given_up: Optional[str] = None

    def failed(self, silent_for: float = 0.0) -> None:
        """A call found the endpoint unreachable: the silence started now, or
        `silent_for` seconds ago (a timeout), if it had not started before."""
        with self._lock:
            began = self._clock() - silent_for
            if self._since is None or began < self._since:
                self._since = began

    def answered(self) -> None:
        """The endpoint answered (a call or a reconnect worked)."""
        with self._lock:
            if self._given_up is None:
                self._since = None

    def remaining(self) -> float:
        """Seconds left before the endpoint is given up (`bound` while it answers)."""
        with self._lock:
            if self._given_up is not None:
                return 0.0
            if self._since is None:
                return self.bound
            return max(0.0, self.bound - (self._clock() - self._since))

    def give_up(self, reason: str, vm: Optional[str] = None) -> Unreachable:
        """Give the endpoint up for this run (once); the error to raise."""
        for said in (f"lost the connection to {self.endpoint}: ",
                     f"cannot connect to {self.endpoint}: "):
            reason = reason[len(said):] if reason.startswith(said) else reason
        with self._lock:
            if self._given_up is None:
                silent = self._clock() - self._since if self._since is not None else 0.0
                self._given_up = (f"{self.endpoint} unreachable, given up for this run after "
                                  f"{silent:.0f}s without an answer: {reason}")
            message = self._given_up
        return Unreachable(message, driver=self.driver, vm=vm)

    def check(self, vm: Optional[str] = None) -> None:
        """Raise Unreachable (a new one each time) if the endpoint was given up."""
        with self._lock:
            message = self._given_up
        if message is not None:
            raise Unreachable(message, driver=self.driver, vm=vm)

    def retrying(self, once: Callable[[], T], *, attempts: int, max_time: float,
                 initial: float, maximum: float, vm: Optional[str] = None) -> T:
        """once() with its transient errors retried within these limits. An
        Unreachable (an engine restarting behind its proxy's 503 page, a
        refused connection) is tried again, round after round, until the
        endpoint's bound runs out however many attempts that takes; then the
        endpoint is given up for the run, and the error says so. The bound
        also ends the rounds when the driver told no silence (a backstop)."""
        def retry_if(exc: BaseException) -> bool:
            return is_transient(exc) and not (isinstance(exc, Unreachable)
                                              and self.remaining() <= 0)

        deadline = self._clock() + self.bound
        while True:
            try:
                return retry_transient(once, attempts=attempts, max_time=max_time,
                                       initial=initial, maximum=maximum, retry_if=retry_if)
            except Unreachable as exc:
                if self.remaining() <= 0:
                    raise self.give_up(exc.message, vm=vm) from None
                if not is_transient(exc) or self._clock() >= deadline:
                    raise
                log.debug("%s still unreachable; trying again for %.0fs more",
                          self.endpoint, self.remaining())


def first_contact(open_endpoint: Callable[[], None], *, bound: float, driver: str,
                  initial: float = 0.5, maximum: float = 5.0,
                  clock: Callable[[], float] = time.monotonic,
                  sleep: Callable[[float], None] = time.sleep) -> None:
    """open_endpoint() (a driver's open: connect and log in), its transient
    failures (Unreachable: refused, reset, 503, timed out) retried with backoff
    until `bound` seconds after the first attempt began. Nothing else is
    retried: a refused login (AuthError) or an endpoint that cannot be used
    as configured (Unusable: a certificate not trusted) is raised at once.

    An attempt that hangs counts from its start, so a silent endpoint is given
    up after one attempt of the driver's own bound; no pause runs past the
    bound. The error given up on says how long the endpoint was tried.
    """
    outage = Outage("", bound, driver=driver, clock=clock)
    began = clock()

    def once() -> None:
        attempt_began = clock()
        try:
            open_endpoint()
        except Unreachable:
            outage.failed(silent_for=clock() - attempt_began)
            raise

    def retry_if(exc: BaseException) -> bool:
        return is_transient(exc) and outage.remaining() > 0

    try:
        retry_transient(once, attempts=1_000_000, max_time=bound, initial=initial,
                        maximum=maximum, retry_if=retry_if,
                        sleep=lambda pause: sleep(min(pause, outage.remaining())))
    except Unreachable as exc:
        if not is_transient(exc):
            raise
        raise type(exc)(f"{exc.message} (tried for {clock() - began:.0f}s: endpoint_timeout)",
                        driver=exc.driver, vm=exc.vm) from None
