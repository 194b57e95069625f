/* copyup.c - docker's copy-up: an empty volume takes the image's content
 * at its mount point, as the image has it (owners, modes, times, extended
 * attributes, symlinks, hard links, device nodes, fifos).
 *
 * Every step works on directory fds: names are opened with O_NOFOLLOW
 * relative to their parent, so a symlink (in the image, or planted in the
 * volume meanwhile) is copied as a symlink and never followed. */
#include "engine/volumes_int.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/sendfile.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "util/cleanup.h"
#include "util/fs.h"
#include "util/xalloc.h"

#include "util/banned.h"

/* How deep a tree may go (each level holds two fds). */
#define COPY_MAX_DEPTH 200

/* Hard links: the first copy of each (dev, ino) with more than one name. */
struct links
{
  struct link
  {
    dev_t dev;
    ino_t ino;
    int dirfd; /* dup of the directory the first copy is in */
    char *name;
  } * v;
  size_t n;
};

static void
links_free (struct links *l)
{
  for (size_t i = 0; i < l->n; i++)
    {
      close (l->v[i].dirfd);
      free (l->v[i].name);
    }
  free (l->v);
}

/* Extended attributes of one fd (a regular file or directory).  Those the
 * destination file system refuses (ENOTSUP, EPERM for trusted.*) are
 * skipped, as docker's copy skips them. */
static int
copy_xattrs (int from, int to, const char *what, pier_error **err)
{
  ssize_t n = flistxattr (from, NULL, 0);
  if (n <= 0)
    return 0;
  cleanup_free char *names = xmalloc ((size_t) n);
  n = flistxattr (from, names, (size_t) n);
  if (n <= 0)
    return 0;
  for (char *k = names; k < names + n; k += strlen (k) + 1)
    {
      ssize_t vn = fgetxattr (from, k, NULL, 0);
      if (vn < 0)
        continue;
      cleanup_free char *val = xmalloc ((size_t) vn + 1);
      vn = fgetxattr (from, k, val, (size_t) vn);
      if (vn < 0)
        continue;
      if (fsetxattr (to, k, val, (size_t) vn, 0) < 0 && errno != ENOTSUP && errno != EPERM)
        return pier_error_make (err, errno, "cannot set attribute %s on %s", k, what);
    }
  return 0;
}

/* Owner, then mode (chown clears set-id bits), then times. */
static int
copy_meta_fd (int to, const struct stat *st, const char *what, pier_error **err)
{
  if (fchown (to, st->st_uid, st->st_gid) < 0)
    return pier_error_make (err, errno, "cannot set the owner of %s", what);
  if (fchmod (to, st->st_mode & 07777) < 0)
    return pier_error_make (err, errno, "cannot set the mode of %s", what);
  struct timespec ts[2] = { st->st_atim, st->st_mtim };
  if (futimens (to, ts) < 0)
    return pier_error_make (err, errno, "cannot set the times of %s", what);
  return 0;
}

