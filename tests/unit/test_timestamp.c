/* Unit tests for util/timestamp: RFC 3339 times of image configs and the
 * values docker's `until=` filter takes (moby's GetTimestamp). */
#include "unit.h"

#include "util/timestamp.h"

static void
test_rfc3339 (void **state)
{
  (void) state;
  struct timespec t;
  assert_int_equal (pier_time_parse_rfc3339 ("2024-01-02T03:04:05Z", &t), 0);
  assert_int_equal (t.tv_sec, 1704164645);
  assert_int_equal (t.tv_nsec, 0);
  assert_int_equal (pier_time_parse_rfc3339 ("2024-01-02T03:04:05.123456789Z", &t), 0);
  assert_int_equal (t.tv_sec, 1704164645);
  assert_int_equal (t.tv_nsec, 123456789);
  /* more than nine digits are cut; fewer are tenths, hundredths... */
  assert_int_equal (pier_time_parse_rfc3339 ("2024-01-02T03:04:05.1234567891Z", &t), 0);
  assert_int_equal (t.tv_nsec, 123456789);
  assert_int_equal (pier_time_parse_rfc3339 ("2024-01-02T03:04:05.5Z", &t), 0);
  assert_int_equal (t.tv_nsec, 500000000);
  assert_int_equal (pier_time_parse_rfc3339 ("2024-01-02T05:04:05+02:00", &t), 0);
  assert_int_equal (t.tv_sec, 1704164645);
  assert_int_equal (pier_time_parse_rfc3339 ("2024-01-01T22:04:05-05:00", &t), 0);
  assert_int_equal (t.tv_sec, 1704164645);
  assert_int_equal (pier_time_parse_rfc3339 ("2024-02-29T00:00:00Z", &t), 0);
  static const char *const bad[] = {
    "",  "2024-01-02",           "2024-01-02T03:04:05",  "2024-01-02T03:04Z",     "2023-02-29T00:00:00Z",
    "x", "2024-13-02T03:04:05Z", "2024-01-02T24:00:00Z", "2024-01-02T03:04:05.Z", "2024-01-02T03:04:05Zjunk",
  };
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
    if (pier_time_parse_rfc3339 (bad[i], &t) == 0)
      fail_msg ("`%s` was taken as an RFC 3339 time", bad[i]);
  assert_int_equal (pier_time_parse_rfc3339 (NULL, &t), -1);
}

