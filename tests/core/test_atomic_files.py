"""Every file the library writes goes through proto_splitter._atomic: `.pb` and `.cpb` get the same ordinary mode
(0o666 less the umask, as open() gives), and a failed write leaves nothing under the final name (nor a temporary
file beside it), while a file already there stays as it was."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator

import pytest

import proto_splitter as ps
from proto_splitter import _atomic, riegeli, splitter
from proto_splitter.testing import test_message_pb2 as t


@pytest.fixture(params=[0o022, 0o077, 0o002, 0o027])
def umask(request) -> Iterator[int]:
    previous = os.umask(request.param)
    try:
        yield request.param
    finally:
        os.umask(previous)


def mode(path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


def small_message() -> t.Everything:
    return t.Everything(nodes=[t.Node(name="n", payload=b"p" * 10)])


def big_message() -> t.Everything:
    return t.Everything(nodes=[t.Node(name=f"n{i}", payload=bytes([i]) * 700) for i in range(5)])


def test_pb_and_cpb_get_the_same_mode_as_open_gives(tmp_path, umask):
    expected = 0o666 & ~umask
    with open(tmp_path / "plain", "wb"):
        pass
    assert mode(tmp_path / "plain") == expected
    assert mode(ps.write(small_message(), tmp_path / "small", 1000)) == expected
    assert mode(ps.write(big_message(), tmp_path / "big", 1000)) == expected
    with riegeli.RecordWriter(tmp_path / "records.riegeli") as writer:
        writer.write_record(b"x")
    assert mode(tmp_path / "records.riegeli") == expected
    _atomic.write_bytes(tmp_path / "bytes", b"data")
    assert mode(tmp_path / "bytes") == expected


def test_rewriting_keeps_the_ordinary_mode_not_the_old_files(tmp_path, umask):
    """The new file replaces the old one, mode included (the old file's mode is not carried over)."""
    target = tmp_path / "m.pb"
    target.write_bytes(b"old")
    os.chmod(target, 0o600)
    assert ps.write(small_message(), tmp_path / "m", 1000) == str(target)
    assert mode(target) == 0o666 & ~umask


def test_atomic_file_commits_on_success_only(tmp_path):
    target = tmp_path / "out"
    with _atomic.AtomicFile(target) as out:
        out.file.write(b"new")
        assert not target.exists()  # nothing under the final name before the commit
        assert len(os.listdir(tmp_path)) == 1
    assert target.read_bytes() == b"new"
    assert os.listdir(tmp_path) == ["out"]

    with pytest.raises(RuntimeError, match="stop"):
        with _atomic.AtomicFile(target) as out:
            out.file.write(b"half")
            raise RuntimeError("stop")
    assert target.read_bytes() == b"new"  # untouched
    assert os.listdir(tmp_path) == ["out"]  # the temporary file is gone


def test_commit_and_discard_happen_once(tmp_path):
    atomic = _atomic.AtomicFile(tmp_path / "out")
    atomic.discard()
    atomic.discard()
    assert os.listdir(tmp_path) == []
    with pytest.raises(ValueError, match="already committed or discarded"):
        atomic.commit()


def test_a_failed_rename_leaves_no_file(tmp_path, monkeypatch):
    def refuse(source, destination):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(_atomic.os, "replace", refuse)
    with pytest.raises(ps.WriteError, match="Permission denied"):  # also an OSError
        ps.write(small_message(), tmp_path / "small", 1000)
    with pytest.raises(ps.WriteError, match="Permission denied"):
        ps.write(big_message(), tmp_path / "big", 1000)
    assert os.listdir(tmp_path) == []


def test_a_failed_split_leaves_no_cpb_and_keeps_the_old_one(tmp_path, monkeypatch):
    """The splitter fails midway through writing (a value over protobuf's limit, lowered here, without
    cut_values): the half-written file never appears, and the file written before stays readable."""
    before = big_message()
    path = ps.write(before, tmp_path / "m", 1000)
    monkeypatch.setattr(splitter, "PROTOBUF_LIMIT", 1500)
    broken = big_message()
    broken.nodes.add().payload = b"u" * 2000
    with pytest.raises(ps.SplitError, match="over protobuf's 2 GiB limit"):
        ps.write(broken, tmp_path / "m", 1000)
    assert os.listdir(tmp_path) == ["m.cpb"]
    assert ps.read(path, t.Everything) == before


def test_a_missing_folder_is_reported_and_creates_nothing(tmp_path):
    with pytest.raises(FileNotFoundError):
        _atomic.write_bytes(tmp_path / "no" / "such" / "file", b"x")
    with pytest.raises(ps.ChunkedFileNotFoundError):
        ps.write(small_message(), tmp_path / "no" / "m")
    with pytest.raises(ps.RiegeliError, match="cannot write"):
        riegeli.RecordWriter(tmp_path / "no" / "records")
    assert os.listdir(tmp_path) == []
