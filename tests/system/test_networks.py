"""Networks: the default bridge, user-defined networks, published ports
and name resolution, driven through the pier CLI on a busybox image the
tests import themselves.  Traffic goes only to 127.0.0.0/8, the host's
own address and the tests' own containers.  After every test nothing may
be left on the host: no veth, no bridge, no nftables table of the
test's store, no address lease."""
import json
import os
import re
import signal
import socket
import subprocess
import threading
import time
from pathlib import Path

import pytest

from conftest import alive, run_captured, wait_until
from test_containers import Pier, image_tar, leftovers  # noqa: F401 (fixture)


def links():
    out = subprocess.run(["ip", "-o", "link", "show"], capture_output=True, text=True, check=True).stdout
    return {line.split(":")[1].strip().split("@")[0] for line in out.splitlines()}


def nft_tables():
    out = subprocess.run(["nft", "list", "tables"], capture_output=True, text=True, check=True).stdout
    return {line.split()[-1] for line in out.splitlines() if line.startswith("table ip ")}


def store_names(p):
    """The default bridge and nftables table of p's store."""
    info = json.loads(p.ok("network", "inspect", "bridge"))[0]
    br = info["Options"]["com.docker.network.bridge.name"]
    return br, ("pier" if br == "pier0" else "pier_" + br[4:])


def leases(p):
    import sqlite3
    db = sqlite3.connect(p.root / "pier.db")
    try:
        return db.execute("SELECT network_id, address, container_id FROM network_leases").fetchall()
    finally:
        db.close()


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def curl(url, timeout=5):
    r = subprocess.run(["curl", "-s", "-m", str(timeout), url], capture_output=True, text=True)
    return r.returncode, r.stdout


def net_leftovers(p, ids, bridges):
    found = []
    ls = links()
    for cid in ids:
        if any(l.startswith("pv" + cid[:8]) for l in ls):
            found.append(f"veth of {cid[:12]}")
    for b in bridges:
        if b in ls:
            found.append(f"bridge {b}")
    return found


@pytest.fixture
def pier(runtime_path, tmp_path, image_tar):
    exe = os.path.join(os.path.dirname(runtime_path), "pier")
    p = Pier(exe, tmp_path / "store", tmp_path / "run")
    r = p("import", "-c", 'CMD ["sh"]', "-c", "EXPOSE 80", image_tar, "busybox")
    assert r.rc == 0, r
    default_bridge, table = store_names(p)
    p.created_bridges = [default_bridge]
    try:
        yield p
    finally:
        ids = p("ps", "-aq", "--no-trunc").out.split()
        if ids:
            p("rm", "-f", *ids)
        nets = [n for n in p("network", "ls", "--format", "{{.Name}}").out.split()
                if n not in ("bridge", "host", "none")]
        for n in nets:
            info = json.loads(p("network", "inspect", n).out or "[{}]")[0]
            p.created_bridges.append(info.get("Options", {}).get("com.docker.network.bridge.name", ""))
        if nets:
            p("network", "rm", *nets)
        assert p("ps", "-aq").out.split() == []
        assert leftovers(p, ids) == []
        wait_until(lambda: net_leftovers(p, ids, p.created_bridges) == [], timeout=10,
                   what=f"veths and bridges to go: {net_leftovers(p, ids, p.created_bridges)}")
        # The store runs nothing: its default bridge and table go after
        # the idle grace period.
        wait_until(lambda: table not in nft_tables(), timeout=10, what=f"nftables table {table} to go")
        assert leases(p) == []


