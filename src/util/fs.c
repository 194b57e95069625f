#include "util/fs.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "util/cleanup.h"
#include "util/xalloc.h"
#include "util/banned.h"

#ifndef RESOLVE_IN_ROOT
struct open_how
{
  uint64_t flags;
  uint64_t mode;
  uint64_t resolve;
};
#define RESOLVE_NO_XDEV 0x01
#define RESOLVE_NO_MAGICLINKS 0x02
#define RESOLVE_NO_SYMLINKS 0x04
#define RESOLVE_BENEATH 0x08
#define RESOLVE_IN_ROOT 0x10
#endif
#ifndef SYS_openat2
#define SYS_openat2 437
#endif

static int openat2_works = 1;

static bool
same_inode (int a, int b)
{
  struct stat sa, sb;
  return fstat (a, &sa) == 0 && fstat (b, &sb) == 0 && sa.st_dev == sb.st_dev && sa.st_ino == sb.st_ino;
}

/* Fallback resolver for kernels without openat2: walk one component at a
 * time from rootfd, never following a symlink with the kernel.  Links are
 * read and their target spliced in front of the rest of the path
 * (absolute targets restart at the root), ".." stops at the root, and
 * every directory step is opened O_NOFOLLOW|O_DIRECTORY so a link swapped
 * in behind our back makes the walk fail instead of escape. */
