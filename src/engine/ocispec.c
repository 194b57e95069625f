/* ocispec.c - a container's root filesystem (overlay of the image's
 * layers under its own upper layer) and its OCI config.json, made from
 * the image config and docker's flags as docker makes them. */
#include "engine/internal.h"
#include "engine/profile.h"
#include "engine/userns.h"
#include "engine/volumes.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "util/cleanup.h"
#include "util/fs.h"
#include "util/json.h"
#include "util/xalloc.h"

#include "util/banned.h"

#ifndef SYS_fsopen
#define SYS_fsopen 430
#define SYS_fsconfig 431
#define SYS_fsmount 432
#endif
#ifndef SYS_move_mount
#define SYS_move_mount 429
#endif
#ifndef SYS_open_tree
#define SYS_open_tree 428
#endif
#ifndef SYS_mount_setattr
#define SYS_mount_setattr 442
#endif
#define PIER_FSCONFIG_SET_STRING 1
#define PIER_FSCONFIG_CMD_CREATE 6
#define PIER_MOVE_MOUNT_F_EMPTY_PATH 0x4
#define PIER_OPEN_TREE_CLONE 1
#define PIER_MOUNT_ATTR_IDMAP 0x00100000

/* Who the overlay's creator is: overlay does its work in the upper layer
 * (its work directory, copy-up, whiteouts) with the credentials of the
 * process that made it.  Through an idmapped upper layer those ids must
 * be mapped: the creator is then the container's root as the host sees
 * it (host root is not mapped), with its capabilities kept. */
struct creator
{
  uid_t uid;
  gid_t gid;
};

static void
creator_enter (const struct creator *c)
{
  if (c)
    pier_engine_fsids_enter (c->uid, c->gid);
}

static void
creator_leave (const struct creator *c)
{
  if (c)
    pier_engine_fsids_leave ();
}

/* The fs context's own messages say which layer the kernel refused. */
static int
fs_fail (int fs, const char *what, pier_error **err)
{
  int saved = errno;
  char buf[512] = "";
  ssize_t n = read (fs, buf, sizeof buf - 1);
  if (n > 2)
    {
      buf[n] = '\0';
      buf[strcspn (buf, "\n")] = '\0';
      return pier_error_makex (err, saved, "cannot mount the container's root: %s: %s", what, buf + 2);
    }
  errno = saved;
  return pier_error_make (err, saved, "cannot mount the container's root: %s", what);
}

/* Legacy overlay mount for kernels before "lowerdir+" (6.8): paths
 * relative to the layers directory keep the option string short. */
