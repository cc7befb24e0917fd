"""All-or-nothing output folder: everything is written to a hidden sibling folder that becomes --out at the end.

    check_output_folder(out, overwrite)          # before any work: PredictError if --out cannot be used
    with staged_folder(out, overwrite) as tmp:   # write into tmp
        ...
    # success: tmp was renamed to out (an existing out, when overwrite, is replaced only now)
    # failure or Ctrl-C: tmp and any parent folders created for it are removed; out is untouched

The hidden folder is ".<out name>.partial-<pid>" next to out (a rename is atomic only within one file system).
"""

import os
import shutil
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator, List

from handobjectconsist.predict.errors import PredictError


def check_output_folder(out, overwrite: bool) -> Path:
    """PredictError if out is a file, or a non-empty folder without overwrite."""
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise PredictError(f"--out {out}: exists and is a file; give a folder path")
    if out.is_dir() and any(out.iterdir()) and not overwrite:
        raise PredictError(f"--out {out}: folder exists and is not empty; choose a new folder or pass --overwrite "
                           f"to replace it")
    return out


def _missing_parents(path: Path) -> List[Path]:
    missing = []
    for parent in path.absolute().parents:
        if parent.exists():
            break
        missing.append(parent)
    return missing


@contextmanager
def staged_folder(out, overwrite: bool = False) -> Iterator[Path]:
    """Yield a fresh hidden folder next to `out`; on success it replaces `out` (see the module docstring)."""
    out = check_output_folder(out, overwrite)
    created = _missing_parents(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.parent / f".{out.name}.partial-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir()
    old = None
    try:
        yield tmp
        if out.exists():
            old = out.parent / f".{out.name}.old-{os.getpid()}"
            os.replace(out, old)
        os.replace(tmp, out)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
    except BaseException:
        if old is not None and old.exists() and not out.exists():
            os.replace(old, out)  # the final rename failed: put the previous folder back
        shutil.rmtree(tmp, ignore_errors=True)
        for parent in created:  # innermost first
            try:
                parent.rmdir()
            except OSError:
                break
        raise
