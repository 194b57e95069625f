/* network.c - networks, and what a container on them gets (network.h). */
#include "engine/network.h"
#include "engine/internal.h"
#include "engine/netdns.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
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

#define DEFAULT_NET "bridge"
#define DEFAULT_BRIDGE "pier0"

/* ------------------------------------------------------------ helpers */

static int
parse_cidr (const char *s, struct in_addr *net, int *prefix)
{
  cleanup_free char *c = xstrdup (s);
  char *slash = strchr (c, '/');
  if (slash == NULL)
    return -1;
  *slash++ = '\0';
  char *end;
  long p = strtol (slash, &end, 10);
  if (*slash == '\0' || *end || p < 0 || p > 32 || inet_pton (AF_INET, c, net) != 1)
    return -1;
  *prefix = (int) p;
  return 0;
}

static uint32_t
mask_of (int prefix)
{
  return prefix ? ~0U << (32 - prefix) : 0;
}

static char *
ip_str (uint32_t host_order)
{
  struct in_addr a = { htonl (host_order) };
  char buf[INET_ADDRSTRLEN];
  inet_ntop (AF_INET, &a, buf, sizeof buf);
  return xstrdup (buf);
}

static bool
predefined (const char *name)
{
  return strcmp (name, DEFAULT_NET) == 0 || strcmp (name, "host") == 0 || strcmp (name, "none") == 0;
}

/* Names of host-wide objects of a store: the default root's are "pier"
 * (nftables table) and "pier0" (default bridge); another root's carry a
 * tag from its path, so stores side by side never share them. */
static void
store_tag (const char *root, char tag[8])
{
  cleanup_free char *real = realpath (root, NULL);
  const char *r = real ? real : root;
  tag[0] = '\0';
  if (strcmp (r, "/var/lib/pier") == 0)
    return;
  uint32_t h = 2166136261u;
  for (const char *p = r; *p; p++)
    h = (h ^ (unsigned char) *p) * 16777619u;
  snprintf (tag, 8, "%06x", h & 0xffffff);
}

static char *
table_name (const char *root)
{
  char tag[8];
  store_tag (root, tag);
  return *tag ? xasprintf ("pier_%s", tag) : xstrdup ("pier");
}

static char *
default_bridge (const char *root)
{
  char tag[8];
  store_tag (root, tag);
  return *tag ? xasprintf ("pier%s", tag) : xstrdup (DEFAULT_BRIDGE);
}

/* The host-wide lock under which a subnet is chosen and its bridge made
 * (so two stores never pick the same free subnet). */
