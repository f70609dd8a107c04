"""Files too large to hold in memory: read in pieces, matched in overlapping windows, hashed
as they pass. The results must be those of reading the whole file, at a window's memory."""

from __future__ import annotations

import base64
import random
import re
import tracemalloc

import pytest

from nhiguard.engine.matcher import line_column
from nhiguard.engine.windows import LineIndex, windows
from nhiguard.engine.worker import BlobTask, Worker, WorkerConfig
from nhiguard.model import Rule, Severity, blob_id
from nhiguard.model.blob import keyed_blob_id
from nhiguard.sources.filesystem import FileLoader

RULE = Rule(id="t.tok", name="tok", pattern=r"\b(tok_[a-z0-9]{16})\b", kind="api_key",
            provider="acme", severity=Severity.HIGH, keywords=("tok_",), max_length=64)


def tokens(n: int, seed: int) -> list[str]:
    rnd = random.Random(seed)
    return ["tok_" + "".join(rnd.choice("abcdefghijklmnopqrstuvwxyz0123456789") for _ in range(16))
            for _ in range(n)]


@pytest.mark.parametrize("piece,overlap", [(7, 3), (100, 10), (1000, 64), (64, 200)])
def test_windows_cover_every_short_match_and_give_whole_blob_positions(piece, overlap):
    rnd = random.Random(piece)
    data = bytes(rnd.choice(b"ab\n\n x") for _ in range(5000))
    pieces = [data[i : i + piece] for i in range(0, len(data), piece)]
    seen = set()
    for w in windows(pieces, overlap):
        assert data[w.base : w.base + len(w.data)] == w.data
        lines = LineIndex.of(w)
        for m in re.finditer(rb"b\n?x", w.data):  # matches up to 3 bytes, within any overlap
            start = w.base + m.start()
            assert lines.position(start) == line_column(data, start)
            seen.add(start)
    assert seen == {m.start() for m in re.finditer(rb"b\n?x", data)}


def worker(engine: str, stream_above: int, piece: int) -> Worker:
    return Worker(WorkerConfig((RULE,), b"k", True, engine == "hyperscan", None, False,
                               stream_above=stream_above, stream_piece=piece))


def build_log(tmp_path, secrets: list[str], size: int):
    """A log of about `size` bytes with secrets spread over it, one of them base64-encoded."""
    rnd = random.Random(7)
    lines, where = [], []
    at = 0
    every = size // (len(secrets) + 1)
    pending = list(secrets)
    while at < size:
        if pending and at >= every * (len(secrets) - len(pending) + 1):
            s = pending.pop(0)
            text = (f"export TOKEN_B64={base64.b64encode(f'token={s}'.encode()).decode()}"
                    if len(pending) == 0 else f"INFO login token={s} ok")
            where.append(s)
        else:
            text = f"INFO request id={rnd.getrandbits(64):x} path=/api/v1/items status=200"
        lines.append(text)
        at += len(text) + 1
    path = tmp_path / "big.log"
    path.write_text("\n".join(lines) + "\n")
    return path


def test_a_streamed_file_gives_the_findings_of_reading_it_whole(tmp_path, engine):
    secrets = tokens(12, 1)
    path = build_log(tmp_path, secrets, 600_000)
    data = path.read_bytes()
    whole = worker(engine, 10**9, 10**9).run_one(BlobTask(1, FileLoader(str(path), 10**9), None))
    # pieces far smaller than the file, so matches fall on and across window edges
    streamed = worker(engine, 50_000, 4093).run_one(BlobTask(1, FileLoader(str(path), 10**9), None))
    assert streamed.error is None and streamed.skipped is None
    assert streamed.blob_id == whole.blob_id == keyed_blob_id(blob_id(data), b"k")
    assert streamed.size == whole.size == len(data)

    def key(r):
        return sorted((m.rule_id, m.secret, m.line, m.column, m.start, m.decoded) for m in r.matches)
    assert key(streamed) == key(whole)
    assert {m.secret for m in streamed.matches} == set(secrets)
    assert any(m.decoded for m in streamed.matches)  # the base64 one, decoded per window