static void
test_user_durations (void **state)
{
  (void) state;
  struct timespec now = { 1700000000, 700000000 }, t;
  pier_error *err = NULL;
  static const struct
  {
    const char *in;
    long long want;
  } cases[] = {
    { "10m", 1700000000 - 600 },     { "1h30m", 1700000000 - 5400 },
    { "1.5h", 1700000000 - 5400 },   { "2s", 1699999998 },
    { "500ms", 1700000000 },         { "-1h", 1700000000 + 3600 },
    { "1h1m1s", 1700000000 - 3661 }, { "\xc2\xb5s", -1 }, /* a unit without a number: not a duration */
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
    {
      int rc = pier_time_parse_user (cases[i].in, &now, &t, &err);
      if (cases[i].want < 0)
        {
          assert_int_equal (rc, -1);
          pier_error_free (&err);
          continue;
        }
      assert_no_err (err);
      assert_int_equal (rc, 0);
      if (t.tv_sec != cases[i].want)
        fail_msg ("`%s`: %lld, want %lld", cases[i].in, (long long) t.tv_sec, cases[i].want);
      assert_int_equal (t.tv_nsec, 0);
    }
}

static void
test_user_dates_and_unix (void **state)
{
  (void) state;
  struct timespec now = { 1700000000, 0 }, t;
  pier_error *err = NULL;
  setenv ("TZ", "UTC", 1);
  tzset ();
  assert_int_equal (pier_time_parse_user ("2024-01-02", &now, &t, &err), 0);
  assert_int_equal (t.tv_sec, 1704153600);
  assert_int_equal (pier_time_parse_user ("2024-01-02T03", &now, &t, &err), 0);
  assert_int_equal (t.tv_sec, 1704153600 + 3 * 3600);
  assert_int_equal (pier_time_parse_user ("2024-01-02T03:04", &now, &t, &err), 0);
  assert_int_equal (t.tv_sec, 1704153600 + 3 * 3600 + 240);
  assert_int_equal (pier_time_parse_user ("2024-01-02T03:04:05.25", &now, &t, &err), 0);
  assert_int_equal (t.tv_sec, 1704164645);
  assert_int_equal (t.tv_nsec, 250000000);
  assert_int_equal (pier_time_parse_user ("2024-01-02T05:04:05+02:00", &now, &t, &err), 0);
  assert_int_equal (t.tv_sec, 1704164645);
  assert_int_equal (pier_time_parse_user ("2024-01-02Z", &now, &t, &err), 0);
  assert_int_equal (t.tv_sec, 1704153600);
  /* local time: the zone's offset now */
  setenv ("TZ", "EST5", 1);
  tzset ();
  assert_int_equal (pier_time_parse_user ("2024-01-02", &now, &t, &err), 0);
  assert_int_equal (t.tv_sec, 1704153600 + 5 * 3600);
  setenv ("TZ", "UTC", 1);
  tzset ();
  /* unix seconds; "0" is a time, not a duration */
  assert_int_equal (pier_time_parse_user ("1600000000", &now, &t, &err), 0);
  assert_int_equal (t.tv_sec, 1600000000);
  assert_int_equal (pier_time_parse_user ("1600000000.5", &now, &t, &err), 0);
  assert_int_equal (t.tv_sec, 1600000000);
  assert_int_equal (t.tv_nsec, 500000000);
  assert_int_equal (pier_time_parse_user ("0", &now, &t, &err), 0);
  assert_int_equal (t.tv_sec, 0);
  assert_no_err (err);
  /* a bare number is unix seconds, not a duration without its unit */
  assert_int_equal (pier_time_parse_user ("10", &now, &t, &err), 0);
  assert_int_equal (t.tv_sec, 10);
  assert_no_err (err);
  static const char *const bad[] = { "", "yesterday", "-5", "2024-13-01", "1.2.3", "10x", "1600000000.x" };
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
    {
      if (pier_time_parse_user (bad[i], &now, &t, &err) == 0)
        fail_msg ("`%s` was taken as a time", bad[i]);
      assert_int_equal (err->code, EINVAL);
      assert_err_contains (err, "failed to parse value as time or duration");
      pier_error_free (&err);
    }
}

static void
test_cmp (void **state)
{
  (void) state;
  struct timespec a = { 10, 5 }, b = { 10, 6 }, c = { 11, 0 };
  assert_true (pier_time_cmp (&a, &b) < 0);
  assert_true (pier_time_cmp (&b, &a) > 0);
  assert_true (pier_time_cmp (&b, &c) < 0);
  assert_int_equal (pier_time_cmp (&a, &a), 0);
}

/* Go's time.ParseDuration and Duration.String, as the --health-* flags
 * read durations and the timeout message writes them. */
static void
test_go_durations (void **state)
{
  (void) state;
  static const struct
  {
    const char *in;
    long long ns;
  } good[] = { { "0", 0 },
               { "30s", 30000000000LL },
               { "1m30s", 90000000000LL },
               { "500ms", 500000000 },
               { "1.5s", 1500000000 },
               { "-1s", -1000000000 },
               { "2h", 7200000000000LL },
               { "10us", 10000 },
               { "+5ns", 5 } };
  for (size_t i = 0; i < sizeof good / sizeof good[0]; i++)
    {
      int64_t ns = -42;
      assert_int_equal (pier_time_parse_duration (good[i].in, &ns), 0);
      assert_true (ns == good[i].ns);
    }
  static const char *const bad[] = { "", "abc", "5", "5x", "s", "1.s5", "--1s", NULL };
  for (size_t i = 0; bad[i]; i++)
    {
      int64_t ns;
      assert_int_equal (pier_time_parse_duration (bad[i], &ns), -1);
    }
  static const struct
  {
    long long ns;
    const char *out;
  } fmt[] = { { 0, "0s" },
              { 300000000, "300ms" },
              { 30000000000LL, "30s" },
              { 90000000000LL, "1m30s" },
              { 60000000000LL, "1m0s" },
              { 3600000000000LL, "1h0m0s" },
              { 1500000000, "1.5s" },
              { 1500000, "1.5ms" },
              { 1500, "1.5\xc2\xb5s" },
              { 7, "7ns" },
              { -2000000000, "-2s" } };
  for (size_t i = 0; i < sizeof fmt / sizeof fmt[0]; i++)
    {
      char buf[64];
      pier_time_format_duration (fmt[i].ns, buf, sizeof buf);
      assert_string_equal (buf, fmt[i].out);
    }
}

static const unit_known_bug bugs[] = {};

int
main (int argc, char **argv)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test (test_rfc3339),
    cmocka_unit_test (test_user_durations),
    cmocka_unit_test (test_user_dates_and_unix),
    cmocka_unit_test (test_cmp),
    cmocka_unit_test (test_go_durations),
  };
  return UNIT_RUN (tests, bugs, argc, argv);
}
