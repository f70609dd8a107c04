"""`nhiguard scan` of container images through the real CLI: docker save archives, OCI
layouts (directory and tar, image indexes), and pulls from a real registry server on
loopback (anonymous, HTTP Basic, ~/.docker/config.json); every layer, whiteouts and
overwrites, the image config; bad input reported with the rest kept."""

from __future__ import annotations

import io
import json
import os
import secrets
import shutil
import string
import tarfile
from pathlib import Path

import pytest

from tests.helpers_image import (
    BearerFront,
    Hardlink,
    Img,
    Registry,
    digest,
    docker_config,
    gz,
    layer_tar,
    tar_directory,
    write_docker_archive,
    write_oci_layout,
)
from tests.integration.cli_helpers import nhiguard

ALNUM = string.ascii_letters + string.digits


def gh_token() -> str:
    return "ghp_" + "".join(secrets.choice(ALNUM) for _ in range(36))


def scan(tmp_path, *targets, env=None, extra=(), show=True):
    run = nhiguard("scan", *targets, "-f", "json", *(["--show-secrets"] if show else []),
                   "--store", tmp_path / "s.db", *extra, cwd=tmp_path,
                   env={"NHIGUARD_IMAGE_CACHE": str(tmp_path / "blobs"), **(env or {})})
    assert "Traceback" not in run.stderr, run.stderr
    return run


def places(report) -> dict[str, list[dict]]:
    """secret -> its locations"""
    return {f["secret"]: f["locations"] for f in report["findings"]}


@pytest.fixture
def layered():
    """A secret added then deleted (whiteout), one overwritten, one under an opaque
    directory, one still visible, and secrets in Env, Labels and a build step."""
    t = {k: gh_token() for k in ("deleted", "overwritten", "opaque", "visible", "env", "label", "arg")}
    base = layer_tar([("app", None), ("app/creds.env", f"TOKEN={t['deleted']}\n".encode()),
                      ("app/conf.ini", f"token = {t['overwritten']}\n".encode()),
                      ("cache", None), ("cache/old/key.txt", f"T={t['opaque']}\n".encode())])
    top = layer_tar([("app/.wh.creds.env", b""), ("app/conf.ini", b"token = none\n"),
                     ("cache/.wh..wh..opq", b""), ("cache/new.txt", b"fresh\n"),
                     ("srv/run.env", f"GITHUB_TOKEN={t['visible']}\n".encode()),
                     ("srv/link", "run.env")])
    img = Img([base, top], created_by=["COPY app /app", "RUN rm /app/creds.env && build"],
              env=["PATH=/usr/bin", f"GH_TOKEN={t['env']}"], labels={"ci.token": t["label"]},
              extra_history=[{"created_by": f"ARG DEPLOY_TOKEN={t['arg']}", "empty_layer": True}])
    return img, t


def test_docker_archive_every_layer_and_the_config(tmp_path, layered):
    img, t = layered
    archive = write_docker_archive(tmp_path / "app.tar", [(["app:1.0"], img)])
    run = scan(tmp_path, f"docker-archive:{archive}")
    assert run.code == 1, run.stderr
    found = places(run.report)
    base, top = (digest(layer) for layer in img.layers)  # docker save: layers by diff id
    for key, path, layer, visible in (("deleted", "app/creds.env", base, False),
                                      ("overwritten", "app/conf.ini", base, False),
                                      ("opaque", "cache/old/key.txt", base, False),
                                      ("visible", "srv/run.env", top, True)):
        [loc] = found[t[key]]
        assert (loc["source"], loc["path"], loc["layer"], loc["visible"]) == ("image", path, layer, visible), key
        assert loc["image"] == f"docker-archive:{archive}:app:1.0"
    assert found[t["deleted"]][0]["instruction"] == "COPY app /app"
    assert found[t["visible"]][0]["instruction"] == "RUN rm /app/creds.env && build"
    fields = {key: found[t[key]][0]["field"] for key in ("env", "label", "arg")}
    assert fields == {"env": "Env", "label": "Labels", "arg": "history[0].created_by"}
    assert all(found[t[k]][0]["source"] == "image-config" for k in ("env", "label", "arg"))
    assert found[t["env"]][0]["line"] == 2  # the second Env entry
    import jsonschema

    from nhiguard.report import json_report

    schema = json.loads((Path(json_report.__file__).parent / "schemas" / "report.schema.json").read_text())
    jsonschema.validate(run.report, schema)


