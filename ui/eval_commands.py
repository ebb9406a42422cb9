"""`paperchat eval`: run an eval set and report it; `eval compare`, `beir`, `add-case` and `calibrate`."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape

from paperchat.ui.common import CollectionOpt, ModeOpt, err, mode_value, out, settings_for

eval_app = typer.Typer(
    help="Measure answer quality and retrieval. With no subcommand: run the dev set and write a report.",
    no_args_is_help=False,
)

#: Short column names so the per-type table fits an 80-column terminal.
TERM_LABELS = {"citation_precision": "cit.P", "citation_recall": "cit.R", "correct_status": "status",
               "groundedness": "grnd", "judge_faithfulness": "j.faith", "judge_relevance": "j.rel",
               "judge_correctness": "j.corr"}

DatasetOpt = Annotated[Path | None, typer.Option("--dataset", "-d", help="Eval set, JSONL "
                                                 "(default: evals/datasets/dev.jsonl)")]


def _progress_columns():
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    return [TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
            TimeRemainingColumn()]


@eval_app.callback(invoke_without_command=True)
def eval_main(
    ctx: typer.Context,
    dataset: DatasetOpt = None,
    mode: ModeOpt = None,
    out_dir: Annotated[Path, typer.Option("--out", help="Where run folders are written")] = Path("runs"),
    collection: CollectionOpt = None,
    judge: Annotated[bool, typer.Option("--judge/--no-judge", help="LLM-judge metrics when an endpoint is "
                                        "configured")] = True,
    by: Annotated[str | None, typer.Option("--by", metavar="FIELD", help="Also break the table down by an item "
                                           "field (source, difficulty, note, subtype, or any field of the "
                                           "dataset)")] = None,
) -> None:
    """Run an eval set through the assistant: progress bar, per-type table, and a run folder with
    report.md, results.json and report.png."""
    if ctx.invoked_subcommand is not None:
        return
    from rich.progress import Progress

    from paperchat.evals.dataset import DEV_SET
    from paperchat.evals.runner import run_eval
    from paperchat.rag.assistant import Assistant

    settings = settings_for(ctx, collection)
    assistant = Assistant(settings)
    with Progress(*_progress_columns(), console=err, transient=True) as bar:
        task = bar.add_task("evaluating", total=None)

        def advance(item_id: str, done: int, total: int) -> None:
            bar.update(task, completed=done, total=total, description=f"evaluating {item_id:<12}")

        result = run_eval(dataset or DEV_SET, settings, mode_value(mode), out_dir, assistant=assistant,
                          progress=advance, judge=judge, by=by)
    assistant.close()
    _print_run(result)


def _print_run(result) -> None:
    from rich import box
    from rich.table import Table

    from paperchat.evals.report import LABELS, fmt, fmt_ms, headline_rows, type_columns

    summary = result.summary
    columns = type_columns(summary)
    table = Table(title=f"{summary['items']} items, {summary['passed']} passed, {result.fingerprint['mode']} "
                        "mode (p50 in ms)", box=box.SIMPLE_HEAD, pad_edge=False, collapse_padding=True)
    for name in ("type", "n", "pass", *[TERM_LABELS.get(m, LABELS[m]) for m in columns], "p50"):
        table.add_column(name, justify="left" if name == "type" else "right", no_wrap=True)
    for t, s in summary["per_type"].items():
        table.add_row(t, str(s["n"]), str(s["passed"]), *[fmt(s[m], 2) for m in columns],
                      fmt_ms(s["latency_p50_ms"]))
    overall = summary["overall"]
    table.add_row("all", str(summary["items"]), str(summary["passed"]),
                  *[fmt(overall[m], 2) for m in columns], fmt_ms(summary["latency_ms"]["p50"]), style="bold")
    out.print(table)
    if summary.get("per_field"):
        by_table = Table(title=f"by {summary['by']}", box=box.SIMPLE_HEAD, pad_edge=False, collapse_padding=True)
        for name in (summary["by"], "n", "pass", *[TERM_LABELS.get(m, LABELS[m]) for m in columns], "p50"):
            by_table.add_column(escape(name), justify="left" if name == summary["by"] else "right", no_wrap=True)
        for value, s in summary["per_field"].items():
            by_table.add_row(escape(value), str(s["n"]), str(s["passed"]), *[fmt(s[m], 2) for m in columns],
                             fmt_ms(s["latency_p50_ms"]))
        out.print(by_table)
    cal = summary.get("calibration") or {}
    if cal:
        out.print(f"gate: ROC AUC {fmt(cal['roc_auc'])}, Brier {fmt(cal['brier'])} over {cal['n']} questions "
                  "(refusals across thresholds and the reliability diagram: report.md, report.png)")
    for note in result.notes:
        out.print(f"[yellow]note:[/yellow] {note}", highlight=False)
    if result.failed:
        out.print(f"\nfailed ({len(result.failed)}):", highlight=False)
        for item in result.failed:
            first = item["problems"][0] if item["problems"] else ""
            more = f" (+{len(item['problems']) - 1} more)" if len(item["problems"]) > 1 else ""
            out.print(f"  {item['id']}: {first}{more}", highlight=False, markup=False)
    head = Table(title="summary")
    for name in ("metric", "value", "target", ""):
        head.add_column(name, justify="left" if name == "metric" else "right")
    for row in headline_rows(summary):
        head.add_row(*row)
    out.print(head)
    out.print(f"run folder: {result.folder}  (report.md, results.json, report.png)", highlight=False)


@eval_app.command("compare")
def compare_cmd(
    run_a: Annotated[Path, typer.Argument(help="Earlier run folder (or its results.json)")],
    run_b: Annotated[Path, typer.Argument(help="Later run folder (or its results.json)")],
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON")] = False,
) -> None:
    """Metric deltas between two runs, the items that flipped, and the settings that differ."""
    from dataclasses import asdict

    from rich.table import Table

    from paperchat.evals.compare import compare, fmt_delta, fmt_value, load_run

    c = compare(load_run(run_a), load_run(run_b), str(run_a), str(run_b))
    if as_json:
        data = asdict(c)
        for group in ("headline", "overall"):
            for row, d in zip(data[group], getattr(c, group), strict=True):
                row["delta"] = d.delta
        print(json.dumps(data, ensure_ascii=False, default=str))
        return
    if not c.same_dataset:
        out.print("[yellow]note:[/yellow] the runs used different datasets (or versions of one)")
    table = Table(title=f"{run_a.name} -> {run_b.name}")
    for name in ("metric", "A", "B", "delta"):
        table.add_column(name, justify="left" if name == "metric" else "right")
    for d in [*c.headline, *[d for d in c.overall if d.key not in {h.key for h in c.headline}]]:
        delta = d.delta
        style = "" if delta is None or abs(delta) < 1e-9 else _delta_style(d)
        table.add_row(d.label, fmt_value(d, d.a), fmt_value(d, d.b), fmt_delta(d), style=style)
    out.print(table)
    out.print(f"pass -> fail ({len(c.pass_to_fail)}):", highlight=False)
    for item_id, problems in c.pass_to_fail:
        out.print(f"  {item_id}: {'; '.join(problems)}", highlight=False, markup=False)
    out.print(f"fail -> pass ({len(c.fail_to_pass)}):", highlight=False)
    for item_id, problems in c.fail_to_pass:
        out.print(f"  {item_id} (was: {'; '.join(problems)})", highlight=False, markup=False)
    if c.only_a or c.only_b:
        out.print(f"only in A: {', '.join(c.only_a) or 'none'}; only in B: {', '.join(c.only_b) or 'none'}")
    if c.settings_changed:
        out.print("settings that differ:")
        for key, a, b in c.settings_changed:
            out.print(f"  {key}: {a!r} -> {b!r}", highlight=False, markup=False)


def _delta_style(d) -> str:
    better = d.delta < 0 if d.key.endswith("_ms") else d.delta > 0
    return "green" if better else "red"


@eval_app.command("beir")
def beir_cmd(
    ctx: typer.Context,
    path: Annotated[Path, typer.Argument(help="A BEIR-format folder (corpus.jsonl, queries.jsonl, qrels/)")],
    split: Annotated[str, typer.Option("--split", help="qrels split to score")] = "test",
    collection: Annotated[str | None, typer.Option("--collection", "-c", help="Collection for the corpus "
                                                   "(default: beir-<folder name>)")] = None,
) -> None:
    """Retrieval benchmark: ingest the corpus into its own collection, then nDCG@10 and Recall@100 for
    dense, BM25 and hybrid retrieval beside the published numbers."""
    from rich.progress import Progress

    from paperchat.evals import beir
    from paperchat.ingest.pipeline import estimate_papers, ingest_paths

    folder = path.resolve()
    corpus = folder / "corpus.jsonl"
    if not corpus.exists():
        raise typer.BadParameter(f"{corpus} not found: PATH must be a BEIR folder")
    settings = settings_for(ctx, collection or f"beir-{folder.name}")
    with Progress(*_progress_columns(), console=err, transient=True) as bar:
        task = bar.add_task(f"ingesting {folder.name}", total=estimate_papers(corpus) or None)
        report = ingest_paths([corpus], settings, fmt="beir", progress=lambda n: bar.advance(task, n))
    err.print(f"collection {settings.collection!r}: {report.summary()}", highlight=False)
    err.print(f"running the {split} queries ...")
    result = beir.run(folder, split, settings)
    out.print(f"{folder.name} ({split}): {result['queries']} queries, "
              f"{result['ms_per_query']:.1f} ms per query (dense + BM25 rankings)", highlight=False)
    out.print(beir.table(result, folder.name.lower()), highlight=False, markup=False)


@eval_app.command("add-case")
def add_case(
    source: Annotated[str, typer.Option("--from", help="Conversation file: [{role, content}] messages, "
                                        "{\"messages\": [...]}, or `paperchat ask --json` output; "
                                        "- for stdin")],
    dataset: Annotated[Path, typer.Option("--to", help="Dataset JSONL to append the case to")],
    kind: Annotated[str | None, typer.Option("--type", help="single, multi, unanswerable, followup "
                                             "(default: from the conversation)")] = None,
    item_id: Annotated[str | None, typer.Option("--id", help="Case id (default: <type>-NN, the next "
                                                "free)")] = None,
) -> None:
    """Turn a conversation into a new eval case (gold titles = the cited titles, to check by hand)."""
    from paperchat.evals.dataset import append_case, case_from_conversation, load_dataset, read_conversation

    turns = read_conversation("<stdin>", sys.stdin.read()) if source == "-" else read_conversation(source)
    existing = [i.id for i in load_dataset(dataset)] if dataset.exists() and dataset.stat().st_size else []
    item = case_from_conversation(turns, kind=kind, item_id=item_id, existing_ids=existing)
    append_case(dataset, item)
    out.print(f"added {item.id} ({item.type}) to {dataset}; check its gold_titles and add answer_points:",
              highlight=False)
    print(item.to_json_line())


@eval_app.command("calibrate")
def calibrate_cmd(ctx: typer.Context, dataset: DatasetOpt = None, collection: CollectionOpt = None) -> None:
    """Recompute the groundedness and answer-point similarity thresholds on a dataset (offline answers)."""
    from rich.progress import Progress
    from rich.table import Table

    from paperchat.evals import grounding
    from paperchat.evals.dataset import DEV_SET, load_dataset
    from paperchat.evals.metrics import norm_title
    from paperchat.evals.runner import CollectionView, ask_item
    from paperchat.rag.assistant import Assistant

    items = load_dataset(dataset or DEV_SET)
    assistant = Assistant(settings_for(ctx, collection))
    view = CollectionView(assistant.retriever.store)
    answered = []
    with Progress(*_progress_columns(), console=err, transient=True) as bar:
        task = bar.add_task("answering", total=len(items))
        for item in items:
            answers, _ = ask_item(assistant, item, "extractive")
            answered.append((item, answers[-1]))
            bar.advance(task)
    def gold_ids(item) -> set[str]:
        return {view.by_title[norm_title(t)] for t in item.gold_titles if norm_title(t) in view.by_title}

    cal = grounding.calibrate(answered, assistant.cache, view.passage, sorted(view.papers), gold_ids)
    table = Table(title=f"cosine similarity of pairs ({assistant.retriever.embedder.name})")
    for name in ("pairs", "n", "min", "p5", "median", "p95", "max"):
        table.add_column(name, justify="left" if name == "pairs" else "right")
    for row in cal.summary():
        table.add_row(row["pairs"], str(row["n"]), *[f"{row[k]:.3f}" for k in ("min", "p5", "median", "p95",
                                                                               "max")])
    out.print(table)
    for name, sep, current in (("groundedness", cal.sentence, grounding.THRESHOLD),
                               ("answer point", cal.point, grounding.POINT_THRESHOLD)):
        scores = _pair_scores(cal, name)
        now = grounding.separation(*scores, threshold=current)
        out.print(f"{name}: best threshold {sep.threshold:.2f} (TPR {sep.true_positive_rate:.3f}, FPR "
                  f"{sep.false_positive_rate:.3f}); current {current:.2f} (TPR {now.true_positive_rate:.3f}, "
                  f"FPR {now.false_positive_rate:.3f})", highlight=False)
        grid = [grounding.separation(*scores, threshold=t / 100) for t in range(35, 71, 5)]
        out.print("  " + ", ".join(f"{g.threshold:.2f}: TPR {g.true_positive_rate:.2f} FPR "
                                   f"{g.false_positive_rate:.2f}" for g in grid), highlight=False)


def _pair_scores(cal, name: str) -> tuple[list[float], list[float], list[float]]:
    s = cal.scores
    if name == "groundedness":
        return s["true clause"], s["false random"], s["false near"]
    return s["point true"], s["point false random"], s["point false near"]


@eval_app.command("make-mixed")
def make_mixed(
    ctx: typer.Context,
    scifact: Annotated[Path, typer.Option("--scifact", help="SciFact corpus.jsonl, the distractors")] =
        Path("../shared/benchmarks/scifact/corpus.jsonl"),
    collection: Annotated[str, typer.Option("--collection", "-c", help="Collection to build")] = "mixed",
) -> None:
    """Build the harder collection: the bundled papers plus SciFact's 5,183 abstracts as distractors, for
    `paperchat eval --collection mixed` (the same items, a collection 34 times larger)."""
    from rich.progress import Progress

    from paperchat.ingest.pipeline import estimate_papers, ingest_paths
    from paperchat.rag.settings import BUNDLED_PAPERS

    if not scifact.is_file():
        raise typer.BadParameter(f"{scifact} not found: give --scifact PATH/corpus.jsonl")
    settings = settings_for(ctx, collection)
    files = [BUNDLED_PAPERS, scifact.resolve()]
    with Progress(*_progress_columns(), console=err, transient=True) as bar:
        task = bar.add_task(f"ingesting {collection}", total=sum(estimate_papers(f) for f in files) or None)
        report = ingest_paths(files, settings, progress=lambda n: bar.advance(task, n))
    out.print(escape(f"collection {collection!r}: {report.summary()}"), soft_wrap=True)
