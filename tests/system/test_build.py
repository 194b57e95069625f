"""pier build: Dockerfiles to images, as a user runs builds, on a busybox
image the tests import themselves.  Every test gets its own store; at the
end nothing of a build may remain: no mount, no step directory, no build
cgroup, no container."""
import io
import json
import os
import re
import subprocess
import tarfile
import time
from pathlib import Path

import pytest

from conftest import alive, run_captured
from test_containers import Pier, image_tar  # noqa: F401  (the fixture)


def build_leftovers(p):
    found = []
    if str(p.root) in Path("/proc/self/mountinfo").read_text():
        found.append("mount under the store")
    build = p.root / "build"
    if build.exists():
        extra = [x.name for x in build.iterdir() if x.name != "cache-mounts"]
        if extra:
            found.append(f"build directory entries {extra}")
    tmp = p.root / "tmp"
    if tmp.exists() and list(tmp.iterdir()):
        found.append(f"store tmp entries {[x.name for x in tmp.iterdir()]}")
    for hier in Path("/sys/fs/cgroup").iterdir():
        d = hier / "pier"
        if d.is_dir():
            found += [f"cgroup {c}" for c in d.iterdir() if c.name.startswith("build-")]
    return found


@pytest.fixture
def pier(runtime_path, tmp_path, image_tar):  # noqa: F811
    exe = os.path.join(os.path.dirname(runtime_path), "pier")
    p = Pier(exe, tmp_path / "store", tmp_path / "run")
    r = p("import", "-c", 'CMD ["sh"]', image_tar, "busybox")
    assert r.rc == 0, r
    yield p
    ids = p("ps", "-aq", "--no-trunc").out.split()
    if ids:
        p("rm", "-f", *ids)
    assert build_leftovers(p) == []
    check = p("system", "check")
    assert check.rc == 0 and "no problems found" in check.out, check


def context(tmp_path, dockerfile, files=None, name="ctx"):
    d = tmp_path / name
    d.mkdir()
    (d / "Dockerfile").write_text(dockerfile)
    for rel, text in (files or {}).items():
        f = d / rel
        f.parent.mkdir(parents=True, exist_ok=True)
        f.write_text(text)
    return d


def build(pier, ctx, *args, env=None):
    argv = pier.argv("build", "--progress=plain", *args, ctx)
    p = subprocess.run(argv, capture_output=True, text=True, timeout=120,
                       env=dict(os.environ, **(env or {})))
    return p


def image_id(pier, ref):
    return pier.ok("image", "inspect", "-f", "{{.Id}}", ref).strip()


MULTI = """\
# syntax=docker/dockerfile:1
ARG BASE=busybox
FROM $BASE AS builder
ARG GREETING=hello
WORKDIR /src
COPY app.txt ./
RUN echo "$GREETING from $(cat app.txt)" > /src/out.txt && \\
    mkdir -p /toolchain && echo big > /toolchain/blob
FROM busybox
LABEL org.example.stage=final
COPY --from=builder /src/out.txt /app/out.txt
ENV APP=/app
WORKDIR /app
CMD ["cat", "out.txt"]
"""


def test_multi_stage_build_runs_and_ships_only_the_final_stage(pier, tmp_path):
    ctx = context(tmp_path, MULTI, {"app.txt": "pier"})
    r = build(pier, ctx, "-t", "app:1", "--build-arg", "GREETING=hi")
    assert r.returncode == 0, r.stderr
    assert "[builder 4/5] RUN" in r.stderr or "RUN echo" in r.stderr, r.stderr
    assert "naming to app:1" in r.stderr
    out = pier("run", "--rm", "app:1")
    assert out.rc == 0 and out.out == "hi from pier\n", out
    info = json.loads(pier.ok("image", "inspect", "app:1"))[0]
    cfg = info["Config"]
    assert cfg["Cmd"] == ["cat", "out.txt"] and cfg["WorkingDir"] == "/app"
    assert "APP=/app" in cfg["Env"] and cfg["Labels"]["org.example.stage"] == "final"
    # busybox's layer and COPY --from's; WORKDIR /app found the directory
    # COPY made, so it added no layer.
    assert len(info["RootFS"]["Layers"]) == 2
    hist = pier.ok("history", "--no-trunc", "--format", "{{.CreatedBy}}", "app:1")
    assert "COPY --from=builder /src/out.txt /app/out.txt" in hist
    assert "toolchain" not in hist and "RUN" not in hist
    r = pier("run", "--rm", "app:1", "ls", "/")
    assert "toolchain" not in r.out.split()


