"""One settings object for the whole program (env prefix PAPERCHAT_, .env honoured).

Nested groups use a double underscore in the environment, for example
PAPERCHAT_CHUNK__SIZE=300 or PAPERCHAT_CHROMA__HOST=127.0.0.1. Settings fail loudly: an unknown
PAPERCHAT_* variable (a misspelling) or a bad value is one line naming the variable, the value and what
is allowed (`load_settings`), never a silently ignored setting or a traceback.
"""

from __future__ import annotations

import difflib
import hashlib
import json
import os
import re
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError
from pydantic_settings import BaseSettings, SettingsConfigDict
from pydantic_settings import SettingsError as _SourceError

from paperchat.rag.errors import PaperchatError

PACKAGE_ROOT = Path(__file__).resolve().parent.parent
BUNDLED_PAPERS = PACKAGE_ROOT / "data" / "papers.txt"
ENV_PREFIX = "PAPERCHAT_"


class SettingsError(PaperchatError):
    """A setting with a bad value, or a PAPERCHAT_* variable that names no setting."""


class _Group(BaseModel):
    """A nested settings group: unknown keys are errors, not silently ignored."""

    model_config = ConfigDict(extra="forbid")


#: Padded tokens per onnxruntime run of the bundled model (8 full-length chunks): an ingest of 1,000 papers peaks at
#: 825 MB, against 2,036 MB at 8,192, at the same papers/s (docs/scale.md).
MAX_BATCH_TOKENS = 2048


class EmbeddingSettings(_Group):
    backend: Literal["onnx", "openai"] = Field(
        "onnx", description="onnx: the bundled all-MiniLM-L6-v2 int8 model; openai: an OpenAI-compatible endpoint"
    )
    model: str = Field(
        "text-embedding-3-small", description="Model name for the openai backend (ignored by onnx)"
    )
    base_url: str | None = Field(None, description="Embeddings endpoint for the openai backend")
    api_key: SecretStr | None = Field(None, description="Key for the embeddings endpoint (falls back to "
                                      "OPENAI_API_KEY)")
    batch_size: int = Field(64, ge=1, le=1_000_000, description="Texts per embedding call")
    concurrency: int = Field(2, ge=1, le=64, description="Embedding requests in flight at once (openai backend)")
    threads: int = Field(0, ge=0, le=256, description="onnxruntime intra-op threads (0: one per core)")
    max_batch_tokens: int = Field(MAX_BATCH_TOKENS, ge=256, le=1_048_576, description="Padded tokens per "
                                  "onnxruntime run (onnx backend): the memory a run needs grows with it")
    arena: bool = Field(True, description="onnxruntime's memory arena (onnx backend): faster, but the process "
                        "keeps its peak memory")


class ChromaSettings(_Group):
    host: str | None = Field(None, description="Chroma server host; unset means the embedded store in the data dir")
    port: int = Field(8000, ge=1, le=65535, description="Chroma server port")
    ssl: bool = Field(False, description="Use https for the Chroma server")


class ChunkSettings(_Group):
    size: int = Field(256, ge=32, le=8192, description="Chunk size in tiktoken (cl100k_base) tokens, title excluded")
    overlap: int = Field(48, ge=0, le=4096, description="Tokens shared by neighbouring chunks")


class RetrievalSettings(_Group):
    k: int = Field(10, ge=1, le=1000, description="Papers returned by search")
    candidates: int = Field(300, ge=1, le=10000, description="Chunks fetched from each retriever before fusion "
                            "(the depth `paperchat search` and the benchmark both use)")
    fusion: Literal["convex", "rrf"] = Field(
        "convex", description="convex: weighted sum of max-normalised scores; rrf: reciprocal rank fusion"
    )
    dense_share: float = Field(0.6, ge=0, le=1, description="convex fusion: weight of the dense score (BM25: 1 - it)")
    rrf_k: int = Field(2, ge=1, description="rrf fusion: the rank constant")
    rrf_bm25_weight: float = Field(1.2, ge=0, description="rrf fusion: weight of the BM25 ranking (dense: 1)")
    name_boost: float = Field(1.0, ge=0, description="Added to the fused score of a paper the query calls by its "
                              "title, name or acronym (times the match's strength; 0 turns name lookups off)")
    expand_acronyms: bool = Field(True, description="Spell out acronyms the collection defines in the query "
                                  "('DPR' -> 'dense passage retrieval') for both retrievers")


