/* mounts.c - a container's mounts, docker's way: -v (HostConfig.Binds),
 * --mount (HostConfig.Mounts), --volumes-from and anonymous volumes
 * (Config.Volumes, the image's VOLUME) resolved at create; copy-up at the
 * first start; the OCI mounts at each start; anonymous volumes released
 * with the container. */
#include "engine/volumes.h"
#include "engine/volumes_int.h"
#include "engine/userns.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "store/db_volumes.h"
#include "util/cleanup.h"
#include "util/fs.h"
#include "util/json.h"
#include "util/units.h"
#include "util/xalloc.h"

#include "util/banned.h"

/* Go's filepath.Clean for an absolute path: one slash between names, no
 * "." and ".." resolved lexically. */
static char *
clean_path (const char *p)
{
  cleanup_strv char **parts = NULL;
  cleanup_free char *copy = xstrdup (p);
  char *save = NULL;
  for (char *t = strtok_r (copy, "/", &save); t; t = strtok_r (NULL, "/", &save))
    {
      if (strcmp (t, ".") == 0)
        continue;
      if (strcmp (t, "..") == 0)
        {
          size_t n = strv_len (parts);
          if (n)
            {
              free (parts[n - 1]);
              parts[n - 1] = NULL;
            }
          continue;
        }
      strv_push (&parts, t);
    }
  char *out = xstrdup ("");
  for (size_t i = 0; parts && parts[i]; i++)
    {
      char *n = xasprintf ("%s/%s", out, parts[i]);
      free (out);
      out = n;
    }
  if (*out == '\0')
    {
      free (out);
      out = xstrdup ("/");
    }
  return out;
}

static const char *
jstr (json_t *o, const char *k)
{
  return json_string_value (json_object_get (o, k));
}

static bool
is_propagation (const char *m)
{
  static const char *const p[] = { "shared", "rshared", "slave", "rslave", "private", "rprivate", NULL };
  for (size_t i = 0; p[i]; i++)
    if (strcmp (m, p[i]) == 0)
      return true;
  return false;
}

/* A mount point as the engine keeps it. */
static json_t *
mount_point (const char *type, const char *dest)
{
  return json_pack ("{s:s, s:s, s:s, s:s, s:b, s:s, s:b, s:b, s:b}", "Type", type, "Source", "",
                    "Destination", dest, "Mode", "", "RW", 1, "Propagation", "", "CopyData", 0, "Anonymous",
                    0, "Recursive", 1);
}

static int
check_target (const char *type, const char *target, pier_error **err)
{
  if (target == NULL || *target == '\0')
    return pier_error_makex (err, EINVAL,
                             "invalid mount config for type \"%s\": field Target must not be empty", type);
  if (target[0] != '/')
    return pier_error_makex (
        err, EINVAL,
        "invalid mount config for type \"%s\": invalid mount path: '%s' mount path must be "
        "absolute",
        type, target);
  cleanup_free char *c = clean_path (target);
  if (strcmp (c, "/") == 0)
    return pier_error_makex (
        err, EINVAL,
        "invalid mount config for type \"%s\": invalid specification: destination can't be "
        "'/'",
        type);
  /* /proc is the kernel's: only the files lxcfs-style tools replace may
   * be mounted over (runc's rule). */
  static const char *const proc_ok[]
      = { "/proc/cpuinfo", "/proc/diskstats", "/proc/meminfo",  "/proc/stat",    "/proc/swaps",
          "/proc/uptime",  "/proc/loadavg",   "/proc/slabinfo", "/proc/net/dev", NULL };
  if (strcmp (c, "/proc") == 0 || strncmp (c, "/proc/", 6) == 0)
    {
      for (size_t i = 0; proc_ok[i]; i++)
        if (strcmp (c, proc_ok[i]) == 0)
          return 0;
      return pier_error_makex (err, EINVAL,
                               "invalid mount config for type \"%s\": %s cannot be mounted: it is in "
                               "/proc",
                               type, c);
    }
  return 0;
}

