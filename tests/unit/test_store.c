/* Unit tests for store/store: the layout, the lock, and the cleanup of
 * tmp/ entries left by processes that are gone. */
#include "unit.h"

#include <sys/file.h>

#include "store/store.h"
#include "util/xalloc.h"

static char *
path_in (const char *root, const char *rel)
{
  return xasprintf ("%s/%s", root, rel);
}

static bool
is_dir (const char *root, const char *rel, mode_t *mode)
{
  struct stat st;
  char *p = path_in (root, rel);
  bool r = lstat (p, &st) == 0 && S_ISDIR (st.st_mode);
  if (r && mode)
    *mode = st.st_mode & 07777;
  free (p);
  return r;
}

static bool
exists (const char *root, const char *rel)
{
  struct stat st;
  char *p = path_in (root, rel);
  bool r = lstat (p, &st) == 0;
  free (p);
  return r;
}

static void
test_open_creates_layout (void **state)
{
  (void) state;
  pier_error *err = NULL;
  pier_store *st = NULL;
  char *root = path_in (unit_dir, "layout/not/yet/there");
  mode_t mode = 0;

  assert_int_equal (pier_store_open (root, &st, &err), 0);
  assert_no_err (err);
  assert_true (is_dir (root, ".", &mode));
  assert_int_equal (mode, 0700);
  const char *dirs[] = { "blobs/sha256", "layers", "tmp", "containers", "volumes" };
  for (size_t i = 0; i < sizeof dirs / sizeof dirs[0]; i++)
    {
      if (!is_dir (root, dirs[i], &mode))
        fail_msg ("%s is missing", dirs[i]);
      assert_int_equal (mode, 0700);
    }
  assert_true (exists (root, "pier.db"));
  assert_true (exists (root, "store.lock"));
  assert_string_equal (pier_store_root (st), root);
  assert_non_null (pier_store_db (st));
  pier_store_close (st);

  /* Opening again finds everything in place. */
  assert_int_equal (pier_store_open (root, &st, &err), 0);
  assert_no_err (err);
  pier_store_close (st);
  free (root);
}

static void
test_open_bad_root (void **state)
{
  (void) state;
  pier_error *err = NULL;
  pier_store *st = NULL;
  char *file = path_in (unit_dir, "a-file");
  char *root = path_in (unit_dir, "a-file/root");
  unit_write (file, "x");

  assert_int_equal (pier_store_open (root, &st, &err), -1);
  assert_null (st);
  assert_err_contains (err, "cannot open the store", root);
  assert_int_equal (err->code, ENOTDIR);
  pier_error_free (&err);

  assert_int_equal (pier_store_open ("", &st, &err), -1);
  assert_err_contains (err, "no root directory");
  pier_error_free (&err);
  free (root);
  free (file);
}

static bool
fd_open_before (const bool *before, int fd)
{
  return fd < 1024 && before[fd];
}

static void
test_fds_are_cloexec (void **state)
{
  (void) state;
  pier_error *err = NULL;
  pier_store *st = NULL;
  char *root = path_in (unit_dir, "cloexec");
  bool before[1024] = { false };
  int seen = 0;

  for (int fd = 0; fd < 1024; fd++)
    before[fd] = fcntl (fd, F_GETFD) >= 0;
  assert_int_equal (pier_store_open (root, &st, &err), 0);
  assert_no_err (err);
  for (int fd = 0; fd < 1024; fd++)
    {
      int flags = fcntl (fd, F_GETFD);
      if (flags < 0 || fd_open_before (before, fd))
        continue;
      seen++;
      if (!(flags & FD_CLOEXEC))
        fail_msg ("fd %d of the store is not O_CLOEXEC", fd);
    }
  /* root, tmp, blobs, lock, the database and its WAL at least */
  assert_true (seen >= 5);
  pier_store_close (st);
  free (root);
}

static void
test_exclusive_lock (void **state)
{
  (void) state;
  pier_error *err = NULL;
  pier_store *a = NULL, *b = NULL;
  char *root = path_in (unit_dir, "lock");
  char *lock = path_in (root, "store.lock");

  assert_int_equal (pier_store_open (root, &a, &err), 0);
  assert_int_equal (pier_store_open (root, &b, &err), 0);
  assert_no_err (err);

  /* b holds it shared: a cannot have it alone, and keeps its shared hold. */
  assert_int_equal (pier_store_lock_exclusive (a, false, &err), -1);
  assert_err_contains (err, "exclusively", "in use by another pier process");
  assert_int_equal (err->code, EWOULDBLOCK);
  pier_error_free (&err);

  int fd = open (lock, O_RDWR | O_CLOEXEC);
  assert_true (fd >= 0);
  assert_int_equal (flock (fd, LOCK_EX | LOCK_NB), -1); /* a and b still hold it shared */

  pier_store_close (b);
  assert_int_equal (pier_store_lock_exclusive (a, false, &err), 0);
  assert_no_err (err);
  assert_int_equal (flock (fd, LOCK_SH | LOCK_NB), -1);
  assert_int_equal (errno, EWOULDBLOCK);

  assert_int_equal (pier_store_unlock (a, &err), 0);
  assert_int_equal (flock (fd, LOCK_SH | LOCK_NB), 0);
  assert_int_equal (flock (fd, LOCK_UN), 0);

  pier_store_close (a);
  assert_int_equal (flock (fd, LOCK_EX | LOCK_NB), 0);
  close (fd);
  free (lock);
  free (root);
}

