"""Fixtures for pier-runtime system tests.

These tests drive the real `pier-runtime` binary as root, the way a user,
containerd or podman does, and check what the user sees.  Every test gets
its own state root (--root); when the test ends, whatever it left is
force-deleted and the test fails if anything survived: state entries,
cgroup directories, mounts mentioning the bundle, or live processes.

Environment:
  PIER_BUILD   build directory holding pier-runtime (default /work/main/build)
"""

import errno
import json
import os
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path

import pytest

BUSYBOX = "/bin/busybox"
CGROUP_ROOT = Path("/sys/fs/cgroup")


def pytest_configure(config):
    config.addinivalue_line("markers", "slow: takes more than a few seconds")
    config.addinivalue_line("markers", "ecosystem: drives podman or containerd")


# ---------------------------------------------------------------- helpers


def read(path, default=None):
    try:
        return Path(path).read_text()
    except OSError:
        if default is not None:
            return default
        raise


def proc_state(pid):
    """One-letter process state, or None when the pid does not exist."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return stat[stat.rindex(")") + 2]


def alive(pid):
    """True when pid runs (zombies count as dead: PID 1 reaps lazily here)."""
    st = proc_state(pid)
    return st is not None and st not in ("Z", "X")


def wait_until(pred, timeout=10.0, interval=0.02, what="condition"):
    deadline = time.monotonic() + timeout
    while True:
        v = pred()
        if v:
            return v
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(interval)


def cgroup_dirs_for(cgpath):
    """Every existing cgroup directory for the relative cgroup path cgpath."""
    found = []
    for hier in sorted(CGROUP_ROOT.iterdir()):
        d = hier / cgpath
        if d.is_dir():
            found.append(d)
    return found


def cgroup_file(ctrl, cgpath, name):
    return CGROUP_ROOT / ctrl / cgpath / name


def pids_in_cgroup_path(cgpath):
    """Live pids whose /proc/<pid>/cgroup names cgpath in any hierarchy."""
    needle = "/" + cgpath.strip("/")
    out = set()
    for p in os.listdir("/proc"):
        if not p.isdigit():
            continue
        try:
            text = Path(f"/proc/{p}/cgroup").read_text()
        except OSError:
            continue
        for line in text.splitlines():
            path = line.split(":", 2)[-1]
            if path == needle or path.startswith(needle + "/"):
                if alive(int(p)):
                    out.add(int(p))
                break
    return out


class Result:
    def __init__(self, args, rc, out, err):
        self.args = args
        self.rc = rc
        self.out = out
        self.err = err

    def __repr__(self):
        return (f"<rc={self.rc} args={self.args!r}\n--- stdout ---\n{self.out}"
                f"\n--- stderr ---\n{self.err}>")


def run_captured(argv, input=None, timeout=60, **kw):
    """Run argv and capture its output through files, not pipes.

    `create`, `run -d` and `exec -d` leave a container process holding the
    runtime's stdout and stderr (as runc does): waiting for EOF on a pipe
    would hang, so wait for the process and read files instead."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        p = subprocess.Popen(argv, stdin=subprocess.PIPE if input is not None else subprocess.DEVNULL,
                             stdout=out, stderr=err, **kw)
        try:
            if input is not None:
                try:
                    p.stdin.write(input.encode() if isinstance(input, str) else input)
                except BrokenPipeError:
                    pass
                p.stdin.close()
            rc = p.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()
            raise
        out.seek(0)
        err.seek(0)
        return Result(argv, rc, out.read().decode(errors="replace"), err.read().decode(errors="replace"))


# ---------------------------------------------------------------- bundles


