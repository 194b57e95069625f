"""linux.seccomp: filters are loaded and enforced; bad profiles are refused."""

import errno
import json
import os
import socket
import threading

import pytest


def profile(syscalls, default="SCMP_ACT_ALLOW", **kw):
    p = {"defaultAction": default, "architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86",
                                                     "SCMP_ARCH_X32"],
         "syscalls": syscalls}
    p.update(kw)
    return p


def test_errno_action(rt, make_bundle):
    b = make_bundle(("sh", "-c", "touch /tmp/file && echo touch-ok; mkdir /tmp/d && echo mkdir-ok; "
                     "grep Seccomp: /proc/self/status"))
    b.add_mount("/tmp", "tmpfs", "tmpfs")
    b.linux["seccomp"] = profile([{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO",
                                   "errnoRet": errno.EPERM}])
    r = rt.run("sc1", b)
    assert r.rc == 0, r
    assert "touch-ok" in r.out
    assert "mkdir-ok" not in r.out
    assert "Operation not permitted" in r.err, r.err
    assert "Seccomp:\t2" in r.out


def test_errno_ret_value(rt, make_bundle):
    # A different errno must come through as given.
    b = make_bundle(("sh", "-c", "mkdir /tmp/d"))
    b.add_mount("/tmp", "tmpfs", "tmpfs")
    b.linux["seccomp"] = profile([{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO",
                                   "errnoRet": errno.ENOSPC}])
    r = rt.run("sc2", b)
    assert r.rc != 0
    assert "No space left on device" in r.err, r.err


def test_no_seccomp_control(rt, make_bundle):
    b = make_bundle(("sh", "-c", "mkdir /tmp/d && echo mkdir-ok; grep Seccomp: /proc/self/status"))
    b.add_mount("/tmp", "tmpfs", "tmpfs")
    b.linux.pop("seccomp", None)
    r = rt.run("sc0", b)
    assert "mkdir-ok" in r.out
    assert "Seccomp:\t0" in r.out


def test_default_errno_with_allow_list(rt, make_bundle):
    # Default deny (ENOSYS-like errno) with an allow list large enough for sh.
    allowed = ["read", "write", "exit", "exit_group", "execve", "brk", "mmap", "munmap", "mprotect",
               "arch_prctl", "set_tid_address", "rt_sigaction", "rt_sigprocmask", "rt_sigreturn",
               "getpid", "getppid", "getuid", "geteuid", "getgid", "getegid", "ioctl", "fcntl",
               "close", "open", "openat", "newfstatat", "fstat", "stat", "lstat", "getcwd",
               "uname", "wait4", "clone", "fork", "vfork", "dup2", "dup3", "prlimit64",
               "getrandom", "futex", "set_robust_list", "rseq", "statx", "readlink", "access",
               "faccessat", "faccessat2", "lseek", "poll", "pselect6", "select", "sigaltstack",
               "fadvise64", "sendfile", "readv", "writev", "pread64"]
    b = make_bundle(("sh", "-c", "echo alive; hostname newname; echo rc=$?"))
    b.linux["seccomp"] = profile([{"names": allowed, "action": "SCMP_ACT_ALLOW"}],
                                 default="SCMP_ACT_ERRNO", defaultErrnoRet=errno.EPERM)
    b.set_caps(["CAP_SYS_ADMIN", "CAP_KILL"])
    r = rt.run("sc3", b)
    assert "alive" in r.out, r
    assert "rc=0" not in r.out, "sethostname was not filtered"


def test_arg_condition(rt, make_bundle):
    # kill(pid, SIGUSR1) is refused; kill(pid, SIGUSR2) goes through.
    b = make_bundle(("sh", "-c", "trap 'echo got-usr1' USR1; trap 'echo got-usr2' USR2; "
                     "kill -USR1 $$; echo rc1=$?; kill -USR2 $$; echo rc2=$?"))
    b.linux["seccomp"] = profile([{"names": ["kill"], "action": "SCMP_ACT_ERRNO",
                                   "errnoRet": errno.EPERM,
                                   "args": [{"index": 1, "value": 10, "op": "SCMP_CMP_EQ"}]}])
    r = rt.run("sc4", b)
    lines = r.out.split()
    assert "got-usr1" not in lines, r
    assert "rc1=0" not in lines, r
    assert "got-usr2" in lines and "rc2=0" in lines, r


