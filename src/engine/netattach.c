/* netattach.c - what a container on pier's networks gets and gives back:
 * the firewall sync, hosts files, leases, veths, the start and stop of
 * its networking, the idle helper, network connect and disconnect
 * (network.h). */
#include "engine/network.h"
#include "engine/internal.h"
#include "engine/netdns.h"
#include "engine/netinternal.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "net/bridge.h"
#include "runtime/state.h"
#include "net/firewall.h"
#include "net/netlink.h"
#include "store/db_networks.h"
#include "util/cleanup.h"
#include "util/fs.h"
#include "util/json.h"
#include "util/timestamp.h"
#include "util/xalloc.h"

#include "util/banned.h"

/* ------------------------------------------------------------ firewall */

/* Rewrite pier's nftables table from the database: the bridge networks,
 * and the ports of every container whose monitor lives (self_id's taken
 * from self_net instead: it is being set up; exclude_id's left out). */
int
pier_enet_fw_sync (const char *root, pier_db *db, const char *self_id, json_t *self_net,
                   const char *exclude_id, pier_error **err)
{
  pier_db_network *ns = NULL;
  size_t n_ns = 0;
  pier_db_container *cs = NULL;
  size_t n_cs = 0;
  if (pier_db_network_list (db, &ns, &n_ns, err) < 0)
    return -1;
  if (pier_db_container_list (db, &cs, &n_cs, err) < 0)
    {
      pier_db_networks_free (ns, n_ns);
      return -1;
    }
  cleanup_json json_t *keep = json_array (); /* owns what the arrays point into */
  pier_fw_net *nets = xcalloc (n_ns + 1, sizeof *nets);
  size_t nn = 0;
  for (size_t i = 0; i < n_ns; i++)
    {
      json_t *cfg = json_loads (ns[i].config, 0, NULL);
      if (cfg == NULL)
        continue;
      json_array_append_new (keep, cfg);
      const char *sub = json_string_value (json_object_get (pier_enet_net_ipam0 (cfg), "Subnet"));
      if (!pier_enet_is_bridge_driver (cfg) || sub == NULL || pier_enet_net_bridge (cfg) == NULL)
        continue;
      nets[nn++] = (pier_fw_net){ pier_enet_net_bridge (cfg), sub,
                                  json_is_true (json_object_get (cfg, "Internal")) };
    }
  pier_fw_port *ports = NULL;
  size_t np = 0;
  for (size_t i = 0; i < n_cs; i++)
    {
      json_t *net = NULL;
      if (exclude_id && strcmp (cs[i].id, exclude_id) == 0)
        continue;
      if (self_id && strcmp (cs[i].id, self_id) == 0)
        net = self_net;
      else
        {
          json_t *st = json_loads (cs[i].state, 0, NULL);
          if (st == NULL)
            continue;
          json_array_append_new (keep, st);
          if (!pier_engine_monitor_alive (st))
            continue;
          net = json_object_get (st, "_Network");
        }
      const char *ip = json_string_value (json_object_get (net, "PortIP"));
      const char *key;
      json_t *binds;
      json_object_foreach (json_object_get (net, "Ports"), key, binds)
      {
        unsigned cport = (unsigned) atoi (key);
        const char *proto = strchr (key, '/') ? strchr (key, '/') + 1 : "tcp";
        size_t k;
        json_t *b;
        json_array_foreach (binds, k, b)
        {
          ports = xrealloc (ports, (np + 1) * sizeof *ports);
          ports[np++]
              = (pier_fw_port){ json_string_value (json_object_get (b, "HostIp")),
                                (uint16_t) atoi (json_string_value (json_object_get (b, "HostPort")) ?: "0"),
                                proto, ip, (uint16_t) cport };
        }
      }
    }
  cleanup_free char *table = pier_enet_table_name (root);
  int r = pier_fw_apply (table, nets, nn, ports, np, err);
  free (nets);
  free (ports);
  pier_db_networks_free (ns, n_ns);
  pier_db_containers_free (cs, n_cs);
  return r;
}

/* ------------------------------------------------------------ hosts */

static const char base_hosts[] = "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n"
                                 "fe00::0\tip6-localnet\nff00::0\tip6-mcastprefix\nff02::1\tip6-allnodes\n"
                                 "ff02::2\tip6-allrouters\n";