def test_published_port_answers_on_localhost_and_host_address(pier):
    port = free_port()
    cid = pier.ok("run", "-d", "--name", "web", "-p", f"{port}:80", "-p", "127.0.0.1::80", "busybox",
                  "sh", "-c", "mkdir -p /www && echo hello-pier > /www/index.html && "
                  "exec httpd -f -p 80 -h /www").strip()
    wait_until(lambda: curl(f"http://127.0.0.1:{port}/")[1] == "hello-pier\n", timeout=10,
               what="httpd behind the published port")
    # The host's own (non-loopback) address reaches it too.
    host_ip = subprocess.run(["ip", "-4", "-o", "route", "get", "1.1.1.1"], capture_output=True,
                             text=True).stdout.split("src ")[1].split()[0]
    assert curl(f"http://{host_ip}:{port}/") == (0, "hello-pier\n")
    # The second binding took a free port on 127.0.0.1 only.
    lines = pier.ok("port", "web").splitlines()
    assert f"80/tcp -> 0.0.0.0:{port}" in lines
    local = [l for l in lines if "127.0.0.1" in l]
    assert len(local) == 1, lines
    lport = int(local[0].rsplit(":", 1)[1])
    assert curl(f"http://127.0.0.1:{lport}/") == (0, "hello-pier\n")
    assert pier.ok("port", "web", "80").splitlines() == [f"0.0.0.0:{port}", f"127.0.0.1:{lport}"]
    r = pier("port", "web", "81/tcp")
    assert r.rc == 1 and "No public port '81/tcp'" in r.err, r
    row = pier.ok("ps", "--format", "{{.Names}}|{{.Ports}}").strip()
    assert row == f"web|0.0.0.0:{port}->80/tcp, 127.0.0.1:{lport}->80/tcp", row
    ns = pier.inspect("web")["NetworkSettings"]
    assert re.fullmatch(r"10\.\d+\.\d+\.\d+", ns["IPAddress"]) and ns["Gateway"].endswith(".1")
    assert ns["Networks"]["bridge"]["IPAddress"] == ns["IPAddress"]
    assert ns["Ports"]["80/tcp"] == [{"HostIp": "0.0.0.0", "HostPort": str(port)},
                                     {"HostIp": "127.0.0.1", "HostPort": str(lport)}]
    # Hairpin: the container reaches its own published port through the host.
    r = pier("exec", "web", "wget", "-q", "-O-", f"http://{host_ip}:{port}/")
    assert r.rc == 0 and r.out == "hello-pier\n", r
    # Outbound traffic from the subnet is masqueraded.
    _, table = store_names(pier)
    assert table in nft_tables()
    rules = subprocess.run(["nft", "list", "table", "ip", table], capture_output=True, text=True).stdout
    subnet = json.loads(pier.ok("network", "inspect", "bridge"))[0]["IPAM"]["Config"][0]["Subnet"]
    masq = rules[rules.index("set masq_nets"):]
    assert subnet in masq[:masq.index("}")], rules
    assert "ip saddr @masq_nets ip daddr != @nets masquerade" in rules
    # Stopped: the rules go, the port no longer answers, the lease is released.
    pier.ok("stop", "-t", "0", "web")
    assert curl(f"http://127.0.0.1:{port}/", timeout=2)[0] != 0
    assert leases(pier) == []
    assert pier.inspect("web")["NetworkSettings"]["Ports"] == {}
    # Started again: published again.
    pier.ok("start", "web")
    wait_until(lambda: curl(f"http://127.0.0.1:{port}/")[1] == "hello-pier\n", timeout=10,
               what="httpd after restart")
    pier.ok("rm", "-f", cid)


def test_port_already_allocated_leaves_nothing(pier):
    port = free_port()
    pier.ok("run", "-d", "--name", "first", "-p", f"{port}:80", "busybox", "sleep", "60")
    r = pier("run", "-d", "--name", "second", "-p", f"{port}:80", "busybox", "sleep", "60")
    assert r.rc != 0 and "port is already allocated" in r.err, r
    assert pier.inspect("second")["State"]["Status"] == "created"
    assert [l[2] for l in leases(pier)] == [pier.inspect("first")["Id"]]
    # Malformed -p: a usage error, nothing created.
    for bad in ("80:80:80:80", "abc", "1.2.3.999:80:80", "80/sctpx", "0"):
        r = pier("run", "-d", "-p", bad, "busybox", "true")
        assert r.rc == 125 and "-p" in r.err, (bad, r)
    assert sorted(pier.ok("ps", "-a", "--format", "{{.Names}}").split()) == ["first", "second"]


