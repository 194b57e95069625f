"""Local images: pier import, images, image inspect, tag, rmi, over the
content-addressed store (a first part of the image-store work)."""
import gzip
import hashlib
import io
import json
import os
import subprocess
import tarfile

import pytest

from conftest import run_captured


@pytest.fixture
def pier(runtime_path, tmp_path):
    exe = os.path.join(os.path.dirname(runtime_path), "pier")
    root = tmp_path / "store"

    def run(*args, input=None):
        return run_captured([exe, "--root", str(root)] + [str(a) for a in args], input=input)
    run.root = root
    return run


@pytest.fixture
def rootfs_tar(rootfs_template, tmp_path):
    """The busybox rootfs as a plain tar, and its sha256 (the diff id)."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as t:
        t.add(rootfs_template, arcname=".")
    data = buf.getvalue()
    p = tmp_path / "rootfs.tar"
    p.write_bytes(data)
    return p, "sha256:" + hashlib.sha256(data).hexdigest()


def blob(root, digest):
    return (root / "blobs" / "sha256" / digest.split(":")[1]).read_bytes()


def test_import_list_inspect(pier, rootfs_tar):
    tar, diff_id = rootfs_tar
    r = pier("import", "-m", "first", "-c", 'CMD ["sh"]', "-c", "ENV A=1", "-c", "EXPOSE 8080",
             "-c", "WORKDIR /srv", "-c", "USER 1000", "-c", "LABEL org.x=y", tar, "busybox:1")
    assert r.rc == 0, r
    image_id = r.out.strip()
    assert image_id.startswith("sha256:")
    # The id is the digest of the config blob.
    assert "sha256:" + hashlib.sha256(blob(pier.root, image_id)).hexdigest() == image_id

    r = pier("images")
    lines = r.out.splitlines()
    assert lines[0].split() == ["REPOSITORY", "TAG", "IMAGE", "ID", "CREATED", "SIZE"]
    assert lines[1].split()[:3] == ["busybox", "1", image_id[7:19]]
    assert pier("images", "-q").out.split() == [image_id[7:19]]
    assert pier("images", "-q", "--no-trunc").out.split() == [image_id]
    assert pier("images", "--format", "{{.Repository}}:{{.Tag}}").out.split() == ["busybox:1"]

    r = pier("image", "inspect", "busybox:1")
    assert r.rc == 0, r
    (info,) = json.loads(r.out)
    assert info["Id"] == image_id
    assert info["RepoTags"] == ["busybox:1"]
    assert info["RootFS"] == {"Type": "layers", "Layers": [diff_id]}
    assert info["Comment"] == "first"
    assert info["Os"] == "linux"
    c = info["Config"]
    assert c["Cmd"] == ["sh"] and c["Env"] == ["A=1"] and c["ExposedPorts"] == {"8080/tcp": {}}
    assert c["WorkingDir"] == "/srv" and c["User"] == "1000" and c["Labels"] == {"org.x": "y"}
    assert pier("image", "inspect", "-f", "{{.Id}}", image_id[7:19]).out.strip() == image_id
    # The layer is unpacked once, under its chain id.
    layer = pier.root / "layers" / diff_id.split(":")[1]
    assert (layer / "bin" / "busybox").is_file()


def test_import_from_stdin_and_compressions_share_the_layer(pier, rootfs_tar, tmp_path):
    tar, diff_id = rootfs_tar
    data = tar.read_bytes()
    ids = []
    for name, payload in (("plain", data), ("gz", gzip.compress(data))):
        r = pier("import", "-", f"x/{name}", input=payload)
        assert r.rc == 0, r
        ids.append(r.out.strip())
    zst = subprocess.run(["zstd", "-q", "-c"], input=data, capture_output=True)
    if zst.returncode == 0:
        r = pier("import", "-", "x/zst", input=zst.stdout)
        assert r.rc == 0, r
    for ref in ("x/plain", "x/gz") + (("x/zst",) if zst.returncode == 0 else ()):
        (info,) = json.loads(pier("image", "inspect", ref).out)
        assert info["RootFS"]["Layers"] == [diff_id]
    # One unpacked layer for all of them.
    assert os.listdir(pier.root / "layers") == [diff_id.split(":")[1]]


def test_tag_and_rmi(pier, rootfs_tar):
    tar, diff_id = rootfs_tar
    image_id = pier("import", tar, "a:1").out.strip()
    assert pier("tag", "a:1", "b").rc == 0
    assert sorted(pier("images", "--format", "{{.Repository}}:{{.Tag}}").out.split()) == ["a:1", "b:latest"]
    # Two names: removing one only untags.
    r = pier("rmi", "b")
    assert r.rc == 0 and r.out.strip() == "Untagged: b:latest", r
    pier("tag", "a:1", "c:2")
    # By id with two names: refused unless forced.
    r = pier("rmi", image_id[7:19])
    assert r.rc == 1 and "must be forced" in r.err, r
    r = pier("rmi", "-f", image_id[7:19])
    assert r.rc == 0, r
    assert r.out.splitlines()[-1] == f"Deleted: {image_id}"
    assert pier("images", "-q").out == ""
    assert os.listdir(pier.root / "layers") == []
    assert os.listdir(pier.root / "blobs" / "sha256") == []


def test_rmi_keeps_what_another_image_uses(pier, rootfs_tar):
    tar, diff_id = rootfs_tar
    pier("import", tar, "one")
    pier("import", "-m", "other config", tar, "two")
    assert pier("rmi", "one").rc == 0
    (info,) = json.loads(pier("image", "inspect", "two").out)
    assert info["RootFS"]["Layers"] == [diff_id]
    assert (pier.root / "layers" / diff_id.split(":")[1] / "bin" / "busybox").is_file()


def hostile_tar(path):
    with tarfile.open(path, "w") as t:
        i = tarfile.TarInfo("ok")
        i.size = 2
        t.addfile(i, io.BytesIO(b"hi"))
        i = tarfile.TarInfo("../escape")
        i.size = 1
        t.addfile(i, io.BytesIO(b"x"))


@pytest.mark.parametrize("bad", ["hostile", "truncated-gzip", "garbage", "empty"])
def test_bad_tarball_leaves_nothing(pier, rootfs_tar, tmp_path, bad):
    tar, _ = rootfs_tar
    p = tmp_path / "bad"
    if bad == "hostile":
        hostile_tar(p)
        want = "../escape"
    elif bad == "truncated-gzip":
        g = gzip.compress(tar.read_bytes())
        p.write_bytes(g[: len(g) // 2])
        want = "gzip"
    elif bad == "garbage":
        p.write_bytes(os.urandom(4096))
        want = "layer"
    else:
        p.write_bytes(b"")
        want = "empty"
    r = pier("import", p, "bad:1")
    assert r.rc == 1, r
    assert r.err.startswith("Error: ") and want in r.err, r.err
    assert pier("images", "-q").out == ""
    assert os.listdir(pier.root / "blobs" / "sha256") == []
    assert os.listdir(pier.root / "layers") == []
    assert os.listdir(pier.root / "tmp") == []
    assert not (tmp_path.parent / "escape").exists()


def test_errors(pier, rootfs_tar):
    tar, _ = rootfs_tar
    r = pier("image", "inspect", "nothere")
    assert r.rc == 1 and "No such image: nothere" in r.err
    r = pier("rmi", "nothere")
    assert r.rc == 1 and "No such image: nothere" in r.err
    r = pier("import", tar, "Upper/Case")
    assert r.rc == 1 and "lowercase" in r.err, r
    r = pier("import", "-c", "FROBNICATE x", tar)
    assert r.rc == 1 and "FROBNICATE" in r.err, r
    r = pier("images", "--filter", "frob=x")
    assert r.rc == 125 and "invalid filter 'frob'" in r.err, r
    r = pier("import")
    assert r.rc == 125
    assert pier("images", "-q").out == ""


def test_concurrent_imports(pier, rootfs_tar, runtime_path):
    tar, _ = rootfs_tar
    exe = os.path.join(os.path.dirname(runtime_path), "pier")
    procs = [subprocess.Popen([exe, "--root", str(pier.root), "import", "-m", str(n), str(tar), f"c/{n}"],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE) for n in range(6)]
    for p in procs:
        out, err = p.communicate(timeout=60)
        assert p.returncode == 0, err
    names = sorted(pier("images", "--format", "{{.Repository}}").out.split())
    assert names == [f"c/{n}" for n in range(6)]


def test_history(pier, rootfs_tar):
    tar, _ = rootfs_tar
    image_id = pier("import", "-m", "the comment", tar, "h").out.strip()
    r = pier("history", "h")
    assert r.rc == 0, r
    lines = r.out.splitlines()
    assert lines[0].split()[:3] == ["IMAGE", "CREATED", "CREATED"]
    assert lines[1].startswith(image_id[7:19]) and "pier import" in lines[1] and "the comment" in lines[1]
    assert pier("history", "-q", "--no-trunc", "h").out.split() == [image_id]
    r = pier("history", "-H=false", "--format", "{{.Size}}", "h")
    size = int(r.out.strip())
    assert size > 1_000_000, r  # busybox, unpacked
    assert pier("history", "nothere").rc == 1
    # A table template: docker's header names, columns aligned.
    r = pier("history", "--format", "table {{.ID}}\t{{.Comment}}\t{{truncate .CreatedBy 11}}", "h")
    assert r.rc == 0, r
    lines = r.out.splitlines()
    assert lines[0] == "IMAGE          COMMENT       CREATED BY", r.out
    assert lines[1] == f"{image_id[7:19]}   the comment   pier import", r.out


def test_images_format_templates(pier, rootfs_tar):
    tar, _ = rootfs_tar
    image_id = pier("import", "-c", "LABEL b=2", "-c", "LABEL a=1", tar, "busybox:1").out.strip()
    assert pier("tag", "busybox:1", "a-much-longer-repository-name:v2").rc == 0
    r = pier("images", "--format", "table {{.Repository}}\t{{.Tag}}\t{{.ID}}")
    assert r.rc == 0, r
    lines = r.out.splitlines()
    # docker's tabwriter: minimum width 10, padding 3; the last column is
    # not padded.
    assert lines[0] == "REPOSITORY                      TAG       IMAGE ID", r.out
    assert sorted(lines[1:]) == [
        f"a-much-longer-repository-name   v2        {image_id[7:19]}",
        f"busybox                         1         {image_id[7:19]}"], r.out
    # Bare "table" is the default table (CREATED may tick between the two).
    def cols(out):
        return [ln[:ln.index("ago") if "ago" in ln else len(ln)] for ln in out.splitlines()]
    assert cols(pier("images", "--format", "table").out) == cols(pier("images").out)
    # Conditionals, functions, variables and printf.
    r = pier("images", "--format",
             '{{if eq .Tag "1"}}{{upper .Repository}}{{else}}{{$r := .Repository}}{{len $r}}{{end}}'
             '|{{printf "%-4s|" .Tag}}{{.Containers}}')
    assert sorted(r.out.splitlines()) == ["29|v2  |N/A", "BUSYBOX|1   |N/A"], r
    rows = [json.loads(ln) for ln in pier("images", "--format", "json").out.splitlines()]
    assert sorted(row["Tag"] for row in rows) == ["1", "v2"]
    assert all(row["ID"] == image_id[7:19] for row in rows)
    # image inspect: maps print as Go does, pipes and index work.
    r = pier("image", "inspect", "--format",
             "{{.Config.Labels}} {{index .RepoTags 0}} {{range .RootFS.Layers}}{{slice . 0 7}}{{end}}"
             " {{.Os | printf \"%q\"}} {{json .RootFS.Type}}", "busybox:1")
    assert r.rc == 0, r
    assert r.out == 'map[a:1 b:2] a-much-longer-repository-name:v2 sha256: "linux" "layers"\n', r.out
    # Template errors: docker's messages, exit 125, nothing printed.
    for tmpl, msg in (("{{.Repository", "template parsing error: template: :1: unclosed action"),
                      ("{{nosuch .ID}}", 'template: :1: function "nosuch" not defined'),
                      ("{{if .ID}}x", "template: :1: unexpected EOF"),
                      ("{{index .Nope 5 6}}", 'template: :1:2: executing "" at <index .Nope 5 6>: '
                                              "error calling index: index of untyped nil")):
        for args in (("images", "--format", tmpl), ("image", "inspect", "--format", tmpl, "busybox:1"),
                     ("history", "--format", tmpl, "busybox:1")):
            r = pier(*args)
            assert r.rc == 125 and msg in r.err and r.out == "", (args, r)


def test_image_prune(pier, rootfs_tar):
    tar, _ = rootfs_tar
    tagged = pier("import", tar, "keep").out.strip()
    dangling = pier("import", "-m", "other", tar).out.strip()
    # Without -f it asks; anything but y keeps everything.
    r = pier("image", "prune", input="n\n")
    assert r.rc == 0 and "Are you sure" in r.err
    assert len(pier("images", "-q").out.split()) == 2
    r = pier("image", "prune", "-f")
    assert r.rc == 0, r
    assert f"deleted: {dangling}" in r.out and "Total reclaimed space:" in r.out
    assert pier("images", "-q", "--no-trunc").out.split() == [tagged]
    # -a: every image without a container (there are no containers yet).
    r = pier("image", "prune", "-a", "-f")
    assert "untagged: keep:latest" in r.out and f"deleted: {tagged}" in r.out
    assert pier("images", "-q").out == ""


def test_system_check_finds_and_repairs(pier, rootfs_tar):
    tar, diff_id = rootfs_tar
    broken = pier("import", tar, "broken").out.strip()
    kept = pier("import", "-m", "kept", tar, "kept").out.strip()
    r = pier("system", "check")
    assert r.rc == 0 and "no problems found" in r.out, r
    # Damage: the first image's config blob, an unrecorded layer directory
    # and a stray temporary file (what a crash mid-unpack leaves).
    cfg = pier.root / "blobs" / "sha256" / broken.split(":")[1]
    os.chmod(cfg, 0o644)
    cfg.write_bytes(b"garbage")
    (pier.root / "layers" / "0").mkdir()
    (pier.root / "tmp" / "left-over").write_text("x")
    r = pier("system", "check")
    assert r.rc == 1, r
    assert f"blob {broken} is corrupt" in r.out and f"image {broken}" in r.out
    assert "layer directory 0" in r.out and "tmp/left-over" in r.out
    r = pier("system", "check", "--repair")
    assert r.rc == 0 and "repaired" in r.out, r
    r = pier("system", "check")
    assert r.rc == 0 and "no problems found" in r.out, r
    # The intact image, and the layer it shares, survive.
    assert pier("images", "-q", "--no-trunc").out.split() == [kept]
    (info,) = json.loads(pier("image", "inspect", "kept").out)
    assert info["RootFS"]["Layers"] == [diff_id]


def test_system_df(pier, rootfs_tar):
    tar, _ = rootfs_tar
    pier("import", tar, "one")
    pier("import", "-m", "two", tar, "two")
    r = pier("system", "df")
    assert r.rc == 0, r
    rows = {l.split()[0]: l.split() for l in r.out.splitlines()[1:]}
    assert rows["Images"][1] == "2"
    # Two images, one shared layer: the size counts it once.
    assert rows["Images"][3].endswith("MB"), r.out


# ---------------------------------------------------------------- filters


@pytest.fixture
def tiny_tar(tmp_path):
    """A one-file layer: images differ by their configs, not their content."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as t:
        i = tarfile.TarInfo("hello")
        i.size = 3
        i.mtime = 1700000000
        t.addfile(i, io.BytesIO(b"hi\n"))
    p = tmp_path / "tiny.tar"
    p.write_bytes(buf.getvalue())
    return p


