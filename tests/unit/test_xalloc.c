/* Unit tests for util/xalloc: x-wrappers and NULL-terminated string vectors. */
#include "unit.h"

#include "util/xalloc.h"

static void
test_xstrdup_and_friends (void **state)
{
  (void) state;
  char *s = xstrdup ("hello");
  assert_string_equal (s, "hello");
  free (s);
  s = xstrdup (NULL); /* documented leniency: NULL becomes "" */
  assert_string_equal (s, "");
  free (s);
  s = xstrndup ("hello", 3);
  assert_string_equal (s, "hel");
  free (s);
  s = xasprintf ("%s-%d", "a", 7);
  assert_string_equal (s, "a-7");
  free (s);
}

static void
test_zero_sized_allocations_are_usable (void **state)
{
  (void) state;
  void *p = xmalloc (0);
  assert_non_null (p);
  free (p);
  p = xcalloc (0, 8);
  assert_non_null (p);
  free (p);
  unsigned char *z = xzalloc (64);
  for (int i = 0; i < 64; i++)
    assert_int_equal (z[i], 0);
  z = xrealloc (z, 128);
  assert_int_equal (z[63], 0);
  free (z);
}

static void
test_strv_len (void **state)
{
  (void) state;
  char *v[] = { "a", "b", "c", NULL };
  char *empty[] = { NULL };
  assert_int_equal (strv_len (v), 3);
  assert_int_equal (strv_len (empty), 0);
  assert_int_equal (strv_len (NULL), 0);
}

static void
test_strv_push_grows_from_null (void **state)
{
  (void) state;
  char **v = NULL;
  strv_push (&v, "one");
  assert_non_null (v);
  assert_int_equal (strv_len (v), 1);
  strv_push (&v, "two");
  strv_push (&v, "");
  assert_int_equal (strv_len (v), 3);
  assert_string_equal (v[0], "one");
  assert_string_equal (v[1], "two");
  assert_string_equal (v[2], "");
  assert_null (v[3]);
  strv_free (v);
}

static void
test_strv_push_copies (void **state)
{
  (void) state;
  char buf[] = "mutable";
  char **v = NULL;
  strv_push (&v, buf);
  buf[0] = 'X';
  assert_string_equal (v[0], "mutable");
  strv_free (v);
}

static void
test_strv_dup_is_deep (void **state)
{
  (void) state;
  char *orig[] = { "x", "yy", NULL };
  char **d = strv_dup (orig);
  assert_int_equal (strv_len (d), 2);
  assert_ptr_not_equal (d[0], orig[0]);
  assert_string_equal (d[0], "x");
  assert_string_equal (d[1], "yy");
  assert_null (d[2]);
  strv_free (d);

  d = strv_dup (NULL);
  assert_non_null (d);
  assert_null (d[0]);
  strv_free (d);
  strv_free (NULL);
}

int
main (void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test (test_xstrdup_and_friends),
    cmocka_unit_test (test_zero_sized_allocations_are_usable),
    cmocka_unit_test (test_strv_len),
    cmocka_unit_test (test_strv_push_grows_from_null),
    cmocka_unit_test (test_strv_push_copies),
    cmocka_unit_test (test_strv_dup_is_deep),
  };
  return cmocka_run_group_tests (tests, NULL, NULL);
}