json_t *
pier_engine_net_peers (pier_db *db, const char *id, bool self)
{
  json_t *out = json_array ();
  pier_db_container *c = NULL;
  if (pier_db_container_get (db, id, &c, NULL) < 0)
    return out;
  cleanup_json json_t *st = json_loads (c->state, 0, NULL);
  pier_db_container_free (c);
  const char *key;
  json_t *ep;
  json_object_foreach (json_object_get (json_object_get (st, "_Network"), "Networks"), key, ep)
  {
    if (strcmp (key, DEFAULT_NET) == 0)
      continue; /* no names on the default network, as docker */
    pier_db_lease *ls = NULL;
    size_t n = 0;
    const char *nid = json_string_value (json_object_get (ep, "NetworkID"));
    if (nid == NULL || pier_db_lease_list (db, nid, NULL, &ls, &n, NULL) < 0)
      continue;
    for (size_t i = 0; i < n; i++)
      {
        if (!self && strcmp (ls[i].container_id, id) == 0)
          continue;
        pier_db_container *p = NULL;
        if (pier_db_container_get (db, ls[i].container_id, &p, NULL) < 0)
          continue;
        cleanup_json json_t *pst = json_loads (p->state, 0, NULL);
        json_t *names = json_pack ("[s]", p->name);
        json_t *pep = json_object_get (json_object_get (json_object_get (pst, "_Network"), "Networks"), key);
        size_t k;
        json_t *alias;
        json_array_foreach (json_object_get (pep, "Aliases"), k, alias)
        {
          if (strcmp (json_string_value (alias) ?: "", p->name) != 0)
            json_array_append (names, alias);
        }
        json_array_append_new (out, json_pack ("{s:s, s:o}", "IP", ls[i].address, "Names", names));
        pier_db_container_free (p);
      }
    pier_db_leases_free (ls, n);
  }
  return out;
}

/* The hosts file of container id: localhost, --add-host entries, its own
 * address, and its peers on each user-defined network it is on. */
void
pier_enet_render_hosts (const char *root, pier_db *db, const char *id)
{
  pier_db_container *c = NULL;
  if (pier_db_container_get (db, id, &c, NULL) < 0)
    return;
  cleanup_json json_t *rec = json_loads (c->config, 0, NULL);
  cleanup_json json_t *st = json_loads (c->state, 0, NULL);
  pier_db_container_free (c);
  json_t *net = json_object_get (st, "_Network");
  if (rec == NULL || net == NULL)
    return;
  char *text = xstrdup (base_hosts);
  pier_enet_append_extra_hosts (&text, json_object_get (rec, "HostConfig"));
  json_t *cfg = json_object_get (rec, "Config");
  const char *hostname = json_string_value (json_object_get (cfg, "Hostname")) ?: "";
  const char *domain = json_string_value (json_object_get (cfg, "Domainname")) ?: "";
  const char *key;
  json_t *ep;
  json_object_foreach (json_object_get (net, "Networks"), key, ep)
  {
    const char *ip = json_string_value (json_object_get (ep, "IPAddress"));
    if (ip && *ip)
      {
        cleanup_free char *names
            = *domain ? xasprintf ("%s.%s %s", hostname, domain, hostname) : xstrdup (hostname);
        pier_enet_append (&text, "%s\t%s\n", ip, names);
        break;
      }
  }
  cleanup_json json_t *peers = pier_engine_net_peers (db, id, false);
  size_t i;
  json_t *p;
  json_array_foreach (peers, i, p)
  {
    char *names = xstrdup ("");
    size_t k;
    json_t *nm;
    json_array_foreach (json_object_get (p, "Names"), k, nm)
    {
      char *more = xasprintf ("%s%s%s", names, *names ? " " : "", json_string_value (nm));
      free (names);
      names = more;
    }
    pier_enet_append (&text, "%s\t%s\n", json_string_value (json_object_get (p, "IP")), names);
    free (names);
  }
  cleanup_free char *path = xasprintf ("%s/containers/%s/hosts", root, id);
  pier_enet_write_in_place (path, text);
  free (text);
}

/* Rewrite the hosts files of every container leasing on network nid. */
void
pier_enet_refresh_peers (const char *root, pier_db *db, const char *nid)
{
  pier_db_lease *ls = NULL;
  size_t n = 0;
  if (pier_db_lease_list (db, nid, NULL, &ls, &n, NULL) < 0)
    return;
  for (size_t i = 0; i < n; i++)
    pier_enet_render_hosts (root, db, ls[i].container_id);
  pier_db_leases_free (ls, n);
}

/* ------------------------------------------------------------ attach */

/* docker's MAC for an address: 02:42 and the address bytes. */
static void
mac_of (uint32_t ip, unsigned char mac[6])
{
  mac[0] = 0x02;
  mac[1] = 0x42;
  mac[2] = (unsigned char) (ip >> 24);
  mac[3] = (unsigned char) (ip >> 16);
  mac[4] = (unsigned char) (ip >> 8);
  mac[5] = (unsigned char) ip;
}

/* Lease an address of network cfg for container id (want: a requested
 * address or NULL). */
