"""The web UI: a Gradio 6 chat with streamed, cited answers, a sources panel, reference exports and settings.

The only module that imports gradio. It is thin: one `Service` per server (it holds the embedding model and
the Assistant) serves every browser session; each session keeps its own answers in a `gr.State`, and the
chat, the sources panel, the details and the exports are all rendered from those answers by `ui.render`.
A named endpoint `/ask` gives scripts the answer JSON:

    from gradio_client import Client
    Client("http://127.0.0.1:7860/").predict("What is GaLore?", [], api_name="/ask")
    Client(...).predict("What is attention?", [], "2017..2019", "Vaswani", "", api_name="/ask")  # filters

Errors of `/ask` (an empty or too long question, bad history or filter, an empty collection, an unreachable
Chroma server) are a `gr.Error` with the message: gradio_client raises `AppError(message)`, the raw event
stream ends with `{"msg": "process_completed", "success": false, "output": {"error": message}}`.

What the server guarantees, whatever the papers or the models say: everything rendered from them is escaped
and Markdown images neutralised (`ui.render`); every response carries a Content-Security-Policy that lets the
page load and connect only to its own origin (`SecureHeaders`); exports are written only when asked, 0600 in a
folder per browser session that is removed when the session ends or the server stops (`Exports`); offline
answers never wait for LLM answers (`Slots`).
"""

from __future__ import annotations

import contextlib
import errno
import json
import logging
import os
import re
import shutil
import signal
import socket
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import gradio as gr
from gradio.utils import get_upload_folder
from starlette.datastructures import MutableHeaders
from starlette.middleware import Middleware

from paperchat.rag import export
from paperchat.rag.assistant import EXTRACTIVE_MODEL, Assistant, as_turns
from paperchat.rag.embeddings import embedder_name, make_embedder
from paperchat.rag.errors import EmptyCollectionError, PaperchatError, StoreError
from paperchat.rag.metadata import MetaFilter, make_filter
from paperchat.rag.settings import Settings, secret
from paperchat.rag.types import Answer, Turn
from paperchat.ui import render

log = logging.getLogger("paperchat.web")

#: Offline answers computed at once (CPU-bound: about one per core); LLM answers have settings.llm.concurrency.
OFFLINE_CONCURRENCY = max(1, min(4, os.cpu_count() or 2))
EXAMPLES = 4
AUTH_ENV = "PAPERCHAT_AUTH"  # "user:password", the same as --auth
MAX_K = 20
#: What the page may load and connect to: its own origin only. Gradio needs inline scripts (its config),
#: eval (gr.HTML renders its templates with `new Function`), inline styles (themes, Svelte) and data: images
#: (its icons). Found by loading the page in Chromium with the header on and reading the console.
CSP = ("default-src 'self'; script-src 'self' 'unsafe-inline' 'unsafe-eval'; style-src 'self' 'unsafe-inline'; "
       "img-src 'self' data:; font-src 'self' data:; connect-src 'self'; media-src 'self'; worker-src 'self' blob:; "
       "object-src 'none'; base-uri 'self'; form-action 'self'; frame-ancestors 'self'")
SECURITY_HEADERS = {"content-security-policy": CSP, "x-content-type-options": "nosniff",
                    "referrer-policy": "no-referrer", "x-frame-options": "SAMEORIGIN"}
_SPLIT = re.compile(r"\s*[,;]\s*")
_YEAR = re.compile(r"^\d{4}$")

