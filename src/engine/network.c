/* network.c - networks: the predefined ones, create, inspect, list, rm,
 * prune; what a container asks for at create (prepare); inspect's
 * NetworkSettings; resolv.conf and --add-host; and the helpers the
 * engine's network files share (netinternal.h). */
#include "engine/network.h"
#include "engine/internal.h"
#include "engine/netdns.h"
#include "engine/netinternal.h"

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

/* ------------------------------------------------------------ helpers */

int
pier_enet_parse_cidr (const char *s, struct in_addr *net, int *prefix)
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

uint32_t
pier_enet_mask_of (int prefix)
{
  return prefix ? ~0U << (32 - prefix) : 0;
}

char *
pier_enet_ip_str (uint32_t host_order)
{
  struct in_addr a = { htonl (host_order) };
  char buf[INET_ADDRSTRLEN];
  inet_ntop (AF_INET, &a, buf, sizeof buf);
  return xstrdup (buf);
}

bool
pier_enet_predefined (const char *name)
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

char *
pier_enet_table_name (const char *root)
{
  char tag[8];
  store_tag (root, tag);
  return *tag ? xasprintf ("pier_%s", tag) : xstrdup ("pier");
}

char *
pier_enet_default_bridge (const char *root)
{
  char tag[8];
  store_tag (root, tag);
  return *tag ? xasprintf ("pier%s", tag) : xstrdup (DEFAULT_BRIDGE);
}

/* The host-wide lock under which a subnet is chosen and its bridge made
 * (so two stores never pick the same free subnet). */
int
pier_enet_subnet_lock (pier_error **err)
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

char *
pier_enet_random_hex (size_t bytes)
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
int
pier_enet_net_lock (const char *runroot, pier_error **err)
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

void
pier_enet_net_unlockp (int *fd)
{
  if (*fd >= 0)
    close (*fd); /* releases the flock */
  *fd = -1;
}

/* A network's config (inspect object without Containers). */
int
pier_enet_net_load (pier_db *db, const char *id, json_t **cfg, pier_error **err)
{
  pier_db_network *n = NULL;
  if (pier_db_network_get (db, id, &n, err) < 0)
    return -1;
  int r = pier_json_load_buf (n->config, strlen (n->config), "network record", cfg, err);
  pier_db_network_free (n);
  return r;
}

const char *
pier_enet_net_bridge (json_t *cfg)
{
  return json_string_value (
      json_object_get (json_object_get (cfg, "Options"), "com.docker.network.bridge.name"));
}

json_t *
pier_enet_net_ipam0 (json_t *cfg)
{
  return json_array_get (json_object_get (json_object_get (cfg, "IPAM"), "Config"), 0);
}

bool
pier_enet_is_bridge_driver (json_t *cfg)
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
      const char *sub = json_string_value (json_object_get (pier_enet_net_ipam0 (cfg), "Subnet"));
      struct in_addr a;
      int p;
      if (sub == NULL || pier_enet_parse_cidr (sub, &a, &p) < 0)
        continue;
      int l = p < prefix ? p : prefix;
      if ((ntohl (a.s_addr) & pier_enet_mask_of (l)) == (net & pier_enet_mask_of (l)))
        *which = xstrdup (ns[i].name);
    }
  pier_db_networks_free (ns, n);
  return 0;
}

/* The first /24 of 10.89.0.0 - 10.254.0.0 that neither a host route nor
 * a pier network uses (10.88/16 is podman's default). */
int
pier_enet_free_subnet (pier_db *db, uint32_t *net, pier_error **err)
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
int
pier_enet_ensure_predefined (pier_db *db, const char *root, pier_error **err)
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
  if (pier_enet_free_subnet (db, &net, err) < 0)
    return -1;
  cleanup_free char *netip = pier_enet_ip_str (net), *gw = pier_enet_ip_str (net + 1);
  cleanup_free char *subnet = xasprintf ("%s/24", netip);
  cleanup_free char *bridge = pier_enet_default_bridge (root);
  static const char *const names[] = { DEFAULT_NET, "host", "none" };
  static const char *const drivers[] = { "bridge", "host", "null" };
  for (size_t i = 0; i < 3; i++)
    {
      cleanup_free char *nid = pier_enet_random_hex (32);
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

void
pier_enet_append (char **s, const char *fmt, const char *a, const char *b)
{
  char *piece = xasprintf (fmt, a, b);
  char *joined = xasprintf ("%s%s", *s, piece);
  free (piece);
  free (*s);
  *s = joined;
}

void
pier_enet_append_extra_hosts (char **s, json_t *hc)
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
    pier_enet_append (s, "%s\t%s\n", colon + 1, h);
  }
}

