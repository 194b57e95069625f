"""pier-runtime under the engines that drive OCI runtimes: podman (through
conmon) and containerd (through containerd-shim-runc-v2, via ctr)."""

import gzip
import hashlib
import io
import json
import os
import re
import shutil
import signal
import subprocess
import tarfile
import tempfile
import time
import uuid
from pathlib import Path

import pytest

from conftest import CGROUP_ROOT, read, run_captured, wait_until

pytestmark = pytest.mark.ecosystem

IMAGE = "localhost/pier-busybox:latest"


def rootfs_tar(rootfs, dest):
    with tarfile.open(dest, "w") as t:
        for p in sorted(rootfs.rglob("*")):
            t.add(p, arcname=str(p.relative_to(rootfs)), recursive=False)
    return dest


def umount_under(path):
    mi = read("/proc/self/mountinfo")
    mps = [l.split()[4] for l in mi.splitlines() if l.split()[4].startswith(str(path))]
    for mp in sorted(mps, key=len, reverse=True):
        subprocess.run(["umount", "-l", mp], capture_output=True)


def cgroup_dirs(names):
    """Every directory under each cgroup hierarchy whose path starts with
    one of names (e.g. podman's libpod_parent, containerd's namespace)."""
    found = set()
    for hier in os.listdir("/sys/fs/cgroup"):
        for name in names:
            top = os.path.join("/sys/fs/cgroup", hier, name)
            for dirpath, _, _ in os.walk(top):
                found.add(dirpath)
    return found


@pytest.fixture(scope="module", autouse=True)
def remove_tool_cgroups():
    """podman leaves its parent cgroups (libpod_parent/conmon) behind, as it
    does with runc: remove the ones this module made once it is done (rmdir:
    only empty ones)."""
    names = ("libpod_parent",)
    before = cgroup_dirs(names)
    yield
    # conmon processes leave their cgroup asynchronously: retry a while.
    deadline = time.monotonic() + 10
    while True:
        left = sorted(cgroup_dirs(names) - before, key=len, reverse=True)
        for d in left:
            try:
                os.rmdir(d)
            except OSError:
                pass
        if not (cgroup_dirs(names) - before) or time.monotonic() > deadline:
            break
        time.sleep(0.2)


def state_ids(root):
    return sorted(os.listdir(root)) if os.path.isdir(root) else []


# ------------------------------------------------------------------ podman


class Podman:
    def __init__(self, argv, state_root, base):
        self.argv = argv
        self.state_root = state_root
        self.base = base
        self.conf_no_sysctls = base / "containers-no-sysctls.conf"
        self.conf_no_sysctls.write_text("[containers]\ndefault_sysctls = []\n")

    def __call__(self, *args, timeout=120, no_default_sysctls=False, input=None):
        env = dict(os.environ)
        if no_default_sysctls:
            env["CONTAINERS_CONF"] = str(self.conf_no_sysctls)
        # conmon writes an `oom` marker into its working directory when the
        # container is OOM-killed: keep that in the test's own directory.
        return run_captured(self.argv + [str(a) for a in args], timeout=timeout, env=env, input=input,
                            cwd=self.base)


# podman runs the OCI runtime without --root (so pier uses its default,
# /run/pier-runtime), and its exit command (`podman container cleanup`)
# does not pass --runtime-flag on: a private root would split the two.
# So use the default root, and watch only the ids podman creates.
DEFAULT_ROOT = Path("/run/pier-runtime")


def podman_ids(root=DEFAULT_ROOT):
    return {x for x in state_ids(root) if re.fullmatch("[0-9a-f]{64}", x)}


@pytest.fixture(scope="module")
def podman_env(runtime_path, rootfs_template, tmp_path_factory):
    if shutil.which("podman") is None or shutil.which("conmon") is None:
        pytest.skip("podman or conmon is not installed")
    base = tmp_path_factory.mktemp("podman")
    argv = ["podman", "--root", str(base / "root"), "--runroot", str(base / "runroot"),
            "--tmpdir", str(base / "tmp"), "--cgroup-manager=cgroupfs", "--events-backend=file",
            "--runtime", runtime_path]
    p = Podman(argv, DEFAULT_ROOT, base)
    tar = rootfs_tar(rootfs_template, base / "busybox.tar")
    r = p("import", tar, IMAGE)
    assert r.rc == 0, f"podman import failed: {r!r}"
    yield p
    p("rm", "--all", "--force", "--time", "0", timeout=60)
    p("rmi", "--all", "--force", timeout=60)
    umount_under(base)


