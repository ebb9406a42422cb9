"""The web UI end to end: `paperchat serve` on a free port (real model), driven by `gradio_client` (the /ask
endpoint) and by a real headless Chromium (Playwright): the bundled papers, a small reference library with
metadata (filters, original BibTeX), and a Chroma server that is stopped and started again.

The browser is Debian's `chromium` package (`apt-get install chromium`); Playwright never downloads
one. Without it the browser tests are skipped, saying so. Screenshots land in test-artifacts/.
"""

from __future__ import annotations

import contextlib
import json
import re
import stat
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlparse

import bibtexparser
import pytest
from conftest import BIN, PAPERCHAT, ROOT, free_port, make_settings, run_cli, stop_process, subprocess_env

from paperchat.evals.reliability import CHROMIUM_ARGS, chromium
from paperchat.rag.types import Answer

QUESTION = "How does GaLore reduce memory in LLM training?"
FOLLOW_UP = "What does it project the gradients onto?"
UNANSWERABLE = "What is the capital of Peru?"
LORA_QUESTION = "How does LoRA reduce the number of trainable parameters?"
LORA = "LoRA: Low-Rank Adaptation of Large Language Models"
LIBRARY = ROOT / "tests" / "data" / "library"
LIBRARY_FILES = ["zotero.bib", "betterbibtex.bib", "jabref.bib", "mendeley.bib", "scholar.bib"]
ARTIFACTS = ROOT / "test-artifacts"
CHROMA = BIN / "chroma"
WAIT_MS = 90_000

pytestmark = pytest.mark.slow


def _http_ok(url: str) -> bool:
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # loopback, never a proxy
    try:
        with opener.open(url, timeout=3) as response:
            return response.status == 200
    except (urllib.error.URLError, OSError):
        return False


def _wait_for(check, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what}")
        time.sleep(0.25)


@dataclass
class Served:
    """A running `paperchat serve`: its URL, its log, and the folder Gradio (and so the exports) writes to."""

    url: str
    log: Path
    gradio_tmp: Path
    proc: subprocess.Popen = field(repr=False)

    def log_text(self) -> str:
        return self.log.read_text(encoding="utf-8", errors="replace")

    def export_roots(self) -> list[Path]:
        return sorted(self.gradio_tmp.glob("paperchat-export-*"))


@contextlib.contextmanager
def serving(home: Path, folder: Path, **env: str) -> Iterator[Served]:
    """`paperchat -v --home HOME serve --port FREE` as a child process (Gradio's files under `folder`)."""
    if not PAPERCHAT.exists():
        pytest.skip(f"the paperchat console script is not installed at {PAPERCHAT}")
    port = free_port()
    log_path = folder / "serve.log"
    gradio_tmp = folder / "gradio"
    child_env = subprocess_env(GRADIO_ANALYTICS_ENABLED="False", GRADIO_TEMP_DIR=str(gradio_tmp), **env)
    with open(log_path, "w", encoding="utf-8") as log:
        proc = subprocess.Popen([str(PAPERCHAT), "-v", "--home", str(home), "serve", "--port", str(port)],
                                cwd=home.parent, stdout=log, stderr=subprocess.STDOUT, env=child_env)
    served = Served(f"http://127.0.0.1:{port}/", log_path, gradio_tmp, proc)
    deadline = time.monotonic() + 180
    try:
        # ready when it answers HTTP and has said where it listens (loopback by default)
        while not (f"web UI on {served.url}" in served.log_text() and _http_ok(served.url)):
            if proc.poll() is not None:
                pytest.fail(f"paperchat serve exited with {proc.returncode}:\n{served.log_text()}")
            if time.monotonic() > deadline:
                pytest.fail(f"paperchat serve did not answer on {served.url} in time:\n{served.log_text()}")
            time.sleep(0.5)
        yield served
    finally:
        stop_process(proc, 15)


@pytest.fixture(scope="session")
def server(bundled_real, tmp_path_factory) -> Iterator[Served]:
    """The web UI over the bundled papers."""
    settings, _ = bundled_real
    with serving(settings.home, tmp_path_factory.mktemp("serve")) as served:
        yield served


@pytest.fixture(scope="module")
def library_home(real_embedder, tmp_path_factory) -> Path:
    """The test library's .bib files (authors, years, venues, DOIs, original entries) with the real model."""
    from paperchat.ingest.pipeline import ingest_paths

    home = tmp_path_factory.mktemp("library") / "home"
    report = ingest_paths([LIBRARY / name for name in LIBRARY_FILES], make_settings(home, collection="papers"),
                          embedder=real_embedder)
    assert report.papers_total == 11, report.summary()
    return home