def test_the_shared_case_a_secret_deleted_in_a_later_layer(tmp_path, shared):
    """shared/cases/image-deleted-layer: COPY creds.env, then RUN rm of it."""
    case = shared / "cases" / "image-deleted-layer" / "input"
    creds = (case / "creds.env").read_bytes()
    img = Img([layer_tar([("app/creds.env", creds)]), layer_tar([("app/.wh.creds.env", b"")])],
              created_by=["COPY creds.env /app/creds.env", 'RUN ["/bin/rm", "/app/creds.env"]'])
    archive = write_docker_archive(tmp_path / "case.tar", [(["case:1"], img)])
    run = scan(tmp_path, f"docker-archive:{archive}")
    [f] = run.report["findings"]
    [loc] = f["locations"]
    assert f["rule_id"] == "nhiguard.slack.bot-token" and f["secret"] in creds.decode()
    assert loc["layer"] == digest(img.layers[0]) and loc["visible"] is False


@pytest.mark.parametrize("as_tar", [False, True])
def test_oci_layout_directory_and_tar(tmp_path, layered, as_tar):
    img, t = layered
    root = write_oci_layout(tmp_path / "layout", [("1.0", img)])
    target = tar_directory(root, tmp_path / "layout.tar") if as_tar else root
    run = scan(tmp_path, f"oci:{target}")
    found = places(run.report)
    [loc] = found[t["deleted"]]
    assert loc["layer"] == digest(gz(img.layers[0])) and loc["visible"] is False  # the blob digest
    assert loc["image"] == f"oci:{target}:1.0"
    assert set(found) == set(t.values())


def test_an_image_index_is_read_for_the_platform_asked(tmp_path):
    amd, arm = gh_token(), gh_token()
    imgs = [("amd", Img([layer_tar([("a.env", f"T={amd}\n".encode())])])),
            ("arm", Img([layer_tar([("a.env", f"T={arm}\n".encode())])], architecture="arm64"))]
    root = write_oci_layout(tmp_path / "multi", imgs, as_index=True)
    assert set(places(scan(tmp_path, f"oci:{root}", extra=("--platform", "linux/arm64")).report)) == {arm}
    assert set(places(scan(tmp_path, f"oci:{root}", extra=("--platform", "linux/amd64")).report)) == {amd}
    run = scan(tmp_path, f"oci:{root}", extra=("--platform", "linux/s390x"))
    assert run.code == 2 and "linux/s390x" in run.stderr and "linux/arm64" in run.stderr
    bad = scan(tmp_path, f"oci:{root}", extra=("--platform", "arm64"))
    assert bad.code == 2 and "platform" in bad.stderr


def test_a_layer_two_images_share_is_read_once_and_reported_for_both(tmp_path):
    shared_token, own = gh_token(), gh_token()
    common = layer_tar([("etc/app.env", f"T={shared_token}\n".encode())])
    a = Img([common, layer_tar([("a.txt", b"a\n")])])
    b = Img([common, layer_tar([("etc/.wh.app.env", b""), ("b.env", f"T={own}\n".encode())])])
    archive = write_docker_archive(tmp_path / "two.tar", [(["a:1"], a), (["b:1"], b)])
    run = scan(tmp_path, f"docker-archive:{archive}")
    locs = places(run.report)[shared_token]
    assert {(loc["image"].rsplit(":", 2)[-2], loc["visible"]) for loc in locs} == {("a", True), ("b", False)}
    assert run.report["scan"]["blobs_scanned"] <= 9  # the shared file's content is matched once


def test_corrupt_layers_and_wrong_digests_are_errors_and_the_rest_is_kept(tmp_path):
    good, lost = gh_token(), gh_token()
    img = Img([layer_tar([("ok.env", f"T={good}\n".encode())]),
               layer_tar([("bad.env", f"T={lost}\n".encode())])])
    root = write_oci_layout(tmp_path / "layout", [("1", img)])
    blob = root / "blobs" / "sha256" / digest(img.blobs()[1])[7:]
    blob.write_bytes(blob.read_bytes()[:-9] + b"corrupted")  # wrong digest now
    run = scan(tmp_path, f"oci:{root}")
    assert run.code == 2 and set(places(run.report)) == {good}
    assert any("does not match its digest" in e["message"] for e in run.report["scan"]["errors"])


def test_a_truncated_layer_keeps_the_files_before_the_damage(tmp_path):
    first, last = gh_token(), gh_token()
    layer = layer_tar([("a.env", f"T={first}\n".encode()), ("pad.bin", b"\0" * 20000),
                       ("z.env", f"T={last}\n".encode())])
    cut = layer[: 512 * 3 + 5000]  # a.env's header and data, pad.bin's header, then part of it
    img = Img([cut])
    archive = write_docker_archive(tmp_path / "cut.tar", [(["cut:1"], img)])
    run = scan(tmp_path, f"docker-archive:{archive}")
    assert run.code == 2 and set(places(run.report)) == {first}
    assert any("truncated or corrupt layer" in e["message"] for e in run.report["scan"]["errors"])


