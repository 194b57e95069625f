/* volumes.c - volumes of docker's local driver: create, inspect, select
 * (ls and prune), remove, and the file systems their options mount. */
#include "engine/volumes.h"
#include "engine/volumes_int.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <regex.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mount.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "store/db_volumes.h"
#include "util/cleanup.h"
#include "util/fs.h"
#include "util/json.h"
#include "util/xalloc.h"

#include "util/banned.h"

bool
pier_volume_name_valid (const char *name)
{
  static const char alnum[] = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
  if (name == NULL || name[0] == '\0' || name[1] == '\0' || strchr (alnum, name[0]) == NULL)
    return false;
  for (const char *p = name; *p; p++)
    if (strchr (alnum, *p) == NULL && *p != '_' && *p != '.' && *p != '-')
      return false;
  return true;
}

char *
pier_volume_random_name (void)
{
  unsigned char b[32];
  if (getrandom (b, sizeof b, 0) != sizeof b)
    abort ();
  char *hex = xmalloc (65);
  for (size_t i = 0; i < sizeof b; i++)
    snprintf (hex + 2 * i, 3, "%02x", b[i]);
  return hex;
}

char *
pier_volume_dir (const char *root, const char *name)
{
  return xasprintf ("%s/volumes/%s", root, name);
}

char *
pier_volume_data (const char *root, const char *name)
{
  return xasprintf ("%s/volumes/%s/_data", root, name);
}

/* ---------------------------------------------------------------- options */

static const struct
{
  const char *name;
  unsigned long set, clear;
} mount_flags[] = {
  { "ro", MS_RDONLY, 0 },           { "rw", 0, MS_RDONLY },
  { "nosuid", MS_NOSUID, 0 },       { "suid", 0, MS_NOSUID },
  { "nodev", MS_NODEV, 0 },         { "dev", 0, MS_NODEV },
  { "noexec", MS_NOEXEC, 0 },       { "exec", 0, MS_NOEXEC },
  { "sync", MS_SYNCHRONOUS, 0 },    { "async", 0, MS_SYNCHRONOUS },
  { "dirsync", MS_DIRSYNC, 0 },     { "noatime", MS_NOATIME, 0 },
  { "atime", 0, MS_NOATIME },       { "nodiratime", MS_NODIRATIME, 0 },
  { "diratime", 0, MS_NODIRATIME }, { "relatime", MS_RELATIME, 0 },
  { "norelatime", 0, MS_RELATIME }, { "strictatime", MS_STRICTATIME, 0 },
  { "bind", MS_BIND, 0 },           { "rbind", MS_BIND | MS_REC, 0 },
};

void
pier_volopts_clear (pier_volopts *o)
{
  free (o->data);
  memset (o, 0, sizeof *o);
}

int
pier_volopts_parse (json_t *opts, pier_volopts *o, pier_error **err)
{
  memset (o, 0, sizeof *o);
  if (opts == NULL || json_is_null (opts) || json_object_size (opts) == 0)
    return 0;
  if (!json_is_object (opts))
    return pier_error_makex (err, EINVAL, "volume options must be an object of strings");
  const char *k;
  json_t *v;
  json_object_foreach (opts, k, v)
  {
    if (!json_is_string (v))
      return pier_error_makex (err, EINVAL, "invalid option: %s (its value must be a string)", k);
    if (strcmp (k, "size") == 0)
      return pier_error_makex (err, EINVAL, "quota size requested but no quota support");
    if (strcmp (k, "type") != 0 && strcmp (k, "device") != 0 && strcmp (k, "o") != 0)
      return pier_error_makex (err, EINVAL, "invalid option: \"%s\"", k);
  }
  o->type = json_string_value (json_object_get (opts, "type"));
  o->device = json_string_value (json_object_get (opts, "device"));
  if (o->type == NULL || *o->type == '\0')
    return pier_error_makex (err, EINVAL, "missing required option: \"type\"");
  if (o->device == NULL || *o->device == '\0')
    return pier_error_makex (err, EINVAL, "missing required option: \"device\"");
  const char *ostr = json_string_value (json_object_get (opts, "o"));
  cleanup_free char *copy = xstrdup (ostr ? ostr : "");
  char *data = xstrdup ("");
  char *save = NULL;
  for (char *t = strtok_r (copy, ",", &save); t; t = strtok_r (NULL, ",", &save))
    {
      bool known = false;
      for (size_t i = 0; i < sizeof mount_flags / sizeof *mount_flags; i++)
        if (strcmp (t, mount_flags[i].name) == 0)
          {
            o->flags = (o->flags | mount_flags[i].set) & ~mount_flags[i].clear;
            known = true;
          }
      if (strcmp (t, "remount") == 0 || strcmp (t, "move") == 0)
        {
          free (data);
          pier_volopts_clear (o);
          return pier_error_makex (
              err, EINVAL, "invalid option: o=%s (`%s` is not a mount option a volume takes)", ostr, t);
        }
      if (!known)
        {
          char *n = xasprintf ("%s%s%s", data, *data ? "," : "", t);
          free (data);
          data = n;
        }
    }
  o->data = data;
  o->ro = (o->flags & MS_RDONLY) != 0;
  if (o->flags & MS_BIND)
    {
      o->bind = true;
      o->recursive = (o->flags & MS_REC) != 0;
      if (o->device[0] != '/')
        {
          pier_error_makex (err, EINVAL, "invalid option: device=%s (a bind device must be an absolute path)",
                            o->device);
          pier_volopts_clear (o);
          return -1;
        }
    }
  return 0;
}

