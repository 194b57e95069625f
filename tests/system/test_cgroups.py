"""linux.resources on this hybrid host (v1 controllers + unified without
controllers): limits written, enforced, updated."""

import json
import os
import time

from conftest import CGROUP_ROOT, cgroup_file, read, wait_until

MiB = 1024 * 1024
LOOP = ("sh", "-c", "while :; do sleep 0.1; done")


def cg_read(rt, cid, ctrl, name):
    return read(cgroup_file(ctrl, rt.cgpath(cid), name)).strip()


def test_default_cgroup_path_and_membership(rt, make_bundle):
    b = make_bundle(LOOP)
    pid = rt.start_container("cgp", b)
    assert rt.cgpath("cgp") == "pier/cgp"
    for ctrl in ("memory", "pids", "cpu", "freezer", "devices", "unified"):
        procs = read(CGROUP_ROOT / ctrl / "pier" / "cgp" / "cgroup.procs").split()
        assert str(pid) in procs, f"init not in the {ctrl} cgroup"


def test_custom_cgroups_path(rt, make_bundle):
    b = make_bundle(LOOP)
    b.linux["cgroupsPath"] = "/pier-test-custom/cgc"
    pid = rt.start_container("cgc", b)
    assert str(pid) in read(CGROUP_ROOT / "memory" / "pier-test-custom" / "cgc" / "cgroup.procs").split()
    rt.ok("delete", "--force", "cgc")
    assert not (CGROUP_ROOT / "memory" / "pier-test-custom" / "cgc").exists()
    for h in CGROUP_ROOT.iterdir():
        d = h / "pier-test-custom"
        if d.is_dir():
            try:
                d.rmdir()
            except OSError:
                pass


def test_memory_limit_written(rt, make_bundle):
    b = make_bundle(LOOP)
    b.linux["resources"] = {"memory": {"limit": 32 * MiB, "reservation": 16 * MiB}}
    rt.start_container("mem", b)
    assert int(cg_read(rt, "mem", "memory", "memory.limit_in_bytes")) == 32 * MiB
    assert int(cg_read(rt, "mem", "memory", "memory.soft_limit_in_bytes")) == 16 * MiB


def test_memory_oom_kill(rt, make_bundle, tmp_path):
    # dd with a 64 MiB block allocates and fills a 64 MiB buffer: over the
    # 32 MiB limit it is OOM-killed; a 4 MiB one is fine.
    outdir = tmp_path / "out"
    outdir.mkdir()
    b = make_bundle(("sh", "-c", "exec > /out/log 2>&1; "
                     "dd if=/dev/zero of=/dev/null bs=64M count=1; echo dd-rc=$?; "
                     "dd if=/dev/zero of=/dev/null bs=4M count=1; echo small-rc=$?; "
                     "while :; do sleep 0.1; done"))
    b.add_mount("/out", "bind", outdir, ["rbind", "rw"])
    b.linux["resources"] = {"memory": {"limit": 32 * MiB, "swap": 32 * MiB}}
    rt.start_container("oom", b)
    log = outdir / "log"
    wait_until(lambda: "small-rc" in read(log, ""), 20, what="the container to report")
    text = read(log)
    assert "dd-rc=137" in text, text
    assert "small-rc=0" in text, text
    oc = dict(l.split() for l in cg_read(rt, "oom", "memory", "memory.oom_control").splitlines())
    assert int(oc["oom_kill"]) >= 1, oc
    assert rt.status("oom") == "running", "the OOM killer took the init, not dd"


def test_pids_limit(rt, make_bundle):
    b = make_bundle(("sh", "-c", "i=0; while [ $i -lt 40 ]; do sleep 30 & i=$((i+1)); done 2>/dev/null; "
                     "while :; do sleep 0.1; done"))
    b.linux["resources"] = {"pids": {"limit": 10}}
    rt.start_container("pids", b)
    assert cg_read(rt, "pids", "pids", "pids.max") == "10"
    wait_until(lambda: int(cg_read(rt, "pids", "pids", "pids.events").split()[1]) > 0, 10,
               what="pids.events max to count refused forks")
    assert int(cg_read(rt, "pids", "pids", "pids.current")) <= 10
    procs = cg_read(rt, "pids", "pids", "cgroup.procs").split()
    assert len(procs) <= 10, procs


