"""Run an eval dataset through the assistant, score every item, and write a run folder.

A run folder ``<out>/<timestamp>-<mode>/`` holds ``results.json`` (every item: the question(s), the
answer, citations, sources, per-metric values and the problems found), ``report.md``,
``report.png`` and ``fingerprint.json`` (the settings, secrets redacted, their sha256 and the git
commit), so two runs can be compared and a change traced to its settings.
"""

from __future__ import annotations

import hashlib
import json
import platform
import subprocess
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from paperchat.evals import metrics as M
from paperchat.evals.dataset import TYPES, EvalItem, load_dataset
from paperchat.evals.grounding import (
    POINT_THRESHOLD,
    THRESHOLD,
    PointResult,
    embed_fn,
    grounded_sentences,
    groundedness,
    point_coverage,
)
from paperchat.evals.judge import METRICS as JUDGE_METRICS
from paperchat.evals.judge import Judge, judge_for
from paperchat.rag.condense import history_entry
from paperchat.rag.errors import EmptyCollectionError, PaperchatError
from paperchat.rag.settings import PACKAGE_ROOT, Settings
from paperchat.rag.text import body_of

Progress = Callable[[str, int, int], None]

#: Per-item metrics, in report order. None means "does not apply to this item".
RETRIEVAL = ("hit@1", "hit@3", "hit@5", "recall@5", "mrr", "ndcg@10")
ITEM_METRICS = (*RETRIEVAL, "citation_precision", "citation_recall", "correct_status", "point_coverage",
                "ask_coverage", "groundedness", *(f"judge_{m}" for m in JUDGE_METRICS))
#: Headline numbers, with the targets of the answering issue (None: no target). "max" targets are ceilings.
HEADLINE = (
    ("gold_top5", "gold paper in top-5 sources (answerable)", 0.98, "min"),
    ("title_top5", "title lookups: gold in top-5", 0.95, "min"),
    ("citation_precision", "citation precision", 0.90, "min"),
    ("citation_recall", "citation recall", 0.85, "min"),
    ("not_found_rate", "unanswerable -> not_found", 0.85, "min"),
    ("false_refusal_rate", "answerable refused (false refusal)", 0.05, "max"),
    ("followup_gold_top5", "follow-up gold in top-5", 0.85, "min"),
    ("point_coverage", "answer point coverage", 0.75, "min"),
    ("ask_coverage", "multi-part: asks covered", None, "min"),
    ("groundedness", "groundedness", None, "min"),
    ("latency_p50_ms", "latency p50 (ms)", 150.0, "max"),
    ("latency_p95_ms", "latency p95 (ms)", None, "max"),
)
JUDGE_PROBLEM_BELOW = 0.5


@dataclass
class RunResult:
    folder: Path
    items: list[dict]
    summary: dict
    fingerprint: dict
    notes: list[str] = field(default_factory=list)

    @property
    def failed(self) -> list[dict]:
        return [i for i in self.items if not i["passed"]]

    def as_json(self) -> dict:
        return {"summary": self.summary, "notes": self.notes, "fingerprint": self.fingerprint,
                "items": self.items}


# ---------------------------------------------------------------------------------------------------
# The collection the answers come from
# ---------------------------------------------------------------------------------------------------


