/* Unit tests for util/cleanup.h: scope-bound cleanup and ownership
 * hand-over. */
#include "unit.h"

#include "util/cleanup.h"
#include "util/xalloc.h"

static bool
fd_open (int fd)
{
  return fcntl (fd, F_GETFD) >= 0;
}

static int
make_fd (void)
{
  int fd = open ("/dev/null", O_RDONLY | O_CLOEXEC);
  assert_true (fd >= 0);
  return fd;
}

static void
test_cleanup_close_closes_at_scope_end (void **state)
{
  (void) state;
  int seen;
  {
    cleanup_close int fd = make_fd ();
    seen = fd;
    assert_true (fd_open (seen));
  }
  assert_false (fd_open (seen));
}

static int
hand_over (void)
{
  cleanup_close int fd = make_fd ();
  return move_fd (&fd); /* survives the scope */
}

static void
test_move_fd_keeps_it_open (void **state)
{
  (void) state;
  int fd = hand_over ();
  assert_true (fd_open (fd));
  close (fd);
  int x = 5;
  assert_int_equal (move_fd (&x), 5);
  assert_int_equal (x, -1);
}

static char *
make_string (void)
{
  cleanup_free char *s = xstrdup ("kept");
  return steal_pointer (&s);
}

static void
test_steal_pointer (void **state)
{
  (void) state;
  char *s = make_string (); /* ASan reports a double free or a leak otherwise */
  assert_string_equal (s, "kept");
  free (s);
  char *p = xstrdup ("x");
  char *q = steal_pointer (&p);
  assert_null (p);
  free (q);
}

static void
test_cleanups_accept_empty_values (void **state)
{
  (void) state;
  int fd = -1;
  cleanup_closep (&fd);
  cleanup_closep (&fd);
  assert_int_equal (fd, -1);
  char *s = NULL;
  cleanup_freep (&s);
  FILE *f = NULL;
  cleanup_fclosep (&f);
  DIR *d = NULL;
  cleanup_closedirp (&d);
  char **v = NULL;
  cleanup_strvp (&v);

  /* Running twice is safe: the first run resets the variable. */
  fd = make_fd ();
  cleanup_closep (&fd);
  assert_int_equal (fd, -1);
  cleanup_closep (&fd);
  s = xstrdup ("y");
  cleanup_freep (&s);
  assert_null (s);
  cleanup_freep (&s);
}

static void
test_close_preserves_errno (void **state)
{
  (void) state;
  int fd = make_fd ();
  errno = ENOSPC;
  cleanup_closep (&fd);
  assert_int_equal (errno, ENOSPC);
}

static void
test_temp_failure_retry (void **state)
{
  (void) state;
  int calls = 0;
  errno = 0;
  long r = TEMP_FAILURE_RETRY_INT (++calls < 3 ? (errno = EINTR, -1) : 7);
  assert_int_equal (r, 7);
  assert_int_equal (calls, 3);
  calls = 0;
  r = TEMP_FAILURE_RETRY_INT ((++calls, errno = EBADF, -1));
  assert_int_equal (r, -1);
  assert_int_equal (calls, 1);
}

int
main (int argc, char **argv)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test (test_cleanup_close_closes_at_scope_end),
    cmocka_unit_test (test_move_fd_keeps_it_open),
    cmocka_unit_test (test_steal_pointer),
    cmocka_unit_test (test_cleanups_accept_empty_values),
    cmocka_unit_test (test_close_preserves_errno),
    cmocka_unit_test (test_temp_failure_retry),
  };
  return unit_run ("test_cleanup", tests, sizeof tests / sizeof tests[0], NULL, 0, argc, argv);
}