def test_cache_hits_misses_and_no_cache(pier, tmp_path):
    df = ("FROM busybox\nCOPY a.txt /a.txt\nRUN cat /a.txt > /copy.txt\n"
          "COPY b.txt /b.txt\nRUN cat /a.txt /b.txt > /both.txt\n")
    ctx = context(tmp_path, df, {"a.txt": "A\n", "b.txt": "B\n"})
    r1 = build(pier, ctx, "-t", "c:1")
    assert r1.returncode == 0 and "CACHED" not in r1.stderr, r1.stderr
    first = image_id(pier, "c:1")
    r2 = build(pier, ctx, "-t", "c:1")
    assert r2.returncode == 0, r2.stderr
    assert r2.stderr.count("CACHED") == 4, r2.stderr
    assert image_id(pier, "c:1") == first
    # A change to b.txt: the steps before it stay cached, it and later run.
    (ctx / "b.txt").write_text("B2\n")
    r3 = build(pier, ctx, "-t", "c:2")
    assert r3.stderr.count("CACHED") == 2, r3.stderr
    assert pier("run", "--rm", "c:2", "cat", "/both.txt").out == "A\nB2\n"
    # A change of mode alone misses too; metadata only.
    os.chmod(ctx / "a.txt", 0o600)
    r4 = build(pier, ctx, "-t", "c:3")
    assert r4.stderr.count("CACHED") == 0, r4.stderr
    r5 = build(pier, ctx, "--no-cache", "-t", "c:4")
    assert r5.returncode == 0 and "CACHED" not in r5.stderr
    # The terminal view: each step's line is redrawn with its time or CACHED.
    r6 = subprocess.run(pier.argv("build", "--progress=tty", "-t", "c:4", ctx), capture_output=True, text=True)
    assert r6.returncode == 0 and "\033[" in r6.stderr, r6.stderr
    assert r6.stderr.count("\033[36mCACHED") == 4 and "=> naming to c:4" in r6.stderr, r6.stderr
    # Intermediate images are the cache's: hidden from images, shown by -a.
    shown = pier.ok("images", "--format", "{{.Repository}}:{{.Tag}}").split()
    assert "<none>:<none>" not in shown or len(pier.ok("images", "-q").split()) < len(
        pier.ok("images", "-aq").split())
    assert len(pier.ok("images", "-aq").split()) > len(pier.ok("images", "-q").split())
    df_out = pier.ok("system", "df")
    cache_line = [line for line in df_out.splitlines() if line.startswith("Build Cache")][0]
    assert int(cache_line.split()[2]) > 0, df_out
    before = int(cache_line.split()[2])
    # Without -a only dangling entries go: the ones whose image is tagged stay.
    r = pier("builder", "prune", "-f")
    assert r.rc == 0 and "Total reclaimed space" in r.out, r
    cache_line = [line for line in pier.ok("system", "df").splitlines() if line.startswith("Build Cache")][0]
    assert 0 < int(cache_line.split()[2]) < before, (before, cache_line)
    r = pier("builder", "prune", "-a", "-f")
    assert r.rc == 0, r
    cache_line = [line for line in pier.ok("system", "df").splitlines() if line.startswith("Build Cache")][0]
    assert cache_line.split()[2] == "0" and cache_line.split()[4] == "0B", cache_line
    assert pier("run", "--rm", "c:1", "cat", "/copy.txt").out == "A\n"
    assert "CACHED" not in build(pier, ctx, "-t", "c:1").stderr


