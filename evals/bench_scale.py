"""`make bench-scale`: how ingest, search and answers grow from 10k to 1M papers.

For each size and store mode (the embedded PersistentClient, and a `chroma run` server) this runs the
real product, as a user would, on a synthetic collection built from real text (`evals.scale_data`):

1. a fresh home, the loopback embeddings server (`evals.embed_server`, so the model is not what is
   measured) and `paperchat ingest FILE` as a subprocess: papers/s, peak RSS and CPU of that process;
2. disk per paper (the home, plus the server's folder);
3. the same ingest again (nothing changed) and, after `scale_data.apply_delta` (10 changed + 10 new +
   10 deleted), `paperchat ingest FILE --prune`, checking the counts it reports;
4. `paperchat search` cold start (process start to result), median of a few runs;
5. one process running the product's `Retriever.search` over 200 real queries (p50/p95) and
   `Assistant.ask` (offline extractive) over the same questions, after checking that the keyword index
   is in step with the collection (chunk counts; new and changed papers found, deleted ones gone).

Results go to OUT/results.jsonl (one line per size and mode, so an interrupted run keeps what it
measured), OUT/scale.md (a Markdown table and each curve's growth exponent) and a log-log plot.

    python -m paperchat.evals.bench_scale --sizes 10000,100000 --modes embedded,server
    python -m paperchat.evals.bench_scale --onnx-sample 2000      # the real model's papers/s
    python -m paperchat.evals.bench_scale --report-only --out runs/scale-XXXX
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import re
import shutil
import statistics
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from paperchat.evals import scale_data
from paperchat.evals.embed_server import MODEL as EMBED_MODEL
from paperchat.evals.embed_server import start as start_embed_server
from paperchat.rag.settings import PACKAGE_ROOT

BIN = Path(sys.executable).parent
PAPERCHAT = BIN / "paperchat"
CHROMA = BIN / "chroma"
DOCS = PACKAGE_ROOT / "docs"
_SUMMARY = re.compile(r"(\d+) new, (\d+) changed, (\d+) unchanged(?:, (\d+) pruned)?.*?"
                      r"\((\d+) papers in the collection")
_ISOLATED = ("PAPERCHAT_", "OPENAI_")


# ------------------------------------------------------------------------------------- processes


@dataclass
class Measured:
    """One finished child process: wall time, its own peak RSS and CPU (from wait4), its output, and the
    peak RSS of the processes it started (ingest's helper)."""

    seconds: float
    max_rss_mb: float
    cpu_seconds: float
    returncode: int
    stdout: str
    stderr: str
    children_rss_mb: float = 0.0

    def check(self, what: str) -> Measured:
        if self.returncode != 0:
            raise RuntimeError(f"{what} failed (exit {self.returncode}):\n{self.stderr[-3000:]}")
        return self


def run_measured(cmd: list[str], env: dict[str, str], cwd: Path, timeout: float = 4 * 3600,
                 stdin: str | None = None) -> Measured:
    """Run a command to the end; `os.wait4` gives the rusage of exactly this child (not all children)."""
    cwd.mkdir(parents=True, exist_ok=True)
    out_path, err_path = cwd / ".stdout", cwd / ".stderr"
    with out_path.open("wb") as out, err_path.open("wb") as err:
        started = time.perf_counter()
        proc = subprocess.Popen(cmd, env=env, cwd=cwd, stdout=out, stderr=err,
                                stdin=subprocess.PIPE if stdin is not None else subprocess.DEVNULL)
        if stdin is not None:
            proc.stdin.write(stdin.encode("utf-8"))
            proc.stdin.close()
        watchdog = threading.Timer(timeout, proc.kill)
        watchdog.start()
        peak = PeakRSS(proc.pid)
        try:
            _, status, usage = os.wait4(proc.pid, 0)
        finally:
            watchdog.cancel()
            peak.stop()
        seconds = time.perf_counter() - started
    proc.returncode = os.waitstatus_to_exitcode(status)
    return Measured(seconds, peak.mb or usage.ru_maxrss / 1024, usage.ru_utime + usage.ru_stime, proc.returncode,
                    out_path.read_text(errors="replace"), err_path.read_text(errors="replace"), peak.children_mb)


def _status_mb(pid: int, field: str = "VmHWM") -> float | None:
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1]) / 1024
    except (OSError, ValueError, IndexError):
        pass  # not started yet, or gone
    return None


def _children(pid: int) -> list[int]:
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as f:
            return [int(p) for p in f.read().split()]
    except OSError:
        return []


class PeakRSS:
    """A child's own peak RSS, polled from /proc/PID/status (VmHWM, the high-water mark of its memory), and
    the peaks of its own children (ingest's helper process), kept apart.

    Not `wait4`'s ru_maxrss: Linux carries the parent's RSS into it when the child is spawned with vfork
    (as subprocess does), so every child would report at least the benchmark process's own size."""

    def __init__(self, pid: int, interval: float = 0.05):
        self.mb = 0.0
        self.children_mb = 0.0
        self._pid = pid
        self._peaks: dict[int, float] = {}
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._poll, args=(interval,), daemon=True)
        self._thread.start()

    def _poll(self, interval: float) -> None:
        while not self._done.is_set():
            self.mb = max(self.mb, _status_mb(self._pid) or 0.0)
            for child in _children(self._pid):
                self._peaks[child] = max(self._peaks.get(child, 0.0), _status_mb(child) or 0.0)
            self.children_mb = sum(self._peaks.values())
            self._done.wait(interval)

    def stop(self) -> None:
        self._done.set()
        self._thread.join(timeout=2)


