"""Open files of a large run: the soft limit raised, room locks kept out of
select(2)'s way.

A run holds one lock file per room for its whole length (vdictl.lock) and a
few descriptors per backend connection. Two limits bite on a large site:

- RLIMIT_NOFILE: cron and systemd start services with a soft limit of 1,024
  (systemd's default is 1024:524288, its hard limit far higher). A process
  may raise its soft limit up to the hard one without privilege, so a run
  does (raise_soft_limit); the shipped service unit sets LimitNOFILE= too.
- select(2) handles descriptors below FD_SETSIZE (1,024) only. pycurl's
  CurlMulti.select -- the wait of ovirtsdk4's Connection.wait -- builds its
  sets with curl_multi_fdset, which leaves out a socket at or above
  FD_SETSIZE, and then returns at once when no descriptor is left (pycurl,
  src/multi.c, do_multi_select; curl, lib/multi.c, curl_multi_fdset): a
  request on such a socket spins a core until it is answered. So the room
  locks, opened before any connection, are moved above FD_SETSIZE when the
  limit has room (move_high), and the low descriptors stay for the sockets.
"""

from __future__ import annotations

import fcntl
import os
import resource
from typing import Tuple

#: select(2)'s FD_SETSIZE on Linux: descriptors below it stay for sockets
SELECT_LIMIT = 1024
#: descriptors a run needs besides its room locks: stdio, logs, the records,
#: the backend connections (a few per engine connection), the journal
RESERVE = 256
#: the soft limit asked for when the hard one is unlimited
UNLIMITED_SOFT = 1 << 20


def limits() -> Tuple[int, int]:
    """(soft, hard) RLIMIT_NOFILE; RLIM_INFINITY as UNLIMITED_SOFT."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    inf = resource.RLIM_INFINITY
    return (UNLIMITED_SOFT if soft == inf else soft, UNLIMITED_SOFT if hard == inf else hard)


def raise_soft_limit() -> int:
    """Raise the soft limit of open files to the hard limit (no privilege needed);
    the soft limit now. A refusal leaves the limit as it was."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = UNLIMITED_SOFT if hard == resource.RLIM_INFINITY else hard
    if soft != resource.RLIM_INFINITY and soft < wanted:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))
        except (ValueError, OSError):
            pass
    return limits()[0]


def room_for(count: int) -> bool:
    """Whether `count` more descriptors fit above SELECT_LIMIT."""
    return limits()[0] >= SELECT_LIMIT + count + 1


def move_high(fd: int) -> int:
    """`fd` duplicated to the lowest free descriptor at or above SELECT_LIMIT
    (close-on-exec) and the original closed; `fd` itself when the limit has no
    room up there. A flock belongs to the open file, so it moves with it."""
    if fd >= SELECT_LIMIT or limits()[0] <= SELECT_LIMIT:
        return fd
    try:
        high = fcntl.fcntl(fd, fcntl.F_DUPFD_CLOEXEC, SELECT_LIMIT)
    except OSError:
        return fd
    os.close(fd)
    return high
