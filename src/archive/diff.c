/* diff.c - a directory of changes as an OCI layer tar (see diff.h). */
#include "archive/archive_dl.h"
#include "archive/diff.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "util/cleanup.h"
#include "util/xalloc.h"

#include "util/banned.h"

struct link
{
  dev_t dev;
  ino_t ino;
  char *path;
};

struct diff
{
  struct archive *a;
  const pier_diff_opts *o;
  pier_diff_sink sink;
  void *data;
  pier_error *sink_err;
  struct link *links;
  size_t n_links, cap_links;
  uint64_t entries;
  uint64_t file_bytes;
};

static la_ssize_t
on_write (struct archive *a, void *p, const void *buf, size_t len)
{
  struct diff *d = p;
  (void) a;
  if (d->sink (d->data, buf, len, &d->sink_err) < 0)
    return -1;
  return (la_ssize_t) len;
}

static int
ar_fail (struct diff *d, const char *path, pier_error **err)
{
  if (d->sink_err)
    {
      *err = d->sink_err;
      d->sink_err = NULL;
      return pier_error_wrap (err, "cannot write the layer at `%s`", path);
    }
  return pier_error_makex (err, EIO, "cannot write the layer at `%s`: %s", path, archive_error_string (d->a));
}

static bool
overlay_xattr (const char *name)
{
  return strncmp (name, "trusted.overlay.", 16) == 0 || strncmp (name, "user.overlay.", 13) == 0;
}

static int
cmp_names (const void *a, const void *b)
{
  return strcmp (*(char *const *) a, *(char *const *) b);
}

/* The sorted names in the directory fd (not closed). */
static int
list_names (int fd, const char *path, char ***out, pier_error **err)
{
  int dup_fd = dup (fd);
  if (dup_fd < 0)
    return pier_error_make (err, errno, "cannot read `%s`", path);
  DIR *dir = fdopendir (dup_fd);
  if (dir == NULL)
    {
      close (dup_fd);
      return pier_error_make (err, errno, "cannot read `%s`", path);
    }
  rewinddir (dir);
  char **names = NULL;
  struct dirent *de;
  errno = 0;
  while ((de = readdir (dir)))
    if (strcmp (de->d_name, ".") != 0 && strcmp (de->d_name, "..") != 0)
      strv_push (&names, de->d_name);
  int e = errno;
  closedir (dir);
  if (e)
    {
      strv_free (names);
      return pier_error_make (err, e, "cannot read `%s`", path);
    }
  if (names)
    qsort (names, strv_len (names), sizeof *names, cmp_names);
  *out = names;
  return 0;
}

/* An xattr of the file open at fd, or NULL when absent. */
static char *
get_xattr (int fd, const char *name, ssize_t *len)
{
  ssize_t n = fgetxattr (fd, name, NULL, 0);
  if (n < 0)
    return NULL;
  char *v = xmalloc ((size_t) n + 1);
  n = fgetxattr (fd, name, v, (size_t) n);
  if (n < 0)
    {
      free (v);
      return NULL;
    }
  v[n] = 0;
  *len = n;
  return v;
}

static int
add_xattrs (struct archive_entry *e, int fd, bool fix, bool *opaque, bool *xwhiteout)
{
  char list[65536];
  ssize_t n = flistxattr (fd, list, sizeof list);
  if (n < 0)
    return (errno == ENOTSUP || errno == ENODATA) ? 0 : -1;
  for (ssize_t off = 0; off < n; off += (ssize_t) strlen (list + off) + 1)
    {
      const char *name = list + off;
      ssize_t len = 0;
      cleanup_free char *v = get_xattr (fd, name, &len);
      if (v == NULL)
        continue;
      if (strcmp (name, "trusted.overlay.opaque") == 0 || strcmp (name, "user.overlay.opaque") == 0)
        *opaque |= strcmp (v, "y") == 0;
      else if (strcmp (name, "user.overlay.whiteout") == 0 || strcmp (name, "trusted.overlay.whiteout") == 0)
        *xwhiteout = true;
      if (!overlay_xattr (name))
        archive_entry_xattr_add_entry (e, name, v, (size_t) len);
      else if (fix && strcmp (name, "trusted.overlay.opaque") != 0
               && strcmp (name, "user.overlay.opaque") != 0)
        fremovexattr (fd, name);
    }
  return 0;
}

static int
write_plain (struct diff *d, const char *path, mode_t mode, pier_error **err)
{
  struct archive_entry *e = archive_entry_new ();
  archive_entry_set_pathname (e, path);
  archive_entry_set_filetype (e, AE_IFREG);
  archive_entry_set_perm (e, mode);
  archive_entry_set_size (e, 0);
  archive_entry_set_mtime (e, d->o->clamp_mtime >= 0 ? d->o->clamp_mtime : 0, 0);
  int r = archive_write_header (d->a, e);
  archive_entry_free (e);
  if (r != ARCHIVE_OK && r != ARCHIVE_WARN)
    return ar_fail (d, path, err);
  d->entries++;
  return 0;
}

