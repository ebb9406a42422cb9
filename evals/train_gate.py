"""Train the answer gate: `python -m paperchat.evals.train_gate [--home DIR] [--scifact DIR]`.

The gate is the product of two logistic factors (`rag.gate.FACTORS`: is the evidence about what is asked, does
it hold the detail asked for), each weight held to the sign `rag.gate.SIGNS` gives it, over the features
`rag.gate.features` computes, through the same chain the product runs (`Assistant.start` + `Assistant.prepare`).
Its training decisions:

- SciFact's **train** queries (claims nobody here wrote): with their gold papers among the candidates and
  retrieved (label: answer), and the same queries with the gold papers removed from the candidates
  (label: refuse);
- the development set of the bundled collection (`evals/datasets/dev.jsonl`): answerable items (answer)
  and unanswerable ones (refuse). The frozen test set (`test.jsonl`) is never read here;
- off-topic decisions (refuse), also written by nobody here: SciFact's train claims (biomedicine) asked of
  the bundled collection (machine learning), and the dev set's questions asked of the SciFact collection.
  Without them the model only ever sees near misses and learns nothing about a question far from every
  paper ("How long should sourdough ferment?").

Each source weighs the same in the fit. The operating point (`threshold`) is chosen from 5-fold
cross-validated probabilities (grouped by query, so a query's two versions share a fold): the highest
threshold whose false refusal is at most 5% on each source's answerable decisions. SciFact's **test**
queries are then scored the same way (gold present vs gold removed) and their ROC AUC reported.

Writes `rag/gate_model.json` (weights, scaling, threshold, the data that trained it and these numbers).
"""

from __future__ import annotations

import argparse
import functools
import json
import platform
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from paperchat.evals.beir_data import load_qrels, split_queries
from paperchat.evals.dataset import DEV_SET, load_dataset
from paperchat.evals.metrics import roc_auc
from paperchat.evals.runner import git_info
from paperchat.rag.assistant import Assistant
from paperchat.rag.condense import history_entry
from paperchat.rag.gate import FACTORS, MODEL_FILE, SIGNS, Factor, GateModel
from paperchat.rag.settings import BUNDLED_PAPERS, PACKAGE_ROOT, Settings

SCIFACT = PACKAGE_ROOT.parent / "shared" / "benchmarks" / "scifact"
MAX_FALSE_REFUSAL = 0.05
FOLDS = 5
C = 1.0


@dataclass
class Decision:
    source: str
    group: str  # the query: both versions of a SciFact query share a fold
    label: int  # 1: the evidence answers, 0: it does not
    features: dict[str, float]


def _features(assistant: Assistant, question: str, history=None, exclude=frozenset()):
    session = assistant.start(question, history, mode="extractive")
    session.exclude = frozenset(exclude)
    assistant.prepare(session)
    return session


def scifact_decisions(assistant: Assistant, folder: Path, split: str, progress=print) -> list[Decision]:
    """Per query: gold present and retrieved (answer), gold removed (refuse)."""
    queries, qrels = split_queries(folder, split), load_qrels(folder, split)
    out = []
    for i, (qid, text) in enumerate(queries.items(), 1):
        gold = {d for d, g in qrels[qid].items() if g > 0}
        present = _features(assistant, text)
        if gold & {e.paper_id for e in present.evidence}:
            out.append(Decision("scifact", qid, 1, present.gate.features))
        removed = _features(assistant, text, exclude=gold)
        out.append(Decision("scifact", qid, 0, removed.gate.features))
        if i % 100 == 0:
            progress(f"  scifact {split}: {i}/{len(queries)} queries")
    return out


def dev_decisions(assistant: Assistant, dataset: Path) -> list[Decision]:
    out = []
    for item in load_dataset(dataset):
        history = []
        for question in item.questions[:-1]:
            answer = assistant.ask(question, history, mode="extractive")
            history += [{"role": "user", "content": question},
                        {"role": "assistant", "content": history_entry(answer)}]
        session = _features(assistant, item.questions[-1], history)
        out.append(Decision("dev", item.id, 0 if item.unanswerable else 1, session.gate.features))
    return out


def off_topic_decisions(assistant: Assistant, questions: dict[str, str], progress=print) -> list[Decision]:
    """Questions of another domain asked of this collection: nothing in it answers them."""
    out = []
    for i, (qid, text) in enumerate(questions.items(), 1):
        out.append(Decision("off_topic", qid, 0, _features(assistant, text).gate.features))
        if i % 200 == 0:
            progress(f"  off-topic: {i}/{len(questions)}")
    return out


def dev_questions(dataset: Path) -> dict[str, str]:
    """The dev set's standalone questions (first turns of follow-ups), by item id."""
    return {f"dev-{item.id}": item.questions[0] for item in load_dataset(dataset)}


