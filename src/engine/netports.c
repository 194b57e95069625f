/* netports.c - published ports: docker's -p syntax, the PORTS text, and
 * the host ports a starting container gets (network.h). */
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
int
pier_enet_resolve_ports (pier_db *db, const char *id, json_t *rec, json_t **out, pier_error **err)
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
