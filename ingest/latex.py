"""LaTeX in titles, abstracts and names (BibTeX fields, arXiv metadata) -> readable Unicode text.

pylatexenc does the real conversion (accents, symbols, math such as `$\\alpha$` -> α), but one call costs about
0.1 ms plus 5 µs a character: far too slow for whole abstracts at thousands of entries a second. So only the
words that hold a backslash or a `$` (widened to the whole brace group or `$...$` span they open) go through
pylatexenc, cached since `{\\"u}` and `$\\alpha$` repeat; the plain text around them just loses its protective
braces (`{BERT}` -> BERT) and gets TeX's dash and quote ligatures (`--` -> –).
"""

from __future__ import annotations

import functools
import re
from typing import Any

_SPECIAL = re.compile(r"[\\$]")
_SPACE = re.compile(r"\s")
_NEXT_WORD = re.compile(r"\s+\S+")
_ESCAPED = re.compile(r"\\.", re.S)
_UNESCAPED_DOLLAR = re.compile(r"(?<!\\)\$")
_UNESCAPED_PERCENT = re.compile(r"(?<!\\)%")
_LIGATURES = (("---", "\u2014"), ("--", "\u2013"), ("``", "\u201c"), ("''", "\u201d"))
#: Zotero escapes LaTeX it finds in an abstract (`{\textbackslash}bf`), so the first pass yields LaTeX again.
_ESCAPED_LATEX = "\\textbackslash"
#: Accent commands in file names, braced as Mendeley writes them (`Na{\"{i}}ve.pdf`); a bare `\b` in a Windows
#: path (`C:\\backup`) is not an accent.
_ACCENT = re.compile(r"\{\\[\"'`^~=.uvHckdr]\s*(?:\{[A-Za-z]\}|[A-Za-z])\}|\{\\(?:ss|o|O|aa|AA|ae|AE|l|L)\}")


def latex_to_text(text: str) -> str:
    """Readable text with single spaces; the fast path (no backslash, no `$`) never calls pylatexenc."""
    if "\\" not in text and "$" not in text:
        return " ".join(_plain(text).split())
    converted = " ".join(_decode(text).split())
    if _ESCAPED_LATEX in text and ("\\" in converted or "$" in converted):
        converted = " ".join(_decode(converted.replace("~", "\\textasciitilde{}")).split())
    return converted


def decode_accents(text: str) -> str:
    """Only the accent commands of `text` decoded (for file paths, where `--` must stay `--`)."""
    return _ACCENT.sub(lambda m: _convert(m.group(0)), text) if "\\" in text else text


def _plain(text: str) -> str:
    """Braces dropped, ties as spaces, TeX ligatures; `str.replace` after an `in` test is several times faster
    than `str.translate` on abstract-sized text."""
    if "{" in text or "}" in text:
        text = text.replace("{", "").replace("}", "")
    if "~" in text:
        text = text.replace("~", " ")
    for tex, char in _LIGATURES:
        if tex in text:
            text = text.replace(tex, char)
    return text


def _decode(text: str) -> str:
    """Plain stretches get the fast path; each island (a word holding a backslash or a `$`, extended over the
    next words while a brace group or inline math it opens is unclosed) goes through pylatexenc. With
    unbalanced braces only math extends an island, so one stray `{` cannot swallow the rest of an abstract."""
    text = _balance_dollars(text)
    merge_braces = _brace_depth(text) == 0
    out: list[str] = []
    pos = 0
    while special := _SPECIAL.search(text, pos):
        start, end = _word_around(text, special.start(), pos)
        depth, math = _opens(text[start:end], merge_braces)
        while depth > 0 or math:
            word = _NEXT_WORD.match(text, end)
            if not word:
                break
            end = word.end()
            more, toggles = _opens(word.group(0), merge_braces)
            depth, math = depth + more, math ^ toggles
        out += [_plain(text[pos:start]), _convert(text[start:end])]
        pos = end
    out.append(_plain(text[pos:]))
    return "".join(out)