/* -v / Binds: "dest", "src:dest" or "src:dest:mode". */
static int
parse_bind (const char *spec, json_t **out, pier_error **err)
{
  cleanup_strv char **parts = NULL;
  cleanup_free char *copy = xstrdup (spec);
  char *p = copy;
  for (;;)
    {
      char *c = strchr (p, ':');
      if (c)
        *c = '\0';
      strv_push (&parts, p);
      if (!c)
        break;
      p = c + 1;
    }
  size_t n = strv_len (parts);
  const char *src = NULL, *dst = NULL, *mode = "";
  if (n == 1)
    dst = parts[0];
  else if (n == 2)
    src = parts[0], dst = parts[1];
  else if (n == 3)
    src = parts[0], dst = parts[1], mode = parts[2];
  else
    return pier_error_makex (err, EINVAL, "invalid volume specification: '%s'", spec);
  if ((src && *src == '\0') || *dst == '\0')
    return pier_error_makex (err, EINVAL, "invalid volume specification: '%s'", spec);
  if (n == 2 && dst[0] != '/' && src[0] == '/')
    {
      /* "/foo:rw": a destination with a mode and no source. */
      return pier_error_makex (err, EINVAL, "invalid volume specification: '%s'", spec);
    }
  bool bind = src && src[0] == '/';
  const char *type = bind ? "bind" : "volume";
  if (check_target (type, dst, err) < 0)
    return pier_error_wrap (err, "invalid volume specification: '%s'", spec);
  if (src && !bind && !pier_volume_name_valid (src))
    return pier_error_makex (err, EINVAL,
                             "create %s: \"%s\" includes invalid characters for a local volume name, only "
                             "\"[a-zA-Z0-9][a-zA-Z0-9_.-]\" are allowed. If you intended to pass a host "
                             "directory, use absolute path",
                             src, src);
  /* The mode: at most one of each kind. */
  int rw = 0, label = 0, prop = 0, copy_kind = 0, consistency = 0, idmap = 0;
  bool ro = false, nocopy = false;
  const char *propagation = "";
  cleanup_free char *mcopy = xstrdup (mode);
  char *save = NULL;
  for (char *t = strtok_r (mcopy, ",", &save); t; t = strtok_r (NULL, ",", &save))
    {
      if (strcmp (t, "ro") == 0 || strcmp (t, "rw") == 0)
        rw++, ro = strcmp (t, "ro") == 0;
      else if (strcmp (t, "z") == 0 || strcmp (t, "Z") == 0)
        label++; /* SELinux relabeling: no SELinux here, as docker without it */
      else if (is_propagation (t))
        prop++, propagation = t;
      else if (strcmp (t, "nocopy") == 0 || strcmp (t, "copy") == 0)
        copy_kind++, nocopy = strcmp (t, "nocopy") == 0;
      else if (strcmp (t, "consistent") == 0 || strcmp (t, "cached") == 0 || strcmp (t, "delegated") == 0)
        consistency++;
      else if (strcmp (t, "idmap") == 0 && bind)
        idmap++;
      else
        return pier_error_makex (err, EINVAL, "invalid mode: %s", mode);
    }
  if (rw > 1 || label > 1 || prop > 1 || copy_kind > 1 || consistency > 1 || idmap > 1 || (prop && !bind)
      || (copy_kind && bind))
    return pier_error_makex (err, EINVAL, "invalid mode: %s", mode);
  cleanup_free char *cdst = clean_path (dst);
  json_t *m = mount_point (type, cdst);
  json_object_set_new (m, "RW", json_boolean (!ro));
  json_object_set_new (m, "Mode", json_string (*mode ? mode : (bind || !src ? "" : "z")));
  if (bind)
    {
      cleanup_free char *csrc = clean_path (src);
      json_object_set_new (m, "Source", json_string (csrc));
      json_object_set_new (m, "HostPath", json_string (csrc));
      json_object_set_new (m, "Propagation", json_string (*propagation ? propagation : "rprivate"));
      json_object_set_new (m, "_CreateHostPath", json_true ());
      if (idmap)
        json_object_set_new (m, "_Idmap", json_true ());
    }
  else
    {
      json_object_set_new (m, "Name", json_string (src ? src : ""));
      json_object_set_new (m, "Driver", json_string ("local"));
      json_object_set_new (m, "CopyData", json_boolean (!nocopy));
      json_object_set_new (m, "Anonymous", json_boolean (src == NULL));
    }
  *out = m;
  return 0;
}

