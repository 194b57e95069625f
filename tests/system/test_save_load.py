"""pier save and pier load: docker-archive and oci-archive tarballs out of
and into the store, checked against the files themselves, against skopeo
and umoci, and for bad archives leaving the store as it was."""
import gzip
import hashlib
import io
import json
import os
import platform
import re
import shutil
import subprocess
import tarfile
import tempfile

import pytest

from conftest import run_captured

SKOPEO = "/usr/bin/skopeo"
UMOCI = "/usr/bin/umoci"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_LAYER = "application/vnd.oci.image.layer.v1.tar"
OCI_LAYER_GZIP = "application/vnd.oci.image.layer.v1.tar+gzip"
REF_NAME = "org.opencontainers.image.ref.name"


# ---------------------------------------------------------------- helpers


def sha(data):
    return "sha256:" + hashlib.sha256(data).hexdigest()


def run_bytes(argv, input=None, timeout=120):
    """Run argv; (rc, stdout as bytes, stderr as text), through files."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        p = subprocess.run(argv, input=input, stdin=None if input is not None else subprocess.DEVNULL,
                           stdout=out, stderr=err, timeout=timeout)
        out.seek(0)
        err.seek(0)
        return p.returncode, out.read(), err.read().decode(errors="replace")


def make_pier(exe, root):
    def run(*args, input=None):
        return run_captured([exe, "--root", str(root)] + [str(a) for a in args], input=input,
                            timeout=120)

    def raw(*args, input=None):
        return run_bytes([exe, "--root", str(root)] + [str(a) for a in args], input=input)

    run.root = root
    run.exe = exe
    run.raw = raw
    return run


@pytest.fixture
def pier_exe(runtime_path):
    return os.path.join(os.path.dirname(runtime_path), "pier")


@pytest.fixture
def pier(pier_exe, tmp_path):
    return make_pier(pier_exe, tmp_path / "store")


@pytest.fixture
def pier2(pier_exe, tmp_path):
    """A second, independent store (where archives are loaded)."""
    return make_pier(pier_exe, tmp_path / "store2")


@pytest.fixture
def rootfs_tar(rootfs_template, tmp_path):
    """The busybox rootfs as a plain tar, and its sha256 (the diff id)."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as t:
        t.add(rootfs_template, arcname=".")
    data = buf.getvalue()
    p = tmp_path / "rootfs.tar"
    p.write_bytes(data)
    return p, sha(data)


