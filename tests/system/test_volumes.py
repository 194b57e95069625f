"""Volumes: pier volume's verbs and a container's -v, --mount and
--volumes-from, driven as a user drives them on a busybox image the tests
import themselves.  Every test gets its own store and runroot; at the end
every container and volume is removed and nothing may be left: no
monitor, no mount, no cgroup, no volume directory."""
import io
import json
import os
import re
import stat
import tarfile
from pathlib import Path

import pytest

from conftest import run_captured
from test_containers import Pier as ContainersPier, leftovers as container_leftovers

PASSWD = "root:x:0:0:root:/root:/bin/sh\nuser:x:1000:1000::/home/user:/bin/sh\n"
GROUP = "root:x:0:\nuser:x:1000:\n"


@pytest.fixture(scope="session")
def image_tar(rootfs_template, tmp_path_factory):
    """The busybox rootfs plus content for copy-up: /home/user owned by
    1000:1000 (mode 0750) with a 0640 file, a symlink and a hard link."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as t:
        t.add(rootfs_template, arcname=".")

        def add(name, text=None, mode=0o644, uid=0, gid=0, kind=tarfile.REGTYPE, link=""):
            info = tarfile.TarInfo(name)
            info.mode, info.uid, info.gid, info.type, info.linkname = mode, uid, gid, kind, link
            data = (text or "").encode()
            info.size = len(data) if kind == tarfile.REGTYPE else 0
            t.addfile(info, io.BytesIO(data) if kind == tarfile.REGTYPE else None)

        add("etc/passwd", PASSWD)
        add("etc/group", GROUP)
        add("home/user", mode=0o750, uid=1000, gid=1000, kind=tarfile.DIRTYPE)
        add("home/user/secret", "from the image\n", mode=0o640, uid=1000, gid=1000)
        add("home/user/link", kind=tarfile.SYMTYPE, link="secret", uid=1000, gid=1000)
        add("home/user/hard", kind=tarfile.LNKTYPE, link="home/user/secret")
    p = tmp_path_factory.mktemp("image") / "busybox.tar"
    p.write_bytes(buf.getvalue())
    return p


class Pier(ContainersPier):
    def volumes(self):
        return self.ok("volume", "ls", "-q").split()


def leftovers(p, ids):
    """What the test's containers and volumes left on the host."""
    found = container_leftovers(p, ids)
    vols = p.root / "volumes"
    if vols.exists() and list(vols.iterdir()):
        found.append(f"volume directories {sorted(os.listdir(vols))}")
    return found


@pytest.fixture
def pier(runtime_path, tmp_path, image_tar):
    exe = os.path.join(os.path.dirname(runtime_path), "pier")
    p = Pier(exe, tmp_path / "store", tmp_path / "run")
    r = p("import", "-c", 'CMD ["sh"]', image_tar, "busybox")
    assert r.rc == 0, r
    yield p
    ids = p("ps", "-aq", "--no-trunc").out.split()
    if ids:
        p("rm", "-f", *ids)
    vols = p("volume", "ls", "-q").out.split()
    if vols:
        p("volume", "rm", "-f", *vols)
    assert p("ps", "-aq").out.split() == []
    assert p("volume", "ls", "-q").out.split() == []
    assert leftovers(p, ids) == []


# ---------------------------------------------------------------- volume verbs


