"""vdictl: keep virtual rooms of VDI virtual machines in a known, clean state."""

__version__ = "0.1.0"
