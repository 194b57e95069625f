"""Health checks (docker's HEALTHCHECK and run's --health-* flags) and
run --init, driven as a user drives them on the busybox image of
test_containers (its fixtures, Pier and leftover checks: every container
is removed at the end and nothing may be left, no monitor, no mount, no
cgroup, no file in the runroot's monitors/)."""
import json
import re

import pytest

from conftest import wait_until
from test_containers import Pier, image_tar, pier  # noqa: F401  (the fixtures)

RFC3339 = r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)"


def health(pier, cid):
    return pier.inspect(cid)["State"].get("Health")


def wait_health(pier, cid, pred, what, timeout=15):
    def probe():
        h = health(pier, cid)
        return h if h and pred(h) else None
    return wait_until(probe, timeout=timeout, interval=0.1, what=what)


def run_d(pier, *args):
    return pier.ok("run", "-d", *args).strip()


# ---------------------------------------------------------------- health


def test_healthy_status_in_inspect_ps_and_filters(pier):
    plain = run_d(pier, "--name", "plain", "busybox", "sleep", "100")
    good = run_d(pier, "--name", "good", "--health-cmd", "echo ok", "--health-interval", "200ms",
                 "busybox", "sleep", "100")
    slow = run_d(pier, "--name", "slow", "--health-cmd", "true", "--health-interval", "1h",
                 "busybox", "sleep", "100")
    assert pier.inspect(good)["Config"]["Healthcheck"] == {"Test": ["CMD-SHELL", "echo ok"],
                                                          "Interval": 200_000_000}
    h = wait_health(pier, good, lambda h: h["Status"] == "healthy", "healthy")
    assert h["FailingStreak"] == 0
    last = h["Log"][-1]
    assert last["ExitCode"] == 0 and last["Output"] == "ok\n"
    assert re.fullmatch(RFC3339, last["Start"]) and re.fullmatch(RFC3339, last["End"])
    assert last["Start"] <= last["End"]
    # The log keeps the last 5 results.
    wait_health(pier, good, lambda h: len(h["Log"]) == 5, "5 log entries")
    first = health(pier, good)["Log"][0]["Start"]
    wait_health(pier, good, lambda h: h["Log"][0]["Start"] > first, "the log to move on")
    assert len(health(pier, good)["Log"]) == 5
    assert pier.ok("inspect", "--format", "{{.State.Health.Status}}", "good") == "healthy\n"

    # No check, no Health; a check not yet run: starting.
    assert "Health" not in pier.inspect(plain)["State"]
    assert health(pier, slow) == {"Status": "starting", "FailingStreak": 0, "Log": []}

    rows = dict(line.split("|") for line in pier.ok("ps", "--format", "{{.Names}}|{{.Status}}").splitlines())
    assert re.fullmatch(r"Up .+ \(healthy\)", rows["good"]), rows
    assert re.fullmatch(r"Up .+ \(health: starting\)", rows["slow"]), rows
    assert re.fullmatch(r"Up [^(]+", rows["plain"]), rows
    for value, want in (("healthy", [good]), ("starting", [slow]), ("none", [plain]), ("unhealthy", [])):
        assert pier.ok("ps", "-q", "--no-trunc", "--filter", f"health={value}").split() == want, value
    r = pier("ps", "--filter", "health=bogus")
    assert r.rc != 0 and "Unrecognised filter value for health: bogus" in r.err, r

    # Paused: no probes, and unhealthy (docker's rule) until one passes again.
    pier.ok("pause", good)
    assert health(pier, good)["Status"] == "unhealthy"
    assert re.fullmatch(r"Up .+ \(Paused\)\n", pier.ok("ps", "--filter", "name=good", "--format", "{{.Status}}"))
    pier.ok("unpause", good)
    wait_health(pier, good, lambda h: h["Status"] == "healthy", "healthy after unpause")