def test_publish_all_uses_image_expose(pier):
    pier.ok("run", "-d", "--name", "pall", "-P", "--expose", "9000/udp", "busybox", "sh", "-c",
            "mkdir -p /www && echo all > /www/index.html && exec httpd -f -p 80 -h /www")
    ports = pier.inspect("pall")["NetworkSettings"]["Ports"]
    assert set(ports) == {"80/tcp", "9000/udp"}, ports
    hp = int(ports["80/tcp"][0]["HostPort"])
    assert hp > 0 and int(ports["9000/udp"][0]["HostPort"]) > 0
    wait_until(lambda: curl(f"http://127.0.0.1:{hp}/")[1] == "all\n", timeout=10, what="-P port")
    assert f"80/tcp -> 0.0.0.0:{hp}" in pier.ok("port", "pall").splitlines()


def test_user_network_names_and_isolation(pier, upstream):
    pier.ok("network", "create", "pt-front")
    pier.ok("network", "create", "pt-back")
    pier.ok("run", "-d", "--name", "srv", "--network", "pt-front", "--network-alias", "api", "busybox", "sh",
            "-c", "mkdir -p /www && echo from-srv > /www/index.html && exec httpd -f -p 80 -h /www")
    pier.ok("run", "-d", "--name", "cli", "--network", "pt-front", "busybox", "sleep", "60")
    pier.ok("run", "-d", "--name", "other", "--network", "pt-back", "--dns", upstream.ADDR, "busybox", "sleep", "60")
    srv_ip = pier.inspect("srv")["NetworkSettings"]["Networks"]["pt-front"]["IPAddress"]
    # By name and by alias, from a peer on the same network.
    r = pier("exec", "cli", "ping", "-c1", "-W2", "srv")
    assert r.rc == 0 and f"({srv_ip})" in r.out, r
    r = pier("exec", "cli", "wget", "-q", "-O-", "http://api/")
    assert r.rc == 0 and r.out == "from-srv\n", r
    # The peer that came later is known to the earlier one too.
    assert "cli" in pier.ok("exec", "srv", "cat", "/etc/hosts")
    # Another network: neither the name nor the address is reachable.
    r = pier("exec", "other", "ping", "-c1", "-W1", "srv")
    assert r.rc != 0, r
    r = pier("exec", "other", "ping", "-c1", "-W1", srv_ip)
    assert r.rc != 0 and "0 packets received" in r.out, r
    r = pier("exec", "other", "nc", "-w", "1", srv_ip, "80")
    assert r.rc != 0, r
    # The default network has no names (as docker).
    pier.ok("run", "-d", "--name", "d1", "busybox", "sleep", "60")
    assert "srv" not in pier.ok("exec", "d1", "cat", "/etc/hosts")
    # A peer that stops disappears from the others' hosts files.
    pier.ok("rm", "-f", "cli")
    assert "cli" not in pier.ok("exec", "srv", "cat", "/etc/hosts")
    info = json.loads(pier.ok("network", "inspect", "pt-front"))[0]
    assert [c["Name"] for c in info["Containers"].values()] == ["srv"]
    assert info["Containers"][pier.inspect("srv")["Id"]]["IPv4Address"] == srv_ip + "/24"


