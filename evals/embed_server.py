"""A loopback OpenAI-compatible embeddings server for the scale benchmark (standard library + numpy).

The scale benchmark must measure paperchat, not an embedding model: this server answers
`POST /v1/embeddings` (float or base64 encodings, as the real API) and `GET /v1/models` with
deterministic 384-dimensional vectors in well under a millisecond per text, so `paperchat ingest`
with `PAPERCHAT_EMBEDDING__BACKEND=openai` runs at the speed of everything except the model.

The vectors are feature hashing of the lowercased words (each word adds +-1 to one of the 384
dimensions, chosen by a hash) plus a small component from the hash of the whole text, L2-normalised:
identical texts give identical vectors, different texts different ones, and texts sharing words have
a higher cosine similarity, so dense retrieval and the answer gate behave plausibly.

    python -m paperchat.evals.embed_server --port 8089          # serve until Ctrl-C / SIGTERM
    python -m paperchat.evals.embed_server --bench              # requests/s against an in-process server

In code: `url, stop = start(0)` (a free port; `url` ends in /v1), then `stop()`.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import json
import re
import signal
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import numpy as np

DIM = 384
MODEL = "paperchat-hash-384"
_WORD = re.compile(r"\w+")
_CACHE_LIMIT = 1_000_000
_word_codes: dict[tuple[int, str], int] = {}


def _code(word: str, dim: int) -> int:
    """Where a word adds: dimension i with sign + is code i, with sign - code dim + i (a stable hash,
    not Python's salted one; cached, as a corpus repeats its words)."""
    found = _word_codes.get((dim, word))
    if found is None:
        value = int.from_bytes(hashlib.blake2b(word.encode("utf-8"), digest_size=8).digest(), "little")
        found = value % dim + (dim if (value >> 32) & 1 else 0)
        if len(_word_codes) >= _CACHE_LIMIT:
            _word_codes.clear()
        _word_codes[(dim, word)] = found
    return found


def embed(texts: list[str], dim: int = DIM) -> np.ndarray:
    """The (len(texts), dim) float32 vectors the server returns, L2-normalised rows.

    All words of the batch are counted with one `np.bincount` over (row, code) cells: per-element
    numpy updates would cost a microsecond per word."""
    cells: list[int] = []
    weights: list[float] = []
    width = 2 * dim
    get = _word_codes.get
    for row, text in enumerate(texts):
        base = row * width
        words = [base + (get((dim, w)) or _code(w, dim)) for w in _WORD.findall(text.lower())]
        cells += words
        weights += [1.0] * len(words)
        digest = hashlib.blake2b(text.encode("utf-8"), digest_size=16).digest()
        for i in range(0, 16, 4):  # the whole text's own small component: distinct texts stay distinct
            value = int.from_bytes(digest[i : i + 4], "little")
            cells.append(base + value % dim + (dim if value & (1 << 31) else 0))
            weights.append(0.25)
    counts = np.bincount(np.asarray(cells, dtype=np.int64), weights=weights, minlength=len(texts) * width)
    counts = counts.reshape(len(texts), 2, dim)
    vectors = (counts[:, 0] - counts[:, 1]).astype(np.float32)
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return vectors / np.where(norms > 0, norms, 1.0)


class _BadRequest(Exception):
    """The request cannot be served; the message goes back in the OpenAI error shape (status 400)."""


def _texts(value: Any) -> list[str]:
    """`input` as the API accepts it: a string, a list of strings, or token ids (one list or a list of lists)."""
    if isinstance(value, str):
        return [value]
    if isinstance(value, list) and value:
        if all(isinstance(v, str) for v in value):
            return value
        if all(isinstance(v, int) for v in value):
            return [" ".join(map(str, value))]
        if all(isinstance(v, list) and all(isinstance(t, int) for t in v) for v in value):
            return [" ".join(map(str, v)) for v in value]
    raise _BadRequest("'input' must be a non-empty string, list of strings, or token id lists")


def _response(body: dict[str, Any]) -> dict[str, Any]:
    """The embeddings response for a request body, in the requested encoding."""
    texts = _texts(body.get("input"))
    dim = body.get("dimensions") or DIM
    if not isinstance(dim, int) or not 1 <= dim <= 4096:
        raise _BadRequest("'dimensions' must be an integer between 1 and 4096")
    encoding = body.get("encoding_format") or "float"
    if encoding not in ("float", "base64"):
        raise _BadRequest("'encoding_format' must be 'float' or 'base64'")
    vectors = embed(texts, dim)
    if encoding == "base64":  # little-endian float32, as the real API and the openai client expect
        encoded = [base64.b64encode(v.astype("<f4").tobytes()).decode("ascii") for v in vectors]
    else:
        encoded = vectors.tolist()
    tokens = sum(len(t.split()) for t in texts)
    return {
        "object": "list",
        "data": [{"object": "embedding", "index": i, "embedding": e} for i, e in enumerate(encoded)],
        "model": body.get("model") or MODEL,
        "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
    }


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive: the openai client reuses its connections
    server_version = "paperchat-embed/1"
    # Headers and body go out as two writes: with Nagle's algorithm on, the body waits for the client's
    # delayed ACK of the headers, 40 ms per request (real embedding servers set TCP_NODELAY too).
    disable_nagle_algorithm = True

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the base class's name
        """Quiet: a benchmark makes tens of thousands of requests."""

    def _send(self, status: int, payload: dict[str, Any]) -> None:
        data = json.dumps(payload, separators=(",", ":")).encode("utf-8")
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _error(self, status: int, message: str, kind: str = "invalid_request_error") -> None:
        self._send(status, {"error": {"message": message, "type": kind, "param": None, "code": None}})

    def do_GET(self) -> None:  # noqa: N802 - the http.server naming
        if self.path.rstrip("/") in ("/v1/models", "/models"):
            self._send(200, {"object": "list", "data": [
                {"id": MODEL, "object": "model", "created": 0, "owned_by": "paperchat"}]})
        else:
            self._error(404, f"no route for GET {self.path}", "not_found")

    def do_POST(self) -> None:  # noqa: N802
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        if self.path.rstrip("/") not in ("/v1/embeddings", "/embeddings"):
            self._error(404, f"no route for POST {self.path}", "not_found")
            return
        try:
            body = json.loads(raw or b"null")
            if not isinstance(body, dict):
                raise _BadRequest("the request body must be a JSON object")
            self._send(200, _response(body))
        except json.JSONDecodeError as exc:
            self._error(400, f"malformed JSON body: {exc.msg}")
        except _BadRequest as exc:
            self._error(400, str(exc))


class EmbedServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128


def start(port: int = 0, host: str = "127.0.0.1") -> tuple[str, Callable[[], None]]:
    """Serve in a background thread: (base url ending in /v1, stop function). Port 0 picks a free one."""
    server = EmbedServer((host, port), _Handler)
    thread = threading.Thread(target=server.serve_forever, name="embed-server", daemon=True)
    thread.start()

    def stop() -> None:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)

    return f"http://{host}:{server.server_address[1]}/v1", stop


