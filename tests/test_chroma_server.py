"""The same ingest and search against a real Chroma server (`chroma run` on loopback) as embedded."""

from __future__ import annotations

import contextlib
import json
import shutil
import subprocess
import time
import urllib.error
import urllib.request

import pytest
from conftest import (
    BIN,
    BUNDLED_COUNT,
    FakeEmbeddings,
    free_port,
    make_settings,
    run_cli,
    stop_process,
    subprocess_env,
    write_jsonl,
)

from paperchat.evals.embed_server import MODEL as EMBED_MODEL
from paperchat.evals.embed_server import start as start_embed_server
from paperchat.ingest.pipeline import ingest_paths
from paperchat.rag import index as index_module
from paperchat.rag.errors import ModelMismatchError, StoreError
from paperchat.rag.index import CATALOG_FILE, CollectionIndex
from paperchat.rag.retrieval import Retriever
from paperchat.rag.settings import BUNDLED_PAPERS, ChromaSettings, EmbeddingSettings
from paperchat.rag.store import PaperStore

CHROMA = BIN / "chroma"
COLLECTION = "server-papers"
QUERIES = [
    "memory cost of training deep networks",
    "speech recognition",
    "diffusion models for image generation",
    "quantization to 4-bit integers",
    "retrieval augmented generation over graphs",
    "energy consumption of GPUs",
]


def _heartbeat(port: int) -> bool:
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # loopback, never a proxy
    try:
        with opener.open(f"http://127.0.0.1:{port}/api/v2/heartbeat", timeout=1) as response:
            return "nanosecond heartbeat" in json.loads(response.read())
    except (urllib.error.URLError, OSError, ValueError):
        return False


@pytest.fixture(scope="module")
def chroma_server(tmp_path_factory):
    """A `chroma run` process on a free loopback port with its data in a temporary folder."""
    if not CHROMA.exists():
        pytest.skip(f"the `chroma` command is not installed beside the interpreter ({CHROMA}); "
                    "it ships with the chromadb package")
    folder = tmp_path_factory.mktemp("chroma-server")
    port = free_port()
    log = (folder / "server.log").open("wb")
    proc = subprocess.Popen(
        [str(CHROMA), "run", "--path", str(folder / "data"), "--port", str(port), "--host", "127.0.0.1"],
        stdout=log, stderr=subprocess.STDOUT, env=subprocess_env(), cwd=folder,
    )
    try:
        deadline = time.monotonic() + 30
        while not _heartbeat(port):
            if proc.poll() is not None or time.monotonic() > deadline:
                log.flush()
                pytest.fail(f"chroma server did not start (exit {proc.poll()}):\n"
                            f"{(folder / 'server.log').read_text(errors='replace')[-2000:]}")
            time.sleep(0.2)
        yield {"port": port, "data": folder / "data"}
    finally:
        stop_process(proc, 10)
        log.close()


@pytest.fixture(scope="module")
def both(chroma_server, tmp_path_factory):
    """The bundled papers ingested with the fake embedder into the server and into an embedded store."""
    base = tmp_path_factory.mktemp("server-vs-embedded")
    server = make_settings(base / "server-home", collection=COLLECTION,
                           chroma=ChromaSettings(host="127.0.0.1", port=chroma_server["port"]))
    embedded = make_settings(base / "embedded-home", collection=COLLECTION)
    reports = {}
    for name, settings in (("server", server), ("embedded", embedded)):
        reports[name] = ingest_paths([BUNDLED_PAPERS], settings, embedder=FakeEmbeddings())
    return {"server": server, "embedded": embedded, "reports": reports, "base": base}


@pytest.fixture
def closing():
    """Keep what a test opens (stores, retrievers) and close it after the test: no client outlives it."""
    opened = []

    def keep(obj):
        opened.append(obj)
        return obj

    yield keep
    for obj in reversed(opened):
        obj.close()


