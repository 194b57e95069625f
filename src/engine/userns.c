/* userns.c - user-namespace remapping of containers: podman's
 * --userns=auto[:size=N], --uidmap and --gidmap, checked at create, host
 * id ranges allocated in the create's transaction, and the maps handed to
 * the monitor (idmapped layers) and the OCI config. */
#include "engine/userns.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <linux/capability.h>
#include <sys/fsuid.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "runtime/container.h"
#include "util/cleanup.h"
#include "util/fs.h"
#include "util/json.h"
#include "util/xalloc.h"

#include "util/banned.h"

static int
parse_u32 (const char *s, const char *end, uint64_t max, uint32_t *out)
{
  uint64_t v = 0;
  if (s == end)
    return -1;
  for (const char *p = s; p < end; p++)
    {
      if (*p < '0' || *p > '9')
        return -1;
      v = v * 10 + (uint64_t) (*p - '0');
      if (v > max)
        return -1;
    }
  *out = (uint32_t) v;
  return 0;
}

int
pier_userns_map_parse (const char *text, const char *flag, pier_idmap *m, pier_error **err)
{
  const char *a = text, *b = strchr (a, ':');
  const char *c = b ? strchr (b + 1, ':') : NULL;
  uint32_t v[3];
  if (b == NULL || c == NULL || parse_u32 (a, b, UINT32_MAX - 1, &v[0]) < 0
      || parse_u32 (b + 1, c, UINT32_MAX - 1, &v[1]) < 0
      || parse_u32 (c + 1, c + 1 + strlen (c + 1), UINT32_MAX, &v[2]) < 0)
    return pier_error_makex (err, EINVAL, "invalid %s `%s`: expected CONTAINER_ID:HOST_ID:AMOUNT (numbers)",
                             flag, text);
  if (v[2] == 0)
    return pier_error_makex (err, EINVAL, "invalid %s `%s`: the amount must be at least 1", flag, text);
  if ((uint64_t) v[0] + v[2] > UINT32_MAX || (uint64_t) v[1] + v[2] > UINT32_MAX)
    return pier_error_makex (err, EINVAL, "invalid %s `%s`: the range goes past id %u", flag, text,
                             UINT32_MAX - 1);
  m->container_id = v[0];
  m->host_id = v[1];
  m->size = v[2];
  return 0;
}

static bool
overlap (uint64_t a, uint64_t an, uint64_t b, uint64_t bn)
{
  return a < b + bn && b < a + an;
}

int
pier_userns_maps_check (const pier_idmap *m, size_t n, const char *flag, pier_error **err)
{
  bool root = false;
  if (n > 340)
    return pier_error_makex (err, EINVAL, "%s: at most 340 ranges (the kernel's limit)", flag);
  for (size_t i = 0; i < n; i++)
    {
      root |= m[i].container_id == 0;
      for (size_t j = 0; j < i; j++)
        {
          if (overlap (m[i].container_id, m[i].size, m[j].container_id, m[j].size))
            return pier_error_makex (err, EINVAL, "%s: container ids %u:%u:%u and %u:%u:%u overlap", flag,
                                     m[j].container_id, m[j].host_id, m[j].size, m[i].container_id,
                                     m[i].host_id, m[i].size);
          if (overlap (m[i].host_id, m[i].size, m[j].host_id, m[j].size))
            return pier_error_makex (err, EINVAL, "%s: host ids %u:%u:%u and %u:%u:%u overlap", flag,
                                     m[j].container_id, m[j].host_id, m[j].size, m[i].container_id,
                                     m[i].host_id, m[i].size);
        }
    }
  if (!root)
    return pier_error_makex (err, EINVAL, "%s must map the container's root (id 0)", flag);
  return 0;
}

size_t
pier_userns_subid_ranges (const char *text, const char *user, const char *uid, pier_idrange **out)
{
  cleanup_free char *copy = xstrdup (text ? text : "");
  size_t n = 0;
  *out = NULL;
  char *save = NULL;
  for (char *line = strtok_r (copy, "\n", &save); line; line = strtok_r (NULL, "\n", &save))
    {
      char *c1 = strchr (line, ':');
      char *c2 = c1 ? strchr (c1 + 1, ':') : NULL;
      if (line[0] == '#' || c2 == NULL)
        continue;
      *c1 = '\0';
      if (strcmp (line, user) != 0 && !(uid && strcmp (line, uid) == 0))
        continue;
      uint32_t start, size;
      if (parse_u32 (c1 + 1, c2, UINT32_MAX - 1, &start) < 0
          || parse_u32 (c2 + 1, c2 + 1 + strcspn (c2 + 1, " \t\r"), UINT32_MAX, &size) < 0 || size == 0
          || (uint64_t) start + size > UINT32_MAX)
        continue;
      *out = xrealloc (*out, (n + 1) * sizeof **out);
      (*out)[n++] = (pier_idrange){ start, size };
    }
  return n;
}