def _columns() -> list[str]:
    return [f for features in FACTORS.values() for f in features]


def _matrix(decisions: list[Decision]) -> np.ndarray:
    """One row per decision, the factors' features side by side (evidence first, then detail)."""
    columns = _columns()
    return np.array([[d.features[f] for f in columns] for d in decisions], dtype=np.float64)


def _weights(decisions: list[Decision]) -> np.ndarray:
    """Each source weighs the same in total."""
    counts = {s: sum(d.source == s for d in decisions) for s in {d.source for d in decisions}}
    return np.array([len(decisions) / (len(counts) * counts[d.source]) for d in decisions])


@dataclass
class SignedFactors:
    """P(answer) = the product of logistic factors, each over its own columns of x (`sizes`), fitted by maximum
    likelihood with an L2 penalty (|w|^2 / 2C, sklearn's objective) and each weight held to the sign `SIGNS`
    gives its feature, by L-BFGS-B with bounds. With one factor it is sklearn's LogisticRegression with
    coefficient bounds (sklearn has none); with every sign free it equals it."""

    sizes: tuple[int, ...]
    coefs: list[np.ndarray]
    intercepts: list[float]

    @classmethod
    def fit(cls, x: np.ndarray, y: np.ndarray, sample_weight: np.ndarray, columns: list[str],
            sizes: tuple[int, ...] | None = None, c: float = C) -> SignedFactors:
        from scipy.optimize import minimize
        from scipy.special import expit, log_expit

        sizes = tuple(sizes or (x.shape[1],))
        edges = np.cumsum((0,) + sizes)
        parts = [x[:, a:b] for a, b in zip(edges, edges[1:], strict=False)]

        def unpack(theta: np.ndarray) -> list[tuple[float, np.ndarray]]:
            out, at = [], 0
            for size in sizes:
                out.append((theta[at], theta[at + 1: at + 1 + size]))
                at += 1 + size
            return out

        def loss(theta: np.ndarray) -> tuple[float, np.ndarray]:
            factors = unpack(theta)
            zs = [part @ w + b for part, (b, w) in zip(parts, factors, strict=True)]
            log_p = sum(log_expit(z) for z in zs)
            p = np.exp(log_p)
            log_not_p = np.log1p(-np.minimum(p, 1 - 1e-12))
            value = -(sample_weight * (y * log_p + (1 - y) * log_not_p)).sum()
            # d(loss)/d(log p) per row; d(log p)/dz_k = 1 - sigmoid(z_k)
            outer = -sample_weight * (y - (1 - y) * p / np.maximum(1 - p, 1e-12))
            grad = []
            for part, z, (_, w) in zip(parts, zs, factors, strict=True):
                g = outer * (1 - expit(z))
                value += w @ w / (2 * c)
                grad += [[g.sum()], part.T @ g + w / c]
            return value, np.concatenate(grad)

        sign_bounds = {1: (0.0, None), -1: (None, 0.0), 0: (None, None)}
        bounds, start, at = [], [], 0
        for k, size in enumerate(sizes):
            bounds += [(None, None)] + [sign_bounds[SIGNS[f]] for f in columns[at: at + size]]
            start += [0.0 if k == 0 else 3.0] + [0.0] * size  # later factors start near 1: the first one leads
            at += size
        result = minimize(loss, np.array(start), jac=True, method="L-BFGS-B", bounds=bounds,
                          options={"maxiter": 5000})
        if not result.success:
            raise RuntimeError(f"the gate's fit did not converge: {result.message}")
        unpacked = unpack(result.x)
        return cls(sizes, [w for _, w in unpacked], [float(b) for b, _ in unpacked])

    def factor_probabilities(self, x: np.ndarray) -> list[np.ndarray]:
        from scipy.special import expit

        edges = np.cumsum((0,) + self.sizes)
        return [expit(x[:, a:b] @ w + b0) for a, b, w, b0 in
                zip(edges, edges[1:], self.coefs, self.intercepts, strict=False)]

    def predict_proba(self, x: np.ndarray) -> np.ndarray:
        p = np.prod(self.factor_probabilities(x), axis=0)
        return np.column_stack([1 - p, p])


def fit(decisions: list[Decision]):
    from sklearn.preprocessing import StandardScaler

    x, y, w = _matrix(decisions), np.array([d.label for d in decisions]), _weights(decisions)
    scaler = StandardScaler().fit(x)
    sizes = tuple(len(features) for features in FACTORS.values())
    return scaler, SignedFactors.fit(scaler.transform(x), y, w, _columns(), sizes)


