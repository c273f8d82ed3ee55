"""Where the run records live: one SQLite database in WAL mode,
<state dir>/runs/records.sqlite3 (the standard library's sqlite3).

A record of 10,000 VMs is written in one transaction and read back whole in
a fraction of a second; `vdictl status --all` reads, per room, one small
row per command (the room's part of the run, summed up when the run ended)
and never the VMs; pruning deletes by index. Two runs that write at once
wait for each other (WAL: readers never wait) and lose nothing; a run
killed with kill -9 in the middle of a write leaves the database as it was
before that transaction.

Tables: `runs` (one row per run: the record without its VMs, as JSON),
`rooms` (one row per room of a run: its counts, its failed VMs, whether the
whole room succeeded) and `vms` (one row per VM of a run, as JSON). The
records of earlier versions, one JSON file per run in runs/<command>/, are
moved in (migrate) by the first process that opens the database for
writing; a reader that may not write reads them in memory instead.
"""

from __future__ import annotations

import atexit
import contextlib
import json
import os
import sqlite3
from typing import Any, Dict, Iterator, List, Optional, Sequence, Tuple

from vdictl.records.summary import RECORD_FORMAT, rooms_of

DB_NAME = "records.sqlite3"
SCHEMA_VERSION = 1
#: seconds a writer waits for another one (a write takes milliseconds)
BUSY_TIMEOUT = 60.0
#: reading connections kept open by a process (one per thread and state dir)
KEPT_READERS = 8
#: a temporary file of the JSON records older than this is a killed writer's
STALE_TEMP_SECONDS = 3600.0

SCHEMA = """
CREATE TABLE IF NOT EXISTS runs (
    id INTEGER PRIMARY KEY,
    run TEXT NOT NULL UNIQUE,
    command TEXT NOT NULL,
    record TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS runs_by_command ON runs (command, run);
CREATE TABLE IF NOT EXISTS rooms (
    room TEXT NOT NULL,
    command TEXT NOT NULL,
    run TEXT NOT NULL,
    run_id INTEGER NOT NULL,
    whole_ok INTEGER NOT NULL,
    summary TEXT NOT NULL,
    PRIMARY KEY (room, command, run));
CREATE INDEX IF NOT EXISTS rooms_by_run ON rooms (run_id);
CREATE TABLE IF NOT EXISTS vms (
    run_id INTEGER NOT NULL,
    seq INTEGER NOT NULL,
    vm TEXT NOT NULL,
    data TEXT NOT NULL,
    PRIMARY KEY (run_id, seq));
CREATE INDEX IF NOT EXISTS vms_by_name ON vms (vm, run_id);
"""


class StoreError(OSError):
    """The database cannot be opened or written: an OSError, as the JSON files' were."""

    def __str__(self) -> str:
        return f"{self.strerror}: {self.filename}"


def runs_dir(directory: str) -> str:
    return os.path.join(directory, "runs")


def db_path(directory: str) -> str:
    return os.path.join(runs_dir(directory), DB_NAME)


def _error(exc: sqlite3.Error, path: str) -> StoreError:
    return StoreError(None, str(exc), path)


@contextlib.contextmanager
def writing(directory: str) -> Iterator[sqlite3.Connection]:
    """A connection in one write transaction (BEGIN IMMEDIATE), committed at the
    end; the directory and the database are made, old JSON records moved in.
    StoreError (an OSError) if that cannot be done."""
    os.makedirs(runs_dir(directory), mode=0o755, exist_ok=True)
    path = db_path(directory)
    try:
        conn = _open_rw(path)
        try:
            conn.execute("BEGIN IMMEDIATE")
            yield conn
            conn.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise
        finally:
            conn.close()
    except sqlite3.Error as exc:
        raise _error(exc, path) from None


def _open_rw(path: str) -> sqlite3.Connection:
    """_open_rw_once, tried again while another process holds the database in
    a way SQLite's busy handler does not wait for: switching a new database
    to WAL (journal_mode) takes an exclusive lock and answers "database is
    locked" at once when two first runs start together."""
    import time

    deadline = time.monotonic() + BUSY_TIMEOUT
    pause = 0.02
    while True:
        try:
            return _open_rw_once(path)
        except sqlite3.OperationalError as exc:
            text = str(exc).lower()
            if not ("locked" in text or "busy" in text) or time.monotonic() >= deadline:
                raise
        time.sleep(pause)
        pause = min(pause * 2, 0.5)


