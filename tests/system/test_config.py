"""config.json honoured: process, root, mounts, namespaces, devices, sysctl."""

import os
import subprocess
import uuid
from pathlib import Path

import pytest

from conftest import read

ALL_CAPS = [
    "CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FOWNER", "CAP_FSETID", "CAP_KILL", "CAP_SETGID",
    "CAP_SETUID", "CAP_SETPCAP", "CAP_NET_BIND_SERVICE", "CAP_NET_RAW", "CAP_NET_ADMIN",
    "CAP_SYS_CHROOT", "CAP_SYS_ADMIN", "CAP_SYS_PTRACE", "CAP_MKNOD", "CAP_AUDIT_WRITE",
    "CAP_SETFCAP",
]


def run_ok(rt, bundle, cid="cfg"):
    r = rt.run(cid, bundle)
    assert r.rc == 0, r
    return r.out


def test_hostname(rt, make_bundle):
    b = make_bundle(("hostname",))
    b.config["hostname"] = "box-one"
    assert run_ok(rt, b).strip() == "box-one"
    assert os.uname().nodename != "box-one"


def test_env(rt, make_bundle):
    b = make_bundle(("env",))
    b.process["env"] = ["PATH=/bin:/usr/bin", "HELLO=world", "EMPTY=", "WITH_EQ=a=b"]
    env = dict(l.split("=", 1) for l in run_ok(rt, b).splitlines() if "=" in l)
    assert env["HELLO"] == "world"
    assert env["EMPTY"] == ""
    assert env["WITH_EQ"] == "a=b"
    assert env["PATH"] == "/bin:/usr/bin"
    # Nothing of the runtime's own environment leaks in.
    assert "PYTEST_CURRENT_TEST" not in env


def test_cwd(rt, make_bundle):
    b = make_bundle(("pwd",))
    b.process["cwd"] = "/etc"
    assert run_ok(rt, b).strip() == "/etc"


def test_cwd_created_if_missing(rt, make_bundle):
    b = make_bundle(("pwd",))
    b.config["root"]["readonly"] = False
    b.process["cwd"] = "/work/here"
    assert run_ok(rt, b).strip() == "/work/here"


def test_user_uid_gid_additional_gids(rt, make_bundle):
    b = make_bundle(("sh", "-c", "id -u; id -g; id -G; id"))
    b.process["user"] = {"uid": 1000, "gid": 1000, "additionalGids": [2000, 3000]}
    lines = run_ok(rt, b).splitlines()
    assert lines[0] == "1000"
    assert lines[1] == "1000"
    groups = set(lines[2].split())
    assert {"2000", "3000"} <= groups, lines
    assert "0" not in groups, f"supplementary group root kept: {lines}"
    assert "uid=1000(user)" in lines[3] and "gid=1000(user)" in lines[3]


def test_user_status_ids(rt, make_bundle):
    # Real, effective, saved and fs ids all switched.
    b = make_bundle(("sh", "-c", "grep -E '^(Uid|Gid|Groups):' /proc/self/status"))
    b.process["user"] = {"uid": 1234, "gid": 5678}
    st = {l.split(":")[0]: l.split(":")[1].split() for l in run_ok(rt, b).splitlines()}
    assert st["Uid"] == ["1234"] * 4
    assert st["Gid"] == ["5678"] * 4
    assert st["Groups"] == []


def test_readonly_root(rt, make_bundle):
    b = make_bundle(("sh", "-c", "touch /newfile && echo wrote; touch /tmp/x && echo wrote-tmp; true"))
    b.config["root"]["readonly"] = True
    b.set_caps(ALL_CAPS)
    r = rt.run("ro", b)
    assert r.rc == 0, r
    assert "wrote" not in r.out
    assert "Read-only file system" in r.err
    assert not (b.rootfs / "newfile").exists()


def test_writable_root(rt, make_bundle):
    b = make_bundle(("sh", "-c", "echo data > /newfile"))
    b.config["root"]["readonly"] = False
    run_ok(rt, b)
    assert (b.rootfs / "newfile").read_text() == "data\n"