def test_metadata_instructions_reach_the_config(pier, tmp_path):
    df = """\
FROM busybox
ENV A=1 B="two words"
ENV C=${A}-${B:+set}
LABEL version="1.0" maintainer=me
EXPOSE 80 53/udp
VOLUME ["/data"]
USER 1000:1000
STOPSIGNAL SIGINT
HEALTHCHECK --interval=5s --retries=2 CMD wget -q localhost || exit 1
SHELL ["/bin/sh", "-ec"]
ENTRYPOINT ["/bin/echo"]
"""
    ctx = context(tmp_path, df)
    r = build(pier, ctx, "-t", "meta", "--label", "extra=yes")
    assert r.returncode == 0, r.stderr
    cfg = json.loads(pier.ok("image", "inspect", "meta"))[0]["Config"]
    assert "A=1" in cfg["Env"] and "B=two words" in cfg["Env"] and "C=1-set" in cfg["Env"]
    assert cfg["Labels"] == {"version": "1.0", "maintainer": "me", "extra": "yes"}
    assert set(cfg["ExposedPorts"]) == {"80/tcp", "53/udp"}
    assert set(cfg["Volumes"]) == {"/data"}
    assert cfg["User"] == "1000:1000" and cfg["StopSignal"] == "SIGINT"
    assert cfg["Healthcheck"]["Test"] == ["CMD-SHELL", "wget -q localhost || exit 1"]
    assert cfg["Healthcheck"]["Interval"] == 5_000_000_000 and cfg["Healthcheck"]["Retries"] == 2
    assert cfg["Shell"] == ["/bin/sh", "-ec"]
    # ENTRYPOINT after an inherited CMD resets it, as docker does.
    assert cfg["Entrypoint"] == ["/bin/echo"] and not cfg.get("Cmd")
    assert pier("run", "--rm", "meta", "hi").out == "hi\n"


def test_shell_form_run_uses_shell_and_user(pier, tmp_path):
    df = ("FROM busybox\nSHELL [\"/bin/sh\", \"-xc\"]\nRUN echo traced\n"
          "USER 1000\nRUN id -u > /tmp/uid\n")
    ctx = context(tmp_path, df)
    r = build(pier, ctx, "-t", "sh")
    assert r.returncode == 0, r.stderr
    assert "+ echo traced" in r.stderr
    assert pier("run", "--rm", "sh", "cat", "/tmp/uid").out == "1000\n"


def test_dockerignore_and_copy_rules(pier, tmp_path):
    df = """\
FROM busybox
COPY . /ctx/
COPY --chown=1000:50 --chmod=640 conf/*.conf /etc/app/
COPY single.txt /renamed.txt
COPY <<EOF /heredoc.txt
made by a heredoc
EOF
"""
    ctx = context(tmp_path, df, {
        "keep.txt": "k", "secret.key": "no", "logs/a.log": "no", "logs/keep.log": "yes",
        "conf/a.conf": "a", "conf/b.conf": "b", "single.txt": "s",
        ".dockerignore": "*.key\nlogs/*\n!logs/keep.log\n"})
    r = build(pier, ctx, "-t", "cp")
    assert r.returncode == 0, r.stderr
    ls = pier("run", "--rm", "cp", "sh", "-c",
              "cd /ctx && find . -type f | sort; stat -c '%u:%g %a %n' /etc/app/*; "
              "cat /renamed.txt /heredoc.txt").out
    assert "./keep.txt" in ls and "./logs/keep.log" in ls
    assert "secret.key" not in ls and "a.log" not in ls
    assert "1000:50 640 /etc/app/a.conf" in ls and "1000:50 640 /etc/app/b.conf" in ls
    assert "smade by a heredoc" in ls


def test_add_unpacks_local_archives_and_refuses_urls(pier, tmp_path):
    ctx = context(tmp_path, "FROM busybox\nADD files.tar.gz /opt/\n")
    with tarfile.open(ctx / "files.tar.gz", "w:gz") as t:
        data = b"inside the archive\n"
        info = tarfile.TarInfo("dir/file.txt")
        info.size = len(data)
        t.addfile(info, io.BytesIO(data))
    r = build(pier, ctx, "-t", "add")
    assert r.returncode == 0, r.stderr
    assert pier("run", "--rm", "add", "cat", "/opt/dir/file.txt").out == "inside the archive\n"
    (ctx / "Dockerfile").write_text("FROM busybox\nADD https://example.invalid/x.tar /x\n")
    r = build(pier, ctx, "-t", "url")
    assert r.returncode == 1 and "remote sources are not supported" in r.stderr, r.stderr


