"""Questions about metadata: "Which papers were published in 2020?", "What has Hinton written here?",
"papers from NeurIPS on pruning".

The parser is conservative: a year needs a preposition or a word about publishing next to it ("in 2020",
"since 2019", "between 2018 and 2020", "2020 papers"); an author or venue counts only when the collection
knows it (its `author_keys` / `venue_keys`) and the question puts it in an author or venue phrase ("by
Hinton", "Hinton's papers", "from NeurIPS"). What it finds becomes a metadata filter; when nothing but the
filter is asked ("which papers were published in 2020?") the answer is the list of matching papers.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from paperchat.rag.metadata import MetaFilter, author_key, fold
from paperchat.rag.text import content_terms

_YEAR = r"((?:19|20)\d\d)"
_RANGE = re.compile(rf"\b(?:between|from)\s+{_YEAR}\s+(?:and|to|until|-|–)\s+{_YEAR}\b", re.I)
_AFTER = re.compile(rf"\b(?:since|after|from)\s+{_YEAR}\b(?!\s*(?:and|to|-|–)\s*\d)", re.I)
_BEFORE = re.compile(rf"\b(?:before|until|prior to|up to)\s+{_YEAR}\b", re.I)
_IN = re.compile(rf"\b(?:in|during|published|appeared|written|released)\s+(?:in\s+)?{_YEAR}\b|\b{_YEAR}\s+"
                 rf"(?:papers?|works?|articles?|publications?)\b", re.I)
_AUTHOR = re.compile(r"\b(?:by|from|of)\s+([A-Z][\w'-]+(?:\s+[A-Z][\w'-]+){0,2})"
                     r"|\b([A-Z][\w'-]+)(?:'s|’s)\s+(?:papers?|work|articles?|research)\b"
                     r"|\b(?:has|did|have)\s+([A-Z][\w'-]+(?:\s+[A-Z][\w'-]+)?)\s+(?:written|published|authored|done)\b")
_VENUE = re.compile(r"\b(?:at|in|from|to)\s+(?:the\s+)?([A-Z][A-Za-z]+(?:\s+[A-Z][A-Za-z]+){0,3})")
#: Words of a metadata question that are not a topic.
_FRAME = {"publish", "appear", "written", "write", "author", "releas", "year", "paper", "here", "collect", "list",
          "show", "all", "everyth", "anyth", "venu", "confer", "journal", "proceed", "articl", "work", "public"}


@dataclass
class MetaQuery:
    """What a question asks of the metadata: the filter, and whether that is all it asks."""

    filter: MetaFilter | None = None
    spans: list[str] = field(default_factory=list)  # the phrases the filter was read from
    only_metadata: bool = False
    topic: str = ""  # the question without the filter's phrases


def parse(question: str, authors: set[str], venues: set[str]) -> MetaQuery:
    """The metadata constraints a question states (see the module docstring); authors/venues are the keys the
    collection's papers carry."""
    spans: list[str] = []
    lo = hi = None
    if m := _RANGE.search(question):
        lo, hi = sorted((int(m.group(1)), int(m.group(2))))
        spans.append(m.group(0))
    else:
        if m := _AFTER.search(question):
            lo = int(m.group(1)) + (1 if m.group(0).lower().startswith("after") else 0)
            spans.append(m.group(0))
        if m := _BEFORE.search(question):
            hi = int(m.group(1)) - (1 if m.group(0).lower().startswith(("before", "prior")) else 0)
            spans.append(m.group(0))
        if lo is None and hi is None and (m := _IN.search(question)):
            lo = hi = int(next(g for g in m.groups() if g))
            spans.append(m.group(0))
    found_authors = []
    for m in _AUTHOR.finditer(question):
        name = next(g for g in m.groups() if g)
        key = author_key(name)
        if key and key in authors:
            found_authors.append(name.split()[-1] if len(name.split()) > 1 else name)
            spans.append(m.group(0))
    found_venues = []
    for m in _VENUE.finditer(question):
        words = m.group(1).split()
        for size in range(len(words), 0, -1):  # the longest known venue at the start of the phrase
            candidate = " ".join(words[:size])
            if " ".join(re.findall(r"\w+", fold(candidate))) in venues:
                found_venues.append(candidate)
                spans.append(m.group(0))
                break
    if lo is None and hi is None and not found_authors and not found_venues:
        return MetaQuery(topic=question)
    meta = MetaFilter(year_min=lo, year_max=hi, authors=found_authors, venues=found_venues)
    topic = question
    for span in spans:
        topic = topic.replace(span, " ")
    only = not [t for t in content_terms(topic) if t not in _FRAME]
    return MetaQuery(meta, spans, only, " ".join(topic.split()))
