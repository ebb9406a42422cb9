"""Tests for the web UI's rendering (ui.render) and its handlers (ui.web.WebApp) without a browser.

The handlers run against a scripted assistant, so the streaming rules (deltas append, a reset
starts over with a visible notice, errors become a warning and leave the conversation as it was)
are checked exactly and fast.
"""

from __future__ import annotations

import re
from datetime import datetime
from pathlib import Path

import pytest

from paperchat.rag.condense import TitleIndex, offline_condense
from paperchat.rag.errors import LLMError, PaperchatError
from paperchat.rag.types import Answer, Citation, Source, StreamEvent, Turn
from paperchat.ui import render

GALORE = "GaLore: Memory-Efficient LLM Training by Gradient Low-Rank Projection"
BATCHNORM = "Batch Normalization: Accelerating Deep Network Training by Reducing Internal Covariate Shift"
EVIL = 'Attacks <script>alert("x")</script> & {{value}} ${value}'


def answered(question: str = "How does GaLore save memory?", **kw) -> Answer:
    data = dict(
        question=question,
        standalone_question=question,
        answer="GaLore projects gradients to a low-rank subspace [1]. Batch norm is different [2].",
        status="answered",
        citations=[
            Citation(n=1, title=GALORE, paper_id="p-galore", url="https://arxiv.org/abs/2403.03507",
                     quote="GaLore reduces optimizer memory by up to 65.5%."),
            Citation(n=2, title=BATCHNORM, paper_id="p-bn", quote="We normalize layer inputs."),
        ],
        sources=[Source(title=GALORE, paper_id="p-galore", score=0.0328, url="https://arxiv.org/abs/2403.03507"),
                 Source(title=BATCHNORM, paper_id="p-bn", score=0.0291),
                 Source(title="Unrelated", paper_id="p-x", score=0.01)],
        mode="extractive",
        model="offline extractive",
        timings_ms={"condense_ms": 1.0, "retrieve_ms": 20.0, "total_ms": 40.5},
    )
    data.update(kw)
    return Answer(**data)


def not_found(question: str = "What is the capital of Peru?") -> Answer:
    return Answer(
        question=question, standalone_question=question,
        answer="The collection does not say: none of its papers answers this question.",
        status="not_found", mode="extractive", model="offline extractive",
        sources=[Source(title=f"Closest paper {i}", paper_id=f"c{i}", score=0.02 - i / 1000) for i in range(7)],
    )


def evil_answer() -> Answer:
    return answered(
        question="Is <b>this</b> escaped?",
        answer="The attack <img src=x onerror=alert(1)> works [1].",
        citations=[Citation(n=1, title=EVIL, paper_id="p-evil", url="javascript:alert(1)",
                            quote="Abstract with <script>steal()</script> inside")],
        sources=[Source(title=EVIL, paper_id="p-evil", score=0.5, url="javascript:alert(1)")],
    )


# ------------------------------------------------------------------------------------- citations


def test_markers_become_links_to_the_sources_panel():
    html = render.link_citations("Claim one [1]. Claim two [2]. Not a citation [7].", answered().citations)
    assert '<a class="pc-cite" href="#src-1"' in html
    assert '<a class="pc-cite" href="#src-2"' in html
    assert f'title="{GALORE}"' in html  # hovering a marker names the paper
    assert "[7]" in html and "#src-7" not in html  # only markers that name a citation are linked


def test_sources_panel_has_the_anchors_the_markers_point_at():
    answer = answered()
    panel = render.sources_html(answer)
    message = render.answer_message(answer)
    for n in re.findall(r'href="#src-(\d+)"', message):
        assert f'id="src-{n}"' in panel
    assert GALORE in panel and BATCHNORM in panel
    assert "GaLore reduces optimizer memory by up to 65.5%." in panel  # the supporting quote
    assert "score 0.0328" in panel and "score 0.0291" in panel
    assert 'href="https://arxiv.org/abs/2403.03507" target="_blank" rel="noopener noreferrer"' in panel
    assert "2 papers cited" in panel


def test_only_the_latest_answer_links_to_the_panel():
    """The panel shows the latest answer's sources, so an older [1] must not jump to a different paper."""
    messages = render.chat_messages([answered("first?"), answered("second?")])
    assert [m["role"] for m in messages] == ["user", "assistant", "user", "assistant"]
    assert "#src-1" not in messages[1]["content"] and "pc-cite-old" in messages[1]["content"]
    assert "#src-1" in messages[3]["content"]
    assert GALORE in messages[1]["content"]  # older answers keep their reference list


