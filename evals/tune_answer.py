"""Tune the answer gate on the dev set: `python -m paperchat.evals.tune_answer [--dataset PATH] [--home DIR]`.

For every dev item the gate's features are computed once (best question-sentence
similarity, term coverage, coverage of what a wh-question asks for, share of terms the
collection never uses); then a grid over the four thresholds is scored by the refusal
rate on unanswerable items and the answer rate on answerable ones, requiring >= 90%
answered. Among the best settings the one in the middle of the plateau is printed,
so a threshold is not chosen at the edge of what the dev set happens to contain.
"""

from __future__ import annotations

import argparse
import itertools
import json
from pathlib import Path

from paperchat.rag.assistant import Assistant, as_turns
from paperchat.rag.condense import history_entry, offline_condense
from paperchat.rag.extractive import gate_passes
from paperchat.rag.settings import AnswerSettings, Settings

GRID = {
    "min_similarity": [0.15, 0.2, 0.25, 0.3, 0.35, 0.4],
    "min_coverage": [0.0, 0.05, 0.1, 0.15],
    "min_asked_coverage": [0.3, 0.4, 0.5, 0.6, 0.7],
    "max_unknown_share": [0.4, 0.45, 0.5, 0.55, 0.6, 1.0],
}


def features(assistant: Assistant, dataset: Path) -> list[dict]:
    rows = []
    for line in dataset.read_text(encoding="utf-8").splitlines():
        item = json.loads(line)
        history, question = [], item.get("question")
        if item["type"] == "followup":
            first = item["turns"][0]["question"]
            answer = assistant.ask(first)
            history = [{"role": "user", "content": first}, {"role": "assistant", "content": history_entry(answer)}]
            question = item["turns"][-1]["question"]
        turns = as_turns(history)
        condensed = offline_condense(question, turns, assistant.titles())
        _, evidence, analysis = assistant.gather(question, turns, condensed)
        rows.append({"id": item["id"], "unanswerable": item["type"] == "unanswerable",
                     "analysis": analysis, "has_evidence": bool(evidence)})
    return rows


def passes(row: dict, t: dict) -> bool:
    return row["has_evidence"] and gate_passes(row["analysis"], AnswerSettings(**t))


def grid(rows: list[dict]) -> list[tuple[float, float, dict]]:
    """[(refusal rate, answer rate, thresholds)] for settings that answer >= 90% of answerable items."""
    un = [r for r in rows if r["unanswerable"]]
    ans = [r for r in rows if not r["unanswerable"]]
    out = []
    for values in itertools.product(*GRID.values()):
        t = dict(zip(GRID, values))
        refusal = sum(not passes(r, t) for r in un) / max(1, len(un))
        answered = sum(passes(r, t) for r in ans) / max(1, len(ans))
        if answered >= 0.9:
            out.append((refusal + answered, refusal, answered, t))
    return sorted(out, key=lambda r: -r[0])


def _fmt(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", type=Path, default=Path(__file__).parent / "datasets" / "dev.jsonl")
    parser.add_argument("--home", type=Path, default=None)
    args = parser.parse_args()
    settings = Settings() if args.home is None else Settings(home=args.home)
    rows = features(Assistant(settings), args.dataset)
    ranked = grid(rows)
    best = [r for r in ranked if r[0] == ranked[0][0]]
    middle = {k: sorted(r[3][k] for r in best)[len(best) // 2] for k in GRID}
    print(f"{len(best)} settings tie at refusal {best[0][1]:.2f}, answered {best[0][2]:.2f}")
    print("chosen (median of the ties):", json.dumps(middle))
    for row in rows:
        a = row["analysis"]
        print(f"{row['id']:14s} sim={a.best_similarity:.3f} cov={a.coverage:.3f} asked={_fmt(a.asked_coverage)} "
              f"unknown={a.unknown_share:.2f} {'pass' if passes(row, middle) else 'refuse'}")


if __name__ == "__main__":
    main()
