/* Unit tests for cli/opt: runc- and docker-style flag parsing. */
#include "unit.h"

#include "cli/opt.h"
#include "util/xalloc.h"

typedef struct flags
{
  bool detach, tty, rm;
  const char *bundle;
  long preserve;
  char **env;
} flags;

static void
table (flags *f, pier_opt opts[7])
{
  memset (f, 0, sizeof *f);
  f->preserve = -7;
  pier_opt t[7] = {
    { "d|detach", OPT_BOOL, &f->detach, "run in the background", NULL },
    { "t|tty", OPT_BOOL, &f->tty, "allocate a terminal", NULL },
    { "rm", OPT_BOOL, &f->rm, "remove when done", NULL },
    { "b|bundle", OPT_STRING, &f->bundle, "bundle directory", "DIR" },
    { "preserve-fds", OPT_INT, &f->preserve, "extra fds", "N" },
    { "e|env", OPT_LIST, &f->env, "environment", "NAME=VALUE" },
    { NULL, 0, NULL, NULL, NULL },
  };
  memcpy (opts, t, sizeof t);
}

/* Parse a NULL-terminated argv (argv[0] is the verb, as in main). */
static int
run (flags *f, char **msg, int *first, char **argv)
{
  pier_opt opts[7];
  int argc = 0;
  table (f, opts);
  while (argv[argc])
    argc++;
  *first = 1;
  *msg = NULL;
  return pier_opt_parse (opts, argc, argv, first, msg);
}

#define ARGV(...) ((char *[]){ "verb", __VA_ARGS__, NULL })

static void
test_bool_forms (void **state)
{
  (void) state;
  flags f;
  char *msg;
  int i;
  static const char *const on[] = { "-d", "--detach", "-detach", "--detach=true", "--detach=1", "--d" };
  for (size_t k = 0; k < sizeof on / sizeof on[0]; k++)
    {
      assert_int_equal (run (&f, &msg, &i, ARGV ((char *) on[k])), 0);
      if (!f.detach)
        fail_msg ("`%s` did not set the flag", on[k]);
      assert_int_equal (i, 2);
    }
  assert_int_equal (run (&f, &msg, &i, ARGV ("-d", "--detach=false")), 0);
  assert_false (f.detach);
  assert_int_equal (run (&f, &msg, &i, ARGV ("--detach=0")), 0);
  assert_false (f.detach);
}

static void
test_bool_bad_value (void **state)
{
  (void) state;
  flags f;
  char *msg;
  int i;
  assert_int_equal (run (&f, &msg, &i, ARGV ("--detach=maybe")), -1);
  assert_non_null (msg);
  assert_non_null (strstr (msg, "maybe"));
  assert_non_null (strstr (msg, "--detach"));
  free (msg);
}

static void
test_string_forms (void **state)
{
  (void) state;
  flags f;
  char *msg;
  int i;
  assert_int_equal (run (&f, &msg, &i, ARGV ("--bundle", "/b1", "id")), 0);
  assert_string_equal (f.bundle, "/b1");
  assert_int_equal (i, 3);
  assert_int_equal (run (&f, &msg, &i, ARGV ("--bundle=/b2")), 0);
  assert_string_equal (f.bundle, "/b2");
  assert_int_equal (run (&f, &msg, &i, ARGV ("-b", "/b3")), 0);
  assert_string_equal (f.bundle, "/b3");
  assert_int_equal (run (&f, &msg, &i, ARGV ("-bundle", "/b4")), 0);
  assert_string_equal (f.bundle, "/b4");
  assert_int_equal (run (&f, &msg, &i, ARGV ("--bundle=")), 0);
  assert_string_equal (f.bundle, "");
  /* The value may itself start with a dash. */
  assert_int_equal (run (&f, &msg, &i, ARGV ("--bundle", "-x")), 0);
  assert_string_equal (f.bundle, "-x");
}

static void
test_missing_argument (void **state)
{
  (void) state;
  flags f;
  char *msg;
  int i;
  assert_int_equal (run (&f, &msg, &i, ARGV ("--bundle")), -1);
  assert_non_null (strstr (msg, "needs an argument"));
  assert_non_null (strstr (msg, "--bundle"));
  free (msg);
}

static void
test_int_flag (void **state)
{
  (void) state;
  flags f;
  char *msg;
  int i;
  assert_int_equal (run (&f, &msg, &i, ARGV ("--preserve-fds", "3")), 0);
  assert_int_equal (f.preserve, 3);
  assert_int_equal (run (&f, &msg, &i, ARGV ("--preserve-fds=-2")), 0);
  assert_int_equal (f.preserve, -2);
  static const char *const bad[] = { "--preserve-fds=abc", "--preserve-fds=", "--preserve-fds=3x",
                                     "--preserve-fds=99999999999999999999999" };
  for (size_t k = 0; k < sizeof bad / sizeof bad[0]; k++)
    {
      if (run (&f, &msg, &i, ARGV ((char *) bad[k])) != -1)
        fail_msg ("`%s` accepted", bad[k]);
      assert_non_null (strstr (msg, "invalid number"));
      free (msg);
    }
}