def test_target_builds_only_what_it_needs(pier, tmp_path):
    df = """\
FROM busybox AS base
RUN echo base > /base
FROM base AS broken
RUN exit 7
FROM base AS good
RUN cat /base > /good
FROM broken AS final
"""
    ctx = context(tmp_path, df)
    r = build(pier, ctx, "--target", "good", "-t", "good")
    assert r.returncode == 0, r.stderr
    assert "exit 7" not in r.stderr
    assert pier("run", "--rm", "good", "cat", "/good").out == "base\n"
    r = build(pier, ctx, "-t", "final")
    assert r.returncode == 1
    assert 'process "/bin/sh -c exit 7" did not complete successfully: exit code: 7' in r.stderr, r.stderr
    assert "Dockerfile:4" in r.stderr
    assert pier("images", "-q", "final").out == ""
    r = build(pier, ctx, "--target", "nope")
    assert r.returncode == 1 and "failed to reach build target nope" in r.stderr


def test_errors_are_clear_and_leave_nothing(pier, tmp_path):
    ctx = context(tmp_path, "FROM busybox\nRUN echo ok\nCOPY missing.txt /\n")
    r = build(pier, ctx)
    assert r.returncode == 1 and '"/missing.txt": not found' in r.stderr, r.stderr
    (ctx / "Dockerfile").write_text("FROM busybox\nFROBNICATE now\n")
    r = build(pier, ctx)
    assert r.returncode == 1 and "Dockerfile:2" in r.stderr, r.stderr
    # A missing base is pulled; from a registry that is down, that fails
    # clearly (tests talk to 127.0.0.0/8 only).
    (ctx / "Dockerfile").write_text("FROM 127.0.0.1:9/no-such-image\n")
    r = build(pier, ctx)
    assert r.returncode == 1 and "connection refused" in r.stderr, r.stderr
    assert "failed to resolve source metadata for 127.0.0.1:9/no-such-image" in r.stderr
    (ctx / "Dockerfile").write_text("FROM busybox\nRUN --mount=type=ssh true\n")
    r = build(pier, ctx)
    assert r.returncode == 1 and "type=ssh is not supported" in r.stderr, r.stderr
    for df, msg in (("FROM busybox AS a\nCOPY --from=a /x /x\n", "circular dependency detected on stage: a"),
                    ("FROM a AS a\n", "circular dependency detected on stage: a"),
                    ("FROM busybox\nCOPY --from=127.0.0.1:9/nostage /x /x\n", "connection refused"),
                    ("FROM busybox\nCOPY ../../etc/passwd /p\n", '"/etc/passwd": not found'),
                    ("FROM busybox\nRUN [\"echo\", 1]\n", "Dockerfile:2")):
        (ctx / "Dockerfile").write_text(df)
        r = build(pier, ctx, "-t", "bad")
        assert r.returncode == 1 and msg in r.stderr, (df, r.stderr)
    assert pier("images", "-q", "bad").out == ""
    r = pier("build", "--output", "type=registry", ctx)
    assert r.rc == 125 and "type=local or type=tar" in r.err


def test_secrets_and_cache_mounts_never_reach_a_layer(pier, tmp_path):
    secret = tmp_path / "token"
    secret.write_text("s3kr1t")
    df = """\
FROM busybox
RUN --mount=type=secret,id=token,required wc -c < /run/secrets/token > /seen
RUN --mount=type=cache,target=/cache echo run >> /cache/log && wc -l < /cache/log > /count
"""
    ctx = context(tmp_path, df)
    r = build(pier, ctx, "--secret", f"id=token,src={secret}", "-t", "sec")
    assert r.returncode == 0, r.stderr
    r = build(pier, ctx, "--no-cache", "--secret", f"id=token,src={secret}", "-t", "sec")
    assert r.returncode == 0, r.stderr
    out = pier("run", "--rm", "sec", "sh", "-c", "cat /seen /count; ls /run /cache 2>&1").out
    assert out.split()[:2] == ["6", "2"], out
    assert "secrets" not in out and "log" not in out, out
    saved = tmp_path / "sec.tar"
    pier.ok("save", "-o", saved, "sec")
    assert b"s3kr1t" not in saved.read_bytes()
    hist = pier.ok("history", "--no-trunc", "sec")
    assert "s3kr1t" not in hist
    r = build(pier, ctx, "--no-cache", "-t", "sec")
    assert r.returncode == 1 and "secret token" in r.stderr, r.stderr
    # A new cache gets the owner asked for; keys pier cannot honour are refused.
    (ctx / "Dockerfile").write_text("FROM busybox\nRUN --mount=type=cache,target=/c2,uid=1000,mode=0750 "
                                    "stat -c '%u %a' /c2 > /owner\n")
    assert build(pier, ctx, "-t", "own").returncode == 0
    assert pier.ok("run", "--rm", "own", "cat", "/owner") == "1000 750\n"
    for mount, msg in (("type=bind,rw,target=/x", "rw bind mounts are not supported"),
                       ("type=secret,id=token,env=TOKEN", "`env` is not supported"),
                       ("type=cache,target=/c,sharing=private", "sharing=private is not supported"),
                       ("type=secret,id=token,mode=0444", "apply to cache mounts only")):
        (ctx / "Dockerfile").write_text(f"FROM busybox\nRUN --mount={mount} true\n")
        r = build(pier, ctx, "--secret", f"id=token,src={secret}")
        assert r.returncode == 1 and msg in r.stderr, (mount, r.stderr)


