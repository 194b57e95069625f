"""Lifecycle: spec, create, start, state, kill, delete, list, ps, pause,
resume, exec, run."""

import json
import os
import signal
import subprocess
import time
from pathlib import Path

import pytest

from conftest import alive, cgroup_file, proc_state, read, wait_until

LONG = ("sh", "-c", "trap 'exit 0' TERM; while :; do sleep 0.1; done")


def test_version_and_help(rt):
    r = rt.ok("--version")
    assert "pier-runtime version" in r.out
    assert "spec: 1." in r.out
    r = rt.ok("help")
    for cmd in ("create", "start", "run", "state", "kill", "delete", "exec", "list", "ps",
                "pause", "resume", "update", "features", "spec"):
        assert cmd in r.out, f"help does not mention {cmd}"


def test_spec_writes_default_config(rt, tmp_path):
    r = rt.ok("spec", "--bundle", tmp_path)
    cfg = json.loads((tmp_path / "config.json").read_text())
    assert cfg["ociVersion"].startswith("1.")
    assert cfg["root"]["path"] == "rootfs"
    types = {n["type"] for n in cfg["linux"]["namespaces"]}
    assert {"pid", "mount", "network", "ipc", "uts"} <= types
    # A second spec must not overwrite the existing file.
    before = (tmp_path / "config.json").read_text()
    r = rt.fails("spec", "--bundle", tmp_path)
    assert "exists" in r.err
    assert (tmp_path / "config.json").read_text() == before


def test_spec_rootless(rt, tmp_path):
    rt.ok("spec", "--rootless", "--bundle", tmp_path)
    cfg = json.loads((tmp_path / "config.json").read_text())
    types = {n["type"] for n in cfg["linux"]["namespaces"]}
    assert "user" in types
    assert cfg["linux"].get("uidMappings"), "rootless spec has no uidMappings"


def test_features(rt):
    f = json.loads(rt.ok("features").out)
    assert set(f["hooks"]) >= {"prestart", "createRuntime", "createContainer", "startContainer",
                               "poststart", "poststop"}
    assert "user" in f["linux"]["namespaces"]
    assert "CAP_SYS_ADMIN" in f["linux"]["capabilities"]
    assert f["linux"]["seccomp"]["enabled"] is True


def test_lifecycle_create_start_state_kill_delete(rt, make_bundle, tmp_path):
    b = make_bundle(LONG)
    pidfile = tmp_path / "init.pid"
    r = rt.create("c1", b, "--pid-file", pidfile)
    assert r.rc == 0, r
    st = rt.state("c1")
    # OCI runtime-spec "state": these five are required.
    for key in ("ociVersion", "id", "status", "pid", "bundle"):
        assert key in st, f"state lacks {key}: {st}"
    assert st["id"] == "c1"
    assert st["status"] == "created"
    assert st["bundle"] == str(b.path)
    pid = st["pid"]
    assert pid > 0 and alive(pid)
    assert int(pidfile.read_text().strip()) == pid
    # The init has not run the user's program yet.
    assert "busybox" not in os.readlink(f"/proc/{pid}/exe")

    rt.ok("start", "c1")
    assert rt.status("c1") == "running"
    wait_until(lambda: "busybox" in os.readlink(f"/proc/{pid}/exe"), 5,
               what="init to exec busybox")
    # SIGTERM by name: the trap makes the shell exit.
    rt.ok("kill", "c1", "TERM")
    rt.wait_status("c1", "stopped")
    st = rt.state("c1")
    assert st["status"] == "stopped"
    rt.ok("delete", "c1")
    r = rt("state", "c1")
    assert r.rc != 0
    assert not (Path(rt.root) / "c1").exists()


def test_kill_by_number_and_sigkill(rt, make_bundle):
    # No handler for TERM: pid 1 of a pid namespace ignores it; KILL always works.
    b = make_bundle(("sh", "-c", "while :; do sleep 0.1; done"))
    pid = rt.start_container("k1", b)
    rt.ok("kill", "k1", "15")
    time.sleep(0.3)
    assert rt.status("k1") == "running", "init without a TERM handler died of SIGTERM"
    rt.ok("kill", "k1", "9")
    rt.wait_status("k1", "stopped")
    assert not alive(pid)


def test_kill_sig_prefixed_name(rt, make_bundle):
    b = make_bundle(("sh", "-c", "trap 'exit 0' USR1; while :; do sleep 0.1; done"))
    rt.start_container("k2", b)
    time.sleep(0.2)
    rt.ok("kill", "k2", "SIGUSR1")
    rt.wait_status("k2", "stopped")


