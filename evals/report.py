"""The human side of a run: report.md (headline, overall, per type, failed items) and report.png."""

from __future__ import annotations

from pathlib import Path

#: Short column labels for the per-item metrics.
LABELS = {
    "hit@1": "hit@1", "hit@3": "hit@3", "hit@5": "gold@5", "recall@5": "R@5", "mrr": "MRR",
    "ndcg@10": "nDCG@10", "citation_precision": "cit. P", "citation_recall": "cit. R",
    "correct_status": "status ok", "point_coverage": "points", "groundedness": "grounded",
    "judge_faithfulness": "judge faith.", "judge_relevance": "judge relev.",
    "judge_correctness": "judge corr.",
}
#: The metrics in the per-type table and the bar chart.
MAIN = ("hit@5", "mrr", "citation_precision", "citation_recall", "correct_status", "point_coverage",
        "groundedness")
JUDGE = ("judge_faithfulness", "judge_relevance", "judge_correctness")


def fmt(value, digits: int = 3) -> str:
    if value is None:
        return "–"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return str(value)


def fmt_ms(value) -> str:
    return "–" if value is None else f"{value:.0f}"


def headline_rows(summary: dict) -> list[tuple[str, str, str, str]]:
    """(label, value, target, ✓/✗) for the headline table."""
    rows = []
    for h in summary["headline"]:
        is_ms = h["key"].endswith("_ms")
        value = fmt_ms(h["value"]) if is_ms else fmt(h["value"])
        target = "" if h["target"] is None else \
            f"{'≥' if h['kind'] == 'min' else '≤'} {fmt_ms(h['target']) if is_ms else fmt(h['target'], 2)}"
        mark = "" if h["ok"] is None else ("✓" if h["ok"] else "✗")
        rows.append((h["label"], value, target, mark))
    return rows


def judge_used(summary: dict) -> bool:
    return any(summary["overall"].get(m) is not None for m in JUDGE)


def type_columns(summary: dict) -> list[str]:
    return [*MAIN, *(JUDGE if judge_used(summary) else ())]


def _table(header: list[str], rows: list[list[str]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(c).replace("|", "\\|") for c in row) + " |" for row in rows]
    return lines


def markdown(run: dict, name: str = "") -> str:
    """report.md from a results.json object."""
    summary, fp = run["summary"], run["fingerprint"]
    git = fp.get("git") or {}
    commit = (git.get("commit") or "")[:10]
    lines = [
        f"# paperchat eval: {Path(fp['dataset']['path']).name} ({fp['mode']} mode)",
        "",
        f"Run `{name}` · {summary['items']} items, {summary['passed']} passed · collection "
        f"`{fp['collection']['name']}` ({fp['collection']['papers']} papers) · embedder `{fp['embedder']}` · "
        f"answers by `{fp['model']}` · settings sha256 `{fp['sha256'][:12]}` · commit "
        f"`{commit or 'unknown'}`{' (uncommitted changes)' if git.get('dirty') else ''} · {fp['created']}",
        "",
        "## Headline",
        "",
        *_table(["metric", "value", "target", ""], [list(r) for r in headline_rows(summary)]),
        "",
    ]
    if run.get("notes"):
        lines += ["Notes:", "", *[f"- {n}" for n in run["notes"]], ""]
    lines += ["## Overall", "", *_table(["metric", "value"], [
        [LABELS[m], fmt(v)] for m, v in summary["overall"].items()
        if not (m in JUDGE and not judge_used(summary))]), ""]
    latency = summary["latency_ms"]
    lines += [f"Latency per question (scored turn): p50 {fmt_ms(latency['p50'])} ms, "
              f"p95 {fmt_ms(latency['p95'])} ms, mean {fmt_ms(latency['mean'])} ms, "
              f"max {fmt_ms(latency['max'])} ms.", ""]
    refusal = summary["refusal"]
    lines += [f"Refusals: unanswerable answered not_found {fmt(refusal['refusal_rate'])} "
              f"(n={refusal['n_unanswerable']}); answerable refused {fmt(refusal['false_refusal_rate'])} "
              f"(n={refusal['n_answerable']}).", ""]
    columns = type_columns(summary)
    rows = [[t, str(s["n"]), str(s["passed"]), *[fmt(s[m]) for m in columns], fmt_ms(s["latency_p50_ms"])]
            for t, s in summary["per_type"].items()]
    header = ["type", "n", "passed", *[LABELS[m] for m in columns], "p50 ms"]
    lines += ["## Per type", "", *_table(header, rows), "", "![per-type metrics and latency](report.png)", ""]
    failed = [i for i in run["items"] if not i["passed"]]
    lines += [f"## Failed items ({len(failed)})", ""]
    if not failed:
        lines += ["None.", ""]
    for item in failed:
        subtype = f", {item['subtype']}" if item.get("subtype") else ""
        lines += [f"### {item['id']} ({item['type']}{subtype})", ""]
        for earlier in item.get("earlier_turns") or []:
            lines.append(f"- earlier turn: {earlier['question']}")
        lines.append(f"- question: {item['question']}")
        if item["status"] != "error":
            cited = "; ".join(c["title"] for c in item["citations"]) or "none"
            lines += [f"- status: {item['status']}; cited: {cited}",
                      f"- top sources: {'; '.join(s['title'] for s in item['sources'][:3]) or 'none'}"]
        lines += [f"- **{p}**" for p in item["problems"]]
        lines.append("")
    lines += ["## Reproduce", "", "```", reproduce_command(fp), "```", "",
              "Settings (secrets redacted) are in `fingerprint.json`; every item with its answer, sources "
              "and per-metric values is in `results.json`.", ""]
    return "\n".join(lines)


