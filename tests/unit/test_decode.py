"""Decoders: archives nested in archives, compressed streams, JSON strings, base64, and
hostile input (bombs, traversal names, corrupt archives) refused with a reported problem."""

from __future__ import annotations

import base64
import gzip
import io
import json
import tarfile
import zipfile

import pytest

from nhiguard.decode import DecodeBudget, expand
from nhiguard.engine.worker import BlobTask, Worker, WorkerConfig
from nhiguard.model import Rule, Severity
from nhiguard.sources.base import BytesLoader

TOKEN = "tok_q8hv2lz7dkx0rw3y"
RULE = Rule(id="t.tok", name="tok", pattern=r"\b(tok_[a-z0-9]{16})\b", kind="api_key",
            provider="acme", severity=Severity.HIGH, keywords=("tok_",))


def zip_of(members: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return buf.getvalue()


def tar_of(members: dict[str, bytes], mode: str = "w") -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode=mode) as tf:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tf.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def scan(data: bytes, engine: str = "python"):
    w = Worker(WorkerConfig((RULE,), b"k", True, engine == "hyperscan", None, False))
    return w.run_one(BlobTask(1, BytesLoader(data), None))


def test_zip_in_zip(engine):
    inner = zip_of({"creds/token.txt": f"\n\nTOKEN={TOKEN}\n".encode()})
    res = scan(zip_of({"inner.zip": inner, "readme.txt": b"hello"}), engine)
    [m] = res.matches
    assert m.secret == TOKEN and m.line == 3
    assert m.decoded == "zip:inner.zip!zip:creds/token.txt"


@pytest.mark.parametrize("mode", ["w", "w:gz", "w:bz2", "w:xz"])
def test_tar_variants(mode):
    res = scan(tar_of({"etc/app.conf": f"key={TOKEN}".encode()}, mode))
    assert [m.secret for m in res.matches] == [TOKEN]
    assert "tar:etc/app.conf" in res.matches[0].decoded


def test_gzip_member():
    res = scan(gzip.compress(f"log line {TOKEN}\n".encode()))
    assert [m.decoded for m in res.matches] == ["gzip"]


def test_base64_text_is_decoded_and_placed_on_its_line():
    enc = base64.b64encode(f"user:{TOKEN}".encode()).decode()
    res = scan(f"a: 1\nauth: {enc}\n".encode())
    [m] = res.matches
    assert (m.secret, m.line, m.decoded) == (TOKEN, 2, "base64")


def test_hex_text_is_decoded_and_placed_on_its_line():
    enc = f"cfg_token={TOKEN}".encode().hex()
    res = scan(f"a: 1\nblob: 0x{enc}\n".encode())
    [m] = res.matches
    assert (m.secret, m.line, m.decoded) == (TOKEN, 2, "hex")


@pytest.mark.parametrize("text", [
    "sha256: " + "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",  # a digest
    "id=" + "00" * 20,  # decodes to NUL bytes, not text
    "x = " + "abcdef0123456789" * 2 + "a",  # odd length
])
def test_hex_that_is_not_text_gives_nothing(text):
    assert [d.route for d in expand(text.encode(), DecodeBudget())] == []


def test_url_encoded_text_is_decoded_and_placed_on_its_line():
    from urllib.parse import quote

    res = scan(f"# log\nGET /cb?state=x&cfg={quote(f'user=ci&token={TOKEN}', safe='')} 200\n".encode())
    [m] = res.matches
    assert (m.secret, m.line, m.decoded) == (TOKEN, 2, "url-encoded")


def test_a_secret_found_plainly_is_not_found_again_url_decoded():
    rule = Rule(id="t.sig", name="sig", pattern=r"sig=([A-Za-z0-9%]{20,})", kind="api_key",
                provider="acme", severity=Severity.HIGH, keywords=("sig=",))
    w = Worker(WorkerConfig((rule,), b"k", True, False, None, False))
    res = w.run_one(BlobTask(1, BytesLoader(b"url: https://x.blob/c?sv=2020&sig=aBcD3fGh1jKlMn0pQrSt%2BuV%3D&se=1\n"), None))
    assert [(m.secret, m.decoded) for m in res.matches] == [("aBcD3fGh1jKlMn0pQrSt%2BuV%3D", None)]


@pytest.mark.parametrize("text", [
    'print("%02d:%02d" % (h, m))',  # printf formats
    "width: 100%; height: 50%",
    "100%25 done",  # one escape only
    "mongodb://app:D1fficultP%40ssw0rd@%2Ftmp%2Fmongodb-27017.sock",  # a URI's own escapes
])
def test_text_with_few_or_no_escapes_is_not_url_decoded(text):
    assert [d.route for d in expand(text.encode(), DecodeBudget())] == []