def test_connect_and_disconnect_a_running_container(pier, upstream):
    pier.ok("network", "create", "pt-a")
    pier.ok("network", "create", "pt-b")
    # (--dns: names that are no container's go to a resolver on the host's loopback)
    pier.ok("run", "-d", "--name", "cx", "--network", "pt-a", "--dns", upstream.ADDR, "busybox", "sleep", "60")
    pier.ok("run", "-d", "--name", "cy", "--network", "pt-b", "busybox", "sleep", "60")
    assert pier("exec", "cx", "ping", "-c1", "-W1", "cy").rc != 0
    pier.ok("network", "connect", "--alias", "why", "pt-a", "cy")
    assert set(pier.inspect("cy")["NetworkSettings"]["Networks"]) == {"pt-a", "pt-b"}
    r = pier("exec", "cy", "ip", "-o", "-4", "addr")
    assert "eth0" in r.out and "eth1" in r.out, r
    r = pier("exec", "cx", "ping", "-c1", "-W2", "why")
    assert r.rc == 0, r
    r = pier("network", "connect", "pt-a", "cy")
    assert r.rc == 1 and "already exists" in r.err, r
    pier.ok("network", "disconnect", "pt-a", "cy")
    assert "eth1" not in pier.ok("exec", "cy", "ip", "-o", "-4", "addr")
    assert pier("exec", "cx", "ping", "-c1", "-W1", "why").rc != 0
    assert [l for l in leases(pier) if l[2] == pier.inspect("cy")["Id"]].__len__() == 1
    # A stopped container: connect only records it; start plugs it in.
    pier.ok("create", "--name", "cz", "--network", "none", "busybox", "sleep", "60")
    r = pier("network", "connect", "pt-a", "cz")
    assert r.rc == 1 and "cannot be connected" in r.err, r
    pier.ok("create", "--name", "cw", "--network", "pt-b", "busybox", "sleep", "60")
    pier.ok("network", "connect", "pt-a", "cw")
    pier.ok("start", "cw")
    assert set(pier.inspect("cw")["NetworkSettings"]["Networks"]) == {"pt-a", "pt-b"}
    assert pier("exec", "cx", "ping", "-c1", "-W2", "cw").rc == 0


def test_network_none_has_only_lo(pier):
    r = pier("run", "--rm", "--network", "none", "busybox", "ip", "-o", "link")
    assert r.rc == 0, r
    names = [l.split(":")[1].strip() for l in r.out.splitlines()]
    assert names == ["lo"] and "UP" in r.out, r
    r = pier("run", "--rm", "--network", "none", "--network-alias", "x", "busybox", "true")
    assert r.rc == 125 and "user defined networks" in r.err, r
    r = pier("run", "--rm", "--ip", "10.89.0.50", "busybox", "true")
    assert r.rc == 125 and "user defined networks" in r.err, r
    r = pier("run", "--rm", "--network", "none", "-p", "80", "busybox", "true")
    assert r.rc == 0 and "Published ports are discarded" in r.err, r
    r = pier("run", "--rm", "--network", "container:nope", "-p", "80", "busybox", "true")
    assert r.rc == 125 and "port publishing and the container type network mode" in r.err, r
    r = pier("run", "--rm", "--network", "no-such-net", "busybox", "true")
    assert r.rc == 125 and "network no-such-net not found" in r.err, r
    # (the --rm container's monitor removes it just after reporting its exit)
    wait_until(lambda: pier.ok("ps", "-aq") == "", what="the --rm container to be removed")


def test_default_bridge_container_outbound_and_files(pier):
    r = pier("run", "--rm", "--dns", "192.0.2.53", "--dns-search", "example.test", "--add-host",
             "db.local:192.0.2.7", "busybox", "sh", "-c",
             "cat /etc/resolv.conf; cat /etc/hosts; ip route; ip -o -4 addr show eth0")
    assert r.rc == 0, r
    assert "nameserver 192.0.2.53" in r.out and "search example.test" in r.out
    assert "192.0.2.7\tdb.local" in r.out
    assert re.search(r"default via 10\.\d+\.\d+\.1 dev eth0", r.out), r.out
    # The container reaches the host through the gateway (masquerade / routing).
    port = free_port()
    srv = socket.socket()
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind(("0.0.0.0", port))
    srv.listen(1)
    try:
        host_ip = subprocess.run(["ip", "-4", "-o", "route", "get", "1.1.1.1"], capture_output=True,
                                 text=True).stdout.split("src ")[1].split()[0]
        got = []

        def serve():
            srv.settimeout(10)
            conn, _ = srv.accept()
            got.append(conn.recv(10))
            conn.close()

        t = threading.Thread(target=serve)
        t.start()
        r = pier("run", "--rm", "busybox", "sh", "-c", f"echo hi | nc -w 2 {host_ip} {port}", timeout=20)
        t.join()
        assert got == [b"hi\n"], (got, r)
    finally:
        srv.close()