@pytest.fixture
def podman(podman_env):
    before = podman_ids()
    yield podman_env
    left = podman_env("ps", "--all", "--quiet", "--no-trunc").out.split()
    podman_env("rm", "--all", "--force", "--time", "0", timeout=60)
    # conmon's exit command cleans up asynchronously: give it a moment.
    deadline = time.monotonic() + 5
    while podman_ids() - before and time.monotonic() < deadline:
        time.sleep(0.1)
    ids = sorted(podman_ids() - before)
    for cid in ids:
        run_captured([podman_env.argv[podman_env.argv.index("--runtime") + 1], "delete", "--force", cid])
    assert not left, f"podman containers left behind: {left}"
    assert not ids, f"runtime state left behind in {DEFAULT_ROOT}: {ids}"


def test_podman_run_echo(podman):
    # Exactly what a user types.  podman's default config adds the sysctl
    # net.ipv4.ping_group_range to every container.
    r = podman("run", "--rm", "--ulimit", "nofile=1024:1024", "--ulimit", "nproc=1024:1024", IMAGE,
               "echo", "hi")
    assert r.rc == 0, r
    assert r.out == "hi\n"


def test_podman_run_echo_without_default_sysctls(podman):
    # The same with podman's default sysctls switched off (containers.conf).
    r = podman("run", "--rm", "--ulimit", "nofile=1024:1024", "--ulimit", "nproc=1024:1024", IMAGE,
               "echo", "hi", no_default_sysctls=True)
    assert r.rc == 0, r
    assert r.out == "hi\n"


def test_podman_exit_code_env_user_ulimit(podman):
    r = podman("run", "--rm", "--network", "none", "-e", "FOO=bar", "-u", "1000:1000",
               "--ulimit", "nofile=512:1024", IMAGE,
               "sh", "-c", 'echo "$FOO $(id -u) $(id -g) $(ulimit -n) $(ulimit -Hn)"; exit 5',
               no_default_sysctls=True)
    assert r.rc == 5, r
    assert r.out.split() == ["bar", "1000", "1000", "512", "1024"], r


def test_podman_sysctl(podman):
    r = podman("run", "--rm", "--network", "none", "--sysctl", "net.ipv4.ip_forward=1", IMAGE,
               "cat", "/proc/sys/net/ipv4/ip_forward", no_default_sysctls=True)
    assert r.rc == 0, r
    assert r.out.strip() == "1"


def test_podman_detached_lifecycle(podman):
    name = f"pier-{uuid.uuid4().hex[:8]}"
    r = podman("run", "-d", "--name", name, "--network", "none", IMAGE,
               "sh", "-c", "trap 'exit 0' TERM; while :; do sleep 0.1; done", no_default_sysctls=True)
    assert r.rc == 0, r
    cid = r.out.strip()
    assert cid in state_ids(podman.state_root)
    r = podman("exec", name, "sh", "-c", "echo from-exec; exit 4")
    assert r.rc == 4 and r.out == "from-exec\n", r
    r = podman("top", name, "pid", "args")
    assert r.rc == 0 and ("sleep" in r.out or "while" in r.out), r
    r = podman("pause", name)
    assert r.rc == 0, r
    assert podman("inspect", "--format", "{{.State.Status}}", name).out.strip() == "paused"
    r = podman("unpause", name)
    assert r.rc == 0, r
    assert podman("inspect", "--format", "{{.State.Status}}", name).out.strip() == "running"
    r = podman("stop", "--time", "5", name)
    assert r.rc == 0, r
    assert podman("inspect", "--format", "{{.State.ExitCode}}", name).out.strip() == "0"
    r = podman("rm", name)
    assert r.rc == 0, r
    assert cid not in state_ids(podman.state_root)
    assert not any((h / "libpod_parent" / f"libpod-{cid}").exists() for h in CGROUP_ROOT.iterdir())


def test_podman_logs_and_kill(podman):
    name = f"pier-{uuid.uuid4().hex[:8]}"
    r = podman("run", "-d", "--name", name, "--network", "none", IMAGE,
               "sh", "-c", "echo line-one; while :; do sleep 0.1; done", no_default_sysctls=True)
    assert r.rc == 0, r
    wait_until(lambda: "line-one" in podman("logs", name).out, 10, what="podman logs")
    r = podman("kill", name)
    assert r.rc == 0, r
    wait_until(lambda: podman("inspect", "--format", "{{.State.Status}}", name).out.strip()
               in ("exited", "stopped"), 10, what="container to exit")
    assert podman("inspect", "--format", "{{.State.ExitCode}}", name).out.strip() == "137"
    assert podman("rm", name).rc == 0


