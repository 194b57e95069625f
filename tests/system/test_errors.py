"""Bad input: a clear error, a non-zero exit, and nothing left behind (the
rt fixture checks state, cgroups, mounts and processes after each test)."""

import json
import os
from pathlib import Path

import pytest


def assert_gone(rt, cid):
    r = rt("state", cid)
    assert r.rc != 0, f"{cid} exists after a failed create: {r.out}"
    assert not (Path(rt.root) / cid).exists()


def test_malformed_json(rt, bundle):
    (bundle.path / "config.json").write_text('{"ociVersion": "1.2.0", "process": ')
    r = rt("create", "--bundle", bundle.path, "bad1")
    rt.ids.add("bad1")
    assert r.rc != 0
    assert "config.json" in r.err, r.err
    assert_gone(rt, "bad1")


def test_config_not_an_object(rt, bundle):
    (bundle.path / "config.json").write_text("[1, 2, 3]")
    r = rt("create", "--bundle", bundle.path, "bad1b")
    rt.ids.add("bad1b")
    assert r.rc != 0 and r.err.strip()
    assert_gone(rt, "bad1b")


def test_missing_config(rt, tmp_path):
    (tmp_path / "empty").mkdir()
    r = rt("create", "--bundle", tmp_path / "empty", "bad1c")
    rt.ids.add("bad1c")
    assert r.rc != 0
    assert "config.json" in r.err
    assert_gone(rt, "bad1c")


def test_missing_oci_version(rt, bundle):
    del bundle.config["ociVersion"]
    r = rt.create("bad2", bundle)
    assert r.rc != 0
    assert "ociVersion" in r.err, r.err
    assert_gone(rt, "bad2")


def test_unsupported_oci_version(rt, bundle):
    bundle.config["ociVersion"] = "0.1.0"
    r = rt.create("bad2b", bundle)
    assert r.rc != 0
    assert "ociVersion" in r.err or "0.1.0" in r.err, r.err
    assert_gone(rt, "bad2b")


def test_missing_root(rt, bundle):
    del bundle.config["root"]
    r = rt.create("bad3", bundle)
    assert r.rc != 0
    assert "root" in r.err, r.err
    assert_gone(rt, "bad3")


def test_missing_rootfs_dir(rt, bundle):
    bundle.config["root"]["path"] = "no-such-rootfs"
    r = rt.create("bad4", bundle)
    assert r.rc != 0
    assert "no-such-rootfs" in r.err, r.err
    assert_gone(rt, "bad4")


def test_rootfs_is_a_file(rt, bundle):
    (bundle.path / "afile").write_text("x")
    bundle.config["root"]["path"] = "afile"
    r = rt.create("bad4b", bundle)
    assert r.rc != 0 and "afile" in r.err, r.err
    assert_gone(rt, "bad4b")


def test_unknown_namespace(rt, bundle):
    bundle.linux["namespaces"].append({"type": "bogus"})
    r = rt.create("bad5", bundle)
    assert r.rc != 0
    assert "bogus" in r.err, r.err
    assert_gone(rt, "bad5")


def test_duplicate_namespace(rt, bundle):
    bundle.linux["namespaces"].append({"type": "pid"})
    r = rt.create("bad5b", bundle)
    assert r.rc != 0
    assert "pid" in r.err, r.err
    assert_gone(rt, "bad5b")


def test_wrong_type_in_config(rt, bundle):
    bundle.process["args"] = "sh -c true"
    r = rt.create("bad5c", bundle)
    assert r.rc != 0 and "args" in r.err, r.err
    assert_gone(rt, "bad5c")


def test_relative_mount_destination(rt, bundle):
    bundle.add_mount("relative/dest", "tmpfs", "tmpfs")
    r = rt.create("bad5d", bundle)
    assert r.rc != 0 and "relative/dest" in r.err, r.err
    assert_gone(rt, "bad5d")


def test_duplicate_id(rt, make_bundle):
    b1 = make_bundle(("sh", "-c", "while :; do sleep 0.1; done"))
    b2 = make_bundle(("true",))
    assert rt.create("dup", b1).rc == 0
    pid = rt.state("dup")["pid"]
    r = rt.create("dup", b2)
    assert r.rc != 0
    assert "exists" in r.err, r.err
    # The first container is untouched.
    st = rt.state("dup")
    assert st["pid"] == pid and st["status"] == "created" and st["bundle"] == str(b1.path)


@pytest.mark.parametrize("cid", ["../x", "a/b", "..", ".", "", "x y", "/abs"])
def test_path_like_id(rt, bundle, cid):
    before = set(os.listdir(Path(rt.root).parent))
    r = rt.create(cid, bundle)
    rt.ids.discard(cid)
    assert r.rc != 0, r
    assert "id" in r.err, r.err
    assert set(os.listdir(Path(rt.root).parent)) <= before | {Path(rt.root).name}
    assert not Path(rt.root).exists() or os.listdir(rt.root) == []
    assert not (Path(rt.root).parent / "x").exists()


@pytest.mark.parametrize("cmd", [["state"], ["start"], ["kill"], ["delete"], ["pause"], ["resume"],
                                 ["ps"], ["exec", "true"]])
def test_path_like_id_other_commands(rt, cmd):
    # Must be refused by validation, not resolved as a path outside --root.
    victim = Path(rt.root).parent / "pier-victim-dir"
    victim.mkdir(exist_ok=True)
    (victim / "state.json").write_text(json.dumps({"id": "x", "pid": 1, "bundle": "/"}))
    try:
        args = [cmd[0], "../pier-victim-dir"] + cmd[1:]
        r = rt(*args)
        assert r.rc != 0, r
        assert (victim / "state.json").exists()
    finally:
        for f in victim.iterdir():
            f.unlink()
        victim.rmdir()