def test_volume_create_inspect_ls_rm(pier):
    assert pier.ok("volume", "create", "data1") == "data1\n"
    assert pier.ok("volume", "create", "--name", "data2", "--label", "tier=db", "--label", "keep") == "data2\n"
    # Creating an existing volume returns it, as docker does.
    assert pier.ok("volume", "create", "data1") == "data1\n"
    gen = pier.ok("volume", "create").strip()
    assert re.fullmatch(r"[0-9a-f]{64}", gen)

    [v] = json.loads(pier.ok("volume", "inspect", "data2"))
    assert list(v) == ["CreatedAt", "Driver", "Labels", "Mountpoint", "Name", "Options", "Scope"]
    assert v["Name"] == "data2" and v["Driver"] == "local" and v["Scope"] == "local"
    assert v["Labels"] == {"tier": "db", "keep": ""} and v["Options"] == {}
    assert v["Mountpoint"] == str(pier.root / "volumes" / "data2" / "_data")
    assert Path(v["Mountpoint"]).is_dir()
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(Z|[+-]\d\d:\d\d)", v["CreatedAt"])
    assert pier.ok("volume", "inspect", "-f", "{{.Name}} {{.Driver}}", "data1") == "data1 local\n"
    r = pier("volume", "inspect", "nope")
    assert r.rc == 1 and "No such volume: nope" in r.err, r

    lines = pier.ok("volume", "ls").splitlines()
    assert lines[0] == "DRIVER    VOLUME NAME"
    assert lines[1:] == sorted(f"local     {n}" for n in ("data1", "data2", gen))
    assert sorted(pier.volumes()) == sorted(["data1", "data2", gen])
    assert pier.ok("volume", "ls", "--format", "{{.Name}}:{{.Labels}}", "--filter", "label=tier") == \
        "data2:keep=,tier=db\n" or pier.ok("volume", "ls", "--format", "{{.Name}}:{{.Labels}}", "--filter",
                                           "label=tier") == "data2:tier=db,keep=\n"
    assert pier.ok("volume", "ls", "-q", "--filter", "label=tier=db") == "data2\n"
    assert pier.ok("volume", "ls", "-q", "--filter", "label=tier=web") == ""
    assert pier.ok("volume", "ls", "-q", "--filter", "name=data") == "data1\ndata2\n"
    assert pier.ok("volume", "ls", "-q", "--filter", "name=data1") == "data1\n"
    assert pier.ok("volume", "ls", "-q", "--filter", "driver=local", "--filter", "name=data2") == "data2\n"
    assert sorted(pier.ok("volume", "ls", "-q", "--filter", "dangling=true").split()) == \
        sorted(["data1", "data2", gen])
    out = pier.ok("volume", "ls", "--format", "table {{.Name}}\t{{.Scope}}", "--filter", "name=data1")
    assert out.splitlines() == ["VOLUME NAME   SCOPE", "data1         local"]
    assert json.loads(pier.ok("volume", "ls", "--format", "{{json .}}", "-f", "name=data1"))["Name"] == "data1"
    r = pier("volume", "ls", "--filter", "colour=red")
    assert r.rc != 0 and "invalid filter 'colour'" in r.err, r

    assert pier.ok("volume", "rm", "data1", gen) == f"data1\n{gen}\n"
    assert not (pier.root / "volumes" / "data1").exists()
    r = pier("volume", "rm", "data1")
    assert r.rc == 1 and "no such volume" in r.err, r
    assert pier.ok("volume", "rm", "-f", "data1") == "data1\n"
    assert pier.volumes() == ["data2"]


def test_volume_create_refuses_bad_input(pier):
    r = pier("volume", "create", "bad/name")
    assert r.rc == 1 and "includes invalid characters for a local volume name" in r.err, r
    r = pier("volume", "create", "x")
    assert r.rc == 1 and "invalid characters" in r.err, r
    r = pier("volume", "create", "--driver", "nfs-plugin", "v1")
    assert r.rc == 1 and 'plugin "nfs-plugin" not found' in r.err, r
    r = pier("volume", "create", "-o", "colour=red", "v1")
    assert r.rc == 1 and 'invalid option: "colour"' in r.err, r
    r = pier("volume", "create", "-o", "type=tmpfs", "v1")
    assert r.rc == 1 and 'missing required option: "device"' in r.err, r
    r = pier("volume", "create", "-o", "novalue", "v1")
    assert r.rc == 125 and "invalid key value pair" in r.err, r
    r = pier("volume", "create", "--name", "v1", "v2")
    assert r.rc == 125 and "conflicting options" in r.err, r
    assert pier.volumes() == []
    assert not (pier.root / "volumes").exists() or list((pier.root / "volumes").iterdir()) == []


# ---------------------------------------------------------------- data