# Copies the card's BibTeX entry; navigator.clipboard needs a secure context (https or loopback), so a page
# opened over plain http from another machine falls back to a selected textarea and execCommand.
COPY_BIBTEX_JS = """
element.addEventListener('click', async (event) => {
  const button = event.target.closest('.pc-copy-bib');
  if (!button) return;
  const text = button.closest('.pc-source').querySelector('.pc-bib').textContent;
  let copied = false;
  try {
    await navigator.clipboard.writeText(text);
    copied = true;
  } catch (error) {
    const area = document.createElement('textarea');
    area.value = text;
    area.setAttribute('readonly', '');
    area.style.position = 'fixed';
    area.style.opacity = '0';
    document.body.appendChild(area);
    area.select();
    copied = document.execCommand('copy');
    area.remove();
  }
  button.textContent = copied ? 'Copied' : 'Copy failed';
  setTimeout(() => { button.textContent = 'Copy BibTeX'; }, 1500);
});
"""
# Saves the file an export handler just wrote (the hidden DownloadButton's value).
DOWNLOAD_JS = """(file) => {
  if (file && file.url) {
    const link = document.createElement('a');
    link.href = file.url;
    link.download = file.orig_name || 'paperchat-export';
    document.body.appendChild(link);
    link.click();
    link.remove();
  }
  return [];
}"""
# After a new answer, the panel shows the latest answer's sources again (an older [n] may still be the target).
SHOW_LATEST_JS = f"""() => {{
  if (location.hash.startsWith('#src-')) location.replace('#{render.LATEST}');
  return [];
}}"""

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
CSS += """
#pc-sources .pc-set { display: none; }
#pc-sources:not(:has(.pc-source:target)) .pc-set.pc-latest, #pc-sources .pc-set:has(.pc-source:target) {
  display: block; }
.pc-set-question { margin: -.35rem 0 .6rem; font-size: .8rem; }
.pc-source-head, .pc-byline { text-align: left; }
.pc-byline { font-size: .8rem; color: var(--body-text-color-subdued); margin: .25rem 0 0 2.15rem; }
.pc-source-meta { align-items: center; flex-wrap: wrap; }
a.pc-link { font-size: .72rem; color: var(--primary-600); text-decoration: none; overflow-wrap: anywhere; }
a.pc-link:hover { text-decoration: underline; }
button.pc-copy-bib { margin-left: auto; font-size: .72rem; padding: .1rem .5rem; border-radius: 6px;
  border: 1px solid var(--border-color-primary); background: var(--background-fill-secondary);
  color: var(--body-text-color); cursor: pointer; }
button.pc-copy-bib:hover { border-color: var(--primary-400); }
.pc-banner { border: 1px solid #f5b8b8; background: #fff1f1; color: #7f1d1d; border-radius: 8px;
  padding: .55rem .8rem; margin-bottom: .5rem; font-size: .9rem; }
.pc-filter, .pc-gate, .pc-names, .pc-filtered { overflow-wrap: anywhere; }
"""


# ------------------------------------------------------------------------------------- the shared service


def store_problem(exc: BaseException, settings: Settings) -> str | None:
    """The message for an exception that means the paper store cannot be reached, else None. Chroma's HTTP
    client raises httpx's transport errors (connection refused, timeouts) when its server is down."""
    import httpx

    if isinstance(exc, StoreError):
        return str(exc)
    if isinstance(exc, httpx.TransportError):
        where = f"the Chroma server at {settings.chroma.host}:{settings.chroma.port}" if settings.chroma.host \
            else "the Chroma store"
        return f"{where} does not answer ({type(exc).__name__}: {exc or 'no reply'})"
    return None


class Service:
    """What all sessions share: the embedding model and the Assistant. A store that cannot be reached at start
    (a Chroma server that is down) is not fatal: `ready()` tries again before every question."""

    def __init__(self, settings: Settings, assistant: Assistant | None = None):
        self.settings = settings
        self.assistant = assistant
        self.problem: str | None = None
        self._embedder = assistant.retriever.embedder if assistant else None
        self._lock = threading.Lock()
        if assistant is None:
            self._open()

    def _open(self) -> None:
        with self._lock:
            if self.assistant is not None and self.problem is None:
                return
            try:
                self._embedder = self._embedder or make_embedder(self.settings)
                self.assistant = Assistant(self.settings, embedder=self._embedder)
                self.problem = None
            except StoreError as exc:
                self.problem = str(exc)
                log.warning("paper store unavailable: %s", exc)

    @property
    def store(self):
        return self.assistant.retriever.store if self.assistant else None

    @property
    def llm_available(self) -> bool:
        return self.assistant.default_mode == "llm" if self.assistant else self.settings.llm_configured()

    @property
    def default_mode(self) -> str:
        return "llm" if self.llm_available else "extractive"

    def refresh(self) -> None:
        """A collection that did not exist at start may have been ingested since: open it again."""
        if self.assistant is None or self.problem is not None:
            self._open()
            return
        if self.store.exists:
            return
        with self._lock:
            if not self.store.exists:
                self.assistant = Assistant(self.settings, embedder=self._embedder)

    def ready(self) -> Assistant:
        """The assistant over a collection with papers; StoreError when the store cannot be reached (the store
        is asked now: a server that went away or came back is noticed), EmptyCollectionError when it has none."""
        try:
            self.refresh()
            if self.assistant is None:
                raise StoreError(self.problem or "the paper store cannot be opened")
            if not self.store.exists or not self.store.count():
                raise EmptyCollectionError(f"the collection {self.settings.collection!r} is empty: add papers "
                                           "with `paperchat ingest` (then reload the page)")
        except PaperchatError:
            raise
        except Exception as exc:
            if (problem := store_problem(exc, self.settings)) is None:
                raise
            raise StoreError(problem) from exc
        return self.assistant

    def warm_up(self) -> None:
        """Load the model, the keyword index and the titles once, before two sessions race to do it. A failure
        here is not fatal: the page says what is wrong, and every question tries again."""
        try:
            assistant = self.ready()
            assistant.retriever.search("warm up", 1)
            assistant.titles()
        except EmptyCollectionError:
            pass
        except Exception as exc:
            log.warning("warming up failed: %s: %s", type(exc).__name__, exc)

    def titles(self) -> list[str]:
        return sorted(self.assistant.titles().values()) if self.store and self.store.exists else []

    def info(self, mode: str | None = None, papers: int | None = None) -> render.CollectionInfo:
        """The header's facts (`papers` when the caller has just counted them); a store that cannot be read counts
        as no papers (the banner says why)."""
        mode = mode or self.default_mode
        if papers is None:
            try:
                papers = len(self.titles())
            except Exception as exc:
                if store_problem(exc, self.settings) is None:
                    raise
                papers = 0
        name = embedder_name(self._embedder) if self._embedder is not None else self.settings.embedding_model
        return render.CollectionInfo(collection=self.settings.collection, papers=papers, embedding_model=name,
                                     answer_mode=self.settings.llm.model if mode == "llm" else EXTRACTIVE_MODEL)