static int
lease (pier_db *db, json_t *cfg, const char *id, const char *want, uint32_t *addr, pier_error **err)
{
  const char *nid = json_string_value (json_object_get (cfg, "Id"));
  json_t *ipam = pier_enet_net_ipam0 (cfg);
  struct in_addr a, g;
  int prefix;
  if (pier_enet_parse_cidr (json_string_value (json_object_get (ipam, "Subnet")) ?: "", &a, &prefix) < 0
      || inet_pton (AF_INET, json_string_value (json_object_get (ipam, "Gateway")) ?: "", &g) != 1)
    return pier_error_makex (err, EIO, "network %s: its address configuration is damaged", nid);
  uint32_t net = ntohl (a.s_addr), gw = ntohl (g.s_addr), bcast = net | ~pier_enet_mask_of (prefix);
  if (want)
    {
      struct in_addr w;
      if (inet_pton (AF_INET, want, &w) != 1)
        return pier_error_makex (err, EINVAL, "invalid IPv4 address: %s", want);
      uint32_t x = ntohl (w.s_addr);
      if ((x & pier_enet_mask_of (prefix)) != net || x == net || x == bcast || x == gw)
        return pier_error_makex (err, EINVAL, "no configured subnet or ip-range contain the IP address %s",
                                 want);
      if (pier_db_lease_add (db, nid, want, id, err) < 0)
        {
          if ((*err)->code == EEXIST)
            {
              pier_error_free (err);
              return pier_error_makex (err, EADDRINUSE, "Address already in use: %s", want);
            }
          return -1;
        }
      *addr = x;
      return 0;
    }
  pier_db_lease *ls = NULL;
  size_t n = 0;
  if (pier_db_lease_list (db, nid, NULL, &ls, &n, err) < 0)
    return -1;
  for (uint32_t x = net + 1; x < bcast; x++)
    {
      if (x == gw)
        continue;
      cleanup_free char *s = pier_enet_ip_str (x);
      bool used = false;
      for (size_t i = 0; i < n && !used; i++)
        used = strcmp (ls[i].address, s) == 0;
      if (used)
        continue;
      if (pier_db_lease_add (db, nid, s, id, err) == 0)
        {
          pier_db_leases_free (ls, n);
          *addr = x;
          return 0;
        }
      if ((*err)->code != EEXIST)
        {
          pier_db_leases_free (ls, n);
          return -1;
        }
      pier_error_free (err);
    }
  pier_db_leases_free (ls, n);
  return pier_error_makex (err, ENOSPC, "no available IPv4 addresses on network %s",
                           json_string_value (json_object_get (cfg, "Name")));
}

/* Join the namespace netns_fd to network name (endpoint config ep):
 * lease, bridge, veth.  *entry gets the endpoint's runtime object. */
/* Make the bridge of network cfg (id nid) when it is missing: after the
 * default network's bridge went with its last container, its subnet may
 * have been taken by a route meanwhile; it then moves to a free one. */
static int
bridge_up (pier_db *db, const char *nid, json_t *cfg, bool *created, pier_error **err)
{
  const char *bridge = pier_enet_net_bridge (cfg);
  if (pier_bridge_exists (bridge))
    return 0;
  cleanup_netlock int slock = pier_enet_subnet_lock (err);
  if (slock < 0)
    return -1;
  if (pier_bridge_exists (bridge))
    return 0;
  json_t *ipam = pier_enet_net_ipam0 (cfg);
  struct in_addr sub, gw;
  int prefix;
  if (pier_enet_parse_cidr (json_string_value (json_object_get (ipam, "Subnet")) ?: "", &sub, &prefix) < 0
      || inet_pton (AF_INET, json_string_value (json_object_get (ipam, "Gateway")) ?: "", &gw) != 1)
    return pier_error_makex (err, EIO, "network %s: its record is damaged", nid);
  bool used = false;
  if (pier_subnet_in_use (sub, prefix, &used, err) < 0)
    return -1;
  if (used)
    {
      const char *name = json_string_value (json_object_get (cfg, "Name"));
      pier_db_lease *ls = NULL;
      size_t n = 0;
      if (pier_db_lease_list (db, nid, NULL, &ls, &n, err) < 0)
        return -1;
      pier_db_leases_free (ls, n);
      if (strcmp (name, DEFAULT_NET) != 0 || n > 0)
        return pier_error_makex (err, EEXIST, "network %s: its subnet %s now overlaps a route of this host",
                                 name, json_string_value (json_object_get (ipam, "Subnet")));
      uint32_t net;
      if (pier_enet_free_subnet (db, &net, err) < 0)
        return -1;
      cleanup_free char *netip = pier_enet_ip_str (net), *gwip = pier_enet_ip_str (net + 1);
      cleanup_free char *subnet = xasprintf ("%s/24", netip);
      json_object_set_new (ipam, "Subnet", json_string (subnet));
      json_object_set_new (ipam, "Gateway", json_string (gwip));
      cleanup_free char *text = pier_json_dump (cfg, 0);
      if (pier_db_network_set_config (db, nid, text, err) < 0)
        return -1;
      sub.s_addr = htonl (net);
      gw.s_addr = htonl (net + 1);
      prefix = 24;
    }
  if (pier_bridge_ensure (bridge, gw, prefix, err) < 0)
    return -1;
  *created = true;
  return 0;
}