static int walk (struct diff *d, int dirfd, const char *prefix, pier_error **err);

bool
pier_diff_is_empty_listed (int dirfd, const char *name, const char *path, const char *const *skip)
{
  bool listed = false;
  for (size_t i = 0; skip && skip[i] && !listed; i++)
    listed = strcmp (skip[i], path) == 0;
  if (!listed)
    return false;
  struct stat st;
  if (fstatat (dirfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
    return false;
  if (S_ISREG (st.st_mode))
    return st.st_size == 0;
  if (!S_ISDIR (st.st_mode))
    return false;
  cleanup_close int fd = openat (dirfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  cleanup_strv char **names = NULL;
  if (fd < 0 || list_names (fd, path, &names, NULL) < 0)
    return false;
  return names == NULL || names[0] == NULL;
}

static int
write_entry (struct diff *d, int dirfd, const char *name, const char *path, pier_error **err)
{
  struct stat st;
  if (fstatat (dirfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
    return pier_error_make (err, errno, "cannot stat `%s`", path);
  if (d->o->skip_empty && pier_diff_is_empty_listed (dirfd, name, path, d->o->skip_empty))
    return 0;

  /* A whiteout: overlay's char 0/0. */
  if (S_ISCHR (st.st_mode) && st.st_rdev == makedev (0, 0))
    {
      const char *slash = strrchr (path, '/');
      cleanup_free char *wh = slash ? xasprintf ("%.*s/.wh.%s", (int) (slash - path), path, slash + 1)
                                    : xasprintf (".wh.%s", path);
      return write_plain (d, wh, 0, err);
    }

  cleanup_close int fd = -1;
  if (S_ISREG (st.st_mode) || S_ISDIR (st.st_mode))
    {
      fd = openat (dirfd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | (S_ISDIR (st.st_mode) ? O_DIRECTORY : 0));
      if (fd < 0)
        return pier_error_make (err, errno, "cannot open `%s`", path);
    }
  else
    {
      fd = openat (dirfd, name, O_PATH | O_NOFOLLOW | O_CLOEXEC);
      if (fd < 0)
        return pier_error_make (err, errno, "cannot open `%s`", path);
    }
  struct archive_entry *e = archive_entry_new ();
  bool opaque = false, xwhiteout = false;
  /* xattrs of files and directories (an O_PATH fd of anything else has
   * none to read). */
  if ((S_ISREG (st.st_mode) || S_ISDIR (st.st_mode))
      && add_xattrs (e, fd, d->o->fix_tree, &opaque, &xwhiteout) < 0)
    {
      archive_entry_free (e);
      return pier_error_make (err, errno, "cannot read the xattrs of `%s`", path);
    }
  if (xwhiteout && S_ISREG (st.st_mode) && st.st_size == 0)
    {
      archive_entry_free (e);
      const char *slash = strrchr (path, '/');
      cleanup_free char *wh = slash ? xasprintf ("%.*s/.wh.%s", (int) (slash - path), path, slash + 1)
                                    : xasprintf (".wh.%s", path);
      return write_plain (d, wh, 0, err);
    }

  cleanup_free char *apath = S_ISDIR (st.st_mode) ? xasprintf ("%s/", path) : xstrdup (path);
  archive_entry_set_pathname (e, apath);
  archive_entry_set_uid (e, st.st_uid);
  archive_entry_set_gid (e, st.st_gid);
  archive_entry_set_perm (e, st.st_mode & 07777);
  int64_t mtime = st.st_mtim.tv_sec;
  long mtime_ns = st.st_mtim.tv_nsec;
  if (d->o->clamp_mtime >= 0 && mtime >= d->o->clamp_mtime)
    {
      mtime = d->o->clamp_mtime;
      mtime_ns = 0;
    }
  archive_entry_set_mtime (e, mtime, mtime_ns);
  if (d->o->fix_tree && (mtime != st.st_mtim.tv_sec || mtime_ns != st.st_mtim.tv_nsec))
    {
      struct timespec ts[2] = { { mtime, mtime_ns }, { mtime, mtime_ns } };
      utimensat (dirfd, name, ts, AT_SYMLINK_NOFOLLOW);
    }

  bool data = false;
  if (S_ISREG (st.st_mode))
    {
      if (st.st_nlink > 1)
        {
          for (size_t i = 0; i < d->n_links; i++)
            if (d->links[i].dev == st.st_dev && d->links[i].ino == st.st_ino)
              {
                archive_entry_set_filetype (e, AE_IFREG);
                archive_entry_set_hardlink (e, d->links[i].path);
                archive_entry_set_size (e, 0);
                goto header;
              }
          if (d->n_links == d->cap_links)
            d->links = xrealloc (d->links,
                                 (d->cap_links = d->cap_links ? d->cap_links * 2 : 16) * sizeof *d->links);
          d->links[d->n_links++] = (struct link){ st.st_dev, st.st_ino, xstrdup (path) };
        }
      archive_entry_set_filetype (e, AE_IFREG);
      archive_entry_set_size (e, st.st_size);
      d->file_bytes += (uint64_t) st.st_size;
      data = true;
    }
  else if (S_ISDIR (st.st_mode))
    archive_entry_set_filetype (e, AE_IFDIR);
  else if (S_ISLNK (st.st_mode))
    {
      char target[PATH_MAX + 1];
      ssize_t n = readlinkat (dirfd, name, target, PATH_MAX);
      if (n < 0)
        {
          archive_entry_free (e);
          return pier_error_make (err, errno, "cannot read the link `%s`", path);
        }
      target[n] = 0;
      archive_entry_set_filetype (e, AE_IFLNK);
      archive_entry_set_symlink (e, target);
    }
  else if (S_ISCHR (st.st_mode) || S_ISBLK (st.st_mode))
    {
      archive_entry_set_filetype (e, S_ISCHR (st.st_mode) ? AE_IFCHR : AE_IFBLK);
      archive_entry_set_rdevmajor (e, major (st.st_rdev));
      archive_entry_set_rdevminor (e, minor (st.st_rdev));
    }
  else if (S_ISFIFO (st.st_mode))
    archive_entry_set_filetype (e, AE_IFIFO);
  else
    {
      /* Sockets have no tar form; docker skips them too. */
      archive_entry_free (e);
      return 0;
    }
header:;
  int r = archive_write_header (d->a, e);
  archive_entry_free (e);
  if (r != ARCHIVE_OK && r != ARCHIVE_WARN)
    return ar_fail (d, path, err);
  d->entries++;
  if (data)
    {
      char buf[1 << 16];
      off_t left = st.st_size;
      while (left > 0)
        {
          ssize_t n = read (fd, buf, sizeof buf);
          if (n < 0 && errno == EINTR)
            continue;
          if (n < 0)
            return pier_error_make (err, errno, "cannot read `%s`", path);
          if (n == 0)
            return pier_error_makex (err, EIO, "`%s` shrank while it was written to the layer", path);
          if (n > left)
            n = (ssize_t) left;
          if (archive_write_data (d->a, buf, (size_t) n) != n)
            return ar_fail (d, path, err);
          left -= n;
        }
    }
  if (S_ISDIR (st.st_mode))
    {
      if (opaque)
        {
          cleanup_free char *opq = xasprintf ("%s/.wh..wh..opq", path);
          if (write_plain (d, opq, 0, err) < 0)
            return -1;
        }
      return walk (d, fd, path, err);
    }
  return 0;
}

static int
walk (struct diff *d, int dirfd, const char *prefix, pier_error **err)
{
  cleanup_strv char **names = NULL;
  if (list_names (dirfd, prefix ? prefix : ".", &names, err) < 0)
    return -1;
  for (size_t i = 0; names && names[i]; i++)
    {
      cleanup_free char *path = prefix ? xasprintf ("%s/%s", prefix, names[i]) : xstrdup (names[i]);
      if (write_entry (d, dirfd, names[i], path, err) < 0)
        return -1;
    }
  return 0;
}

int
pier_layer_diff (int dirfd, const pier_diff_opts *o, pier_diff_sink sink, void *data, uint64_t *file_bytes,
                 pier_error **err)
{
  struct diff d = { .o = o, .sink = sink, .data = data };
  if (pier_archive_dl_open (err) < 0)
    return -1;
  d.a = archive_write_new ();
  archive_write_set_format_pax_restricted (d.a);
  archive_write_set_bytes_per_block (d.a, 10240);
  archive_write_set_bytes_in_last_block (d.a, 1);
  int rc = -1;
  if (archive_write_open (d.a, &d, NULL, on_write, NULL) != ARCHIVE_OK)
    {
      ar_fail (&d, ".", err);
      goto out;
    }
  if (walk (&d, dirfd, NULL, err) < 0)
    goto out;
  if (archive_write_close (d.a) != ARCHIVE_OK)
    {
      ar_fail (&d, ".", err);
      goto out;
    }
  if (file_bytes)
    *file_bytes = d.file_bytes;
  rc = 0;
out:
  archive_write_free (d.a);
  for (size_t i = 0; i < d.n_links; i++)
    free (d.links[i].path);
  free (d.links);
  pier_error_free (&d.sink_err);
  return rc;
}