def test_reproducible_with_source_date_epoch(pier, tmp_path):
    df = "FROM busybox\nCOPY f /f\nRUN echo x > /x && touch /y\nCMD [\"cat\", \"/f\"]\n"
    ctx = context(tmp_path, df, {"f": "data"})
    env = {"SOURCE_DATE_EPOCH": "1700000000"}
    assert build(pier, ctx, "-t", "r:1", env=env).returncode == 0
    first = image_id(pier, "r:1")
    assert build(pier, ctx, "--no-cache", "-t", "r:2", env=env).returncode == 0
    assert image_id(pier, "r:2") == first
    # A running container keeps the base image through the prune (a
    # stopped one would go with it); everything the builds made goes.
    pier.ok("run", "-d", "--network", "none", "--name", "keep", "busybox", "sh", "-c", "while true; do sleep 1; done")
    pier.ok("rmi", "r:1", "r:2")
    pier.ok("builder", "prune", "-a", "-f")
    pier.ok("system", "prune", "-a", "-f")
    assert pier.ok("images", "-aq").split() == [image_id(pier, "busybox")[7:19]]
    assert build(pier, ctx, "-t", "r:3", env=env).returncode == 0
    assert image_id(pier, "r:3") == first


def test_context_and_dockerfile_from_stdin_and_outputs(pier, tmp_path):
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as t:
        for name, data in (("Dockerfile", b"FROM busybox\nCOPY msg /msg\n"), ("msg", b"from a tarball\n")):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            t.addfile(info, io.BytesIO(data))
    r = pier("build", "-q", "-t", "tarctx", "-", input=buf.getvalue())
    assert r.rc == 0 and r.out.startswith("sha256:"), r
    assert pier("run", "--rm", "tarctx", "cat", "/msg").out == "from a tarball\n"
    ctx = context(tmp_path, "unused", {"msg": "dir context\n"})
    r = pier("build", "-q", "-f", "-", "-t", "stdindf", ctx,
             input="FROM busybox\nCOPY msg /msg\nARG V=1\nRUN echo $V > /v\n")
    assert r.rc == 0, r
    assert pier("run", "--rm", "stdindf", "cat", "/msg").out == "dir context\n"
    iid = tmp_path / "iid"
    out = tmp_path / "out"
    r = pier("build", "-q", "--iidfile", iid, "-o", f"type=local,dest={out}", "-f", "-", ctx,
             input="FROM busybox\nCOPY msg /msg\n")
    assert r.rc == 0, r
    assert iid.read_text().startswith("sha256:")
    assert (out / "msg").read_text() == "dir context\n" and (out / "bin" / "busybox").exists()
    tarp = tmp_path / "fs.tar"
    r = pier("build", "-q", "-o", f"type=tar,dest={tarp}", "-f", "-", ctx, input="FROM busybox\nCOPY msg /msg\n")
    assert r.rc == 0, r
    with tarfile.open(tarp) as t:
        assert "msg" in t.getnames()