# ------------------------------------------------------------------------------------- the /ask endpoint


@pytest.fixture
def api_client():
    """gradio_client Clients that are closed after the test (their heartbeat thread holds a connection)."""
    from gradio_client import Client

    made: list = []

    def make(url: str):
        made.append(Client(url, verbose=False))
        return made[-1]

    yield make
    for client in made:
        client.close()


@pytest.fixture
def own_server(bundled_real, tmp_path) -> Iterator[Served]:
    """A server of the test's own: it stops before the test's clients are closed, so their streaming threads
    see the end of their connections (the session's server outlives every client)."""
    settings, _ = bundled_real
    with serving(settings.home, tmp_path) as served:
        yield served


def test_ask_endpoint_with_gradio_client(api_client, own_server):
    server = own_server
    client = api_client(server.url)
    data = client.predict(QUESTION, [], api_name="/ask")  # the two-argument call keeps working
    answer = Answer.model_validate(data)
    assert answer.status == "answered" and answer.mode == "extractive"
    cited = answer.citations[0].title
    assert "GaLore" in cited
    assert "[1]" in answer.answer and answer.sources and answer.timings_ms["total_ms"] > 0
    assert answer.trace["gate"]["confidence"] == answer.confidence

    history = [{"role": "user", "content": QUESTION},
               {"role": "assistant", "content": f"{answer.answer}\n\nReferences:\n[1] {cited}"}]
    follow = Answer.model_validate(client.predict(FOLLOW_UP, history, api_name="/ask"))
    assert follow.status == "answered" and cited in follow.standalone_question  # "it" was resolved
    assert cited in [c.title for c in follow.citations]

    missing = Answer.model_validate(client.predict(UNANSWERABLE, [], api_name="/ask"))
    assert missing.status == "not_found" and not missing.citations and missing.sources

    with pytest.raises(Exception, match="the question is empty"):
        client.predict("   ", [], api_name="/ask")
    with pytest.raises(Exception, match="Your question is 4,001 characters long; the limit is 4,000"):
        client.predict("x" * 4001, [], api_name="/ask")
    with pytest.raises(Exception, match="is not a year or a range"):
        client.predict(QUESTION, [], "recent", api_name="/ask")
    assert "Traceback" not in server.log_text()


def test_ask_endpoint_filters(library_home, tmp_path, api_client):
    with serving(library_home, tmp_path) as served:
        client = api_client(served.url)
        everything = Answer.model_validate(client.predict(LORA_QUESTION, [], api_name="/ask"))
        assert everything.filter is None
        only_2017 = Answer.model_validate(client.predict(LORA_QUESTION, [], "2017", "", "", api_name="/ask"))
        assert only_2017.filter["year_min"] == only_2017.filter["year_max"] == 2017
        assert only_2017.sources and {s.year for s in only_2017.sources} == {2017}
        assert LORA not in [s.title for s in only_2017.sources]
        by_author = Answer.model_validate(client.predict("What is attention?", [], "", "Hochreiter, Vaswani", "",
                                                         api_name="/ask"))
        assert by_author.filter["authors"] == ["Hochreiter", "Vaswani"]
        assert by_author.sources and all({"Sepp Hochreiter", "Ashish Vaswani"} & set(s.authors)
                                         for s in by_author.sources)
        by_venue = Answer.model_validate(client.predict("What is attention?", [], "", "", "Neural Computation",
                                                        api_name="/ask"))
        assert [s.venue for s in by_venue.sources] == ["Neural Computation"]


# ------------------------------------------------------------------------------------- the browser


@pytest.fixture(scope="module")
def browser():
    sync_api = pytest.importorskip("playwright.sync_api", reason="pip package playwright is not installed")
    executable = chromium()
    if not executable:
        pytest.skip("no Chromium found (install Debian's `chromium` package: apt-get install -y chromium)")
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