@pytest.fixture
def labelled(pier, tiny_tar):
    """Four images, oldest first: a (labels a=1 b=2), b (a=2), c (none) and an
    untagged d (a=1).  Returns {name: image id}."""
    ids = {}
    for name, changes in (("a", ["LABEL a=1 b=2"]), ("b", ["LABEL a=2"]), ("c", []), ("d", ["LABEL a=1"])):
        args = ["import", "-m", name]
        for c in changes:
            args += ["-c", c]
        args += [tiny_tar] + ([f"{name}:1"] if name != "d" else [])
        r = pier(*args)
        assert r.rc == 0, r
        ids[name] = r.out.strip()
    return ids


def listed(pier, *filters, fmt="{{.ID}}"):
    """What `pier images` shows for those filters: ids (or fmt), in order."""
    args = ["images", "--no-trunc", "--format", fmt]
    for f in filters:
        args += ["--filter", f]
    r = pier(*args)
    assert r.rc == 0, r
    return r.out.split()


def test_images_filter_label_before_since(pier, labelled):
    ids = labelled
    by_id = {v: k for k, v in ids.items()}

    def names(*filters):
        return [by_id[i] for i in listed(pier, *filters)]

    # Newest first, as docker sorts by the config's created time.
    assert names() == ["d", "c", "b", "a"]
    # label=key, label=key=value; several labels must all match (moby's MatchKVList).
    assert names("label=a") == ["d", "b", "a"]
    assert names("label=a=1") == ["d", "a"]
    assert names("label=a=1", "label=b") == ["a"]
    assert names("label=a=1", "label=b=3") == []
    assert names("label=nothere") == []
    # before/since take an image (name, id or id prefix) and compare created times.
    assert names("before=b:1") == ["a"]
    assert names("before=" + ids["c"]) == ["b", "a"]
    assert names("since=a:1") == ["d", "c", "b"]
    assert names("since=" + ids["c"][7:19]) == ["d"]
    # Several before values: the earliest wins; several since: the latest.
    assert names("before=c:1", "before=b:1") == ["a"]
    assert names("since=a:1", "since=b:1") == ["d", "c"]
    # Different keys: all must hold, with dangling and reference too.
    assert names("since=a:1", "before=" + ids["d"]) == ["c", "b"]
    assert names("label=a", "dangling=false") == ["b", "a"]
    assert names("label=a", "dangling=true") == ["d"]
    assert names("label=a", "reference=b*") == ["b"]
    assert names("since=a:1", "reference=*:1") == ["c", "b"]
    # reference matches the familiar name with and without the tag; a
    # reference filter leaves untagged images out.
    assert names("reference=*") == ["c", "b", "a"]
    assert names("reference=c") == ["c"]
    # The positional argument is one more reference filter.
    r = pier("images", "-q", "--no-trunc", "--filter", "label=a", "a")
    assert r.rc == 0 and r.out.split() == [ids["a"]], r
    # Keys are case-insensitive and trimmed, as docker's flag parsing does.
    assert names(" Label =a=1") == ["d", "a"]
    # -q lists what the filters select too.
    r = pier("images", "-q", "--filter", "before=c:1")
    assert r.out.split() == [ids["b"][7:19], ids["a"][7:19]], r


