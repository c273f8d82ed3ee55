#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-3.0-or-later
"""Run a command as the child of a child-subreaper that reaps everything.

    subreaper.py [--pid-file FILE] [--grace SECONDS] -- COMMAND [ARGS...]

libvirtd daemonizes every QEMU it starts (double fork), so QEMU's parent is
whoever adopts orphans.  Where PID 1 reaps late or never (containers,
microVM init agents), a QEMU that exits stays a zombie for a while and
libvirt's virDomainDestroy keeps waiting for it to disappear.  This wrapper sets PR_SET_CHILD_SUBREAPER, so orphans
below it are reparented here, and reaps every child forever.

SIGTERM, SIGINT and SIGHUP are forwarded to COMMAND.  When COMMAND exits the
wrapper sends SIGTERM to the children it still has (adopted orphans), waits
up to --grace seconds, SIGKILLs the rest, reaps them and exits with COMMAND's
exit status (128+N if it died of signal N).

Standard library only (ctypes for prctl); Linux only.
"""

import argparse
import ctypes
import errno
import os
import signal
import sys
import time

PR_SET_CHILD_SUBREAPER = 36


def set_child_subreaper() -> None:
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) != 0:
        err = ctypes.get_errno()
        raise OSError(err, "prctl(PR_SET_CHILD_SUBREAPER): " + os.strerror(err))


def children_of(pid: int) -> list:
    """PIDs whose parent is ``pid`` (from /proc; zombies included)."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", "rb") as f:
                stat = f.read()
        except OSError:
            continue
        # the command name may contain spaces and parentheses: split after ')'
        fields = stat[stat.rfind(b")") + 2:].split()
        if len(fields) > 1 and int(fields[1]) == pid:
            found.append(int(entry))
    return found


def reap_nohang() -> list:
    """Reap every child that has exited; return [(pid, status)]."""
    reaped = []
    while True:
        try:
            pid, status = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return reaped
        if pid == 0:
            return reaped
        reaped.append((pid, status))


def log(msg: str) -> None:
    sys.stderr.write(f"subreaper[{os.getpid()}]: {msg}\n")
    sys.stderr.flush()


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="subreaper.py")
    p.add_argument("--pid-file", help="write this wrapper's PID here")
    p.add_argument("--grace", type=float, default=10.0,
                   help="seconds leftover children get between SIGTERM and SIGKILL")
    p.add_argument("command", nargs=argparse.REMAINDER)
    args = p.parse_args(argv)
    cmd = args.command[1:] if args.command[:1] == ["--"] else args.command
    if not cmd:
        p.error("no command given")

    set_child_subreaper()
    if args.pid_file:
        tmp = args.pid_file + ".tmp"
        with open(tmp, "w") as f:
            f.write(f"{os.getpid()}\n")
        os.replace(tmp, args.pid_file)

    # Block the forwarded signals until the handlers are in place, so that a
    # SIGTERM arriving right now cannot kill us and orphan the command.
    forwarded = {signal.SIGTERM, signal.SIGINT, signal.SIGHUP}
    signal.pthread_sigmask(signal.SIG_BLOCK, forwarded)
    main_pid = os.posix_spawnp(cmd[0], cmd, os.environ, setsigmask=())  # child: nothing blocked

    def forward(signum, _frame):
        try:
            os.kill(main_pid, signum)
        except ProcessLookupError:
            pass

    for sig in forwarded:
        signal.signal(sig, forward)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, forwarded)

    exit_status = None
    while exit_status is None:
        try:
            pid, status = os.waitpid(-1, 0)
        except ChildProcessError:  # cannot happen while main_pid lives
            break
        if pid == main_pid:
            exit_status = status
    if exit_status is None:
        code = 1
    elif os.WIFSIGNALED(exit_status):
        code = 128 + os.WTERMSIG(exit_status)
    else:
        code = os.WEXITSTATUS(exit_status)
    log(f"{cmd[0]} (pid {main_pid}) exited with status {code}")

    # leftover adopted orphans (e.g. QEMU processes of running domains)
    leftovers = [c for c in children_of(os.getpid())]
    reap_nohang()
    if leftovers:
        log(f"terminating leftover children {leftovers}")
        for pid in leftovers:
            try:
                os.kill(pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
        deadline = time.monotonic() + args.grace
        while time.monotonic() < deadline:
            reap_nohang()
            if not children_of(os.getpid()):
                break
            time.sleep(0.05)
        for pid in children_of(os.getpid()):
            log(f"killing {pid}")
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        # reap until no child is left
        while True:
            try:
                os.waitpid(-1, 0)
            except ChildProcessError:
                break
            except OSError as exc:
                if exc.errno != errno.EINTR:
                    raise
    if args.pid_file:
        try:
            os.unlink(args.pid_file)
        except FileNotFoundError:
            pass
    return code


if __name__ == "__main__":
    sys.exit(main())
