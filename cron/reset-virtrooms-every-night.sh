#!/bin/sh
# Reset each resettable room in its own vdictl process (for sites that want
# one process, and one log line, per room). Prefer cron/vdictl-reset-virtrooms,
# whose single process keeps the snapshot throttle global.
#
# Usage: reset-virtrooms-every-night.sh [vdictl options, e.g. --config FILE]
# Prints nothing when every room was reset; exits 1 when any room failed.
set -u
status=0
rooms=$(vdictl "$@" rooms --resettable) || exit $?
# One name per line: room names may contain spaces.
while IFS= read -r room; do
    [ -n "$room" ] || continue
    vdictl "$@" virtroom-reset "$room" </dev/null || status=1
done <<ROOMS
$rooms
ROOMS
exit $status