def test_named_volume_survives_rm_and_a_new_image(pier, image_tar):
    """The database-upgrade story: v1 writes its data, is removed, and v2 of
    the image (another image) finds the data where v1 left it."""
    pier.ok("run", "--name", "db-v1", "-v", "dbdata:/var/lib/db", "busybox", "sh", "-c",
            "echo 'schema 1' > /var/lib/db/schema; echo row1 >> /var/lib/db/rows")
    pier.ok("rm", "db-v1")
    assert pier.volumes() == ["dbdata"]
    pier.ok("import", "-c", 'CMD ["sh"]', "-c", "ENV DB_VERSION=2", image_tar, "busybox:v2")
    out = pier.ok("run", "--rm", "-v", "dbdata:/var/lib/db", "busybox:v2", "sh", "-c",
                  "cat /var/lib/db/schema /var/lib/db/rows; echo 'schema 2' > /var/lib/db/schema; "
                  "echo $DB_VERSION")
    assert out == "schema 1\nrow1\n2\n"
    assert (pier.root / "volumes" / "dbdata" / "_data" / "schema").read_text() == "schema 2\n"
    info = json.loads(pier.ok("volume", "inspect", "dbdata"))[0]
    assert info["Labels"] is None or info["Labels"] == {}


def test_copy_up_fills_a_new_volume_with_the_image_content(pier):
    # A new volume at /etc shows the image's /etc (and the container's own
    # hosts file on top of it).
    out = pier.ok("run", "--rm", "-v", "etcvol:/etc", "busybox", "sh", "-c",
                  "cat /etc/passwd; test -s /etc/hosts && echo hosts-ok")
    assert out == PASSWD + "hosts-ok\n"
    data = pier.root / "volumes" / "etcvol" / "_data"
    assert (data / "passwd").read_text() == PASSWD
    # Owners, modes, symlinks and hard links as the image has them.
    out = pier.ok("run", "--rm", "-v", "homevol:/home/user", "busybox", "sh", "-c",
                  "stat -c '%u:%g %a %n' /home/user /home/user/secret; readlink /home/user/link; "
                  "cat /home/user/link")
    assert out == "1000:1000 750 /home/user\n1000:1000 640 /home/user/secret\nsecret\nfrom the image\n"
    hd = pier.root / "volumes" / "homevol" / "_data"
    st = os.stat(hd)
    assert (st.st_uid, st.st_gid, stat.S_IMODE(st.st_mode)) == (1000, 1000, 0o750)
    assert os.stat(hd / "secret").st_ino == os.stat(hd / "hard").st_ino
    assert os.readlink(hd / "link") == "secret"
    # A volume that holds data is not filled again.
    (hd / "secret").write_text("changed\n")
    os.unlink(hd / "link")
    assert pier.ok("run", "--rm", "-v", "homevol:/home/user", "busybox", "sh", "-c",
                   "cat /home/user/secret; ls /home/user") == "changed\nhard\nsecret\n"
    # A volume created beforehand and still empty is filled too (docker).
    pier.ok("volume", "create", "pre")
    assert pier.ok("run", "--rm", "-v", "pre:/etc", "busybox", "cat", "/etc/group") == GROUP
    # nocopy: the volume stays empty.
    assert pier.ok("run", "--rm", "--mount", "type=volume,source=bare,target=/etc,volume-nocopy",
                   "busybox", "ls", "-A", "/etc") == "hostname\nhosts\nresolv.conf\n"
    # (Only the empty mount points of the container's own /etc files, as
    # docker leaves them in a volume at /etc.)
    bare = pier.root / "volumes" / "bare" / "_data"
    assert sorted(os.listdir(bare)) == ["hostname", "hosts", "resolv.conf"]
    assert all((bare / n).stat().st_size == 0 for n in os.listdir(bare))


def test_ro_volumes_and_binds_refuse_writes(pier, tmp_path):
    pier.ok("volume", "create", "rovol")
    r = pier("run", "--rm", "-v", "rovol:/data:ro", "busybox", "sh", "-c", "echo x > /data/f")
    assert r.rc != 0 and "Read-only file system" in r.err, r
    r = pier("run", "--rm", "--mount", "source=rovol,target=/data,readonly", "busybox", "touch", "/data/f")
    assert r.rc != 0 and "Read-only file system" in r.err, r
    host = tmp_path / "host-ro"
    host.mkdir()
    (host / "f").write_text("kept\n")
    r = pier("run", "--rm", "-v", f"{host}:/h:ro", "busybox", "sh", "-c", "cat /h/f; rm /h/f")
    assert r.rc != 0 and r.out == "kept\n" and "Read-only file system" in r.err, r
    assert (host / "f").read_text() == "kept\n"
    assert os.listdir(pier.root / "volumes" / "rovol" / "_data") == []
    ro = [m for m in pier.inspect(pier.ok("create", "-v", "rovol:/data:ro", "busybox").strip())["Mounts"]]
    assert ro == [{"Type": "volume", "Name": "rovol", "Source": str(pier.root / "volumes" / "rovol" / "_data"),
                   "Destination": "/data", "Driver": "local", "Mode": "ro", "RW": False, "Propagation": ""}]


