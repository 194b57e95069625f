#!/usr/bin/python3
"""`load` of a ~500 MB image in 5 layers: pier load against
`skopeo copy docker-archive:... oci:...` and `podman load`, side by side.

The image is made here: 5 layers of 100 MB each (random data, so gzip
cannot shrink it), saved as a docker-archive by pier.  Each tool loads the
same archive into a fresh store (pier --root, skopeo's oci: directory,
podman --root); the page cache is warm for all of them.  Reports the median
wall time over --runs, the ratio to pier and the peak RSS (GNU time %M).

usage: bench/image-load.py [--runs 3] [--pier build-release/pier] [--layer-mb 100]
"""
import argparse
import io
import os
import shutil
import statistics
import subprocess
import tarfile
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))


def make_layer(path, mb, seed):
    with tarfile.open(path, "w") as t:
        data = os.urandom(mb * 1024 * 1024)
        info = tarfile.TarInfo(f"layer{seed}/data.bin")
        info.size = len(data)
        t.addfile(info, io.BytesIO(data))


def timed(cmd, env=None):
    """(seconds, peak RSS KiB) of one run of cmd."""
    t0 = time.perf_counter()
    r = subprocess.run(["/usr/bin/time", "-f", "%M"] + cmd, capture_output=True, text=True, env=env)
    t1 = time.perf_counter()
    if r.returncode != 0:
        raise SystemExit(f"{cmd[0]} failed: {r.stderr}")
    return t1 - t0, int(r.stderr.strip().splitlines()[-1])


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--pier", default=os.path.join(HERE, "..", "build-release", "pier"))
    ap.add_argument("--layer-mb", type=int, default=100)
    a = ap.parse_args()
    pier = os.path.abspath(a.pier)
    work = tempfile.mkdtemp(prefix="pier-loadbench-", dir="/var/tmp")
    try:
        # Build a 5-layer image: import the first layer, then add layers by
        # saving, editing the archive (manifest + config) and loading it.
        src = os.path.join(work, "src-store")
        layers = []
        for n in range(5):
            p = os.path.join(work, f"l{n}.tar")
            make_layer(p, a.layer_mb, n)
            layers.append(p)
        archive = os.path.join(work, "image.tar")
        make_archive(layers, archive)
        size_mb = os.path.getsize(archive) / 1e6
        results = {}

        def pier_run(i):
            root = os.path.join(work, f"pier-{i}")
            r = timed([pier, "--root", root, "load", "-q", "-i", archive])
            shutil.rmtree(root, ignore_errors=True)
            return r

        def skopeo_run(i):
            dest = os.path.join(work, f"oci-{i}")
            r = timed(["skopeo", "copy", "-q", f"docker-archive:{archive}", f"oci:{dest}:bench"])
            shutil.rmtree(dest, ignore_errors=True)
            return r

        def podman_run(i):
            root = os.path.join(work, f"podman-{i}")
            rr = os.path.join(work, f"podman-run-{i}")
            r = timed(["podman", "--root", root, "--runroot", rr, "--cgroup-manager=cgroupfs",
                       "--events-backend=file", "load", "-q", "-i", archive])
            subprocess.run(["podman", "--root", root, "--runroot", rr, "rmi", "-a", "-f"], capture_output=True)
            subprocess.run(["umount", "-R", root], capture_output=True)
            shutil.rmtree(root, ignore_errors=True)
            shutil.rmtree(rr, ignore_errors=True)
            return r

        # Fair ground: the new archive is on disk (no writeback racing the
        # first tool) and in the page cache; the tools take turns.
        os.sync()
        with open(archive, "rb") as f:
            while f.read(1 << 24):
                pass
        tools = [(name, fn) for name, fn, tool in (("pier load", pier_run, pier), ("skopeo copy", skopeo_run, "skopeo"),
                                                   ("podman load", podman_run, "podman"))
                 if shutil.which(tool) is not None or os.path.exists(tool)]
        runs = {name: [] for name, _ in tools}
        for i in range(a.runs):
            for name, fn in tools:
                runs[name].append(fn(i))
                os.sync()
        for name, rs in runs.items():
            results[name] = (statistics.median(t for t, _ in rs), max(m for _, m in rs))
        base = results["pier load"][0]
        print(f"load of a {size_mb:.0f} MB docker-archive with 5 layers (median of {a.runs} runs)")
        print("%-14s %10s %14s %14s" % ("tool", "median s", "ratio to pier", "peak RSS MiB"))
        for name, (t, rss) in results.items():
            print("%-14s %10.2f %14.2f %14.1f" % (name, t, t / base, rss / 1024))
    finally:
        shutil.rmtree(work, ignore_errors=True)


def make_archive(layer_tars, out):
    """A docker-archive (manifest.json, config, uncompressed layers)."""
    import hashlib
    import json
    diff_ids = []
    names = []
    for p in layer_tars:
        h = hashlib.sha256()
        with open(p, "rb") as f:
            for chunk in iter(lambda: f.read(1 << 20), b""):
                h.update(chunk)
        diff_ids.append("sha256:" + h.hexdigest())
        names.append(h.hexdigest() + ".tar")
    config = json.dumps({"architecture": "amd64", "os": "linux", "config": {},
                         "rootfs": {"type": "layers", "diff_ids": diff_ids},
                         "history": [{"created_by": f"layer {n}"} for n in range(len(diff_ids))]}).encode()
    cname = hashlib.sha256(config).hexdigest() + ".json"
    manifest = json.dumps([{"Config": cname, "RepoTags": ["bench/load:1"], "Layers": names}]).encode()
    with tarfile.open(out, "w") as t:
        for name, data in ((cname, config),):
            i = tarfile.TarInfo(name)
            i.size = len(data)
            t.addfile(i, io.BytesIO(data))
        for p, name in zip(layer_tars, names):
            t.add(p, arcname=name)
        i = tarfile.TarInfo("manifest.json")
        i.size = len(manifest)
        t.addfile(i, io.BytesIO(manifest))


if __name__ == "__main__":
    main()