def small_tar(files):
    """A plain tar of {name: bytes} (regular files, fixed metadata)."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as t:
        dirs = set()
        for name in sorted(files):
            parts = name.split("/")[:-1]
            for i in range(1, len(parts) + 1):
                d = "/".join(parts[:i])
                if d not in dirs:
                    dirs.add(d)
                    ti = tarfile.TarInfo(d)
                    ti.type = tarfile.DIRTYPE
                    ti.mode = 0o755
                    ti.mtime = 1700000000
                    t.addfile(ti)
            ti = tarfile.TarInfo(name)
            ti.size = len(files[name])
            ti.mode = 0o644
            ti.mtime = 1700000000
            t.addfile(ti, io.BytesIO(files[name]))
    return buf.getvalue()


@pytest.fixture
def image(pier, rootfs_tar):
    """busybox:1 imported into `pier`: (id, diff id)."""
    tar, diff_id = rootfs_tar
    r = pier("import", "-m", "saved", "-c", 'CMD ["sh"]', "-c", "ENV A=1", tar, "busybox:1")
    assert r.rc == 0, r
    return r.out.strip(), diff_id


def members(path_or_bytes):
    """Regular files in a tar (any compression): {name without ./: bytes}."""
    data = path_or_bytes if isinstance(path_or_bytes, bytes) else open(path_or_bytes, "rb").read()
    out = {}
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:*") as t:
        for m in t:
            if m.isfile():
                name = m.name[2:] if m.name.startswith("./") else m.name
                assert name not in out, f"{name} twice in the archive"
                out[name] = t.extractfile(m).read()
    return out


def decompress(data):
    if data[:2] == b"\x1f\x8b":
        return gzip.decompress(data)
    if data[:4] == b"\x28\xb5\x2f\xfd":
        return subprocess.run(["zstd", "-q", "-d", "-c"], input=data, capture_output=True,
                              check=True).stdout
    return data


def inspect(p, ref):
    r = p("image", "inspect", ref)
    assert r.rc == 0, r
    (info,) = json.loads(r.out)
    return info


def store_state(p):
    """What a failed load must not change."""
    root = p.root
    return {
        "images": p("images", "-q", "--no-trunc").out.split(),
        "tags": sorted(p("images", "--format", "{{.Repository}}:{{.Tag}}").out.split()),
        "blobs": sorted(os.listdir(root / "blobs" / "sha256")) if (root / "blobs" / "sha256").exists() else [],
        "layers": sorted(os.listdir(root / "layers")) if (root / "layers").exists() else [],
    }


def assert_clean(p):
    r = p("system", "check")
    assert r.rc == 0 and "no problems found" in r.out, r
    tmp = p.root / "tmp"
    assert not tmp.exists() or os.listdir(tmp) == [], os.listdir(tmp)


def check_docker_archive(files, want):
    """Check a docker-archive's manifest.json against want: {image id: (tags,
    diff ids)}; every path it names must be in the archive.  Accepts docker's
    classic layout and the combined one (OCI layout alongside)."""
    assert "manifest.json" in files, sorted(files)
    manifest = json.loads(files["manifest.json"])
    assert isinstance(manifest, list) and len(manifest) == len(want), manifest
    oci = None
    if "index.json" in files:
        oci = json.loads(files["index.json"])
        assert json.loads(files["oci-layout"]) == {"imageLayoutVersion": "1.0.0"}
    seen = {}
    for entry in manifest:
        cfg_path = entry["Config"]
        assert cfg_path in files, f"{cfg_path} missing from {sorted(files)}"
        config_bytes = files[cfg_path]
        image_id = sha(config_bytes)
        assert image_id in want, f"config {cfg_path} hashes to {image_id}, not one of {sorted(want)}"
        tags, diff_ids = want[image_id]
        assert sorted(entry.get("RepoTags") or []) == sorted(tags), entry
        config = json.loads(config_bytes)
        assert config["rootfs"]["diff_ids"] == diff_ids
        assert len(entry["Layers"]) == len(diff_ids), entry
        oci_layers = None
        if oci is not None:
            # The combined layout: the OCI manifest of this image names the same blobs.
            for desc in oci["manifests"]:
                m = json.loads(files["blobs/sha256/" + desc["digest"].split(":")[1]])
                if m["config"]["digest"] == image_id:
                    oci_layers = [l["digest"] for l in m["layers"]]
            assert oci_layers is not None, f"index.json has no manifest for {image_id}"
        for i, path in enumerate(entry["Layers"]):
            assert path in files, f"layer {path} missing from {sorted(files)}"
            data = files[path]
            digest = sha(data)
            if digest != diff_ids[i]:
                # A compressed blob: it must be the OCI manifest's layer and
                # unpack to the diff id.
                assert oci_layers is not None and digest == oci_layers[i], (path, digest, diff_ids[i])
                assert sha(decompress(data)) == diff_ids[i], path
            if path.startswith("blobs/sha256/"):
                assert path == "blobs/sha256/" + digest.split(":")[1], path
        seen[image_id] = entry
    assert set(seen) == set(want)
    return manifest


def check_oci_archive(files):
    """Check an OCI layout: every blob's sha256 is its name, every descriptor
    names a blob of its size; returns {ref name: (manifest, config bytes)}."""
    assert json.loads(files["oci-layout"]) == {"imageLayoutVersion": "1.0.0"}
    for name, data in files.items():
        if name.startswith("blobs/"):
            algo, hexd = name.split("/")[1:]
            assert algo == "sha256" and hashlib.sha256(data).hexdigest() == hexd, f"blob {name} corrupt"

    def get(desc):
        name = "blobs/sha256/" + desc["digest"].split(":")[1]
        assert desc["digest"].startswith("sha256:") and name in files, f"{desc} names a missing blob"
        assert len(files[name]) == desc["size"], desc
        return files[name]

    index = json.loads(files["index.json"])
    assert index["schemaVersion"] == 2
    refs = {}
    for desc in index["manifests"]:
        assert desc["mediaType"] == OCI_MANIFEST, desc
        m = json.loads(get(desc))
        assert m["schemaVersion"] == 2 and m.get("mediaType", OCI_MANIFEST) == OCI_MANIFEST
        assert m["config"]["mediaType"] == OCI_CONFIG
        cfg = get(m["config"])
        diff_ids = json.loads(cfg)["rootfs"]["diff_ids"]
        assert len(m["layers"]) == len(diff_ids)
        for l, d in zip(m["layers"], diff_ids):
            assert l["mediaType"].startswith(OCI_LAYER), l
            assert sha(decompress(get(l))) == d
        ref = (desc.get("annotations") or {}).get(REF_NAME)
        refs[ref] = (m, cfg)
    return refs


def loaded_lines(out):
    return [l for l in out.splitlines() if l.startswith("Loaded image")]


def rewrite_tar(data, edit):
    """A copy of the tar `data` with edit(name, bytes) -> bytes (or None to
    drop the member) applied to its regular files."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:*") as src, \
            tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as dst:
        for m in src:
            if not m.isfile():
                dst.addfile(m)
                continue
            name = m.name[2:] if m.name.startswith("./") else m.name
            new = edit(name, src.extractfile(m).read())
            if new is None:
                continue
            m.size = len(new)
            dst.addfile(m, io.BytesIO(new))
    return buf.getvalue()


def flip_byte(data, at=None):
    at = len(data) // 2 if at is None else at
    return data[:at] + bytes([data[at] ^ 0xFF]) + data[at + 1:]


def host_arch():
    return {"x86_64": "amd64", "aarch64": "arm64"}.get(platform.machine(), platform.machine())


def write_oci_layout(d, rootfs, tag="sk"):
    """An OCI image layout in directory d, written by hand: two layers (the
    busybox rootfs gzip-compressed, then a plain one adding /etc/hello).
    Returns (config digest, diff ids)."""
    blobs = d / "blobs" / "sha256"
    blobs.mkdir(parents=True)

    def put(data):
        digest = sha(data)
        (blobs / digest.split(":")[1]).write_bytes(data)
        return {"digest": digest, "size": len(data)}

    layer1 = rootfs.read_bytes()
    layer2 = small_tar({"etc/hello": b"hello from layer two\n"})
    l1 = dict(put(gzip.compress(layer1, mtime=0)), mediaType=OCI_LAYER_GZIP)
    l2 = dict(put(layer2), mediaType=OCI_LAYER)
    diff_ids = [sha(layer1), sha(layer2)]
    config = {
        "created": "2024-01-02T03:04:05Z",
        "architecture": host_arch(),
        "os": "linux",
        "config": {"Cmd": ["sh"], "Env": ["PATH=/usr/sbin:/usr/bin:/sbin:/bin"], "WorkingDir": "/"},
        "rootfs": {"type": "layers", "diff_ids": diff_ids},
        "history": [{"created": "2024-01-02T03:04:05Z", "created_by": "busybox rootfs"},
                    {"created": "2024-01-02T03:04:05Z", "created_by": "add /etc/hello"}],
    }
    c = dict(put(json.dumps(config, sort_keys=True).encode()), mediaType=OCI_CONFIG)
    manifest = {"schemaVersion": 2, "mediaType": OCI_MANIFEST, "config": c, "layers": [l1, l2]}
    m = dict(put(json.dumps(manifest, sort_keys=True).encode()), mediaType=OCI_MANIFEST,
             annotations={REF_NAME: tag})
    (d / "index.json").write_text(json.dumps({"schemaVersion": 2, "manifests": [m]}))
    (d / "oci-layout").write_text(json.dumps({"imageLayoutVersion": "1.0.0"}))
    return c["digest"], diff_ids