def test_json_escaped_strings_are_read_as_text():
    rule = Rule(id="t.q", name="q", pattern=r'key\s*=\s*"(tok_[a-z0-9]{16})"', kind="api_key",
                provider="acme", severity=Severity.HIGH, keywords=("key",))
    nb = json.dumps({"cells": [{"source": ["import x\n", f'key = "{TOKEN}"\n']}]}, indent=1)
    w = Worker(WorkerConfig((rule,), b"k", True, False, None, False))
    res = w.run_one(BlobTask(1, BytesLoader(nb.encode()), None))
    [m] = res.matches
    assert m.secret == TOKEN and m.decoded == "json-string"
    assert nb.splitlines()[m.line - 1].strip().startswith('"key')


def test_plain_and_decoded_same_place_is_one_match():
    text = f'{{"a": "say \\"{TOKEN}\\" please"}}'.encode()
    res = scan(text)
    assert len(res.matches) == 1


def test_traversal_names_refused_rest_kept():
    data = zip_of({"../../etc/evil.txt": f"{TOKEN}".encode(), "ok.txt": f"x {TOKEN}".encode()})
    res = scan(data)
    assert [m.decoded for m in res.matches] == ["zip:ok.txt"]
    assert any("traversal" in p for p in res.problems)


def test_zip_bomb_refused():
    bomb = zip_of({"big.txt": b"0" * (20 * 1024 * 1024)})
    budget = DecodeBudget()
    assert list(expand(bomb, budget)) == []
    assert any("ratio" in p for p in budget.problems)


def test_gzip_bomb_refused():
    budget = DecodeBudget(max_total_bytes=1024 * 1024)
    assert list(expand(gzip.compress(b"\0" * (50 * 1024 * 1024)), budget)) == []
    assert budget.problems