static void
test_list_flag (void **state)
{
  (void) state;
  flags f;
  char *msg;
  int i;
  assert_int_equal (run (&f, &msg, &i, ARGV ("-e", "A=1", "--env=B=2", "--env", "C=")), 0);
  assert_int_equal (strv_len (f.env), 3);
  assert_string_equal (f.env[0], "A=1");
  assert_string_equal (f.env[1], "B=2");
  assert_string_equal (f.env[2], "C=");
  strv_free (f.env);
}

static void
test_positional_and_double_dash (void **state)
{
  (void) state;
  flags f;
  char *msg;
  int i;
  /* Parsing stops at the first positional argument... */
  char **a = ARGV ("-d", "mycontainer", "--tty");
  assert_int_equal (run (&f, &msg, &i, a), 0);
  assert_int_equal (i, 2);
  assert_string_equal (a[i], "mycontainer");
  assert_true (f.detach);
  assert_false (f.tty);
  /* ...at "--", which is consumed... */
  a = ARGV ("-d", "--", "--tty");
  assert_int_equal (run (&f, &msg, &i, a), 0);
  assert_int_equal (i, 3);
  assert_string_equal (a[i], "--tty");
  assert_false (f.tty);
  /* ...and "-" is a positional argument (stdin). */
  a = ARGV ("-");
  assert_int_equal (run (&f, &msg, &i, a), 0);
  assert_int_equal (i, 1);
  /* Nothing at all is fine. */
  a = (char *[]){ "verb", NULL };
  assert_int_equal (run (&f, &msg, &i, a), 0);
  assert_int_equal (i, 1);
}

static void
test_clustered_short_bools (void **state)
{
  (void) state;
  flags f;
  char *msg;
  int i;
  assert_int_equal (run (&f, &msg, &i, ARGV ("-dt", "x")), 0);
  assert_true (f.detach && f.tty);
  assert_int_equal (i, 2);
  /* A cluster holding a non-boolean is not a cluster. */
  assert_int_equal (run (&f, &msg, &i, ARGV ("-db")), -1);
  assert_non_null (strstr (msg, "unknown flag: -db"));
  free (msg);
  assert_false (f.detach); /* nothing set by a rejected cluster */
}

static void
test_unknown_flag (void **state)
{
  (void) state;
  flags f;
  char *msg;
  int i;
  assert_int_equal (run (&f, &msg, &i, ARGV ("--nope=1")), -1);
  assert_string_equal (msg, "unknown flag: --nope");
  free (msg);
  assert_int_equal (run (&f, &msg, &i, ARGV ("-x")), -1);
  assert_string_equal (msg, "unknown flag: -x");
  free (msg);
  /* A prefix of a long name is not that name. */
  assert_int_equal (run (&f, &msg, &i, ARGV ("--det")), -1);
  free (msg);
}

static void
test_usage_lists_flags (void **state)
{
  (void) state;
  flags f;
  pier_opt opts[7];
  table (&f, opts);
  char *dir = unit_mkdtemp ();
  char *path = NULL;
  assert_true (asprintf (&path, "%s/out", dir) > 0);
  fflush (stdout);
  int saved = dup (STDOUT_FILENO);
  int fd = open (path, O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
  dup2 (fd, STDOUT_FILENO);
  pier_opt_usage ("pier-runtime run [OPTIONS] ID", opts);
  fflush (stdout);
  dup2 (saved, STDOUT_FILENO);
  close (saved);
  close (fd);
  char *out = unit_read (path);
  assert_non_null (out);
  static const char *const want[] = { "Usage: pier-runtime run [OPTIONS] ID",
                                      "-d, --detach",
                                      "--rm ",
                                      "-b, --bundle DIR",
                                      "--preserve-fds N",
                                      "run in the background" };
  for (size_t k = 0; k < sizeof want / sizeof want[0]; k++)
    if (strstr (out, want[k]) == NULL)
      fail_msg ("usage lacks `%s`:\n%s", want[k], out);
  free (out);
  free (path);
  unit_rmrf (dir);
  free (dir);
}

int
main (int argc, char **argv)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test (test_bool_forms),
    cmocka_unit_test (test_bool_bad_value),
    cmocka_unit_test (test_string_forms),
    cmocka_unit_test (test_missing_argument),
    cmocka_unit_test (test_int_flag),
    cmocka_unit_test (test_list_flag),
    cmocka_unit_test (test_positional_and_double_dash),
    cmocka_unit_test (test_clustered_short_bools),
    cmocka_unit_test (test_unknown_flag),
    cmocka_unit_test (test_usage_lists_flags),
  };
  return unit_run ("test_opt", tests, sizeof tests / sizeof tests[0], NULL, 0, argc, argv);
}