def test_server_and_embedded_hold_the_same_papers(both, chroma_server, closing):
    for report in both["reports"].values():
        assert (report.new, report.papers_total) == (BUNDLED_COUNT, BUNDLED_COUNT)
    stores = {name: closing(PaperStore(both[name], "fake-hash-64", 64, create=False))
              for name in ("server", "embedded")}

    assert stores["server"].count() == stores["embedded"].count()
    assert [r.paper_id for r in stores["server"].papers()] == [r.paper_id for r in stores["embedded"].papers()]
    # server mode keeps no Chroma data in the home folder; the server's own folder holds it
    assert not (both["server"].home / "chroma").exists()
    assert (both["embedded"].home / "chroma").exists()
    assert any(chroma_server["data"].iterdir())


@pytest.mark.parametrize("query", QUERIES)
def test_server_and_embedded_search_alike(both, query, closing):
    hits = {name: closing(Retriever(both[name], embedder=FakeEmbeddings())).search(query, 5)
            for name in ("server", "embedded")}

    assert len(hits["server"]) == 5
    assert [h.paper_id for h in hits["server"]] == [h.paper_id for h in hits["embedded"]]
    for a, b in zip(hits["server"], hits["embedded"], strict=True):
        assert (a.dense_rank, a.bm25_rank, a.chunk_id) == (b.dense_rank, b.bm25_rank, b.chunk_id)
        # scores are rounded to 6 decimals, and a float32 distance sent as JSON can differ in its 8th digit
        assert a.score == pytest.approx(b.score, abs=2e-6)


def test_reingest_against_the_server_is_idempotent(both):
    fake = FakeEmbeddings()

    report = ingest_paths([BUNDLED_PAPERS], both["server"], embedder=fake)

    assert report.summary().startswith(f"0 new, 0 changed, {BUNDLED_COUNT} unchanged")
    assert fake.count == 0


def test_server_keyword_index_lives_per_server_and_is_rebuilt_from_its_documents(both, chroma_server, closing):
    settings = both["server"]
    folder = settings.index_dir
    assert folder == settings.home / "bm25" / f"127.0.0.1_{chroma_server['port']}" / COLLECTION
    assert (folder / CATALOG_FILE).exists()
    shutil.rmtree(folder)

    hits = closing(Retriever(settings, embedder=FakeEmbeddings())).search("cyclomatic complexity of generated code", 5)

    assert any(h.bm25_rank == 1 for h in hits)
    store = closing(PaperStore(settings, "fake-hash-64", 64, create=False))
    index = CollectionIndex(folder)
    assert (index.n_docs, index.papers, index.revision) == (store.count(), BUNDLED_COUNT, store.revision())
    index.close()


def test_a_fresh_machine_gets_the_keyword_index_from_the_server(both, chroma_server, closing):
    """Another home (another machine) that never ingested builds the index from the server's documents."""
    other = make_settings(both["base"] / "other-machine", collection=COLLECTION,
                          chroma=ChromaSettings(host="127.0.0.1", port=chroma_server["port"]))
    assert not other.index_dir.exists()

    server_hits = closing(Retriever(other, embedder=FakeEmbeddings())).search(QUERIES[0], 5)

    embedded_hits = closing(Retriever(both["embedded"], embedder=FakeEmbeddings())).search(QUERIES[0], 5)
    assert [h.paper_id for h in server_hits] == [h.paper_id for h in embedded_hits]
    assert (other.index_dir / CATALOG_FILE).exists()


def _paper(i: int, **extra) -> dict:
    return {"id": f"p{i}", "title": f"Study number {i} of topic{i}",
            "abstract": f"We examine topic{i} with method{i}. The results on benchmark{i} are reported.", **extra}


