"""The web UI end to end: `paperchat serve` on a free port over the bundled papers (real model),
driven by `gradio_client` (the /ask endpoint) and by a real headless Chromium (Playwright).

The browser is Debian's `chromium` package (`apt-get install chromium`); Playwright never downloads
one. Without it the browser test is skipped, saying so. Screenshots land in test-artifacts/.
"""

from __future__ import annotations

import shutil
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from conftest import PAPERCHAT, ROOT, free_port, stop_process, subprocess_env

from paperchat.rag.types import Answer

QUESTION = "How does GaLore reduce memory in LLM training?"
FOLLOW_UP = "What does it project the gradients onto?"
UNANSWERABLE = "What is the capital of Peru?"
ARTIFACTS = ROOT / "test-artifacts"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-background-networking",
                 "--disable-component-update", "--no-first-run", "--disable-sync", "--no-proxy-server"]
WAIT_MS = 90_000

pytestmark = pytest.mark.slow


def _http_ok(url: str) -> bool:
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # loopback, never a proxy
    try:
        with opener.open(url, timeout=3) as response:
            return response.status == 200
    except (urllib.error.URLError, OSError):
        return False


@pytest.fixture(scope="session")
def server(bundled_real, tmp_path_factory):
    """`paperchat --home HOME serve --port FREE` as a child process; yields its URL."""
    if not PAPERCHAT.exists():
        pytest.skip(f"the paperchat console script is not installed at {PAPERCHAT}")
    settings, _ = bundled_real
    port = free_port()
    log_path = tmp_path_factory.mktemp("serve") / "serve.log"
    env = subprocess_env(GRADIO_ANALYTICS_ENABLED="False")
    with open(log_path, "w", encoding="utf-8") as log:
        proc = subprocess.Popen([str(PAPERCHAT), "--home", str(settings.home), "serve", "--port", str(port)],
                                cwd=settings.home.parent, stdout=log, stderr=subprocess.STDOUT, env=env)
    url = f"http://127.0.0.1:{port}/"
    deadline = time.monotonic() + 180
    try:
        # ready when it answers HTTP and has said where it listens (loopback by default)
        while not (url in log_path.read_text() and _http_ok(url)):
            if proc.poll() is not None:
                pytest.fail(f"paperchat serve exited with {proc.returncode}:\n{log_path.read_text()}")
            if time.monotonic() > deadline:
                pytest.fail(f"paperchat serve did not answer on {url} in time:\n{log_path.read_text()}")
            time.sleep(0.5)
        yield url
    finally:
        stop_process(proc, 15)


# ------------------------------------------------------------------------------------- the /ask endpoint


def test_ask_endpoint_with_gradio_client(server):
    from gradio_client import Client

    client = Client(server, verbose=False)
    data = client.predict(QUESTION, [], api_name="/ask")
    answer = Answer.model_validate(data)
    assert answer.status == "answered" and answer.mode == "extractive"
    cited = answer.citations[0].title
    assert "GaLore" in cited
    assert "[1]" in answer.answer and answer.sources and answer.timings_ms["total_ms"] > 0

    history = [{"role": "user", "content": QUESTION},
               {"role": "assistant", "content": f"{answer.answer}\n\nReferences:\n[1] {cited}"}]
    follow = Answer.model_validate(client.predict(FOLLOW_UP, history, api_name="/ask"))
    assert follow.status == "answered" and cited in follow.standalone_question  # "it" was resolved
    assert cited in [c.title for c in follow.citations]

    missing = Answer.model_validate(client.predict(UNANSWERABLE, [], api_name="/ask"))
    assert missing.status == "not_found" and not missing.citations and missing.sources

    with pytest.raises(Exception, match="empty"):
        client.predict("   ", [], api_name="/ask")


# ------------------------------------------------------------------------------------- the browser


def chromium_executable() -> str | None:
    for name in ("chromium", "chromium-browser"):
        if found := shutil.which(name):
            return found
    return "/usr/bin/chromium" if Path("/usr/bin/chromium").exists() else None


@pytest.fixture(scope="module")
def browser():
    sync_api = pytest.importorskip("playwright.sync_api", reason="pip package playwright is not installed")
    executable = chromium_executable()
    if not executable:
        pytest.skip("no Chromium found (install Debian's `chromium` package: apt-get install -y chromium)")
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


def ask(page, question: str) -> None:
    box = page.locator("#pc-question textarea")
    box.fill(question)
    box.press("Enter")


def answered_count(page) -> int:
    """Assistant messages that carry a reference list (one per cited answer)."""
    return page.locator("#pc-chat .pc-refs").count()


# Records every text the last chat message shows, to see the answer arrive in steps.
WATCH_CHAT = """() => {
  window.__chatStates = [];
  const chat = document.querySelector('#pc-chat');
  new MutationObserver(() => window.__chatStates.push(chat.innerText.slice(-400)))
    .observe(chat, {subtree: true, childList: true, characterData: true});
}"""