static int
attach_one (pier_db *db, const char *id, const char *name, json_t *ep, int netns_fd, unsigned idx,
            bool primary, bool *created, json_t **entry, pier_error **err)
{
  cleanup_free char *nid = NULL;
  const char *epid = json_string_value (json_object_get (ep, "NetworkID"));
  if (pier_db_network_find (db, epid && *epid ? epid : name, &nid, err) < 0)
    return pier_error_wrap (err, "network %s", name);
  cleanup_json json_t *cfg = NULL;
  if (pier_enet_net_load (db, nid, &cfg, err) < 0)
    return -1;
  if (!pier_enet_is_bridge_driver (cfg))
    return pier_error_makex (err, EINVAL, "network %s (driver %s) cannot be joined with other networks", name,
                             json_string_value (json_object_get (cfg, "Driver")));
  if (pier_enet_net_bridge (cfg) == NULL || bridge_up (db, nid, cfg, created, err) < 0)
    return pier_error_wrap (err, "network %s", name);
  const char *bridge = pier_enet_net_bridge (cfg);
  json_t *ipam = pier_enet_net_ipam0 (cfg);
  struct in_addr sub, gw;
  int prefix;
  if (pier_enet_parse_cidr (json_string_value (json_object_get (ipam, "Subnet")) ?: "", &sub, &prefix) < 0
      || inet_pton (AF_INET, json_string_value (json_object_get (ipam, "Gateway")) ?: "", &gw) != 1)
    return pier_error_makex (err, EIO, "network %s: its record is damaged", name);
  const char *want = json_string_value (json_object_get (json_object_get (ep, "IPAMConfig"), "IPv4Address"));
  uint32_t addr = 0;
  if (lease (db, cfg, id, want && *want ? want : NULL, &addr, err) < 0)
    return -1;
  unsigned char mac[6];
  mac_of (addr, mac);
  cleanup_free char *host_if = xasprintf ("pv%.8s%u", id, idx);
  cleanup_free char *ifname = xasprintf ("eth%u", idx);
  /* An internal network gives no default route (as docker): nothing
   * outside its subnet is reachable, the host's own addresses included. */
  bool internal = json_is_true (json_object_get (cfg, "Internal"));
  if (pier_bridge_attach (netns_fd, bridge, host_if, ifname, mac, (struct in_addr){ htonl (addr) }, prefix,
                          gw, primary && !internal, err)
      < 0)
    {
      pier_db_lease_release (db, id, nid, NULL);
      return -1;
    }
  cleanup_free char *ip = pier_enet_ip_str (addr);
  char macs[18];
  snprintf (macs, sizeof macs, "%02x:%02x:%02x:%02x:%02x:%02x", mac[0], mac[1], mac[2], mac[3], mac[4],
            mac[5]);
  cleanup_free char *epid_new = pier_enet_random_hex (32);
  json_t *aliases = json_array ();
  if (strcmp (name, DEFAULT_NET) != 0)
    {
      json_array_extend (aliases, json_object_get (ep, "Aliases"));
      cleanup_free char *short_id = xstrndup (id, 12);
      json_array_append_new (aliases, json_string (short_id));
    }
  json_t *ipamcfg = json_object_get (ep, "IPAMConfig");
  *entry
      = json_pack ("{s:O, s:n, s:o, s:s, s:s, s:s, s:s, s:i, s:s, s:s, s:i, s:s, s:n, s:s}", "IPAMConfig",
                   ipamcfg ? ipamcfg : json_null (), "Links", "Aliases", aliases, "NetworkID", nid,
                   "EndpointID", epid_new, "Gateway", json_string_value (json_object_get (ipam, "Gateway")),
                   "IPAddress", ip, "IPPrefixLen", prefix, "IPv6Gateway", "", "GlobalIPv6Address", "",
                   "GlobalIPv6PrefixLen", 0, "MacAddress", macs, "DriverOpts", "_If", ifname);
  json_object_set_new (*entry, "_Internal", json_boolean (json_is_true (json_object_get (cfg, "Internal"))));
  return 0;
}

static int
save_net_state (pier_db *db, const char *id, json_t *net, bool claim, pier_error **err)
{
  pier_db_container *c = NULL;
  if (pier_db_container_get (db, id, &c, err) < 0)
    return -1;
  cleanup_json json_t *st = json_loads (c->state, 0, NULL);
  pier_db_container_free (c);
  if (st == NULL)
    return pier_error_makex (err, EIO, "container %s: its state is damaged", id);
  if (net)
    json_object_set (st, "_Network", net);
  else
    json_object_del (st, "_Network");
  if (claim)
    {
      /* The monitor (us) owns the network from now on: without this, a
       * pier command running before the monitor records itself at start
       * would take the container for one whose monitor died, and reclaim
       * its addresses and ports. */
      json_object_set_new (st, "MonitorPid", json_integer (getpid ()));
      json_object_set_new (st, "MonitorStart", json_integer ((json_int_t) pier_proc_start_time (getpid ())));
    }
  return pier_engine_save_state (db, id, st, err);
}

/* Release every lease of id and tell the peers. */
static void
release_all (const char *root, pier_db *db, const char *id)
{
  pier_db_lease *ls = NULL;
  size_t n = 0;
  if (pier_db_lease_list (db, NULL, id, &ls, &n, NULL) < 0)
    return;
  pier_db_lease_release (db, id, NULL, NULL);
  for (size_t i = 0; i < n; i++)
    pier_enet_refresh_peers (root, db, ls[i].network_id);
  pier_db_leases_free (ls, n);
}

/* The host's resolv.conf; without its loopback nameservers (which a
 * container cannot reach) unless keep_loopback. */
