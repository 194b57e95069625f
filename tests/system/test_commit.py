"""A container's writable layer: pier diff, pier commit, pier export."""
import io
import json
import os
import subprocess
import tarfile

import pytest

from test_containers import Pier, image_tar, leftovers  # noqa: F401  (the fixture)


@pytest.fixture
def pier(runtime_path, tmp_path, image_tar):  # noqa: F811
    exe = os.path.join(os.path.dirname(runtime_path), "pier")
    p = Pier(exe, tmp_path / "store", tmp_path / "run")
    assert p("import", "-c", 'CMD ["sh"]', image_tar, "busybox").rc == 0
    yield p
    ids = p("ps", "-aq", "--no-trunc").out.split()
    if ids:
        p("rm", "-f", *ids)
    assert leftovers(p, ids) == []
    check = p("system", "check")
    assert check.rc == 0 and "no problems found" in check.out, check


CHANGE = "echo new > /newfile; rm /bin/cat; mkdir -p /etc/x; echo y > /etc/x/y"


def test_diff_lists_what_changed(pier):
    pier.ok("run", "--name", "c1", "busybox", "sh", "-c", CHANGE)
    assert pier.ok("diff", "c1").splitlines() == [
        "C /bin", "D /bin/cat", "C /etc", "A /etc/x", "A /etc/x/y", "A /newfile"]
    assert pier.ok("container", "diff", "c1") == pier.ok("diff", "c1")
    r = pier("diff", "nope")
    assert r.rc == 1 and "No such container: nope" in r.err


def test_commit_makes_an_image_of_the_changes(pier):
    pier.ok("run", "--name", "c1", "-e", "FROM_RUN=1", "busybox", "sh", "-c", CHANGE)
    iid = pier.ok("commit", "-a", "me <me@example.com>", "-m", "my change",
                  "-c", "ENV COMMITTED=yes",
                  "-c", 'CMD ["sh", "-c", "cat /newfile; test -e /bin/cat || echo gone; echo $COMMITTED"]',
                  "c1", "committed:1").strip()
    assert iid.startswith("sha256:")
    r = pier("run", "--rm", "committed:1")
    assert r.out == "new\ngone\nyes\n", r
    info = json.loads(pier.ok("image", "inspect", "committed:1"))[0]
    assert len(info["RootFS"]["Layers"]) == 2
    assert "FROM_RUN=1" in info["Config"]["Env"] and "COMMITTED=yes" in info["Config"]["Env"]
    hist = pier.ok("history", "--format", "{{.Comment}}", "committed:1").splitlines()
    assert hist[0] == "my change"
    # The container's own mount points are not part of the image's layer.
    layer_ls = pier.ok("run", "--rm", "committed:1", "sh", "-c", "ls /etc/x; test -s /etc/hostname || echo nohost")
    assert "y" in layer_ls
    # A running container is paused while its layer is read, then resumes.
    pier.ok("run", "-d", "--name", "live", "busybox", "sh", "-c", "echo live > /live; while true; do sleep 0.1; done")
    pier.ok("exec", "live", "sh", "-c", "test -f /live")
    pier.ok("commit", "live", "live:1")
    assert pier.inspect("live")["State"]["Status"] == "running"
    assert pier.ok("run", "--rm", "live:1", "cat", "/live") == "live\n"
    r = pier("commit", "-c", "FROBNICATE x", "c1", "bad:1")
    assert r.rc == 1 and pier("images", "-q", "bad:1").out == ""
    pier.ok("rm", "-f", "live", "c1")
    pier.ok("rmi", "committed:1", "live:1")


def test_export_is_the_whole_filesystem(pier, tmp_path):
    pier.ok("run", "--name", "c1", "busybox", "sh", "-c", CHANGE)
    out = tmp_path / "c1.tar"
    pier.ok("export", "-o", out, "c1")
    with tarfile.open(out) as t:
        names = set(t.getnames())
    assert {"newfile", "etc/x/y", "bin/busybox", "etc/passwd"} <= names
    assert "bin/cat" not in names and not any(n.startswith(".wh.") or "/.wh." in n for n in names)
    # To stdout, and importable as an image again.
    p = subprocess.run(pier.argv("export", "c1"), capture_output=True)
    assert p.returncode == 0 and len(p.stdout) > 100000
    pier.ok("import", "-", "flat:1", input=p.stdout)
    assert pier.ok("run", "--rm", "flat:1", "sh", "-c", "cat /newfile") == "new\n"
    assert not list((pier.root / "containers").glob("*/export*"))


