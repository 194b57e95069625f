#!/usr/bin/python3
"""Networking, pier side by side with podman, in one run:

  1. `run --rm <busybox> true` with each engine's default networking
     (pier: its default bridge network; podman 4.3: its default CNI
     bridge), N sequential runs, median;
  2. TCP throughput from the host into a container through a published
     port (host 127.0.0.1:P -> container :5001): the container runs
     busybox `nc -l` into /dev/null, the host sends for a fixed time
     (the same small tool on both sides, so the numbers compare the
     engines' data paths: DNAT, bridge, veth).  Median of 3 transfers.

Podman 4.3 refuses this host's hybrid cgroups, so it runs in a private
mount namespace where /sys/fs/cgroup/unified is unmounted (the script
calls itself there), as bench/containers.py does.  Every store is a
temporary directory, removed at the end.

usage: sudo bench/network.py [--runs 30] [--seconds 3] [--pier build-release/pier]
"""
import argparse
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from containers import busybox_tar, timed  # noqa: E402

PODMAN_LIMITS = ["--ulimit", "nofile=1024:1024", "--ulimit", "nproc=1024:1024"]


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


def send_for(port, seconds):
    """Bytes per second sent to 127.0.0.1:port during `seconds`."""
    deadline = time.monotonic() + 10
    while True:
        try:
            s = socket.create_connection(("127.0.0.1", port), timeout=2)
            break
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)
    buf = b"\0" * (1 << 20)
    sent = 0
    t0 = time.perf_counter()
    end = t0 + seconds
    while time.perf_counter() < end:
        sent += s.send(buf)
    s.shutdown(socket.SHUT_WR)
    s.settimeout(30)
    try:
        s.recv(1)  # the receiver closes once it has read everything
    except OSError:
        pass
    dt = time.perf_counter() - t0
    s.close()
    return sent / dt


def throughput(start_receiver, stop_receiver, seconds):
    rates = []
    for _ in range(3):
        port = free_port()
        name = start_receiver(port)
        try:
            rates.append(send_for(port, seconds))
        finally:
            stop_receiver(name)
    return statistics.median(rates) * 8 / 1e9  # Gbit/s


def bench_pier(pier, work, runs, seconds):
    root, runroot = os.path.join(work, "pier-store"), os.path.join(work, "pier-run")
    base = [pier, "--root", root, "--runroot", runroot]
    subprocess.run(base + ["import", "-c", 'CMD ["sh"]', os.path.join(work, "busybox.tar"), "busybox"],
                   check=True, stdout=subprocess.DEVNULL)
    res = {"run": timed(base + ["run", "--rm", "busybox", "true"], runs)}

    def start(port):
        name = "recv%d" % port
        subprocess.run(base + ["run", "-d", "--name", name, "-p", "127.0.0.1:%d:5001" % port, "busybox",
                               "sh", "-c", "nc -l -p 5001 > /dev/null"], check=True, stdout=subprocess.DEVNULL)
        return name

    def stop(name):
        subprocess.run(base + ["rm", "-f", name], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    res["tcp"] = throughput(start, stop, seconds)
    return res


def inner_podman(work, runs, seconds):
    proot, prun = os.path.join(work, "podman-root"), os.path.join(work, "podman-run")
    podman = ["podman", "--root", proot, "--runroot", prun, "--cgroup-manager", "cgroupfs",
              "--events-backend", "none"]
    subprocess.run(podman + ["import", "-c", 'CMD ["sh"]', os.path.join(work, "busybox.tar"), "localhost/busybox"],
                   check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    res = {"run": timed(podman + ["run", "--rm"] + PODMAN_LIMITS + ["localhost/busybox", "true"], runs)}

    def start(port):
        name = "recv%d" % port
        subprocess.run(podman + ["run", "-d", "--name", name, "-p", "127.0.0.1:%d:5001" % port] + PODMAN_LIMITS
                       + ["localhost/busybox", "sh", "-c", "nc -l -p 5001 > /dev/null"], check=True,
                       stdout=subprocess.DEVNULL)
        return name

    def stop(name):
        subprocess.run(podman + ["rm", "-f", "-t", "0", name], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    try:
        res["tcp"] = throughput(start, stop, seconds)
    finally:
        subprocess.run(podman + ["rm", "-f", "-a", "-t", "0"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        subprocess.run(podman + ["system", "reset", "-f"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    print(json.dumps(res))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=30)
    ap.add_argument("--seconds", type=float, default=3.0)
    ap.add_argument("--pier", default="build-release/pier")
    ap.add_argument("--inner", help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.inner:
        inner_podman(a.inner, a.runs, a.seconds)
        return
    if os.geteuid() != 0:
        sys.exit("run as root")
    work = tempfile.mkdtemp(prefix="pier-bench-net-")
    try:
        busybox_tar(os.path.join(work, "busybox.tar"))
        p = bench_pier(os.path.abspath(a.pier), work, a.runs, a.seconds)
        inner = ("umount /sys/fs/cgroup/unified 2>/dev/null; exec /usr/bin/python3 %s --inner %s --runs %d "
                 "--seconds %s" % (os.path.abspath(__file__), work, a.runs, a.seconds))
        out = subprocess.run(["unshare", "-m", "sh", "-c", inner], capture_output=True, text=True)
        if out.returncode != 0:
            sys.exit("podman failed:\n" + out.stdout + out.stderr)
        q = json.loads(out.stdout.strip().splitlines()[-1])
        print("run --rm busybox true, default networking (median of %d):" % a.runs)
        print("  pier   %7.1f ms   (default bridge network)" % p["run"])
        print("  podman %7.1f ms   (default CNI bridge)   podman/pier = %.1fx" % (q["run"], q["run"] / p["run"]))
        print("TCP host -> container through a published port on 127.0.0.1 (busybox nc, %gs, median of 3):"
              % a.seconds)
        print("  pier   %6.2f Gbit/s" % p["tcp"])
        print("  podman %6.2f Gbit/s   pier/podman = %.2fx" % (q["tcp"], p["tcp"] / q["tcp"]))
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