static int
subnet_lock (pier_error **err)
{
  int fd = open ("/run/pier-subnets.lock", O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  if (fd < 0)
    return pier_error_make (err, errno, "cannot open /run/pier-subnets.lock");
  while (flock (fd, LOCK_EX) < 0)
    if (errno != EINTR)
      {
        int e = errno;
        close (fd);
        return pier_error_make (err, e, "cannot lock /run/pier-subnets.lock");
      }
  return fd;
}

static char *
random_hex (size_t bytes)
{
  unsigned char b[32];
  if (bytes > sizeof b || getrandom (b, bytes, 0) != (ssize_t) bytes)
    abort ();
  char *hex = xmalloc (bytes * 2 + 1);
  for (size_t i = 0; i < bytes; i++)
    snprintf (hex + 2 * i, 3, "%02x", b[i]);
  return hex;
}

/* The network lock: every change of leases, rules and hosts files. */
static int
net_lock (const char *runroot, pier_error **err)
{
  if (mkdir (runroot, 0700) < 0 && errno != EEXIST)
    return pier_error_make (err, errno, "cannot create %s", runroot);
  cleanup_free char *path = pier_path_join (runroot, "network.lock");
  int fd = open (path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  if (fd < 0)
    return pier_error_make (err, errno, "cannot open %s", path);
  while (flock (fd, LOCK_EX) < 0)
    if (errno != EINTR)
      {
        int e = errno;
        close (fd);
        return pier_error_make (err, e, "cannot lock %s", path);
      }
  return fd;
}

static void
net_unlockp (int *fd)
{
  if (*fd >= 0)
    close (*fd); /* releases the flock */
  *fd = -1;
}
#define cleanup_netlock __attribute__ ((cleanup (net_unlockp)))

/* A network's config (inspect object without Containers). */
static int
net_load (pier_db *db, const char *id, json_t **cfg, pier_error **err)
{
  pier_db_network *n = NULL;
  if (pier_db_network_get (db, id, &n, err) < 0)
    return -1;
  int r = pier_json_load_buf (n->config, strlen (n->config), "network record", cfg, err);
  pier_db_network_free (n);
  return r;
}

static const char *
net_bridge (json_t *cfg)
{
  return json_string_value (
      json_object_get (json_object_get (cfg, "Options"), "com.docker.network.bridge.name"));
}

static json_t *
net_ipam0 (json_t *cfg)
{
  return json_array_get (json_object_get (json_object_get (cfg, "IPAM"), "Config"), 0);
}

static bool
is_bridge_driver (json_t *cfg)
{
  const char *d = json_string_value (json_object_get (cfg, "Driver"));
  return d && strcmp (d, "bridge") == 0;
}

/* Whether net/prefix overlaps a pier network (other than skip_id). */
static int
overlaps_pier (pier_db *db, uint32_t net, int prefix, const char *skip_id, char **which, pier_error **err)
{
  pier_db_network *ns = NULL;
  size_t n = 0;
  *which = NULL;
  if (pier_db_network_list (db, &ns, &n, err) < 0)
    return -1;
  for (size_t i = 0; i < n && *which == NULL; i++)
    {
      if (skip_id && strcmp (ns[i].id, skip_id) == 0)
        continue;
      cleanup_json json_t *cfg = json_loads (ns[i].config, 0, NULL);
      const char *sub = json_string_value (json_object_get (net_ipam0 (cfg), "Subnet"));
      struct in_addr a;
      int p;
      if (sub == NULL || parse_cidr (sub, &a, &p) < 0)
        continue;
      int l = p < prefix ? p : prefix;
      if ((ntohl (a.s_addr) & mask_of (l)) == (net & mask_of (l)))
        *which = xstrdup (ns[i].name);
    }
  pier_db_networks_free (ns, n);
  return 0;
}

/* The first /24 of 10.89.0.0 - 10.254.0.0 that neither a host route nor
 * a pier network uses (10.88/16 is podman's default). */
static int
free_subnet (pier_db *db, uint32_t *net, pier_error **err)
{
  for (uint32_t b = 89; b < 255; b++)
    {
      uint32_t cand = 10U << 24 | b << 16;
      cleanup_free char *which = NULL;
      bool used = false;
      if (overlaps_pier (db, cand, 24, NULL, &which, err) < 0)
        return -1;
      if (which)
        continue;
      struct in_addr a = { htonl (cand) };
      if (pier_subnet_in_use (a, 24, &used, err) < 0)
        return -1;
      if (!used)
        {
          *net = cand;
          return 0;
        }
    }
  return pier_error_makex (err, ENOSPC, "no free subnet left in 10.89.0.0-10.254.0.0 for a new network");
}

static json_t *
net_object (const char *name, const char *id, const char *driver, const char *subnet, const char *gw,
            bool internal, const char *bridge, json_t *labels)
{
  char created[64];
  pier_time_now_rfc3339 (created, sizeof created);
  json_t *ipam_cfg = json_array ();
  if (subnet)
    json_array_append_new (ipam_cfg, json_pack ("{s:s, s:s}", "Subnet", subnet, "Gateway", gw));
  json_t *opts = json_object ();
  if (bridge)
    json_object_set_new (opts, "com.docker.network.bridge.name", json_string (bridge));
  return json_pack ("{s:s, s:s, s:s, s:s, s:s, s:b, s:{s:s, s:{}, s:o}, s:b, s:b, s:b, s:{s:s}, s:b, s:o, "
                    "s:o}",
                    "Name", name, "Id", id, "Created", created, "Scope", "local", "Driver", driver,
                    "EnableIPv6", 0, "IPAM", "Driver", "default", "Options", "Config", ipam_cfg, "Internal",
                    internal, "Attachable", 0, "Ingress", 0, "ConfigFrom", "Network", "", "ConfigOnly", 0,
                    "Options", opts, "Labels", labels ? json_deep_copy (labels) : json_object ());
}

static int
net_add (pier_db *db, json_t *cfg, pier_error **err)
{
  cleanup_free char *text = pier_json_dump (cfg, 0);
  struct timespec now;
  clock_gettime (CLOCK_REALTIME, &now);
  pier_db_network n = { (char *) json_string_value (json_object_get (cfg, "Id")),
                        (char *) json_string_value (json_object_get (cfg, "Name")),
                        (int64_t) now.tv_sec * 1000000000 + now.tv_nsec, text };
  return pier_db_network_add (db, &n, err);
}

/* bridge, host and none, made the first time pier needs them. */
static int
ensure_predefined (pier_db *db, const char *root, pier_error **err)
{
  cleanup_free char *id = NULL;
  pier_error *ferr = NULL;
  if (pier_db_network_find (db, DEFAULT_NET, &id, &ferr) == 0)
    return 0;
  if (ferr->code != ENOENT)
    {
      *err = ferr;
      return -1;
    }
  pier_error_free (&ferr);
  uint32_t net;
  if (free_subnet (db, &net, err) < 0)
    return -1;
  cleanup_free char *netip = ip_str (net), *gw = ip_str (net + 1);
  cleanup_free char *subnet = xasprintf ("%s/24", netip);
  cleanup_free char *bridge = default_bridge (root);
  static const char *const names[] = { DEFAULT_NET, "host", "none" };
  static const char *const drivers[] = { "bridge", "host", "null" };
  for (size_t i = 0; i < 3; i++)
    {
      cleanup_free char *nid = random_hex (32);
      cleanup_json json_t *cfg = net_object (names[i], nid, drivers[i], i == 0 ? subnet : NULL, gw, false,
                                             i == 0 ? bridge : NULL, NULL);
      if (net_add (db, cfg, err) < 0)
        {
          /* Another pier made them meanwhile. */
          if ((*err)->code != EEXIST)
            return -1;
          pier_error_free (err);
        }
    }
  return 0;
}

static void idle_cleanup (const char *root, pier_db *db);

/* ------------------------------------------------------------ firewall */

/* Rewrite pier's nftables table from the database: the bridge networks,
 * and the ports of every container whose monitor lives (self_id's taken
 * from self_net instead: it is being set up; exclude_id's left out). */
static int
fw_sync (const char *root, pier_db *db, const char *self_id, json_t *self_net, const char *exclude_id,
         pier_error **err)
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
      const char *sub = json_string_value (json_object_get (net_ipam0 (cfg), "Subnet"));
      if (!is_bridge_driver (cfg) || sub == NULL || net_bridge (cfg) == NULL)
        continue;
      nets[nn++] = (pier_fw_net){ net_bridge (cfg), sub, json_is_true (json_object_get (cfg, "Internal")) };
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
  cleanup_free char *table = table_name (root);
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

static void
append (char **s, const char *fmt, const char *a, const char *b)
{
  char *piece = xasprintf (fmt, a, b);
  char *joined = xasprintf ("%s%s", *s, piece);
  free (piece);
  free (*s);
  *s = joined;
}

static void
append_extra_hosts (char **s, json_t *hc)
{
  size_t i;
  json_t *v;
  json_array_foreach (json_object_get (hc, "ExtraHosts"), i, v)
  {
    cleanup_free char *h = xstrdup (json_string_value (v) ?: "");
    char *colon = strchr (h, ':');
    if (colon == NULL)
      continue;
    *colon = '\0';
    append (s, "%s\t%s\n", colon + 1, h);
  }
}

/* Write text over path in place: the file is bind-mounted into running
 * containers, a rename would leave them the old inode. */
static void
write_in_place (const char *path, const char *text)
{
  cleanup_close int fd = open (path, O_WRONLY | O_TRUNC | O_CLOEXEC | O_NOFOLLOW);
  if (fd >= 0)
    pier_write_all (fd, text, strlen (text));
}

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
static void
render_hosts (const char *root, pier_db *db, const char *id)
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
  append_extra_hosts (&text, json_object_get (rec, "HostConfig"));
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
        append (&text, "%s\t%s\n", ip, names);
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
    append (&text, "%s\t%s\n", json_string_value (json_object_get (p, "IP")), names);
    free (names);
  }
  cleanup_free char *path = xasprintf ("%s/containers/%s/hosts", root, id);
  write_in_place (path, text);
  free (text);
}

/* Rewrite the hosts files of every container leasing on network nid. */
static void
refresh_peers (const char *root, pier_db *db, const char *nid)
{
  pier_db_lease *ls = NULL;
  size_t n = 0;
  if (pier_db_lease_list (db, nid, NULL, &ls, &n, NULL) < 0)
    return;
  for (size_t i = 0; i < n; i++)
    render_hosts (root, db, ls[i].container_id);
  pier_db_leases_free (ls, n);
}

/* ------------------------------------------------------------ create */

static bool
net_name_valid (const char *name)
{
  static const char alnum[] = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
  if (name == NULL || *name == '\0' || strchr (alnum, name[0]) == NULL)
    return false;
  for (const char *p = name; *p; p++)
    if (strchr (alnum, *p) == NULL && *p != '_' && *p != '.' && *p != '-')
      return false;
  return true;
}

static pier_db *
edb (pier_engine *e)
{
  return pier_store_db (e->st);
}

