"""mosaic from Python: run the `mosaic` binary this wheel installs and get its findings.

    import mosaic
    report = mosaic.scan(["release/"], published=["already-public/"])
    if report["verdict"] == "hold":
        ...  # the release is on hold: see report["findings"]

`scan` returns the findings JSON (schema `mosaic/findings/v1`) as a dict. A hold is a
result, not an error: the verdict says it (exit 1). A usage or configuration error
(exit 2) or an incomplete scan (exit 3: an input could not be read, so nothing can be
called clean) raises `MosaicError`, unless `check=False`.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path
from typing import Iterable, Optional, Sequence, Union

__all__ = ["scan", "binary", "MosaicError", "EXIT_PASS", "EXIT_HOLD", "EXIT_USAGE", "EXIT_INCOMPLETE"]

EXIT_PASS = 0
EXIT_HOLD = 1
EXIT_USAGE = 2
EXIT_INCOMPLETE = 3

PathLike = Union[str, os.PathLike]


class MosaicError(RuntimeError):
    """A scan that ended in a usage error (exit 2) or incomplete (exit 3)."""

    def __init__(self, code: int, stderr: str, report: Optional[dict]):
        self.code = code
        self.stderr = stderr
        self.report = report
        what = "usage or configuration error" if code == EXIT_USAGE else "incomplete: an input could not be read"
        detail = stderr.strip().splitlines()
        super().__init__(f"mosaic exited {code} ({what})" + (f": {detail[-1]}" if detail else ""))


def binary() -> str:
    """The `mosaic` executable: $MOSAIC_BIN, else the one installed beside this
    interpreter's scripts (the wheel's), else the first on PATH."""
    explicit = os.environ.get("MOSAIC_BIN")
    if explicit:
        return explicit
    name = "mosaic.exe" if sys.platform == "win32" else "mosaic"
    for scheme_dir in {sysconfig.get_path("scripts"), str(Path(sys.executable).parent)}:
        candidate = Path(scheme_dir) / name
        if candidate.is_file():
            return str(candidate)
    found = shutil.which("mosaic")
    if found:
        return found
    raise FileNotFoundError("the mosaic binary is not installed (pip install the mosaic wheel, or set MOSAIC_BIN)")


def scan(
    paths: Union[PathLike, Sequence[PathLike]],
    rules: Iterable[PathLike] = (),
    published: Iterable[PathLike] = (),
    no_builtin: bool = False,
    ledger: Optional[PathLike] = None,
    fix_search: bool = True,
    strict: bool = False,
    extra_args: Sequence[str] = (),
    check: bool = True,
    timeout: Optional[float] = None,
) -> dict:
    """Scan `paths` (files, directories, hive tables) and return the findings JSON.

    rules: pack files or directories added to the built-in packs (`no_builtin` to use
    only these); published: data already public, scanned together with the release;
    ledger: an SQLite ledger to record holds in; check: raise `MosaicError` on exit
    2 or 3 (with `check=False` the report, if any, is returned with `exit_code` set).
    """
    if isinstance(paths, (str, os.PathLike)):
        paths = [paths]
    cmd = [binary(), "scan", *map(os.fspath, paths), "--format", "json", "--quiet"]
    for r in rules:
        cmd += ["--rules", os.fspath(r)]
    for p in published:
        cmd += ["--published", os.fspath(p)]
    if no_builtin:
        cmd.append("--no-builtin")
    if ledger is not None:
        cmd += ["--ledger", os.fspath(ledger)]
    if not fix_search:
        cmd.append("--no-fix-search")
    if strict:
        cmd.append("--strict")
    cmd += list(extra_args)
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    report: Optional[dict] = None
    if done.stdout.strip():
        try:
            report = json.loads(done.stdout)
        except json.JSONDecodeError:
            report = None
    if done.returncode in (EXIT_USAGE, EXIT_INCOMPLETE) or report is None:
        if check or report is None:
            raise MosaicError(done.returncode, done.stderr, report)
    report["exit_code"] = done.returncode
    return report
