/* Unit tests for runtime/state: container ids and state.json records. */
#include "unit.h"

#include "runtime/state.h"
#include "util/xalloc.h"

static void
test_check_id_accepts_runc_ids (void **state)
{
  (void) state;
  static const char *const good[]
      = { "a",   "abc",     "ABC-def_1.2+3",
          "...", ".hidden", "x..y",
          "0",   "-",       "c0ffee00c0ffee00c0ffee00c0ffee00c0ffee00c0ffee00c0ffee00c0ffee00" };
  for (size_t i = 0; i < sizeof good / sizeof good[0]; i++)
    {
      pier_error *err = NULL;
      if (pier_state_check_id (good[i], &err) < 0)
        fail_msg ("`%s` rejected: %s", good[i], err->msg);
    }
}

static void
test_check_id_rejects_paths (void **state)
{
  (void) state;
  static const char *const bad[] = { "",     ".",    "..", "../x", "a/b", "/abs",  "x/..", "a b",
                                     "a\nb", "a\\b", "ü",  "a:b",  "a*",  "$(id)", "a/",   "./a" };
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
    {
      pier_error *err = NULL;
      if (pier_state_check_id (bad[i], &err) == 0)
        fail_msg ("`%s` accepted as a container id", bad[i]);
      assert_non_null (err);
      assert_int_equal (err->code, EINVAL);
      assert_err_contains (err, "container id");
      pier_error_free (&err);
    }
  pier_error *err = NULL;
  assert_int_equal (pier_state_check_id (NULL, &err), -1);
  pier_error_free (&err);
  char *long_id = xmalloc (2000);
  memset (long_id, 'a', 1999);
  long_id[1999] = '\0';
  assert_int_equal (pier_state_check_id (long_id, &err), -1);
  pier_error_free (&err);
  free (long_id);
}

typedef struct fx
{
  char *root;
} fx;

static int
setup (void **state)
{
  fx *f = xzalloc (sizeof *f);
  char *t = unit_mkdtemp ();
  f->root = xasprintf ("%s/state/nested", t); /* parents are created */
  free (t);
  *state = f;
  return 0;
}

static int
teardown (void **state)
{
  fx *f = *state;
  char *top = xstrdup (f->root);
  *strstr (top, "/state/nested") = '\0';
  unit_rmrf (top);
  free (top);
  free (f->root);
  free (f);
  return 0;
}

static pier_state *
sample (const char *id)
{
  pier_state *st = xzalloc (sizeof *st);
  st->id = xstrdup (id);
  st->pid = 4242;
  st->start_time = 123456789ULL;
  st->bundle = xstrdup ("/b");
  st->rootfs = xstrdup ("/b/rootfs");
  st->created = xstrdup ("2024-01-02T03:04:05.000000006Z");
  st->owner = xstrdup ("root");
  st->cgroup_path = xstrdup ("/sys/fs/cgroup/x");
  st->annotations = json_pack ("{s:s}", "k", "v");
  st->config = json_pack ("{s:s}", "ociVersion", "1.2.0");
  st->rootless = true;
  return st;
}

static void
test_save_load_round_trip (void **state)
{
  fx *f = *state;
  pier_error *err = NULL;
  int dfd = -1;
  assert_int_equal (pier_state_dir_create (f->root, "c1", &dfd, &err), 0);
  assert_no_err (err);
  assert_true (dfd >= 0);
  close (dfd);
  struct stat st;
  assert_int_equal (stat (f->root, &st), 0);
  assert_true (S_ISDIR (st.st_mode));

  pier_state *in = sample ("c1");
  assert_int_equal (pier_state_save (f->root, in, &err), 0);
  assert_no_err (err);
  pier_state *out = NULL;
  assert_int_equal (pier_state_load (f->root, "c1", &out, &err), 0);
  assert_no_err (err);
  assert_string_equal (out->id, "c1");
  assert_int_equal (out->pid, 4242);
  assert_true (out->start_time == 123456789ULL);
  assert_string_equal (out->bundle, "/b");
  assert_string_equal (out->rootfs, "/b/rootfs");
  assert_string_equal (out->created, in->created);
  assert_string_equal (out->owner, "root");
  assert_string_equal (out->cgroup_path, "/sys/fs/cgroup/x");
  assert_true (out->rootless);
  assert_true (json_equal (out->annotations, in->annotations));
  assert_true (json_equal (out->config, in->config));
  pier_state_free (out);
  pier_state_free (in);
  pier_state_free (NULL);
}

static void
test_create_twice_fails (void **state)
{
  fx *f = *state;
  pier_error *err = NULL;
  int dfd = -1;
  assert_int_equal (pier_state_dir_create (f->root, "dup", &dfd, &err), 0);
  close (dfd);
  assert_int_equal (pier_state_dir_create (f->root, "dup", &dfd, &err), -1);
  assert_int_equal (err->code, EEXIST);
  assert_err_contains (err, "`dup`", "already exists");
  pier_error_free (&err);
}

static void
test_load_errors (void **state)
{
  fx *f = *state;
  pier_error *err = NULL;
  pier_state *out = NULL;
  int dfd = -1;

  assert_int_equal (pier_state_load (f->root, "ghost", &out, &err), -1);
  assert_int_equal (err->code, ENOENT);
  assert_err_contains (err, "container `ghost` does not exist");
  pier_error_free (&err);

  assert_int_equal (pier_state_load (f->root, "../etc", &out, &err), -1);
  assert_int_equal (err->code, EINVAL);
  pier_error_free (&err);

  /* A directory without a complete state.json is being created or broken. */
  assert_int_equal (pier_state_dir_create (f->root, "half", &dfd, &err), 0);
  assert_int_equal (pier_state_load (f->root, "half", &out, &err), -1);
  assert_int_equal (err->code, EIO);
  assert_err_contains (err, "`half`", "no valid state");
  pier_error_free (&err);
  close (dfd);
  assert_null (out);
}

