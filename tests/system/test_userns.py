"""Containers in a user namespace of their own (podman's --userns=auto,
--uidmap, --gidmap): root inside, an unprivileged host uid outside, files
on disk with the container's ids, ranges that never overlap.  Every test
has its own store (and so its own pool); the fixture of test_networks
removes everything and checks that no mount, cgroup, veth, bridge, table
or lease is left."""
import json
import os
import stat
import subprocess
import tarfile
import io
import threading

import pytest

from conftest import wait_until
from test_networks import pier, image_tar, free_port, curl  # noqa: F401 (fixtures)

POOL = 134217728  # pier's own pool starts at 2^27
DOCKER_CAPEFF = "00000000a80425fb"


def maps(p, name):
    return p.inspect(name)["HostConfig"]["IDMappings"]


def host_uid(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("Uid:"):
                return int(line.split()[1])


def test_auto_runs_root_as_an_unprivileged_host_uid(pier):
    out = pier.ok("run", "--rm", "--userns=auto", "busybox", "sh", "-c",
                  "id -u; id -g; cat /proc/self/uid_map /proc/self/gid_map; "
                  "grep CapEff /proc/1/status; touch /made && stat -c '%u:%g' /made")
    lines = [l.split() for l in out.splitlines()]
    assert lines[0] == ["0"] and lines[1] == ["0"], out
    assert lines[2] == ["0", str(POOL), "65536"] and lines[3] == ["0", str(POOL), "65536"], out
    assert lines[4] == ["CapEff:", DOCKER_CAPEFF], out
    assert lines[5] == ["0:0"], out

    pier.ok("run", "-d", "--name", "a1", "--userns=auto", "busybox", "sleep", "60")
    info = pier.inspect("a1")
    assert info["HostConfig"]["UsernsMode"] == "auto"
    assert info["HostConfig"]["IDMappings"] == {"UidMap": [f"0:{POOL}:65536"], "GidMap": [f"0:{POOL}:65536"]}
    pid = info["State"]["Pid"]
    assert host_uid(pid) == POOL
    r = subprocess.run(["ps", "-o", "uid=", "-p", str(pid)], capture_output=True, text=True)
    assert r.stdout.strip() == str(POOL)
    # exec joins the user namespace (and the engine's network namespace).
    assert pier.ok("exec", "a1", "sh", "-c", "id -u; cat /proc/self/uid_map").split() == \
        ["0", "0", str(POOL), "65536"]
    assert pier.ok("exec", "-u", "1000", "a1", "id", "-u").strip() == "1000"
    # A second container gets the next range; a sized one the one after.
    pier.ok("run", "-d", "--name", "a2", "--userns=auto", "busybox", "sleep", "60")
    pier.ok("run", "-d", "--name", "a3", "--userns=auto:size=1000", "busybox", "sleep", "60")
    assert maps(pier, "a2")["UidMap"] == [f"0:{POOL + 65536}:65536"]
    assert maps(pier, "a3")["UidMap"] == [f"0:{POOL + 2 * 65536}:1000"]
    assert pier.ok("exec", "a3", "cat", "/proc/self/uid_map").split() == ["0", str(POOL + 2 * 65536), "1000"]
    # A removed container's range is free again.
    pier.ok("rm", "-f", "a1")
    pier.ok("run", "-d", "--name", "a4", "--userns=auto:size=100", "busybox", "sleep", "60")
    assert maps(pier, "a4")["UidMap"] == [f"0:{POOL}:100"]
    # Its cgroup, limits and all, as without a user namespace.
    out = pier.ok("run", "--rm", "--userns=auto", "-m", "64m", "busybox", "sh", "-c",
                  "cat /sys/fs/cgroup/memory/memory.limit_in_bytes 2>/dev/null || "
                  "cat /sys/fs/cgroup/memory.max")
    assert out.strip() == "67108864", out
    # host and no flag: no user namespace, as before.
    for args in ((), ("--userns=host",)):
        assert pier.ok("run", "--rm", *args, "busybox", "cat", "/proc/self/uid_map").split() == \
            ["0", "0", "4294967295"]


def test_concurrent_auto_creates_get_distinct_ranges(pier):
    procs = [subprocess.Popen(pier.argv("run", "-d", "--name", f"c{i}", "--userns=auto", "busybox",
                                        "sleep", "60"),
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for i in range(10)]
    for p in procs:
        out, err = p.communicate(timeout=120)
        assert p.returncode == 0, err
    starts = set()
    for i in range(10):
        m = maps(pier, f"c{i}")
        c, h, n = (int(x) for x in m["UidMap"][0].split(":"))
        assert c == 0 and n == 65536 and (h - POOL) % 65536 == 0
        starts.add(h)
        assert m["GidMap"] == m["UidMap"]
        assert host_uid(pier.inspect(f"c{i}")["State"]["Pid"]) == h
    assert len(starts) == 10, starts


def test_auto_takes_the_subordinate_ids_of_user_containers(pier, tmp_path, monkeypatch):
    subuid, subgid = tmp_path / "subuid", tmp_path / "subgid"
    subuid.write_text("someone:100000:65536\ncontainers:500000:70000\n")
    subgid.write_text("containers:700000:65536\ncontainers:900000:65536\n")
    monkeypatch.setenv("PIER_SUBUID_FILE", str(subuid))
    monkeypatch.setenv("PIER_SUBGID_FILE", str(subgid))
    pier.ok("run", "-d", "--name", "s1", "--userns=auto", "busybox", "sleep", "60")
    assert maps(pier, "s1") == {"UidMap": ["0:500000:65536"], "GidMap": ["0:700000:65536"]}
    assert pier.ok("exec", "s1", "cat", "/proc/self/gid_map").split() == ["0", "700000", "65536"]
    # 70000 subordinate uids hold one range of 65536, not two.
    r = pier("run", "-d", "--name", "s2", "--userns=auto", "busybox", "sleep", "60")
    assert r.rc == 125 and "no free range of 65536 host user ids" in r.err, r
    assert "s2" not in pier.ok("ps", "-a", "--format", "{{.Names}}").split()
    pier.ok("run", "-d", "--name", "s3", "--userns=auto:size=4000", "busybox", "sleep", "60")
    assert maps(pier, "s3") == {"UidMap": ["0:565536:4000"], "GidMap": ["0:900000:4000"]}


def test_explicit_maps(pier):
    out = pier.ok("run", "--rm", "--uidmap", "0:300000:5000", "busybox", "sh", "-c",
                  "cat /proc/self/uid_map /proc/self/gid_map")
    assert [l.split() for l in out.splitlines()] == [["0", "300000", "5000"], ["0", "300000", "5000"]]
    pier.ok("create", "--name", "m2", "--uidmap", "0:300000:1000", "--uidmap", "1000:400000:1000",
            "--gidmap", "0:500000:2000", "busybox", "sh", "-c",
            "cat /proc/self/uid_map /proc/self/gid_map; su user -c 'id -u'")
    info = pier.inspect("m2")
    assert info["HostConfig"]["UsernsMode"] == "private"
    assert info["HostConfig"]["IDMappings"] == {"UidMap": ["0:300000:1000", "1000:400000:1000"],
                                                "GidMap": ["0:500000:2000"]}
    r = pier("start", "-a", "m2")
    assert r.rc == 0, r
    assert [l.split() for l in r.out.splitlines()] == [
        ["0", "300000", "1000"], ["1000", "400000", "1000"], ["0", "500000", "2000"], ["1000"]]
    # An auto range stays clear of explicit ones.
    pier.ok("create", "--name", "m3", "--uidmap", f"0:{POOL}:10", "busybox", "true")
    pier.ok("create", "--name", "m4", "--userns=auto", "busybox", "true")
    assert maps(pier, "m4")["UidMap"] == [f"0:{POOL + 10}:65536"]


@pytest.mark.parametrize("args,msg", [
    (("--uidmap", "0:1"), "invalid --uidmap `0:1`: expected CONTAINER_ID:HOST_ID:AMOUNT"),
    (("--uidmap", "a:b:c"), "invalid --uidmap `a:b:c`"),
    (("--uidmap", "0:100000:0"), "the amount must be at least 1"),
    (("--uidmap", "0:4294967290:10"), "the range goes past id"),
    (("--uidmap", "0:100000:100", "--uidmap", "50:200000:100"), "container ids 0:100000:100 and 50:200000:100 overlap"),
    (("--uidmap", "0:100000:100", "--uidmap", "100:100050:100"), "host ids 0:100000:100 and 100:100050:100 overlap"),
    (("--uidmap", "1:100000:100"), "--uidmap must map the container's root (id 0)"),
    (("--uidmap", "0:100000:100", "--gidmap", "5:100000:100"), "--gidmap must map the container's root"),
    (("--userns=keep-id",), "--userns=keep-id is for rootless podman"),
    (("--userns=keep-id:uid=1000",), "is for rootless podman"),
    (("--userns=nomap",), "--userns=nomap is for rootless podman"),
    (("--userns=ns:/proc/1/ns/user",), "invalid --userns=ns:/proc/1/ns/user: pier supports host, auto"),
    (("--userns=private",), "--userns=private needs --uidmap"),
    (("--userns=auto:size=0",), "size must be a number from 1 to"),
    (("--userns=auto:uidmapping=0:1:1",), "pier supports only the `size=N` option of `auto`"),
    (("--userns=auto", "--uidmap", "0:100000:10"), "--userns=auto and --uidmap/--gidmap cannot be used together"),
    (("--userns=host", "--uidmap", "0:100000:10"), "--userns=host and --uidmap/--gidmap cannot be used together"),
    (("--userns=auto", "--privileged"), "--privileged cannot be used with a user namespace (--userns=auto)"),
    (("--uidmap", "0:100000:10", "--privileged"), "--privileged cannot be used with a user namespace (--uidmap)"),
    (("--userns=auto", "--pid=host"), "--pid=host cannot be used with a user namespace"),
    (("-v", "/tmp:/h:idmap"), "the idmap option of /h needs a user namespace"),
])
def test_refused_with_a_clear_error(pier, args, msg):
    r = pier("run", "--rm", *args, "busybox", "true")
    assert r.rc == 125 and msg in r.err, r
    assert pier.ok("ps", "-aq") == ""


def test_files_keep_the_container_ids_on_disk(pier, tmp_path):
    pier.ok("run", "--name", "wr", "--userns=auto", "busybox", "sh", "-c",
            "echo r > /rootfile; mkdir /home/u; chown 1000:1000 /home/u; "
            "su user -c 'echo u > /home/u/userfile; echo t > /tmp/userfile'; "
            "chown 1000:2000 /bin/busybox; rm /bin/vi")
    upper = pier.inspect("wr")["GraphDriver"]["Data"]["UpperDir"]

    def owner(rel):
        st = os.lstat(os.path.join(upper, rel))
        return st.st_uid, st.st_gid
    assert owner("rootfile") == (0, 0)
    assert owner("home/u") == (1000, 1000)
    assert owner("home/u/userfile") == (1000, 1000)
    assert owner("tmp/userfile") == (1000, 1000)
    assert owner("bin/busybox") == (1000, 2000)  # copied up, chowned
    assert stat.S_ISCHR(os.lstat(os.path.join(upper, "bin/vi")).st_mode)  # a whiteout
    assert owner("bin/vi") == (0, 0)
    diff = pier.ok("diff", "wr").splitlines()
    for line in ("A /rootfile", "A /home/u/userfile", "A /tmp/userfile", "D /bin/vi", "C /bin/busybox"):
        assert line in diff, diff
    # commit: an image whose files have the owners the container gave them,
    # as a container without a user namespace sees them.
    pier.ok("commit", "wr", "snap")
    out = pier.ok("run", "--rm", "snap", "sh", "-c",
                  "stat -c '%u:%g %n' /rootfile /home/u/userfile /tmp/userfile /bin/busybox; "
                  "test -e /bin/vi || echo novi")
    assert out.splitlines() == ["0:0 /rootfile", "1000:1000 /home/u/userfile", "1000:1000 /tmp/userfile",
                                "1000:2000 /bin/busybox", "novi"], out
    # export and cp read the same ids.
    data = subprocess.run(pier.argv("export", "wr"), capture_output=True, check=True).stdout
    with tarfile.open(fileobj=io.BytesIO(data)) as t:
        assert (t.getmember("home/u/userfile").uid, t.getmember("rootfile").uid) == (1000, 0)
    pier.ok("cp", "wr:/home/u/userfile", tmp_path / "copied")
    assert (tmp_path / "copied").read_text() == "u\n"
    # cp into a running container: root's files land as the container's root.
    pier.ok("run", "-d", "--name", "live", "--userns=auto", "busybox", "sleep", "60")
    (tmp_path / "in").write_text("in\n")
    pier.ok("cp", tmp_path / "in", "live:/tmp/in")
    assert pier.ok("exec", "live", "stat", "-c", "%u:%g", "/tmp/in").strip() == "0:0"
    lupper = pier.inspect("live")["GraphDriver"]["Data"]["UpperDir"]
    st = os.stat(os.path.join(lupper, "tmp/in"))
    assert (st.st_uid, st.st_gid) == (0, 0)
    # -a keeps the numeric owners, as the container sees them.
    (tmp_path / "tree").mkdir()
    (tmp_path / "tree" / "f").write_text("f\n")
    os.chown(tmp_path / "tree", 1000, 1000)
    os.chown(tmp_path / "tree" / "f", 1000, 2000)
    pier.ok("cp", "-a", tmp_path / "tree", "live:/tmp/")
    assert pier.ok("exec", "live", "stat", "-c", "%u:%g", "/tmp/tree/f").strip() == "1000:2000"
    st = os.stat(os.path.join(lupper, "tmp/tree/f"))
    assert (st.st_uid, st.st_gid) == (1000, 2000)
    # and a later start (a new monitor) mounts the same layers again.
    pier.ok("stop", "-t", "1", "live")
    pier.ok("start", "live")
    assert pier.ok("exec", "live", "cat", "/tmp/in") == "in\n"


def test_volumes_binds_and_escapes(pier, public_tmp):
    pier.ok("volume", "create", "vol1")
    open_dir = public_tmp / "open"
    open_dir.mkdir()
    os.chmod(open_dir, 0o777)
    mapped = public_tmp / "mapped"
    mapped.mkdir()
    (mapped / "host-file").write_text("h")
    out = pier.ok("run", "--rm", "--userns=auto", "-v", "vol1:/vol", "-v", f"{open_dir}:/open",
                  "-v", f"{mapped}:/mapped:idmap", "busybox", "sh", "-c",
                  "stat -c '%u:%g' /vol /mapped/host-file; echo v > /vol/f; echo o > /open/escaped; "
                  "echo m > /mapped/made; stat -c '%u' /open/escaped; echo x > /etc/hosts.test 2>/dev/null;"
                  "echo '# mine' >> /etc/hosts && echo hosts-ok")
    assert out.splitlines() == ["0:0", "0:0", "0", "hosts-ok"], out
    # A volume is the container root's: on disk as uid 0.
    data = json.loads(pier.ok("volume", "inspect", "vol1"))[0]["Mountpoint"]
    st = os.stat(os.path.join(data, "f"))
    assert (st.st_uid, st.st_gid) == (0, 0)
    # What escapes through a plain bind belongs to the remapped uid, not root.
    st = os.stat(open_dir / "escaped")
    assert (st.st_uid, st.st_gid) == (POOL, POOL)
    # An idmapped bind: the host's root files are the container root's both ways.
    st = os.stat(mapped / "made")
    assert (st.st_uid, st.st_gid) == (0, 0)
    # A volume filled from the image keeps the image's ids.
    out = pier.ok("run", "--rm", "--userns=auto", "-v", "filled:/home", "busybox", "sh", "-c",
                  "stat -c '%u' /home")
    assert out.strip() == "0"


def test_lifecycle_init_health_and_tmpfs(pier):
    pier.ok("run", "-d", "--name", "lc", "--userns=auto", "--init", "--read-only", "--tmpfs", "/scratch",
            "--health-cmd", "test -w /scratch", "--health-interval", "1s", "busybox", "sh", "-c",
            "echo s > /scratch/f; exec sleep 600")
    wait_until(lambda: pier.inspect("lc")["State"]["Health"]["Status"] == "healthy", timeout=20,
               what="a healthy health check")
    assert pier.ok("exec", "lc", "sh", "-c", "cat /scratch/f; ps -o comm= | head -1").split() == \
        ["s", "docker-init"]
    r = pier("exec", "lc", "touch", "/ro")
    assert r.rc != 0 and "Read-only" in r.err, r
    pier.ok("stop", "-t", "5", "lc")
    assert pier.inspect("lc")["State"]["Status"] == "exited"
    pier.ok("start", "lc")
    assert pier.inspect("lc")["State"]["Running"]
    pier.ok("kill", "lc")
    wait_until(lambda: not pier.inspect("lc")["State"]["Running"], what="the container to die")
    # --rm and a failed start leave nothing (the fixture checks mounts,
    # cgroups, veths and records).
    r = pier("run", "--rm", "--userns=auto", "busybox", "no-such-command")
    assert r.rc == 127, r
    r = pier("run", "--name", "bad", "--userns=auto", "busybox", "no-such-command")
    assert r.rc == 127, r
    pier.ok("rm", "bad")


def test_networks(pier):
    port = free_port()
    pier.ok("run", "-d", "--name", "web", "--userns=auto", "-p", f"127.0.0.1:{port}:80", "busybox", "sh", "-c",
            "mkdir -p /www && echo hello-userns > /www/index.html && exec httpd -f -p 80 -h /www")
    wait_until(lambda: curl(f"http://127.0.0.1:{port}/")[1] == "hello-userns\n", timeout=10,
               what="httpd behind the published port")
    # sysfs of the engine's network namespace (made by the runtime: the
    # user namespace does not own it), not the host's.
    assert pier.ok("exec", "web", "ls", "/sys/class/net").split() == ["eth0", "lo"]
    # host network: /sys is the host's, bound read-only.
    out = pier.ok("run", "--rm", "--userns=auto", "--network", "host", "busybox", "sh", "-c",
                  "ls /sys/class/net | grep -c lo; id -u")
    assert out.split() == ["1", "0"], out
    out = pier.ok("run", "--rm", "--userns=auto", "--network", "none", "busybox", "ls", "/sys/class/net")
    assert out.split() == ["lo"], out
