"""The web UI: a Gradio 6 chat with streamed, cited answers, a sources panel and settings.

The only module that imports gradio. It is thin: one `Assistant` per server (it holds the
embedding model) serves every browser session; each session keeps its own answers in a
`gr.State`, and the chat, the sources panel, the details and the export are all rendered
from those answers by `ui.render`. A named endpoint `/ask` gives scripts the answer JSON:

    from gradio_client import Client
    Client("http://127.0.0.1:7860/").predict("What is GaLore?", [], api_name="/ask")
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import gradio as gr

from paperchat.rag.assistant import EXTRACTIVE_MODEL, Assistant
from paperchat.rag.embeddings import embedder_name
from paperchat.rag.errors import EmptyCollectionError, PaperchatError
from paperchat.rag.settings import Settings
from paperchat.rag.types import Answer
from paperchat.ui import render

log = logging.getLogger("paperchat.web")

CONCURRENCY = 2  # answers computed at once; the rest wait in Gradio's queue
EXAMPLES = 4
AUTH_ENV = "PAPERCHAT_AUTH"  # "user:password", the same as --auth
MAX_K = 20

CSS = """
@font-face { font-family: 'Lora'; font-weight: 400; font-style: normal;
  src: url('static/fonts/Lora/Lora-Regular.woff2') format('woff2'); }
#pc-header .pc-header { display: flex; flex-wrap: wrap; align-items: baseline; justify-content: space-between;
  gap: .5rem 1.5rem; padding: .25rem .25rem .5rem; border-bottom: 1px solid var(--border-color-primary); }
.pc-brand { font-size: 1.6rem; font-weight: 700; letter-spacing: -.01em; color: var(--body-text-color); }
.pc-tagline { font-size: .95rem; font-weight: 400; color: var(--body-text-color-subdued);
  margin-left: .75rem; }
.pc-chips { display: flex; flex-wrap: wrap; gap: .4rem; }
.pc-chip { font-size: .8rem; padding: .15rem .55rem; border-radius: 999px; background: var(--primary-50);
  color: var(--primary-800); border: 1px solid var(--primary-100); }
.pc-chip-k { color: var(--body-text-color-subdued); margin-right: .15rem; }
.pc-muted { color: var(--body-text-color-subdued); font-size: .85rem; font-weight: 400; }
#pc-chat .message { font-size: .97rem; line-height: 1.55; }
#pc-chat .message-wrap { padding-top: 1.6rem; }  /* room for the chat's own buttons */
a.pc-cite { text-decoration: none; font-size: .78em; font-weight: 600; vertical-align: super; padding: 0 .1em;
  color: var(--primary-600) !important; }
a.pc-cite:hover { text-decoration: underline; }
.pc-cite-old { font-size: .78em; vertical-align: super; color: var(--body-text-color-subdued); }
.pc-cite-demo { color: var(--primary-600); font-weight: 600; }
ol.pc-refs { margin: .6rem 0 0 !important; padding: .45rem 0 0 !important; list-style: none !important;
  border-top: 1px dashed var(--border-color-primary); font-size: .8rem;
  color: var(--body-text-color-subdued); }