int
pier_userns_alloc (const pier_idrange *pool, size_t n_pool, const pier_idrange *used, size_t n_used,
                   uint32_t size, uint32_t *start)
{
  for (size_t p = 0; p < n_pool; p++)
    {
      uint64_t at = pool[p].start, end = (uint64_t) pool[p].start + pool[p].size;
      /* Move past every used range in the way until none is: each step
       * moves forward, so this ends. */
      bool moved = true;
      while (moved && at + size <= end)
        {
          moved = false;
          for (size_t u = 0; u < n_used; u++)
            if (overlap (at, size, used[u].start, used[u].size))
              {
                at = (uint64_t) used[u].start + used[u].size;
                moved = true;
              }
        }
      if (at + size <= end)
        {
          *start = (uint32_t) at;
          return 0;
        }
    }
  return -1;
}

/* ---------------------------------------------------------------- engine */

static bool
is_auto (const char *mode)
{
  return mode && (strcmp (mode, "auto") == 0 || strncmp (mode, "auto:", 5) == 0);
}

/* The size of `auto[:size=N]`. */
static int
auto_size (const char *mode, uint32_t *size, pier_error **err)
{
  *size = PIER_USERNS_AUTO_SIZE;
  if (mode[4] == '\0')
    return 0;
  cleanup_free char *opts = xstrdup (mode + 5);
  char *save = NULL;
  for (char *o = strtok_r (opts, ",", &save); o; o = strtok_r (NULL, ",", &save))
    {
      if (strncmp (o, "size=", 5) == 0)
        {
          if (parse_u32 (o + 5, o + strlen (o), PIER_USERNS_POOL_END - PIER_USERNS_POOL_START, size) < 0
              || *size == 0)
            return pier_error_makex (err, EINVAL, "invalid --userns=%s: size must be a number from 1 to %u",
                                     mode, PIER_USERNS_POOL_END - PIER_USERNS_POOL_START);
        }
      else
        return pier_error_makex (
            err, EINVAL, "invalid --userns=%s: pier supports only the `size=N` option of `auto` (not `%s`)",
            mode, o);
    }
  return 0;
}

/* The maps of one list of IDMappings (strings), checked. */
static int
maps_of (json_t *list, const char *flag, pier_idmap **out, size_t *n, pier_error **err)
{
  size_t i;
  json_t *v;
  *out = NULL;
  *n = 0;
  if (list && !json_is_array (list))
    return pier_error_makex (err, EINVAL, "HostConfig.IDMappings: %s must be a list of strings", flag);
  json_array_foreach (list, i, v)
  {
    const char *t = json_string_value (v);
    if (t == NULL)
      return pier_error_makex (err, EINVAL, "HostConfig.IDMappings: %s must be a list of strings", flag);
    *out = xrealloc (*out, (*n + 1) * sizeof **out);
    if (pier_userns_map_parse (t, flag, &(*out)[*n], err) < 0)
      return -1;
    (*n)++;
  }
  return *n ? pier_userns_maps_check (*out, *n, flag, err) : 0;
}