def test_unknown_signal(rt, make_bundle):
    b = make_bundle(("sh", "-c", "while :; do sleep 0.1; done"))
    rt.start_container("sig", b)
    for bad in ("SIGFOO", "NOTASIG", "0", "-1", "99999"):
        r = rt.fails("kill", "sig", bad)
        assert "signal" in r.err, (bad, r.err)
    assert rt.status("sig") == "running"


def test_start_running_container(rt, make_bundle):
    b = make_bundle(("sh", "-c", "while :; do sleep 0.1; done"))
    rt.start_container("sr", b)
    r = rt.fails("start", "sr")
    assert "running" in r.err


def test_start_stopped_container(rt, make_bundle):
    b = make_bundle(("true",))
    rt.start_container("ss", b)
    rt.wait_status("ss", "stopped")
    r = rt.fails("start", "ss")
    assert "stopped" in r.err


def test_delete_running_without_force(rt, make_bundle):
    b = make_bundle(("sh", "-c", "while :; do sleep 0.1; done"))
    pid = rt.start_container("dr", b)
    r = rt.fails("delete", "dr")
    assert "running" in r.err and "force" in r.err, r.err
    assert rt.status("dr") == "running"
    assert os.path.exists(f"/proc/{pid}")


def test_state_missing_container(rt):
    r = rt.fails("state", "does-not-exist")
    assert "does-not-exist" in r.err
    assert "not exist" in r.err or "no such" in r.err.lower() or "not found" in r.err, r.err


def test_kill_missing_container(rt):
    r = rt.fails("kill", "does-not-exist", "KILL")
    assert "does-not-exist" in r.err


def test_delete_missing_container(rt):
    r = rt.fails("delete", "does-not-exist")
    assert "does-not-exist" in r.err
    # --force on a missing container succeeds (as runc).
    rt.ok("delete", "--force", "does-not-exist")


def test_kill_stopped_container(rt, make_bundle):
    b = make_bundle(("true",))
    rt.start_container("ks", b)
    rt.wait_status("ks", "stopped")
    r = rt.fails("kill", "ks", "KILL")
    assert "not running" in r.err


def test_systemd_cgroup_flag(rt, bundle):
    r = rt("--systemd-cgroup", "create", "--bundle", bundle.path, "sd")
    rt.ids.add("sd")
    assert r.rc != 0
    assert "systemd" in r.err, r.err
    assert_gone(rt, "sd")


def test_systemd_cgroups_path(rt, bundle):
    bundle.linux["cgroupsPath"] = "system.slice:pier:sdp"
    r = rt.create("sdp", bundle)
    assert r.rc != 0
    assert "systemd" in r.err or "slice" in r.err, r.err
    assert_gone(rt, "sdp")


def test_command_not_in_rootfs(rt, make_bundle):
    b = make_bundle(("no-such-binary", "arg"))
    r = rt.create("nobin", b)
    assert r.rc != 0, r
    assert "executable file not found" in r.err, r.err
    assert "no-such-binary" in r.err
    assert_gone(rt, "nobin")


def test_absolute_command_not_in_rootfs(rt, make_bundle):
    b = make_bundle(("/usr/bin/python3",))
    r = rt.create("nobin2", b)
    assert r.rc != 0, r
    assert "/usr/bin/python3" in r.err, r.err
    assert_gone(rt, "nobin2")


def test_run_command_not_found_exit_code(rt, make_bundle):
    b = make_bundle(("no-such-binary",))
    r = rt.run("nobin3", b)
    assert r.rc != 0
    assert "executable file not found" in r.err
    assert_gone(rt, "nobin3")


def test_unknown_command_and_flag(rt):
    r = rt.fails("frobnicate")
    assert "frobnicate" in r.err
    r = rt.fails("list", "--no-such-flag")
    assert "no-such-flag" in r.err


def test_bad_log_format(rt):
    r = rt.fails("--log-format", "xml", "list")
    assert "log-format" in r.err


def test_missing_args(rt):
    for cmd in ("create", "start", "state", "kill", "delete", "exec", "pause", "resume", "ps"):
        r = rt(cmd)
        assert r.rc != 0, cmd
        assert r.err.strip(), cmd


def test_bad_uid_mapping_fails_cleanly(rt, make_bundle):
    b = make_bundle(("true",))
    b.linux["namespaces"].append({"type": "user"})
    b.linux["uidMappings"] = [{"containerID": 0, "hostID": 4294967290, "size": 65536}]
    b.linux["gidMappings"] = [{"containerID": 0, "hostID": 100000, "size": 65536}]
    r = rt.create("badmap", b)
    assert r.rc != 0
    assert "uid_map" in r.err or "mapping" in r.err, r.err
    assert_gone(rt, "badmap")


def test_mount_source_missing(rt, bundle, tmp_path):
    bundle.add_mount("/data", "bind", tmp_path / "no-such-dir", ["rbind"])
    r = rt.create("badmnt", bundle)
    assert r.rc != 0
    assert "no-such-dir" in r.err, r.err
    assert_gone(rt, "badmnt")


def test_unknown_mount_option_type(rt, bundle):
    bundle.add_mount("/data", "nosuchfs", "none")
    r = rt.create("badfs", bundle)
    assert r.rc != 0
    assert "/data" in r.err, r.err
    assert_gone(rt, "badfs")


def test_rootless_flag_values(rt):
    rt.ok("--rootless", "false", "list")
    rt.ok("--rootless", "auto", "list")
    r = rt.fails("--rootless", "maybe", "list")
    assert "rootless" in r.err