def measure(url: str, seconds: float = 5.0, clients: int = 2, batch: int = 64) -> dict[str, float]:
    """Requests/s and texts/s of `clients` openai clients sending batches of real-sized texts for `seconds`."""
    import openai

    text = ("Sparse attention reduces the memory of long-context transformers while keeping accuracy. " * 12)
    done = [0] * clients
    stop_at = time.perf_counter() + seconds

    def worker(slot: int) -> None:
        client = openai.OpenAI(base_url=url, api_key="not-needed", max_retries=0)
        while time.perf_counter() < stop_at:
            texts = [f"{text} {slot}-{done[slot]}-{i}" for i in range(batch)]
            client.embeddings.create(model=MODEL, input=texts)
            done[slot] += 1

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(clients)]
    started = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - started
    return {"requests_per_s": sum(done) / elapsed, "texts_per_s": sum(done) * batch / elapsed,
            "clients": clients, "batch": batch}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--port", type=int, default=8089, help="Port on 127.0.0.1 (0: a free one)")
    parser.add_argument("--host", default="127.0.0.1", help="Interface to bind")
    parser.add_argument("--bench", action="store_true", help="Measure requests/s against an in-process server")
    args = parser.parse_args(argv)
    if args.bench:
        url, stop = start(0)
        try:
            print(json.dumps(measure(url)))
        finally:
            stop()
        return
    server = EmbedServer((args.host, args.port), _Handler)
    signal.signal(signal.SIGTERM, lambda *_: threading.Thread(target=server.shutdown).start())
    print(f"serving OpenAI-compatible embeddings on http://{args.host}:{server.server_address[1]}/v1", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()


if __name__ == "__main__":
    main()
