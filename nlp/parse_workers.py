"""en_core_web_sm and the rule components in worker processes that share nothing with the caller.

The caller (`nlp.pipeline.parse`, inside `lens analyze`) holds the transformers and runs them
over the Docs the workers send back. Forking the workers from the caller made them share its
pages copy-on-write, and the caller keeps rewriting those pages: its heap is where the
transformers' activations come and go. Each page it writes is then copied, the workers keep the
old one, and the tree's memory grows by everything the caller had at the fork (measured: the
two workers held 568 MB of the caller's pages between them; at 5,000 articles the caller had
rewritten nearly all of them, and the workers' PSS had grown to 910-935 MB).

So the workers come from a server started fresh (`python -m nlp.parse_workers PARENT_PID`): it
loads only the spaCy stage, forks `n_process` workers that share its pages, and relays batches
to them and Docs back in order. The server only relays, so the pages its workers share stay
shared. multiprocessing's own "forkserver" would do the forking, but it imports the caller's
`__main__` script again in every worker, which reruns any script that lacks the
`if __name__ == "__main__"` guard.

Protocol, over two pipes of `multiprocessing.connection.Connection` objects: the caller sends
the spec (spaCy package, rule components to add, worker count), then batches of
(text, article id, publication time), then None; the server answers each batch, in order, with
("docs", [(Doc bytes, user_data), ...]) or ("error", message).
"""

from __future__ import annotations

import atexit
import ctypes
import itertools
import os
import queue
import signal
import subprocess
import sys
import threading
from collections.abc import Iterable, Iterator
from datetime import datetime
from multiprocessing.connection import Connection
from pathlib import Path

Item = tuple[str, str, datetime | None]  # (text, article id, publication time)

_ROOT = Path(__file__).resolve().parents[1]  # so that the server imports this very checkout


def die_with(parent_pid: int) -> None:
    """SIGKILL this process when `parent_pid` dies (Linux; a no-op elsewhere). A worker waits on
    a queue whose write end it holds itself, so after a SIGKILLed `lens run` it would otherwise
    wait forever (measured: two workers of 430 MB each left under init)."""
    try:
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        return
    if os.getppid() != parent_pid:  # the parent died before the line above
        os._exit(1)


def _spec(spacy_model: str, components: Iterable[str], n_process: int) -> dict:
    """What the server loads: the spaCy package, the rule components after it, the workers."""
    return {"spacy_model": spacy_model, "components": tuple(components), "n_process": n_process}


class ParseServer:
    """The caller's end: `send` batches, `receive` their Docs' bytes in the same order."""

    def __init__(self, spacy_model: str, components: Iterable[str], n_process: int):
        self.spec = _spec(spacy_model, components, n_process)
        to_server_r, to_server_w = os.pipe()
        to_caller_r, to_caller_w = os.pipe()
        env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [str(_ROOT), os.environ.get("PYTHONPATH")])))
        self._process = subprocess.Popen(
            [sys.executable, "-m", "nlp.parse_workers", str(os.getpid()), str(to_server_r), str(to_caller_w)],
            pass_fds=(to_server_r, to_caller_w), stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, env=env)
        os.close(to_server_r)
        os.close(to_caller_w)
        self._requests = Connection(to_server_w, readable=False)
        self._replies = Connection(to_caller_r, writable=False)
        self._requests.send(self.spec)

    def send(self, batch: list[Item]) -> None:
        self._requests.send(batch)

    def receive(self) -> list[tuple[bytes, dict]]:
        try:
            kind, payload = self._replies.recv()
        except EOFError:
            raise RuntimeError(f"the spaCy worker server exited (status {self._process.wait()}); "
                               "its error is above") from None
        if kind == "error":
            raise RuntimeError(f"spaCy worker: {payload}")
        return payload

    def close(self) -> None:
        try:
            self._requests.send(None)
        except OSError:
            pass  # it is already gone
        self._requests.close()
        self._replies.close()
        try:
            self._process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait()

    def __enter__(self) -> ParseServer:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


# A server started ahead of its first batch (`start`), waiting for the parse that asks for it.
_started: ParseServer | None = None


def start(spacy_model: str, components: Iterable[str], n_process: int) -> None:
    """Start the workers now: the server takes about 3 s to import spaCy and load the model,
    which can overlap the caller's own loading. The next `parse_in_workers` with the same
    arguments takes them over; one with others closes them and starts its own."""
    global _started
    if _started is None:
        _started = ParseServer(spacy_model, components, n_process)


