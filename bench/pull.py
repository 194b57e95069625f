#!/usr/bin/python3
"""Cold pull of a ~500 MB image in 5 layers from a loopback registry:
pier pull against `skopeo copy docker://... oci:dir` and `podman pull`.

The image is made here (5 layers of 100 MB of random data, so nothing
compresses it), loaded into a pier store and pushed once to Debian's
docker-registry, started by this script on 127.0.0.1 (a free port, storage
in a temp dir) and stopped by PID at the end.  Each tool then pulls it
into a fresh store (pier --root, skopeo's oci: directory, podman --root),
taking turns; the registry's files are in the page cache for all of them.
Reports the median wall time over --runs, the ratio to pier and the peak
RSS (GNU time %M).

usage: bench/pull.py [--runs 3] [--pier build-release/pier] [--layer-mb 100]
"""
import argparse
import importlib.util
import os
import shutil
import socket
import statistics
import subprocess
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))


def load_helpers():
    """make_layer and make_archive, shared with bench/image-load.py."""
    spec = importlib.util.spec_from_file_location("image_load", os.path.join(HERE, "image-load.py"))
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def timed(cmd):
    """(seconds, peak RSS KiB) of one run of cmd."""
    t0 = time.perf_counter()
    r = subprocess.run(["/usr/bin/time", "-f", "%M"] + cmd, capture_output=True, text=True)
    t1 = time.perf_counter()
    if r.returncode != 0:
        raise SystemExit(f"{cmd[0]} failed: {r.stderr}")
    return t1 - t0, int(r.stderr.strip().splitlines()[-1])


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_registry(work):
    port = free_port()
    cfg = os.path.join(work, "registry.yml")
    with open(cfg, "w") as f:
        f.write(f"version: 0.1\nlog:\n  level: error\nstorage:\n  filesystem:\n    rootdirectory: {work}/registry\n"
                f"http:\n  addr: 127.0.0.1:{port}\n")
    proc = subprocess.Popen(["/usr/bin/docker-registry", "serve", cfg], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 10
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return proc, port
        except OSError:
            if proc.poll() is not None or time.monotonic() > deadline:
                raise SystemExit("docker-registry did not start")
            time.sleep(0.05)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--pier", default=os.path.join(HERE, "..", "build-release", "pier"))
    ap.add_argument("--layer-mb", type=int, default=100)
    a = ap.parse_args()
    pier = os.path.abspath(a.pier)
    h = load_helpers()
    work = tempfile.mkdtemp(prefix="pier-pullbench-", dir="/var/tmp")
    reg = None
    try:
        layers = []
        for n in range(5):
            p = os.path.join(work, f"l{n}.tar")
            h.make_layer(p, a.layer_mb, n)
            layers.append(p)
        archive = os.path.join(work, "image.tar")
        h.make_archive(layers, archive)
        for p in layers:
            os.unlink(p)
        size_mb = os.path.getsize(archive) / 1e6
        reg, port = start_registry(work)
        ref = f"127.0.0.1:{port}/bench/pull:1"
        src = os.path.join(work, "src-store")
        for cmd in (["load", "-q", "-i", archive], ["tag", "bench/load:1", ref], ["push", "-q", ref]):
            subprocess.run([pier, "--root", src, *cmd], check=True, capture_output=True)
        shutil.rmtree(src, ignore_errors=True)
        os.unlink(archive)

        def pier_run(i):
            root = os.path.join(work, f"pier-{i}")
            r = timed([pier, "--root", root, "pull", "-q", ref])
            shutil.rmtree(root, ignore_errors=True)
            return r

        def skopeo_run(i):
            dest = os.path.join(work, f"oci-{i}")
            r = timed(["skopeo", "copy", "-q", "--src-tls-verify=false", f"docker://{ref}", f"oci:{dest}:bench"])
            shutil.rmtree(dest, ignore_errors=True)
            return r

        def podman_run(i):
            root = os.path.join(work, f"podman-{i}")
            rr = os.path.join(work, f"podman-run-{i}")
            r = timed(["podman", "--root", root, "--runroot", rr, "--cgroup-manager=cgroupfs",
                       "--events-backend=file", "pull", "-q", "--tls-verify=false", ref])
            subprocess.run(["podman", "--root", root, "--runroot", rr, "rmi", "-a", "-f"], capture_output=True)
            subprocess.run(["umount", "-R", root], capture_output=True)
            shutil.rmtree(root, ignore_errors=True)
            shutil.rmtree(rr, ignore_errors=True)
            return r

        # Fair ground: the registry's blobs are on disk and in the page cache.
        os.sync()
        for dirpath, _, files in os.walk(os.path.join(work, "registry")):
            for f in files:
                with open(os.path.join(dirpath, f), "rb") as fh:
                    while fh.read(1 << 24):
                        pass
        tools = [(name, fn) for name, fn, tool in (("pier pull", pier_run, pier), ("skopeo copy", skopeo_run, "skopeo"),
                                                   ("podman pull", podman_run, "podman"))
                 if shutil.which(tool) is not None or os.path.exists(tool)]
        runs = {name: [] for name, _ in tools}
        for i in range(a.runs):
            for name, fn in tools:
                runs[name].append(fn(i))
                os.sync()
        results = {}
        for name, rs in runs.items():
            results[name] = (statistics.median(t for t, _ in rs), max(m for _, m in rs))
        base = results["pier pull"][0]
        print(f"cold pull of a {size_mb:.0f} MB image with 5 layers from a loopback registry "
              f"(median of {a.runs} runs)")
        print("%-14s %10s %14s %14s" % ("tool", "median s", "ratio to pier", "peak RSS MiB"))
        for name, (t, rss) in results.items():
            print("%-14s %10.2f %14.2f %14.1f" % (name, t, t / base, rss / 1024))
    finally:
        if reg is not None:
            os.kill(reg.pid, 9)
            reg.wait()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
