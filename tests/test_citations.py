"""rag.citations.resolve on hand-made answers: renumbering, ranges, lists, invalid and duplicate markers, quotes."""

from __future__ import annotations

import re

import pytest

from paperchat.rag.citations import has_markers, resolve
from paperchat.rag.types import Evidence


def _evidence(n: int) -> Evidence:
    return Evidence(
        n=n,
        paper_id=f"paper-{n}",
        title=f"Paper Number {n}",
        url=f"https://example.org/{n}" if n % 2 else None,
        text=f"Method{n} compresses the optimizer state. Method{n} reaches {90 + n}.5% accuracy on Bench{n}. "
             f"The code for Method{n} is public.",
    )


EVIDENCE = [_evidence(n) for n in range(1, 6)]


def markers(text: str) -> list[int]:
    return [int(m) for m in re.findall(r"\[(\d+)\]", text)]


def test_markers_are_renumbered_by_first_use_and_cite_the_original_passages():
    text, cites = resolve("Alpha holds [3]. Beta holds [1]. Alpha again [3].", EVIDENCE)

    assert text == "Alpha holds [1]. Beta holds [2]. Alpha again [1]."
    assert [(c.n, c.paper_id, c.title) for c in cites] == [
        (1, "paper-3", "Paper Number 3"),
        (2, "paper-1", "Paper Number 1"),
    ]


def test_citation_carries_url_when_known():
    _, cites = resolve("One [1]. Two [2].", EVIDENCE)

    assert [c.url for c in cites] == ["https://example.org/1", None]


@pytest.mark.parametrize("dash", ["-", "–"])
def test_range_expands_to_each_passage(dash):
    text, cites = resolve(f"All of them agree [2{dash}4].", EVIDENCE)

    assert text == "All of them agree [1][2][3]."
    assert [c.paper_id for c in cites] == ["paper-2", "paper-3", "paper-4"]


@pytest.mark.parametrize("group", ["1, 2", "1,2", "1 , 2", "1; 2"])
def test_list_inside_one_bracket_becomes_separate_markers(group):
    text, cites = resolve(f"Both do it [{group}].", EVIDENCE)

    assert text == "Both do it [1][2]."
    assert [c.paper_id for c in cites] == ["paper-1", "paper-2"]


def test_marker_to_missing_passage_is_removed_with_its_space():
    text, cites = resolve("Real claim [1]. Invented claim [9].", EVIDENCE)

    assert text == "Real claim [1]. Invented claim."
    assert [c.paper_id for c in cites] == ["paper-1"]


def test_invalid_numbers_are_dropped_from_lists_and_ranges():
    text, cites = resolve("Mixed [2, 9]. Zero [0]. Ranged [4-8].", EVIDENCE)

    assert text == "Mixed [1]. Zero. Ranged [2][3]."
    assert [c.paper_id for c in cites] == ["paper-2", "paper-4", "paper-5"]


def test_only_invalid_markers_give_no_citations():
    text, cites = resolve("Nothing real here [7]. Or here [8, 9].", EVIDENCE)

    assert cites == []
    assert markers(text) == []


def test_duplicate_numbers_in_one_bracket_collapse():
    text, cites = resolve("Said twice [2, 2]. Said by a range [1-2, 2].", EVIDENCE)

    assert text == "Said twice [1]. Said by a range [2][1]."
    assert len(cites) == 2


def test_adjacent_duplicate_markers_collapse():
    text, _ = resolve("Said twice [1][1]. And again [2][9][2].", EVIDENCE)

    assert text == "Said twice [1]. And again [2]."


def test_every_marker_in_the_text_has_a_citation_and_vice_versa():
    raw = "A [5]. B [2-3]. C [9]. D [3, 1]. E [5]."
    text, cites = resolve(raw, EVIDENCE)

    assert sorted(set(markers(text))) == [c.n for c in cites] == list(range(1, len(cites) + 1))


def test_quote_is_the_sentence_of_the_cited_passage_that_supports_the_claim():
    text, cites = resolve("Method2 compresses optimizer state [2]. It reaches 94.5% accuracy on Bench4 [4].",
                          EVIDENCE)

    assert text.endswith("[2].")
    by_paper = {c.paper_id: c.quote for c in cites}
    assert by_paper == {
        "paper-2": "Method2 compresses the optimizer state.",
        "paper-4": "Method4 reaches 94.5% accuracy on Bench4.",
    }


def test_quote_comes_from_its_own_passage_even_when_claims_share_a_bracket():
    _, cites = resolve("The code is public for both [1, 3].", EVIDENCE)

    assert [c.quote for c in cites] == ["The code for Method1 is public.", "The code for Method3 is public."]


def test_quote_is_a_verbatim_sentence_of_the_passage():
    _, cites = resolve("First [1]. Second [2]. Third [3].", EVIDENCE)

    for c in cites:
        passage = next(e.text for e in EVIDENCE if e.paper_id == c.paper_id)
        assert c.quote and c.quote in passage


def test_text_without_markers_is_left_alone():
    raw = "No citation at all, see table 2 [a]."
    text, cites = resolve(raw, EVIDENCE)

    assert (text, cites) == (raw, [])
    assert not has_markers(raw)
    assert has_markers("yes [1]") and has_markers("yes [1, 2]") and has_markers("yes [1-3]")
