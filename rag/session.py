"""The one typed record that flows through the chain: condense -> retrieve -> gate -> generate -> cite.

Each step adds to it; nothing travels in loose tuples. The "how this answer was made" view and the
Answer's `trace` are read from it.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal

from paperchat.rag.types import Answer, Evidence, SearchHit, Turn

if TYPE_CHECKING:
    from paperchat.rag.condense import Condensed
    from paperchat.rag.extractive import Analysis
    from paperchat.rag.gate import GateDecision
    from paperchat.rag.llm import Deadline
    from paperchat.rag.metadata import MetaFilter
    from paperchat.rag.metaquery import MetaQuery
    from paperchat.rag.names import NameMatch

Mode = Literal["llm", "extractive"]


class Clock:
    """Milliseconds per step."""

    def __init__(self) -> None:
        self.start = self.last = time.perf_counter()
        self.laps: dict[str, float] = {}

    def lap(self, name: str) -> None:
        now = time.perf_counter()
        self.laps[name] = round(1000 * (now - self.last), 1)
        self.last = now

    def done(self) -> dict[str, float]:
        return {**self.laps, "total_ms": round(1000 * (time.perf_counter() - self.start), 1)}


@dataclass
class Session:
    """One question on its way to an answer."""

    question: str
    history: list[Turn]
    mode: Mode
    k: int
    deadline: Deadline
    where: MetaFilter | None = None  # the filter the caller gave
    temperature: float | None = None
    revision: str = ""  # the collection revision read once for this question
    exclude: frozenset[str] = frozenset()  # papers retrieval leaves out (the gate's training data)
    clock: Clock = field(default_factory=Clock)
    condensed: Condensed | None = None
    meta: MetaQuery | None = None  # metadata constraints read from the question
    names: list[NameMatch] = field(default_factory=list)
    query: str = ""  # what retrieval was asked (acronyms spelled out)
    hits: list[SearchHit] = field(default_factory=list)
    evidence: list[Evidence] = field(default_factory=list)
    analysis: Analysis | None = None
    gate: GateDecision | None = None
    raw_text: str = ""  # what the LLM wrote, before citations were checked
    notices: list[str] = field(default_factory=list)
    answer: Answer | None = None

    @property
    def standalone(self) -> str:
        return self.condensed.query if self.condensed else self.question

    @property
    def applied_filter(self) -> MetaFilter | None:
        """The caller's filter, and the constraints read from the question, together (AND)."""
        parsed = self.meta.filter if self.meta else None
        if self.where is None or parsed is None:
            return self.where or parsed
        merged = self.where.model_copy(update={
            "year_min": max(filter(None, [self.where.year_min, parsed.year_min]), default=None),
            "year_max": min(filter(None, [self.where.year_max, parsed.year_max]), default=None),
            "authors": self.where.authors or parsed.authors, "venues": self.where.venues or parsed.venues})
        return merged

    def trace(self) -> dict:
        """How the answer was made, for the Answer JSON and the web UI."""
        applied = self.applied_filter
        return {
            "standalone_query": self.standalone,
            "retrieval_query": self.query,
            "filter": applied.describe() if applied else None,
            "filter_from_question": self.meta.spans if self.meta and self.meta.filter else [],
            "names": [{"paper_id": m.paper_id, "how": m.how, "matched": m.matched, "score": m.score}
                      for m in self.names],
            "gate": self.gate.trace() if self.gate else None,
            "asks": self.analysis.asks if self.analysis else [],
            "filtered_sentences": self.analysis.filtered if self.analysis else [],
            "raw_llm_text": self.raw_text or None,
            "notices": self.notices,
        }
