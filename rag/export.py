"""The papers an answer cites as BibTeX or RIS, for a reference manager (`ask --bib`, the web UI's exports).

A paper read from a .bib file is given back as its original entry, key included, so a citation key already in
someone's manuscript keeps working; only its `file` field (paths on the machine that ingested it) is dropped.
An `@string` macro the entry used (`booktitle = nips`) is not defined in the export: a venue
field gets the paper's venue instead, any other such field is left out.
Every other paper gets a generated entry: `@article` with the venue as journal, `@misc` with `eprint` and
`archivePrefix` for an arXiv preprint, keys in Google Scholar's `lastnameYEARfirstword` form. Keys are unique
within one output. bibtexparser writes the entries, rispy the RIS records.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any, Protocol

import bibtexparser
import rispy
from bibtexparser.model import Entry, Field
from bibtexparser.writer import BibtexFormat
from pylatexenc.latexencode import UnicodeToLatexEncoder

from paperchat.rag.metadata import fold, last_name

if TYPE_CHECKING:
    from paperchat.rag.store import PaperStore
    from paperchat.rag.types import Answer

#: Fields of an original entry that are not given back: local attachment paths.
DROPPED_FIELDS = frozenset({"file"})
#: Fields that hold the venue (an unresolved @string there is replaced by the record's venue).
_VENUE_FIELDS = ("journal", "journaltitle", "booktitle")
_MONTHS = {"jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"}
#: Title words a generated key skips ("The Transformer" -> ...transformer).
_KEY_STOPWORDS = {"a", "an", "the", "on", "of", "in", "for", "to", "and", "with", "from", "at", "by", "is", "are"}
#: BibTeX's special characters, written as LaTeX (non-ASCII letters go through pylatexenc).
_LATEX_SPECIALS = {"\\": r"\textbackslash{}", "{": r"\{", "}": r"\}", "&": r"\&", "%": r"\%", "$": r"\$",
                   "#": r"\#", "_": r"\_", "~": r"\textasciitilde{}", "^": r"\textasciicircum{}"}
_SPECIALS = re.compile("|".join(re.escape(c) for c in _LATEX_SPECIALS))
_NON_ASCII = re.compile(r"[^\x00-\x7f]+")
_ARXIV_CATEGORY = re.compile(r"^[a-z-]+(\.[A-Za-z-]+)?$")
_CONFERENCE = re.compile(r"\b(proceedings|conference|workshop|symposium|neurips|nips|icml|iclr|cvpr|iccv|eccv|"
                         r"acl|emnlp|naacl|aaai|ijcai|kdd|sigir|aistats|uai|corl|interspeech|icassp)\b", re.I)
#: Letters Unicode does not decompose into an ASCII letter and an accent.
_UNDECOMPOSABLE = str.maketrans({"ł": "l", "ø": "o", "ß": "ss", "æ": "ae", "œ": "oe", "đ": "d", "ð": "d",
                                 "þ": "th", "ı": "i"})
_ENCODER = UnicodeToLatexEncoder(non_ascii_only=True, replacement_latex_protection="braces-all",
                                 unknown_char_policy="keep", unknown_char_warning=False)


_FORMAT = BibtexFormat()
_FORMAT.block_separator = "\n"


class Reference(Protocol):
    """What an exported paper needs: a `PaperRecord`, or a citation (`PaperRef`) when the store has no record."""

    title: str
    authors: list[str]
    year: int | None
    venue: str | None
    doi: str | None
    arxiv_id: str | None
    url: str | None


# ------------------------------------------------------------------------------------- records of an answer


def cited_records(answers: Answer | Iterable[Answer], store: PaperStore) -> list[Any]:
    """The papers the answers cite, each once, in the order first cited: the stored `PaperRecord`s (they hold the
    original BibTeX), or the citation itself for a paper the store no longer has."""
    from paperchat.rag.store import PaperRecord
    from paperchat.rag.types import Answer

    answers = [answers] if isinstance(answers, Answer) else list(answers)
    citations = {}
    for answer in answers:
        for citation in answer.citations if answer.status == "answered" else []:
            citations.setdefault(citation.paper_id, citation)
    if not citations:
        return []
    firsts = store.first_chunks(list(citations), text=False)
    return [PaperRecord.from_metadata(firsts[pid].metadata) if pid in firsts else citation
            for pid, citation in citations.items()]


# ------------------------------------------------------------------------------------- BibTeX


def bibtex(records: Iterable[Reference]) -> str:
    """The records as one .bib text: original entries where there are, generated ones otherwise; unique keys."""
    taken: set[str] = set()
    entries = [_entry(record, taken) for record in records]
    if not entries:
        return ""
    library = bibtexparser.Library(entries)
    return bibtexparser.write_string(library, unparse_stack=[], bibtex_format=_FORMAT).strip() + "\n"


def _entry(record: Reference, taken: set[str]) -> Entry:
    original = _original(getattr(record, "bibtex", None))
    if original is None:
        return generated_entry(record, taken)
    original.key = _unique(original.key, taken)
    fields = []
    for field in original.fields:
        name = field.key.lower()
        if name in DROPPED_FIELDS:
            continue
        if _is_macro(field.value):  # an @string of the file it came from, which is not exported with it
            if name not in _VENUE_FIELDS or not record.venue:
                continue
            field = Field(field.key, "{" + latex(record.venue) + "}")
        fields.append(field)
    original.fields = fields
    return original


def _original(raw: str | None) -> Entry | None:
    """The stored entry, parsed again with its values as written (None when there is none or it no longer
    parses as one entry)."""
    if not raw or not raw.strip():
        return None
    library = bibtexparser.parse_string(raw, parse_stack=[])
    return library.entries[0] if len(library.entries) == 1 and not library.failed_blocks else None


def _is_macro(value: str) -> bool:
    """A value naming an @string macro (`nips`, `icml # " (ICML)"`); numbers and month names are BibTeX's own."""
    value = value.strip()
    if not value or value[0] in "{\"" and "#" not in value:
        return False
    return not value.isdigit() and value.lower() not in _MONTHS