@pytest.mark.parametrize("target", ["docker-archive:{tmp}/missing.tar", "oci:{tmp}/missing",
                                    "docker-archive:{tmp}/notatar.txt", "oci:{tmp}/notatar.txt"])
def test_unreadable_image_targets_are_errors_and_other_targets_are_scanned(tmp_path, target):
    (tmp_path / "notatar.txt").write_text("hello\n")
    (tmp_path / "d").mkdir()
    token = gh_token()
    (tmp_path / "d" / "x.env").write_text(f"T={token}\n")
    run = scan(tmp_path, target.format(tmp=tmp_path), "d")
    assert run.code == 2 and set(places(run.report)) == {token}
    assert run.report["scan"]["errors"]


# --------------------------------------------------------------------------- registry


@pytest.fixture
def registry(tmp_path):
    reg = Registry(tmp_path / "registry")
    yield reg
    reg.stop()


@pytest.fixture
def auth_registry(tmp_path):
    reg = Registry(tmp_path / "auth-registry", user="ci", password="s3cret-pass")
    yield reg
    reg.stop()


def test_pull_from_a_registry_by_tag_and_by_digest(tmp_path, registry, layered):
    img, t = layered
    manifest_digest = registry.push("team/app", "1.0", img)
    by_tag = scan(tmp_path, f"registry:{registry.host}/team/app:1.0")
    assert by_tag.code == 1, by_tag.stderr
    found = places(by_tag.report)
    assert set(found) == set(t.values())
    [loc] = found[t["deleted"]]
    assert loc["visible"] is False and loc["layer"] == digest(gz(img.layers[0]))
    assert loc["image"] == f"registry:{registry.host}/team/app:1.0"
    by_digest = scan(tmp_path, f"registry:{registry.host}/team/app@{manifest_digest}")
    assert set(places(by_digest.report)) == set(t.values())


def test_pull_picks_the_platform_from_an_index(tmp_path, registry):
    amd, arm = gh_token(), gh_token()
    registry.push_index("multi", "1", [Img([layer_tar([("a.env", f"T={amd}\n".encode())])]),
                                       Img([layer_tar([("a.env", f"T={arm}\n".encode())])], architecture="arm64")])
    run = scan(tmp_path, f"registry:{registry.host}/multi:1", extra=("--platform", "linux/arm64"))
    assert set(places(run.report)) == {arm}


def test_registry_with_basic_auth_from_flags_environment_or_docker_config(tmp_path, auth_registry):
    token = gh_token()
    auth_registry.push("private/app", "v1", Img([layer_tar([("x.env", f"T={token}\n".encode())])]))
    target = f"registry:{auth_registry.host}/private/app:v1"
    denied = scan(tmp_path, target)
    assert denied.code == 2 and "credentials" in denied.stderr and not denied.report["findings"]
    wrong = scan(tmp_path, target, extra=("--registry-username", "ci", "--registry-password", "nope"))
    assert wrong.code == 2 and "nope" not in wrong.stdout + wrong.stderr
    ok = scan(tmp_path, target, env={"NHIGUARD_REGISTRY_USERNAME": "ci", "NHIGUARD_REGISTRY_PASSWORD": "s3cret-pass"})
    assert set(places(ok.report)) == {token}
    cfg = docker_config(tmp_path / "home", auth_registry.host, "ci", "s3cret-pass")
    via_config = scan(tmp_path, target, env={"DOCKER_CONFIG": str(cfg)})
    assert set(places(via_config.report)) == {token}
    assert "s3cret-pass" not in json.dumps(via_config.report)


def test_a_new_tag_sharing_layers_downloads_and_reads_only_its_new_layer(tmp_path, registry):
    base = layer_tar([("lib/big.txt", b"x\n" * 50000)])
    one, two = gh_token(), gh_token()
    registry.push("app", "1", Img([base, layer_tar([("v.env", f"T={one}\n".encode())])]))
    registry.push("app", "2", Img([base, layer_tar([("v.env", f"T={two}\n".encode())])]))
    first = scan(tmp_path, f"registry:{registry.host}/app:1")
    assert set(places(first.report)) == {one}
    blobs = tmp_path / "blobs" / "sha256"
    assert len(list(blobs.iterdir())) == 3  # config, two layers
    shared_blob = blobs / digest(gz(base))[7:]
    shared_blob.unlink()  # so a download of it would show
    # (without --show-secrets: raw values exist only when content is read again)
    second = scan(tmp_path, f"registry:{registry.host}/app:2", show=False)
    [f] = second.report["findings"]
    assert [(loc["path"], loc["image"]) for loc in f["locations"]] == [("v.env", f"registry:{registry.host}/app:2")]
    # the shared layer is known from the store: not downloaded, not read, its file not matched
    assert not shared_blob.exists()
    # so are the config fields the two tags share (all of them here): only v.env is new
    assert second.report["scan"]["blobs_scanned"] == 1