int
pier_engine_network_create (pier_engine *e, const char *name, const pier_network_opts *o, char **id_out,
                            pier_error **err)
{
  pier_db *db = edb (e);
  if (!net_name_valid (name))
    return pier_error_makex (err, EINVAL,
                             "invalid network name \"%s\": only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed",
                             name ? name : "");
  if (o->driver && strcmp (o->driver, "bridge") != 0)
    return pier_error_makex (
        err, EINVAL, "network driver \"%s\" is not supported (pier has the bridge driver)", o->driver);
  if (o->gateway && o->subnet == NULL)
    return pier_error_makex (err, EINVAL, "--gateway needs --subnet");
  if (ensure_predefined (db, e->root, err) < 0)
    return -1;
  cleanup_free char *existing = NULL;
  if (pier_db_network_find (db, name, &existing, NULL) == 0)
    {
      pier_db_network *x = NULL;
      bool same_name = pier_db_network_get (db, existing, &x, NULL) == 0 && strcmp (x->name, name) == 0;
      pier_db_network_free (x);
      if (same_name)
        return pier_error_makex (err, EEXIST, "network with name %s already exists", name);
    }
  cleanup_netlock int lock = net_lock (e->runroot, err);
  if (lock < 0)
    return -1;
  cleanup_netlock int slock = subnet_lock (err);
  if (slock < 0)
    return -1;
  uint32_t net;
  int prefix = 24;
  if (o->subnet)
    {
      struct in_addr a;
      if (parse_cidr (o->subnet, &a, &prefix) < 0)
        return pier_error_makex (
            err, EINVAL, "invalid subnet %s: it should be an IPv4 CIDR like 10.100.0.0/24", o->subnet);
      if (prefix < 8 || prefix > 30)
        return pier_error_makex (err, EINVAL, "invalid subnet %s: the prefix length must be 8 to 30",
                                 o->subnet);
      net = ntohl (a.s_addr);
      if (net & ~mask_of (prefix))
        {
          cleanup_free char *fixed = ip_str (net & mask_of (prefix));
          return pier_error_makex (err, EINVAL, "invalid subnet %s: host bits are set (did you mean %s/%d?)",
                                   o->subnet, fixed, prefix);
        }
      cleanup_free char *which = NULL;
      if (overlaps_pier (db, net, prefix, NULL, &which, err) < 0)
        return -1;
      if (which)
        return pier_error_makex (err, EEXIST,
                                 "invalid pool request: Pool overlaps with other one on this address "
                                 "space (network %s)",
                                 which);
      bool used = false;
      if (pier_subnet_in_use (a, prefix, &used, err) < 0)
        return -1;
      if (used)
        return pier_error_makex (err, EEXIST, "subnet %s overlaps a route of this host", o->subnet);
    }
  else if (free_subnet (db, &net, err) < 0)
    return -1;
  uint32_t gw = net + 1;
  if (o->gateway)
    {
      struct in_addr g;
      if (inet_pton (AF_INET, o->gateway, &g) != 1)
        return pier_error_makex (err, EINVAL, "invalid gateway address %s", o->gateway);
      gw = ntohl (g.s_addr);
      if ((gw & mask_of (prefix)) != net || gw == net || gw == (net | ~mask_of (prefix)))
        return pier_error_makex (err, EINVAL, "gateway %s is not a host address of subnet %s", o->gateway,
                                 o->subnet);
    }
  cleanup_free char *id = random_hex (32);
  cleanup_free char *bridge = xasprintf ("pier-%.10s", id);
  cleanup_free char *netip = ip_str (net), *gwip = ip_str (gw);
  cleanup_free char *subnet = xasprintf ("%s/%d", netip, prefix);
  cleanup_json json_t *cfg = net_object (name, id, "bridge", subnet, gwip, o->internal, bridge, o->labels);
  if (net_add (db, cfg, err) < 0)
    return -1;
  if (pier_bridge_ensure (bridge, (struct in_addr){ htonl (gw) }, prefix, err) < 0
      || fw_sync (e->root, db, NULL, NULL, NULL, err) < 0)
    {
      pier_bridge_remove (bridge, NULL);
      pier_db_network_delete (db, id, NULL);
      return -1;
    }
  *id_out = steal_pointer (&id);
  return 0;
}

int
pier_engine_network_find (pier_engine *e, const char *key, char **id, pier_error **err)
{
  if (ensure_predefined (edb (e), e->root, err) < 0)
    return -1;
  return pier_db_network_find (edb (e), key, id, err);
}

/* Containers whose record names network (id, name) among its networks;
 * running_only: only those whose monitor lives. */
static int
users_of (pier_engine *e, const char *nid, const char *name, bool running_only, json_t **out,
          pier_error **err)
{
  pier_db_container *cs = NULL;
  size_t n = 0;
  if (pier_db_container_list (edb (e), &cs, &n, err) < 0)
    return -1;
  json_t *users = json_object ();
  for (size_t i = 0; i < n; i++)
    {
      cleanup_json json_t *rec = json_loads (cs[i].config, 0, NULL);
      cleanup_json json_t *st = json_loads (cs[i].state, 0, NULL);
      json_t *ep
          = json_object_get (json_object_get (json_object_get (rec, "NetworkSettings"), "Networks"), name);
      if (ep == NULL)
        continue;
      const char *epid = json_string_value (json_object_get (ep, "NetworkID"));
      if (epid && strcmp (epid, nid) != 0)
        continue;
      bool alive = pier_engine_monitor_alive (st);
      if (running_only && !alive)
        continue;
      json_t *live = json_object_get (json_object_get (json_object_get (st, "_Network"), "Networks"), name);
      const char *ip = alive ? json_string_value (json_object_get (live, "IPAddress")) : NULL;
      int prefix = (int) json_integer_value (json_object_get (live, "IPPrefixLen"));
      cleanup_free char *cidr = ip ? xasprintf ("%s/%d", ip, prefix) : xstrdup ("");
      json_object_set_new (
          users, cs[i].id,
          json_pack ("{s:s, s:s, s:s, s:s, s:s}", "Name", cs[i].name, "EndpointID",
                     alive ? json_string_value (json_object_get (live, "EndpointID")) ?: "" : "",
                     "MacAddress",
                     alive ? json_string_value (json_object_get (live, "MacAddress")) ?: "" : "",
                     "IPv4Address", cidr, "IPv6Address", ""));
    }
  pier_db_containers_free (cs, n);
  *out = users;
  return 0;
}

static int
inspect_row (pier_engine *e, const pier_db_network *row, json_t **out, pier_error **err)
{
  json_t *cfg = NULL;
  if (pier_json_load_buf (row->config, strlen (row->config), "network record", &cfg, err) < 0)
    return -1;
  json_t *users = NULL;
  if (users_of (e, row->id, row->name, true, &users, err) < 0)
    {
      json_decref (cfg);
      return -1;
    }
  /* docker's key order: Containers before Options. */
  json_t *opts = json_incref (json_object_get (cfg, "Options"));
  json_t *labels = json_incref (json_object_get (cfg, "Labels"));
  json_object_del (cfg, "Options");
  json_object_del (cfg, "Labels");
  json_object_set_new (cfg, "Containers", users);
  json_object_set_new (cfg, "Options", opts);
  json_object_set_new (cfg, "Labels", labels);
  *out = cfg;
  return 0;
}