static char *
host_resolv (bool keep_loopback)
{
  cleanup_free char *host = NULL;
  size_t len;
  char *out = xstrdup ("");
  if (pier_read_file_at (AT_FDCWD, "/etc/resolv.conf", &host, &len, NULL) < 0)
    return out;
  char *save = NULL;
  for (char *line = strtok_r (host, "\n", &save); line; line = strtok_r (NULL, "\n", &save))
    {
      if (!keep_loopback && strncmp (line, "nameserver", 10) == 0)
        {
          const char *a = line + 10 + strspn (line + 10, " \t");
          if (strncmp (a, "127.", 4) == 0 || strcmp (a, "::1") == 0)
            continue;
        }
      pier_enet_append (&out, "%s%s\n", line, "");
    }
  return out;
}

/* The container's resolv.conf: docker's for the default network (the
 * host's servers, --dns* flags), or, with the embedded resolver, its
 * address with the search and options lines kept. */
static void
write_resolv (const char *root, json_t *rec, bool embedded)
{
  json_t *hc = json_object_get (rec, "HostConfig");
  cleanup_free char *host = host_resolv (false);
  cleanup_free char *base = pier_engine_net_resolv_conf (hc, host);
  cleanup_free char *text = NULL;
  if (!embedded)
    text = xstrdup (base);
  else
    {
      text = xstrdup ("nameserver " PIER_DNS_ADDR "\n");
      bool options = false;
      char *save = NULL;
      for (char *line = strtok_r (base, "\n", &save); line; line = strtok_r (NULL, "\n", &save))
        {
          if (strncmp (line, "nameserver", 10) == 0)
            continue;
          options |= strncmp (line, "options", 7) == 0;
          pier_enet_append (&text, "%s%s\n", line, "");
        }
      if (!options)
        pier_enet_append (&text, "%s%s\n", "options ndots:0", "");
    }
  cleanup_free char *path
      = xasprintf ("%s/containers/%s/resolv.conf", root, json_string_value (json_object_get (rec, "Id")));
  pier_enet_write_in_place (path, text);
}

/* The embedded resolver, forwarding to --dns or the host's servers. */
static int
start_dns (const char *root, pier_db *db, json_t *rec, int netns_fd, pier_net_dns **dns, pier_error **err)
{
  json_t *hc = json_object_get (rec, "HostConfig");
  cleanup_json json_t *up = json_array ();
  if (json_array_size (json_object_get (hc, "Dns")))
    json_array_extend (up, json_object_get (hc, "Dns"));
  else
    {
      cleanup_free char *host = host_resolv (true);
      char *save = NULL;
      for (char *line = strtok_r (host, "\n", &save); line; line = strtok_r (NULL, "\n", &save))
        if (strncmp (line, "nameserver", 10) == 0)
          {
            char *a = line + 10 + strspn (line + 10, " \t");
            a[strcspn (a, " \t")] = '\0';
            json_array_append_new (up, json_string (a));
          }
    }
  if (pier_net_dns_start (db, json_string_value (json_object_get (rec, "Id")), netns_fd, up, dns, err) < 0)
    return -1;
  write_resolv (root, rec, true);
  return 0;
}

int
pier_engine_net_start (const char *root, const char *runroot, pier_db *db, json_t *rec, int *spare,
                       int *netns_fd, pier_net_dns **dns, pier_error **err)
{
  const char *id = json_string_value (json_object_get (rec, "Id"));
  const char *mode = json_string_value (json_object_get (json_object_get (rec, "HostConfig"), "NetworkMode"));
  json_t *eps = json_object_get (json_object_get (rec, "NetworkSettings"), "Networks");
  /* A container in a user namespace: the monitor holds it (_UsernsPath),
   * and the network namespace is its. */
  const char *userns = json_string_value (json_object_get (rec, "_UsernsPath"));
  *netns_fd = -1;
  /* none: a namespace with only lo, up (the runtime would leave it down). */
  bool use_spare = spare && *spare >= 0 && userns == NULL;
  if (mode && strcmp (mode, "none") == 0)
    {
      if (!use_spare)
        return pier_netns_new (userns, netns_fd, err);
      *netns_fd = move_fd (spare);
      return 0;
    }
  if (!pier_enet_bridged_mode (mode))
    return 0;
  cleanup_netlock int lock = pier_enet_net_lock (runroot, err);
  if (lock < 0)
    return -1;
  futimens (lock, NULL); /* the store is in use (see pier_engine_net_idle_exec) */
  cleanup_close int ns = use_spare ? move_fd (spare) : -1;
  if (ns < 0 && pier_netns_new (userns, &ns, err) < 0)
    return -1;
  cleanup_json json_t *net = json_pack ("{s:{}, s:{}}", "Networks", "Ports");
  json_t *nets = json_object_get (net, "Networks");
  /* The primary network (NetworkMode) first: eth0 and the default route. */
  const char *order[64];
  size_t n_order = 0;
  if (json_object_get (eps, mode))
    order[n_order++] = mode;
  const char *key;
  json_t *ep;
  json_object_foreach (eps, key, ep) if (strcmp (key, mode) != 0 && n_order < 64) order[n_order++] = key;
  bool created = false;
  for (size_t i = 0; i < n_order; i++)
    {
      json_t *entry = NULL;
      if (attach_one (db, id, order[i], json_object_get (eps, order[i]), ns, (unsigned) i, i == 0, &created,
                      &entry, err)
          < 0)
        {
          release_all (root, db, id);
          return pier_error_wrap (err, "cannot connect the container to network %s", order[i]);
        }
      json_object_set_new (nets, order[i], entry);
    }
  json_t *primary = json_object_get (nets, n_order ? order[0] : "");
  if (primary && !json_is_true (json_object_get (primary, "_Internal")))
    {
      json_t *ports = NULL;
      if (pier_enet_resolve_ports (db, id, rec, &ports, err) < 0)
        {
          release_all (root, db, id);
          return -1;
        }
      json_object_set_new (net, "Ports", ports);
      json_object_set (net, "PortIP", json_object_get (primary, "IPAddress"));
    }
  if (save_net_state (db, id, net, true, err) < 0
      || ((created || json_object_size (json_object_get (net, "Ports")))
          && pier_enet_fw_sync (root, db, id, net, NULL, err) < 0))
    {
      save_net_state (db, id, NULL, false, NULL);
      release_all (root, db, id);
      return -1;
    }
  json_object_foreach (nets, key, ep)
  {
    const char *nid = json_string_value (json_object_get (ep, "NetworkID"));
    if (strcmp (key, DEFAULT_NET) != 0)
      pier_enet_refresh_peers (root, db, nid);
  }
  pier_enet_render_hosts (root, db, id);
  bool user_net = false;
  json_object_foreach (nets, key, ep) user_net |= strcmp (key, DEFAULT_NET) != 0;
  *dns = NULL;
  if (user_net && start_dns (root, db, rec, ns, dns, err) < 0)
    {
      pier_error_wrap (err, "cannot start the container's DNS resolver");
      save_net_state (db, id, NULL, false, NULL);
      release_all (root, db, id);
      return -1;
    }
  if (!user_net)
    write_resolv (root, rec, false);
  *netns_fd = move_fd (&ns);
  return 1;
}