ol.pc-refs li { margin: 0 !important; }
.pc-notice { font-size: .85rem; padding: .35rem .6rem; margin-bottom: .4rem; border-radius: 6px;
  background: #fff7e6; border: 1px solid #f5d38a; color: #7a5200; }
.pc-thinking { color: var(--body-text-color-subdued); font-style: italic; }
.pc-notfound { border-left: 4px solid #94a3b8; background: #f1f5f9; padding: .55rem .8rem; border-radius: 6px;
  color: #334155; }
.pc-notfound-title { font-weight: 700; color: #475569; margin-bottom: .2rem; }
.pc-notfound p { margin: .2rem 0 .4rem !important; }
.pc-closest-label { font-size: .85rem; color: #64748b; }
ul.pc-closest { margin: .2rem 0 0 1.1rem !important; font-size: .88rem; }
#pc-side { position: sticky; top: .75rem; align-self: flex-start; }
#pc-sources { max-height: 760px; overflow-y: auto; }
.pc-panel { padding: .2rem .2rem .6rem; }
.pc-panel-title { font-size: 1.05rem; font-weight: 700; margin: .1rem 0 .6rem; display: flex;
  align-items: baseline; gap: .6rem; }
ol.pc-sources, ul.pc-closest-list { list-style: none; margin: 0; padding: 0; }
.pc-source { border: 1px solid var(--border-color-primary); border-radius: 10px; padding: .65rem .8rem;
  margin-bottom: .65rem; background: var(--background-fill-primary); scroll-margin-top: 1rem;
  transition: box-shadow .2s, border-color .2s; }
.pc-source:target { border-color: var(--primary-400); box-shadow: 0 0 0 3px var(--primary-100); }
.pc-source-head { display: flex; gap: .55rem; align-items: baseline; font-weight: 600; line-height: 1.35; }
.pc-num { flex: none; min-width: 1.6rem; height: 1.6rem; border-radius: 999px; background: var(--primary-100);
  color: var(--primary-700); font-size: .8rem; display: inline-flex; align-items: center;
  justify-content: center; }
.pc-source-title { color: var(--body-text-color); }
a.pc-source-title { color: var(--primary-700); text-decoration: none; }
a.pc-source-title:hover { text-decoration: underline; }
.pc-quote { margin: .5rem 0 .35rem; padding: .35rem .7rem; border-left: 3px solid var(--primary-300);
  background: var(--background-fill-secondary); font-family: 'Lora', Georgia, serif;
  font-size: .93rem; line-height: 1.5; color: var(--body-text-color); border-radius: 0 6px 6px 0; }
.pc-source-meta { display: flex; gap: .8rem; font-size: .72rem; color: var(--body-text-color-subdued); }
.pc-score { font-size: .72rem; color: var(--body-text-color-subdued); font-variant-numeric: tabular-nums;
  white-space: nowrap; }
.pc-id { font-family: var(--font-mono); }
.pc-panel-notfound .pc-panel-title { color: #475569; }
.pc-closest-item { display: flex; justify-content: space-between; gap: .8rem; padding: .45rem .1rem;
  border-bottom: 1px solid var(--border-color-primary); font-size: .9rem; }
.pc-details { display: flex; flex-direction: column; gap: .45rem; font-size: .88rem; }
.pc-query { font-family: var(--font-mono); font-size: .85rem; background: var(--background-fill-secondary);
  padding: .3rem .5rem; border-radius: 6px; margin-top: .2rem; }
table.pc-table { width: 100%; border-collapse: collapse; font-size: .84rem; border: none !important; }
table.pc-table th { text-align: left; color: var(--body-text-color-subdued); font-weight: 600; }
table.pc-table tr { border: none !important; }
table.pc-table td, table.pc-table th { padding: .2rem .4rem; border: none !important;
  border-bottom: 1px solid var(--border-color-primary) !important; }
td.pc-rank, td.pc-num-cell { color: var(--body-text-color-subdued); font-variant-numeric: tabular-nums; }
.pc-cited { font-size: .75rem; color: var(--primary-600); font-weight: 600; }
#pc-examples { gap: .4rem; flex-wrap: wrap; }
#pc-examples button.pc-example { flex: 1 1 auto; min-width: 0 !important; font-weight: 400; font-size: .82rem;
  white-space: normal; text-align: left; }
#pc-actions { justify-content: flex-start; gap: .5rem; }
#pc-actions button { flex: 0 0 auto; min-width: 0 !important; }
.pc-empty { border: 1px dashed var(--border-color-primary); border-radius: 12px; padding: 1.2rem 1.5rem; }
.pc-empty pre { background: var(--background-fill-secondary); padding: .7rem 1rem; border-radius: 8px; }
"""


# ------------------------------------------------------------------------------------- the shared service


class Service:
    """What all sessions share: the Assistant (and its model)."""

    def __init__(self, settings: Settings, assistant: Assistant | None = None):
        self.settings = settings
        self.assistant = assistant or Assistant(settings)
        self._lock = threading.Lock()

    @property
    def store(self):
        return self.assistant.retriever.store

    @property
    def llm_available(self) -> bool:
        return self.assistant.default_mode == "llm"

    def refresh(self) -> None:
        """A collection that did not exist at start may have been ingested since: open it again."""
        if self.store.exists:
            return
        with self._lock:
            if not self.store.exists:
                self.assistant = Assistant(self.settings, embedder=self.assistant.retriever.embedder)

    def warm_up(self) -> None:
        """Load the model, the BM25 index and the titles once, before two sessions race to do it."""
        if self.store.exists and self.store.count():
            self.assistant.retriever.search("warm up", 1)
            self.assistant.titles()

    def titles(self) -> list[str]:
        return sorted(self.assistant.titles().titles.values()) if self.store.exists else []

    def info(self, mode: str | None = None) -> render.CollectionInfo:
        mode = mode or self.assistant.default_mode
        return render.CollectionInfo(
            collection=self.settings.collection,
            papers=len(self.titles()),
            embedding_model=embedder_name(self.assistant.retriever.embedder),
            answer_mode=self.settings.llm.model if mode == "llm" else EXTRACTIVE_MODEL,
        )


def parse_history(history: Any) -> list[dict[str, str]]:
    """History from the API: a list of {role, content} dicts, or the same as a JSON string."""
    if history in (None, "", []):
        return []
    if isinstance(history, str):
        try:
            history = json.loads(history)
        except ValueError as exc:
            raise PaperchatError(f"history is not valid JSON: {exc}") from exc
    if not isinstance(history, list):
        raise PaperchatError("history must be a list of {role, content} messages")
    turns = []
    for item in history:
        if not isinstance(item, dict) or item.get("role") not in ("user", "assistant") or \
                not isinstance(item.get("content"), str):
            raise PaperchatError('each history message must be {"role": "user"|"assistant", "content": str}')
        turns.append({"role": item["role"], "content": item["content"]})
    return turns


def _warn(message: str) -> None:
    gr.Warning(render.esc(message))


# ------------------------------------------------------------------------------------- the app


class WebApp:
    """The Blocks app and its handlers, over one Service."""

    def __init__(self, service: Service):
        self.service = service
        self.export_dir = Path(tempfile.mkdtemp(prefix="paperchat-export-"))

    # -- handlers ---------------------------------------------------------------------------
    def respond(self, question: str, answers: list[Answer], k: float, mode: str,
                temperature: float) -> Iterator[tuple]:
        """Stream one answer into the chat; outputs: textbox, chat, answers, sources, details, export."""
        question = (question or "").strip()
        answers = list(answers or [])
        if not question:
            _warn("Type a question first.")
            yield self._unchanged(answers, "")
            return
        self.service.refresh()
        if not self.service.store.exists or not self.service.store.count():
            _warn(f"The collection {self.service.settings.collection!r} is empty: run `paperchat ingest` "
                  "and reload the page.")
            yield self._unchanged(answers, question)
            return
        history = render.history_turns(answers)
        past = render.chat_messages(answers)
        shown = [*past, {"role": "user", "content": render.esc(question)},
                 {"role": "assistant", "content": render.streaming_message("")}]
        yield "", shown, answers, render.sources_pending(), render.details_html(None), gr.skip()
        text, notice, final = "", None, None
        try:
            temperature = temperature if mode == "llm" else None
            for event in self.service.assistant.stream(question, history, mode=mode, k=int(k),
                                                       temperature=temperature):
                if event.kind == "delta":
                    text += event.text  # each delta is what to append to what is shown
                elif event.kind == "reset":  # the LLM failed mid-answer: start again offline
                    text, notice = "", event.text or notice
                    if event.text:
                        gr.Info(render.esc(event.text))
                else:
                    final = event.answer
                    break
                shown = [*shown[:-1], {"role": "assistant", "content": render.streaming_message(text, notice)}]
                yield gr.skip(), shown, gr.skip(), gr.skip(), gr.skip(), gr.skip()
        except PaperchatError as exc:
            _warn(str(exc))
            yield self._unchanged(answers, question)
            return
        except Exception as exc:  # never let one question take the server down
            log.exception("answering %r failed", question)
            _warn(f"Something went wrong while answering ({type(exc).__name__}: {exc}). Please try again.")
            yield self._unchanged(answers, question)
            return
        if final is None:
            yield self._unchanged(answers, question)
            return
        answers.append(final)
        yield ("", render.chat_messages(answers), answers, render.sources_html(final),
               render.details_html(final), self._export(answers))

    def _unchanged(self, answers: list[Answer], question: str) -> tuple:
        """Put the conversation back as it was (the question stays in the box to try again)."""
        last = answers[-1] if answers else None
        return (question, render.chat_messages(answers), answers, render.sources_html(last),
                render.details_html(last), gr.skip())

    def _export(self, answers: list[Answer]):
        if not answers:
            return gr.update(value=None, interactive=False)
        path = self.export_dir / uuid.uuid4().hex / "paperchat-conversation.md"
        path.parent.mkdir(parents=True)
        path.write_text(render.export_markdown(answers, collection=self.service.settings.collection),
                        encoding="utf-8")
        return gr.update(value=str(path), interactive=True)

    def new_conversation(self) -> tuple:
        return ("", [], [], render.sources_placeholder(), render.details_html(None),
                gr.update(value=None, interactive=False))

    def on_load(self, mode: str | None) -> tuple:
        """Per page load: header, empty-collection notice, examples (a collection may have been ingested)."""
        self.service.refresh()
        info = self.service.info(mode)
        empty = info.papers == 0
        examples = render.example_questions(self.service.titles(), EXAMPLES) if not empty else []
        buttons = [gr.update(value=q, visible=True) for q in examples]
        buttons += [gr.update(visible=False)] * (EXAMPLES - len(buttons))
        return (render.header_html(info), gr.update(visible=empty), gr.update(visible=not empty), *buttons)

    def on_mode(self, mode: str) -> tuple:
        return render.header_html(self.service.info(mode)), gr.update(interactive=mode == "llm")

    def api_ask(self, question: str, history: list[dict] | None = None) -> dict:
        """Answer a question over the collection. history: the conversation so far as a list of
        {"role": "user"|"assistant", "content": str}. Returns the Answer as JSON (status, answer with
        [n] markers, citations, sources, mode, timings)."""
        try:
            if not (question or "").strip():
                raise PaperchatError("the question is empty")
            turns = parse_history(history)
            self.service.refresh()
            if not self.service.store.exists or not self.service.store.count():
                raise EmptyCollectionError(f"the collection {self.service.settings.collection!r} is empty: "
                                           "run `paperchat ingest` first")
            answer = self.service.assistant.ask(question, turns)
        except PaperchatError as exc:
            raise gr.Error(str(exc)) from exc
        return answer.model_dump(mode="json")

    # -- layout -----------------------------------------------------------------------------
    def build(self) -> gr.Blocks:
        service = self.service
        settings = service.settings
        info = service.info()
        mode_choices = [("Offline extractive", "extractive")]
        if service.llm_available:
            mode_choices.insert(0, (f"LLM · {settings.llm.model}", "llm"))
        with gr.Blocks(title="paperchat", analytics_enabled=False, fill_width=False) as demo:
            header = gr.HTML(render.header_html(info), elem_id="pc-header")
            empty = gr.HTML(render.empty_collection_html(settings.collection, str(settings.home)),
                            visible=info.papers == 0, elem_id="pc-empty")
            answers = gr.State([])
            with gr.Row(equal_height=False, visible=info.papers > 0, elem_id="pc-main") as main:
                with gr.Column(scale=3, min_width=420):
                    chat = gr.Chatbot(
                        value=[], label="Conversation", show_label=False, elem_id="pc-chat", height=600,
                        feedback_options=None, buttons=["copy"], autoscroll=True, layout="bubble",
                        placeholder="**Ask the papers.** Answers cite the papers they come from; "
                                    "click a [n] to see the supporting sentence.",
                    )
                    question = gr.Textbox(
                        placeholder="Ask a question about the papers…", show_label=False, lines=1,
                        max_lines=4, submit_btn="Ask", autofocus=True, elem_id="pc-question",
                    )
                    with gr.Row(elem_id="pc-examples"):
                        example_buttons = [gr.Button("", size="sm", visible=False, elem_classes="pc-example")
                                           for _ in range(EXAMPLES)]
                    with gr.Row(elem_id="pc-actions"):
                        new = gr.Button("New conversation", size="sm", variant="secondary", elem_id="pc-new")
                        export = gr.DownloadButton("Export as Markdown", value=None, size="sm",
                                                   interactive=False, elem_id="pc-export")
                    with gr.Accordion("How this answer was made", open=False, elem_id="pc-details-box"):
                        details = gr.HTML(render.details_html(None), elem_id="pc-details")
                    with gr.Accordion("Settings", open=False, elem_id="pc-settings"):
                        k = gr.Slider(1, MAX_K, value=min(settings.retrieval.k, MAX_K), step=1,
                                      label="Papers to retrieve (k)",
                                      info=f"the answer draws on the best {settings.answer.evidence_k}")
                        mode = gr.Radio(mode_choices, value=service.assistant.default_mode,
                                        label="Answer mode", info=None if service.llm_available else
                                        "LLM answers need an endpoint: set OPENAI_API_KEY or "
                                        "PAPERCHAT_LLM__BASE_URL and restart")
                        temperature = gr.Slider(0.0, 2.0, value=settings.llm.temperature, step=0.1,
                                                label="Temperature", info="LLM mode only",
                                                interactive=service.assistant.default_mode == "llm")
                with gr.Column(scale=2, min_width=320, elem_id="pc-side"):
                    sources = gr.HTML(render.sources_placeholder(), elem_id="pc-sources")

            outputs = [question, chat, answers, sources, details, export]
            settings_in = [k, mode, temperature]
            asking = [question.submit(self.respond, [question, answers, *settings_in], outputs,
                                      api_visibility="private", show_progress="hidden")]
            asking += [button.click(self.respond, [button, answers, *settings_in], outputs,
                                    api_visibility="private", show_progress="hidden")
                       for button in example_buttons]  # a button's value is its label: the question
            new.click(self.new_conversation, None, outputs, api_visibility="private", show_progress="hidden",
                      cancels=asking)
            chat.clear(self.new_conversation, None, outputs, api_visibility="private", show_progress="hidden",
                       cancels=asking)  # the chat's own trash button starts over too
            mode.change(self.on_mode, mode, [header, temperature], api_visibility="private")
            demo.load(self.on_load, mode, [header, empty, main, *example_buttons], api_visibility="private")
            gr.api(self.api_ask, api_name="ask")
        demo.queue(default_concurrency_limit=CONCURRENCY)
        return demo


# ------------------------------------------------------------------------------------- launching


def parse_auth(value: str | None) -> tuple[str, str] | None:
    """'user:password' (from --auth or PAPERCHAT_AUTH) -> the pair Gradio's login page checks."""
    value = value if value is not None else os.environ.get(AUTH_ENV)
    if not value:
        return None
    user, sep, password = value.partition(":")
    if not sep or not user or not password:
        raise PaperchatError(f"auth must look like USER:PASSWORD (from --auth or {AUTH_ENV})")
    return user, password


def theme() -> gr.themes.Base:
    local = gr.themes.LocalFont  # fonts shipped with gradio: nothing is fetched from the internet
    return gr.themes.Soft(
        primary_hue="indigo", neutral_hue="slate",
        font=(local("IBM Plex Sans", weights=(400, 600, 700)), "ui-sans-serif", "system-ui", "sans-serif"),
        font_mono=(local("IBM Plex Mono"), "ui-monospace", "monospace"),
    )


def build_app(settings: Settings, assistant: Assistant | None = None) -> gr.Blocks:
    service = Service(settings, assistant)
    service.warm_up()
    return WebApp(service).build()


def serve(settings: Settings, *, host: str = "127.0.0.1", port: int = 7860, share: bool = False,
          auth: str | None = None) -> None:
    """Build the app and serve it until interrupted; binds to `host` only, shares only when asked."""
    credentials = parse_auth(auth)
    demo = build_app(settings)
    try:
        demo.launch(
            server_name=host, server_port=port, share=share, auth=credentials,
            auth_message="paperchat: sign in" if credentials else None,
            theme=theme(), css=CSS, ssr_mode=False, show_error=False, inbrowser=False, quiet=not share,
            footer_links=["api", "settings"], run_history=False, prevent_thread_lock=True,
        )
    except OSError as exc:  # the port is taken, or the host is not an interface of this machine
        raise PaperchatError(f"cannot serve on {host}:{port} (another server on that port? try --port): "
                             f"{exc}") from exc
    shown = "127.0.0.1" if host in ("0.0.0.0", "::") else host
    print(f"paperchat web UI on http://{shown}:{port}/ (collection {settings.collection!r}"
          f"{', login required' if credentials else ''}); Ctrl+C to stop", flush=True)
    demo.block_thread()
