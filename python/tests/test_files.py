"""`pail.File.read()` / `open()` / `to_local()` against a local directory and the moto S3
server, `Repo.clone`, lineage and summaries, and Ctrl-C stopping a long call."""

from __future__ import annotations

import io
import os
import signal
import subprocess
import sys
import textwrap
import time
import urllib.request
import uuid
from pathlib import Path

import pydantic
import pytest

import pail


class Row(pydantic.BaseModel):
    file: pail.File


class Labelled(pail.File):
    """A File with an extra field stays a File."""

    label: str = ""


BIG = bytes(range(256)) * 4096 + b"tail"  # 1 MiB and a bit: several chunks


def files_of(ds: pail.Dataset) -> dict:
    return {row.file.path: row.file for row in ds.rows(model=Row)}


def check_reads(file: pail.File, expected: bytes, out: Path) -> None:
    """read(), open() in several ways and to_local() all give ``expected``."""
    assert file.read() == expected
    with file.open() as stream:
        assert isinstance(stream, io.BufferedReader)
        assert stream.readable() and not stream.seekable()
        first = stream.read(10)
        rest = stream.read()
    assert first + rest == expected
    with file.open() as stream:
        assert b"".join(iter(lambda: stream.read(65536), b"")) == expected
    with file.open() as stream:
        buffer = bytearray(len(expected) + 10)
        total = 0
        while True:
            n = stream.readinto(memoryview(buffer)[total:])
            if not n:
                break
            total += n
        assert bytes(buffer[:total]) == expected
    with file.open() as stream:
        assert b"".join(stream) == expected
    written = file.to_local(out)
    assert Path(written) == out / file.path
    assert Path(written).read_bytes() == expected


# ---- a local directory -----------------------------------------------------------------


def test_read_open_and_to_local_of_a_local_listing(repo: pail.Repo, work: Path) -> None:
    images = work / "images"
    (images / "d").mkdir(parents=True)
    (images / "d" / "big.bin").write_bytes(BIG)
    (images / "a.txt").write_bytes(b"one\ntwo\nthree\n")
    ds = repo.commit("photos", images, hash=True)
    files = files_of(ds)
    check_reads(files["d/big.bin"], BIG, work / "out")
    check_reads(files["a.txt"], b"one\ntwo\nthree\n", work / "out")
    with files["a.txt"].open() as stream:
        assert list(stream) == [b"one\n", b"two\n", b"three\n"]
    # A File made from a dict, and a subclass with extra fields, read the same.
    row = next(r for r in ds.rows() if r["file"]["path"] == "a.txt")
    assert pail.File(**row["file"]).read() == b"one\ntwo\nthree\n"
    assert pail.File.model_validate(row["file"]).read() == b"one\ntwo\nthree\n"
    assert Labelled(label="x", **row["file"]).read() == b"one\ntwo\nthree\n"


def test_a_changed_local_file_raises_a_user_error(repo: pail.Repo, work: Path) -> None:
    images = work / "images"
    images.mkdir()
    (images / "a.bin").write_bytes(b"original bytes")
    ds = repo.commit("photos", images, hash=True)
    file = files_of(ds)["a.bin"]
    (images / "a.bin").write_bytes(b"rewritten byte")  # same size, new content
    with pytest.raises(pail.UserError) as caught:
        file.read()
    err = caught.value
    assert err.exit_code == 1
    assert "a.bin: changed: expected etag" in err.message, err.message
    assert err.hint and "commit the source again" in err.hint
    with pytest.raises(pail.UserError):
        file.open()
    with pytest.raises(pail.UserError):
        file.to_local(work / "out")
    assert not (work / "out" / "a.bin").exists()
    # Without the etag, the BLAKE3 catches it when the end is reached.
    no_etag = file.model_copy(update={"etag": None})
    with no_etag.open() as stream:
        assert stream.read(4) == b"rewr"
        with pytest.raises(pail.UserError) as caught:
            stream.read()
    assert "changed: expected blake3" in caught.value.message
    # And the size when that is all the row records.
    (images / "a.bin").write_bytes(b"short")
    size_only = pail.File(source=file.source, path="a.bin", size=len(b"original bytes"))
    with pytest.raises(pail.UserError, match="expected 14 bytes, found 5"):
        size_only.read()


STREAM_A_BIG_FILE = textwrap.dedent(
    """
    import resource, sys
    import pail

    size = int(sys.argv[2])
    file = pail.File(source="file://" + sys.argv[1], path="big.bin", size=size)
    if sys.argv[3] == "read":
        before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        total = len(file.read())
        after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        print(total, (after - before) // 1024)
        sys.exit(0)
    with file.open() as stream:
        stream.read(1)
        before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        total = 1
        while True:
            chunk = stream.read(1 << 20)
            if not chunk:
                break
            total += len(chunk)
    after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(total, (after - before) // 1024)
    """
)