/* --mount / HostConfig.Mounts: docker's API object. */
static int
parse_mount (json_t *spec, json_t **out, pier_error **err)
{
  const char *type = jstr (spec, "Type");
  const char *src = jstr (spec, "Source");
  const char *dst = jstr (spec, "Target");
  json_t *bo = json_object_get (spec, "BindOptions");
  json_t *vo = json_object_get (spec, "VolumeOptions");
  json_t *to = json_object_get (spec, "TmpfsOptions");
  bool ro = json_is_true (json_object_get (spec, "ReadOnly"));
  if (type == NULL || *type == '\0')
    return pier_error_makex (err, EINVAL, "invalid mount config: mount type unknown");
  if (strcmp (type, "bind") != 0 && strcmp (type, "volume") != 0 && strcmp (type, "tmpfs") != 0)
    return pier_error_makex (err, EINVAL,
                             "invalid mount config for type \"%s\": mount type unknown (pier takes "
                             "bind, volume and tmpfs)",
                             type);
  if (check_target (type, dst, err) < 0)
    return -1;
  static const struct
  {
    const char *key, *type;
  } only[] = { { "BindOptions", "bind" }, { "VolumeOptions", "volume" }, { "TmpfsOptions", "tmpfs" } };
  for (size_t i = 0; i < 3; i++)
    {
      json_t *o = json_object_get (spec, only[i].key);
      if (o && !json_is_null (o) && strcmp (type, only[i].type) != 0)
        return pier_error_makex (
            err, EINVAL, "invalid mount config for type \"%s\": %s must not be specified", type, only[i].key);
    }
  const char *cons = jstr (spec, "Consistency");
  if (cons && *cons && strcmp (cons, "default") != 0 && strcmp (cons, "consistent") != 0
      && strcmp (cons, "cached") != 0 && strcmp (cons, "delegated") != 0)
    return pier_error_makex (err, EINVAL, "invalid mount config for type \"%s\": invalid consistency: %s",
                             type, cons);
  cleanup_free char *cdst = clean_path (dst);
  json_t *m = mount_point (type, cdst);
  json_object_set_new (m, "RW", json_boolean (!ro));
  if (strcmp (type, "bind") == 0)
    {
      if (src == NULL || *src == '\0')
        {
          json_decref (m);
          return pier_error_makex (err, EINVAL,
                                   "invalid mount config for type \"bind\": field Source must not be "
                                   "empty");
        }
      if (src[0] != '/')
        {
          json_decref (m);
          return pier_error_makex (
              err, EINVAL,
              "invalid mount config for type \"bind\": invalid mount path: '%s' mount path "
              "must be absolute",
              src);
        }
      struct stat st;
      if (stat (src, &st) < 0)
        {
          json_decref (m);
          if (errno == ENOENT)
            return pier_error_makex (
                err, ENOENT, "invalid mount config for type \"bind\": bind source path does not exist: %s",
                src);
          return pier_error_make (err, errno, "invalid mount config for type \"bind\": %s", src);
        }
      const char *prop = jstr (bo, "Propagation");
      if (prop && *prop && !is_propagation (prop))
        {
          json_decref (m);
          return pier_error_makex (
              err, EINVAL, "invalid mount config for type \"bind\": invalid propagation mode: %s", prop);
        }
      if (json_is_true (json_object_get (bo, "CreateMountpoint")))
        json_object_set_new (m, "_CreateHostPath", json_true ());
      cleanup_free char *csrc = clean_path (src);
      json_object_set_new (m, "Source", json_string (csrc));
      json_object_set_new (m, "HostPath", json_string (csrc));
      json_object_set_new (m, "Propagation", json_string (prop && *prop ? prop : "rprivate"));
      if (json_is_true (json_object_get (bo, "NonRecursive")))
        json_object_set_new (m, "Recursive", json_false ());
    }
  else if (strcmp (type, "volume") == 0)
    {
      if (src && *src && !pier_volume_name_valid (src))
        {
          json_decref (m);
          return pier_error_makex (
              err, EINVAL,
              "create %s: \"%s\" includes invalid characters for a local volume name, only "
              "\"[a-zA-Z0-9][a-zA-Z0-9_.-]\" are allowed. If you intended to pass a host "
              "directory, use absolute path",
              src, src);
        }
      json_t *dc = json_object_get (vo, "DriverConfig");
      const char *drv = jstr (dc, "Name");
      if (drv && *drv && strcmp (drv, "local") != 0)
        {
          json_decref (m);
          return pier_error_makex (
              err, ENOENT,
              "error looking up volume plugin %s: plugin \"%s\" not found (pier has only the "
              "local driver)",
              drv, drv);
        }
      const char *sub = jstr (vo, "Subpath");
      if (sub && *sub)
        {
          json_decref (m);
          return pier_error_makex (err, ENOTSUP,
                                   "invalid mount config for type \"volume\": volume-subpath is not "
                                   "supported by pier");
        }
      json_object_set_new (m, "Name", json_string (src ? src : ""));
      json_object_set_new (m, "Driver", json_string ("local"));
      json_object_set_new (m, "CopyData", json_boolean (!json_is_true (json_object_get (vo, "NoCopy"))));
      json_object_set_new (m, "Anonymous", json_boolean (src == NULL || *src == '\0'));
      if (json_object_get (vo, "Labels"))
        json_object_set (m, "_Labels", json_object_get (vo, "Labels"));
      if (json_object_get (dc, "Options"))
        json_object_set (m, "_Options", json_object_get (dc, "Options"));
    }
  else
    {
      if (src && *src)
        {
          json_decref (m);
          return pier_error_makex (err, EINVAL,
                                   "invalid mount config for type \"tmpfs\": Source must not be "
                                   "specified");
        }
      json_int_t size = json_integer_value (json_object_get (to, "SizeBytes"));
      json_int_t mode = json_integer_value (json_object_get (to, "Mode"));
      if (size < 0)
        {
          json_decref (m);
          return pier_error_makex (err, EINVAL,
                                   "invalid mount config for type \"tmpfs\": invalid tmpfs size %lld",
                                   (long long) size);
        }
      cleanup_free char *data = xstrdup ("");
      if (size > 0)
        {
          free (data);
          data = xasprintf ("size=%lld", (long long) size);
        }
      if (mode > 0)
        {
          char *n = xasprintf ("%s%smode=%llo", data, *data ? "," : "", (unsigned long long) mode & 07777);
          free (data);
          data = n;
        }
      json_object_set_new (m, "_TmpfsData", json_string (data));
    }
  *out = m;
  return 0;
}

