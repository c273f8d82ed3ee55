"""The throttle: bounded work in flight, in batches with a pause between them.

Knows nothing of VMs. One Throttle instance is shared by every room of a
run, so `virtroom-reset --all` respects its limit globally.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from typing import (Any, Callable, Deque, Dict, Hashable, Iterable, Iterator, List, Optional,
                    Tuple, TypeVar)

T = TypeVar("T")

# Which worker threads carry an item that has begun changing things: a closed
# throttle still admits those, so an interrupt never leaves an item half-done.
_local = threading.local()


def mark_under_way() -> None:
    """The calling thread's item has begun its work; it will be let finish."""
    _local.under_way = True


def is_under_way() -> bool:
    return getattr(_local, "under_way", False)


class Throttle:
    """At most `limit` operations in flight: a sliding window.

    With `pause` > 0 operations are also admitted in batches of at most
    `limit`: a batch opens no sooner than `pause` seconds after the
    previous one opened, and only once that one admitted `limit`
    operations. A slot freed by one slow operation is reused without
    waiting for the rest of its batch (no barrier). With `pause` == 0 it is
    a plain sliding window.
    """

    def __init__(self, limit: int, pause: float = 0.0, *, name: str = "",
                 clock: Callable[[], float] = time.monotonic):
        if limit < 1:
            raise ValueError("limit must be at least 1")
        self.limit = limit
        self.pause = max(0.0, float(pause))
        self.name = name
        self._clock = clock
        self._cond = threading.Condition()
        self._in_flight = 0
        self._admitted_in_batch = 0
        self._batch_opened_at = 0.0
        self._closed = False
        #: told the monotonic time a batch pause ends, once per pause (progress)
        self.on_pause: Callable[[float], None] = lambda until: None
        self._pause_told = 0.0
        #: the most operations ever in flight at once (for reports and tests)
        self.peak_in_flight = 0
        self.started = 0
        self.batches = 0

    def close(self) -> None:
        """Refuse new slots from now on (an interrupt): waiters get Cancelled,
        except items already under way (see mark_under_way), which finish."""
        with self._cond:
            self._closed = True
            self._cond.notify_all()

    def _try_admit(self) -> Optional[float]:
        """Admit now and return None, or return how long to wait (inf: until notified)."""
        if self._in_flight >= self.limit:
            return float("inf")
        if self.pause == 0 or self._admitted_in_batch < self.limit:
            return None
        until = self._batch_opened_at + self.pause
        wait = until - self._clock()
        if wait > 0:
            if self._pause_told != until:
                self._pause_told = until
                self.on_pause(until)
            return wait
        self._admitted_in_batch = 0
        return None

    def acquire(self) -> None:
        with self._cond:
            while True:
                if self._closed and not is_under_way():
                    raise Cancelled(f"{self.name or 'throttle'} closed")
                wait = self._try_admit()
                if wait is None:
                    break
                self._cond.wait(None if wait == float("inf") else wait)
            if self._admitted_in_batch == 0:
                self.batches += 1
                self._batch_opened_at = self._clock()
            self._admitted_in_batch += 1
            self._in_flight += 1
            self.started += 1
            self.peak_in_flight = max(self.peak_in_flight, self._in_flight)

    def release(self) -> None:
        with self._cond:
            self._in_flight -= 1
            self._cond.notify_all()

    @contextmanager
    def slot(self) -> Iterator[None]:
        """Hold one slot for the duration of the block."""
        self.acquire()
        try:
            yield
        finally:
            self.release()


class Throttles:
    """Several throttles held as one: a slot of each, taken in the order given and
    released in reverse. Every holder takes them in the same order (the narrow,
    per-host one first), so two holders never wait for each other's slots."""

    def __init__(self, *throttles: Optional[Throttle]):
        self.throttles = [t for t in throttles if t is not None]

    def acquire(self) -> None:
        taken: List[Throttle] = []
        try:
            for throttle in self.throttles:
                throttle.acquire()
                taken.append(throttle)
        except BaseException:
            for throttle in reversed(taken):
                throttle.release()
            raise

    def release(self) -> None:
        for throttle in reversed(self.throttles):
            throttle.release()

    @contextmanager
    def slot(self) -> Iterator[None]:
        """Hold a slot of every throttle for the duration of the block."""
        self.acquire()
        try:
            yield
        finally:
            self.release()