def need(tool):
    if not os.access(tool, os.X_OK):
        pytest.skip(f"{tool} not installed")


@pytest.fixture
def skopeo_and_umoci():
    need(SKOPEO)
    need(UMOCI)


def umoci_unpack(image, bundle):
    """umoci unpacks image (layout:ref) into bundle: the busybox rootfs."""
    rc, o, e = run_bytes([UMOCI, "unpack", "--image", image, str(bundle)])
    assert rc == 0, e
    bb = bundle / "rootfs" / "bin" / "busybox"
    assert bb.is_file() and bb.read_bytes() == open("/bin/busybox", "rb").read()
    return bundle


# ---------------------------------------------------------------- save


def test_save_docker_archive_file_and_stdout(pier, image, tmp_path):
    image_id, diff_id = image
    out = tmp_path / "busybox.tar"
    r = pier("save", "-o", out, "busybox:1")
    assert r.rc == 0, r
    assert r.out == "", r  # nothing on stdout when -o is given
    data = out.read_bytes()
    rc, stdout, err = pier.raw("save", "busybox:1")
    assert rc == 0, err
    assert stdout == data, "save to a file and to stdout differ"
    # --output and --format docker-archive are the same thing.
    out2 = tmp_path / "again.tar"
    assert pier("save", "--output", out2, "--format", "docker-archive", "busybox:1").rc == 0
    assert out2.read_bytes() == data
    files = members(data)
    check_docker_archive(files, {image_id: (["busybox:1"], [diff_id])})
    # The config inside is the store's config, byte for byte.
    (entry,) = json.loads(files["manifest.json"])
    assert files[entry["Config"]] == (pier.root / "blobs" / "sha256" / image_id.split(":")[1]).read_bytes()
    # And the layer really is the busybox rootfs.
    layer = decompress(files[entry["Layers"][0]])
    with tarfile.open(fileobj=io.BytesIO(layer)) as t:
        names = {n[2:] if n.startswith("./") else n for n in t.getnames()}
    assert "bin/busybox" in names and "etc/passwd" in names


def test_save_several_images_and_by_id(pier, image, rootfs_tar, tmp_path):
    image_id, diff_id = image
    tar, _ = rootfs_tar
    other = pier("import", "-m", "other", tar, "other:2").out.strip()
    assert other.startswith("sha256:") and other != image_id
    assert pier("tag", "busybox:1", "busybox:latest").rc == 0
    out = tmp_path / "two.tar"
    r = pier("save", "-o", out, "busybox:1", "busybox", "other:2")
    assert r.rc == 0, r
    files = members(out)
    # busybox:1 and busybox name one image: one entry for it, with both tags
    # (docker lists the tags asked for).
    check_docker_archive(files, {image_id: (["busybox:1", "busybox:latest"], [diff_id]),
                                 other: (["other:2"], [diff_id])})
    # The shared layer is in the archive once.
    (m1, m2) = json.loads(files["manifest.json"])
    assert m1["Layers"] == m2["Layers"]
    # Saved by id: no tag.
    out_id = tmp_path / "byid.tar"
    assert pier("save", "-o", out_id, other[7:19]).rc == 0
    check_docker_archive(members(out_id), {other: ([], [diff_id])})


def test_save_refuses_a_terminal(pier, image):
    import pty
    master, slave = pty.openpty()
    try:
        p = subprocess.run([pier.exe, "--root", str(pier.root), "save", "busybox:1"], stdout=slave,
                           stderr=subprocess.PIPE, stdin=subprocess.DEVNULL, timeout=60)
        os.close(slave)
        slave = None
        written = b""
        try:
            import select
            while select.select([master], [], [], 0.2)[0]:
                chunk = os.read(master, 65536)
                if not chunk:
                    break
                written += chunk
        except OSError:
            pass
    finally:
        if slave is not None:
            os.close(slave)
        os.close(master)
    assert p.returncode != 0, "save wrote a tar to a terminal"
    assert b"terminal" in p.stderr, p.stderr
    assert len(written) < 512, "tar bytes reached the terminal"


def test_save_missing_image(pier, image, tmp_path):
    out = tmp_path / "out.tar"
    r = pier("save", "-o", out, "nothere")
    assert r.rc == 1, r
    assert "No such image: nothere" in r.err, r
    assert not out.exists(), "a failed save left its output file"
    # One good, one missing: still nothing written.
    r = pier("save", "-o", out, "busybox:1", "nothere:2")
    assert r.rc == 1 and "No such image: nothere:2" in r.err, r
    assert not out.exists(), "a failed save left its output file"
    assert [p for p in os.listdir(tmp_path) if p.startswith("out")] == [], os.listdir(tmp_path)
    # To stdout: no bytes at all.
    rc, stdout, err = pier.raw("save", "nothere")
    assert rc == 1 and "No such image: nothere" in err and stdout == b"", (rc, err, len(stdout))
    # Usage errors.
    assert pier("save", "-o", out).rc == 125
    r = pier("save", "--format", "frob", "-o", out, "busybox:1")
    assert r.rc in (1, 125) and "format" in r.err, r
    assert not out.exists()
    assert_clean(pier)


