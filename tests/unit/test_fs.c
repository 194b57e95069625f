/* Unit tests for util/fs: paths resolved inside a root never escape it.
 *
 * Each test gets a scratch tree:
 *
 *   T/outside/secret              "host secret"   (must never be reached)
 *   T/root/etc/marker             "inside marker"
 *   T/root/outside/secret         "inside decoy"  (what escapes resolve to)
 *   T/root/abs_escape  -> T/outside               absolute link to the host
 *   T/root/abs_file    -> T/outside/secret
 *   T/root/abs_root    -> /
 *   T/root/rel_escape  -> ../../../../../../../../outside
 *   T/root/sub/deep/up -> ../../..                one level above root
 *   T/root/sub/to_etc  -> ../etc/marker
 *   T/root/dangling    -> T/outside/created
 *   T/root/loop        -> loop
 *
 * Built twice: as is (openat2 with RESOLVE_IN_ROOT) and with
 * UNIT_FS_FALLBACK, where a seccomp filter makes openat2 fail with ENOSYS
 * so the hand-written resolver is exercised. */
#include "unit.h"

#include <sys/syscall.h>

#include "util/fs.h"
#include "util/xalloc.h"

#ifdef UNIT_FS_FALLBACK
#include <seccomp.h>
#endif

typedef struct fx
{
  char *top;  /* T */
  char *root; /* T/root */
  int rootfd;
} fx;

static char *
at (const fx *f, const char *rel)
{
  return xasprintf ("%s/%s", f->top, rel);
}

static void
mkdir_p (const fx *f, const char *rel)
{
  char *p = at (f, rel);
  if (mkdir (p, 0755) < 0 && errno != EEXIST)
    fail_msg ("mkdir %s: %s", p, strerror (errno));
  free (p);
}

static void
link_at (const fx *f, const char *target, const char *rel)
{
  char *p = at (f, rel);
  if (symlink (target, p) < 0)
    fail_msg ("symlink %s: %s", p, strerror (errno));
  free (p);
}

static void
write_at (const fx *f, const char *rel, const char *content)
{
  char *p = at (f, rel);
  unit_write (p, content);
  free (p);
}

static bool
exists_at (const fx *f, const char *rel)
{
  struct stat st;
  char *p = at (f, rel);
  bool r = lstat (p, &st) == 0;
  free (p);
  return r;
}

static char *
read_at (const fx *f, const char *rel)
{
  char *p = at (f, rel);
  char *r = unit_read (p);
  free (p);
  return r;
}

static int
setup (void **state)
{
  fx *f = xzalloc (sizeof *f);
  f->top = unit_mkdtemp ();
  f->root = at (f, "root");
  char *t;

  mkdir_p (f, "outside");
  write_at (f, "outside/secret", "host secret");
  mkdir_p (f, "root");
  mkdir_p (f, "root/etc");
  write_at (f, "root/etc/marker", "inside marker");
  mkdir_p (f, "root/outside");
  write_at (f, "root/outside/secret", "inside decoy");
  t = at (f, "outside");
  link_at (f, t, "root/abs_escape");
  free (t);
  t = at (f, "outside/secret");
  link_at (f, t, "root/abs_file");
  free (t);
  t = at (f, "outside/created");
  link_at (f, t, "root/dangling");
  free (t);
  link_at (f, "/", "root/abs_root");
  link_at (f, "../../../../../../../../outside", "root/rel_escape");
  mkdir_p (f, "root/sub");
  mkdir_p (f, "root/sub/deep");
  link_at (f, "../../..", "root/sub/deep/up");
  link_at (f, "../etc/marker", "root/sub/to_etc");
  link_at (f, "loop", "root/loop");

  f->rootfd = open (f->root, O_PATH | O_DIRECTORY | O_CLOEXEC);
  assert_true (f->rootfd >= 0);
  *state = f;
  return 0;
}

static int
teardown (void **state)
{
  fx *f = *state;
  close (f->rootfd);
  unit_rmrf (f->top);
  free (f->top);
  free (f->root);
  free (f);
  return 0;
}