@atexit.register
def _close_started() -> None:
    global _started
    if _started is not None:
        _started.close()
        _started = None


def _server(spacy_model: str, components: Iterable[str], n_process: int) -> ParseServer:
    global _started
    started, _started = _started, None
    if started is not None and started.spec == _spec(spacy_model, components, n_process):
        return started
    if started is not None:
        started.close()
    return ParseServer(spacy_model, components, n_process)


def parse_in_workers(spacy_model: str, components: Iterable[str], n_process: int, batches: Iterator[list[Item]],
                     ahead: int) -> Iterator[tuple[bytes, dict]]:
    """(Doc bytes, user_data) for every item of `batches`, in order, with up to `ahead` batches
    sent before their turn, so that the workers keep parsing while the caller runs the
    transformers; memory stays bounded by that window."""
    with _server(spacy_model, components, n_process) as server:
        pending = 0
        for batch in itertools.islice(batches, ahead):
            server.send(batch)
            pending += 1
        while pending:
            parsed = server.receive()
            pending -= 1
            for batch in itertools.islice(batches, 1):
                server.send(batch)
                pending += 1
            yield from parsed


# ---------------------------------------------------------------------------- the server's side

# The pipeline the workers parse with: built in the server before its pool forks, so each
# worker inherits it.
_worker_nlp = None


def _parse_batch(items: list[Item]) -> list[tuple[bytes, dict]]:
    """In a worker: the Docs as bytes, and their extension values (dates, entity links: Python
    objects that Doc.to_bytes cannot encode) apart, pickled by the pool.

    Without `doc.tensor`: en_core_web_sm's tok2vec leaves 96 floats per token there, three
    quarters of a Doc's bytes (384 of 510 kB for 1,000 tokens), and nothing after the parse
    reads it (the transformers encode the text themselves)."""
    from .spacy_stage import make_docs

    docs = _worker_nlp.pipe(make_docs(_worker_nlp, items), batch_size=len(items))
    return [(doc.to_bytes(exclude=["user_data", "tensor"]), doc.user_data) for doc in docs]


def serve(requests: Connection, replies: Connection) -> None:
    """The server: build the spaCy stage, fork the workers, relay batches until told to stop."""
    import multiprocessing as mp

    from .spacy_stage import load_spacy_stage

    global _worker_nlp
    spec = requests.recv()
    try:
        _worker_nlp = load_spacy_stage(spec["spacy_model"], spec["components"])
    except Exception as error:  # noqa: BLE001 - the caller says it; the server has nothing to serve
        replies.send(("error", f"could not build the spaCy stage: {type(error).__name__}: {error}"))
        return
    server_pid = os.getpid()
    os.register_at_fork(after_in_child=lambda: die_with(server_pid))
    in_order: queue.Queue = queue.Queue()

    def answer() -> None:
        while True:  # until the process ends
            result = in_order.get()
            try:
                replies.send(("docs", result.get()))
            except OSError:
                return  # the caller has gone
            except Exception as error:  # noqa: BLE001 - one batch failed: the caller decides
                replies.send(("error", f"{type(error).__name__}: {error}"))

    with mp.get_context("fork").Pool(spec["n_process"]) as pool:
        sender = threading.Thread(target=answer, daemon=True)
        sender.start()
        while True:
            try:
                batch = requests.recv()
            except EOFError:
                batch = None
            if batch is None:  # the caller has all it asked for, or has stopped listening
                break
            in_order.put(pool.apply_async(_parse_batch, (batch,)))


if __name__ == "__main__":
    # thinc imports torch whenever it is installed: 180 MB and 2 s that parsing never uses (the
    # server loads in 2.6 s and 155 MB without it, 6.4 s and 334 MB with). None here makes
    # `import torch` fail, which thinc takes as torch being absent.
    sys.modules["torch"] = None
    _parent = int(sys.argv[1])
    die_with(_parent)
    # Ctrl-C in a terminal reaches the whole process group: the caller handles it and closes
    # the server; the server and its workers (which inherit this) stay quiet meanwhile.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    serve(Connection(int(sys.argv[2]), writable=False), Connection(int(sys.argv[3]), readable=False))
