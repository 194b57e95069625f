"""pier-runtime on the three cgroup layouts.

This machine is hybrid (v1 controllers plus a cgroup2 mount holding only
hugetlb).  The other two layouts are made in a private mount namespace:
"v1" unmounts /sys/fs/cgroup/unified; "v2" replaces the whole /sys/fs/cgroup
with the cgroup2 hierarchy, as on a pure v2 host (with only the controllers
this kernel gives cgroup2 here: no memory, no pids).  Each test runs one shell
script in that namespace and checks what pier-runtime did there.
"""
import json
import os
import subprocess

import pytest

from conftest import read

RESHAPE = {
    "hybrid": "",
    "v1": "umount /sys/fs/cgroup/unified || exit 90\n",
    "v2": "umount -l /sys/fs/cgroup || exit 90\nmount -t cgroup2 cgroup2 /sys/fs/cgroup || exit 91\n",
}


def in_layout(layout, script, timeout=60):
    full = "set -u\n" + RESHAPE[layout] + script
    p = subprocess.run(["unshare", "-m", "--propagation", "private", "sh", "-c", full],
                       capture_output=True, text=True, timeout=timeout)
    assert p.returncode not in (90, 91), f"cannot make the {layout} layout: {p.stderr}"
    return p


@pytest.fixture
def layout_bundle(make_bundle, tmp_path):
    """A bundle whose container waits, plus a private runtime root; the
    container is force-deleted at the end in whatever layout it was made."""
    b = make_bundle(("sh", "-c", "while :; do sleep 0.1; done"))
    b.root = tmp_path / "state"
    yield b


def rt_cmd(runtime_path, b, *args):
    return " ".join([runtime_path, "--root", str(b.root)] + [str(a) for a in args])


def unified_dir(cid):
    return f"/sys/fs/cgroup/unified/pier/{cid}"


@pytest.mark.parametrize("layout", ["v1", "v2", "hybrid"])
def test_lifecycle_pause_kill_all(runtime_path, layout_bundle, layout):
    b = layout_bundle
    b.save()
    r = rt_cmd(runtime_path, b, "")
    script = f"""
{r} run -d --bundle {b.path} c1 </dev/null >/dev/null 2>/tmp/err.$$ || {{ cat /tmp/err.$$; exit 1; }}
{r} state c1 | grep -q '"running"' || exit 2
{r} pause c1 || exit 3
{r} state c1 | grep -q '"paused"' || exit 4
{r} resume c1 || exit 5
{r} exec -d c1 sleep 100 || exit 6
n=$({r} ps --format json c1 | tr ',' '\\n' | grep -c '[0-9]')
[ "$n" -ge 2 ] || exit 7
{r} kill --all c1 KILL || exit 8
i=0; while [ $i -lt 100 ] && ! {r} state c1 | grep -q '"stopped"'; do sleep 0.05; i=$((i+1)); done
{r} state c1 | grep -q '"stopped"' || exit 9
{r} delete c1 || exit 10
cat /proc/self/mountinfo | grep -c cgroup
"""
    p = in_layout(layout, script)
    if p.returncode != 0:
        in_layout(layout, f"{r} delete --force c1")
    assert p.returncode == 0, (p.returncode, p.stdout, p.stderr)
    assert not os.path.exists(unified_dir("c1"))
    assert not any(os.path.exists(f"/sys/fs/cgroup/{h}/pier/c1") for h in os.listdir("/sys/fs/cgroup"))


@pytest.mark.parametrize("layout", ["v1", "v2", "hybrid"])
def test_device_rules_enforced(runtime_path, layout_bundle, layout):
    """linux.resources.devices is enforced with the v1 devices controller,
    or with an eBPF program where there is none (v2)."""
    b = layout_bundle
    b.process["args"] = ["sh", "-c", "head -c 1 /dev/fuse-a >/dev/null 2>&1; echo a=$?; "
                         "head -c 0 /dev/fuse-b >/dev/null 2>&1; echo b=$?; "
                         "head -c 1 /dev/zero | wc -c"]
    b.linux["devices"] = [
        {"path": "/dev/fuse-a", "type": "c", "major": 10, "minor": 229, "fileMode": 0o600},
        {"path": "/dev/fuse-b", "type": "c", "major": 10, "minor": 229, "fileMode": 0o600},
    ]
    b.linux["resources"] = {"devices": [{"allow": False, "access": "rwm"}]}
    b.save()
    p = in_layout(layout, rt_cmd(runtime_path, b, "run", "--bundle", b.path, "d1"))
    assert p.returncode == 0, p.stderr
    # fuse (10:229) is not allowed: opening fails; /dev/zero is a default device.
    assert "a=1" in p.stdout and "b=1" in p.stdout, p.stdout
    assert p.stdout.strip().endswith("1"), p.stdout

    # The same device allowed for reading opens.
    b.linux["resources"]["devices"].append({"allow": True, "type": "c", "major": 10, "minor": 229,
                                            "access": "r"})
    b.save()
    p = in_layout(layout, rt_cmd(runtime_path, b, "run", "--bundle", b.path, "d2"))
    assert p.returncode == 0, p.stderr
    assert "b=0" in p.stdout, p.stdout


def test_v2_missing_controller_is_a_clear_error(runtime_path, layout_bundle):
    """On this v2 tree there is no memory controller: asking for a memory
    limit fails, naming the controller, and leaves nothing behind."""
    b = layout_bundle
    b.linux["resources"] = {"memory": {"limit": 64 << 20}}
    b.save()
    p = in_layout("v2", rt_cmd(runtime_path, b, "create", "--bundle", b.path, "m1"))
    assert p.returncode != 0
    assert "memory controller is not mounted" in p.stderr, p.stderr
    assert not os.path.exists(unified_dir("m1"))
    assert not (b.root / "m1").exists()


def test_v2_hugetlb_limit(runtime_path, layout_bundle):
    sizes = [f[len("hugetlb."):-len(".max")] for f in os.listdir("/sys/fs/cgroup/unified")
             if f.startswith("hugetlb.") and f.endswith(".max")]
    if not os.path.exists("/sys/fs/cgroup/unified/cgroup.controllers") or \
            "hugetlb" not in read("/sys/fs/cgroup/unified/cgroup.controllers"):
        pytest.skip("cgroup2 has no hugetlb controller on this host")
    b = layout_bundle
    size = "2MB"
    b.linux["resources"] = {"hugepageLimits": [{"pageSize": size, "limit": 4 << 20}]}
    b.save()
    r = rt_cmd(runtime_path, b, "")
    p = in_layout("v2", f"""
{r} create --bundle {b.path} h1 || exit 1
cat /sys/fs/cgroup/pier/h1/hugetlb.{size}.max
{r} delete --force h1
""")
    assert p.returncode == 0, p.stderr
    assert p.stdout.split()[0] == str(4 << 20), (sizes, p.stdout)