def test_masked_paths(rt, make_bundle):
    # This kernel has no /proc/kcore; mask it when present, and always check
    # /proc/keys, /proc/timer_list (files) and /proc/acpi, /sys/firmware (dirs).
    files = ["/proc/keys", "/proc/timer_list"] + (["/proc/kcore"] if os.path.exists("/proc/kcore") else [])
    dirs = ["/proc/acpi", "/sys/firmware"]
    for p in files + dirs:
        assert os.path.exists(p), f"{p} missing on the host: pick another path"
    script = "; ".join([f"echo {p} $(cat {p} | wc -c)" for p in files]
                       + [f"echo {d} $(ls -A {d} | wc -l)" for d in dirs])
    b = make_bundle(("sh", "-c", script))
    b.set_caps(ALL_CAPS + ["CAP_SYS_RAWIO"])
    for p in files + dirs:
        if p not in b.linux["maskedPaths"]:
            b.linux["maskedPaths"].append(p)
    got = dict(l.split() for l in run_ok(rt, b).splitlines())
    for p in files + dirs:
        assert got[p] == "0", f"{p} not masked: {got}"
    # Control: unmasked, the same paths show content.
    b2 = make_bundle(("sh", "-c", script))
    b2.set_caps(ALL_CAPS + ["CAP_SYS_RAWIO"])
    b2.linux["maskedPaths"] = []
    got = dict(l.split() for l in run_ok(rt, b2, "unmasked").splitlines())
    assert got["/proc/timer_list"] != "0" and got["/sys/firmware"] != "0", got


def test_readonly_paths(rt, make_bundle):
    script = ("echo ctr > /proc/sys/kernel/hostname && echo wrote; hostname; "
              "grep ' /proc/sys ' /proc/self/mountinfo")
    b = make_bundle(("sh", "-c", script))
    b.set_caps(ALL_CAPS)
    r = rt.run("rop", b)
    assert r.rc == 0, r
    lines = r.out.splitlines()
    assert "wrote" not in lines
    assert lines[0] != "ctr"
    assert any(" ro," in l or " ro " in l for l in lines[1:]), r.out
    # Control: without readonlyPaths the same write works (uts is namespaced).
    b2 = make_bundle(("sh", "-c", script))
    b2.set_caps(ALL_CAPS)
    b2.linux["readonlyPaths"] = []
    r = rt.run("rop2", b2)
    assert r.out.splitlines()[:2] == ["wrote", "ctr"], r


def test_capabilities(rt, make_bundle):
    b = make_bundle(("grep", "^Cap", "/proc/self/status"))
    caps = ["CAP_CHOWN", "CAP_NET_RAW", "CAP_SYS_ADMIN"]
    b.process["capabilities"] = {"bounding": caps, "effective": caps, "permitted": caps,
                                 "inheritable": []}
    st = {l.split(":")[0]: int(l.split()[1], 16) for l in run_ok(rt, b).splitlines()}
    want = (1 << 0) | (1 << 13) | (1 << 21)
    assert st["CapBnd"] == want, hex(st["CapBnd"])
    assert st["CapPrm"] == want, hex(st["CapPrm"])
    assert st["CapEff"] == want, hex(st["CapEff"])
    assert st["CapInh"] == 0
    assert st["CapAmb"] == 0


def test_capabilities_bounding_limits_permitted(rt, make_bundle):
    # For uid 0 the kernel recomputes permitted from the bounding set at
    # execve: what is not bounding can never be effective.
    b = make_bundle(("grep", "^Cap", "/proc/self/status"))
    b.process["capabilities"] = {"bounding": ["CAP_KILL"], "effective": ["CAP_KILL"],
                                 "permitted": ["CAP_KILL"]}
    st = {l.split(":")[0]: int(l.split()[1], 16) for l in run_ok(rt, b).splitlines()}
    assert st["CapBnd"] == 1 << 5
    assert st["CapEff"] == 1 << 5