@pytest.mark.parametrize("anonymous", [False, True])
def test_registry_with_bearer_tokens_from_its_token_service(tmp_path, registry, anonymous):
    token = gh_token()
    registry.push("team/svc", "v1", Img([layer_tar([("x.env", f"T={token}\n".encode())])]))
    front = BearerFront(registry, "robot", "tok-pass", anonymous=anonymous)
    try:
        target = f"registry:{front.host}/team/svc:v1"
        if not anonymous:
            denied = scan(tmp_path, target, extra=("--registry-username", "robot", "--registry-password", "bad"))
            assert denied.code == 2 and "token service refused" in denied.stderr
        ok = scan(tmp_path, target, env={} if anonymous else {
            "NHIGUARD_REGISTRY_USERNAME": "robot", "NHIGUARD_REGISTRY_PASSWORD": "tok-pass"})
        assert ok.code == 1, ok.stderr
        assert set(places(ok.report)) == {token}
        assert "repository:team:pull" in front.scopes or "repository:team/svc:pull" in front.scopes
    finally:
        front.stop()


def test_an_unreachable_registry_is_a_clear_error(tmp_path):
    run = scan(tmp_path, "registry:127.0.0.1:9/app:1")
    assert run.code == 2 and "cannot reach" in run.stderr


def test_a_rescan_with_new_rules_reads_known_layers_again(tmp_path):
    token = gh_token()
    img = Img([layer_tar([("a/x.env", f"T={token}\n".encode()), ("a/tool", b"\x7fELF\x00\x01" * 100)])])
    archive = write_docker_archive(tmp_path / "a.tar", [(["a:1"], img)])
    assert set(places(scan(tmp_path, f"docker-archive:{archive}").report)) == {token}
    again = scan(tmp_path, f"docker-archive:{archive}", show=False)  # from the store's layer index
    assert again.report["scan"]["blobs_scanned"] == 0 and len(again.report["findings"]) == 1
    rules = tmp_path / "extra.yml"
    rules.write_text("""rules:
  - id: team.marker
    name: Team marker
    pattern: 'MARKER_[0-9]{6}'
    kind: api_key
    severity: low
    keywords: [marker_]
    examples: ['MARKER_123456']
    negative_examples: ['MARKER']
""")
    (tmp_path / "b.env").write_text("x\n")
    new_rules = scan(tmp_path, f"docker-archive:{archive}", show=False, extra=("--rules", rules))
    assert new_rules.report["scan"]["blobs_scanned"] >= 2  # the layer's files matched again
    assert len(new_rules.report["findings"]) == 1


def test_one_image_of_a_layout_or_archive_is_named_by_its_ref(tmp_path):
    a, b = gh_token(), gh_token()
    imgs = [Img([layer_tar([("a.env", f"T={a}\n".encode())])]),
            Img([layer_tar([("b.env", f"T={b}\n".encode())])])]
    root = write_oci_layout(tmp_path / "layout", [("v1", imgs[0]), ("v2", imgs[1])])
    archive = write_docker_archive(tmp_path / "two.tar", [(["app:v1"], imgs[0]), (["app:v2"], imgs[1])])
    assert set(places(scan(tmp_path, f"oci:{root}").report)) == {a, b}
    assert set(places(scan(tmp_path, f"oci:{root}:v2").report)) == {b}
    assert set(places(scan(tmp_path, f"docker-archive:{archive}:app:v1").report)) == {a}
    missing = scan(tmp_path, f"oci:{root}:v3")
    assert missing.code == 2 and "no image 'v3'" in missing.stderr and "v1" in missing.stderr


