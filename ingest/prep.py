"""The helper process of ingest: chunks, tokenizes and extracts names for the batches it is sent.

`python -m paperchat.ingest.prep` reads pickled `(papers, chunk settings)` frames on stdin and writes
pickled `(ok, Prepared or exception)` frames on stdout until stdin closes. Ctrl-C is left to the ingest
process, which finishes the batch it is writing and then closes this one.
"""

from __future__ import annotations

import pickle
import signal
import struct
import sys
from typing import Any, BinaryIO

_HEADER = struct.Struct("<Q")


def write_frame(stream: BinaryIO, value: Any) -> None:
    data = pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL)
    stream.write(_HEADER.pack(len(data)) + data)
    stream.flush()


def read_frame(stream: BinaryIO) -> Any:
    head = stream.read(_HEADER.size)
    if len(head) < _HEADER.size:
        raise EOFError("the ingest helper process stopped")
    (size,) = _HEADER.unpack(head)
    return pickle.loads(stream.read(size))


def serve(stdin: BinaryIO, stdout: BinaryIO) -> None:
    from paperchat.ingest.pipeline import prepare

    while True:
        try:
            papers, chunking = read_frame(stdin)
        except EOFError:
            return
        try:
            write_frame(stdout, (True, prepare(papers, chunking)))
        except Exception as exc:  # sent back: the ingest raises it as its own
            write_frame(stdout, (False, exc))


if __name__ == "__main__":
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    serve(sys.stdin.buffer, sys.stdout.buffer)
