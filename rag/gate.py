"""The answer gate: can this evidence answer the question? A small calibrated model, not hand-set thresholds.

Features come from what retrieval and the sentence analysis already computed (dense similarity of the top
paper and its margin over the next, BM25 evidence strength, the best question-sentence similarity, term
coverage, coverage of what a wh-question asks for, the share of terms the collection never uses), the detail
check of `rag.slots` (the question wants a number, a GPU, a dataset...: does the top paper's passage have one
next to what is asked?) and an entity check: coined names of the question (versioned, camel-case, acronyms,
hyphenated model names) that no retrieved passage contains, "FlashAttention-2" when only FlashAttention is
there; the same check for plain capitalised names inside the question ("Longformer", "Perceiver", "Ring
Attention"), which coined-name rules do not see; and whether the top paper is one the question calls by its
title or name ("What does the DeiT paper introduce?").

Two logistic factors, each weight held to the sign `SIGNS` gives it, turn them into the probability that the
evidence answers the question, the answer's `confidence`: P(the evidence is about what is asked) x P(it holds the
detail asked for) (`FACTORS`). The detail factor reads only the detail check and the coverage of what a
wh-question asks for; being a factor, not a term of one sum, a paper the question plainly names cannot outvote a
detail it does not state ("How many dialogue systems does the WavChat survey review?": the right survey, no
count). It is trained by `python -m paperchat.evals.train_gate` on decisions nobody here wrote (SciFact
queries with their gold papers present, and the same queries with the gold papers removed from the
candidates) together with the development set, and saved as `gate_model.json` beside this file with the data
that trained it and the operating point chosen by cross-validation (false refusal ≤ 5%).
`answer.min_confidence` overrides that operating point.
"""

from __future__ import annotations

import functools
import json
import math
from dataclasses import dataclass, field
from pathlib import Path

from paperchat.rag.errors import PaperchatError
from paperchat.rag.extractive import Analysis
from paperchat.rag.names import NameIndex, coined_names, mentions, proper_names
from paperchat.rag.slots import found, wanted
from paperchat.rag.text import tokenize
from paperchat.rag.types import Evidence, SearchHit

MODEL_FILE = Path(__file__).with_name("gate_model.json")
BM25_K1 = 1.2

#: The features, in the order the model's weights are stored.
FEATURES = ("dense_top", "dense_margin", "bm25_strength", "bm25_margin", "sentence_similarity", "coverage",
            "asked_coverage", "asks_detail", "unknown_share", "names_missing", "has_names", "asks_slot",
            "slot_found", "named_paper", "proper_missing")

#: The direction each feature may push the confidence, imposed on the fit (`evals.train_gate`): more
#: similarity, coverage or lexical evidence never lowers it; a name or term the evidence or the collection lacks
#: never raises it; 0 leaves a weight free. Without this the fit gave the top dense similarity and BM25 strength
#: negative weights (in SciFact a removed gold paper leaves near-duplicates behind), which no reader of the model
#: could explain and which fitted the training sources rather than the questions.
SIGNS = {"dense_top": 1, "dense_margin": 1, "bm25_strength": 1, "bm25_margin": 1, "sentence_similarity": 1,
         "coverage": 1, "asked_coverage": 1, "asks_detail": 0, "unknown_share": -1, "names_missing": -1,
         "has_names": 0, "asks_slot": 0, "slot_found": 1, "named_paper": 1, "proper_missing": -1}

#: The features of each factor: the detail factor asks "does the text hold the kind of detail asked for?", the
#: evidence factor everything else. A model multiplies their probabilities.
DETAIL_FEATURES = ("asked_coverage", "asks_detail", "asks_slot", "slot_found")
FACTORS = {"evidence": tuple(f for f in FEATURES if f not in DETAIL_FEATURES), "detail": DETAIL_FEATURES}


@dataclass
class GateDecision:
    features: dict[str, float]
    confidence: float
    threshold: float
    missing_names: list[str] = field(default_factory=list)
    factors: dict[str, float] = field(default_factory=dict)  # each factor's probability; confidence = their product

    @property
    def passed(self) -> bool:
        return self.confidence >= self.threshold

    def trace(self) -> dict:
        return {"confidence": round(self.confidence, 4), "threshold": self.threshold, "passed": self.passed,
                "factors": {k: round(v, 4) for k, v in self.factors.items()},
                "features": {k: round(v, 4) for k, v in self.features.items()},
                "missing_names": self.missing_names}


def evidence_text(evidence: list[Evidence]) -> str:
    """The titles and passages of the evidence, as the name checks read them."""
    return "\n".join(f"{e.title}\n{e.text}" for e in evidence)


def missing_names(question: str, evidence: list[Evidence], names: NameIndex,
                  text: str | None = None) -> tuple[list[str], list[str]]:
    """(coined names of the question, those no evidence passage contains). An acronym counts as present when
    its long form (as the collection defines it) is there, and a name as present when it is what an evidence
    paper goes by (DeiT, the initialism of 'Data-efficient image Transformers', names that paper). `text`: the
    evidence's `evidence_text`, when the caller has it already."""
    found = coined_names(question)
    text = evidence_text(evidence) if text is None else text
    lower = text.lower()
    papers = {e.paper_id for e in evidence}
    absent = [n for n in found if not mentions(text, n)
              and not (n in names.acronyms and names.acronyms[n] in lower)
              and not any(m.paper_id in papers for m in names.lookup(n, fuzzy=False))]
    return found, absent


def bm25_strength(score: float | None, query: str, idf) -> float:
    """A BM25 score as a share of the most the query's terms could score (each term's idf x (k1 + 1))."""
    if not score:
        return 0.0
    terms = set(tokenize([query])[0])
    ceiling = sum(idf(t) for t in terms) * (BM25_K1 + 1)
    return min(1.0, score / ceiling) if ceiling else 0.0


