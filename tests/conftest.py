"""Shared fixtures: a deterministic fake embedder, per-test settings, the real model on the bundled papers.

No test touches the network or a /work path: the shared folder is found beside the repository, and
every test runs in its own temporary directory with PAPERCHAT_* / OPENAI_* variables removed, so a
developer's environment or .env file never leaks in.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import re
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from langchain_core.embeddings import Embeddings

from paperchat.rag.settings import BUNDLED_PAPERS, Settings

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared"
BIN = Path(sys.executable).parent
PAPERCHAT = BIN / "paperchat"
BUNDLED_COUNT = 156
_ISOLATED_PREFIXES = ("PAPERCHAT_", "OPENAI_")
_WORD = re.compile(r"[a-z0-9]+")


def shared_file(*parts: str) -> Path:
    """A file of the shared folder beside the repository, or a skip saying what is missing."""
    path = SHARED.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"shared data not available: {path} (the shared/ folder beside the repository)")
    return path


# ------------------------------------------------------------------------------------- fake embedder


@functools.lru_cache(maxsize=65536)
def _word_vector(word: str, dim: int) -> np.ndarray:
    seed = int.from_bytes(hashlib.sha256(word.encode("utf-8")).digest()[:8], "big")
    vec = np.random.default_rng(seed).standard_normal(dim)
    return vec / np.linalg.norm(vec)


def hash_embedding(text: str, dim: int = 64) -> list[float]:
    """Bag of words: each lowercase word is a fixed random unit vector; the sum, L2-normalised."""
    words = _WORD.findall(text.lower()) or ["<empty>"]
    vec = np.sum([_word_vector(w, dim) for w in words], axis=0)
    norm = np.linalg.norm(vec)
    if norm < 1e-9:  # words that cancel out exactly: keep a valid direction
        vec, norm = _word_vector("<empty>", dim), 1.0
    return (vec / norm).astype(np.float32).tolist()


class FakeEmbeddings(Embeddings):
    """The tests' one fake embedder: deterministic, fast, offline; records every text it embeds.

    `kind` chooses how words become vectors:
    - "random" (default): each lowercase word a fixed random unit vector, summed (loosely lexical);
    - "hash": a bag of words, each word adding 1 to bucket sha256(word) % dimension;
    - "vocab": each new word its own axis, so texts without shared words are exactly orthogonal (the
      cosine of two texts is known by hand).
    The result is L2-normalised.
    """

    #: A subclass may fix its model's name and dimension (a "different model" for mismatch tests).
    model_name: str | None = None
    model_dimension: int | None = None

    def __init__(self, kind: str = "random", dimension: int = 64, name: str | None = None) -> None:
        self.kind = kind
        self.dimension = self.model_dimension or dimension
        default = "fake-hash-64" if kind == "random" and self.dimension == 64 else f"fake-{kind}-{self.dimension}"
        self.name = name or self.model_name or default
        self.texts: list[str] = []
        self.queries: list[str] = []
        self.calls = 0
        self.vocab: dict[str, int] = {}

    @property
    def count(self) -> int:
        """Document texts embedded so far (queries are counted separately)."""
        return len(self.texts)

    def vector(self, text: str) -> list[float]:
        if self.kind == "random":
            return hash_embedding(text, self.dimension)
        vec = np.zeros(self.dimension, dtype=np.float64)
        for word in _WORD.findall(text.lower()):
            if self.kind == "hash":
                vec[int.from_bytes(hashlib.sha256(word.encode()).digest()[:4], "big") % self.dimension] += 1
            else:
                vec[self.vocab.setdefault(word, len(self.vocab))] += 1
        norm = float(np.linalg.norm(vec))
        return (vec / norm if norm else vec).tolist()

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        self.calls += 1
        self.texts.extend(texts)
        return [self.vector(t) for t in texts]

    def embed_query(self, text: str) -> list[float]:
        self.queries.append(text)
        return self.vector(text)


# ------------------------------------------------------------------------------------- environment


def _is_isolated(name: str) -> bool:
    return name.upper().startswith(_ISOLATED_PREFIXES)


@pytest.fixture(autouse=True)
def _isolated_env(monkeypatch, tmp_path):
    """No PAPERCHAT_* / OPENAI_* variable and no .env file of the developer reaches a test."""
    for name in list(os.environ):
        if _is_isolated(name):
            monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)


def subprocess_env(**extra: str) -> dict[str, str]:
    """The environment for a child process: isolated like the tests, offline, loopback without proxy,
    and no terminal width, so output is what a script or CI sees."""
    env = {k: v for k, v in os.environ.items() if not _is_isolated(k) and k not in ("COLUMNS", "LINES")}
    env.update(
        HF_HUB_OFFLINE="1",
        TRANSFORMERS_OFFLINE="1",
        NO_PROXY="127.0.0.1,localhost",
        no_proxy="127.0.0.1,localhost",
        PYTHONUNBUFFERED="1",
    )
    env.update(extra)
    return env


def run_cli(args: list[str], *, cwd: Path, input: str | None = None, timeout: float = 120,
            env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    """Run the installed `paperchat` console script."""
    if not PAPERCHAT.exists():
        pytest.skip(f"the paperchat console script is not installed at {PAPERCHAT}")
    return subprocess.run(
        [str(PAPERCHAT), *args], cwd=cwd, input=input, capture_output=True, text=True,
        timeout=timeout, env=env or subprocess_env(),
    )


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def stop_process(proc: subprocess.Popen, timeout: float = 10) -> None:
    """Terminate a server the test started; kill it if it does not stop in time."""
    proc.terminate()
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=timeout)


def make_settings(home: Path, collection: str = "test-papers", **kw) -> Settings:
    """Settings that read no .env file (the environment is cleaned by the fixtures)."""
    return Settings(home=home, collection=collection, _env_file=None, **kw)


def write_jsonl(path: Path, records: list[dict | str]) -> Path:
    """Records as JSON lines; a str record is written as is (for malformed lines)."""
    lines = [r if isinstance(r, str) else json.dumps(r) for r in records]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def chunk_table(items) -> dict[str, dict[int, dict]]:
    """paper_id -> {chunk index -> metadata} from stored chunks (`store.iter_chunks()` records or
    {'id', 'metadata'} dicts), checking that every chunk id is '<paper_id>::<chunk>'."""
    table: dict[str, dict[int, dict]] = {}
    for item in items:
        cid, meta = (item["id"], item["metadata"]) if isinstance(item, dict) else (item.id, item.metadata)
        assert cid == f"{meta['paper_id']}::{meta['chunk']}"
        assert meta["chunk"] not in table.get(meta["paper_id"], {}), f"duplicate chunk {item['id']}"
        table.setdefault(meta["paper_id"], {})[meta["chunk"]] = meta
    return table


def assert_whole_papers(table: dict[str, dict[int, dict]]) -> None:
    """Every paper has exactly its chunks 0..n_chunks-1, all from the same version of the paper."""
    for pid, chunks in table.items():
        n = chunks[min(chunks)]["n_chunks"]
        assert sorted(chunks) == list(range(n)), f"{pid}: chunks {sorted(chunks)} of {n}"
        assert len({c["content_hash"] for c in chunks.values()}) == 1, f"{pid}: mixed versions"


# ------------------------------------------------------------------------------------- fixtures


@pytest.fixture
def fake_embedder() -> FakeEmbeddings:
    return FakeEmbeddings()


@pytest.fixture
def settings(tmp_path) -> Settings:
    return make_settings(tmp_path / "home")


@pytest.fixture(scope="session")
def real_embedder():
    from paperchat.rag.embeddings import MiniLMEmbeddings

    return MiniLMEmbeddings()


@pytest.fixture(scope="session")
def bundled_real(tmp_path_factory, real_embedder):
    """The bundled papers ingested once with the real model: (settings, embedder). Collection 'papers',
    the CLI's default, so `paperchat --home HOME ...` finds it."""
    from paperchat.ingest.pipeline import ingest_paths

    home = tmp_path_factory.mktemp("bundled-real") / "home"
    with pytest.MonkeyPatch.context() as mp:
        for name in list(os.environ):
            if _is_isolated(name):
                mp.delenv(name, raising=False)
        mp.chdir(home.parent)
        settings = make_settings(home, collection="papers")
        report = ingest_paths([BUNDLED_PAPERS], settings, embedder=real_embedder)
    assert report.new == BUNDLED_COUNT and report.papers_total == BUNDLED_COUNT, report.summary()
    return settings, real_embedder