class CollectionView:
    """Titles and full paper texts of the assistant's collection (for gold checks and groundedness)."""

    def __init__(self, store):
        self.store = store
        if not store.exists or store.count() == 0:
            raise EmptyCollectionError(
                f"collection {store.name!r} is empty: add the bundled papers with `paperchat ingest"
                f"{'' if store.name == 'papers' else ' --collection ' + store.name}` (and the same --home), "
                "then run the eval again")
        self.papers = {p.paper_id: p.title for p in store.papers()}
        self.by_title = {M.norm_title(t): pid for pid, t in self.papers.items()}
        self._texts: dict[str, str] = {}

    def passage(self, paper_id: str) -> str:
        """All chunks of a paper in order, without the title line each chunk carries."""
        if paper_id not in self._texts:
            chunks = self.store.paper_chunks([paper_id])[paper_id]
            title = self.papers.get(paper_id, "")
            self._texts[paper_id] = "\n".join(body_of(c.text or "", title) for c in chunks)
        return self._texts[paper_id]

    def missing_titles(self, items: Sequence[EvalItem]) -> list[str]:
        titles = {t for i in items for t in [*i.gold_titles, *i.closest_titles,
                                             *(g for turn in i.turns or [] for g in turn.gold_titles),
                                             *(g for ask in i.asks or [] for g in ask.gold_titles)]}
        return sorted(t for t in titles if M.norm_title(t) not in self.by_title)


# ---------------------------------------------------------------------------------------------------
# Asking and scoring one item
# ---------------------------------------------------------------------------------------------------


def ask_item(assistant, item: EvalItem, mode: str | None) -> tuple[list, float]:
    """Every turn asked in order with the earlier turns as history; (answers, ms of the scored turn)."""
    history: list[dict] = []
    answers = []
    elapsed = 0.0
    for question in item.questions:
        started = time.perf_counter()
        answer = assistant.ask(question, list(history), mode=mode)
        elapsed = 1000 * (time.perf_counter() - started)
        answers.append(answer)
        history += [{"role": "user", "content": question},
                    {"role": "assistant", "content": history_entry(answer)}]
    return answers, round(elapsed, 1)


def retrieval_metrics(item: EvalItem, answer) -> dict[str, float | None]:
    """Ranked source titles against the gold titles (None for unanswerable items)."""
    if item.unanswerable:
        return dict.fromkeys(RETRIEVAL)
    ranked = [M.norm_title(s.title) for s in answer.sources] if answer is not None else []
    gold = {M.norm_title(t) for t in item.gold_titles}
    return {
        "hit@1": M.hit_at_k(ranked, gold, 1), "hit@3": M.hit_at_k(ranked, gold, 3),
        "hit@5": M.hit_at_k(ranked, gold, 5), "recall@5": M.recall_at_k(ranked, gold, 5),
        "mrr": M.reciprocal_rank(ranked, gold), "ndcg@10": M.ndcg_at_k(ranked, dict.fromkeys(gold, 1), 10),
    }


def _problems(item: EvalItem, answer, values: dict, points, supports,
              view: CollectionView | None) -> list[str]:
    problems: list[str] = []
    if view is not None:
        problems += [f"gold title not in the collection: {t}" for t in item.gold_titles
                     if M.norm_title(t) not in view.by_title]
    cited = list(dict.fromkeys(c.title for c in answer.citations)) if answer.status == "answered" else []
    gold = {M.norm_title(t) for t in item.gold_titles}
    if item.unanswerable:
        if answer.status == "answered":
            citing = f", citing {_quoted(cited)}" if cited else ""
            problems.append("answered an unanswerable question" + citing)
        return problems
    top5 = {M.norm_title(s.title) for s in answer.sources[:5]}
    problems += [f"gold paper not retrieved (not in top-5 sources): {t}" for t in item.gold_titles
                 if M.norm_title(t) not in top5]
    if answer.status != "answered":
        problems.append("refused an answerable question")
        return problems
    problems += [f"cited non-gold paper {_quoted([t])}" for t in cited if M.norm_title(t) not in gold]
    cited_norm = {M.norm_title(t) for t in cited}
    problems += [f"gold paper not cited: {t}" for t in item.gold_titles if M.norm_title(t) not in cited_norm]
    problems += [f"missing answer point {p.point!r}" for p in points if not p.covered]
    problems += [f"unsupported sentence ({'no citation' if s.score is None else f'{s.score:.2f}'}): "
                 f"{_short(s.sentence)}" for s in supports if not s.supported]
    for metric in JUDGE_METRICS:
        value = values.get(f"judge_{metric}")
        if value is not None and value < JUDGE_PROBLEM_BELOW:
            problems.append(f"judge {metric} {value:.2f}")
    return problems