class Slots:
    """Answers computed at once, per mode: LLM answers wait only for LLM slots (settings.llm.concurrency) and
    offline answers only for offline slots, so a slow LLM endpoint never queues an offline answer."""

    def __init__(self, llm: int, offline: int = OFFLINE_CONCURRENCY):
        self.limits = {"llm": llm, "extractive": offline}
        self._free = {mode: threading.BoundedSemaphore(n) for mode, n in self.limits.items()}

    def acquire(self, mode: str, timeout: float | None = None) -> bool:
        return self._free[mode].acquire(timeout=timeout) if timeout is not None else self._free[mode].acquire()

    def release(self, mode: str) -> None:
        self._free[mode].release()

    @contextlib.contextmanager
    def held(self, mode: str) -> Iterator[None]:
        self.acquire(mode)
        try:
            yield
        finally:
            self.release(mode)


class Exports:
    """Files a person asked for (a button click), private to their browser session: 0600 files in a 0700 folder
    per session under one folder per server, inside Gradio's upload folder so Gradio serves them where they are
    (it would otherwise copy them to its cache, out of reach of the clean-up). A session's folder goes when the
    session ends (the tab is closed), the whole folder when the server stops."""

    PREFIX = "paperchat-export-"

    def __init__(self, parent: Path | None = None):
        self.parent = parent
        self._root: Path | None = None
        self._lock = threading.Lock()

    @property
    def root(self) -> Path:
        with self._lock:
            if self._root is None:
                parent = Path(self.parent or get_upload_folder())
                parent.mkdir(parents=True, exist_ok=True)
                self._root = Path(tempfile.mkdtemp(prefix=self.PREFIX, dir=parent))  # mode 0700
            return self._root

    def session_folder(self, session: str | None) -> Path:
        name = re.sub(r"[^A-Za-z0-9_-]", "", session or "") or "local"
        return self.root / name

    def write(self, session: str | None, name: str, text: str) -> Path:
        """A new file in a new folder of the session (a fresh URL, so a browser never serves an old export)."""
        folder = self.session_folder(session) / uuid.uuid4().hex
        folder.parent.mkdir(mode=0o700, exist_ok=True)
        folder.mkdir(mode=0o700)
        path = folder / name
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            out.write(text)
        return path

    def end_session(self, session: str | None) -> None:
        if self._root is not None:
            shutil.rmtree(self.session_folder(session), ignore_errors=True)

    def close(self) -> None:
        with self._lock:
            if self._root is not None:
                shutil.rmtree(self._root, ignore_errors=True)
                self._root = None