/* Open path inside the root for reading and return its content. */
static char *
read_in_root (const fx *f, const char *path)
{
  pier_error *err = NULL;
  int fd = pier_open_in_root (f->rootfd, path, O_RDONLY, 0, &err);
  if (fd < 0)
    fail_msg ("pier_open_in_root `%s`: %s", path, err->msg);
  assert_no_err (err);
  char *r = unit_read_fd (fd);
  close (fd);
  return r;
}

static void
expect_content (const fx *f, const char *path, const char *want)
{
  char *got = read_in_root (f, path);
  if (got == NULL || strcmp (got, want) != 0)
    fail_msg ("`%s` resolved to content `%s`, expected `%s`", path, got ? got : "(unreadable)", want);
  free (got);
}

#ifdef UNIT_FS_FALLBACK
static void
test_fallback_is_active (void **state)
{
  (void) state;
  long r = syscall (SYS_openat2, AT_FDCWD, "/", NULL, 0);
  assert_int_equal (r, -1);
  assert_int_equal (errno, ENOSYS);
}
#endif

static void
test_open_plain_paths (void **state)
{
  fx *f = *state;
  expect_content (f, "etc/marker", "inside marker");
  expect_content (f, "/etc/marker", "inside marker");
  expect_content (f, "//etc//marker", "inside marker");
  expect_content (f, "./etc/./marker", "inside marker");
  expect_content (f, "sub/../etc/marker", "inside marker");
}

static void
test_dotdot_stays_in_root (void **state)
{
  fx *f = *state;
  expect_content (f, "../outside/secret", "inside decoy");
  expect_content (f, "../../../../../../outside/secret", "inside decoy");
  expect_content (f, "/../../etc/marker", "inside marker");
  expect_content (f, "sub/deep/../../../../outside/secret", "inside decoy");
}

static void
test_relative_symlinks_stay_in_root (void **state)
{
  fx *f = *state;
  expect_content (f, "rel_escape/secret", "inside decoy");
  /* up -> ../../.. from sub/deep is the parent of the root: clamped. */
  expect_content (f, "sub/deep/up/outside/secret", "inside decoy");
  expect_content (f, "sub/deep/up/etc/marker", "inside marker");
}

static void
test_relative_symlink_with_dotdot (void **state)
{
  fx *f = *state;
  /* sub/to_etc -> ../etc/marker names the root's etc/marker. */
  expect_content (f, "sub/to_etc", "inside marker");
}

static void
test_absolute_symlinks_resolve_in_root (void **state)
{
  fx *f = *state;
  pier_error *err = NULL;

  expect_content (f, "abs_root/etc/marker", "inside marker");
  expect_content (f, "abs_root/abs_root/../outside/secret", "inside decoy");

  /* abs_escape -> T/outside, which does not exist inside the root. */
  int fd = pier_open_in_root (f->rootfd, "abs_escape/secret", O_RDONLY, 0, &err);
  if (fd >= 0)
    {
      char *c = unit_read_fd (fd);
      fail_msg ("abs_escape/secret opened (content `%s`); it must not resolve", c ? c : "?");
    }
  assert_int_equal (err->code, ENOENT);
  assert_err_contains (err, "abs_escape/secret");
  pier_error_free (&err);

  fd = pier_open_in_root (f->rootfd, "abs_file", O_RDONLY, 0, &err);
  assert_int_equal (fd, -1);
  assert_int_equal (err->code, ENOENT);
  pier_error_free (&err);
}

static void
test_create_through_dangling_symlink_stays_in_root (void **state)
{
  fx *f = *state;
  pier_error *err = NULL;

  int fd = pier_open_in_root (f->rootfd, "dangling", O_WRONLY | O_CREAT, 0644, &err);
  if (fd >= 0)
    close (fd);
  pier_error_free (&err);
  assert_false (exists_at (f, "outside/created"));

  fd = pier_open_in_root (f->rootfd, "rel_escape/newfile", O_WRONLY | O_CREAT | O_EXCL, 0644, &err);
  assert_no_err (err);
  assert_true (fd >= 0);
  close (fd);
  assert_false (exists_at (f, "outside/newfile"));
  assert_true (exists_at (f, "root/outside/newfile"));
  char *host = read_at (f, "outside/secret");
  assert_string_equal (host, "host secret");
  free (host);
}