class Cancelled(Exception):
    """The run was interrupted before this item got a slot."""


@dataclass(frozen=True)
class Result:
    """The outcome of one item: the function's value, or the exception it raised."""

    item: Any
    succeeded: bool
    value: Any = None
    error: Optional[BaseException] = None

    def value_or_raise(self) -> Any:
        """The value, or the item's exception raised again."""
        if self.error is not None:
            raise self.error
        return self.value


def _call(func: Callable[[T], Any], item: T) -> Result:
    _local.under_way = False  # pool threads are reused across items
    try:
        return Result(item, True, func(item))
    except Exception as exc:  # noqa: BLE001 - every failure becomes a result
        return Result(item, False, error=exc)
    finally:
        _local.under_way = False


def run_each(func: Callable[[T], Any], items: Iterable[T], *, max_workers: int,
             group: Optional[Callable[[T], Hashable]] = None,
             per_group: Optional[Callable[[Hashable], int]] = None) -> List[Result]:
    """Call func on every item in a pool of threads; one Result per item, in order.

    A failure of one item never stops the others. With `group` (an item's
    endpoint, say) the items are handed out round-robin over the groups, at
    most `per_group(key)` of one group at once (see FairQueue): a group whose
    items wait for their own limits holds no more threads than that, and the
    other groups' items go on side by side, whatever the order of `items`.
    """
    items = list(items)
    if not items:
        return []
    if group is None:
        with ThreadPoolExecutor(max_workers=max(1, min(max_workers, len(items)))) as pool:
            return list(pool.map(lambda item: _call(func, item), items))
    queue = FairQueue(items, group, per_group or (lambda key: len(items)))
    results: List[Optional[Result]] = [None] * len(items)

    def work() -> None:
        while True:
            got = queue.take()
            if got is None:
                return
            key, index = got
            try:
                results[index] = _call(func, items[index])
            finally:
                queue.done(key)

    threads = [threading.Thread(target=work, name=f"vdictl-worker-{n}", daemon=True)
               for n in range(max(1, min(max_workers, queue.useful_workers())))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return [r for r in results if r is not None]


class FairQueue:
    """Items grouped by key, handed out round-robin over the keys, at most
    `limit(key)` of one key in flight: no key's backlog stands in front of
    another key's items."""

    def __init__(self, items: List[T], key: Callable[[T], Hashable],
                 limit: Callable[[Hashable], int]):
        self._queues: Dict[Hashable, Deque[int]] = {}
        for index, item in enumerate(items):
            self._queues.setdefault(key(item), deque()).append(index)
        self._keys = list(self._queues)
        self._limits = {k: max(1, limit(k)) for k in self._keys}
        self._running = {k: 0 for k in self._keys}
        self._pending = len(items)
        self._cursor = 0
        self._cond = threading.Condition()

    def useful_workers(self) -> int:
        """Threads that can be busy at once: no more help."""
        return sum(min(self._limits[k], len(q)) for k, q in self._queues.items())

    def take(self) -> Optional[Tuple[Hashable, int]]:
        """The next (key, item index), waiting while every key with items left is
        at its limit; None when no item is left."""
        with self._cond:
            while self._pending:
                for step in range(len(self._keys)):
                    key = self._keys[(self._cursor + step) % len(self._keys)]
                    if self._queues[key] and self._running[key] < self._limits[key]:
                        self._cursor = (self._cursor + step + 1) % len(self._keys)
                        self._running[key] += 1
                        self._pending -= 1
                        return key, self._queues[key].popleft()
                self._cond.wait()
            return None

    def done(self, key: Hashable) -> None:
        with self._cond:
            self._running[key] -= 1
            self._cond.notify_all()