@pytest.mark.browser
def test_browser_conversation(server, browser):
    ARTIFACTS.mkdir(exist_ok=True)
    context = browser.new_context(viewport={"width": 1400, "height": 1000}, accept_downloads=True)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.set_default_timeout(WAIT_MS)
    page.goto(server)
    page.wait_for_selector("#pc-question textarea")

    header = page.locator("#pc-header").inner_text()
    for part in ("papers", "156 papers", "all-MiniLM-L6-v2", "offline extractive"):
        assert part in header
    examples = page.locator(".pc-example")
    page.wait_for_function("document.querySelectorAll('.pc-example').length > 0 && "
                           "document.querySelector('.pc-example').innerText.length > 5")
    assert QUESTION in [examples.nth(i).inner_text().strip() for i in range(examples.count())]

    # 1. a question: the answer streams in, its [n] link to the sources panel, which lists the title
    page.evaluate(WATCH_CHAT)
    ask(page, QUESTION)
    page.wait_for_selector('#pc-chat a.pc-cite[href="#src-1"]')
    page.wait_for_selector("#pc-sources li#src-1")
    states = page.evaluate("window.__chatStates")
    assert any("Searching the papers" in s for s in states), "no progress shown before the answer"
    cite = page.locator("#pc-chat a.pc-cite").first
    cited_title = cite.get_attribute("title")
    sources = page.locator("#pc-sources").inner_text()
    assert "GaLore" in cited_title and cited_title in sources
    assert page.locator("#pc-sources .pc-quote").count() >= 1
    assert "score" in sources
    cite.click()
    assert page.evaluate("location.hash") == "#src-1"
    assert page.locator("#pc-sources li#src-1").is_visible()

    # 2. a follow-up that says "it": resolved from the history, answered about the same paper
    ask(page, FOLLOW_UP)
    page.wait_for_function("document.querySelectorAll('#pc-chat .pc-refs').length >= 2")
    page.wait_for_selector('#pc-chat a.pc-cite[href="#src-1"]')
    last = page.locator("#pc-chat .pc-refs").last.inner_text()
    assert cited_title in last and cited_title in page.locator("#pc-sources").inner_text()
    assert page.locator("#pc-chat .pc-cite-old").count() >= 1  # the first answer no longer links
    page.get_by_text("How this answer was made").click()
    details = page.locator("#pc-details")
    details.wait_for(state="visible")
    assert "rewritten from the conversation" in details.inner_text()
    assert cited_title in page.locator("#pc-details .pc-query").inner_text()  # "it" was resolved
    page.screenshot(path=str(ARTIFACTS / "web-e2e.png"), full_page=True)

    # 3. the export: the conversation as Markdown with a reference list per answer
    with page.expect_download() as download:
        page.locator("#pc-export").click()
    markdown = Path(download.value.path()).read_text(encoding="utf-8")
    assert f"## 1. {QUESTION}" in markdown and f"## 2. {FOLLOW_UP}" in markdown
    assert markdown.count("**References**") == 2 and f"- [1] {cited_title}" in markdown

    # 4. a question the papers cannot answer: not an error, closest papers instead of sources
    ask(page, UNANSWERABLE)
    page.wait_for_selector("#pc-chat .pc-notfound")
    page.wait_for_selector("#pc-sources .pc-panel-notfound")
    panel = page.locator("#pc-sources").inner_text()
    assert "Closest papers" in panel and page.locator("#pc-sources li#src-1").count() == 0
    assert "Not in the collection" in page.locator("#pc-chat .pc-notfound").inner_text()
    page.screenshot(path=str(ARTIFACTS / "web-e2e-notfound.png"), full_page=True)

    # 5. another browser session has its own, empty history
    other = context.browser.new_context().new_page()
    other.goto(server)
    other.wait_for_selector("#pc-question textarea")
    assert other.locator("#pc-chat .pc-refs").count() == 0
    other.context.close()

    # 6. a new conversation clears this one
    page.locator("#pc-new").click()
    page.wait_for_function("document.querySelectorAll('#pc-chat .pc-refs').length === 0")
    page.wait_for_function("document.querySelector('#pc-sources').innerText.includes('appear here')")
    assert not errors, errors
    context.close()


# ------------------------------------------------------------------------------------- LLM fallback, in process


def test_llm_answer_without_citations_falls_back_with_a_visible_notice(bundled_real):
    """A real OpenAI-protocol stream (local stub) that cites nothing: the UI clears it, says why,
    and shows the offline answer; a temperature from the settings reaches the endpoint."""
    from openai_stub import StubOpenAI

    from paperchat.rag.assistant import Assistant
    from paperchat.ui import web

    settings, embedder = bundled_real
    uncited = "GaLore is a memory efficient training method that nobody should trust blindly."
    with StubOpenAI(default_reply=uncited) as stub:
        llm = settings.llm.model_copy(update={"base_url": stub.base_url, "api_key": "test", "model": "stub-model"})
        llm_settings = settings.model_copy(update={"llm": llm})
        app = web.WebApp(web.Service(llm_settings, Assistant(llm_settings, embedder=embedder)))
        steps = list(app.respond(QUESTION, [], 10, "llm", 0.0))
        assert any(uncited.split()[0] in s[1][-1]["content"] and "pc-notice" not in s[1][-1]["content"]
                   for s in steps[1:-1])  # the LLM text was streamed...
        final_message = steps[-1][1][-1]["content"]
        assert "cited no evidence" in final_message and "pc-notice" in final_message  # ...then replaced
        assert uncited not in final_message and 'href="#src-1"' in final_message
        final = steps[-1][2][-1]
        assert final.mode == "extractive" and final.notice and final.citations

        list(app.respond(QUESTION, [], 10, "llm", 0.7))
        assert stub.chat_requests[-1]["temperature"] == pytest.approx(0.7)