static void
test_symlink_loop_fails (void **state)
{
  fx *f = *state;
  pier_error *err = NULL;
  int fd = pier_open_in_root (f->rootfd, "loop/x", O_RDONLY, 0, &err);
  assert_int_equal (fd, -1);
  assert_int_equal (err->code, ELOOP);
  assert_err_contains (err, "loop/x");
  pier_error_free (&err);
}

/* Names directly in dir, sorted and joined with spaces. */
static char *
listing (const char *dir)
{
  struct dirent **names = NULL;
  int n = scandir (dir, &names, NULL, alphasort);
  char *r = xstrdup ("");
  for (int i = 0; i < n; i++)
    {
      char *t = xasprintf ("%s %s", r, names[i]->d_name);
      free (r);
      r = t;
      free (names[i]);
    }
  free (names);
  return r;
}

/* Whatever the resolver gets right or wrong, nothing outside the root is
 * read, created or changed.  (Holds in both builds, bugs and all.) */
static void
test_hostile_paths_never_reach_the_host (void **state)
{
  fx *f = *state;
  static const char *const paths[] = {
    "abs_escape/secret",
    "abs_file",
    "rel_escape/secret",
    "sub/deep/up/outside/secret",
    "../outside/secret",
    "abs_root/../outside/secret",
    "sub/deep/up/../outside/secret",
    "dangling",
    "abs_escape/new",
    "sub/deep/up/new",
    "sub/deep/up/../new",
  };
  char *outside = at (f, "outside");
  char *before_top = listing (f->top), *before_out = listing (outside);

  for (size_t i = 0; i < sizeof paths / sizeof paths[0]; i++)
    {
      pier_error *err = NULL;
      int fd = pier_open_in_root (f->rootfd, paths[i], O_RDONLY, 0, &err);
      if (fd >= 0)
        {
          char *c = unit_read_fd (fd);
          if (c && strcmp (c, "host secret") == 0)
            fail_msg ("`%s` read the host's file", paths[i]);
          free (c);
          close (fd);
        }
      pier_error_free (&err);
      fd = pier_open_in_root (f->rootfd, paths[i], O_WRONLY | O_CREAT, 0644, &err);
      if (fd >= 0)
        close (fd);
      pier_error_free (&err);
      fd = pier_mkdir_in_root (f->rootfd, paths[i], 0755, &err);
      if (fd >= 0)
        close (fd);
      pier_error_free (&err);
      char *sub = xasprintf ("%s/x", paths[i]);
      fd = pier_ensure_in_root (f->rootfd, sub, 0, &err);
      if (fd >= 0)
        close (fd);
      pier_error_free (&err);
      free (sub);
    }

  char *after_top = listing (f->top), *after_out = listing (outside);
  assert_string_equal (before_top, after_top);
  assert_string_equal (before_out, after_out);
  char *c = read_at (f, "outside/secret");
  assert_string_equal (c, "host secret");
  free (c);
  free (before_top);
  free (before_out);
  free (after_top);
  free (after_out);
  free (outside);
}

static void
assert_same_file (int fd, const char *path)
{
  struct stat a, b;
  assert_int_equal (fstat (fd, &a), 0);
  if (stat (path, &b) < 0)
    fail_msg ("%s: %s", path, strerror (errno));
  assert_true (a.st_dev == b.st_dev && a.st_ino == b.st_ino);
}

static void
test_mkdir_in_root_creates_parents (void **state)
{
  fx *f = *state;
  pier_error *err = NULL;
  int fd = pier_mkdir_in_root (f->rootfd, "/a/b/c", 0750, &err);
  assert_no_err (err);
  assert_true (fd >= 0);
  char *p = at (f, "root/a/b/c");
  assert_same_file (fd, p);
  struct stat st;
  assert_int_equal (stat (p, &st), 0);
  assert_true (S_ISDIR (st.st_mode));
  free (p);
  close (fd);

  /* Existing directories are fine, and return the same directory. */
  fd = pier_mkdir_in_root (f->rootfd, "a/b", 0755, &err);
  assert_no_err (err);
  p = at (f, "root/a/b");
  assert_same_file (fd, p);
  free (p);
  close (fd);
}