# ---------------------------------------------------------------- load


def test_save_load_into_fresh_store(pier, pier2, image, tmp_path):
    image_id, diff_id = image
    out = tmp_path / "busybox.tar"
    assert pier("save", "-o", out, "busybox:1").rc == 0
    r = pier2("load", "-i", out)
    assert r.rc == 0, r
    assert loaded_lines(r.out) == ["Loaded image: busybox:1"], r
    a, b = inspect(pier, "busybox:1"), inspect(pier2, "busybox:1")
    assert b["Id"] == image_id
    assert b["RepoTags"] == ["busybox:1"]
    assert b["RootFS"] == {"Type": "layers", "Layers": [diff_id]}
    for k in ("Config", "Created", "Os", "Architecture", "Comment", "Author"):
        assert b.get(k) == a.get(k), k
    # The config blob is the same bytes; the layer is unpacked under its chain id.
    hexid = image_id.split(":")[1]
    assert (pier2.root / "blobs" / "sha256" / hexid).read_bytes() == \
        (pier.root / "blobs" / "sha256" / hexid).read_bytes()
    assert (pier2.root / "layers" / diff_id.split(":")[1] / "bin" / "busybox").is_file()
    assert pier2("images", "-q", "--no-trunc").out.split() == [image_id]
    assert_clean(pier2)
    # Loading again changes nothing; -q prints only the result.
    before = store_state(pier2)
    r = pier2("load", "-q", "-i", out)
    assert r.rc == 0, r
    assert r.out.splitlines() == ["Loaded image: busybox:1"], r
    assert store_state(pier2) == before
    assert_clean(pier2)


def test_load_untagged_and_moves_tags(pier, pier2, image, rootfs_tar, tmp_path):
    image_id, diff_id = image
    tar, _ = rootfs_tar
    out = tmp_path / "byid.tar"
    assert pier("save", "-o", out, image_id).rc == 0
    r = pier2("load", "-i", out)
    assert r.rc == 0, r
    assert loaded_lines(r.out) == [f"Loaded image ID: {image_id}"], r
    assert pier2("images", "-q", "--no-trunc").out.split() == [image_id]
    # A tag the archive carries moves to the loaded image, as docker does.
    older = pier2("import", "-m", "older", tar, "busybox:1").out.strip()
    assert older != image_id
    out2 = tmp_path / "tagged.tar"
    assert pier("save", "-o", out2, "busybox:1").rc == 0
    r = pier2("load", "-i", out2)
    assert r.rc == 0, r
    assert "Loaded image: busybox:1" in r.out, r
    assert inspect(pier2, "busybox:1")["Id"] == image_id
    assert sorted(pier2("images", "-q", "--no-trunc").out.split()) == sorted([image_id, older])
    assert_clean(pier2)


def test_round_trip_is_stable(pier, pier2, image, tmp_path):
    image_id, _ = image
    first = tmp_path / "first.tar"
    second = tmp_path / "second.tar"
    assert pier("save", "-o", first, "busybox:1").rc == 0
    assert pier2("load", "-i", first).rc == 0
    assert pier2("save", "-o", second, "busybox:1").rc == 0
    a, b = members(first), members(second)
    assert sorted(a) == sorted(b)
    for name in sorted(a):
        assert a[name] == b[name], f"{name} differs after save -> load -> save"
    assert first.read_bytes() == second.read_bytes()


def test_oci_archive(pier, pier2, image, tmp_path):
    image_id, diff_id = image
    out = tmp_path / "busybox.oci.tar"
    r = pier("save", "--format", "oci-archive", "-o", out, "busybox:1")
    assert r.rc == 0, r
    files = members(out)
    refs = check_oci_archive(files)
    assert len(refs) == 1, refs
    ((ref, (manifest, cfg)),) = refs.items()
    assert ref in ("busybox:1", "1", "docker.io/library/busybox:1"), ref
    assert sha(cfg) == image_id and manifest["config"]["digest"] == image_id
    assert json.loads(cfg)["rootfs"]["diff_ids"] == [diff_id]
    # To stdout: the same bytes.
    rc, stdout, err = pier.raw("save", "--format", "oci-archive", "busybox:1")
    assert rc == 0 and stdout == out.read_bytes(), err
    # Loaded back, into a fresh store.
    r = pier2("load", "-i", out)
    assert r.rc == 0, r
    assert loaded_lines(r.out) == ["Loaded image: busybox:1"], r
    info = inspect(pier2, "busybox:1")
    assert info["Id"] == image_id
    assert info["RootFS"]["Layers"] == [diff_id]
    assert info["Config"] == inspect(pier, "busybox:1")["Config"]
    assert_clean(pier2)
    if os.access(SKOPEO, os.X_OK):
        rc, o, e = run_bytes([SKOPEO, "inspect", "--config", "--raw", f"oci-archive:{out}"])
        assert rc == 0 and sha(o) == image_id, e


@pytest.mark.parametrize("fmt", ["docker-archive", "oci-archive"])
@pytest.mark.parametrize("how", ["stdin", "gzip", "zstd"])
def test_load_stdin_and_compressed(pier, pier2, image, tmp_path, fmt, how):
    image_id, diff_id = image
    rc, data, err = pier.raw("save", "--format", fmt, "busybox:1")
    assert rc == 0, err
    if how == "gzip":
        data = gzip.compress(data)
    elif how == "zstd":
        z = subprocess.run(["zstd", "-q", "-c"], input=data, capture_output=True)
        if z.returncode != 0:
            pytest.skip("zstd CLI not usable")
        data = z.stdout
    if how == "stdin":
        r = pier2("load", input=data)
    else:
        p = tmp_path / f"archive.{how}"
        p.write_bytes(data)
        r = pier2("load", "-i", p)
    assert r.rc == 0, r
    assert loaded_lines(r.out) == ["Loaded image: busybox:1"], r
    if how != "stdin":
        # The compressed archive on stdin too (again: nothing changes);
        # -q hides progress only, the result is still printed (docker's).
        r2 = pier2("load", "-q", input=data)
        assert r2.rc == 0 and loaded_lines(r2.out) == ["Loaded image: busybox:1"], r2
    info = inspect(pier2, "busybox:1")
    assert info["Id"] == image_id and info["RootFS"]["Layers"] == [diff_id]
    assert pier2("images", "-q", "--no-trunc").out.split() == [image_id]
    assert_clean(pier2)