def generated_entry(record: Reference, taken: set[str] | None = None) -> Entry:
    """`@article` (a venue), `@misc` with eprint (an arXiv preprint) or `@misc`; fields LaTeX-escaped."""
    taken = set() if taken is None else taken
    arxiv = record.arxiv_id
    kind = "article" if record.venue else "misc"
    fields = [("title", latex(record.title))]
    if record.authors:
        fields.append(("author", " and ".join(_bib_name(a) for a in record.authors)))
    if record.venue:
        fields.append(("journal", latex(record.venue)))
    if record.year:
        fields.append(("year", str(record.year)))
    if arxiv:
        fields += [("eprint", _verbatim(arxiv)), ("archivePrefix", "arXiv")]
        if category := _arxiv_category(getattr(record, "categories", None) or []):
            fields.append(("primaryClass", category))
    if record.doi:
        fields.append(("doi", _verbatim(record.doi)))
    if url := _url(record):
        fields.append(("url", _verbatim(url)))
    return Entry(kind, _unique(citation_key(record), taken), [Field(k, "{" + v + "}") for k, v in fields])


def citation_key(record: Reference) -> str:
    """Google Scholar's form: first author's family name, year, first title word ('vaswani2017attention')."""
    family = _ascii_word(last_name(record.authors[0])) if record.authors else ""
    words = [w for w in (_ascii_word(w) for w in record.title.split()) if w]
    first = next((w for w in words if w not in _KEY_STOPWORDS and re.search("[a-z]", w)), words[0] if words else "")
    return f"{family or 'anon'}{record.year or ''}{first}"


def _unique(key: str, taken: set[str]) -> str:
    """The key, or key + a, b, c ... when an earlier entry of the same output has it."""
    candidate, n = key, 0
    while candidate.lower() in taken:
        candidate = key + _suffix(n)
        n += 1
    taken.add(candidate.lower())
    return candidate


def _suffix(n: int) -> str:
    letters = ""
    n += 1
    while n:
        n, rest = divmod(n - 1, 26)
        letters = chr(ord("a") + rest) + letters
    return letters