def _open_rw_once(path: str) -> sqlite3.Connection:
    new = not os.path.exists(path)
    conn = sqlite3.connect(path, timeout=BUSY_TIMEOUT, isolation_level=None,
                           check_same_thread=False)  # closed by whichever thread evicts it
    try:
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=FULL")  # a record that was written stays
        if new:
            os.chmod(path, 0o644)  # the status page's cron job may run as another user
        if conn.execute("PRAGMA user_version").fetchone()[0] < SCHEMA_VERSION:
            conn.executescript(SCHEMA)  # IF NOT EXISTS: two first runs may both do it
            conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
        migrate(conn, os.path.dirname(path))
    except BaseException:
        conn.close()
        raise
    return conn


#: the reading connections, by process, thread and directory, with the
#: database file they opened (a file removed and made again is opened afresh)
_readers: Dict[Tuple[int, int, str], Tuple[Tuple[int, int, int], sqlite3.Connection]] = {}


@atexit.register
def close_readers() -> None:
    """Close this process's reading connections (the last one to close a WAL
    database checkpoints it and removes its -wal file)."""
    for key in [key for key in _readers if key[0] == os.getpid()]:
        with contextlib.suppress(sqlite3.Error):
            _readers.pop(key)[1].close()


def reader(directory: str) -> Optional[sqlite3.Connection]:
    """A connection to read the records (kept for the process), or None when
    there are none. It writes (makes the database, moves old JSON records in)
    where it may; where it may not, it opens the database read-only, or reads
    old JSON records in memory. StoreError if the database cannot be read."""
    import threading

    path = db_path(directory)
    # by process too: a connection must not cross a fork
    key = (os.getpid(), threading.get_ident(), os.path.abspath(directory))
    try:
        identity = _identity(path)
    except OSError:
        identity = (0, 0, 0)
    cached = _readers.get(key)
    if cached and cached[0] == identity and identity != (0, 0, 0):
        return cached[1]
    try:
        conn = _open_reader(directory, path)
    except sqlite3.Error as exc:
        raise _error(exc, path) from None
    if conn is not None:
        if cached:
            _readers.pop(key)[1].close()
        with contextlib.suppress(OSError):
            _readers[key] = (_identity(path), conn)
        while len(_readers) > KEPT_READERS:  # the oldest first: dicts keep their order
            oldest = next(iter(_readers))
            evicted = _readers.pop(oldest)[1]
            if oldest[0] == os.getpid():  # a parent's, before a fork, is its own to close
                evicted.close()
    return conn


def _identity(path: str) -> Tuple[int, int, int]:
    """The file, and its last change (a file made again in the same inode differs)."""
    stat = os.stat(path)
    return (stat.st_dev, stat.st_ino, stat.st_ctime_ns)


def _open_reader(directory: str, path: str) -> Optional[sqlite3.Connection]:
    runs = runs_dir(directory)
    legacy = _legacy_files(runs)
    if os.path.isdir(runs) and os.access(runs, os.W_OK) and (os.path.exists(path) or legacy):
        return _open_rw(path)
    if os.path.exists(path):
        return _open_ro(path)
    if legacy:  # an older version's records that this user may not move: read in memory
        conn = sqlite3.connect(":memory:", isolation_level=None)
        conn.executescript(SCHEMA)
        _import(conn, runs, remove=False)
        return conn
    return None


def _open_ro(path: str) -> sqlite3.Connection:
    """Read-only; a WAL database whose -shm file this user can neither open nor
    make (another user's, no running writer) is read as immutable."""
    from urllib.parse import quote

    uri = f"file:{quote(path)}?mode=ro"
    try:
        conn = sqlite3.connect(uri, uri=True, timeout=BUSY_TIMEOUT, isolation_level=None,
                               check_same_thread=False)
        conn.execute("SELECT count(*) FROM runs").fetchone()
        return conn
    except sqlite3.OperationalError:
        return sqlite3.connect(f"file:{quote(path)}?immutable=1", uri=True,
                               isolation_level=None, check_same_thread=False)


# --- writing ---------------------------------------------------------------------