class LLMSettings(_Group):
    model: str = Field("gpt-4o-mini", description="Chat model name at the endpoint")
    base_url: str | None = Field(None, description="OpenAI-compatible base URL (Ollama, vLLM, llama.cpp, LM Studio)")
    api_key: SecretStr | None = Field(None, description="API key (falls back to OPENAI_API_KEY)")
    temperature: float = Field(0.0, ge=0, le=2, description="Sampling temperature")
    timeout: float = Field(20.0, gt=0, le=600, description="Deadline in seconds for one answer: every LLM call of "
                           "it (condensing, answering) shares it; past it the offline answer is given with a notice")
    first_token_timeout: float = Field(10.0, gt=0, le=600, description="Seconds to wait for the first streamed "
                                       "token (within the deadline)")
    stall_timeout: float = Field(6.0, gt=0, le=600, description="Seconds a stream may pause between tokens")
    concurrency: int = Field(2, ge=1, le=64, description="LLM answers the web server computes at once (offline "
                             "answers never wait for these slots)")
    context_tokens: int = Field(3000, ge=256, le=1_000_000, description="Token budget for the evidence in the "
                                "prompt")


class AnswerSettings(_Group):
    evidence_k: int = Field(5, ge=1, le=50, description="Papers given to the answer as numbered evidence")
    max_passage_chunks: int = Field(4, ge=1, description="Papers up to this many chunks are given whole; "
                                    "longer ones as the best chunk and its neighbours")
    gate_depth: int = Field(3, ge=1, description="Top papers the answer gate looks at")
    min_confidence: float | None = Field(None, ge=0, le=1, description="The gate's operating point: answer when "
                                         "its confidence is at least this (unset: the trained model's own, chosen "
                                         "by cross-validation for false refusal <= 5%)")
    lexical_weight: float = Field(0.1, ge=0, description="Weight of term coverage in sentence scores")
    repeat_penalty: float = Field(0.2, ge=0, description="Penalty for sentences an earlier answer already gave")
    name_bonus: float = Field(0.1, ge=0, description="Bonus for papers the question calls by name "
                              "(the title's part before a colon, e.g. 'GaLore')")
    number_bonus: float = Field(0.2, ge=0, description="Bonus for sentences with numbers when the question "
                                "asks how much / how many / what rate")
    focus_bonus: float = Field(0.15, ge=0, description="Score bonus for papers a follow-up points at")
    rank_penalty: float = Field(0.02, ge=0, description="Score penalty per evidence rank")
    single_max_sentences: int = Field(4, ge=1, description="Sentences in a single-paper offline answer, at most")
    result_sentence: bool = Field(True, description="A single-paper offline answer with room also gives the "
                                  "paper's best-scoring sentence that states a result with its number")
    slot_sentence: bool = Field(True, description="When the question asks for a detail of a kind (a dataset, a "
                                "metric, hardware, a cost, a duration, a model size, an institution), the "
                                "offline answer includes the paper's best sentence that names one")
    multi_paper_margin: float = Field(0.16, ge=0, description="Multi-paper questions: papers whose best "
                                      "sentence is within this of the best are cited")
    sentence_margin: float = Field(0.15, ge=0, description="Sentences within this of the best are used")
    max_papers: int = Field(4, ge=1, description="Papers a multi-paper answer may cite")
    min_paper_coverage: float = Field(0.5, ge=0, le=1, description="Multi-paper questions: a paper is cited only "
                                      "when its passage covers at least this share of the best paper's coverage "
                                      "of the question's terms")
    min_sentences: int = Field(2, ge=1, description="Sentences in an offline answer, at least")
    max_sentences: int = Field(6, ge=1, description="Sentences in an offline answer, at most")


class LimitSettings(_Group):
    max_question_chars: int = Field(4000, ge=10, le=1_000_000, description="Longest question accepted (CLI, web, "
                                    "API)")
    max_record_bytes: int = Field(2_000_000, ge=1000, le=1_000_000_000, description="Largest paper record read; "
                                  "a bigger one is a bad record (an error naming file:line, or skipped with "
                                  "--skip-bad)")


class IngestSettings(_Group):
    batch_size: int = Field(512, ge=1, le=100_000, description="Papers per write batch (whole papers; one batch "
                            "is written while the next is embedded)")