def child_env(embed_url: str, chroma_port: int | None = None, backend: str = "openai") -> dict[str, str]:
    """The environment of a product process: none of the developer's PAPERCHAT_/OPENAI_ settings,
    loopback without a proxy, the embeddings server (or the real model) and the store mode."""
    env = {k: v for k, v in os.environ.items() if not k.upper().startswith(_ISOLATED)}
    env.update(NO_PROXY="127.0.0.1,localhost", no_proxy="127.0.0.1,localhost", PYTHONUNBUFFERED="1",
               HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1", ANONYMIZED_TELEMETRY="False")
    if backend == "openai":
        env.update(PAPERCHAT_EMBEDDING__BACKEND="openai", PAPERCHAT_EMBEDDING__BASE_URL=embed_url,
                   PAPERCHAT_EMBEDDING__MODEL=EMBED_MODEL, PAPERCHAT_EMBEDDING__API_KEY="not-needed")
    if chroma_port is not None:
        env.update(PAPERCHAT_CHROMA__HOST="127.0.0.1", PAPERCHAT_CHROMA__PORT=str(chroma_port))
    return env


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class ChromaServer:
    """`chroma run` on a free loopback port; `stop()` returns its peak RSS (MB) from wait4. Started again on
    the same folder, it takes the port it had (kept in FOLDER/port): paperchat keeps a server's keyword index
    per server address, and a measurement on a new port would include copying the index from the old one
    (`rag.index.adopt_moved`)."""

    def __init__(self, folder: Path):
        self.folder = folder
        folder.mkdir(parents=True, exist_ok=True)
        kept = folder / "port"
        self.port = int(kept.read_text()) if kept.exists() else _free_port()
        kept.write_text(str(self.port))
        self._log = (folder / "server.log").open("wb")
        self.proc = subprocess.Popen(
            [str(CHROMA), "run", "--path", str(folder / "data"), "--port", str(self.port), "--host", "127.0.0.1"],
            stdout=self._log, stderr=subprocess.STDOUT, cwd=folder, env=child_env("", None))
        deadline = time.monotonic() + 60
        while not self._alive():
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"chroma run did not start: see {folder / 'server.log'}")
            time.sleep(0.2)

    def _alive(self) -> bool:
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
        try:
            with opener.open(f"http://127.0.0.1:{self.port}/api/v2/heartbeat", timeout=1) as response:
                return response.status == 200
        except (urllib.error.URLError, OSError):
            return False

    def stop(self) -> float:
        self.proc.terminate()
        timer = threading.Timer(30, self.proc.kill)
        timer.start()
        try:
            _, status, usage = os.wait4(self.proc.pid, 0)
        finally:
            timer.cancel()
        self.proc.returncode = os.waitstatus_to_exitcode(status)
        self._log.close()
        return usage.ru_maxrss / 1024


def du(path: Path) -> int:
    """Bytes used under a folder (allocated blocks, as `du` counts: sparse files count what they use)."""
    total = 0
    for root, _, files in os.walk(path):
        for name in files:
            with contextlib.suppress(OSError):  # removed while we walk
                total += os.lstat(os.path.join(root, name)).st_blocks * 512
    return total


def parse_summary(stdout: str) -> dict[str, int]:
    """The counts of `paperchat ingest`'s summary line."""
    match = _SUMMARY.search(" ".join(stdout.split()))  # an older paperchat wrapped the line at 80 columns
    if not match:
        raise RuntimeError(f"no ingest summary in the output:\n{stdout[-2000:]}")
    new, changed, unchanged, pruned, total = (int(g or 0) for g in match.groups())
    return {"new": new, "changed": changed, "unchanged": unchanged, "pruned": pruned, "total": total}


# ------------------------------------------------------------------------------------- one size


@dataclass
class Config:
    out: Path
    data: Path
    queries: int = 200
    asks: int = 200
    cold_runs: int = 3
    keep: bool = False
    seed: int = 0
    web_questions: int = 0


def collection_file(cfg: Config, n: int) -> Path:
    """The base collection of n papers, written once and reused by every mode."""
    path = cfg.data / f"papers-{n}.jsonl"
    if not path.exists():
        started = time.perf_counter()
        scale_data.write_collection(path, n, cfg.seed)
        print(f"  wrote {n} papers to {path} in {time.perf_counter() - started:.0f} s", flush=True)
    return path


def _ingest(run_dir: Path, env: dict[str, str], file: Path, *extra: str) -> tuple[Measured, dict[str, int]]:
    got = run_measured([str(PAPERCHAT), "--home", str(run_dir / "home"), "ingest", str(file), "--quiet", *extra],
                       env, run_dir).check("paperchat ingest")
    return got, parse_summary(got.stdout)


def _expect(counts: dict[str, int], **want: int) -> None:
    wrong = {k: (counts[k], v) for k, v in want.items() if counts[k] != v}
    if wrong:
        raise RuntimeError(f"ingest reported {counts}, expected {want} (wrong: {wrong})")


