"""Generators: what writes the answer once the gate has said the evidence can answer.

Both implement one protocol: `generate(session)` yields `StreamEvent`s (text as it is written, with the
evidence's own [n] markers) and returns a `Draft`. The chain picks one by mode; falling back from the LLM to
the offline generator is a wrapper (`WithFallback`), not branches spread through the chain.
"""

from __future__ import annotations

from collections.abc import Callable, Generator
from dataclasses import dataclass, field
from typing import Protocol

from paperchat.rag.citations import MARKER, has_markers, marker_numbers
from paperchat.rag.errors import LLMError
from paperchat.rag.extractive import compose, select
from paperchat.rag.prompts import CANNOT_ANSWER
from paperchat.rag.session import Mode, Session
from paperchat.rag.settings import Settings
from paperchat.rag.types import StreamEvent

EXTRACTIVE_MODEL = "offline extractive"


@dataclass
class Draft:
    """A generator's answer before its citations are checked and renumbered."""

    text: str
    mode: Mode
    model: str
    quotes: dict[int, str] = field(default_factory=dict)  # evidence n -> the sentence quoted (offline answers)
    not_found: bool = False  # the LLM said the passages do not answer


Events = Generator[StreamEvent, None, Draft]


class AnswerGenerator(Protocol):
    mode: Mode
    model: str

    def generate(self, session: Session) -> Events: ...


class ExtractiveGenerator:
    """The offline answer: the evidence's best sentences, verbatim, each with its [n]."""

    mode: Mode = "extractive"
    model = EXTRACTIVE_MODEL

    def __init__(self, settings: Settings):
        self.settings = settings

    def generate(self, session: Session) -> Events:
        chosen = select(session.analysis, self.settings.answer)
        text = compose(chosen, {e.n: e.title for e in session.evidence})
        quotes: dict[int, str] = {}  # each paper's best-scoring quoted sentence supports its citation
        for sentence in sorted(chosen, key=lambda s: -s.score):
            quotes.setdefault(sentence.n, sentence.text)
        for line in text.splitlines(keepends=True):
            yield StreamEvent(kind="delta", text=line)
        return Draft(text, self.mode, self.model, quotes)


class LLMGenerator:
    """An answer written by the chat model from the packed evidence, streamed, under the session's deadline.
    An unusable reply (empty, no markers) is an LLMError, so a wrapper can fall back."""

    mode: Mode = "llm"

    def __init__(self, settings: Settings, model: Callable[[], object]):
        self.settings = settings
        self.model = settings.llm.model
        self._chat = model

    def generate(self, session: Session) -> Events:
        from paperchat.rag.llm import pack_evidence, stream_answer

        cfg = self.settings.llm
        packed = pack_evidence(session.evidence, cfg.context_tokens)
        chat = self._chat()
        if session.temperature is not None:
            chat = chat.bind(temperature=session.temperature)
        text, shown = "", False
        for piece in stream_answer(chat, session.standalone, packed, session.deadline, cfg.first_token_timeout,
                                   cfg.stall_timeout):
            text += piece
            session.raw_text = text
            if shown or not CANNOT_ANSWER.startswith(text.strip()[: len(CANNOT_ANSWER)]):
                yield StreamEvent(kind="delta", text=piece if shown else text)
                shown = True
        if text.strip().startswith(CANNOT_ANSWER):
            return Draft(text, self.mode, self.model, not_found=True)
        if not text.strip():
            raise LLMError("the LLM returned an empty answer")
        if not has_markers(text):
            raise LLMError("the LLM answer cited no evidence")
        valid = {e.n for e in session.evidence}
        if not any(n in valid for group in MARKER.findall(text) for n in marker_numbers(group)):
            raise LLMError("the LLM cited passages that do not exist")
        return Draft(text, self.mode, self.model)


class WithFallback:
    """The primary generator; when it fails, a reset (if it had shown anything) and the backup's answer, with
    the reason as a notice."""

    def __init__(self, primary: AnswerGenerator, backup: AnswerGenerator):
        self.primary, self.backup = primary, backup
        self.mode = primary.mode
        self.model = primary.model

    def generate(self, session: Session) -> Events:
        shown = False
        events = self.primary.generate(session)
        try:
            while True:
                event = next(events)
                shown = True
                yield event
        except StopIteration as done:
            return done.value
        except LLMError as exc:
            notice = f"{exc}; answered offline instead"
            session.notices.append(notice)
            if shown:
                yield StreamEvent(kind="reset", text=notice)
            return (yield from self.backup.generate(session))