def test_cpu_quota_period_shares(rt, make_bundle):
    b = make_bundle(LOOP)
    b.linux["resources"] = {"cpu": {"quota": 20000, "period": 100000, "shares": 512}}
    rt.start_container("cpu", b)
    assert cg_read(rt, "cpu", "cpu", "cpu.cfs_quota_us") == "20000"
    assert cg_read(rt, "cpu", "cpu", "cpu.cfs_period_us") == "100000"
    assert cg_read(rt, "cpu", "cpu", "cpu.shares") == "512"


def test_cpu_quota_enforced(rt, make_bundle):
    b = make_bundle(("sh", "-c", "while :; do :; done"))
    b.linux["resources"] = {"cpu": {"quota": 10000, "period": 100000}}
    rt.start_container("spin", b)
    usage = cgroup_file("cpuacct", rt.cgpath("spin"), "cpuacct.usage")
    if not usage.exists():
        usage = cgroup_file("cpu,cpuacct", rt.cgpath("spin"), "cpuacct.usage")
    u0, t0 = int(read(usage)), time.monotonic()
    time.sleep(1.5)
    u1, t1 = int(read(usage)), time.monotonic()
    share = (u1 - u0) / 1e9 / (t1 - t0)
    assert share < 0.25, f"spinner got {share:.0%} CPU with a 10% quota"
    stat = dict(l.split() for l in cg_read(rt, "spin", "cpu", "cpu.stat").splitlines())
    assert int(stat["nr_throttled"]) > 0


def test_cpuset(rt, make_bundle):
    b = make_bundle(("sh", "-c", "grep Cpus_allowed_list /proc/self/status"))
    b.linux["resources"] = {"cpu": {"cpus": "0", "mems": "0"}}
    r = rt.run("cpuset", b)
    assert r.rc == 0, r
    assert r.out.split()[-1] == "0"


def test_update_memory(rt, make_bundle):
    b = make_bundle(LOOP)
    b.linux["resources"] = {"memory": {"limit": 32 * MiB}}
    rt.start_container("upd", b)
    rt.ok("update", "--memory", "64M", "upd")
    assert int(cg_read(rt, "upd", "memory", "memory.limit_in_bytes")) == 64 * MiB
    rt.ok("update", "--pids-limit", "77", "--cpu-quota", "30000", "--cpu-period", "100000", "upd")
    assert cg_read(rt, "upd", "pids", "pids.max") == "77"
    assert cg_read(rt, "upd", "cpu", "cpu.cfs_quota_us") == "30000"


def test_update_resources_stdin(rt, make_bundle):
    b = make_bundle(LOOP)
    rt.start_container("upd2", b)
    res = {"memory": {"limit": 48 * MiB}, "pids": {"limit": 33}, "cpu": {"shares": 256}}
    rt.ok("update", "--resources", "-", "upd2", input=json.dumps(res))
    assert int(cg_read(rt, "upd2", "memory", "memory.limit_in_bytes")) == 48 * MiB
    assert cg_read(rt, "upd2", "pids", "pids.max") == "33"
    assert cg_read(rt, "upd2", "cpu", "cpu.shares") == "256"


def test_update_resources_file(rt, make_bundle, tmp_path):
    b = make_bundle(LOOP)
    rt.start_container("upd3", b)
    f = tmp_path / "res.json"
    f.write_text(json.dumps({"pids": {"limit": 44}}))
    rt.ok("update", "-r", f, "upd3")
    assert cg_read(rt, "upd3", "pids", "pids.max") == "44"


def test_update_bad_input(rt, make_bundle):
    b = make_bundle(LOOP)
    rt.start_container("upd4", b)
    before = cg_read(rt, "upd4", "memory", "memory.limit_in_bytes")
    r = rt.fails("update", "--memory", "lots", "upd4")
    r = rt.fails("update", "--resources", "-", "upd4", input="{not json")
    assert cg_read(rt, "upd4", "memory", "memory.limit_in_bytes") == before
    r = rt.fails("update", "--memory", "64M", "no-such-ctr")


def test_update_stopped_container_fails(rt, make_bundle):
    b = make_bundle(("true",))
    rt.start_container("upd5", b)
    rt.wait_status("upd5", "stopped")
    rt.fails("update", "--memory", "64M", "upd5")
