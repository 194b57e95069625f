#include "store/store.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "store/db.h"
#include "util/cleanup.h"
#include "util/fs.h"
#include "util/xalloc.h"

#include "util/banned.h"

struct pier_store
{
  char *root;
  int rootfd;
  int tmpfd;
  int blobsfd;
  int lockfd;
  pid_t pid;
  unsigned long long starttime; /* of this process, 0 when unknown */
  pier_db *db;
};

static const char *const store_dirs[] = { "blobs", "blobs/sha256", "layers", "tmp", "containers", "volumes" };

/* Start time of pid in clock ticks since boot (field 22 of /proc/<pid>/stat),
 * which together with the pid names a process uniquely.  0 when unknown;
 * -1 with errno ENOENT when there is no such process. */
static int
proc_starttime (pid_t pid, unsigned long long *out)
{
  char path[64];
  cleanup_free char *buf = NULL;
  size_t len = 0;

  *out = 0;
  snprintf (path, sizeof path, "/proc/%d/stat", (int) pid);
  pier_error *rerr = NULL;
  if (pier_read_file_at (AT_FDCWD, path, &buf, &len, &rerr) < 0)
    {
      int code = rerr->code;
      pier_error_free (&rerr);
      /* Only a process that is surely gone makes its entries stale: with
       * /proc missing or hiding other users' processes (hidepid), ask
       * kill(0) whether the pid exists at all. */
      if (code == ENOENT && access ("/proc/self/stat", F_OK) == 0 && access ("/proc/1", F_OK) == 0)
        {
          errno = ENOENT;
          return -1;
        }
      if (kill (pid, 0) < 0 && errno == ESRCH)
        {
          errno = ENOENT;
          return -1;
        }
      return 0;
    }
  /* The command name may hold spaces and parentheses: count from the last ')'. */
  char *p = strrchr (buf, ')');
  if (p == NULL)
    return 0;
  p++;
  for (int field = 3; field <= 22; field++)
    {
      while (*p == ' ')
        p++;
      if (field == 22)
        {
          *out = strtoull (p, NULL, 10);
          return 0;
        }
      while (*p && *p != ' ')
        p++;
    }
  return 0;
}

static int
mkdirat_mode (int dirfd, const char *name, mode_t mode, pier_error **err)
{
  if (mkdirat (dirfd, name, mode) < 0 && errno != EEXIST)
    return pier_error_make (err, errno, "cannot create directory `%s`", name);
  return 0;
}

/* mkdir -p for the parents of root (0755, as any system directory); the
 * root itself is 0700: it holds every image and container of the host. */
static int
make_root (const char *root, pier_error **err)
{
  cleanup_free char *p = xstrdup (root);
  for (char *s = p + 1; *s; s++)
    {
      if (*s != '/')
        continue;
      *s = '\0';
      if (mkdir (p, 0755) < 0 && errno != EEXIST)
        return pier_error_make (err, errno, "cannot create directory `%s`", p);
      *s = '/';
    }
  if (mkdir (p, 0700) < 0 && errno != EEXIST)
    return pier_error_make (err, errno, "cannot create directory `%s`", p);
  return 0;
}

static int
open_dir_at (int dirfd, const char *name, pier_error **err)
{
  int fd = openat (dirfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0)
    return pier_error_make (err, errno, "cannot open directory `%s`", name);
  return fd;
}

static int
flock_retry (int fd, int op)
{
  return (int) TEMP_FAILURE_RETRY_INT (flock (fd, op));
}