def test_unhealthy_streak_log_timeout_and_truncation(pier):
    bad = run_d(pier, "--health-cmd", "echo bad; exit 1", "--health-interval", "200ms",
                "--health-retries", "3", "busybox", "sleep", "100")
    code2 = run_d(pier, "--health-cmd", "exit 2", "--health-interval", "200ms", "--health-retries", "1",
                  "busybox", "sleep", "100")
    slow = run_d(pier, "--health-cmd", "echo partial; sleep 10", "--health-timeout", "300ms",
                 "--health-interval", "200ms", "--health-retries", "1", "busybox", "sleep", "100")
    big = run_d(pier, "--health-cmd", "head -c 5000 /dev/zero | tr '\\0' a", "--health-interval", "200ms",
                "busybox", "sleep", "100")
    flip = run_d(pier, "--health-cmd", "test -e /tmp/ok", "--health-interval", "200ms",
                 "--health-retries", "1", "busybox", "sleep", "100")

    h = wait_health(pier, bad, lambda h: h["Status"] == "unhealthy", "unhealthy")
    # Unhealthy only once the streak reached the retries: three failures.
    assert h["FailingStreak"] >= 3 and len(h["Log"]) >= 3, h
    assert all(e["ExitCode"] == 1 and e["Output"] == "bad\n" for e in h["Log"]), h

    h = wait_health(pier, code2, lambda h: h["Status"] == "unhealthy", "unhealthy (exit 2)")
    assert h["Log"][0]["ExitCode"] == 2

    h = wait_health(pier, slow, lambda h: h["Status"] == "unhealthy", "unhealthy (timeout)")
    assert h["Log"][0]["ExitCode"] == -1
    assert h["Log"][0]["Output"] == "Health check exceeded timeout (300ms): partial\n", h

    h = wait_health(pier, big, lambda h: h["Status"] == "healthy", "healthy (big output)")
    assert h["Log"][0]["Output"] == "a" * 4096 + "...", len(h["Log"][0]["Output"])

    # Unhealthy, then a passing check makes it healthy again.
    h = wait_health(pier, flip, lambda h: h["Status"] == "unhealthy", "unhealthy (flip)")
    pier.ok("exec", flip, "touch", "/tmp/ok")
    h = wait_health(pier, flip, lambda h: h["Status"] == "healthy", "healthy again")
    assert h["FailingStreak"] == 0 and h["Log"][-1]["ExitCode"] == 0

    # Stopped: the last health stays in inspect, unhealthy as docker marks it.
    pier.ok("stop", "-t", "0", flip)
    h = health(pier, flip)
    assert h["Status"] == "unhealthy" and h["Log"], h
    assert pier.ok("ps", "-aq", "--no-trunc", "--filter", "health=healthy").split() == [big]


def test_start_period(pier):
    cid = run_d(pier, "--health-cmd", "test -e /tmp/ok", "--health-start-period", "1h",
                "--health-start-interval", "200ms", "--health-interval", "1h", "--health-retries", "1",
                "busybox", "sleep", "100")
    # Failures within the start period do not count...
    h = wait_health(pier, cid, lambda h: len(h["Log"]) >= 3, "3 probes in the start period")
    assert h["Status"] == "starting" and h["FailingStreak"] == 0, h
    assert all(e["ExitCode"] == 1 for e in h["Log"])
    # ...and a success ends it.
    pier.ok("exec", cid, "touch", "/tmp/ok")
    h = wait_health(pier, cid, lambda h: h["Status"] == "healthy", "healthy")
    assert h["FailingStreak"] == 0


def test_image_healthcheck_from_build_merge_and_no_healthcheck(pier, tmp_path):
    ctx = tmp_path / "ctx"
    ctx.mkdir()
    df = 'FROM busybox\nHEALTHCHECK --interval=200ms --timeout=2s --retries=1 CMD ["test", "-e", "/tmp/ok"]\n'
    r = pier("build", "-q", "-t", "hc", "-f", "-", ctx, input=df)
    assert r.rc == 0, r
    r = pier("build", "-q", "-t", "hcnone", "-f", "-", ctx, input="FROM hc\nHEALTHCHECK NONE\n")
    assert r.rc == 0, r
    want = {"Test": ["CMD", "test", "-e", "/tmp/ok"], "Interval": 200_000_000, "Timeout": 2_000_000_000,
            "Retries": 1}
    assert json.loads(pier.ok("image", "inspect", "hc"))[0]["Config"]["Healthcheck"] == want

    img = run_d(pier, "hc", "sleep", "100")
    assert pier.inspect(img)["Config"]["Healthcheck"] == want
    # The flags replace the image's fields they set, and keep the others.
    over = run_d(pier, "--health-cmd", "true", "hc", "sleep", "100")
    assert pier.inspect(over)["Config"]["Healthcheck"] == dict(want, Test=["CMD-SHELL", "true"])
    more = pier.ok("create", "--health-retries", "5", "--health-timeout", "1s", "hc", "sleep", "100").strip()
    assert pier.inspect(more)["Config"]["Healthcheck"] == dict(want, Retries=5, Timeout=1_000_000_000)
    assert "Health" not in pier.inspect(more)["State"]
    off = run_d(pier, "--no-healthcheck", "hc", "sleep", "100")
    # (docker fills the other fields from the image's, NONE or not)
    assert pier.inspect(off)["Config"]["Healthcheck"] == dict(want, Test=["NONE"])
    none = run_d(pier, "hcnone", "sleep", "100")

    h = wait_health(pier, img, lambda h: h["Status"] == "unhealthy", "unhealthy (image's check)")
    assert h["Log"][0]["ExitCode"] == 1
    wait_health(pier, over, lambda h: h["Status"] == "healthy", "healthy (flag over image)")
    # Probes of the others ran meanwhile; these have none.
    for cid in (off, none):
        assert "Health" not in pier.inspect(cid)["State"]
    assert set(pier.ok("ps", "-q", "--no-trunc", "--filter", "health=none").split()) == {off, none}