/* ---------------------------------------------------------------- records */

/* docker's CreatedAt: RFC 3339 in the local zone, to the second. */
static void
format_created (int64_t ns, char *buf, size_t n)
{
  time_t t = (time_t) (ns / 1000000000);
  struct tm tm;
  localtime_r (&t, &tm);
  size_t l = strftime (buf, n, "%Y-%m-%dT%H:%M:%S", &tm);
  long off = tm.tm_gmtoff;
  if (off == 0)
    snprintf (buf + l, n - l, "Z");
  else
    snprintf (buf + l, n - l, "%c%02ld:%02ld", off < 0 ? '-' : '+', labs (off) / 3600,
              labs (off) % 3600 / 60);
}

static json_t *
load_or_null (const char *text)
{
  json_t *j = text ? json_loads (text, 0, NULL) : NULL;
  return j ? j : json_null ();
}

static json_t *
volume_object (const char *root, const pier_db_volume *v)
{
  char created[64];
  format_created (v->created, created, sizeof created);
  cleanup_free char *mp = pier_volume_data (root, v->name);
  return json_pack ("{s:s, s:s, s:o, s:s, s:s, s:o, s:s}", "CreatedAt", created, "Driver", v->driver,
                    "Labels", load_or_null (v->labels), "Mountpoint", mp, "Name", v->name, "Options",
                    load_or_null (v->options), "Scope", "local");
}

static int
check_labels (json_t *labels, pier_error **err)
{
  if (labels == NULL || json_is_null (labels))
    return 0;
  if (!json_is_object (labels))
    return pier_error_makex (err, EINVAL, "volume labels must be an object of strings");
  const char *k;
  json_t *v;
  json_object_foreach (labels, k, v) if (!json_is_string (v)) return pier_error_makex (
      err, EINVAL, "invalid label %s: its value must be a string", k);
  return 0;
}

