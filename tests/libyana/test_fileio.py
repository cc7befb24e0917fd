import os
import stat

import pytest

from libyana.fileio import atomic_copy, atomic_open, atomic_path, atomic_write_bytes, atomic_write_text


def test_writes_round_trip_and_create_missing_folders(tmp_path):
    atomic_write_bytes(tmp_path / "a" / "b.bin", b"\x00\x01\xff")
    atomic_write_text(tmp_path / "a" / "c.txt", "héllo\n", fsync=False)
    atomic_copy(tmp_path / "a" / "b.bin", tmp_path / "d" / "copy.bin")
    assert (tmp_path / "a" / "b.bin").read_bytes() == b"\x00\x01\xff"
    assert (tmp_path / "a" / "c.txt").read_text(encoding="utf-8") == "héllo\n"
    assert (tmp_path / "d" / "copy.bin").read_bytes() == b"\x00\x01\xff"
    assert sorted(p.name for p in (tmp_path / "a").iterdir()) == ["b.bin", "c.txt"]


def test_failure_keeps_previous_content_and_leaves_no_temporary(tmp_path):
    target = tmp_path / "out.txt"
    atomic_write_text(target, "old")
    with pytest.raises(RuntimeError):
        with atomic_open(target, "w") as stream:
            stream.write("partial")
            raise RuntimeError("interrupted")
    with pytest.raises(ZeroDivisionError):
        with atomic_path(target, suffix=".png") as tmp:
            assert tmp.parent == tmp_path and tmp.name.startswith(".out.txt.") and tmp.suffix == ".png"
            tmp.write_text("partial")
            1 / 0
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["out.txt"]


def test_permissions_follow_the_umask_like_a_plain_open(tmp_path):
    (tmp_path / "plain").write_bytes(b"x")
    atomic_write_bytes(tmp_path / "atomic", b"x")
    mode = lambda p: stat.S_IMODE(os.stat(p).st_mode)  # noqa: E731
    assert mode(tmp_path / "atomic") == mode(tmp_path / "plain")


def test_read_modes_are_rejected(tmp_path):
    with pytest.raises(ValueError, match="mode"):
        with atomic_open(tmp_path / "x", "rb"):
            pass