def reproduce_command(fp: dict) -> str:
    settings = fp.get("settings") or {}
    parts = ["paperchat"]
    if settings.get("home") not in (None, ".paperchat"):
        parts += ["--home", str(settings["home"])]
    parts += ["eval", "--dataset", fp["dataset"]["path"], "--mode", fp["mode"]]
    if fp["collection"]["name"] != "papers":
        parts += ["--collection", fp["collection"]["name"]]
    return " ".join(parts)


def plot(run: dict, path: Path) -> None:
    """report.png: per-type bars of the main metrics, and a histogram of per-question latency."""
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt
    import numpy as np

    summary = run["summary"]
    types = list(summary["per_type"])
    metrics = type_columns(summary)
    fig, (bars, hist) = plt.subplots(1, 2, figsize=(14, 5), gridspec_kw={"width_ratios": [2.2, 1]})
    width = 0.8 / max(1, len(types))
    x = np.arange(len(metrics))
    for i, t in enumerate(types):
        heights = [np.nan if (v := summary["per_type"][t][m]) is None else v for m in metrics]
        bars.bar(x + (i - (len(types) - 1) / 2) * width, heights, width,
                 label=f"{t} (n={summary['per_type'][t]['n']})")
    bars.set_xticks(x, [LABELS[m] for m in metrics], rotation=20)
    bars.set_ylim(0, 1.05)
    bars.set_ylabel("mean over the items a metric applies to")
    bars.set_title("metrics per question type")
    bars.legend(fontsize=8, loc="lower left")
    bars.grid(axis="y", alpha=0.3)
    latencies = [i["latency_ms"] for i in run["items"] if i.get("latency_ms") is not None]
    if latencies:
        hist.hist(latencies, bins=min(20, max(5, len(latencies) // 2)), color="tab:gray")
        lat = summary["latency_ms"]
        hist.axvline(lat["p50"], color="tab:blue", linestyle="--", label=f"p50 {lat['p50']:.0f} ms")
        hist.axvline(lat["p95"], color="tab:red", linestyle="--", label=f"p95 {lat['p95']:.0f} ms")
        hist.legend(fontsize=8)
    hist.set_xlabel("latency per question (ms)")
    hist.set_ylabel("questions")
    hist.set_title("latency")
    fig.suptitle(f"paperchat eval: {Path(run['fingerprint']['dataset']['path']).name}, "
                 f"{run['fingerprint']['mode']} mode")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
