"""Containers: pier run and docker's container verbs, driven as a user
drives them, on a busybox image the tests import themselves.  Every test
gets its own store and runroot; at the end every container is removed
and nothing may be left: no monitor, no mount, no cgroup."""
import io
import json
import os
import re
import stat
import subprocess
import tarfile
import time
from pathlib import Path

import pytest

from conftest import alive, run_captured, wait_until

PASSWD = "root:x:0:0:root:/root:/bin/sh\nuser:x:1000:1000::/home/user:/bin/sh\n"
GROUP = "root:x:0:\nusers:x:100:user\nstaff:x:50:user\n"


@pytest.fixture(scope="session")
def image_tar(rootfs_template, tmp_path_factory):
    """The busybox rootfs with /etc/passwd and /etc/group, as a tar."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as t:
        t.add(rootfs_template, arcname=".")
        for name, text in (("etc/passwd", PASSWD), ("etc/group", GROUP)):
            info = tarfile.TarInfo(name)
            info.size = len(text)
            info.mode = 0o644
            t.addfile(info, io.BytesIO(text.encode()))
    p = tmp_path_factory.mktemp("image") / "busybox.tar"
    p.write_bytes(buf.getvalue())
    return p


class Pier:
    def __init__(self, exe, root, runroot):
        self.exe, self.root, self.runroot = exe, root, runroot

    def argv(self, *args):
        return [self.exe, "--root", str(self.root), "--runroot", str(self.runroot)] + [str(a) for a in args]

    def __call__(self, *args, input=None, timeout=60):
        return run_captured(self.argv(*args), input=input, timeout=timeout)

    def ok(self, *args, **kw):
        r = self(*args, **kw)
        assert r.rc == 0, r
        return r.out

    def inspect(self, name):
        return json.loads(self.ok("inspect", name))[0]


def leftovers(p, ids):
    """What containers ids left on the host."""
    found = []
    mounts = Path("/proc/self/mountinfo").read_text()
    if str(p.root) in mounts:
        found.append("mount under the store")
    for cid in ids:
        for hier in Path("/sys/fs/cgroup").iterdir():
            if (hier / "pier" / cid).exists():
                found.append(f"cgroup {hier}/pier/{cid}")
        if (p.root / "containers" / cid).exists():
            found.append(f"directory of {cid}")
    mon = p.runroot / "monitors"
    if mon.exists() and list(mon.iterdir()):
        found.append(f"monitor sockets {list(mon.iterdir())}")
    for pid in os.listdir("/proc"):
        if pid.isdigit():
            try:
                cmd = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
            except OSError:
                continue
            if len(cmd) > 3 and cmd[1] == b"__monitor" and cmd[2] == str(p.root).encode() and alive(int(pid)):
                found.append(f"monitor {pid}")
    return found


@pytest.fixture
def pier(runtime_path, tmp_path, image_tar):
    exe = os.path.join(os.path.dirname(runtime_path), "pier")
    p = Pier(exe, tmp_path / "store", tmp_path / "run")
    r = p("import", "-c", 'CMD ["sh"]', image_tar, "busybox")
    assert r.rc == 0, r
    yield p
    ids = p("ps", "-aq", "--no-trunc").out.split()
    if ids:
        p("rm", "-f", *ids)
    assert p("ps", "-aq").out.split() == []
    assert leftovers(p, ids) == []


def test_run_foreground_output_and_exit_codes(pier):
    r = pier("run", "busybox", "sh", "-c", "echo out; echo err >&2; exit 3")
    assert r.rc == 3 and r.out == "out\n" and r.err == "err\n", r
    r = pier("run", "busybox", "no-such-command")
    assert r.rc == 127 and "executable file not found" in r.err, r
    r = pier("run", "busybox", "/etc/passwd")
    assert r.rc == 126, r
    r = pier("run", "--pull", "never", "no-such-image")
    assert r.rc == 125 and "No such image" in r.err, r
    r = pier("run", "127.0.0.1:9/no-such-image")
    assert r.rc == 125 and "connection refused" in r.err, r
    r = pier("run", "--no-such-flag", "busybox")
    assert r.rc == 125 and "unknown flag" in r.err.lower() or "no-such-flag" in r.err, r
    # The failed one stays, as docker keeps it: Created, with the code.
    rows = pier.ok("ps", "-a", "--format", "{{.Command}}|{{.Status}}").splitlines()
    assert '"/etc/passwd"|Created' in rows
    assert any(row.startswith('"sh -c \'echo out; ech') or row.startswith('"sh -c echo out; ech')
               for row in rows), rows
    assert any(re.fullmatch(r'"sh -c .*"\|Exited \(3\) .* ago', row) for row in rows), rows


def test_run_rm_leaves_nothing(pier):
    r = pier("run", "--rm", "--name", "gone", "busybox", "true")
    assert r.rc == 0, r
    assert pier("ps", "-aq").out == ""
    assert not list((pier.root / "containers").iterdir())


def test_detached_logs_stop_inspect(pier):
    cid = pier.ok("run", "-d", "--name", "ticker", "busybox", "sh", "-c",
                  "trap 'echo bye; exit 0' TERM; echo start; echo warn >&2; "
                  "while true; do sleep 0.1; done").strip()
    assert re.fullmatch(r"[0-9a-f]{64}", cid)
    wait_until(lambda: "start" in pier("logs", "ticker").out, what="log output")
    r = pier("logs", "ticker")
    assert r.out == "start\n" and r.err == "warn\n", r
    assert re.match(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z start$", pier.ok("logs", "-t", "ticker").strip())
    info = pier.inspect("ticker")
    st = info["State"]
    assert st["Status"] == "running" and st["Running"] and st["Pid"] > 0
    assert info["Name"] == "/ticker" and info["Id"] == cid
    assert info["Path"] == "sh" and info["Args"][0] == "-c"
    assert pier.ok("ps", "--format", "{{.Names}} {{.Status}}").startswith("ticker Up ")
    # Go templates as docker runs them: a table with docker's headers,
    # functions, conditions; inspect over the whole record.
    out = pier.ok("ps", "--format", "table {{.ID}}\t{{.Names}}\t{{.State}}")
    assert out.splitlines() == ["CONTAINER ID   NAMES     STATE", f"{cid[:12]}   ticker    running"], out
    assert pier.ok("ps", "--format", '{{if eq .State "running"}}{{upper .Names}}{{end}}') == "TICKER\n"
    assert json.loads(pier.ok("ps", "--format", "json"))["Names"] == "ticker"
    assert pier.ok("inspect", "--format", "{{.State.Status}} {{.State.Running}} {{len .Args}} {{index .Args 0}} "
                   "{{with .State}}{{if gt .Pid 0}}pid{{end}}{{end}} {{json .Path}}", "ticker") \
        == 'running true 2 -c pid "sh"\n'
    r = pier("ps", "--format", "{{.Names")
    assert r.rc == 125 and r.out == "" and "template parsing error: template: :1: unclosed action" in r.err, r
    assert pier.ok("inspect", "--format", "{{.State.Nope.Deeper}}", "ticker") == "<no value>\n"
    # A bad template is refused before anything is looked up.
    r = pier("inspect", "--format", "{{if}}{{end}}", "ticker", "nosuch")
    assert r.rc == 125 and r.out == "" and "No such" not in r.err and \
        "template parsing error: template: :1: missing value for if" in r.err, r
    r = pier("inspect", "--format", "{{.State.Status.X}}", "ticker")
    assert r.rc == 125 and r.out == "" and 'template: :1:8: executing "" at <.State.Status.X>: ' \
        "can't evaluate field X in type string" in r.err, r
    assert alive(st["Pid"])
    # The container's log is docker's json-file format.
    lines = Path(info["LogPath"]).read_text().splitlines()
    assert json.loads(lines[0])["log"] == "start\n" and json.loads(lines[0])["stream"] == "stdout"
    t0 = time.monotonic()
    assert pier.ok("stop", "ticker") == "ticker\n"
    assert time.monotonic() - t0 < 5  # the trap ended it, no 10 s wait
    st = pier.inspect("ticker")["State"]
    assert st["Status"] == "exited" and st["ExitCode"] == 0 and st["Pid"] == 0
    assert st["FinishedAt"] > st["StartedAt"]
    assert "bye" in pier.ok("logs", "ticker")
    # Started again: the same writable layer.
    pier.ok("start", "ticker")
    pier.ok("exec", "ticker", "sh", "-c", "echo kept > /kept")
    pier.ok("restart", "-t", "1", "ticker")
    assert pier.ok("exec", "ticker", "cat", "/kept") == "kept\n"
    assert pier.inspect("ticker")["State"]["Status"] == "running"


def test_stop_escalates_to_sigkill(pier):
    pier.ok("run", "-d", "--name", "stubborn", "busybox", "sleep", "1000")
    t0 = time.monotonic()
    pier.ok("stop", "-t", "1", "stubborn")
    assert time.monotonic() - t0 < 5
    st = pier.inspect("stubborn")["State"]
    assert st["ExitCode"] == 137 and st["Status"] == "exited"


def test_entrypoint_and_cmd_semantics(pier, image_tar):
    pier.ok("import", "-c", 'ENTRYPOINT ["echo", "ep"]', "-c", 'CMD ["default"]', image_tar, "epimg")
    assert pier.ok("run", "--rm", "epimg") == "ep default\n"
    assert pier.ok("run", "--rm", "epimg", "given") == "ep given\n"
    # --entrypoint drops the image's CMD.
    assert pier.ok("run", "--rm", "--entrypoint", "echo", "epimg") == "\n"
    assert pier.ok("run", "--rm", "--entrypoint", "echo", "epimg", "x") == "x\n"
    r = pier("run", "--rm", "--entrypoint", "", "epimg")
    assert r.rc == 125 and "no command specified" in r.err, r
    assert pier.ok("run", "--rm", "--entrypoint", "", "epimg", "echo", "plain") == "plain\n"
    # Shell form from an import --change is run through /bin/sh -c.
    pier.ok("import", "-c", "CMD echo $HOME from shell", image_tar, "shellimg")
    assert pier.ok("run", "--rm", "shellimg") == "/root from shell\n"


def test_user_workdir_env_hostname_labels(pier, image_tar, tmp_path):
    pier.ok("import", "-c", "USER user", "-c", "WORKDIR /tmp", "-c", "ENV A=image B=image",
            "-c", 'CMD ["sh"]', image_tar, "userimg")
    out = pier.ok("run", "--rm", "userimg", "sh", "-c", "id; pwd; echo $A $B")
    assert "uid=1000(user) gid=1000" in out and "groups=" in out and "100(users)" in out
    assert "/tmp\n" in out and "image image\n" in out
    envf = tmp_path / "env"
    envf.write_text("# comment\nB=file\nC=file\n")
    out = pier.ok("run", "--rm", "-u", "0:50", "-w", "/etc", "-e", "A=flag", "--env-file", envf,
                  "userimg", "sh", "-c", "id -u; id -g; pwd; echo $A $B $C")
    assert out == "0\n50\n/etc\nflag file file\n"
    r = pier("run", "--rm", "-u", "nobody-here", "userimg", "true")
    assert r.rc != 0 and "unable to find user nobody-here" in r.err, r
    out = pier.ok("run", "--rm", "-h", "box1", "busybox", "sh", "-c", "hostname; cat /etc/hostname; echo $HOSTNAME")
    assert out == "box1\nbox1\nbox1\n"
    assert pier.ok("run", "--rm", "--domainname", "example.org", "busybox", "cat",
                   "/proc/sys/kernel/domainname") == "example.org\n"
    pier.ok("create", "--name", "labelled", "-l", "tier=web", "-l", "flag", "busybox")
    assert pier.inspect("labelled")["Config"]["Labels"] == {"tier": "web", "flag": ""}
    assert pier.ok("ps", "-a", "--filter", "label=tier=web", "--format", "{{.Names}}") == "labelled\n"
    assert pier.ok("ps", "-a", "--filter", "label=tier=web", "--format",
                   '{{.Label "tier"}}|{{.Label "nope"}}|{{.Labels}}') == "web||tier=web,flag=\n"
    assert pier.ok("ps", "-a", "--filter", "label=tier=db", "--format", "{{.Names}}") == ""
    assert pier.ok("ps", "-a", "--filter", "status=created", "-q") == pier.inspect("labelled")["Id"][:12] + "\n"


def test_names_and_lookup(pier):
    cid = pier.ok("create", "--name", "one", "busybox").strip()
    r = pier("create", "--name", "one", "busybox")
    assert r.rc == 125 and 'The container name "/one" is already in use' in r.err, r
    r = pier("create", "--name", "bad name", "busybox")
    assert r.rc == 125 and "Invalid container name" in r.err, r
    assert pier.inspect(cid[:8])["Name"] == "/one"
    pier.ok("rename", "one", "two")
    assert pier.inspect(cid)["Name"] == "/two"
    r = pier("inspect", "one")
    assert r.rc == 1 and "No such object: one" in r.err, r
    r = pier("rm", "nope")
    assert r.rc == 1 and "No such container: nope" in r.err, r
    assert pier("rm", "-f", "nope").rc == 0
    # A random docker-style name when none is given.
    other = pier.ok("create", "busybox").strip()
    assert re.fullmatch(r"/[a-z]+_[a-z]+", pier.inspect(other)["Name"])


def test_exec(pier):
    pier.ok("run", "-d", "--name", "box", "-e", "FROM=ctr", "busybox", "sleep", "1000")
    r = pier("exec", "box", "sh", "-c", "echo $FROM $X; id -u; pwd; exit 4")
    assert r.rc == 4 and r.out == "ctr\n0\n/\n", r
    assert pier.ok("exec", "-e", "X=1", "-u", "user", "-w", "/tmp", "box", "sh", "-c",
                   "echo $X; id -u; pwd") == "1\n1000\n/tmp\n"
    assert pier.ok("exec", "-i", "box", "cat", input="through stdin\n") == "through stdin\n"
    r = pier("exec", "box", "no-such-cmd")
    assert r.rc == 127, r
    pier.ok("exec", "-d", "box", "sh", "-c", "sleep 0.2; touch /detached")
    wait_until(lambda: pier("exec", "box", "test", "-e", "/detached").rc == 0, what="detached exec")
    pier.ok("stop", "-t", "0", "box")
    r = pier("exec", "box", "true")
    assert r.rc != 0 and "is not running" in r.err, r


def test_stdin_and_tty(pier):
    assert pier.ok("run", "-i", "--rm", "busybox", "sh", "-c", "cat; echo done",
                   input="line 1\nline 2\n") == "line 1\nline 2\ndone\n"
    # Without -i the container's stdin is empty.
    assert pier.ok("run", "--rm", "busybox", "cat", input="ignored\n") == ""
    cmd = " ".join(pier.argv("run", "-it", "--rm", "busybox", "sh", "-c", "'tty; stty size; exit 5'"))
    p = subprocess.run(["script", "-qec", f"stty rows 33 cols 101; {cmd}", "/dev/null"],
                       capture_output=True, text=True, timeout=60)
    assert p.returncode == 5, p
    assert "/dev/pts/0" in p.stdout and "33 101" in p.stdout, p


def test_restart_policies(pier):
    pier.ok("run", "-d", "--name", "flaky", "--restart", "on-failure:2", "busybox", "sh", "-c", "exit 1")
    wait_until(lambda: pier.inspect("flaky")["State"]["Status"] == "exited"
               and pier.inspect("flaky")["RestartCount"] == 2, timeout=20, what="two restarts")
    assert pier.inspect("flaky")["State"]["ExitCode"] == 1
    pier.ok("run", "-d", "--name", "forever", "--restart", "always", "busybox", "sh", "-c", "sleep 0.2")
    wait_until(lambda: pier.inspect("forever")["RestartCount"] >= 2, timeout=20, what="restarts")
    pier.ok("stop", "-t", "1", "forever")
    n = pier.inspect("forever")["RestartCount"]
    time.sleep(1)
    info = pier.inspect("forever")
    assert info["State"]["Status"] == "exited" and info["RestartCount"] == n
    r = pier("run", "--rm", "--restart", "always", "busybox", "true")
    assert r.rc == 125 and "AutoRemove" in r.err, r
    r = pier("run", "--restart", "sometimes", "busybox", "true")
    assert r.rc == 125 and "invalid restart policy" in r.err, r


def monitors():
    """(pid, argv) of every pier monitor on the machine."""
    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                argv = Path("/proc", d, "cmdline").read_bytes().split(b"\0")
            except OSError:
                continue
            if b"__monitor" in argv:
                yield int(d), argv


def monitor_pid(cid):
    """The pid of the monitor of container cid (a process this test made)."""
    return next((pid for pid, argv in monitors() if cid.encode() in argv), None)


def test_containers_with_always_or_unless_stopped_run_again_after_a_reboot(pier):
    """As dockerd at its start: after the machine went down, the first pier
    starts the containers with --restart always, and unless-stopped ones
    the user did not stop; the others stay exited."""
    ids = {}
    for name, policy in (("ra", "always"), ("ru", "unless-stopped"), ("rs", "unless-stopped"), ("rn", "no")):
        ids[name] = pier.ok("run", "-d", "--name", name, "--restart", policy, "busybox", "sleep", "1000").strip()
    pier.ok("stop", "-t", "1", "rs")
    old = {}
    # The power goes: every process of the containers dies at once (their
    # mounts live in their monitors' namespaces) and so does this boot (its
    # id, in the runroot).
    for name in ("ra", "ru", "rn"):
        old[name] = pier.inspect(name)["State"]["Pid"]
        mon = monitor_pid(ids[name])
        assert mon, name
        os.kill(mon, 9)
        os.kill(old[name], 9)
        wait_until(lambda: not alive(mon) and not alive(old[name]), timeout=10, what="the kill")
    (pier.runroot / "boot-id").unlink()
    ps = pier.ok("ps", "--format", "{{.Names}} {{.Status}}")
    running = {line.split()[0] for line in ps.splitlines()}
    assert running == {"ra", "ru"}, ps
    for name in ("ra", "ru"):
        st = pier.inspect(name)["State"]
        assert st["Running"] and st["Pid"] not in (0, old[name]), st
    for name in ("rs", "rn"):
        assert pier.inspect(name)["State"]["Status"] == "exited"
    # Once per boot: a later pier leaves things as they are.
    pier.ok("stop", "-t", "1", "ra")
    pier.ok("ps")
    assert pier.inspect("ra")["State"]["Status"] == "exited"


def test_resource_limits_are_enforced(pier):
    cid = pier.ok("run", "-d", "--memory", "64m", "--pids-limit", "20", "--cpus", "0.5",
                  "--cpu-shares", "512", "busybox", "sleep", "1000").strip()
    base = Path("/sys/fs/cgroup")
    if (base / "memory" / "pier" / cid).is_dir():  # v1 controllers (hybrid or v1)
        assert (base / "memory/pier" / cid / "memory.limit_in_bytes").read_text().strip() == str(64 << 20)
        assert (base / "pids/pier" / cid / "pids.max").read_text().strip() == "20"
        assert (base / "cpu/pier" / cid / "cpu.cfs_quota_us").read_text().strip() == "50000"
        assert (base / "cpu/pier" / cid / "cpu.shares").read_text().strip() == "512"
    else:
        assert (base / "pier" / cid / "memory.max").read_text().strip() == str(64 << 20)
        assert (base / "pier" / cid / "pids.max").read_text().strip() == "20"
    # The fork limit holds inside.
    r = pier("exec", cid, "sh", "-c", "for i in $(seq 40); do sleep 5 & done; wait")
    assert "fork" in r.err.lower() or "resource" in r.err.lower() or r.rc != 0, r
    r = pier("run", "--rm", "--memory", "1m", "busybox", "true")
    assert r.rc == 125 and "Minimum memory limit allowed is 6MB" in r.err, r


def test_oom_kill_is_recorded(pier):
    r = pier("run", "--name", "hog", "--memory", "16m", "--memory-swap", "16m", "busybox",
             "sh", "-c", "tail /dev/zero")
    assert r.rc == 137, r
    st = pier.inspect("hog")["State"]
    assert st["OOMKilled"] is True and st["ExitCode"] == 137


def caps_of(pier, *flags):
    out = pier.ok("run", "--rm", *flags, "busybox", "sh", "-c", "grep -E '^(CapEff|Seccomp|NoNewPrivs):' /proc/self/status")
    return dict(line.split(":\t") for line in out.splitlines())


def test_security_defaults(pier):
    s = caps_of(pier)
    assert s["CapEff"] == "00000000a80425fb"  # docker's 14 default capabilities
    assert s["Seccomp"] == "2" and s["NoNewPrivs"] == "0"
    s = caps_of(pier, "--cap-drop", "ALL", "--cap-add", "chown")
    assert s["CapEff"] == "0000000000000001"
    s = caps_of(pier, "--security-opt", "seccomp=unconfined", "--security-opt", "no-new-privileges")
    assert s["Seccomp"] == "0" and s["NoNewPrivs"] == "1"
    # The default profile refuses what needs CAP_SYS_ADMIN.
    r = pier("run", "--rm", "busybox", "unshare", "-n", "true")
    assert r.rc != 0, r
    r = pier("run", "--rm", "--read-only", "busybox", "touch", "/x")
    assert r.rc != 0 and "Read-only file system" in r.err, r
    assert pier.ok("run", "--rm", "--read-only", "--tmpfs", "/scratch", "busybox", "sh", "-c",
                   "touch /scratch/x && echo ok") == "ok\n"
    r = pier("run", "--rm", "--cap-add", "NOT_A_CAP", "busybox", "true")
    assert r.rc == 125 and "NOT_A_CAP" in r.err, r
    out = pier.ok("run", "--rm", "busybox", "sh", "-c", "cat /proc/kcore 2>&1 | head -c 0; ls /sys/firmware | wc -l")
    assert out.strip() == "0"


def test_pause_unpause_kill_wait_top(pier):
    pier.ok("run", "-d", "--name", "pz", "busybox", "sh", "-c", "trap 'exit 9' USR1; while true; do sleep 0.1; done")
    pier.ok("pause", "pz")
    assert pier.inspect("pz")["State"]["Status"] == "paused"
    assert "(Paused)" in pier.ok("ps", "--format", "{{.Status}}")
    r = pier("pause", "pz")
    assert r.rc == 1 and "already paused" in r.err, r
    pier.ok("unpause", "pz")
    top = pier.ok("top", "pz").splitlines()
    assert "PID" in top[0] and any("sleep" in line or "sh -c" in line for line in top[1:])
    waiter = subprocess.Popen(pier.argv("wait", "pz"), stdout=subprocess.PIPE, text=True)
    time.sleep(0.3)
    pier.ok("kill", "-s", "USR1", "pz")
    assert waiter.communicate(timeout=20)[0] == "9\n"
    assert pier.ok("wait", "pz") == "9\n"
    r = pier("kill", "pz")
    assert r.rc == 1 and "is not running" in r.err, r


def test_rm_running_needs_force_and_image_in_use(pier, image_tar):
    pier.ok("run", "-d", "--name", "busy", "busybox", "sleep", "1000")
    r = pier("rm", "busy")
    assert r.rc == 1 and "stop the container before removing or force remove" in r.err, r
    r = pier("rmi", "busybox")
    assert r.rc == 1 and "container" in r.err and "must force" in r.err, r
    # The tag moves on: the container keeps its image, which shows as <none>.
    old = pier.inspect("busy")["Image"]
    pier.ok("import", "-c", 'CMD ["true"]', image_tar, "busybox")
    assert pier.ok("exec", "busy", "echo", "still here") == "still here\n"
    assert pier.ok("ps", "--format", "{{.Image}}") == old[7:19] + "\n"
    assert "<none>" in pier.ok("images")
    r = pier("rmi", old)
    assert r.rc == 1 and "being used by container" in r.err, r
    pier.ok("rm", "-f", "busy")
    assert pier.ok("rmi", old).startswith("Deleted: ")


def test_logs_tail_since_follow(pier):
    pier.ok("run", "--name", "lines", "busybox", "sh", "-c", "for i in 1 2 3 4 5; do echo $i; done")
    assert pier.ok("logs", "--tail", "2", "lines") == "4\n5\n"
    assert pier.ok("logs", "--since", "1h", "lines") == "1\n2\n3\n4\n5\n"
    assert pier.ok("logs", "--until", "1h", "lines") == ""
    r = pier("logs", "--since", "yesterday", "lines")
    assert r.rc == 125 and "yesterday" in r.err, r
    pier.ok("run", "-d", "--name", "slow", "busybox", "sh", "-c", "echo a; sleep 0.5; echo b")
    t0 = time.monotonic()
    assert pier.ok("logs", "-f", "slow") == "a\nb\n"
    assert time.monotonic() - t0 < 10
    r = pier("run", "--log-driver", "none", "--name", "quiet", "busybox", "echo", "x")
    assert r.rc == 0 and r.out == "x\n", r
    r = pier("logs", "quiet")
    assert r.rc == 1 and "does not support reading" in r.err, r


def test_monitor_crash_is_reconciled(pier):
    pier.ok("run", "-d", "--name", "orphan", "busybox", "sleep", "1000")
    info = pier.inspect("orphan")
    mon = None
    for pid in os.listdir("/proc"):
        if pid.isdigit():
            try:
                cmd = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
            except OSError:
                continue
            if len(cmd) > 4 and cmd[1] == b"__monitor" and cmd[4] == info["Id"].encode():
                mon = int(pid)
    assert mon
    os.kill(mon, 9)
    wait_until(lambda: not alive(mon), what="monitor gone")
    st = pier.inspect("orphan")["State"]
    assert st["Status"] == "exited" and st["ExitCode"] == 255
    wait_until(lambda: not alive(info["State"]["Pid"]), what="container killed")


def test_container_prune(pier):
    pier.ok("run", "--name", "done1", "busybox", "true")
    pier.ok("create", "--name", "new1", "busybox")
    pier.ok("run", "-d", "--name", "live", "busybox", "sleep", "1000")
    out = pier.ok("container", "prune", "-f")
    assert out.startswith("Deleted Containers:\n") and "Total reclaimed space" in out
    assert pier.ok("ps", "-a", "--format", "{{.Names}}") == "live\n"


def test_fifty_concurrent_runs(pier):
    procs = [subprocess.Popen(pier.argv("run", "-d", "busybox", "sleep", "1000"), stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True) for _ in range(50)]
    outs = [p.communicate(timeout=120) for p in procs]
    assert all(p.returncode == 0 for p in procs), [o[1] for o in outs if o[1]]
    ids = {o[0].strip() for o in outs}
    assert len(ids) == 50
    names = pier.ok("ps", "--format", "{{.Names}}").split()
    assert len(names) == 50 and len(set(names)) == 50
    assert pier.ok("system", "check").strip().endswith("no problems found")
    df = {line.split()[0]: line.split()[1:3] for line in pier.ok("system", "df").splitlines()[1:]}
    assert df["Containers"] == ["50", "50"] and df["Images"] == ["1", "1"]


def test_privileged_gets_the_host_devices_all_capabilities_and_no_seccomp(pier):
    """--privileged as docker: the host's device nodes in the container's
    /dev, every capability, no seccomp filter, a writable /sys."""
    host = sorted(name for name in os.listdir("/dev")
                  if os.path.exists("/dev/" + name) and stat.S_ISBLK(os.lstat("/dev/" + name).st_mode))
    assert host, "the host has no block device"
    dev = host[0]
    rdev = os.lstat("/dev/" + dev).st_rdev
    want = "%x:%x" % (os.major(rdev), os.minor(rdev))
    script = ("stat -c %%t:%%T /dev/%s && grep -E '^(CapEff|Seccomp):' /proc/self/status "
              "&& mount -t tmpfs t /tmp && echo mounted" % dev)
    out = pier.ok("run", "--rm", "--privileged", "busybox", "sh", "-c", script)
    lines = out.split()
    assert lines[0] == want, out
    assert re.search(r"Seccomp:\s+0\b", out), out
    cap_eff = int(re.search(r"CapEff:\s+([0-9a-f]+)", out).group(1), 16)
    assert cap_eff & (1 << 21), out  # CAP_SYS_ADMIN
    assert "mounted" in out, out
    r = pier("run", "--rm", "busybox", "ls", "/dev/" + dev)
    assert r.rc != 0, r


def test_cli_killed_at_any_point_leaves_a_consistent_store(pier):
    """kill -9 of `pier run -d` at many points of its work: the store stays
    consistent (system check), every container that started keeps running
    and shows in ps, and the rest can be removed."""
    for delay_ms in (0, 1, 2, 3, 4, 5, 6, 8, 10, 12, 15, 20, 25, 30, 40, 60):
        p = subprocess.Popen(pier.argv("run", "-d", "busybox", "sleep", "1000"), stdout=subprocess.PIPE,
                             stderr=subprocess.DEVNULL)
        time.sleep(delay_ms / 1000)
        p.kill()
        p.wait()
    check = pier("system", "check")
    assert check.rc == 0 and check.out.strip().endswith("no problems found"), check
    ids = pier.ok("ps", "-aq", "--no-trunc").split()
    for cid in ids:
        st = pier.inspect(cid)["State"]
        if st["Status"] == "running":
            assert alive(st["Pid"]), st
        else:
            assert st["Status"] in ("created", "exited"), st
    running = pier.ok("ps", "-q", "--no-trunc").split()
    assert set(running) <= set(ids)
    if ids:
        pier.ok("rm", "-f", *ids)
    assert pier.ok("ps", "-aq") == ""
    check = pier("system", "check")
    assert check.rc == 0 and check.out.strip().endswith("no problems found"), check


@pytest.mark.parametrize("marked", ["by its name", "by a file (older piers)"])
def test_a_create_killed_after_its_record_is_finished_by_the_next_pier(pier, marked):
    """The container's directory is made in tmp/ (named with its id) and
    moved into place after the record's commit; when its creator died in
    between, the next pier finishes the move.  A removal killed before the
    record's delete is put back the same way."""
    cid = pier.ok("create", "busybox", "true").strip()
    dead = subprocess.Popen(["true"])
    dead.wait()
    if marked == "by its name":
        tmp_entry = pier.root / "tmp" / ("%d-1-00000000deadbeef-%s" % (dead.pid, cid))
        os.rename(pier.root / "containers" / cid, tmp_entry)
    else:
        tmp_entry = pier.root / "tmp" / ("%d-1-00000000deadbeef" % dead.pid)
        os.rename(pier.root / "containers" / cid, tmp_entry)
        (tmp_entry / ".pier-container-id").write_text(cid)
    assert pier.ok("ps", "-aq", "--no-trunc").split() == [cid]
    assert (pier.root / "containers" / cid / "upper").is_dir()
    assert not tmp_entry.exists() and not (pier.root / "containers" / cid / ".pier-container-id").exists()
    assert pier.ok("start", "-a", cid) == ""
    check = pier("system", "check")
    assert check.rc == 0 and check.out.strip().endswith("no problems found"), check