static int
walk_in_root (int rootfd, const char *path, int flags, mode_t mode)
{
  cleanup_free char *rest = xstrdup (path);
  cleanup_close int cur = openat (rootfd, ".", O_PATH | O_DIRECTORY | O_CLOEXEC);
  int links = 0;

  if (cur < 0)
    return -1;
  for (;;)
    {
      char *p = rest;
      while (*p == '/')
        p++;
      if (*p == '\0')
        return openat (cur, ".", flags | O_CLOEXEC, mode);
      char *slash = strchr (p, '/');
      size_t len = slash ? (size_t) (slash - p) : strlen (p);
      char *after = p + len;
      while (*after == '/')
        after++;
      bool last = *after == '\0';
      cleanup_free char *comp = xstrndup (p, len);
      cleanup_free char *tail = xstrdup (after);

      if (strcmp (comp, ".") == 0 || strcmp (comp, "..") == 0)
        {
          if (comp[1] == '.' && !same_inode (cur, rootfd))
            {
              int up = openat (cur, "..", O_PATH | O_DIRECTORY | O_CLOEXEC);
              if (up < 0)
                return -1;
              close (cur);
              cur = up;
            }
          free (rest);
          rest = steal_pointer (&tail);
          continue;
        }
      struct stat st;
      bool is_link = fstatat (cur, comp, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISLNK (st.st_mode);
      if (is_link && !(last && (flags & O_NOFOLLOW)))
        {
          char target[PATH_MAX];
          if (++links > 40)
            {
              errno = ELOOP;
              return -1;
            }
          ssize_t n = readlinkat (cur, comp, target, sizeof target - 1);
          if (n < 0)
            return -1;
          target[n] = '\0';
          if (target[0] == '/')
            {
              int r = openat (rootfd, ".", O_PATH | O_DIRECTORY | O_CLOEXEC);
              if (r < 0)
                return -1;
              close (cur);
              cur = r;
            }
          free (rest);
          rest = *tail ? xasprintf ("%s/%s", target, tail) : xstrdup (target);
          continue;
        }
      if (last)
        return openat (cur, comp, flags | O_NOFOLLOW | O_CLOEXEC, mode);
      int next = openat (cur, comp, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
      if (next < 0)
        return -1;
      close (cur);
      cur = next;
      free (rest);
      rest = steal_pointer (&tail);
    }
}

static int
open_in_root_raw (int rootfd, const char *path, int flags, mode_t mode)
{
  const char *p = path;
  while (*p == '/')
    p++;
  if (*p == '\0')
    p = ".";
  if (openat2_works)
    {
      struct open_how how = { 0 };
      how.flags = (uint64_t) (flags | O_CLOEXEC);
      how.mode = (flags & (O_CREAT | O_TMPFILE)) ? mode : 0;
      how.resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS;
      int fd;
      do
        fd = (int) syscall (SYS_openat2, rootfd, p, &how, sizeof how);
      while (fd < 0 && (errno == EINTR || errno == EAGAIN));
      if (fd >= 0 || errno != ENOSYS)
        return fd;
      openat2_works = 0;
    }
  return walk_in_root (rootfd, p, flags, mode);
}

int
pier_open_in_root (int rootfd, const char *path, int flags, mode_t mode, pier_error **err)
{
  int fd = open_in_root_raw (rootfd, path, flags, mode);
  if (fd < 0)
    return pier_error_make (err, errno, "cannot open `%s`", path);
  return fd;
}

int
pier_mkdir_in_root (int rootfd, const char *path, mode_t mode, pier_error **err)
{
  cleanup_free char *copy = xstrdup (path);
  cleanup_free char *sofar = xstrdup ("");
  char *save = NULL;
  int fd = open_in_root_raw (rootfd, path, O_PATH | O_DIRECTORY, 0);

  if (fd >= 0)
    return fd;
  for (char *c = strtok_r (copy, "/", &save); c; c = strtok_r (NULL, "/", &save))
    {
      char *n = xasprintf ("%s/%s", sofar, c);
      free (sofar);
      sofar = n;
      if (strcmp (c, ".") == 0 || strcmp (c, "..") == 0)
        continue;
      cleanup_close int d = open_in_root_raw (rootfd, sofar, O_PATH | O_DIRECTORY, 0);
      if (d >= 0)
        continue;
      if (errno != ENOENT)
        return pier_error_make (err, errno, "cannot open directory `%s`", sofar);
      /* Create the last component relative to its (safely opened) parent. */
      char *slash = strrchr (sofar, '/');
      *slash = '\0';
      cleanup_close int parent = open_in_root_raw (rootfd, *sofar ? sofar : "/", O_PATH | O_DIRECTORY, 0);
      *slash = '/';
      if (parent < 0)
        return pier_error_make (err, errno, "cannot open directory `%s`", sofar);
      if (mkdirat (parent, c, mode) < 0 && errno != EEXIST)
        return pier_error_make (err, errno, "cannot create directory `%s`", sofar);
    }
  fd = open_in_root_raw (rootfd, path, O_PATH | O_DIRECTORY, 0);
  if (fd < 0)
    return pier_error_make (err, errno, "cannot open directory `%s`", path);
  return fd;
}

int
pier_ensure_in_root (int rootfd, const char *path, int is_dir, pier_error **err)
{
  int fd = open_in_root_raw (rootfd, path, O_PATH, 0);
  if (fd >= 0)
    return fd;
  if (errno != ENOENT)
    return pier_error_make (err, errno, "cannot open `%s`", path);
  if (is_dir)
    return pier_mkdir_in_root (rootfd, path, 0755, err);

  cleanup_free char *dir = xstrdup (path);
  char *slash = strrchr (dir, '/');
  const char *base = path;
  cleanup_close int parent = -1;
  if (slash)
    {
      *slash = '\0';
      base = slash + 1;
      parent = pier_mkdir_in_root (rootfd, *dir ? dir : "/", 0755, err);
    }
  else
    parent = pier_mkdir_in_root (rootfd, "/", 0755, err);
  if (parent < 0)
    return -1;
  /* An O_PATH parent cannot be used to create: reopen it as a directory. */
  cleanup_close int pdir = openat (parent, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (pdir < 0)
    return pier_error_make (err, errno, "cannot open parent of `%s`", path);
  int f = openat (pdir, base, O_CREAT | O_WRONLY | O_NOFOLLOW | O_CLOEXEC, 0644);
  if (f < 0 && errno != EEXIST)
    return pier_error_make (err, errno, "cannot create `%s`", path);
  if (f >= 0)
    close (f);
  fd = openat (pdir, base, O_PATH | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0)
    return pier_error_make (err, errno, "cannot open `%s`", path);
  return fd;
}

int
pier_write_all (int fd, const void *buf, size_t len)
{
  const char *p = buf;
  while (len > 0)
    {
      ssize_t w = write (fd, p, len);
      if (w < 0 && errno == EINTR)
        continue;
      if (w < 0)
        return -1;
      p += w;
      len -= (size_t) w;
    }
  return 0;
}

static int
replace_file (int dirfd, const char *name, const void *data, size_t len, mode_t mode, bool durable,
              pier_error **err)
{
  cleanup_free char *tmp = xasprintf (".%s.tmp.%d", name, (int) getpid ());
  cleanup_close int fd = openat (dirfd, tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, mode);
  if (fd < 0)
    return pier_error_make (err, errno, "cannot create `%s`", tmp);
  if (pier_write_all (fd, data, len) < 0 || (durable && fsync (fd) < 0))
    {
      int e = errno;
      unlinkat (dirfd, tmp, 0);
      return pier_error_make (err, e, "cannot write `%s`", name);
    }
  if (renameat (dirfd, tmp, dirfd, name) < 0)
    {
      int e = errno;
      unlinkat (dirfd, tmp, 0);
      return pier_error_make (err, e, "cannot rename `%s`", name);
    }
  if (durable)
    fsync (dirfd);
  return 0;
}

int
pier_atomic_write (int dirfd, const char *name, const void *data, size_t len, mode_t mode, pier_error **err)
{
  return replace_file (dirfd, name, data, len, mode, true, err);
}

int
pier_atomic_replace (int dirfd, const char *name, const void *data, size_t len, mode_t mode, pier_error **err)
{
  return replace_file (dirfd, name, data, len, mode, false, err);
}

int
pier_read_fd (int fd, const char *what, char **out, size_t *len, pier_error **err)
{
  size_t cap = 4096, n = 0;
  cleanup_free char *buf = xmalloc (cap);
  for (;;)
    {
      if (n + 1 >= cap)
        {
          cap *= 2;
          buf = xrealloc (buf, cap);
        }
      ssize_t r = read (fd, buf + n, cap - n - 1);
      if (r < 0 && errno == EINTR)
        continue;
      if (r < 0)
        return pier_error_make (err, errno, "cannot read `%s`", what);
      if (r == 0)
        break;
      n += (size_t) r;
    }
  buf[n] = '\0';
  if (len)
    *len = n;
  *out = steal_pointer (&buf);
  return 0;
}

int
pier_read_file_at (int dirfd, const char *path, char **out, size_t *len, pier_error **err)
{
  cleanup_close int fd = openat (dirfd, path, O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    return pier_error_make (err, errno, "cannot open `%s`", path);
  return pier_read_fd (fd, path, out, len, err);
}

int
pier_write_file_at (int dirfd, const char *path, const char *data, size_t len, pier_error **err)
{
  cleanup_close int fd = openat (dirfd, path, O_WRONLY | O_CLOEXEC);
  if (fd < 0)
    return pier_error_make (err, errno, "cannot open `%s`", path);
  ssize_t w;
  do
    w = write (fd, data, len);
  while (w < 0 && errno == EINTR);
  if (w < 0)
    return pier_error_make (err, errno, "cannot write `%.*s` to `%s`", (int) (len > 64 ? 64 : len), data,
                            path);
  return 0;
}

int
pier_dir_check_empty (int dirfd, const char *what, pier_error **err)
{
  int fd = openat (dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0)
    return pier_error_make (err, errno, "cannot open %s", what);
  DIR *d = fdopendir (fd);
  if (d == NULL)
    {
      int e = errno;
      close (fd);
      return pier_error_make (err, e, "cannot read %s", what);
    }
  struct dirent *de;
  int rc = 0;
  while (rc == 0 && (de = readdir (d)))
    if (strcmp (de->d_name, ".") != 0 && strcmp (de->d_name, "..") != 0)
      rc = pier_error_makex (err, ENOTEMPTY, "%s is not empty (it holds `%s`)", what, de->d_name);
  closedir (d);
  return rc;
}

int
pier_rmtree_at (int parent, const char *name, pier_error **err)
{
  if (unlinkat (parent, name, 0) == 0 || errno == ENOENT)
    return 0;
  if (errno != EISDIR && errno != EPERM)
    return pier_error_make (err, errno, "cannot remove `%s`", name);
  cleanup_close int fd = openat (parent, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0)
    return pier_error_make (err, errno, "cannot open `%s`", name);
  DIR *d = fdopendir (fd);
  if (d == NULL)
    return pier_error_make (err, errno, "cannot read `%s`", name);
  fd = -1; /* owned by d now */
  struct dirent *de;
  int ret = 0;
  while ((de = readdir (d)))
    {
      if (strcmp (de->d_name, ".") == 0 || strcmp (de->d_name, "..") == 0)
        continue;
      if (pier_rmtree_at (dirfd (d), de->d_name, err) < 0)
        {
          ret = -1;
          break;
        }
    }
  closedir (d);
  if (ret < 0)
    return ret;
  if (unlinkat (parent, name, AT_REMOVEDIR) < 0 && errno != ENOENT)
    return pier_error_make (err, errno, "cannot remove `%s`", name);
  return 0;
}

char *
pier_path_join (const char *a, const char *b)
{
  size_t la = strlen (a);
  while (la > 0 && a[la - 1] == '/')
    la--;
  while (*b == '/')
    b++;
  return xasprintf ("%.*s/%s", (int) la, a, b);
}
