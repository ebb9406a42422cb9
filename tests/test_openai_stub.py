"""Tests for the loopback OpenAI-compatible stub server, driven by the real clients."""

from __future__ import annotations

import asyncio
import base64
import json
import math
import socket
import struct
import time
import urllib.error
import urllib.request

import openai
import pytest
from langchain_openai import ChatOpenAI, OpenAIEmbeddings

try:
    from openai_stub import StubOpenAI, closed_port_url, stub_embedding
except ImportError:  # pragma: no cover - if tests/ ever becomes a package
    from tests.openai_stub import StubOpenAI, closed_port_url, stub_embedding

USER_HI = [{"role": "user", "content": "hi"}]


@pytest.fixture
def stub():
    with StubOpenAI() as s:
        yield s


def make_client(stub: StubOpenAI, **kwargs) -> openai.OpenAI:
    return openai.OpenAI(base_url=stub.base_url, api_key="test", max_retries=0, timeout=5, **kwargs)


def cosine(a: list[float], b: list[float]) -> float:
    return sum(x * y for x, y in zip(a, b, strict=True))


# --------------------------------------------------------------------------- basics


def test_base_url_is_loopback_v1(stub):
    assert stub.base_url.startswith("http://127.0.0.1:")
    assert stub.base_url.endswith("/v1")
    assert int(stub.base_url.split(":")[2].split("/")[0]) > 0


def test_plain_completion_returns_queued_text_and_records_messages(stub):
    stub.queue("first answer", "second answer")
    client = make_client(stub)
    messages = [{"role": "system", "content": "be brief"}, {"role": "user", "content": "what is RAG?"}]

    r1 = client.chat.completions.create(model="my-model", messages=messages)
    r2 = client.chat.completions.create(model="my-model", messages=USER_HI)
    r3 = client.chat.completions.create(model="my-model", messages=USER_HI)

    assert [r.choices[0].message.content for r in (r1, r2, r3)] == ["first answer", "second answer", "ok"]
    assert r1.object == "chat.completion"
    assert r1.model == "my-model"
    assert r1.choices[0].message.role == "assistant"
    assert r1.choices[0].finish_reason == "stop"
    assert (
        r1.usage is not None and r1.usage.total_tokens == r1.usage.prompt_tokens + r1.usage.completion_tokens
    )
    assert r1.usage.prompt_tokens > 0 and r1.usage.completion_tokens > 0
    assert len(stub.requests) == 3
    first = stub.requests[0]
    assert first["path"] == "/v1/chat/completions"
    assert first["model"] == "my-model"
    assert first["messages"] == messages
    assert stub.chat_requests == stub.requests
    assert stub.pending_replies == 0


def test_replies_from_constructor_and_default_reply():
    with StubOpenAI(replies=["one"], default_reply="fallback") as stub:
        client = make_client(stub)
        got = [
            client.chat.completions.create(model="m", messages=USER_HI).choices[0].message.content
            for _ in "abc"
        ]
    assert got == ["one", "fallback", "fallback"]


def test_callable_reply_sees_request():
    seen = []

    def echo(body: dict) -> str:
        seen.append(body)
        return "echo: " + body["messages"][-1]["content"]

    with StubOpenAI(default_reply=lambda body: f"model={body['model']}") as stub:
        stub.queue(echo)
        client = make_client(stub)
        r1 = client.chat.completions.create(model="m1", messages=[{"role": "user", "content": "ping"}])
        r2 = client.chat.completions.create(model="m2", messages=USER_HI)
    assert r1.choices[0].message.content == "echo: ping"
    assert r2.choices[0].message.content == "model=m2"
    assert seen[0]["model"] == "m1"
    assert seen[0]["path"] == "/v1/chat/completions"


def test_callable_reply_that_raises_becomes_500(stub):
    def boom(body: dict) -> str:
        raise RuntimeError("kaput")

    stub.queue(boom)
    client = make_client(stub)
    with pytest.raises(openai.InternalServerError, match="kaput"):
        client.chat.completions.create(model="m", messages=USER_HI)
    assert client.chat.completions.create(model="m", messages=USER_HI).choices[0].message.content == "ok"


# --------------------------------------------------------------------------- streaming


def test_streaming_reassembles_full_text_from_several_chunks(stub):
    text = "Retrieval augmented generation grounds answers in documents.\nSecond line  here."
    stub.queue(text)
    client = make_client(stub)

    chunks = list(client.chat.completions.create(model="m", messages=USER_HI, stream=True))

    content_chunks = [c for c in chunks if c.choices and c.choices[0].delta.content]
    assert len(content_chunks) > 1
    assert "".join(c.choices[0].delta.content for c in content_chunks) == text
    assert all(c.object == "chat.completion.chunk" and c.model == "m" for c in chunks)
    assert chunks[0].choices[0].delta.role == "assistant"
    assert chunks[-1].choices[0].finish_reason == "stop"
    assert all(c.usage is None for c in chunks)
    assert stub.requests[-1]["stream"] is True


