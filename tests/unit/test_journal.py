"""The start journal: what a reset still owes to start, kept on disk per room."""

from __future__ import annotations

import os

import pytest

from vdictl.errors import VdictlError
from vdictl.records.journal import StartJournal


def test_owed_starts_survive_the_run_and_go_when_settled(tmp_path):
    first = StartJournal(str(tmp_path))
    first.add("lab 1", "lab1-pc01")
    first.add("lab 1", "lab1-pc02")
    first.add("lab2", "lab2-pc01")
    # a later run (a new process) reads what the first one left
    later = StartJournal(str(tmp_path))
    assert [later.pending("lab 1", vm) for vm in ("lab1-pc01", "lab1-pc02", "lab1-pc03")] == [
        True, True, False]
    assert later.pending("lab2", "lab2-pc01") and not later.pending("lab2", "lab1-pc01")
    later.discard("lab 1", "lab1-pc01")
    assert not StartJournal(str(tmp_path)).pending("lab 1", "lab1-pc01")
    later.discard("lab 1", "lab1-pc02")
    later.discard("lab2", "lab2-pc01")
    assert os.listdir(tmp_path) == []  # nothing owed: no file left


def test_the_file_sits_next_to_the_rooms_lock_and_is_replaced_whole(tmp_path):
    journal = StartJournal(str(tmp_path))
    journal.add("lab/1", "pc01")
    assert os.listdir(tmp_path) == ["room-lab%2F1.to-start"]
    assert (tmp_path / "room-lab%2F1.to-start").read_text() == "pc01\n"


def test_without_a_directory_it_lives_in_memory(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    journal = StartJournal()
    journal.add("lab1", "pc01")
    assert journal.pending("lab1", "pc01")
    assert os.listdir(tmp_path) == []


def test_an_unwritable_journal_is_a_vdictl_error(tmp_path):
    journal = StartJournal(str(tmp_path / "missing" / "dir"))
    with pytest.raises(VdictlError, match="cannot write .*room-lab1.to-start"):
        journal.add("lab1", "pc01")
