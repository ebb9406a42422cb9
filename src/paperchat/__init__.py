"""paperchat: ask questions of a collection of research papers; answers cite the papers by title.

The library API is small::

    from paperchat import Assistant, Settings, ingest_paths

    settings = Settings(home="my-home")             # or Settings() for PAPERCHAT_* / .env
    report = ingest_paths(["papers.jsonl"], settings)
    answer = Assistant(settings).ask("Which papers cut training memory, and by how much?")
    print(answer.answer, [c.title for c in answer.citations])

The names are imported on first use, so `import paperchat` (and the CLI) stays fast.
"""

from __future__ import annotations

from importlib import metadata as _metadata
from typing import TYPE_CHECKING, Any

try:
    __version__ = _metadata.version("paperchat")
except _metadata.PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0+unknown"

__all__ = ["Answer", "Assistant", "IngestReport", "PaperchatError", "Settings", "__version__", "ingest_paths"]

_EXPORTS = {
    "Answer": "paperchat.rag.types",
    "Assistant": "paperchat.rag.assistant",
    "IngestReport": "paperchat.ingest.pipeline",
    "PaperchatError": "paperchat.rag.errors",
    "Settings": "paperchat.rag.settings",
    "ingest_paths": "paperchat.ingest.pipeline",
}

if TYPE_CHECKING:
    from paperchat.ingest.pipeline import IngestReport, ingest_paths
    from paperchat.rag.assistant import Assistant
    from paperchat.rag.errors import PaperchatError
    from paperchat.rag.settings import Settings
    from paperchat.rag.types import Answer


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        from importlib import import_module

        value = getattr(import_module(_EXPORTS[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'paperchat' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(__all__)