int
pier_store_open (const char *root, pier_store **out, pier_error **err)
{
  pier_store *st;
  cleanup_free char *dbpath = NULL;

  if (root == NULL || root[0] == '\0')
    return pier_error_makex (err, EINVAL, "cannot open the store: no root directory given");
  if (make_root (root, err) < 0)
    return pier_error_wrap (err, "cannot open the store at `%s`", root);

  st = xzalloc (sizeof *st);
  st->root = xstrdup (root);
  st->tmpfd = st->blobsfd = st->lockfd = -1;
  st->pid = getpid ();
  proc_starttime (st->pid, &st->starttime);

  st->rootfd = open (root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (st->rootfd < 0)
    {
      pier_error_make (err, errno, "cannot open directory `%s`", root);
      goto on_error;
    }
  for (size_t i = 0; i < sizeof store_dirs / sizeof store_dirs[0]; i++)
    if (mkdirat_mode (st->rootfd, store_dirs[i], 0700, err) < 0)
      goto on_error;
  if ((st->tmpfd = open_dir_at (st->rootfd, "tmp", err)) < 0
      || (st->blobsfd = open_dir_at (st->rootfd, "blobs/sha256", err)) < 0)
    goto on_error;

  /* The lock first: a process taking it exclusively (GC) sees no store
   * half-opened by us. */
  st->lockfd = openat (st->rootfd, "store.lock", O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);
  if (st->lockfd < 0)
    {
      pier_error_make (err, errno, "cannot open `store.lock`");
      goto on_error;
    }
  if (flock_retry (st->lockfd, LOCK_SH) < 0)
    {
      pier_error_make (err, errno, "cannot lock `store.lock`");
      goto on_error;
    }

  dbpath = pier_path_join (root, "pier.db");
  if (pier_db_open (dbpath, &st->db, err) < 0)
    goto on_error;

  if (pier_store_clean_tmp (st, err) < 0)
    goto on_error;

  *out = st;
  return 0;

on_error:
  pier_error_wrap (err, "cannot open the store at `%s`", root);
  pier_store_close (st);
  return -1;
}

void
pier_store_close (pier_store *st)
{
  if (st == NULL)
    return;
  pier_db_close (st->db);
  cleanup_closep (&st->lockfd); /* releases the flock */
  cleanup_closep (&st->blobsfd);
  cleanup_closep (&st->tmpfd);
  cleanup_closep (&st->rootfd);
  free (st->root);
  free (st);
}

int
pier_store_lock_exclusive (pier_store *st, bool wait, pier_error **err)
{
  if (flock_retry (st->lockfd, LOCK_EX | (wait ? 0 : LOCK_NB)) < 0)
    {
      int e = errno;
      if (e == EWOULDBLOCK)
        {
          /* A failed LOCK_NB conversion may have dropped the shared lock. */
          flock_retry (st->lockfd, LOCK_SH);
          return pier_error_makex (err, e,
                                   "cannot lock the store at `%s` exclusively: it is in use by "
                                   "another pier process",
                                   st->root);
        }
      return pier_error_make (err, e, "cannot lock the store at `%s` exclusively", st->root);
    }
  return 0;
}

int
pier_store_unlock (pier_store *st, pier_error **err)
{
  if (flock_retry (st->lockfd, LOCK_SH) < 0)
    return pier_error_make (err, errno, "cannot return the store at `%s` to a shared lock", st->root);
  return 0;
}

const char *
pier_store_root (const pier_store *st)
{
  return st->root;
}

int
pier_store_root_fd (const pier_store *st)
{
  return st->rootfd;
}

int
pier_store_tmp_fd (const pier_store *st)
{
  return st->tmpfd;
}

int
pier_store_blobs_fd (const pier_store *st)
{
  return st->blobsfd;
}

pier_db *
pier_store_db (pier_store *st)
{
  return st->db;
}

char *
pier_store_tmp_name (const pier_store *st)
{
  uint64_t r = 0;
  static uint64_t counter;

  if (getrandom (&r, sizeof r, GRND_NONBLOCK) != (ssize_t) sizeof r)
    r = ((uint64_t) time (NULL) << 20) ^ (uint64_t) clock ();
  r ^= __atomic_add_fetch (&counter, 1, __ATOMIC_RELAXED); /* callers may be threads */
  /* A forked child inherits st but not its parent's identity: name it by
   * the process really creating the entry. */
  pid_t pid = getpid ();
  unsigned long long start = st ? st->starttime : 0;
  if (st == NULL || pid != st->pid)
    proc_starttime (pid, &start);
  return xasprintf ("%d-%llu-%016" PRIx64, (int) pid, start, r);
}

char *
pier_store_container_tmp_name (const pier_store *st, const char *id)
{
  cleanup_free char *base = pier_store_tmp_name (st);
  return xasprintf ("%s-%s", base, id);
}

static bool
is_container_id (const char *s, size_t n)
{
  if (n != 64)
    return false;
  for (size_t i = 0; i < n; i++)
    if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
      return false;
  return true;
}

/* Parse "<pid>-<starttime>-..."; 0 when the name is not ours. */
static int
parse_tmp_name (const char *name, pid_t *pid, unsigned long long *start)
{
  char *end;
  errno = 0;
  long p = strtol (name, &end, 10);
  if (errno || end == name || *end != '-' || p <= 0)
    return 0;
  const char *s = end + 1;
  unsigned long long t = strtoull (s, &end, 10);
  if (errno || end == s || *end != '-')
    return 0;
  *pid = (pid_t) p;
  *start = t;
  return 1;
}

/* A container's directory its dead creator left in tmp/ (made, or being
 * removed): moved into place (true) when the container is recorded. */
static bool
finish_container_dir (pier_store *st, const char *name)
{
  char id[80];
  const char *dash = strrchr (name, '-');
  if (dash && is_container_id (dash + 1, strlen (dash + 1)))
    memcpy (id, dash + 1, 65);
  else
    {
      /* Marked by an older pier. */
      cleanup_close int d = openat (st->tmpfd, name, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
      cleanup_close int m
          = d < 0 ? -1 : openat (d, PIER_STORE_CONTAINER_MARK, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
      ssize_t n = m < 0 ? -1 : read (m, id, sizeof id - 1);
      if (n < 0 || !is_container_id (id, (size_t) n))
        return false;
      id[n] = '\0';
      unlinkat (d, PIER_STORE_CONTAINER_MARK, 0);
    }
  pier_db_container *c = NULL;
  if (pier_db_container_get (st->db, id, &c, NULL) < 0)
    return false;
  pier_db_container_free (c);
  cleanup_close int cdir = openat (st->rootfd, "containers", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (cdir < 0 || renameat (st->tmpfd, name, cdir, id) < 0)
    return false;
  fsync (cdir);
  return true;
}

bool
pier_store_tmp_in_use (const char *name)
{
  pid_t pid;
  unsigned long long start, now_start;
  if (!parse_tmp_name (name, &pid, &start))
    return false;
  if (proc_starttime (pid, &now_start) == 0)
    /* Alive, and the same process (or we cannot tell). */
    return now_start == 0 || start == 0 || now_start == start;
  return errno != ENOENT;
}

int
pier_store_clean_tmp (pier_store *st, pier_error **err)
{
  int fd = openat (st->tmpfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0)
    return pier_error_make (err, errno, "cannot open `%s/tmp`", st->root);
  cleanup_dir DIR *d = fdopendir (fd);
  if (d == NULL)
    {
      int e = errno;
      close (fd);
      return pier_error_make (err, e, "cannot read `%s/tmp`", st->root);
    }
  int removed = 0;
  struct dirent *de;
  while ((errno = 0, de = readdir (d)))
    {
      pid_t pid;
      unsigned long long start;
      if (strcmp (de->d_name, ".") == 0 || strcmp (de->d_name, "..") == 0)
        continue;
      /* Names not ours are left alone: nothing says who made them. */
      if (!parse_tmp_name (de->d_name, &pid, &start) || pier_store_tmp_in_use (de->d_name))
        continue;
      if (finish_container_dir (st, de->d_name))
        continue;
      if (pier_rmtree_at (st->tmpfd, de->d_name, err) < 0)
        return pier_error_wrap (err, "cannot remove stale `%s/tmp/%s`", st->root, de->d_name);
      removed++;
    }
  if (errno != 0)
    return pier_error_make (err, errno, "cannot read `%s/tmp`", st->root);
  return removed;
}