/* The mount point at dest in list, or NULL. */
static json_t *
find_dest (json_t *list, const char *dest)
{
  size_t i;
  json_t *m;
  json_array_foreach (list, i, m) if (strcmp (jstr (m, "Destination"), dest) == 0) return m;
  return NULL;
}

static int
volumes_from (pier_engine *e, const char *spec, json_t *list, pier_error **err)
{
  pier_db *db = pier_store_db (e->st);
  cleanup_free char *name = xstrdup (spec);
  char *mode = strchr (name, ':');
  if (mode)
    *mode++ = '\0';
  if (mode && strcmp (mode, "ro") != 0 && strcmp (mode, "rw") != 0)
    return pier_error_makex (err, EINVAL, "invalid mode: %s", mode);
  cleanup_free char *id = NULL;
  pier_db_container *c = NULL;
  if (pier_db_container_find (db, name, &id, err) < 0 || pier_db_container_get (db, id, &c, err) < 0)
    return -1;
  cleanup_json json_t *rec = json_loads (c->config, 0, NULL);
  pier_db_container_free (c);
  size_t i;
  json_t *m;
  json_array_foreach (json_object_get (rec, "MountPoints"), i, m)
  {
    if (strcmp (jstr (m, "Type"), "tmpfs") == 0)
      continue;
    json_t *copy = json_deep_copy (m);
    json_object_set_new (copy, "CopyData", json_false ());
    if (mode)
      {
        json_object_set_new (copy, "RW", json_boolean (strcmp (mode, "rw") == 0));
        json_object_set_new (copy, "Mode", json_string (mode));
      }
    json_t *old = find_dest (list, jstr (m, "Destination"));
    if (old)
      {
        /* The later --volumes-from wins at a destination. */
        size_t j;
        json_t *x;
        json_array_foreach (list, j, x) if (x == old)
        {
          json_array_remove (list, j);
          break;
        }
      }
    json_array_append_new (list, copy);
  }
  return 0;
}