/* With no container on them, the default network's bridge goes, and
 * with no user-defined network either, the store's nftables table (the
 * next container brings them back): a store leaves nothing on the host
 * while it runs nothing.  Called under the network lock. */
void
pier_enet_idle_cleanup (const char *root, pier_db *db)
{
  pier_db_network *ns = NULL;
  size_t n = 0;
  bool user_nets = false, busy_default = false, any_lease = false;
  cleanup_free char *default_br = NULL;
  if (pier_db_network_list (db, &ns, &n, NULL) < 0)
    return;
  for (size_t i = 0; i < n; i++)
    {
      pier_db_lease *ls = NULL;
      size_t nl = 0;
      if (pier_db_lease_list (db, ns[i].id, NULL, &ls, &nl, NULL) < 0)
        nl = 1; /* unknown: keep everything */
      pier_db_leases_free (ls, nl == 1 && ls == NULL ? 0 : nl);
      any_lease |= nl > 0;
      if (strcmp (ns[i].name, DEFAULT_NET) == 0)
        {
          busy_default = nl > 0;
          cleanup_json json_t *cfg = json_loads (ns[i].config, 0, NULL);
          if (pier_enet_net_bridge (cfg))
            default_br = xstrdup (pier_enet_net_bridge (cfg));
        }
      else if (!pier_enet_predefined (ns[i].name))
        user_nets = true;
    }
  pier_db_networks_free (ns, n);
  if (default_br && !busy_default && pier_bridge_exists (default_br))
    pier_bridge_remove (default_br, NULL);
  if (!user_nets && !any_lease)
    {
      cleanup_free char *table = pier_enet_table_name (root);
      pier_fw_remove (table, NULL);
    }
}

/* How long a store must have started no container before its default
 * bridge and table go: a loop of short `run --rm` keeps them. */
#define IDLE_GRACE_MS 2000

void
pier_engine_net_idle_spawn (const char *root, const char *runroot, int mntns_fd)
{
  struct timespec now;
  clock_gettime (CLOCK_REALTIME, &now);
  char since[32];
  snprintf (since, sizeof since, "%lld", (long long) now.tv_sec * 1000000000LL + now.tv_nsec);
  pid_t pid = fork ();
  if (pid != 0)
    return;
  /* A fresh image (no state of the parent's libraries), detached, and
   * out of a monitor's private mount namespace (which holds the
   * container's root mount). */
  setsid ();
  if (mntns_fd >= 0)
    setns (mntns_fd, CLONE_NEWNS);
  int devnull = open ("/dev/null", O_RDWR);
  if (devnull >= 0)
    {
      dup2 (devnull, 0);
      dup2 (devnull, 1);
      dup2 (devnull, 2);
    }
  syscall (SYS_close_range, 3U, ~0U, 0U);
  cleanup_free char *table = pier_enet_table_name (root);
  cleanup_free char *bridge = pier_enet_default_bridge (root);
  char *args[] = { (char *) "pier-netidle",
                   (char *) PIER_NETIDLE_ARG,
                   (char *) root,
                   (char *) runroot,
                   since,
                   table,
                   bridge,
                   NULL };
  execv ("/proc/self/exe", args);
  _exit (127);
}

