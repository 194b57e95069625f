"""Registries: pier pull / push / login / logout against Debian's
docker-registry started here on 127.0.0.1 (plain HTTP, HTTPS with a CA
made for the test, htpasswd Basic auth, a Bearer token server written
below), against skopeo, and against fake registries that lie or cut the
connection.  Every registry and server is started by the test and stopped
by PID; every store is the test's own."""
import base64
import hashlib
import http.server
import io
import json
import os
import shutil
import socket
import subprocess
import tarfile
import threading
import time
from pathlib import Path

import pytest

from conftest import run_captured

REGISTRY = "/usr/bin/docker-registry"

pytestmark = pytest.mark.skipif(not os.access(REGISTRY, os.X_OK),
                                reason="docker-registry is not installed (scripts/install-deps.sh)")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Pier:
    def __init__(self, exe, root, runroot, env):
        self.exe, self.root, self.runroot, self.env = exe, root, runroot, env

    def __call__(self, *args, input=None, timeout=60):
        argv = [self.exe, "--root", str(self.root), "--runroot", str(self.runroot)] + [str(a) for a in args]
        return run_captured(argv, input=input, timeout=timeout, env=self.env)

    def ok(self, *args, **kw):
        r = self(*args, **kw)
        assert r.rc == 0, r
        return r.out

    def inspect(self, name):
        return json.loads(self.ok("image", "inspect", name))[0]

    def state(self):
        """What the store holds: blobs, layers, images with their names."""
        blobs = sorted(os.listdir(self.root / "blobs" / "sha256")) if (self.root / "blobs").exists() else []
        layers = sorted(os.listdir(self.root / "layers")) if (self.root / "layers").exists() else []
        tmp = sorted(os.listdir(self.root / "tmp")) if (self.root / "tmp").exists() else []
        images = self("images", "--no-trunc", "--format", "{{.Repository}} {{.Tag}} {{.ID}}").out
        return blobs, layers, tmp, images


