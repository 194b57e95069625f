#!/usr/bin/python3
"""Containers, pier side by side with its peers, in one run:

  1. `run --rm <busybox> true` without network: pier, podman
     (`--network none`) and bare crun on the same rootfs (N sequential runs,
     median); pier's and crun's runs alternate in rounds of 10, so that a
     machine whose speed drifts (a shared VM) weighs on both alike;
  2. the RSS of the per-container monitor with 50 detached containers,
     read 2 s after the last start (steady state, for both):
     pier's monitor against podman's conmon (mean VmRSS, and PSS);
  3. `ps -a` with those 50 containers: pier against podman (median of 20);
  4. `exec <one of them> true`: pier against podman (median of 20).

Podman runs with --ulimit nofile=1024:1024 (root here lacks CAP_SYS_RESOURCE,
so podman's default of 1048576 cannot be set).  Podman 4.3 and crun 1.8 refuse this host's hybrid cgroups, so they run in
a private mount namespace where /sys/fs/cgroup/unified is unmounted (the
script calls itself there); pier runs on the host as it is.  Every store
is a temporary directory, removed at the end.

usage: sudo bench/containers.py [--runs 50] [--pier build-release/pier]
"""
import argparse
import io
import json
import os
import shutil
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time

N_DETACHED = 50
ROUND = 10  # pier's and crun's `run` alternate in rounds of this many
SETTLE = 2.0  # seconds between the last detached start and the RSS reading
# the hard limits root has here (no CAP_SYS_RESOURCE): podman must not ask for more
NPROC = __import__("resource").getrlimit(__import__("resource").RLIMIT_NPROC)[1]


def busybox_tar(path):
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as t:
        def add_dir(name):
            info = tarfile.TarInfo(name)
            info.type = tarfile.DIRTYPE
            info.mode = 0o755
            t.addfile(info)
        for d in ("bin", "etc", "proc", "sys", "dev", "tmp"):
            add_dir(d)
        t.add("/bin/busybox", arcname="bin/busybox")
        for applet in subprocess.run(["/bin/busybox", "--list"], capture_output=True, text=True).stdout.split():
            if applet != "busybox":
                info = tarfile.TarInfo("bin/" + applet)
                info.type = tarfile.SYMTYPE
                info.linkname = "busybox"
                t.addfile(info)
        text = b"root:x:0:0:root:/root:/bin/sh\n"
        info = tarfile.TarInfo("etc/passwd")
        info.size = len(text)
        t.addfile(info, io.BytesIO(text))
    with open(path, "wb") as f:
        f.write(buf.getvalue())


def timed_all(argv, runs):
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        r = subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        times.append((time.perf_counter() - t0) * 1000.0)
        if r.returncode != 0:
            sys.exit("%s failed: %s" % (" ".join(argv), r.stderr.decode()))
    return times


def timed(argv, runs):
    return statistics.median(timed_all(argv, runs))


def rss_of(pids):
    rss, pss = [], []
    for pid in pids:
        try:
            for line in open("/proc/%d/status" % pid):
                if line.startswith("VmRSS:"):
                    rss.append(int(line.split()[1]))
            for line in open("/proc/%d/smaps_rollup" % pid):
                if line.startswith("Pss:"):
                    pss.append(int(line.split()[1]))
        except OSError:
            pass
    return (statistics.mean(rss) / 1024 if rss else 0.0, statistics.mean(pss) / 1024 if pss else 0.0)


def pids_named(comm, needle=None):
    out = []
    for p in os.listdir("/proc"):
        if not p.isdigit():
            continue
        try:
            c = open("/proc/%s/comm" % p).read().strip()
            cmd = open("/proc/%s/cmdline" % p, "rb").read()
        except OSError:
            continue
        if c == comm and (needle is None or needle.encode() in cmd):
            out.append(int(p))
    return out


def show(res):
    print(json.dumps(res))


