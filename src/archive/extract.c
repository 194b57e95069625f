#include "archive/extract.h"
#include "archive/archive_dl.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "util/cleanup.h"
#include "util/fs.h"
#include "util/xalloc.h"
#include "util/banned.h"

#ifndef XATTR_SIZE_MAX
#define XATTR_SIZE_MAX 65536
#endif
#ifndef RENAME_NOREPLACE
#define RENAME_NOREPLACE (1 << 0)
#endif

#define WH_PREFIX ".wh."
#define WH_OPAQUE ".wh..wh..opq"
#define READ_BLOCK (128 * 1024)

/* A directory whose mode and times are set after its contents. */
typedef struct deferred_dir
{
  char *name; /* "" is the layer root */
  mode_t mode;
  struct timespec times[2];
} deferred_dir;

typedef struct ctx
{
  struct archive *a;
  pier_dstream *ds;
  pier_error *stream_err; /* the first error of the read callback */
  unsigned char *rbuf;
  const pier_extract_opts *o;
  int root; /* O_PATH directory of the layer */
  /* The parent opened last: consecutive entries mostly share it. */
  char *cached_name;
  int cached_fd;
  deferred_dir *dirs;
  size_t n_dirs, cap_dirs;
  uint64_t unpacked;
  uint64_t entries;
  const char *cur_dir; /* the directory of the entry being extracted */
} ctx;

static const pier_extract_opts no_opts;

static la_ssize_t
read_cb (struct archive *a, void *data, const void **buf)
{
  ctx *c = data;
  ssize_t n = pier_dstream_read (c->ds, c->rbuf, READ_BLOCK, &c->stream_err);
  if (n < 0)
    {
      archive_set_error (a, EIO, "%s", c->stream_err->msg);
      return -1;
    }
  *buf = c->rbuf;
  return n;
}

static void
cache_drop (ctx *c)
{
  free (c->cached_name);
  c->cached_name = NULL;
  cleanup_closep (&c->cached_fd);
}

/* Turn a tar name into a clean relative path ("" for the root): no
 * leading "./", no "." components, no doubled or trailing slashes.
 * Absolute names, ".." components and oversized names are refused. */
static int
clean_name (const char *raw, const char *what, char **out, pier_error **err)
{
  size_t len = strlen (raw);
  if (len >= PATH_MAX)
    return pier_error_makex (err, ENAMETOOLONG, "%s `%.64s...`: the name is longer than %d bytes", what, raw,
                             PATH_MAX - 1);
  if (raw[0] == '/')
    return pier_error_makex (err, EINVAL, "%s `%s`: absolute names are not allowed in a layer", what, raw);
  cleanup_free char *res = xmalloc (len + 1);
  size_t n = 0;
  const char *p = raw;
  while (*p)
    {
      while (*p == '/')
        p++;
      const char *e = strchrnul (p, '/');
      size_t cl = (size_t) (e - p);
      if (cl == 0 || (cl == 1 && p[0] == '.'))
        {
          p = e;
          continue;
        }
      if (cl == 2 && p[0] == '.' && p[1] == '.')
        return pier_error_makex (err, EINVAL, "%s `%s`: `..` is not allowed in a layer", what, raw);
      if (cl > NAME_MAX)
        return pier_error_makex (err, ENAMETOOLONG, "%s `%s`: a component is longer than %d bytes", what, raw,
                                 NAME_MAX);
      if (n)
        res[n++] = '/';
      memcpy (res + n, p, cl);
      n += cl;
      p = e;
    }
  res[n] = '\0';
  *out = steal_pointer (&res);
  return 0;
}

/* Open one directory of the layer, one component at a time, each opened
 * O_NOFOLLOW|O_DIRECTORY relative to the previous: a symlink anywhere on
 * the way is an error, so nothing can redirect a write outside.  Missing
 * directories are made (0755, as other engines do) when create is set.
 * Returns a new O_PATH fd. */