def parse_history(history: Any) -> list[Turn]:
    """History from the API: a list of {role, content} dicts, or the same as a JSON string; checked by the
    assistant's own `as_turns` (one error naming the message that is wrong)."""
    if history in (None, "", []):
        return []
    if isinstance(history, str):
        try:
            history = json.loads(history)
        except ValueError as exc:
            raise PaperchatError(f"history is not valid JSON: {exc}") from exc
        except RecursionError:
            raise PaperchatError("history is JSON nested too deeply") from None
    return as_turns(history)


def _names(text: str | None) -> list[str]:
    """'Hinton, LeCun; Bengio' -> ['Hinton', 'LeCun', 'Bengio'] (any of them matches)."""
    return [part for part in _SPLIT.split(text or "") if part]


def filter_from_fields(year_from: Any = None, year_to: Any = None, author: str | None = None,
                       venue: str | None = None) -> MetaFilter | None:
    """The settings' filter fields (or the API's arguments) as a MetaFilter; a PaperchatError names a bad field."""
    years = []
    for label, value in (("from", year_from), ("to", year_to)):
        text = "" if value is None else str(value).strip()
        if text and not _YEAR.match(text):
            raise PaperchatError(f"year {label} {text!r} is not a year like 2019")
        years.append(text)
    try:
        return make_filter(f"{years[0]}..{years[1]}" if any(years) else None, _names(author), _names(venue))
    except ValueError as exc:
        raise PaperchatError(f"filter: {exc}") from exc


def api_filter(year: Any = None, author: str | None = None, venue: str | None = None) -> MetaFilter | None:
    """/ask's `year` ('2019..2023', '2020', '2019..', '..2020'), `author` and `venue` (comma-separated)."""
    try:
        return make_filter(None if year is None else str(year), _names(author), _names(venue))
    except ValueError as exc:
        raise PaperchatError(f"filter: {exc}") from exc


def check_question(question: str, settings: Settings) -> str | None:
    """Why a question cannot be asked (empty, too long), else None: said before any work is done."""
    limit = settings.limits.max_question_chars
    if not question:
        return "Type a question first."
    if len(question) > limit:
        return (f"Your question is {len(question):,} characters long; the limit is {limit:,} "
                "(setting PAPERCHAT_LIMITS__MAX_QUESTION_CHARS). Please shorten it.")
    return None


def _warn(message: str) -> None:
    gr.Warning(render.esc(message))


def _session(request: gr.Request | None) -> str | None:
    return getattr(request, "session_hash", None) if request is not None else None


# ------------------------------------------------------------------------------------- the app