@pytest.mark.parametrize("args, msg", [
    (["--health-interval", "abc"], 'invalid argument "abc" for "--health-interval" flag'),
    (["--health-timeout", "5x"], 'invalid argument "5x" for "--health-timeout" flag'),
    (["--health-interval", "-1s"], "--health-interval cannot be negative"),
    (["--health-start-interval", "-5ms"], "--health-start-interval cannot be negative"),
    (["--health-retries", "-1"], "--health-retries cannot be negative"),
    (["--health-interval", "500us"], "Interval in Healthcheck cannot be less than 1ms"),
    (["--health-start-period", "1ns"], "StartPeriod in Healthcheck cannot be less than 1ms"),
    (["--no-healthcheck", "--health-cmd", "true"], "--no-healthcheck conflicts with --health-* options"),
])
def test_bad_health_flags(pier, args, msg):
    for verb in ("run", "create"):
        r = pier(verb, *args, "busybox", "true")
        assert r.rc == 125 and msg in r.err, r
    assert pier("ps", "-aq").out == ""
    containers = pier.root / "containers"
    assert not containers.exists() or not list(containers.iterdir())


# ---------------------------------------------------------------- --init


def proc_stats(pier, cid):
    """(pid, name, state) of every process in the container."""
    out = pier.ok("exec", cid, "sh", "-c", "cat /proc/[0-9]*/stat 2>/dev/null; true")
    found = []
    for line in out.splitlines():
        m = re.match(r"(\d+) \((.*)\) (\S)", line)
        if m:
            found.append((int(m.group(1)), m.group(2), m.group(3)))
    return found


def procs(pier, cid):
    return [name for _, name, _ in proc_stats(pier, cid)]


def zombies(pier, cid):
    return [(pid, name) for pid, name, state in proc_stats(pier, cid) if state == "Z"]


ORPHAN = ["sh", "-c", 'sh -c "sleep 0.1 &"; exec sleep 100']


def test_init_is_pid1_and_reaps_orphans(pier):
    # Without an init the orphaned sleep stays a zombie of PID 1 (sleep):
    # what --init is for, and the proof this check can fail.
    bare = run_d(pier, "busybox", *ORPHAN)
    wait_until(lambda: zombies(pier, bare), timeout=10, what="a zombie without --init")

    cid = run_d(pier, "--init", "busybox", *ORPHAN)
    assert pier.inspect(cid)["HostConfig"]["Init"] is True
    assert not pier.inspect(bare)["HostConfig"].get("Init")
    cmdline = pier.ok("exec", cid, "cat", "/proc/1/cmdline").split("\0")
    assert cmdline[:4] == ["/sbin/docker-init", "--", "sh", "-c"], cmdline
    # The orphan ran and went, reaped (its parent exec'd into sleep 100 at
    # once): one sleep is left, and no zombie.
    wait_until(lambda: procs(pier, cid).count("sleep") == 1, timeout=10, what="the orphan to exit")
    assert zombies(pier, cid) == []
    # The init is read-only in the container.
    r = pier("exec", cid, "sh", "-c", "echo x > /sbin/docker-init")
    assert r.rc != 0, r
    # Its mount point is no change of the container's (diff, commit).
    assert "/sbin/docker-init" not in pier.ok("diff", cid)


def test_init_forwards_signals_and_exit_codes(pier):
    assert pier("run", "--init", "busybox", "sh", "-c", "exit 7").rc == 7
    assert pier("run", "--init", "busybox", "sh", "-c", "kill -9 $$").rc == 137
    r = pier("run", "--init", "busybox", "no-such-command")
    assert r.rc == 127 and "no-such-command" in r.err, r
    r = pier("run", "-t", "--init", "busybox", "tty")
    assert r.rc == 0 and r.out.strip() == "/dev/pts/0", r

    # sleep as PID 1 ignores SIGTERM; under the init it gets it.
    cid = run_d(pier, "--init", "busybox", "sleep", "1000")
    r = pier("stop", cid, timeout=8)
    assert r.rc == 0, r
    assert pier.inspect(cid)["State"]["ExitCode"] == 143

    # Any signal reaches the command, which handles it.
    cid = run_d(pier, "--init", "busybox", "sh", "-c",
                'trap "echo got usr1; exit 5" USR1; while true; do sleep 0.1; done')
    pier.ok("kill", "--signal", "USR1", cid)
    assert pier.ok("wait", cid, timeout=10) == "5\n"
    assert "got usr1" in pier.ok("logs", cid)