def test_notice_is_shown_with_the_answer():
    message = render.answer_message(answered(notice="the LLM endpoint failed; answered offline instead"))
    assert 'class="pc-notice"' in message and "answered offline instead" in message


# ------------------------------------------------------------------------------------- not found


def test_not_found_looks_different_and_lists_closest_papers_not_sources():
    answer = not_found()
    message = render.answer_message(answer)
    assert 'class="pc-notfound"' in message and "Not in the collection" in message
    assert "Closest papers" in message and "Closest paper 0" in message
    assert "Closest paper 3" not in message  # a short list (the panel has more)
    assert "pc-cite" not in message and "pc-refs" not in message
    panel = render.sources_html(answer)
    assert "Closest papers" in panel and "pc-panel-notfound" in panel
    assert 'id="src-' not in panel and 'class="pc-source"' not in panel and "Sources" not in panel
    assert "score 0.0200" in panel


def test_not_found_history_has_no_references():
    assert render.history_turns([not_found()])[1]["content"] == not_found().answer


# ------------------------------------------------------------------------------------- escaping


def test_titles_quotes_and_questions_are_escaped_everywhere():
    answer = evil_answer()
    views = {
        "message": render.answer_message(answer),
        "chat": "".join(m["content"] for m in render.chat_messages([answer])),
        "panel": render.sources_html(answer),
        "details": render.details_html(answer),
        "header": render.header_html(render.CollectionInfo(EVIL, 3, EVIL, "offline extractive")),
        "empty": render.empty_collection_html(EVIL, "/tmp/<home>"),
        "notfound": render.sources_html(Answer(**{**not_found().model_dump(), "sources": answer.sources})),
    }
    for name, html in views.items():
        assert "<script" not in html.lower(), name
        assert "<img" not in html.lower(), name
        assert "javascript:" not in html.lower(), name
        assert "${value}" not in html and "{{value}}" not in html, name  # gr.HTML template syntax
    assert "&lt;script&gt;steal()&lt;/script&gt;" in views["panel"]
    assert "&lt;script&gt;alert(" in views["panel"]
    assert "&lt;b&gt;this&lt;/b&gt;" in views["chat"]


def test_streaming_message_is_escaped_and_shows_the_notice():
    assert render.streaming_message("").count("Searching the papers") == 1
    text = render.streaming_message("partial <script>x</script> answer [1]", "fell back to offline mode")
    assert "<script" not in text and "&lt;script&gt;" in text
    assert "fell back to offline mode" in text and "pc-notice" in text


def test_unsafe_urls_are_not_links():
    panel = render.sources_html(evil_answer())
    assert "href=" not in panel.split('id="src-1"')[1].split("</li>")[0]


# ------------------------------------------------------------------------------------- details, header, empty


def test_details_show_query_retrieved_papers_scores_and_timings():
    answer = answered(standalone_question='How does "GaLore" save memory?')
    details = render.details_html(answer)
    assert "rewritten from the conversation" in details
    assert "How does &quot;GaLore&quot; save memory?" in details
    assert "Unrelated" in details and "0.0100" in details and "cited [1]" in details
    assert "retrieve 20 ms" in details and "total 40 ms" in details
    assert "Ask a question" in render.details_html(None)


def test_header_and_empty_collection():
    header = render.header_html(render.CollectionInfo("papers", 156, "all-MiniLM-L6-v2-onnx-int8", "gpt-4o-mini"))
    for part in ("papers", "156 papers", "all-MiniLM-L6-v2-onnx-int8", "gpt-4o-mini"):
        assert part in header
    empty = render.empty_collection_html("mine", "/data/pc")
    assert "paperchat --home /data/pc ingest --collection mine" in empty


# ------------------------------------------------------------------------------------- history and follow-ups


def test_history_lists_the_cited_titles_so_follow_ups_resolve():
    first, second = answered(), answered("And batch norm?")
    turns = render.history_turns([first, second])
    assert [t["role"] for t in turns] == ["user", "assistant", "user", "assistant"]
    assert turns[1]["content"].endswith(f"References:\n[1] {GALORE}\n[2] {BATCHNORM}")
    titles = TitleIndex({"p-galore": GALORE, "p-bn": BATCHNORM})
    history = [Turn(**t) for t in turns[:2]]
    condensed = offline_condense("What does the second one normalize?", history, titles)
    assert condensed.focus == ["p-bn"] and BATCHNORM in condensed.query
    condensed = offline_condense("How much memory does it save?", history, titles)
    assert condensed.focus == ["p-galore"]


# ------------------------------------------------------------------------------------- examples