static int
copy_file (int from_dir, int to_dir, const char *name, const struct stat *st, pier_error **err)
{
  cleanup_close int a = openat (from_dir, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
  if (a < 0)
    return pier_error_make (err, errno, "cannot open %s", name);
  cleanup_close int b = openat (to_dir, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
  if (b < 0)
    return pier_error_make (err, errno, "cannot create %s", name);
  off_t left = st->st_size;
  while (left > 0)
    {
      ssize_t n = sendfile (b, a, NULL, left > (1 << 30) ? (size_t) 1 << 30 : (size_t) left);
      if (n < 0 && errno == EINTR)
        continue;
      if (n < 0)
        return pier_error_make (err, errno, "cannot copy %s", name);
      if (n == 0)
        break; /* the file shrank meanwhile */
      left -= n;
    }
  if (copy_xattrs (a, b, name, err) < 0)
    return -1;
  return copy_meta_fd (b, st, name, err);
}

static int copy_dir (int from, int to, struct links *links, int level, pier_error **err);

static int
copy_entry (int from, int to, const char *name, struct links *links, int level, pier_error **err)
{
  struct stat st;
  if (fstatat (from, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
    {
      if (errno == ENOENT)
        return 0;
      return pier_error_make (err, errno, "cannot stat %s", name);
    }
  if (!S_ISDIR (st.st_mode) && st.st_nlink > 1)
    {
      for (size_t i = 0; i < links->n; i++)
        if (links->v[i].dev == st.st_dev && links->v[i].ino == st.st_ino)
          {
            if (linkat (links->v[i].dirfd, links->v[i].name, to, name, 0) < 0)
              return pier_error_make (err, errno, "cannot link %s", name);
            return 0;
          }
    }
  if (S_ISDIR (st.st_mode))
    {
      if (level >= COPY_MAX_DEPTH)
        return pier_error_makex (err, ELOOP, "%s: the tree is deeper than %d levels", name, COPY_MAX_DEPTH);
      if (mkdirat (to, name, 0700) < 0)
        return pier_error_make (err, errno, "cannot create directory %s", name);
      cleanup_close int a = openat (from, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
      cleanup_close int b = openat (to, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
      if (a < 0 || b < 0)
        return pier_error_make (err, errno, "cannot open directory %s", name);
      if (copy_dir (a, b, links, level + 1, err) < 0)
        return pier_error_wrap (err, "%s", name);
      if (copy_xattrs (a, b, name, err) < 0)
        return -1;
      return copy_meta_fd (b, &st, name, err);
    }
  if (S_ISREG (st.st_mode))
    {
      if (copy_file (from, to, name, &st, err) < 0)
        return -1;
    }
  else if (S_ISLNK (st.st_mode))
    {
      char target[PATH_MAX];
      ssize_t n = readlinkat (from, name, target, sizeof target - 1);
      if (n < 0)
        return pier_error_make (err, errno, "cannot read symlink %s", name);
      target[n] = '\0';
      if (symlinkat (target, to, name) < 0)
        return pier_error_make (err, errno, "cannot create symlink %s", name);
      if (fchownat (to, name, st.st_uid, st.st_gid, AT_SYMLINK_NOFOLLOW) < 0)
        return pier_error_make (err, errno, "cannot set the owner of %s", name);
      struct timespec ts[2] = { st.st_atim, st.st_mtim };
      if (utimensat (to, name, ts, AT_SYMLINK_NOFOLLOW) < 0)
        return pier_error_make (err, errno, "cannot set the times of %s", name);
    }
  else
    {
      /* Devices, fifos, sockets. */
      if (mknodat (to, name, st.st_mode, st.st_rdev) < 0)
        return pier_error_make (err, errno, "cannot create %s", name);
      if (fchownat (to, name, st.st_uid, st.st_gid, AT_SYMLINK_NOFOLLOW) < 0
          || fchmodat (to, name, st.st_mode & 07777, 0) < 0)
        return pier_error_make (err, errno, "cannot set the owner and mode of %s", name);
      struct timespec ts[2] = { st.st_atim, st.st_mtim };
      if (utimensat (to, name, ts, AT_SYMLINK_NOFOLLOW) < 0)
        return pier_error_make (err, errno, "cannot set the times of %s", name);
    }
  if (st.st_nlink > 1)
    {
      links->v = xrealloc (links->v, (links->n + 1) * sizeof *links->v);
      links->v[links->n++]
          = (struct link){ st.st_dev, st.st_ino, fcntl (to, F_DUPFD_CLOEXEC, 3), xstrdup (name) };
    }
  return 0;
}

static int
copy_dir (int from, int to, struct links *links, int level, pier_error **err)
{
  /* A file description of its own: a dup would share (and move) the
   * caller's directory offset. */
  int fd = openat (from, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  DIR *d = fd >= 0 ? fdopendir (fd) : NULL;
  if (d == NULL)
    {
      int e = errno;
      if (fd >= 0)
        close (fd);
      return pier_error_make (err, e, "cannot read a directory");
    }
  struct dirent *de;
  int r = 0;
  while (r == 0 && (errno = 0, de = readdir (d)))
    {
      if (strcmp (de->d_name, ".") == 0 || strcmp (de->d_name, "..") == 0)
        continue;
      r = copy_entry (from, to, de->d_name, links, level, err);
    }
  if (r == 0 && errno)
    r = pier_error_make (err, errno, "cannot read a directory");
  closedir (d);
  return r;
}

int
pier_copy_up (int src, int dst, pier_error **err)
{
  struct links links = { NULL, 0 };
  int r = copy_dir (src, dst, &links, 0, err);
  links_free (&links);
  if (r < 0)
    return -1;
  struct stat st;
  if (fstat (src, &st) < 0)
    return pier_error_make (err, errno, "cannot stat the image's directory");
  if (copy_xattrs (src, dst, "the volume", err) < 0)
    return -1;
  /* docker's copyOwnership: the volume's root takes the directory's owner
   * and mode. */
  if (fchown (dst, st.st_uid, st.st_gid) < 0 || fchmod (dst, st.st_mode & 07777) < 0)
    return pier_error_make (err, errno, "cannot set the owner and mode of the volume");
  return 0;
}