def test_bind_mount_both_directions(pier, tmp_path):
    host = tmp_path / "shared"
    host.mkdir()
    (host / "from-host").write_text("hello container\n")
    cid = pier.ok("run", "--name", "binder", "-v", f"{host}:/shared", "busybox", "sh", "-c",
                  "cat /shared/from-host; echo hello host > /shared/from-container").strip()
    assert cid == "hello container"
    assert (host / "from-container").read_text() == "hello host\n"
    [m] = pier.inspect("binder")["Mounts"]
    assert m == {"Type": "bind", "Source": str(host), "Destination": "/shared", "Mode": "", "RW": True,
                 "Propagation": "rprivate"}
    # --mount type=bind, and a single file.
    (host / "one").write_text("a file\n")
    assert pier.ok("run", "--rm", "--mount", f"type=bind,src={host / 'one'},dst=/etc/one", "busybox",
                   "cat", "/etc/one") == "a file\n"


def test_v_creates_a_missing_host_path_and_mount_refuses_it(pier, tmp_path):
    missing = tmp_path / "not" / "there"
    pier.ok("run", "--rm", "-v", f"{missing}:/m", "busybox", "sh", "-c", "echo made > /m/f")
    assert (missing / "f").read_text() == "made\n"
    gone = tmp_path / "gone"
    r = pier("run", "--rm", "--mount", f"type=bind,source={gone},target=/m", "busybox", "true")
    assert r.rc == 125, r
    assert f'invalid mount config for type "bind": bind source path does not exist: {gone}' in r.err, r
    assert not gone.exists()
    assert pier.ok("ps", "-aq") == ""


def test_bad_mount_specs_are_refused_and_leave_nothing(pier, tmp_path):
    cases = [
        (["-v", "a:b:c:d"], "invalid volume specification: 'a:b:c:d'"),
        (["-v", "vol:relative"], "mount path must be absolute"),
        (["-v", "vol:/"], "destination can't be '/'"),
        (["-v", "vol:/x:bogus"], "invalid mode: bogus"),
        (["-v", "vol:/proc"], "/proc cannot be mounted: it is in /proc"),
        (["--mount", "type=tmpfs,target=/proc/sys"], "/proc/sys cannot be mounted"),
        (["-v", "vol:/x:ro,rw"], "invalid mode: ro,rw"),
        (["-v", "bad@name:/x"], "includes invalid characters for a local volume name"),
        (["-v", "v1:/x", "-v", "v2:/x"], "Duplicate mount point: /x"),
        (["--mount", "type=bind,target=/x"], "field Source must not be empty"),
        (["--mount", "type=volume,source=v1"], "field Target must not be empty"),
        (["--mount", "type=tmpfs,source=x,target=/x"], "Source must not be specified"),
        (["--mount", "type=bind,source=/tmp,target=/x,volume-nocopy"], "VolumeOptions must not be specified"),
        (["--mount", "type=volume,target=/x,colour=red"], "unexpected key 'colour'"),
        (["--mount", "type=volume,target=/x,volume-driver=other"], 'plugin "other" not found'),
        (["--mount", "type=nfs,target=/x"], "mount type unknown"),
        (["--volumes-from", "no-such-container"], "No such container: no-such-container"),
    ]
    for flags, msg in cases:
        r = pier("run", "--rm", *flags, "busybox", "true")
        assert r.rc == 125 and msg in r.err, (flags, r)
    assert pier.ok("ps", "-aq") == ""
    assert pier.volumes() == []


