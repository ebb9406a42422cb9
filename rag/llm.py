"""LLM mode: LangChain chat model against any OpenAI-compatible endpoint.

The evidence is packed into the prompt up to a token budget (tiktoken), framed as
data inside <passage> tags; the answer streams back token by token.
"""

from __future__ import annotations

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


def make_chat_model(settings: Settings, temperature: float | None = None):
    """A ChatOpenAI for the configured endpoint; created on demand, never at import time."""
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
        max_retries=1,
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


def condense_llm(model, question: str, history_text: str) -> str:
    chain = _prompt(CONDENSE_SYSTEM, CONDENSE_USER) | model
    try:
        reply = chain.invoke({"history": history_text, "question": question})
    except Exception as exc:
        raise LLMError(f"the LLM endpoint failed while condensing the question: {exc}") from exc
    text = str(reply.content).strip().strip('"')
    return text or question


def stream_answer(model, question: str, evidence_text: str) -> Iterator[str]:
    """Answer tokens as they arrive; endpoint failures become LLMError."""
    chain = _prompt(ANSWER_SYSTEM, ANSWER_USER) | model
    try:
        for chunk in chain.stream({"evidence": evidence_text, "question": question}):
            if chunk.content:
                yield str(chunk.content)
    except Exception as exc:
        raise LLMError(f"the LLM endpoint failed: {type(exc).__name__}: {exc}") from exc