def test_network_cli(pier):
    nid = pier.ok("network", "create", "--subnet", "10.222.5.0/24", "--gateway", "10.222.5.254", "--label",
                  "team=blue", "pt-cli").strip()
    assert re.fullmatch(r"[0-9a-f]{64}", nid)
    info = json.loads(pier.ok("network", "inspect", "pt-cli"))[0]
    assert info["Name"] == "pt-cli" and info["Id"] == nid and info["Driver"] == "bridge"
    assert info["IPAM"]["Config"] == [{"Subnet": "10.222.5.0/24", "Gateway": "10.222.5.254"}]
    assert info["Labels"] == {"team": "blue"} and info["Internal"] is False and info["Containers"] == {}
    bridge = info["Options"]["com.docker.network.bridge.name"]
    pier.created_bridges.append(bridge)
    assert bridge in links()
    names = pier.ok("network", "ls", "--format", "{{.Name}}").split()
    assert {"bridge", "host", "none", "pt-cli"} <= set(names)
    assert pier.ok("network", "ls", "-q", "--filter", "label=team=blue").split() == [nid[:12]]
    assert pier.ok("network", "ls", "--filter", "type=custom", "--format", "{{.Name}} {{.Driver}}").split("\n")[0] \
        == "pt-cli bridge"
    assert pier("network", "ls", "--filter", "bogus=1").rc == 125
    # Errors: docker's words, nothing created.
    r = pier("network", "create", "pt-cli")
    assert r.rc == 1 and "already exists" in r.err, r
    r = pier("network", "create", "--subnet", "10.222.5.128/25", "pt-overlap")
    assert r.rc == 1 and "overlaps" in r.err, r
    r = pier("network", "create", "--subnet", "10.222.6.1/24", "pt-bits")
    assert r.rc == 1 and "10.222.6.0/24" in r.err, r
    r = pier("network", "create", "--subnet", "10.222.7.0/24", "--gateway", "10.9.9.9", "pt-gw")
    assert r.rc == 1 and "gateway" in r.err, r
    r = pier("network", "create", "-d", "overlay", "pt-drv")
    assert r.rc == 1 and "not supported" in r.err, r
    r = pier("network", "rm", "bridge")
    assert r.rc == 1 and "pre-defined" in r.err, r
    assert not {"pt-overlap", "pt-bits", "pt-gw", "pt-drv"} & set(
        pier.ok("network", "ls", "--format", "{{.Name}}").split())
    # --ip on the user network, then rm refused while it is in use.
    pier.ok("run", "-d", "--name", "fixed", "--network", "pt-cli", "--ip", "10.222.5.9", "busybox", "sleep", "60")
    assert pier.inspect("fixed")["NetworkSettings"]["Networks"]["pt-cli"]["IPAddress"] == "10.222.5.9"
    r = pier("run", "-d", "--network", "pt-cli", "--ip", "10.222.5.9", "busybox", "sleep", "60")
    assert r.rc != 0 and "in use" in r.err, r
    r = pier("network", "rm", "pt-cli")
    assert r.rc == 1 and "active endpoints" in r.err, r
    pier.ok("rm", "-f", "fixed")
    leftover = pier.ok("ps", "-aq").split()  # the --ip conflict left a created container
    if leftover:
        pier.ok("rm", "-f", *leftover)
    # prune removes unused user networks only.
    pier.ok("network", "create", "--internal", "pt-int")
    out = pier.ok("network", "prune", "-f")
    assert out.startswith("Deleted Networks:") and {"pt-cli", "pt-int"} <= set(out.split()[2:]), out
    assert set(pier.ok("network", "ls", "--format", "{{.Name}}").split()) == {"bridge", "host", "none"}
    assert bridge not in links()