#: What Chroma accepts as a collection name (the setting and `rag.store.check_name` share it).
COLLECTION_NAME = r"[a-zA-Z0-9][a-zA-Z0-9._-]{1,510}[a-zA-Z0-9]"
COLLECTION_RULE = "3-512 letters, digits, '.', '_' or '-', starting and ending with a letter or digit"


class Settings(BaseSettings):
    """Everything paperchat can be told, with where it comes from documented per field."""

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX, env_nested_delimiter="__", env_file=".env", extra="ignore"
    )

    home: Path = Field(Path(".paperchat"), description="Data directory: Chroma store, keyword index, caches")
    collection: str = Field("papers", description=f"Chroma collection name: {COLLECTION_RULE}",
                            pattern=f"^{COLLECTION_NAME}$")
    embedding: EmbeddingSettings = Field(default_factory=EmbeddingSettings)
    chroma: ChromaSettings = Field(default_factory=ChromaSettings)
    chunk: ChunkSettings = Field(default_factory=ChunkSettings)
    retrieval: RetrievalSettings = Field(default_factory=RetrievalSettings)
    llm: LLMSettings = Field(default_factory=LLMSettings)
    answer: AnswerSettings = Field(default_factory=AnswerSettings)
    limits: LimitSettings = Field(default_factory=LimitSettings)
    ingest: IngestSettings = Field(default_factory=IngestSettings)
    auth: SecretStr | None = Field(None, description="USER:PASSWORD that the web UI and its API require "
                                   "(the same as serve --auth)")
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = Field(
        "WARNING", description="Level of paperchat's own log messages on stderr (-v: INFO, -vv: DEBUG)")
    openai_api_key: SecretStr | None = Field(
        None, validation_alias="OPENAI_API_KEY", description="Standard OpenAI key, used when no other key is set"
    )
    openai_base_url: str | None = Field(
        None, validation_alias="OPENAI_BASE_URL", description="Standard OpenAI base URL, used when none is set"
    )

    @property
    def index_dir(self) -> Path:
        """Where the keyword index of this collection lives (per server when one is used)."""
        where = f"{self.chroma.host}_{self.chroma.port}" if self.chroma.host else "local"
        return self.home / "bm25" / where / self.collection

    def llm_configured(self) -> bool:
        return bool(self.llm.base_url or self.llm.api_key or self.openai_api_key or self.openai_base_url)

    @property
    def embedding_model(self) -> str:
        """The name of the model that makes the vectors (what a collection records)."""
        if self.embedding.backend == "openai":
            return f"openai:{self.embedding.model}"
        from paperchat.rag.embeddings import MINILM_NAME

        return MINILM_NAME

    @property
    def fingerprint(self) -> dict[str, Any]:
        """The settings as JSON (secrets only as set or unset) with the embedding model actually used, and the
        sha256 of that JSON without the data directory (where the data lives does not change the answers)."""
        data = _without_url_credentials(self.model_dump(mode="json"))
        data["embedding"]["model"] = self.embedding_model
        hashed = {k: v for k, v in data.items() if k != "home"}
        sha = hashlib.sha256(json.dumps(hashed, sort_keys=True, separators=(",", ":")).encode()).hexdigest()
        return {"sha256": sha, "settings": data}


def _without_url_credentials(value: Any) -> Any:
    """'http://user:pw@host/v1' -> 'http://<redacted>@host/v1', anywhere in the settings' JSON."""
    if isinstance(value, dict):
        return {k: _without_url_credentials(v) for k, v in value.items()}
    if isinstance(value, str) and "://" in value and "@" in value:
        return re.sub(r"://[^/@]*@", "://<redacted>@", value)
    return value


def secret(value: SecretStr | None) -> str | None:
    """The plain text of a secret setting, for the one call that needs it."""
    return value.get_secret_value() if value is not None else None


def _paths(model: type[BaseModel], prefix: str = "") -> Iterator[tuple[str, bool]]:
    """(variable suffix, is a group) for every field, nested groups included."""
    for name, info in model.model_fields.items():
        if isinstance(info.validation_alias, str):
            continue  # OPENAI_API_KEY and friends: not PAPERCHAT_ variables
        group = isinstance(info.annotation, type) and issubclass(info.annotation, BaseModel)
        yield prefix + name.upper(), group
        if group:
            yield from _paths(info.annotation, prefix + name.upper() + "__")


def setting_names() -> list[str]:
    """Every PAPERCHAT_* variable name that sets something."""
    return [ENV_PREFIX + path for path, group in _paths(Settings) if not group]