int
pier_engine_network_inspect (pier_engine *e, const char *id, json_t **out, pier_error **err)
{
  pier_db_network *n = NULL;
  if (pier_db_network_get (edb (e), id, &n, err) < 0)
    return -1;
  int r = inspect_row (e, n, out, err);
  pier_db_network_free (n);
  return r;
}

int
pier_engine_network_list (pier_engine *e, json_t **out, pier_error **err)
{
  if (ensure_predefined (edb (e), e->root, err) < 0)
    return -1;
  pier_db_network *ns = NULL;
  size_t n = 0;
  if (pier_db_network_list (edb (e), &ns, &n, err) < 0)
    return -1;
  json_t *arr = json_array ();
  for (size_t i = 0; i < n; i++)
    {
      json_t *o = NULL;
      if (inspect_row (e, &ns[i], &o, err) < 0)
        {
          json_decref (arr);
          pier_db_networks_free (ns, n);
          return -1;
        }
      json_array_append_new (arr, o);
    }
  pier_db_networks_free (ns, n);
  *out = arr;
  return 0;
}

static int
remove_one (pier_engine *e, const char *id, bool only_unreferenced, bool *removed, pier_error **err)
{
  pier_db *db = edb (e);
  cleanup_json json_t *cfg = NULL;
  *removed = false;
  pier_db_network *row = NULL;
  if (pier_db_network_get (db, id, &row, err) < 0)
    return -1;
  cleanup_free char *name = xstrdup (row->name);
  pier_db_network_free (row);
  if (predefined (name))
    return only_unreferenced
               ? 0
               : pier_error_makex (err, EPERM, "%s is a pre-defined network and cannot be removed", name);
  cleanup_netlock int lock = net_lock (e->runroot, err);
  if (lock < 0)
    return -1;
  cleanup_json json_t *users = NULL;
  if (users_of (e, id, name, !only_unreferenced, &users, err) < 0)
    return -1;
  if (json_object_size (users))
    {
      if (only_unreferenced)
        return 0;
      return pier_error_makex (
          err, EBUSY, "error while removing network: network %s id %s has active endpoints", name, id);
    }
  if (net_load (db, id, &cfg, err) < 0)
    return -1;
  if (pier_db_network_delete (db, id, err) < 0)
    return -1;
  const char *bridge = net_bridge (cfg);
  if (bridge && pier_bridge_remove (bridge, err) < 0)
    return -1;
  if (fw_sync (e->root, db, NULL, NULL, NULL, err) < 0)
    return -1;
  idle_cleanup (e->root, db);
  *removed = true;
  return 0;
}

int
pier_engine_network_remove (pier_engine *e, const char *id, pier_error **err)
{
  bool removed;
  return remove_one (e, id, false, &removed, err);
}

int
pier_engine_network_prune (pier_engine *e, char ***names, pier_error **err)
{
  pier_db_network *ns = NULL;
  size_t n = 0;
  if (pier_db_network_list (edb (e), &ns, &n, err) < 0)
    return -1;
  char **out = xcalloc (1, sizeof *out);
  for (size_t i = 0; i < n; i++)
    {
      bool removed = false;
      if (remove_one (e, ns[i].id, true, &removed, err) < 0)
        {
          pier_db_networks_free (ns, n);
          strv_free (out);
          return -1;
        }
      if (removed)
        strv_push (&out, ns[i].name);
    }
  pier_db_networks_free (ns, n);
  *names = out;
  return 0;
}

/* ------------------------------------------------------------ ports */

static int
parse_range (const char *s, long *lo, long *hi)
{
  char *end;
  *lo = strtol (s, &end, 10);
  if (end == s)
    return -1;
  *hi = *lo;
  if (*end == '-')
    {
      const char *h = end + 1;
      *hi = strtol (h, &end, 10);
      if (end == h)
        return -1;
    }
  if (*end || *lo < 0 || *hi > 65535 || *lo > *hi)
    return -1;
  return 0;
}

int
pier_engine_port_parse (const char *spec, json_t *bindings, json_t *exposed, pier_error **err)
{
  cleanup_free char *s = xstrdup (spec);
  const char *proto = "tcp";
  char *slash = strrchr (s, '/');
  if (slash)
    {
      *slash = '\0';
      proto = slash + 1;
      if (strcmp (proto, "tcp") != 0 && strcmp (proto, "udp") != 0 && strcmp (proto, "sctp") != 0)
        return pier_error_makex (err, EINVAL, "invalid proto: %s", proto);
      if (strcmp (proto, "sctp") == 0)
        return pier_error_makex (err, EINVAL, "publishing sctp ports is not supported by pier: %s", spec);
    }
  /* ip:host:ctr, host:ctr, ctr; an IPv6 host address is bracketed. */
  char *parts[3] = { NULL, NULL, NULL };
  int np = 0;
  char *p = s;
  if (*p == '[')
    return pier_error_makex (err, EINVAL, "IPv6 host addresses are not supported by pier: %s", spec);
  for (char *c; np < 3 && (c = strchr (p, ':')) != NULL; p = c + 1)
    {
      *c = '\0';
      parts[np++] = p;
    }
  if (np >= 3)
    return pier_error_makex (err, EINVAL, "invalid port format: %s", spec);
  parts[np++] = p;
  const char *ip = np == 3 ? parts[0] : "";
  const char *host = np == 3 ? parts[1] : np == 2 ? parts[0] : "";
  const char *ctr = parts[np - 1];
  struct in_addr a;
  if (*ip && inet_pton (AF_INET, ip, &a) != 1)
    return pier_error_makex (err, EINVAL, "invalid IP address: %s", ip);
  long clo, chi, hlo = 0, hhi = 0;
  if (*ctr == '\0')
    return pier_error_makex (err, EINVAL, "no port specified: %s<empty>", spec);
  if (parse_range (ctr, &clo, &chi) < 0 || clo == 0)
    return pier_error_makex (err, EINVAL, "invalid containerPort: %s", ctr);
  if (*host && parse_range (host, &hlo, &hhi) < 0)
    return pier_error_makex (err, EINVAL, "invalid hostPort: %s", host);
  if (*host && chi != clo && hhi - hlo != chi - clo)
    return pier_error_makex (err, EINVAL, "invalid ranges specified for container and host Ports: %s and %s",
                             ctr, host);
  for (long cp = clo; cp <= chi; cp++)
    {
      cleanup_free char *key = xasprintf ("%ld/%s", cp, proto);
      cleanup_free char *hp = NULL;
      if (*host == '\0')
        hp = xstrdup ("");
      else if (chi != clo)
        hp = xasprintf ("%ld", hlo + (cp - clo));
      else if (hlo != hhi)
        hp = xasprintf ("%ld-%ld", hlo, hhi);
      else
        hp = xasprintf ("%ld", hlo);
      json_t *arr = json_object_get (bindings, key);
      if (arr == NULL)
        json_object_set_new (bindings, key, arr = json_array ());
      json_array_append_new (arr, json_pack ("{s:s, s:s}", "HostIp", ip, "HostPort", hp));
      if (exposed)
        json_object_set_new (exposed, key, json_object ());
    }
  return 0;
}