class Bundle:
    """A bundle directory: rootfs (busybox) + config.json from `spec`."""

    def __init__(self, path, config):
        self.path = Path(path)
        self.rootfs = self.path / "rootfs"
        self.config = config

    @property
    def process(self):
        return self.config["process"]

    @property
    def linux(self):
        return self.config.setdefault("linux", {})

    def save(self):
        tmp = self.path / "config.json.tmp"
        tmp.write_text(json.dumps(self.config, indent=2))
        os.rename(tmp, self.path / "config.json")

    def add_mount(self, destination, type_, source, options=()):
        self.config.setdefault("mounts", []).append(
            {"destination": destination, "type": type_, "source": str(source),
             "options": list(options)})

    def set_caps(self, caps):
        self.process["capabilities"] = {k: list(caps) for k in
                                        ("bounding", "effective", "permitted")}


@pytest.fixture(scope="session")
def runtime_path():
    build = os.environ.get("PIER_BUILD", "/work/main/build")
    path = Path(build) / "pier-runtime"
    if not os.access(path, os.X_OK):
        pytest.fail(f"pier-runtime not found at {path} (set PIER_BUILD to the build directory)")
    return str(path.resolve())


@pytest.fixture(scope="session")
def rootfs_template(tmp_path_factory):
    """A busybox rootfs: Debian's static busybox plus one symlink per applet."""
    if not os.access(BUSYBOX, os.X_OK):
        pytest.fail(f"{BUSYBOX} missing: install busybox-static")
    root = tmp_path_factory.mktemp("rootfs-template") / "rootfs"
    (root / "bin").mkdir(parents=True)
    shutil.copy2(BUSYBOX, root / "bin" / "busybox")
    applets = subprocess.run([BUSYBOX, "--list"], capture_output=True, text=True,
                             check=True).stdout.split()
    for a in applets:
        if a != "busybox":
            os.symlink("busybox", root / "bin" / a)
    for d in ("sbin", "usr/bin", "usr/sbin"):
        (root / d).mkdir(parents=True, exist_ok=True)
    for d in ("proc", "sys", "dev", "tmp", "etc", "root", "mnt", "run", "var", "home"):
        (root / d).mkdir(exist_ok=True)
    os.chmod(root / "tmp", 0o1777)
    (root / "etc" / "passwd").write_text(
        "root:x:0:0:root:/root:/bin/sh\n"
        "nobody:x:65534:65534:nobody:/nonexistent:/bin/false\n"
        "user:x:1000:1000:user:/home:/bin/sh\n")
    (root / "etc" / "group").write_text(
        "root:x:0:\nnogroup:x:65534:\nuser:x:1000:\ng2:x:2000:\ng3:x:3000:\n")
    (root / "etc" / "hostname").write_text("template\n")
    return root


@pytest.fixture(scope="session")
def spec_template(runtime_path, tmp_path_factory):
    d = tmp_path_factory.mktemp("spec")
    r = subprocess.run([runtime_path, "spec", "--bundle", str(d)], capture_output=True, text=True)
    assert r.returncode == 0, f"`pier-runtime spec` failed: {r.stderr}"
    return json.loads((d / "config.json").read_text())


@pytest.fixture
def make_bundle(tmp_path, rootfs_template, spec_template):
    """make_bundle(args, name=None) -> Bundle with a fresh busybox rootfs.

    The config comes from `pier-runtime spec`, with terminal false and the
    given args.  Edit bundle.config and call save() (rt.create/run save for
    you)."""
    counter = [0]

    def make(args=("sh", "-c", "true"), name=None, base=None):
        counter[0] += 1
        path = Path(base or tmp_path) / (name or f"bundle{counter[0]}")
        path.mkdir()
        shutil.copytree(rootfs_template, path / "rootfs", symlinks=True)
        config = json.loads(json.dumps(spec_template))
        config["process"]["terminal"] = False
        config["process"]["args"] = list(args)
        b = Bundle(path, config)
        b.save()
        make.bundles.append(b)
        return b

    make.bundles = []
    return make


@pytest.fixture
def public_tmp():
    """A scratch dir every uid can traverse (pytest's tmp_path is 0700 root,
    which a user namespace's mapped root cannot enter)."""
    d = Path(tempfile.mkdtemp(prefix="pier-pub-", dir="/tmp"))
    os.chmod(d, 0o755)
    yield d
    shutil.rmtree(d, ignore_errors=True)