int
pier_volume_ensure (const char *root, pier_db *db, const char *name, json_t *labels, json_t *opts,
                    bool anonymous, bool *created, pier_db_volume **out, pier_error **err)
{
  *created = false;
  if (!pier_volume_name_valid (name))
    return pier_error_makex (err, EINVAL,
                             "create %s: \"%s\" includes invalid characters for a local volume name, only "
                             "\"[a-zA-Z0-9][a-zA-Z0-9_.-]\" are allowed. If you intended to pass a host "
                             "directory, use absolute path",
                             name, name);
  pier_db_volume *v = NULL;
  pier_error *lerr = NULL;
  if (pier_db_volume_get (db, name, &v, &lerr) == 0)
    {
      pier_error_free (&lerr);
      if (out)
        *out = v;
      else
        pier_db_volume_free (v);
      return 0;
    }
  if (lerr->code != ENOENT)
    {
      *err = lerr;
      return -1;
    }
  pier_error_free (&lerr);
  pier_volopts o;
  if (check_labels (labels, err) < 0 || pier_volopts_parse (opts, &o, err) < 0)
    return pier_error_wrap (err, "create %s", name);
  pier_volopts_clear (&o);

  /* The directory first: a record is visible only once its directory is
   * there.  A directory left by a crash before its record is taken over. */
  cleanup_free char *vols = xasprintf ("%s/volumes", root);
  cleanup_free char *dir = pier_volume_dir (root, name);
  cleanup_free char *data = pier_volume_data (root, name);
  if (mkdir (vols, 0701) < 0 && errno != EEXIST)
    return pier_error_make (err, errno, "cannot create %s", vols);
  bool made_dir = mkdir (dir, 0701) == 0;
  if (!made_dir && errno != EEXIST)
    return pier_error_make (err, errno, "cannot create %s", dir);
  if (mkdir (data, 0755) < 0 && errno != EEXIST)
    {
      int e = errno;
      if (made_dir)
        pier_rmtree_at (AT_FDCWD, dir, NULL);
      return pier_error_make (err, e, "cannot create %s", data);
    }
  struct timespec now;
  clock_gettime (CLOCK_REALTIME, &now);
  cleanup_free char *ltext = labels && json_object_size (labels) ? pier_json_dump (labels, 0) : NULL;
  cleanup_free char *otext
      = opts && json_is_object (opts) && json_object_size (opts) ? pier_json_dump (opts, 0) : NULL;
  /* docker keeps an empty map given at create as {} (volume create) and
   * none as null (volumes made for containers). */
  if (ltext == NULL && json_is_object (labels))
    ltext = xstrdup ("{}");
  if (otext == NULL && json_is_object (opts))
    otext = xstrdup ("{}");
  pier_db_volume rec
      = { (char *) name, (char *) "local", (int64_t) now.tv_sec * 1000000000 + now.tv_nsec, anonymous, ltext,
          otext };
  if (pier_db_volume_add (db, &rec, err) < 0)
    {
      if ((*err)->code == EEXIST)
        {
          /* Another pier made it meanwhile: that one is ours too. */
          pier_error_free (err);
          if (pier_db_volume_get (db, name, &v, err) < 0)
            return -1;
          if (out)
            *out = v;
          else
            pier_db_volume_free (v);
          return 0;
        }
      if (made_dir)
        pier_rmtree_at (AT_FDCWD, dir, NULL);
      return -1;
    }
  *created = true;
  if (out && pier_db_volume_get (db, name, out, err) < 0)
    return -1;
  return 0;
}

int
pier_engine_volume_create (pier_engine *e, const char *name, const char *driver, json_t *labels, json_t *opts,
                           json_t **out, pier_error **err)
{
  cleanup_free char *gen = NULL;
  if (driver && *driver && strcmp (driver, "local") != 0)
    return pier_error_makex (
        err, ENOENT,
        "create %s: error looking up volume plugin %s: plugin \"%s\" not found (pier has "
        "only the local driver)",
        name && *name ? name : "", driver, driver);
  if (name == NULL || *name == '\0')
    name = gen = pier_volume_random_name ();
  pier_db *db = pier_store_db (e->st);
  pier_db_volume *v = NULL;
  bool created;
  cleanup_json json_t *l = labels ? json_incref (labels) : json_object ();
  cleanup_json json_t *o = opts ? json_incref (opts) : json_object ();
  if (pier_volume_ensure (e->root, db, name, l, o, false, &created, &v, err) < 0)
    return -1;
  *out = volume_object (e->root, v);
  pier_db_volume_free (v);
  return 0;
}

int
pier_engine_volume_inspect (pier_engine *e, const char *name, json_t **out, pier_error **err)
{
  pier_db_volume *v = NULL;
  if (pier_db_volume_get (pier_store_db (e->st), name, &v, err) < 0)
    return -1;
  *out = volume_object (e->root, v);
  pier_db_volume_free (v);
  return 0;
}

int
pier_volume_usage (pier_db *db, json_t **out, pier_error **err)
{
  pier_db_container *cs = NULL;
  size_t n = 0;
  if (pier_db_container_list (db, &cs, &n, err) < 0)
    return -1;
  json_t *map = json_object ();
  for (size_t i = 0; i < n; i++)
    {
      cleanup_json json_t *rec = json_loads (cs[i].config, 0, NULL);
      size_t k;
      json_t *m;
      json_array_foreach (json_object_get (rec, "MountPoints"), k, m)
      {
        const char *name = json_string_value (json_object_get (m, "Name"));
        if (name == NULL || strcmp (json_string_value (json_object_get (m, "Type")) ?: "", "volume") != 0)
          continue;
        json_t *ids = json_object_get (map, name);
        if (ids == NULL)
          json_object_set_new (map, name, ids = json_array ());
        bool seen = false;
        size_t j;
        json_t *x;
        json_array_foreach (ids, j, x) seen |= strcmp (json_string_value (x), cs[i].id) == 0;
        if (!seen)
          json_array_append_new (ids, json_string (cs[i].id));
      }
    }
  pier_db_containers_free (cs, n);
  *out = map;
  return 0;
}