def test_podman_memory_limit(podman):
    r = podman("run", "--rm", "--network", "none", "--memory", "32m", IMAGE,
               "sh", "-c", "dd if=/dev/zero of=/dev/null bs=64M count=1; echo rc=$?",
               no_default_sysctls=True)
    assert "rc=137" in r.out, r


# -------------------------------------------------------------- containerd


def oci_archive(rootfs, dest, name=IMAGE):
    """An OCI image archive (index.json + blobs) of the busybox rootfs."""
    blobs = {}

    def add(data):
        d = hashlib.sha256(data).hexdigest()
        blobs[d] = data
        return f"sha256:{d}", len(data)

    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w") as t:
        for p in sorted(rootfs.rglob("*")):
            t.add(p, arcname=str(p.relative_to(rootfs)), recursive=False)
    layer = raw.getvalue()
    diff_id = "sha256:" + hashlib.sha256(layer).hexdigest()
    gz = gzip.compress(layer, mtime=0)
    layer_digest, layer_size = add(gz)
    config = {
        "architecture": "amd64", "os": "linux",
        "config": {"Env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"],
                   "Cmd": ["sh"]},
        "rootfs": {"type": "layers", "diff_ids": [diff_id]},
    }
    cfg_digest, cfg_size = add(json.dumps(config).encode())
    manifest = {
        "schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": cfg_digest,
                   "size": cfg_size},
        "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", "digest": layer_digest,
                    "size": layer_size}],
    }
    man_digest, man_size = add(json.dumps(manifest).encode())
    index = {"schemaVersion": 2, "manifests": [{
        "mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": man_digest, "size": man_size,
        "platform": {"architecture": "amd64", "os": "linux"},
        "annotations": {"io.containerd.image.name": name, "org.opencontainers.image.ref.name": "latest"},
    }]}

    def put(t, arcname, data):
        ti = tarfile.TarInfo(arcname)
        ti.size = len(data)
        ti.mode = 0o644
        t.addfile(ti, io.BytesIO(data))

    with tarfile.open(dest, "w") as t:
        put(t, "oci-layout", json.dumps({"imageLayoutVersion": "1.0.0"}).encode())
        put(t, "index.json", json.dumps(index).encode())
        for d, data in blobs.items():
            put(t, f"blobs/sha256/{d}", data)
    return dest


class Containerd:
    def __init__(self, address, namespace, runtime):
        self.address = address
        self.namespace = namespace
        self.runtime = runtime

    def ctr(self, *args, timeout=60, input=None):
        return run_captured(["ctr", "-a", self.address, "-n", self.namespace, *map(str, args)],
                            timeout=timeout, input=input)

    @property
    def runc_root(self):
        # containerd-shim-runc-v2 runs the runtime with --root <this>.
        return Path("/run/containerd/runc") / self.namespace