class WebApp:
    """The Blocks app and its handlers, over one Service."""

    def __init__(self, service: Service, export_dir: Path | None = None):
        self.service = service
        self.slots = Slots(service.settings.llm.concurrency)
        self.exports = Exports(export_dir)

    # -- answering ---------------------------------------------------------------------------
    def respond(self, question: str, answers: list[Answer], library: dict[str, str] | None, k: float, mode: str,
                temperature: float, year_from: Any = None, year_to: Any = None, author: str | None = None,
                venue: str | None = None) -> Iterator[tuple]:
        """Stream one answer into the chat; outputs: textbox, chat, answers, library, sources, details, banner."""
        question = (question or "").strip()
        answers, library = list(answers or []), dict(library or {})
        try:
            if problem := check_question(question, self.service.settings):
                raise PaperchatError(problem)
            where = filter_from_fields(year_from, year_to, author, venue)
            assistant = self.service.ready()
        except StoreError as exc:
            yield self._store_down(exc, answers, library, question)
            return
        except PaperchatError as exc:
            _warn(str(exc))
            yield self._unchanged(answers, library, question)
            return
        history = render.history_turns(answers)
        shown = [*render.chat_messages(answers), {"role": "user", "content": render.esc(question)},
                 {"role": "assistant", "content": render.streaming_message("")}]
        yield "", shown, answers, library, render.sources_pending(), render.details_html(None), gr.skip()
        mode = mode if mode in self.slots.limits else self.service.default_mode
        if not self.slots.acquire(mode, timeout=0):
            waiting = f"Waiting for a free {'LLM' if mode == 'llm' else 'answer'} slot…"
            shown[-1] = {"role": "assistant", "content": render.streaming_message("", waiting=waiting)}
            yield gr.skip(), shown, gr.skip(), gr.skip(), gr.skip(), gr.skip(), gr.skip()
            while not self.slots.acquire(mode, timeout=0.5):
                yield (gr.skip(),) * 7  # lets a new conversation cancel the wait
        try:
            final = yield from self._stream(assistant, question, history, shown, mode, int(k), temperature, where)
        finally:
            self.slots.release(mode)
        if isinstance(final, StoreError):
            yield self._store_down(final, answers, library, question)
            return
        if final is None:
            yield self._unchanged(answers, library, question)
            return
        answers.append(final)
        library.update(self._bibtex_entries(final))
        yield ("", render.chat_messages(answers), answers, library, render.sources_html(answers, library),
               render.details_html(final), gr.update(value="", visible=False))

    def _stream(self, assistant: Assistant, question: str, history: list, shown: list, mode: str, k: int,
                temperature: float, where: MetaFilter | None):
        """Yield the chat while the answer streams; return the final Answer, a StoreError, or None (warned)."""
        text, notice = "", None
        try:
            temperature = temperature if mode == "llm" else None
            stream = assistant.stream(question, history, mode=mode, k=k, temperature=temperature, where=where)
            for event in stream:
                if event.kind == "delta":
                    text += event.text  # each delta is what to append to what is shown
                else:  # reset: the LLM failed mid-answer; start again offline
                    text, notice = "", event.text or notice
                    if event.text:
                        gr.Info(render.esc(event.text))
                shown = [*shown[:-1], {"role": "assistant", "content": render.streaming_message(text, notice)}]
                yield gr.skip(), shown, gr.skip(), gr.skip(), gr.skip(), gr.skip(), gr.skip()
            return stream.answer()
        except Exception as exc:  # never let one question take the server down
            if (problem := store_problem(exc, self.service.settings)) is not None:
                return StoreError(problem)
            if isinstance(exc, PaperchatError):
                _warn(str(exc))
                return None
            log.error("answering %r failed: %s: %s", question[:200], type(exc).__name__, exc)
            log.debug("the traceback", exc_info=True)
            _warn(f"Something went wrong while answering ({type(exc).__name__}: {exc}). Please try again.")
            return None

    def _bibtex_entries(self, answer: Answer) -> dict[str, str]:
        """Each cited paper's BibTeX entry (the original one when it came from a .bib file), for Copy BibTeX."""
        try:
            records = export.cited_records(answer, self.service.store)
        except Exception as exc:  # the store went away just now: entries from the citations themselves
            log.warning("reading the cited papers' records failed: %s: %s", type(exc).__name__, exc)
            records = list(answer.citations)
        return {record.paper_id: export.bibtex([record]) for record in records}

    def _unchanged(self, answers: list[Answer], library: dict[str, str], question: str) -> tuple:
        """Put the conversation back as it was (the question stays in the box to try again)."""
        last = answers[-1] if answers else None
        return (question, render.chat_messages(answers), answers, library, render.sources_html(answers, library),
                render.details_html(last), gr.skip())

    def _store_down(self, exc: StoreError, answers: list[Answer], library: dict[str, str], question: str) -> tuple:
        """The store cannot be reached: a banner says why (one log line), the conversation stays as it was."""
        log.warning("question not answered, the paper store is unreachable: %s", exc)
        return (*self._unchanged(answers, library, question)[:-1],
                gr.update(value=render.banner_html(str(exc)), visible=True))

    def new_conversation(self) -> tuple:
        return "", [], [], {}, render.sources_placeholder(), render.details_html(None), gr.skip()

    # -- exports -----------------------------------------------------------------------------
    def export_markdown(self, answers: list[Answer], request: gr.Request | None = None) -> str | None:
        """Write the conversation as Markdown (on this click only) and hand it to the browser."""
        if not answers:
            _warn("Nothing to export yet: ask a question first.")
            return None
        text = render.export_markdown(answers, collection=self.service.settings.collection)
        return str(self.exports.write(_session(request), "paperchat-conversation.md", text))

    def export_bibtex(self, answers: list[Answer], request: gr.Request | None = None) -> str | None:
        """Write every paper the conversation cited, once, as a .bib file."""
        try:
            records = export.cited_records(answers or [], self.service.ready().retriever.store)
        except PaperchatError as exc:
            _warn(str(exc))
            return None
        if not records:
            _warn("No paper cited yet: nothing to export.")
            return None
        return str(self.exports.write(_session(request), "paperchat-references.bib", export.bibtex(records)))

    def end_session(self, request: gr.Request | None = None) -> None:
        """The tab was closed: its exports go."""
        self.exports.end_session(_session(request))

    # -- page --------------------------------------------------------------------------------
    def on_load(self, mode: str | None) -> tuple:
        """Per page load: header, empty-collection notice, banner, examples (a collection may have been ingested).
        The store is read once here, so a server going away meanwhile shows as the banner, not as 'empty'."""
        problem, titles = None, []
        try:
            self.service.ready()
            titles = self.service.titles()
        except EmptyCollectionError:
            pass
        except Exception as exc:
            if (problem := store_problem(exc, self.service.settings)) is None:
                raise
        info = self.service.info(mode, papers=len(titles))
        empty = not titles and problem is None
        examples = render.example_questions(titles, EXAMPLES)
        buttons = [gr.update(value=q, visible=True) for q in examples]
        buttons += [gr.update(visible=False)] * (EXAMPLES - len(buttons))
        banner = gr.update(value=render.banner_html(problem), visible=problem is not None)
        return (render.header_html(info), gr.update(visible=empty), gr.update(visible=not empty), banner, *buttons)

    def on_mode(self, mode: str) -> tuple:
        return render.header_html(self.service.info(mode)), gr.update(interactive=mode == "llm")

    # -- the API -----------------------------------------------------------------------------
    def api_ask(self, question: str, history: list[dict] | None = None, year: str | None = None,
                author: str | None = None, venue: str | None = None) -> dict:
        """Answer a question over the collection. history: the conversation so far as a list of
        {"role": "user"|"assistant", "content": str}. Optional filters: year ("2019..2023", "2020", "2019..",
        "..2020"), author and venue (comma-separated names; any of them). Returns the Answer as JSON (status,
        answer with [n] markers, citations, sources, mode, confidence, filter, trace, timings). Errors are a
        gr.Error carrying the message."""
        try:
            question = (question or "").strip() if isinstance(question, str) else question
            if isinstance(question, str) and (problem := check_question(question, self.service.settings)):
                raise PaperchatError("the question is empty" if not question else problem)
            turns = parse_history(history)
            where = api_filter(year, author, venue)
            assistant = self.service.ready()
            mode = assistant.default_mode
            with self.slots.held(mode):
                answer = assistant.ask(question, turns, mode=mode, where=where)
        except Exception as exc:
            message = store_problem(exc, self.service.settings) or (str(exc) if isinstance(exc, PaperchatError)
                                                                    else None)
            if message is None:
                log.error("/ask failed: %s: %s", type(exc).__name__, exc)
                log.debug("the traceback", exc_info=True)
                message = f"internal error ({type(exc).__name__}); the server log has the details"
            else:
                log.warning("/ask failed: %s", message)
            raise gr.Error(message, print_exception=False) from exc
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
            banner = gr.HTML(render.banner_html(service.problem), visible=service.problem is not None,
                             elem_id="pc-banner")
            empty = gr.HTML(render.empty_collection_html(settings.collection, str(settings.home)),
                            visible=info.papers == 0 and service.problem is None, elem_id="pc-empty")
            answers = gr.State([])
            library = gr.State({})  # paper id -> BibTeX entry, for the cards' Copy BibTeX
            with gr.Row(equal_height=False, visible=info.papers > 0 or service.problem is not None,
                        elem_id="pc-main") as main:
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
                        export_md = gr.Button("Export as Markdown", size="sm", variant="secondary",
                                              elem_id="pc-export")
                        export_bib = gr.Button("Export references (.bib)", size="sm", variant="secondary",
                                               elem_id="pc-export-bib")
                        saved = gr.DownloadButton("save", value=None, visible=False, elem_id="pc-saved")
                    with gr.Accordion("How this answer was made", open=False, elem_id="pc-details-box"):
                        details = gr.HTML(render.details_html(None), elem_id="pc-details")
                    with gr.Accordion("Settings", open=False, elem_id="pc-settings"):
                        k = gr.Slider(1, MAX_K, value=min(settings.retrieval.k, MAX_K), step=1,
                                      label="Papers to retrieve (k)",
                                      info=f"the answer draws on the best {settings.answer.evidence_k}")
                        mode = gr.Radio(mode_choices, value=service.default_mode,
                                        label="Answer mode", info=None if service.llm_available else
                                        "LLM answers need an endpoint: set OPENAI_API_KEY or "
                                        "PAPERCHAT_LLM__BASE_URL and restart")
                        temperature = gr.Slider(0.0, 2.0, value=settings.llm.temperature, step=0.1,
                                                label="Temperature", info="LLM mode only",
                                                interactive=service.default_mode == "llm")
                        with gr.Row(elem_id="pc-filters"):
                            year_from = gr.Textbox(label="Year from", placeholder="e.g. 2019", max_lines=1,
                                                   elem_id="pc-year-from", min_width=90)
                            year_to = gr.Textbox(label="Year to", placeholder="e.g. 2023", max_lines=1,
                                                 elem_id="pc-year-to", min_width=90)
                        author = gr.Textbox(label="Author", placeholder="family names, comma-separated (any)",
                                            max_lines=1, elem_id="pc-author")
                        venue = gr.Textbox(label="Venue", placeholder="e.g. NeurIPS, ICML (any)", max_lines=1,
                                           elem_id="pc-venue")
                with gr.Column(scale=2, min_width=320, elem_id="pc-side"):
                    sources = gr.HTML(render.sources_placeholder(), elem_id="pc-sources", js_on_load=COPY_BIBTEX_JS)

            outputs = [question, chat, answers, library, sources, details, banner]
            inputs = [answers, library, k, mode, temperature, year_from, year_to, author, venue]
            triggers = [(question.submit, question), *((b.click, b) for b in example_buttons)]
            asking = []
            for trigger, asked in triggers:  # a button's value is its label: the question
                event = trigger(self.respond, [asked, *inputs], outputs, api_visibility="private",
                                show_progress="hidden", concurrency_limit=None, concurrency_id="answers")
                event.then(None, None, None, js=SHOW_LATEST_JS, api_visibility="private")
                asking.append(event)
            new.click(self.new_conversation, None, outputs, api_visibility="private", show_progress="hidden",
                      cancels=asking, js=SHOW_LATEST_JS)
            chat.clear(self.new_conversation, None, outputs, api_visibility="private", show_progress="hidden",
                       cancels=asking)  # the chat's own trash button starts over too
            for button, handler in ((export_md, self.export_markdown), (export_bib, self.export_bibtex)):
                button.click(handler, answers, saved, api_visibility="private", show_progress="hidden").then(
                    None, saved, None, js=DOWNLOAD_JS, api_visibility="private")
            mode.change(self.on_mode, mode, [header, temperature], api_visibility="private")
            demo.load(self.on_load, mode, [header, empty, main, banner, *example_buttons], api_visibility="private")
            demo.unload(self.end_session)
            gr.api(self.api_ask, api_name="ask", concurrency_limit=None, concurrency_id="answers")
        demo.queue(default_concurrency_limit=4)
        return demo

    # -- serving -----------------------------------------------------------------------------
    def app_kwargs(self) -> dict[str, Any]:
        """What Gradio's FastAPI app is built with: the security headers and access log, and a lifespan that
        removes the exports when the server stops."""

        @contextlib.asynccontextmanager
        async def lifespan(_app):
            yield
            self.exports.close()

        return {"middleware": [Middleware(SecureHeaders)], "lifespan": lifespan}

    def close(self) -> None:
        self.exports.close()


