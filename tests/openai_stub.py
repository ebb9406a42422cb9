"""A tiny OpenAI-compatible HTTP server for tests (standard library only).

It runs on loopback in a background thread so tests can drive the real ``openai``
client (and anything built on it, e.g. ``langchain_openai``) over real HTTP::

    with StubOpenAI(replies=["hello there"]) as stub:
        client = openai.OpenAI(base_url=stub.base_url, api_key="test", max_retries=0)
        client.chat.completions.create(model="m", messages=[{"role": "user", "content": "hi"}])
        assert stub.requests[-1]["messages"][0]["content"] == "hi"

Endpoints: ``POST /v1/chat/completions`` (plain JSON or SSE when ``"stream": true``),
``POST /v1/embeddings`` (float or base64), ``GET /v1/models``; anything else is a 404
in the OpenAI error shape.

Embeddings are deterministic and loosely lexical: each word maps to a fixed pseudo-random
direction, a text's vector is the sum of its words' directions plus a small term seeded
by the whole text, L2-normalised. Identical texts give identical vectors, different texts
give different vectors, and texts sharing words tend to have higher cosine similarity,
which is enough for retrieval tests to be meaningful.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import json
import math
import random
import re
import socket
import struct
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Self

Reply = str | Callable[[dict], str]

__all__ = ["StubOpenAI", "closed_port_url", "stub_embedding"]

_WORD_RE = re.compile(r"\w+")


# --------------------------------------------------------------------------- helpers


def closed_port_url() -> str:
    """A loopback ``base_url`` where nothing is listening (for "server is down" tests)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}/v1"


def _seeded_gauss(seed_text: str, dim: int) -> list[float]:
    seed = int.from_bytes(hashlib.sha256(seed_text.encode("utf-8")).digest()[:8], "big")
    rng = random.Random(seed)
    return [rng.gauss(0.0, 1.0) for _ in range(dim)]


def _to_float32(values: list[float]) -> list[float]:
    """Round to float32 so the float and base64 encodings carry identical numbers."""
    return list(struct.unpack(f"<{len(values)}f", struct.pack(f"<{len(values)}f", *values)))


def stub_embedding(text: str, dim: int = 8) -> list[float]:
    """The deterministic, L2-normalised embedding the stub returns for ``text``."""
    vec = [0.1 * x for x in _seeded_gauss("text:" + text, dim)]
    for word in _WORD_RE.findall(text.lower()):
        for i, x in enumerate(_seeded_gauss("word:" + word, dim)):
            vec[i] += x
    norm = math.sqrt(sum(x * x for x in vec)) or 1.0
    return _to_float32([x / norm for x in vec])


def _rough_tokens(text: str) -> int:
    return max(1, math.ceil(len(text) / 4)) if text else 0