def test_kill_default_signal_is_term(rt, make_bundle):
    b = make_bundle(LONG)
    rt.start_container("k3", b)
    time.sleep(0.2)
    rt.ok("kill", "k3")
    rt.wait_status("k3", "stopped")


def test_kill_all(rt, make_bundle):
    # pid 1 (sh without a TERM handler) ignores SIGTERM; its children do
    # not.  Only --all reaches them.
    b = make_bundle(("sh", "-c", "sleep 100 & sleep 101 & while :; do sleep 0.1; done"))
    init = rt.start_container("ka", b)
    cg = rt.cgpath("ka")

    def sleepers():
        out = []
        for p in read(cgroup_file("pids", cg, "cgroup.procs")).split():
            try:
                if Path(f"/proc/{p}/cmdline").read_bytes().split(b"\0")[1:2] in ([b"100"], [b"101"]):
                    out.append(int(p))
            except (OSError, IndexError):
                pass
        return out

    wait_until(lambda: len(sleepers()) == 2, 5, what="two sleepers in the cgroup")
    pids = sleepers()
    rt.ok("kill", "ka", "TERM")
    time.sleep(0.3)
    assert all(alive(p) for p in pids), "SIGTERM without --all reached the children"
    rt.ok("kill", "--all", "ka", "TERM")
    wait_until(lambda: not any(alive(p) for p in pids), 5, what="the children to die of SIGTERM")
    assert alive(init) and rt.status("ka") == "running"
    rt.ok("kill", "--all", "ka", "KILL")
    rt.wait_status("ka", "stopped")


def test_delete_force_running(rt, make_bundle):
    b = make_bundle(("sh", "-c", "while :; do sleep 0.1; done"))
    pid = rt.start_container("df", b)
    cg = rt.cgpath("df")
    r = rt.fails("delete", "df")
    assert "running" in r.err or "force" in r.err
    assert rt.status("df") == "running"
    rt.ok("delete", "--force", "df")
    assert not alive(pid)
    assert rt("state", "df").rc != 0
    assert not cgroup_file("memory", cg, "").exists()


def test_delete_created_container(rt, make_bundle):
    # runtime-spec: deleting a container that is not stopped MUST fail and
    # leave it alone (runc deviates for `created`; pier follows the spec).
    b = make_bundle(LONG)
    rt.create("dc", b)
    pid = rt.state("dc")["pid"]
    r = rt.fails("delete", "dc")
    assert "created" in r.err and "force" in r.err, r.err
    assert rt.status("dc") == "created" and alive(pid)
    rt.ok("delete", "--force", "dc")
    wait_until(lambda: not alive(pid), 5, what="created init to go away")
    assert rt("state", "dc").rc != 0


def test_list_formats(rt, make_bundle):
    b1 = make_bundle(LONG)
    b2 = make_bundle(LONG)
    rt.create("la", b1)
    rt.start_container("lb", b2)
    r = rt.ok("list")
    lines = r.out.strip().splitlines()
    assert lines[0].split()[:3] == ["ID", "PID", "STATUS"]
    rows = {l.split()[0]: l.split() for l in lines[1:]}
    assert set(rows) == {"la", "lb"}
    assert rows["la"][2] == "created"
    assert rows["lb"][2] == "running"
    assert str(b2.path) in rows["lb"]
    q = rt.ok("list", "-q").out.split()
    assert sorted(q) == ["la", "lb"]
    j = json.loads(rt.ok("list", "--format", "json").out)
    by_id = {c["id"]: c for c in j}
    assert set(by_id) == {"la", "lb"}
    assert by_id["lb"]["status"] == "running"
    assert by_id["la"]["pid"] == rt.state("la")["pid"]
    assert by_id["lb"]["bundle"] == str(b2.path)


def test_list_empty_root(rt):
    r = rt.ok("list", "-q")
    assert r.out.strip() == ""
    assert json.loads(rt.ok("list", "--format", "json").out) in ([], None)


def test_ps(rt, make_bundle):
    b = make_bundle(("sh", "-c", "sleep 123 & while :; do sleep 0.1; done"))
    init = rt.start_container("ps1", b)
    cg = rt.cgpath("ps1")
    wait_until(lambda: any(Path(f"/proc/{p}/cmdline").read_bytes().startswith(b"sleep\x00123")
                           for p in map(int, cgroup_file("pids", cg, "cgroup.procs").read_text().split())
                           if alive(p)), 5, what="sleep 123 to start")
    pids = json.loads(rt.ok("ps", "--format", "json", "ps1").out)
    assert init in pids
    assert len(pids) >= 2
    for p in pids:
        assert alive(p)
    table = rt.ok("ps", "ps1").out.splitlines()
    assert "PID" in table[0]
    assert any("sleep 123" in l for l in table[1:]), table
    # Nothing from outside the container.
    assert not any(f" {os.getpid()} " in l for l in table[1:])