class SecureHeaders:
    """ASGI middleware on every response: the Content-Security-Policy (own origin only) and its companions, and
    one access-log line per request (method, path, status, milliseconds) on `paperchat.web` at INFO (`-v`).
    Pure ASGI rather than BaseHTTPMiddleware, so Gradio's streamed responses pass through untouched."""

    def __init__(self, app, headers: dict[str, str] | None = None):
        self.app = app
        self.headers = headers or SECURITY_HEADERS

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started, status = time.perf_counter(), [500]

        async def send_with_headers(message):
            if message["type"] == "http.response.start":
                status[0] = message["status"]
                headers = MutableHeaders(scope=message)
                for name, value in self.headers.items():
                    headers[name] = value
            await send(message)

        try:
            await self.app(scope, receive, send_with_headers)
        finally:
            log.info("%s %s %d %.0f ms", scope.get("method", ""), scope.get("path", ""), status[0],
                     1000 * (time.perf_counter() - started))


# ------------------------------------------------------------------------------------- launching


def parse_auth(value: str) -> tuple[str, str]:
    """'user:password' -> the pair Gradio's login page checks."""
    user, sep, password = value.partition(":")
    if not sep or not user or not password:
        raise PaperchatError(f"auth must look like USER:PASSWORD (from --auth or {AUTH_ENV})")
    return user, password


