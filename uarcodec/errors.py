"""Typed errors raised by the library. Only the CLI turns them into messages and exit codes."""

from __future__ import annotations


class UarError(Exception):
    """Base class of every error the library raises on purpose."""


class UarInputError(UarError):
    """The input video or a user-given option cannot be used (missing file, bad size, ...)."""


class UarFormatError(UarError):
    """A .uar stream is malformed, truncated, corrupted, foreign or of an unsupported version.

    ``where`` names the place (chunk name and byte offset) when it is known.
    """

    def __init__(self, message: str, *, chunk: str | None = None, offset: int | None = None):
        self.chunk = chunk
        self.offset = offset
        where = []
        if chunk is not None:
            where.append(f"chunk {chunk}")
        if offset is not None:
            where.append(f"offset {offset}")
        full = f"{message} ({', '.join(where)})" if where else message
        super().__init__(full)


class UarVersionError(UarFormatError):
    """The stream needs a newer reader, or uses an unknown critical chunk."""


class UarSettingsError(UarError):
    """Encoder settings are inconsistent or out of range (p = 0, unknown model family, ...)."""


class UarCodingError(UarError):
    """Entropy-coding parameters are invalid (std <= 0, NaN mean, symbols out of range, ...)."""


class UarWorkerError(UarError):
    """An encode or decode worker died (or a distributed engine lost it) more often than the
    retries allow; the work that finished is kept."""