/* A pid and a start time of a process that has exited. */
static pid_t
dead_pid (void)
{
  pid_t pid = fork ();
  assert_true (pid >= 0);
  if (pid == 0)
    _exit (0);
  int status;
  assert_int_equal (waitpid (pid, &status, 0), pid);
  return pid;
}

static void
touch_in (const char *root, const char *rel)
{
  char *p = path_in (root, rel);
  unit_write (p, "leftover");
  free (p);
}

static void
test_clean_stale_tmp (void **state)
{
  (void) state;
  pier_error *err = NULL;
  pier_store *st = NULL;
  char *root = path_in (unit_dir, "stale");
  char name[128];

  assert_int_equal (pier_store_open (root, &st, &err), 0);
  assert_no_err (err);

  /* Ours, alive: kept. */
  char *mine = pier_store_tmp_name (st);
  char *mine_rel = xasprintf ("tmp/%s", mine);
  touch_in (root, mine_rel);

  /* A process that is gone: removed, a directory with all it holds too. */
  pid_t dead = dead_pid ();
  snprintf (name, sizeof name, "tmp/%d-12345-00aa", (int) dead);
  touch_in (root, name);
  char *dead_dir = xasprintf ("%s/tmp/%d-12345-00bb", root, (int) dead);
  assert_int_equal (mkdir (dead_dir, 0700), 0);
  char *dead_file = xasprintf ("%s/inner", dead_dir);
  unit_write (dead_file, "x");

  /* Our pid but another start time: a process that had our pid before us. */
  snprintf (name, sizeof name, "tmp/%d-1-00cc", (int) getpid ());
  touch_in (root, name);

  /* Not a name pier makes: nobody can say whose it is; left alone. */
  touch_in (root, "tmp/somebody-elses");

  assert_int_equal (pier_store_clean_tmp (st, &err), 3);
  assert_no_err (err);
  assert_true (exists (root, mine_rel));
  assert_true (exists (root, "tmp/somebody-elses"));
  assert_false (exists (root, name));
  snprintf (name, sizeof name, "tmp/%d-12345-00aa", (int) dead);
  assert_false (exists (root, name));
  struct stat sb;
  assert_int_equal (lstat (dead_dir, &sb), -1);
  pier_store_close (st);

  /* Opening cleans too; what is ours survives while we live. */
  snprintf (name, sizeof name, "tmp/%d-12345-00dd", (int) dead);
  touch_in (root, name);
  assert_int_equal (pier_store_open (root, &st, &err), 0);
  assert_false (exists (root, name));
  assert_true (exists (root, mine_rel));
  pier_store_close (st);

  free (dead_file);
  free (dead_dir);
  free (mine_rel);
  free (mine);
  free (root);
}

static void
test_tmp_names_unique (void **state)
{
  (void) state;
  pier_error *err = NULL;
  pier_store *st = NULL;
  char *root = path_in (unit_dir, "names");
  char prefix[32];

  assert_int_equal (pier_store_open (root, &st, &err), 0);
  snprintf (prefix, sizeof prefix, "%d-", (int) getpid ());
  char *names[256];
  for (size_t i = 0; i < 256; i++)
    {
      names[i] = pier_store_tmp_name (st);
      assert_true (strncmp (names[i], prefix, strlen (prefix)) == 0);
      assert_null (strchr (names[i], '/'));
      for (size_t j = 0; j < i; j++)
        assert_string_not_equal (names[i], names[j]);
    }
  for (size_t i = 0; i < 256; i++)
    free (names[i]);
  pier_store_close (st);
  free (root);
}

/* Eight processes opening a store nobody has made yet: one layout, one
 * schema, nobody fails on the others' half-made state. */
static void
test_concurrent_first_open (void **state)
{
  (void) state;
  char *root = path_in (unit_dir, "race/root");
  pid_t pids[8];

  fflush (NULL);
  for (int k = 0; k < 8; k++)
    {
      pids[k] = fork ();
      assert_true (pids[k] >= 0);
      if (pids[k] == 0)
        {
          pier_error *err = NULL;
          pier_store *st = NULL;
          int rc = pier_store_open (root, &st, &err) < 0;
          if (err)
            fprintf (stderr, "opener %d: %s\n", k, err->msg);
          pier_store_close (st);
          _exit (rc);
        }
    }
  for (int k = 0; k < 8; k++)
    {
      int status = 0;
      assert_int_equal (waitpid (pids[k], &status, 0), pids[k]);
      if (!WIFEXITED (status) || WEXITSTATUS (status) != 0)
        fail_msg ("opener %d failed (status %#x)", k, status);
    }
  pier_error *err = NULL;
  pier_store *st = NULL;
  assert_int_equal (pier_store_open (root, &st, &err), 0);
  assert_no_err (err);
  pier_store_close (st);
  free (root);
}

static const unit_known_bug bugs[] = {};

int
main (int argc, char **argv)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test (test_open_creates_layout),   cmocka_unit_test (test_open_bad_root),
    cmocka_unit_test (test_fds_are_cloexec),       cmocka_unit_test (test_exclusive_lock),
    cmocka_unit_test (test_clean_stale_tmp),       cmocka_unit_test (test_tmp_names_unique),
    cmocka_unit_test (test_concurrent_first_open),
  };
  unit_dir_setup (NULL);
  int rc = UNIT_RUN (tests, bugs, argc, argv);
  unit_dir_teardown (NULL);
  return rc;
}