def test_examples_are_curated_when_their_paper_is_present_else_built_from_titles():
    titles = [GALORE, BATCHNORM, "A Very Long Title About Something Else Entirely", "Short Title"]
    examples = render.example_questions(titles, 4)
    assert examples[:2] == ["How does GaLore reduce memory in LLM training?", "What is internal covariate shift?"]
    assert examples[2] == 'What does "Short Title" propose?'
    assert len(examples) == 4
    assert render.example_questions([], 4) == []


# ------------------------------------------------------------------------------------- export


def test_export_markdown_has_each_answer_with_its_references():
    md = render.export_markdown([answered(), not_found(), evil_answer()], collection="papers",
                                now=datetime(2025, 1, 2, 3, 4))
    assert md.startswith("# paperchat conversation\n")
    assert "Collection 'papers', exported 2025-01-02 03:04" in md
    assert "## 1. How does GaLore save memory?" in md
    assert f"- [1] {GALORE} <https://arxiv.org/abs/2403.03507>" in md
    assert "  > GaLore reduces optimizer memory by up to 65.5%." in md
    assert f"- [2] {BATCHNORM}\n" in md
    assert md.count("**References**") == 2
    assert "## 2. What is the capital of Peru?" in md
    assert "**Closest papers** (they do not answer the question)" in md and "- Closest paper 0" in md
    assert "javascript:" not in md  # an unsafe url is not exported as a link


# ------------------------------------------------------------------------------------- handlers


class FakeStore:
    def __init__(self, chunks: int):
        self.chunks = chunks

    @property
    def exists(self) -> bool:
        return self.chunks > 0

    def count(self) -> int:
        return self.chunks


class ScriptedAssistant:
    """Yields the given events (an exception in the script is raised at that point)."""

    def __init__(self, events, answer: Answer | None = None):
        self.events = events
        self.answer = answer
        self.calls: list[tuple] = []
        self.temperatures: list[float | None] = []

    def stream(self, question, history=None, *, mode=None, k=None, temperature=None):
        self.calls.append((question, history, mode, k))
        self.temperatures.append(temperature)
        for event in self.events:
            if isinstance(event, Exception):
                raise event
            yield event

    def ask(self, question, history=None, *, mode=None, k=None):
        self.calls.append((question, history, mode, k))
        if isinstance(self.answer, Exception):
            raise self.answer
        return self.answer


class FakeService:
    def __init__(self, assistant, chunks: int = 10, tmp: Path = Path(".")):
        from paperchat.rag.settings import Settings

        self.settings = Settings(home=tmp, collection="papers", _env_file=None)
        self.assistant = assistant
        self.store = FakeStore(chunks)

    def refresh(self) -> None:
        pass


def run(webapp, question, answers=None, k=10, mode="extractive", temperature=0.0) -> list[tuple]:
    return list(webapp.respond(question, answers or [], k, mode, temperature))


@pytest.fixture
def webapp_for(tmp_path):
    web = pytest.importorskip("paperchat.ui.web")

    def make(assistant, chunks: int = 10):
        return web.WebApp(FakeService(assistant, chunks, tmp_path))

    return make


def test_deltas_append_and_the_final_answer_replaces_the_stream(webapp_for):
    final = answered()
    events = [StreamEvent(kind="delta", text="GaLore projects "), StreamEvent(kind="delta", text="gradients [1]."),
              StreamEvent(kind="answer", answer=final)]
    assistant = ScriptedAssistant(events)
    steps = run(webapp_for(assistant), "  How does GaLore save memory?  ", k=7.0, temperature=0.7)
    assert assistant.calls == [("How does GaLore save memory?", [], "extractive", 7)]
    assert assistant.temperatures == [None]  # temperature only matters in LLM mode
    streamed = [s[1][-1]["content"] for s in steps[1:-1]]
    assert streamed == ["GaLore projects ", "GaLore projects gradients [1]."]
    question_box, chat, answers, sources, details, export = steps[-1]
    assert question_box == "" and answers == [final]
    assert chat == render.chat_messages([final])
    assert 'id="src-1"' in sources and "Search query" in details
    exported = Path(export["value"]).read_text(encoding="utf-8")
    assert f"- [1] {GALORE}" in exported and export["interactive"] is True


