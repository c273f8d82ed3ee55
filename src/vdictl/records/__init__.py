"""What runs leave behind, in the state directory.

    history.py      the run records, one per room and command (vdictl status)
    metrics.py      the Prometheus textfile written from them
    status_page.py  the HTML status page (vdictl report --html)
    journal.py      the start journal: the VMs a run powered off and still owes a start
"""
