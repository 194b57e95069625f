"""Idmapped bind mounts (mount option "idmap" with uidMappings/gidMappings),
the way Kubernetes user namespaces use them: the container runs in a user
namespace (0 -> 100000), and a volume owned by root on the host still shows
as root inside and receives root-owned files."""
import os


def userns_bundle(make_bundle, args, base):
    # The user namespace's root must be able to reach the bundle.
    b = make_bundle(args, base=base)
    b.config["root"]["readonly"] = False
    b.linux["namespaces"].append({"type": "user"})
    b.linux["uidMappings"] = [{"containerID": 0, "hostID": 100000, "size": 65536}]
    b.linux["gidMappings"] = [{"containerID": 0, "hostID": 100000, "size": 65536}]
    for dirpath, dirnames, filenames in os.walk(b.rootfs):
        for n in [dirpath] + [os.path.join(dirpath, f) for f in dirnames + filenames]:
            os.lchown(n, 100000, 100000)
    return b


def test_idmapped_bind_in_user_namespace(rt, make_bundle, public_tmp):
    tmp_path = public_tmp
    vol = tmp_path / "vol"
    vol.mkdir()
    (vol / "host-file").write_text("x")
    os.chmod(tmp_path, 0o755)
    b = userns_bundle(make_bundle, ("sh", "-c", "stat -c '%u %g' /data/host-file; "
                                    "echo y > /data/made && echo wrote"), tmp_path)
    b.config["mounts"].append({
        "destination": "/data", "type": "bind", "source": str(vol), "options": ["bind", "idmap"],
        "uidMappings": [{"containerID": 0, "hostID": 100000, "size": 65536}],
        "gidMappings": [{"containerID": 0, "hostID": 100000, "size": 65536}]})
    r = rt.run("i1", b)
    assert r.rc == 0, r
    assert r.out.split("\n")[0] == "0 0", r.out
    assert "wrote" in r.out
    st = os.stat(vol / "made")
    assert (st.st_uid, st.st_gid) == (0, 0)


def test_plain_bind_in_user_namespace_shows_overflow_ids(rt, make_bundle, public_tmp):
    tmp_path = public_tmp
    """The control: without idmap the same volume's root files are not the
    container root's (they show as the overflow id and cannot be written)."""
    vol = tmp_path / "vol"
    vol.mkdir()
    (vol / "host-file").write_text("x")
    os.chmod(tmp_path, 0o755)
    b = userns_bundle(make_bundle, ("sh", "-c", "stat -c '%u' /data/host-file; echo y > /data/made; echo rc=$?"), tmp_path)
    b.add_mount("/data", "bind", vol, ["bind"])
    r = rt.run("i2", b)
    assert r.rc == 0, r
    assert r.out.split("\n")[0] == "65534", r.out
    assert "rc=0" not in r.out


def test_idmap_needs_mappings(rt, make_bundle, tmp_path):
    b = make_bundle(("true",))
    b.add_mount("/data", "bind", tmp_path, ["bind", "idmap"])
    b.save()
    r = rt.fails("run", "--bundle", b.path, "i3")
    assert "idmap" in r.err