int
pier_engine_userns_check (json_t *hc, pier_error **err)
{
  const char *mode = json_string_value (json_object_get (hc, "UsernsMode"));
  json_t *idm = json_object_get (hc, "IDMappings");
  if (idm && !json_is_object (idm) && !json_is_null (idm))
    return pier_error_makex (err, EINVAL, "HostConfig.IDMappings must be an object");
  json_t *um = json_object_get (idm, "UidMap"), *gm = json_object_get (idm, "GidMap");
  bool maps = json_array_size (um) || json_array_size (gm);
  if (mode == NULL)
    mode = "";
  if (strcmp (mode, "keep-id") == 0 || strncmp (mode, "keep-id:", 8) == 0 || strcmp (mode, "nomap") == 0)
    return pier_error_makex (
        err, EINVAL,
        "--userns=%s is for rootless podman (it maps the user who runs podman); pier runs "
        "containers as root: use --userns=auto or --uidmap",
        mode);
  if (*mode && strcmp (mode, "host") != 0 && strcmp (mode, "private") != 0 && !is_auto (mode))
    return pier_error_makex (
        err, EINVAL, "invalid --userns=%s: pier supports host, auto[:size=N] (or --uidmap/--gidmap)", mode);
  if (maps && *mode && strcmp (mode, "private") != 0)
    return pier_error_makex (err, EINVAL, "--userns=%s and --uidmap/--gidmap cannot be used together", mode);
  if (strcmp (mode, "private") == 0 && !maps)
    return pier_error_makex (err, EINVAL, "--userns=private needs --uidmap (or use --userns=auto)");
  uint32_t size;
  if (is_auto (mode) && auto_size (mode, &size, err) < 0)
    return -1;
  if (!maps && !is_auto (mode))
    {
      json_object_del (hc, "IDMappings");
      return 0;
    }
  if (maps)
    {
      /* As podman: one map alone serves for both. */
      cleanup_free pier_idmap *u = NULL, *g = NULL;
      size_t nu, ng;
      if (json_array_size (um) == 0)
        json_object_set (idm, "UidMap", um = gm);
      if (json_array_size (gm) == 0)
        json_object_set (idm, "GidMap", gm = um);
      if (maps_of (um, "--uidmap", &u, &nu, err) < 0 || maps_of (gm, "--gidmap", &g, &ng, err) < 0)
        return -1;
      json_object_set_new (hc, "UsernsMode", json_string ("private"));
    }
  /* docker refuses --privileged with a remapped root, and a pid namespace
   * the user namespace does not own could not get its /proc mounted. */
  cleanup_free char *what = maps ? xstrdup ("--uidmap") : xasprintf ("--userns=%s", mode);
  if (json_is_true (json_object_get (hc, "Privileged")))
    return pier_error_makex (err, EINVAL,
                             "--privileged cannot be used with a user namespace (%s): privileged mode needs "
                             "--userns=host",
                             what);
  const char *pid = json_string_value (json_object_get (hc, "PidMode"));
  if (pid && (strcmp (pid, "host") == 0 || strncmp (pid, "container:", 10) == 0))
    return pier_error_makex (
        err, EINVAL,
        "--pid=%s cannot be used with a user namespace (%s): its /proc belongs to another "
        "user namespace",
        pid, what);
  return 0;
}

int
pier_engine_userns_check_mounts (json_t *rec, pier_error **err)
{
  size_t i;
  json_t *m;
  if (pier_engine_userns_enabled (json_object_get (rec, "HostConfig"))
      || pier_engine_userns_auto (json_object_get (rec, "HostConfig")))
    return 0;
  json_array_foreach (json_object_get (rec, "MountPoints"), i, m)
  {
    if (json_is_true (json_object_get (m, "_Idmap")))
      return pier_error_makex (err, EINVAL,
                               "the idmap option of %s needs a user namespace (--userns=auto or --uidmap)",
                               json_string_value (json_object_get (m, "Destination")));
  }
  return 0;
}

bool
pier_engine_userns_auto (json_t *hc)
{
  return is_auto (json_string_value (json_object_get (hc, "UsernsMode")));
}

bool
pier_engine_userns_enabled (json_t *hc)
{
  return json_array_size (json_object_get (json_object_get (hc, "IDMappings"), "UidMap")) > 0;
}

int
pier_engine_userns_maps (json_t *hc, pier_idmap **uids, size_t *n_uids, pier_idmap **gids, size_t *n_gids,
                         pier_error **err)
{
  json_t *idm = json_object_get (hc, "IDMappings");
  *gids = NULL;
  *n_gids = 0;
  if (maps_of (json_object_get (idm, "UidMap"), "UidMap", uids, n_uids, err) < 0
      || maps_of (json_object_get (idm, "GidMap"), "GidMap", gids, n_gids, err) < 0)
    {
      free (*uids);
      free (*gids);
      *uids = *gids = NULL;
      return pier_error_wrap (err, "the container's user namespace");
    }
  return 0;
}

void
pier_engine_userns_root (json_t *hc, uid_t *uid, gid_t *gid)
{
  cleanup_free pier_idmap *u = NULL, *g = NULL;
  size_t nu = 0, ng = 0;
  *uid = 0;
  *gid = 0;
  if (pier_engine_userns_maps (hc, &u, &nu, &g, &ng, NULL) < 0)
    return;
  for (size_t i = 0; i < nu; i++)
    if (u[i].container_id == 0)
      *uid = u[i].host_id;
  for (size_t i = 0; i < ng; i++)
    if (g[i].container_id == 0)
      *gid = g[i].host_id;
}

int
pier_engine_userns_fd (json_t *hc, pier_error **err)
{
  cleanup_free pier_idmap *u = NULL, *g = NULL;
  size_t nu, ng;
  if (pier_engine_userns_maps (hc, &u, &nu, &g, &ng, err) < 0)
    return -1;
  return pier_userns_open (u, nu, g, ng, err);
}

void
pier_engine_fsids_enter (uid_t uid, gid_t gid)
{
  setfsgid (gid);
  setfsuid (uid);
  struct __user_cap_header_struct h = { _LINUX_CAPABILITY_VERSION_3, 0 };
  struct __user_cap_data_struct d[2];
  if (syscall (SYS_capget, &h, d) == 0)
    {
      d[0].effective = d[0].permitted;
      d[1].effective = d[1].permitted;
      syscall (SYS_capset, &h, d);
    }
}

