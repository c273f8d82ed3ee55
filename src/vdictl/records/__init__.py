"""What runs leave behind, in the state directory.

    history.py      the run records, one per run, read per room and command (vdictl status)
    store.py        where they are kept: runs/records.sqlite3 (SQLite, WAL), and the
                    move of the JSON records of earlier versions into it
    summary.py      a room's part of a run, summed up when the run is stored
    causes.py       failures grouped by cause, for the text outputs
    metrics.py      the Prometheus textfile written from them
    status_page.py  the HTML status page (vdictl report --html)
    journal.py      the start journal: the VMs a run powered off and still owes a start
"""