def _quoted(titles: Sequence[str]) -> str:
    return ", ".join(f'"{t}"' for t in titles)


def _short(text: str, n: int = 90) -> str:
    return text if len(text) <= n else text[: n - 1] + "…"


def score_item(item: EvalItem, answer, *, embed, passage_of: Callable[[str], str], latency_ms: float | None,
               judge: Judge | None = None, view: CollectionView | None = None) -> dict:
    """Metrics and problems of one item's (scored-turn) answer."""
    values: dict[str, Any] = dict.fromkeys(ITEM_METRICS)
    values.update(retrieval_metrics(item, answer))
    answered = answer.status == "answered"
    values["correct_status"] = 1.0 if answered != item.unanswerable else 0.0
    supports, points, verdicts = [], [], {}
    if not item.unanswerable:
        precision, recall = M.citation_precision_recall(
            [c.title for c in answer.citations] if answered else [], item.gold_titles)
        values["citation_precision"], values["citation_recall"] = precision, recall
        if item.answer_points:
            points = point_coverage(item.answer_points, answer.answer, embed) if answered else [
                PointResult(p, False, "refused", None) for p in item.answer_points]
            values["point_coverage"] = sum(p.covered for p in points) / len(points)
        if item.asks:
            values["ask_coverage"] = ask_coverage(item, answer, points) if answered else 0.0
    if answered:
        by_n = {c.n: c.paper_id for c in answer.citations}
        supports = grounded_sentences(answer, lambda n: passage_of(by_n[n]) if n in by_n else None, embed)
        values["groundedness"] = groundedness(supports)
        if judge is not None:
            passages = [passage_of(pid) for pid in dict.fromkeys(by_n.values())]
            verdicts = judge.score_answer(answer.question, answer.answer, passages, item.answer_points)
            for metric, verdict in verdicts.items():
                values[f"judge_{metric}"] = verdict.score
    values["latency_ms"] = latency_ms
    problems = _problems(item, answer, values, points, supports, view)
    return {
        "metrics": values,
        "points": [p._asdict() for p in points],
        "grounding": [s._asdict() for s in supports],
        "judge": {m: {"score": v.score, "reply": v.reply, "error": v.error} for m, v in verdicts.items()},
        "problems": problems,
        "passed": not problems,
    }


def ask_coverage(item: EvalItem, answer, points) -> float:
    """Share of a multi-part question's asks the answer covers: it cites a gold paper of the ask and, when the
    ask has answer points, states at least one of them."""
    cited = {M.norm_title(c.title) for c in answer.citations}
    covered = {p.point for p in points if p.covered}
    done = [any(M.norm_title(t) in cited for t in ask.gold_titles)
            and (not ask.answer_points or any(p in covered for p in ask.answer_points)) for ask in item.asks or []]
    return sum(done) / len(done) if done else 0.0


#: Item fields a report can be broken down by without naming them (`--by` takes any field).
DESCRIPTIVE = ("subtype", "note", "source", "difficulty", "alias")


def item_fields(item: EvalItem) -> dict[str, Any]:
    """The descriptive fields of an item (defined and a curator's extra ones), for `--by`."""
    fields = {name: item.field(name) for name in DESCRIPTIVE}
    fields.update({name: item.field(name) for name in item.extra_fields})
    return {k: v for k, v in fields.items() if v is not None}


