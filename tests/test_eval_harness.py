"""The eval harness on a fixed eval of the bundled papers: known inputs, exactly known metric values.

Two runs of evals/datasets/fixed.jsonl:

* with a scripted assistant whose answers are built by hand, so every metric, problem and
  aggregate has a value computed here by hand;
* with the real Assistant (extractive mode) over the bundled papers embedded by a deterministic
  fake embedder: the numbers depend on the product, so the test checks that the harness recorded
  and aggregated them consistently, not how good they are.

Also: dataset loading and its errors, new cases from conversations, compare, and the CLI.
"""

from __future__ import annotations

import json
import math
import os
import re

import pytest
from conftest import FakeEmbeddings, make_settings, run_cli, write_jsonl
from pydantic import SecretStr
from typer.testing import CliRunner

from paperchat.evals import metrics as M
from paperchat.evals.compare import compare, load_run
from paperchat.evals.dataset import (
    DEV_SET,
    FIXED_SET,
    TEST_SET,
    TYPES,
    DatasetError,
    append_case,
    case_from_conversation,
    cited_titles_in,
    load_dataset,
    read_conversation,
)
from paperchat.evals.runner import CollectionView, aggregate, dataset_notes, run_eval
from paperchat.rag.settings import BUNDLED_PAPERS, LLMSettings
from paperchat.rag.text import split_sentences
from paperchat.rag.types import Answer, Citation, Source

MEGASCALE = "MegaScale: Scaling Large Language Model Training to More Than 10,000 GPUs"
LIGER = "Liger Kernel: Efficient Triton Kernels for LLM Training"
PERSEUS = "Perseus: Removing Energy Bloat from Large Model Training"
ZEUS = "Zeus: Understanding and Optimizing GPU Energy Consumption of DNN Training"
GALORE = "GaLore: Memory-Efficient LLM Training by Gradient Low-Rank Projection"
INT4 = "Training Transformers with 4-bit Integers"
UNICRON = "Unicron: Economizing Self-Healing LLM Training at Scale"
FILLERS = ["Training Compute-Optimal Large Language Models", "Training Verifiers to Solve Math Word Problems",
           "Large Batch Training of Convolutional Networks", "Training Keyword Spotters with Limited and "
           "Synthesized Speech Data", "Batch Normalization: Accelerating Deep Network Training by Reducing "
           "Internal Covariate Shift"]


def HashEmbeddings() -> FakeEmbeddings:  # noqa: N802 - reads like the class it was
    """Bag of words in 256 hashed buckets, the embedder this module's exact numbers were computed with."""
    return FakeEmbeddings("hash", 256, "test-hash-bow-256")


@pytest.fixture(scope="module")
def bundled(tmp_path_factory):
    """The bundled papers in a collection embedded by HashEmbeddings: (settings, embedder, title -> id)."""
    from paperchat.ingest.pipeline import ingest_paths

    home = tmp_path_factory.mktemp("eval-harness") / "home"
    with pytest.MonkeyPatch.context() as mp:
        for name in list(os.environ):
            if name.upper().startswith(("PAPERCHAT_", "OPENAI_")):
                mp.delenv(name, raising=False)
        mp.chdir(home.parent)
        settings = make_settings(home, collection="papers")
        embedder = HashEmbeddings()
        ingest_paths([BUNDLED_PAPERS], settings, embedder=embedder)
        from paperchat.rag.retrieval import Retriever

        view = CollectionView(Retriever(settings, embedder).store)
    return settings, embedder, {t: pid for pid, t in view.papers.items()}, view


# ------------------------------------------------------------------------------------ scripted answers


class Scripted:
    """Stands in for the Assistant: canned answers per question, the real retriever of the collection."""

    default_mode = "extractive"

    def __init__(self, settings, embedder, answers: dict[str, Answer]):
        from paperchat.rag.retrieval import Retriever

        self.settings = settings
        self.retriever = Retriever(settings, embedder)
        self.answers = answers
        self.calls: list[tuple[str, list, str | None]] = []

    def ask(self, question, history=None, *, mode=None, k=None):
        self.calls.append((question, list(history or []), mode))
        return self.answers[question]


def _sentence(view: CollectionView, ids: dict, title: str, containing: str) -> str:
    return next(s for s in split_sentences(view.passage(ids[title])) if containing in s)


def _answer(question, text, cited, sources, ids, status="answered") -> Answer:
    return Answer(question=question, standalone_question=question, answer=text, status=status,
                  citations=[Citation(n=i, title=t, paper_id=ids[t]) for i, t in enumerate(cited, 1)],
                  sources=[Source(title=t, paper_id=ids[t], score=1.0 / r) for r, t in enumerate(sources, 1)],
                  mode="extractive", model="scripted")