def test_streaming_keeps_memory_at_a_window(tmp_path):
    secrets = tokens(4, 2)
    path = build_log(tmp_path, secrets, 8_000_000)
    w = worker("python", 1 << 20, 256 << 10)
    tracemalloc.start()
    try:
        res = w.run_one(BlobTask(1, FileLoader(str(path), 10**9), None))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert {m.secret for m in res.matches} == set(secrets)
    assert peak < 4_000_000, f"peak {peak} bytes for an 8 MB file"


def test_a_huge_archive_is_skipped_with_the_reason_and_binaries_are_sniffed(tmp_path):
    z = tmp_path / "big.zip"
    z.write_bytes(b"PK\x03\x04" + b"\x00" * 200_000)
    b = tmp_path / "big.bin"
    b.write_bytes(b"\x00\x01\x02" * 100_000)
    w = worker("python", 50_000, 4096)
    rz = w.run_one(BlobTask(1, FileLoader(str(z), 10**9), None))
    assert rz.skipped and "members were not scanned" in rz.skipped
    rb = w.run_one(BlobTask(2, FileLoader(str(b), 10**9), None))
    assert rb.skipped == "binary content"


def test_a_file_that_shrinks_while_streamed_is_a_read_error(tmp_path):
    path = tmp_path / "shrinking.log"
    path.write_bytes(b"x = 1\n" * 50_000)
    loader = FileLoader(str(path), 10**9)
    stream = loader.load_sniffed(8192, None, 10_000)
    assert stream.size == 300_000
    path.write_bytes(b"x = 1\n" * 10)  # truncated in place under the open stream
    from nhiguard.sources.base import LoadError

    with pytest.raises(LoadError, match="shrank"):
        for _ in stream.pieces(4096):
            pass


def test_stdin_within_the_limit_is_held_in_memory_and_larger_input_is_spooled(tmp_path, monkeypatch):
    import io
    import os

    from nhiguard.sources.stdin import StdinBytes, StdinSource, StdinSpool

    monkeypatch.setenv("TMPDIR", str(tmp_path))
    import tempfile
    monkeypatch.setattr(tempfile, "tempdir", None)  # re-read TMPDIR
    small = StdinSource(io.BytesIO(b"x" * 100), in_memory_limit=100)
    [item] = small.items()
    assert isinstance(item.loader, StdinBytes) and item.loader.load() == b"x" * 100
    data = b"".join(t.encode() + b"\n" for t in tokens(3000, 5))
    big = StdinSource(io.BytesIO(data), in_memory_limit=1000)
    [item] = big.items()
    assert isinstance(item.loader, StdinSpool) and item.size == len(data)
    assert os.path.dirname(big.spool) == str(tmp_path)
    assert os.stat(big.spool).st_mode & 0o077 == 0  # private to the user
    assert item.loader.load() == data
    big.close()
    assert list(tmp_path.iterdir()) == []


def test_standard_input_holding_a_nul_byte_is_still_read():
    """A stray NUL makes a file binary (skipped unless --scan-binary), but standard input is
    what the user asked to scan: it is read, small or spooled."""
    import io

    from nhiguard.sources.stdin import StdinSource

    [tok] = tokens(1, 9)
    w = Worker(WorkerConfig((RULE,), b"k", False, False, None, False))
    for limit in (10**6, 100):
        [item] = StdinSource(io.BytesIO(b"a\x00b\n" + tok.encode() + b"\n"), limit).items()
        res = w.run_one(BlobTask(1, item.loader, None))
        assert res.skipped is None and [m.line for m in res.matches] == [2]


def test_closed_standard_input_is_an_error_of_its_own():
    from nhiguard.model import ScanError
    from nhiguard.sources.stdin import StdinSource

    [err] = StdinSource(None, 100).items()
    assert isinstance(err, ScanError) and err.message == "standard input is closed"
