"""The one write path for every local output: `report --out`, `recommend --out`, `plan --out`, `matrix --write`,
and the result files of `bench`/`heartbeat` (and the pods) when they go to a local path.

Its promises (README "Exit codes" and write-once):
- nothing the user had is replaced: a file is created exclusively (``link(2)``/``O_EXCL`` never follow a link at
  the destination, so a dangling symlink cannot redirect a write outside the target);
- a multi-file output appears whole or not at all: the files are written into a temporary directory beside the
  target and moved in at the end (one ``rename`` for a new directory; exclusive links into an existing one, undone
  if any name is taken);
- a target tpustack cannot use fails before anything is written, as an input error naming the option, the path and
  the fix (below a file, a name or path the filesystem cannot hold, a symbolic link, a directory not empty), and a
  filesystem that refuses the write (permissions, read-only, full) as a runtime error (exit 1).

Standard library only: the pods use it too.
"""

from __future__ import annotations

import contextlib
import errno
import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from tpustack.core.errors import InputError, TpuStackError

NAME_MAX = 255  # bytes of one path component (Linux, macOS)
PATH_MAX = 4096  # bytes of a whole path (Linux)
_TMP_SUFFIX = 24  # what the temporary directory's name adds to the target's name


def _shown(path: Path) -> str:
    s = str(path)
    return s if len(s) <= 160 else f"{s[:80]}...{s[-60:]}"  # an absurd path is named, not echoed whole


def _too_long(path: Path, option: str, extra: int = 0) -> None:
    absolute = os.path.abspath(path)
    if len(os.fsencode(absolute)) + extra >= PATH_MAX:
        raise InputError(
            f"{option} {_shown(path)}: the path is {len(os.fsencode(absolute))} bytes, more than the filesystem "
            f"takes ({PATH_MAX})",
            fix="a shorter path",
        )
    for part in Path(absolute).parts:
        if len(os.fsencode(part)) + extra > NAME_MAX:
            raise InputError(
                f"{option} {_shown(path)}: a name in it is {len(os.fsencode(part))} bytes, more than a filesystem "
                f"name may be ({NAME_MAX - extra} here)",
                fix="a shorter name",
            )


def _existing_ancestor(path: Path, option: str) -> Path:
    """The nearest ancestor that exists; it must be a directory (a path below a file cannot be created)."""
    for parent in Path(os.path.abspath(path)).parents:
        if parent.is_symlink() and not parent.exists():
            raise InputError(
                f"{option} {_shown(path)}: {parent} is a dangling symbolic link",
                fix="a path in a directory that exists, or make the link's target",
            )
        if parent.exists():
            if not parent.is_dir():
                raise InputError(
                    f"{option} {_shown(path)}: {parent} is a file, so nothing can be written below it",
                    fix="a path in a directory",
                )
            return parent
    return Path("/")


def check_dir(out_dir: Path, option: str = "--out", *, empty: bool = True, names: tuple[str, ...] = ()) -> None:
    """Before any work: ``out_dir`` can receive a new output. ``empty``: it must be new or empty (a directory
    ``kubectl apply -f`` reads whole); otherwise only ``names`` must be free in it (a report beside other files)."""
    _too_long(out_dir, option, extra=_TMP_SUFFIX)
    if out_dir.is_symlink():
        raise InputError(
            f"{option} {_shown(out_dir)}: is a symbolic link; outputs are written into real directories only",
            fix=f"pass the directory itself ({os.path.realpath(out_dir)}) or a new one",
        )
    ancestor = _existing_ancestor(out_dir, option)
    if not out_dir.exists():
        if not os.access(ancestor, os.W_OK | os.X_OK):
            raise TpuStackError(f"{option} {_shown(out_dir)}: {ancestor} is not writable", fix="a path you can write")
        return
    if not out_dir.is_dir():
        raise InputError(f"{option} {_shown(out_dir)}: is a file", fix="pass a directory (new or empty)")
    taken = [n for n in names if os.path.lexists(out_dir / n)]
    if taken:
        raise InputError(
            f"{option} {_shown(out_dir)}: already holds {', '.join(taken)}; outputs are never replaced",
            fix="pass a new directory, or move the old files away",
        )
    if empty and any(out_dir.iterdir()):
        raise InputError(
            f"{option} {_shown(out_dir)}: is not empty; this output goes into a new or empty directory "
            "(nothing is ever replaced)",
            fix="pass a new directory, or empty this one first",
        )
    if not os.access(out_dir, os.W_OK | os.X_OK):
        raise TpuStackError(f"{option} {_shown(out_dir)}: is not writable", fix="a directory you can write")


