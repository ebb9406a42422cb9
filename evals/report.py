"""The human side of a run: report.md (headline, overall, per type, failed items) and report.png."""

from __future__ import annotations

from pathlib import Path

#: Short column labels for the per-item metrics.
LABELS = {
    "hit@1": "hit@1", "hit@3": "hit@3", "hit@5": "gold@5", "recall@5": "R@5", "mrr": "MRR",
    "ndcg@10": "nDCG@10", "citation_precision": "cit. P", "citation_recall": "cit. R",
    "correct_status": "status ok", "point_coverage": "points", "ask_coverage": "asks", "groundedness": "grounded",
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
    lines += ["## Per type", "", *_table(header, rows), "", "![per-type metrics, latency and calibration](report.png)",
              ""]
    if summary.get("per_field"):
        rows = [[v, str(s["n"]), str(s["passed"]), *[fmt(s[m]) for m in columns], fmt_ms(s["latency_p50_ms"])]
                for v, s in summary["per_field"].items()]
        lines += [f"## By {summary['by']}", "", *_table([summary["by"], *header[1:]], rows), ""]
    lines += calibration_lines(summary.get("calibration") or {}, fp.get("min_confidence"))
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


def calibration_lines(cal: dict, operating: float | None = None) -> list[str]:
    """The gate's reliability table and its refusal / false-refusal trade-off across thresholds."""
    if not cal:
        return []
    lines = ["## Answer gate calibration", "",
             f"{cal['n']} questions; ROC AUC (answerable vs unanswerable) {fmt(cal['roc_auc'])}, "
             f"Brier score {fmt(cal['brier'])}"
             + (f"; operating point answer.min_confidence = {operating:.2f}" if operating is not None else "")
             + ".", "", "Reliability (predicted probability that the question is answerable vs observed):", ""]
    lines += _table(["confidence", "n", "mean predicted", "observed answerable"],
                    [[f"{b['lo']:.1f}–{b['hi']:.1f}", str(b["n"]), fmt(b["predicted"]), fmt(b["observed"])]
                     for b in cal["bins"] if b["n"]])
    lines += ["", "Refusal across thresholds (answer when confidence ≥ threshold):", ""]
    lines += _table(["threshold", "unanswerable refused", "answerable refused"],
                    [[f"{t['threshold']:.2f}", fmt(t["refusal_rate"]), fmt(t["false_refusal_rate"])]
                     for t in cal["thresholds"]])
    return [*lines, ""]


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
    cal = summary.get("calibration") or {}
    fig, axes = plt.subplots(2 if cal else 1, 2, figsize=(14, 10 if cal else 5),
                             gridspec_kw={"width_ratios": [2.2, 1]}, squeeze=False)
    bars, hist = axes[0]
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
    if cal:
        _plot_calibration(axes[1][0], axes[1][1], cal)
    fig.suptitle(f"paperchat eval: {Path(run['fingerprint']['dataset']['path']).name}, "
                 f"{run['fingerprint']['mode']} mode")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _plot_calibration(trade, reliability, cal: dict) -> None:
    """Refusal vs false refusal across thresholds, and the reliability diagram (predicted vs observed)."""
    ts = [t["threshold"] for t in cal["thresholds"]]
    for key, label, colour in (("refusal_rate", "unanswerable refused (want high)", "tab:green"),
                               ("false_refusal_rate", "answerable refused (want low)", "tab:red")):
        trade.plot(ts, [float("nan") if t[key] is None else t[key] for t in cal["thresholds"]], marker="o",
                   label=label, color=colour)
    trade.set_xlabel("answer.min_confidence (answer when confidence ≥ it)")
    trade.set_ylabel("share of questions")
    trade.set_ylim(-0.02, 1.02)
    trade.set_title(f"refusals across thresholds (ROC AUC {cal['roc_auc'] or float('nan'):.3f})")
    trade.grid(alpha=0.3)
    trade.legend(fontsize=8)
    shown = [b for b in cal["bins"] if b["n"]]
    reliability.plot([0, 1], [0, 1], linestyle=":", color="gray", label="perfect calibration")
    reliability.scatter([b["predicted"] for b in shown], [b["observed"] for b in shown],
                        s=[20 + 8 * b["n"] for b in shown], color="tab:blue", label="bins (size: questions)")
    reliability.plot([b["predicted"] for b in shown], [b["observed"] for b in shown], color="tab:blue")
    reliability.set_xlabel("predicted probability answerable")
    reliability.set_ylabel("observed share answerable")
    reliability.set_xlim(0, 1)
    reliability.set_ylim(-0.02, 1.02)
    reliability.set_title(f"reliability diagram (Brier {cal['brier']:.3f})")
    reliability.legend(fontsize=8, loc="upper left")