class Registry:
    """docker-registry serving from a temp dir on a free loopback port."""

    def __init__(self, workdir, auth="", tls=None, log_level="error"):
        self.port = free_port()
        self.host = f"127.0.0.1:{self.port}"
        self.dir = workdir
        self.dir.mkdir(parents=True, exist_ok=True)
        cfg = ["version: 0.1", "log:", f"  level: {log_level}", "storage:", "  filesystem:",
               f"    rootdirectory: {self.dir / 'data'}", "  delete:", "    enabled: true",
               "http:", f"  addr: {self.host}"]
        if tls:
            cfg += ["  tls:", f"    certificate: {tls[0]}", f"    key: {tls[1]}"]
        cfg += auth.splitlines()
        (self.dir / "config.yml").write_text("\n".join(cfg) + "\n")
        self.log = open(self.dir / "registry.log", "wb")
        self.proc = subprocess.Popen([REGISTRY, "serve", str(self.dir / "config.yml")],
                                     stdout=self.log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 10
        while True:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
                break
            except OSError:
                if self.proc.poll() is not None or time.monotonic() > deadline:
                    self.stop()
                    raise AssertionError("docker-registry did not start: "
                                         + (self.dir / "registry.log").read_text())
                time.sleep(0.02)

    def stop(self):
        if self.proc.poll() is None:
            os.kill(self.proc.pid, 9)
        self.proc.wait()
        self.log.close()


@pytest.fixture
def registries(tmp_path):
    """Start registries with start(...); all are killed at the end."""
    started = []

    def start(**kw):
        r = Registry(tmp_path / f"registry{len(started)}", **kw)
        started.append(r)
        return r

    yield start
    for r in started:
        r.stop()


@pytest.fixture(scope="module")
def registry(tmp_path_factory):
    r = Registry(tmp_path_factory.mktemp("registry"))
    yield r
    r.stop()


@pytest.fixture(scope="module")
def image_tar(rootfs_template, tmp_path_factory):
    """A docker-archive of a three-layer busybox image (rootfs, two small layers)."""
    def layer(files=None, tree=None):
        buf = io.BytesIO()
        with tarfile.open(fileobj=buf, mode="w") as t:
            if tree:
                t.add(tree, arcname=".")
            for name, text in (files or {}).items():
                info = tarfile.TarInfo(name)
                info.size = len(text)
                info.mode = 0o644
                t.addfile(info, io.BytesIO(text))
        return buf.getvalue()

    layers = [layer(tree=rootfs_template),
              layer({"etc/passwd": b"root:x:0:0:root:/root:/bin/sh\n", "etc/group": b"root:x:0:\n"}),
              layer({"hello.txt": b"hello from the top layer\n"})]
    diff_ids = ["sha256:" + hashlib.sha256(x).hexdigest() for x in layers]
    config = json.dumps({"architecture": "amd64", "os": "linux", "created": "2026-01-01T00:00:00Z",
                         "config": {"Cmd": ["sh"], "Env": ["PATH=/bin"]},
                         "rootfs": {"type": "layers", "diff_ids": diff_ids},
                         "history": [{"created_by": f"layer {i}"} for i in range(3)]}).encode()
    chex = hashlib.sha256(config).hexdigest()
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w") as t:
        def add(name, data):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            t.addfile(info, io.BytesIO(data))
        add(f"{chex}.json", config)
        for i, x in enumerate(layers):
            add(f"l{i}/layer.tar", x)
        add("manifest.json", json.dumps([{"Config": f"{chex}.json", "RepoTags": ["bb:1"],
                                          "Layers": [f"l{i}/layer.tar" for i in range(3)]}]).encode())
    p = tmp_path_factory.mktemp("image") / "bb.tar"
    p.write_bytes(out.getvalue())
    return p


@pytest.fixture
def make_pier(runtime_path, tmp_path):
    exe = os.path.join(os.path.dirname(runtime_path), "pier")
    env = dict(os.environ, DOCKER_CONFIG=str(tmp_path / "docker-config"))
    made = []

    def make(name=None):
        name = name or f"store{len(made)}"
        p = Pier(exe, tmp_path / name, tmp_path / (name + "-run"), env)
        made.append(p)
        return p

    yield make
    for p in made:
        ids = p("ps", "-aq", "--no-trunc").out.split()
        if ids:
            p("rm", "-f", *ids)


@pytest.fixture
def pier(make_pier, image_tar):
    p = make_pier()
    p.ok("load", "-i", image_tar)
    return p


def digest_of(push_out):
    line = [x for x in push_out.splitlines() if ": digest: " in x][-1]
    return line.split()[2]


# ------------------------------------------------------------ plain HTTP


def test_push_pull_round_trip(pier, make_pier, registry):
    ref = f"{registry.host}/rt/bb:1"
    pier.ok("tag", "bb:1", ref)
    out = pier.ok("push", ref)
    assert f"The push refers to repository [{registry.host}/rt/bb]" in out
    assert out.count(": Pushed") == 3, out
    digest = digest_of(out)
    assert pier.inspect(ref)["RepoDigests"] == [f"{registry.host}/rt/bb@{digest}"]

    # What the registry serves is the manifest pier stored, byte for byte.
    sk = subprocess.run(["skopeo", "inspect", "--tls-verify=false", f"docker://{ref}"],
                        capture_output=True, text=True, timeout=60)
    assert sk.returncode == 0, sk.stderr
    assert json.loads(sk.stdout)["Digest"] == digest

    # Pushing again sends no layer.
    again = pier.ok("push", ref)
    assert "Pushed" not in again and again.count("Layer already exists") == 3, again
    assert digest_of(again) == digest

    other = make_pier("other")
    out = other.ok("pull", ref)
    assert out.count("Pull complete") == 3, out
    assert f"Digest: {digest}" in out and f"Status: Downloaded newer image for {ref}" in out
    assert out.rstrip().endswith(ref)
    img = other.inspect(ref)
    assert img["Id"] == pier.inspect(ref)["Id"]
    assert img["RepoDigests"] == [f"{registry.host}/rt/bb@{digest}"]
    assert other.ok("run", "--rm", ref, "cat", "/hello.txt") == "hello from the top layer\n"

    # Pulling what is here: nothing downloaded.
    out = other.ok("pull", ref)
    assert out.count("Already exists") == 3 and f"Status: Image is up to date for {ref}" in out
    assert other.ok("pull", "-q", ref) == ref + "\n"

    # Pushing the pulled image (unchanged) to another repository of the
    # same registry mounts its blobs and keeps the digest.
    other.ok("tag", ref, f"{registry.host}/copy/bb:2")
    out = other.ok("push", f"{registry.host}/copy/bb:2")
    assert out.count("Mounted from rt/bb") == 3, out
    assert digest_of(out) == digest
    assert other.ok("push", "-q", f"{registry.host}/copy/bb:2") == f"{registry.host}/copy/bb:2\n"


def test_pull_by_digest_and_run_pulls_missing(pier, make_pier, registry):
    ref = f"{registry.host}/bydigest:1"
    pier.ok("tag", "bb:1", ref)
    digest = digest_of(pier.ok("push", ref))
    p = make_pier()
    out = p.ok("pull", f"{registry.host}/bydigest@{digest}")
    assert f"{digest}: Pulling from bydigest" in out
    assert out.rstrip().endswith(f"{registry.host}/bydigest@{digest}")
    img = p.inspect(f"{registry.host}/bydigest@{digest}")
    assert img["RepoTags"] == [] and img["RepoDigests"] == [f"{registry.host}/bydigest@{digest}"]
    rows = p.ok("images", "--digests", "--format", "{{.Repository}} {{.Tag}} {{.Digest}}").split("\n")
    assert f"{registry.host}/bydigest <none> {digest}" in rows

    # run pulls a missing image (progress on stderr); --pull never does not.
    q = make_pier("runner")
    r = q("run", "--rm", "--pull", "never", ref, "true")
    assert r.rc == 125 and "No such image" in r.err
    r = q("run", "--rm", ref, "cat", "/hello.txt")
    assert r.rc == 0, r
    assert r.out == "hello from the top layer\n"
    assert f"Unable to find image '{ref}' locally" in r.err and "Pull complete" in r.err
    r = q("create", "--pull", "always", ref)
    assert r.rc == 0 and "Image is up to date" in r.err, r
    r = q("run", "--pull", "sometimes", ref)
    assert r.rc == 125 and "invalid pull option: 'sometimes'" in r.err


def test_build_pulls_its_base_image(pier, make_pier, registry, tmp_path):
    ref = f"{registry.host}/buildbase:1"
    pier.ok("tag", "bb:1", ref)
    pier.ok("push", ref)
    q = make_pier("builder")
    ctx = tmp_path / "ctx"
    ctx.mkdir()
    (ctx / "Dockerfile").write_text(f"FROM {ref}\nRUN cat /hello.txt > /copied\n")
    r = q("build", "--progress=plain", "-t", "built", ctx)
    assert r.rc == 0 and "Pull complete" in r.err, r
    assert q.ok("run", "--rm", "built", "cat", "/copied") == "hello from the top layer\n"
    # --pull asks the registry again; a base that is nowhere is an error.
    r = q("build", "--pull", "--progress=plain", "-t", "built", ctx)
    assert r.rc == 0 and "Image is up to date" in r.err, r
    (ctx / "Dockerfile").write_text(f"FROM {registry.host}/nowhere:1\n")
    r = q("build", ctx)
    assert r.rc == 1 and "manifest unknown" in r.err, r


def test_rmi_of_digest_references(pier, make_pier, registry):
    """As moby: rmi name@digest drops that name only; rmi of a
    repository's last tag takes its digest references along."""
    ref = f"{registry.host}/rmi/bb:1"
    pier.ok("tag", "bb:1", ref)
    digest = digest_of(pier.ok("push", ref))
    p = make_pier()
    p.ok("pull", ref)
    assert p.ok("rmi", f"{registry.host}/rmi/bb@{digest}") == f"Untagged: {registry.host}/rmi/bb@{digest}\n"
    assert p.inspect(ref)["RepoDigests"] == []
    p.ok("pull", ref)
    out = p.ok("rmi", ref)
    assert f"Untagged: {ref}" in out and f"Untagged: {registry.host}/rmi/bb@{digest}" in out and "Deleted:" in out
    assert p.state()[0] == [] and p.state()[1] == []


def test_all_tags(pier, make_pier, registry):
    repo = f"{registry.host}/alltags/bb"
    for tag in ("1", "2", "3"):
        pier.ok("tag", "bb:1", f"{repo}:{tag}")
    out = pier.ok("push", "-a", repo)
    assert [x.split(":")[0] for x in out.splitlines() if ": digest: " in x] == ["1", "2", "3"], out
    p = make_pier()
    p.ok("pull", "-a", repo)
    tags = p.ok("images", "--format", "{{.Repository}}:{{.Tag}}").split()
    assert sorted(tags) == [f"{repo}:1", f"{repo}:2", f"{repo}:3"]
    r = pier("push", "-a", f"{repo}:1")
    assert r.rc == 125 and "tag can't be used with --all-tags/-a" in r.err


def test_errors_leave_the_store_unchanged(pier, registry):
    before = pier.state()
    r = pier("pull", f"{registry.host}/bb-none:nope")
    assert r.rc == 1
    assert (f"manifest for {registry.host}/bb-none:nope not found: manifest unknown: manifest unknown"
            in r.err), r
    ref = f"{registry.host}/known:1"
    pier.ok("tag", "bb:1", ref)
    pier.ok("push", ref)
    before = pier.state()
    r = pier("pull", f"{registry.host}/known:nope")
    assert r.rc == 1 and (f"manifest for {registry.host}/known:nope not found: "
                          "manifest unknown: manifest unknown") in r.err, r
    port = free_port()
    r = pier("pull", f"127.0.0.1:{port}/x:1")
    assert r.rc == 1
    assert f'Get "http://127.0.0.1:{port}/v2/": dial tcp 127.0.0.1:{port}: connect: connection refused' in r.err
    r = pier("push", f"127.0.0.1:{port}/known:1")
    assert r.rc == 1 and "An image does not exist locally with the tag" in r.err
    pier.ok("tag", "bb:1", f"127.0.0.1:{port}/known:1")
    r = pier("push", f"127.0.0.1:{port}/known:1")
    assert r.rc == 1 and "connection refused" in r.err
    pier.ok("rmi", f"127.0.0.1:{port}/known:1")
    assert pier.state() == before
    assert pier("pull", "-a", f"{registry.host}/known:1").rc == 125
    assert pier("pull", "--platform", "linux/arm64", f"{registry.host}/known:1").rc == 1


def test_large_layer_goes_up_in_chunks(make_pier, registries, rootfs_template, tmp_path):
    """A layer of 64 MiB or more is pushed in chunks (PATCH with
    Content-Range, then PUT) and comes back the same."""
    reg = registries(log_level="info")
    data = os.urandom(70 << 20)
    with tarfile.open(tmp_path / "big.tar", "w") as t:
        t.add(rootfs_template, arcname=".")
        info = tarfile.TarInfo("big.bin")
        info.size = len(data)
        t.addfile(info, io.BytesIO(data))
    p = make_pier()
    ref = f"{reg.host}/big:1"
    p.ok("import", "-c", 'CMD ["sh"]', tmp_path / "big.tar", ref)
    (tmp_path / "big.tar").unlink()
    digest = digest_of(p.ok("push", ref))
    log = (reg.dir / "registry.log").read_text()
    assert "PATCH" in log, log[-2000:]
    q = make_pier()
    assert f"Digest: {digest}" in q.ok("pull", ref)
    assert q.inspect(ref)["Id"] == p.inspect(ref)["Id"]
    want = hashlib.sha256(data).hexdigest()
    assert q.ok("run", "--rm", ref, "sha256sum", "/big.bin").split()[0] == want


# ------------------------------------------------------------ HTTPS


def openssl(*args, cwd):
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True)