/* mkdir -p of a host path; the directories made go to *undo ("d:path"),
 * outermost first. */
static int
make_host_path (const char *path, char ***undo, pier_error **err)
{
  struct stat st;
  if (stat (path, &st) == 0)
    return 0;
  cleanup_free char *p = xstrdup (path);
  for (char *s = p + 1;; s++)
    {
      if (*s != '/' && *s != '\0')
        continue;
      char c = *s;
      *s = '\0';
      if (mkdir (p, 0755) == 0)
        {
          cleanup_free char *u = xasprintf ("d:%s", p);
          strv_push (undo, u);
        }
      else if (errno != EEXIST)
        return pier_error_make (err, errno, "cannot create the host directory %s of a bind mount", p);
      *s = c;
      if (c == '\0')
        break;
    }
  return 0;
}

static int
cmp_dest (const void *a, const void *b)
{
  json_t *const *x = a, *const *y = b;
  return strcmp (jstr (*x, "Destination"), jstr (*y, "Destination"));
}

/* docker inspect's "Mounts" entry. */
static json_t *
mount_view (json_t *m)
{
  json_t *v = json_object ();
  const char *type = jstr (m, "Type");
  json_object_set_new (v, "Type", json_string (type));
  if (strcmp (type, "volume") == 0)
    json_object_set (v, "Name", json_object_get (m, "Name"));
  json_object_set (v, "Source", json_object_get (m, "Source"));
  json_object_set (v, "Destination", json_object_get (m, "Destination"));
  if (strcmp (type, "volume") == 0)
    json_object_set (v, "Driver", json_object_get (m, "Driver"));
  json_object_set (v, "Mode", json_object_get (m, "Mode"));
  json_object_set (v, "RW", json_object_get (m, "RW"));
  json_object_set (v, "Propagation", json_object_get (m, "Propagation"));
  return v;
}

