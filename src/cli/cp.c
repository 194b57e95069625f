/* cp.c - pier cp: files between a container and the host. */
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "build/copy.h"
#include "cli/pier.h"
#include "engine/engine.h"
#include "util/cleanup.h"
#include "util/fs.h"
#include "util/xalloc.h"

#include "util/banned.h"

/* "name:path" names a container's path; a part with a '/' before the ':'
 * is a host path (as docker decides). */
static bool
split_container (const char *arg, char **name, char **path)
{
  const char *colon = strchr (arg, ':');
  if (colon == NULL || colon == arg)
    return false;
  if (memchr (arg, '/', (size_t) (colon - arg)))
    return false;
  *name = xstrndup (arg, (size_t) (colon - arg));
  *path = xstrdup (colon + 1);
  return true;
}

struct cp_job
{
  pier_copy copy;
  const char *dst; /* in the container (to_container), else on the host */
  const char *base;
  bool to_container;
  bool contents; /* the source was written "dir/." */
  const char *container;
  pier_engine_idmaps ids; /* set in the child, for a live root in a user namespace */
};

static char *
join (const char *dir, const char *base)
{
  size_t n = strlen (dir);
  return n && dir[n - 1] == '/' ? xasprintf ("%s%s", dir, base) : xasprintf ("%s/%s", dir, base);
}