@pytest.fixture
def tls_files(tmp_path):
    d = tmp_path / "tls"
    d.mkdir()
    openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca.key", "-out", "ca.crt",
            "-days", "2", "-subj", "/CN=pier test CA", cwd=d)
    openssl("req", "-newkey", "rsa:2048", "-nodes", "-keyout", "server.key", "-out", "server.csr",
            "-subj", "/CN=127.0.0.1", cwd=d)
    (d / "ext").write_text("subjectAltName=IP:127.0.0.1\n")
    openssl("x509", "-req", "-in", "server.csr", "-CA", "ca.crt", "-CAkey", "ca.key", "-CAcreateserial",
            "-out", "server.crt", "-days", "2", "-extfile", "ext", cwd=d)
    return d


def test_https_with_a_self_signed_ca(pier, make_pier, registries, tls_files, tmp_path):
    reg = registries(tls=(tls_files / "server.crt", tls_files / "server.key"))
    ref = f"{reg.host}/secure:1"
    pier.ok("tag", "bb:1", ref)
    r = pier("push", ref)
    assert r.rc == 1 and "x509: certificate signed by unknown authority" in r.err, r
    certs = tmp_path / "certs"
    certs.mkdir()
    shutil.copy(tls_files / "ca.crt", certs / "ca.crt")
    digest = digest_of(pier.ok("push", "--cert-dir", certs, ref))
    p = make_pier()
    assert p("pull", ref).rc == 1
    assert digest in p.ok("pull", "--tls-verify=false", ref)
    # Listed as insecure in pier's registries file: no verification.
    conf = tmp_path / "registries.json"
    conf.write_text(json.dumps({"insecure-registries": [reg.host]}))
    p.env = dict(p.env, PIER_REGISTRIES_CONF=str(conf))
    p.ok("rmi", ref)
    assert digest in p.ok("pull", ref)
    conf.write_text("{not json")
    r = p("pull", ref)
    assert r.rc == 1 and "registries file" in r.err, r
    # docker's per-registry directory.
    q = make_pier("q")
    d = Path("/etc/docker/certs.d") / reg.host
    made = [x for x in (Path("/etc/docker"), Path("/etc/docker/certs.d"), d) if not x.exists()]
    try:
        d.mkdir(parents=True, exist_ok=True)
        shutil.copy(tls_files / "ca.crt", d / "ca.crt")
        assert digest in q.ok("pull", ref)
    finally:
        shutil.rmtree(d, ignore_errors=True)
        for x in reversed(made):
            if x.exists():
                shutil.rmtree(x, ignore_errors=True)