def scripted_answers(view, ids, *, improved: bool = False) -> dict[str, Answer]:
    """Hand-built answers for fixed.jsonl (see the expected values in test_scripted_run_exact_metrics).
    `improved`: the follow-up is answered well, and single-02 also cites a wrong paper."""
    items = {i.id: i for i in load_dataset(FIXED_SET)}
    q = {k: v.questions[-1] for k, v in items.items()}
    mega = _sentence(view, ids, MEGASCALE, "55.2%")
    mega_clause = mega.split(", improving")[0] + "."
    liger = _sentence(view, ids, LIGER, "20% increase")
    perseus = _sentence(view, ids, PERSEUS, "up to 30%")
    galore = _sentence(view, ids, GALORE, "65.5%")
    int4 = _sentence(view, ids, INT4, "INT4 arithmetic")
    int4_speed = _sentence(view, ids, INT4, "2.2 times faster")
    answers = {
        # single-01: gold at rank 2; cites gold + Unicron; 2 of 3 points; 1 of 2 sentences supported.
        q["single-01"]: _answer(q["single-01"], f"**{MEGASCALE}**: {mega_clause} [1] Qwxz vbnm plkj. [2]",
                                [MEGASCALE, UNICRON], [UNICRON, MEGASCALE, *FILLERS], ids),
        # single-02: perfect.
        q["single-02"]: _answer(q["single-02"], f"**{LIGER}**: {liger} [1]", [LIGER], [LIGER, *FILLERS], ids),
        # multi-01: Zeus only at rank 6 and not cited; 1 of 2 points.
        q["multi-01"]: _answer(q["multi-01"], f"- **{PERSEUS}**: {perseus} [1]", [PERSEUS],
                               [PERSEUS, *FILLERS[:4], ZEUS], ids),
        # unans-01: refused (correct).
        q["unans-01"]: _answer(q["unans-01"], "Not in the collection.", [], FILLERS, ids, "not_found"),
        # unans-02: answered (wrong), citing GaLore.
        q["unans-02"]: _answer(q["unans-02"], f"**{GALORE}**: {galore} [1]", [GALORE], [GALORE, *FILLERS], ids),
        # followup-01 turn 1: answered; turn 2: refused, gold at rank 6.
        items["followup-01"].questions[0]: _answer(items["followup-01"].questions[0], f"**{INT4}**: {int4} [1]",
                                                   [INT4], [INT4, *FILLERS], ids),
        q["followup-01"]: _answer(q["followup-01"], "Not in the collection.", [], [*FILLERS, INT4], ids,
                                  "not_found"),
    }
    if improved:
        answers[q["followup-01"]] = _answer(q["followup-01"], f"**{INT4}**: {int4_speed} [1]", [INT4],
                                            [INT4, *FILLERS], ids)
        answers[q["single-02"]] = _answer(q["single-02"], f"**{LIGER}**: {liger} [1] {galore} [2]",
                                          [LIGER, GALORE], [LIGER, *FILLERS], ids)
    return answers


@pytest.fixture
def scripted_run(bundled, tmp_path):
    settings, embedder, ids, view = bundled
    assistant = Scripted(settings, embedder, scripted_answers(view, ids))
    progress = []
    result = run_eval(FIXED_SET, settings, "extractive", tmp_path / "runs", assistant=assistant,
                      progress=lambda *a: progress.append(a))
    return result, assistant, progress