static int
cp_fn (int rootfd, void *data, pier_error **err)
{
  struct cp_job *j = data;
  cleanup_free char *dest = NULL;
  if (j->to_container)
    {
      /* An existing directory receives the source under its name. */
      int fd = pier_open_in_root (rootfd, j->dst, O_PATH, 0, NULL);
      struct stat st;
      bool is_dir = fd >= 0 && fstat (fd, &st) == 0 && S_ISDIR (st.st_mode);
      if (fd >= 0)
        close (fd);
      size_t n = strlen (j->dst);
      if (fd < 0 && n && j->dst[n - 1] == '/')
        return pier_error_makex (err, ENOENT, "no such directory: %s", j->dst);
      dest = is_dir && !j->contents ? join (j->dst, j->base) : xstrdup (j->dst);
      if (dest[0] != '/')
        {
          char *abs = xasprintf ("/%s", dest);
          free (dest);
          dest = abs;
        }
      j->copy.dest = dest;
      j->copy.uid_map = j->ids.uids;
      j->copy.n_uid_map = j->ids.n_uids;
      j->copy.gid_map = j->ids.gids;
      j->copy.n_gid_map = j->ids.n_gids;
      return pier_copy_apply (rootfd, &j->copy, err);
    }
  j->copy.srcfd = rootfd;
  int probe = pier_open_in_root (rootfd, j->copy.sources[0], O_PATH | O_NOFOLLOW, 0, NULL);
  if (probe < 0)
    return pier_error_makex (err, ENOENT, "Could not find the file %s in container %s", j->copy.sources[0],
                             j->container);
  close (probe);
  cleanup_close int hostroot = open ("/", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (hostroot < 0)
    return pier_error_make (err, errno, "cannot open /");
  return pier_copy_apply (hostroot, &j->copy, err);
}

int
pier_cmd_cp (struct pier_globals *g, int argc, char **argv)
{
  bool archive = false, follow = false, quiet = false;
  int i = 1, rc = 0;
  pier_opt opts[] = {
    { "a|archive", OPT_BOOL, &archive, "archive mode (copy all uid/gid information)", NULL },
    { "L|follow-link", OPT_BOOL, &follow, "always follow symbol link in SRC_PATH", NULL },
    { "q|quiet", OPT_BOOL, &quiet, "suppress progress output (pier prints none)", NULL },
    HELP_OPT,
    { NULL, 0, NULL, NULL, NULL },
  };
  if (pier_cli_parse ("cp",
                      "pier cp [OPTIONS] CONTAINER:SRC_PATH DEST_PATH\n       pier cp [OPTIONS] SRC_PATH "
                      "CONTAINER:DEST_PATH",
                      opts, argc, argv, &i, 2, 2, &rc)
      < 0)
    return rc;
  (void) quiet;
  const char *src = argv[i], *dst = argv[i + 1];
  cleanup_free char *sname = NULL, *spath = NULL, *dname = NULL, *dpath = NULL;
  bool from = split_container (src, &sname, &spath), to = split_container (dst, &dname, &dpath);
  if (from == to)
    return pier_cli_usage ("cp", from ? "copying between containers is not supported"
                                      : "must specify at least one container source");
  if (strcmp (from ? dst : src, "-") == 0)
    return pier_cli_usage ("cp",
                           "streaming a tar archive through stdin or stdout (-) is not supported by pier");
  pier_error *err = NULL;
  struct cp_job j = { .copy = { .clamp_mtime = -1, .keep_owner = archive, .top_nofollow = !follow } };
  cleanup_free char *srcdir = NULL, *base = NULL, *hostdest = NULL, *cpath = NULL;
  cleanup_close int srcfd = -1;
  const char *name = from ? sname : dname;
  char *srcv[2] = { NULL, NULL };
  j.container = name;
  if (to)
    {
      /* The host source: its directory is the copy's root, its name the
       * one source (".": the directory's contents). */
      size_t n = strlen (src);
      j.contents = n >= 2 && strcmp (src + n - 2, "/.") == 0;
      /* The directory is resolved; the last component is the source
       * itself (a symlink is copied as one unless -L). */
      cleanup_free char *c1 = xstrdup (src), *c2 = xstrdup (src);
      const char *parent = j.contents ? src : dirname (c1);
      char *real = realpath (parent, NULL);
      struct stat sst;
      if (real == NULL || (!j.contents && (follow ? stat (src, &sst) : lstat (src, &sst)) < 0))
        {
          free (real);
          pier_error_make (&err, errno, "lstat %s", src);
          return pier_cli_fail (err, PIER_EXIT_ERROR);
        }
      srcdir = real;
      base = xstrdup (j.contents ? "." : basename (c2));
      srcfd = open (srcdir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
      if (srcfd < 0)
        {
          pier_error_make (&err, errno, "cannot open %s", srcdir);
          return pier_cli_fail (err, PIER_EXIT_ERROR);
        }
      j.copy.srcfd = srcfd;
      srcv[0] = base;
      j.copy.sources = srcv;
      j.to_container = true;
      j.dst = dpath;
      j.base = base;
      j.copy.dest_is_dir = false;
    }
  else
    {
      size_t n = strlen (spath);
      j.contents = n >= 2 && strcmp (spath + n - 2, "/.") == 0;
      cpath = xstrdup (spath);
      cleanup_free char *c2 = xstrdup (spath);
      const char *b = basename (c2);
      struct stat st;
      bool dst_dir = stat (dst, &st) == 0 && S_ISDIR (st.st_mode);
      if (!dst_dir && strlen (dst) && dst[strlen (dst) - 1] == '/')
        {
          pier_error_makex (&err, ENOENT, "no such directory: %s", dst);
          return pier_cli_fail (err, PIER_EXIT_ERROR);
        }
      char *absdst = dst[0] == '/' ? xstrdup (dst) : xasprintf ("%s/%s", getcwd (NULL, 0) ?: ".", dst);
      hostdest = dst_dir && !j.contents ? join (absdst, b) : xstrdup (absdst);
      free (absdst);
      srcv[0] = cpath;
      j.copy.sources = srcv;
      j.copy.dest = hostdest;
      j.to_container = false;
    }
  pier_engine *e = pier_cli_engine (g);
  if (e == NULL)
    return PIER_EXIT_ERROR;
  cleanup_free char *id = NULL;
  if (pier_engine_find (e, name, &id, &err) < 0
      || pier_engine_with_root (e, id, to, cp_fn, &j, &j.ids, &err) < 0)
    rc = pier_cli_fail (err, PIER_EXIT_ERROR);
  pier_cli_engine_close (e);
  return rc;
}
