"""Waiting for a backend to reach a state, and retrying transient errors.

Every wait has a timeout and uses a monotonic clock. Depends on nothing of
vdictl except the error types.
"""

from __future__ import annotations

import time
from typing import Callable, Optional, TypeVar

import tenacity

from vdictl.errors import DriverError, OperationTimeout

T = TypeVar("T")


def wait_for(fetch: Callable[[], T], condition: Callable[[T], bool], *, timeout: float,
             interval: float = 0.5, what: str = "condition", driver: str = "",
             vm: Optional[str] = None, fail_condition: Optional[Callable[[T], bool]] = None,
             clock: Callable[[], float] = time.monotonic,
             sleep: Callable[[float], None] = time.sleep) -> T:
    """Re-read with `fetch` until `condition(value)` holds; return that value.

    Raises OperationTimeout after `timeout` seconds, and DriverError at once
    when `fail_condition(value)` holds.
    """
    deadline = clock() + timeout
    while True:
        value = fetch()
        if condition(value):
            return value
        if fail_condition is not None and fail_condition(value):
            raise DriverError(f"{what}: reached a failed state ({value})", driver=driver, vm=vm)
        remaining = deadline - clock()
        if remaining <= 0:
            raise OperationTimeout(f"timed out after {timeout:g}s waiting for {what} "
                                   f"(last seen: {value})", driver=driver, vm=vm)
        sleep(min(interval, remaining))


def is_transient(exc: BaseException) -> bool:
    return isinstance(exc, DriverError) and exc.transient


def retry_transient(func: Callable[[], T], *, attempts: int = 5, max_time: float = 120.0,
                    initial: float = 0.5, maximum: float = 15.0,
                    sleep: Callable[[float], None] = time.sleep,
                    retry_if: Callable[[BaseException], bool] = is_transient) -> T:
    """Call func, retrying transient DriverErrors (locked, busy, unreachable)
    with exponential backoff and jitter, bounded in count and in time.

    Permanent errors (not found, auth, bad request) are raised at once;
    `retry_if` may narrow what counts as transient.
    """
    retrying = tenacity.Retrying(
        retry=tenacity.retry_if_exception(retry_if),
        stop=tenacity.stop_after_attempt(attempts) | tenacity.stop_after_delay(max_time),
        wait=tenacity.wait_random_exponential(multiplier=initial, max=maximum),
        sleep=sleep,
        reraise=True,
    )
    return retrying(func)