def test_cp_both_ways_stopped_and_running(pier, tmp_path):
    host = tmp_path / "host"
    (host / "dir").mkdir(parents=True)
    (host / "file").write_text("f1\n")
    (host / "dir" / "a").write_text("d1\n")
    os.symlink("file", host / "link")
    pier.ok("create", "--name", "c1", "busybox", "sh")
    pier.ok("cp", host / "file", "c1:/file")
    pier.ok("cp", host / "dir", "c1:/")          # an existing directory gets dir/
    pier.ok("cp", host / "dir", "c1:/newdir")    # a new name gets the contents
    pier.ok("cp", host / "link", "c1:/link")     # a symlink stays one without -L
    pier.ok("cp", "-L", host / "link", "c1:/followed")
    assert pier.ok("diff", "c1").splitlines() == [
        "A /dir", "A /dir/a", "A /file", "A /followed", "A /link", "A /newdir", "A /newdir/a"]
    out = tmp_path / "out"
    out.mkdir()
    pier.ok("cp", "c1:/file", out)
    pier.ok("cp", "c1:/dir", out)
    pier.ok("cp", "c1:/etc/passwd", out / "pw")
    assert (out / "file").read_text() == "f1\n" and (out / "dir" / "a").read_text() == "d1\n"
    assert (out / "pw").read_text().startswith("root:")
    r = pier("cp", "c1:/nope", out)
    assert r.rc == 1 and "Could not find the file /nope in container c1" in r.err, r
    r = pier("cp", "c1:/x", "c1:/y")
    assert r.rc == 125
    # A running container sees a copy at once, and a copy out reads its live files.
    pier.ok("run", "-d", "--name", "live", "busybox", "sh", "-c",
            "echo made > /made; while true; do sleep 0.1; done")
    pier.ok("cp", host / "file", "live:/tmp/")
    assert pier.ok("exec", "live", "cat", "/tmp/file") == "f1\n"
    pier.ok("exec", "live", "sh", "-c", "test -f /made")
    pier.ok("cp", "live:/made", out / "made")
    assert (out / "made").read_text() == "made\n"
    # Paths never leave the container's root.
    pier.ok("exec", "live", "ln", "-s", "/../../../../etc", "/escape")
    pier.ok("cp", host / "file", "live:/escape/planted")
    assert not os.path.exists("/etc/planted")
    assert pier.ok("exec", "live", "cat", "/etc/planted") == "f1\n"
    pier.ok("rm", "-f", "c1", "live")


def test_cp_archive_keeps_every_owner_the_directory_included(pier, tmp_path):
    """cp -a, both ways: the copied directory itself keeps its owner, as
    everything in it does; without -a the copy is root's."""
    tree = tmp_path / "tree"
    (tree / "sub").mkdir(parents=True)
    (tree / "sub" / "f").write_text("x")
    for p in (tree, tree / "sub", tree / "sub" / "f"):
        os.chown(p, 1234, 2345)
    pier.ok("create", "--name", "c1", "busybox", "sh")
    pier.ok("cp", "-a", tree, "c1:/tmp/")
    pier.ok("cp", tree, "c1:/plain")
    out = tmp_path / "out"
    pier.ok("cp", "-a", "c1:/tmp/tree", out)
    for p in (out, out / "sub", out / "sub" / "f"):
        st = os.lstat(p)
        assert (st.st_uid, st.st_gid) == (1234, 2345), p
    plain = tmp_path / "plain"
    pier.ok("cp", "c1:/plain", plain)
    assert (os.lstat(plain).st_uid, os.lstat(plain / "sub").st_uid) == (0, 0)
    pier.ok("rm", "c1")


