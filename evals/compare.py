"""Compare two eval runs: metric deltas, the items that flipped, and what changed in the settings."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from paperchat.evals.report import LABELS, fmt
from paperchat.rag.errors import PaperchatError


def load_run(path: Path | str) -> dict:
    """results.json of a run folder (or the file itself)."""
    path = Path(path)
    file = path / "results.json" if path.is_dir() else path
    try:
        data = json.loads(file.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise PaperchatError(f"{file}: no such run (expected a run folder with results.json)") from None
    except json.JSONDecodeError as exc:
        raise PaperchatError(f"{file}: not valid JSON: {exc.msg}") from exc
    if not isinstance(data, dict) or not {"summary", "items"} <= set(data):
        raise PaperchatError(f"{file}: not a paperchat eval results.json")
    return data


@dataclass
class Delta:
    key: str
    label: str
    a: float | None
    b: float | None

    @property
    def delta(self) -> float | None:
        return None if self.a is None or self.b is None else self.b - self.a


@dataclass
class Comparison:
    a: str
    b: str
    headline: list[Delta]
    overall: list[Delta]
    per_type: dict[str, list[Delta]]
    pass_to_fail: list[tuple[str, list[str]]] = field(default_factory=list)
    fail_to_pass: list[tuple[str, list[str]]] = field(default_factory=list)
    only_a: list[str] = field(default_factory=list)
    only_b: list[str] = field(default_factory=list)
    settings_changed: list[tuple[str, object, object]] = field(default_factory=list)
    same_dataset: bool = True


def _flatten(obj, prefix: str = "") -> dict[str, object]:
    if isinstance(obj, dict):
        out: dict[str, object] = {}
        for k, v in obj.items():
            out.update(_flatten(v, f"{prefix}{k}."))
        return out
    return {prefix.rstrip("."): obj}


def settings_diff(fp_a: dict, fp_b: dict) -> list[tuple[str, object, object]]:
    """Settings keys whose values differ (dotted names), plus mode, model, embedder and commit."""
    a = _flatten(fp_a.get("settings") or {})
    b = _flatten(fp_b.get("settings") or {})
    for key in ("mode", "model", "embedder"):
        a[key], b[key] = fp_a.get(key), fp_b.get(key)
    a["git commit"] = (fp_a.get("git") or {}).get("commit")
    b["git commit"] = (fp_b.get("git") or {}).get("commit")
    return [(k, a.get(k), b.get(k)) for k in sorted(set(a) | set(b)) if a.get(k) != b.get(k) and k != "home"]


def compare(run_a: dict, run_b: dict, name_a: str = "A", name_b: str = "B") -> Comparison:
    sa, sb = run_a["summary"], run_b["summary"]
    head_b = {h["key"]: h["value"] for h in sb["headline"]}
    headline = [Delta(h["key"], h["label"], h["value"], head_b.get(h["key"])) for h in sa["headline"]]
    overall = [Delta(k, LABELS.get(k, k), v, sb["overall"].get(k)) for k, v in sa["overall"].items()
               if v is not None or sb["overall"].get(k) is not None]
    per_type = {}
    for t in dict.fromkeys([*sa["per_type"], *sb["per_type"]]):
        ta, tb = sa["per_type"].get(t, {}), sb["per_type"].get(t, {})
        per_type[t] = [Delta(k, LABELS.get(k, k), ta.get(k), tb.get(k)) for k in LABELS
                       if ta.get(k) is not None or tb.get(k) is not None]
    items_a = {i["id"]: i for i in run_a["items"]}
    items_b = {i["id"]: i for i in run_b["items"]}
    result = Comparison(name_a, name_b, headline, overall, per_type)
    for item_id, ia in items_a.items():
        ib = items_b.get(item_id)
        if ib is None:
            result.only_a.append(item_id)
        elif ia["passed"] and not ib["passed"]:
            result.pass_to_fail.append((item_id, ib["problems"]))
        elif not ia["passed"] and ib["passed"]:
            result.fail_to_pass.append((item_id, ia["problems"]))
    result.only_b = [i for i in items_b if i not in items_a]
    result.settings_changed = settings_diff(run_a.get("fingerprint") or {}, run_b.get("fingerprint") or {})
    ds_a = ((run_a.get("fingerprint") or {}).get("dataset") or {}).get("sha256")
    ds_b = ((run_b.get("fingerprint") or {}).get("dataset") or {}).get("sha256")
    result.same_dataset = ds_a == ds_b
    return result


def fmt_delta(d: Delta) -> str:
    if d.delta is None:
        return "–"
    digits = 0 if d.key.endswith("_ms") else 3
    return f"{d.delta:+.{digits}f}"


def fmt_value(d: Delta, value) -> str:
    if value is None:
        return "–"
    return f"{value:.0f}" if d.key.endswith("_ms") else fmt(value)