/* ---------------------------------------------------------------- mounts */

static bool
is_mountpoint (const char *path)
{
  struct statx a, b;
  if (statx (AT_FDCWD, path, AT_SYMLINK_NOFOLLOW, STATX_BASIC_STATS, &a) < 0)
    return false;
#ifdef STATX_ATTR_MOUNT_ROOT
  if (a.stx_attributes_mask & STATX_ATTR_MOUNT_ROOT)
    return (a.stx_attributes & STATX_ATTR_MOUNT_ROOT) != 0;
#endif
  cleanup_free char *parent = xasprintf ("%s/..", path);
  if (statx (AT_FDCWD, parent, 0, STATX_BASIC_STATS, &b) < 0)
    return false;
  return a.stx_dev_major != b.stx_dev_major || a.stx_dev_minor != b.stx_dev_minor;
}

/* The host's mount namespace, kept by the monitor when a volume it may
 * have to remove itself (--rm of an anonymous volume with mount options)
 * is mounted there. */
static int host_mntns = -1;

int
pier_engine_mounts_attach (const char *root, pier_db *db, json_t *rec, pier_error **err)
{
  size_t i;
  json_t *m;
  json_array_foreach (json_object_get (rec, "MountPoints"), i, m)
  {
    const char *name = json_string_value (json_object_get (m, "Name"));
    if (name == NULL || strcmp (json_string_value (json_object_get (m, "Type")) ?: "", "volume") != 0)
      continue;
    pier_db_volume *v = NULL;
    if (pier_db_volume_get (db, name, &v, err) < 0)
      return pier_error_wrap (err, "volume of %s", json_string_value (json_object_get (m, "Destination")));
    cleanup_json json_t *opts = load_or_null (v->options);
    bool anon = v->anonymous;
    pier_db_volume_free (v);
    pier_volopts o;
    if (pier_volopts_parse (opts, &o, err) < 0)
      return pier_error_wrap (err, "volume %s", name);
    if (o.type == NULL || o.bind)
      {
        pier_volopts_clear (&o);
        continue;
      }
    cleanup_free char *dir = pier_volume_dir (root, name);
    cleanup_free char *data = pier_volume_data (root, name);
    cleanup_close int dfd = open (dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    /* One mount per volume, whichever container starts first. */
    if (dfd < 0 || flock (dfd, LOCK_EX) < 0)
      {
        pier_volopts_clear (&o);
        return pier_error_make (err, errno, "cannot lock volume %s", name);
      }
    int r = 0;
    if (!is_mountpoint (data) && mount (o.device, data, o.type, o.flags & ~(MS_BIND | MS_REC), o.data) < 0)
      r = pier_error_make (err, errno, "cannot mount volume %s (type=%s, device=%s, o=%s) on %s", name,
                           o.type, o.device, o.data, data);
    pier_volopts_clear (&o);
    if (r < 0)
      return -1;
    if (anon && host_mntns < 0)
      host_mntns = open ("/proc/self/ns/mnt", O_RDONLY | O_CLOEXEC);
  }
  return 0;
}

int
pier_volume_remove (const char *root, pier_db *db, const char *name, pier_error **err)
{
  cleanup_json json_t *usage = NULL;
  if (pier_db_begin (db, err) < 0)
    return -1;
  pier_db_volume *v = NULL;
  if (pier_db_volume_get (db, name, &v, err) < 0 || pier_volume_usage (db, &usage, err) < 0)
    {
      pier_db_rollback (db, NULL);
      return -1;
    }
  json_t *ids = json_object_get (usage, name);
  if (json_array_size (ids))
    {
      pier_db_rollback (db, NULL);
      pier_db_volume_free (v);
      cleanup_free char *list = xstrdup ("");
      size_t i;
      json_t *id;
      json_array_foreach (ids, i, id)
      {
        char *n = xasprintf ("%s%s%s", list, i ? ", " : "", json_string_value (id));
        free (list);
        list = n;
      }
      return pier_error_makex (err, EBUSY, "remove %s: volume is in use - [%s]", name, list);
    }
  pier_db_volume_free (v);
  if (pier_db_volume_delete (db, name, err) < 0 || pier_db_commit (db, err) < 0)
    {
      pier_db_rollback (db, NULL);
      return -1;
    }
  /* The record is gone: what is left on disk goes too. */
  cleanup_free char *dir = pier_volume_dir (root, name);
  cleanup_free char *data = pier_volume_data (root, name);
  if (is_mountpoint (data))
    {
      if (host_mntns >= 0)
        {
          /* The monitor (--rm), in a namespace of its own: the mount is
           * the host's. */
          if (setns (host_mntns, CLONE_NEWNS) == 0)
            {
              close (host_mntns);
              host_mntns = -1;
            }
        }
      if (umount2 (data, MNT_DETACH) < 0)
        return pier_error_make (err, errno, "volume %s removed, but its mount %s stays", name, data);
    }
  if (pier_rmtree_at (AT_FDCWD, dir, err) < 0)
    return pier_error_wrap (err, "volume %s removed, but not all of its data", name);
  return 0;
}

int
pier_engine_volume_remove (pier_engine *e, const char *name, bool force, pier_error **err)
{
  if (pier_volume_remove (e->root, pier_store_db (e->st), name, err) < 0)
    {
      if (force && (*err)->code == ENOENT)
        {
          pier_error_free (err);
          return 0;
        }
      return -1;
    }
  return 0;
}

int64_t
pier_engine_volume_size (pier_engine *e, const char *name)
{
  cleanup_free char *data = pier_volume_data (e->root, name);
  /* A bind volume's data is someone else's directory: docker counts it
   * too (it reports the size of what the volume shows). */
  pier_db_volume *v = NULL;
  if (pier_db_volume_get (pier_store_db (e->st), name, &v, NULL) == 0)
    {
      cleanup_json json_t *opts = load_or_null (v->options);
      pier_volopts o;
      if (pier_volopts_parse (opts, &o, NULL) == 0 && o.bind)
        {
          free (data);
          data = xstrdup (o.device);
        }
      if (o.type)
        pier_volopts_clear (&o);
      pier_db_volume_free (v);
    }
  int64_t total = 0;
  /* du: every file once (hard links), not crossing into other mounts
   * below the data. */
  cleanup_close int fd = open (data, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  struct stat top;
  if (fd < 0 || fstat (fd, &top) < 0)
    return 0;
  struct stack
  {
    int fd;
    DIR *d;
  } st[64];
  size_t depth = 0;
  st[0].fd = fd;
  st[0].d = fdopendir (fd);
  if (st[0].d == NULL)
    return 0;
  fd = -1; /* the DIR has it */
  depth = 1;
  while (depth)
    {
      struct dirent *de = readdir (st[depth - 1].d);
      if (de == NULL)
        {
          closedir (st[--depth].d);
          continue;
        }
      if (strcmp (de->d_name, ".") == 0 || strcmp (de->d_name, "..") == 0)
        continue;
      struct stat sb;
      int dfd = dirfd (st[depth - 1].d);
      if (fstatat (dfd, de->d_name, &sb, AT_SYMLINK_NOFOLLOW) < 0)
        continue;
      if (!S_ISDIR (sb.st_mode))
        {
          if (sb.st_nlink <= 1 || S_ISLNK (sb.st_mode))
            total += sb.st_size;
          else
            total += sb.st_size / (int64_t) sb.st_nlink; /* shared among its names */
          continue;
        }
      /* Another file system mounted below, or deeper than the count
       * goes (64 levels): not counted. */
      if (sb.st_dev != top.st_dev || depth == sizeof st / sizeof *st)
        continue;
      int sub = openat (dfd, de->d_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
      if (sub < 0)
        continue;
      DIR *d = fdopendir (sub);
      if (d == NULL)
        {
          close (sub);
          continue;
        }
      st[depth].fd = sub;
      st[depth].d = d;
      depth++;
    }
  return total;
}

/* ---------------------------------------------------------------- select */

struct vfilter
{
  char **name, **driver, **label, **nlabel;
  int dangling; /* -1 unset, 0 false, 1 true */
  int all;      /* prune's all= (-1 unset) */
};

static void
vfilter_free (struct vfilter *f)
{
  strv_free (f->name);
  strv_free (f->driver);
  strv_free (f->label);
  strv_free (f->nlabel);
}

static int
parse_bool_filter (const char *key, const char *v, int *out, pier_error **err)
{
  if (strcmp (v, "true") == 0 || strcmp (v, "1") == 0)
    *out = 1;
  else if (strcmp (v, "false") == 0 || strcmp (v, "0") == 0)
    *out = 0;
  else
    return pier_error_makex (err, EINVAL, "invalid filter '%s=%s'", key, v);
  return 0;
}

static int
parse_filters (char **filters, bool prune, struct vfilter *f, pier_error **err)
{
  memset (f, 0, sizeof *f);
  f->dangling = -1;
  f->all = -1;
  for (size_t i = 0; filters && filters[i]; i++)
    {
      const char *eq = strchr (filters[i], '=');
      if (eq == NULL)
        return pier_error_makex (err, EINVAL, "bad format of filter (expected name=value)");
      cleanup_free char *key = xstrndup (filters[i], (size_t) (eq - filters[i]));
      const char *v = eq + 1;
      /* label!=k: the key parses as "label!" */
      if (prune && strcmp (key, "label!") == 0)
        strv_push (&f->nlabel, v);
      else if (strcmp (key, "label") == 0)
        strv_push (&f->label, v);
      else if (!prune && strcmp (key, "name") == 0)
        strv_push (&f->name, v);
      else if (!prune && strcmp (key, "driver") == 0)
        strv_push (&f->driver, v);
      else if (!prune && strcmp (key, "dangling") == 0)
        {
          if (parse_bool_filter (key, v, &f->dangling, err) < 0)
            return -1;
        }
      else if (prune && strcmp (key, "all") == 0)
        {
          if (parse_bool_filter (key, v, &f->all, err) < 0)
            return -1;
        }
      else
        return pier_error_makex (err, EINVAL, "invalid filter '%s'", key);
    }
  return 0;
}

/* docker's label filter: "k" (present) or "k=v" (equal). */
static bool
label_match (json_t *labels, const char *spec)
{
  const char *eq = strchr (spec, '=');
  cleanup_free char *k = eq ? xstrndup (spec, (size_t) (eq - spec)) : xstrdup (spec);
  json_t *v = json_object_get (labels, k);
  if (v == NULL)
    return false;
  return eq == NULL || strcmp (json_string_value (v) ?: "", eq + 1) == 0;
}

/* docker's name filter: equal, or the value as a regular expression. */
static bool
name_match (const char *name, const char *pat)
{
  if (strcmp (name, pat) == 0)
    return true;
  regex_t re;
  if (regcomp (&re, pat, REG_EXTENDED | REG_NOSUB) != 0)
    return false;
  bool m = regexec (&re, name, 0, NULL, 0) == 0;
  regfree (&re);
  return m;
}

int
pier_engine_volume_select (pier_engine *e, char **filters, bool prune, bool all, json_t **out,
                           pier_error **err)
{
  struct vfilter f;
  pier_db *db = pier_store_db (e->st);
  if (parse_filters (filters, prune, &f, err) < 0)
    {
      vfilter_free (&f);
      return -1;
    }
  if (prune && f.all >= 0)
    all = f.all == 1;
  pier_db_volume *vs = NULL;
  size_t n = 0;
  cleanup_json json_t *usage = NULL;
  if (pier_volume_usage (db, &usage, err) < 0 || pier_db_volume_list (db, &vs, &n, err) < 0)
    {
      vfilter_free (&f);
      return -1;
    }
  json_t *arr = json_array ();
  for (size_t i = 0; i < n; i++)
    {
      size_t refs = json_array_size (json_object_get (usage, vs[i].name));
      cleanup_json json_t *labels = load_or_null (vs[i].labels);
      bool ok = true;
      if (prune)
        ok = refs == 0 && (all || vs[i].anonymous || json_object_get (labels, PIER_VOLUME_ANON_LABEL));
      if (f.dangling >= 0)
        ok &= (refs == 0) == (f.dangling == 1);
      if (f.name)
        {
          bool any = false;
          for (size_t k = 0; f.name[k]; k++)
            any |= name_match (vs[i].name, f.name[k]);
          ok &= any;
        }
      if (f.driver)
        {
          bool any = false;
          for (size_t k = 0; f.driver[k]; k++)
            any |= strcmp (vs[i].driver, f.driver[k]) == 0;
          ok &= any;
        }
      for (size_t k = 0; f.label && f.label[k]; k++)
        ok &= label_match (labels, f.label[k]);
      for (size_t k = 0; f.nlabel && f.nlabel[k]; k++)
        ok &= !label_match (labels, f.nlabel[k]);
      if (!ok)
        continue;
      json_t *o = volume_object (e->root, &vs[i]);
      json_object_set_new (o, "UsageData",
                           json_pack ("{s:I, s:I}", "RefCount", (json_int_t) refs, "Size", (json_int_t) -1));
      json_array_append_new (arr, o);
    }
  pier_db_volumes_free (vs, n);
  vfilter_free (&f);
  *out = arr;
  return 0;
}