def test_onbuild_triggers_run_in_the_child_build(pier, tmp_path):
    ctx = context(tmp_path, "FROM busybox\nONBUILD RUN echo triggered > /trig\n", {"x": "x"})
    assert build(pier, ctx, "-t", "parent").returncode == 0
    (ctx / "Dockerfile").write_text("FROM parent\nRUN cat /trig\n")
    r = build(pier, ctx, "-t", "child")
    assert r.returncode == 0 and "triggered" in r.stderr, r.stderr
    assert not json.loads(pier.ok("image", "inspect", "child"))[0]["Config"].get("OnBuild")


PARALLEL = """\
FROM busybox AS a
RUN cut -d' ' -f1 /proc/uptime > /start && sleep 2 && cut -d' ' -f1 /proc/uptime > /end
FROM busybox AS b
RUN cut -d' ' -f1 /proc/uptime > /start && sleep 2 && cut -d' ' -f1 /proc/uptime > /end
FROM busybox
COPY --from=a /start /a.start
COPY --from=a /end /a.end
COPY --from=b /start /b.start
COPY --from=b /end /b.end
"""


def test_independent_stages_build_at_once(pier, tmp_path):
    """Two stages that do not need each other run their 2 s steps at the
    same time, as BuildKit does: the build takes well under the 4 s of
    one after the other, and the times each step wrote overlap."""
    ctx = context(tmp_path, PARALLEL)
    env = {"SOURCE_DATE_EPOCH": "1700000000"}
    t0 = time.monotonic()
    r = build(pier, ctx, "-t", "par:1", env=env)
    took = time.monotonic() - t0
    assert r.returncode == 0, r.stderr
    assert took < 3.5, (took, r.stderr)

    def times(stage):
        out = pier.ok("run", "--rm", "par:1", "cat", f"/{stage}.start", f"/{stage}.end").split()
        return float(out[0]), float(out[1])
    (a0, a1), (b0, b1) = times("a"), times("b")
    assert a0 < b1 and b0 < a1, ((a0, a1), (b0, b1))
    # Interleaved progress stays whole lines, each with its step's number,
    # and each step's lines name one stage.
    lines = r.stderr.splitlines()
    assert all(re.match(r"#\d+ ", line) for line in lines), r.stderr
    heads = {}
    for line in lines:
        m = re.match(r"#(\d+) \[(\w+) \d+/\d+\] ", line)
        if m:
            heads.setdefault(m.group(2), set()).add(m.group(1))
    assert heads.get("a") and heads.get("b") and not heads["a"] & heads["b"], heads
    # The same context gives the same images and cache keys whichever
    # stage ends first, and a stage built alone (--target) has the key it
    # has when built beside another.
    # (b names a only through a variable: it asks for it as it runs.)
    det = ("FROM busybox AS a\nRUN sleep 0.3; echo a > /a\nRUN echo a2 >> /a\n"
           "FROM busybox AS b\nARG SRC=a\nRUN echo b > /b\nCOPY --from=$SRC /a /a\n"
           "FROM busybox AS c\nRUN echo c > /c\n"
           "FROM b\nCOPY --from=c /c /c\nCMD [\"cat\", \"/a\", \"/b\", \"/c\"]\n")
    ctx2 = context(tmp_path, det, name="det")
    assert build(pier, ctx2, "--target", "c", "-t", "c:1", env=env).returncode == 0
    r = build(pier, ctx2, "-t", "det:1", env=env)
    assert r.returncode == 0, r.stderr
    n = re.search(r"^#(\d+) \[c 2/2\] RUN echo c > /c$", r.stderr, re.M).group(1)
    assert f"\n#{n} CACHED\n" in r.stderr, r.stderr
    first = image_id(pier, "det:1")
    assert pier.ok("run", "--rm", "det:1") == "a\na2\nb\nc\n"
    for tag in ("det:2", "det:3"):
        r = build(pier, ctx2, "--no-cache", "-t", tag, env=env)
        assert r.returncode == 0 and image_id(pier, tag) == first, r.stderr
    r = build(pier, ctx2, "-t", "det:4", env=env)
    assert r.returncode == 0 and r.stderr.count("CACHED") == 6 and image_id(pier, "det:4") == first, r.stderr
    # The terminal view shows the running steps of both stages at once.
    r = subprocess.run(pier.argv("build", "--progress=tty", "--no-cache", ctx), capture_output=True, text=True,
                       timeout=120)
    assert r.returncode == 0, r.stderr
    views = re.split(r"\033\[\d+A\033\[J", r.stderr)
    both = [v for v in views if "=> [a 2/2] RUN" in v and "=> [b 2/2] RUN" in v and "DONE" not in v]
    assert both, r.stderr