int
pier_engine_net_idle_exec (int argc, char **argv)
{
  if (argc != 7)
    return 125;
  const char *root = argv[2], *runroot = argv[3], *table = argv[5], *bridge = argv[6];
  long long since = atoll (argv[4]);
  nanosleep (
      &(struct timespec){ .tv_sec = IDLE_GRACE_MS / 1000, .tv_nsec = (IDLE_GRACE_MS % 1000) * 1000000L },
      NULL);
  cleanup_free char *dbpath = pier_path_join (root, "pier.db");
  struct stat sb;
  if (stat (dbpath, &sb) < 0 && errno == ENOENT)
    {
      /* The store was deleted meanwhile: what it had on the host goes. */
      pier_bridge_remove (bridge, NULL);
      pier_fw_remove (table, NULL);
      return 0;
    }
  pier_db *db = NULL;
  if (pier_db_open (dbpath, &db, NULL) < 0)
    return 1;
  int lock = pier_enet_net_lock (runroot, NULL);
  if (lock >= 0)
    {
      /* net_start touches the lock file: a start after we were spawned
       * means the store is busy again, and a later helper will judge. */
      if (fstat (lock, &sb) == 0
          && (long long) sb.st_mtim.tv_sec * 1000000000LL + sb.st_mtim.tv_nsec <= since)
        pier_enet_idle_cleanup (root, db);
      close (lock);
    }
  pier_db_close (db);
  return 0;
}

void
pier_engine_net_stop (const char *root, const char *runroot, pier_db *db, const char *id)
{
  pier_db_container *c = NULL;
  pier_db_lease *ls = NULL;
  size_t n = 0;
  if (pier_db_container_get (db, id, &c, NULL) < 0)
    return;
  cleanup_json json_t *st = json_loads (c->state, 0, NULL);
  pier_db_container_free (c);
  json_t *net = json_object_get (st, "_Network");
  if (pier_db_lease_list (db, NULL, id, &ls, &n, NULL) < 0)
    n = 0;
  pier_db_leases_free (ls, n);
  if (net == NULL && n == 0)
    return;
  cleanup_netlock int lock = pier_enet_net_lock (runroot, NULL);
  bool had_ports = json_object_size (json_object_get (net, "Ports")) > 0;
  save_net_state (db, id, NULL, false, NULL);
  release_all (root, db, id);
  if (had_ports)
    pier_enet_fw_sync (root, db, NULL, NULL, id, NULL);
}

/* ------------------------------------------------------------ connect */

static int
load_ctr (pier_engine *e, const char *key, char **id, json_t **rec, json_t **st, pier_error **err)
{
  if (pier_engine_find (e, key, id, err) < 0)
    return -1;
  return pier_engine_load (e, *id, rec, st, err);
}

static int
save_rec (pier_db *db, const char *id, json_t *rec, pier_error **err)
{
  cleanup_free char *text = pier_json_dump (rec, 0);
  return pier_db_container_set_config (db, id, text, err);
}

int
pier_engine_network_connect (pier_engine *e, const char *netkey, const char *ctr, json_t *aliases,
                             const char *ip, pier_error **err)
{
  pier_db *db = pier_enet_edb (e);
  cleanup_free char *id = NULL, *nid = NULL;
  cleanup_json json_t *rec = NULL;
  cleanup_json json_t *st = NULL;
  cleanup_json json_t *cfg = NULL;
  if (pier_engine_network_find (e, netkey, &nid, err) < 0 || pier_enet_net_load (db, nid, &cfg, err) < 0
      || load_ctr (e, ctr, &id, &rec, &st, err) < 0)
    return -1;
  const char *name = json_string_value (json_object_get (cfg, "Name"));
  const char *mode = json_string_value (json_object_get (json_object_get (rec, "HostConfig"), "NetworkMode"));
  if (!pier_enet_is_bridge_driver (cfg))
    return pier_error_makex (err, EINVAL,
                             "container cannot be disconnected from host network or connected to "
                             "host network");
  if (!pier_enet_bridged_mode (mode))
    return pier_error_makex (err, EINVAL,
                             "container sharing network namespace with another container or host "
                             "cannot be connected to any other network");
  if (strcmp (name, DEFAULT_NET) == 0 && (json_array_size (aliases) || (ip && *ip)))
    return pier_error_makex (err, EINVAL,
                             "network-scoped alias and user specified IP address are supported only "
                             "for containers in user defined networks");
  json_t *ns = json_object_get (rec, "NetworkSettings");
  json_t *eps = json_object_get (ns, "Networks");
  if (!json_is_object (eps))
    json_object_set_new (ns, "Networks", eps = json_object ());
  if (ip && *ip && pier_enet_check_ip (cfg, ip, err) < 0)
    return -1;
  if (json_object_get (eps, name))
    return pier_error_makex (err, EEXIST, "endpoint with name %s already exists in network %s",
                             json_string_value (json_object_get (rec, "Name")) + 1, name);
  json_t *ep = json_pack ("{s:o, s:O, s:s}", "IPAMConfig",
                          ip && *ip ? json_pack ("{s:s}", "IPv4Address", ip) : json_null (), "Aliases",
                          aliases ? aliases : json_null (), "NetworkID", nid);
  json_object_set_new (eps, name, ep);
  pid_t pid = (pid_t) json_integer_value (json_object_get (st, "Pid"));
  if (!pier_engine_monitor_alive (st) || pid <= 0)
    return save_rec (db, id, rec, err);
  /* Running: plug it in now. */
  cleanup_netlock int lock = pier_enet_net_lock (e->runroot, err);
  if (lock < 0)
    return -1;
  cleanup_free char *nspath = xasprintf ("/proc/%d/ns/net", (int) pid);
  cleanup_close int nsfd = open (nspath, O_RDONLY | O_CLOEXEC);
  if (nsfd < 0)
    return pier_error_make (err, errno, "cannot open the network namespace of container %s", id);
  json_t *net = json_object_get (st, "_Network");
  if (net == NULL)
    return pier_error_makex (err, EINVAL, "container %s has no network namespace of pier's", id);
  json_t *nets = json_object_get (net, "Networks");
  unsigned idx = 0;
  for (bool used = true; used; idx++)
    {
      cleanup_free char *cand = xasprintf ("eth%u", idx);
      used = false;
      const char *k;
      json_t *v;
      json_object_foreach (nets, k, v) used
          |= strcmp (json_string_value (json_object_get (v, "_If")) ?: "", cand) == 0;
      if (!used)
        break;
    }
  json_t *entry = NULL;
  bool created = false;
  if (attach_one (db, id, name, ep, nsfd, idx, false, &created, &entry, err) < 0)
    return -1;
  if (created)
    pier_enet_fw_sync (e->root, db, NULL, NULL, NULL, NULL);
  json_object_set_new (nets, name, entry);
  if (save_net_state (db, id, net, false, err) < 0 || save_rec (db, id, rec, err) < 0)
    return -1;
  if (strcmp (name, DEFAULT_NET) != 0)
    pier_enet_refresh_peers (e->root, db, nid);
  pier_enet_render_hosts (e->root, db, id);
  return 0;
}

