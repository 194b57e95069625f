/* Unit tests for runtime/process that need no privilege: finding the
 * program to run in the process's PATH. */
#include "unit.h"

#include "runtime/process.h"
#include "util/xalloc.h"

static char *dir;

static void
make_file (const char *rel, mode_t mode)
{
  char *p = xasprintf ("%s/%s", dir, rel);
  unit_write (p, "#!/bin/sh\n");
  assert_int_equal (chmod (p, mode), 0);
  free (p);
}

static int
setup (void **state)
{
  (void) state;
  dir = unit_mkdtemp ();
  char *p = xasprintf ("%s/a", dir), *q = xasprintf ("%s/b", dir), *r = xasprintf ("%s/b/tool.d", dir);
  assert_int_equal (mkdir (p, 0755), 0);
  assert_int_equal (mkdir (q, 0755), 0);
  assert_int_equal (mkdir (r, 0755), 0);
  free (p);
  free (q);
  free (r);
  make_file ("a/noexec", 0644);
  make_file ("b/noexec", 0755);
  make_file ("b/tool", 0755);
  make_file ("a/tool", 0755);
  return 0;
}

static int
teardown (void **state)
{
  (void) state;
  unit_rmrf (dir);
  free (dir);
  return 0;
}

static int
find (const char *arg0, const char *path_env, char **out, pier_error **err)
{
  pier_process p = { 0 };
  char *args[] = { (char *) arg0, NULL };
  char *envbuf = path_env ? xasprintf ("PATH=%s", path_env) : NULL;
  char *env[] = { "HOME=/", envbuf, NULL };
  p.args = args;
  p.env = env;
  int r = pier_process_find (&p, out, err);
  free (envbuf);
  return r;
}

static void
test_first_match_in_path_order (void **state)
{
  (void) state;
  char *out = NULL, *path = xasprintf ("%s/a:%s/b", dir, dir), *want = xasprintf ("%s/a/tool", dir);
  pier_error *err = NULL;
  assert_int_equal (find ("tool", path, &out, &err), 0);
  assert_string_equal (out, want);
  free (out);
  free (want);
  /* Not executable in a/: skipped for b/'s. */
  want = xasprintf ("%s/b/noexec", dir);
  assert_int_equal (find ("noexec", path, &out, &err), 0);
  assert_string_equal (out, want);
  free (out);
  free (want);
  free (path);
}

static void
test_directories_do_not_match (void **state)
{
  (void) state;
  char *out = NULL, *path = xasprintf ("%s/b", dir);
  pier_error *err = NULL;
  assert_int_equal (find ("tool.d", path, &out, &err), -1);
  assert_int_equal (err->code, ENOENT);
  assert_err_contains (err, "tool.d", "not found");
  pier_error_free (&err);
  free (path);
}

static void
test_default_path_without_env (void **state)
{
  (void) state;
  char *out = NULL;
  pier_error *err = NULL;
  assert_int_equal (find ("sh", NULL, &out, &err), 0); /* runc's default PATH has /bin and /usr/bin */
  assert_true (strcmp (out, "/usr/bin/sh") == 0 || strcmp (out, "/bin/sh") == 0
               || strcmp (out, "/usr/local/bin/sh") == 0);
  free (out);
}

static void
test_paths_with_slash_are_taken_as_is (void **state)
{
  (void) state;
  char *out = NULL, *abs = xasprintf ("%s/a/tool", dir), *adir = xasprintf ("%s/a", dir);
  pier_error *err = NULL;
  assert_int_equal (find (abs, "/nonexistent", &out, &err), 0);
  assert_string_equal (out, abs);
  free (out);
  assert_int_equal (find (adir, NULL, &out, &err), -1);
  assert_int_equal (err->code, EACCES);
  assert_err_contains (err, "is a directory");
  pier_error_free (&err);
  assert_int_equal (find ("/nonexistent/prog", NULL, &out, &err), -1);
  assert_int_equal (err->code, ENOENT);
  assert_err_contains (err, "/nonexistent/prog");
  pier_error_free (&err);
  free (abs);
  free (adir);
}

int
main (int argc, char **argv)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test (test_first_match_in_path_order),
    cmocka_unit_test (test_directories_do_not_match),
    cmocka_unit_test (test_default_path_without_env),
    cmocka_unit_test (test_paths_with_slash_are_taken_as_is),
  };
  setup (NULL);
  int rc = unit_run ("test_process", tests, sizeof tests / sizeof tests[0], NULL, 0, argc, argv);
  teardown (NULL);
  return rc;
}