class Watched:
    """A browser page with everything it requested, its console and its script errors recorded."""

    def __init__(self, browser, url: str):
        self.url = url
        self.context = browser.new_context(viewport={"width": 1400, "height": 1000}, accept_downloads=True)
        self.context.grant_permissions(["clipboard-read", "clipboard-write"], origin=url.rstrip("/"))
        self.page = self.context.new_page()
        self.page.set_default_timeout(WAIT_MS)
        self.requests: list[str] = []
        self.console: list[str] = []
        self.errors: list[str] = []
        self.page.on("request", lambda r: self.requests.append(r.url))
        self.page.on("console", lambda m: self.console.append(f"{m.type}: {m.text}"))
        self.page.on("pageerror", lambda exc: self.errors.append(str(exc)))

    def open(self):
        response = self.page.goto(self.url)
        self.page.wait_for_selector("#pc-question textarea")
        return response

    def foreign_requests(self) -> list[str]:
        """Requests to anything but the server itself (data: and blob: URLs are the page's own)."""
        return [u for u in self.requests if not (urlparse(u).scheme in ("data", "blob") or
                                                 (urlparse(u).hostname == "127.0.0.1" and u.startswith(self.url)))]

    def csp_violations(self) -> list[str]:
        return [m for m in self.console if "Content Security Policy" in m or "Content-Security-Policy" in m]

    def download(self, selector: str) -> str:
        with self.page.expect_download() as download:
            self.page.locator(selector).click()
        return Path(download.value.path()).read_text(encoding="utf-8")

    def copy_bibtex(self, card: str) -> str:
        button = self.page.locator(f"#pc-sources li#{card} button.pc-copy-bib")
        button.click()
        self.page.wait_for_function(f"document.querySelector('#pc-sources li#{card} button.pc-copy-bib')"
                                    ".innerText === 'Copied'")
        return self.page.evaluate("navigator.clipboard.readText()")


def ask(page, question: str) -> None:
    box = page.locator("#pc-question textarea")
    box.fill(question)
    box.press("Enter")


# Records every text the last chat message shows, to see the answer arrive in steps.
WATCH_CHAT = """() => {
  window.__chatStates = [];
  const chat = document.querySelector('#pc-chat');
  new MutationObserver(() => window.__chatStates.push(chat.innerText.slice(-400)))
    .observe(chat, {subtree: true, childList: true, characterData: true});
}"""


def visible_set(page) -> list[str]:
    """The answer numbers of the source sets the panel shows."""
    return page.evaluate("""() => [...document.querySelectorAll('#pc-sources .pc-set')]
        .filter(s => getComputedStyle(s).display !== 'none').map(s => s.dataset.answer)""")