void
pier_engine_fsids_leave (void)
{
  setfsuid (0);
  setfsgid (0);
}

json_t *
pier_engine_userns_oci_maps (json_t *hc, bool gid)
{
  cleanup_free pier_idmap *u = NULL, *g = NULL;
  size_t nu = 0, ng = 0;
  json_t *a = json_array ();
  if (pier_engine_userns_maps (hc, &u, &nu, &g, &ng, NULL) < 0)
    return a;
  for (size_t i = 0; i < (gid ? ng : nu); i++)
    {
      const pier_idmap *m = gid ? &g[i] : &u[i];
      json_array_append_new (a, json_pack ("{s:I, s:I, s:I}", "containerID", (json_int_t) m->container_id,
                                           "hostID", (json_int_t) m->host_id, "size", (json_int_t) m->size));
    }
  return a;
}

/* The pool of `auto`: the subordinate ids of the user `containers`, else
 * pier's own.  PIER_SUBUID_FILE and PIER_SUBGID_FILE name other files
 * (tests; hosts that keep them elsewhere). */
static size_t
auto_pool (bool gid, pier_idrange **out)
{
  const char *file = getenv (gid ? "PIER_SUBGID_FILE" : "PIER_SUBUID_FILE");
  cleanup_free char *text = NULL;
  size_t len;
  if (file == NULL)
    file = gid ? "/etc/subgid" : "/etc/subuid";
  if (pier_read_file_at (AT_FDCWD, file, &text, &len, NULL) == 0)
    {
      size_t n = pier_userns_subid_ranges (text, PIER_USERNS_SUBID_USER, NULL, out);
      if (n)
        return n;
    }
  *out = xmalloc (sizeof **out);
  (*out)[0] = (pier_idrange){ PIER_USERNS_POOL_START, PIER_USERNS_POOL_END - PIER_USERNS_POOL_START };
  return 1;
}

static void
add_used (json_t *list, pier_idrange **used, size_t *n)
{
  size_t i;
  json_t *v;
  json_array_foreach (list, i, v)
  {
    pier_idmap m;
    if (json_string_value (v) == NULL || pier_userns_map_parse (json_string_value (v), "map", &m, NULL) < 0)
      continue;
    *used = xrealloc (*used, (*n + 1) * sizeof **used);
    (*used)[(*n)++] = (pier_idrange){ m.host_id, m.size };
  }
}

int
pier_engine_userns_allocate (pier_db *db, json_t *hc, pier_error **err)
{
  const char *mode = json_string_value (json_object_get (hc, "UsernsMode"));
  uint32_t size;
  if (!is_auto (mode))
    return 0;
  if (auto_size (mode, &size, err) < 0)
    return -1;
  pier_db_container *cs = NULL;
  size_t n = 0;
  if (pier_db_container_list (db, &cs, &n, err) < 0)
    return pier_error_wrap (err, "--userns=%s: cannot list the containers' id ranges", mode);
  cleanup_free pier_idrange *uused = NULL, *gused = NULL;
  size_t nu = 0, ng = 0;
  for (size_t i = 0; i < n; i++)
    {
      cleanup_json json_t *rec = json_loads (cs[i].config, 0, NULL);
      json_t *idm = json_object_get (json_object_get (rec, "HostConfig"), "IDMappings");
      add_used (json_object_get (idm, "UidMap"), &uused, &nu);
      add_used (json_object_get (idm, "GidMap"), &gused, &ng);
    }
  pier_db_containers_free (cs, n);
  json_t *idm = json_object ();
  for (int k = 0; k < 2; k++)
    {
      cleanup_free pier_idrange *pool = NULL;
      size_t np = auto_pool (k == 1, &pool);
      uint32_t start;
      if (pier_userns_alloc (pool, np, k ? gused : uused, k ? ng : nu, size, &start) < 0)
        {
          json_decref (idm);
          return pier_error_makex (err, ENOSPC,
                                   "--userns=%s: no free range of %u host %s ids left (other containers hold "
                                   "them; the pool is the `%s` entries of %s, else %u-%u)",
                                   mode, size, k ? "group" : "user", PIER_USERNS_SUBID_USER,
                                   k ? "/etc/subgid" : "/etc/subuid", PIER_USERNS_POOL_START,
                                   PIER_USERNS_POOL_END - 1);
        }
      cleanup_free char *m = xasprintf ("0:%u:%u", start, size);
      json_object_set_new (idm, k ? "GidMap" : "UidMap", json_pack ("[s]", m));
    }
  json_object_set_new (hc, "IDMappings", idm);
  return 0;
}