def auth_from(cli: str | None, settings: Settings) -> tuple[str, str] | None:
    """The login: --auth when given, else the auth setting (PAPERCHAT_AUTH), else none. An empty value (an unset
    variable in `--auth "$VAR"`) is an error, never a server without login."""
    source, value = ("--auth", cli) if cli is not None else (AUTH_ENV, secret(settings.auth))
    if value is None:
        return None
    if not value.strip():
        raise PaperchatError(f"{source} is empty (an unset variable?): give USER:PASSWORD, or leave it out to "
                             "serve without a login")
    return parse_auth(value.strip())


def interface_addresses() -> list[str]:
    """This machine's IPv4 addresses, loopback first (what `--host 0.0.0.0` is reachable on)."""
    found: list[str] = []
    with contextlib.suppress(OSError, ImportError, AttributeError):
        import fcntl
        import struct

        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            for _, name in socket.if_nameindex():
                with contextlib.suppress(OSError):
                    packed = fcntl.ioctl(sock.fileno(), 0x8915, struct.pack("256s", name[:15].encode()))  # SIOCGIFADDR
                    found.append(socket.inet_ntoa(packed[20:24]))
    if not found:
        with contextlib.suppress(OSError):
            found = socket.gethostbyname_ex(socket.gethostname())[2]
    return sorted(dict.fromkeys(found), key=lambda a: (not a.startswith("127."), a))


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