def _content_text(content: Any) -> str:
    """Text of a message ``content`` that may be a string or a list of parts."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        parts = []
        for part in content:
            if isinstance(part, dict) and isinstance(part.get("text"), str):
                parts.append(part["text"])
            elif isinstance(part, str):
                parts.append(part)
        return " ".join(parts)
    return ""


def _split_for_stream(text: str) -> list[str]:
    """Split into word pieces that concatenate back to ``text`` exactly."""
    pieces = [p for p in re.split(r"(?<=\s)(?=\S)", text) if p]
    return pieces or [text]


def _error_payload(message: str, status: int) -> dict:
    err_type = {
        400: "invalid_request_error",
        401: "authentication_error",
        403: "permission_error",
        404: "invalid_request_error",
        429: "rate_limit_error",
    }.get(status, "server_error" if status >= 500 else "invalid_request_error")
    return {"error": {"message": message, "type": err_type, "param": None, "code": str(status)}}


# --------------------------------------------------------------------------- server


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = False

    def __init__(self, stub: StubOpenAI) -> None:
        self.stub = stub
        self._conns: set[socket.socket] = set()
        self._conns_lock = threading.Lock()
        super().__init__(("127.0.0.1", 0), _Handler)

    def process_request(self, request, client_address):  # type: ignore[override]
        with self._conns_lock:
            self._conns.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request):  # type: ignore[override]
        with self._conns_lock:
            self._conns.discard(request)
        super().shutdown_request(request)

    def drop_connections(self) -> None:
        with self._conns_lock:
            conns = list(self._conns)
        for conn in conns:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)

    def handle_error(self, request, client_address) -> None:  # quiet: no tracebacks on stderr
        pass


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "StubOpenAI/1.0"
    sys_version = ""
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:
        pass

    # -- plumbing -------------------------------------------------------------------

    def _send_json(self, status: int, payload: Any, headers: dict[str, str] | None = None) -> None:
        data = json.dumps(payload).encode("utf-8")
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.end_headers()
        self.wfile.write(data)
        self.wfile.flush()

    def _send_error(self, status: int, message: str) -> None:
        self._send_json(status, _error_payload(message, status))

    def _route(self) -> str:
        path = self.path.split("?", 1)[0].rstrip("/")
        return path

    def _read_body(self) -> bytes:
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length > 0 else b""

    def _maybe_fail(self) -> bool:
        failure = self.server.stub._take_failure()
        if failure is None:
            return False
        status, body, retry_after_ms = failure
        try:
            payload = json.loads(body)
        except ValueError:
            payload = _error_payload(body, status)
        headers = {} if retry_after_ms is None else {"retry-after-ms": str(retry_after_ms)}
        self._send_json(status, payload, headers=headers)
        return True

    # -- verbs ----------------------------------------------------------------------

    def do_GET(self) -> None:
        if self._maybe_fail():
            return
        if self._route() == "/v1/models":
            stub = self.server.stub
            self._send_json(
                200,
                {
                    "object": "list",
                    "data": [{"id": stub.model, "object": "model", "created": 0, "owned_by": "stub"}],
                },
            )
            return
        self._send_error(404, f"Unknown path: GET {self.path}")

    def do_POST(self) -> None:
        raw = self._read_body()
        route = self._route()
        stub = self.server.stub
        try:
            body = json.loads(raw or b"{}")
            if not isinstance(body, dict):
                raise TypeError("body is not a JSON object")
        except (ValueError, TypeError) as exc:
            stub._record({"path": route, "_invalid_body": raw.decode("utf-8", "replace")})
            self._send_error(400, f"Invalid JSON body: {exc}")
            return
        body["path"] = route
        stub._record(body)
        if self._maybe_fail():
            return
        try:
            if route == "/v1/chat/completions":
                self._chat(body)
            elif route == "/v1/embeddings":
                self._embeddings(body)
            else:
                self._send_error(404, f"Unknown path: POST {self.path}")
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True
        except Exception as exc:  # noqa: BLE001 - a callable reply raised: answer 500 instead of hanging
            self._send_error(500, f"StubOpenAI handler error: {type(exc).__name__}: {exc}")

    def do_DELETE(self) -> None:
        self._read_body()
        self._send_error(404, f"Unknown path: DELETE {self.path}")

    do_PUT = do_PATCH = do_DELETE

    # -- endpoints ------------------------------------------------------------------

    def _chat(self, body: dict) -> None:
        stub = self.server.stub
        text = stub._next_reply(body)
        model = body.get("model") or stub.model
        prompt_tokens = sum(
            _rough_tokens(_content_text(m.get("content"))) for m in body.get("messages") or []
        )
        completion_tokens = _rough_tokens(text)
        usage = {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": completion_tokens,
            "total_tokens": prompt_tokens + completion_tokens,
        }
        completion_id = f"chatcmpl-stub{uuid.uuid4().hex[:20]}"
        created = int(time.time())
        if not body.get("stream"):
            self._send_json(
                200,
                {
                    "id": completion_id,
                    "object": "chat.completion",
                    "created": created,
                    "model": model,
                    "system_fingerprint": "stub",
                    "choices": [
                        {
                            "index": 0,
                            "message": {"role": "assistant", "content": text, "refusal": None},
                            "logprobs": None,
                            "finish_reason": "stop",
                        }
                    ],
                    "usage": usage,
                },
            )
            return

        include_usage = bool((body.get("stream_options") or {}).get("include_usage"))

        def chunk(delta: dict, finish_reason: str | None = None) -> dict:
            obj: dict[str, Any] = {
                "id": completion_id,
                "object": "chat.completion.chunk",
                "created": created,
                "model": model,
                "system_fingerprint": "stub",
                "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish_reason}],
            }
            if include_usage:
                obj["usage"] = None
            return obj

        events: list[dict] = [chunk({"role": "assistant", "content": ""})]
        events += [chunk({"content": piece}) for piece in _split_for_stream(text)]
        events.append(chunk({}, "stop"))
        if include_usage:
            final = chunk({})
            final["choices"] = []
            final["usage"] = usage
            events.append(final)

        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream; charset=utf-8")
        self.send_header("Cache-Control", "no-cache")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        for event in events:
            self._write_chunk(f"data: {json.dumps(event)}\n\n".encode())
        self._write_chunk(b"data: [DONE]\n\n")
        self.wfile.write(b"0\r\n\r\n")
        self.wfile.flush()

    def _write_chunk(self, data: bytes) -> None:
        self.wfile.write(f"{len(data):X}\r\n".encode("ascii") + data + b"\r\n")
        self.wfile.flush()

    def _embeddings(self, body: dict) -> None:
        stub = self.server.stub
        raw_input = body.get("input")
        if isinstance(raw_input, str):
            inputs: list[Any] = [raw_input]
        elif isinstance(raw_input, list) and raw_input and all(isinstance(t, int) for t in raw_input):
            inputs = [raw_input]  # a single pre-tokenised input
        elif isinstance(raw_input, list) and raw_input:
            inputs = raw_input
        else:
            self._send_error(400, "'input' must be a non-empty string or array")
            return
        dim = body.get("dimensions") or stub.embed_dim
        if not isinstance(dim, int) or dim <= 0:
            self._send_error(400, "'dimensions' must be a positive integer")
            return
        as_base64 = body.get("encoding_format") == "base64"
        data = []
        total_tokens = 0
        for index, item in enumerate(inputs):
            # Token arrays (what langchain's OpenAIEmbeddings sends by default) are hashed as JSON.
            text = item if isinstance(item, str) else json.dumps(item)
            total_tokens += len(item) if isinstance(item, list) else _rough_tokens(text)
            vec = stub_embedding(text, dim)
            embedding: Any = vec
            if as_base64:
                embedding = base64.b64encode(struct.pack(f"<{dim}f", *vec)).decode("ascii")
            data.append({"object": "embedding", "index": index, "embedding": embedding})
        self._send_json(
            200,
            {
                "object": "list",
                "data": data,
                "model": body.get("model") or stub.model,
                "usage": {"prompt_tokens": total_tokens, "total_tokens": total_tokens},
            },
        )


# --------------------------------------------------------------------------- public API


class StubOpenAI:
    """Context manager: ``with StubOpenAI() as stub: stub.base_url -> 'http://127.0.0.1:PORT/v1'``.

    The server starts in ``__init__`` (so it can also be used without ``with``; call
    :meth:`close`). ``requests`` records every POST JSON body received, in order, with a
    ``"path"`` key added (e.g. ``"/v1/chat/completions"``).
    """

    def __init__(
        self,
        replies: list[Reply] | None = None,
        default_reply: Reply = "ok",
        embed_dim: int = 8,
        *,
        model: str = "stub-model",
    ) -> None:
        self.default_reply = default_reply
        self.embed_dim = embed_dim
        self.model = model
        self.requests: list[dict] = []
        self._replies: deque[Reply] = deque(replies or [])
        self._failures: deque[tuple[int, str, int | None]] = deque()
        self._lock = threading.Lock()
        self._server = _Server(self)
        host, port = self._server.server_address[:2]
        self.base_url = f"http://{host}:{port}/v1"
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, name="StubOpenAI", daemon=True
        )
        self._closed = False
        self._thread.start()

    # -- configuration ----------------------------------------------------------------

    def queue(self, *replies: Reply) -> None:
        """Queue replies consumed in order by chat completions (then ``default_reply``)."""
        with self._lock:
            self._replies.extend(replies)

    def fail_next(
        self,
        status: int = 500,
        body: str = "stub failure",
        count: int = 1,
        *,
        retry_after_ms: int | None = 1,
    ) -> None:
        """Make the next ``count`` requests (any endpoint) answer HTTP ``status``.

        ``body`` is the error message, wrapped in the OpenAI error shape; if it is itself
        valid JSON it is sent verbatim. Failed requests are still recorded in ``requests``
        and do not consume queued replies. A ``retry-after-ms`` header (1 ms by default,
        ``None`` to omit) makes clients that do retry (openai's default ``max_retries=2``)
        retry immediately instead of backing off for ~0.5-1 s.
        """
        with self._lock:
            self._failures.extend([(status, body, retry_after_ms)] * count)

    # -- inspection --------------------------------------------------------------------

    @property
    def chat_requests(self) -> list[dict]:
        return [r for r in list(self.requests) if r.get("path") == "/v1/chat/completions"]

    @property
    def embedding_requests(self) -> list[dict]:
        return [r for r in list(self.requests) if r.get("path") == "/v1/embeddings"]

    @property
    def pending_replies(self) -> int:
        with self._lock:
            return len(self._replies)

    # -- lifecycle -----------------------------------------------------------------------

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._server.shutdown()
        self._server.drop_connections()
        self._server.server_close()
        self._thread.join(timeout=5)

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- used by the handler -------------------------------------------------------------

    def _record(self, body: dict) -> None:
        with self._lock:
            self.requests.append(body)

    def _take_failure(self) -> tuple[int, str, int | None] | None:
        with self._lock:
            return self._failures.popleft() if self._failures else None

    def _next_reply(self, body: dict) -> str:
        with self._lock:
            reply = self._replies.popleft() if self._replies else self.default_reply
        text = reply(body) if callable(reply) else reply
        if not isinstance(text, str):
            raise TypeError(f"reply must be a str, got {type(text).__name__}")
        return text