def test_anonymous_volumes_go_with_rm_v_and_rm_flag(pier, image_tar):
    pier.ok("volume", "create", "named")
    pier.ok("create", "--name", "c1", "-v", "/anon", "-v", "named:/named", "busybox")
    mounts = {m["Destination"]: m for m in pier.inspect("c1")["Mounts"]}
    anon = mounts["/anon"]["Name"]
    assert re.fullmatch(r"[0-9a-f]{64}", anon) and mounts["/named"]["Name"] == "named"
    assert mounts["/anon"]["Mode"] == "" and mounts["/named"]["Mode"] == "z"
    labels = json.loads(pier.ok("volume", "inspect", anon))[0]["Labels"]
    assert labels == {"com.docker.volume.anonymous": ""}
    assert sorted(pier.volumes()) == sorted([anon, "named"])
    pier.ok("rm", "-v", "c1")
    assert pier.volumes() == ["named"]

    # rm without -v keeps the anonymous volume (dangling).
    pier.ok("create", "--name", "c2", "-v", "/anon", "busybox")
    anon2 = pier.inspect("c2")["Mounts"][0]["Name"]
    pier.ok("rm", "c2")
    assert sorted(pier.volumes()) == sorted([anon2, "named"])
    assert pier.ok("volume", "ls", "-q", "--filter", "dangling=true").split() == sorted([anon2, "named"])
    pier.ok("volume", "rm", anon2)

    # --rm removes the container's anonymous volumes, including the
    # image's VOLUME, and keeps the named ones.
    pier.ok("import", "-c", 'CMD ["sh"]', "-c", "VOLUME /cache", image_tar, "withvol")
    pier.ok("run", "--rm", "-v", "/anon", "-v", "named:/named", "withvol", "sh", "-c",
            "touch /anon/x /cache/y /named/z")
    assert pier.volumes() == ["named"]
    assert os.listdir(pier.root / "volumes" / "named" / "_data") == ["z"]

    # The image's VOLUME gets an anonymous volume, unless something is
    # mounted there.
    pier.ok("create", "--name", "c3", "withvol")
    [m] = pier.inspect("c3")["Mounts"]
    assert m["Destination"] == "/cache" and m["Type"] == "volume" and m["RW"]
    pier.ok("create", "--name", "c4", "-v", "named:/cache", "withvol")
    assert [m["Name"] for m in pier.inspect("c4")["Mounts"]] == ["named"]
    pier.ok("rm", "-v", "c3", "c4")
    assert pier.volumes() == ["named"]


def test_volume_rm_is_refused_while_in_use(pier):
    cid = pier.ok("run", "-d", "--name", "user1", "-v", "busy:/data", "busybox", "sleep", "100").strip()
    r = pier("volume", "rm", "busy")
    assert r.rc == 1 and f"remove busy: volume is in use - [{cid}]" in r.err, r
    pier.ok("stop", "-t", "0", "user1")
    r = pier("volume", "rm", "-f", "busy")
    assert r.rc == 1 and "volume is in use" in r.err, r
    r = pier("volume", "prune", "-af")
    assert r.rc == 0 and "busy" not in r.out, r
    assert pier.volumes() == ["busy"]
    pier.ok("rm", "user1")
    assert pier.ok("volume", "rm", "busy") == "busy\n"
    assert pier.volumes() == []


def test_volumes_from(pier, tmp_path):
    host = tmp_path / "h"
    host.mkdir()
    pier.ok("create", "--name", "src", "-v", "shared:/shared", "-v", "/anon", "-v", f"{host}:/host",
            "--tmpfs", "/scratch", "busybox")
    pier.ok("run", "--rm", "--volumes-from", "src", "busybox", "sh", "-c",
            "echo one > /shared/f; echo two > /anon/g; echo three > /host/h")
    assert (host / "h").read_text() == "three\n"
    out = pier.ok("run", "--rm", "--volumes-from", "src:ro", "busybox", "sh", "-c",
                  "cat /shared/f /anon/g /host/h; touch /shared/x 2>&1; true")
    assert out.startswith("one\ntwo\nthree\n") and "Read-only file system" in out
    mounts = {m["Destination"]: m for m in pier.inspect("src")["Mounts"]}
    pier.ok("create", "--name", "dst", "--volumes-from", "src:ro", "-v", "other:/shared", "busybox")
    dm = {m["Destination"]: m for m in pier.inspect("dst")["Mounts"]}
    assert set(dm) == {"/shared", "/anon", "/host"}
    assert dm["/shared"]["Name"] == "other" and dm["/shared"]["RW"]
    assert dm["/anon"]["Name"] == mounts["/anon"]["Name"] and not dm["/anon"]["RW"]
    r = pier("run", "--rm", "--volumes-from", "src:bogus", "busybox", "true")
    assert r.rc == 125 and "invalid mode: bogus" in r.err, r
    # The anonymous volume stays while another container uses it.
    pier.ok("rm", "-v", "src")
    assert mounts["/anon"]["Name"] in pier.volumes()
    pier.ok("rm", "-v", "dst")
    assert sorted(pier.volumes()) == ["other", "shared"]


