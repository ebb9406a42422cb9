"""One settings object for the whole program (env prefix PAPERCHAT_, .env honoured).

Nested groups use a double underscore in the environment, for example
PAPERCHAT_CHUNK__SIZE=300 or PAPERCHAT_CHROMA__HOST=127.0.0.1.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field
from pydantic_settings import BaseSettings, SettingsConfigDict

PACKAGE_ROOT = Path(__file__).resolve().parent.parent
BUNDLED_PAPERS = PACKAGE_ROOT / "data" / "papers.txt"


class EmbeddingSettings(BaseModel):
    backend: Literal["onnx", "openai"] = Field(
        "onnx", description="onnx: the bundled all-MiniLM-L6-v2 int8 model; openai: an OpenAI-compatible endpoint"
    )
    model: str = Field(
        "text-embedding-3-small", description="Model name for the openai backend (ignored by onnx)"
    )
    base_url: str | None = Field(None, description="Embeddings endpoint for the openai backend")
    api_key: str | None = Field(None, description="Key for the embeddings endpoint (falls back to OPENAI_API_KEY)")
    batch_size: int = Field(64, ge=1, description="Texts per embedding call")
    threads: int = Field(0, ge=0, description="onnxruntime intra-op threads (0: one per core)")


class ChromaSettings(BaseModel):
    host: str | None = Field(None, description="Chroma server host; unset means the embedded store in the data dir")
    port: int = Field(8000, description="Chroma server port")
    ssl: bool = Field(False, description="Use https for the Chroma server")


class ChunkSettings(BaseModel):
    size: int = Field(256, ge=32, description="Chunk size in tiktoken (cl100k_base) tokens, title excluded")
    overlap: int = Field(48, ge=0, description="Tokens shared by neighbouring chunks")


class RetrievalSettings(BaseModel):
    k: int = Field(10, ge=1, description="Papers returned by search")
    candidates: int = Field(300, ge=1, le=10000, description="Chunks fetched from each retriever before fusion "
                            "(the depth `paperchat search` and the benchmark both use)")
    fusion: Literal["convex", "rrf"] = Field(
        "convex", description="convex: weighted sum of max-normalised scores; rrf: reciprocal rank fusion"
    )
    dense_share: float = Field(0.6, ge=0, le=1, description="convex fusion: weight of the dense score (BM25: 1 - it)")
    rrf_k: int = Field(2, ge=1, description="rrf fusion: the rank constant")
    rrf_bm25_weight: float = Field(1.2, ge=0, description="rrf fusion: weight of the BM25 ranking (dense: 1)")


class LLMSettings(BaseModel):
    model: str = Field("gpt-4o-mini", description="Chat model name at the endpoint")
    base_url: str | None = Field(None, description="OpenAI-compatible base URL (Ollama, vLLM, llama.cpp, LM Studio)")
    api_key: str | None = Field(None, description="API key (falls back to OPENAI_API_KEY)")
    temperature: float = Field(0.0, ge=0, le=2, description="Sampling temperature")
    timeout: float = Field(60.0, gt=0, description="Seconds to wait for the endpoint")
    context_tokens: int = Field(3000, ge=256, description="Token budget for the evidence in the prompt")


class AnswerSettings(BaseModel):
    evidence_k: int = Field(5, ge=1, description="Papers given to the answer as numbered evidence")
    max_passage_chunks: int = Field(4, ge=1, description="Papers up to this many chunks are given whole; "
                                    "longer ones as the best chunk and its neighbours")
    gate_depth: int = Field(3, ge=1, description="Top papers the answer gate looks at")
    min_similarity: float = Field(0.3, description="Gate: best question-sentence cosine similarity to answer")
    min_coverage: float = Field(0.05, description="Gate: IDF-weighted share of question terms in the best paper")
    min_asked_coverage: float = Field(0.6, description="Gate: share of what a wh-question asks for "
                                      "('learning rate') found in one passage")
    max_unknown_share: float = Field(0.45, description="Gate: share of question terms the collection never uses")
    lexical_weight: float = Field(0.1, ge=0, description="Weight of term coverage in sentence scores")
    repeat_penalty: float = Field(0.2, ge=0, description="Penalty for sentences an earlier answer already gave")
    name_bonus: float = Field(0.1, ge=0, description="Bonus for papers the question calls by name "
                              "(the title's part before a colon, e.g. 'GaLore')")
    number_bonus: float = Field(0.2, ge=0, description="Bonus for sentences with numbers when the question "
                                "asks how much / how many / what rate")
    focus_bonus: float = Field(0.15, ge=0, description="Score bonus for papers a follow-up points at")
    rank_penalty: float = Field(0.02, ge=0, description="Score penalty per evidence rank")
    single_max_sentences: int = Field(4, ge=1, description="Sentences in a single-paper offline answer, at most")
    multi_paper_margin: float = Field(0.16, ge=0, description="Multi-paper questions: papers whose best "
                                      "sentence is within this of the best are cited")
    sentence_margin: float = Field(0.15, ge=0, description="Sentences within this of the best are used")
    max_papers: int = Field(4, ge=1, description="Papers a multi-paper answer may cite")
    min_sentences: int = Field(2, ge=1, description="Sentences in an offline answer, at least")
    max_sentences: int = Field(6, ge=1, description="Sentences in an offline answer, at most")


class Settings(BaseSettings):
    """Everything paperchat can be told, with where it comes from documented per field."""

    model_config = SettingsConfigDict(
        env_prefix="PAPERCHAT_", env_nested_delimiter="__", env_file=".env", extra="ignore"
    )

    home: Path = Field(Path(".paperchat"), description="Data directory: Chroma store, BM25 index, caches")
    collection: str = Field("papers", description="Chroma collection name")
    embedding: EmbeddingSettings = Field(default_factory=EmbeddingSettings)
    chroma: ChromaSettings = Field(default_factory=ChromaSettings)
    chunk: ChunkSettings = Field(default_factory=ChunkSettings)
    retrieval: RetrievalSettings = Field(default_factory=RetrievalSettings)
    llm: LLMSettings = Field(default_factory=LLMSettings)
    answer: AnswerSettings = Field(default_factory=AnswerSettings)
    openai_api_key: str | None = Field(
        None, validation_alias="OPENAI_API_KEY", description="Standard OpenAI key, used when no other key is set"
    )
    openai_base_url: str | None = Field(
        None, validation_alias="OPENAI_BASE_URL", description="Standard OpenAI base URL, used when none is set"
    )

    @property
    def index_dir(self) -> Path:
        """Where the BM25 index of this collection lives (per server when one is used)."""
        where = f"{self.chroma.host}_{self.chroma.port}" if self.chroma.host else "local"
        return self.home / "bm25" / where / self.collection

    def llm_configured(self) -> bool:
        return bool(self.llm.base_url or self.llm.api_key or self.openai_api_key or self.openai_base_url)
