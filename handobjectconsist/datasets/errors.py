"""Errors for user-side data problems: each names the path (and line) and says what was expected."""

from pathlib import Path
from typing import Optional

from handobjectconsist.errors import UserError


class MissingDataError(UserError, FileNotFoundError):
    """A dataset folder or file is missing."""

    def __init__(self, path, what: str, how: Optional[str] = None):
        self.path = Path(path)
        message = f"missing {self.path}: expected {what}"
        if how:
            message += f". {how}"
        super().__init__(message)

    def __str__(self) -> str:  # FileNotFoundError would otherwise print only errno-style text
        return self.args[0]


class AnnotationFormatError(UserError, ValueError):
    """An annotation file has a malformed line."""

    def __init__(self, path, line_number: Optional[int], problem: str):
        self.path = Path(path)
        self.line_number = line_number
        where = f"{self.path}" if line_number is None else f"{self.path}, line {line_number}"
        super().__init__(f"malformed annotation in {where}: {problem}")


class CorruptFileError(UserError, ValueError):
    """A data file exists but cannot be decoded (truncated or garbage image, unreadable pickle)."""

    def __init__(self, path, what: str, detail: str):
        self.path = Path(path)
        super().__init__(f"cannot read {self.path}: {detail}; expected {what}. Replace or remove the file")


def require_dir(path, what: str, how: Optional[str] = None) -> Path:
    """Return `path` as a Path if it is a folder, else raise MissingDataError."""
    path = Path(path)
    if not path.is_dir():
        raise MissingDataError(path, what, how)
    return path


def require_file(path, what: str, how: Optional[str] = None) -> Path:
    """Return `path` as a Path if it is a file, else raise MissingDataError."""
    path = Path(path)
    if not path.is_file():
        raise MissingDataError(path, what, how)
    return path