def test_truncated_archive_reported():
    data = zip_of({"a.txt": f"x {TOKEN}".encode() * 50})
    res = scan(data[: len(data) // 2])
    assert res.error is None and res.problems


def test_depth_limit():
    data = f"x {TOKEN}".encode()
    for i in range(6):
        data = zip_of({f"l{i}.zip": data})
    budget = DecodeBudget(max_depth=3)
    res = Worker(WorkerConfig((RULE,), b"k", True, False, None, False, decode_depth=3)).run_one(
        BlobTask(1, BytesLoader(data), None))
    assert res.matches == ()
    del budget


def test_truncated_tar_gz_keeps_members_before_the_damage():
    import os as _os

    data = tar_of({"a/first.env": f"T={TOKEN}\n".encode(), "b/big.bin": _os.urandom(200_000)}, "w:gz")
    res = scan(data[: len(data) * 2 // 3])
    assert [m.secret for m in res.matches] == [TOKEN]
    assert res.problems


def test_small_member_with_high_ratio_is_read():
    """A few hundred KB of zeros (a NumPy .npz, say) compresses past the bomb ratio but is
    harmless: only big members are judged by ratio; the byte budget bounds the rest."""
    data = zip_of({"zeros.npy": b"\0" * (700 * 1024), "k.txt": f"x {TOKEN}".encode()})
    budget = DecodeBudget()
    members = list(expand(data, budget))
    assert sorted(d.route for d in members) == ["zip:k.txt", "zip:zeros.npy"]
    assert budget.problems == []


def test_small_gzip_with_high_ratio_is_read():
    budget = DecodeBudget()
    out = list(expand(gzip.compress(b"\0" * (600 * 1024)), budget))
    assert len(out) == 1 and len(out[0].data) == 600 * 1024
    assert budget.problems == []


def worker(engine: str) -> Worker:
    return Worker(WorkerConfig((RULE,), b"k", True, engine == "hyperscan", None, False))


def test_archives_that_give_nothing_are_read_as_they_stand_and_say_why():
    """Archive magic with nothing behind it (corrupt, or nested past the depth limit) must
    neither hide the text that is there nor fail silently."""
    w = worker("python")
    plain_gz = b"\x1f\x8b" + f"\nexport T={TOKEN}\n".encode()  # gzip magic, then plain text
    res = w.run_one(BlobTask(1, BytesLoader(plain_gz), None))
    assert [m.secret for m in res.matches] == [TOKEN]
    assert any("corrupt gzip stream" in p for p in res.problems)
    deep = TOKEN.encode()
    for i in range(5):
        deep = zip_of({f"level{i}.zip" if i else "t.txt": deep})
    res = w.run_one(BlobTask(2, BytesLoader(deep), None))
    assert any("nested more than 3 levels" in p for p in res.problems)


def test_corrupt_gzip_is_a_clear_problem_not_an_engine_error():
    w = worker("python")
    res = w.run_one(BlobTask(1, BytesLoader(b"\x1f\x8b\x08\x00" + bytes(range(256)) * 4), None))
    assert res.error is None
    assert any("corrupt gzip stream" in p for p in res.problems)


@pytest.mark.parametrize("kind", ["gzip", "bzip2", "xz"])
def test_every_member_of_a_multi_member_stream_is_read(kind):
    import bz2
    import lzma

    compress = {"gzip": gzip.compress, "bzip2": bz2.compress, "xz": lzma.compress}[kind]
    other = "tok_zz8hv2lz7dkx0rw3"
    data = compress(f"a = {TOKEN}\n".encode()) + compress(f"b = {other}\n".encode())
    res = worker("python").run_one(BlobTask(1, BytesLoader(data), None))
    assert sorted(m.secret for m in res.matches) == sorted([TOKEN, other])
    assert res.problems == ()


@pytest.mark.parametrize("kind", ["gzip", "bzip2", "xz"])
def test_a_cut_or_damaged_stream_gives_what_comes_before_the_damage(kind):
    import bz2
    import lzma
    import random

    compress = {"gzip": gzip.compress, "bzip2": bz2.compress, "xz": lzma.compress}[kind]
    rnd = random.Random(3)
    # bzip2 works in blocks of 900 kB, and damage loses its whole block: several blocks
    lines = 200_000 if kind == "bzip2" else 40_000
    noise = "".join(f"{rnd.getrandbits(64):x}\n" for _ in range(lines))
    data = compress(f"a = {TOKEN}\n{noise}".encode())
    cut = data[: len(data) // 2]
    res = worker("python").run_one(BlobTask(1, BytesLoader(cut), None))
    assert [m.secret for m in res.matches] == [TOKEN]
    assert any("truncated" in p or "corrupt" in p for p in res.problems)
    damaged = bytearray(data)
    damaged[len(data) * 3 // 4] ^= 0xFF
    res = worker("python").run_one(BlobTask(2, BytesLoader(bytes(damaged)), None))
    assert [m.secret for m in res.matches] == [TOKEN]
    assert any("corrupt" in p for p in res.problems)


@pytest.mark.parametrize("codec,bom", [("utf-16-le", b"\xff\xfe"), ("utf-16-be", b"\xfe\xff"),
                                       ("utf-16-le", b""), ("utf-16-be", b"")])
def test_utf16_text_is_read_and_keeps_its_lines(codec, bom):
    """What PowerShell writes with `>` or Out-File: UTF-16, with or without a byte-order mark."""
    text = f"# deploy settings\r\nREGION=eu-west-1\r\nAPI_TOKEN={TOKEN}\r\n"
    data = bom + text.encode(codec)
    res = worker("python").run_one(BlobTask(1, BytesLoader(data), None))
    assert res.skipped is None
    assert [(m.secret, m.line, m.decoded) for m in res.matches] == [(TOKEN, 3, "utf-16")]


def test_binary_with_nul_bytes_is_not_taken_for_utf16():
    from nhiguard.decode.expand import is_utf16

    assert not is_utf16(bytes(range(256)) * 4)
    assert not is_utf16(b"\x00" * 1000)
    assert is_utf16("hello world, plain text here".encode("utf-16-le"))


def test_a_tar_gz_is_one_level_of_nesting():
    inner = tar_of({"conf/app.env": f"T={TOKEN}\n".encode()}, mode="w:gz")
    outer = zip_of({"level2.zip": zip_of({"bundle.tar.gz": inner})})
    res = worker("python").run_one(BlobTask(1, BytesLoader(outer), None))
    assert [m.secret for m in res.matches] == [TOKEN]
    assert [m.decoded for m in res.matches] == ["zip:level2.zip!zip:bundle.tar.gz!gzip!tar:conf/app.env"]
    assert res.problems == ()


class _Unseekable(io.RawIOBase):
    """Where zipfile cannot seek back, it writes sizes after each member (data descriptors),
    as `zip` does on a pipe and as many jar tools do."""

    def __init__(self) -> None:
        self.data = bytearray()

    def writable(self) -> bool:
        return True

    def write(self, b) -> int:
        self.data += b
        return len(b)


@pytest.mark.parametrize("streamed", [False, True])
def test_truncated_zip_keeps_the_members_before_the_cut(streamed):
    members = {"a/one.env": f"TOKEN={TOKEN}\n".encode() * 3, "b/two.txt": b"tok_" + b"m" * 16,
               "c/three.txt": b"filler " * 200}
    if streamed:
        out = _Unseekable()
        with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as zf:
            for name, data in members.items():
                zf.writestr(name, data)
        data = bytes(out.data)
    else:
        data = zip_of(members)
    cut = data[: data.index(b"PK\x01\x02") + 10]  # inside the central directory
    budget = DecodeBudget()
    got = {d.route: d.data for d in expand(cut, budget)}
    assert got == {f"zip:{n}": v for n, v in members.items()}
    assert budget.problems == ["zip: corrupt zip archive (File is not a zip file); 3 member(s) recovered from local headers"]
    res = scan(cut)  # the secret in the first member is found, and the damage is reported
    assert {m.decoded for m in res.matches} == {"zip:a/one.env", "zip:b/two.txt"} and res.problems


def test_truncated_zip_bomb_is_refused_without_its_sizes():
    out = _Unseekable()  # no trustworthy sizes in the local header
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("big.txt", b"\0" * (40 << 20))
    budget = DecodeBudget()
    assert list(expand(bytes(out.data)[:-30], budget)) == []
    assert "expands past the size budget or the bomb ratio" in budget.problems[0]