int
pier_engine_mounts_resolve (pier_engine *e, json_t *rec, char ***undo, pier_error **err)
{
  json_t *cfg = json_object_get (rec, "Config");
  json_t *hc = json_object_get (rec, "HostConfig");
  pier_db *db = pier_store_db (e->st);
  cleanup_json json_t *list = json_array ();
  size_t i;
  json_t *v;

  /* --volumes-from first: the container's own mounts replace them. */
  json_array_foreach (json_object_get (hc, "VolumesFrom"), i, v)
  {
    if (!json_is_string (v) || volumes_from (e, json_string_value (v), list, err) < 0)
      return -1;
  }
  cleanup_json json_t *own = json_array ();
  json_array_foreach (json_object_get (hc, "Binds"), i, v)
  {
    json_t *m = NULL;
    if (!json_is_string (v) || parse_bind (json_string_value (v), &m, err) < 0)
      return json_is_string (v) ? -1 : pier_error_makex (err, EINVAL, "HostConfig.Binds must hold strings");
    json_array_append_new (own, m);
  }
  json_array_foreach (json_object_get (hc, "Mounts"), i, v)
  {
    json_t *m = NULL;
    if (parse_mount (v, &m, err) < 0)
      return -1;
    json_array_append_new (own, m);
  }
  json_array_foreach (own, i, v)
  {
    const char *d = jstr (v, "Destination");
    for (size_t k = 0; k < i; k++)
      if (strcmp (jstr (json_array_get (own, k), "Destination"), d) == 0)
        return pier_error_makex (err, EINVAL, "Duplicate mount point: %s", d);
    /* tmpfs given twice at one place (--tmpfs and --mount) */
    if (json_object_get (json_object_get (hc, "Tmpfs"), d))
      return pier_error_makex (err, EINVAL, "Duplicate mount point: %s", d);
    json_t *old = find_dest (list, d);
    if (old)
      {
        size_t j;
        json_t *x;
        json_array_foreach (list, j, x) if (x == old)
        {
          json_array_remove (list, j);
          break;
        }
      }
    json_array_append (list, v);
  }
  /* Anonymous volumes: -v /path and the image's VOLUME, where nothing
   * else is mounted. */
  const char *key;
  json_object_foreach (json_object_get (cfg, "Volumes"), key, v)
  {
    if (check_target ("volume", key, err) < 0)
      return -1;
    cleanup_free char *d = clean_path (key);
    if (find_dest (list, d) || json_object_get (json_object_get (hc, "Tmpfs"), d))
      continue;
    json_t *m = mount_point ("volume", d);
    json_object_set_new (m, "Name", json_string (""));
    json_object_set_new (m, "Driver", json_string ("local"));
    json_object_set_new (m, "CopyData", json_true ());
    json_object_set_new (m, "Anonymous", json_true ());
    json_array_append_new (list, m);
  }

  /* Everything is checked: now volumes and host directories are made. */
  json_array_foreach (list, i, v)
  {
    const char *type = jstr (v, "Type");
    if (strcmp (type, "bind") == 0 && json_is_true (json_object_get (v, "_CreateHostPath")))
      {
        if (make_host_path (jstr (v, "HostPath"), undo, err) < 0)
          return -1;
      }
    if (strcmp (type, "volume") != 0)
      continue;
    cleanup_free char *gen = NULL;
    const char *name = jstr (v, "Name");
    bool anon = name == NULL || *name == '\0';
    if (anon)
      name = gen = pier_volume_random_name ();
    cleanup_json json_t *labels = json_object ();
    if (json_is_object (json_object_get (v, "_Labels")))
      json_object_update (labels, json_object_get (v, "_Labels"));
    if (anon)
      json_object_set_new (labels, PIER_VOLUME_ANON_LABEL, json_string (""));
    json_t *opts = json_object_get (v, "_Options");
    bool created = false;
    pier_db_volume *vol = NULL;
    if (pier_volume_ensure (e->root, db, name, json_object_size (labels) ? labels : NULL, opts, anon,
                            &created, &vol, err)
        < 0)
      return -1;
    if (created)
      {
        cleanup_free char *u = xasprintf ("v:%s", name);
        strv_push (undo, u);
      }
    cleanup_json json_t *vopts = vol->options ? json_loads (vol->options, 0, NULL) : NULL;
    pier_db_volume_free (vol);
    pier_volopts o;
    if (pier_volopts_parse (vopts, &o, err) < 0)
      return pier_error_wrap (err, "volume %s", name);
    cleanup_free char *data = pier_volume_data (e->root, name);
    json_object_set_new (v, "Name", json_string (name));
    json_object_set_new (v, "Source", json_string (data));
    json_object_set_new (v, "HostPath", json_string (o.bind ? o.device : data));
    if (o.bind && !o.recursive)
      json_object_set_new (v, "Recursive", json_false ());
    if (o.ro)
      json_object_set_new (v, "RW", json_false ());
    pier_volopts_clear (&o);
  }
  /* Parents first in inspect, and what is private stays out of it. */
  size_t n = json_array_size (list);
  json_t **sorted = xmalloc ((n ? n : 1) * sizeof *sorted);
  for (size_t k = 0; k < n; k++)
    sorted[k] = json_array_get (list, k);
  qsort (sorted, n, sizeof *sorted, cmp_dest);
  json_t *mps = json_array (), *views = json_array ();
  for (size_t k = 0; k < n; k++)
    {
      json_t *m = json_deep_copy (sorted[k]);
      json_object_del (m, "_Labels");
      json_object_del (m, "_Options");
      json_object_del (m, "_CreateHostPath");
      json_array_append_new (views, mount_view (m));
      json_array_append_new (mps, m);
    }
  free (sorted);
  json_object_set_new (rec, "MountPoints", mps);
  json_object_set_new (rec, "Mounts", views);
  return 0;
}