def test_another_writer_is_caught_up_through_the_change_log(chroma_server, tmp_path, monkeypatch):
    """A second process (`paperchat ingest` from another home: another machine) writes the server's
    collection; a long-lived reader catches up from the change log, reading only the papers it names."""
    url, stop = start_embed_server(0)
    try:
        port, collection = chroma_server["port"], "logged-papers"
        env = subprocess_env(PAPERCHAT_CHROMA__HOST="127.0.0.1", PAPERCHAT_CHROMA__PORT=str(port),
                             PAPERCHAT_COLLECTION=collection, PAPERCHAT_EMBEDDING__BACKEND="openai",
                             PAPERCHAT_EMBEDDING__BASE_URL=url, PAPERCHAT_EMBEDDING__MODEL=EMBED_MODEL,
                             PAPERCHAT_EMBEDDING__API_KEY="not-needed")
        path = write_jsonl(tmp_path / "papers.jsonl", [_paper(i) for i in range(8)])
        writer = ["--home", str(tmp_path / "writer-home"), "ingest", str(path), "-q"]
        first = run_cli(writer, cwd=tmp_path, env=env)
        assert first.returncode == 0 and first.stdout.startswith("8 new"), first.stderr
        reader = make_settings(tmp_path / "reader-home", collection=collection,
                               chroma=ChromaSettings(host="127.0.0.1", port=port),
                               embedding=EmbeddingSettings(backend="openai", base_url=url, model=EMBED_MODEL,
                                                           api_key="not-needed"))
        retriever = Retriever(reader)
        assert retriever.search("topic3 method3", 3)[0].paper_id == "p3"  # built from the server's documents

        changed = _paper(2, abstract="GraftNet feeds zebrafinch colonies.")
        write_jsonl(path, [changed if i == 2 else _paper(i) for i in range(8) if i != 5] + [_paper(11)])
        second = run_cli([*writer, "--prune"], cwd=tmp_path, env=env)
        assert second.returncode == 0 and second.stdout.startswith("1 new, 1 changed, 6 unchanged, 1 pruned")

        def no_rebuild(*args, **kwargs):
            raise AssertionError("rebuilt from every document instead of catching up from the change log")

        monkeypatch.setattr(index_module, "rebuild", no_rebuild)
        hits = retriever.search("zebrafinch", 3)

        assert (hits[0].paper_id, hits[0].bm25_rank) == ("p2", 1)
        index = retriever.bm25()
        store = retriever.store
        assert index.revision == store.revision()
        assert index.keyword.chunk_ids() == {r.id for r in store.iter_chunks()}
        assert [cid for cid, _ in index.search("topic11 method11", 3)][:1] == ["p11::0"]
        assert index.search("topic5 method5", 3) == []
        assert index.papers == store.paper_count() == 8
        assert index.names.title_of("p5") is None and index.names.title_of("p11") == "Study number 11 of topic11"
        retriever.close()
    finally:
        stop()


def _leave_under_another_address(settings, address: str):
    """The collection's keyword index as a server reached at `address` earlier would have left it."""
    old = settings.home / "bm25" / address / settings.collection
    old.parent.mkdir(parents=True, exist_ok=True)
    shutil.copytree(settings.index_dir, old)
    return old


def test_an_index_left_under_another_address_of_the_server_is_taken_over(chroma_server, tmp_path, monkeypatch,
                                                                         closing):
    """The server moved (or is reached by another name): the index its old address left is copied and caught
    up from the change log, not rebuilt from every document."""
    settings = make_settings(tmp_path / "home", collection="moved-papers",
                             chroma=ChromaSettings(host="127.0.0.1", port=chroma_server["port"]))
    path = write_jsonl(tmp_path / "papers.jsonl", [_paper(i) for i in range(6)])
    ingest_paths([path], settings, embedder=FakeEmbeddings())
    old = _leave_under_another_address(settings, "10.1.2.3_8000")
    write_jsonl(path, [_paper(i, abstract="GraftNet feeds zebrafinch colonies.") if i == 2 else _paper(i)
                       for i in range(6)])
    assert ingest_paths([path], settings, embedder=FakeEmbeddings()).changed == 1  # written since the move
    shutil.rmtree(settings.index_dir)  # this address has no index yet

    def no_rebuild(*args, **kwargs):
        raise AssertionError("rebuilt from every document instead of taking over the index left behind")

    monkeypatch.setattr(index_module, "rebuild", no_rebuild)
    hits = closing(Retriever(settings, embedder=FakeEmbeddings())).search("zebrafinch", 3)

    assert (hits[0].paper_id, hits[0].bm25_rank) == ("p2", 1)  # the copy caught up with the change
    store = closing(PaperStore(settings, "fake-hash-64", 64, create=False))
    index = CollectionIndex(settings.index_dir)
    assert (index.revision, index.papers) == (store.revision(), 6)
    assert {cid for cid, _ in index.search("topic4 method4", 3)} == {"p4::0"}
    index.close()
    assert (old / CATALOG_FILE).exists()  # copied, not moved: the old address may still be in use
    assert not list(settings.index_dir.parent.glob(".*.partial"))