def store(conn: sqlite3.Connection, record: Dict[str, Any],
          rooms: Sequence[Tuple[str, bool, Dict[str, Any]]]) -> None:
    """Insert or replace the run `record` (its "vms" in their own rows) with its
    rooms' rows (room, whole_ok, summary)."""
    head = {k: v for k, v in record.items() if k != "vms"}
    row = conn.execute("SELECT id FROM runs WHERE run = ?", (record["run"],)).fetchone()
    if row is None:
        run_id = conn.execute("INSERT INTO runs (run, command, record) VALUES (?, ?, ?)",
                              (record["run"], record["command"], json.dumps(head))).lastrowid
    else:
        run_id = row[0]
        conn.execute("UPDATE runs SET record = ? WHERE id = ?", (json.dumps(head), run_id))
        conn.execute("DELETE FROM rooms WHERE run_id = ?", (run_id,))
        conn.execute("DELETE FROM vms WHERE run_id = ?", (run_id,))
    conn.executemany(
        "INSERT OR REPLACE INTO rooms (room, command, run, run_id, whole_ok, summary) "
        "VALUES (?, ?, ?, ?, ?, ?)",
        [(room, record["command"], record["run"], run_id, int(ok), json.dumps(summary))
         for room, ok, summary in rooms])
    conn.executemany("INSERT INTO vms (run_id, seq, vm, data) VALUES (?, ?, ?, ?)",
                     [(run_id, seq, str(vm.get("vm", "")), json.dumps(vm))
                      for seq, vm in enumerate(record.get("vms") or [])])


def prune(conn: sqlite3.Connection, command: str, keep: int) -> int:
    """Remove the runs of `command` that are not among the `keep` newest of any
    of their rooms; the number removed."""
    doomed = [row[0] for row in conn.execute(
        "SELECT id FROM runs WHERE command = ? AND id NOT IN ("
        " SELECT run_id FROM (SELECT run_id, ROW_NUMBER() OVER ("
        "  PARTITION BY room ORDER BY run DESC) AS n FROM rooms WHERE command = ?)"
        " WHERE n <= ?)", (command, command, keep))]
    for run_id in doomed:
        conn.execute("DELETE FROM vms WHERE run_id = ?", (run_id,))
        conn.execute("DELETE FROM rooms WHERE run_id = ?", (run_id,))
        conn.execute("DELETE FROM runs WHERE id = ?", (run_id,))
    return len(doomed)


# --- the records of earlier versions --------------------------------------------

def _legacy_files(runs: str) -> List[str]:
    """The JSON records (and their temporary files) of runs/<command>/."""
    found = []
    try:
        commands = [n for n in os.listdir(runs) if os.path.isdir(os.path.join(runs, n))]
    except OSError:
        return []
    for command in commands:
        folder = os.path.join(runs, command)
        with contextlib.suppress(OSError):
            found += [os.path.join(folder, n) for n in sorted(os.listdir(folder))
                      if n.endswith((".json", ".tmp"))]
    return found


def migrate(conn: sqlite3.Connection, runs: str) -> int:
    """Move the JSON records of earlier versions into the database (each kept
    until the transaction that holds it is committed); the number moved."""
    if not _legacy_files(runs):
        return 0
    conn.execute("BEGIN IMMEDIATE")
    try:
        moved = _import(conn, runs, remove=True)
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    return moved


def _import(conn: sqlite3.Connection, runs: str, *, remove: bool) -> int:
    done, moved = [], 0
    for path in _legacy_files(runs):
        if path.endswith(".tmp") or os.path.basename(path).startswith("."):
            if _age(path) > STALE_TEMP_SECONDS:
                done.append(path)
            continue
        try:
            with open(path, encoding="utf-8") as fh:
                data = json.load(fh)
        except (OSError, ValueError):
            continue  # not a record of ours: left where it is
        if isinstance(data, dict) and data.get("format") == RECORD_FORMAT and data.get("run"):
            store(conn, data, rooms_of(data))
            done.append(path)
            moved += 1
    if conn.in_transaction:
        conn.execute("COMMIT")
    if remove:
        for path in done:
            with contextlib.suppress(OSError):
                os.unlink(path)
        for folder in {os.path.dirname(p) for p in done}:
            with contextlib.suppress(OSError):
                os.rmdir(folder)  # only when empty
    return moved


def _age(path: str) -> float:
    import time

    try:
        return time.time() - os.stat(path).st_mtime
    except OSError:
        return 0.0
