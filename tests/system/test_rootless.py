"""pier-runtime run by an unprivileged user: a user namespace mapping the
user to root, no cgroup of its own (none is delegated), state under the
user's own --root."""
import json
import os
import pwd
import shutil
import subprocess
import tempfile

import pytest

USER = "pier-rootless-test"


@pytest.fixture(scope="module")
def user():
    created = False
    try:
        pw = pwd.getpwnam(USER)
    except KeyError:
        subprocess.run(["useradd", "--no-create-home", "--shell", "/bin/sh", USER], check=True)
        created = True
        pw = pwd.getpwnam(USER)
    yield pw
    if created:
        subprocess.run(["userdel", USER], check=False)


@pytest.fixture
def home(user, rootfs_template, runtime_path):
    d = tempfile.mkdtemp(prefix="pier-rootless-")
    shutil.copytree(rootfs_template, os.path.join(d, "bundle", "rootfs"), symlinks=True)
    for dirpath, dirnames, filenames in os.walk(d):
        for n in [dirpath] + [os.path.join(dirpath, f) for f in dirnames + filenames]:
            os.lchown(n, user.pw_uid, user.pw_gid)
    os.chmod(d, 0o755)
    yield d
    # A test that failed half-way may leave a container: kill and delete it
    # (as root), then remove the user's files.
    state = os.path.join(d, "state")
    for cid in os.listdir(state) if os.path.isdir(state) else []:
        subprocess.run([runtime_path, "--root", state, "delete", "--force", cid], capture_output=True)
    subprocess.run(["rm", "-rf", d], check=False)


def as_user(user, argv, **kw):
    """Run argv as the user; output through files, since a detached
    container keeps the runtime's stdout and stderr open."""
    def drop():
        os.setgroups([])
        os.setgid(user.pw_gid)
        os.setuid(user.pw_uid)
    env = {"PATH": "/usr/bin:/bin", "HOME": "/"}
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        rc = subprocess.run(argv, preexec_fn=drop, env=env, stdout=out, stderr=err, timeout=60,
                            **kw).returncode
        out.seek(0)
        err.seek(0)
        return subprocess.CompletedProcess(argv, rc, out.read(), err.read())


def test_rootless_run_exec_delete(runtime_path, user, home):
    bundle = os.path.join(home, "bundle")
    state = os.path.join(home, "state")
    r = as_user(user, [runtime_path, "spec", "--rootless", "--bundle", bundle])
    assert r.returncode == 0, r.stderr
    cfg_path = os.path.join(bundle, "config.json")
    with open(cfg_path) as f:
        cfg = json.load(f)
    assert cfg["linux"]["uidMappings"] == [{"containerID": 0, "hostID": user.pw_uid, "size": 1}]
    cfg["process"]["terminal"] = False
    cfg["process"]["args"] = ["sh", "-c", "id -u; cat /proc/self/uid_map; touch /tmp/made"]
    cfg["root"]["readonly"] = False
    with open(cfg_path, "w") as f:
        json.dump(cfg, f)

    r = as_user(user, [runtime_path, "--root", state, "run", "--bundle", bundle, "r1"])
    assert r.returncode == 0, r.stderr
    lines = r.stdout.split()
    assert lines[0] == "0", r.stdout
    assert lines[1:4] == ["0", str(user.pw_uid), "1"], r.stdout
    # Files the container's root makes belong to the user on the host.
    assert os.stat(os.path.join(bundle, "rootfs", "tmp", "made")).st_uid == user.pw_uid
    assert not os.path.exists(os.path.join(state, "r1"))

    cfg["process"]["args"] = ["sleep", "100"]
    with open(cfg_path, "w") as f:
        json.dump(cfg, f)
    try:
        r = as_user(user, [runtime_path, "--root", state, "run", "-d", "--bundle", bundle, "r2"],
                    stdin=subprocess.DEVNULL)
        assert r.returncode == 0, r.stderr
        r = as_user(user, [runtime_path, "--root", state, "exec", "r2", "sh", "-c", "echo in; id -u"])
        assert r.returncode == 0, r.stderr
        assert r.stdout.split() == ["in", "0"]
        r = as_user(user, [runtime_path, "--root", state, "state", "r2"])
        st = json.loads(r.stdout)
        assert st["status"] == "running"
        assert os.stat(f"/proc/{st['pid']}").st_uid == user.pw_uid
    finally:
        r = as_user(user, [runtime_path, "--root", state, "delete", "--force", "r2"])
    assert r.returncode == 0, r.stderr
    assert os.listdir(state) == []


def test_rootless_limits_need_a_delegated_cgroup(runtime_path, user, home):
    bundle = os.path.join(home, "bundle")
    state = os.path.join(home, "state")
    as_user(user, [runtime_path, "spec", "--rootless", "--bundle", bundle])
    cfg_path = os.path.join(bundle, "config.json")
    with open(cfg_path) as f:
        cfg = json.load(f)
    cfg["process"]["terminal"] = False
    cfg["linux"]["resources"] = {"memory": {"limit": 64 << 20}}
    with open(cfg_path, "w") as f:
        json.dump(cfg, f)
    r = as_user(user, [runtime_path, "--root", state, "create", "--bundle", bundle, "r3"])
    assert r.returncode != 0
    assert "rootless" in r.stderr and "cgroup" in r.stderr, r.stderr
    assert not os.path.exists(os.path.join(state, "r3"))