def item_record(item: EvalItem, answers: list, scored: dict) -> dict:
    answer = answers[-1]
    return {
        "id": item.id, "type": item.type, "subtype": item.subtype, "fields": item_fields(item),
        "questions": item.questions,
        "gold_titles": item.gold_titles, "answer_points": item.answer_points,
        "earlier_turns": [{"question": a.question, "answer": a.answer, "status": a.status,
                           "cited": [c.title for c in a.citations]} for a in answers[:-1]],
        "question": answer.question, "standalone_question": answer.standalone_question,
        "answer": answer.answer, "status": answer.status, "mode": answer.mode, "model": answer.model,
        "confidence": answer.confidence, "gate": (answer.trace or {}).get("gate"),
        "notice": answer.notice, "citations": [c.model_dump() for c in answer.citations],
        "sources": [s.model_dump() for s in answer.sources], "timings_ms": answer.timings_ms,
        "latency_ms": scored["metrics"]["latency_ms"], **scored,
    }


def error_record(item: EvalItem, exc: Exception) -> dict:
    """An item the assistant failed on: every metric None, the error as its problem."""
    return {
        "id": item.id, "type": item.type, "subtype": item.subtype, "fields": item_fields(item),
        "questions": item.questions, "gold_titles": item.gold_titles, "answer_points": item.answer_points,
        "earlier_turns": [],
        "question": item.questions[-1], "standalone_question": None, "answer": None, "status": "error",
        "confidence": None, "gate": None,
        "mode": None, "model": None, "notice": None, "citations": [], "sources": [], "timings_ms": {},
        "latency_ms": None, "metrics": {**dict.fromkeys(ITEM_METRICS), "latency_ms": None}, "points": [],
        "grounding": [], "judge": {}, "problems": [f"error: {type(exc).__name__}: {exc}"], "passed": False,
    }


# ---------------------------------------------------------------------------------------------------
# Aggregation
# ---------------------------------------------------------------------------------------------------


def _mean(records: Sequence[dict], metric: str) -> float | None:
    return M.mean_or_none(r["metrics"].get(metric) for r in records)


def aggregate(records: Sequence[dict], by: str | None = None) -> dict:
    """Overall and per-type means of every metric (over the items it applies to), refusal rates,
    latency, the headline numbers, the gate's calibration, and (with `by`) a breakdown by an item field."""
    answerable = [r for r in records if r["type"] != "unanswerable"]
    followups = [r for r in records if r["type"] == "followup"]
    titles = [r for r in records if r["type"] == "title"]
    scored = [r for r in records if r["status"] != "error"]
    refusal = M.refusal_rates((r["type"] == "unanswerable", r["status"] == "not_found") for r in scored)
    latency = M.latency_summary([r["latency_ms"] for r in records if r["latency_ms"] is not None])
    headline_values = {
        "gold_top5": _mean(answerable, "hit@5"),
        "citation_precision": _mean(answerable, "citation_precision"),
        "citation_recall": _mean(answerable, "citation_recall"),
        "not_found_rate": refusal["refusal_rate"],
        "false_refusal_rate": refusal["false_refusal_rate"],
        "title_top5": _mean(titles, "hit@5"),
        "followup_gold_top5": _mean(followups, "hit@5"),
        "point_coverage": _mean(answerable, "point_coverage"),
        "ask_coverage": _mean(answerable, "ask_coverage"),
        "groundedness": _mean(records, "groundedness"),
        "latency_p50_ms": latency["p50"],
        "latency_p95_ms": latency["p95"],
    }
    headline = []
    for key, label, target, kind in HEADLINE:
        value = headline_values[key]
        ok = None
        if target is not None and value is not None:
            ok = value >= target if kind == "min" else value <= target
        headline.append({"key": key, "label": label, "value": value, "target": target, "kind": kind,
                         "ok": ok})
    types = list(dict.fromkeys(r["type"] for r in records))
    return {
        "items": len(records),
        "passed": sum(r["passed"] for r in records),
        "headline": headline,
        "overall": {m: _mean(records, m) for m in ITEM_METRICS},
        "per_type": {t: _type_summary([r for r in records if r["type"] == t]) for t in types},
        "by": by,
        "per_field": _field_summary(records, by) if by else {},
        "calibration": M.calibration([(r["confidence"], r["type"] != "unanswerable") for r in scored
                                      if r.get("confidence") is not None]),
        "refusal": refusal,
        "latency_ms": latency,
        "failed": [r["id"] for r in records if not r["passed"]],
    }