def bench_pier(pier, work, runs):
    root, runroot = os.path.join(work, "pier-store"), os.path.join(work, "pier-run")
    base = [pier, "--root", root, "--runroot", runroot]
    subprocess.run(base + ["import", "-c", 'CMD ["sh"]', os.path.join(work, "busybox.tar"), "busybox"],
                   check=True, stdout=subprocess.DEVNULL)
    # --network none on both sides (bench/network.py compares default
    # networking); pier's runs alternate with bare crun's (crun_server).
    res = {"run": [], "crun_run": []}
    crun = subprocess.Popen(["unshare", "-m", "sh", "-c",
                             "umount /sys/fs/cgroup/unified 2>/dev/null; exec /usr/bin/python3 %s --crun-server %s"
                             % (os.path.abspath(__file__), work)],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    left = runs
    while left > 0:
        k = min(ROUND, left)
        res["run"] += timed_all(base + ["run", "--rm", "--network", "none", "busybox", "true"], k)
        crun.stdin.write("%d\n" % k)
        crun.stdin.flush()
        line = crun.stdout.readline()
        if not line:
            sys.exit("crun failed")
        res["crun_run"] += json.loads(line)
        left -= k
    crun.stdin.close()
    crun.wait()
    res["run"] = statistics.median(res["run"])
    res["crun_run"] = statistics.median(res["crun_run"])
    for _ in range(N_DETACHED):
        subprocess.run(base + ["run", "-d", "--network", "none", "busybox", "sleep", "1000"], check=True,
                       stdout=subprocess.DEVNULL)
    # Steady state, for both: pier's monitor sheds its start-up pages a
    # second after the start.
    time.sleep(SETTLE)
    res["monitor_rss"], res["monitor_pss"] = rss_of(pids_named("pier-monitor", root))
    res["ps"] = timed(base + ["ps", "-a"], 20)
    ids = subprocess.run(base + ["ps", "-aq"], capture_output=True, text=True).stdout.split()
    res["exec"] = timed(base + ["exec", ids[0], "true"], 20)
    subprocess.run(base + ["rm", "-f"] + ids, stdout=subprocess.DEVNULL)
    return res


def inner_peers(work, runs):
    """In the private mount namespace: podman."""
    res = {}
    proot, prun = os.path.join(work, "podman-root"), os.path.join(work, "podman-run")
    podman = ["podman", "--root", proot, "--runroot", prun, "--cgroup-manager", "cgroupfs",
              "--events-backend", "none"]
    subprocess.run(podman + ["import", "-c", 'CMD ["sh"]', os.path.join(work, "busybox.tar"), "localhost/busybox"],
                   check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    res["podman_run"] = timed(podman + ["run", "--rm", "--network", "none", "--ulimit", "nofile=1024:1024", "--ulimit", "nproc=1024:1024", "localhost/busybox", "true"], runs)
    for _ in range(N_DETACHED):
        subprocess.run(podman + ["run", "-d", "--network", "none", "--ulimit", "nofile=1024:1024", "--ulimit", "nproc=1024:1024", "localhost/busybox", "sleep", "1000"],
                       check=True, stdout=subprocess.DEVNULL)
    time.sleep(SETTLE)
    res["conmon_rss"], res["conmon_pss"] = rss_of(pids_named("conmon", prun))
    res["podman_ps"] = timed(podman + ["ps", "-a"], 20)
    one = subprocess.run(podman + ["ps", "-q"], capture_output=True, text=True).stdout.split()[0]
    res["podman_exec"] = timed(podman + ["exec", one, "true"], 20)
    subprocess.run(podman + ["rm", "-f", "-a", "-t", "0"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    subprocess.run(podman + ["system", "reset", "-f"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    print(json.dumps(res))


def crun_server(work):
    """In a private mount namespace (crun refuses the hybrid layout):
    bare crun on the same rootfs; each line "N" on stdin runs it N times
    and answers the times (ms) as a JSON list."""
    bundle = os.path.join(work, "crun-bundle")
    rootfs = os.path.join(bundle, "rootfs")
    os.makedirs(rootfs)
    with tarfile.open(os.path.join(work, "busybox.tar")) as t:
        t.extractall(rootfs)
    subprocess.run(["crun", "spec"], cwd=bundle, check=True)
    cfg = json.load(open(os.path.join(bundle, "config.json")))
    cfg["process"]["terminal"] = False
    cfg["process"]["args"] = ["/bin/true"]
    json.dump(cfg, open(os.path.join(bundle, "config.json"), "w"))
    n = 0
    for line in sys.stdin:
        times = []
        for _ in range(int(line)):
            t0 = time.perf_counter()
            subprocess.run(["crun", "--root", os.path.join(work, "crun-state"), "run", "--bundle", bundle,
                            "b%d" % n], check=True)
            times.append((time.perf_counter() - t0) * 1000.0)
            n += 1
        print(json.dumps(times), flush=True)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=50)
    ap.add_argument("--pier", default="build-release/pier")
    ap.add_argument("--inner", help=argparse.SUPPRESS)
    ap.add_argument("--crun-server", help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.crun_server:
        crun_server(a.crun_server)
        return
    if a.inner:
        inner_peers(a.inner, a.runs)
        return
    if os.geteuid() != 0:
        sys.exit("run as root")
    work = tempfile.mkdtemp(prefix="pier-bench-")
    try:
        busybox_tar(os.path.join(work, "busybox.tar"))
        p = bench_pier(os.path.abspath(a.pier), work, a.runs)
        inner = ("umount /sys/fs/cgroup/unified 2>/dev/null; exec /usr/bin/python3 %s --inner %s --runs %d"
                 % (os.path.abspath(__file__), work, a.runs))
        out = subprocess.run(["unshare", "-m", "sh", "-c", inner], capture_output=True, text=True)
        if out.returncode != 0:
            sys.exit("peers failed:\n" + out.stdout + out.stderr)
        q = json.loads(out.stdout.strip().splitlines()[-1])
        print("run --rm busybox true, no network (median of %d):" % a.runs)
        print("  pier   %7.1f ms" % p["run"])
        print("  podman %7.1f ms   podman/pier = %.1fx" % (q["podman_run"], q["podman_run"] / p["run"]))
        print("  crun   %7.1f ms   pier/crun   = %.1fx (bare runtime, no image store; runs alternating with pier's)"
              % (p["crun_run"], p["run"] / p["crun_run"]))
        print("monitor per container, %d detached (mean):" % N_DETACHED)
        print("  pier-monitor RSS %.1f MiB, PSS %.1f MiB" % (p["monitor_rss"], p["monitor_pss"]))
        print("  conmon       RSS %.1f MiB, PSS %.1f MiB" % (q["conmon_rss"], q["conmon_pss"]))
        print("ps -a with %d containers (median of 20):" % N_DETACHED)
        print("  pier   %7.1f ms" % p["ps"])
        print("  podman %7.1f ms   podman/pier = %.1fx" % (q["podman_ps"], q["podman_ps"] / p["ps"]))
        print("exec <container> true (median of 20):")
        print("  pier   %7.1f ms" % p["exec"])
        print("  podman %7.1f ms   podman/pier = %.1fx" % (q["podman_exec"], q["podman_exec"] / p["exec"]))
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