def test_a_hard_link_keeps_a_secret_visible_after_its_first_name_is_deleted(tmp_path):
    token = gh_token()
    base = layer_tar([("etc", None), ("etc/app.env", f"T={token}\n".encode()),
                      ("srv/copy.env", Hardlink("etc/app.env"))])
    top = layer_tar([("etc/.wh.app.env", b"")])
    archive = write_docker_archive(tmp_path / "h.tar", [(["h:1"], Img([base, top]))])
    run = scan(tmp_path, f"docker-archive:{archive}")
    locs = {loc["path"]: loc["visible"] for loc in places(run.report)[token]}
    assert locs == {"etc/app.env": False, "srv/copy.env": True}
    plain = write_docker_archive(tmp_path / "p.tar", [(["p:1"], Img([layer_tar(
        [("etc", None), ("etc/app.env", f"T={token}\n".encode())]), top]))])
    alone = scan(tmp_path, f"docker-archive:{plain}", extra=("--store", tmp_path / "other.db"))
    # the linked content is matched once: no more blobs than the image without the link
    assert run.report["scan"]["blobs_scanned"] == alone.report["scan"]["blobs_scanned"]


def test_a_changed_cached_blob_is_downloaded_again(tmp_path, registry):
    token = gh_token()
    img = Img([layer_tar([("x.env", f"T={token}\n".encode())])])
    registry.push("cached", "1", img)
    target = f"registry:{registry.host}/cached:1"
    assert set(places(scan(tmp_path, target).report)) == {token}
    blob = tmp_path / "blobs" / "sha256" / digest(img.blobs()[0])[7:]
    blob.write_bytes(b"tampered")
    (tmp_path / "s.db").unlink()  # nothing known: the layer must be read again
    again = scan(tmp_path, target)
    assert again.code == 1 and set(places(again.report)) == {token}
    assert blob.read_bytes() == img.blobs()[0]


@pytest.mark.parametrize("manifest", [b"{not json", b"\xff\xfe garbage", b'[{"Config": "c.json", "Layers": "x"}]',
                                      b"[]", b'{"a": 1}'])
def test_a_damaged_archive_manifest_is_a_clear_error(tmp_path, manifest):
    archive = tmp_path / "bad.tar"
    with tarfile.open(archive, "w") as tf:
        info = tarfile.TarInfo("manifest.json")
        info.size = len(manifest)
        tf.addfile(info, io.BytesIO(manifest))
    (tmp_path / "d").mkdir()
    token = gh_token()
    (tmp_path / "d" / "x.env").write_text(f"T={token}\n")
    run = scan(tmp_path, f"docker-archive:{archive}", "d")
    assert run.code == 2 and set(places(run.report)) == {token}
    [err] = run.report["scan"]["errors"]
    assert "manifest.json" in err["message"] and str(archive) in err["path"]
    assert err["message"].count(str(archive)) == 0  # said once, beside the message


def test_tags_select_images_exactly_as_docker_names_them(tmp_path):
    a, b, c = gh_token(), gh_token(), gh_token()
    imgs = [Img([layer_tar([(f"{n}.env", f"T={t}\n".encode())])]) for n, t in (("a", a), ("b", b), ("c", c))]
    archive = write_docker_archive(tmp_path / "t.tar", [(["app:latest", "app:1.0"], imgs[0]),
                                                        (["app:1.0.1"], imgs[1]), ([], imgs[2])])
    assert set(places(scan(tmp_path, f"docker-archive:{archive}:app").report)) == {a}
    assert set(places(scan(tmp_path, f"docker-archive:{archive}:app:1.0").report)) == {a}  # not 1.0.1
    assert set(places(scan(tmp_path, f"docker-archive:{archive}:app:1.0.1").report)) == {b}
    assert set(places(scan(tmp_path, f"docker-archive:{archive}:#2").report)) == {c}
    missing = scan(tmp_path, f"docker-archive:{archive}:other")
    assert missing.code == 2 and "app:1.0.1" in missing.stderr


def test_what_a_killed_scan_unpacked_is_removed_by_the_next(tmp_path):
    import subprocess
    import tempfile
    gone = subprocess.Popen(["true"])  # its pid is free once it is waited for
    gone.wait()
    orphan = Path(tempfile.gettempdir()) / f"nhiguard-image-{gone.pid}-x"
    orphan.mkdir()
    (orphan / "layer-1.tar").write_bytes(b"\0" * 1024)
    live = Path(tempfile.gettempdir()) / f"nhiguard-image-{os.getpid()}-y"
    live.mkdir()
    try:
        img = Img([layer_tar([("a.env", f"T={gh_token()}\n".encode())])])  # gzip: unpacked
        archive = write_docker_archive(tmp_path / "a.tar", [(["a:1"], img)])
        assert scan(tmp_path, f"docker-archive:{archive}").code == 1
        assert not orphan.exists() and live.exists()  # a running scan's directory stays
    finally:
        shutil.rmtree(orphan, ignore_errors=True)
        shutil.rmtree(live, ignore_errors=True)