char *
pier_engine_ports_string (json_t *inspect)
{
  json_t *ports = json_object_get (json_object_get (inspect, "NetworkSettings"), "Ports");
  char *out = xstrdup ("");
  const char *key;
  json_t *binds;
  json_object_foreach (ports, key, binds)
  {
    if (!json_is_array (binds) || json_array_size (binds) == 0)
      {
        char *n = xasprintf ("%s%s%s", out, *out ? ", " : "", key);
        free (out);
        out = n;
        continue;
      }
    size_t i;
    json_t *b;
    json_array_foreach (binds, i, b)
    {
      const char *hip = json_string_value (json_object_get (b, "HostIp")) ?: "";
      char *n = xasprintf ("%s%s%s:%s->%s", out, *out ? ", " : "", *hip ? hip : "0.0.0.0",
                           json_string_value (json_object_get (b, "HostPort")) ?: "", key);
      free (out);
      out = n;
    }
  }
  return out;
}

/* Whether a host port is taken: by another running pier container
 * (in the published maps) or by a host socket. */
static bool
port_taken (pier_db *db, const char *self, const char *proto, const char *hip, long port)
{
  pier_db_container *cs = NULL;
  size_t n = 0;
  bool taken = false;
  bool any = hip == NULL || *hip == '\0' || strcmp (hip, "0.0.0.0") == 0;
  if (pier_db_container_list (db, &cs, &n, NULL) == 0)
    {
      for (size_t i = 0; i < n && !taken; i++)
        {
          if (strcmp (cs[i].id, self) == 0)
            continue;
          cleanup_json json_t *st = json_loads (cs[i].state, 0, NULL);
          if (st == NULL || !pier_engine_monitor_alive (st))
            continue;
          const char *key;
          json_t *binds;
          json_object_foreach (json_object_get (json_object_get (st, "_Network"), "Ports"), key, binds)
          {
            const char *pr = strchr (key, '/') ? strchr (key, '/') + 1 : "tcp";
            size_t k;
            json_t *b;
            json_array_foreach (binds, k, b)
            {
              const char *oip = json_string_value (json_object_get (b, "HostIp")) ?: "";
              bool oany = *oip == '\0' || strcmp (oip, "0.0.0.0") == 0;
              if (strcmp (pr, proto) == 0
                  && atol (json_string_value (json_object_get (b, "HostPort")) ?: "0") == port
                  && (any || oany || strcmp (oip, hip) == 0))
                taken = true;
            }
          }
        }
      pier_db_containers_free (cs, n);
    }
  if (taken)
    return true;
  int fd = socket (AF_INET, (strcmp (proto, "udp") == 0 ? SOCK_DGRAM : SOCK_STREAM) | SOCK_CLOEXEC, 0);
  if (fd < 0)
    return false;
  struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons ((uint16_t) port) };
  if (!any)
    inet_pton (AF_INET, hip, &sa.sin_addr);
  int one = 1;
  setsockopt (fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  taken = bind (fd, (struct sockaddr *) &sa, sizeof sa) < 0 && errno == EADDRINUSE;
  close (fd);
  return taken;
}

/* A free host port: the kernel's ephemeral choice, not used by pier. */
static long
free_port (pier_db *db, const char *self, const char *proto, const char *hip)
{
  for (int tries = 0; tries < 64; tries++)
    {
      int fd = socket (AF_INET, (strcmp (proto, "udp") == 0 ? SOCK_DGRAM : SOCK_STREAM) | SOCK_CLOEXEC, 0);
      if (fd < 0)
        return -1;
      struct sockaddr_in sa = { .sin_family = AF_INET };
      socklen_t l = sizeof sa;
      long port = -1;
      if (bind (fd, (struct sockaddr *) &sa, sizeof sa) == 0
          && getsockname (fd, (struct sockaddr *) &sa, &l) == 0)
        port = ntohs (sa.sin_port);
      close (fd);
      if (port > 0 && !port_taken (db, self, proto, hip, port))
        return port;
    }
  return -1;
}