def test_open_streams_a_big_file_in_bounded_memory(work: Path) -> None:
    size = 512 << 20
    with open(work / "big.bin", "wb") as out:
        out.truncate(size)  # sparse: 512 MiB of zeros that take no disk

    def grown_mib(how: str) -> int:
        result = subprocess.run(
            [sys.executable, "-c", STREAM_A_BIG_FILE, str(work), str(size), how],
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert result.returncode == 0, result.stderr
        total, grown = map(int, result.stdout.split())
        assert total == size
        return grown

    grown = grown_mib("open")
    assert grown < 64, f"streaming 512 MiB grew the process by {grown} MiB"
    # read() holds the object once (written straight into the bytes), not twice.
    grown = grown_mib("read")
    assert grown < 512 + 64, f"reading 512 MiB grew the process by {grown} MiB"


def test_unverifiable_and_unsafe_files_are_refused(work: Path) -> None:
    (work / "a.bin").write_bytes(b"abc")
    bare = pail.File(source=f"file://{work}", path="a.bin")
    with pytest.raises(pail.UserError) as caught:
        bare.read()
    assert "nothing to verify" in caught.value.message
    assert "allow unverified reads" in caught.value.hint
    assert bare.read(allow_unverified=True) == b"abc"
    with pytest.raises(pail.UserError, match="unsafe path"):
        pail.File(source=f"file://{work}", path="../x", size=1).read()
    with pytest.raises(pail.UserError, match="missing"):
        pail.File(source=f"file://{work}", path="nope.bin", size=1).read()
    with pytest.raises(pail.UserError, match="unsafe path"):
        pail.File(source="ftp://host", path="a.bin", size=1).read()


def test_a_pulled_versions_local_files_need_allow_local_sources(work: Path) -> None:
    images = work / "images"
    images.mkdir()
    (images / "a.bin").write_bytes(b"abc")
    alice = pail.Repo.init(work / "alice")
    alice.commit("photos", images, hash=True)
    assert files_of(alice.dataset("photos"))["a.bin"].read() == b"abc"
    alice.remote_add("origin", str(work / "remote"))
    alice.push("origin")
    bob = pail.Repo.clone(str(work / "remote"), work / "bob")
    file = files_of(bob.dataset("photos"))["a.bin"]
    # As `pail checkout`: a version from a remote must not read this machine's files.
    with pytest.raises(pail.UserError) as caught:
        file.read()
    assert "local source" in caught.value.message
    assert "allow local sources" in caught.value.hint
    with pytest.raises(pail.UserError):
        file.to_local(work / "out")
    assert file.read(allow_local_sources=True) == b"abc"
    with file.open(allow_local_sources=True) as stream:
        assert stream.read() == b"abc"


# ---- the moto S3 server ----------------------------------------------------------------


def s3_put(bucket_url: str, key: str, data: bytes) -> None:
    """Writes an object through moto's REST API. Moto does not check signatures, but
    refuses to overwrite an object for a request without credentials: the header names
    the test's access key."""
    endpoint = os.environ["PAIL_TEST_S3_ENDPOINT"]
    bucket = bucket_url.removeprefix("s3://")
    request = urllib.request.Request(
        f"{endpoint}/{bucket}/{key}",
        data=data,
        method="PUT",
        headers={
            "Content-Type": "application/octet-stream",
            "Authorization": "AWS4-HMAC-SHA256 Credential=test/20260101/us-east-1/s3/"
            "aws4_request, SignedHeaders=host, Signature=00",
        },
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        assert response.status == 200


def test_read_open_to_local_and_a_changed_object_on_s3(
    repo: pail.Repo, work: Path, s3: str
) -> None:
    prefix = f"py-files-{uuid.uuid4().hex}"
    s3_put(s3, f"{prefix}/clips/big.bin", BIG)
    s3_put(s3, f"{prefix}/clips/small.txt", b"small")
    ds = repo.commit("clips", f"{s3}/{prefix}/clips", hash=True)
    files = files_of(ds)
    big = files[f"{prefix}/clips/big.bin"]
    assert big.source.startswith("s3://") and big.etag and big.blake3
    check_reads(big, BIG, work / "out")
    # A File made by hand from what the row records reads the same.
    assert pail.File(**big.model_dump()).read() == BIG
    # The object is overwritten after the commit: the etag no longer matches.
    small = next(f for path, f in files.items() if path.endswith("small.txt"))
    s3_put(s3, f"{prefix}/clips/small.txt", b"SMALL")
    with pytest.raises(pail.UserError) as caught:
        small.read()
    assert "changed: expected etag" in caught.value.message
    assert "overwritten after the commit" in caught.value.message
    # Without the etag, the BLAKE3 catches it.
    with pytest.raises(pail.UserError, match="changed: expected blake3"):
        small.model_copy(update={"etag": None}).read()
    with pytest.raises(pail.UserError, match="missing"):
        pail.File(source=small.source, path=f"{prefix}/nothing.bin", size=1).read()


# ---- clone, lineage, summary -----------------------------------------------------------

ROWS = [{"id": 1, "label": "cat"}, {"id": 2, "label": "dog"}]


def test_clone_then_read_the_same_rows(work: Path) -> None:
    alice = pail.Repo.init(work / "alice")
    ds = alice.commit("labels", ROWS, key=["id"])
    alice.remote_add("origin", str(work / "remote"))
    alice.push("origin")
    bob = pail.Repo.clone(str(work / "remote"), work / "bob")
    assert Path(bob.dir) == work / "bob" / ".pail"
    assert bob.dataset("labels").commit == ds.commit
    assert bob.dataset("labels").to_arrow().equals(ds.to_arrow())
    # Like `pail clone`: a directory that is not empty is refused, and a failed clone
    # leaves nothing behind.
    with pytest.raises(pail.UserError) as caught:
        pail.Repo.clone(str(work / "remote"), work / "bob")
    assert "already exists and is not empty" in caught.value.message
    with pytest.raises(pail.PailError):
        pail.Repo.clone(str(work / "no-such-remote"), work / "carol")
    assert not (work / "carol").exists()


def test_clone_through_s3(work: Path, s3: str) -> None:
    url = f"{s3}/python-clone-{uuid.uuid4().hex}"
    alice = pail.Repo.init(work / "alice")
    ds = alice.commit("labels", ROWS, key=["id"])
    alice.remote_add("origin", url)
    alice.push("origin")
    bob = pail.Repo.clone(url, work / "bob")
    assert bob.dataset("labels").to_arrow().to_pylist() == ROWS
    assert bob.dataset("labels").commit == ds.commit


def test_lineage_and_summary_shapes(repo: pail.Repo, work: Path) -> None:
    images = work / "images"
    images.mkdir()
    (images / "a.jpg").write_bytes(b"aaaa")
    photos = repo.commit("photos", images, hash=True)
    labels = repo.commit("labels", ROWS, key=["id"], inputs=[photos])

    up = labels.lineage
    assert up == repo.lineage(labels.ref) == repo.lineage("labels")
    assert up["direction"] == "up"
    assert all(node["type"] in ("dataset", "source") for node in up["nodes"])
    root = up["nodes"][up["root"]]
    assert root["name"] == "local.default.labels" and root["version"] == "1.0.0"
    names = [node.get("name") for node in up["nodes"]]
    assert "local.default.photos" in names
    photos_at = names.index("local.default.photos")
    assert {"from": photos_at, "to": up["root"]} in up["edges"]
    down = repo.lineage(photos, down=True)
    assert down["direction"] == "down"
    assert "local.default.labels" in [node.get("name") for node in down["nodes"]]

    page = labels.summary()
    assert page.startswith("# local.default.labels@1.0.0")
    assert "label" in page
    assert len(labels.summary(max_tokens=50)) <= len(page)
    summary = labels.summary_json()
    assert summary["name"] == "local.default.labels"
    assert summary["version"] == "1.0.0" and summary["n_rows"] == 2
    assert summary["id"] == labels.commit
    assert [column["column"] for column in summary["columns"]][:2] == ["id", "label"]
    assert summary["columns"][0]["type"] and summary["columns"][0]["n_nulls"] == 0
    with pytest.raises(pail.UserError):
        repo.lineage("nope")


# ---- Ctrl-C ----------------------------------------------------------------------------

HANGING_READ = textwrap.dedent(
    """
    import os, socket, sys, threading, time
    import pail

    # An S3 endpoint that accepts connections and never answers: the read waits.
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(16)
    held = []
    def accept():
        while True:
            held.append(server.accept())
    threading.Thread(target=accept, daemon=True).start()
    os.environ.update({
        "AWS_ENDPOINT_URL": "http://127.0.0.1:%d" % server.getsockname()[1],
        "AWS_ALLOW_HTTP": "true", "AWS_ACCESS_KEY_ID": "test",
        "AWS_SECRET_ACCESS_KEY": "test", "AWS_REGION": "us-east-1",
    })
    file = pail.File(source="s3://bucket", path="slow.bin", size=1)

    # A read waiting in another thread leaves the GIL free: this thread keeps running.
    threading.Thread(target=file.read, daemon=True).start()
    time.sleep(0.2)
    spins, until = 0, time.monotonic() + 0.3
    while time.monotonic() < until:
        spins += 1
    print("spun %d" % spins, flush=True)

    print("ready", flush=True)
    start = time.monotonic()
    try:
        file.read()
        print("returned", flush=True)
    except KeyboardInterrupt:
        print("interrupted after %.1f s" % (time.monotonic() - start), flush=True)
    os._exit(0)  # the other read still waits: leave without waiting for it
    """
)


def test_ctrl_c_stops_a_long_call_and_waiting_frees_the_gil(work: Path) -> None:
    child = subprocess.Popen(
        [sys.executable, "-c", HANGING_READ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=work,
    )
    try:
        spun = child.stdout.readline().split()
        assert spun[0] == "spun" and int(spun[1]) > 1000, spun
        assert child.stdout.readline().strip() == "ready"
        time.sleep(1.0)  # well inside the read: the store would keep it waiting ~30 s
        sent = time.monotonic()
        child.send_signal(signal.SIGINT)
        out, err = child.communicate(timeout=15)
    finally:
        child.kill()
    assert out.startswith("interrupted after"), (out, err)
    assert time.monotonic() - sent < 5, "KeyboardInterrupt came late"
    assert child.returncode == 0, err
