/* Unit tests for pier_signal_parse (runtime/container): what `kill`
 * accepts, as runc does. */
#include "unit.h"

#include <signal.h>

#include "runtime/container.h"

static void
test_names_and_numbers (void **state)
{
  (void) state;
  static const struct
  {
    const char *in;
    int sig;
  } ok[] = {
    { "TERM", SIGTERM }, { "SIGTERM", SIGTERM }, { "KILL", SIGKILL },   { "SIGKILL", SIGKILL },
    { "9", SIGKILL },    { "15", SIGTERM },      { "1", SIGHUP },       { "HUP", SIGHUP },
    { "USR1", SIGUSR1 }, { "SIGUSR2", SIGUSR2 }, { "WINCH", SIGWINCH }, { "CHLD", SIGCHLD },
    { "STOP", SIGSTOP }, { "CONT", SIGCONT },    { "SYS", SIGSYS },     { "sigint", SIGINT },
    { "term", SIGTERM }, { "64", 64 },
  };
  for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++)
    if (pier_signal_parse (ok[i].in) != ok[i].sig)
      fail_msg ("`%s` parsed as %d, expected %d", ok[i].in, pier_signal_parse (ok[i].in), ok[i].sig);
}

static void
test_realtime (void **state)
{
  (void) state;
  assert_int_equal (pier_signal_parse ("RTMIN"), SIGRTMIN);
  assert_int_equal (pier_signal_parse ("SIGRTMIN"), SIGRTMIN);
  assert_int_equal (pier_signal_parse ("RTMIN+1"), SIGRTMIN + 1);
  assert_int_equal (pier_signal_parse ("SIGRTMIN+2"), SIGRTMIN + 2);
  assert_int_equal (pier_signal_parse ("RTMAX"), SIGRTMAX);
  assert_int_equal (pier_signal_parse ("RTMAX-1"), SIGRTMAX - 1);
  assert_int_equal (pier_signal_parse ("RTMIN+0"), SIGRTMIN);
}

static void
test_bad_signals (void **state)
{
  (void) state;
  static const char *const bad[] = {
    NULL,
    "",
    "FOO",
    "SIGFOO",
    "SIG",
    "-9",
    "65",
    "1000",
    "9x",
    "x9",
    "TERM ",
    "SIGTERMX",
    "RTMIN+100",
    "RTMIN-1",
    "RTMAX+1",
    "RTMIN+",
    "RTMINx",
    "RTMIN+1x",
    "99999999999999999999",
  };
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
    if (pier_signal_parse (bad[i]) != -1)
      fail_msg ("`%s` accepted as signal %d", bad[i] ? bad[i] : "(null)", pier_signal_parse (bad[i]));
}

int
main (int argc, char **argv)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test (test_names_and_numbers),
    cmocka_unit_test (test_realtime),
    cmocka_unit_test (test_bad_signals),
  };
  return unit_run ("test_signal", tests, sizeof tests / sizeof tests[0], NULL, 0, argc, argv);
}
