"""Crash-safe file writes: temp name, fsync, rename, fsync the folder; and cache files."""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Sequence
from pathlib import Path

PRIVATE_FILE = 0o600  # readers' addresses, their tokens, the key that signs links
PRIVATE_FOLDER = 0o700
_FSYNC_WORKERS = 32  # fsyncs waiting at once: enough for the journal to commit them in groups


def private_folder(folder: Path) -> None:
    """Create ``folder``, and each missing folder above it, for its owner only (0700).

    An existing folder keeps its mode: ``digest check`` warns when others can read it.
    """
    missing = [p for p in (folder, *folder.parents) if not p.exists()]
    for path in reversed(missing):
        with contextlib.suppress(FileExistsError):  # made by another process meanwhile
            path.mkdir(mode=PRIVATE_FOLDER)
    folder.mkdir(exist_ok=True)  # the error, if it is something else than a folder


def private_file(path: Path) -> None:
    """Create ``path`` empty with mode 0600 unless it exists (then it is left as it is).

    An existing file is not even opened: SQLite's locks are POSIX locks, which closing any
    descriptor of the file drops for the whole process, so touching an open database here
    released the locks of its connections in other threads (and another process could
    then remove the WAL under them: unsubscribes taken during a build were lost).
    """
    with contextlib.suppress(FileExistsError):
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, PRIVATE_FILE))


def fsync_dir(folder: Path) -> None:
    """Make a rename inside ``folder`` durable (a no-op where folders cannot be opened)."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def fsync_files(paths: Sequence[Path]) -> None:
    """Make files already written and closed durable, one fsync each.

    Each fsync of a new file on ext4 waits for a journal commit of its own (a few ms); run
    side by side, the file system commits them in groups, so a batch of 10,000 takes about
    a second instead of a minute, and nothing but these files is flushed.
    """
    if len(paths) <= 1:
        for path in paths:
            _fsync_file(path)
        return
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(max_workers=min(_FSYNC_WORKERS, len(paths))) as pool:
        for _ in pool.map(_fsync_file, paths):  # re-raises the first OSError
            pass


def _fsync_file(path: Path) -> None:
    """fsync one file by name."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_new(path: Path, data: bytes) -> None:
    """Write a file that must not exist yet, fsynced; fails with FileExistsError if it does."""
    with path.open("xb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())


def atomic_write(path: Path, data: bytes, *, durable: bool = True, mode: int | None = None) -> None:
    """Replace ``path`` with ``data`` so readers see the old or the new file, never half.

    ``durable=False`` skips the fsyncs, for files that are rebuilt from others anyway (the
    archive pages): a power cut may then leave the old or an empty file, never a torn one.
    ``mode`` gives the new file those permissions before it takes the name (else the
    umask's).
    """
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        with tmp.open("wb") as handle:
            if mode is not None:
                os.fchmod(handle.fileno(), mode)
            handle.write(data)
            if durable:
                handle.flush()
                os.fsync(handle.fileno())
        tmp.replace(path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    if durable:
        fsync_dir(path.parent)


def create_new(path: Path, data: bytes) -> bool:
    """Write a new file atomically unless ``path`` exists; False when it already does.

    ``link`` refuses an existing name, so a file that appeared meanwhile is never replaced.
    """
    tmp = path.with_name(f".{path.name}.{os.urandom(6).hex()}.tmp")
    # 0o666 lets the umask decide the mode, like any new file (mkstemp would give 0o600).
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        try:
            os.link(tmp, path)
        except FileExistsError:
            return False
        except OSError:  # a file system without hard links
            if path.exists():
                return False
            tmp.replace(path)
    finally:
        tmp.unlink(missing_ok=True)
    return True


def save_cache(path: Path, data: bytes) -> None:
    """Replace a cache file atomically, or skip it where it cannot be written.

    No fsync: a cache lost or emptied by a power cut reads as no cache and is rebuilt.
    """
    tmp: str | None = None
    try:
        private_folder(path.parent)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        Path(tmp).replace(path)
        tmp = None
    except OSError:
        pass
    finally:
        if tmp is not None:
            Path(tmp).unlink(missing_ok=True)