def cross_validated(decisions: list[Decision]) -> np.ndarray:
    """Out-of-fold probabilities, folds grouped by query and stratified by source and label."""
    from sklearn.model_selection import StratifiedGroupKFold

    strata = [f"{d.source}-{d.label}" for d in decisions]
    out = np.zeros(len(decisions))
    folds = StratifiedGroupKFold(n_splits=FOLDS, shuffle=True, random_state=0)
    for train, held in folds.split(np.zeros(len(decisions)), strata, [f"{d.source}:{d.group}" for d in decisions]):
        scaler, model = fit([decisions[i] for i in train])
        out[held] = model.predict_proba(scaler.transform(_matrix([decisions[i] for i in held])))[:, 1]
    return out


def gate_model(scaler, model: SignedFactors, threshold: float, info: dict) -> GateModel:
    """The fitted factors as the product's `GateModel` (each factor with its slice of the scaling)."""
    factors, at = [], 0
    for (name, features), coef, intercept in zip(FACTORS.items(), model.coefs, model.intercepts, strict=True):
        span = slice(at, at + len(features))
        factors.append(Factor(name, features, tuple(float(v) for v in scaler.mean_[span]),
                              tuple(float(v) for v in scaler.scale_[span]), tuple(float(v) for v in coef),
                              float(intercept)))
        at += len(features)
    return GateModel(tuple(factors), threshold, info)


def rates(probs: np.ndarray, labels: np.ndarray, threshold: float) -> dict[str, float]:
    answer = probs >= threshold
    pos, neg = labels == 1, labels == 0
    return {"false_refusal": float((~answer & pos).sum() / max(1, pos.sum())),
            "refusal": float((~answer & neg).sum() / max(1, neg.sum()))}


def operating_point(decisions: list[Decision], probs: np.ndarray) -> float:
    """The highest threshold with false refusal <= 5% on every source's answerable decisions."""
    labels = np.array([d.label for d in decisions])
    sources = {d.source for d in decisions}
    best = 0.0
    for t in np.arange(0.0, 1.0, 0.005):
        ok = all(rates(probs[mask], labels[mask], t)["false_refusal"] <= MAX_FALSE_REFUSAL
                 for mask in (np.array([d.source == s for d in decisions]) for s in sources))
        if ok:
            best = float(t)
    return round(best, 3)


def summarize(decisions: list[Decision], probs: np.ndarray, threshold: float) -> dict:
    out = {}
    for source in sorted({d.source for d in decisions}):
        mask = np.array([d.source == source for d in decisions])
        labels = np.array([d.label for d in decisions])[mask]
        out[source] = {"n": int(mask.sum()), "answer": int(labels.sum()), "refuse": int((labels == 0).sum()),
                       "roc_auc": roc_auc(list(probs[mask]), [bool(v) for v in labels]),
                       **rates(probs[mask], labels, threshold)}
    return out


def ensure_collections(home: Path, scifact: Path) -> tuple[Settings, Settings]:
    from paperchat.ingest.pipeline import ingest_paths

    bundled = Settings(home=home, collection="papers", _env_file=None)
    beir = Settings(home=home, collection=f"beir-{scifact.name}", _env_file=None)
    print("bundled papers:", ingest_paths([BUNDLED_PAPERS], bundled).summary(), flush=True)
    print("scifact:", ingest_paths([scifact / "corpus.jsonl"], beir, fmt="beir").summary(), flush=True)
    return bundled, beir


def _assistants(args) -> tuple[Assistant, Assistant]:
    """(the bundled papers' assistant, SciFact's), sharing one embedder; built once per run."""
    return _assistants_for(Path(args.home), Path(args.scifact))


@functools.lru_cache(maxsize=1)
def _assistants_for(home: Path, scifact: Path) -> tuple[Assistant, Assistant]:
    bundled, beir = ensure_collections(home, scifact)
    neutral = GateModel.neutral()  # features only: the model being trained does not decide anything here
    on_bundled = Assistant(bundled, gate=neutral)
    return on_bundled, Assistant(beir, embedder=on_bundled.retriever.embedder, gate=neutral)


def compute_decisions(args) -> tuple[list[Decision], list[Decision]]:
    """(training decisions: SciFact train + dev set, SciFact test decisions), through the product's chain."""
    on_bundled, on_scifact = _assistants(args)
    print("features: scifact train ...", flush=True)
    train = scifact_decisions(on_scifact, args.scifact, "train")
    print("features: dev set ...", flush=True)
    train += dev_decisions(on_bundled, args.dev)
    print("features: scifact test ...", flush=True)
    return train, scifact_decisions(on_scifact, args.scifact, "test")


def compute_off_topic(args) -> tuple[list[Decision], list[Decision]]:
    """(training off-topic decisions, SciFact test claims asked of the bundled collection)."""
    on_bundled, on_scifact = _assistants(args)
    print("features: off-topic ...", flush=True)
    train = off_topic_decisions(on_bundled, split_queries(args.scifact, "train"))
    train += off_topic_decisions(on_scifact, dev_questions(args.dev))
    return train, off_topic_decisions(on_bundled, split_queries(args.scifact, "test"))