int
pier_engine_network_disconnect (pier_engine *e, const char *netkey, const char *ctr, bool force,
                                pier_error **err)
{
  pier_db *db = pier_enet_edb (e);
  cleanup_free char *id = NULL, *nid = NULL;
  cleanup_json json_t *rec = NULL;
  cleanup_json json_t *st = NULL;
  cleanup_json json_t *cfg = NULL;
  (void) force;
  if (pier_engine_network_find (e, netkey, &nid, err) < 0 || pier_enet_net_load (db, nid, &cfg, err) < 0
      || load_ctr (e, ctr, &id, &rec, &st, err) < 0)
    return -1;
  const char *name = json_string_value (json_object_get (cfg, "Name"));
  json_t *eps = json_object_get (json_object_get (rec, "NetworkSettings"), "Networks");
  if (json_object_get (eps, name) == NULL)
    return pier_error_makex (err, ENOENT, "container %s is not connected to network %s", ctr, name);
  json_object_del (eps, name);
  const char *mode = json_string_value (json_object_get (json_object_get (rec, "HostConfig"), "NetworkMode"));
  if (mode && strcmp (mode, name) == 0)
    {
      /* The primary network goes: the next one (or none) takes its place. */
      const char *next = NULL;
      const char *k;
      json_t *v;
      json_object_foreach (eps, k, v) if (next == NULL) next = k;
      json_object_set_new (json_object_get (rec, "HostConfig"), "NetworkMode",
                           json_string (next ? next : "none"));
    }
  pid_t pid = (pid_t) json_integer_value (json_object_get (st, "Pid"));
  if (!pier_engine_monitor_alive (st) || pid <= 0)
    return save_rec (db, id, rec, err);
  cleanup_netlock int lock = pier_enet_net_lock (e->runroot, err);
  if (lock < 0)
    return -1;
  json_t *net = json_object_get (st, "_Network");
  json_t *entry = json_object_get (json_object_get (net, "Networks"), name);
  if (entry)
    {
      cleanup_free char *nspath = xasprintf ("/proc/%d/ns/net", (int) pid);
      cleanup_close int nsfd = open (nspath, O_RDONLY | O_CLOEXEC);
      pier_nl nl = { .fd = -1 };
      if (nsfd < 0 || pier_nl_open_in (&nl, nsfd, err) < 0)
        return pier_error_wrap (err, "cannot reach the network namespace of container %s", id);
      int r = pier_nl_link_del (&nl, json_string_value (json_object_get (entry, "_If")) ?: "", err);
      pier_nl_close (&nl);
      if (r < 0 && (*err)->code != ENODEV)
        return -1;
      pier_error_free (err);
      bool was_port_ip = strcmp (json_string_value (json_object_get (net, "PortIP")) ?: "",
                                 json_string_value (json_object_get (entry, "IPAddress")) ?: "")
                         == 0;
      json_object_del (json_object_get (net, "Networks"), name);
      if (was_port_ip && json_object_size (json_object_get (net, "Ports")))
        {
          json_object_set_new (net, "Ports", json_object ());
          json_object_del (net, "PortIP");
        }
    }
  pier_db_lease_release (db, id, nid, NULL);
  if (save_net_state (db, id, net, false, err) < 0 || save_rec (db, id, rec, err) < 0)
    return -1;
  pier_enet_fw_sync (e->root, db, NULL, NULL, NULL, NULL);
  pier_enet_refresh_peers (e->root, db, nid);
  pier_enet_render_hosts (e->root, db, id);
  return 0;
}