def test_mirrors_from_the_registries_file(pier, make_pier, registries, tmp_path):
    """A pull tries the registry's mirrors first, then the registry; the
    image keeps the registry's name either way."""
    origin, mirror = registries(), registries()
    down = f"127.0.0.1:{free_port()}"
    pier.ok("tag", "bb:1", f"{mirror.host}/mirrored/bb:1")
    digest = digest_of(pier.ok("push", f"{mirror.host}/mirrored/bb:1"))
    conf = tmp_path / "registries.json"
    conf.write_text(json.dumps({"mirrors": {origin.host: [f"http://{down}", f"http://{mirror.host}"],
                                            down: [f"http://{mirror.host}"]}}))
    p = make_pier()
    p.env = dict(p.env, PIER_REGISTRIES_CONF=str(conf))
    # The registry itself is down: its mirror serves the image.
    ref = f"{down}/mirrored/bb:1"
    assert f"Digest: {digest}" in p.ok("pull", ref)
    assert p.inspect(ref)["RepoDigests"] == [f"{down}/mirrored/bb@{digest}"]
    # The first mirror is down, the second lacks nothing; the origin has no
    # such repository but is not needed.
    ref = f"{origin.host}/mirrored/bb:1"
    assert f"Digest: {digest}" in p.ok("pull", ref)
    # No mirror has it: the registry's own answer.
    r = p("pull", f"{origin.host}/elsewhere:1")
    assert r.rc == 1 and f"manifest for {origin.host}/elsewhere:1 not found" in r.err, r