# ---------------------------------------------------------------- interop


def test_skopeo_and_umoci_read_what_pier_saves(pier, image, tmp_path, skopeo_and_umoci):
    image_id, diff_id = image
    out = tmp_path / "busybox.tar"
    assert pier("save", "-o", out, "busybox:1").rc == 0
    files = members(out)
    (entry,) = json.loads(files["manifest.json"])
    layer_digests = [sha(files[p]) for p in entry["Layers"]]

    rc, o, e = run_bytes([SKOPEO, "inspect", f"docker-archive:{out}"])
    assert rc == 0, e
    info = json.loads(o)
    assert info["Layers"] == layer_digests, info
    assert info["Os"] == "linux"
    rc, o, e = run_bytes([SKOPEO, "inspect", "--config", "--raw", f"docker-archive:{out}"])
    assert rc == 0, e
    assert sha(o) == image_id, "skopeo sees another config"
    assert json.loads(o)["rootfs"]["diff_ids"] == [diff_id]

    layout = tmp_path / "layout"
    rc, o, e = run_bytes([SKOPEO, "copy", "-q", f"docker-archive:{out}", f"oci:{layout}:bb"])
    assert rc == 0, e
    refs = check_oci_archive({str(p.relative_to(layout)): p.read_bytes()
                              for p in layout.rglob("*") if p.is_file()})
    assert "bb" in refs
    bundle = umoci_unpack(f"{layout}:bb", tmp_path / "bundle")
    assert (bundle / "rootfs" / "bin" / "sh").is_symlink()
    # umoci also reads the oci-archive format once untarred.
    oci_out = tmp_path / "busybox.oci.tar"
    assert pier("save", "--format", "oci-archive", "-o", oci_out, "busybox:1").rc == 0
    untarred = tmp_path / "untarred"
    untarred.mkdir()
    with tarfile.open(oci_out) as t:
        t.extractall(untarred)
    (ref,) = check_oci_archive(members(oci_out)).keys()
    bundle2 = tmp_path / "bundle2"
    rc, o, e = run_bytes([UMOCI, "unpack", "--image", f"{untarred}:{ref}", str(bundle2)])
    assert rc == 0, e
    assert (bundle2 / "rootfs" / "bin" / "busybox").is_file()


def test_load_what_skopeo_writes(pier, rootfs_tar, tmp_path):
    need(SKOPEO)
    tar, _ = rootfs_tar
    layout = tmp_path / "handmade"
    config_digest, diff_ids = write_oci_layout(layout, tar, tag="sk")
    da = tmp_path / "sk.docker.tar"
    oa = tmp_path / "sk.oci.tar"
    rc, o, e = run_bytes([SKOPEO, "copy", "-q", f"oci:{layout}:sk", f"docker-archive:{da}:busybox:sk"])
    assert rc == 0, e
    rc, o, e = run_bytes([SKOPEO, "copy", "-q", f"oci:{layout}:sk", f"oci-archive:{oa}:busybox:sk2"])
    assert rc == 0, e
    # (skopeo keeps the config: the image id stays the config digest)
    rc, o, e = run_bytes([SKOPEO, "inspect", "--config", "--raw", f"docker-archive:{da}"])
    assert rc == 0 and sha(o) == config_digest, e

    r = pier("load", "-i", da)
    assert r.rc == 0, r
    assert loaded_lines(r.out) == ["Loaded image: busybox:sk"], r
    r = pier("load", "-i", oa)
    assert r.rc == 0, r
    assert loaded_lines(r.out) == ["Loaded image: busybox:sk2"], r
    for ref in ("busybox:sk", "busybox:sk2"):
        info = inspect(pier, ref)
        assert info["Id"] == config_digest, ref
        assert info["RootFS"]["Layers"] == diff_ids, ref
        assert info["Config"]["Cmd"] == ["sh"], ref
    assert pier("images", "-q", "--no-trunc").out.split() == [config_digest]
    assert len(pier("history", "-q", "busybox:sk").out.split()) == 2
    assert_clean(pier)
    # And pier saves the two-layer image back, layers in order.
    out = tmp_path / "resaved.tar"
    assert pier("save", "-o", out, "busybox:sk").rc == 0
    check_docker_archive(members(out), {config_digest: (["busybox:sk"], diff_ids)})
    rc, o, e = run_bytes([SKOPEO, "inspect", "--config", "--raw", f"docker-archive:{out}"])
    assert rc == 0 and sha(o) == config_digest, e


# ---------------------------------------------------------------- bad input


def _docker_layer_name(files):
    (entry,) = json.loads(files["manifest.json"])
    return entry["Layers"][0], entry["Config"]


def _oci_names(files):
    index = json.loads(files["index.json"])
    m = json.loads(files["blobs/sha256/" + index["manifests"][0]["digest"].split(":")[1]])
    return ("blobs/sha256/" + m["layers"][0]["digest"].split(":")[1],
            "blobs/sha256/" + m["config"]["digest"].split(":")[1])


