"""The data folder a teacher names with ``nnsim serve --data DIR``: CSV files a student in a
browser may train on, picked by name.

A served student must not be able to name a path on the server, so the dashboard offers these
names instead of a path field, and a name is turned back into a path only here: a plain file
directly in the folder, never a link (which could point anywhere), a subfolder, a hidden file or
a name with a separator or ``..`` in it.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from ..config import ConfigError

SUFFIX = ".csv"


def _is_plain_file(folder: Path, name: str) -> bool:
    try:
        mode = os.lstat(folder / name).st_mode      # lstat: a link is a link, not its target
    except OSError:
        return False
    return stat.S_ISREG(mode)


def folder_files(folder: Path | None) -> tuple[str, ...]:
    """The names a student may pick, sorted; none without a folder or when it cannot be read."""
    if folder is None:
        return ()
    try:
        names = os.listdir(folder)
    except OSError:
        return ()
    return tuple(sorted(name for name in names
                        if name.lower().endswith(SUFFIX) and not name.startswith(".")
                        and _is_plain_file(folder, name)))


def folder_file(folder: Path | None, name: str) -> Path:
    """The path of the file ``name`` in ``folder``; raises ``ConfigError`` (naming only ``name``,
    never a path of the server) for any name not offered by ``folder_files``."""
    if name not in folder_files(folder):
        raise ConfigError("data.path", f"expected one of the class's data files, got {name!r}")
    return folder / name
