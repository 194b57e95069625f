/* Unit tests for util/error: the error contract every library call uses. */
#include "unit.h"

#include "util/error.h"

static void
test_make_appends_strerror (void **state)
{
  (void) state;
  pier_error *err = NULL;
  assert_int_equal (pier_error_make (&err, ENOENT, "cannot open `%s`", "/x"), -1);
  assert_non_null (err);
  assert_int_equal (err->code, ENOENT);
  assert_string_equal (err->msg, "cannot open `/x`: No such file or directory");
  pier_error_free (&err);
  assert_null (err);
}

static void
test_make_with_zero_code_has_no_suffix (void **state)
{
  (void) state;
  pier_error *err = NULL;
  assert_int_equal (pier_error_make (&err, 0, "plain %d", 42), -1);
  assert_int_equal (err->code, 0);
  assert_string_equal (err->msg, "plain 42");
  pier_error_free (&err);
}

static void
test_makex_keeps_message_as_given (void **state)
{
  (void) state;
  pier_error *err = NULL;
  assert_int_equal (pier_error_makex (&err, EINVAL, "bad value `%s`", "v"), -1);
  assert_int_equal (err->code, EINVAL);
  assert_string_equal (err->msg, "bad value `v`");
  pier_error_free (&err);
}

static void
test_wrap_prefixes_context (void **state)
{
  (void) state;
  pier_error *err = NULL;
  pier_error_makex (&err, EIO, "disk on fire");
  assert_int_equal (pier_error_wrap (&err, "pull `%s`", "busybox"), -1);
  assert_int_equal (pier_error_wrap (&err, "run"), -1);
  assert_string_equal (err->msg, "run: pull `busybox`: disk on fire");
  assert_int_equal (err->code, EIO); /* the code survives wrapping */
  pier_error_free (&err);
}

static void
test_wrap_without_error_is_harmless (void **state)
{
  (void) state;
  pier_error *err = NULL;
  assert_int_equal (pier_error_wrap (&err, "ctx"), -1);
  assert_null (err);
  assert_int_equal (pier_error_wrap (NULL, "ctx"), -1);
}

static void
test_null_err_still_fails (void **state)
{
  (void) state;
  assert_int_equal (pier_error_make (NULL, EPERM, "x"), -1);
  assert_int_equal (pier_error_makex (NULL, EPERM, "x"), -1);
  assert_int_equal (pier_error_set (NULL, EPERM, "x"), -1);
}

static void
test_make_replaces_previous_error (void **state)
{
  (void) state;
  pier_error *err = NULL;
  pier_error_makex (&err, EINVAL, "first");
  /* The old error is freed (ASan reports a leak otherwise). */
  pier_error_makex (&err, EEXIST, "second");
  assert_int_equal (err->code, EEXIST);
  assert_string_equal (err->msg, "second");
  pier_error_free (&err);
}

static void
test_set_does_not_format (void **state)
{
  (void) state;
  pier_error *err = NULL;
  assert_int_equal (pier_error_set (&err, ESRCH, "100% done %s %n"), -1);
  assert_int_equal (err->code, ESRCH);
  assert_string_equal (err->msg, "100% done %s %n");
  pier_error_free (&err);
}

static void
test_free_is_idempotent (void **state)
{
  (void) state;
  pier_error *err = NULL;
  pier_error_free (&err);
  pier_error_free (NULL);
  pier_error_makex (&err, 1, "x");
  pier_error_free (&err);
  pier_error_free (&err);
  assert_null (err);
}

int
main (void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test (test_make_appends_strerror),
    cmocka_unit_test (test_make_with_zero_code_has_no_suffix),
    cmocka_unit_test (test_makex_keeps_message_as_given),
    cmocka_unit_test (test_wrap_prefixes_context),
    cmocka_unit_test (test_wrap_without_error_is_harmless),
    cmocka_unit_test (test_null_err_still_fails),
    cmocka_unit_test (test_make_replaces_previous_error),
    cmocka_unit_test (test_set_does_not_format),
    cmocka_unit_test (test_free_is_idempotent),
  };
  return cmocka_run_group_tests (tests, NULL, NULL);
}