def main() -> None:
    parser = argparse.ArgumentParser(description="Train the answer gate (writes rag/gate_model.json)")
    parser.add_argument("--home", type=Path, default=Path(".paperchat"), help="data directory for the collections")
    parser.add_argument("--scifact", type=Path, default=SCIFACT, help="BEIR SciFact folder")
    parser.add_argument("--dev", type=Path, default=DEV_SET, help="development set of the bundled collection")
    parser.add_argument("--out", type=Path, default=MODEL_FILE, help="where the model is written")
    parser.add_argument("--features", type=Path, default=None, help="keep the computed decisions in this JSON file "
                        "and reuse it when it exists (only when the features' code did not change)")
    args = parser.parse_args()
    if "test" in args.dev.name:
        parser.error("the frozen test set never trains the gate")
    started = time.perf_counter()
    saved = json.loads(args.features.read_text(encoding="utf-8")) if args.features and args.features.exists() else {}
    if "train" not in saved:
        saved["train"], saved["test"] = ([d.__dict__ for d in part] for part in compute_decisions(args))
    if "off_topic_train" not in saved:
        saved["off_topic_train"], saved["off_topic_test"] = ([d.__dict__ for d in part]
                                                             for part in compute_off_topic(args))
    if args.features:
        args.features.write_text(json.dumps(saved), encoding="utf-8")
    train, test, off_train, off_test = ([Decision(**d) for d in saved[part]] for part in
                                        ("train", "test", "off_topic_train", "off_topic_test"))
    train += off_train
    print(f"decisions: {len(train)} train ({len(off_train)} off-topic), {len(test)} + {len(off_test)} test",
          flush=True)
    probs = cross_validated(train)
    threshold = operating_point(train, probs)
    scaler, model = fit(train)
    test_probs = model.predict_proba(scaler.transform(_matrix(test)))[:, 1]
    test_summary = summarize(test, test_probs, threshold)["scifact"]
    off_probs = model.predict_proba(scaler.transform(_matrix(off_test)))[:, 1]
    test_summary["off_topic_refusal"] = float((off_probs < threshold).mean())
    import sklearn

    gate = gate_model(
        scaler, model, threshold,
        info={
            "trained_on": {"scifact_train": {"folder": str(args.scifact), "split": "train"},
                           "off_topic": "SciFact train claims asked of the bundled papers; dev questions asked "
                                        "of SciFact",
                           "dev": {"path": str(args.dev.relative_to(PACKAGE_ROOT) if args.dev.is_relative_to(
                               PACKAGE_ROOT) else args.dev), "items": sum(d.source == "dev" for d in train)},
                           "decisions": len(train)},
            "model": f"the product of logistic factors (rag.gate.FACTORS; L2, C={C}), each weight held to its sign "
                     "in rag.gate.SIGNS, standardised features, each source weighted equally",
            "signs": SIGNS,
            "operating_point": f"highest threshold with cross-validated false refusal <= {MAX_FALSE_REFUSAL} "
                               f"on every source ({FOLDS}-fold, grouped by query)",
            "cross_validation": summarize(train, probs, threshold),
            "scifact_test": test_summary,
            "command": "python -m paperchat.evals.train_gate",
            "git": (git_info() or {}).get("commit"), "sklearn": sklearn.__version__,
            "python": platform.python_version(), "created": time.strftime("%Y-%m-%d %H:%M"),
        })
    args.out.write_text(json.dumps(gate.to_json(), indent=2) + "\n", encoding="utf-8")
    print(f"\nthreshold {threshold} (cross-validated false refusal <= {MAX_FALSE_REFUSAL} per source)")
    for source, row in gate.info["cross_validation"].items():
        auc = "  -  " if row["roc_auc"] is None else f"{row['roc_auc']:.3f}"
        print(f"  CV {source:9s} n={row['n']:4d} AUC {auc}  refusal {row['refusal']:.3f}  "
              f"false refusal {row['false_refusal']:.3f}")
    print(f"  SciFact test (gold present vs removed) n={test_summary['n']} AUC {test_summary['roc_auc']:.3f}  "
          f"refusal {test_summary['refusal']:.3f}  false refusal {test_summary['false_refusal']:.3f}")
    print(f"  SciFact test claims asked of the bundled papers: refused {test_summary['off_topic_refusal']:.3f}")
    for factor in gate.factors:
        print(f"  {factor.name} factor: intercept {factor.intercept:+.2f}, weights", ", ".join(
            f"{f} {w:+.2f}" for f, w in zip(factor.features, factor.weights, strict=True)))
    print(f"wrote {args.out} ({time.perf_counter() - started:.0f} s)")


if __name__ == "__main__":
    main()