def store_with_its_own_image(p, tmp_path):
    """Give p an image of its own (one sharing nothing with busybox, so no
    damaged part can be skipped as known); returns the store's state."""
    keep = tmp_path / "keep.tar"
    keep.write_bytes(small_tar({"keep/file": b"keep me\n"}))
    kept = p("import", keep, "keep:1")
    assert kept.rc == 0, kept
    return store_state(p)


def assert_load_fails(p, source, want, before, damage):
    """Loading source fails with an error matching want, and p's store is
    as it was."""
    r = p("load", "-i", source)
    assert r.rc == 1, r
    assert r.err.startswith("Error: "), r
    assert re.search(want, r.err, re.I), f"unclear error for {damage}: {r.err!r}"
    assert loaded_lines(r.out) == [], r
    assert store_state(p) == before
    assert_clean(p)


BAD = [
    # (format, damage, what the error must mention: a regex, case-insensitive)
    ("docker-archive", "truncated", r"truncat|unexpected end|premature|short|eof|incomplete|missing"),
    ("docker-archive", "corrupt-layer", r"digest|mismatch|diff.?id|sha256|corrupt|verif"),
    ("docker-archive", "corrupt-config", r"digest|mismatch|sha256|corrupt|verif|config"),
    ("docker-archive", "missing-layer", r"missing|not found|no such|does not contain|not in"),
    ("docker-archive", "no-manifest", r"manifest"),
    ("oci-archive", "truncated", r"truncat|unexpected end|premature|short|eof|incomplete|missing"),
    ("oci-archive", "corrupt-layer", r"digest|mismatch|sha256|corrupt|verif"),
    ("oci-archive", "corrupt-config", r"digest|mismatch|sha256|corrupt|verif|config"),
    ("oci-archive", "missing-layer", r"missing|not found|no such|does not contain|not in"),
    ("-", "not-a-tar", r"tar|archive|format"),
    ("-", "empty", r"empty|tar|archive|eof"),
]