/* Write text over path in place: the file is bind-mounted into running
 * containers, a rename would leave them the old inode. */
void
pier_enet_write_in_place (const char *path, const char *text)
{
  cleanup_close int fd = open (path, O_WRONLY | O_TRUNC | O_CLOEXEC | O_NOFOLLOW);
  if (fd >= 0)
    pier_write_all (fd, text, strlen (text));
}

bool
pier_enet_bridged_mode (const char *mode)
{
  return mode && strcmp (mode, "none") != 0 && strcmp (mode, "host") != 0
         && strncmp (mode, "container:", 10) != 0;
}

/* Whether ip is a host address of network cfg's subnet. */
int
pier_enet_check_ip (json_t *cfg, const char *ip, pier_error **err)
{
  struct in_addr w, a;
  int prefix;
  json_t *ipam = pier_enet_net_ipam0 (cfg);
  if (inet_pton (AF_INET, ip, &w) != 1)
    return pier_error_makex (err, EINVAL, "invalid IPv4 address: %s", ip);
  uint32_t x = ntohl (w.s_addr);
  if (pier_enet_parse_cidr (json_string_value (json_object_get (ipam, "Subnet")) ?: "", &a, &prefix) < 0
      || (x & pier_enet_mask_of (prefix)) != ntohl (a.s_addr) || x == ntohl (a.s_addr)
      || x == (ntohl (a.s_addr) | ~pier_enet_mask_of (prefix)))
    return pier_error_makex (err, EINVAL, "no configured subnet or ip-range contain the IP address %s", ip);
  return 0;
}

