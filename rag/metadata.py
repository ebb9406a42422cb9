"""Paper metadata the filters use: author and venue keys, DOIs, and the metadata filter itself.

A filter (`--year 2019..2023 --author Hinton --venue NeurIPS --category cs.LG`) is applied inside
Chroma (a `where` clause over the chunk metadata) and inside the keyword index alike, on the same
normalised keys, so the filtered results are exactly the papers whose metadata match.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Mapping
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator

#: Name particles that belong to the last name ("van der Maaten", "de Freitas").
_PARTICLES = {"van", "von", "der", "den", "de", "del", "della", "di", "da", "dos", "du", "la", "le", "ter", "bin", "al"}
_SUFFIXES = {"jr", "jr.", "sr", "sr.", "ii", "iii", "iv"}
_DOI = re.compile(r"10\.\d{4,9}/\S+", re.I)

#: Conference and journal names people shorten; each long form is also known by its short names.
VENUE_ALIASES: dict[str, tuple[str, ...]] = {
    "neural information processing systems": ("neurips", "nips"),
    "international conference on machine learning": ("icml",),
    "international conference on learning representations": ("iclr",),
    "computer vision and pattern recognition": ("cvpr",),
    "international conference on computer vision": ("iccv",),
    "european conference on computer vision": ("eccv",),
    "association for computational linguistics": ("acl",),
    "empirical methods in natural language processing": ("emnlp",),
    "north american chapter of the association for computational linguistics": ("naacl",),
    "aaai conference on artificial intelligence": ("aaai",),
    "international joint conference on artificial intelligence": ("ijcai",),
    "knowledge discovery and data mining": ("kdd",),
    "journal of machine learning research": ("jmlr",),
    "transactions on machine learning research": ("tmlr",),
    "artificial intelligence and statistics": ("aistats",),
    "uncertainty in artificial intelligence": ("uai",),
    "conference on robot learning": ("corl",),
    "special interest group on information retrieval": ("sigir",),
}


def fold(text: str) -> str:
    """Lower case without accents: 'Schölkopf' -> 'scholkopf'."""
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(c for c in decomposed if not unicodedata.combining(c)).casefold()


def last_name(name: str) -> str:
    """The family name of 'First Last', 'Last, First' or 'F. van der Last Jr.'."""
    name = " ".join(name.replace("{", "").replace("}", "").split())
    if "," in name:
        return name.split(",", 1)[0].strip()
    words = [w for w in name.split() if w.casefold() not in _SUFFIXES]
    if not words:
        return ""
    start = len(words) - 1
    while start > 0 and words[start - 1].casefold() in _PARTICLES:
        start -= 1
    return " ".join(words[start:])


def author_key(name: str) -> str:
    """What `--author` matches: the folded family name ('Geoffrey E. Hinton' -> 'hinton')."""
    return " ".join(re.findall(r"[\w'-]+", fold(last_name(name))))


def author_keys(names: Iterable[str]) -> list[str]:
    return list(dict.fromkeys(k for k in (author_key(n) for n in names) if k))


def venue_keys(venue: str | None) -> list[str]:
    """What `--venue` matches: the folded venue, its acronyms in parentheses or capitals, and known short names."""
    if not venue or not venue.strip():
        return []
    folded = " ".join(re.findall(r"[\w]+", fold(venue)))
    keys = [folded]
    keys += [fold(a) for a in re.findall(r"\(([A-Za-z][A-Za-z&-]{1,15})\)", venue)]
    keys += [fold(w) for w in re.findall(r"\b[A-Z][A-Za-z]*[A-Z][A-Za-z]*\b", venue) if len(w) <= 10]
    for long_form, shorts in VENUE_ALIASES.items():
        if long_form in folded or folded in shorts or any(s in keys for s in shorts):
            keys += [long_form, *shorts]
    return list(dict.fromkeys(k for k in keys if k))


def category_keys(categories: Iterable[str]) -> list[str]:
    return list(dict.fromkeys(fold(c).strip() for c in categories if c and c.strip()))


def normalize_doi(value: Any) -> str | None:
    """'https://doi.org/10.1000/XYZ' or 'doi:10.1000/xyz' -> '10.1000/xyz' (DOIs are case-insensitive)."""
    if not isinstance(value, str):
        return None
    match = _DOI.search(value.strip())
    return match.group(0).rstrip(".,;").casefold() if match else None


class MetaFilter(BaseModel):
    """Year range, authors, venues and categories; AND across kinds, OR within a kind."""

    model_config = ConfigDict(extra="forbid")

    year_min: int | None = Field(None, description="First year, inclusive")
    year_max: int | None = Field(None, description="Last year, inclusive")
    authors: list[str] = Field(default_factory=list, description="Family names (any of them)")
    venues: list[str] = Field(default_factory=list, description="Venues or their short names (any of them)")
    categories: list[str] = Field(default_factory=list, description="arXiv categories or keywords (any of them)")

    @model_validator(mode="after")
    def _ordered(self) -> MetaFilter:
        if self.year_min is not None and self.year_max is not None and self.year_min > self.year_max:
            raise ValueError(f"the year range {self.year_min}..{self.year_max} is empty")
        return self

    @property
    def empty(self) -> bool:
        return self.year_min is None and self.year_max is None and not (self.authors or self.venues or
                                                                          self.categories)

    def keys(self) -> dict[str, list[str]]:
        """The normalised keys per metadata field, as stored on every chunk."""
        return {
            "author_keys": author_keys(self.authors),
            "venue_keys": [venue_keys(v)[0] for v in self.venues if venue_keys(v)],
            "category_keys": category_keys(self.categories),
        }

    def chroma_where(self) -> dict | None:
        """The same filter as a Chroma `where` clause (None when there is nothing to filter)."""
        clauses: list[dict] = []
        if self.year_min is not None:
            clauses.append({"year": {"$gte": self.year_min}})
        if self.year_max is not None:
            clauses.append({"year": {"$lte": self.year_max}})
        for field, values in self.keys().items():
            if len(values) == 1:
                clauses.append({field: {"$contains": values[0]}})
            elif values:
                clauses.append({"$or": [{field: {"$contains": v}} for v in values]})
        if not clauses:
            return None
        return clauses[0] if len(clauses) == 1 else {"$and": clauses}

    def matches(self, meta: Mapping[str, Any]) -> bool:
        """Whether a chunk's (or paper's) metadata passes the filter; the reference the indexes are tested against."""
        year = meta.get("year")
        if self.year_min is not None and (not isinstance(year, int) or year < self.year_min):
            return False
        if self.year_max is not None and (not isinstance(year, int) or year > self.year_max):
            return False
        for field, values in self.keys().items():
            if values and not set(values) & set(meta.get(field) or []):
                return False
        return True

    def describe(self) -> str:
        """'2019-2023, author Hinton, venue NeurIPS' for the trace and the CLI."""
        parts = []
        if self.year_min is not None or self.year_max is not None:
            lo, hi = self.year_min, self.year_max
            parts.append(f"year {lo}" if lo == hi else f"years {lo or '…'}–{hi or '…'}")
        for label, values in (("author", self.authors), ("venue", self.venues), ("category", self.categories)):
            if values:
                parts.append(f"{label} {' or '.join(values)}")
        return ", ".join(parts) or "none"


_YEAR_RANGE = re.compile(r"^\s*(\d{4})?\s*(?:(\.\.|-|–|:)\s*(\d{4})?)?\s*$")


def parse_years(text: str | None) -> tuple[int | None, int | None]:
    """'2019..2023', '2019-2023', '2020', '2019..' or '..2020' -> (first, last); ValueError otherwise."""
    if text is None or not text.strip():
        return None, None
    match = _YEAR_RANGE.match(text)
    if not match or not (match.group(1) or match.group(3)):
        raise ValueError(f"{text!r} is not a year or a range like 2019..2023")
    lo = int(match.group(1)) if match.group(1) else None
    hi = int(match.group(3)) if match.group(3) else (lo if match.group(2) is None else None)
    if lo is not None and hi is not None and lo > hi:
        raise ValueError(f"the year range {text!r} is empty (the first year is after the last)")
    return lo, hi


def make_filter(years: str | None = None, authors: Iterable[str] = (), venues: Iterable[str] = (),
                categories: Iterable[str] = ()) -> MetaFilter | None:
    """A filter from what a person typed (CLI options, web fields, API arguments); None when it filters nothing."""
    lo, hi = parse_years(years)
    clean = [[v.strip() for v in values if v and v.strip()] for values in (authors, venues, categories)]
    found = MetaFilter(year_min=lo, year_max=hi, authors=clean[0], venues=clean[1], categories=clean[2])
    return None if found.empty else found
