"""`paperchat ask` (text, --json, --jsonl -) and `paperchat chat` as subprocesses on the bundled papers."""

from __future__ import annotations

import json
import re

import pytest
from conftest import run_cli, subprocess_env
from openai_stub import StubOpenAI

from paperchat.rag.settings import PACKAGE_ROOT

GALORE = "GaLore: Memory-Efficient LLM Training by Gradient Low-Rank Projection"
GALORE_Q = "Which paper proposes Gradient Low-Rank Projection for memory-efficient LLM training?"
BATCHNORM = "Batch Normalization: Accelerating Deep Network Training by Reducing Internal Covariate Shift"
BATCHNORM_Q = ("What technique deals with the statistics of each layer's inputs drifting as the earlier layers "
               "update, so that deep nets tolerate much bigger step sizes and a less fussy choice of starting weights?")
ANSWER_FIELDS = {"question", "standalone_question", "answer", "status", "citations", "sources", "mode", "model",
                 "timings_ms"}
# A mix of the dev set: single-paper (paraphrased and keyword), multi-paper and unanswerable (both kinds).
BATCH_IDS = [f"single-{i:02d}" for i in (1, 2, 3, 5, 7, 9, 10, 11, 12, 13, 14, 15)] + \
            ["multi-01", "multi-04", "multi-07", "multi-08"] + ["unans-01", "unans-04", "unans-06", "unans-08"]


def dev_items() -> dict[str, dict]:
    lines = (PACKAGE_ROOT / "evals" / "datasets" / "dev.jsonl").read_text(encoding="utf-8").splitlines()
    return {item["id"]: item for item in map(json.loads, filter(None, lines))}


@pytest.fixture(scope="module")
def home(bundled_real):
    settings, _ = bundled_real
    return settings.home


def paperchat(home, *args: str, cwd, input: str | None = None):
    result = run_cli(["--home", str(home), *args], cwd=cwd, input=input)
    assert result.returncode == 0, result.stderr
    return result


def jsonl(lines: list[str]) -> str:
    return "\n".join(lines) + "\n"


@pytest.fixture(scope="module")
def plain_batchnorm(home, tmp_path_factory):
    return paperchat(home, "ask", BATCHNORM_Q, cwd=tmp_path_factory.mktemp("plain")).stdout


@pytest.mark.slow
def test_ask_json_prints_one_answer_object(home, tmp_path):
    out = paperchat(home, "ask", GALORE_Q, "--json", cwd=tmp_path).stdout

    data = json.loads(out)
    assert set(data) >= ANSWER_FIELDS
    assert (data["question"], data["status"], data["mode"]) == (GALORE_Q, "answered", "extractive")
    assert [c["title"] for c in data["citations"]] == [GALORE]
    assert {"n", "title", "paper_id", "url", "quote"} <= set(data["citations"][0])
    assert data["sources"][0]["title"] == GALORE and "score" in data["sources"][0]
    assert "[1]" in data["answer"]


@pytest.mark.slow
def test_ask_prints_the_answer_and_a_numbered_reference_list(plain_batchnorm):
    lines = plain_batchnorm.splitlines()

    assert "References:" in lines
    refs = " ".join(lines[lines.index("References:") + 1:])
    assert refs.startswith("[1] ")
    assert " ".join(BATCHNORM.split()) in " ".join(refs.split())
    assert "[1]" in " ".join(lines[: lines.index("References:")])


@pytest.mark.slow
def test_ask_prints_each_reference_on_one_line(plain_batchnorm):
    assert f"[1] {BATCHNORM}" in plain_batchnorm.splitlines()


@pytest.mark.slow
def test_ask_jsonl_answers_in_order_with_ids_and_an_error_for_a_bad_line(home, tmp_path):
    history_answer = f"**{GALORE}**: In this work, we propose GaLore. [1]\n\nReferences:\n[1] {GALORE}"
    lines = [
        json.dumps({"id": "q-a", "question": GALORE_Q}),
        '{"id": "q-bad", "question": ',
        json.dumps({"id": 7, "question": "What does it add over LoRA?",
                    "history": [{"role": "user", "content": GALORE_Q},
                                {"role": "assistant", "content": history_answer}]}),
        json.dumps({"id": "q-noquestion", "history": []}),
    ]

    out = paperchat(home, "ask", "--jsonl", "-", cwd=tmp_path, input=jsonl(lines)).stdout

    rows = [json.loads(line) for line in out.splitlines()]
    assert [r["id"] for r in rows] == ["q-a", 2, 7, "q-noquestion"]
    assert set(rows[0]) >= ANSWER_FIELDS and [c["title"] for c in rows[0]["citations"]] == [GALORE]
    assert set(rows[1]) == {"id", "error"} and "line 2" in rows[1]["error"]
    assert GALORE in rows[2]["standalone_question"] and [c["title"] for c in rows[2]["citations"]] == [GALORE]
    assert set(rows[3]) == {"id", "error"}