def test_kill_action(rt, make_bundle):
    b = make_bundle(("sh", "-c", "mkdir /tmp/x; echo rc=$?; ls -d /tmp/x; echo survived"))
    b.add_mount("/tmp", "tmpfs", "tmpfs")
    b.linux["seccomp"] = profile([{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_KILL_PROCESS"}])
    r = rt.run("sc5", b)
    # mkdir (a child of sh) dies of SIGSYS; sh goes on.
    assert "rc=159" in r.out.split(), r
    assert "/tmp/x" not in r.out.split()
    assert "survived" in r.out
    assert r.rc == 0


@pytest.mark.parametrize("bad", [
    {"defaultAction": "SCMP_ACT_BOGUS"},
    {"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["mkdir"], "action": "SCMP_ACT_NOPE"}]},
    {"defaultAction": "SCMP_ACT_ALLOW", "architectures": ["SCMP_ARCH_PDP11"]},
    {"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["mkdir"], "action": "SCMP_ACT_ERRNO",
                                                      "args": [{"index": 9, "value": 1,
                                                                "op": "SCMP_CMP_EQ"}]}]},
    {"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["mkdir"], "action": "SCMP_ACT_ERRNO",
                                                      "args": [{"index": 0, "value": 1,
                                                                "op": "SCMP_CMP_WHAT"}]}]},
    {"syscalls": []},
], ids=["bad-default", "bad-action", "bad-arch", "bad-arg-index", "bad-op", "no-default"])
def test_invalid_profile_fails_create(rt, make_bundle, bad):
    b = make_bundle(("sh", "-c", "echo ran"))
    b.linux["seccomp"] = bad
    r = rt.create("scbad", b)
    assert r.rc != 0, r
    assert "seccomp" in r.err.lower(), r.err
    assert rt("state", "scbad").rc != 0


def test_unknown_syscall_name_is_skipped(rt, make_bundle):
    # Names libseccomp does not know (newer kernels' syscalls) must not
    # break the profile: docker's default profile lists such names.
    b = make_bundle(("sh", "-c", "mkdir /tmp/d; echo done"))
    b.add_mount("/tmp", "tmpfs", "tmpfs")
    b.linux["seccomp"] = profile([
        {"names": ["no_such_syscall_pier", "mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO",
         "errnoRet": 1}])
    r = rt.run("scunk", b)
    assert r.rc == 0, r
    assert "Operation not permitted" in r.err


def listener(path, count):
    """A seccomp agent's socket: accepts count connections and keeps what
    each sends (the notify fd and the ContainerProcessState JSON)."""
    srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    srv.bind(str(path))
    srv.listen(count)
    got = []

    def serve():
        for _ in range(count):
            conn, _ = srv.accept()
            msg, fds, _, _ = socket.recv_fds(conn, 65536, 1)
            got.append({"state": json.loads(msg.rstrip(b"\0")), "fds": fds})
            # Closing the notify fd answers every notified syscall with ENOSYS.
            for fd in fds:
                os.close(fd)
            conn.close()
        srv.close()

    t = threading.Thread(target=serve, daemon=True)
    t.start()
    return t, got


@pytest.mark.parametrize("where", ["init", "exec"])
def test_notify_listener_gets_fd_and_state(rt, make_bundle, public_tmp, where):
    sock = public_tmp / "agent.sock"
    # The init connects, and then (for exec) the exec'd process too.
    t, got = listener(sock, 1 if where == "init" else 2)
    cmd = "mkdir /tmp/x 2>/dev/null; echo rc=$?"
    b = make_bundle(("sh", "-c", cmd if where == "init" else "sleep 100"))
    b.linux["seccomp"] = profile([{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_NOTIFY"}],
                                 listenerPath=str(sock), listenerMetadata="agent-meta")
    b.config["root"]["readonly"] = False
    if where == "init":
        r = rt.run("n1", b)
    else:
        rt.start_container("n1", b)
        r = rt.exec("n1", "sh", "-c", cmd)
    assert r.rc == 0, r
    t.join(10)
    assert "rc=1" in r.out, r.out
    assert len(got) == (1 if where == "init" else 2), got
    init_pid = got[0]["state"]["pid"]
    for g in got:
        st = g["state"]
        assert st["fds"] == ["seccompFd"] and st["metadata"] == "agent-meta", st
        assert st["state"]["id"] == "n1" and st["pid"] > 0, st
        assert len(g["fds"]) == 1
    if where == "exec":
        # The exec'd process is not the init.
        assert got[1]["state"]["pid"] != init_pid