def _stop_on_sigterm() -> None:
    """SIGTERM (a service manager, `kill`) stops the server like Ctrl+C, so the exports are removed."""
    def interrupt(signum, frame):
        raise KeyboardInterrupt

    with contextlib.suppress(ValueError):  # not the main thread
        signal.signal(signal.SIGTERM, interrupt)


def check_bind(host: str, port: int) -> None:
    """Say why `host:port` cannot be served before the app is built: a host that is no address or name, an
    address that is not this machine's, a port in use or not allowed."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except (socket.gaierror, UnicodeError) as exc:
        raise PaperchatError(f"--host {host!r} is not an IP address or a host name this machine resolves "
                             f"({exc}); use 127.0.0.1 (this machine only) or 0.0.0.0 (every interface)") from exc
    family, kind, proto, _, address = infos[0]
    with socket.socket(family, kind, proto) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(address)
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                why = "the port is in use (another server?): choose another with --port"
            elif exc.errno == errno.EADDRNOTAVAIL:
                why = "that address is not one of this machine's interfaces: use 127.0.0.1 or 0.0.0.0"
            elif exc.errno == errno.EACCES:
                why = "ports below 1024 need root: choose another with --port"
            else:
                why = str(exc)
            raise PaperchatError(f"cannot serve on {host}:{port}: {why}") from exc


def serve(settings: Settings, *, host: str = "127.0.0.1", port: int = 7860, share: bool = False,
          auth: str | None = None) -> None:
    """Build the app and serve it until interrupted; binds to `host` only, shares only when asked."""
    credentials = auth_from(auth, settings)
    check_bind(host, port)
    service = Service(settings)
    service.warm_up()
    webapp = WebApp(service)
    demo = webapp.build()
    _stop_on_sigterm()
    try:
        try:
            demo.launch(
                server_name=host, server_port=port, share=share, auth=credentials,
                auth_message="paperchat: sign in" if credentials else None,
                theme=theme(), css=CSS, ssr_mode=False, show_error=False, inbrowser=False, quiet=not share,
                footer_links=["api", "settings"], run_history=False, prevent_thread_lock=True,
                app_kwargs=webapp.app_kwargs(),
            )
        except OSError as exc:  # the port is taken, or the host is not an interface of this machine
            raise PaperchatError(f"cannot serve on {host}:{port} ({exc}): try another --port") from exc
        print(listening_message(host, port, settings.collection, credentials is not None, share), flush=True)
        demo.block_thread()
    finally:
        webapp.close()


def listening_message(host: str, port: int, collection: str, login: bool, share: bool = False) -> str:
    """Where the server listens; on all interfaces, every address it answers on, and a warning without login."""
    lines = [f"paperchat web UI on http://{host if ':' not in host else f'[{host}]'}:{port}/ (collection "
             f"{collection!r}{', login required' if login else ''}); Ctrl+C to stop"]
    exposed = host in ("0.0.0.0", "::", "")
    if exposed:
        lines += [f"  reachable at http://{address}:{port}/" for address in interface_addresses()]
    if (exposed or share) and not login:
        who = "anyone with the public link" if share else "anyone who can reach this machine on the network"
        lines.append(f"warning: no login is required: {who} can use it (set --auth USER:PASSWORD or {AUTH_ENV})")
    return "\n".join(lines)
