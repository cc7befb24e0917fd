"""Atomic file writes: write next to the target, then os.replace, so readers never see a partial file.

A failed or interrupted write leaves the previous file (if any) untouched and no temporary file behind.
Temporary files live in the target's folder (os.replace is atomic only within one file system) and are named
".<target name>.<pid>.<random>.tmp" (hidden, and distinct per writer).
"""

import os
import re
import secrets
import shutil
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Iterator, List, Union

PathLike = Union[str, Path]
# ".<target name>.<pid>.<8 hex digits><suffix>", as made by atomic_path.
_TEMPORARY_NAME = re.compile(r"^\..+\.(\d+)\.[0-9a-f]{8}(\.\w+)$")


@contextmanager
def atomic_path(path: PathLike, suffix: str = ".tmp") -> Iterator[Path]:
    """Yield a temporary path in path's folder (created if missing); on success it replaces `path`.

    The caller writes the temporary path by name (e.g. fig.savefig(tmp), which needs the image suffix: pass
    suffix=".png"). On any exception the temporary file is removed and the exception propagates.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.parent / f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}{suffix}"
    try:
        yield tmp
        os.replace(tmp, path)
    except BaseException:
        if tmp.exists():
            tmp.unlink()
        raise


@contextmanager
def atomic_open(path: PathLike, mode: str = "wb", fsync: bool = True, **open_kwargs) -> Iterator[IO]:
    """open() a temporary file for writing; when the block ends without error it is flushed, fsync'ed (unless
    fsync=False) and renamed onto `path`. mode: "w" or "wb" (plus open_kwargs such as encoding)."""
    if not mode.startswith("w"):
        raise ValueError(f"atomic_open writes a new file: mode must start with 'w', got {mode!r}")
    with atomic_path(path) as tmp:
        with open(tmp, mode, **open_kwargs) as stream:
            yield stream
            stream.flush()
            if fsync:
                os.fsync(stream.fileno())


def atomic_write_bytes(path: PathLike, data: bytes, fsync: bool = True) -> None:
    """Write `data` to `path` atomically."""
    with atomic_open(path, "wb", fsync=fsync) as stream:
        stream.write(data)


def atomic_write_text(path: PathLike, text: str, encoding: str = "utf-8", fsync: bool = True) -> None:
    """Write `text` to `path` atomically."""
    with atomic_open(path, "w", fsync=fsync, encoding=encoding) as stream:
        stream.write(text)


def atomic_copy(src: PathLike, dst: PathLike) -> None:
    """Copy the file src to dst atomically (dst's folder is created if missing)."""
    with atomic_path(dst) as tmp:
        shutil.copyfile(src, tmp)


def _process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by someone else
        return True
    return True


def remove_stale_temporaries(folder: PathLike) -> List[Path]:
    """Delete the temporary files of atomic_path in `folder` (not its subfolders) whose writing process no longer
    runs (left by a kill -9 or a power cut); returns the removed paths. A missing folder is not an error."""
    folder = Path(folder)
    if not folder.is_dir():
        return []
    removed = []
    for path in folder.iterdir():
        match = _TEMPORARY_NAME.match(path.name)
        if match is None or not path.is_file():
            continue
        pid = int(match.group(1))
        if pid != os.getpid() and _process_alive(pid):
            continue
        path.unlink(missing_ok=True)
        removed.append(path)
    return removed
