"""The `paperchat` command as a user runs it: a child process, JSON outputs, one-line errors."""

from __future__ import annotations

import json
import os
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import typer
from conftest import FakeEmbeddings, make_settings, run_cli, subprocess_env, write_jsonl

from paperchat.ingest.pipeline import ingest_paths
from paperchat.rag.settings import BUNDLED_PAPERS
from paperchat.ui.cli import app

MEMORY_QUESTION = "how can I train a very deep network while storing fewer activations?"
MEMORY_TITLE = "Training Deep Nets with Sublinear Memory Cost"
WORKERS = min(4, os.cpu_count() or 2)  # CLI runs side by side: each is mostly process start-up
GOOD = {"title": "A small study of retrieval", "abstract": "We measure how retrieval helps answer questions. "
        "The experiments use three datasets and report recall."}


@pytest.fixture(scope="module")
def home(bundled_real) -> Path:
    return bundled_real[0].home


def error_lines(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if line.strip()]


def assert_one_clear_error(done, *fragments: str) -> None:
    """Non-zero exit, no traceback, one `error:` message that says what is wrong."""
    assert done.returncode != 0
    assert "Traceback" not in done.stderr
    lines = error_lines(done.stderr)
    assert lines and lines[0].startswith("error: "), done.stderr
    assert done.stderr.count("error:") == 1
    message = " ".join(" ".join(lines).split())  # undo any wrapping for the content checks
    for fragment in fragments:
        assert fragment in message, message


# ------------------------------------------------------------------------------------- help


def command_names() -> list[str]:
    return sorted(typer.main.get_command(app).commands)


def test_every_command_has_help(tmp_path):
    names = command_names()
    assert {"ingest", "papers", "search"} <= set(names)

    with ThreadPoolExecutor(max_workers=WORKERS) as pool:
        top, *each = pool.map(lambda args: run_cli(args, cwd=tmp_path), [["--help"]] + [[n, "--help"] for n in names])

    assert top.returncode == 0 and "Usage" in top.stdout
    for name, done in zip(names, each, strict=True):
        assert done.returncode == 0, f"{name} --help: {done.stderr}"
        assert "Usage" in done.stdout and name in top.stdout


# ------------------------------------------------------------------------------------- papers and search


@pytest.mark.slow
def test_papers_json(home, tmp_path):
    done = run_cli(["--home", str(home), "papers", "--json"], cwd=tmp_path)

    assert done.returncode == 0, done.stderr
    data = json.loads(done.stdout)
    assert (data["collection"], data["count"], len(data["papers"])) == ("papers", 156, 156)
    assert len({p["paper_id"] for p in data["papers"]}) == 156
    assert MEMORY_TITLE in {p["title"] for p in data["papers"]}
    assert all(p["source"] == str(BUNDLED_PAPERS.resolve()) for p in data["papers"])


@pytest.mark.slow
def test_search_json(home, tmp_path):
    done = run_cli(["--home", str(home), "search", MEMORY_QUESTION, "--json", "--k", "5"], cwd=tmp_path)

    assert done.returncode == 0, done.stderr
    data = json.loads(done.stdout)
    assert data["query"] == MEMORY_QUESTION
    results = data["results"]
    assert len(results) == 5
    assert all(set(r) == {"paper_id", "title", "score", "year", "authors", "venue", "doi", "url"} for r in results)
    assert [r["score"] for r in results] == sorted((r["score"] for r in results), reverse=True)
    assert MEMORY_TITLE in [r["title"] for r in results[:3]]