def test_internal_network_has_no_way_out(pier):
    pier.ok("network", "create", "--internal", "pt-inner")
    port = free_port()
    srv = socket.socket()
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind(("0.0.0.0", port))
    srv.listen(1)
    try:
        host_ip = subprocess.run(["ip", "-4", "-o", "route", "get", "1.1.1.1"], capture_output=True,
                                 text=True).stdout.split("src ")[1].split()[0]
        pier.ok("run", "-d", "--name", "in1", "--network", "pt-inner", "busybox", "sleep", "60")
        pier.ok("run", "-d", "--name", "in2", "--network", "pt-inner", "busybox", "sleep", "60")
        assert pier("exec", "in1", "ping", "-c1", "-W2", "in2").rc == 0
        # The host's other address is routed (forwarded), and that is dropped.
        r = pier("exec", "in1", "sh", "-c", f"echo x | nc -w 1 {host_ip} {port}")
        srv.settimeout(1.5)
        with pytest.raises(socket.timeout):
            srv.accept()
    finally:
        srv.close()


def test_killed_monitor_reclaims_rules_and_leases(pier):
    port = free_port()
    pier.ok("run", "-d", "--name", "victim", "-p", f"{port}:80", "busybox", "sh", "-c",
            "mkdir -p /www && echo v > /www/index.html && exec httpd -f -p 80 -h /www")
    wait_until(lambda: curl(f"http://127.0.0.1:{port}/")[1] == "v\n", timeout=10, what="httpd")
    cid = pier.inspect("victim")["Id"]
    _, table = store_names(pier)
    import sqlite3
    db = sqlite3.connect(pier.root / "pier.db")
    mon = json.loads(db.execute("SELECT state FROM containers WHERE id = ?", (cid,)).fetchone()[0])["MonitorPid"]
    db.close()
    assert leases(pier) != []
    os.kill(mon, signal.SIGKILL)
    wait_until(lambda: not alive(mon), what="monitor death")
    # The next pier command reclaims: the container is exited, its rules and
    # lease gone, its veth gone with its namespace.
    st = pier.inspect("victim")["State"]
    assert st["Status"] == "exited" and st["ExitCode"] == 255
    assert leases(pier) == []
    assert curl(f"http://127.0.0.1:{port}/", timeout=2)[0] != 0
    rules = subprocess.run(["nft", "list", "table", "ip", table], capture_output=True, text=True).stdout
    assert f"{port}" not in rules
    wait_until(lambda: not any(l.startswith("pv" + cid[:8]) for l in links()), what="veth to go")


