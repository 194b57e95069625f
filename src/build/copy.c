/* copy.c - COPY and ADD (see copy.h). */
#include "archive/archive_dl.h"
#include "build/copy.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/sendfile.h>
#include <sys/stat.h>
#include <unistd.h>

#include "engine/engine.h"
#include "runtime/spec.h"
#include "util/cleanup.h"
#include "util/json.h"
#include "util/digest.h"
#include "util/fs.h"
#include "util/xalloc.h"

#include "util/banned.h"

/* /proc/self/fd, opened before any chroot: an O_PATH fd is reopened for
 * reading through it. */
static int proc_fds = -1;

static int
reopen_read (int fd)
{
  if (proc_fds < 0)
    proc_fds = open ("/proc/self/fd", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  char name[32];
  snprintf (name, sizeof name, "%d", fd);
  return openat (proc_fds, name, O_RDONLY | O_CLOEXEC);
}

static bool
has_glob (const char *s)
{
  return strpbrk (s, "*?[") != NULL;
}

static bool
excluded (const pier_copy *c, const char *rel)
{
  return c->ig && pier_ignore_excluded (c->ig, rel);
}

static int
cmp_names (const void *a, const void *b)
{
  return strcmp (*(char *const *) a, *(char *const *) b);
}

/* Sorted entry names of the directory at fd (not closed). */
static char **
dir_names (int fd)
{
  int d = dup (fd);
  if (d < 0)
    return NULL;
  DIR *dir = fdopendir (d);
  if (dir == NULL)
    {
      close (d);
      return NULL;
    }
  rewinddir (dir);
  char **names = NULL;
  struct dirent *de;
  while ((de = readdir (dir)))
    if (strcmp (de->d_name, ".") != 0 && strcmp (de->d_name, "..") != 0)
      strv_push (&names, de->d_name);
  closedir (dir);
  if (names)
    qsort (names, strv_len (names), sizeof *names, cmp_names);
  return names;
}

/* Match the pattern's components from the directory rel ("" the root). */
static void
glob_walk (const pier_copy *c, const char *rel, char **comps, char ***out)
{
  if (comps[0] == NULL)
    {
      strv_push (out, *rel ? rel : ".");
      return;
    }
  if (!has_glob (comps[0]))
    {
      cleanup_free char *next = *rel ? xasprintf ("%s/%s", rel, comps[0]) : xstrdup (comps[0]);
      if (excluded (c, next))
        return;
      int fd = pier_open_in_root (c->srcfd, next, O_PATH, 0, NULL);
      if (fd < 0)
        return;
      close (fd);
      glob_walk (c, next, comps + 1, out);
      return;
    }
  cleanup_close int dfd = *rel ? pier_open_in_root (c->srcfd, rel, O_RDONLY | O_DIRECTORY, 0, NULL)
                               : openat (c->srcfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd < 0)
    return;
  cleanup_strv char **names = dir_names (dfd);
  for (size_t i = 0; names && names[i]; i++)
    {
      if (fnmatch (comps[0], names[i], 0) != 0)
        continue;
      cleanup_free char *next = *rel ? xasprintf ("%s/%s", rel, names[i]) : xstrdup (names[i]);
      if (!excluded (c, next))
        glob_walk (c, next, comps + 1, out);
    }
}

int
pier_copy_expand (const pier_copy *c, char ***paths, pier_error **err)
{
  char **out = NULL;
  for (size_t i = 0; c->sources[i]; i++)
    {
      const char *s = c->sources[i];
      if (strncmp (s, "<<", 2) == 0)
        {
          strv_push (&out, s);
          continue;
        }
      cleanup_free char *clean = pier_ignore_clean_path (s);
      const char *p = clean;
      while (*p == '/')
        p++;
      while (strncmp (p, "../", 3) == 0)
        p += 3;
      if (strcmp (p, "..") == 0 || *p == 0)
        p = ".";
      char **comps = NULL;
      cleanup_free char *copy = xstrdup (p);
      char *save = NULL;
      for (char *t = strtok_r (copy, "/", &save); t; t = strtok_r (NULL, "/", &save))
        if (strcmp (t, ".") != 0)
          strv_push (&comps, t);
      size_t before = out ? strv_len (out) : 0;
      glob_walk (c, "", comps ? comps : (char *[]){ NULL }, &out);
      strv_free (comps);
      if ((out ? strv_len (out) : 0) == before)
        {
          strv_free (out);
          if (has_glob (s))
            return pier_error_makex (err, ENOENT, "no source files were specified: `%s` matches nothing", s);
          return pier_error_makex (err, ENOENT, "\"/%s\": not found", p);
        }
    }
  *paths = out;
  return 0;
}

/* ---- checksum ----------------------------------------------------------- */

static int
sum_tree (const pier_copy *c, pier_sha256 *h, int fd, const char *rel, pier_error **err)
{
  struct stat st;
  if (fstat (fd, &st) < 0)
    return pier_error_make (err, errno, "cannot stat `%s`", rel);
  char line[PATH_MAX + 128];
  int n = snprintf (line, sizeof line, "%s\n%o %lld\n", rel, st.st_mode, (long long) st.st_size);
  pier_sha256_update (h, line, (size_t) n);
  if (S_ISREG (st.st_mode))
    {
      char buf[1 << 16];
      ssize_t r;
      cleanup_close int rfd = reopen_read (fd);
      if (rfd < 0)
        return pier_error_make (err, errno, "cannot read `%s`", rel);
      while ((r = read (rfd, buf, sizeof buf)) > 0)
        pier_sha256_update (h, buf, (size_t) r);
      if (r < 0)
        return pier_error_make (err, errno, "cannot read `%s`", rel);
    }
  else if (S_ISLNK (st.st_mode))
    {
      char target[PATH_MAX + 1];
      ssize_t r = readlinkat (fd, "", target, PATH_MAX);
      if (r >= 0)
        pier_sha256_update (h, target, (size_t) r);
    }
  else if (S_ISDIR (st.st_mode))
    {
      cleanup_close int dfd = openat (fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
      if (dfd < 0)
        return pier_error_make (err, errno, "cannot read `%s`", rel);
      cleanup_strv char **names = dir_names (dfd);
      for (size_t i = 0; names && names[i]; i++)
        {
          cleanup_free char *child
              = strcmp (rel, ".") == 0 ? xstrdup (names[i]) : xasprintf ("%s/%s", rel, names[i]);
          if (excluded (c, child))
            continue;
          cleanup_close int cfd = openat (dfd, names[i], O_PATH | O_NOFOLLOW | O_CLOEXEC);
          if (cfd < 0)
            return pier_error_make (err, errno, "cannot open `%s`", child);
          if (sum_tree (c, h, cfd, child, err) < 0)
            return -1;
        }
    }
  return 0;
}

int
pier_copy_checksum (const pier_copy *c, char hex[65], pier_error **err)
{
  cleanup_strv char **paths = NULL;
  if (pier_copy_expand (c, &paths, err) < 0)
    return -1;
  pier_sha256 *h = pier_sha256_new ();
  int rc = 0;
  for (size_t i = 0; paths[i] && rc == 0; i++)
    {
      if (strncmp (paths[i], "<<", 2) == 0)
        {
          for (size_t k = 0; k < c->n_heredocs; k++)
            if (strcmp (c->heredocs[k].name, paths[i] + 2 + strspn (paths[i] + 2, "-")) == 0)
              pier_sha256_update (h, c->heredocs[k].content, strlen (c->heredocs[k].content));
          continue;
        }
      int fd = strcmp (paths[i], ".") == 0 ? openat (c->srcfd, ".", O_PATH | O_CLOEXEC)
                                           : pier_open_in_root (c->srcfd, paths[i], O_PATH, 0, err);
      if (fd < 0)
        {
          rc = -1;
          break;
        }
      rc = sum_tree (c, h, fd, paths[i], err);
      close (fd);
    }
  pier_sha256_final (h, hex);
  return rc;
}

/* ---- apply (in the step's child, chrooted) ----------------------------- */

struct owner
{
  uid_t uid;
  gid_t gid;
  bool chmod;
  mode_t mode;
};

/* An owner as the kernel must be given it: through c's map, if any
 * ((id_t) -1, "leave it", when the map does not hold it). */
static id_t
map_id (const struct pier_idmap *m, size_t n, id_t id)
{
  if (n == 0)
    return id;
  for (size_t i = 0; i < n; i++)
    if (id >= m[i].container_id && id - m[i].container_id < m[i].size)
      return m[i].host_id + (id - m[i].container_id);
  return (id_t) -1;
}

static int
give (const pier_copy *c, int fd, const char *path, uid_t uid, gid_t gid)
{
  uid = (uid_t) map_id (c->uid_map, c->n_uid_map, uid);
  gid = (gid_t) map_id (c->gid_map, c->n_gid_map, gid);
  return fd >= 0 ? fchown (fd, uid, gid) : lchown (path, uid, gid);
}

/* docker's --chown: "user[:group]", names looked up in the root's
 * /etc/passwd and /etc/group; a user alone gives the same numeric gid. */
static int
resolve_owner (int rootfd, const pier_copy *c, struct owner *o, pier_error **err)
{
  o->uid = 0;
  o->gid = 0;
  if (c->chown && *c->chown)
    {
      cleanup_json json_t *user = json_object ();
      if (pier_engine_resolve_user (rootfd, c->chown, NULL, user, NULL, err) < 0)
        return pier_error_wrap (err, "--chown=%s", c->chown);
      o->uid = (uid_t) json_integer_value (json_object_get (user, "uid"));
      o->gid = strchr (c->chown, ':') ? (gid_t) json_integer_value (json_object_get (user, "gid"))
                                      : (gid_t) o->uid;
    }
  o->chmod = false;
  if (c->chmod && *c->chmod)
    {
      char *end;
      long m = strtol (c->chmod, &end, 8);
      if (*end || m < 0 || m > 07777)
        return pier_error_makex (err, EINVAL, "invalid chmod parameter: %s (an octal mode)", c->chmod);
      o->chmod = true;
      o->mode = (mode_t) m;
    }
  return 0;
}

static void
set_times (const char *path, const struct stat *st, const pier_copy *c)
{
  struct timespec ts[2] = { st->st_mtim, st->st_mtim };
  if (c->clamp_mtime >= 0 && ts[1].tv_sec >= c->clamp_mtime)
    ts[0] = ts[1] = (struct timespec){ c->clamp_mtime, 0 };
  utimensat (AT_FDCWD, path, ts, AT_SYMLINK_NOFOLLOW);
}

/* mkdir -p for the parents of path (new ones owned as o says). */
static int
make_parents (const pier_copy *c, const char *path, const struct owner *o, bool self, pier_error **err)
{
  cleanup_free char *p = xstrdup (path);
  size_t len = strlen (p);
  for (size_t i = 1; i <= len; i++)
    {
      if (p[i] != '/' && p[i] != 0)
        continue;
      if (p[i] == 0 && !self)
        break;
      char saved = p[i];
      p[i] = 0;
      struct stat st;
      if (stat (p, &st) < 0)
        {
          if (mkdir (p, 0755) < 0 && errno != EEXIST)
            return pier_error_make (err, errno, "cannot create directory `%s`", p);
          if (give (c, -1, p, o->uid, o->gid) < 0)
            return pier_error_make (err, errno, "cannot chown `%s`", p);
        }
      else if (!S_ISDIR (st.st_mode))
        return pier_error_makex (err, ENOTDIR, "cannot copy to `%s`: `%s` is not a directory", path, p);
      p[i] = saved;
    }
  return 0;
}

static int copy_node (const pier_copy *c, int fd, const char *rel, const char *dst, const struct owner *o,
                      pier_error **err);

static int
copy_dir_contents (const pier_copy *c, int fd, const char *rel, const char *dst, const struct owner *o,
                   pier_error **err)
{
  cleanup_close int dfd = openat (fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd < 0)
    return pier_error_make (err, errno, "cannot read `%s`", rel);
  cleanup_strv char **names = dir_names (dfd);
  for (size_t i = 0; names && names[i]; i++)
    {
      cleanup_free char *child
          = strcmp (rel, ".") == 0 ? xstrdup (names[i]) : xasprintf ("%s/%s", rel, names[i]);
      if (excluded (c, child))
        continue;
      cleanup_close int cfd = openat (dfd, names[i], O_PATH | O_NOFOLLOW | O_CLOEXEC);
      if (cfd < 0)
        return pier_error_make (err, errno, "cannot open `%s`", child);
      cleanup_free char *cdst
          = strcmp (dst, "/") == 0 ? xasprintf ("/%s", names[i]) : xasprintf ("%s/%s", dst, names[i]);
      if (copy_node (c, cfd, child, cdst, o, err) < 0)
        return -1;
    }
  return 0;
}

static int
copy_node (const pier_copy *c, int fd, const char *rel, const char *dst, const struct owner *o,
           pier_error **err)
{
  struct stat st;
  if (fstat (fd, &st) < 0)
    return pier_error_make (err, errno, "cannot stat `%s`", rel);
  mode_t perm = o->chmod ? o->mode : (st.st_mode & 07777);
  if (S_ISDIR (st.st_mode))
    {
      struct stat dt;
      if (lstat (dst, &dt) == 0 && !S_ISDIR (dt.st_mode))
        {
          if (unlink (dst) < 0)
            return pier_error_make (err, errno, "cannot replace `%s`", dst);
        }
      if (mkdir (dst, 0700) < 0 && errno != EEXIST)
        return pier_error_make (err, errno, "cannot create directory `%s`", dst);
      if (copy_dir_contents (c, fd, rel, dst, o, err) < 0)
        return -1;
      if (give (c, -1, dst, c->keep_owner ? st.st_uid : o->uid, c->keep_owner ? st.st_gid : o->gid) < 0
          || chmod (dst, perm) < 0)
        return pier_error_make (err, errno, "cannot set the owner and mode of `%s`", dst);
      set_times (dst, &st, c);
      return 0;
    }
  struct stat dt;
  if (lstat (dst, &dt) == 0)
    {
      if (S_ISDIR (dt.st_mode))
        return pier_error_makex (err, EISDIR, "cannot copy `%s` to `%s`: it is a directory", rel, dst);
      if (unlink (dst) < 0)
        return pier_error_make (err, errno, "cannot replace `%s`", dst);
    }
  if (S_ISLNK (st.st_mode))
    {
      char target[PATH_MAX + 1];
      ssize_t n = readlinkat (fd, "", target, PATH_MAX);
      if (n < 0)
        return pier_error_make (err, errno, "cannot read the link `%s`", rel);
      target[n] = 0;
      if (symlink (target, dst) < 0)
        return pier_error_make (err, errno, "cannot create the link `%s`", dst);
      if (give (c, -1, dst, c->keep_owner ? st.st_uid : o->uid, c->keep_owner ? st.st_gid : o->gid) < 0)
        return pier_error_make (err, errno, "cannot chown `%s`", dst);
      set_times (dst, &st, c);
      return 0;
    }
  if (!S_ISREG (st.st_mode))
    return pier_error_makex (err, EINVAL, "cannot copy `%s`: not a file, directory or symlink", rel);
  cleanup_close int in = reopen_read (fd);
  if (in < 0)
    return pier_error_make (err, errno, "cannot read `%s`", rel);
  cleanup_close int out = open (dst, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
  if (out < 0)
    return pier_error_make (err, errno, "cannot create `%s`", dst);
  off_t left = st.st_size;
  while (left > 0)
    {
      ssize_t n = sendfile (out, in, NULL, (size_t) (left > (1 << 30) ? (1 << 30) : left));
      if (n < 0 && errno == EINTR)
        continue;
      if (n <= 0)
        return pier_error_make (err, n < 0 ? errno : EIO, "cannot copy `%s`", rel);
      left -= n;
    }
  if (give (c, out, dst, c->keep_owner ? st.st_uid : o->uid, c->keep_owner ? st.st_gid : o->gid) < 0
      || fchmod (out, perm) < 0)
    return pier_error_make (err, errno, "cannot set the owner and mode of `%s`", dst);
  set_times (dst, &st, c);
  return 0;
}

/* ADD of a local archive: tar, maybe compressed.  1 when fd holds one (and
 * it was unpacked into dir), 0 when it is not an archive. */
static int
add_archive (int fd, const char *rel, const char *dir, const struct owner *o, const pier_copy *c,
             pier_error **err)
{
  cleanup_close int rfd = reopen_read (fd);
  if (rfd < 0)
    return pier_error_make (err, errno, "cannot read `%s`", rel);
  if (pier_archive_dl_open (err) < 0)
    return -1;
  struct archive *a = archive_read_new ();
  archive_read_support_filter_all (a);
  archive_read_support_format_tar (a);
  struct archive_entry *e;
  if (archive_read_open_fd (a, rfd, 1 << 16) != ARCHIVE_OK || archive_read_next_header (a, &e) != ARCHIVE_OK)
    {
      archive_read_free (a);
      return 0;
    }
  if (make_parents (c, dir, o, true, err) < 0)
    {
      archive_read_free (a);
      return -1;
    }
  cleanup_close int cwd = open (".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (chdir (dir) < 0)
    {
      archive_read_free (a);
      return pier_error_make (err, errno, "cannot enter `%s`", dir);
    }
  struct archive *w = archive_write_disk_new ();
  archive_write_disk_set_options (w, ARCHIVE_EXTRACT_OWNER | ARCHIVE_EXTRACT_PERM | ARCHIVE_EXTRACT_TIME
                                         | ARCHIVE_EXTRACT_XATTR | ARCHIVE_EXTRACT_SECURE_NODOTDOT
                                         | ARCHIVE_EXTRACT_SECURE_SYMLINKS
                                         | ARCHIVE_EXTRACT_SECURE_NOABSOLUTEPATHS);
  int rc = 1;
  int r = ARCHIVE_OK;
  do
    {
      if (c->chown && *c->chown)
        {
          archive_entry_set_uid (e, o->uid);
          archive_entry_set_gid (e, o->gid);
        }
      if (c->n_uid_map)
        {
          archive_entry_set_uid (e, map_id (c->uid_map, c->n_uid_map, (id_t) archive_entry_uid (e)));
          archive_entry_set_gid (e, map_id (c->gid_map, c->n_gid_map, (id_t) archive_entry_gid (e)));
        }
      if (archive_write_header (w, e) != ARCHIVE_OK)
        {
          pier_error_makex (err, EINVAL, "ADD %s: entry `%s`: %s", rel, archive_entry_pathname (e),
                            archive_error_string (w));
          rc = -1;
          break;
        }
      const void *buf;
      size_t size;
      la_int64_t off;
      while ((r = archive_read_data_block (a, &buf, &size, &off)) == ARCHIVE_OK)
        if (archive_write_data_block (w, buf, size, off) != ARCHIVE_OK)
          break;
      if (r != ARCHIVE_EOF)
        {
          pier_error_makex (err, EINVAL, "ADD %s: entry `%s`: %s", rel, archive_entry_pathname (e),
                            archive_error_string (a));
          rc = -1;
          break;
        }
      archive_write_finish_entry (w);
    }
  while ((r = archive_read_next_header (a, &e)) == ARCHIVE_OK);
  if (rc == 1 && r != ARCHIVE_EOF)
    {
      pier_error_makex (err, EINVAL, "ADD %s: %s", rel, archive_error_string (a));
      rc = -1;
    }
  archive_write_close (w);
  archive_write_free (w);
  archive_read_free (a);
  if (cwd >= 0 && fchdir (cwd) < 0)
    (void) 0;
  return rc;
}

static const char *
base_name (const char *p)
{
  const char *s = strrchr (p, '/');
  return s ? s + 1 : p;
}

int
pier_copy_apply (int rootfd, const pier_copy *c, pier_error **err)
{
  cleanup_strv char **paths = NULL;
  struct owner o;
  if (pier_copy_expand (c, &paths, err) < 0)
    return -1;
  /* This process's own (an inherited one would be the parent's). */
  if (proc_fds >= 0)
    close (proc_fds);
  proc_fds = open ("/proc/self/fd", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (resolve_owner (rootfd, c, &o, err) < 0)
    return -1;
  /* ADD unpacks archives: libarchive must be opened while the host's
   * libraries are still in view. */
  if (pier_archive_dl_open (err) < 0)
    return -1;
  if (fchdir (rootfd) < 0 || chroot (".") < 0 || chdir ("/") < 0)
    return pier_error_make (err, errno, "cannot enter the build root");
  size_t n = strv_len (paths);
  bool to_dir = c->dest_is_dir || n > 1;
  if (n > 1 && !c->dest_is_dir)
    return pier_error_makex (
        err, EINVAL,
        "When using COPY with more than one source file, the destination must be a directory "
        "and end with a /");
  struct stat dst;
  if (!to_dir && stat (c->dest, &dst) == 0 && S_ISDIR (dst.st_mode))
    to_dir = true;
  for (size_t i = 0; i < n; i++)
    {
      if (strncmp (paths[i], "<<", 2) == 0)
        {
          const char *name = paths[i] + 2 + strspn (paths[i] + 2, "-");
          const pier_df_heredoc *h = NULL;
          for (size_t k = 0; k < c->n_heredocs; k++)
            if (strcmp (c->heredocs[k].name, name) == 0)
              h = &c->heredocs[k];
          if (h == NULL)
            return pier_error_makex (err, EINVAL, "no heredoc named %s", name);
          cleanup_free char *target = to_dir ? xasprintf ("%s/%s", c->dest, name) : xstrdup (c->dest);
          if (make_parents (c, target, &o, false, err) < 0)
            return -1;
          unlink (target);
          cleanup_close int out = open (target, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
          if (out < 0 || pier_write_all (out, h->content, strlen (h->content)) < 0)
            return pier_error_make (err, errno, "cannot write `%s`", target);
          if (give (c, out, NULL, o.uid, o.gid) < 0 || fchmod (out, o.chmod ? o.mode : 0644) < 0)
            return pier_error_make (err, errno, "cannot set the owner and mode of `%s`", target);
          continue;
        }
      cleanup_close int fd
          = strcmp (paths[i], ".") == 0
                ? openat (c->srcfd, ".", O_PATH | O_CLOEXEC)
                : pier_open_in_root (c->srcfd, paths[i], O_PATH | (c->top_nofollow ? O_NOFOLLOW : 0), 0, err);
      if (fd < 0)
        return -1;
      struct stat st;
      if (fstat (fd, &st) < 0)
        return pier_error_make (err, errno, "cannot stat `%s`", paths[i]);
      if (S_ISDIR (st.st_mode))
        {
          if (make_parents (c, c->dest, &o, true, err) < 0)
            return -1;
          if (copy_dir_contents (c, fd, paths[i], c->dest, &o, err) < 0)
            return -1;
          /* cp -a: the directory itself keeps its owner too. */
          if (c->keep_owner && give (c, -1, c->dest, st.st_uid, st.st_gid) < 0)
            return pier_error_make (err, errno, "cannot chown `%s`", c->dest);
          continue;
        }
      if (c->add && S_ISREG (st.st_mode))
        {
          int r = add_archive (fd, paths[i], c->dest, &o, c, err);
          if (r < 0)
            return -1;
          if (r == 1)
            continue;
        }
      cleanup_free char *target
          = to_dir ? (strcmp (c->dest, "/") == 0 ? xasprintf ("/%s", base_name (paths[i]))
                                                 : xasprintf ("%s/%s", c->dest, base_name (paths[i])))
                   : xstrdup (c->dest);
      if (make_parents (c, target, &o, false, err) < 0)
        return -1;
      if (copy_node (c, fd, paths[i], target, &o, err) < 0)
        return -1;
    }
  return 0;
}