@pytest.mark.slow
def test_search_table(home, tmp_path):
    done = run_cli(["--home", str(home), "search", MEMORY_QUESTION, "--k", "3"], cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "Sublinear Memory" in done.stdout


@pytest.mark.slow
def test_search_jsonl_batch_keeps_input_order(home, tmp_path):
    queries = [
        {"id": "q-memory", "query": MEMORY_QUESTION},
        {"id": 2, "query": "scaling laws for the number of training tokens"},
        {"id": "q-speech", "query": "speech recognition toolkit"},
    ]
    stdin = "".join(json.dumps(q) + "\n" for q in queries)

    done = run_cli(["--home", str(home), "search", "--jsonl", "-", "--k", "3"], cwd=tmp_path, input=stdin)

    assert done.returncode == 0, done.stderr
    rows = [json.loads(line) for line in done.stdout.splitlines()]
    assert [r["id"] for r in rows] == ["q-memory", 2, "q-speech"]
    for row in rows:
        assert len(row["results"]) == 3
        assert all({"paper_id", "title", "score"} <= set(r) for r in row["results"])
    assert MEMORY_TITLE in [r["title"] for r in rows[0]["results"]]


@pytest.mark.slow
def test_search_jsonl_reports_bad_lines_and_goes_on(home, tmp_path):
    lines = [
        json.dumps({"id": "first", "query": "memory"}),
        "this is not json",
        "",
        json.dumps({"id": "no-query"}),
        json.dumps(["a", "list"]),
        json.dumps({"id": "last", "query": "speech"}),
    ]
    batch = tmp_path / "queries.jsonl"
    batch.write_text("\n".join(lines) + "\n", encoding="utf-8")

    done = run_cli(["--home", str(home), "search", "--jsonl", str(batch), "--k", "2"], cwd=tmp_path)

    assert done.returncode == 0, done.stderr
    rows = [json.loads(line) for line in done.stdout.splitlines()]
    assert len(rows) == 5, "one output line per non-blank input line"
    assert rows[0]["id"] == "first" and len(rows[0]["results"]) == 2
    assert rows[-1]["id"] == "last" and len(rows[-1]["results"]) == 2
    for row, lineno in zip(rows[1:4], (2, 4, 5), strict=True):
        assert "results" not in row
        assert row["error"].startswith(f"line {lineno}:")


def test_search_empty_home_says_to_ingest(tmp_path):
    done = run_cli(["--home", str(tmp_path / "empty"), "search", "anything"], cwd=tmp_path)
    assert_one_clear_error(done, "is empty or does not exist",
                           f"`paperchat --home {tmp_path / 'empty'} ingest`")
    as_json = run_cli(["--home", str(tmp_path / "empty"), "search", "anything", "--json"], cwd=tmp_path)
    assert_one_clear_error(as_json, "is empty or does not exist")
    assert as_json.stdout == ""


def test_search_without_query_is_a_usage_error(tmp_path):
    done = run_cli(["--home", str(tmp_path / "empty"), "search"], cwd=tmp_path)
    assert done.returncode == 2
    assert "QUERY" in done.stderr and "Traceback" not in done.stderr


# ------------------------------------------------------------------------------------- bad input


def _binary_doc(folder: Path) -> Path:
    path = folder / "paper.doc"
    path.write_bytes(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1\x00\x01\xff\xfe binary word document")
    return path


BAD_INPUTS = {
    "empty file": (lambda d: _write(d / "empty.jsonl", b""), [], ["empty.jsonl", "the file is empty"]),
    "blank file": (lambda d: _write(d / "blank.txt", b"\n  \n"), [], ["blank.txt", "blank"]),
    "unknown format": (lambda d: _write(d / "paper.docx", b"PK plain text\nmore\n"), [],
                       ["paper.docx", "cannot detect", "Supported formats", "jsonl", "beir", "arxiv"]),
    "binary doc": (_binary_doc, [], ["paper.doc", "not UTF-8"]),
    "truncated pdf": (lambda d: _write(d / "paper.pdf", b"%PDF-1.4 plain text\n"), [],
                      ["paper.pdf", "not a readable PDF"]),
    "latin-1 text": (lambda d: _write(d / "latin.txt", "Caf\u00e9 title\n".encode("latin-1")), [],
                     ["latin.txt:1", "not UTF-8", "0xe9"]),
    "missing file": (lambda d: d / "nowhere.jsonl", [], ["nowhere.jsonl", "file not found"]),
    "unknown --format": (lambda d: write_jsonl(d / "ok.jsonl", [GOOD]), ["--format", "docx"],
                         ["unknown paper file format 'docx'", "Supported formats"]),
    "missing title": (lambda d: write_jsonl(d / "notitle.jsonl", [GOOD, {"abstract": "text only"}]), [],
                      ["notitle.jsonl:2", "missing title"]),
    "malformed line": (lambda d: write_jsonl(d / "broken.jsonl", [GOOD, '{"title": "x",']), [],
                       ["broken.jsonl:2", "malformed JSON"]),
}


def _write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


@pytest.fixture(scope="module")
def bad_input_runs(tmp_path_factory) -> dict:
    """`paperchat ingest` on every bad input, run side by side (each run is mostly process start-up)."""

    def run(case: str):
        folder = tmp_path_factory.mktemp("bad-input")
        make, options, _ = BAD_INPUTS[case]
        return run_cli(["--home", str(folder / "home"), "ingest", *options, str(make(folder))], cwd=folder)

    with ThreadPoolExecutor(max_workers=WORKERS) as pool:
        return dict(zip(BAD_INPUTS, pool.map(run, BAD_INPUTS), strict=True))


@pytest.mark.parametrize("case", list(BAD_INPUTS))
def test_ingest_bad_input_is_one_clear_error(bad_input_runs, case):
    done = bad_input_runs[case]

    assert_one_clear_error(done, *BAD_INPUTS[case][2])
    assert done.stdout.strip() == "", "no summary after an error"


def test_long_error_message_stays_on_one_line(tmp_path):
    path = _write(tmp_path / "paper.docx", b"PK plain text\n")

    done = run_cli(["--home", str(tmp_path / "home"), "ingest", "-q", str(path)], cwd=tmp_path)

    assert done.returncode == 1
    assert len(error_lines(done.stderr)) == 1, done.stderr


def test_invalid_collection_name_is_one_clear_error(tmp_path):
    path = write_jsonl(tmp_path / "ok.jsonl", [GOOD])

    done = run_cli(["--home", str(tmp_path / "home"), "ingest", "-q", "--collection", "ab", str(path)],
                   cwd=tmp_path)

    assert_one_clear_error(done, "ab")


def test_ingest_skip_bad_counts_the_skipped_line(tmp_path):
    path = write_jsonl(tmp_path / "mixed.jsonl", [GOOD, "{broken", {**GOOD, "title": "Another study"}])

    done = run_cli(["--home", str(tmp_path / "home"), "ingest", "--skip-bad", str(path)], cwd=tmp_path,
                   env=subprocess_env(COLUMNS="40"))  # a narrow terminal: the summary still is one line

    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("2 new, 0 changed, 0 unchanged, 1 skipped")
    assert len(done.stdout.strip().splitlines()) == 1 and "papers in the collection" in done.stdout, done.stdout
    assert "mixed.jsonl:2" in " ".join(done.stderr.split())
    papers = run_cli(["--home", str(tmp_path / "home"), "papers", "--json"], cwd=tmp_path)
    assert json.loads(papers.stdout)["count"] == 2


def test_model_mismatch_is_one_clear_error(tmp_path):
    home = tmp_path / "home"
    ingest_paths([write_jsonl(tmp_path / "ok.jsonl", [GOOD])], make_settings(home, collection="papers"),
           embedder=FakeEmbeddings())

    done = run_cli(["--home", str(home), "search", "retrieval"], cwd=tmp_path)

    assert_one_clear_error(done, "fake-hash-64", "all-MiniLM-L6-v2-onnx-int8", "paperchat ingest --collection")
