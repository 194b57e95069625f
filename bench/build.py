#!/usr/bin/python3
"""Builds, pier side by side with podman build, in one run.

A two-stage Dockerfile whose first stage COPYs ~2000 small files and runs a
step over them, and whose second stage copies the result onto a fresh
base: the cold build (empty cache, nothing but the base image in the
store) and the fully cached rebuild, median of a few runs each.

Podman 4.3 refuses this host's hybrid cgroups, so it runs in a private
mount namespace where /sys/fs/cgroup/unified is unmounted (the script
calls itself there); pier runs on the host as it is.  Every store is a
temporary directory, removed at the end.

usage: sudo bench/build.py [--runs 5] [--files 2000] [--pier build-release/pier]
"""
import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from containers import busybox_tar  # noqa: E402

DOCKERFILE = """\
FROM localhost/busybox AS builder
WORKDIR /src
COPY files/ ./files/
RUN find files -type f | wc -l > /count && cat files/*/* | wc -c > /bytes
FROM localhost/busybox
COPY --from=builder /count /bytes /out/
CMD ["cat", "/out/count"]
"""


def make_context(work, n):
    ctx = os.path.join(work, "ctx")
    for i in range(n):
        d = os.path.join(ctx, "files", "d%02d" % (i % 40))
        os.makedirs(d, exist_ok=True)
        with open(os.path.join(d, "f%04d.txt" % i), "w") as f:
            f.write("file %d\n" % i * 8)
    with open(os.path.join(ctx, "Dockerfile"), "w") as f:
        f.write(DOCKERFILE)
    return ctx


def timed(argv, reset=None):
    if reset:
        reset()
    t0 = time.perf_counter()
    r = subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    dt = (time.perf_counter() - t0) * 1000.0
    if r.returncode != 0:
        sys.exit("%s failed: %s" % (" ".join(argv), r.stderr.decode()[-2000:]))
    return dt


def measure(build_cmd, reset_cache, runs):
    cold = [timed(build_cmd, reset_cache) for _ in range(runs)]
    timed(build_cmd)
    cached = [timed(build_cmd) for _ in range(runs)]
    return statistics.median(cold), statistics.median(cached)


def bench_pier(pier, work, ctx, runs):
    base = [pier, "--root", os.path.join(work, "pier-store"), "--runroot", os.path.join(work, "pier-run")]
    subprocess.run(base + ["import", "-c", 'CMD ["sh"]', os.path.join(work, "busybox.tar"), "localhost/busybox"],
                   check=True, stdout=subprocess.DEVNULL)

    def reset():
        subprocess.run(base + ["builder", "prune", "-a", "-f"], check=True, stdout=subprocess.DEVNULL)
        subprocess.run(base + ["rmi", "-f", "bench:1"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    return measure(base + ["build", "-q", "-t", "bench:1", ctx], reset, runs)


def inner_podman(work, runs):
    ctx = os.path.join(work, "ctx")
    podman = ["podman", "--root", os.path.join(work, "podman-root"), "--runroot", os.path.join(work, "podman-run"),
              "--cgroup-manager", "cgroupfs", "--events-backend", "file"]
    subprocess.run(podman + ["import", "-c", 'CMD ["sh"]', os.path.join(work, "busybox.tar"), "localhost/busybox"],
                   check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    build = podman + ["build", "-q", "--network", "none", "--ulimit", "nofile=1024:1024",
                      "--ulimit", "nproc=1024:1024", "-t", "bench:1", ctx]

    def reset():
        subprocess.run(podman + ["rmi", "-f", "bench:1"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        subprocess.run(podman + ["image", "prune", "-f"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        subprocess.run(podman + ["builder", "prune", "-f"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    cold, cached = measure(build, reset, runs)
    subprocess.run(podman + ["system", "reset", "-f"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    print(json.dumps({"cold": cold, "cached": cached}))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--files", type=int, default=2000)
    ap.add_argument("--pier", default="build-release/pier")
    ap.add_argument("--inner", help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.inner:
        inner_podman(a.inner, a.runs)
        return
    if os.geteuid() != 0:
        sys.exit("run as root")
    work = tempfile.mkdtemp(prefix="pier-bench-build-")
    try:
        busybox_tar(os.path.join(work, "busybox.tar"))
        ctx = make_context(work, a.files)
        p_cold, p_cached = bench_pier(os.path.abspath(a.pier), work, ctx, a.runs)
        inner = ("umount /sys/fs/cgroup/unified 2>/dev/null; exec /usr/bin/python3 %s --inner %s --runs %d"
                 % (os.path.abspath(__file__), work, a.runs))
        out = subprocess.run(["unshare", "-m", "sh", "-c", inner], capture_output=True, text=True)
        if out.returncode != 0:
            sys.exit("podman failed:\n" + out.stdout + out.stderr)
        q = json.loads(out.stdout.strip().splitlines()[-1])
        print("two-stage build, COPY of %d files (median of %d):" % (a.files, a.runs))
        print("  cold    pier %8.1f ms   podman %8.1f ms   podman/pier = %.1fx"
              % (p_cold, q["cold"], q["cold"] / p_cold))
        print("  cached  pier %8.1f ms   podman %8.1f ms   podman/pier = %.1fx"
              % (p_cached, q["cached"], q["cached"] / p_cached))
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
