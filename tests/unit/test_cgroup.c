/* Unit tests for runtime/cgroup that need no privilege: cgroupsPath
 * validation and the reading of the host's cgroup layout. */
#include "unit.h"

#include "runtime/cgroup.h"
#include "util/xalloc.h"

static void
test_path_for (void **state)
{
  (void) state;
  static const char *const cases[][3] = {
    { NULL, "c1", "pier/c1" },
    { "", "c1", "pier/c1" },
    { "/a/b", "x", "a/b" },
    { "a/b", "x", "a/b" },
    { "/machine/c.scope", "x", "machine/c.scope" },
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
    {
      char *out = NULL;
      pier_error *err = NULL;
      if (pier_cgroup_path_for (cases[i][0], cases[i][1], &out, &err) < 0)
        fail_msg ("`%s` rejected: %s", cases[i][0] ? cases[i][0] : "(null)", err->msg);
      if (strcmp (out, cases[i][2]) != 0)
        fail_msg ("`%s` -> `%s`, expected `%s`", cases[i][0] ? cases[i][0] : "(null)", out, cases[i][2]);
      free (out);
    }
}

static void
test_path_for_rejects (void **state)
{
  (void) state;
  static const char *const cases[][2] = {
    { "/a/../../etc", "`..`" },
    { "..", "`..`" },
    { "/", "root cgroup" },
    { "///", "root cgroup" },
    { "system.slice:pier:abc", "systemd" },
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
    {
      char *out = NULL;
      pier_error *err = NULL;
      if (pier_cgroup_path_for (cases[i][0], "x", &out, &err) == 0)
        fail_msg ("`%s` accepted as `%s`", cases[i][0], out);
      assert_null (out);
      assert_int_equal (err->code, EINVAL);
      assert_err_contains (err, cases[i][0], cases[i][1]);
      pier_error_free (&err);
    }
}

static void
test_host_layout_matches_mountinfo (void **state)
{
  (void) state;
  char *mi = unit_read ("/proc/self/mountinfo");
  assert_non_null (mi);
  bool has_v1 = strstr (mi, " - cgroup ") != NULL;
  bool has_v2 = strstr (mi, " - cgroup2 ") != NULL;
  free (mi);

  const pier_cgroup_hier *v1 = NULL;
  size_t n = 0;
  const char *v2 = NULL;
  pier_cgroup_hierarchies (&v1, &n, &v2);
  enum pier_cgroup_mode mode = pier_cgroup_host_mode ();

  if (!has_v1 && !has_v2)
    skip (); /* no cgroup filesystem mounted here: nothing to compare */
  assert_int_equal (n > 0, has_v1);
  assert_int_equal (v2 != NULL, has_v2);
  if (has_v1 && has_v2)
    assert_int_equal (mode, PIER_CGROUP_HYBRID);
  else if (has_v1)
    assert_int_equal (mode, PIER_CGROUP_V1);
  else
    assert_int_equal (mode, PIER_CGROUP_V2);
  for (size_t i = 0; i < n; i++)
    {
      assert_non_null (v1[i].mountpoint);
      assert_true (v1[i].mountpoint[0] == '/');
      assert_non_null (v1[i].options);
      assert_true (strlen (v1[i].options) > 0);
    }
}

int
main (int argc, char **argv)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test (test_path_for),
    cmocka_unit_test (test_path_for_rejects),
    cmocka_unit_test (test_host_layout_matches_mountinfo),
  };
  return unit_run ("test_cgroup", tests, sizeof tests / sizeof tests[0], NULL, 0, argc, argv);
}
