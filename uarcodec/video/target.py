"""Where a writer puts its bytes: a temporary file renamed into place only on success."""

from __future__ import annotations

import os
from pathlib import Path

from uarcodec.errors import UarInputError

STDOUT = "-"


def partial_path(target: Path) -> Path:
    """The temporary name used while ``target`` is being written: ``.name.partial`` beside it."""
    return target.with_name(f".{target.name}.partial")


class OutputTarget:
    """An output file written atomically.

    On creation it checks that the target may be written (its folder exists; it is not a
    folder; it does not exist unless ``overwrite``). Writers write to ``write_path`` and then
    call ``commit()`` (rename into place) or ``discard()`` (delete the temporary file; the
    target is left untouched).
    """

    def __init__(self, path: str | os.PathLike[str], *, overwrite: bool) -> None:
        self.path = Path(path)
        self.overwrite = overwrite
        self.write_path = partial_path(self.path)
        self._check_writable()

    def _check_writable(self) -> None:
        folder = self.path.parent
        if not folder.is_dir():
            raise UarInputError(f"{self.path}: cannot write, folder {str(folder)!r} does not exist")
        if self.path.is_dir():
            raise UarInputError(f"{self.path}: cannot write, it is a folder")
        if self.path.exists() and not self.overwrite:
            raise UarInputError(f"{self.path}: already exists (allow overwriting to replace it)")

    def commit(self) -> None:
        """Move the finished temporary file onto the target."""
        if self.path.exists() and not self.overwrite:
            self.discard()
            raise UarInputError(f"{self.path}: appeared while writing; not overwritten")
        os.replace(self.write_path, self.path)

    def discard(self) -> None:
        """Delete the temporary file if there is one."""
        try:
            self.write_path.unlink()
        except FileNotFoundError:
            pass