static int
mount_legacy (const char *layers, char **lowers, const char *upper, const char *work, const char *target,
              bool plain, const struct creator *cr, pier_error **err)
{
  cleanup_free char *opt = xstrdup ("lowerdir=");
  for (size_t i = 0; lowers[i]; i++)
    {
      const char *rel
          = strncmp (lowers[i], layers, strlen (layers)) == 0 ? lowers[i] + strlen (layers) + 1 : lowers[i];
      char *n = xasprintf ("%s%s%s", opt, i ? ":" : "", rel);
      free (opt);
      opt = n;
    }
  char *n = upper ? xasprintf ("%s,upperdir=%s,workdir=%s%s", opt, upper, work,
                               plain ? ",redirect_dir=off,metacopy=off,index=off" : "")
                  : xstrdup (opt);
  free (opt);
  opt = n;
  if (strlen (opt) >= 4096)
    return pier_error_makex (err, E2BIG,
                             "cannot mount the container's root: too many layers for this kernel");
  cleanup_close int cwd = open (".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (chdir (layers) < 0)
    return pier_error_make (err, errno, "cannot enter %s", layers);
  creator_enter (cr);
  int r = mount ("overlay", target, "overlay", upper ? 0 : MS_RDONLY, opt);
  creator_leave (cr);
  int saved = errno;
  if (cwd >= 0 && fchdir (cwd) < 0)
    (void) 0;
  if (r < 0)
    return pier_error_make (err, saved, "cannot mount the container's root on %s", target);
  return 0;
}

/* An overlay of lw (paths, top first) on target; with upper (and work)
 * writable, else read-only.  The new mount API first, the option string
 * for kernels before "lowerdir+". */
static int
overlay_create (int fs, char **lw, const char *upper, const char *work, bool plain, pier_error **err)
{
  for (size_t i = 0; lw[i]; i++)
    if (syscall (SYS_fsconfig, fs, PIER_FSCONFIG_SET_STRING, "lowerdir+", lw[i], 0) < 0)
      {
        if (errno == EINVAL && i == 0)
          return 1;
        return fs_fail (fs, lw[i], err);
      }
  if (upper && syscall (SYS_fsconfig, fs, PIER_FSCONFIG_SET_STRING, "upperdir", upper, 0) < 0)
    return fs_fail (fs, upper, err);
  if (upper && syscall (SYS_fsconfig, fs, PIER_FSCONFIG_SET_STRING, "workdir", work, 0) < 0)
    return fs_fail (fs, work, err);
  /* An upper layer that becomes an image layer must hold whole files and
   * directories: no metadata-only copy-up, no renamed-directory redirects
   * pointing into the layers below. */
  if (plain
      && (syscall (SYS_fsconfig, fs, PIER_FSCONFIG_SET_STRING, "redirect_dir", "off", 0) < 0
          || syscall (SYS_fsconfig, fs, PIER_FSCONFIG_SET_STRING, "metacopy", "off", 0) < 0
          || syscall (SYS_fsconfig, fs, PIER_FSCONFIG_SET_STRING, "index", "off", 0) < 0))
    return fs_fail (fs, "options", err);
  if (syscall (SYS_fsconfig, fs, PIER_FSCONFIG_CMD_CREATE, NULL, NULL, 0) < 0)
    return fs_fail (fs, "create", err);
  return 0;
}

static int
overlay_mount (const char *layers, char **lw, const char *upper, const char *work, const char *target,
               bool plain, const struct creator *cr, pier_error **err)
{
  creator_enter (cr);
  cleanup_close int fs = (int) syscall (SYS_fsopen, "overlay", 1);
  int r = fs < 0 ? 1 : overlay_create (fs, lw, upper, work, plain, err);
  creator_leave (cr);
  if (r > 0)
    return mount_legacy (layers, lw, upper, work, target, plain, cr, err);
  if (r < 0)
    return -1;
  /* Without an upper layer the mount is read-only (MOUNT_ATTR_RDONLY). */
  cleanup_close int mnt = (int) syscall (SYS_fsmount, fs, 1, upper ? 0 : 1);
  if (mnt < 0)
    return fs_fail (fs, "fsmount", err);
  if (syscall (SYS_move_mount, mnt, "", AT_FDCWD, target, PIER_MOVE_MOUNT_F_EMPTY_PATH) < 0)
    return pier_error_make (err, errno, "cannot mount the container's root on %s", target);
  return 0;
}

/* An idmapped bind of src (to the user namespace userns_fd) on dst. */
static int
idmap_over (const char *src, const char *dst, int userns_fd, pier_error **err)
{
  struct
  {
    uint64_t attr_set, attr_clr, propagation, userns_fd;
  } a = { PIER_MOUNT_ATTR_IDMAP, 0, 0, (uint64_t) userns_fd };
  cleanup_close int tree = (int) syscall (SYS_open_tree, AT_FDCWD, src, PIER_OPEN_TREE_CLONE | O_CLOEXEC);
  if (tree < 0)
    return pier_error_make (err, errno, "cannot clone the mount of %s", src);
  if (syscall (SYS_mount_setattr, tree, "", AT_EMPTY_PATH, &a, sizeof a) < 0)
    return pier_error_make (err, errno, "cannot idmap %s (the kernel or its filesystem cannot)", src);
  if (syscall (SYS_move_mount, tree, "", AT_FDCWD, dst, PIER_MOVE_MOUNT_F_EMPTY_PATH) < 0)
    return pier_error_make (err, errno, "cannot mount the idmapped %s on %s", src, dst);
  return 0;
}

static int mount_overlay (const char *root, const char *const *chains, const char *dir, bool plain,
                          int userns_fd, const struct creator *cr, pier_error **err);

int
pier_engine_mount_rootfs (const char *root, json_t *rec, pier_db *db, int userns_fd, pier_error **err)
{
  const char *id = json_string_value (json_object_get (rec, "Id"));
  const char *image = json_string_value (json_object_get (rec, "Image"));
  pier_db_image *img = NULL;
  if (pier_db_get_image (db, image, &img, err) < 0)
    return pier_error_wrap (err, "the container's image %s", image);
  cleanup_free char *dir = xasprintf ("%s/containers/%s", root, id);
  cleanup_strv char **chains = NULL;
  for (size_t i = 0; i < img->n_layers; i++)
    strv_push (&chains, img->layers[i].chain_id);
  pier_db_image_free (img);
  if (userns_fd < 0)
    return pier_engine_mount_overlay (root, (const char *const *) chains, dir, false, err);
  uid_t uid;
  gid_t gid;
  pier_engine_userns_root (json_object_get (rec, "HostConfig"), &uid, &gid);
  struct creator cr = { uid, gid };
  return mount_overlay (root, (const char *const *) chains, dir, false, userns_fd, &cr, err);
}

int
pier_engine_mount_overlay (const char *root, const char *const *chains, const char *dir, bool plain,
                           pier_error **err)
{
  return mount_overlay (root, chains, dir, plain, -1, NULL, err);
}

static int
mount_overlay (const char *root, const char *const *chains, const char *dir, bool plain, int userns_fd,
               const struct creator *cr, pier_error **err)
{
  cleanup_free char *layers = xasprintf ("%s/layers", root);
  cleanup_free char *upper = xasprintf ("%s/upper", dir);
  cleanup_free char *work = xasprintf ("%s/work", dir);
  cleanup_free char *target = xasprintf ("%s/rootfs", dir);
  char **lowers = NULL;
  size_t n = chains ? strv_len ((char *const *) chains) : 0;
  /* overlay wants the top layer first. */
  for (size_t i = n; i > 0; i--)
    {
      cleanup_free char *l = xasprintf ("%s/%s", layers, chains[i - 1] + 7);
      strv_push (&lowers, l);
    }
  if (lowers == NULL)
    {
      /* An image without layers (FROM scratch, nothing added). */
      cleanup_free char *empty = xasprintf ("%s/empty", dir);
      if (mkdir (empty, 0755) < 0 && errno != EEXIST)
        return pier_error_make (err, errno, "cannot create %s", empty);
      strv_push (&lowers, empty);
    }
  cleanup_strv char **lw = lowers;
  if (userns_fd >= 0)
    {
      /* Each lower layer idmapped over its own path; upper and work, which
       * overlay wants on one mount, through one idmapped bind of the
       * container's directory put on its work/ (so <dir>/work/upper and
       * <dir>/work/work).  Not on rootfs/: the overlay on that bind's
       * root would make the directory itself a mount point, which no
       * rename may move (pier rm). */
      cleanup_free char *stage = xasprintf ("%s/work", dir);
      for (size_t i = 0; lw[i]; i++)
        if (idmap_over (lw[i], lw[i], userns_fd, err) < 0)
          return -1;
      if (idmap_over (dir, stage, userns_fd, err) < 0)
        return -1;
      free (upper);
      free (work);
      upper = xasprintf ("%s/upper", stage);
      work = xasprintf ("%s/work", stage);
    }
  return overlay_mount (layers, lw, upper, work, target, plain, cr, err);
}

int
pier_engine_mount_lowers (const char *root, const char *top, const char *const *chains, const char *target,
                          pier_error **err)
{
  cleanup_free char *layers = xasprintf ("%s/layers", root);
  cleanup_strv char **lw = NULL;
  if (top)
    strv_push (&lw, top);
  for (size_t i = chains ? strv_len ((char *const *) chains) : 0; i > 0; i--)
    {
      cleanup_free char *l = xasprintf ("%s/%s", layers, chains[i - 1] + 7);
      strv_push (&lw, l);
    }
  size_t n = lw ? strv_len (lw) : 0;
  if (n == 0)
    return 0;
  if (n == 1)
    {
      /* overlay wants two lower layers when it has no upper one. */
      if (mount (lw[0], target, NULL, MS_BIND, NULL) < 0
          || mount (NULL, target, NULL, MS_BIND | MS_REMOUNT | MS_RDONLY, NULL) < 0)
        return pier_error_make (err, errno, "cannot mount %s on %s", lw[0], target);
      return 0;
    }
  return overlay_mount (layers, lw, NULL, NULL, target, false, NULL, err);
}

/* ---------------------------------------------------------------- users */

static bool
all_digits (const char *s)
{
  return *s && strspn (s, "0123456789") == strlen (s);
}

/* The fields of the line of an /etc/passwd-style file whose field 0 is
 * name (or field 2 is the number, when byid). */
static char **
find_entry (int rootfd, const char *file, const char *key, bool byid)
{
  cleanup_close int fd = pier_open_in_root (rootfd, file, O_RDONLY, 0, NULL);
  cleanup_free char *text = NULL;
  size_t len;
  if (fd < 0 || pier_read_fd (fd, file, &text, &len, NULL) < 0)
    return NULL;
  char *save = NULL;
  for (char *line = strtok_r (text, "\n", &save); line; line = strtok_r (NULL, "\n", &save))
    {
      char **f = NULL;
      char *p = line;
      for (;;)
        {
          char *c = strchr (p, ':');
          if (c)
            *c = '\0';
          strv_push (&f, p);
          if (!c)
            break;
          p = c + 1;
        }
      if (strv_len (f) >= 3 && strcmp (f[byid ? 2 : 0], key) == 0)
        return f;
      strv_free (f);
    }
  return NULL;
}

static bool
member_of (const char *list, const char *user)
{
  cleanup_free char *copy = xstrdup (list);
  char *save = NULL;
  for (char *m = strtok_r (copy, ",", &save); m; m = strtok_r (NULL, ",", &save))
    if (strcmp (m, user) == 0)
      return true;
  return false;
}

/* docker's user resolution: "user[:group]", names looked up in the
 * container's /etc/passwd and /etc/group, numbers taken as they are. */
int
pier_engine_resolve_user (int rootfd, const char *spec, json_t *groups_add, json_t *user_out, char **home,
                          pier_error **err)
{
  cleanup_free char *copy = xstrdup (spec && *spec ? spec : "0");
  char *group = strchr (copy, ':');
  if (group)
    *group++ = '\0';
  const char *user = *copy ? copy : "0";
  long uid, gid = 0;
  cleanup_strv char **pw = find_entry (rootfd, "/etc/passwd", user, all_digits (user));
  if (home)
    *home = xstrdup (pw && strv_len (pw) > 5 && *pw[5] ? pw[5] : "/");
  if (pw)
    {
      uid = strtol (pw[2], NULL, 10);
      gid = strv_len (pw) > 3 ? strtol (pw[3], NULL, 10) : 0;
    }
  else if (all_digits (user))
    uid = strtol (user, NULL, 10);
  else
    return pier_error_makex (err, ENOENT, "unable to find user %s: no matching entries in passwd file", user);
  if (group && *group)
    {
      cleanup_strv char **gr = find_entry (rootfd, "/etc/group", group, all_digits (group));
      if (gr)
        gid = strtol (gr[2], NULL, 10);
      else if (all_digits (group))
        gid = strtol (group, NULL, 10);
      else
        return pier_error_makex (err, ENOENT, "unable to find group %s: no matching entries in group file",
                                 group);
    }
  json_t *extra = json_array ();
  /* The supplementary groups /etc/group gives the user (by name). */
  if (pw)
    {
      cleanup_close int fd = pier_open_in_root (rootfd, "/etc/group", O_RDONLY, 0, NULL);
      cleanup_free char *text = NULL;
      size_t len;
      if (fd >= 0 && pier_read_fd (fd, "/etc/group", &text, &len, NULL) == 0)
        {
          char *save = NULL;
          for (char *line = strtok_r (text, "\n", &save); line; line = strtok_r (NULL, "\n", &save))
            {
              char *f[4] = { line, NULL, NULL, NULL };
              for (int k = 1; k < 4; k++)
                {
                  char *c = f[k - 1] ? strchr (f[k - 1], ':') : NULL;
                  if (c)
                    *c = '\0', f[k] = c + 1;
                }
              if (f[3] && member_of (f[3], pw[0]))
                {
                  long g = strtol (f[2], NULL, 10);
                  if (g != gid)
                    json_array_append_new (extra, json_integer (g));
                }
            }
        }
    }
  size_t i;
  json_t *v;
  json_array_foreach (groups_add, i, v)
  {
    const char *g = json_string_value (v);
    if (g == NULL)
      continue;
    cleanup_strv char **gr = find_entry (rootfd, "/etc/group", g, all_digits (g));
    if (gr)
      json_array_append_new (extra, json_integer (strtol (gr[2], NULL, 10)));
    else if (all_digits (g))
      json_array_append_new (extra, json_integer (strtol (g, NULL, 10)));
    else
      {
        json_decref (extra);
        return pier_error_makex (err, ENOENT, "unable to find group %s: no matching entries in group file",
                                 g);
      }
  }
  json_object_set_new (user_out, "uid", json_integer (uid));
  json_object_set_new (user_out, "gid", json_integer (gid));
  if (json_array_size (extra))
    json_object_set_new (user_out, "additionalGids", extra);
  else
    json_decref (extra);
  return 0;
}

/* ---------------------------------------------------------------- config */

static json_t *
mnt (const char *dst, const char *type, const char *src, const char *opts)
{
  json_t *o = json_array ();
  cleanup_free char *copy = xstrdup (opts);
  char *save = NULL;
  for (char *t = strtok_r (copy, ",", &save); t; t = strtok_r (NULL, ",", &save))
    json_array_append_new (o, json_string (t));
  return json_pack ("{s:s, s:s, s:s, s:o}", "destination", dst, "type", type, "source", src, "options", o);
}

static const char *const masked_paths[] = {
  "/proc/asound",
  "/proc/acpi",
  "/proc/interrupts",
  "/proc/kcore",
  "/proc/keys",
  "/proc/latency_stats",
  "/proc/timer_list",
  "/proc/timer_stats",
  "/proc/sched_debug",
  "/proc/scsi",
  "/sys/firmware",
  "/sys/devices/virtual/powercap",
  NULL,
};

static const char *const readonly_paths[] = {
  "/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger", NULL,
};

/* docker's default device cgroup rules (after "deny all"). */
static const struct
{
  const char *type;
  long major, minor;
  const char *access;
} default_devices[] = {
  { "c", -1, -1, "m" }, { "b", -1, -1, "m" },    { "c", 1, 3, "rwm" }, { "c", 1, 8, "rwm" },
  { "c", 1, 7, "rwm" }, { "c", 5, 0, "rwm" },    { "c", 1, 5, "rwm" }, { "c", 1, 9, "rwm" },
  { "c", 5, 1, "rwm" }, { "c", 136, -1, "rwm" }, { "c", 5, 2, "rwm" }, { "c", 10, 200, "rwm" },
};

static json_t *
dev_rule (bool allow, const char *type, long major, long minor, const char *access)
{
  json_t *r = json_pack ("{s:b, s:s}", "allow", allow, "access", access);
  if (type)
    json_object_set_new (r, "type", json_string (type));
  if (major >= 0)
    json_object_set_new (r, "major", json_integer (major));
  if (minor >= 0)
    json_object_set_new (r, "minor", json_integer (minor));
  return r;
}

/* --privileged: every device node of the host's /dev, as docker makes
 * them; not what devpts, shm, mqueue or the runtime's own default nodes
 * provide. */
static void
host_devices (int fd, const char *path, int depth, json_t *devices)
{
  static const char *const skip[]
      = { "pts",  "shm",  "mqueue", "fd",   ".lxc",   ".lxd-mounts", ".udev", "console",
          "ptmx", "null", "zero",   "full", "random", "urandom",     "tty" };
  DIR *d = fdopendir (fd);
  if (d == NULL)
    {
      close (fd);
      return;
    }
  struct dirent *de;
  while ((de = readdir (d)) != NULL)
    {
      const char *name = de->d_name;
      bool skipped = name[0] == '.' && (name[1] == '\0' || (name[1] == '.' && name[2] == '\0'));
      for (size_t k = 0; !skipped && depth == 0 && k < sizeof skip / sizeof *skip; k++)
        skipped = strcmp (name, skip[k]) == 0;
      struct stat st;
      if (skipped || fstatat (dirfd (d), name, &st, AT_SYMLINK_NOFOLLOW) < 0)
        continue;
      cleanup_free char *p = xasprintf ("%s/%s", path, name);
      if (S_ISDIR (st.st_mode) && depth < 4)
        {
          int sub = openat (dirfd (d), name, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
          if (sub >= 0)
            host_devices (sub, p, depth + 1, devices);
        }
      else if (S_ISCHR (st.st_mode) || S_ISBLK (st.st_mode))
        json_array_append_new (devices, json_pack ("{s:s, s:s, s:I, s:I, s:i, s:i, s:i}", "path", p, "type",
                                                   S_ISCHR (st.st_mode) ? "c" : "b", "major",
                                                   (json_int_t) major (st.st_rdev), "minor",
                                                   (json_int_t) minor (st.st_rdev), "fileMode",
                                                   st.st_mode & 07777, "uid", st.st_uid, "gid", st.st_gid));
    }
  closedir (d);
}

static int
parse_device (const char *host, const char *ctr, const char *perms, json_t *devices, json_t *rules,
              pier_error **err)
{
  struct stat st;
  if (stat (host, &st) < 0)
    return pier_error_make (err, errno,
                            "error gathering device information while adding custom device \"%s\"", host);
  if (!S_ISCHR (st.st_mode) && !S_ISBLK (st.st_mode))
    return pier_error_makex (err, EINVAL, "\"%s\" is not a device node", host);
  const char *type = S_ISCHR (st.st_mode) ? "c" : "b";
  json_array_append_new (devices,
                         json_pack ("{s:s, s:s, s:I, s:I, s:i, s:i, s:i}", "path", ctr && *ctr ? ctr : host,
                                    "type", type, "major", (json_int_t) major (st.st_rdev), "minor",
                                    (json_int_t) minor (st.st_rdev), "fileMode", st.st_mode & 07777, "uid",
                                    st.st_uid, "gid", st.st_gid));
  json_array_append_new (rules, dev_rule (true, type, (long) major (st.st_rdev), (long) minor (st.st_rdev),
                                          perms && *perms ? perms : "rwm"));
  return 0;
}

static int64_t
jint (json_t *o, const char *k)
{
  return (int64_t) json_integer_value (json_object_get (o, k));
}

static int
blkio_devices (json_t *list, json_t *out, pier_error **err)
{
  size_t i;
  json_t *v;
  json_array_foreach (list, i, v)
  {
    const char *path = json_string_value (json_object_get (v, "Path"));
    struct stat st;
    if (path == NULL || stat (path, &st) < 0)
      return pier_error_make (err, errno, "cannot stat device %s", path ? path : "");
    if (!S_ISBLK (st.st_mode))
      return pier_error_makex (err, EINVAL, "%s is not a block device", path);
    json_array_append_new (out, json_pack ("{s:I, s:I, s:I}", "major", (json_int_t) major (st.st_rdev),
                                           "minor", (json_int_t) minor (st.st_rdev), "rate",
                                           (json_int_t) jint (v, "Rate")));
  }
  return 0;
}

static json_t *resources (json_t *hc, json_t *rules, pier_error **err);

json_t *
pier_engine_oci_resources (json_t *hc, pier_error **err)
{
  return resources (hc, json_array (), err);
}

static json_t *
resources (json_t *hc, json_t *rules, pier_error **err)
{
  json_t *r = json_object ();
  json_object_set_new (r, "devices", rules);
  json_t *mem = json_object ();
  int64_t limit = jint (hc, "Memory"), swap = jint (hc, "MemorySwap");
  if (limit > 0)
    {
      json_object_set_new (mem, "limit", json_integer (limit));
      /* docker: unset swap means as much swap as memory (2x in all). */
      json_object_set_new (mem, "swap", json_integer (swap == 0 ? 2 * limit : swap));
    }
  if (jint (hc, "MemoryReservation") > 0)
    json_object_set_new (mem, "reservation", json_integer (jint (hc, "MemoryReservation")));
  if (json_is_true (json_object_get (hc, "OomKillDisable")))
    json_object_set_new (mem, "disableOOMKiller", json_true ());
  if (json_object_size (mem))
    json_object_set_new (r, "memory", mem);
  else
    json_decref (mem);
  json_t *cpu = json_object ();
  if (jint (hc, "CpuShares") > 0)
    json_object_set_new (cpu, "shares", json_integer (jint (hc, "CpuShares")));
  if (jint (hc, "NanoCpus") > 0)
    {
      json_object_set_new (cpu, "period", json_integer (100000));
      json_object_set_new (cpu, "quota", json_integer (jint (hc, "NanoCpus") * 100000 / 1000000000));
    }
  if (jint (hc, "CpuPeriod") > 0)
    json_object_set_new (cpu, "period", json_integer (jint (hc, "CpuPeriod")));
  if (jint (hc, "CpuQuota") > 0)
    json_object_set_new (cpu, "quota", json_integer (jint (hc, "CpuQuota")));
  const char *cpus = json_string_value (json_object_get (hc, "CpusetCpus"));
  if (cpus && *cpus)
    json_object_set_new (cpu, "cpus", json_string (cpus));
  const char *mems = json_string_value (json_object_get (hc, "CpusetMems"));
  if (mems && *mems)
    json_object_set_new (cpu, "mems", json_string (mems));
  if (json_object_size (cpu))
    json_object_set_new (r, "cpu", cpu);
  else
    json_decref (cpu);
  if (jint (hc, "PidsLimit") != 0)
    json_object_set_new (r, "pids", json_pack ("{s:I}", "limit", (json_int_t) jint (hc, "PidsLimit")));
  json_t *bio = json_object ();
  if (jint (hc, "BlkioWeight") > 0)
    json_object_set_new (bio, "weight", json_integer (jint (hc, "BlkioWeight")));
  json_t *rd = json_array (), *wr = json_array ();
  if (blkio_devices (json_object_get (hc, "BlkioDeviceReadBps"), rd, err) < 0
      || blkio_devices (json_object_get (hc, "BlkioDeviceWriteBps"), wr, err) < 0)
    {
      json_decref (rd);
      json_decref (wr);
      json_decref (bio);
      json_decref (r);
      return NULL;
    }
  if (json_array_size (rd))
    json_object_set (bio, "throttleReadBpsDevice", rd);
  if (json_array_size (wr))
    json_object_set (bio, "throttleWriteBpsDevice", wr);
  json_decref (rd);
  json_decref (wr);
  if (json_object_size (bio))
    json_object_set_new (r, "blockIO", bio);
  else
    json_decref (bio);
  return r;
}

/* Namespace entry for a "host", "container:<pid>" or private mode. */
static void
add_ns (json_t *nss, const char *type, const char *mode, json_t *pids)
{
  if (mode && strcmp (mode, "host") == 0)
    return;
  json_t *ns = json_pack ("{s:s}", "type", type);
  if (mode && strncmp (mode, "container:", 10) == 0)
    {
      json_int_t pid = json_integer_value (json_object_get (pids, mode + 10));
      static const struct
      {
        const char *oci, *proc;
      } names[] = { { "network", "net" }, { "pid", "pid" }, { "ipc", "ipc" }, { "uts", "uts" } };
      for (size_t i = 0; i < sizeof names / sizeof *names; i++)
        if (strcmp (names[i].oci, type) == 0)
          {
            cleanup_free char *p = xasprintf ("/proc/%lld/ns/%s", (long long) pid, names[i].proc);
            json_object_set_new (ns, "path", json_string (p));
          }
    }
  json_array_append_new (nss, ns);
}

/* Where `--init` puts its init in the container, as docker does. */
#define INIT_TARGET "/sbin/docker-init"

/* pier-init, installed next to pier (meson puts both in bindir; in the
 * build tree they sit side by side too).  We are pier, or its monitor,
 * which is pier re-executed. */
static char *
init_path (pier_error **err)
{
  char self[PATH_MAX];
  ssize_t n = readlink ("/proc/self/exe", self, sizeof self - 1);
  if (n <= 0)
    {
      pier_error_make (err, errno, "--init: cannot find pier's own binary");
      return NULL;
    }
  self[n] = '\0';
  char *slash = strrchr (self, '/');
  if (slash == NULL || strstr (self, " (deleted)"))
    {
      pier_error_makex (err, ENOENT, "--init: cannot find pier-init (pier runs from %s)", self);
      return NULL;
    }
  char *path = xasprintf ("%.*s/pier-init", (int) (slash - self), self);
  struct stat sb;
  if (stat (path, &sb) < 0 || !S_ISREG (sb.st_mode) || access (path, X_OK) < 0)
    {
      pier_error_makex (err, ENOENT, "--init: %s is missing or not executable (it is installed with pier)",
                        path);
      free (path);
      return NULL;
    }
  return path;
}

static json_t *
strv_json (char **v)
{
  json_t *a = json_array ();
  for (size_t i = 0; v && v[i]; i++)
    json_array_append_new (a, json_string (v[i]));
  return a;
}

int
pier_engine_oci_config (const char *root, json_t *rec, int rootfd, json_t **out, pier_error **err)
{
  json_t *cfg = json_object_get (rec, "Config");
  json_t *hc = json_object_get (rec, "HostConfig");
  json_t *pids = json_object_get (rec, "_ContainerPids");
  const char *id = json_string_value (json_object_get (rec, "Id"));
  bool privileged = json_is_true (json_object_get (hc, "Privileged"));
  bool tty = json_is_true (json_object_get (cfg, "Tty"));
  const char *hostname = json_string_value (json_object_get (cfg, "Hostname"));
  const char *own_dir = json_string_value (json_object_get (rec, "_Dir"));
  cleanup_free char *dir = own_dir ? xstrdup (own_dir) : xasprintf ("%s/containers/%s", root, id);

  /* process: with --init, docker's init first ("docker-init -- cmd"). */
  cleanup_free char *init = NULL;
  if (json_is_true (json_object_get (hc, "Init")) && (init = init_path (err)) == NULL)
    return -1;
  json_t *args = init ? json_pack ("[s, s]", INIT_TARGET, "--") : json_array ();
  json_array_extend (args, json_object_get (cfg, "Entrypoint"));
  json_array_extend (args, json_object_get (cfg, "Cmd"));
  json_t *env = json_array ();
  bool has_path = false;
  size_t i;
  json_t *v;
  json_array_foreach (json_object_get (cfg, "Env"), i,
                      v) if (strncmp (json_string_value (v) ?: "", "PATH=", 5) == 0) has_path
      = true;
  if (!has_path)
    json_array_append_new (env,
                           json_string ("PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"));
  cleanup_free char *hn = xasprintf ("HOSTNAME=%s", hostname);
  json_array_append_new (env, json_string (hn));
  if (tty)
    json_array_append_new (env, json_string ("TERM=xterm"));
  json_array_extend (env, json_object_get (cfg, "Env"));

  cleanup_strv char **add = NULL, **drop = NULL, **caps = NULL;
  json_array_foreach (json_object_get (hc, "CapAdd"), i, v) strv_push (&add, json_string_value (v));
  json_array_foreach (json_object_get (hc, "CapDrop"), i, v) strv_push (&drop, json_string_value (v));
  if (pier_profile_caps (add, drop, privileged, &caps, err) < 0)
    {
      json_decref (args);
      json_decref (env);
      return -1;
    }
  json_t *user = json_object ();
  const char *wd = json_string_value (json_object_get (cfg, "WorkingDir"));
  json_t *process
      = json_pack ("{s:b, s:o, s:o, s:o, s:s, s:{s:o, s:o, s:o}}", "terminal", tty, "user", user, "args",
                   args, "env", env, "cwd", wd && *wd ? wd : "/", "capabilities", "bounding",
                   strv_json (caps), "effective", strv_json (caps), "permitted", strv_json (caps));
  cleanup_json json_t *spec = json_pack (
      "{s:s, s:o, s:{s:s, s:b}, s:s}", "ociVersion", "1.2.0", "process", process, "root", "path", "rootfs",
      "readonly", json_is_true (json_object_get (hc, "ReadonlyRootfs")), "hostname", hostname);
  cleanup_free char *home = NULL;
  if (pier_engine_resolve_user (rootfd, json_string_value (json_object_get (cfg, "User")),
                                json_object_get (hc, "GroupAdd"), user, &home, err)
      < 0)
    return -1;
  /* As docker: HOME from the user's passwd entry unless the env has one. */
  bool has_home = false;
  json_array_foreach (env, i, v) has_home |= strncmp (json_string_value (v) ?: "", "HOME=", 5) == 0;
  if (!has_home)
    {
      cleanup_free char *h = xasprintf ("HOME=%s", home);
      json_array_append_new (env, json_string (h));
    }
  bool nnp = false;
  json_t *seccomp = NULL;
  bool unconfined = privileged;
  json_array_foreach (json_object_get (hc, "SecurityOpt"), i, v)
  {
    const char *o = json_string_value (v);
    if (strcmp (o, "no-new-privileges") == 0 || strcmp (o, "no-new-privileges=true") == 0
        || strcmp (o, "no-new-privileges:true") == 0)
      nnp = true;
    else if (strcmp (o, "no-new-privileges=false") == 0 || strcmp (o, "no-new-privileges:false") == 0)
      nnp = false;
    else if (strcmp (o, "seccomp=unconfined") == 0 || strcmp (o, "seccomp:unconfined") == 0)
      unconfined = true;
    else if (strncmp (o, "seccomp=", 8) == 0 || strncmp (o, "seccomp:", 8) == 0)
      {
        json_decref (seccomp);
        seccomp = NULL;
        if (pier_profile_seccomp_file (o + 8, caps, &seccomp, err) < 0)
          return -1;
        if (seccomp == NULL)
          unconfined = true;
      }
    else
      return pier_error_makex (err, EINVAL, "invalid --security-opt: %s", o);
  }
  if (nnp)
    json_object_set_new (process, "noNewPrivileges", json_true ());
  json_t *rlimits = json_array ();
  json_array_foreach (json_object_get (hc, "Ulimits"), i, v)
  {
    cleanup_free char *name = xasprintf ("RLIMIT_%s", json_string_value (json_object_get (v, "Name")) ?: "");
    for (char *p = name; *p; p++)
      *p = (char) toupper ((unsigned char) *p);
    json_array_append_new (rlimits,
                           json_pack ("{s:s, s:I, s:I}", "type", name, "soft", (json_int_t) jint (v, "Soft"),
                                      "hard", (json_int_t) jint (v, "Hard")));
  }
  json_object_set_new (process, "rlimits", rlimits);

  /* mounts */
  int64_t shm = jint (hc, "ShmSize") > 0 ? jint (hc, "ShmSize") : 64 * 1024 * 1024;
  cleanup_free char *shmopt = xasprintf ("nosuid,noexec,nodev,mode=1777,size=%lld", (long long) shm);
  json_t *mounts = json_array ();
  json_array_append_new (mounts, mnt ("/proc", "proc", "proc", "nosuid,noexec,nodev"));
  json_array_append_new (mounts, mnt ("/dev", "tmpfs", "tmpfs", "nosuid,strictatime,mode=755,size=65536k"));
  json_array_append_new (mounts, mnt ("/dev/pts", "devpts", "devpts",
                                      "nosuid,noexec,newinstance,ptmxmode=0666,mode=0620,gid=5"));
  json_array_append_new (mounts, mnt ("/sys", "sysfs", "sysfs",
                                      privileged ? "nosuid,noexec,nodev,rw" : "nosuid,noexec,nodev,ro"));
  json_array_append_new (
      mounts, mnt ("/sys/fs/cgroup", "cgroup", "cgroup",
                   privileged ? "nosuid,noexec,nodev,relatime,rw" : "nosuid,noexec,nodev,relatime,ro"));
  json_array_append_new (mounts, mnt ("/dev/mqueue", "mqueue", "mqueue", "nosuid,noexec,nodev"));
  json_array_append_new (mounts, mnt ("/dev/shm", "tmpfs", "shm", shmopt));
  static const char *const etc[] = { "resolv.conf", "hostname", "hosts", NULL };
  for (size_t k = 0; etc[k]; k++)
    {
      cleanup_free char *src = xasprintf ("%s/%s", dir, etc[k]);
      cleanup_free char *dst = xasprintf ("/etc/%s", etc[k]);
      json_array_append_new (mounts, mnt (dst, "bind", src, "rbind,rprivate"));
    }
  const char *key;
  json_object_foreach (json_object_get (hc, "Tmpfs"), key, v)
  {
    const char *o = json_string_value (v);
    cleanup_free char *opts = xasprintf ("noexec,nosuid,nodev%s%s", o && *o ? "," : "", o ? o : "");
    json_array_append_new (mounts, mnt (key, "tmpfs", "tmpfs", opts));
  }
  if (init)
    json_array_append_new (mounts, mnt (INIT_TARGET, "bind", init, "bind,ro"));
  json_object_set_new (spec, "mounts", mounts);
  if (pier_engine_mounts_oci (rec, mounts, err) < 0)
    return -1;

  /* linux */
  json_t *nss = json_array ();
  add_ns (nss, "pid", json_string_value (json_object_get (hc, "PidMode")), pids);
  add_ns (nss, "ipc", json_string_value (json_object_get (hc, "IpcMode")), pids);
  add_ns (nss, "uts", json_string_value (json_object_get (hc, "UTSMode")), pids);
  add_ns (nss, "network", json_string_value (json_object_get (hc, "NetworkMode")), pids);
  /* A namespace the monitor made and plugged into pier's networks. */
  const char *netns = json_string_value (json_object_get (rec, "_NetnsPath"));
  if (netns)
    json_object_set_new (json_array_get (nss, json_array_size (nss) - 1), "path", json_string (netns));
  add_ns (nss, "mount", NULL, NULL);
  add_ns (nss, "cgroup", NULL, NULL);
  const char *uts = json_string_value (json_object_get (hc, "UTSMode"));
  const char *domain = json_string_value (json_object_get (cfg, "Domainname"));
  if (uts && strcmp (uts, "host") == 0)
    json_object_del (spec, "hostname");
  else if (domain && *domain)
    json_object_set_new (spec, "domainname", json_string (domain));
  json_t *rules = json_array ();
  json_t *devices = json_array ();
  json_array_append_new (rules, dev_rule (false, NULL, -1, -1, "rwm"));
  if (privileged)
    {
      json_array_append_new (rules, dev_rule (true, NULL, -1, -1, "rwm"));
      int dev = open ("/dev", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
      if (dev >= 0)
        host_devices (dev, "/dev", 0, devices);
    }
  else
    for (size_t k = 0; k < sizeof default_devices / sizeof *default_devices; k++)
      json_array_append_new (rules, dev_rule (true, default_devices[k].type, default_devices[k].major,
                                              default_devices[k].minor, default_devices[k].access));
  json_array_foreach (json_object_get (hc, "Devices"), i,
                      v) if (parse_device (json_string_value (json_object_get (v, "PathOnHost")),
                                           json_string_value (json_object_get (v, "PathInContainer")),
                                           json_string_value (json_object_get (v, "CgroupPermissions")),
                                           devices, rules, err)
                             < 0)
  {
    json_decref (nss);
    json_decref (rules);
    json_decref (devices);
    return -1;
  }
  json_t *res = resources (hc, rules, err);
  if (res == NULL)
    {
      json_decref (nss);
      json_decref (devices);
      return -1;
    }
  cleanup_free char *cgpath = xasprintf ("pier/%s", id);
  json_t *linux_ = json_pack ("{s:o, s:o, s:o, s:s}", "namespaces", nss, "resources", res, "devices", devices,
                              "cgroupsPath", cgpath);
  if (pier_engine_userns_enabled (hc))
    {
      /* Its root an unprivileged host uid (--userns=auto, --uidmap). */
      /* The monitor's (_UsernsPath), which owns the network namespace;
       * the maps stay, for the runtime to know the root's host ids. */
      const char *userns = json_string_value (json_object_get (rec, "_UsernsPath"));
      json_t *ns = json_pack ("{s:s}", "type", "user");
      if (userns)
        json_object_set_new (ns, "path", json_string (userns));
      json_array_append_new (nss, ns);
      json_object_set_new (linux_, "uidMappings", pier_engine_userns_oci_maps (hc, false));
      json_object_set_new (linux_, "gidMappings", pier_engine_userns_oci_maps (hc, true));
    }
  if (json_object_size (json_object_get (hc, "Sysctls")))
    json_object_set (linux_, "sysctl", json_object_get (hc, "Sysctls"));
  if (!privileged)
    {
      json_object_set_new (linux_, "maskedPaths", strv_json ((char **) masked_paths));
      json_object_set_new (linux_, "readonlyPaths", strv_json ((char **) readonly_paths));
    }
  if (!unconfined)
    json_object_set_new (linux_, "seccomp", seccomp ? seccomp : pier_profile_seccomp (caps));
  else
    json_decref (seccomp);
  json_object_set_new (spec, "linux", linux_);
  *out = steal_pointer (&spec);
  return 0;
}