def test_tmpfs_volumes_and_tmpfs_mounts(pier):
    pier.ok("volume", "create", "--driver", "local", "-o", "type=tmpfs", "-o", "device=tmpfs",
            "-o", "o=size=2m,uid=1000,mode=0750", "mem")
    [v] = json.loads(pier.ok("volume", "inspect", "mem"))
    assert v["Options"] == {"type": "tmpfs", "device": "tmpfs", "o": "size=2m,uid=1000,mode=0750"}
    data = pier.root / "volumes" / "mem" / "_data"
    pier.ok("run", "-d", "--name", "writer", "-v", "mem:/mem", "busybox", "sleep", "100")
    out = pier.ok("exec", "writer", "sh", "-c", "echo shared > /mem/f; grep ' /mem ' /proc/mounts; "
                  "stat -c '%u %a' /mem")
    assert "tmpfs /mem tmpfs" in out and "size=2048k" in out and out.endswith("1000 750\n")
    # Another container sees the same file system; the host's disk does not.
    assert pier.ok("run", "--rm", "-v", "mem:/m", "busybox", "cat", "/m/f") == "shared\n"
    assert any(str(data) in line for line in Path("/proc/self/mountinfo").read_text().splitlines())
    pier.ok("rm", "-f", "writer")
    pier.ok("volume", "rm", "mem")
    assert str(pier.root) not in Path("/proc/self/mountinfo").read_text()
    assert not data.exists()

    # An anonymous tmpfs volume of a --rm container: the monitor removes it
    # and unmounts it from the host's mount namespace, not only its own.
    out = pier.ok("run", "--rm", "--mount",
                  "type=volume,target=/x,volume-opt=type=tmpfs,volume-opt=device=tmpfs,volume-opt=o=size=1m",
                  "busybox", "grep", " /x ", "/proc/mounts")
    assert "tmpfs /x tmpfs" in out and "size=1024k" in out, out
    assert pier.volumes() == []
    assert str(pier.root) not in Path("/proc/self/mountinfo").read_text()

    # --mount type=tmpfs: the container's own, with size and mode.
    out = pier.ok("run", "--rm", "--mount", "type=tmpfs,target=/t,tmpfs-size=1m,tmpfs-mode=1770", "busybox",
                  "sh", "-c", "grep ' /t ' /proc/mounts; stat -c %a /t")
    assert "tmpfs /t tmpfs" in out and "size=1024k" in out and out.endswith("1770\n"), out
    r = pier("run", "--rm", "--mount", "type=tmpfs,target=/t,tmpfs-size=lots", "busybox", "true")
    assert r.rc == 125 and "tmpfs-size" in r.err, r


def test_bind_volume_option(pier, tmp_path):
    dev = tmp_path / "device"
    dev.mkdir()
    (dev / "f").write_text("on the device\n")
    pier.ok("volume", "create", "-o", "type=none", "-o", "o=bind", "-o", f"device={dev}", "bound")
    assert pier.ok("run", "--rm", "-v", "bound:/b", "busybox", "sh", "-c", "cat /b/f; echo back > /b/g") == \
        "on the device\n"
    assert (dev / "g").read_text() == "back\n"
    pier.ok("volume", "rm", "bound")
    # The device's data is not the volume's to delete.
    assert sorted(os.listdir(dev)) == ["f", "g"]