@pytest.fixture
def bundle(make_bundle):
    return make_bundle()


# ---------------------------------------------------------------- runtime


class Runtime:
    """Runs pier-runtime with a private --root; remembers what it created."""

    def __init__(self, path, root):
        self.path = path
        self.root = str(root)
        self.ids = set()
        self.pids = set()
        self.bundles = []

    def cmd(self, *args):
        return [self.path, "--root", self.root, *map(str, args)]

    def __call__(self, *args, input=None, timeout=60, env=None, pass_fds=(), cwd=None,
                 global_args=()):
        args = [str(a) for a in args]
        for i, a in enumerate(args):
            if a in ("create", "run") and i + 1 < len(args):
                self.ids.add(args[-1])
                break
        argv = [self.path, "--root", self.root, *map(str, global_args), *args]
        return run_captured(argv, input=input, timeout=timeout, env=env, pass_fds=pass_fds,
                            cwd=cwd)

    def ok(self, *args, **kw):
        r = self(*args, **kw)
        assert r.rc == 0, f"expected success: {r!r}"
        return r

    def fails(self, *args, **kw):
        r = self(*args, **kw)
        assert r.rc != 0, f"expected failure: {r!r}"
        assert r.err.strip(), f"failure without an error message: {r!r}"
        return r

    # -- convenience wrappers

    def create(self, cid, bundle, *extra, **kw):
        bundle.save()
        self.bundles.append(bundle)
        self.ids.add(cid)
        return self("create", "--bundle", bundle.path, *extra, cid, **kw)

    def run(self, cid, bundle, *extra, **kw):
        bundle.save()
        self.bundles.append(bundle)
        self.ids.add(cid)
        return self("run", "--bundle", bundle.path, *extra, cid, **kw)

    def state(self, cid):
        r = self.ok("state", cid)
        st = json.loads(r.out)
        if st.get("pid"):
            self.pids.add(st["pid"])
        return st

    def status(self, cid):
        return self.state(cid)["status"]

    def wait_status(self, cid, status, timeout=10):
        return wait_until(lambda: self.status(cid) == status, timeout,
                          what=f"container {cid} to be {status}")

    def start_container(self, cid, bundle, *extra):
        """create + start; returns the init pid."""
        r = self.create(cid, bundle, *extra)
        assert r.rc == 0, f"create failed: {r!r}"
        pid = self.state(cid)["pid"]
        r = self("start", cid)
        assert r.rc == 0, f"start failed: {r!r}"
        return pid

    def exec(self, cid, *argv, opts=(), **kw):
        return self("exec", *opts, cid, *argv, **kw)

    def cgpath(self, cid):
        """The container's relative cgroup path (from its saved state)."""
        st = json.loads(Path(self.root, cid, "state.json").read_text())
        return st.get("cgroupPath") or f"pier/{cid}"


def leftovers(rt, bundles):
    """Describe everything rt's containers left behind (empty list: clean)."""
    problems = []
    root = Path(rt.root)
    if root.exists():
        entries = sorted(os.listdir(root))
        if entries:
            problems.append(f"state root {root} still holds {entries}")
    for cid in sorted(rt.ids):
        cg = f"pier/{cid}"
        dirs = cgroup_dirs_for(cg)
        if dirs:
            problems.append(f"cgroup dirs left for {cid}: {[str(d) for d in dirs]}")
        live = pids_in_cgroup_path(cg)
        if live:
            problems.append(f"live processes in cgroup {cg}: {sorted(live)}")
    for pid in sorted(rt.pids):
        if alive(pid):
            problems.append(f"process {pid} ({read(f'/proc/{pid}/comm', '?').strip()}) still runs")
    mi = read("/proc/self/mountinfo")
    for b in bundles:
        for line in mi.splitlines():
            if str(b.path) in line:
                problems.append(f"mount left behind: {line}")
    return problems