def test_streaming_include_usage_sends_usage_chunk(stub):
    stub.queue("a few words here")
    client = make_client(stub)

    chunks = list(
        client.chat.completions.create(
            model="m", messages=USER_HI, stream=True, stream_options={"include_usage": True}
        )
    )

    last = chunks[-1]
    assert last.choices == []
    assert last.usage is not None and last.usage.completion_tokens > 0
    assert chunks[-2].choices[0].finish_reason == "stop"
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == "a few words here"


def test_streaming_raw_sse_format(stub):
    stub.queue("two words")
    req = urllib.request.Request(
        stub.base_url + "/chat/completions",
        data=json.dumps({"model": "m", "messages": USER_HI, "stream": True}).encode(),
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(req, timeout=5) as resp:
        assert resp.headers["Content-Type"].startswith("text/event-stream")
        raw = resp.read().decode()
    events = [block for block in raw.split("\n\n") if block]
    assert all(e.startswith("data: ") for e in events)
    assert events[-1] == "data: [DONE]"
    payloads = [json.loads(e[len("data: ") :]) for e in events[:-1]]
    assert "".join(p["choices"][0]["delta"].get("content", "") for p in payloads) == "two words"


def test_async_client_streams(stub):
    stub.queue("async streaming works fine")

    async def run() -> str:
        async with openai.AsyncOpenAI(base_url=stub.base_url, api_key="test", max_retries=0) as client:
            stream = await client.chat.completions.create(model="m", messages=USER_HI, stream=True)
            return "".join([c.choices[0].delta.content or "" async for c in stream if c.choices])

    assert asyncio.run(run()) == "async streaming works fine"


# --------------------------------------------------------------------------- failures


def test_fail_next_raises_then_next_call_succeeds(stub):
    stub.queue("after failure")
    stub.fail_next(500, "backend exploded")
    client = make_client(stub)

    with pytest.raises(openai.InternalServerError) as exc_info:
        client.chat.completions.create(model="m", messages=USER_HI)
    assert exc_info.value.status_code == 500
    assert "backend exploded" in str(exc_info.value)

    r = client.chat.completions.create(model="m", messages=USER_HI)
    assert r.choices[0].message.content == "after failure"  # the failure did not consume the reply
    assert len(stub.requests) == 2  # failed requests are still recorded


def test_fail_next_count_and_status(stub):
    stub.fail_next(429, "slow down", count=2)
    client = make_client(stub)
    for _ in range(2):
        with pytest.raises(openai.RateLimitError):
            client.chat.completions.create(model="m", messages=USER_HI)
    assert client.chat.completions.create(model="m", messages=USER_HI).choices[0].message.content == "ok"


def test_fail_next_applies_to_embeddings_and_json_body_passes_verbatim(stub):
    stub.fail_next(400, json.dumps({"error": {"message": "custom", "type": "x", "code": "bad"}}))
    client = make_client(stub)
    with pytest.raises(openai.BadRequestError) as exc_info:
        client.embeddings.create(model="e", input="hello")
    assert exc_info.value.code == "bad"


def test_client_retries_recover_quickly_thanks_to_retry_after(stub):
    stub.fail_next(503, count=2)
    client = openai.OpenAI(base_url=stub.base_url, api_key="test", max_retries=2, timeout=5)
    start = time.monotonic()
    r = client.chat.completions.create(model="m", messages=USER_HI)
    assert r.choices[0].message.content == "ok"
    assert time.monotonic() - start < 0.5
    assert len(stub.requests) == 3


def test_unknown_path_is_openai_shaped_404(stub):
    client = make_client(stub)
    with pytest.raises(openai.NotFoundError):
        client.completions.create(model="m", prompt="legacy endpoint")
    with pytest.raises(urllib.error.HTTPError) as exc_info:
        urllib.request.urlopen(stub.base_url + "/nope", timeout=5)
    assert exc_info.value.code == 404
    assert "message" in json.loads(exc_info.value.read())["error"]


def test_closed_port_raises_connection_error():
    url = closed_port_url()
    assert url.startswith("http://127.0.0.1:") and url.endswith("/v1")
    client = openai.OpenAI(base_url=url, api_key="test", max_retries=0, timeout=2)
    with pytest.raises(openai.APIConnectionError):
        client.chat.completions.create(model="m", messages=USER_HI)


def test_close_is_clean_and_idempotent():
    stub = StubOpenAI()
    client = make_client(stub)
    assert client.chat.completions.create(model="m", messages=USER_HI).choices[0].message.content == "ok"
    start = time.monotonic()
    stub.close()  # the client still holds a keep-alive connection
    stub.close()
    assert time.monotonic() - start < 1
    with pytest.raises(openai.APIConnectionError):
        client.chat.completions.create(model="m", messages=USER_HI)
    port = int(stub.base_url.split(":")[2].split("/")[0])
    with pytest.raises(ConnectionRefusedError):  # the listening socket is gone
        socket.create_connection(("127.0.0.1", port), timeout=2).close()


# --------------------------------------------------------------------------- embeddings & models


def test_embeddings_dims_determinism_and_difference(stub):
    client = make_client(stub)
    res = client.embeddings.create(model="embed-model", input=["alpha beta", "alpha beta", "gamma delta"])
    vecs = [d.embedding for d in res.data]
    assert [d.index for d in res.data] == [0, 1, 2]
    assert res.model == "embed-model"
    assert res.usage.total_tokens > 0
    assert all(len(v) == 8 for v in vecs)
    assert all(math.isclose(math.sqrt(sum(x * x for x in v)), 1.0, rel_tol=1e-5) for v in vecs)
    assert vecs[0] == vecs[1]
    assert vecs[0] != vecs[2]
    single = client.embeddings.create(model="embed-model", input="alpha beta").data[0].embedding
    assert single == vecs[0]
    # openai 3.x asks for base64 by default and decodes it client-side
    assert stub.requests[0]["encoding_format"] == "base64"
    assert stub.embedding_requests == stub.requests


def test_embeddings_float_and_base64_agree_and_custom_dim():
    with StubOpenAI(embed_dim=16) as stub:
        client = make_client(stub)
        as_float = client.embeddings.create(model="e", input="hello world", encoding_format="float")
        as_b64 = client.embeddings.create(model="e", input="hello world", encoding_format="base64")
        smaller = client.embeddings.create(model="e", input="hello world", dimensions=4)
    floats = as_float.data[0].embedding
    raw = base64.b64decode(as_b64.data[0].embedding)
    assert len(floats) == 16
    assert list(struct.unpack("<16f", raw)) == floats
    assert floats == stub_embedding("hello world", 16)
    assert len(smaller.data[0].embedding) == 4


def test_embeddings_are_loosely_lexical():
    q = stub_embedding("transformer attention heads", 64)
    near = stub_embedding("attention heads in a transformer model", 64)
    far = stub_embedding("soup recipes with potatoes", 64)
    assert cosine(q, near) > cosine(q, far)


def test_models_list(stub):
    models = make_client(stub).models.list()
    assert [m.id for m in models.data] == ["stub-model"]


# --------------------------------------------------------------------------- langchain


def test_langchain_chat_invoke_and_stream(stub):
    stub.queue("invoke answer", "streamed answer in pieces")
    llm = ChatOpenAI(base_url=stub.base_url, api_key="test", model="stub-model", max_retries=0, timeout=5)

    msg = llm.invoke("What is a transformer?")
    assert msg.content == "invoke answer"
    assert msg.usage_metadata is not None and msg.usage_metadata["total_tokens"] > 0

    pieces = [chunk.content for chunk in llm.stream("and streaming?")]
    assert "".join(pieces) == "streamed answer in pieces"
    assert len([p for p in pieces if p]) > 1

    invoke_req, stream_req = stub.requests
    assert invoke_req["model"] == "stub-model"
    assert invoke_req["messages"] == [{"role": "user", "content": "What is a transformer?"}]
    assert invoke_req["stream"] is False
    assert stream_req["stream"] is True


def test_langchain_chat_error_maps_to_openai_error(stub):
    stub.fail_next(500)
    llm = ChatOpenAI(base_url=stub.base_url, api_key="test", model="stub-model", max_retries=0, timeout=5)
    with pytest.raises(openai.InternalServerError):
        llm.invoke("hi")
    assert llm.invoke("hi").content == "ok"


def test_langchain_embeddings_without_tiktoken(stub):
    # check_embedding_ctx_length=False: otherwise langchain downloads a tiktoken encoding and sends token ids
    emb = OpenAIEmbeddings(
        base_url=stub.base_url,
        api_key="test",
        model="stub-embed",
        max_retries=0,
        check_embedding_ctx_length=False,
    )
    docs = emb.embed_documents(["first doc", "second doc"])
    query = emb.embed_query("first doc")
    assert [len(v) for v in docs] == [8, 8]
    assert query == pytest.approx(docs[0])
    assert stub.requests[0]["input"] == ["first doc", "second doc"]


def test_token_id_input_is_accepted(stub):
    client = make_client(stub)
    res = client.embeddings.create(model="e", input=[[1, 2, 3], [4, 5]])
    assert len(res.data) == 2 and res.data[0].embedding != res.data[1].embedding