pier_db *
pier_enet_edb (pier_engine *e)
{
  return pier_store_db (e->st);
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

int
pier_engine_network_create (pier_engine *e, const char *name, const pier_network_opts *o, char **id_out,
                            pier_error **err)
{
  pier_db *db = pier_enet_edb (e);
  if (!net_name_valid (name))
    return pier_error_makex (err, EINVAL,
                             "invalid network name \"%s\": only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed",
                             name ? name : "");
  if (o->driver && strcmp (o->driver, "bridge") != 0)
    return pier_error_makex (
        err, EINVAL, "network driver \"%s\" is not supported (pier has the bridge driver)", o->driver);
  if (o->gateway && o->subnet == NULL)
    return pier_error_makex (err, EINVAL, "--gateway needs --subnet");
  if (pier_enet_ensure_predefined (db, e->root, err) < 0)
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
  cleanup_netlock int lock = pier_enet_net_lock (e->runroot, err);
  if (lock < 0)
    return -1;
  cleanup_netlock int slock = pier_enet_subnet_lock (err);
  if (slock < 0)
    return -1;
  uint32_t net;
  int prefix = 24;
  if (o->subnet)
    {
      struct in_addr a;
      if (pier_enet_parse_cidr (o->subnet, &a, &prefix) < 0)
        return pier_error_makex (
            err, EINVAL, "invalid subnet %s: it should be an IPv4 CIDR like 10.100.0.0/24", o->subnet);
      if (prefix < 8 || prefix > 30)
        return pier_error_makex (err, EINVAL, "invalid subnet %s: the prefix length must be 8 to 30",
                                 o->subnet);
      net = ntohl (a.s_addr);
      if (net & ~pier_enet_mask_of (prefix))
        {
          cleanup_free char *fixed = pier_enet_ip_str (net & pier_enet_mask_of (prefix));
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
  else if (pier_enet_free_subnet (db, &net, err) < 0)
    return -1;
  uint32_t gw = net + 1;
  if (o->gateway)
    {
      struct in_addr g;
      if (inet_pton (AF_INET, o->gateway, &g) != 1)
        return pier_error_makex (err, EINVAL, "invalid gateway address %s", o->gateway);
      gw = ntohl (g.s_addr);
      if ((gw & pier_enet_mask_of (prefix)) != net || gw == net || gw == (net | ~pier_enet_mask_of (prefix)))
        return pier_error_makex (err, EINVAL, "gateway %s is not a host address of subnet %s", o->gateway,
                                 o->subnet);
    }
  cleanup_free char *id = pier_enet_random_hex (32);
  cleanup_free char *bridge = xasprintf ("pier-%.10s", id);
  cleanup_free char *netip = pier_enet_ip_str (net), *gwip = pier_enet_ip_str (gw);
  cleanup_free char *subnet = xasprintf ("%s/%d", netip, prefix);
  cleanup_json json_t *cfg = net_object (name, id, "bridge", subnet, gwip, o->internal, bridge, o->labels);
  if (net_add (db, cfg, err) < 0)
    return -1;
  if (pier_bridge_ensure (bridge, (struct in_addr){ htonl (gw) }, prefix, err) < 0
      || pier_enet_fw_sync (e->root, db, NULL, NULL, NULL, err) < 0)
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
  if (pier_enet_ensure_predefined (pier_enet_edb (e), e->root, err) < 0)
    return -1;
  return pier_db_network_find (pier_enet_edb (e), key, id, err);
}

/* Containers whose record names network (id, name) among its networks;
 * running_only: only those whose monitor lives. */
static int
users_of (pier_engine *e, const char *nid, const char *name, bool running_only, json_t **out,
          pier_error **err)
{
  pier_db_container *cs = NULL;
  size_t n = 0;
  if (pier_db_container_list (pier_enet_edb (e), &cs, &n, err) < 0)
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
  if (pier_db_network_get (pier_enet_edb (e), id, &n, err) < 0)
    return -1;
  int r = inspect_row (e, n, out, err);
  pier_db_network_free (n);
  return r;
}

int
pier_engine_network_list (pier_engine *e, json_t **out, pier_error **err)
{
  if (pier_enet_ensure_predefined (pier_enet_edb (e), e->root, err) < 0)
    return -1;
  pier_db_network *ns = NULL;
  size_t n = 0;
  if (pier_db_network_list (pier_enet_edb (e), &ns, &n, err) < 0)
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
  pier_db *db = pier_enet_edb (e);
  cleanup_json json_t *cfg = NULL;
  *removed = false;
  pier_db_network *row = NULL;
  if (pier_db_network_get (db, id, &row, err) < 0)
    return -1;
  cleanup_free char *name = xstrdup (row->name);
  pier_db_network_free (row);
  if (pier_enet_predefined (name))
    return only_unreferenced
               ? 0
               : pier_error_makex (err, EPERM, "%s is a pre-defined network and cannot be removed", name);
  cleanup_netlock int lock = pier_enet_net_lock (e->runroot, err);
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
  if (pier_enet_net_load (db, id, &cfg, err) < 0)
    return -1;
  if (pier_db_network_delete (db, id, err) < 0)
    return -1;
  const char *bridge = pier_enet_net_bridge (cfg);
  if (bridge && pier_bridge_remove (bridge, err) < 0)
    return -1;
  if (pier_enet_fw_sync (e->root, db, NULL, NULL, NULL, err) < 0)
    return -1;
  pier_enet_idle_cleanup (e->root, db);
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
  if (pier_db_network_list (pier_enet_edb (e), &ns, &n, err) < 0)
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

/* ------------------------------------------------------------ prepare */

int
pier_engine_net_prepare (pier_engine *e, json_t *hc, json_t *body, json_t **networks, char ***warnings,
                         pier_error **err)
{
  pier_db *db = pier_enet_edb (e);
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
  if (ports && (strcmp (mode, "host") == 0 || strcmp (mode, "none") == 0) && warnings)
    strv_push (warnings, strcmp (mode, "host") == 0
                             ? "Published ports are discarded when using host network mode"
                             : "Published ports are discarded when using the none network mode");
  if (!pier_enet_bridged_mode (mode))
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
  if (pier_enet_ensure_predefined (db, e->root, err) < 0)
    return -1;
  cleanup_free char *nid = NULL;
  if (pier_db_network_find (db, mode, &nid, err) < 0)
    return -1;
  cleanup_json json_t *cfg = NULL;
  if (pier_enet_net_load (db, nid, &cfg, err) < 0)
    return -1;
  const char *name = json_string_value (json_object_get (cfg, "Name"));
  if (!pier_enet_is_bridge_driver (cfg))
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
  if (ip && *ip && pier_enet_check_ip (cfg, ip, err) < 0)
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
  pier_enet_append_extra_hosts (hosts, hc);
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
      pier_enet_append (&out, "%s%s\n", line, "");
    }
  size_t i;
  json_t *v;
  json_array_foreach (dns, i, v)
      pier_enet_append (&out, "nameserver %s%s\n", json_string_value (v) ?: "", "");
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
        pier_enet_append (&out, "%s%s\n", line, "");
        free (line);
      }
  return out;
}