static void
test_mkdir_in_root_does_not_escape (void **state)
{
  fx *f = *state;
  pier_error *err = NULL;

  int fd = pier_mkdir_in_root (f->rootfd, "../../made", 0755, &err);
  assert_no_err (err);
  assert_true (fd >= 0);
  close (fd);
  assert_true (exists_at (f, "root/made"));
  assert_false (exists_at (f, "made"));

  /* sub/deep/up is T itself when followed naively. */
  fd = pier_mkdir_in_root (f->rootfd, "sub/deep/up/made2", 0755, &err);
  assert_no_err (err);
  assert_true (fd >= 0);
  close (fd);
  assert_true (exists_at (f, "root/made2"));
  assert_false (exists_at (f, "made2"));

  /* Through an absolute link to the host: either created inside the root
   * or refused, never on the host. */
  fd = pier_mkdir_in_root (f->rootfd, "abs_escape/x", 0755, &err);
  if (fd >= 0)
    close (fd);
  pier_error_free (&err);
  assert_false (exists_at (f, "outside/x"));
}

static void
test_mkdir_in_root_through_file_fails (void **state)
{
  fx *f = *state;
  pier_error *err = NULL;
  int fd = pier_mkdir_in_root (f->rootfd, "etc/marker/x", 0755, &err);
  assert_int_equal (fd, -1);
  assert_int_equal (err->code, ENOTDIR);
  assert_err_contains (err, "etc/marker");
  pier_error_free (&err);
}

static void
test_ensure_in_root (void **state)
{
  fx *f = *state;
  pier_error *err = NULL;
  struct stat st;

  int fd = pier_ensure_in_root (f->rootfd, "/dev/null", 0, &err);
  assert_no_err (err);
  assert_true (fd >= 0);
  close (fd);
  char *p = at (f, "root/dev/null");
  assert_int_equal (lstat (p, &st), 0);
  assert_true (S_ISREG (st.st_mode));
  assert_int_equal (st.st_size, 0);
  free (p);

  fd = pier_ensure_in_root (f->rootfd, "proc/sys", 1, &err);
  assert_no_err (err);
  close (fd);
  p = at (f, "root/proc/sys");
  assert_int_equal (lstat (p, &st), 0);
  assert_true (S_ISDIR (st.st_mode));
  free (p);

  /* An existing file is returned as is, content untouched. */
  fd = pier_ensure_in_root (f->rootfd, "etc/marker", 0, &err);
  assert_no_err (err);
  close (fd);
  char *c = read_at (f, "root/etc/marker");
  assert_string_equal (c, "inside marker");
  free (c);

  fd = pier_ensure_in_root (f->rootfd, "rel_escape/mnt", 1, &err);
  assert_no_err (err);
  close (fd);
  assert_true (exists_at (f, "root/outside/mnt"));
  assert_false (exists_at (f, "outside/mnt"));
}

