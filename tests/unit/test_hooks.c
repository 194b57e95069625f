/* Unit tests for runtime/hooks: state on stdin, exit status, timeouts. */
#include "unit.h"

#include <time.h>

#include "runtime/hooks.h"
#include "util/xalloc.h"

/* A /bin/sh hook running script, with OUT=<dir>/<out> in its env. */
static pier_hook
sh_hook (const char *script, const char *out, int timeout)
{
  pier_hook h = { 0 };
  h.path = xstrdup ("/bin/sh");
  strv_push (&h.args, "sh");
  strv_push (&h.args, "-c");
  strv_push (&h.args, script);
  char *e = xasprintf ("OUT=%s/%s", unit_dir, out ? out : "unused");
  strv_push (&h.env, e);
  free (e);
  h.timeout = timeout;
  return h;
}

static void
hook_done (pier_hook *h)
{
  free (h->path);
  strv_free (h->args);
  strv_free (h->env);
}

static char *
out_file (const char *name)
{
  char *p = xasprintf ("%s/%s", unit_dir, name);
  char *r = unit_read (p);
  free (p);
  return r;
}

static void
test_state_on_stdin_and_env (void **state)
{
  (void) state;
  pier_hook h
      = sh_hook ("cat > \"$OUT\"; echo \"$OUT\" > \"$OUT.env\"; echo \"$0 $#\" > \"$OUT.args\"", "state", 0);
  pier_error *err = NULL;
  const char *st = "{\"ociVersion\":\"1.2.0\",\"id\":\"c\",\"status\":\"creating\"}";
  assert_int_equal (pier_hooks_run (&h, 1, "prestart", st, &err), 0);
  assert_no_err (err);
  char *got = out_file ("state");
  assert_non_null (got);
  assert_string_equal (got, st);
  free (got);
  got = out_file ("state.args");
  assert_string_equal (got, "sh 0\n");
  free (got);
  hook_done (&h);
}

static void
test_failure_names_hook_and_status (void **state)
{
  (void) state;
  pier_hook h = sh_hook ("exit 3", NULL, 0);
  pier_error *err = NULL;
  assert_int_equal (pier_hooks_run (&h, 1, "createRuntime", "{}", &err), -1);
  assert_err_contains (err, "createRuntime", "/bin/sh", "exit status 3");
  pier_error_free (&err);
  hook_done (&h);

  h = sh_hook ("kill -9 $$", NULL, 0);
  assert_int_equal (pier_hooks_run (&h, 1, "poststart", "{}", &err), -1);
  assert_err_contains (err, "poststart", "signal 9");
  pier_error_free (&err);
  hook_done (&h);
}

static void
test_missing_program (void **state)
{
  (void) state;
  pier_hook h = { 0 };
  h.path = xstrdup ("/nonexistent/hook");
  pier_error *err = NULL;
  assert_int_equal (pier_hooks_run (&h, 1, "prestart", "{}", &err), -1);
  assert_err_contains (err, "/nonexistent/hook");
  pier_error_free (&err);
  hook_done (&h);
}

static void
test_timeout_kills_hook (void **state)
{
  (void) state;
  pier_hook h = sh_hook ("exec sleep 30", NULL, 1);
  pier_error *err = NULL;
  struct timespec a, b;
  clock_gettime (CLOCK_MONOTONIC, &a);
  assert_int_equal (pier_hooks_run (&h, 1, "createContainer", "{}", &err), -1);
  clock_gettime (CLOCK_MONOTONIC, &b);
  assert_int_equal (err->code, ETIMEDOUT);
  assert_err_contains (err, "createContainer", "timed out after 1 second");
  pier_error_free (&err);
  double secs = (double) (b.tv_sec - a.tv_sec) + (double) (b.tv_nsec - a.tv_nsec) / 1e9;
  if (secs < 0.9 || secs > 5)
    fail_msg ("a 1-second timeout took %.2f seconds", secs);
  hook_done (&h);
}

static void
test_stops_at_first_failure (void **state)
{
  (void) state;
  pier_hook hs[3] = { sh_hook ("echo 1 > \"$OUT\"", "first", 0), sh_hook ("exit 1", NULL, 0),
                      sh_hook ("echo 3 > \"$OUT\"", "third", 0) };
  pier_error *err = NULL;
  assert_int_equal (pier_hooks_run (hs, 3, "prestart", "{}", &err), -1);
  pier_error_free (&err);
  char *c = out_file ("first");
  assert_non_null (c);
  free (c);
  assert_null (out_file ("third"));
  for (int i = 0; i < 3; i++)
    hook_done (&hs[i]);
  assert_int_equal (pier_hooks_run (NULL, 0, "prestart", "{}", &err), 0);
}

static void
test_run_all_continues_past_failures (void **state)
{
  (void) state;
  /* poststart and poststop: every hook runs, failures are only warned. */
  pier_hook hs[3] = { sh_hook ("exit 1", NULL, 0), sh_hook ("exec sleep 30", NULL, 1),
                      sh_hook ("cat > \"$OUT\"", "after", 0) };
  pier_hooks_run_all (hs, 3, "poststop", "{\"status\":\"stopped\"}");
  char *c = out_file ("after");
  assert_non_null (c);
  assert_string_equal (c, "{\"status\":\"stopped\"}");
  free (c);
  for (int i = 0; i < 3; i++)
    hook_done (&hs[i]);
}

static void
test_hook_ignoring_stdin_does_not_block (void **state)
{
  (void) state;
  /* More than a pipe holds, to a hook that never reads it. */
  size_t n = 1 << 20;
  char *big = xmalloc (n + 1);
  memset (big, ' ', n);
  big[n] = '\0';
  pier_hook h = sh_hook ("exit 0", NULL, 5);
  pier_error *err = NULL;
  assert_int_equal (pier_hooks_run (&h, 1, "poststop", big, &err), 0);
  assert_no_err (err);
  free (big);
  hook_done (&h);
}

int
main (int argc, char **argv)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test (test_state_on_stdin_and_env),
    cmocka_unit_test (test_failure_names_hook_and_status),
    cmocka_unit_test (test_missing_program),
    cmocka_unit_test (test_timeout_kills_hook),
    cmocka_unit_test (test_stops_at_first_failure),
    cmocka_unit_test (test_run_all_continues_past_failures),
    cmocka_unit_test (test_hook_ignoring_stdin_does_not_block),
  };
  unit_dir_setup (NULL);
  int rc = unit_run ("test_hooks", tests, sizeof tests / sizeof tests[0], NULL, 0, argc, argv);
  unit_dir_teardown (NULL);
  return rc;
}