def test_prune_and_system_df(pier):
    pier.ok("volume", "create", "--label", "keep=yes", "named-keep")
    pier.ok("volume", "create", "named-drop")
    pier.ok("create", "--name", "holder", "-v", "held:/h", "busybox")
    pier.ok("create", "--name", "anon-maker", "-v", "/anon", "busybox")
    anon = pier.inspect("anon-maker")["Mounts"][0]["Name"]
    pier.ok("rm", "anon-maker")
    (pier.root / "volumes" / "named-drop" / "_data" / "f").write_text("x" * 2000)
    df = {line.split()[0]: line.split() for line in pier.ok("system", "df").splitlines()}
    assert df["Local"][2:5] == ["4", "1", "2kB"], df

    # Without -a: anonymous volumes only.
    out = pier.ok("volume", "prune", "-f")
    assert out == f"Deleted Volumes:\n{anon}\n\nTotal reclaimed space: 0B\n"
    # The question, answered no.
    r = pier("volume", "prune", "-a", input="n\n")
    assert r.rc == 0 and "all local volumes not used by at least one container" in r.err
    assert sorted(pier.volumes()) == ["held", "named-drop", "named-keep"]
    out = pier.ok("volume", "prune", "-a", "-f", "--filter", "label!=keep")
    assert out == "Deleted Volumes:\nnamed-drop\n\nTotal reclaimed space: 2kB\n"
    r = pier("volume", "prune", "-f", "--filter", "dangling=true")
    assert r.rc == 1 and "invalid filter 'dangling'" in r.err, r
    assert sorted(pier.volumes()) == ["held", "named-keep"]

    # system prune --volumes: unused anonymous volumes only.
    pier.ok("create", "--name", "anon2", "-v", "/anon", "busybox")
    anon2 = pier.inspect("anon2")["Mounts"][0]["Name"]
    pier.ok("rm", "anon2")
    out = pier.ok("system", "prune", "-f", "--volumes")
    assert anon2 in out
    assert sorted(pier.volumes()) == ["held", "named-keep"]


def test_concurrent_containers_share_a_new_volume(pier):
    """Eight containers started together on one new volume: it is made
    once, filled once from the image, and all of them write to it; their
    anonymous volumes go with them (--rm)."""
    import subprocess
    procs = [subprocess.Popen(pier.argv("run", "--rm", "-v", "together:/home/user", "-v", "/anon", "busybox",
                                        "sh", "-c", f"echo {i} >> /home/user/log"),
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE) for i in range(8)]
    results = [(p.wait(timeout=120), p.stderr.read().decode()) for p in procs]
    for p in procs:
        p.stdout.close()
        p.stderr.close()
    assert all(rc == 0 for rc, _ in results), results
    data = pier.root / "volumes" / "together" / "_data"
    assert sorted((data / "log").read_text().split()) == \
        [str(i) for i in range(8)]
    assert sorted(os.listdir(data)) == ["hard", "link", "log", "secret"]
    assert pier.volumes() == ["together"]


def test_bind_options_reach_the_oci_config(pier, tmp_path):
    """Propagation, recursion and read-only of binds, and the order of
    mounts (a volume at /etc under the container's own /etc files)."""
    host = tmp_path / "src"
    host.mkdir()
    cid = pier.ok("run", "-d", "--mount", f"type=bind,src={host},dst=/a,bind-propagation=rslave,"
                  "bind-recursive=disabled,readonly", "-v", f"{host}:/b:shared", "-v", "etcv:/etc",
                  "busybox", "sleep", "100").strip()
    spec = json.loads((pier.root / "containers" / cid / "config.json").read_text())
    by_dest = {m["destination"]: m for m in spec["mounts"]}
    assert by_dest["/a"]["type"] == "bind" and by_dest["/a"]["source"] == str(host)
    assert by_dest["/a"]["options"] == ["bind", "rslave", "ro"]
    assert by_dest["/b"]["options"] == ["rbind", "shared"]
    assert by_dest["/etc"]["source"] == str(pier.root / "volumes" / "etcv" / "_data")
    dests = [m["destination"] for m in spec["mounts"]]
    assert dests.index("/etc") < dests.index("/etc/hosts")
    mounts = {m["Destination"]: m for m in pier.inspect(cid)["Mounts"]}
    assert mounts["/a"]["Propagation"] == "rslave" and not mounts["/a"]["RW"]
    assert mounts["/b"]["Propagation"] == "shared" and mounts["/b"]["Mode"] == "shared"
    pier.ok("rm", "-f", cid)


def test_relative_bind_source(pier, tmp_path):
    """docker's CLI (23+) takes -v ./dir as relative to the current
    directory."""
    (tmp_path / "rel").mkdir()
    (tmp_path / "rel" / "f").write_text("relative\n")
    r = run_captured(pier.argv("run", "--rm", "-v", "./rel:/r", "busybox", "cat", "/r/f"), cwd=tmp_path)
    assert r.rc == 0 and r.out == "relative\n", r