def test_failing_stage_cancels_the_others(pier, tmp_path):
    token = os.urandom(6).hex()
    df = f"""\
FROM busybox AS slow
RUN sleep 30; echo {token} > /x
FROM busybox AS bad
RUN sleep 1; echo boom-{token}; exit 3
FROM busybox
COPY --from=slow /x /x
COPY --from=bad /x /y
"""
    ctx = context(tmp_path, df)
    t0 = time.monotonic()
    r = build(pier, ctx, "-t", "never")
    took = time.monotonic() - t0
    assert r.returncode == 1, r.stderr
    assert took < 15, (took, r.stderr)
    assert "[bad 2/2] RUN sleep 1" in r.stderr and "Dockerfile:4" in r.stderr, r.stderr
    assert f'exit {3}" did not complete successfully: exit code: 3' in r.stderr, r.stderr
    assert f"boom-{token}" in r.stderr and "CANCELED" in r.stderr, r.stderr
    assert pier("images", "-q", "never").out == ""
    # The slow stage's process went with the build (zombies aside: the
    # host's init reaps lazily); the fixture checks mounts, tmp/, cgroups.
    left = []
    for d in Path("/proc").iterdir():
        if d.name.isdigit():
            try:
                cmd = (d / "cmdline").read_bytes()
            except OSError:
                continue
            if token.encode() in cmd and alive(int(d.name)):
                left.append((d.name, cmd))
    assert left == [], left
    # Stages that name each other only through variables wait for each
    # other: a circular dependency, not a hang.
    (ctx / "Dockerfile").write_text("FROM busybox AS x\nARG F=y\nCOPY --from=$F /etc/passwd /p\n"
                                    "FROM busybox AS y\nARG F=x\nCOPY --from=$F /etc/passwd /p\n"
                                    "FROM busybox\nCOPY --from=x /p /x\nCOPY --from=y /p /y\n")
    r = build(pier, ctx)
    assert r.returncode == 1 and "circular dependency detected on stage" in r.stderr, r.stderr
    (ctx / "Dockerfile").write_text(df)
    # Quiet, the failing step's output still reaches the user.
    r = subprocess.run(pier.argv("build", "-q", ctx), capture_output=True, text=True, timeout=120)
    assert r.returncode == 1 and f"boom-{token}" in r.stderr and "exit code: 3" in r.stderr, r.stderr


def test_bind_mount_from_multi_layer_stage_and_image(pier, tmp_path):
    df = """\
FROM busybox AS src
ARG V=one
RUN mkdir -p /data /etc/inside-image && echo $V > /data/1
RUN echo two > /data/2 && ln -s /etc /data/escape
FROM busybox
RUN --mount=type=bind,from=src,source=/data,target=/srcdata \\
    cat /srcdata/1 /srcdata/2 > /seen && (touch /srcdata/new 2>/dev/null && echo rw || echo ro) > /mode
RUN --mount=type=bind,from=src,source=/data/escape,target=/e ls /e > /esc
RUN --mount=type=bind,from=srcimg,source=data,target=/m2 cat /m2/2 > /seen2
"""
    ctx = context(tmp_path, df)
    r = build(pier, ctx, "--target", "src", "-t", "srcimg")
    assert r.returncode == 0, r.stderr
    layers = json.loads(pier.ok("image", "inspect", "srcimg"))[0]["RootFS"]["Layers"]
    assert len(layers) == 3, layers
    r = build(pier, ctx, "-t", "bound")
    assert r.returncode == 0, r.stderr
    out = pier.ok("run", "--rm", "bound", "cat", "/seen", "/mode", "/seen2")
    assert out == "one\ntwo\nro\ntwo\n", out
    # source= resolves inside the source: its symlink to /etc is the
    # source's /etc, not the host's.
    esc = pier.ok("run", "--rm", "bound", "cat", "/esc").split()
    assert "inside-image" in esc and "debian_version" not in esc, esc
    assert not {"srcdata", "e", "m2"} & set(pier.ok("run", "--rm", "bound", "ls", "/").split())
    # The source's content is in the key: a changed stage reruns the step.
    r = build(pier, ctx, "--build-arg", "V=uno", "-t", "bound2")
    assert r.returncode == 0, r.stderr
    assert pier.ok("run", "--rm", "bound2", "cat", "/seen") == "uno\ntwo\n"
    r = build(pier, ctx, "--build-arg", "V=uno", "-t", "bound2")
    assert r.returncode == 0 and "RUN --mount" in r.stderr and r.stderr.count("CACHED") == 5, r.stderr
    (ctx / "Dockerfile").write_text("FROM busybox\nRUN --mount=type=bind,from=srcimg,source=/nope,target=/x true\n")
    r = build(pier, ctx)
    assert r.returncode == 1 and "nope" in r.stderr, r.stderr