def _field_summary(records: Sequence[dict], field_name: str) -> dict[str, dict]:
    """Per value of an item field (items without the field under "(none)")."""
    def value(record: dict) -> str:
        got = record.get("fields", {}).get(field_name, record.get(field_name))
        return "(none)" if got is None else str(got)

    values = sorted({value(r) for r in records})
    return {v: _type_summary([r for r in records if value(r) == v]) for v in values}


def _type_summary(records: Sequence[dict]) -> dict:
    latency = M.latency_summary([r["latency_ms"] for r in records if r["latency_ms"] is not None])
    return {"n": len(records), "passed": sum(r["passed"] for r in records),
            **{m: _mean(records, m) for m in ITEM_METRICS}, "latency_p50_ms": latency["p50"]}


# ---------------------------------------------------------------------------------------------------
# Fingerprint
# ---------------------------------------------------------------------------------------------------


def git_info(root: Path = PACKAGE_ROOT) -> dict | None:
    """The commit the code was run from and whether the work tree had changes; None without git."""
    try:
        commit = subprocess.run(["git", "-C", str(root), "rev-parse", "HEAD"], capture_output=True, text=True,
                                timeout=10, check=True).stdout.strip()
        status = subprocess.run(["git", "-C", str(root), "status", "--porcelain"], capture_output=True,
                                text=True, timeout=10, check=True).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    return {"commit": commit, "dirty": bool(status.strip())}


def _file_sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


# ---------------------------------------------------------------------------------------------------
# The run
# ---------------------------------------------------------------------------------------------------


def run_folder(out_dir: Path, mode: str, now: datetime | None = None) -> Path:
    stamp = (now or datetime.now()).strftime("%Y%m%d-%H%M%S")
    folder = Path(out_dir) / f"{stamp}-{mode}"
    n = 2
    while folder.exists():
        folder = Path(out_dir) / f"{stamp}-{mode}-{n}"
        n += 1
    return folder


def resolve_mode(assistant, settings: Settings, mode: str | None) -> str:
    if mode not in (None, "llm", "extractive"):
        raise PaperchatError(f"unknown mode {mode!r}: use llm or extractive")
    if mode == "llm" and getattr(assistant, "_llm", None) is None and not settings.llm_configured():
        raise PaperchatError("--mode llm needs an OpenAI-compatible endpoint: set OPENAI_API_KEY, or "
                             "PAPERCHAT_LLM__BASE_URL for a local server (Ollama, vLLM, llama.cpp, "
                             "LM Studio)")
    return mode or assistant.default_mode


def dataset_notes(items: Sequence[EvalItem]) -> list[str]:
    """What the runner tells about a dataset it can score only generically: unknown types and extra fields."""
    notes = []
    types = Counter(i.type for i in items if i.type not in TYPES)
    notes += [f"type {t!r} ({n} items) has no rules of its own: scored with the generic metrics, in its own row"
              for t, n in sorted(types.items())]
    extra = Counter(name for i in items for name in i.extra_fields)
    if extra:
        shown = ", ".join(f"{name} ({n} items)" for name, n in sorted(extra.items()))
        notes.append(f"fields not in the format were kept (use --by to break the report down): {shown}")
    return notes


