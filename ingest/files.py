"""Find the paper files under the paths a user gives: files as they are, folders walked recursively.

The walk is deterministic (names sorted), skips hidden files and folders, never follows a symlink
loop (each real folder is walked once) and never opens anything but a regular file: reading a FIFO
would block forever and a device could be endless, so those are skipped with the reason. Each file's
format comes from `readers.detect_format`; in a folder, a file of no known format is a skip with its
reason, since folders hold other things too. A file named explicitly must exist; its format may be
unknown (None) so that `--format` can still force one.
"""

from __future__ import annotations

import errno
import os
import stat
from collections.abc import Iterable
from pathlib import Path

from paperchat.ingest.readers import detect_format
from paperchat.rag.errors import InputFormatError, PaperchatError

Found = list[tuple[Path, str | None]]
Skipped = list[tuple[Path, str]]

_KINDS = {stat.S_IFIFO: "a FIFO", stat.S_IFSOCK: "a socket", stat.S_IFCHR: "a character device",
          stat.S_IFBLK: "a block device"}


def discover(paths: Iterable[Path | str]) -> tuple[Found, Skipped]:
    """(files with their detected format, skipped paths with the reason), in a stable order.

    A missing path given explicitly raises InputFormatError; everything found inside folders that cannot
    be ingested is skipped, never raised.
    """
    walk = _Walk()
    for path in (Path(p) for p in paths):
        walk.explicit(path)
    return walk.files, walk.skipped


class _Walk:
    def __init__(self) -> None:
        self.files: Found = []
        self.skipped: Skipped = []
        self._seen_dirs: set[tuple[int, int]] = set()
        self._seen_files: dict[tuple[int, int], Path] = {}

    def explicit(self, path: Path) -> None:
        info, reason = _stat(path)
        if info is None:
            raise InputFormatError(path, reason)
        if stat.S_ISDIR(info.st_mode):
            self._folder(path, info)
        elif stat.S_ISREG(info.st_mode):
            self._file(path, info, explicit=True)
        else:
            self.skipped.append((path, _not_regular(info)))

    def _folder(self, folder: Path, info: os.stat_result) -> None:
        key = (info.st_dev, info.st_ino)
        if key in self._seen_dirs:
            self.skipped.append((folder, "symlink loop or folder already walked"))
            return
        self._seen_dirs.add(key)
        try:
            with os.scandir(folder) as entries:
                names = sorted(entry.name for entry in entries)
        except OSError as err:
            self.skipped.append((folder, f"cannot read the folder: {err.strerror or err}"))
            return
        for name in names:
            if name.startswith("."):
                continue
            self._entry(folder / name)

    def _entry(self, path: Path) -> None:
        info, reason = _stat(path)
        if info is None:
            self.skipped.append((path, reason))
        elif stat.S_ISDIR(info.st_mode):
            self._folder(path, info)
        elif stat.S_ISREG(info.st_mode):
            self._file(path, info, explicit=False)
        else:
            self.skipped.append((path, _not_regular(info)))

    def _file(self, path: Path, info: os.stat_result, explicit: bool) -> None:
        key = (info.st_dev, info.st_ino)
        if key in self._seen_files:
            self.skipped.append((path, f"same file as {self._seen_files[key]}"))
            return
        self._seen_files[key] = path
        try:
            fmt: str | None = detect_format(path)
        except PaperchatError as err:
            if not explicit:
                self.skipped.append((path, getattr(err, "reason", None) or _without_path(str(err), path)))
                return
            fmt = None
        self.files.append((path, fmt))


def _stat(path: Path) -> tuple[os.stat_result | None, str]:
    """stat() following symlinks, without opening the file; (None, why) when it does not resolve."""
    try:
        return path.stat(), ""
    except OSError as err:
        if err.errno == errno.ELOOP:
            return None, "symlink loop"
        if err.errno in (errno.ENOENT, errno.ENOTDIR):
            return None, "broken symlink" if path.is_symlink() else "file not found"
        return None, f"cannot read: {err.strerror or err}"


def _not_regular(info: os.stat_result) -> str:
    kind = _KINDS.get(stat.S_IFMT(info.st_mode), "not a regular file")
    return f"not a regular file ({kind})" if kind != "not a regular file" else kind


def _without_path(message: str, path: Path) -> str:
    return message.removeprefix(f"{path}: ")