def _failure(e: OSError, option: str, target: Path) -> TpuStackError:
    what = e.strerror or type(e).__name__
    if e.errno in (errno.ENOTDIR, errno.ENAMETOOLONG, errno.ELOOP, errno.EEXIST, errno.EISDIR):
        return InputError(f"{option} {_shown(target)}: {what}; nothing was written", fix="a new path you can write")
    return TpuStackError(f"{option} {_shown(target)}: {what}; nothing was written", fix="a path you can write")


def _publish(tmp: Path, out_dir: Path, option: str) -> None:
    if not os.path.lexists(out_dir):
        try:
            os.rename(tmp, out_dir)  # one step: the directory appears whole
            return
        except OSError as e:
            if e.errno not in (errno.EEXIST, errno.ENOTEMPTY):
                raise
        if out_dir.is_symlink() or not out_dir.is_dir():
            raise InputError(f"{option} {_shown(out_dir)}: appeared while writing; nothing was written", fix="retry")
    linked: list[Path] = []
    try:
        _link_tree(tmp, out_dir, linked)
    except FileExistsError:
        for dest in reversed(linked):  # files, then the directories made for them
            dest.rmdir() if dest.is_dir() and not dest.is_symlink() else dest.unlink()
        raise InputError(
            f"{option} {_shown(out_dir)}: a file of this output appeared there while writing; nothing was written",
            fix="pass a new directory",
        ) from None


def _link_tree(src: Path, dest_dir: Path, linked: list[Path]) -> None:
    """Every file below ``src`` linked to the same place below ``dest_dir``, each directory made new (``mkdir``:
    EEXIST on any existing name, as ``link`` for files): nothing already there is entered, followed or replaced."""
    for f in sorted(src.iterdir()):
        dest = dest_dir / f.name
        if f.is_dir() and not f.is_symlink():
            os.mkdir(dest)
            linked.append(dest)
            _link_tree(f, dest, linked)
        else:
            os.link(f, dest, follow_symlinks=False)  # EEXIST on any existing name, a dangling link included
            linked.append(dest)


@contextmanager
def staged_dir(
    out_dir: Path, option: str = "--out", *, empty: bool = True, names: tuple[str, ...] = ()
) -> Iterator[Path]:
    """A temporary directory to write the whole output into; on a clean exit its files land in ``out_dir`` at
    once, on an exception nothing does. Checks ``out_dir`` first (``check_dir``)."""
    check_dir(out_dir, option, empty=empty, names=names)
    exists = out_dir.is_dir()
    try:
        base = out_dir if exists else out_dir.parent
        base.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.", suffix=".tmp", dir=base))
    except OSError as e:
        raise _failure(e, option, out_dir) from None
    try:
        yield tmp
        try:
            _publish(tmp, out_dir, option)
        except OSError as e:
            raise _failure(e, option, out_dir) from None
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def check_file(path: Path, option: str = "--out") -> None:
    """Before any work: ``path`` can be created as a new file."""
    _too_long(path, option, extra=_TMP_SUFFIX)
    if os.path.lexists(path):
        kind = "a directory" if path.is_dir() else "a symbolic link" if path.is_symlink() else "a file"
        raise InputError(
            f"{option} {_shown(path)}: already exists ({kind}); results are write-once", fix="a new file name"
        )
    ancestor = _existing_ancestor(path, option)
    if not os.access(ancestor, os.W_OK | os.X_OK):
        raise TpuStackError(f"{option} {_shown(path)}: {ancestor} is not writable", fix="a path you can write")


def write_file(path: Path, data: bytes, option: str = "--out") -> Path:
    """Create ``path`` (its directories made) holding ``data``, whole or not at all; never replaces anything."""
    check_file(path, option)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name[:200]}.", suffix=".tmp", dir=path.parent)
    except OSError as e:
        raise _failure(e, option, path) from None
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.link(tmp, path, follow_symlinks=False)
    except FileExistsError:
        raise InputError(
            f"{option} {_shown(path)}: already exists; results are write-once", fix="a new file name"
        ) from None
    except OSError as e:
        raise _failure(e, option, path) from None
    finally:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
    return path