def features(question: str, query: str, hits: list[SearchHit], evidence: list[Evidence], analysis: Analysis,
             names: NameIndex, idf, depth: int = 3) -> tuple[dict[str, float], list[str]]:
    """The gate's features for one question (and the names missing from the evidence)."""
    dense = sorted((h.dense_score or 0.0 for h in hits), reverse=True) + [0.0, 0.0]
    lexical = sorted((h.bm25_score or 0.0 for h in hits), reverse=True) + [0.0, 0.0]
    text = evidence_text(evidence[:depth])
    coined, absent = missing_names(question, evidence[:depth], names, text)
    slot = wanted(question)
    named = {m.paper_id for m in names.lookup(question, fuzzy=False)}
    proper = proper_names(question)
    proper_absent = [n for n in proper if not mentions(text, n)]
    values = {
        "dense_top": dense[0],
        "dense_margin": dense[0] - dense[1],
        "bm25_strength": bm25_strength(lexical[0], query, idf),
        "bm25_margin": bm25_strength(lexical[0], query, idf) - bm25_strength(lexical[1], query, idf),
        "sentence_similarity": analysis.best_similarity,
        "coverage": analysis.coverage,
        "asked_coverage": 1.0 if analysis.asked_coverage is None else analysis.asked_coverage,
        "asks_detail": 0.0 if analysis.asked_coverage is None else 1.0,
        "unknown_share": analysis.unknown_share,
        "names_missing": len(absent) / len(coined) if coined else 0.0,
        "has_names": 1.0 if coined else 0.0,
        "asks_slot": 0.0 if slot is None else 1.0,
        "slot_found": 1.0 if slot is None else found(slot, [e.text for e in evidence[:1]]),  # the paper asked about
        "named_paper": 1.0 if evidence and evidence[0].paper_id in named else 0.0,
        "proper_missing": len(proper_absent) / len(proper) if proper else 0.0,
    }
    return values, absent + proper_absent


def _sigmoid(z: float) -> float:
    return 1.0 / (1.0 + math.exp(-max(-50.0, min(50.0, z))))


@dataclass(frozen=True)
class Factor:
    """One logistic factor: standardise its features, weigh, sigmoid."""

    name: str
    features: tuple[str, ...]
    mean: tuple[float, ...]
    scale: tuple[float, ...]
    weights: tuple[float, ...]
    intercept: float

    def probability(self, values: dict[str, float]) -> float:
        return _sigmoid(self.intercept + sum(w * (values[f] - m) / s for f, m, s, w in
                                             zip(self.features, self.mean, self.scale, self.weights, strict=True)))

    def to_json(self) -> dict:
        return {"name": self.name, "features": list(self.features), "mean": list(self.mean),
                "scale": list(self.scale), "weights": list(self.weights), "intercept": self.intercept}

    @classmethod
    def from_json(cls, data: dict) -> Factor:
        return cls(str(data["name"]), tuple(data["features"]), tuple(data["mean"]), tuple(data["scale"]),
                   tuple(data["weights"]), float(data["intercept"]))


@dataclass(frozen=True)
class GateModel:
    """The product of its factors' probabilities. Loaded from the JSON `evals.train_gate` writes."""

    factors: tuple[Factor, ...]
    threshold: float
    info: dict = field(default_factory=dict, compare=False)

    @property
    def features(self) -> tuple[str, ...]:
        return tuple(f for factor in self.factors for f in factor.features)

    def factor_probabilities(self, values: dict[str, float]) -> dict[str, float]:
        return {factor.name: factor.probability(values) for factor in self.factors}

    def probability(self, values: dict[str, float]) -> float:
        return math.prod(self.factor_probabilities(values).values())

    @classmethod
    def neutral(cls) -> GateModel:
        """A model that decides nothing (probability 0.5): for computing features before a model exists."""
        n = len(FEATURES)
        return cls((Factor("neutral", FEATURES, (0.0,) * n, (1.0,) * n, (0.0,) * n, 0.0),), 0.5, {"neutral": True})

    def to_json(self) -> dict:
        return {"factors": [f.to_json() for f in self.factors], "threshold": self.threshold, **self.info}

    @classmethod
    def from_json(cls, data: dict) -> GateModel:
        factors = tuple(Factor.from_json(f) for f in data.get("factors") or [])
        if {f.name: f.features for f in factors} != FACTORS:
            raise ValueError(f"the gate model was trained on factors {[(f.name, list(f.features)) for f in factors]}, "
                             f"the code computes {FACTORS}: retrain it with `python -m paperchat.evals.train_gate`")
        return cls(factors, float(data["threshold"]),
                   {k: v for k, v in data.items() if k not in {"factors", "threshold"}})


@functools.lru_cache(maxsize=4)
def load_model(path: Path = MODEL_FILE) -> GateModel:
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise PaperchatError(f"the answer gate's model {path} cannot be read ({exc}): reinstall paperchat or "
                             "retrain it with `python -m paperchat.evals.train_gate`") from exc
    try:
        return GateModel.from_json(data)
    except (KeyError, TypeError, ValueError) as exc:
        raise PaperchatError(f"the answer gate's model {path} does not fit this code ({exc})") from exc


def decide(values: dict[str, float], absent: list[str], min_confidence: float | None = None,
           model: GateModel | None = None) -> GateDecision:
    model = model or load_model()
    threshold = model.threshold if min_confidence is None else min_confidence
    factors = model.factor_probabilities(values)
    return GateDecision(values, math.prod(factors.values()), threshold, absent, factors)