def test_parallel_runs_keep_their_addresses_and_ports(pier):
    """Starts racing each other (and a `ps` reconciling meanwhile) all get
    their own address and keep their published port."""
    n = 6
    ports = [free_port() for _ in range(n)]
    results = [None] * n

    def start(i):
        results[i] = pier("run", "-d", "--name", f"par{i}", "-p", f"{ports[i]}:80", "busybox", "sh", "-c",
                          f"mkdir -p /www && echo par{i} > /www/index.html && exec httpd -f -p 80 -h /www")

    threads = [threading.Thread(target=start, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for _ in range(5):
        pier("ps", "-a")
    for t in threads:
        t.join()
    assert all(r.rc == 0 for r in results), results
    ips = [pier.inspect(f"par{i}")["NetworkSettings"]["IPAddress"] for i in range(n)]
    assert len(set(ips)) == n, ips
    assert len(leases(pier)) == n
    for i in range(n):
        wait_until(lambda: curl(f"http://127.0.0.1:{ports[i]}/")[1] == f"par{i}\n", timeout=10,
                   what=f"par{i} behind port {ports[i]}")


class FakeUpstream:
    """A DNS server on 127.0.0.153:53 of the host: upstream.test is
    192.0.2.99, every other name NXDOMAIN (so no query leaves the host)."""
    ADDR = "127.0.0.153"

    def __init__(self):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind((self.ADDR, 53))
        self.sock.settimeout(0.2)
        self.names = []
        self.stop = False
        self.thread = threading.Thread(target=self.serve)
        self.thread.start()

    def serve(self):
        while not self.stop:
            try:
                msg, peer = self.sock.recvfrom(4096)
            except socket.timeout:
                continue
            off, labels = 12, []
            while msg[off]:
                labels.append(msg[off + 1:off + 1 + msg[off]].decode())
                off += 1 + msg[off]
            qend = off + 5
            name = ".".join(labels).lower()
            qtype = int.from_bytes(msg[off + 1:off + 3], "big")
            self.names.append(name)
            hit = name == "upstream.test" and qtype == 1
            flags = 0x8180 if name == "upstream.test" else 0x8183
            head = msg[:2] + flags.to_bytes(2, "big") + b"\0\1" + (b"\0\1" if hit else b"\0\0") + b"\0\0\0\0"
            ans = b"\xc0\x0c\0\1\0\1\0\0\0\x3c\0\4" + socket.inet_aton("192.0.2.99") if hit else b""
            self.sock.sendto(head + msg[12:qend] + ans, peer)

    def close(self):
        self.stop = True
        self.thread.join()
        self.sock.close()


@pytest.fixture
def upstream():
    u = FakeUpstream()
    try:
        yield u
    finally:
        u.close()


def test_embedded_dns_resolves_peers_and_forwards(pier, upstream):
    pier.ok("network", "create", "pt-dns")
    pier.ok("run", "-d", "--name", "db", "--network", "pt-dns", "--network-alias", "database", "busybox", "sleep", "60")
    db_ip = pier.inspect("db")["NetworkSettings"]["Networks"]["pt-dns"]["IPAddress"]
    pier.ok("run", "-d", "--name", "app", "--network", "pt-dns", "--dns", upstream.ADDR, "--dns-search", "corp.test",
            "busybox", "sleep", "60")
    resolv = pier.ok("exec", "app", "cat", "/etc/resolv.conf")
    assert resolv.splitlines()[0] == "nameserver 127.0.0.11", resolv
    assert "search corp.test" in resolv and upstream.ADDR not in resolv
    for name in ("db", "database", "DB", pier.inspect("db")["Id"][:12]):
        r = pier("exec", "app", "nslookup", name, "127.0.0.11")
        assert r.rc == 0 and f"Address: {db_ip}" in r.out, (name, r)
    # Not a container: forwarded, from the host's namespace, to --dns (a
    # resolver on the host's loopback, which the container itself cannot reach).
    r = pier("exec", "app", "nslookup", "upstream.test", "127.0.0.11")
    assert r.rc == 0 and "192.0.2.99" in r.out, r
    assert "upstream.test" in upstream.names
    r = pier("exec", "app", "nslookup", "nosuch.test", "127.0.0.11")
    assert r.rc != 0 and "NXDOMAIN" in r.out, r
    # A peer that comes later is answered at once; one that goes is not.
    pier.ok("run", "-d", "--name", "late", "--network", "pt-dns", "busybox", "sleep", "60")
    late_ip = pier.inspect("late")["NetworkSettings"]["Networks"]["pt-dns"]["IPAddress"]
    r = pier("exec", "app", "nslookup", "late", "127.0.0.11")
    assert r.rc == 0 and f"Address: {late_ip}" in r.out, r
    pier.ok("rm", "-f", "late")
    r = pier("exec", "app", "nslookup", "late", "127.0.0.11")
    assert r.rc != 0, r
    # The default network has no resolver of pier's: the host's servers.
    pier.ok("run", "-d", "--name", "plain", "--dns", upstream.ADDR, "busybox", "sleep", "60")
    assert "127.0.0.11" not in pier.ok("exec", "plain", "cat", "/etc/resolv.conf")