def _dotenv(path: Path | None) -> dict[str, str]:
    if path is None or not Path(path).is_file():
        return {}
    from dotenv import dotenv_values

    return {k: v or "" for k, v in dotenv_values(path).items()}


def unknown_variables(environ: Mapping[str, str] | None = None, env_file: Path | None = Path(".env")) -> list[str]:
    """PAPERCHAT_* variables (environment and .env) that set nothing, each with the closest real name."""
    names = setting_names()
    groups = {ENV_PREFIX + path for path, group in _paths(Settings) if group}
    found = {**_dotenv(env_file), **(os.environ if environ is None else environ)}
    out = []
    for key in sorted(found):
        upper = key.upper()
        if not upper.startswith(ENV_PREFIX) or upper in names or upper in groups:
            continue
        close = difflib.get_close_matches(upper, names, n=1, cutoff=0.75)
        out.append(f"{key} is not a setting" + (f" (did you mean {close[0]}?)" if close else ""))
    return out


def _describe(error: dict) -> str:
    """One pydantic error as "PAPERCHAT_X='value': what is allowed"."""
    name = ENV_PREFIX + "__".join(str(part).upper() for part in error["loc"] if not isinstance(part, int))
    if error["type"] == "extra_forbidden":
        return f"{name} is not a setting"
    given = error.get("input")
    value = "" if given is None or isinstance(given, dict | list) else f"={str(given)!r}"
    message = error["msg"].removeprefix("Value error, ")
    if error["type"] == "string_pattern_mismatch" and (allowed := _allowed(error["loc"])):
        message = f"must be {allowed}"  # what the pattern means, not the regex
    return f"{name}{value}: {message[:1].lower() + message[1:]}"


def _allowed(loc: tuple) -> str | None:
    """What a field's description says is allowed (the part after its colon), found by the error's location."""
    model: Any = Settings
    info = None
    for part in (p for p in loc if not isinstance(p, int)):
        fields = getattr(model, "model_fields", {})
        if part not in fields:
            return None
        info = fields[part]
        model = info.annotation
    description = info.description if info else None
    return description.split(": ", 1)[1] if description and ": " in description else None


def load_settings(**overrides: Any) -> Settings:
    """Settings from the environment and .env with `overrides` on top; one SettingsError line for every bad
    or unknown setting."""
    env_file = overrides.get("_env_file", Path(".env"))
    problems = unknown_variables(env_file=Path(env_file) if env_file else None)
    settings = None
    try:
        settings = Settings(**overrides)
    except _SourceError as exc:  # a group variable that is not JSON: PAPERCHAT_EMBEDDING='{not json'
        field = re.search(r'field "(\w+)"', str(exc))
        name = ENV_PREFIX + (field.group(1).upper() if field else "?")
        problems.append(f"{name}: not valid JSON; set one value at a time instead, e.g. {name}__<FIELD>=value")
    except ValidationError as exc:
        named = {problem.split(" ", 1)[0] for problem in problems}
        problems += [_describe(e) for e in exc.errors() if not (e["type"] == "extra_forbidden" and
                                                                 _describe(e).split(" ", 1)[0] in named)]
    if problems or settings is None:
        raise SettingsError("bad setting: " + "; ".join(dict.fromkeys(problems)))
    return settings


def env_example() -> str:
    """The text of `.env.example`: every setting, commented out, with its meaning and default (a test keeps the
    file equal to this)."""
    def walk(model: type[BaseModel], prefix: str = "") -> Iterator[tuple[str, Any]]:
        for name, info in model.model_fields.items():
            if isinstance(info.validation_alias, str):
                yield info.validation_alias, info
            elif isinstance(info.annotation, type) and issubclass(info.annotation, BaseModel):
                yield from walk(info.annotation, prefix + name.upper() + "__")
            else:
                yield ENV_PREFIX + prefix + name.upper(), info

    lines = ["# paperchat settings: copy to .env (or export them) and uncomment what you change.",
             "# Every PAPERCHAT_* variable is checked: a misspelled name or a bad value is an error naming it."]
    group = None
    for var, info in walk(Settings):
        name = var.removeprefix(ENV_PREFIX).split("__")[0].lower() if "__" in var else "general"
        if name != group:
            lines += ["", f"# --- {name}"]
            group = name
        default = info.default
        shown = "" if default is None else str(default).lower() if isinstance(default, bool) else str(default)
        lines += [f"# {info.description}", f"# {var}={shown}"]
    return "\n".join(lines) + "\n"