def test_concurrency_limit_from_the_registries_file(pier, make_pier, registry, tmp_path):
    ref = f"{registry.host}/limited:1"
    pier.ok("tag", "bb:1", ref)
    pier.ok("push", ref)
    layers = len(pier.inspect(ref)["RootFS"]["Layers"])
    assert layers >= 2
    conf = tmp_path / "limits.json"
    conf.write_text(json.dumps({"max-concurrent-downloads": 1, "max-concurrent-uploads": 1}))
    p = make_pier()
    out = p.ok("pull", ref)
    assert "Waiting" not in out, out
    p2 = make_pier()
    p2.env = dict(p2.env, PIER_REGISTRIES_CONF=str(conf))
    out = p2.ok("pull", ref)
    assert out.count(": Waiting") == layers - 1, out
    conf.write_text(json.dumps({"max-concurrent-downloads": 0}))
    r = p2("pull", ref)
    assert r.rc != 0 and "must be positive integers" in r.err, r


# ------------------------------------------------------------ Basic auth


def test_basic_auth_login_logout(pier, make_pier, registries, tmp_path):
    hp = subprocess.run(["htpasswd", "-Bbn", "alice", "s3cret"], capture_output=True, text=True, check=True)
    (tmp_path / "htpasswd").write_text(hp.stdout)
    reg = registries(auth=f"auth:\n  htpasswd:\n    realm: pier-test\n    path: {tmp_path / 'htpasswd'}")
    ref = f"{reg.host}/private:1"
    pier.ok("tag", "bb:1", ref)
    before = pier.state()
    r = pier("push", ref)
    assert r.rc == 1 and "unauthorized" in r.err, r
    assert pier.state() == before

    config = tmp_path / "docker-config" / "config.json"
    r = pier("login", "-u", "alice", "-p", "wrong", reg.host)
    assert r.rc == 1 and "unauthorized" in r.err, r
    assert not config.exists()
    r = pier("login", "-u", "alice", "--password-stdin", reg.host, input="s3cret\n")
    assert r.rc == 0 and "Login Succeeded" in r.out, r
    assert config.stat().st_mode & 0o777 == 0o600
    auths = json.loads(config.read_text())["auths"]
    assert base64.b64decode(auths[reg.host]["auth"]) == b"alice:s3cret"

    digest = digest_of(pier.ok("push", ref))
    p = make_pier()
    assert digest in p.ok("pull", ref)

    assert pier.ok("logout", reg.host) == f"Removing login credentials for {reg.host}\n"
    assert reg.host not in json.loads(config.read_text())["auths"]
    assert pier.ok("logout", reg.host) == f"Not logged in to {reg.host}\n"
    q = make_pier("q")
    r = q("pull", ref)
    assert r.rc == 1 and "unauthorized" in r.err
    r = q("login", "-u", "alice", "-p", "x", "--password-stdin", reg.host)
    assert r.rc == 1 and "mutually exclusive" in r.err
    r = q("login", reg.host)
    assert r.rc == 1 and "non TTY" in r.err