def bench_size(n: int, mode: str, cfg: Config, embed_url: str, log: Callable[[str], None] = print) -> dict:
    """Every measurement for one collection size in one store mode."""
    run_dir = cfg.out / f"{mode}-{n}"
    shutil.rmtree(run_dir, ignore_errors=True)
    run_dir.mkdir(parents=True)
    file = run_dir / "papers.jsonl"
    shutil.copyfile(collection_file(cfg, n), file)
    server = ChromaServer(run_dir / "chroma-server") if mode == "server" else None
    env = child_env(embed_url, server.port if server else None)
    row: dict = {"size": n, "mode": mode}
    try:
        first, counts = _ingest(run_dir, env, file)
        _expect(counts, new=n, changed=0, unchanged=0, total=n)
        row.update(ingest_s=first.seconds, ingest_papers_per_s=n / first.seconds, ingest_rss_mb=first.max_rss_mb,
                   ingest_helper_rss_mb=first.children_rss_mb, ingest_cpu_s=first.cpu_seconds,
                   ingest_cpu_ms_per_paper=1000 * first.cpu_seconds / n)
        log(f"  ingest {first.seconds:.1f} s ({n / first.seconds:.0f} papers/s), peak RSS {first.max_rss_mb:.0f} MB "
            f"(+ helper process {first.children_rss_mb:.0f} MB)")
        disk = du(run_dir / "home") + (du(run_dir / "chroma-server" / "data") if server else 0)
        row.update(disk_mb=disk / 2**20, disk_kb_per_paper=disk / 1024 / n)
        again, counts = _ingest(run_dir, env, file)
        _expect(counts, new=0, changed=0, unchanged=n, total=n)
        row.update(reingest_s=again.seconds, reingest_rss_mb=again.max_rss_mb)
        log(f"  unchanged re-ingest {again.seconds:.1f} s")
        delta = scale_data.apply_delta(file, n, seed=cfg.seed)
        applied, counts = _ingest(run_dir, env, file, "--prune")
        _expect(counts, new=len(delta.new), changed=len(delta.changed), pruned=len(delta.deleted),
                unchanged=n - len(delta.changed) - len(delta.deleted), total=delta.papers_after)
        row.update(delta_s=applied.seconds, delta_rss_mb=applied.max_rss_mb)
        log(f"  10 changed + 10 new + 10 deleted: {applied.seconds:.1f} s")
        row.update(_cold_start(run_dir, env, cfg))
        log(f"  `paperchat search` cold start {row['cold_start_s']:.2f} s")
        row.update(_worker(run_dir, env, cfg, delta))
        log(f"  search p50 {row['search_p50_ms']:.0f} ms p95 {row['search_p95_ms']:.0f} ms; "
            f"ask p50 {row['ask_p50_ms']:.0f} ms p95 {row['ask_p95_ms']:.0f} ms")
        if cfg.web_questions:
            row.update(web_server(run_dir, env, cfg.web_questions, cfg.seed))
            log(f"  web server: {row['web_questions']} questions, RSS {row['web_rss_start_mb']:.0f} -> "
                f"{row['web_rss_after_mb']:.0f} MB, /ask p50 {row['web_ask_p50_ms']:.0f} ms")
    finally:
        if server:
            row["server_rss_mb"] = server.stop()
        if not cfg.keep:
            shutil.rmtree(run_dir / "home", ignore_errors=True)
            shutil.rmtree(run_dir / "chroma-server" / "data", ignore_errors=True)
            file.unlink(missing_ok=True)
    return row


def _cold_start(run_dir: Path, env: dict[str, str], cfg: Config) -> dict:
    query = scale_data.sample_queries(1, cfg.seed + 1)[0]
    cmd = [str(PAPERCHAT), "--home", str(run_dir / "home"), "search", query, "--json"]
    runs = [run_measured(cmd, env, run_dir).check("paperchat search") for _ in range(cfg.cold_runs)]
    hits = json.loads(runs[-1].stdout)["results"]
    if not hits:
        raise RuntimeError(f"`paperchat search {query!r}` found nothing")
    return {"cold_start_s": statistics.median(r.seconds for r in runs), "cold_start_first_s": runs[0].seconds,
            "search_process_rss_mb": max(r.max_rss_mb for r in runs)}


def _worker(run_dir: Path, env: dict[str, str], cfg: Config, delta: scale_data.Delta) -> dict:
    job = {"home": str(run_dir / "home"), "queries": cfg.queries, "asks": cfg.asks, "seed": cfg.seed,
           "changed": delta.changed, "new": delta.new, "deleted": delta.deleted, "file": str(run_dir / "papers.jsonl")}
    got = run_measured([sys.executable, "-m", "paperchat.evals.bench_scale", "--worker"], env, run_dir,
                       stdin=json.dumps(job)).check("the search worker")
    result = json.loads(got.stdout.strip().splitlines()[-1])
    result["worker_rss_mb"] = got.max_rss_mb
    return result