@pytest.mark.browser
def test_browser_conversation(server, browser):
    from paperchat.ui.web import CSP

    ARTIFACTS.mkdir(exist_ok=True)
    watched = Watched(browser, server.url)
    page = watched.page
    response = watched.open()
    assert response.headers["content-security-policy"] == CSP

    header = page.locator("#pc-header").inner_text()
    for part in ("papers", "156 papers", "all-MiniLM-L6-v2", "offline extractive"):
        assert part in header
    examples = page.locator(".pc-example")
    page.wait_for_function("document.querySelectorAll('.pc-example').length > 0 && "
                           "document.querySelector('.pc-example').innerText.length > 5")
    assert QUESTION in [examples.nth(i).inner_text().strip() for i in range(examples.count())]

    # 1. a question: the answer streams in, its [n] link to its own sources, which list the title
    page.evaluate(WATCH_CHAT)
    ask(page, QUESTION)
    page.wait_for_selector('#pc-chat a.pc-cite[href="#src-1-1"]')
    page.wait_for_selector("#pc-sources li#src-1-1")
    states = page.evaluate("window.__chatStates")
    assert any("Searching the papers" in s for s in states), "no progress shown before the answer"
    cite = page.locator('#pc-chat a.pc-cite[href="#src-1-1"]').first
    cited_title = cite.get_attribute("title")
    sources = page.locator("#pc-sources").inner_text()
    assert "GaLore" in cited_title and cited_title in sources
    assert page.locator("#pc-sources .pc-quote").count() >= 1
    assert "score" in sources
    assert not re.search(r"\bt-[0-9a-f]{16}\b", sources)  # never an internal paper id
    cite.click()
    assert page.evaluate("location.hash") == "#src-1-1"
    assert page.locator("#pc-sources li#src-1-1").is_visible()

    # Copy BibTeX: the card's entry (generated: the bundled papers come from no .bib) reaches the clipboard
    copied = watched.copy_bibtex("src-1-1")
    entry = bibtexparser.parse_string(copied).entries[0]
    assert entry.entry_type == "misc" and entry.fields_dict["title"].value == cited_title

    # 2. a follow-up that says "it": resolved from the history, answered about the same paper
    ask(page, FOLLOW_UP)
    page.wait_for_function("document.querySelectorAll('#pc-chat .pc-refs').length >= 2")
    page.wait_for_selector('#pc-chat a.pc-cite[href="#src-2-1"]')
    page.wait_for_function("!location.hash.startsWith('#src-')")
    assert visible_set(page) == ["2"]  # the new answer's sources, though #src-1-1 was the last target
    last = page.locator("#pc-chat .pc-refs").last.inner_text()
    assert cited_title in last and cited_title in page.locator("#pc-sources").inner_text()
    page.get_by_text("How this answer was made").click()
    details = page.locator("#pc-details")
    details.wait_for(state="visible")
    assert "rewritten from the conversation" in details.inner_text()
    assert cited_title in page.locator("#pc-details .pc-query").inner_text()  # "it" was resolved
    assert re.search(r"Answer gate: confidence \d\.\d\d = evidence \d\.\d\d × detail \d\.\d\d "
                     r"\(answers at ≥ \d\.\d\d\) · passed", details.inner_text())
    page.screenshot(path=str(ARTIFACTS / "web-e2e.png"), full_page=True)

    # 3. the first answer's [1] still shows the first answer's own source
    page.locator('#pc-chat a.pc-cite[href="#src-1-1"]').first.click()
    assert page.evaluate("location.hash") == "#src-1-1"
    assert visible_set(page) == ["1"] and page.locator("#pc-sources li#src-1-1").is_visible()
    assert "Answer 1: “" + QUESTION in page.locator("#pc-sources").inner_text()
    page.locator("#pc-sources .pc-set[data-answer='1'] a.pc-back").click()
    assert visible_set(page) == ["2"]

    # 4. the exports, written on the click: Markdown with a reference list per answer, and the cited papers' .bib
    assert not list(server.gradio_tmp.rglob("paperchat-conversation.md"))  # nothing written before the click
    markdown = watched.download("#pc-export")
    assert f"## 1. {QUESTION}" in markdown and f"## 2. {FOLLOW_UP}" in markdown
    assert markdown.count("**References**") == 2 and f"- [1] {cited_title}" in markdown
    bib = bibtexparser.parse_string(watched.download("#pc-export-bib"))
    assert cited_title in [e.fields_dict["title"].value for e in bib.entries]
    assert len({e.key for e in bib.entries}) == len(bib.entries)  # each paper once, keys unique
    written = sorted(server.export_roots()[0].rglob("paperchat-*"), key=lambda p: p.name)
    assert [p.name for p in written] == ["paperchat-conversation.md", "paperchat-references.bib"]
    assert all(stat.S_IMODE(p.stat().st_mode) == 0o600 for p in written)
    session_folder = written[0].parent.parent

    # 5. a question the papers cannot answer: not an error, closest papers instead of sources
    ask(page, UNANSWERABLE)
    page.wait_for_selector("#pc-chat .pc-notfound")
    page.wait_for_selector("#pc-sources .pc-set.pc-latest .pc-panel-notfound")
    panel = page.locator("#pc-sources .pc-set.pc-latest").inner_text()
    assert "Closest papers" in panel and page.locator("#pc-sources .pc-latest li.pc-source").count() == 0
    assert "Not in the collection" in page.locator("#pc-chat .pc-notfound").inner_text()
    page.screenshot(path=str(ARTIFACTS / "web-e2e-notfound.png"), full_page=True)

    # 6. another browser session has its own, empty history
    other = Watched(browser, server.url)
    other.open()
    assert other.page.locator("#pc-chat .pc-refs").count() == 0
    other.context.close()

    # 7. a new conversation clears this one
    page.locator("#pc-new").click()
    page.wait_for_function("document.querySelectorAll('#pc-chat .pc-refs').length === 0")
    page.wait_for_function("document.querySelector('#pc-sources').innerText.includes('appear here')")

    # nothing fetched from anywhere but the server, no policy violation, no script error
    assert watched.foreign_requests() == []
    assert watched.csp_violations() == [], watched.console
    assert not watched.errors, watched.errors
    watched.context.close()  # the session ends: its exports go
    _wait_for(lambda: not session_folder.exists(), 30, "the session's export folder to be removed")
    assert re.search(r"INFO paperchat\.web: GET / 200 \d+ ms", server.log_text())  # the access log (-v)


