"""The project's error vocabulary: which failures are the user's to fix, and their one-line descriptions.

Every command-line entry point reports a UserError (a bad flag, a missing or malformed input file, an output
folder that cannot be written) as one line "error: ..." and exits non-zero, while any other exception (a
programming error) keeps its traceback; handobjectconsist.entry applies that policy. Error classes elsewhere in
the project (datasets.errors, mano.loader, training.checkpoints) derive from UserError besides their usual
built-in base (FileNotFoundError, ValueError, ...), so callers that catch the built-in type keep working.
"""

import errno
import re
from pathlib import Path
from typing import Optional

__all__ = ["Interrupted", "OutputWriteError", "UsageError", "UserError", "describe_os_error",
           "require_output_dir", "worker_user_error"]


class UserError(Exception):
    """Marker base of every failure caused by the user's input or environment, not by a bug."""


class UsageError(UserError, ValueError):
    """Flags that cannot work together or with the given data; the message names the flag(s)."""


class OutputWriteError(UserError, OSError):
    """An output file could not be written (disk full, read-only folder, ...); the message says which."""


class Interrupted(KeyboardInterrupt):
    """The run was stopped by a signal (SIGINT / SIGTERM); note says what was saved."""

    def __init__(self, signal_name: str = "SIGINT", note: str = "", quiet: bool = False):
        super().__init__(signal_name, note)
        self.signal_name = signal_name
        self.note = note
        self.quiet = quiet  # True on the ranks other than 0 of a torchrun job: rank 0 alone reports the stop

    def __str__(self) -> str:
        message = f"interrupted by {self.signal_name}"
        return f"{message}; {self.note}" if self.note else message


def require_output_dir(path, flag: str) -> Path:
    """`path` as a Path when it is a folder or can be made one; UsageError naming `flag` when it, or a folder it
    would be created in, is an existing file (checked before any work, so nothing is computed for nothing)."""
    path = Path(path)
    for candidate in (path, *path.parents):
        if candidate.exists():
            if not candidate.is_dir():
                what = "is an existing file" if candidate == path else f"is inside {candidate}, an existing file"
                raise UsageError(f"{flag} {path}: {what}, not a folder; choose another {flag}")
            break
    return path


# errno -> what went wrong, for the output failures a user can fix.
_WRITE_ERRNOS = {
    errno.ENOSPC: "no space left on device",
    errno.EDQUOT: "disk quota exceeded",
    errno.EROFS: "read-only file system",
    errno.EACCES: "permission denied",
    errno.EPERM: "operation not permitted",
    errno.EFBIG: "file too large (file-size limit reached)",
}


def describe_os_error(err: BaseException, path=None) -> Optional[str]:
    """"<problem> while writing <path>" for a disk-full / read-only / permission OSError, else None.

    The OSError may also be the cause or context of err: torch.save, for one, reports a full disk as a
    RuntimeError raised while handling the OSError. path: the file being written (default: the OSError's own
    filename).
    """
    seen = set()
    while err is not None and id(err) not in seen and not (isinstance(err, OSError) and err.errno in _WRITE_ERRNOS):
        seen.add(id(err))
        err = err.__cause__ or err.__context__
    if err is None or id(err) in seen:
        return None
    target = path if path is not None else (err.filename or "an output file")
    return f"{_WRITE_ERRNOS[err.errno]} while writing {target}"


_WORKER_HEADER = re.compile(r"^Caught (\w+) in DataLoader worker process \d+")
_LAST_LINE = re.compile(r"^(?:[\w.]+\.)?(\w+): (.*)$")


def _user_error_names() -> set:
    names, stack = set(), [UserError]
    while stack:
        cls = stack.pop()
        names.add(cls.__name__)
        stack.extend(cls.__subclasses__())
    return names


def worker_user_error(err: BaseException) -> Optional[str]:
    """The message of a UserError raised inside a DataLoader worker, else None.

    torch re-raises a worker's exception in the main process with the worker's whole traceback as its message
    (as a RuntimeError when the class cannot be rebuilt from one string); this recovers the original one-line
    message when the original class is a UserError.
    """
    lines = str(err).strip().splitlines()
    header = _WORKER_HEADER.match(lines[0]) if lines else None
    if header is None or header.group(1) not in _user_error_names():
        return None
    last = _LAST_LINE.match(lines[-1].strip())
    return last.group(2) if last else lines[-1].strip()