def test_scripted_run_exact_metrics(scripted_run):
    result, _, progress = scripted_run
    by_id = {r["id"]: r for r in result.items}
    assert list(by_id) == ["single-01", "single-02", "multi-01", "unans-01", "unans-02", "followup-01"]
    assert progress == [(i, n, 6) for n, i in enumerate(by_id, 1)]
    ndcg_rank2 = 1 / math.log2(3)
    expected = {
        "single-01": {"hit@1": 0.0, "hit@3": 1.0, "hit@5": 1.0, "recall@5": 1.0, "mrr": 0.5, "ndcg@10": ndcg_rank2,
                      "citation_precision": 0.5, "citation_recall": 1.0, "correct_status": 1.0,
                      "point_coverage": 2 / 3, "groundedness": 0.5},
        "single-02": {"hit@1": 1.0, "hit@3": 1.0, "hit@5": 1.0, "recall@5": 1.0, "mrr": 1.0, "ndcg@10": 1.0,
                      "citation_precision": 1.0, "citation_recall": 1.0, "correct_status": 1.0,
                      "point_coverage": 1.0, "groundedness": 1.0},
        "multi-01": {"hit@1": 1.0, "hit@3": 1.0, "hit@5": 1.0, "recall@5": 0.5, "mrr": 1.0,
                     "ndcg@10": (1 + 1 / math.log2(7)) / (1 + 1 / math.log2(3)),
                     "citation_precision": 1.0, "citation_recall": 0.5, "correct_status": 1.0,
                     "point_coverage": 0.5, "groundedness": 1.0},
        "unans-01": {"hit@1": None, "hit@5": None, "ndcg@10": None, "citation_precision": None,
                     "citation_recall": None, "correct_status": 1.0, "point_coverage": None, "groundedness": None},
        "unans-02": {"hit@5": None, "citation_precision": None, "correct_status": 0.0, "point_coverage": None,
                     "groundedness": 1.0},
        "followup-01": {"hit@1": 0.0, "hit@3": 0.0, "hit@5": 0.0, "recall@5": 0.0, "mrr": 1 / 6,
                        "ndcg@10": 1 / math.log2(7), "citation_precision": None, "citation_recall": 0.0,
                        "correct_status": 0.0, "point_coverage": 0.0, "groundedness": None},
    }
    for item_id, values in expected.items():
        got = by_id[item_id]["metrics"]
        for metric, value in values.items():
            assert got[metric] == (None if value is None else pytest.approx(value)), (item_id, metric)
    assert [p["method"] for r in result.items for p in r["points"]] == ["exact"] * 7 + ["refused"] * 2

    unsupported = by_id["single-01"]["problems"][-1]
    assert re.fullmatch(r"unsupported sentence \(0\.\d\d\): Qwxz vbnm plkj\.", unsupported)
    assert by_id["single-01"]["problems"][:-1] == [f'cited non-gold paper "{UNICRON}"', "missing answer point '1.34x'"]
    assert by_id["multi-01"]["problems"] == [f"gold paper not retrieved (not in top-5 sources): {ZEUS}",
                                             f"gold paper not cited: {ZEUS}", "missing answer point '15.3%-75.8%'"]
    assert by_id["unans-02"]["problems"] == [f'answered an unanswerable question, citing "{GALORE}"']
    assert by_id["followup-01"]["problems"] == [f"gold paper not retrieved (not in top-5 sources): {INT4}",
                                                "refused an answerable question"]
    assert [r["id"] for r in result.items if r["passed"]] == ["single-02", "unans-01"]


def test_scripted_run_exact_aggregates(scripted_run):
    result, _, _ = scripted_run
    s = result.summary
    head = {h["key"]: h["value"] for h in s["headline"]}
    assert head["gold_top5"] == pytest.approx(3 / 4)  # single-01, single-02, multi-01 of 4 answerable
    assert head["citation_precision"] == pytest.approx((0.5 + 1 + 1) / 3)  # followup cited nothing: None
    assert head["citation_recall"] == pytest.approx((1 + 1 + 0.5 + 0) / 4)
    assert head["not_found_rate"] == pytest.approx(1 / 2)
    assert head["false_refusal_rate"] == pytest.approx(1 / 4)
    assert head["followup_gold_top5"] == 0.0
    assert head["point_coverage"] == pytest.approx((2 / 3 + 1 + 0.5 + 0) / 4)
    assert head["groundedness"] == pytest.approx((0.5 + 1 + 1 + 1) / 4)
    assert head["latency_p50_ms"] is not None and head["latency_p95_ms"] >= head["latency_p50_ms"]
    oks = {h["key"]: h["ok"] for h in s["headline"]}
    assert oks["gold_top5"] is False and oks["citation_recall"] is False and oks["not_found_rate"] is False
    assert oks["ask_coverage"] is None  # no target, and no multi-part item here
    assert s["items"] == 6 and s["passed"] == 2
    assert s["failed"] == ["single-01", "multi-01", "unans-02", "followup-01"]
    assert s["overall"]["correct_status"] == pytest.approx(4 / 6)
    assert s["overall"]["mrr"] == pytest.approx((0.5 + 1 + 1 + 1 / 6) / 4)
    single = s["per_type"]["single"]
    assert (single["n"], single["passed"]) == (2, 1)
    assert single["hit@1"] == 0.5 and single["mrr"] == 0.75 and single["point_coverage"] == pytest.approx(5 / 6)
    unans = s["per_type"]["unanswerable"]
    assert unans["correct_status"] == 0.5 and unans["hit@5"] is None
    assert s["refusal"] == {"refusal_rate": 0.5, "false_refusal_rate": 0.25, "answer_rate": 0.75,
                            "n_unanswerable": 2, "n_answerable": 4}