static int
open_dir (ctx *c, const char *dir, bool create, const char *entry, pier_error **err)
{
  cleanup_close int cur = openat (c->root, ".", O_PATH | O_DIRECTORY | O_CLOEXEC);
  if (cur < 0)
    return pier_error_make (err, errno, "cannot open the layer directory");
  cleanup_free char *copy = xstrdup (dir);
  char *p = copy;
  while (*p)
    {
      char *slash = strchr (p, '/');
      if (slash)
        *slash = '\0';
      int next = openat (cur, p, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
      if (next < 0 && errno == ENOENT && create)
        {
          if (mkdirat (cur, p, 0755) < 0 && errno != EEXIST)
            return pier_error_make (err, errno, "entry `%s`: cannot create directory `%s`", entry, copy);
          next = openat (cur, p, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        }
      if (next < 0)
        {
          int e = errno;
          struct stat st;
          if (fstatat (cur, p, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISLNK (st.st_mode))
            return pier_error_makex (err, ELOOP,
                                     "entry `%s`: `%s` is a symbolic link; a layer may not write through it",
                                     entry, copy);
          if (e == ENOTDIR)
            return pier_error_makex (err, ENOTDIR, "entry `%s`: `%s` is not a directory", entry, copy);
          return pier_error_make (err, e, "entry `%s`: cannot open directory `%s`", entry, copy);
        }
      close (cur);
      cur = next;
      if (slash)
        {
          *slash = '/';
          p = slash + 1;
        }
      else
        break;
    }
  return move_fd (&cur);
}

/* The parent directory of an entry, from the cache when it is the last
 * one used.  The fd stays owned by the cache. */
static int
parent_of (ctx *c, const char *dir, const char *entry, pier_error **err)
{
  if (c->cached_name && strcmp (c->cached_name, dir) == 0)
    return c->cached_fd;
  int fd = open_dir (c, dir, true, entry, err);
  if (fd < 0)
    return -1;
  cache_drop (c);
  c->cached_name = xstrdup (dir);
  c->cached_fd = fd;
  return fd;
}

/* Split "a/b/c" into "a/b" and "c" (in place; dir is "" at the top). */
static void
split (char *path, const char **dir, const char **base)
{
  char *slash = strrchr (path, '/');
  if (slash)
    {
      *slash = '\0';
      *dir = path;
      *base = slash + 1;
    }
  else
    {
      *dir = "";
      *base = path;
    }
}

static char *
proc_fd_path (int fd)
{
  return xasprintf ("/proc/self/fd/%d", fd);
}

/* Set an xattr on an fd of any kind (an O_PATH fd goes through its
 * /proc/self/fd link, which names the inode itself). */
static int
set_xattr_fd (int fd, bool is_path_fd, const char *name, const void *value, size_t size)
{
  if (!is_path_fd)
    return fsetxattr (fd, name, value, size, 0);
  cleanup_free char *p = proc_fd_path (fd);
  return setxattr (p, name, value, size, 0);
}

static bool
is_overlay_xattr (const char *name)
{
  return strncmp (name, "trusted.overlay.", 16) == 0 || strncmp (name, "user.overlay.", 13) == 0;
}

static int
apply_xattrs (ctx *c, struct archive_entry *e, int fd, bool is_path_fd, const char *entry, pier_error **err)
{
  const char *name;
  const void *value;
  size_t size;

  archive_entry_xattr_reset (e);
  while (archive_entry_xattr_next (e, &name, &value, &size) == ARCHIVE_OK)
    {
      if (name == NULL || is_overlay_xattr (name))
        continue;
      if (strlen (name) > XATTR_NAME_MAX || size > XATTR_SIZE_MAX)
        return pier_error_makex (err, E2BIG, "entry `%s`: xattr `%.64s` is too large", entry, name);
      if (set_xattr_fd (fd, is_path_fd, name, value, size) < 0)
        {
          if (c->o->ignore_xattr_errors && (errno == EPERM || errno == EOPNOTSUPP || errno == ENOTSUP))
            continue;
          return pier_error_make (err, errno, "entry `%s`: cannot set xattr `%s`", entry, name);
        }
    }
  return 0;
}

static void
entry_times (struct archive_entry *e, struct timespec times[2])
{
  times[1].tv_sec = archive_entry_mtime (e);
  times[1].tv_nsec = archive_entry_mtime_nsec (e);
  if (archive_entry_atime_is_set (e))
    {
      times[0].tv_sec = archive_entry_atime (e);
      times[0].tv_nsec = archive_entry_atime_nsec (e);
    }
  else
    times[0] = times[1];
}

static int
do_chown_fd (ctx *c, int fd, struct archive_entry *e, const char *entry, pier_error **err)
{
  if (c->o->no_chown)
    return 0;
  if (fchownat (fd, "", (uid_t) archive_entry_uid (e), (gid_t) archive_entry_gid (e),
                AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW)
      < 0)
    return pier_error_make (err, errno, "entry `%s`: cannot change the owner to %lld:%lld", entry,
                            (long long) archive_entry_uid (e), (long long) archive_entry_gid (e));
  return 0;
}

static void
defer_dir (ctx *c, const char *name, struct archive_entry *e)
{
  if (c->n_dirs == c->cap_dirs)
    {
      c->cap_dirs = c->cap_dirs ? 2 * c->cap_dirs : 64;
      c->dirs = xrealloc (c->dirs, c->cap_dirs * sizeof *c->dirs);
    }
  deferred_dir *d = &c->dirs[c->n_dirs++];
  d->name = xstrdup (name);
  d->mode = archive_entry_perm (e) & 07777;
  entry_times (e, d->times);
}

/* Drop the deferred metadata of base in the current entry's directory,
 * and with inside also of everything in it (a later entry replaced it).
 * Only on replacement, which is rare: a linear scan. */
static void
forget_dirs (ctx *c, const char *base, bool inside)
{
  cleanup_free char *gone = *c->cur_dir ? xasprintf ("%s/%s", c->cur_dir, base) : xstrdup (base);
  size_t gl = strlen (gone), k = 0;
  for (size_t i = 0; i < c->n_dirs; i++)
    {
      const char *n = c->dirs[i].name;
      if (strncmp (n, gone, gl) == 0 && (n[gl] == '\0' || (inside && n[gl] == '/')))
        free (c->dirs[i].name);
      else
        c->dirs[k++] = c->dirs[i];
    }
  c->n_dirs = k;
}

/* Remove what an earlier entry of this layer left at base, unless both
 * are directories (then the new entry's metadata wins).  Returns 1 when
 * a directory is kept. */
static int
clear_slot (ctx *c, int parent, const char *base, bool new_is_dir, const char *entry, pier_error **err)
{
  struct stat st;
  if (fstatat (parent, base, &st, AT_SYMLINK_NOFOLLOW) < 0)
    {
      if (errno == ENOENT)
        return 0;
      return pier_error_make (err, errno, "entry `%s`: cannot inspect", entry);
    }
  if (S_ISDIR (st.st_mode))
    {
      if (new_is_dir)
        return 1;
      /* The cache holds this entry's parent, which stays; the deferred
       * metadata of what goes must not reach what replaces it. */
      forget_dirs (c, base, true);
      cleanup_close int pdir = openat (parent, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
      if (pdir < 0 || pier_rmtree_at (pdir, base, err) < 0)
        return pdir < 0 ? pier_error_make (err, errno, "entry `%s`: cannot replace", entry)
                        : pier_error_wrap (err, "entry `%s`", entry);
      return 0;
    }
  if (unlinkat (parent, base, 0) < 0)
    return pier_error_make (err, errno, "entry `%s`: cannot replace the earlier entry", entry);
  return 0;
}

static int
make_dir (ctx *c, struct archive_entry *e, int parent, const char *base, const char *entry, const char *path,
          pier_error **err)
{
  cleanup_close int fd = -1;
  if (*path == '\0')
    fd = openat (c->root, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  else
    {
      int kept = clear_slot (c, parent, base, true, entry, err);
      if (kept < 0)
        return -1;
      if (kept)
        forget_dirs (c, base, false); /* the new entry's metadata wins */
      if (!kept && mkdirat (parent, base, 0700) < 0)
        return pier_error_make (err, errno, "entry `%s`: cannot create the directory", entry);
      fd = openat (parent, base, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    }
  if (fd < 0)
    return pier_error_make (err, errno, "entry `%s`: cannot open the directory", entry);
  if (do_chown_fd (c, fd, e, entry, err) < 0 || apply_xattrs (c, e, fd, false, entry, err) < 0)
    return -1;
  defer_dir (c, path, e);
  return 0;
}

static int
write_data (ctx *c, int fd, struct archive_entry *e, const char *entry, pier_error **err)
{
  const void *buf;
  size_t size;
  la_int64_t offset;
  int64_t end = 0;

  for (;;)
    {
      int r = archive_read_data_block (c->a, &buf, &size, &offset);
      if (r == ARCHIVE_EOF)
        break;
      if (r < ARCHIVE_WARN)
        {
          if (c->stream_err)
            return pier_error_makex (err, c->stream_err->code, "entry `%s`: %s", entry, c->stream_err->msg);
          return pier_error_makex (err, EINVAL, "entry `%s`: cannot read its data: %s", entry,
                                   archive_error_string (c->a));
        }
      const char *p = buf;
      while (size > 0)
        {
          ssize_t w = pwrite (fd, p, size, offset);
          if (w < 0 && errno == EINTR)
            continue;
          if (w < 0)
            return pier_error_make (err, errno, "entry `%s`: cannot write", entry);
          p += w;
          size -= (size_t) w;
          offset += w;
        }
      if (offset > end)
        end = offset;
    }
  /* A sparse file may end in a hole: the size is the header's. */
  int64_t want = archive_entry_size (e);
  if (want > end && ftruncate (fd, want) < 0)
    return pier_error_make (err, errno, "entry `%s`: cannot set the size", entry);
  c->unpacked += (uint64_t) (want > end ? want : end);
  return 0;
}

static int
make_file (ctx *c, struct archive_entry *e, int parent, const char *base, const char *entry, pier_error **err)
{
  if (clear_slot (c, parent, base, false, entry, err) < 0)
    return -1;
  cleanup_close int fd = openat (parent, base, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
  if (fd < 0)
    return pier_error_make (err, errno, "entry `%s`: cannot create", entry);
  if (write_data (c, fd, e, entry, err) < 0)
    return -1;
  if (do_chown_fd (c, fd, e, entry, err) < 0 || apply_xattrs (c, e, fd, false, entry, err) < 0)
    return -1;
  if (fchmod (fd, archive_entry_perm (e) & 07777) < 0)
    return pier_error_make (err, errno, "entry `%s`: cannot set the mode", entry);
  struct timespec times[2];
  entry_times (e, times);
  if (futimens (fd, times) < 0)
    return pier_error_make (err, errno, "entry `%s`: cannot set the times", entry);
  return 0;
}

static int
make_symlink (ctx *c, struct archive_entry *e, int parent, const char *base, const char *entry,
              pier_error **err)
{
  const char *target = archive_entry_symlink (e);
  if (target == NULL)
    target = archive_entry_symlink_utf8 (e);
  if (target == NULL || *target == '\0')
    return pier_error_makex (err, EINVAL, "entry `%s`: symbolic link without a target", entry);
  if (strlen (target) >= PATH_MAX)
    return pier_error_makex (err, ENAMETOOLONG, "entry `%s`: the link target is longer than %d bytes", entry,
                             PATH_MAX - 1);
  if (clear_slot (c, parent, base, false, entry, err) < 0)
    return -1;
  /* The target is stored as is: it is never followed while extracting,
   * and at run time it resolves inside the container's root. */
  if (symlinkat (target, parent, base) < 0)
    return pier_error_make (err, errno, "entry `%s`: cannot create the symbolic link", entry);
  if (!c->o->no_chown
      && fchownat (parent, base, (uid_t) archive_entry_uid (e), (gid_t) archive_entry_gid (e),
                   AT_SYMLINK_NOFOLLOW)
             < 0)
    return pier_error_make (err, errno, "entry `%s`: cannot change the owner", entry);
  /* xattrs on the link itself would need lsetxattr by path; the user.*
   * namespace is not allowed on symlinks anyway, so they are dropped. */
  struct timespec times[2];
  entry_times (e, times);
  if (utimensat (parent, base, times, AT_SYMLINK_NOFOLLOW) < 0)
    return pier_error_make (err, errno, "entry `%s`: cannot set the times", entry);
  return 0;
}

static int
make_hardlink (ctx *c, const char *raw_target, int parent, const char *base, const char *entry,
               pier_error **err)
{
  cleanup_free char *target = NULL;
  if (clean_name (raw_target, "hardlink target", &target, err) < 0)
    return pier_error_wrap (err, "entry `%s`", entry);
  if (*target == '\0')
    return pier_error_makex (err, EINVAL, "entry `%s`: hardlink to the layer root", entry);
  cleanup_free char *tcopy = xstrdup (target);
  const char *tdir, *tbase;
  split (tcopy, &tdir, &tbase);
  cleanup_close int tparent = open_dir (c, tdir, false, entry, err);
  if (tparent < 0)
    return -1;
  struct stat st;
  if (fstatat (tparent, tbase, &st, AT_SYMLINK_NOFOLLOW) < 0)
    return pier_error_make (err, errno, "entry `%s`: hardlink target `%s` is not in this layer", entry,
                            target);
  if (S_ISDIR (st.st_mode))
    return pier_error_makex (err, EPERM, "entry `%s`: hardlink target `%s` is a directory", entry, target);
  if (strcmp (target, entry) == 0)
    return 0; /* a link to itself: nothing to do */
  if (clear_slot (c, parent, base, false, entry, err) < 0)
    return -1;
  /* No AT_SYMLINK_FOLLOW: a link to a symlink links the symlink. */
  if (linkat (tparent, tbase, parent, base, 0) < 0)
    return pier_error_make (err, errno, "entry `%s`: cannot link to `%s`", entry, target);
  return 0;
}

static int
make_special (ctx *c, struct archive_entry *e, mode_t type, int parent, const char *base, const char *entry,
              pier_error **err)
{
  if (clear_slot (c, parent, base, false, entry, err) < 0)
    return -1;
  dev_t dev = type == S_IFIFO ? 0 : makedev (archive_entry_rdevmajor (e), archive_entry_rdevminor (e));
  if (mknodat (parent, base, type | 0600, dev) < 0)
    return pier_error_make (err, errno, "entry `%s`: cannot create the %s", entry,
                            type == S_IFIFO ? "fifo" : "device node");
  cleanup_close int fd = openat (parent, base, O_PATH | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0)
    return pier_error_make (err, errno, "entry `%s`: cannot open", entry);
  if (do_chown_fd (c, fd, e, entry, err) < 0 || apply_xattrs (c, e, fd, true, entry, err) < 0)
    return -1;
  /* fchmod cannot take an O_PATH fd; the /proc link names this inode. */
  cleanup_free char *p = proc_fd_path (fd);
  if (chmod (p, archive_entry_perm (e) & 07777) < 0)
    return pier_error_make (err, errno, "entry `%s`: cannot set the mode", entry);
  struct timespec times[2];
  entry_times (e, times);
  if (utimensat (AT_FDCWD, p, times, 0) < 0)
    return pier_error_make (err, errno, "entry `%s`: cannot set the times", entry);
  return 0;
}

static const char *
opaque_xattr (ctx *c)
{
  return c->o->userxattr ? "user.overlay.opaque" : "trusted.overlay.opaque";
}

static int
set_opaque (ctx *c, int parent, const char *value, bool keep_y, const char *entry, pier_error **err)
{
  cleanup_close int d = openat (parent, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (d < 0)
    return pier_error_make (err, errno, "entry `%s`: cannot open its directory", entry);
  if (keep_y)
    {
      char cur[2];
      ssize_t n = fgetxattr (d, opaque_xattr (c), cur, sizeof cur);
      if (n == 1 && cur[0] == 'y')
        return 0;
    }
  if (fsetxattr (d, opaque_xattr (c), value, 1, 0) < 0)
    return pier_error_make (err, errno, "entry `%s`: cannot set %s", entry, opaque_xattr (c));
  return 0;
}

static int
make_whiteout (ctx *c, int parent, const char *name, const char *entry, pier_error **err)
{
  if (*name == '\0' || strcmp (name, ".") == 0 || strcmp (name, "..") == 0)
    return pier_error_makex (err, EINVAL, "entry `%s`: a whiteout must name a file", entry);
  if (clear_slot (c, parent, name, false, entry, err) < 0)
    return -1;
  if (mknodat (parent, name, S_IFCHR | 0, makedev (0, 0)) == 0)
    return 0;
  if (!(c->o->userxattr && errno == EPERM))
    return pier_error_make (err, errno, "entry `%s`: cannot create the whiteout", entry);
  /* No mknod here (rootless without a userns that allows it): an xattr
   * whiteout, which overlay honours in a directory marked opaque=x. */
  cleanup_close int fd = openat (parent, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
  if (fd < 0)
    return pier_error_make (err, errno, "entry `%s`: cannot create the whiteout", entry);
  if (fsetxattr (fd, "user.overlay.whiteout", "y", 1, 0) < 0)
    return pier_error_make (err, errno, "entry `%s`: cannot set user.overlay.whiteout", entry);
  return set_opaque (c, parent, "x", true, entry, err);
}

static int
extract_entry (ctx *c, struct archive_entry *e, pier_error **err)
{
  const char *raw = archive_entry_pathname (e);
  if (raw == NULL)
    raw = archive_entry_pathname_utf8 (e);
  if (raw == NULL)
    return pier_error_makex (err, EINVAL, "entry #%llu has no usable name", (unsigned long long) c->entries);
  cleanup_free char *path = NULL;
  if (clean_name (raw, "entry", &path, err) < 0)
    return -1;
  const char *entry = raw;
  cleanup_free char *copy = xstrdup (path);
  const char *dir, *base;
  split (copy, &dir, &base);

  const char *hardlink = archive_entry_hardlink (e);
  mode_t type = archive_entry_filetype (e);

  if (*path == '\0')
    {
      if (hardlink || type != AE_IFDIR)
        return pier_error_makex (err, EINVAL, "entry `%s`: the layer root can only be a directory", entry);
      return make_dir (c, e, c->root, "", entry, "", err);
    }

  c->cur_dir = dir;
  int parent = parent_of (c, dir, entry, err);
  if (parent < 0)
    return -1;

  if (strcmp (base, WH_OPAQUE) == 0)
    return set_opaque (c, parent, "y", false, entry, err);
  if (strncmp (base, WH_PREFIX, strlen (WH_PREFIX)) == 0)
    return make_whiteout (c, parent, base + strlen (WH_PREFIX), entry, err);

  if (hardlink)
    return make_hardlink (c, hardlink, parent, base, entry, err);
  switch (type)
    {
    case AE_IFDIR: return make_dir (c, e, parent, base, entry, path, err);
    case AE_IFREG: return make_file (c, e, parent, base, entry, err);
    case AE_IFLNK: return make_symlink (c, e, parent, base, entry, err);
    case AE_IFCHR: return make_special (c, e, S_IFCHR, parent, base, entry, err);
    case AE_IFBLK: return make_special (c, e, S_IFBLK, parent, base, entry, err);
    case AE_IFIFO: return make_special (c, e, S_IFIFO, parent, base, entry, err);
    default:
      return pier_error_makex (err, EINVAL, "entry `%s`: unsupported file type 0%o", entry, (unsigned) type);
    }
}

/* Directories last, deepest (latest recorded) first: their mode may take
 * away the write permission the contents needed, and creating the
 * contents changed their mtime. */
static int
finish_dirs (ctx *c, pier_error **err)
{
  for (size_t i = c->n_dirs; i-- > 0;)
    {
      deferred_dir *d = &c->dirs[i];
      pier_error *local = NULL;
      cleanup_close int p = open_dir (c, d->name, false, *d->name ? d->name : ".", &local);
      if (p < 0)
        {
          /* A later entry replaced the directory: its metadata went too. */
          int code = local ? local->code : 0;
          if (code == ENOENT || code == ENOTDIR || code == ELOOP)
            {
              pier_error_free (&local);
              continue;
            }
          *err = local;
          return -1;
        }
      cleanup_close int fd = openat (p, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
      if (fd < 0)
        return pier_error_make (err, errno, "entry `%s`: cannot open the directory", d->name);
      if (fchmod (fd, d->mode) < 0)
        return pier_error_make (err, errno, "entry `%s`: cannot set the mode", d->name);
      if (futimens (fd, d->times) < 0)
        return pier_error_make (err, errno, "entry `%s`: cannot set the times", d->name);
    }
  return 0;
}

static int
run (ctx *c, int fd, int dirfd, pier_extract_result *res, pier_error **err)
{
  if (pier_dir_check_empty (dirfd, "the layer directory", err) < 0 || pier_archive_dl_open (err) < 0)
    return -1;
  c->root = openat (dirfd, ".", O_PATH | O_DIRECTORY | O_CLOEXEC);
  if (c->root < 0)
    return pier_error_make (err, errno, "cannot open the layer directory");
  if (pier_dstream_open (fd, &c->ds, err) < 0)
    return -1;
  c->rbuf = xmalloc (READ_BLOCK);
  c->a = archive_read_new ();
  if (c->a == NULL)
    abort ();
  /* Only tar: the decompression is ours (so that the DiffID covers the
   * exact uncompressed stream), and no other format may sneak in. */
  archive_read_support_format_tar (c->a);
  if (archive_read_open (c->a, c, NULL, read_cb, NULL) != ARCHIVE_OK)
    {
      if (c->stream_err)
        return pier_error_makex (err, c->stream_err->code, "%s", c->stream_err->msg);
      return pier_error_makex (err, EINVAL, "not a tar archive: %s", archive_error_string (c->a));
    }
  for (;;)
    {
      struct archive_entry *e;
      int r = archive_read_next_header (c->a, &e);
      if (r == ARCHIVE_EOF)
        break;
      if (r < ARCHIVE_WARN)
        {
          if (c->stream_err)
            return pier_error_makex (err, c->stream_err->code, "%s (after %llu entries)", c->stream_err->msg,
                                     (unsigned long long) c->entries);
          return pier_error_makex (err, EINVAL, "bad tar header after %llu entries: %s",
                                   (unsigned long long) c->entries, archive_error_string (c->a));
        }
      if (extract_entry (c, e, err) < 0)
        return -1;
      c->entries++;
    }
  /* The DiffID covers the whole stream, padding after the end-of-archive
   * blocks included. */
  for (;;)
    {
      ssize_t n = pier_dstream_read (c->ds, c->rbuf, READ_BLOCK, err);
      if (n < 0)
        return -1;
      if (n == 0)
        break;
    }
  cache_drop (c);
  if (finish_dirs (c, err) < 0)
    return -1;
  if (res)
    {
      memset (res, 0, sizeof *res);
      pier_dstream_digests (c->ds, res->diff_id, res->blob_digest, &res->tar_size, &res->blob_size);
      res->unpacked_size = c->unpacked;
      res->entries = c->entries;
      res->compression = pier_dstream_compression (c->ds);
    }
  return 0;
}

int
pier_layer_extract (int fd, int dirfd, const pier_extract_opts *o, pier_extract_result *res, pier_error **err)
{
  ctx c = { .o = o ? o : &no_opts, .root = -1, .cached_fd = -1 };
  int ret = run (&c, fd, dirfd, res, err);
  if (c.a)
    archive_read_free (c.a);
  pier_dstream_free (c.ds);
  pier_error_free (&c.stream_err);
  cache_drop (&c);
  cleanup_closep (&c.root);
  for (size_t i = 0; i < c.n_dirs; i++)
    free (c.dirs[i].name);
  free (c.dirs);
  free (c.rbuf);
  return ret;
}

/* Give the owner rwx on every directory under parent/name, so that an
 * unprivileged caller can remove a layer with read-only directories. */
static void
make_removable (int parent, const char *name)
{
  int fd = openat (parent, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0 && errno == EACCES && fchmodat (parent, name, 0700, 0) == 0)
    fd = openat (parent, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0)
    return;
  struct stat st;
  if (fstat (fd, &st) == 0 && (st.st_mode & 0700) != 0700)
    fchmod (fd, (st.st_mode & 07777) | 0700);
  cleanup_dir DIR *d = fdopendir (fd);
  if (d == NULL)
    {
      close (fd);
      return;
    }
  struct dirent *de;
  while ((de = readdir (d)))
    {
      if (strcmp (de->d_name, ".") == 0 || strcmp (de->d_name, "..") == 0)
        continue;
      if (de->d_type == DT_DIR
          || (de->d_type == DT_UNKNOWN && fstatat (dirfd (d), de->d_name, &st, AT_SYMLINK_NOFOLLOW) == 0
              && S_ISDIR (st.st_mode)))
        make_removable (dirfd (d), de->d_name);
    }
}

static void
remove_tmp (int parentfd, const char *tmp)
{
  if (pier_rmtree_at (parentfd, tmp, NULL) == 0)
    return;
  make_removable (parentfd, tmp);
  pier_rmtree_at (parentfd, tmp, NULL);
}

int
pier_layer_extract_into_new (int parentfd, const char *name, int fd, const pier_extract_opts *o,
                             pier_extract_result *res, pier_error **err)
{
  if (*name == '\0' || strchr (name, '/') || strcmp (name, ".") == 0 || strcmp (name, "..") == 0)
    return pier_error_makex (err, EINVAL, "`%s` is not a valid layer directory name", name);
  struct stat st;
  if (fstatat (parentfd, name, &st, AT_SYMLINK_NOFOLLOW) == 0)
    return pier_error_makex (err, EEXIST, "layer `%s` already exists", name);
  cleanup_free char *tmp = xasprintf ("%s.tmp-%d", name, (int) getpid ());
  remove_tmp (parentfd, tmp);
  if (mkdirat (parentfd, tmp, 0700) < 0)
    return pier_error_make (err, errno, "cannot create `%s`", tmp);
  cleanup_close int dfd = openat (parentfd, tmp, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (dfd < 0)
    {
      pier_error_make (err, errno, "cannot open `%s`", tmp);
      goto on_error;
    }
  /* The caller knows what the layer is to the user (its digest): it adds
   * the context, not our working name. */
  if (pier_layer_extract (fd, dfd, o, res, err) < 0)
    goto on_error;
  if (o && o->sync && syncfs (dfd) < 0)
    {
      pier_error_make (err, errno, "cannot sync `%s`", tmp);
      goto on_error;
    }
  if (renameat2 (parentfd, tmp, parentfd, name, RENAME_NOREPLACE) < 0)
    {
      pier_error_make (err, errno, "cannot rename `%s` to `%s`", tmp, name);
      goto on_error;
    }
  if (o && o->sync)
    {
      cleanup_close int pfd = openat (parentfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
      if (pfd < 0 || fsync (pfd) < 0)
        return pier_error_make (err, errno, "cannot sync the directory holding `%s`", name);
    }
  return 0;

on_error:
  /* Our error is the one to report; a failed removal is not. */
  remove_tmp (parentfd, tmp);
  return -1;
}
