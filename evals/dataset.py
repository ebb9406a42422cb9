"""Eval datasets: the JSONL item format, a loader with file:line errors, and new cases from conversations.

The format is documented in evals/datasets/README.md. An item is one question (or, for a
follow-up, several turns of which the last is scored) with the titles of the papers that
answer it and a few short facts a correct answer contains.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from datetime import date
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from paperchat.evals.metrics import norm_title
from paperchat.rag.citations import MARKER
from paperchat.rag.errors import PaperchatError

PACKAGE_DATASETS = Path(__file__).resolve().parent / "datasets"
DEV_SET = PACKAGE_DATASETS / "dev.jsonl"
FIXED_SET = PACKAGE_DATASETS / "fixed.jsonl"
TEST_SET = PACKAGE_DATASETS / "test.jsonl"
#: Types the runner has specific rules for; any other type is scored with the generic metrics, in its own row.
TYPES = ("single", "multi", "multi_part", "unanswerable", "followup", "title")
ID_PREFIX = {"unanswerable": "unans"}


class DatasetError(PaperchatError):
    """A dataset file that cannot be used; the message names the file and line."""


class EvalTurn(BaseModel):
    """One user turn of a follow-up item."""

    model_config = ConfigDict(extra="forbid")

    question: str = Field(min_length=1)
    gold_titles: list[str] = Field(default_factory=list)
    answer_points: list[str] = Field(default_factory=list)


class EvalAsk(BaseModel):
    """One of the asks of a `multi_part` question."""

    model_config = ConfigDict(extra="allow")

    ask: str = Field(min_length=1)
    gold_titles: list[str] = Field(default_factory=list)
    answer_points: list[str] = Field(default_factory=list)


class EvalItem(BaseModel):
    """One eval case. `followup` items carry `turns`; every other type carries `question`.

    Fields the format does not define (a curator's own) are kept (`extra_fields`) and can break a report
    down (`paperchat eval --by FIELD`); a type the runner has no rules for is scored with the generic metrics.
    """

    model_config = ConfigDict(extra="allow")

    id: str = Field(pattern=r"^\S+$", description="Unique in the file, e.g. single-01")
    type: str = Field(pattern=r"^[a-z][a-z_]*$", description="single | multi | unanswerable | followup | ...")
    question: str | None = Field(None, min_length=1)
    turns: list[EvalTurn] | None = None
    gold_titles: list[str] = Field(default_factory=list)
    answer_points: list[str] = Field(default_factory=list)
    subtype: str | None = Field(None, description="unanswerable: off_topic | missing_detail")
    closest_titles: list[str] = Field(default_factory=list)
    note: str | None = None
    asks: list[EvalAsk] | None = Field(None, description="multi_part: the question's asks")
    alias: str | None = Field(None, description="title: the loose name the question uses")
    named: str | None = Field(None, description="off_topic: the named thing the collection does not contain")
    source: str = Field("hand", description="hand | generated-slot")
    difficulty: str | None = None

    @model_validator(mode="before")
    @classmethod
    def _followup_defaults(cls, data: Any) -> Any:
        """A follow-up's top-level gold and points default to those of its last turn."""
        if isinstance(data, dict) and isinstance(data.get("turns"), list) and data["turns"]:
            last = data["turns"][-1]
            if isinstance(last, dict):
                data = dict(data)
                data.setdefault("gold_titles", last.get("gold_titles", []))
                data.setdefault("answer_points", last.get("answer_points", []))
        return data

    @model_validator(mode="after")
    def _consistent(self) -> EvalItem:
        if self.type == "followup":
            if not self.turns or len(self.turns) < 2:
                raise ValueError("a followup item needs 'turns' with at least two questions")
            if self.question is not None:
                raise ValueError("a followup item has 'turns', not 'question'")
            last = self.turns[-1]
            if _norm_set(last.gold_titles) != _norm_set(self.gold_titles):
                raise ValueError("'gold_titles' must equal the gold_titles of the last turn")
            if list(last.answer_points) != list(self.answer_points):
                raise ValueError("'answer_points' must equal the answer_points of the last turn")
        else:
            if self.turns is not None:
                raise ValueError(f"only followup items have 'turns' (this one is {self.type!r})")
            if self.question is None:
                raise ValueError("missing 'question'")
        if self.unanswerable:
            if self.gold_titles or self.answer_points:
                raise ValueError("an unanswerable item has empty 'gold_titles' and 'answer_points'")
        elif not self.gold_titles:
            raise ValueError("an answerable item needs at least one title in 'gold_titles'")
        if len(_norm_set(self.gold_titles)) != len(self.gold_titles):
            raise ValueError("'gold_titles' repeats a title")
        if self.asks is not None:
            if len(self.asks) < 2:
                raise ValueError("a multi_part item needs at least two 'asks'")
            if _norm_set(t for a in self.asks for t in a.gold_titles) != _norm_set(self.gold_titles):
                raise ValueError("'gold_titles' must be the union of the asks' gold_titles")
        return self

    @property
    def extra_fields(self) -> dict[str, Any]:
        """Fields a curator added that the format does not define."""
        return dict(self.model_extra or {})

    def field(self, name: str) -> Any:
        """A field's value for `--by`: a defined field or an extra one (None when absent)."""
        value = getattr(self, name) if name in type(self).model_fields else self.extra_fields.get(name)
        return value if value is None or isinstance(value, str | int | float | bool) else json.dumps(value)

    @property
    def unanswerable(self) -> bool:
        return self.type == "unanswerable"

    @property
    def questions(self) -> list[str]:
        """The user questions in the order they are asked; the last one is scored."""
        return [t.question for t in self.turns] if self.turns else [self.question or ""]

    def to_json_line(self) -> str:
        return json.dumps(self.model_dump(exclude_none=True, exclude_defaults=False), ensure_ascii=False)


def _norm_set(titles: Iterable[str]) -> set[str]:
    return {norm_title(t) for t in titles}


def _validation_message(exc: ValidationError) -> str:
    parts = []
    for error in exc.errors():
        where = ".".join(str(p) for p in error["loc"])
        message = error["msg"].removeprefix("Value error, ")
        parts.append(f"{where}: {message}" if where else message)
    return "; ".join(parts)


def parse_item(line: str, where: str) -> EvalItem:
    """One JSONL line as an item; `where` ("file:line") prefixes every error."""
    try:
        obj = json.loads(line)
    except json.JSONDecodeError as exc:
        raise DatasetError(f"{where}: invalid JSON: {exc.msg} (column {exc.colno})") from exc
    if not isinstance(obj, dict):
        raise DatasetError(f"{where}: expected a JSON object, got {type(obj).__name__}")
    try:
        return EvalItem.model_validate(obj)
    except ValidationError as exc:
        item_id = obj.get("id")
        label = f" (item {item_id!r})" if isinstance(item_id, str) else ""
        raise DatasetError(f"{where}{label}: {_validation_message(exc)}") from exc


def load_dataset(path: Path | str) -> list[EvalItem]:
    """Every item of a JSONL dataset, validated; the first problem raises DatasetError naming file:line."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise DatasetError(f"{path}: dataset file not found") from None
    except UnicodeDecodeError as exc:
        raise DatasetError(f"{path}: not UTF-8 text ({exc.reason} at byte {exc.start})") from exc
    items: list[EvalItem] = []
    seen: dict[str, int] = {}
    for lineno, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        item = parse_item(line, f"{path}:{lineno}")
        if item.id in seen:
            raise DatasetError(f"{path}:{lineno}: duplicate id {item.id!r} (first on line {seen[item.id]})")
        seen[item.id] = lineno
        items.append(item)
    if not items:
        raise DatasetError(f"{path}: the dataset has no items")
    return items


# ---------------------------------------------------------------------------------------------------
# New cases from conversations
# ---------------------------------------------------------------------------------------------------

_REFERENCE = re.compile(r"^\s*\[(\d+)\]\s+(.+?)(?:\s+<[^<>\s]*>)?\s*$")


class ConversationTurn(BaseModel):
    """A user question and what the assistant answered (if it did)."""

    question: str
    answer: str | None = None
    cited_titles: list[str] = Field(default_factory=list)
    not_found: bool = False


def _content_text(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):  # OpenAI / Gradio content parts
        return " ".join(p.get("text", "") if isinstance(p, dict) else str(p) for p in content)
    return "" if content is None else str(content)


def cited_titles_in(text: str) -> list[str]:
    """Titles of a rendered answer's reference list ("References:" then "[n] Title <url>" lines)."""
    lines = text.splitlines()
    try:
        start = next(i for i, line in enumerate(lines) if line.strip().rstrip(":").lower() == "references")
    except StopIteration:
        return []
    titles: list[str] = []
    for line in lines[start + 1:]:
        match = _REFERENCE.match(line)
        if match is None:
            if line.strip():
                break
            continue
        if match.group(2) not in titles:
            titles.append(match.group(2))
    return titles


def _from_answer_object(obj: dict) -> ConversationTurn:
    """A turn from the JSON `paperchat ask --json` prints (an Answer)."""
    titles: list[str] = []
    for citation in obj.get("citations") or []:
        title = citation.get("title") if isinstance(citation, dict) else None
        if isinstance(title, str) and title not in titles:
            titles.append(title)
    return ConversationTurn(question=str(obj["question"]), answer=str(obj.get("answer") or ""),
                            cited_titles=titles, not_found=obj.get("status") == "not_found")


def _from_messages(messages: list) -> list[ConversationTurn]:
    """Turns from [{role, content}] messages (CLI chat history, OpenAI or Gradio messages)."""
    turns: list[ConversationTurn] = []
    for i, message in enumerate(messages):
        if isinstance(message, (list, tuple)) and len(message) == 2:  # Gradio's old [user, bot] pairs
            user, bot = (_content_text(m) for m in message)
            titles = cited_titles_in(bot)
            turns.append(ConversationTurn(question=user, answer=bot, cited_titles=titles,
                                          not_found=bool(bot) and not titles and not MARKER.search(bot)))
            continue
        if not isinstance(message, dict) or "role" not in message:
            raise DatasetError(f"message {i + 1}: expected an object with 'role' and 'content'")
        role, content = message["role"], _content_text(message.get("content"))
        if role == "user":
            turns.append(ConversationTurn(question=content))
        elif role == "assistant" and turns and turns[-1].answer is None:
            titles = cited_titles_in(content)
            turns[-1] = turns[-1].model_copy(update={
                "answer": content, "cited_titles": titles,
                "not_found": not titles and not MARKER.search(content)})
    return turns


def conversation_turns(data: Any) -> list[ConversationTurn]:
    """Understands: a list of {role, content} messages; {"messages": [...]}; one `ask --json` object;
    a list of them (the turns of one conversation, in order)."""
    if isinstance(data, dict) and isinstance(data.get("messages"), list):
        data = data["messages"]
    if isinstance(data, dict) and "question" in data:
        return [_from_answer_object(data)]
    if isinstance(data, list) and data and all(isinstance(d, dict) and "question" in d for d in data):
        return [_from_answer_object(d) for d in data]
    if isinstance(data, list):
        turns = _from_messages(data)
        if turns:
            return turns
    raise DatasetError("not a conversation: expected [{role, content}, ...] messages, {\"messages\": [...]}, "
                       "or the JSON printed by `paperchat ask --json`")


def read_conversation(path: Path | str, text: str | None = None) -> list[ConversationTurn]:
    """Turns from a file (JSON, or JSON Lines of `ask --json` objects); `text` overrides reading it."""
    if text is None:
        try:
            text = Path(path).read_text(encoding="utf-8")
        except OSError as exc:
            raise DatasetError(f"{path}: cannot read the conversation: {exc.strerror or exc}") from exc
    try:
        data = json.loads(text)
    except json.JSONDecodeError:
        data = []
        for lineno, line in enumerate(text.splitlines(), 1):
            if line.strip():
                try:
                    data.append(json.loads(line))
                except json.JSONDecodeError as exc:
                    raise DatasetError(f"{path}:{lineno}: invalid JSON: {exc.msg}") from exc
    try:
        return conversation_turns(data)
    except DatasetError as exc:
        raise DatasetError(f"{path}: {exc}") from None
    except (KeyError, TypeError, ValueError) as exc:
        raise DatasetError(f"{path}: not a conversation: {exc}") from exc


def next_id(kind: str, existing: Iterable[str]) -> str:
    """`<prefix>-NN` one past the highest number used with that prefix (unanswerable -> unans)."""
    prefix = ID_PREFIX.get(kind, kind)
    numbers = [int(m.group(1)) for i in existing if (m := re.fullmatch(re.escape(prefix) + r"-(\d+)", i))]
    return f"{prefix}-{max(numbers, default=0) + 1:02d}"


def _guess_type(turns: list[ConversationTurn]) -> str:
    if len(turns) > 1:
        return "followup"
    if turns[0].not_found:
        return "unanswerable"
    return "multi" if len(turns[0].cited_titles) > 1 else "single"


def case_from_conversation(turns: list[ConversationTurn] | Any, *, kind: str | None = None,
                           item_id: str | None = None, existing_ids: Iterable[str] = ()) -> EvalItem:
    """A draft eval case: followup when there is more than one user turn; gold titles are the titles the
    assistant cited, a starting point that a person checks (and adds answer_points to)."""
    if not (isinstance(turns, list) and turns and all(isinstance(t, ConversationTurn) for t in turns)):
        turns = conversation_turns(turns)
    kind = kind or _guess_type(turns)
    item_id = item_id or next_id(kind, existing_ids)
    note = (f"drafted from a conversation on {date.today().isoformat()}: gold_titles are the titles the "
            "assistant cited; check them against the papers and add 1-3 answer_points")
    data: dict[str, Any] = {"id": item_id, "type": kind, "note": note}
    last = turns[-1]
    if kind == "unanswerable":
        data.update(question=last.question, gold_titles=[], answer_points=[],
                    closest_titles=last.cited_titles,
                    subtype="missing_detail" if last.cited_titles else "off_topic")
    elif kind == "followup":
        if len(turns) < 2:
            raise DatasetError("a followup case needs a conversation with at least two user turns")
        data["turns"] = [{"question": t.question, "gold_titles": t.cited_titles, "answer_points": []}
                         for t in turns]
    else:
        data.update(question=last.question, gold_titles=last.cited_titles, answer_points=[])
    try:
        return EvalItem.model_validate(data)
    except ValidationError as exc:
        hint = ""
        if not last.cited_titles and kind != "unanswerable":
            hint = " (the answer cited no paper: pass --type unanswerable, or add gold_titles by hand)"
        raise DatasetError(f"cannot make a {kind} case: {_validation_message(exc)}{hint}") from exc


def append_case(dataset: Path | str, item: EvalItem) -> None:
    """Append one validated line; the existing file must load cleanly and must not have the id yet."""
    dataset = Path(dataset)
    has_items = dataset.exists() and dataset.read_text(encoding="utf-8").strip()
    existing = load_dataset(dataset) if has_items else []
    if any(i.id == item.id for i in existing):
        raise DatasetError(f"{dataset}: id {item.id!r} is already used")
    line = item.to_json_line()
    parse_item(line, f"{dataset}:new")  # what we write must load again
    dataset.parent.mkdir(parents=True, exist_ok=True)
    prefix = ""
    if dataset.exists():
        data = dataset.read_bytes()
        if data and not data.endswith(b"\n"):
            prefix = "\n"
    with dataset.open("a", encoding="utf-8") as f:
        f.write(prefix + line + "\n")