def run_eval(dataset_path: Path | str, settings: Settings, mode: str | None = None,
             out_dir: Path | str = "runs", assistant: Any = None, progress: Progress | None = None,
             judge: bool | Any = True, write: bool = True, by: str | None = None) -> RunResult:
    """Ask every item, score it, aggregate, and (unless write=False) write the run folder.

    ``by``: also break the report down by this item field (any field, a curator's own included).

    ``judge``: True uses an LLM judge when an endpoint is configured (else a note says it was skipped),
    False never does, a chat model object is used as the judge.
    """
    dataset_path = Path(dataset_path)
    items = load_dataset(dataset_path)
    if assistant is None:
        from paperchat.rag.assistant import Assistant

        assistant = Assistant(settings)
    settings = assistant.settings
    view = CollectionView(assistant.retriever.store)
    missing = view.missing_titles(items)
    gold_total = {t for i in items for t in i.gold_titles}
    if gold_total and len([t for t in missing if t in gold_total]) > len(gold_total) / 2:
        raise PaperchatError(
            f"collection {settings.collection!r} does not hold the papers of {dataset_path.name}: "
            f"{len(missing)} of its titles are missing (e.g. {missing[0]!r}); ingest them first, e.g. "
            f"`paperchat ingest --collection {settings.collection}` for the bundled papers")
    mode = resolve_mode(assistant, settings, mode)
    notes = [f"title named in the dataset but not in the collection: {t}" for t in missing]
    notes += dataset_notes(items)
    the_judge, note = (None, "LLM-judge metrics not requested (--no-judge)") if judge is False else \
        judge_for(settings, None if judge is True else judge)
    if note:
        notes.append(note)
    embed = embed_fn(getattr(assistant, "cache", None) or assistant.retriever.embedder)
    records = []
    for done, item in enumerate(items, 1):
        try:
            answers, latency = ask_item(assistant, item, mode)
        except PaperchatError as exc:
            records.append(error_record(item, exc))
        else:
            scored = score_item(item, answers[-1], embed=embed, passage_of=view.passage, latency_ms=latency,
                                judge=the_judge, view=view)
            records.append(item_record(item, answers, scored))
        if progress is not None:
            progress(item.id, done, len(items))
    if the_judge is not None:
        notes += the_judge.notes
    summary = aggregate(records, by)
    fingerprint = {
        **settings.fingerprint, "git": git_info(), "mode": mode,
        "model": getattr(assistant, "model_name", None) if mode == "llm" else "offline extractive",
        "judge_model": the_judge.name if the_judge is not None else None,
        "embedder": _embedder_name(assistant.retriever.embedder),
        "collection": {"name": settings.collection, "papers": len(view.papers)},
        "dataset": {"path": str(dataset_path), "sha256": _file_sha(dataset_path), "items": len(items)},
        "thresholds": {"groundedness": THRESHOLD, "answer_point_similarity": POINT_THRESHOLD},
        "min_confidence": _operating_point(assistant),
        "gate_model": _gate_info(assistant),
        "python": platform.python_version(), "created": datetime.now().isoformat(timespec="seconds"),
    }
    folder = run_folder(Path(out_dir), mode)
    result = RunResult(folder, records, summary, fingerprint, notes)
    if write:
        write_run(result)
    return result


def _operating_point(assistant) -> float | None:
    model = getattr(assistant, "gate_model", None)
    configured = assistant.settings.answer.min_confidence
    return configured if configured is not None else (model.threshold if model is not None else None)


def _gate_info(assistant) -> dict | None:
    """Which gate model answered: its training data and creation (from gate_model.json)."""
    model = getattr(assistant, "gate_model", None)
    if model is None:
        return None
    return {k: model.info.get(k) for k in ("trained_on", "created", "git", "model") if k in model.info}


def _embedder_name(embedder) -> str:
    return getattr(embedder, "name", None) or type(embedder).__name__


def write_run(result: RunResult) -> None:
    from paperchat.evals.report import markdown, plot

    result.folder.mkdir(parents=True, exist_ok=False)
    data = result.as_json()
    (result.folder / "results.json").write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n",
                                                encoding="utf-8")
    (result.folder / "fingerprint.json").write_text(json.dumps(result.fingerprint, indent=2) + "\n",
                                                    encoding="utf-8")
    (result.folder / "report.md").write_text(markdown(data, result.folder.name), encoding="utf-8")
    plot(data, result.folder / "report.png")
