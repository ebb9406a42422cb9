"""LLM mode: LangChain chat model against any OpenAI-compatible endpoint, under one deadline per answer.

The evidence is packed into the prompt up to a token budget (tiktoken), framed as data inside
<passage> tags; the answer streams back token by token. Every call of one answer (condensing a
follow-up, the answer itself) shares one `Deadline` (`llm.timeout`, default 20 s); a stream must start
within `llm.first_token_timeout` and may not pause for longer than `llm.stall_timeout`. Past any of those
the call fails with an LLMError and the chain answers offline with a notice, so an answer never waits
much longer than the deadline, however slow the endpoint.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Iterator
from typing import TYPE_CHECKING

from paperchat.rag.errors import LLMError
from paperchat.rag.prompts import (
    ANSWER_SYSTEM,
    ANSWER_USER,
    CONDENSE_SYSTEM,
    CONDENSE_USER,
    EVIDENCE_ITEM,
)
from paperchat.rag.tokens import count_tokens, ensure_offline_tiktoken
from paperchat.rag.types import Evidence

if TYPE_CHECKING:
    from paperchat.rag.settings import Settings

#: The least time worth starting an LLM call with.
MIN_CALL_SECONDS = 0.5


#: The share of an answer's deadline condensing a follow-up may use.
CONDENSE_SHARE = 0.4


class Deadline:
    """The time one answer may still spend waiting for the endpoint."""

    def __init__(self, seconds: float):
        self.seconds = seconds
        self.end = time.monotonic() + seconds

    def remaining(self) -> float:
        return max(0.0, self.end - time.monotonic())

    def check(self, what: str) -> float:
        """The time left, or an LLMError when too little is left to start `what`."""
        left = self.remaining()
        if left < MIN_CALL_SECONDS:
            raise LLMError(f"the LLM endpoint used up the {self.seconds:g} s deadline before {what}")
        return left


def make_chat_model(settings: Settings, temperature: float | None = None):
    """A ChatOpenAI for the configured endpoint; created on demand, never at import time. Retries are off:
    the deadline decides how long an answer may wait, not the client."""
    from langchain_openai import ChatOpenAI

    from paperchat.rag.settings import secret

    ensure_offline_tiktoken()
    cfg = settings.llm
    return ChatOpenAI(
        model=cfg.model,
        base_url=cfg.base_url or settings.openai_base_url,
        api_key=secret(cfg.api_key) or secret(settings.openai_api_key) or "not-needed",
        temperature=cfg.temperature if temperature is None else temperature,
        timeout=cfg.timeout,
        max_retries=0,
    )


def _escape(text: str) -> str:
    """Keep passage text from closing its own tag."""
    return text.replace("</passage>", "</ passage>").replace("</evidence>", "</ evidence>")


def pack_evidence(evidence: list[Evidence], budget: int) -> str:
    """Passages in rank order while they fit the token budget; the first that does not is cut to fit."""
    from paperchat.rag.tokens import get_encoding

    sep = "\n\n"
    parts, used = [], 0
    for ev in evidence:
        title = _escape(ev.title).replace('"', "'")
        item = EVIDENCE_ITEM.format(n=ev.n, title=title, text=_escape(ev.text))
        cost = count_tokens(item) + (count_tokens(sep) if parts else 0)
        if used + cost <= budget:
            parts.append(item)
            used += cost
            continue
        wrapper = count_tokens(EVIDENCE_ITEM.format(n=ev.n, title=title, text="")) + (count_tokens(sep) if parts else 0)
        room = budget - used - wrapper - 2  # a cut can merge tokens at its edges
        if room > 32:
            enc = get_encoding()
            text = enc.decode(enc.encode(_escape(ev.text), disallowed_special=())[:room])
            parts.append(EVIDENCE_ITEM.format(n=ev.n, title=title, text=text))
        break
    return sep.join(parts)


def _prompt(system: str, user: str):
    from langchain_core.prompts import ChatPromptTemplate

    return ChatPromptTemplate.from_messages([("system", system), ("human", user)])


def _bounded(model, seconds: float):
    """The model with a client timeout no longer than the time left."""
    try:
        return model.bind(timeout=seconds)
    except (AttributeError, TypeError, ValueError):
        return model


def condense_llm(model, question: str, history_text: str, deadline: Deadline) -> str:
    """The standalone query the LLM writes for a follow-up; an LLMError when it fails or is unusable (empty,
    much longer than the question, several lines): the caller falls back to the offline condenser."""
    # at most a share of the deadline: retrieval and the answer itself still need time after a slow condense
    left = min(deadline.check("condensing the follow-up"), deadline.seconds * CONDENSE_SHARE)
    chain = _prompt(CONDENSE_SYSTEM, CONDENSE_USER) | _bounded(model, left)
    out: queue.Queue = queue.Queue()

    def call() -> None:
        try:
            out.put(("ok", chain.invoke({"history": history_text, "question": question})))
        except Exception as exc:  # noqa: BLE001 - reported to the waiting thread
            out.put(("error", exc))

    threading.Thread(target=call, daemon=True, name="paperchat-condense").start()
    try:
        kind, value = out.get(timeout=left)
    except queue.Empty:
        raise LLMError(f"the LLM endpoint did not condense the follow-up within {left:.0f} s") from None
    if kind == "error":
        raise LLMError(f"the LLM endpoint failed while condensing the question: {value}") from value
    return check_condensed(question, str(value.content))


def check_condensed(question: str, reply: str) -> str:
    """The LLM's standalone query if it looks like one: one line, not empty, not far longer than the question
    (a reply that is an answer or a speech is not a search query)."""
    text = reply.strip().strip('"').strip()
    if not text:
        raise LLMError("the LLM returned an empty standalone query")
    if "\n" in text or len(text) > max(3 * len(question), len(question) + 300):
        raise LLMError("the LLM's standalone query was not a query (several lines, or much longer than the "
                       "question)")
    return text


def stream_answer(model, question: str, evidence_text: str, deadline: Deadline, first_token_timeout: float,
                  stall_timeout: float) -> Iterator[str]:
    """Answer tokens as they arrive; an LLMError when the endpoint fails, does not start within the first-token
    timeout, stalls for longer than the stall timeout, or runs past the deadline."""
    left = deadline.check("answering")
    chain = _prompt(ANSWER_SYSTEM, ANSWER_USER) | _bounded(model, left)
    pieces: queue.Queue = queue.Queue()
    stop = threading.Event()

    def produce() -> None:
        try:
            for chunk in chain.stream({"evidence": evidence_text, "question": question}):
                if stop.is_set():
                    return
                if chunk.content:
                    pieces.put(("text", str(chunk.content)))
            pieces.put(("end", None))
        except Exception as exc:  # noqa: BLE001 - reported to the consumer
            pieces.put(("error", exc))

    threading.Thread(target=produce, daemon=True, name="paperchat-llm-stream").start()
    first = True
    try:
        while True:
            wait = min(first_token_timeout if first else stall_timeout, deadline.remaining())
            try:
                kind, value = pieces.get(timeout=max(wait, 0.01))
            except queue.Empty:
                if deadline.remaining() <= 0.01:
                    raise LLMError(f"the LLM answer did not finish within the {deadline.seconds:g} s deadline"
                                   ) from None
                what = "start" if first else "continue"
                raise LLMError(f"the LLM stream did not {what} within "
                               f"{first_token_timeout if first else stall_timeout:g} s") from None
            if kind == "end":
                return
            if kind == "error":
                raise LLMError(f"the LLM endpoint failed: {type(value).__name__}: {value}") from value
            first = False
            yield value
    finally:
        stop.set()