@pytest.mark.browser
def test_browser_library_filters_and_original_bibtex(library_home, browser, tmp_path):
    before = set(Path("/tmp").glob("paperchat-export-*"))
    with serving(library_home, tmp_path) as served:
        watched = Watched(browser, served.url)
        page = watched.page
        watched.open()
        page.locator("#pc-settings").get_by_text("Settings", exact=True).click()
        page.locator("#pc-year-from textarea, #pc-year-from input").first.fill("2021")
        page.locator("#pc-year-to textarea, #pc-year-to input").first.fill("2021")
        ask(page, LORA_QUESTION)
        page.wait_for_selector("#pc-sources li#src-1-1")
        titles = page.locator("#pc-sources .pc-latest .pc-source-title").all_inner_texts()
        assert titles == [LORA]
        byline = page.locator("#pc-sources li#src-1-1 .pc-byline").inner_text()
        assert byline == "Edward J. Hu, Yelong Shen, Phillip Wallis et al. · 2021"
        link = page.locator("#pc-sources li#src-1-1 a.pc-link")
        assert link.get_attribute("href") == "https://doi.org/10.48550/arxiv.2106.09685"
        page.get_by_text("How this answer was made").click()
        assert "Filter: year 2021" in page.locator("#pc-details").inner_text()

        copied = watched.copy_bibtex("src-1-1")
        assert copied.startswith("@misc{hu_lora_2021,\n") and "file =" not in copied
        original = next(e for e in bibtexparser.parse_file(str(LIBRARY / "zotero.bib")).entries
                        if e.key == "hu_lora_2021")
        again = bibtexparser.parse_string(copied).entries[0]
        assert {f.key: f.value for f in again.fields} == {f.key: f.value for f in original.fields if f.key != "file"}

        markdown = watched.download("#pc-export")
        assert f"[{LORA}](https://doi.org/10.48550/arxiv.2106.09685)" in markdown
        keys = [e.key for e in bibtexparser.parse_string(watched.download("#pc-export-bib")).entries]
        assert keys == ["hu_lora_2021"]
        page.screenshot(path=str(ARTIFACTS / "web-e2e-library.png"), full_page=True)
        assert watched.foreign_requests() == [] and watched.csp_violations() == [] and not watched.errors
        watched.context.close()
        assert len(served.export_roots()) == 1
    assert served.export_roots() == []  # the server stopped: its exports are gone
    assert set(Path("/tmp").glob("paperchat-export-*")) == before


# ------------------------------------------------------------------------------------- Chroma server down


def _chroma_alive(port: int) -> bool:
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with opener.open(f"http://127.0.0.1:{port}/api/v2/heartbeat", timeout=1) as response:
            return "nanosecond heartbeat" in json.loads(response.read())
    except (urllib.error.URLError, OSError, ValueError):
        return False


class ChromaServer:
    """`chroma run` on a fixed loopback port and folder, to stop and start again."""

    def __init__(self, data: Path, port: int, log: Path):
        self.data, self.port, self.log = data, port, log
        self.proc: subprocess.Popen | None = None

    def start(self) -> None:
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen(
                [str(CHROMA), "run", "--path", str(self.data), "--port", str(self.port), "--host", "127.0.0.1"],
                stdout=out, stderr=subprocess.STDOUT, env=subprocess_env(), cwd=self.data.parent)
        _wait_for(lambda: _chroma_alive(self.port) or self.proc.poll() is not None, 30, "chroma run to start")
        if self.proc.poll() is not None:
            pytest.fail(f"chroma run exited with {self.proc.returncode}: {self.log.read_text(errors='replace')}")

    def stop(self) -> None:
        if self.proc is not None:
            stop_process(self.proc, 10)
            self.proc = None