@pytest.fixture(scope="module")
def containerd_env(runtime_path, rootfs_template, tmp_path_factory):
    for tool in ("containerd", "ctr", "containerd-shim-runc-v2"):
        if shutil.which(tool) is None:
            pytest.skip(f"{tool} is not installed")
    base = Path(tempfile.mkdtemp(prefix="pier-ctrd-", dir="/tmp"))
    sock = base / "containerd.sock"
    (base / "config.toml").write_text(f"""version = 2
root = "{base}/root"
state = "{base}/state"
disabled_plugins = ["io.containerd.grpc.v1.cri", "io.containerd.snapshotter.v1.btrfs",
                    "io.containerd.snapshotter.v1.zfs", "io.containerd.snapshotter.v1.devmapper",
                    "io.containerd.snapshotter.v1.aufs"]
[grpc]
  address = "{sock}"
[ttrpc]
  address = "{sock}.ttrpc"
[debug]
  address = "{base}/debug.sock"
""")
    log = open(base / "containerd.log", "w")
    proc = subprocess.Popen(["containerd", "--config", str(base / "config.toml")], stdout=log,
                            stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    c = Containerd(str(sock), f"pier-test-{uuid.uuid4().hex[:8]}", runtime_path)
    try:
        wait_until(lambda: proc.poll() is not None or c.ctr("version", timeout=10).rc == 0, 20,
                   what="containerd to serve")
        if proc.poll() is not None:
            pytest.fail(f"containerd exited: {read(base / 'containerd.log')}")
        tar = oci_archive(rootfs_template, base / "busybox-oci.tar")
        r = c.ctr("images", "import", tar)
        assert r.rc == 0, f"ctr images import failed: {r!r}"
        assert IMAGE in c.ctr("images", "ls", "-q").out.split(), c.ctr("images", "ls").out
        yield c
    finally:
        for cid in c.ctr("containers", "ls", "-q").out.split():
            c.ctr("task", "kill", "-s", "KILL", cid)
            c.ctr("task", "rm", "-f", cid)
            c.ctr("containers", "rm", cid)
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()
        umount_under(base)
        shutil.rmtree(c.runc_root, ignore_errors=True)
        shutil.rmtree(base, ignore_errors=True)
        # ctr puts containers at /<namespace>/<id>: the runtime removes the
        # leaf, the namespace's parent cgroup is ours to remove.
        for h in CGROUP_ROOT.iterdir():
            try:
                (h / c.namespace).rmdir()
            except OSError:
                pass


@pytest.fixture
def containerd(containerd_env):
    yield containerd_env
    left = containerd_env.ctr("containers", "ls", "-q").out.split()
    ns_cgroup = CGROUP_ROOT / "memory" / containerd_env.namespace
    cgroups = sorted(p.name for p in ns_cgroup.iterdir() if p.is_dir()) if ns_cgroup.is_dir() else []
    for cid in left:
        containerd_env.ctr("task", "kill", "-s", "KILL", cid)
        containerd_env.ctr("task", "rm", "-f", cid)
        containerd_env.ctr("containers", "rm", cid)
    ids = state_ids(containerd_env.runc_root)
    assert not left, f"containerd containers left behind: {left}"
    assert not ids, f"runtime state left behind in {containerd_env.runc_root}: {ids}"
    assert not cgroups, f"container cgroups left behind under {ns_cgroup}: {cgroups}"


def test_ctr_run_echo(containerd):
    r = containerd.ctr("run", "--rm", "--runc-binary", containerd.runtime, IMAGE, "t1", "echo", "hi")
    assert r.rc == 0, r
    assert r.out == "hi\n"


def test_ctr_run_exit_code(containerd):
    r = containerd.ctr("run", "--rm", "--runc-binary", containerd.runtime, IMAGE, "t2",
                       "sh", "-c", "echo out; exit 7")
    assert r.rc == 7, r
    assert r.out == "out\n"


def test_ctr_detached_lifecycle(containerd):
    c = containerd
    r = c.ctr("run", "-d", "--runc-binary", c.runtime, IMAGE, "t3",
              "sh", "-c", "trap 'exit 0' TERM; while :; do sleep 0.1; done")
    assert r.rc == 0, r
    assert "t3" in state_ids(c.runc_root)
    r = c.ctr("task", "exec", "--exec-id", "e1", "t3", "sh", "-c", "echo from-exec; exit 3")
    assert r.rc == 3 and r.out == "from-exec\n", r
    ps = c.ctr("task", "ps", "t3")
    assert ps.rc == 0 and len(ps.out.splitlines()) >= 2, ps
    assert c.ctr("task", "pause", "t3").rc == 0
    assert "PAUSED" in c.ctr("task", "ls").out
    assert c.ctr("task", "resume", "t3").rc == 0
    assert "RUNNING" in c.ctr("task", "ls").out
    assert c.ctr("task", "kill", "t3").rc == 0  # SIGTERM: the trap exits 0
    wait_until(lambda: "STOPPED" in c.ctr("task", "ls").out, 10, what="task to stop")
    r = c.ctr("task", "rm", "t3")
    assert r.rc == 0, r
    assert c.ctr("containers", "rm", "t3").rc == 0
    assert "t3" not in state_ids(c.runc_root)


def test_ctr_run_with_memory_limit(containerd):
    r = containerd.ctr("run", "--rm", "--runc-binary", containerd.runtime, "--memory-limit",
                       str(32 * 1024 * 1024), IMAGE, "t4",
                       "sh", "-c", "dd if=/dev/zero of=/dev/null bs=64M count=1; echo rc=$?")
    assert "rc=137" in r.out, r