def latex(text: str) -> str:
    """Text as a BibTeX field value: specials escaped, non-ASCII letters as LaTeX accents, one line."""
    text = " ".join(text.split())
    text = _SPECIALS.sub(lambda m: _LATEX_SPECIALS[m.group(0)], text)
    return _NON_ASCII.sub(lambda m: _ENCODER.unicode_to_latex(m.group(0)), text)


def _bib_name(name: str) -> str:
    """'Martin Luther King Jr.' -> 'King, Jr., Martin Luther', BibTeX's unambiguous form; a name with ' and '
    (an organisation) or a comma of its own is braced whole."""
    if re.search(r"\sand\s", name, re.I) or "," in name:
        return f"{{{latex(name)}}}"
    family, given, suffix = _name_parts(name)
    return ", ".join(latex(part) for part in (family, suffix, given) if part)


def _verbatim(value: str) -> str:
    """DOIs, URLs and ids are verbatim in BibTeX: only the braces that would end the field are encoded."""
    return " ".join(value.split()).replace("{", "%7B").replace("}", "%7D")


def _url(record: Reference) -> str | None:
    url = record.url or (f"https://doi.org/{record.doi}" if record.doi else None)
    return url if url and re.match(r"^https?://", url, re.I) else None


def _ascii_word(text: str) -> str:
    """A key part: ASCII letters and digits ('Łukasz' -> 'lukasz', 'Schölkopf' -> 'scholkopf')."""
    plain = unicodedata.normalize("NFKD", fold(text).translate(_UNDECOMPOSABLE))
    return re.sub(r"[^a-z0-9]", "", plain.encode("ascii", "ignore").decode())


def _arxiv_category(categories: Sequence[str]) -> str | None:
    return next((c for c in categories if _ARXIV_CATEGORY.match(c) and "." in c), None)


# ------------------------------------------------------------------------------------- RIS


class _RisWriter(rispy.RisWriter):
    """rispy's writer without its numbered header line ('1.'), which reference managers do not expect."""

    def set_header(self, count: int) -> str:
        return ""


def ris(records: Iterable[Reference]) -> str:
    """The records as RIS: TY, TI, AU per author, PY, JO (journal) or T2 (proceedings), DO, UR, ER."""
    entries = [ris_entry(record) for record in records]
    return rispy.dumps(entries, implementation=_RisWriter) if entries else ""


def ris_entry(record: Reference) -> dict[str, Any]:
    """One RIS record as rispy's field names."""
    venue = " ".join(record.venue.split()) if record.venue else None
    conference = bool(venue and _CONFERENCE.search(venue))
    kind = "CONF" if conference else "JOUR" if venue else "UNPB" if record.arxiv_id else "GEN"
    entry: dict[str, Any] = {"type_of_reference": kind, "title": " ".join(record.title.split())}
    if record.authors:
        entry["authors"] = [_ris_name(a) for a in record.authors]
    if record.year:
        entry["year"] = str(record.year)
    if venue:
        entry["secondary_title" if conference else "journal_name"] = venue
    if record.doi:
        entry["doi"] = record.doi
    urls = [u for u in (_url(record), f"https://arxiv.org/abs/{record.arxiv_id}" if record.arxiv_id else None) if u]
    if urls:
        entry["urls"] = list(dict.fromkeys(urls))
    return entry


def _ris_name(name: str) -> str:
    """'Ashish Vaswani' -> 'Vaswani, Ashish' (RIS's 'Last, First'); a name already with a comma stays."""
    if "," in name:
        return " ".join(name.split())
    family, given, suffix = _name_parts(name)
    return ", ".join(part for part in (family, given, suffix) if part)


def _name_parts(name: str) -> tuple[str, str, str]:
    """(family, given, suffix) of a display name 'First von Last Jr.'."""
    name = " ".join(name.split())
    family = last_name(name)
    at = name.rfind(family) if family else -1
    if at < 0:
        return name, "", ""
    return family, name[:at].strip(), name[at + len(family):].strip(" ,")
