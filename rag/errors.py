"""Errors a user can act on. The CLI prints them as one line; the web UI as a warning."""

from __future__ import annotations


class PaperchatError(Exception):
    """Base class: the message is written for the person running paperchat."""


class InputFormatError(PaperchatError):
    """A paper file that cannot be read: names the file and, when known, the line."""

    def __init__(self, path: str, message: str, line: int | None = None):
        self.path = str(path)
        self.line = line
        self.reason = message
        where = f"{self.path}:{line}" if line is not None else self.path
        super().__init__(f"{where}: {message}")


class UnknownFormatError(PaperchatError):
    """The format of a file could not be detected or is not supported."""


class ModelMismatchError(PaperchatError):
    """The collection was embedded with another model than the one configured."""


class StoreError(PaperchatError):
    """The vector store cannot be reached or opened."""


class EmptyCollectionError(PaperchatError):
    """The collection holds no papers yet."""


class LLMError(PaperchatError):
    """The OpenAI-compatible endpoint failed or answered something unusable."""
