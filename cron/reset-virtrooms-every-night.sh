#!/bin/sh
# Reset each resettable room in its own vdictl process (for sites that want
# one process, and one log line, per room). Prefer cron/vdictl-reset-virtrooms,
# whose single process keeps the snapshot throttle global.
#
# Usage: reset-virtrooms-every-night.sh [vdictl options, e.g. --config FILE]
set -u
status=0
rooms=$(vdictl "$@" rooms --resettable) || exit $?
for room in $rooms; do
    vdictl "$@" virtroom-reset "$room" || status=1
done
exit $status