/* The container's published ports (docker's NetworkSettings.Ports). */
static int
resolve_ports (pier_db *db, const char *id, json_t *rec, json_t **out, pier_error **err)
{
  json_t *hc = json_object_get (rec, "HostConfig");
  cleanup_json json_t *want = json_deep_copy (json_object_get (hc, "PortBindings") ?: json_object ());
  if (!json_is_object (want))
    return pier_error_makex (err, EINVAL, "malformed PortBindings");
  if (json_is_true (json_object_get (hc, "PublishAllPorts")))
    {
      const char *key;
      json_t *v;
      json_object_foreach (json_object_get (json_object_get (rec, "Config"), "ExposedPorts"), key,
                           v) if (json_object_get (want, key) == NULL)
          json_object_set_new (want, key, json_pack ("[{s:s, s:s}]", "HostIp", "", "HostPort", ""));
    }
  cleanup_json json_t *ports = json_object ();
  const char *key;
  json_t *binds;
  json_object_foreach (want, key, binds)
  {
    const char *proto = strchr (key, '/') ? strchr (key, '/') + 1 : "tcp";
    json_t *got = json_array ();
    cleanup_free char *k2 = strchr (key, '/') ? xstrdup (key) : xasprintf ("%s/tcp", key);
    json_object_set_new (ports, k2, got);
    size_t i;
    json_t *b;
    json_array_foreach (binds, i, b)
    {
      const char *hip = json_string_value (json_object_get (b, "HostIp")) ?: "";
      const char *hp = json_string_value (json_object_get (b, "HostPort")) ?: "";
      long lo = 0, hi = 0, port = -1;
      if (*hp && parse_range (hp, &lo, &hi) < 0)
        return pier_error_makex (err, EINVAL, "invalid host port %s", hp);
      if (lo == 0)
        port = free_port (db, id, proto, hip);
      else
        for (long p = lo; p <= hi && port < 0; p++)
          if (!port_taken (db, id, proto, hip, p))
            port = p;
      if (port < 0)
        return pier_error_makex (err, EADDRINUSE, "Bind for %s:%s failed: port is already allocated",
                                 *hip ? hip : "0.0.0.0", *hp ? hp : "(any)");
      cleanup_free char *ps = xasprintf ("%ld", port);
      json_array_append_new (got, json_pack ("{s:s, s:s}", "HostIp", *hip ? hip : "0.0.0.0", "HostPort", ps));
    }
  }
  *out = steal_pointer (&ports);
  return 0;
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
  json_t *ipam = net_ipam0 (cfg);
  struct in_addr a, g;
  int prefix;
  if (parse_cidr (json_string_value (json_object_get (ipam, "Subnet")) ?: "", &a, &prefix) < 0
      || inet_pton (AF_INET, json_string_value (json_object_get (ipam, "Gateway")) ?: "", &g) != 1)
    return pier_error_makex (err, EIO, "network %s: its address configuration is damaged", nid);
  uint32_t net = ntohl (a.s_addr), gw = ntohl (g.s_addr), bcast = net | ~mask_of (prefix);
  if (want)
    {
      struct in_addr w;
      if (inet_pton (AF_INET, want, &w) != 1)
        return pier_error_makex (err, EINVAL, "invalid IPv4 address: %s", want);
      uint32_t x = ntohl (w.s_addr);
      if ((x & mask_of (prefix)) != net || x == net || x == bcast || x == gw)
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
      cleanup_free char *s = ip_str (x);
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
  const char *bridge = net_bridge (cfg);
  if (pier_bridge_exists (bridge))
    return 0;
  cleanup_netlock int slock = subnet_lock (err);
  if (slock < 0)
    return -1;
  if (pier_bridge_exists (bridge))
    return 0;
  json_t *ipam = net_ipam0 (cfg);
  struct in_addr sub, gw;
  int prefix;
  if (parse_cidr (json_string_value (json_object_get (ipam, "Subnet")) ?: "", &sub, &prefix) < 0
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
      if (free_subnet (db, &net, err) < 0)
        return -1;
      cleanup_free char *netip = ip_str (net), *gwip = ip_str (net + 1);
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
  if (net_load (db, nid, &cfg, err) < 0)
    return -1;
  if (!is_bridge_driver (cfg))
    return pier_error_makex (err, EINVAL, "network %s (driver %s) cannot be joined with other networks", name,
                             json_string_value (json_object_get (cfg, "Driver")));
  if (net_bridge (cfg) == NULL || bridge_up (db, nid, cfg, created, err) < 0)
    return pier_error_wrap (err, "network %s", name);
  const char *bridge = net_bridge (cfg);
  json_t *ipam = net_ipam0 (cfg);
  struct in_addr sub, gw;
  int prefix;
  if (parse_cidr (json_string_value (json_object_get (ipam, "Subnet")) ?: "", &sub, &prefix) < 0
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
  cleanup_free char *ip = ip_str (addr);
  char macs[18];
  snprintf (macs, sizeof macs, "%02x:%02x:%02x:%02x:%02x:%02x", mac[0], mac[1], mac[2], mac[3], mac[4],
            mac[5]);
  cleanup_free char *epid_new = random_hex (32);
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

static bool
bridged_mode (const char *mode)
{
  return mode && strcmp (mode, "none") != 0 && strcmp (mode, "host") != 0
         && strncmp (mode, "container:", 10) != 0;
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
    refresh_peers (root, db, ls[i].network_id);
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
      append (&out, "%s%s\n", line, "");
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
          append (&text, "%s%s\n", line, "");
        }
      if (!options)
        append (&text, "%s%s\n", "options ndots:0", "");
    }
  cleanup_free char *path
      = xasprintf ("%s/containers/%s/resolv.conf", root, json_string_value (json_object_get (rec, "Id")));
  write_in_place (path, text);
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
pier_engine_net_start (const char *root, const char *runroot, pier_db *db, json_t *rec, int *netns_fd,
                       pier_net_dns **dns, pier_error **err)
{
  const char *id = json_string_value (json_object_get (rec, "Id"));
  const char *mode = json_string_value (json_object_get (json_object_get (rec, "HostConfig"), "NetworkMode"));
  json_t *eps = json_object_get (json_object_get (rec, "NetworkSettings"), "Networks");
  *netns_fd = -1;
  /* none: a namespace with only lo, up (the runtime would leave it down). */
  if (mode && strcmp (mode, "none") == 0)
    return pier_netns_new (netns_fd, err);
  if (!bridged_mode (mode))
    return 0;
  cleanup_netlock int lock = net_lock (runroot, err);
  if (lock < 0)
    return -1;
  futimens (lock, NULL); /* the store is in use (see pier_engine_net_idle_exec) */
  cleanup_close int ns = -1;
  if (pier_netns_new (&ns, err) < 0)
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
      if (resolve_ports (db, id, rec, &ports, err) < 0)
        {
          release_all (root, db, id);
          return -1;
        }
      json_object_set_new (net, "Ports", ports);
      json_object_set (net, "PortIP", json_object_get (primary, "IPAddress"));
    }
  if (save_net_state (db, id, net, true, err) < 0
      || ((created || json_object_size (json_object_get (net, "Ports")))
          && fw_sync (root, db, id, net, NULL, err) < 0))
    {
      save_net_state (db, id, NULL, false, NULL);
      release_all (root, db, id);
      return -1;
    }
  json_object_foreach (nets, key, ep)
  {
    const char *nid = json_string_value (json_object_get (ep, "NetworkID"));
    if (strcmp (key, DEFAULT_NET) != 0)
      refresh_peers (root, db, nid);
  }
  render_hosts (root, db, id);
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
static void
idle_cleanup (const char *root, pier_db *db)
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
          if (net_bridge (cfg))
            default_br = xstrdup (net_bridge (cfg));
        }
      else if (!predefined (ns[i].name))
        user_nets = true;
    }
  pier_db_networks_free (ns, n);
  if (default_br && !busy_default && pier_bridge_exists (default_br))
    pier_bridge_remove (default_br, NULL);
  if (!user_nets && !any_lease)
    {
      cleanup_free char *table = table_name (root);
      pier_fw_remove (table, NULL);
    }
}

/* How long a store must have started no container before its default
 * bridge and table go: a loop of short `run --rm` keeps them. */
#define IDLE_GRACE_MS 2000