def test_capabilities_enforced(rt, make_bundle):
    # Without CAP_CHOWN, root cannot chown; with it, it can.
    b = make_bundle(("sh", "-c", "touch /tmp/f && chown 1000 /tmp/f && echo chowned"))
    b.add_mount("/tmp", "tmpfs", "tmpfs", ["mode=1777"])
    b.set_caps(["CAP_KILL"])
    r = rt.run("nochown", b)
    assert "chowned" not in r.out
    assert r.rc != 0
    b.set_caps(["CAP_KILL", "CAP_CHOWN"])
    r = rt.run("chown", b)
    assert r.out.strip() == "chowned", r


def test_ambient_capabilities_for_non_root(rt, make_bundle):
    b = make_bundle(("grep", "^Cap", "/proc/self/status"))
    caps = ["CAP_NET_BIND_SERVICE"]
    b.process["user"] = {"uid": 1000, "gid": 1000}
    b.process["capabilities"] = {k: caps for k in
                                 ("bounding", "effective", "permitted", "inheritable", "ambient")}
    st = {l.split(":")[0]: int(l.split()[1], 16) for l in run_ok(rt, b).splitlines()}
    assert st["CapEff"] == 1 << 10
    assert st["CapAmb"] == 1 << 10


def test_no_new_privileges(rt, make_bundle):
    b = make_bundle(("grep", "NoNewPrivs", "/proc/self/status"))
    b.process["noNewPrivileges"] = True
    assert run_ok(rt, b, "nnp1").split()[1] == "1"
    b.process["noNewPrivileges"] = False
    assert run_ok(rt, b, "nnp0").split()[1] == "0"


def test_rlimits(rt, make_bundle):
    b = make_bundle(("sh", "-c", "ulimit -n; ulimit -Hn; ulimit -c"))
    b.process["rlimits"] = [
        {"type": "RLIMIT_NOFILE", "soft": 1024, "hard": 1024},
        {"type": "RLIMIT_CORE", "soft": 0, "hard": 0},
    ]
    assert run_ok(rt, b, "rl1").split() == ["1024", "1024", "0"]
    b.process["rlimits"] = [{"type": "RLIMIT_NOFILE", "soft": 512, "hard": 1024}]
    assert run_ok(rt, b, "rl2").split()[:2] == ["512", "1024"]


def test_rlimit_above_host_hard_limit_is_clamped(rt, make_bundle):
    # This host's root lacks CAP_SYS_RESOURCE: the hard NOFILE limit cannot
    # go above the current one (20000).  pier clamps and warns instead of
    # failing the container (docker/podman default to 1048576).
    hard = int(subprocess.run(["sh", "-c", "ulimit -Hn"], capture_output=True, text=True).stdout)
    if hard >= 1048576:
        pytest.skip("the hard NOFILE limit here is not below 1048576: nothing to clamp")
    b = make_bundle(("sh", "-c", "ulimit -n; ulimit -Hn"))
    b.process["rlimits"] = [{"type": "RLIMIT_NOFILE", "soft": 1048576, "hard": 1048576}]
    r = rt.run("rlc", b)
    assert r.rc == 0, r
    assert r.out.split() == [str(hard), str(hard)], r
    assert "clamped" in r.err, r.err


def test_oom_score_adj(rt, make_bundle):
    b = make_bundle(("cat", "/proc/self/oom_score_adj"))
    b.process["oomScoreAdj"] = 500
    assert run_ok(rt, b).strip() == "500"
    # The runtime's own score is untouched.
    assert read("/proc/self/oom_score_adj").strip() != "500"


def test_sysctl_in_netns(rt, make_bundle):
    host_ttl = read("/proc/sys/net/ipv4/ip_default_ttl").strip()
    b = make_bundle(("sh", "-c", "cat /proc/sys/net/ipv4/ip_forward /proc/sys/net/ipv4/ip_default_ttl"))
    b.linux["sysctl"] = {"net.ipv4.ip_forward": "1", "net.ipv4.ip_default_ttl": "99"}
    assert run_ok(rt, b).split() == ["1", "99"]
    assert read("/proc/sys/net/ipv4/ip_default_ttl").strip() == host_ttl