def force_clean(rt, bundles):
    """Last-resort cleanup of what `delete --force` did not remove."""
    for cid in sorted(rt.ids):
        cg = f"pier/{cid}"
        for pid in pids_in_cgroup_path(cg):
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass
        fr = CGROUP_ROOT / "freezer" / cg / "freezer.state"
        if fr.exists():
            try:
                fr.write_text("THAWED")
            except OSError:
                pass
        uf = CGROUP_ROOT / "unified" / cg / "cgroup.freeze"
        if uf.exists():
            try:
                uf.write_text("0")
            except OSError:
                pass
    for pid in rt.pids:
        if alive(pid):
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass
    time.sleep(0.2)
    for cid in sorted(rt.ids):
        for d in cgroup_dirs_for(f"pier/{cid}"):
            for sub in sorted(d.rglob("*"), key=lambda p: -len(p.parts)):
                if sub.is_dir():
                    try:
                        sub.rmdir()
                    except OSError:
                        pass
            try:
                d.rmdir()
            except OSError:
                pass
    mi = read("/proc/self/mountinfo")
    for b in bundles:
        mps = [line.split()[4] for line in mi.splitlines() if str(b.path) in line]
        for mp in sorted(mps, key=len, reverse=True):
            subprocess.run(["umount", "-l", mp], capture_output=True)
    shutil.rmtree(rt.root, ignore_errors=True)


@pytest.fixture
def rt(runtime_path, tmp_path, make_bundle, public_tmp):
    """The runtime with a private state root; cleans up and checks for leaks.

    (It depends on public_tmp so that bundles made there outlive the
    containers: fixtures are torn down in reverse order.)"""
    root = Path(tempfile.mkdtemp(prefix="pier-root-", dir="/run"))
    r = Runtime(runtime_path, root)
    yield r
    # Force-delete every container the runtime knows in this root.
    errors = []
    if root.exists():
        for cid in sorted(os.listdir(root)):
            r.ids.add(cid)
            try:
                st = json.loads(Path(root, cid, "state.json").read_text())
                if st.get("pid"):
                    r.pids.add(st["pid"])
            except (OSError, ValueError):
                pass
            d = r("delete", "--force", cid, timeout=30)
            if d.rc != 0:
                errors.append(f"delete --force {cid} failed: {d.err.strip()}")
    bundles = list({str(b.path): b for b in make_bundle.bundles + r.bundles}.values())
    # Processes may take a moment to disappear after SIGKILL.
    deadline = time.monotonic() + 5
    problems = leftovers(r, bundles)
    while problems and time.monotonic() < deadline:
        time.sleep(0.1)
        problems = leftovers(r, bundles)
    if problems:
        force_clean(r, bundles)
    shutil.rmtree(root, ignore_errors=True)
    assert not errors and not problems, "cleanup found leftovers:\n  " + "\n  ".join(errors + problems)


@pytest.fixture
def copy_runtime(runtime_path, tmp_path):
    """A private copy of the runtime binary (for tests that attack it)."""
    dst = tmp_path / "pier-runtime-copy"
    shutil.copy2(runtime_path, dst)
    return str(dst)


@pytest.fixture
def sha256():
    import hashlib

    def h(path):
        return hashlib.sha256(Path(path).read_bytes()).hexdigest()

    return h


@pytest.fixture(scope="session", autouse=True)
def remove_pier_parent_cgroups():
    """pier-runtime keeps its parent cgroup ("pier", as runc keeps its
    parents); the test session removes the ones it made."""
    hiers = [os.path.join("/sys/fs/cgroup", h) for h in os.listdir("/sys/fs/cgroup")]
    before = {h for h in hiers if os.path.isdir(os.path.join(h, "pier"))}
    yield
    for h in hiers:
        if h not in before and os.path.isdir(os.path.join(h, "pier")):
            try:
                os.rmdir(os.path.join(h, "pier"))
            except OSError:
                pass