def test_pause_resume(rt, make_bundle, tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    b = make_bundle(("sh", "-c", "i=0; while :; do i=$((i+1)); echo $i > /out/n; sleep 0.05; done"))
    b.add_mount("/out", "bind", out, ["rbind", "rw"])
    rt.start_container("pz", b)
    n = out / "n"
    wait_until(lambda: n.exists() and n.read_text().strip(), 5, what="counter to start")
    rt.ok("pause", "pz")
    assert rt.status("pz") == "paused"
    time.sleep(0.2)
    v1 = n.read_text()
    time.sleep(0.6)
    v2 = n.read_text()
    assert v1 == v2, f"counter moved while paused: {v1!r} -> {v2!r}"
    # Pause twice is an error; list shows paused too.
    rt.fails("pause", "pz")
    rows = {c["id"]: c for c in json.loads(rt.ok("list", "--format", "json").out)}
    assert rows["pz"]["status"] == "paused"
    rt.ok("resume", "pz")
    assert rt.status("pz") == "running"
    wait_until(lambda: n.read_text() != v2, 5, what="counter to move after resume")
    rt.fails("resume", "pz")


def test_delete_force_paused(rt, make_bundle):
    b = make_bundle(("sh", "-c", "while :; do sleep 0.1; done"))
    pid = rt.start_container("dp", b)
    rt.ok("pause", "dp")
    rt.ok("delete", "--force", "dp")
    wait_until(lambda: not alive(pid), 5, what="paused init to die")


def test_kill_paused_container(rt, make_bundle):
    b = make_bundle(("sh", "-c", "while :; do sleep 0.1; done"))
    pid = rt.start_container("kp", b)
    rt.ok("pause", "kp")
    rt.ok("kill", "kp", "KILL")
    wait_until(lambda: not alive(pid), 5, what="paused init to die of SIGKILL")
    rt.wait_status("kp", "stopped")


def test_run_foreground_exit_code(rt, make_bundle):
    b = make_bundle(("sh", "-c", "echo out; echo err >&2; exit 3"))
    r = rt.run("r1", b)
    assert r.rc == 3, r
    assert r.out == "out\n"
    assert "err" in r.err
    # run without --keep removes the container.
    assert rt("state", "r1").rc != 0
    assert not (Path(rt.root) / "r1").exists()


def test_run_killed_by_signal(rt, make_bundle, tmp_path):
    # pid 1 cannot SIGKILL itself in its namespace: kill it from outside.
    b = make_bundle(("sh", "-c", "while :; do sleep 0.1; done"))
    b.save()
    rt.ids.add("r2")
    with open(tmp_path / "out", "w") as out:
        p = subprocess.Popen(rt.cmd("run", "--bundle", b.path, "r2"), stdout=out, stderr=out,
                             stdin=subprocess.DEVNULL)
        try:
            wait_until(lambda: rt("state", "r2").rc == 0 and rt.status("r2") == "running", 10,
                       what="run to start the container")
            rt.ok("kill", "r2", "KILL")
            rc = p.wait(timeout=20)
        finally:
            if p.poll() is None:
                p.kill()
                p.wait()
    assert rc == 128 + 9, (rc, (tmp_path / "out").read_text())


def test_run_forwards_signals(rt, make_bundle, tmp_path):
    # A foreground run passes SIGTERM on to the container's init.
    b = make_bundle(("sh", "-c", "trap 'echo got-term; exit 42' TERM; while :; do sleep 0.1; done"))
    b.save()
    rt.ids.add("r3")
    with open(tmp_path / "out", "w") as out:
        p = subprocess.Popen(rt.cmd("run", "--bundle", b.path, "r3"), stdout=out, stderr=out,
                             stdin=subprocess.DEVNULL)
        try:
            wait_until(lambda: rt("state", "r3").rc == 0 and rt.status("r3") == "running", 10,
                       what="run to start the container")
            time.sleep(0.3)
            p.send_signal(signal.SIGTERM)
            rc = p.wait(timeout=20)
        finally:
            if p.poll() is None:
                p.kill()
                p.wait()
    assert rc == 42, (rc, (tmp_path / "out").read_text())
    assert "got-term" in (tmp_path / "out").read_text()


def test_run_keep(rt, make_bundle):
    b = make_bundle(("sh", "-c", "exit 0"))
    r = rt.run("rk", b, "--keep")
    assert r.rc == 0, r
    assert rt.status("rk") == "stopped"
    rt.ok("delete", "rk")


def test_run_detached(rt, make_bundle, tmp_path):
    b = make_bundle(("sh", "-c", "while :; do sleep 0.1; done"))
    pidfile = tmp_path / "p"
    r = rt.run("rd", b, "-d", "--pid-file", pidfile)
    assert r.rc == 0, r
    st = rt.state("rd")
    assert st["status"] == "running"
    assert int(pidfile.read_text()) == st["pid"]
    rt.ok("kill", "rd", "KILL")
    rt.wait_status("rd", "stopped")
    rt.ok("delete", "rd")


def test_start_twice_fails(rt, make_bundle):
    b = make_bundle(LONG)
    rt.start_container("s2", b)
    r = rt.fails("start", "s2")
    assert "running" in r.err or "not created" in r.err
    assert rt.status("s2") == "running"


# ------------------------------------------------------------------ exec


@pytest.fixture
def running(rt, make_bundle):
    b = make_bundle(("sh", "-c", "while :; do sleep 0.1; done"))
    b.config["process"]["env"].append("FROMCONFIG=yes")
    rt.start_container("ex", b)
    return "ex"


def test_exec_output_and_exit_code(rt, running):
    r = rt.exec(running, "sh", "-c", "echo hello; echo oops >&2; exit 7")
    assert r.rc == 7, r
    assert r.out == "hello\n"
    assert "oops" in r.err
    assert rt.exec(running, "true").rc == 0


def test_exec_sees_container(rt, running):
    init = rt.state(running)["pid"]
    r = rt.ok("exec", running, "sh", "-c", "cat /proc/1/cmdline | tr '\\0' ' '; echo; hostname")
    lines = r.out.splitlines()
    assert lines[0].startswith("sh -c while"), lines
    assert lines[1] == "pier"
    # Same namespaces as the init (checked from the host).
    assert Path(f"/proc/{init}/ns/pid").resolve() != Path("/proc/self/ns/pid").resolve()


def test_exec_env(rt, running):
    r = rt.ok("exec", "-e", "FOO=bar", "-e", "PATH=/bin", running, "sh", "-c",
              'echo "$FOO|$PATH|$FROMCONFIG"')
    assert r.out.strip() == "bar|/bin|yes"


def test_exec_cwd(rt, running):
    r = rt.ok("exec", "--cwd", "/tmp", running, "pwd")
    assert r.out.strip() == "/tmp"


def test_exec_user(rt, running):
    r = rt.ok("exec", "-u", "1000:2000", running, "id")
    assert "uid=1000" in r.out and "gid=2000" in r.out, r.out
    r = rt.ok("exec", "-u", "1000:1000", "-g", "3000", running, "id", "-G")
    assert sorted(r.out.split()) == ["1000", "3000"], r.out


def test_exec_detach_pid_file(rt, running, tmp_path):
    pf = tmp_path / "exec.pid"
    r = rt.ok("exec", "-d", "--pid-file", pf, running, "sleep", "77")
    pid = int(pf.read_text())
    rt.pids.add(pid)
    assert alive(pid)
    assert Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")[:2] == [b"sleep", b"77"]
    ps = json.loads(rt.ok("ps", "--format", "json", running).out)
    assert pid in ps


def test_exec_process_json(rt, running, tmp_path):
    proc = {
        "terminal": False,
        "user": {"uid": 1000, "gid": 1000},
        "args": ["sh", "-c", 'echo "$X $(pwd) $(id -u)"; exit 5'],
        "env": ["PATH=/bin", "X=fromjson"],
        "cwd": "/etc",
    }
    pj = tmp_path / "process.json"
    pj.write_text(json.dumps(proc))
    r = rt.exec(running, opts=("-p", pj))
    assert r.rc == 5, r
    assert r.out.strip() == "fromjson /etc 1000"


def test_exec_missing_command(rt, running):
    r = rt.exec(running, "no-such-command")
    assert r.rc != 0
    assert "not found" in r.err


def test_exec_into_stopped_container_fails(rt, make_bundle):
    b = make_bundle(("sh", "-c", "exit 0"))
    rt.start_container("es", b)
    rt.wait_status("es", "stopped")
    r = rt.fails("exec", "es", "true")


def test_exec_into_missing_container(rt):
    r = rt.fails("exec", "nope", "true")
    assert "nope" in r.err


def test_log_json(rt, tmp_path):
    log = tmp_path / "log.json"
    r = rt("state", "missing-one", global_args=("--debug", "--log", log, "--log-format", "json"))
    assert r.rc != 0
    lines = [l for l in log.read_text().splitlines() if l.strip()]
    assert lines, "nothing logged"
    recs = [json.loads(l) for l in lines]
    assert any(rec.get("level") == "error" and "missing-one" in rec.get("msg", "") for rec in recs), recs
