"""Exit statuses of vdictl. Documented in docs/exit-statuses.md; keep both in step."""

OK = 0                 #: everything succeeded
VM_FAILED = 1          #: the run finished, and at least one VM failed or was not done
USAGE = 2              #: bad command line, unknown room, config error, nothing to reset,
                       #: a request the backend cannot do (Unsupported)
UNREACHABLE = 3        #: a backend could not be reached, or refused the credentials
MISSING_DEPENDENCY = 4 #: the driver's SDK is not installed
ROOM_BUSY = 5          #: another vdictl run holds the lock of a room (--lock-timeout ran out)
STALE = 6              #: status --max-age: a room's last successful reset is too old, or none
NOT_PERMITTED = 7      #: a run through sudo asked for what its rooms do not delegate to the caller
INTERRUPTED = 130      #: SIGINT (Ctrl-C)
TERMINATED = 143       #: SIGTERM