def test_a_reset_starts_over_with_a_visible_notice(webapp_for):
    notice = "the LLM answer cited no evidence; answered offline instead"
    final = answered(notice=notice, mode="extractive")
    events = [StreamEvent(kind="delta", text="An uncited LLM answer"), StreamEvent(kind="reset", text=notice),
              StreamEvent(kind="delta", text="Offline line one.\n"), StreamEvent(kind="delta", text="Line two."),
              StreamEvent(kind="answer", answer=final)]
    steps = run(webapp_for(ScriptedAssistant(events)), "q?", mode="llm")
    after_reset = steps[2][1][-1]["content"]
    assert "An uncited LLM answer" not in after_reset and notice in after_reset
    assert steps[4][1][-1]["content"].endswith("Offline line one.\nLine two.")
    assert notice in steps[-1][1][-1]["content"]


def test_follow_ups_send_the_history_with_references(webapp_for):
    first = answered()
    assistant = ScriptedAssistant([StreamEvent(kind="answer", answer=answered("And it?"))])
    run(webapp_for(assistant), "And it?", answers=[first])
    history = assistant.calls[0][1]
    assert history[0] == {"role": "user", "content": first.question}
    assert f"References:\n[1] {GALORE}" in history[1]["content"]


def test_errors_become_a_warning_and_the_conversation_stays(webapp_for):
    first = answered()
    events = [StreamEvent(kind="delta", text="partial"), LLMError("the LLM endpoint <timed out>")]
    with pytest.warns(UserWarning, match="the LLM endpoint &lt;timed out&gt;"):
        steps = run(webapp_for(ScriptedAssistant(events)), "second question?", answers=[first])
    question_box, chat, answers, sources, _, _ = steps[-1]
    assert question_box == "second question?"  # kept, to try again
    assert answers == [first] and chat == render.chat_messages([first])
    assert GALORE in sources


def test_unexpected_errors_do_not_escape_the_handler(webapp_for):
    with pytest.warns(UserWarning, match="Something went wrong"):
        steps = run(webapp_for(ScriptedAssistant([RuntimeError("boom")])), "q?")
    assert steps[-1][2] == []


def test_empty_question_and_empty_collection_warn(webapp_for):
    assistant = ScriptedAssistant([])
    with pytest.warns(UserWarning, match="Type a question"):
        run(webapp_for(assistant), "   ")
    with pytest.warns(UserWarning, match="paperchat ingest"):
        run(webapp_for(assistant, chunks=0), "What is GaLore?")
    assert assistant.calls == []


def test_new_conversation_clears_everything(webapp_for):
    box, chat, answers, sources, details, export = webapp_for(ScriptedAssistant([])).new_conversation()
    assert (box, chat, answers) == ("", [], [])
    assert sources == render.sources_placeholder() and export["interactive"] is False


def test_api_ask_returns_answer_json_and_errors_cleanly(webapp_for):
    gr = pytest.importorskip("gradio")
    app = webapp_for(ScriptedAssistant([], answer=answered()))
    data = app.api_ask("How does GaLore save memory?", '[{"role": "user", "content": "hi"}]')
    assert data["status"] == "answered" and data["citations"][0]["title"] == GALORE
    assert Answer.model_validate(data) == answered()
    with pytest.raises(gr.Error, match="empty"):
        app.api_ask("  ", [])
    with pytest.raises(gr.Error, match="role"):
        app.api_ask("q?", [{"role": "system", "content": "x"}])
    with pytest.raises(gr.Error, match="not valid JSON"):
        app.api_ask("q?", "[{")
    with pytest.raises(gr.Error, match="paperchat ingest"):
        webapp_for(ScriptedAssistant([], answer=answered()), chunks=0).api_ask("q?", [])
    failing = webapp_for(ScriptedAssistant([], answer=PaperchatError("store unreachable")))
    with pytest.raises(gr.Error, match="store unreachable"):
        failing.api_ask("q?", [])


def test_auth_parsing(monkeypatch):
    web = pytest.importorskip("paperchat.ui.web")
    assert web.parse_auth(None) is None
    assert web.parse_auth("ana:s3cr:et") == ("ana", "s3cr:et")
    monkeypatch.setenv("PAPERCHAT_AUTH", "bob:pw")
    assert web.parse_auth(None) == ("bob", "pw")
    for bad in ("nopassword", ":pw", "user:"):
        with pytest.raises(PaperchatError, match="USER:PASSWORD"):
            web.parse_auth(bad)


def test_unsupported_llm_sentences_are_listed_escaped():
    answer = answered().model_copy(update={"mode": "llm", "unsupported": ["It cures <b>zebras</b>."]})
    html = render.answer_message(answer)
    assert "Not supported by the passage it cites" in html
    assert "It cures &lt;b&gt;zebras&lt;/b&gt;." in html and "<b>zebras</b>" not in html
    assert "Not supported" not in render.answer_message(answered())