void
pier_engine_mounts_undo (pier_engine *e, char **undo)
{
  size_t n = strv_len (undo);
  for (size_t i = n; i > 0; i--)
    {
      const char *u = undo[i - 1];
      if (strncmp (u, "v:", 2) == 0)
        pier_volume_remove (e->root, pier_store_db (e->st), u + 2, NULL);
      else if (strncmp (u, "d:", 2) == 0)
        rmdir (u + 2);
    }
}

int
pier_engine_mounts_verify (pier_engine *e, json_t *rec, pier_error **err)
{
  size_t i;
  json_t *m;
  json_array_foreach (json_object_get (rec, "MountPoints"), i, m)
  {
    if (strcmp (jstr (m, "Type"), "volume") != 0)
      continue;
    pier_db_volume *v = NULL;
    if (pier_db_volume_get (pier_store_db (e->st), jstr (m, "Name"), &v, err) < 0)
      return pier_error_wrap (err, "the volume of %s was removed meanwhile", jstr (m, "Destination"));
    pier_db_volume_free (v);
  }
  return 0;
}

/* ---------------------------------------------------------------- start */

int
pier_engine_mounts_populate (const char *root, pier_db *db, json_t *rec, pier_error **err)
{
  json_t *mps = json_object_get (rec, "MountPoints");
  bool any = false;
  size_t i;
  json_t *m;
  json_array_foreach (mps, i, m) any |= json_is_true (json_object_get (m, "CopyData"));
  if (!any)
    return 0;
  const char *id = jstr (rec, "Id");
  cleanup_free char *rootfs = xasprintf ("%s/containers/%s/rootfs", root, id);
  cleanup_close int rootfd = open (rootfs, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (rootfd < 0)
    return pier_error_make (err, errno, "cannot open %s", rootfs);
  json_array_foreach (mps, i, m)
  {
    if (!json_is_true (json_object_get (m, "CopyData")))
      continue;
    const char *dest = jstr (m, "Destination");
    const char *host = jstr (m, "HostPath");
    /* Containers starting together fill a volume once: the first under
     * the lock, the others then find it full.  (The lock goes with the
     * fd, at the end of this iteration.) */
    cleanup_free char *vdir = pier_volume_dir (root, jstr (m, "Name"));
    cleanup_close int lock = open (vdir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (lock < 0 || flock (lock, LOCK_EX) < 0)
      return pier_error_make (err, errno, "cannot lock volume %s", jstr (m, "Name"));
    cleanup_close int dst = open (host, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dst < 0)
      return pier_error_make (err, errno, "volume %s: cannot open its data %s", jstr (m, "Name"), host);
    /* docker fills only an empty volume. */
    pier_error *lerr = NULL;
    if (pier_dir_check_empty (dst, "the volume", &lerr) < 0)
      {
        pier_error_free (&lerr);
        continue;
      }
    /* Inside the root: a symlink in the image cannot lead out of it. */
    cleanup_close int src = pier_open_in_root (rootfd, dest, O_RDONLY | O_DIRECTORY, 0, &lerr);
    if (src < 0)
      {
        int code = lerr->code;
        pier_error_free (&lerr);
        if (code == ENOENT || code == ENOTDIR)
          continue;
        return pier_error_makex (err, code, "cannot open %s in the container's root to fill volume %s", dest,
                                 jstr (m, "Name"));
      }
    if (pier_copy_up (src, dst, err) < 0)
      return pier_error_wrap (err, "cannot fill volume %s with the image's %s", jstr (m, "Name"), dest);
  }
  /* Once, as docker does it at create. */
  json_array_foreach (mps, i, m) json_object_set_new (m, "CopyData", json_false ());
  cleanup_free char *text = pier_json_dump (rec, 0);
  return pier_db_container_set_config (db, id, text, err);
}

static size_t
depth (const char *p)
{
  size_t n = 0;
  for (; *p; p++)
    n += *p == '/';
  return n;
}

static json_t *
oci_mount (json_t *m, json_t *hc)
{
  const char *type = jstr (m, "Type");
  json_t *opts = json_array ();
  json_t *o;
  bool rw = json_is_true (json_object_get (m, "RW"));
  if (strcmp (type, "tmpfs") == 0)
    {
      json_array_append_new (opts, json_string ("noexec"));
      json_array_append_new (opts, json_string ("nosuid"));
      json_array_append_new (opts, json_string ("nodev"));
      cleanup_free char *data = xstrdup (jstr (m, "_TmpfsData") ?: "");
      char *save = NULL;
      for (char *t = strtok_r (data, ",", &save); t; t = strtok_r (NULL, ",", &save))
        json_array_append_new (opts, json_string (t));
      if (!rw)
        json_array_append_new (opts, json_string ("ro"));
      o = json_pack ("{s:s, s:s, s:s, s:o}", "destination", jstr (m, "Destination"), "type", "tmpfs",
                     "source", "tmpfs", "options", opts);
      return o;
    }
  json_array_append_new (opts,
                         json_string (json_is_false (json_object_get (m, "Recursive")) ? "bind" : "rbind"));
  const char *prop = jstr (m, "Propagation");
  json_array_append_new (opts, json_string (prop && *prop ? prop : "rprivate"));
  if (!rw)
    json_array_append_new (opts, json_string ("ro"));
  o = json_pack ("{s:s, s:s, s:s, s:o}", "destination", jstr (m, "Destination"), "type", "bind", "source",
                 jstr (m, "HostPath"), "options", opts);
  /* In a user namespace a volume is the container root's (what uid 0
   * owns on disk), as a host path is with podman's `idmap` option. */
  if (pier_engine_userns_enabled (hc)
      && (strcmp (type, "volume") == 0 || json_is_true (json_object_get (m, "_Idmap"))))
    {
      json_array_append_new (opts, json_string ("idmap"));
      json_object_set_new (o, "uidMappings", pier_engine_userns_oci_maps (hc, false));
      json_object_set_new (o, "gidMappings", pier_engine_userns_oci_maps (hc, true));
    }
  return o;
}

int
pier_engine_mounts_oci (json_t *rec, json_t *mounts, pier_error **err)
{
  json_t *mps = json_object_get (rec, "MountPoints");
  (void) err;
  if (json_array_size (mps) == 0)
    return 0;
  size_t i;
  json_t *m;
  json_array_foreach (mps, i, m)
  {
    /* A user mount replaces a default one at the same place. */
    for (size_t k = json_array_size (mounts); k > 0; k--)
      if (strcmp (jstr (json_array_get (mounts, k - 1), "destination") ?: "", jstr (m, "Destination")) == 0)
        json_array_remove (mounts, k - 1);
    json_array_append_new (mounts, oci_mount (m, json_object_get (rec, "HostConfig")));
  }
  /* Parents before what is mounted in them (a stable sort by depth):
   * /etc/hosts goes on a volume at /etc, not under it. */
  size_t n = json_array_size (mounts);
  json_t **a = xmalloc (n * sizeof *a);
  for (size_t k = 0; k < n; k++)
    a[k] = json_incref (json_array_get (mounts, k));
  for (size_t k = 1; k < n; k++)
    {
      json_t *x = a[k];
      size_t dx = depth (jstr (x, "destination") ?: "");
      size_t j = k;
      while (j > 0 && depth (jstr (a[j - 1], "destination") ?: "") > dx)
        {
          a[j] = a[j - 1];
          j--;
        }
      a[j] = x;
    }
  json_array_clear (mounts);
  for (size_t k = 0; k < n; k++)
    json_array_append_new (mounts, a[k]);
  free (a);
  return 0;
}

int
pier_engine_mounts_release (const char *root, pier_db *db, json_t *rec, pier_error **err)
{
  int r = 0;
  size_t i;
  json_t *m;
  json_array_foreach (json_object_get (rec, "MountPoints"), i, m)
  {
    if (strcmp (jstr (m, "Type"), "volume") != 0 || !json_is_true (json_object_get (m, "Anonymous")))
      continue;
    pier_error *lerr = NULL;
    if (pier_volume_remove (root, db, jstr (m, "Name"), &lerr) < 0)
      {
        /* Used by another container (--volumes-from), or gone already:
         * not an error, as docker. */
        if (lerr->code == EBUSY || lerr->code == ENOENT)
          pier_error_free (&lerr);
        else if (r == 0)
          {
            *err = lerr;
            r = -1;
          }
        else
          pier_error_free (&lerr);
      }
  }
  return r;
}
