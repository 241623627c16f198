"""Writing output files: never over an existing file without force, never half-written."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from qgen.errors import QgenError

__all__ = ["check_writable", "write_atomic"]


def check_writable(path: str | os.PathLike, *, force: bool = False,
                   field: str = "--output") -> Path:
    """Refuse, before any work is done, a path that exists (without force) or whose
    folder cannot be written."""
    target = Path(path)
    if target.is_dir():
        raise QgenError(f"{field}={str(path)!r} is a directory; give a file name")
    if target.exists() and not force:
        raise QgenError(f"{field}={str(path)!r} exists; use --force to overwrite it")
    folder = target.parent if str(target.parent) else Path(".")
    if not folder.is_dir():
        raise QgenError(f"{field}={str(path)!r}: folder {str(folder)!r} does not exist")
    if not os.access(folder, os.W_OK | os.X_OK):
        raise QgenError(f"{field}={str(path)!r}: folder {str(folder)!r} is not writable")
    return target


def write_atomic(path: str | os.PathLike, data: str | bytes, *, force: bool = False,
                 field: str = "--output") -> Path:
    """Write to a temporary file beside the target, then rename it over: an interrupted
    write leaves the old file (or none), never a partial one."""
    target = check_writable(path, force=force, field=field)
    mode = "wb" if isinstance(data, bytes) else "w"
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp",
                               dir=target.parent if str(target.parent) else ".")
    try:
        with os.fdopen(fd, mode, **({} if mode == "wb" else {"encoding": "utf-8"})) as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, 0o644)
        if target.exists() and not force:  # appeared meanwhile
            raise QgenError(f"{field}={str(path)!r} exists; use --force to overwrite it")
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return target