def test_followup_feeds_the_first_turn_as_history(scripted_run, bundled):
    _, assistant, _ = scripted_run
    turn1, turn2 = [c for c in assistant.calls if c[0].startswith(("Which paper trains", "How much faster"))]
    assert turn1[1] == [] and turn1[2] == "extractive"
    user, bot = turn2[1]
    assert user == {"role": "user", "content": turn1[0]}
    assert bot["role"] == "assistant" and bot["content"].endswith(f"\n\nReferences:\n[1] {INT4}")
    item = next(r for r in scripted_run[0].items if r["id"] == "followup-01")
    assert item["earlier_turns"][0]["cited"] == [INT4] and item["question"] == "How much faster is it than FP16?"


def test_aggregate_latency_by_hand():
    def record(ms, kind="single"):
        return {"type": kind, "status": "answered", "passed": True, "latency_ms": ms,
                "metrics": {"hit@5": 1.0, "latency_ms": ms}}

    summary = aggregate([record(100.0), record(200.0), record(300.0), record(400.0, "multi"), record(1000.0)])
    # sorted 100 200 300 400 1000: p50 = 300; p95 at h = 4 * 0.95 = 3.8 -> 400 + 0.8 * 600 = 880
    assert summary["latency_ms"]["p50"] == 300.0
    assert summary["latency_ms"]["p95"] == pytest.approx(880.0)
    assert summary["latency_ms"]["mean"] == 400.0
    assert summary["per_type"]["single"]["latency_p50_ms"] == 250.0
    head = {h["key"]: h for h in summary["headline"]}
    assert head["latency_p50_ms"]["ok"] is False and head["latency_p50_ms"]["target"] == 150.0  # 300 > 150