def test_sysctl_ipc_namespaced(rt, make_bundle):
    host = read("/proc/sys/kernel/msgmax").strip()
    b = make_bundle(("cat", "/proc/sys/kernel/msgmax"))
    b.linux["sysctl"] = {"kernel.msgmax": "12345"}
    assert run_ok(rt, b).strip() == "12345"
    assert read("/proc/sys/kernel/msgmax").strip() == host


@pytest.mark.parametrize("name,drop_ns", [
    ("vm.swappiness", None),             # never namespaced
    ("kernel.panic", None),              # never namespaced
    ("net.ipv4.ip_default_ttl", "network"),  # namespaced, but no netns of its own
    ("kernel.msgmax", "ipc"),            # namespaced, but no ipc ns of its own
])
def test_sysctl_not_namespaced_rejected(rt, make_bundle, name, drop_ns):
    # A sysctl the container does not own would change the host's kernel.
    # It must be refused (as runc does).  The value written is the host's
    # current one, so a runtime that wrongly accepts it changes nothing.
    path = "/proc/sys/" + name.replace(".", "/")
    before = read(path)
    b = make_bundle(("true",))
    if drop_ns == "network":
        drop_netns(b)
    elif drop_ns:
        b.linux["namespaces"] = [n for n in b.linux["namespaces"] if n["type"] != drop_ns]
    b.linux["sysctl"] = {name: before.strip()}
    try:
        r = rt.run("sysbad", b)
    finally:
        if read(path) != before:
            Path(path).write_text(before)
    assert r.rc != 0, f"sysctl {name} accepted: a container can change the host's kernel settings"
    assert name in r.err, r.err


def test_tmpfs_mount_with_options(rt, make_bundle):
    script = ("grep ' /scratch ' /proc/self/mountinfo; stat -c %a /scratch; "
              "dd if=/dev/zero of=/scratch/big bs=1k count=2048 2>/dev/null; echo dd=$?; "
              "cp /bin/busybox /scratch/bb 2>/dev/null; /scratch/bb true 2>/dev/null; echo exec=$?")
    b = make_bundle(("sh", "-c", script))
    b.add_mount("/scratch", "tmpfs", "tmpfs", ["size=1m", "mode=750", "noexec", "nosuid"])
    out = run_ok(rt, b)
    lines = out.splitlines()
    mi = lines[0]
    assert " - tmpfs " in mi
    opts = mi.split()[5]
    assert "noexec" in opts and "nosuid" in opts, mi
    assert "size=1024k" in mi, mi
    assert lines[1] == "750"
    assert lines[2] != "dd=0", "wrote 2 MiB to a 1 MiB tmpfs"
    assert lines[3] != "exec=0", "executed from a noexec tmpfs"


def test_bind_mount_readonly(rt, make_bundle, tmp_path):
    host = tmp_path / "hostdir"
    host.mkdir()
    (host / "hello.txt").write_text("from host\n")
    b = make_bundle(("sh", "-c", "cat /data/hello.txt; echo x > /data/new && echo wrote; "
                     "rm /data/hello.txt && echo removed; true"))
    b.set_caps(ALL_CAPS)
    b.add_mount("/data", "bind", host, ["rbind", "ro"])
    r = rt.run("bro", b)
    assert r.rc == 0, r
    assert r.out.splitlines()[0] == "from host"
    assert "wrote" not in r.out and "removed" not in r.out
    assert sorted(os.listdir(host)) == ["hello.txt"]


def test_bind_mount_readwrite_file(rt, make_bundle, tmp_path):
    f = tmp_path / "one-file"
    f.write_text("before\n")
    b = make_bundle(("sh", "-c", "cat /etc/one; echo after > /etc/one"))
    b.add_mount("/etc/one", "bind", f, ["bind", "rw"])
    assert run_ok(rt, b).strip() == "before"
    assert f.read_text() == "after\n"


