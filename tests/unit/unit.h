/* unit.h - helpers shared by pier's cmocka unit tests.
 *
 * Tests run unprivileged: scratch files live in a fresh directory under
 * $TMPDIR (or /tmp) that the test removes itself. */
#ifndef PIER_TESTS_UNIT_H
#define PIER_TESTS_UNIT_H

/* cmocka needs these before its own header. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "util/error.h"

/* Fail unless err is set and its message holds every given fragment. */
#define assert_err_contains(err, ...)                                                                        \
  do                                                                                                         \
    {                                                                                                        \
      const char *const frags_[] = { __VA_ARGS__, NULL };                                                    \
      if ((err) == NULL)                                                                                     \
        fail_msg ("expected an error, got none");                                                            \
      if ((err)->msg == NULL)                                                                                \
        fail_msg ("error has no message");                                                                   \
      for (size_t k_ = 0; frags_[k_]; k_++)                                                                  \
        if (strstr ((err)->msg, frags_[k_]) == NULL)                                                         \
          fail_msg ("error message `%s` does not mention `%s`", (err)->msg, frags_[k_]);                     \
    }                                                                                                        \
  while (0)

/* Fail with the library's message when an error is unexpectedly set. */
#define assert_no_err(err)                                                                                   \
  do                                                                                                         \
    {                                                                                                        \
      if ((err) != NULL)                                                                                     \
        fail_msg ("unexpected error: %s", (err)->msg ? (err)->msg : "(no message)");                         \
    }                                                                                                        \
  while (0)

static inline char *
unit_mkdtemp (void)
{
  const char *base = getenv ("TMPDIR");
  char *t = NULL;
  if (asprintf (&t, "%s/pier-unit-XXXXXX", base && *base ? base : "/tmp") < 0)
    abort ();
  if (mkdtemp (t) == NULL)
    fail_msg ("mkdtemp: %s", strerror (errno));
  return t;
}

static inline int
unit_rm_one (const char *p, const struct stat *st, int type, struct FTW *ftw)
{
  (void) st;
  (void) type;
  (void) ftw;
  return remove (p) < 0 && errno != ENOENT ? -1 : 0;
}

/* rm -rf without following symlinks; independent of pier's own rmtree. */
static inline void
unit_rmrf (const char *path)
{
  if (path)
    nftw (path, unit_rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

/* Create a file (and nothing else) with the given content. */
static inline void
unit_write (const char *path, const char *content)
{
  FILE *f = fopen (path, "we");
  if (f == NULL)
    fail_msg ("cannot create %s: %s", path, strerror (errno));
  fputs (content, f);
  fclose (f);
}

/* Whole content of a file (caller frees), or NULL when it cannot be read. */
static inline char *
unit_read_fd (int fd)
{
  char *buf = NULL;
  size_t len = 0;
  FILE *m = open_memstream (&buf, &len);
  char chunk[4096];
  ssize_t n;
  if (m == NULL)
    abort ();
  lseek (fd, 0, SEEK_SET);
  while ((n = read (fd, chunk, sizeof chunk)) > 0)
    fwrite (chunk, 1, (size_t) n, m);
  fclose (m);
  if (n < 0)
    {
      free (buf);
      return NULL;
    }
  return buf;
}

static inline char *
unit_read (const char *path)
{
  int fd = open (path, O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    return NULL;
  char *r = unit_read_fd (fd);
  close (fd);
  return r;
}

/* A test that asserts the right behaviour of code with a known bug (in
 * the report and the commit that added it).  It runs, must fail, and is
 * reported as an expected failure; once the bug is fixed it passes, and
 * the run fails so that the entry is removed from the list. */
typedef struct unit_known_bug
{
  const char *test; /* name of the test function */
  const char *why;
} unit_known_bug;

/* Run tests[0..n) except the known bugs; then each known bug alone in a
 * child, which must fail.  With an argument, run only that test. */
/* A scratch directory shared by a whole test program: unit_dir_setup
 * makes it (as a cmocka group setup, or called directly), teardown removes
 * it with all it holds. */
static char *unit_dir;

static inline int
unit_dir_setup (void **state)
{
  (void) state;
  unit_dir = unit_mkdtemp ();
  return 0;
}

static inline int
unit_dir_teardown (void **state)
{
  (void) state;
  unit_rmrf (unit_dir);
  free (unit_dir);
  unit_dir = NULL;
  return 0;
}

static inline int
unit_run (const char *group, const struct CMUnitTest *tests, size_t n, const unit_known_bug *bugs,
          size_t n_bugs, int argc, char **argv)
{
  struct CMUnitTest *sel = calloc (n + 1, sizeof *sel);
  size_t k = 0;
  int rc;
  if (sel == NULL)
    abort ();
  for (size_t i = 0; i < n; i++)
    {
      bool bug = false;
      for (size_t b = 0; b < n_bugs; b++)
        bug |= strcmp (tests[i].name, bugs[b].test) == 0;
      if (argc > 1 ? strcmp (tests[i].name, argv[1]) == 0 : !bug)
        sel[k++] = tests[i];
    }
  if (argc > 1 && k == 0)
    {
      fprintf (stderr, "%s: no test named `%s`\n", group, argv[1]);
      free (sel);
      return 2;
    }
  rc = _cmocka_run_group_tests (group, sel, k, NULL, NULL);
  for (size_t b = 0; argc <= 1 && b < n_bugs; b++)
    {
      size_t i;
      for (i = 0; i < n && strcmp (tests[i].name, bugs[b].test) != 0; i++)
        ;
      if (i == n)
        {
          fprintf (stderr, "%s: known bug names no test: `%s`\n", group, bugs[b].test);
          rc = 1;
          continue;
        }
      fflush (NULL);
      printf ("[ XFAIL    ] %s: known bug: %s\n", bugs[b].test, bugs[b].why);
      fflush (stdout);
      pid_t pid = fork ();
      if (pid == 0)
        _exit (_cmocka_run_group_tests (bugs[b].test, &tests[i], 1, NULL, NULL) == 0 ? 0 : 1);
      int status = 0;
      if (pid < 0 || waitpid (pid, &status, 0) < 0)
        abort ();
      if (WIFEXITED (status) && WEXITSTATUS (status) == 0)
        {
          printf ("[ XPASS    ] %s now passes: the bug is fixed, remove it from the known bugs\n",
                  bugs[b].test);
          rc = 1;
        }
      else
        printf ("[ XFAIL    ] %s failed as expected\n", bugs[b].test);
    }
  free (sel);
  return rc;
}

#define UNIT_RUN(tests, bugs, argc, argv)                                                                    \
  unit_run (__FILE__, tests, sizeof (tests) / sizeof (tests)[0], bugs, sizeof (bugs) / sizeof (bugs)[0],     \
            argc, argv)

#endif