def test_run_folder_files(scripted_run):
    result, _, _ = scripted_run
    folder = result.folder
    assert re.fullmatch(r"\d{8}-\d{6}-extractive", folder.name)
    assert {p.name for p in folder.iterdir()} == {"results.json", "report.md", "report.png", "fingerprint.json"}
    assert (folder / "report.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    saved = json.loads((folder / "results.json").read_text())
    assert saved["summary"] == json.loads(json.dumps(result.summary))
    item = saved["items"][0]
    for key in ("id", "type", "questions", "question", "answer", "status", "citations", "sources", "metrics",
                "problems", "passed", "grounding", "points", "latency_ms", "gold_titles"):
        assert key in item, key
    assert item["citations"][1]["title"] == UNICRON and item["sources"][1]["title"] == MEGASCALE
    report = (folder / "report.md").read_text()
    head = report.index("## Headline")
    assert head < report.index("gold paper in top-5 sources (answerable) | 0.750 | ≥ 0.98 | ✗")
    assert report.index("answerable refused (false refusal) | 0.250 | ≤ 0.05 | ✗") < report.index("## Overall") \
        < report.index("## Per type")
    assert "| single | 2 | 1 |" in report and "## Failed items (4)" in report
    assert "- **refused an answerable question**" in report
    assert "LLM-judge metrics (faithfulness, answer relevance, correctness) skipped" in report
    assert f"paperchat --home {result.fingerprint['settings']['home']} eval --dataset" in report


def test_fingerprint(bundled, scripted_run):
    settings = bundled[0]
    fp = scripted_run[0].fingerprint
    assert re.fullmatch(r"[0-9a-f]{64}", fp["sha256"])
    assert fp["settings"]["collection"] == "papers" and fp["mode"] == "extractive"
    assert fp["embedder"] == "test-hash-bow-256" and fp["collection"]["papers"] == 156
    assert fp["dataset"]["items"] == 6 and fp["thresholds"]["groundedness"] > 0
    assert fp["git"] is None or re.fullmatch(r"[0-9a-f]{40}", fp["git"]["commit"])
    # secrets are redacted and do not change the sha; the data directory does not either
    secret = settings.model_copy(update={"llm": LLMSettings(api_key="fake-secret-1", base_url="http://u:pw@h/v1"),
                                         "openai_api_key": SecretStr("fake-2")})
    other = settings.model_copy(update={"llm": LLMSettings(api_key="fake-secret-3", base_url="http://u:pw@h/v1"),
                                        "openai_api_key": SecretStr("fake-4")})
    assert "fake-" not in json.dumps(secret.fingerprint) and "pw@" not in json.dumps(secret.fingerprint)
    assert secret.fingerprint["sha256"] == other.fingerprint["sha256"]
    # only secrets are hidden (not e.g. llm.context_tokens), and the embedding model is the one in use
    assert secret.fingerprint["settings"]["llm"]["context_tokens"] == settings.llm.context_tokens
    assert secret.fingerprint["settings"]["embedding"]["model"] == "all-MiniLM-L6-v2-onnx-int8"
    moved = settings.model_copy(update={"home": settings.home / "elsewhere"})
    assert moved.fingerprint["sha256"] == settings.fingerprint["sha256"]
    changed = settings.model_copy(update={"collection": "other"})
    assert changed.fingerprint["sha256"] != settings.fingerprint["sha256"]


def test_compare_finds_deltas_and_flips(bundled, scripted_run, tmp_path):
    settings, embedder, ids, view = bundled
    first = scripted_run[0]
    second = run_eval(FIXED_SET, settings, "extractive", tmp_path / "runs",
                      assistant=Scripted(settings, embedder, scripted_answers(view, ids, improved=True)))
    assert second.folder != first.folder
    c = compare(load_run(first.folder), load_run(second.folder / "results.json"))
    assert [i for i, _ in c.pass_to_fail] == ["single-02"]
    assert c.pass_to_fail[0][1] == [f'cited non-gold paper "{GALORE}"']
    assert [i for i, _ in c.fail_to_pass] == ["followup-01"]
    deltas = {d.key: d for d in c.headline}
    assert deltas["false_refusal_rate"].delta == pytest.approx(-0.25)
    assert deltas["followup_gold_top5"].delta == pytest.approx(1.0)
    assert deltas["citation_precision"].b == pytest.approx((0.5 + 0.5 + 1 + 1) / 4)
    assert c.same_dataset and c.settings_changed == []

    out = CliRunner().invoke(_app(), ["eval", "compare", str(first.folder), str(second.folder)])
    assert out.exit_code == 0, out.output
    assert "pass -> fail (1):" in out.output and "single-02" in out.output
    assert "fail -> pass (1):" in out.output and "followup-01" in out.output
    as_json = CliRunner().invoke(_app(), ["eval", "compare", "--json", str(first.folder), str(second.folder)])
    data = json.loads(as_json.output)
    assert data["fail_to_pass"][0][0] == "followup-01"
    assert next(h for h in data["headline"] if h["key"] == "false_refusal_rate")["delta"] == pytest.approx(-0.25)


def test_compare_rejects_a_folder_without_results(tmp_path):
    from paperchat.rag.errors import PaperchatError

    with pytest.raises(PaperchatError, match="no such run"):
        load_run(tmp_path)


# ------------------------------------------------------------------------------------ the real assistant


def test_fixed_eval_with_the_real_assistant(bundled, tmp_path):
    """Extractive mode over the fake-embedded bundled papers: every recorded metric must follow from the
    recorded answer, and the aggregates from the items."""
    from paperchat.rag.assistant import Assistant

    settings, embedder, _, _ = bundled
    result = run_eval(FIXED_SET, settings, None, tmp_path / "runs", assistant=Assistant(settings, embedder))
    assert result.fingerprint["mode"] == "extractive"
    assert len(result.items) == 6 and all(r["status"] in ("answered", "not_found") for r in result.items)
    for r in result.items:
        m = r["metrics"]
        ranked = [M.norm_title(s["title"]) for s in r["sources"]]
        gold = {M.norm_title(t) for t in r["gold_titles"]}
        if r["type"] == "unanswerable":
            assert m["hit@5"] is None and m["citation_precision"] is None
            assert m["correct_status"] == (1.0 if r["status"] == "not_found" else 0.0)
            assert ("answered an unanswerable question" in " ".join(r["problems"])) == (r["status"] == "answered")
            continue
        assert m["hit@5"] == M.hit_at_k(ranked, gold, 5) and m["mrr"] == M.reciprocal_rank(ranked, gold)
        cited = [c["title"] for c in r["citations"]] if r["status"] == "answered" else []
        assert (m["citation_precision"], m["citation_recall"]) == M.citation_precision_recall(cited, gold)
        assert m["point_coverage"] == sum(p["covered"] for p in r["points"]) / len(r["points"])
        if r["status"] == "answered":
            assert r["grounding"] and m["groundedness"] == sum(g["supported"] for g in r["grounding"]) / len(
                r["grounding"])
            assert all(g["score"] is not None for g in r["grounding"])  # every offline sentence cites
        assert ("refused an answerable question" in r["problems"]) == (r["status"] == "not_found")
        assert r["passed"] == (not r["problems"])
        assert r["latency_ms"] > 0 and r["timings_ms"]["total_ms"] > 0
    follow = next(r for r in result.items if r["type"] == "followup")
    assert len(follow["earlier_turns"]) == 1
    head = {h["key"]: h["value"] for h in result.summary["headline"]}
    answerable = [r for r in result.items if r["type"] != "unanswerable"]
    assert head["gold_top5"] == pytest.approx(sum(r["metrics"]["hit@5"] for r in answerable) / 4)
    assert result.summary["passed"] == sum(r["passed"] for r in result.items)
    assert (result.folder / "report.png").exists()


def test_dev_set_titles_are_in_the_bundled_collection(bundled):
    assert bundled[3].missing_titles(load_dataset(DEV_SET)) == []


def test_an_empty_collection_says_how_to_ingest(tmp_path):
    result = run_cli(["--home", str(tmp_path / "empty"), "eval", "--dataset", str(FIXED_SET)], cwd=tmp_path)
    assert result.returncode == 1
    message = " ".join(result.stderr.split())
    assert "collection 'papers' is empty" in message and "`paperchat ingest`" in message
    assert not (tmp_path / "runs").exists()


def test_a_collection_without_the_dataset_papers_is_refused(bundled, tmp_path):
    settings, embedder, ids, _ = bundled
    dataset = write_jsonl(tmp_path / "other.jsonl", [
        {"id": "single-01", "type": "single", "question": "q?", "gold_titles": ["A paper we do not have"],
         "answer_points": []}])
    from paperchat.rag.errors import PaperchatError

    with pytest.raises(PaperchatError, match="does not hold the papers"):
        run_eval(dataset, settings, "extractive", tmp_path / "runs", assistant=Scripted(settings, embedder, {}))


def test_llm_mode_without_an_endpoint_is_an_error(bundled, tmp_path):
    from paperchat.rag.errors import PaperchatError

    settings, embedder, _, _ = bundled
    with pytest.raises(PaperchatError, match="--mode llm needs"):
        run_eval(FIXED_SET, settings, "llm", tmp_path / "runs", assistant=Scripted(settings, embedder, {}))


def _app():
    from paperchat.ui.cli import app

    return app


def test_cli_eval_prints_tables_and_summary(bundled, tmp_path, monkeypatch):
    import paperchat.rag.assistant

    settings, embedder, _, _ = bundled
    real = paperchat.rag.assistant.Assistant
    monkeypatch.setattr(paperchat.rag.assistant, "Assistant", lambda s: real(s, embedder))
    out = CliRunner().invoke(_app(), ["--home", str(settings.home), "eval", "--dataset", str(FIXED_SET),
                                      "--mode", "extractive", "--out", str(tmp_path / "runs")],
                             env={"COLUMNS": "160"})
    assert out.exit_code == 0, out.output
    for text in ("single", "multi", "unanswerable", "followup", "gold@5", "summary",
                 "gold paper in top-5 sources (answerable)", "latency p95 (ms)", "LLM-judge metrics",
                 "run folder:"):
        assert text in out.output, text
    assert len(list((tmp_path / "runs").iterdir())) == 1


def test_cli_eval_rejects_an_unknown_mode(tmp_path):
    out = CliRunner().invoke(_app(), ["--home", str(tmp_path), "eval", "--mode", "fast"])
    assert out.exit_code != 0


# ------------------------------------------------------------------------------------ datasets


def test_shipped_datasets_load():
    dev, test, fixed = load_dataset(DEV_SET), load_dataset(TEST_SET), load_dataset(FIXED_SET)
    assert (len(dev), len(test), len(fixed)) == (148, 157, 6)
    follow = next(i for i in dev if i.type == "followup")
    assert len(follow.questions) == 2 and follow.gold_titles == follow.turns[-1].gold_titles
    part = next(i for i in test if i.type == "multi_part")
    assert len(part.asks) == 2 and {t for a in part.asks for t in a.gold_titles} == set(part.gold_titles)
    assert {i.type for i in dev + test} == set(TYPES)
    assert not {i.id for i in dev} & {i.id for i in test}


def test_dataset_keeps_unknown_fields_and_types(tmp_path):
    path = tmp_path / "curated.jsonl"
    path.write_text('{"id": "a-1", "type": "single", "question": "q", "gold_titles": ["T"], "difficulty": "hard", '
                    '"curator": "ana", "gold_title": []}\n'
                    '{"id": "b-1", "type": "definition", "question": "What is X?", "gold_titles": ["T"]}\n',
                    encoding="utf-8")
    first, second = load_dataset(path)
    assert first.difficulty == "hard" and first.extra_fields == {"curator": "ana", "gold_title": []}
    assert first.field("curator") == "ana" and first.field("gold_title") == "[]" and first.field("nothing") is None
    assert second.type == "definition"
    notes = dataset_notes([first, second])
    assert notes == ["type 'definition' (1 items) has no rules of its own: scored with the generic metrics, in its "
                     "own row",
                     "fields not in the format were kept (use --by to break the report down): curator (1 items), "
                     "gold_title (1 items)"]


@pytest.mark.parametrize("line, message", [
    ('{"id": "x-1", "type": "single", "question": "q", "gold_titles": ["T"]', "invalid JSON"),
    ('["not", "an", "object"]', "expected a JSON object"),
    ('{"id": "x-1", "type": "single", "gold_titles": ["T"]}', "missing 'question'"),
    ('{"id": "x-1", "type": "single", "question": "q", "gold_titles": []}', "needs at least one title"),
    ('{"id": "x-1", "type": "unanswerable", "question": "q", "gold_titles": ["T"]}', "empty 'gold_titles'"),
    ('{"id": "x-1", "type": "followup", "question": "q", "gold_titles": ["T"]}', "at least two questions"),
    ('{"id": "x-1", "type": "multi_part", "question": "q", "gold_titles": ["T", "U"], "asks": [{"ask": "a", '
     '"gold_titles": ["T"]}, {"ask": "b", "gold_titles": ["T"]}]}', "union of the asks"),
    ('{"id": "x 1", "type": "single", "question": "q", "gold_titles": ["T"]}', "id"),
    ('{"id": "x-1", "type": "followup", "turns": [{"question": "a", "gold_titles": ["T"]}, '
     '{"question": "b", "gold_titles": ["U"]}], "gold_titles": ["T"]}', "last turn"),
])
def test_dataset_errors_name_file_and_line(tmp_path, line, message):
    good = '{"id": "ok-1", "type": "single", "question": "q", "gold_titles": ["T"]}'
    path = tmp_path / "bad.jsonl"
    path.write_text(f"{good}\n\n{line}\n", encoding="utf-8")
    with pytest.raises(DatasetError) as err:
        load_dataset(path)
    assert str(err.value).startswith(f"{path}:3")
    assert message in str(err.value)


def test_dataset_duplicate_ids_and_empty_files(tmp_path):
    good = '{"id": "ok-1", "type": "single", "question": "q", "gold_titles": ["T"]}'
    dup = tmp_path / "dup.jsonl"
    dup.write_text(f"{good}\n{good}\n", encoding="utf-8")
    with pytest.raises(DatasetError, match=r"dup.jsonl:2: duplicate id 'ok-1' \(first on line 1\)"):
        load_dataset(dup)
    empty = tmp_path / "empty.jsonl"
    empty.write_text("\n", encoding="utf-8")
    with pytest.raises(DatasetError, match="no items"):
        load_dataset(empty)
    with pytest.raises(DatasetError, match="not found"):
        load_dataset(tmp_path / "missing.jsonl")


# ------------------------------------------------------------------------------------ new cases


def _ask_json(question, titles, status="answered"):
    return {"question": question, "standalone_question": question, "answer": "text [1]", "status": status,
            "citations": [{"n": i, "title": t, "paper_id": f"p{i}", "url": None, "quote": ""}
                          for i, t in enumerate(titles, 1)],
            "sources": [], "mode": "extractive", "model": "offline extractive", "timings_ms": {}}


def test_case_from_ask_json(tmp_path):
    single = case_from_conversation(read_conversation(write_jsonl(tmp_path / "a.json", [
        _ask_json("What does Perseus do?", [PERSEUS])])), existing_ids=["single-01", "single-07", "multi-02"])
    assert (single.id, single.type, single.question, single.gold_titles) == (
        "single-08", "single", "What does Perseus do?", [PERSEUS])
    assert single.answer_points == [] and "check them" in single.note
    multi = case_from_conversation([_ask_json("Energy?", [PERSEUS, ZEUS, PERSEUS])])
    assert (multi.id, multi.type, multi.gold_titles) == ("multi-01", "multi", [PERSEUS, ZEUS])
    refused = case_from_conversation([_ask_json("Sourdough?", [], "not_found")])
    assert (refused.id, refused.type, refused.subtype, refused.gold_titles) == (
        "unans-01", "unanswerable", "off_topic", [])


def test_case_from_messages_is_a_followup():
    messages = [
        {"role": "user", "content": "What does Perseus do?"},
        {"role": "assistant", "content": f"It removes energy bloat [1].\n\nReferences:\n[1] {PERSEUS}"},
        {"role": "user", "content": "Which other paper tackles it?"},
        {"role": "assistant", "content": f"Zeus [1].\n\nReferences:\n[1] {ZEUS} <https://example.org/z>"},
    ]
    case = case_from_conversation({"messages": messages}, item_id="followup-42")
    assert case.type == "followup" and case.id == "followup-42"
    assert [t.question for t in case.turns] == ["What does Perseus do?", "Which other paper tackles it?"]
    assert [t.gold_titles for t in case.turns] == [[PERSEUS], [ZEUS]]
    assert case.gold_titles == [ZEUS]
    assert cited_titles_in(messages[3]["content"]) == [ZEUS]


def test_case_without_citations_needs_a_type():
    with pytest.raises(DatasetError, match="cited no paper"):
        case_from_conversation([{"role": "user", "content": "hi"}], kind="single")


def test_append_case_validates_and_refuses_duplicates(tmp_path):
    dataset = tmp_path / "mine.jsonl"
    dataset.write_text('{"id": "single-01", "type": "single", "question": "q", "gold_titles": ["T"]}',
                       encoding="utf-8")  # no trailing newline
    case = case_from_conversation([_ask_json("What does Perseus do?", [PERSEUS])], existing_ids=["single-01"])
    append_case(dataset, case)
    assert [i.id for i in load_dataset(dataset)] == ["single-01", "single-02"]
    with pytest.raises(DatasetError, match="already used"):
        append_case(dataset, case)


def test_cli_add_case(tmp_path):
    conversation = tmp_path / "conv.json"
    conversation.write_text(json.dumps(_ask_json("What does Perseus do?", [PERSEUS])), encoding="utf-8")
    dataset = tmp_path / "cases.jsonl"
    runner = CliRunner()
    first = runner.invoke(_app(), ["eval", "add-case", "--from", str(conversation), "--to", str(dataset)])
    assert first.exit_code == 0, first.output
    second = runner.invoke(_app(), ["eval", "add-case", "--from", "-", "--to", str(dataset), "--type",
                                    "multi", "--id", "multi-09"],
                           input=json.dumps([{"role": "user", "content": "Energy?"}, {
                               "role": "assistant", "content": f"x [1] y [2]\n\nReferences:\n[1] {PERSEUS}\n"
                                                               f"[2] {ZEUS}"}]))
    assert second.exit_code == 0, second.output
    items = load_dataset(dataset)
    assert [(i.id, i.type, i.gold_titles) for i in items] == [("single-01", "single", [PERSEUS]),
                                                              ("multi-09", "multi", [PERSEUS, ZEUS])]
    bad = runner.invoke(_app(), ["eval", "add-case", "--from", str(tmp_path / "nope.json"), "--to", str(dataset)])
    assert bad.exit_code != 0


# ------------------------------------------------------------------------------------ BEIR command


def test_cli_beir_ingests_its_own_collection_and_prints_the_table(tmp_path, monkeypatch):
    import paperchat.ingest.pipeline
    import paperchat.rag.retrieval

    folder = tmp_path / "tinybeir"
    (folder / "qrels").mkdir(parents=True)
    docs = [("d1", "Energy of GPUs", "Perseus removes energy bloat in large model training."),
            ("d2", "Batch size", "Large batch training with layer-wise adaptive rates."),
            ("d3", "Speech", "Keyword spotting with synthesized speech data.")]
    write_jsonl(folder / "corpus.jsonl", [{"_id": i, "title": t, "text": x} for i, t, x in docs])
    write_jsonl(folder / "queries.jsonl", [{"_id": "q1", "text": "energy bloat in training"},
                                           {"_id": "q2", "text": "keyword spotting speech"}])
    (folder / "qrels" / "test.tsv").write_text("query-id\tcorpus-id\tscore\nq1\td1\t1\nq2\td3\t1\n")
    monkeypatch.setattr(paperchat.ingest.pipeline, "make_embedder", lambda s: HashEmbeddings())
    monkeypatch.setattr(paperchat.rag.retrieval, "make_embedder", lambda s: HashEmbeddings())
    home = tmp_path / "home"
    out = CliRunner().invoke(_app(), ["--home", str(home), "eval", "beir", str(folder)])
    assert out.exit_code == 0, out.output
    assert "tinybeir (test): 2 queries" in out.output
    assert re.search(r"\| paperchat hybrid[^|]* \| 1\.0000 \| 1\.0000 \| this run \|", out.output)
    assert "| system | nDCG@10 | R@100 | source |" in out.output
    from paperchat.rag.store import PaperStore

    settings = make_settings(home, collection="beir-tinybeir")
    assert PaperStore(settings, "test-hash-bow-256", 256, create=False).count() == 3