static void
test_list_and_remove (void **state)
{
  fx *f = *state;
  pier_error *err = NULL;
  char **ids = NULL;

  /* A missing root lists nothing. */
  assert_int_equal (pier_state_list (f->root, &ids, &err), 0);
  assert_int_equal (strv_len (ids), 0);
  strv_free (ids);

  static const char *const names[] = { "zeta", "alpha", "mid" };
  for (size_t i = 0; i < 3; i++)
    {
      int dfd = -1;
      assert_int_equal (pier_state_dir_create (f->root, names[i], &dfd, &err), 0);
      close (dfd);
      pier_state *st = sample (names[i]);
      assert_int_equal (pier_state_save (f->root, st, &err), 0);
      pier_state_free (st);
    }
  int dfd = -1;
  assert_int_equal (pier_state_dir_create (f->root, "incomplete", &dfd, &err), 0);
  close (dfd);

  assert_int_equal (pier_state_list (f->root, &ids, &err), 0);
  assert_no_err (err);
  assert_int_equal (strv_len (ids), 3);
  assert_string_equal (ids[0], "alpha");
  assert_string_equal (ids[1], "mid");
  assert_string_equal (ids[2], "zeta");
  strv_free (ids);

  assert_int_equal (pier_state_remove (f->root, "mid", &err), 0);
  assert_no_err (err);
  pier_state *out = NULL;
  assert_int_equal (pier_state_load (f->root, "mid", &out, &err), -1);
  assert_int_equal (err->code, ENOENT);
  pier_error_free (&err);
  assert_int_equal (pier_state_remove (f->root, "mid", &err), 0); /* already gone: fine */
}

static void
test_status (void **state)
{
  fx *f = *state;
  pier_error *err = NULL;
  int dfd = -1;
  assert_int_equal (pier_state_dir_create (f->root, "me", &dfd, &err), 0);

  pier_state *st = sample ("me");
  free (st->cgroup_path);
  st->cgroup_path = xstrdup ("");
  st->pid = 0;
  assert_string_equal (pier_state_status (f->root, st), "stopped");

  /* Our own process stands in for the container's init. */
  st->pid = getpid ();
  st->start_time = pier_proc_start_time (getpid ());
  assert_true (st->start_time > 0);
  assert_int_equal (mkfifoat (dfd, "exec.fifo", 0600), 0);
  assert_string_equal (pier_state_status (f->root, st), "created");
  assert_int_equal (unlinkat (dfd, "exec.fifo", 0), 0);
  assert_string_equal (pier_state_status (f->root, st), "running");

  /* Same pid, other start time: the pid was reused, the init is gone. */
  st->start_time += 1;
  assert_string_equal (pier_state_status (f->root, st), "stopped");
  pier_state_free (st);
  close (dfd);
}

static void
test_proc_start_time (void **state)
{
  (void) state;
  unsigned long long me = pier_proc_start_time (getpid ());
  assert_true (me > 0);
  assert_true (pier_proc_start_time (getpid ()) == me); /* stable */
  assert_true (pier_proc_start_time (0) == 0);
  assert_true (pier_proc_start_time (-1) == 0);

  /* A zombie counts as gone. */
  pid_t pid = fork ();
  if (pid == 0)
    _exit (0);
  for (int i = 0; i < 200; i++)
    {
      char path[64], *stat_text;
      snprintf (path, sizeof path, "/proc/%d/stat", (int) pid);
      stat_text = unit_read (path);
      bool zombie = stat_text && strstr (stat_text, ") Z ");
      free (stat_text);
      if (zombie)
        break;
      usleep (10000);
    }
  assert_true (pier_proc_start_time (pid) == 0);
  waitpid (pid, NULL, 0);
  assert_true (pier_proc_start_time (pid) == 0);
}

static void
test_to_json (void **state)
{
  (void) state;
  pier_state *st = sample ("j");
  json_t *j = pier_state_to_json (st, "running");
  assert_string_equal (json_string_value (json_object_get (j, "id")), "j");
  assert_string_equal (json_string_value (json_object_get (j, "status")), "running");
  assert_int_equal (json_integer_value (json_object_get (j, "pid")), 4242);
  assert_string_equal (json_string_value (json_object_get (j, "bundle")), "/b");
  assert_non_null (json_string_value (json_object_get (j, "ociVersion")));
  assert_string_equal (json_string_value (json_object_get (json_object_get (j, "annotations"), "k")), "v");
  json_decref (j);
  j = pier_state_to_json (st, "stopped");
  assert_int_equal (json_integer_value (json_object_get (j, "pid")), 0);
  json_decref (j);
  pier_state_free (st);
}

#define ST_TEST(t) cmocka_unit_test_setup_teardown (t, setup, teardown)

int
main (int argc, char **argv)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test (test_check_id_accepts_runc_ids),
    cmocka_unit_test (test_check_id_rejects_paths),
    ST_TEST (test_save_load_round_trip),
    ST_TEST (test_create_twice_fails),
    ST_TEST (test_load_errors),
    ST_TEST (test_list_and_remove),
    ST_TEST (test_status),
    cmocka_unit_test (test_proc_start_time),
    cmocka_unit_test (test_to_json),
  };
  return unit_run ("test_state", tests, sizeof tests / sizeof tests[0], NULL, 0, argc, argv);
}
