"""The local embedding model and tiktoken work from installed packages alone, with no network."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
import sysconfig
from pathlib import Path

import numpy as np
import pytest
from conftest import subprocess_env

from paperchat.rag.embeddings import MINILM_DIM, MINILM_NAME, MiniLMEmbeddings, make_embedder, minilm_paths
from paperchat.rag.tokens import _URLS, count_tokens

# Any attempt to open a network connection in the child process fails loudly.
NO_NETWORK = """
import socket
def _refuse(*args, **kwargs):
    raise RuntimeError("network access attempted")
socket.socket.connect = _refuse
socket.socket.connect_ex = _refuse
socket.create_connection = _refuse
socket.getaddrinfo = _refuse
"""

EMBED_OFFLINE = NO_NETWORK + """
import json
import numpy as np
from paperchat.rag.embeddings import MiniLMEmbeddings
vectors = np.asarray(MiniLMEmbeddings().embed_documents(["hello world", "a second, longer sentence"]))
print(json.dumps({"shape": list(vectors.shape), "norms": np.linalg.norm(vectors, axis=1).tolist()}))
"""

TIKTOKEN_OFFLINE = NO_NETWORK + """
import json, os
from paperchat.rag.tokens import count_tokens, get_encoding
print(json.dumps({"hello": count_tokens("hello world"), "o200k": len(get_encoding("o200k_base").encode("hello")),
                  "cache": os.environ["TIKTOKEN_CACHE_DIR"]}))
"""


def run_python(code: str, tmp_path: Path, **env: str) -> dict:
    done = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env=subprocess_env(**env),
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_model_files_ship_inside_installed_packages():
    model, tokenizer = minilm_paths()
    site_dirs = {Path(sysconfig.get_paths()[k]).resolve() for k in ("purelib", "platlib")}

    for path in (model, tokenizer):
        assert path.is_file() and path.stat().st_size > 0
        assert any(path.resolve().is_relative_to(d) for d in site_dirs), f"{path} is not in site-packages"
    assert model.suffix == ".onnx"
    assert json.loads(tokenizer.read_text(encoding="utf-8"))["model"]["type"] == "WordPiece"


def test_model_embeds_with_the_network_blocked(tmp_path):
    out = run_python(EMBED_OFFLINE, tmp_path, HF_HUB_OFFLINE="1", HF_HOME=str(tmp_path / "no-hf-home"))

    assert out["shape"] == [2, MINILM_DIM]
    assert out["norms"] == pytest.approx([1.0, 1.0], abs=1e-5)


def test_default_settings_choose_the_local_model(settings):
    embedder = make_embedder(settings)
    assert isinstance(embedder, MiniLMEmbeddings)
    assert (embedder.name, embedder.dimension) == (MINILM_NAME, 384)


def test_memory_settings_reach_the_model_and_bound_each_run(tmp_path, monkeypatch):
    """PAPERCHAT_EMBEDDING__MAX_BATCH_TOKENS and __ARENA reach onnxruntime's runs; a value out of range is one
    line naming the variable and what it allows."""
    from paperchat.rag.settings import SettingsError, load_settings

    monkeypatch.setenv("PAPERCHAT_EMBEDDING__MAX_BATCH_TOKENS", "1024")
    monkeypatch.setenv("PAPERCHAT_EMBEDDING__ARENA", "false")
    embedder = make_embedder(load_settings(home=tmp_path, _env_file=None))
    assert (embedder.max_batch_tokens, embedder.arena) == (1024, False)
    lengths = [10, 20, 200, 256, 256, 256, 256]  # shortest first, as embed_array orders them
    runs = embedder._runs(list(range(len(lengths))), lengths)
    assert all(len(run) * max(lengths[i] for i in run) <= 1024 for run in runs)  # padded tokens per run
    assert sorted(i for run in runs for i in run) == list(range(len(lengths)))
    assert len(runs) == 2  # [10, 20, 200, 256] padded to 4 x 256, then the last three
    monkeypatch.setenv("PAPERCHAT_EMBEDDING__MAX_BATCH_TOKENS", "10")
    with pytest.raises(SettingsError, match="PAPERCHAT_EMBEDDING__MAX_BATCH_TOKENS.*256"):
        load_settings(home=tmp_path, _env_file=None)


@pytest.mark.slow
def test_dimension_and_unit_norm(real_embedder):
    vectors = np.asarray(real_embedder.embed_documents(["attention is all you need", "x", "ünïcödé ✓ 数据"]))
    query = np.asarray(real_embedder.embed_query("what is attention?"))

    assert vectors.shape == (3, 384) and query.shape == (384,)
    assert np.linalg.norm(vectors, axis=1) == pytest.approx([1.0] * 3, abs=1e-5)
    assert np.linalg.norm(query) == pytest.approx(1.0, abs=1e-5)
    assert real_embedder.embed_array([]).shape == (0, 384)


@pytest.mark.slow
def test_batching_and_padding_do_not_change_vectors():
    texts = [
        "short",
        "A much longer sentence about convolutional networks, residual connections and image recognition.",
        "Medium length text on retrieval.",
        " ".join(["very long"] * 400),  # truncated at 256 tokens
        "Another one, with punctuation; and numbers 1, 2, 3.",
    ]
    embedder = MiniLMEmbeddings(batch_size=2)  # several batches, each padded to its longest text

    batched = embedder.embed_array(texts)
    single = np.stack([embedder.embed_array([t])[0] for t in texts])

    np.testing.assert_allclose(batched, single, atol=1e-5)
    assert np.asarray(embedder.embed_documents(texts)) == pytest.approx(batched, abs=1e-6)
    np.testing.assert_allclose(np.asarray(embedder.embed_query(texts[2])), single[2], atol=1e-6)


@pytest.mark.slow
def test_text_beyond_the_model_limit_is_truncated(real_embedder):
    long = " ".join(f"word{i}" for i in range(600))
    a, b = real_embedder.embed_array([long, long + " and a completely different ending about cooking"])
    np.testing.assert_allclose(a, b, atol=1e-6)


@pytest.mark.slow
def test_related_sentences_are_closer_than_unrelated(real_embedder):
    a, b, c, d = real_embedder.embed_array([
        "A neural network learns to translate English into German.",
        "Machine translation with deep learning models.",
        "My grandmother bakes apple pie every Sunday.",
        "The stock market fell sharply after the announcement.",
    ])
    assert a @ b > a @ c + 0.2
    assert a @ b > a @ d + 0.2
    assert a @ b > 0.4


def test_tiktoken_works_offline_from_an_empty_cache(tmp_path):
    cache = tmp_path / "tiktoken-cache"
    cache.mkdir()

    out = run_python(TIKTOKEN_OFFLINE, tmp_path, TIKTOKEN_CACHE_DIR=str(cache))

    assert out == {"hello": 2, "o200k": 1, "cache": str(cache)}
    seeded = {p.name for p in cache.iterdir()}
    assert seeded == {hashlib.sha1(url.encode()).hexdigest() for url in _URLS.values()}


def test_count_tokens():
    assert count_tokens("hello world") == 2
    assert count_tokens("") == 0
    assert count_tokens("<|endoftext|>") > 1, "special tokens are counted as plain text"