# ------------------------------------------------------------ Bearer tokens


def b64url(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


class TokenServer:
    """A token server as docker's auth spec describes: Basic credentials
    (or none: anonymous, pull only), a JWT signed with a key whose
    certificate the registry trusts."""

    def __init__(self, workdir, users):
        from cryptography import x509
        from cryptography.hazmat.primitives import hashes, serialization
        from cryptography.hazmat.primitives.asymmetric import padding, rsa
        from cryptography.x509.oid import NameOID
        import datetime

        self.key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "pier token issuer")])
        now = datetime.datetime.utcnow()
        cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
                .public_key(self.key.public_key()).serial_number(x509.random_serial_number())
                .not_valid_before(now - datetime.timedelta(hours=1))
                .not_valid_after(now + datetime.timedelta(days=1))
                .sign(self.key, hashes.SHA256()))
        self.cert_der = cert.public_bytes(serialization.Encoding.DER)
        self.bundle = workdir / "token.pem"
        self.bundle.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        self.users = users
        self.requests = []
        server = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *a):
                pass

            def do_GET(self):
                from urllib.parse import parse_qs, urlparse
                q = parse_qs(urlparse(self.path).query)
                user = None
                h = self.headers.get("Authorization", "")
                if h.startswith("Basic "):
                    u, _, pw = base64.b64decode(h[6:]).decode().partition(":")
                    if server.users.get(u) != pw:
                        body = json.dumps({"details": "incorrect username or password"}).encode()
                        self.send_response(401)
                        self.send_header("Content-Type", "application/json")
                        self.send_header("Content-Length", str(len(body)))
                        self.end_headers()
                        self.wfile.write(body)
                        return
                    user = u
                server.requests.append((user, q.get("scope", [])))
                access = []
                for s in q.get("scope", []):
                    typ, name, actions = s.split(":")
                    allowed = [a for a in actions.split(",") if user or a == "pull"]
                    access.append({"type": typ, "name": name, "actions": allowed})
                tok = server.sign({"iss": "pier-issuer", "sub": user or "", "aud": q.get("service", [""])[0],
                                   "exp": int(time.time()) + 300, "nbf": int(time.time()) - 10,
                                   "iat": int(time.time()), "jti": os.urandom(8).hex(), "access": access},
                                  padding, hashes)
                body = json.dumps({"token": tok}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.httpd.server_address[1]
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def sign(self, claims, padding, hashes):
        header = {"typ": "JWT", "alg": "RS256", "x5c": [base64.b64encode(self.cert_der).decode()]}
        data = b64url(json.dumps(header).encode()) + "." + b64url(json.dumps(claims).encode())
        sig = self.key.sign(data.encode(), padding.PKCS1v15(), hashes.SHA256())
        return data + "." + b64url(sig)

    def stop(self):
        self.httpd.shutdown()
        self.httpd.server_close()


def test_bearer_token_flow(pier, make_pier, registries, tmp_path):
    ts = TokenServer(tmp_path, {"bob": "hunter2"})
    try:
        reg = registries(auth="\n".join([
            "auth:", "  token:", f"    realm: http://127.0.0.1:{ts.port}/token", "    service: pier-registry",
            "    issuer: pier-issuer", f"    rootcertbundle: {ts.bundle}"]))
        ref = f"{reg.host}/tok/bb:1"
        pier.ok("tag", "bb:1", ref)
        r = pier("push", ref)  # anonymous: pull only
        assert r.rc == 1 and "unauthorized" in r.err, r
        r = pier("login", "-u", "bob", "-p", "nope", reg.host)
        assert r.rc == 1 and "unauthorized: incorrect username or password" in r.err, r
        pier.ok("login", "-u", "bob", "--password-stdin", reg.host, input="hunter2")
        digest = digest_of(pier.ok("push", ref))
        assert ("bob", ["repository:tok/bb:pull,push"]) in ts.requests
        # Anonymous pull gets an anonymous token.
        pier.ok("logout", reg.host)
        p = make_pier()
        assert digest in p.ok("pull", ref)
        assert (None, ["repository:tok/bb:pull"]) in ts.requests
        assert p.ok("run", "--rm", ref, "cat", "/hello.txt") == "hello from the top layer\n"
    finally:
        ts.stop()


# ------------------------------------------------------------ skopeo


def test_skopeo_interop(pier, make_pier, registry, tmp_path):
    archive = tmp_path / "bb-oci.tar"
    pier.ok("save", "--format", "oci-archive", "-o", archive, "bb:1")
    ref = f"{registry.host}/skopeo/bb:1"
    sk = subprocess.run(["skopeo", "copy", "--dest-tls-verify=false", f"oci-archive:{archive}", f"docker://{ref}"],
                        capture_output=True, text=True, timeout=120)
    assert sk.returncode == 0, sk.stderr
    sk = subprocess.run(["skopeo", "inspect", "--tls-verify=false", f"docker://{ref}"],
                        capture_output=True, text=True, timeout=60)
    digest = json.loads(sk.stdout)["Digest"]
    p = make_pier()
    assert f"Digest: {digest}" in p.ok("pull", ref)
    assert p.inspect(ref)["RepoDigests"] == [f"{registry.host}/skopeo/bb@{digest}"]
    assert p.ok("run", "--rm", ref, "cat", "/hello.txt") == "hello from the top layer\n"


# ------------------------------------------------------------ fake registries


class FakeRegistry:
    """Serves one image (and an index over two platforms) from memory, with
    faults: a layer whose bytes do not match its digest, or a connection cut
    in the middle of a layer once (then Range requests are honoured)."""

    def __init__(self, layers, lie=False, cut=False, redirect=False):
        self.blobs = {}
        self.requests = []
        self.cut_done = False

        def put(data):
            d = "sha256:" + hashlib.sha256(data).hexdigest()
            self.blobs[d] = data
            return d

        diff_ids = ["sha256:" + hashlib.sha256(x).hexdigest() for x in layers]
        descs = [{"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": put(x), "size": len(x)}
                 for x in layers]
        self.manifests = {}
        self.index_digest = None
        for arch in ("arm64", "amd64"):
            cfg = json.dumps({"architecture": arch, "os": "linux", "config": {"Cmd": ["sh"]},
                              "rootfs": {"type": "layers", "diff_ids": diff_ids}}).encode()
            m = json.dumps({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
                            "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                                       "digest": put(cfg), "size": len(cfg)},
                            "layers": descs}).encode()
            md = "sha256:" + hashlib.sha256(m).hexdigest()
            self.manifests[md] = m
            self.manifests[arch] = m
        index = json.dumps({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json",
                            "manifests": [{"mediaType": "application/vnd.oci.image.manifest.v1+json",
                                           "digest": "sha256:" + hashlib.sha256(self.manifests[a]).hexdigest(),
                                           "size": len(self.manifests[a]),
                                           "platform": {"os": "linux", "architecture": a}}
                                          for a in ("arm64", "amd64")]}).encode()
        self.index_digest = "sha256:" + hashlib.sha256(index).hexdigest()
        self.manifests["multi"] = index
        self.manifests[self.index_digest] = index
        self.big = descs[-1]["digest"]
        fake = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *a):
                pass

            def send(self, code, body=b"", ctype="application/json", extra=()):
                self.send_response(code)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(body)))
                for k, v in extra:
                    self.send_header(k, v)
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(body)

            def do_HEAD(self):
                self.do_GET()

            def do_GET(self):
                fake.requests.append((self.path, self.headers.get("Range")))
                parts = self.path.split("/")
                if self.path == "/v2/":
                    return self.send(200, b"{}")
                if len(parts) == 5 and parts[3] == "manifests" and parts[4] in fake.manifests:
                    m = fake.manifests[parts[4]]
                    mt = json.loads(m)["mediaType"]
                    return self.send(200, m, mt,
                                     [("Docker-Content-Digest", "sha256:" + hashlib.sha256(m).hexdigest())])
                if redirect and len(parts) == 5 and parts[3] == "blobs" and parts[4] in fake.blobs:
                    # Blob storage elsewhere, as S3-backed registries answer.
                    return self.send(307, b"", extra=[("Location", f"/storage/{parts[4]}")])
                if len(parts) == 3 and parts[1] == "storage" and parts[2] in fake.blobs:
                    return self.send(200, fake.blobs[parts[2]], "application/octet-stream")
                if len(parts) == 5 and parts[3] == "blobs" and parts[4] in fake.blobs:
                    d = parts[4]
                    data = fake.blobs[d]
                    if lie and d == fake.big:
                        data = bytes(len(data))
                    rng = self.headers.get("Range")
                    if cut and d == fake.big and not fake.cut_done:
                        fake.cut_done = True
                        self.send_response(200)
                        self.send_header("Content-Type", "application/octet-stream")
                        self.send_header("Content-Length", str(len(data)))
                        self.end_headers()
                        self.wfile.write(data[: len(data) // 2])
                        self.wfile.flush()
                        self.connection.shutdown(socket.SHUT_RDWR)
                        self.close_connection = True
                        return
                    if rng and rng.startswith("bytes="):
                        start = int(rng[6:].split("-")[0])
                        return self.send(206, data[start:], "application/octet-stream",
                                         [("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")])
                    return self.send(200, data, "application/octet-stream")
                body = json.dumps({"errors": [{"code": "MANIFEST_UNKNOWN", "message": "manifest unknown"}]})
                return self.send(404, body.encode())

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.host = f"127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def stop(self):
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def fake_layers(rootfs_template):
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as t:
        t.add(rootfs_template, arcname=".")
    big = io.BytesIO()
    with tarfile.open(fileobj=big, mode="w") as t:
        data = os.urandom(3 << 20)
        info = tarfile.TarInfo("random.bin")
        info.size = len(data)
        t.addfile(info, io.BytesIO(data))
    return [buf.getvalue(), big.getvalue()]


def test_lying_registry_stores_nothing(make_pier, fake_layers):
    fake = FakeRegistry(fake_layers, lie=True)
    try:
        p = make_pier()
        before = p.state()
        r = p("pull", f"{fake.host}/liar:amd64")
        assert r.rc == 1
        assert f"filesystem layer verification failed for digest {fake.big}" in r.err, r
        assert p.state() == before
        assert p.state()[0] == [] and p.state()[1] == []
    finally:
        fake.stop()


def test_cut_connection_is_resumed_with_range(make_pier, fake_layers):
    fake = FakeRegistry(fake_layers, cut=True)
    try:
        p = make_pier()
        out = p.ok("pull", f"{fake.host}/cut:amd64")
        assert fake.cut_done
        half = len(fake.blobs[fake.big]) // 2
        assert (f"/v2/cut/blobs/{fake.big}", f"bytes={half}-") in fake.requests, fake.requests
        assert "Pull complete" in out
        assert p.ok("run", "--rm", f"{fake.host}/cut:amd64", "wc", "-c", "/random.bin").split()[0] == str(3 << 20)
    finally:
        fake.stop()


def test_blobs_follow_redirects(make_pier, fake_layers):
    fake = FakeRegistry(fake_layers, redirect=True)
    try:
        p = make_pier()
        p.ok("pull", f"{fake.host}/moved:amd64")
        assert (f"/storage/{fake.big}", None) in fake.requests
        assert p.ok("run", "--rm", f"{fake.host}/moved:amd64", "wc", "-c", "/random.bin").split()[0] == str(3 << 20)
    finally:
        fake.stop()


def test_index_platform_selection(make_pier, fake_layers):
    fake = FakeRegistry(fake_layers)
    try:
        p = make_pier()
        out = p.ok("pull", f"{fake.host}/multi:multi")
        assert f"Digest: {fake.index_digest}" in out
        img = p.inspect(f"{fake.host}/multi:multi")
        assert img["Architecture"] == "amd64"
        assert img["RepoDigests"] == [f"{fake.host}/multi@{fake.index_digest}"]
        q = make_pier("arm")
        q.ok("pull", "--platform", "linux/arm64", f"{fake.host}/multi:multi")
        assert q.inspect(f"{fake.host}/multi:multi")["Architecture"] == "arm64"
        r = q("pull", "--platform", "linux/s390x", f"{fake.host}/multi:multi")
        assert r.rc == 1 and "no matching manifest for linux/s390x in the manifest list entries" in r.err
    finally:
        fake.stop()