def test_images_filter_until(pier, labelled):
    ids = labelled
    created = {k: inspect_created(pier, v) for k, v in ids.items()}
    # until= is a bound on created time: strictly before it, as docker's list.
    assert listed(pier, "until=" + created["b"]) == [ids["a"]]
    assert listed(pier, "until=" + created["d"]) == [ids["c"], ids["b"], ids["a"]]
    # A duration before now, a date, unix seconds.
    assert listed(pier, "until=1h") == []
    assert listed(pier, "until=2000-01-01") == []
    assert listed(pier, "until=4102444800") == [ids[k] for k in "dcba"]
    assert listed(pier, "until=2099-01-01T00:00:00Z", "label=a=1") == [ids["d"], ids["a"]]


def inspect_created(pier, ref):
    r = pier("image", "inspect", "--format", "{{.Created}}", ref)
    assert r.rc == 0, r
    return r.out.strip()


@pytest.mark.parametrize("flt,code,msg", [
    ("frob=1", 125, "invalid filter 'frob'"),
    ("label!=a", 125, "invalid filter 'label!'"),
    ("dangling=maybe", 125, "invalid filter 'dangling=[maybe]'"),
    ("until=yesterday", 125, 'failed to parse value as time or duration: "yesterday"'),
    ("before=nothere:1", 1, "No such image: nothere:1"),
    ("since=nothere", 1, "No such image: nothere"),
    ("label", 125, "bad format of filter (expected name=value)"),
])
def test_images_filter_errors(pier, labelled, flt, code, msg):
    r = pier("images", "--filter", flt)
    assert r.rc == code, r
    assert msg in r.err, r
    assert r.out == "", r