void
pier_engine_net_idle_spawn (const char *root, const char *runroot)
{
  struct timespec now;
  clock_gettime (CLOCK_REALTIME, &now);
  char since[32];
  snprintf (since, sizeof since, "%lld", (long long) now.tv_sec * 1000000000LL + now.tv_nsec);
  pid_t pid = fork ();
  if (pid != 0)
    return;
  /* A fresh image (no state of the parent's libraries), detached. */
  setsid ();
  int devnull = open ("/dev/null", O_RDWR);
  if (devnull >= 0)
    {
      dup2 (devnull, 0);
      dup2 (devnull, 1);
      dup2 (devnull, 2);
    }
  syscall (SYS_close_range, 3U, ~0U, 0U);
  cleanup_free char *table = table_name (root);
  cleanup_free char *bridge = default_bridge (root);
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
  int lock = net_lock (runroot, NULL);
  if (lock >= 0)
    {
      /* net_start touches the lock file: a start after we were spawned
       * means the store is busy again, and a later helper will judge. */
      if (fstat (lock, &sb) == 0
          && (long long) sb.st_mtim.tv_sec * 1000000000LL + sb.st_mtim.tv_nsec <= since)
        idle_cleanup (root, db);
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
  cleanup_netlock int lock = net_lock (runroot, NULL);
  bool had_ports = json_object_size (json_object_get (net, "Ports")) > 0;
  save_net_state (db, id, NULL, false, NULL);
  release_all (root, db, id);
  if (had_ports)
    fw_sync (root, db, NULL, NULL, id, NULL);
}

/* ------------------------------------------------------------ prepare */

/* Whether ip is a host address of network cfg's subnet. */
static int
check_ip (json_t *cfg, const char *ip, pier_error **err)
{
  struct in_addr w, a;
  int prefix;
  json_t *ipam = net_ipam0 (cfg);
  if (inet_pton (AF_INET, ip, &w) != 1)
    return pier_error_makex (err, EINVAL, "invalid IPv4 address: %s", ip);
  uint32_t x = ntohl (w.s_addr);
  if (parse_cidr (json_string_value (json_object_get (ipam, "Subnet")) ?: "", &a, &prefix) < 0
      || (x & mask_of (prefix)) != ntohl (a.s_addr) || x == ntohl (a.s_addr)
      || x == (ntohl (a.s_addr) | ~mask_of (prefix)))
    return pier_error_makex (err, EINVAL, "no configured subnet or ip-range contain the IP address %s", ip);
  return 0;
}

int
pier_engine_net_prepare (pier_engine *e, json_t *hc, json_t *body, json_t **networks, char ***warnings,
                         pier_error **err)
{
  pier_db *db = edb (e);
  const char *mode = json_string_value (json_object_get (hc, "NetworkMode"));
  if (mode == NULL || *mode == '\0' || strcmp (mode, "default") == 0)
    json_object_set_new (hc, "NetworkMode", json_string (mode = DEFAULT_NET));
  /* Our own copy: NetworkMode is rewritten below. */
  cleanup_free char *mode_copy = xstrdup (mode);
  mode = mode_copy;
  json_t *epcfg = json_object_get (json_object_get (body, "NetworkingConfig"), "EndpointsConfig");
  cleanup_json json_t *out = json_object ();
  bool ports = json_object_size (json_object_get (hc, "PortBindings")) > 0
               || json_is_true (json_object_get (hc, "PublishAllPorts"));
  if (strncmp (mode, "container:", 10) == 0)
    {
      if (ports)
        return pier_error_makex (err, EINVAL,
                                 "conflicting options: port publishing and the container type network mode");
      if (json_array_size (json_object_get (hc, "Dns"))
          || json_array_size (json_object_get (hc, "ExtraHosts")))
        return pier_error_makex (
            err, EINVAL, "conflicting options: dns and the network mode / add-host and the network mode");
    }
  if (ports && strcmp (mode, "host") == 0 && warnings)
    strv_push (warnings, "Published ports are discarded when using host network mode");
  if (!bridged_mode (mode))
    {
      const char *key;
      json_t *v;
      json_object_foreach (epcfg, key, v)
      {
        if (json_array_size (json_object_get (v, "Aliases")))
          return pier_error_makex (err, EINVAL,
                                   "network-scoped alias is supported only for containers in user "
                                   "defined networks");
        if (json_object_get (json_object_get (v, "IPAMConfig"), "IPv4Address"))
          return pier_error_makex (err, EINVAL,
                                   "user specified IP address is supported on user defined networks "
                                   "only");
      }
      *networks = steal_pointer (&out);
      return 0;
    }
  if (ensure_predefined (db, e->root, err) < 0)
    return -1;
  cleanup_free char *nid = NULL;
  if (pier_db_network_find (db, mode, &nid, err) < 0)
    return -1;
  cleanup_json json_t *cfg = NULL;
  if (net_load (db, nid, &cfg, err) < 0)
    return -1;
  const char *name = json_string_value (json_object_get (cfg, "Name"));
  if (!is_bridge_driver (cfg))
    {
      /* --network host / none given by the network's id or another spelling */
      json_object_set_new (
          hc, "NetworkMode",
          json_string (strcmp (json_string_value (json_object_get (cfg, "Driver")), "host") == 0 ? "host"
                                                                                                 : "none"));
      *networks = steal_pointer (&out);
      return 0;
    }
  json_object_set_new (hc, "NetworkMode", json_string (name));
  json_t *ep = json_object_get (epcfg, mode);
  if (ep == NULL)
    ep = json_object_get (epcfg, name);
  json_t *aliases = json_object_get (ep, "Aliases");
  const char *ip = json_string_value (json_object_get (json_object_get (ep, "IPAMConfig"), "IPv4Address"));
  if (strcmp (name, DEFAULT_NET) == 0)
    {
      if (json_array_size (aliases))
        return pier_error_makex (err, EINVAL,
                                 "network-scoped alias is supported only for containers in user "
                                 "defined networks");
      if (ip && *ip)
        return pier_error_makex (err, EINVAL,
                                 "user specified IP address is supported on user defined networks only");
    }
  if (ip && *ip && check_ip (cfg, ip, err) < 0)
    return -1;
  if (ports && json_is_true (json_object_get (cfg, "Internal")) && warnings)
    strv_push (warnings, "Published ports are not reachable: the container's network is internal");
  json_t *entry = json_pack (
      "{s:O, s:O, s:s}", "IPAMConfig",
      json_is_object (json_object_get (ep, "IPAMConfig")) ? json_object_get (ep, "IPAMConfig") : json_null (),
      "Aliases", json_is_array (aliases) ? aliases : json_null (), "NetworkID", nid);
  json_object_set_new (out, name, entry);
  *networks = steal_pointer (&out);
  return 0;
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
  pier_db *db = edb (e);
  cleanup_free char *id = NULL, *nid = NULL;
  cleanup_json json_t *rec = NULL;
  cleanup_json json_t *st = NULL;
  cleanup_json json_t *cfg = NULL;
  if (pier_engine_network_find (e, netkey, &nid, err) < 0 || net_load (db, nid, &cfg, err) < 0
      || load_ctr (e, ctr, &id, &rec, &st, err) < 0)
    return -1;
  const char *name = json_string_value (json_object_get (cfg, "Name"));
  const char *mode = json_string_value (json_object_get (json_object_get (rec, "HostConfig"), "NetworkMode"));
  if (!is_bridge_driver (cfg))
    return pier_error_makex (err, EINVAL,
                             "container cannot be disconnected from host network or connected to "
                             "host network");
  if (!bridged_mode (mode))
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
  if (ip && *ip && check_ip (cfg, ip, err) < 0)
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
  cleanup_netlock int lock = net_lock (e->runroot, err);
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
    fw_sync (e->root, db, NULL, NULL, NULL, NULL);
  json_object_set_new (nets, name, entry);
  if (save_net_state (db, id, net, false, err) < 0 || save_rec (db, id, rec, err) < 0)
    return -1;
  if (strcmp (name, DEFAULT_NET) != 0)
    refresh_peers (e->root, db, nid);
  render_hosts (e->root, db, id);
  return 0;
}

int
pier_engine_network_disconnect (pier_engine *e, const char *netkey, const char *ctr, bool force,
                                pier_error **err)
{
  pier_db *db = edb (e);
  cleanup_free char *id = NULL, *nid = NULL;
  cleanup_json json_t *rec = NULL;
  cleanup_json json_t *st = NULL;
  cleanup_json json_t *cfg = NULL;
  (void) force;
  if (pier_engine_network_find (e, netkey, &nid, err) < 0 || net_load (db, nid, &cfg, err) < 0
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
  cleanup_netlock int lock = net_lock (e->runroot, err);
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
  fw_sync (e->root, db, NULL, NULL, NULL, NULL);
  refresh_peers (e->root, db, nid);
  render_hosts (e->root, db, id);
  return 0;
}

/* ------------------------------------------------------------ inspect */

json_t *
pier_engine_net_settings (json_t *rec, json_t *state)
{
  json_t *live = json_object_get (state, "_Network");
  bool running = live != NULL;
  json_t *out = json_pack ("{s:s, s:s, s:s, s:o, s:b, s:s, s:i, s:n, s:n, s:s, s:s, s:s, s:i, s:s, s:i, s:s, "
                           "s:s, s:o}",
                           "Bridge", "", "SandboxID", "", "SandboxKey", "", "Ports",
                           running ? json_deep_copy (json_object_get (live, "Ports")) : json_object (),
                           "HairpinMode", 0, "LinkLocalIPv6Address", "", "LinkLocalIPv6PrefixLen", 0,
                           "SecondaryIPAddresses", "SecondaryIPv6Addresses", "EndpointID", "", "Gateway", "",
                           "GlobalIPv6Address", "", "GlobalIPv6PrefixLen", 0, "IPAddress", "", "IPPrefixLen",
                           0, "IPv6Gateway", "", "MacAddress", "", "Networks", json_object ());
  /* Exposed but unpublished ports show as null while running. */
  if (running)
    {
      const char *key;
      json_t *v;
      json_t *ports = json_object_get (out, "Ports");
      json_object_foreach (json_object_get (json_object_get (rec, "Config"), "ExposedPorts"), key,
                           v) if (json_object_get (ports, key) == NULL)
          json_object_set_new (ports, key, json_null ());
    }
  json_t *nets = json_object_get (out, "Networks");
  const char *key;
  json_t *ep;
  json_object_foreach (json_object_get (json_object_get (rec, "NetworkSettings"), "Networks"), key, ep)
  {
    json_t *l = json_object_get (json_object_get (live, "Networks"), key);
    json_t *e;
    if (l)
      {
        e = json_deep_copy (l);
        json_object_del (e, "_If");
        json_object_del (e, "_Internal");
      }
    else
      e = json_pack ("{s:O, s:n, s:O, s:O, s:s, s:s, s:s, s:i, s:s, s:s, s:i, s:s, s:n}", "IPAMConfig",
                     json_object_get (ep, "IPAMConfig") ?: json_null (), "Links", "Aliases",
                     json_object_get (ep, "Aliases") ?: json_null (), "NetworkID",
                     json_object_get (ep, "NetworkID") ?: json_string (""), "EndpointID", "", "Gateway", "",
                     "IPAddress", "", "IPPrefixLen", 0, "IPv6Gateway", "", "GlobalIPv6Address", "",
                     "GlobalIPv6PrefixLen", 0, "MacAddress", "", "DriverOpts");
    json_object_set_new (nets, key, e);
    if (strcmp (key, DEFAULT_NET) == 0 && l)
      {
        static const char *const copy[]
            = { "EndpointID", "Gateway", "IPAddress", "IPPrefixLen", "MacAddress" };
        for (size_t i = 0; i < sizeof copy / sizeof *copy; i++)
          json_object_set (out, copy[i], json_object_get (l, copy[i]));
      }
  }
  const char *mode = json_string_value (json_object_get (json_object_get (rec, "HostConfig"), "NetworkMode"));
  if (mode && (strcmp (mode, "host") == 0 || strcmp (mode, "none") == 0) && json_object_size (nets) == 0)
    json_object_set_new (nets, mode,
                         json_pack ("{s:n, s:n, s:n, s:s, s:s, s:s, s:s, s:i, s:s, s:s, s:i, s:s, s:n}",
                                    "IPAMConfig", "Links", "Aliases", "NetworkID", "", "EndpointID", "",
                                    "Gateway", "", "IPAddress", "", "IPPrefixLen", 0, "IPv6Gateway", "",
                                    "GlobalIPv6Address", "", "GlobalIPv6PrefixLen", 0, "MacAddress", "",
                                    "DriverOpts"));
  return out;
}

/* ------------------------------------------------------------ files */

void
pier_engine_net_extra_hosts (json_t *hc, char **hosts)
{
  append_extra_hosts (hosts, hc);
}

char *
pier_engine_net_resolv_conf (json_t *hc, const char *base)
{
  json_t *dns = json_object_get (hc, "Dns");
  json_t *search = json_object_get (hc, "DnsSearch");
  json_t *opts = json_object_get (hc, "DnsOptions");
  char *out = xstrdup ("");
  cleanup_free char *copy = xstrdup (base);
  char *save = NULL;
  /* The host's lines, less what the flags replace. */
  for (char *line = strtok_r (copy, "\n", &save); line; line = strtok_r (NULL, "\n", &save))
    {
      if ((json_array_size (dns) && strncmp (line, "nameserver", 10) == 0)
          || (json_array_size (search)
              && (strncmp (line, "search", 6) == 0 || strncmp (line, "domain", 6) == 0))
          || (json_array_size (opts) && strncmp (line, "options", 7) == 0))
        continue;
      append (&out, "%s%s\n", line, "");
    }
  size_t i;
  json_t *v;
  json_array_foreach (dns, i, v) append (&out, "nameserver %s%s\n", json_string_value (v) ?: "", "");
  const char *which[2] = { "search", "options" };
  json_t *lists[2] = { search, opts };
  for (int k = 0; k < 2; k++)
    if (json_array_size (lists[k]))
      {
        char *line = xstrdup (which[k]);
        json_array_foreach (lists[k], i, v)
        {
          char *n = xasprintf ("%s %s", line, json_string_value (v) ?: "");
          free (line);
          line = n;
        }
        append (&out, "%s%s\n", line, "");
        free (line);
      }
  return out;
}