@pytest.mark.browser
def test_chroma_server_down_is_a_banner_a_clear_api_error_and_it_recovers(real_embedder, browser, tmp_path,
                                                                           api_client):
    from paperchat.ingest.pipeline import ingest_paths
    from paperchat.rag.settings import ChromaSettings

    if not CHROMA.exists():
        pytest.skip(f"the `chroma` command is not installed beside the interpreter ({CHROMA})")
    chroma = ChromaServer(tmp_path / "chroma", free_port(), tmp_path / "chroma.log")
    home = tmp_path / "home"
    home.mkdir()
    env = {"PAPERCHAT_CHROMA__HOST": "127.0.0.1", "PAPERCHAT_CHROMA__PORT": str(chroma.port)}
    down = f"the Chroma server at 127.0.0.1:{chroma.port} does not answer"
    try:
        chroma.start()
        settings = make_settings(home, collection="papers", chroma=ChromaSettings(host="127.0.0.1", port=chroma.port))
        ingest_paths([LIBRARY / "zotero.bib"], settings, embedder=real_embedder)
        with serving(home, tmp_path, **env) as served:
            client = api_client(served.url)
            assert Answer.model_validate(client.predict(LORA_QUESTION, [], api_name="/ask")).status == "answered"
            watched = Watched(browser, served.url)
            page = watched.page
            watched.open()

            chroma.stop()  # the Chroma server goes away
            with pytest.raises(Exception, match=down):
                client.predict(LORA_QUESTION, [], api_name="/ask")
            ask(page, LORA_QUESTION)
            page.wait_for_selector("#pc-banner .pc-banner")
            banner = page.locator("#pc-banner").inner_text()
            assert "The paper store is not reachable." in banner and down in banner
            assert page.locator("#pc-chat .pc-refs").count() == 0
            assert page.locator("#pc-question textarea").input_value() == LORA_QUESTION  # kept to try again
            page.screenshot(path=str(ARTIFACTS / "web-e2e-store-down.png"), full_page=True)
            log = served.log_text()
            failures = [line for line in log.splitlines() if "WARNING paperchat.web" in line]
            assert len(failures) == 2 and all(down in line for line in failures), log  # one line per failure
            assert "Traceback" not in log

            chroma.start()  # it is back: answers resume without a restart
            again = Answer.model_validate(client.predict(LORA_QUESTION, [], api_name="/ask"))
            assert again.status == "answered" and LORA in [c.title for c in again.citations]
            ask(page, LORA_QUESTION)
            page.wait_for_selector("#pc-sources li#src-1-1")
            page.wait_for_selector("#pc-banner .pc-banner", state="hidden")
            assert watched.foreign_requests() == [] and watched.csp_violations() == [] and not watched.errors
            watched.context.close()
    finally:
        chroma.stop()


# ------------------------------------------------------------------------------------- serve's options


def test_an_empty_auth_is_an_error_not_a_server_without_login(tmp_path):
    empty_flag = run_cli(["--home", str(tmp_path / "home"), "serve", "--auth", ""], cwd=tmp_path)
    assert empty_flag.returncode == 1
    assert "--auth is empty (an unset variable?)" in empty_flag.stderr and "Traceback" not in empty_flag.stderr
    empty_env = run_cli(["--home", str(tmp_path / "home"), "serve"], cwd=tmp_path,
                        env=subprocess_env(PAPERCHAT_AUTH=""))
    assert empty_env.returncode == 1 and "PAPERCHAT_AUTH is empty" in empty_env.stderr


# ------------------------------------------------------------------------------------- LLM fallback, in process


def test_llm_answer_without_citations_falls_back_with_a_visible_notice(bundled_real):
    """A real OpenAI-protocol stream (local stub) that cites nothing: the UI clears it, says why,
    and shows the offline answer; a temperature from the settings reaches the endpoint."""
    from openai_stub import StubOpenAI
    from pydantic import SecretStr

    from paperchat.rag.assistant import Assistant
    from paperchat.ui import web

    settings, embedder = bundled_real
    uncited = "GaLore is a memory efficient training method that nobody should trust blindly."
    with StubOpenAI(default_reply=uncited) as stub:
        llm = settings.llm.model_copy(update={"base_url": stub.base_url, "api_key": SecretStr("test"),
                                                "model": "stub-model"})
        llm_settings = settings.model_copy(update={"llm": llm})
        app = web.WebApp(web.Service(llm_settings, Assistant(llm_settings, embedder=embedder)))
        steps = list(app.respond(QUESTION, [], {}, 10, "llm", 0.0))
        assert any(uncited.split()[0] in s[1][-1]["content"] and "pc-notice" not in s[1][-1]["content"]
                   for s in steps[1:-1])  # the LLM text was streamed...
        final_message = steps[-1][1][-1]["content"]
        assert "cited no evidence" in final_message and "pc-notice" in final_message  # ...then replaced
        assert uncited not in final_message and 'href="#src-1-1"' in final_message
        final = steps[-1][2][-1]
        assert final.mode == "extractive" and final.notice and final.citations

        list(app.respond(QUESTION, [], {}, 10, "llm", 0.7))
        assert stub.chat_requests[-1]["temperature"] == pytest.approx(0.7)
        app.close()