def test_pid_namespace(rt, make_bundle):
    b = make_bundle(("sh", "-c", "echo $$; ps -o pid | wc -l"))
    out = run_ok(rt, b).split()
    assert out[0] == "1"
    # header + sh + ps + wc (and maybe a subshell): nothing from the host.
    assert int(out[1]) <= 5, out


def test_network_namespace_only_lo(rt, make_bundle):
    b = make_bundle(("sh", "-c", "ls /sys/class/net; tail -n +3 /proc/net/dev | cut -d: -f1"))
    out = run_ok(rt, b).split()
    assert set(out) == {"lo"}, out


def drop_netns(b):
    """Share the host's network namespace (and so drop /sys: sysfs cannot
    be mounted without a netns of the container's own)."""
    b.linux["namespaces"] = [n for n in b.linux["namespaces"] if n["type"] != "network"]
    b.config["mounts"] = [m for m in b.config["mounts"] if m["destination"] != "/sys"
                          and not m["destination"].startswith("/sys/")]
    b.linux["maskedPaths"] = [p for p in b.linux.get("maskedPaths", []) if not p.startswith("/sys")]


def test_no_network_namespace_sees_host(rt, make_bundle):
    b = make_bundle(("sh", "-c", "tail -n +3 /proc/net/dev | cut -d: -f1"))
    drop_netns(b)
    host = {l.split(":")[0].strip() for l in read("/proc/net/dev").splitlines()[2:]}
    out = set(run_ok(rt, b).split())
    assert out == host


def test_namespaces_differ_from_host(rt, make_bundle):
    b = make_bundle(("sh", "-c", "for n in pid net ipc uts mnt cgroup; do readlink /proc/self/ns/$n; done"))
    out = run_ok(rt, b).split()
    host = [os.readlink(f"/proc/self/ns/{n}") for n in ("pid", "net", "ipc", "uts", "mnt", "cgroup")]
    for inner, outer in zip(out, host):
        assert inner != outer, f"{inner} is the host's namespace"


def test_cgroup_namespace_root(rt, make_bundle):
    b = make_bundle(("cat", "/proc/self/cgroup"))
    for line in run_ok(rt, b).splitlines():
        assert line.endswith(":/"), f"cgroupns does not hide the path: {line}"


@pytest.fixture
def userns_bundle(make_bundle, public_tmp):
    host = public_tmp / "shared"
    host.mkdir()
    os.chown(host, 100000, 100000)

    def make(args):
        b = make_bundle(args, base=public_tmp)
        b.linux["namespaces"].append({"type": "user"})
        b.linux["uidMappings"] = [{"containerID": 0, "hostID": 100000, "size": 65536}]
        b.linux["gidMappings"] = [{"containerID": 0, "hostID": 100000, "size": 65536}]
        # /mnt exists in the rootfs: the mapped root cannot mkdir in a
        # rootfs owned by host root.
        b.add_mount("/mnt", "bind", host, ["rbind", "rw"])
        return b

    make.host = host
    return make


def test_user_namespace(rt, userns_bundle):
    b = userns_bundle(("sh", "-c", "cat /proc/self/uid_map /proc/self/gid_map; id -u; "
                       "touch /mnt/made-inside; mkdir /mnt/dir-inside; "
                       "chown 1000:1000 /mnt/dir-inside"))
    b.set_caps(ALL_CAPS)
    r = rt.run("userns", b)
    assert r.rc == 0, r
    lines = r.out.splitlines()
    assert lines[0].split() == ["0", "100000", "65536"]
    assert lines[1].split() == ["0", "100000", "65536"]
    assert lines[2] == "0"
    st = os.stat(userns_bundle.host / "made-inside")
    assert (st.st_uid, st.st_gid) == (100000, 100000)
    st = os.stat(userns_bundle.host / "dir-inside")
    assert (st.st_uid, st.st_gid) == (101000, 101000)


def test_user_namespace_init_uid_on_host(rt, userns_bundle):
    b = userns_bundle(("sh", "-c", "while :; do sleep 0.1; done"))
    pid = rt.start_container("usern2", b)
    status = read(f"/proc/{pid}/status")
    uid = [l for l in status.splitlines() if l.startswith("Uid:")][0].split()[1:]
    assert uid == ["100000"] * 4, uid