static void
test_atomic_write (void **state)
{
  fx *f = *state;
  pier_error *err = NULL;
  struct stat st;
  int dfd = open (f->root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  mode_t old = umask (022);

  assert_int_equal (pier_atomic_write (dfd, "state.json", "{\"a\":1}", 7, 0640, &err), 0);
  assert_no_err (err);
  char *c = read_at (f, "root/state.json");
  assert_string_equal (c, "{\"a\":1}");
  free (c);
  char *p = at (f, "root/state.json");
  assert_int_equal (stat (p, &st), 0);
  assert_int_equal (st.st_mode & 07777, 0640);
  ino_t first = st.st_ino;

  /* Replacing writes a new inode (rename), never truncates in place. */
  assert_int_equal (pier_atomic_write (dfd, "state.json", "x", 1, 0600, &err), 0);
  c = read_at (f, "root/state.json");
  assert_string_equal (c, "x");
  free (c);
  assert_int_equal (stat (p, &st), 0);
  assert_true (st.st_ino != first);
  free (p);

  /* Zero bytes is a valid content. */
  assert_int_equal (pier_atomic_write (dfd, "empty", "", 0, 0600, &err), 0);
  c = read_at (f, "root/empty");
  assert_string_equal (c, "");
  free (c);

  /* No temporary file is left behind. */
  DIR *d = opendir (f->root);
  struct dirent *de;
  while ((de = readdir (d)))
    if (strstr (de->d_name, ".tmp"))
      fail_msg ("left-over temporary file `%s`", de->d_name);
  closedir (d);
  umask (old);
  close (dfd);
}

static void
test_atomic_write_replaces_symlink_not_target (void **state)
{
  fx *f = *state;
  pier_error *err = NULL;
  struct stat st;
  int dfd = open (f->root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

  assert_int_equal (pier_atomic_write (dfd, "abs_file", "pwned", 5, 0644, &err), 0);
  assert_no_err (err);
  char *c = read_at (f, "outside/secret");
  assert_string_equal (c, "host secret");
  free (c);
  char *p = at (f, "root/abs_file");
  assert_int_equal (lstat (p, &st), 0);
  assert_true (S_ISREG (st.st_mode));
  free (p);
  close (dfd);
}

static void
test_atomic_write_error (void **state)
{
  fx *f = *state;
  pier_error *err = NULL;
  int dfd = open (f->root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  assert_int_equal (pier_atomic_write (dfd, "no/such/dir", "x", 1, 0600, &err), -1);
  assert_int_equal (err->code, ENOENT);
  assert_err_contains (err, "cannot create");
  pier_error_free (&err);
  close (dfd);
}

static void
test_rmtree_at (void **state)
{
  fx *f = *state;
  pier_error *err = NULL;
  char *t;

  mkdir_p (f, "root/tree");
  mkdir_p (f, "root/tree/a");
  mkdir_p (f, "root/tree/a/b");
  mkdir_p (f, "root/tree/empty");
  write_at (f, "root/tree/f", "1");
  write_at (f, "root/tree/a/b/g", "2");
  t = at (f, "outside");
  link_at (f, t, "root/tree/a/to_outside"); /* must be unlinked, not followed */
  free (t);
  link_at (f, "../../..", "root/tree/a/b/up");

  int dfd = open (f->root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  assert_int_equal (pier_rmtree_at (dfd, "tree", &err), 0);
  assert_no_err (err);
  assert_false (exists_at (f, "root/tree"));
  assert_true (exists_at (f, "outside/secret"));
  assert_true (exists_at (f, "root/etc/marker"));

  /* Missing is not an error; a plain file or a symlink is removed. */
  assert_int_equal (pier_rmtree_at (dfd, "tree", &err), 0);
  assert_int_equal (pier_rmtree_at (dfd, "abs_escape", &err), 0);
  assert_no_err (err);
  assert_false (exists_at (f, "root/abs_escape"));
  assert_true (exists_at (f, "outside/secret"));
  assert_int_equal (pier_rmtree_at (dfd, "etc/marker", &err), 0);
  assert_false (exists_at (f, "root/etc/marker"));
  close (dfd);
}

static void
test_read_and_write_file_at (void **state)
{
  fx *f = *state;
  pier_error *err = NULL;
  char *buf = NULL;
  size_t len = 0;
  int dfd = open (f->root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

  assert_int_equal (pier_read_file_at (dfd, "etc/marker", &buf, &len, &err), 0);
  assert_int_equal (len, strlen ("inside marker"));
  assert_string_equal (buf, "inside marker");
  free (buf);
  buf = NULL;

  /* Larger than the first read buffer. */
  char *big = xmalloc (10001);
  memset (big, 'q', 10000);
  big[10000] = '\0';
  write_at (f, "root/big", big);
  assert_int_equal (pier_read_file_at (dfd, "big", &buf, &len, &err), 0);
  assert_int_equal (len, 10000);
  assert_string_equal (buf, big);
  free (buf);
  free (big);

  assert_int_equal (pier_write_file_at (dfd, "etc/marker", "new", 3, &err), 0);
  char *c = read_at (f, "root/etc/marker");
  assert_non_null (c);
  assert_memory_equal (c, "new", 3);
  free (c);

  assert_int_equal (pier_read_file_at (dfd, "nope", &buf, &len, &err), -1);
  assert_int_equal (err->code, ENOENT);
  assert_err_contains (err, "nope");
  pier_error_free (&err);
  /* write_file_at writes to existing files only (sysfs, cgroupfs). */
  assert_int_equal (pier_write_file_at (dfd, "nope", "1", 1, &err), -1);
  assert_int_equal (err->code, ENOENT);
  pier_error_free (&err);
  assert_false (exists_at (f, "root/nope"));
  close (dfd);
}

static void
test_path_join (void **state)
{
  (void) state;
  static const char *const cases[][3] = {
    { "/a", "b", "/a/b" }, { "/a/", "/b", "/a/b" }, { "/a///", "///b/c", "/a/b/c" },
    { "/", "x", "/x" },    { "rel", "x", "rel/x" },
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
    {
      char *j = pier_path_join (cases[i][0], cases[i][1]);
      if (strcmp (j, cases[i][2]) != 0)
        fail_msg ("join(`%s`, `%s`) = `%s`, expected `%s`", cases[i][0], cases[i][1], j, cases[i][2]);
      free (j);
    }
}

static void
test_write_all (void **state)
{
  (void) state;
  int p[2];
  assert_int_equal (pipe2 (p, O_CLOEXEC), 0);
  assert_int_equal (pier_write_all (p[1], "hello", 5), 0);
  close (p[1]);
  char *r = unit_read_fd (p[0]);
  assert_string_equal (r, "hello");
  free (r);
  close (p[0]);
  assert_int_equal (pier_write_all (-1, "x", 1), -1);
  assert_int_equal (errno, EBADF);
}

#define FS_TEST(t) cmocka_unit_test_setup_teardown (t, setup, teardown)

int
main (int argc, char **argv)
{
#ifdef UNIT_FS_FALLBACK
  /* Make openat2 look missing, as on kernels before 5.6. */
  scmp_filter_ctx ctx = seccomp_init (SCMP_ACT_ALLOW);
  if (ctx == NULL
      || seccomp_rule_add (ctx, SCMP_ACT_ERRNO (ENOSYS), seccomp_syscall_resolve_name ("openat2"), 0) < 0
      || seccomp_load (ctx) < 0)
    {
      fprintf (stderr, "cannot install the seccomp filter hiding openat2\n");
      return 1;
    }
  seccomp_release (ctx);
#endif
  const struct CMUnitTest tests[] = {
#ifdef UNIT_FS_FALLBACK
    cmocka_unit_test (test_fallback_is_active),
#endif
    FS_TEST (test_open_plain_paths),
    FS_TEST (test_dotdot_stays_in_root),
    FS_TEST (test_relative_symlinks_stay_in_root),
    FS_TEST (test_relative_symlink_with_dotdot),
    FS_TEST (test_absolute_symlinks_resolve_in_root),
    FS_TEST (test_create_through_dangling_symlink_stays_in_root),
    FS_TEST (test_symlink_loop_fails),
    FS_TEST (test_hostile_paths_never_reach_the_host),
    FS_TEST (test_mkdir_in_root_creates_parents),
    FS_TEST (test_mkdir_in_root_does_not_escape),
    FS_TEST (test_mkdir_in_root_through_file_fails),
    FS_TEST (test_ensure_in_root),
    FS_TEST (test_atomic_write),
    FS_TEST (test_atomic_write_replaces_symlink_not_target),
    FS_TEST (test_atomic_write_error),
    FS_TEST (test_rmtree_at),
    FS_TEST (test_read_and_write_file_at),
    cmocka_unit_test (test_path_join),
    cmocka_unit_test (test_write_all),
  };
  return unit_run (
#ifdef UNIT_FS_FALLBACK
      "test_fs_fallback",
#else
      "test_fs",
#endif
      tests, sizeof tests / sizeof tests[0], NULL, 0, argc, argv);
}