def test_images_filter_dangling_conflict(pier, labelled):
    r = pier("images", "--filter", "dangling=true", "--filter", "dangling=0")
    assert r.rc == 125 and "invalid filter 'dangling=[true 0]'" in r.err, r
    # The same value twice, or true and 1, is one value.
    assert pier("images", "-q", "-f", "dangling=true", "-f", "dangling=1").out.split() == \
        [labelled["d"][7:19]]


def test_image_prune_filters(pier, labelled):
    ids = labelled

    def present():
        return set(pier("images", "-q", "--no-trunc").out.split())

    everything = set(ids.values())
    # Unsupported keys are refused before anything is asked or removed.
    for flt, msg in (("before=a:1", "invalid filter 'before'"), ("since=a:1", "invalid filter 'since'"),
                     ("reference=a", "invalid filter 'reference'"), ("frob=1", "invalid filter 'frob'"),
                     ("until=junk", "failed to parse value as time or duration"),
                     ("label", "bad format of filter")):
        r = pier("image", "prune", "-a", "-f", "--filter", flt)
        assert r.rc == 125 and msg in r.err, (flt, r)
        assert r.out == "", r
    r = pier("image", "prune", "-a", "-f", "--filter", "until=1h", "--filter", "until=2h")
    assert r.rc == 125 and "more than one until filter specified" in r.err, r
    # -a is dangling=false: a filter saying otherwise conflicts, as in docker.
    r = pier("image", "prune", "-a", "-f", "--filter", "dangling=true")
    assert r.rc == 125 and "invalid filter 'dangling=" in r.err, r
    r = pier("image", "prune", "--filter", "label=a")
    assert present() == everything

    # until: created at or before the time (inclusive, as docker's prune).
    r = pier("image", "prune", "-a", "-f", "--filter", "until=" + inspect_created(pier, "b:1"),
             "--filter", "label=a")
    assert r.rc == 0, r
    assert f"deleted: {ids['a']}" in r.out and f"deleted: {ids['b']}" in r.out, r
    assert "untagged: a:1" in r.out and "untagged: b:1" in r.out, r
    assert present() == {ids["c"], ids["d"]}
    # Without -a only dangling images go; the label filter narrows them.
    r = pier("image", "prune", "-f", "--filter", "label=a=2")
    assert r.rc == 0 and "Deleted Images" not in r.out and "Total reclaimed space: 0B" in r.out, r
    assert present() == {ids["c"], ids["d"]}
    # label!: an image with the label (and value) is kept.
    r = pier("image", "prune", "-a", "-f", "--filter", "label!=a=1")
    assert r.rc == 0, r
    assert f"deleted: {ids['c']}" in r.out and ids["d"] not in r.out, r
    assert present() == {ids["d"]}
    r = pier("image", "prune", "-f", "--filter", "label=a=1", "--filter", "until=1h")
    assert r.rc == 0 and present() == {ids["d"]}, r
    r = pier("image", "prune", "-f", "--filter", "label=a=1", "--filter", "until=" + inspect_created(pier, ids["d"]))
    assert r.rc == 0 and f"deleted: {ids['d']}" in r.out, r
    assert present() == set()