def _word_around(text: str, at: int, floor: int) -> tuple[int, int]:
    """The span of the whitespace-free word holding position `at` (not reaching back before `floor`)."""
    start = at
    while start > floor and not text[start - 1].isspace():
        start -= 1
    space = _SPACE.search(text, at)
    return start, space.start() if space else len(text)


def _opens(piece: str, merge_braces: bool) -> tuple[int, bool]:
    """How many brace groups `piece` leaves open, and whether it toggles inline math."""
    if "{" not in piece and "}" not in piece and "$" not in piece:
        return 0, False
    bare = _ESCAPED.sub("", piece)
    depth = bare.count("{") - bare.count("}") if merge_braces else 0
    return depth, bare.count("$") % 2 == 1


def _brace_depth(text: str) -> int:
    bare = _ESCAPED.sub("", text)
    return bare.count("{") - bare.count("}")


def _balance_dollars(text: str) -> str:
    """Pair `$` signs as TeX does, repairing what authors get wrong (common in arXiv abstracts): a `$` that
    cannot open math (a space or the end follows) while none is open closes a span whose opener was lost, and
    is dropped; an opener left without a closer is a dollar sign. Unrepaired, either would turn the rest of
    the text into math, where pylatexenc drops the spaces."""
    dropped: list[int] = []
    opener: int | None = None
    for match in _UNESCAPED_DOLLAR.finditer(text):
        at = match.start()
        if opener is not None:
            opener = None
        elif at + 1 == len(text) or text[at + 1].isspace():
            dropped.append(at)
        else:
            opener = at
    if not dropped and opener is None:
        return text
    pieces, last = [], 0
    for at in dropped:
        pieces.append(text[last:at])
        last = at + 1
    if opener is not None:
        pieces.append(text[last:opener] + "\\")
        last = opener
    pieces.append(text[last:])
    return "".join(pieces)


@functools.lru_cache(maxsize=16384)
def _convert(unit: str) -> str:
    """One piece of LaTeX through pylatexenc. A raw `%` is a literal percent in a BibTeX field or an arXiv
    abstract, not a comment that would eat the rest of the line."""
    from pylatexenc.latexwalker import LatexWalker

    source = _UNESCAPED_PERCENT.sub(r"\\%", unit) if "%" in unit else unit
    walker_context, converter = _pylatexenc()
    nodes = LatexWalker(source, latex_context=walker_context, tolerant_parsing=True).get_latex_nodes()[0]
    return converter.nodelist_to_text(nodes)


@functools.lru_cache(maxsize=1)
def _pylatexenc() -> tuple[Any, Any]:
    """The parsing context and the converter, built once (building them is half the cost of a call)."""
    from pylatexenc.latex2text import LatexNodes2Text, MacroTextSpec, get_default_latex_context_db
    from pylatexenc.latexwalker import get_default_latex_context_db as walker_context_db
    from pylatexenc.macrospec import std_macro

    walker_context = walker_context_db()
    walker_context.add_context_category("paperchat", prepend=True, macros=[std_macro("href", False, 2)])
    text_context = get_default_latex_context_db()
    text_context.add_context_category("paperchat", prepend=True, macros=[
        MacroTextSpec("url", "%s"),
        MacroTextSpec("href", "%(2)s"),
        MacroTextSpec("cite", ""),
        MacroTextSpec("textasciicircum", "^"),
        MacroTextSpec("LaTeX", "LaTeX"),
        MacroTextSpec("TeX", "TeX"),
        MacroTextSpec("BibTeX", "BibTeX"),
        *(MacroTextSpec(letter, char) for letter, char in zip("NZQRC", "\u2115\u2124\u211a\u211d\u2102", strict=True)),
    ])
    converter = LatexNodes2Text(latex_context=text_context, math_mode="text", strict_latex_spaces=False)
    return walker_context, converter