@pytest.fixture(scope="module")
def golang_tar(rootfs_template, tmp_path_factory):
    """A toolchain image made offline: the busybox rootfs plus the host's Go
    (Debian's golang-go) at /usr/local/go and the libc its go command needs."""
    goroot = Path("/usr/lib/go-1.19")
    if not (goroot / "bin" / "go").exists():
        pytest.fail("golang-go is missing: scripts/install-deps.sh installs it")
    out = tmp_path_factory.mktemp("golang") / "golang.tar"
    tmp = out.parent / "extra"
    (tmp / "tmp").mkdir(parents=True)
    os.chmod(tmp / "tmp", 0o1777)
    subprocess.run(["tar", "-C", rootfs_template, "-cf", out, "."], check=True)
    subprocess.run(["tar", "-C", tmp, "-rf", out, "./tmp"], check=True)
    subprocess.run(["tar", "--transform", "s,^usr/lib/go-1.19,usr/local/go,", "-C", "/", "-rhf", out,
                    "usr/lib/go-1.19", "lib64/ld-linux-x86-64.so.2", "lib/x86_64-linux-gnu/libc.so.6"], check=True)
    return out


SEED_GO = """\
FROM golang:local AS builder
WORKDIR /app
COPY go.mod ./
RUN go mod download
COPY . .
RUN CGO_ENABLED=0 GOOS=linux go build -o server ./cmd/server/
FROM scratch
COPY --from=builder /app/server /server
EXPOSE 8080
ENTRYPOINT ["/server"]
"""


def test_seed_go_multi_stage_to_scratch(pier, tmp_path, golang_tar):
    """The seeds' Go example: a toolchain stage compiles a static binary, and
    the final image is scratch plus that binary."""
    pier.ok("import", "-c", "ENV PATH=/usr/local/go/bin:/bin", "-c", "ENV GOCACHE=/tmp/gocache",
            "-c", "ENV GOFLAGS=-mod=mod", golang_tar, "golang:local")
    ctx = context(tmp_path, SEED_GO, {
        "go.mod": "module example.com/server\n\ngo 1.19\n",
        "cmd/server/main.go": 'package main\n\nimport "os"\n\nfunc main() {\n'
                              '\tos.Stdout.WriteString("server built by pier: " + os.Args[0] + "\\n")\n}\n'})
    r = build(pier, ctx, "-t", "server:1")
    assert r.returncode == 0, r.stderr[-3000:]
    out = pier("run", "--rm", "server:1")
    assert out.rc == 0 and out.out == "server built by pier: /server\n", out
    info = json.loads(pier.ok("image", "inspect", "server:1"))[0]
    assert len(info["RootFS"]["Layers"]) == 1 and info["Size"] < 5_000_000, info["Size"]
    assert info["Config"]["ExposedPorts"] == {"8080/tcp": {}}
    with_toolchain = json.loads(pier.ok("image", "inspect", "golang:local"))[0]["Size"]
    assert with_toolchain > 100 * info["Size"]
    # Source changes rebuild from the COPY on; go.mod's download stays cached.
    (ctx / "cmd/server/main.go").write_text(
        'package main\n\nimport "os"\n\nfunc main() { os.Stdout.WriteString("v2\\n") }\n')
    r = build(pier, ctx, "-t", "server:2")
    assert r.returncode == 0 and r.stderr.count("CACHED") == 3, r.stderr[-3000:]
    assert pier("run", "--rm", "server:2").out == "v2\n"
