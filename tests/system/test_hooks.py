"""OCI hooks: all six kinds, their order, the state they receive, failure
and timeout."""

import json
import os
import time
from pathlib import Path

from conftest import alive, wait_until

KINDS = ["prestart", "createRuntime", "createContainer", "startContainer", "poststart", "poststop"]


def host_hook(log, kind, extra=""):
    """A hook run with the host's /bin/sh: appends `kind` and its stdin."""
    script = f'state=$(cat); printf "%s %s\\n" "{kind}" "$state" >> "{log}"{extra}'
    return {"path": "/bin/sh", "args": ["sh", "-c", script]}


def test_all_hooks_order_and_state(rt, make_bundle, tmp_path):
    logdir = tmp_path / "hooklog"
    logdir.mkdir()
    log = logdir / "log"
    b = make_bundle(("sh", "-c", "trap 'exit 0' TERM; while :; do sleep 0.1; done"))
    # startContainer runs in the container after pivot_root: its path and
    # its log file are the container's (the log dir is bind mounted).
    b.add_mount("/hooklog", "bind", logdir, ["rbind", "rw"])
    hooks = {k: [host_hook(log, k)] for k in KINDS}
    hooks["startContainer"] = [{
        "path": "/bin/sh",
        "args": ["sh", "-c", 'state=$(cat); printf "%s %s\\n" startContainer "$state" >> /hooklog/log'],
    }]
    b.config["hooks"] = hooks
    b.config["annotations"] = {"org.pier.test": "hooks"}

    assert rt.create("hk", b).rc == 0
    pid = rt.state("hk")["pid"]
    after_create = [l.split(" ", 1)[0] for l in log.read_text().splitlines()]
    assert after_create == ["prestart", "createRuntime", "createContainer"], after_create
    rt.ok("start", "hk")
    wait_until(lambda: len(log.read_text().splitlines()) >= 5, 5, what="start hooks")
    after_start = [l.split(" ", 1)[0] for l in log.read_text().splitlines()]
    assert after_start == KINDS[:5], after_start
    rt.ok("kill", "hk", "TERM")
    rt.wait_status("hk", "stopped")
    rt.ok("delete", "hk")
    lines = log.read_text().splitlines()
    assert [l.split(" ", 1)[0] for l in lines] == KINDS, lines

    states = {l.split(" ", 1)[0]: json.loads(l.split(" ", 1)[1]) for l in lines}
    for kind, st in states.items():
        assert st["id"] == "hk", (kind, st)
        assert st["bundle"] == str(b.path), (kind, st)
        assert st.get("ociVersion"), (kind, st)
        assert st.get("annotations", {}).get("org.pier.test") == "hooks", (kind, st)
    for kind in ("prestart", "createRuntime", "createContainer", "startContainer", "poststart"):
        assert states[kind]["pid"] == pid, (kind, states[kind])
    # The create-phase hooks see `creating` (runc) or `created` (what the
    # OCI validation suite expects); never anything else.
    for kind in ("prestart", "createRuntime", "createContainer", "startContainer"):
        assert states[kind]["status"] in ("creating", "created"), (kind, states[kind])
    assert states["poststart"]["status"] == "running"
    assert states["poststop"]["status"] == "stopped"


def test_hook_args_and_env(rt, make_bundle, tmp_path):
    out = tmp_path / "env"
    b = make_bundle(("true",))
    b.config["hooks"] = {"prestart": [{
        "path": "/bin/sh",
        "args": ["sh", "-c", f'echo "$0 $1 $HOOKVAR" > {out}', "arg0", "arg1"],
        "env": ["HOOKVAR=set-by-config"],
    }]}
    r = rt.run("hkenv", b)
    assert r.rc == 0, r
    assert out.read_text().strip() == "arg0 arg1 set-by-config"


def test_create_container_hook_runs_in_container_namespaces(rt, make_bundle, tmp_path):
    out = tmp_path / "ns"
    b = make_bundle(("true",))
    b.config["hooks"] = {
        "createRuntime": [{"path": "/bin/sh", "args": ["sh", "-c", f"readlink /proc/self/ns/mnt > {out}.rt"]}],
        "createContainer": [{"path": "/bin/sh", "args": ["sh", "-c", f"readlink /proc/self/ns/mnt > {out}.cc"]}],
    }
    r = rt.run("hkns", b)
    assert r.rc == 0, r
    host_mnt = os.readlink("/proc/self/ns/mnt")
    assert Path(f"{out}.rt").read_text().strip() == host_mnt
    assert Path(f"{out}.cc").read_text().strip() != host_mnt


def test_failing_prestart_hook(rt, make_bundle, tmp_path):
    b = make_bundle(("sh", "-c", "sleep 100"))
    marker = tmp_path / "ran"
    b.config["hooks"] = {
        "prestart": [{"path": "/bin/sh", "args": ["sh", "-c", "exit 3"]}],
        "poststart": [{"path": "/bin/sh", "args": ["sh", "-c", f"touch {marker}"]}],
    }
    r = rt.create("hkfail", b)
    assert r.rc != 0, r
    assert "prestart" in r.err and "3" in r.err, r.err
    assert rt("state", "hkfail").rc != 0
    assert not marker.exists()
    # The rt fixture checks that no state, cgroup, mount or process is left.


def test_failing_hook_run(rt, make_bundle):
    b = make_bundle(("sh", "-c", "echo should-not-run"))
    b.config["hooks"] = {"createRuntime": [{"path": "/bin/false"}]}
    r = rt.run("hkfail2", b)
    assert r.rc != 0
    assert "should-not-run" not in r.out
    assert "createRuntime" in r.err


def test_missing_hook_binary(rt, make_bundle):
    b = make_bundle(("true",))
    b.config["hooks"] = {"prestart": [{"path": "/no/such/hook"}]}
    r = rt.run("hkmiss", b)
    assert r.rc != 0
    assert "/no/such/hook" in r.err


def test_hook_timeout(rt, make_bundle, tmp_path):
    b = make_bundle(("true",))
    pidf = tmp_path / "hookpid"
    b.config["hooks"] = {"prestart": [{
        "path": "/bin/sh", "args": ["sh", "-c", f"echo $$ > {pidf}; exec sleep 30"], "timeout": 1}]}
    t0 = time.monotonic()
    r = rt.create("hkto", b, timeout=25)
    took = time.monotonic() - t0
    assert r.rc != 0, r
    assert took < 10, f"timeout of 1s enforced only after {took:.1f}s"
    assert "timed out" in r.err or "timeout" in r.err, r.err
    hook_pid = int(pidf.read_text())
    wait_until(lambda: not alive(hook_pid), 5, what="timed-out hook to be killed")


def test_poststop_failure_does_not_block_delete(rt, make_bundle):
    b = make_bundle(("true",))
    b.config["hooks"] = {"poststop": [{"path": "/bin/false"}]}
    rt.start_container("hkps", b)
    rt.wait_status("hkps", "stopped")
    rt.ok("delete", "hkps")
    assert rt("state", "hkps").rc != 0


def test_poststart_failure_only_warns(rt, make_bundle):
    # runtime-spec: "If a poststart hook fails, the runtime MUST log a
    # warning, but the remaining hooks and lifecycle continue".
    b = make_bundle(("sh", "-c", "while :; do sleep 0.1; done"))
    b.config["hooks"] = {"poststart": [{"path": "/bin/false"}]}
    rt.create("hkpf", b)
    r = rt("start", "hkpf")
    assert r.rc == 0, r
    assert "poststart" in r.err, "no warning about the failed poststart hook"
    assert rt.status("hkpf") == "running"