@pytest.mark.parametrize("fmt,damage,want", BAD, ids=[f"{f}-{d}" for f, d, _ in BAD])
def test_bad_archive_leaves_store_unchanged(pier, pier2, image, tmp_path, fmt, damage, want):
    before = store_with_its_own_image(pier2, tmp_path)

    data = b""
    if fmt != "-":
        rc, data, err = pier.raw("save", "--format", fmt, "busybox:1")
        assert rc == 0, err
        files = members(data)
        layer, config = (_docker_layer_name if fmt == "docker-archive" else _oci_names)(files)
    if damage == "truncated":
        data = data[: len(data) // 2]
    elif damage == "corrupt-layer":
        data = rewrite_tar(data, lambda n, b: flip_byte(b) if n == layer else b)
    elif damage == "corrupt-config":
        # Still valid JSON: change a value, not the syntax.
        def edit(n, b):
            if n != config:
                return b
            new = b.replace(b'"saved"', b'"SAVED"')
            assert new != b
            return new
        data = rewrite_tar(data, edit)
    elif damage == "missing-layer":
        data = rewrite_tar(data, lambda n, b: None if n == layer else b)
    elif damage == "no-manifest":
        data = rewrite_tar(data, lambda n, b: None if n in ("manifest.json", "index.json") else b)
    elif damage == "not-a-tar":
        data = b"this is not an archive\n" + os.urandom(8192)
    # empty: b""
    bad = tmp_path / "bad.tar"
    bad.write_bytes(data)
    assert_load_fails(pier2, bad, want, before, damage)
    # The same through stdin.
    r = pier2("load", input=data)
    assert r.rc == 1 and r.err.startswith("Error: "), r
    assert store_state(pier2) == before
    assert_clean(pier2)


def test_load_errors(pier, tmp_path):
    r = pier("load", "-i", tmp_path / "nothere.tar")
    assert r.rc == 1 and "nothere.tar" in r.err, r
    r = pier("load", "extra-arg")
    assert r.rc == 125, r
    assert pier("images", "-q").out == ""


# ---------------------------------------------------------------- OCI layout directories


def dir_files(d):
    """Regular files under d: {relative path: bytes}."""
    return {str(p.relative_to(d)): p.read_bytes() for p in sorted(d.rglob("*")) if p.is_file()}


def leftovers(parent, stem):
    """What a save named stem left in parent besides stem itself."""
    return [p for p in os.listdir(parent) if p.startswith(stem) and p != stem]


def test_save_oci_dir(pier, image, rootfs_tar, tmp_path):
    image_id, diff_id = image
    out = tmp_path / "layout"
    r = pier("save", "--format", "oci-dir", "-o", out, "busybox:1")
    assert r.rc == 0, r
    assert r.out == "", r
    files = dir_files(out)
    assert sorted(p for p in files if not p.startswith("blobs/")) == ["index.json", "oci-layout"]
    refs = check_oci_archive(files)
    ((ref, (manifest, cfg)),) = refs.items()
    assert ref == "1" and sha(cfg) == image_id
    desc = json.loads(files["index.json"])["manifests"][0]
    assert desc["annotations"]["io.containerd.image.name"] == "docker.io/library/busybox:1"
    # The same files, byte for byte, as the oci-archive of the image.
    rc, archive, err = pier.raw("save", "--format", "oci-archive", "busybox:1")
    assert rc == 0, err
    assert members(archive) == files
    assert leftovers(tmp_path, "layout") == []
    # Into an existing empty directory (given with a trailing slash): it
    # keeps its mode.
    empty = tmp_path / "empty"
    empty.mkdir(mode=0o700)
    os.chmod(empty, 0o700)
    tar, _ = rootfs_tar
    other = pier("import", "-m", "other", tar, "other:2").out.strip()
    r = pier("save", "--format", "oci-dir", "-o", f"{empty}/", "busybox:1", "other:2")
    assert r.rc == 0, r
    assert os.stat(empty).st_mode & 0o7777 == 0o700
    refs = check_oci_archive(dir_files(empty))
    assert sorted(sha(c) for _, c in refs.values()) == sorted([image_id, other])
    # The shared layer is stored once.
    assert len([p for p in dir_files(empty) if p.startswith("blobs/")]) == 2 + 2 + 1
    assert leftovers(tmp_path, "empty") == []


def test_save_oci_dir_refusals_leave_nothing(pier, image, tmp_path):
    # No -o: a directory cannot go to stdout.
    r = pier("save", "--format", "oci-dir", "busybox:1")
    assert r.rc == 125 and "-o" in r.err, r
    r = pier("save", "--format", "oci-frob", "-o", tmp_path / "x", "busybox:1")
    assert r.rc == 125 and "oci-dir" in r.err, r
    # A directory with something in it is never written into.
    full = tmp_path / "full"
    full.mkdir()
    (full / "mine").write_text("keep")
    r = pier("save", "--format", "oci-dir", "-o", full, "busybox:1")
    assert r.rc == 1, r
    assert r.err.startswith("Error: ") and "not empty" in r.err and str(full) in r.err, r
    assert os.listdir(full) == ["mine"] and (full / "mine").read_text() == "keep"
    # Nor a file.
    f = tmp_path / "afile"
    f.write_text("x")
    r = pier("save", "--format", "oci-dir", "-o", f, "busybox:1")
    assert r.rc == 1 and "not a directory" in r.err, r
    assert f.read_text() == "x"
    # A missing image: no directory appears, an empty one stays empty.
    new = tmp_path / "new"
    r = pier("save", "--format", "oci-dir", "-o", new, "busybox:1", "nothere")
    assert r.rc == 1 and "No such image: nothere" in r.err, r
    assert not new.exists()
    empty = tmp_path / "empty"
    empty.mkdir()
    r = pier("save", "--format", "oci-dir", "-o", empty, "nothere")
    assert r.rc == 1, r
    assert os.listdir(empty) == []
    # A failure while writing (a blob of the store gone): nothing of it stays.
    (info,) = json.loads(pier("image", "inspect", "busybox:1").out)
    layout = tmp_path / "layout"
    assert pier("save", "--format", "oci-dir", "-o", layout, "busybox:1").rc == 0
    m = json.loads((layout / "index.json").read_text())["manifests"][0]
    layer = json.loads((layout / "blobs" / "sha256" / m["digest"].split(":")[1]).read_bytes())["layers"][0]
    blob = pier.root / "blobs" / "sha256" / layer["digest"].split(":")[1]
    saved = blob.read_bytes()
    blob.unlink()
    try:
        broken = tmp_path / "broken"
        r = pier("save", "--format", "oci-dir", "-o", broken, "busybox:1")
        assert r.rc == 1 and r.err.startswith("Error: "), r
        assert not broken.exists()
    finally:
        blob.write_bytes(saved)
        os.chmod(blob, 0o444)
    for stem in ("new", "empty", "full", "afile", "broken", "layout"):
        assert leftovers(tmp_path, stem) == [], os.listdir(tmp_path)
    assert_clean(pier)


def test_load_oci_dir(pier, pier2, image, rootfs_tar, tmp_path, pier_exe):
    image_id, diff_id = image
    tar, _ = rootfs_tar
    other = pier("import", "-m", "other", tar, "other:2").out.strip()
    layout = tmp_path / "layout"
    assert pier("save", "--format", "oci-dir", "-o", layout, "busybox:1", "other:2").rc == 0
    before = dir_files(layout)
    r = pier2("load", "-i", layout)
    assert r.rc == 0, r
    assert sorted(loaded_lines(r.out)) == ["Loaded image: busybox:1", "Loaded image: other:2"], r
    assert dir_files(layout) == before, "load changed the layout it read"
    for ref, want in (("busybox:1", image_id), ("other:2", other)):
        info = inspect(pier2, ref)
        assert info["Id"] == want and info["RootFS"]["Layers"] == [diff_id]
        assert info["Config"] == inspect(pier, ref)["Config"]
    assert_clean(pier2)
    # The same digests as the archive forms: a third store loading the
    # oci-archive holds the same blobs and images.
    pier3 = make_pier(pier_exe, tmp_path / "store3")
    archive = tmp_path / "both.oci.tar"
    assert pier("save", "--format", "oci-archive", "-o", archive, "busybox:1", "other:2").rc == 0
    assert pier3("load", "-i", archive).rc == 0
    assert store_state(pier3) == store_state(pier2)
    # Loading it again changes nothing.
    state = store_state(pier2)
    r = pier2("load", "-q", "-i", layout)
    assert r.rc == 0 and sorted(loaded_lines(r.out)) == ["Loaded image: busybox:1", "Loaded image: other:2"]
    assert store_state(pier2) == state
    assert_clean(pier2)


def test_oci_dir_round_trip_is_stable(pier, pier2, image, tmp_path):
    first, second = tmp_path / "first", tmp_path / "second"
    assert pier("save", "--format", "oci-dir", "-o", first, "busybox:1").rc == 0
    assert pier2("load", "-i", first).rc == 0
    assert pier2("save", "--format", "oci-dir", "-o", second, "busybox:1").rc == 0
    a, b = dir_files(first), dir_files(second)
    assert sorted(a) == sorted(b)
    for name in a:
        assert a[name] == b[name], f"{name} differs after save -> load -> save"


LAYOUT_BAD = [
    ("corrupt-layer", r"digest|mismatch|sha256"),
    ("corrupt-config", r"digest|mismatch|sha256"),
    ("missing-layer", r"missing from the image layout"),
    ("no-index", r"index.json.*missing"),
    ("no-oci-layout", r"oci-layout"),
    ("layer-is-a-fifo", r"not a regular file"),
    ("layer-links-outside", r"missing from the image layout"),
    ("bad-index", r"index|json"),
]


@pytest.mark.parametrize("damage,want", LAYOUT_BAD, ids=[d for d, _ in LAYOUT_BAD])
def test_bad_oci_dir_leaves_store_unchanged(pier, pier2, image, tmp_path, damage, want):
    before = store_with_its_own_image(pier2, tmp_path)
    layout = tmp_path / "layout"
    assert pier("save", "--format", "oci-dir", "-o", layout, "busybox:1").rc == 0
    layer, config = (layout / p for p in _oci_names(dir_files(layout)))
    if damage == "corrupt-layer":
        layer.write_bytes(flip_byte(layer.read_bytes()))
    elif damage == "corrupt-config":
        config.write_bytes(config.read_bytes().replace(b'"saved"', b'"SAVED"'))
    elif damage == "missing-layer":
        layer.unlink()
    elif damage == "no-index":
        (layout / "index.json").unlink()
    elif damage == "no-oci-layout":
        (layout / "oci-layout").unlink()
    elif damage == "layer-is-a-fifo":
        layer.unlink()
        os.mkfifo(layer)
    elif damage == "layer-links-outside":
        # Resolved inside the layout: the host file is not what it names.
        outside = tmp_path / "outside"
        outside.write_bytes(layer.read_bytes())
        layer.unlink()
        os.symlink(outside, layer)
    elif damage == "bad-index":
        (layout / "index.json").write_text("{not json")
    assert_load_fails(pier2, layout, want, before, damage)


def test_skopeo_and_umoci_read_pier_oci_dir(pier, image, tmp_path, skopeo_and_umoci):
    image_id, diff_id = image
    layout = tmp_path / "layout"
    assert pier("save", "--format", "oci-dir", "-o", layout, "busybox:1").rc == 0
    rc, o, e = run_bytes([SKOPEO, "inspect", "--config", "--raw", f"oci:{layout}:1"])
    assert rc == 0 and sha(o) == image_id, e
    # skopeo copies it into a docker-archive that pier loads back, same image.
    da = tmp_path / "from-dir.tar"
    rc, o, e = run_bytes([SKOPEO, "copy", "-q", f"oci:{layout}:1", f"docker-archive:{da}:busybox:sk"])
    assert rc == 0, e
    rc, o, e = run_bytes([SKOPEO, "inspect", "--config", "--raw", f"docker-archive:{da}"])
    assert rc == 0 and sha(o) == image_id, e
    r = pier("load", "-i", da)
    assert r.rc == 0 and loaded_lines(r.out) == ["Loaded image: busybox:sk"], r
    assert inspect(pier, "busybox:sk")["Id"] == image_id
    # umoci unpacks it.
    umoci_unpack(f"{layout}:1", tmp_path / "bundle")


def test_load_oci_dir_skopeo_writes(pier, pier_exe, rootfs_tar, tmp_path):
    need(SKOPEO)
    tar, _ = rootfs_tar
    handmade = tmp_path / "handmade"
    config_digest, diff_ids = write_oci_layout(handmade, tar, tag="sk")
    # skopeo writes an OCI layout directory: named, and by a bare tag.
    named = tmp_path / "named"
    rc, o, e = run_bytes([SKOPEO, "copy", "-q", f"oci:{handmade}:sk", f"oci:{named}:busybox:sk"])
    assert rc == 0, e
    r = pier("load", "-i", named)
    assert r.rc == 0, r
    assert loaded_lines(r.out) == ["Loaded image: busybox:sk"], r
    info = inspect(pier, "busybox:sk")
    assert info["Id"] == config_digest and info["RootFS"]["Layers"] == diff_ids
    bare = tmp_path / "bare"
    rc, o, e = run_bytes([SKOPEO, "copy", "-q", f"oci:{handmade}:sk", f"oci:{bare}:sk"])
    assert rc == 0, e
    r = pier("load", "-i", bare)
    assert r.rc == 0 and loaded_lines(r.out) == [f"Loaded image ID: {config_digest}"], r
    # The same digests as skopeo's archive forms loaded into another store.
    other = make_pier(pier_exe, tmp_path / "other")
    oa = tmp_path / "sk.oci.tar"
    rc, o, e = run_bytes([SKOPEO, "copy", "-q", f"oci:{handmade}:sk", f"oci-archive:{oa}:busybox:sk"])
    assert rc == 0, e
    assert other("load", "-i", oa).rc == 0
    assert store_state(other) == store_state(pier)
    # The image keeps its config's created time (2024): listed as old, and
    # before an image imported now.
    assert "ago" in pier("images", "--format", "{{.CreatedSince}}", "busybox:sk").out
    assert "second" not in pier("images", "--format", "{{.CreatedSince}}", "busybox:sk").out
    new = pier("import", tar, "new:1").out.strip()
    r = pier("images", "-q", "--no-trunc", "--filter", "before=new:1")
    assert r.out.split() == [config_digest], r
    r = pier("images", "-q", "--no-trunc", "--filter", "since=busybox:sk")
    assert r.out.split() == [new], r
    r = pier("images", "-q", "--no-trunc", "--filter", "until=2024-06-01")
    assert r.out.split() == [config_digest], r
    assert_clean(pier)


def test_load_dir_errors(pier, tmp_path):
    r = pier("load", "-i", tmp_path / "nothere")
    assert r.rc == 1 and "nothere" in r.err, r
    d = tmp_path / "plain"
    d.mkdir()
    (d / "index.json").write_text("{}")
    r = pier("load", "-i", d)
    assert r.rc == 1 and "oci-layout" in r.err, r
    assert pier("images", "-q").out == ""