@pytest.mark.slow
def test_ask_jsonl_batch_of_dev_questions_is_correct(home, tmp_path):
    items = dev_items()
    batch = [items[i] for i in BATCH_IDS]

    out = paperchat(home, "ask", "--jsonl", "-", cwd=tmp_path,
                    input=jsonl([json.dumps({"id": it["id"], "question": it["question"]}) for it in batch])).stdout

    rows = [json.loads(line) for line in out.splitlines()]
    assert [r["id"] for r in rows] == BATCH_IDS
    assert all("error" not in r for r in rows)
    answerable = [(it, r) for it, r in zip(batch, rows) if it["gold_titles"]]
    unanswerable = [(it, r) for it, r in zip(batch, rows) if not it["gold_titles"]]
    gold_in_top5 = sum(bool(set(it["gold_titles"]) & {s["title"] for s in r["sources"][:5]}) for it, r in answerable)
    answered = sum(r["status"] == "answered" and bool(set(it["gold_titles"]) & {c["title"] for c in r["citations"]})
                   for it, r in answerable)
    cited = [(c["title"], it["gold_titles"]) for it, r in answerable for c in r["citations"]]
    off_topic = [(it, r) for it, r in unanswerable if it.get("subtype") == "off_topic"]
    refused = sum(r["status"] == "not_found" and r["citations"] == [] for _, r in off_topic)
    assert gold_in_top5 / len(answerable) >= 0.95
    # at most two of 16 missed: single-01, a paraphrase sharing almost no words with its paper, is refused at
    # confidence 0.196 against the operating point 0.21 (the xfail in test_answer_offline); `paperchat eval`
    # measures false refusal on the whole set (dev 0.037)
    assert answered / len(answerable) >= 0.85
    assert sum(title in gold for title, gold in cited) / len(cited) >= 0.85
    # questions about things the collection does not contain are refused, and so are these four about details
    # a present paper's abstract does not state (GaLore's learning rate, Chinchilla's batch size)
    assert off_topic and refused == len(off_topic)
    assert all(r["status"] == "not_found" and r["citations"] == [] for _, r in unanswerable)
    for row in rows:
        assert row["mode"] == "extractive"
        assert (row["status"] == "answered") == bool(row["citations"])


@pytest.mark.slow
def test_chat_keeps_the_conversation_and_says_when_the_papers_do_not_answer(home, tmp_path):
    questions = [GALORE_Q, "What does it add over LoRA?", "How long should sourdough bread dough ferment?", "exit"]

    out = paperchat(home, "chat", cwd=tmp_path, input=jsonl(questions)).stdout

    assert out.count("References:") == 2
    assert out.count(f"[1] {GALORE}") == 2, "the follow-up's 'it' must find GaLore again"
    assert "collection does not say" in out.lower()
    tail = out.split("Closest papers (not cited):")[1]
    assert "References:" not in tail and "\n- " in tail


@pytest.mark.slow
def test_llm_chat_streams_markers_numbered_like_its_reference_list(home, tmp_path):
    """In LLM mode the chat prints the streamed text, then the references: the [n] in the text must point at
    the reference with that number, although the LLM numbered by passage ([2] before [1])."""

    with StubOpenAI() as stub:
        stub.queue("GaLore projects gradients to a low rank [2]. It keeps full-parameter learning [1].")
        env = subprocess_env(PAPERCHAT_LLM__BASE_URL=stub.base_url, PAPERCHAT_LLM__MODEL="stub-model",
                             PAPERCHAT_LLM__API_KEY="test")
        done = run_cli(["--home", str(home), "chat"], cwd=tmp_path, input=f"{GALORE_Q}\nexit\n", env=env)
        prompt = stub.chat_requests[-1]["messages"][-1]["content"]
        shown = {int(n): title for n, title in re.findall(r'<passage n="(\d+)" title="([^"]*)">', prompt)}
    assert done.returncode == 0, done.stderr
    text, _, refs = done.stdout.partition("References:")
    assert "projects gradients to a low rank [1]. It keeps full-parameter learning [2]." in text
    references = dict(re.findall(r"^\[(\d+)\] (.+?)(?: <[^>]*>)?$", refs, re.M))
    assert (references["1"], references["2"]) == (shown[2], shown[1])