def waiting_monitors():
    """Monitors forked ahead of a container (`run`) still waiting for its id."""
    return [pid for pid, argv in monitors() if b"-" * 64 in argv]


def test_run_forks_its_monitor_first_and_a_failed_create_leaves_none(pier):
    """`run` forks the monitor before it records the container; the monitor
    shows the container's id once it has it, and is gone when a failed
    create (a name in use) returns, having made nothing."""
    cid = pier.ok("run", "-d", "--name", "first", "busybox", "sleep", "1000").strip()
    mon = monitor_pid(cid)
    assert mon and alive(mon), "the monitor's command line names its container"
    before = set(os.listdir(Path(pier.root) / "containers"))
    r = pier("run", "--name", "first", "busybox", "true")
    assert r.rc == 125 and "is already in use" in r.err, r
    assert waiting_monitors() == []
    assert set(os.listdir(Path(pier.root) / "containers")) == before
    assert os.listdir(Path(pier.root) / "tmp") == []
    assert pier.ok("ps", "-aq", "--no-trunc").split() == [cid]


def test_system_check_sees_no_problem_in_work_in_progress(pier):
    """Containers being created and removed (their directories in tmp/,
    their --rm removal finishing after `run` returned) are other piers'
    work in progress, not problems: `system check` while they happen, and
    right after `run --rm` returns, finds none and repairs nothing."""
    import threading
    stop = threading.Event()

    def churn():
        while not stop.is_set():
            pier.ok("run", "--rm", "--network", "none", "busybox", "true")

    t = threading.Thread(target=churn)
    t.start()
    try:
        for _ in range(15):
            check = pier("system", "check")
            assert check.rc == 0 and check.out.strip().endswith("no problems found"), check
    finally:
        stop.set()
        t.join()
    for _ in range(5):
        pier.ok("run", "--rm", "--network", "none", "busybox", "true")
        check = pier("system", "check")
        assert check.rc == 0 and check.out.strip().endswith("no problems found"), check