def test_update_resources_and_restart_policy(pier):
    from conftest import wait_until
    cid = pier.ok("run", "-d", "--name", "up", "-m", "64m", "busybox", "sh", "-c",
                  "while true; do sleep 0.1; done").strip()
    mem = f"/sys/fs/cgroup/memory/pier/{cid}/memory.limit_in_bytes"
    if os.path.exists(mem):
        assert open(mem).read().strip() == str(64 << 20)
    assert pier.ok("update", "-m", "128m", "--memory-swap", "256m", "--pids-limit", "20", "up") == "up\n"
    if os.path.exists(mem):
        assert open(mem).read().strip() == str(128 << 20)
    pids = f"/sys/fs/cgroup/pids/pier/{cid}/pids.max"
    if os.path.exists(pids):
        assert open(pids).read().strip() == "20"
    hc = pier.inspect("up")["HostConfig"]
    assert hc["Memory"] == 128 << 20 and hc["MemorySwap"] == 256 << 20 and hc["PidsLimit"] == 20
    r = pier("update", "-m", "512m", "up")
    assert r.rc == 1 and "smaller than already set memoryswap" in r.err
    r = pier("update", "up")
    assert r.rc == 125 and "one or more flags" in r.err
    r = pier("update", "--restart", "sometimes", "up")
    assert r.rc == 1 and "invalid restart policy 'sometimes'" in r.err, r
    r = pier("update", "--restart", "on-failure:x", "up")
    assert r.rc == 125 and "invalid restart policy format" in r.err, r
    r = pier("update", "-m", "1m", "--memory-swap", "2m", "up")
    assert r.rc == 1 and "Minimum memory limit allowed is 6MB" in r.err, r
    r = pier("update", "--restart", "always", "up")
    assert r.rc == 0, r
    pier.ok("rm", "-f", "up")
    # A restart policy set after the start is the one the monitor applies.
    pier.ok("run", "-d", "--name", "flaky", "busybox", "sh", "-c", "sleep 0.3; exit 3")
    pier.ok("update", "--restart", "on-failure:2", "flaky")
    wait_until(lambda: pier.inspect("flaky")["RestartCount"] == 2
               and pier.inspect("flaky")["State"]["Status"] == "exited", timeout=20, what="two restarts")
    assert pier.inspect("flaky")["State"]["ExitCode"] == 3
    pier.ok("rm", "-f", "flaky")


def test_stats_and_cpu_limit_measured(pier):
    pier.ok("run", "-d", "--name", "busy", "--cpus", "0.5", "-m", "100m", "busybox", "sh", "-c",
            "while true; do :; done")
    pier.ok("run", "-d", "--name", "idle", "busybox", "sh", "-c", "while true; do sleep 1; done")
    out = pier.ok("stats", "--no-stream")
    lines = out.splitlines()
    assert lines[0].split() == ["CONTAINER", "ID", "NAME", "CPU", "%", "MEM", "USAGE", "/", "LIMIT", "MEM", "%",
                                "NET", "I/O", "BLOCK", "I/O", "PIDS"], out
    assert {ln.split()[1] for ln in lines[1:]} == {"busy", "idle"}
    busy = [ln for ln in lines if " busy " in ln][0]
    assert "/ 100MiB" in busy
    # --cpus 0.5 holds a busy loop to half a CPU (the CFS quota), measured
    # over a few samples.
    samples = []
    for _ in range(3):
        row = json.loads(pier.ok("stats", "--no-stream", "--format", "{{json .}}", "busy"))
        samples.append(float(row["CPUPerc"].rstrip("%")))
    median = sorted(samples)[1]
    assert 30.0 <= median <= 65.0, samples
    assert row["PIDs"] == "1" and row["Name"] == "busy"
    r = pier("stats", "--no-stream", "nope")
    assert r.rc == 1 and "No such container: nope" in r.err
    pier.ok("rm", "-f", "busy", "idle")


def test_system_prune_removes_stopped_containers_unused_networks_and_cache(pier, tmp_path):
    pier.ok("create", "--name", "stopped", "busybox", "true")
    pier.ok("run", "-d", "--name", "running", "busybox", "sh", "-c", "while true; do sleep 1; done")
    pier.ok("network", "create", "unused-net")
    ctx = tmp_path / "ctx"
    ctx.mkdir()
    (ctx / "Dockerfile").write_text("FROM busybox\nRUN echo x > /x\n")
    pier.ok("build", "-q", ctx)
    out = pier.ok("system", "prune", "-f")
    assert "stopped" not in pier.ok("ps", "-a", "--format", "{{.Names}}").split()
    assert "running" in pier.ok("ps", "--format", "{{.Names}}").split()
    assert "unused-net" not in pier.ok("network", "ls", "--format", "{{.Name}}").split()
    assert "Deleted build cache objects" in out, out
    assert pier("image", "inspect", "busybox").rc == 0
    pier.ok("rm", "-f", "running")