@pytest.fixture
def netns():
    name = f"pier-test-{uuid.uuid4().hex[:8]}"
    subprocess.run(["ip", "netns", "add", name], check=True)
    try:
        yield name
    finally:
        subprocess.run(["ip", "netns", "del", name], capture_output=True)
        assert not Path(f"/var/run/netns/{name}").exists()


def test_join_netns_by_path(rt, make_bundle, netns):
    veth = "pv" + netns[-8:]
    subprocess.run(["ip", "link", "add", veth + "a", "type", "veth", "peer", "name", veth + "b",
                    "netns", netns], check=True)
    try:
        b = make_bundle(("sh", "-c", "tail -n +3 /proc/net/dev | cut -d: -f1; readlink /proc/self/ns/net"))
        for n in b.linux["namespaces"]:
            if n["type"] == "network":
                n["path"] = f"/var/run/netns/{netns}"
        out = run_ok(rt, b).split()
        assert set(out[:-1]) == {"lo", veth + "b"}, out
        ino = os.stat(f"/var/run/netns/{netns}").st_ino
        assert out[-1] == f"net:[{ino}]"
    finally:
        subprocess.run(["ip", "link", "del", veth + "a"], capture_output=True)


def test_join_missing_netns_fails(rt, make_bundle):
    b = make_bundle(("true",))
    for n in b.linux["namespaces"]:
        if n["type"] == "network":
            n["path"] = "/var/run/netns/does-not-exist-pier"
    r = rt.run("nons", b)
    assert r.rc != 0
    assert "does-not-exist-pier" in r.err


def test_devices(rt, make_bundle):
    b = make_bundle(("sh", "-c", "stat -c '%F %t %T %a %u %g' /dev/fuse; echo ok > /dev/null && echo null-ok; "
                     "head -c 4 /dev/zero | wc -c"))
    b.linux["devices"] = [{"path": "/dev/fuse", "type": "c", "major": 10, "minor": 229,
                           "fileMode": 0o640, "uid": 0, "gid": 5}]
    b.linux.setdefault("resources", {})["devices"] = [
        {"allow": False, "access": "rwm"},
        {"allow": True, "type": "c", "major": 10, "minor": 229, "access": "rwm"},
        {"allow": True, "type": "c", "major": 1, "minor": 3, "access": "rwm"},
        {"allow": True, "type": "c", "major": 1, "minor": 5, "access": "rwm"},
    ]
    lines = run_ok(rt, b).splitlines()
    assert lines[0] == "character special file a e5 640 0 5", lines
    assert lines[1] == "null-ok"
    assert lines[2] == "4"


def test_default_devices_present(rt, make_bundle):
    b = make_bundle(("sh", "-c", "for d in null zero full random urandom tty; do "
                     "stat -c '%n %F %t,%T' /dev/$d; done; ls -l /dev/fd /dev/stdin"))
    lines = run_ok(rt, b).splitlines()
    want = {"/dev/null": "1,3", "/dev/zero": "1,5", "/dev/full": "1,7", "/dev/random": "1,8",
            "/dev/urandom": "1,9", "/dev/tty": "5,0"}
    got = {l.split()[0]: l.split()[-1] for l in lines[:6]}
    for k, v in want.items():
        assert got.get(k) == v, (k, lines)
    assert "/proc/self/fd" in lines[6]


def test_device_cgroup_denies(rt, make_bundle):
    # /dev/fuse created, but the device cgroup only allows /dev/null.
    b = make_bundle(("sh", "-c", "cat /dev/fuse; echo rc=$?"))
    b.linux["devices"] = [{"path": "/dev/fuse", "type": "c", "major": 10, "minor": 229,
                           "fileMode": 0o666}]
    b.linux.setdefault("resources", {})["devices"] = [{"allow": False, "access": "rwm"}]
    r = rt.run("devdeny", b)
    assert "Operation not permitted" in r.err, r