def test_an_index_of_a_deleted_namesake_is_not_taken_over(chroma_server, tmp_path, monkeypatch, closing):
    """A collection deleted and made again under the same name has another history: the index another
    address left of the old one is not used, even at the same revision number."""
    from paperchat.rag.store import delete_collection

    settings = make_settings(tmp_path / "home", collection="remade-papers",
                             chroma=ChromaSettings(host="127.0.0.1", port=chroma_server["port"]))
    path = write_jsonl(tmp_path / "papers.jsonl", [_paper(i) for i in range(6)])
    ingest_paths([path], settings, embedder=FakeEmbeddings())
    _leave_under_another_address(settings, "10.1.2.3_8000")
    delete_collection(settings, settings.collection)
    shutil.rmtree(settings.index_dir)
    write_jsonl(path, [_paper(i, abstract="GraftNet feeds zebrafinch colonies.") if i == 2 else _paper(i)
                       for i in range(6)])
    ingest_paths([path], settings, embedder=FakeEmbeddings())  # the same papers but one, the same revision number
    shutil.rmtree(settings.index_dir)
    rebuilt = []
    real_rebuild = index_module.rebuild
    monkeypatch.setattr(index_module, "rebuild", lambda *a, **k: (rebuilt.append(1), real_rebuild(*a, **k)))

    hits = closing(Retriever(settings, embedder=FakeEmbeddings())).search("zebrafinch", 3)

    assert rebuilt == [1]
    assert (hits[0].paper_id, hits[0].bm25_rank) == ("p2", 1)


def test_a_reader_of_a_collection_made_again_rebuilds_its_index(chroma_server, tmp_path, closing):
    """Another machine's index of a collection that was deleted and made again (the same name, the same
    revision number, another history) is not taken as in step."""
    from paperchat.rag.store import delete_collection

    server = ChromaSettings(host="127.0.0.1", port=chroma_server["port"])
    writer = make_settings(tmp_path / "writer", collection="again-papers", chroma=server)
    reader = make_settings(tmp_path / "reader", collection="again-papers", chroma=server)
    path = write_jsonl(tmp_path / "papers.jsonl", [_paper(i) for i in range(6)])
    ingest_paths([path], writer, embedder=FakeEmbeddings())
    before = Retriever(reader, embedder=FakeEmbeddings())
    assert before.search("topic2 method2", 3)[0].paper_id == "p2"
    before.close()
    delete_collection(writer, writer.collection)
    write_jsonl(path, [_paper(i, abstract="GraftNet feeds zebrafinch colonies.") if i == 2 else _paper(i)
                       for i in range(6)])
    ingest_paths([path], writer, embedder=FakeEmbeddings())

    hits = closing(Retriever(reader, embedder=FakeEmbeddings())).search("zebrafinch", 3)

    assert (hits[0].paper_id, hits[0].bm25_rank) == ("p2", 1)


def test_model_mismatch_on_the_server(both):
    class Other(FakeEmbeddings):
        model_name = "other-model"

    with pytest.raises(ModelMismatchError, match="fake-hash-64"):
        Retriever(both["server"], embedder=Other())


def test_unreachable_server_is_a_store_error(tmp_path):
    settings = make_settings(tmp_path / "home", chroma=ChromaSettings(host="127.0.0.1", port=free_port()))
    with pytest.raises(StoreError, match="127.0.0.1"):
        ingest_paths([BUNDLED_PAPERS], settings, embedder=FakeEmbeddings())


def test_a_closed_store_leaves_no_socket_to_the_server_open(both, chroma_server):
    import gc
    import socket

    def open_to_server() -> int:
        gc.collect()
        count = 0
        for obj in gc.get_objects():
            if isinstance(obj, socket.socket) and obj.fileno() != -1:
                with contextlib.suppress(OSError):
                    count += obj.getpeername()[1] == chroma_server["port"]
        return count

    before = open_to_server()
    store = PaperStore(both["server"], "fake-hash-64", 64, create=False)
    assert store.paper_count() == BUNDLED_COUNT and open_to_server() > before  # it did talk to the server
    store.close()
    assert open_to_server() == before