def web_server(run_dir: Path, env: dict[str, str], questions: int, seed: int = 0, timeout: float = 600) -> dict:
    """`paperchat serve` over the collection, and `questions` real questions (SciFact claims) sent one after
    another to its /ask endpoint through `gradio_client`, as a script would: the server process's RSS once it
    has answered the first question, after the last one, and its peak; the endpoint's latency as the client
    sees it. Every reply must parse as an Answer."""
    from gradio_client import Client

    from paperchat.evals.metrics import percentile
    from paperchat.rag.types import Answer

    port = _free_port()
    url = f"http://127.0.0.1:{port}/"
    log_path = run_dir / "serve.log"
    serve_env = {**env, "GRADIO_ANALYTICS_ENABLED": "False", "GRADIO_TEMP_DIR": str(run_dir / "gradio")}
    with log_path.open("wb") as log:
        proc = subprocess.Popen([str(PAPERCHAT), "--home", str(run_dir / "home"), "serve", "--port", str(port)],
                                stdout=log, stderr=subprocess.STDOUT, cwd=run_dir, env=serve_env)
    client = None
    try:
        started = time.perf_counter()
        deadline = time.monotonic() + timeout
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"paperchat serve exited with {proc.returncode}: see {log_path}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"paperchat serve did not answer on {url} in {timeout:.0f} s: see {log_path}")
            if f"web UI on {url}" in log_path.read_text(errors="replace"):
                with contextlib.suppress(urllib.error.URLError, OSError), opener.open(url, timeout=3) as response:
                    if response.status == 200:
                        break
            time.sleep(0.5)
        ready_s = time.perf_counter() - started
        client = Client(url, verbose=False)
        asked = scale_data.sample_queries(questions, seed + 3)
        statuses: dict[str, int] = {}
        times = []
        rss_start = None
        for i, question in enumerate(asked):
            t = time.perf_counter()
            answer = Answer.model_validate(client.predict(question, [], api_name="/ask"))
            times.append(1000 * (time.perf_counter() - t))
            statuses[answer.status] = statuses.get(answer.status, 0) + 1
            if i == 0:
                rss_start = _status_mb(proc.pid, "VmRSS")
        return {"web_questions": len(asked), "web_ready_s": ready_s, "web_rss_start_mb": rss_start,
                "web_rss_after_mb": _status_mb(proc.pid, "VmRSS"), "web_peak_rss_mb": _status_mb(proc.pid),
                "web_ask_p50_ms": percentile(times, 50), "web_ask_p95_ms": percentile(times, 95),
                "web_statuses": statuses}
    finally:
        if client is not None:
            client.close()
        proc.terminate()
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def web_only(out: Path, mode: str, size: int, questions: int, seed: int = 0) -> dict:
    """The web step on a collection an earlier run kept (`--keep`): restart its `chroma run` on the kept data
    (server mode), measure, and add the figures to that run's line of results.jsonl."""
    run_dir = out / f"{mode}-{size}"
    if not (run_dir / "home").is_dir():
        raise SystemExit(f"{run_dir / 'home'} does not exist: run the benchmark with --keep first")
    server = ChromaServer(run_dir / "chroma-server") if mode == "server" else None
    url, stop = start_embed_server(0)
    try:
        got = web_server(run_dir, child_env(url, server.port if server else None), questions, seed)
    finally:
        stop()
        if server:
            server.stop()
    rows = load_rows(out)
    for row in rows:
        if row.get("mode") == mode and row.get("size") == size:
            row.update(got)
            break
    else:
        rows.append({"size": size, "mode": mode, **got})
    tmp = out / "results.jsonl.tmp"
    tmp.write_text("".join(json.dumps(r) + "\n" for r in rows))
    tmp.replace(out / "results.jsonl")
    return got


# ------------------------------------------------------------------------------------- the worker


def _titles(file: Path, ids: set[str]) -> dict[str, str]:
    found = {}
    with file.open(encoding="utf-8") as f:
        for line in f:
            if any(i in line[:40] for i in ids):
                rec = json.loads(line)
                if rec["id"] in ids:
                    found[rec["id"]] = rec["title"]
    return found


def check_in_step(retriever, job: dict) -> dict:
    """The keyword index agrees with the collection after the delta: the same number of chunks, every
    new and changed paper is the top keyword hit for its own title, no deleted paper is found at all."""
    index = retriever.bm25()
    chunks = retriever.store.count()
    indexed = index.n_docs if hasattr(index, "n_docs") else len(index.ids)
    if indexed != chunks:
        raise RuntimeError(f"keyword index has {indexed} chunks, the collection {chunks}")
    titles = _titles(Path(job["file"]), set(job["new"]) | set(job["changed"]))
    for pid in job["new"] + job["changed"]:
        top = [cid.rsplit("::", 1)[0] for cid, _ in index.search(titles[pid], 10)]
        if pid not in top:
            raise RuntimeError(f"keyword index: {pid} is not found by its own title (top: {top[:3]})")
    deleted = set(job["deleted"])
    store = retriever.store
    lookup = store.chunks if hasattr(store, "chunks") else store.get_metadatas  # the store API before/after
    still = [pid for pid in job["deleted"] if lookup([f"{pid}::0"])]
    if still:
        raise RuntimeError(f"deleted papers {still} are still in the collection")
    queries = scale_data.sample_queries(50, job["seed"])
    leaked = {cid for q in queries for cid, _ in index.search(q, 100) if cid.rsplit("::", 1)[0] in deleted}
    if leaked:
        raise RuntimeError(f"keyword index still returns deleted chunks {sorted(leaked)[:5]}")
    return {"chunks": chunks, "in_step": True}


