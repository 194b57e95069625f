"""process.terminal: the pty master reaches the caller over --console-socket
(SCM_RIGHTS), as containerd's shim and conmon receive it."""

import array
import fcntl
import os
import pty
import socket
import struct
import termios
import threading
import time

import pytest

from conftest import wait_until


class ConsoleServer:
    """Listens on a unix socket; receives one pty master; collects output."""

    def __init__(self, path):
        self.path = str(path)
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.bind(self.path)
        self.sock.listen(1)
        self.master = None
        self.got_fd = threading.Event()
        self.done = threading.Event()
        self.output = b""
        self.name = None
        self.error = None
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self):
        try:
            self.sock.settimeout(30)
            conn, _ = self.sock.accept()
            with conn:
                msg, fds, _flags, _addr = socket.recv_fds(conn, 4096, 4)
                self.name = msg.rstrip(b"\0").decode(errors="replace")
                if not fds:
                    self.error = "no fd received"
                    return
                self.master = fds[0]
                for extra in fds[1:]:
                    os.close(extra)
                self.got_fd.set()
            while True:
                try:
                    chunk = os.read(self.master, 4096)
                except OSError:  # EIO: the slave side is closed
                    break
                if not chunk:
                    break
                self.output += chunk
        except Exception as e:  # reported by the test
            self.error = repr(e)
        finally:
            self.got_fd.set()
            self.done.set()

    def write(self, data):
        os.write(self.master, data)

    def close(self):
        try:
            self.sock.shutdown(socket.SHUT_RDWR)  # wakes a pending accept()
        except OSError:
            pass
        self.sock.close()
        self.thread.join(5)
        if self.master is not None:
            try:
                os.close(self.master)
            except OSError:
                pass


@pytest.fixture
def console(tmp_path):
    servers = []

    def make():
        s = ConsoleServer(tmp_path / f"console{len(servers)}.sock")
        servers.append(s)
        return s

    yield make
    for s in servers:
        s.close()


def test_console_socket_create_start(rt, make_bundle, console):
    srv = console()
    b = make_bundle(("sh", "-c", "tty; stty size; read line; echo got:$line; exit 4"))
    b.process["terminal"] = True
    b.process["consoleSize"] = {"height": 33, "width": 111}
    r = rt.create("tty1", b, "--console-socket", srv.path)
    assert r.rc == 0, r
    assert srv.got_fd.wait(10), "no pty master received"
    assert srv.error is None, srv.error
    # The received fd is a pty master.
    st = os.fstat(srv.master)
    assert (os.major(st.st_rdev), os.minor(st.st_rdev)) == (5, 2), "not a ptmx"
    assert os.readlink(f"/proc/self/fd/{srv.master}").endswith("ptmx")
    rt.ok("start", "tty1")
    time.sleep(0.2)
    srv.write(b"hello-input\n")
    assert srv.done.wait(10), f"output never ended: {srv.output!r}"
    text = srv.output.decode(errors="replace").replace("\r", "")
    assert "/dev/pts/0" in text, text
    assert "33 111" in text, text
    assert "got:hello-input" in text, text
    rt.wait_status("tty1", "stopped")


def test_console_socket_winsize_from_master(rt, make_bundle, console):
    srv = console()
    b = make_bundle(("sh", "-c", "sleep 0.5; stty size"))
    b.process["terminal"] = True
    r = rt.create("tty2", b, "--console-socket", srv.path)
    assert r.rc == 0, r
    assert srv.got_fd.wait(10)
    fcntl.ioctl(srv.master, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 132, 0, 0))
    rt.ok("start", "tty2")
    assert srv.done.wait(10)
    assert "40 132" in srv.output.decode(errors="replace"), srv.output


def test_exec_tty_console_socket(rt, make_bundle, console):
    b = make_bundle(("sh", "-c", "while :; do sleep 0.1; done"))
    rt.start_container("tty3", b)
    srv = console()
    r = rt.exec("tty3", "sh", "-c", "tty; echo exec-tty-ok", opts=("-t", "--console-socket", srv.path))
    assert r.rc == 0, r
    assert srv.done.wait(10)
    text = srv.output.decode(errors="replace")
    assert "/dev/pts/" in text and "exec-tty-ok" in text, text


def test_terminal_without_console_socket_fails_create(rt, make_bundle):
    b = make_bundle(("sh",))
    b.process["terminal"] = True
    r = rt.create("tty4", b)
    assert r.rc != 0
    assert "console-socket" in r.err


def test_console_socket_without_terminal_fails(rt, make_bundle, console):
    srv = console()
    b = make_bundle(("true",))
    r = rt.create("tty5", b, "--console-socket", srv.path)
    assert r.rc != 0
    assert "terminal" in r.err


def test_console_socket_missing_path(rt, make_bundle, tmp_path):
    b = make_bundle(("true",))
    b.process["terminal"] = True
    r = rt.create("tty6", b, "--console-socket", tmp_path / "nope.sock")
    assert r.rc != 0
    assert "nope.sock" in r.err


def test_run_foreground_terminal_proxies(rt, make_bundle):
    # No console socket: `run` holds the pty and copies it to its stdout.
    b = make_bundle(("sh", "-c", "tty; echo proxied"))
    b.process["terminal"] = True
    r = rt.run("tty7", b)
    assert r.rc == 0, r
    assert "/dev/pts/0" in r.out and "proxied" in r.out, r


def test_run_foreground_terminal_follows_window_size(rt, make_bundle):
    """`run` with terminal: true and no console socket holds the pty itself;
    its own terminal's size, and later resizes, reach the container."""
    # The container reports its size, waits for a line, reports again.
    b = make_bundle(("sh", "-c", "stty size; read line; stty size"))
    b.process["terminal"] = True
    b.save()
    rt.ids.add("ws1")
    pid, fd = pty.fork()
    if pid == 0:
        fcntl.ioctl(0, termios.TIOCSWINSZ, struct.pack("HHHH", 30, 100, 0, 0))
        os.execv(rt.path, [rt.path, "--root", str(rt.root), "run", "--bundle", str(b.path), "ws1"])
    first = b""
    deadline = time.monotonic() + 10
    while b"\r\n" not in first and time.monotonic() < deadline:
        first += os.read(fd, 4096)
    fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 120, 0, 0))
    time.sleep(0.2)
    os.write(fd, b"go\n")
    out = b""
    while True:
        try:
            d = os.read(fd, 4096)
        except OSError:
            break
        if not d:
            break
        out += d
    _, status = os.waitpid(pid, 0)
    out = first + out
    assert os.waitstatus_to_exitcode(status) == 0, out
    lines = [l for l in out.split(b"\r\n") if l and l != b"go"]
    assert lines[:2] == [b"30 100", b"40 120"], out