def worker(job: dict) -> dict:
    """Run inside one product process: first query (loads or rebuilds the keyword index), then p50/p95."""
    import resource

    from paperchat.evals.metrics import percentile
    from paperchat.rag.assistant import Assistant
    from paperchat.rag.retrieval import Retriever
    from paperchat.rag.settings import Settings

    settings = Settings(home=Path(job["home"]), _env_file=None)
    queries = scale_data.sample_queries(job["queries"], job["seed"])
    started = time.perf_counter()
    retriever = Retriever(settings)
    retriever.search(queries[0])
    out = {"first_search_ms": 1000 * (time.perf_counter() - started)}
    out.update(check_in_step(retriever, job))
    times = []
    for q in queries:
        t = time.perf_counter()
        retriever.search(q)
        times.append(1000 * (time.perf_counter() - t))
    out.update(search_p50_ms=percentile(times, 50), search_p95_ms=percentile(times, 95))
    from paperchat.rag.errors import PaperchatError
    from paperchat.rag.gate import GateModel, load_model

    try:
        gate = load_model()
    except PaperchatError:  # no trained gate in this checkout: the timings are the same with a neutral one
        gate = GateModel.neutral()
        out["gate"] = "neutral (no trained model found)"
    assistant = Assistant(settings, retriever=retriever, gate=gate)
    started = time.perf_counter()
    assistant.ask(queries[0])
    out["first_ask_ms"] = 1000 * (time.perf_counter() - started)
    times, answered = [], 0
    for q in queries[: job["asks"]]:
        t = time.perf_counter()
        answered += assistant.ask(q).status == "answered"
        times.append(1000 * (time.perf_counter() - t))
    out.update(ask_p50_ms=percentile(times, 50), ask_p95_ms=percentile(times, 95), ask_answered=answered,
               questions=len(queries) + len(times),
               rss_after_questions_mb=_status_mb(os.getpid(), "VmRSS"),
               worker_peak_rss_self_mb=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
    return out


# ------------------------------------------------------------------------------------- the store alone


STORE_VARIANTS = ("vectors", "vectors+paper_id", "vectors+metadata", "vectors+metadata+text-in-metadata", "product")
#: What each variant writes beside the vectors (the product's `PaperStore.upsert` is the last).
STORE_LABELS = {
    "vectors": "vectors only",
    "vectors+paper_id": "vectors + the paper id",
    "vectors+metadata": "vectors + metadata",
    "vectors+metadata+text-in-metadata": "vectors + metadata + text as a metadata value",
    "product": "vectors + metadata + text as Chroma documents (`PaperStore.upsert`, what ingest writes)",
}


def store_alone(cfg: Config, n: int) -> dict:
    """The baseline for ingest's papers/s: the first n papers' chunks (the product's chunker) and their
    vectors (the embeddings server's function, called in-process) written straight into a fresh embedded
    collection in the product's batches, timing only the writes. The variants (STORE_LABELS) add one part of
    the write at a time, up to `PaperStore.upsert` as ingest calls it (vectors, metadata and text as Chroma
    documents), and one layout ingest does not use (the text as a metadata value). Run in its own process
    so its memory does not count against the next measurement."""
    run_dir = cfg.out / f"store-{n}"
    shutil.rmtree(run_dir, ignore_errors=True)
    run_dir.mkdir(parents=True)
    job = {"file": str(collection_file(cfg, max(n, 10_000))), "n": n, "home": str(run_dir / "home")}
    got = run_measured([sys.executable, "-m", "paperchat.evals.bench_scale", "--store-worker"],
                       child_env("", None), run_dir, stdin=json.dumps(job)).check("the store-alone worker")
    row = json.loads(got.stdout.strip().splitlines()[-1])
    shutil.rmtree(run_dir / "home", ignore_errors=True)
    return {"size": n, "mode": "store", **row}


def _store_variant_metadata(variant: str, chunks: list) -> dict:
    """The metadatas argument of a store-alone variant other than the product's own write."""
    if variant == "vectors":
        return {}
    if variant == "vectors+paper_id":
        return {"metadatas": [{"paper_id": c.paper_id} for c in chunks]}
    if variant == "vectors+metadata":
        return {"metadatas": [c.metadata for c in chunks]}
    if variant == "vectors+metadata+text-in-metadata":  # Chroma indexes documents for full-text search, not these
        return {"metadatas": [{**c.metadata, "text": c.text} for c in chunks]}
    raise ValueError(f"unknown store variant {variant!r}")


def store_worker(job: dict) -> dict:
    from paperchat.evals.embed_server import embed
    from paperchat.ingest.pipeline import prepare
    from paperchat.ingest.readers import read_papers
    from paperchat.rag.settings import Settings
    from paperchat.rag.store import PaperStore

    settings = Settings(home=Path(job["home"]), _env_file=None)
    papers = [p for _, p in zip(range(job["n"]), read_papers(Path(job["file"]), "jsonl"))]
    batch = settings.ingest.batch_size
    work = []
    for start in range(0, len(papers), batch):
        chunks = prepare(papers[start: start + batch], settings.chunk).chunks
        work.append((chunks, embed([c.text for c in chunks])))
    n_chunks = sum(len(c) for c, _ in work)
    out: dict = {"papers": len(papers), "chunks": n_chunks, "batch_size": batch}
    for variant in STORE_VARIANTS:
        store = PaperStore(settings.model_copy(update={"collection": f"alone-{variant.replace('+', '-')}"}),
                           "paperchat-hash-384", 384, create=True)
        seconds = 0.0
        try:
            for chunks, vectors in work:
                started = time.perf_counter()
                if variant == "product":
                    store.upsert(chunks, vectors)
                else:
                    store._col.upsert(ids=[c.id for c in chunks], embeddings=vectors,
                                      **_store_variant_metadata(variant, chunks))
                seconds += time.perf_counter() - started
            stored = store.count()
        finally:
            store.close()
        if stored != n_chunks:
            raise RuntimeError(f"the store-alone collection {variant!r} holds {stored} chunks, not {n_chunks}")
        out[f"{variant}_papers_per_s"] = len(papers) / seconds
        out[f"{variant}_chunks_per_s"] = n_chunks / seconds
        print(f"  store alone, {variant}: {len(papers) / seconds:.0f} papers/s ({n_chunks / seconds:.0f} chunks/s)",
              file=sys.stderr, flush=True)
    return out


# ------------------------------------------------------------------------------------- the real model


def onnx_sample(cfg: Config, n: int, arena: bool = True, max_batch_tokens: int | None = None) -> dict:
    """The real ONNX model's ingest papers/s and peak RSS on the first n papers (`paperchat ingest`, with
    onnxruntime's memory arena on or off and `max_batch_tokens` padded tokens per run, both as settings; None:
    the product's default), and what 1M papers would take at that rate."""
    from paperchat.rag.settings import MAX_BATCH_TOKENS

    tokens = max_batch_tokens or MAX_BATCH_TOKENS
    run_dir = cfg.out / f"onnx-{n}-{'arena' if arena else 'noarena'}-{tokens}"
    shutil.rmtree(run_dir, ignore_errors=True)
    run_dir.mkdir(parents=True)
    file = run_dir / "papers.jsonl"
    with collection_file(cfg, max(n, 10_000)).open(encoding="utf-8") as src, file.open("w", encoding="utf-8") as dst:
        for _, line in zip(range(n), src):
            dst.write(line)
    env = {**child_env("", None, backend="onnx"), "PAPERCHAT_EMBEDDING__ARENA": "true" if arena else "false",
           "PAPERCHAT_EMBEDDING__MAX_BATCH_TOKENS": str(tokens)}
    got, counts = _ingest(run_dir, env, file)
    _expect(counts, new=n, total=n)
    rate = n / got.seconds
    if not cfg.keep:
        shutil.rmtree(run_dir / "home", ignore_errors=True)
    return {"size": n, "mode": "onnx", "arena": arena, "max_batch_tokens": tokens, "ingest_s": got.seconds,
            "ingest_papers_per_s": rate, "ingest_rss_mb": got.max_rss_mb, "ingest_helper_rss_mb": got.children_rss_mb,
            "hours_for_1m": 1_000_000 / rate / 3600}


def sweep(cfg: Config, n: int, embed_url: str, batch_sizes=(128, 512, 2048), concurrency=(1, 2, 4)) -> list[dict]:
    """Ingest papers/s and peak RSS for several `--batch-size` values (concurrency 2) and embedding
    concurrencies (batch size 512), embedded store: what the defaults were chosen from."""
    rows = []
    for batch, conc in [(b, 2) for b in batch_sizes] + [(512, c) for c in concurrency if c != 2]:
        run_dir = cfg.out / f"sweep-{n}-b{batch}-c{conc}"
        shutil.rmtree(run_dir, ignore_errors=True)
        run_dir.mkdir(parents=True)
        env = {**child_env(embed_url), "PAPERCHAT_EMBEDDING__CONCURRENCY": str(conc)}
        got, counts = _ingest(run_dir, env, collection_file(cfg, n), "--batch-size", str(batch))
        _expect(counts, new=n, total=n)
        rows.append({"size": n, "mode": "sweep", "batch_size": batch, "concurrency": conc, "ingest_s": got.seconds,
                     "ingest_papers_per_s": n / got.seconds, "ingest_rss_mb": got.max_rss_mb,
                     "ingest_helper_rss_mb": got.children_rss_mb})
        print(f"  batch {batch}, concurrency {conc}: {n / got.seconds:.0f} papers/s, peak RSS "
              f"{got.max_rss_mb:.0f} MB", flush=True)
        shutil.rmtree(run_dir / "home", ignore_errors=True)
    return rows


# ------------------------------------------------------------------------------------- the report

METRICS = [  # (key, label, unit, lower is better)
    ("ingest_papers_per_s", "ingest", "papers/s", False),
    ("ingest_cpu_ms_per_paper", "ingest CPU per paper (all its processes)", "ms", True),
    ("ingest_rss_mb", "ingest peak RSS", "MB", True),
    ("disk_kb_per_paper", "disk per paper", "KB", True),
    ("reingest_s", "unchanged re-ingest", "s", True),
    ("delta_s", "10 changed + 10 new + 10 deleted", "s", True),
    ("cold_start_s", "`paperchat search` cold start", "s", True),
    ("search_p50_ms", "search p50", "ms", True),
    ("search_p95_ms", "search p95", "ms", True),
    ("ask_p50_ms", "ask p50", "ms", True),
    ("ask_p95_ms", "ask p95", "ms", True),
    ("ingest_helper_rss_mb", "ingest helper process peak RSS", "MB", True),
    ("search_process_rss_mb", "`paperchat search` peak RSS", "MB", True),
    ("rss_after_questions_mb", "search/ask process RSS after the questions", "MB", True),
    ("first_search_ms", "first search in a new process", "ms", True),
    ("server_rss_mb", "`chroma run` peak RSS", "MB", True),
    ("web_rss_start_mb", "web server RSS after its first question", "MB", True),
    ("web_rss_after_mb", "web server RSS after the last question", "MB", True),
    ("web_ask_p50_ms", "web /ask p50, as a client sees it", "ms", True),
    ("web_ask_p95_ms", "web /ask p95, as a client sees it", "ms", True),
]


def growth_exponent(points: list[tuple[int, float]]) -> float | None:
    """The slope of log(value) against log(size), least squares: 1.0 is linear growth, 0 is flat."""
    pts = [(math.log(s), math.log(v)) for s, v in points if v and v > 0]
    if len(pts) < 2:
        return None
    mx = sum(x for x, _ in pts) / len(pts)
    my = sum(y for _, y in pts) / len(pts)
    var = sum((x - mx) ** 2 for x, _ in pts)
    return sum((x - mx) * (y - my) for x, y in pts) / var if var else None


def _fmt(value) -> str:
    if value is None:
        return "–"
    if isinstance(value, float):
        return f"{value:,.0f}" if abs(value) >= 100 else f"{value:.2f}" if abs(value) >= 1 else f"{value:.3f}"
    return f"{value:,}" if isinstance(value, int) else str(value)


def table(rows: list[dict]) -> str:
    """One column per (mode, size), one row per metric, and the growth exponent per mode."""
    runs = sorted((r for r in rows if r.get("mode") in ("embedded", "server")), key=lambda r: (r["mode"], r["size"]))
    modes = sorted({r["mode"] for r in runs})
    head = [f"{r['mode']} {r['size']:,}" for r in runs] + [f"exponent ({m})" for m in modes]
    lines = ["| metric | " + " | ".join(head) + " |", "|---" * (len(head) + 1) + "|"] if runs else []
    for key, label, unit, _ in METRICS if runs else []:
        values = [_fmt(r.get(key)) for r in runs]
        exps = [growth_exponent([(r["size"], r.get(key)) for r in runs if r["mode"] == m]) for m in modes]
        lines.append(f"| {label} ({unit}) | " + " | ".join(values + [_fmt(e) if e is None else f"{e:+.2f}"
                                                                     for e in exps]) + " |")
    for r in rows:
        if r.get("mode") == "onnx":
            arena = "arena on" if r.get("arena", True) else "arena off"
            tokens = f", {r['max_batch_tokens']:,} tokens a run" if r.get("max_batch_tokens") else ""
            lines.append(f"\nReal ONNX model (all-MiniLM-L6-v2 int8, onnxruntime {arena}{tokens}), "
                         f"{r['size']:,} papers: "
                         f"{r['ingest_papers_per_s']:.1f} papers/s, peak RSS {r['ingest_rss_mb']:,.0f} MB "
                         f"(+ helper {r.get('ingest_helper_rss_mb', 0):,.0f} MB), so 1M papers would take "
                         f"{r['hours_for_1m']:.1f} hours.")
    for r in rows:
        if r.get("mode") == "store":
            lines += ["", f"The store alone: {r['papers']:,} papers ({r['chunks']:,} chunks) written straight into an "
                      f"embedded Chroma collection in batches of {r['batch_size']} papers, writes timed only "
                      f"(ingest's ceiling on this machine):", "", "| written | papers/s | chunks/s |", "|---|---|---|"]
            lines += [f"| {STORE_LABELS[v]} | {r[v + '_papers_per_s']:,.0f} | {r[v + '_chunks_per_s']:,.0f} |"
                      for v in STORE_VARIANTS if v + "_papers_per_s" in r]
    swept = [r for r in rows if r.get("mode") == "sweep"]
    if swept:
        lines += ["", f"Ingest of {swept[0]['size']:,} papers (embedded store, loopback embeddings) by setting:", "",
                  "| --batch-size | embedding concurrency | papers/s | peak RSS (MB) |", "|---|---|---|---|"]
        lines += [f"| {r['batch_size']} | {r['concurrency']} | {r['ingest_papers_per_s']:.0f} | "
                  f"{r['ingest_rss_mb']:,.0f} |" for r in swept]
    return "\n".join(lines)


def plot(rows: list[dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    runs = [r for r in rows if r.get("mode") in ("embedded", "server")]
    fig, axes = plt.subplots(math.ceil(len(METRICS) / 5), 5, figsize=(20, 4 * math.ceil(len(METRICS) / 5)))
    for ax, (key, label, unit, _) in zip(axes.flat, METRICS):
        for mode in sorted({r["mode"] for r in runs}):
            pts = sorted((r["size"], r[key]) for r in runs if r["mode"] == mode and r.get(key))
            if pts:
                exp = growth_exponent(pts)
                ax.plot(*zip(*pts), marker="o", label=f"{mode} (exp {exp:+.2f})" if exp is not None else mode)
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_title(label, fontsize=10)
        ax.set_xlabel("papers")
        ax.set_ylabel(unit)
        ax.grid(True, which="both", alpha=0.3)
        if ax.get_lines():
            ax.legend(fontsize=8)
    for ax in list(axes.flat)[len(METRICS):]:
        ax.set_visible(False)
    fig.suptitle("paperchat at scale (2-core machine, embeddings from the loopback hash server)")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=80)
    plt.close(fig)


def load_rows(out: Path) -> list[dict]:
    path = out / "results.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()] if path.exists() else []


def report(out: Path, plot_path: Path) -> str:
    rows = load_rows(out)
    text = table(rows)
    (out / "scale.md").write_text(text + "\n")
    plot(rows, plot_path)
    return text


# ------------------------------------------------------------------------------------- main


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="The scale benchmark (see the module docstring).")
    parser.add_argument("--sizes", default="10000,100000", help="Comma-separated collection sizes")
    parser.add_argument("--modes", default="embedded,server", help="embedded, server or both")
    parser.add_argument("--out", type=Path, default=None, help="Results folder (default runs/scale-<time>)")
    parser.add_argument("--data", type=Path, default=None, help="Where the synthetic collections are cached")
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--asks", type=int, default=200)
    parser.add_argument("--cold-runs", type=int, default=3)
    parser.add_argument("--onnx-sample", type=int, default=0, help="Also measure the real model on N papers "
                        "(onnxruntime's arena on and off)")
    parser.add_argument("--onnx-tokens", default="", help="Comma-separated max_batch_tokens values for "
                        "--onnx-sample, each measured with the arena on (default: the product's setting, arena on "
                        "and off)")
    parser.add_argument("--sweep", type=int, default=0, help="Also measure N-paper ingests by batch size and "
                        "embedding concurrency")
    parser.add_argument("--store-alone", type=int, default=0, help="Also measure N papers written straight "
                        "into Chroma (vectors; + metadata; + text, as ingest writes them): ingest's ceiling")
    parser.add_argument("--web-questions", type=int, default=0, help="Also send N questions to `paperchat serve`'s "
                        "/ask endpoint and report the web server's RSS after them")
    parser.add_argument("--web-only", default=None, metavar="MODE-SIZE", help="Only the web step, on the "
                        "collection a --keep run left in --out (e.g. server-1000000)")
    parser.add_argument("--plot", type=Path, default=DOCS / "scale.png")
    parser.add_argument("--keep", action="store_true", help="Keep the homes and files (disk!)")
    parser.add_argument("--report-only", action="store_true", help="Re-render the table and plot of --out")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--store-worker", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        print(json.dumps(worker(json.loads(sys.stdin.read()))))
        return
    if args.store_worker:
        print(json.dumps(store_worker(json.loads(sys.stdin.read()))))
        return
    out = args.out or Path("runs") / time.strftime("scale-%Y%m%d-%H%M%S")
    out.mkdir(parents=True, exist_ok=True)
    if args.web_only:
        mode, _, size = args.web_only.partition("-")
        if mode not in ("embedded", "server") or not size.isdigit():
            parser.error(f"--web-only {args.web_only!r}: expected MODE-SIZE, MODE embedded or server")
        print(json.dumps(web_only(out.resolve(), mode, int(size), args.web_questions or 1000)))
    elif not args.report_only:
        cfg = Config(out=out.resolve(), data=(args.data or out / "data").resolve(), queries=args.queries,
                     asks=args.asks, cold_runs=args.cold_runs, keep=args.keep, web_questions=args.web_questions)
        run_all(cfg, [int(s) for s in args.sizes.split(",") if s], [m for m in args.modes.split(",") if m],
                args.onnx_sample, args.sweep, args.store_alone,
                [int(t) for t in args.onnx_tokens.split(",") if t])
    print(report(out, args.plot))


def run_all(cfg: Config, sizes: list[int], modes: list[str], onnx: int = 0, sweep_n: int = 0,
            store_n: int = 0, onnx_tokens: list[int] | None = None) -> list[dict]:
    url, stop = start_embed_server(0)
    rows = []

    def keep(row: dict) -> None:
        rows.append(row)
        with (cfg.out / "results.jsonl").open("a") as f:
            f.write(json.dumps(row) + "\n")

    try:
        if store_n:
            print(f"the store alone, {store_n:,} papers", flush=True)
            keep(store_alone(cfg, store_n))
        for n in sizes:
            for mode in modes:
                print(f"{mode}, {n:,} papers", flush=True)
                keep(bench_size(n, mode, cfg, url, log=lambda s: print(s, flush=True)))
        if sweep_n:
            print(f"batch size and concurrency, {sweep_n:,} papers", flush=True)
            for row in sweep(cfg, sweep_n, url):
                keep(row)
        if onnx:
            for arena, tokens in [(True, t) for t in onnx_tokens] if onnx_tokens else [(True, None), (False, None)]:
                print(f"real ONNX model, {onnx:,} papers, arena {'on' if arena else 'off'}"
                      f"{f', {tokens:,} tokens a run' if tokens else ''}", flush=True)
                keep(onnx_sample(cfg, onnx, arena, tokens))
    finally:
        stop()
    return rows


if __name__ == "__main__":
    main()
