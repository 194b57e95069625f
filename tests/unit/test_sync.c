/* Unit tests for runtime/sync (runtime <-> container process messages)
 * and the fd passing of runtime/process (the console socket). */
#include "unit.h"

#include <sys/socket.h>

#include "runtime/process.h"
#include "runtime/sync.h"
#include "util/xalloc.h"

static void
pair (int sv[2], int type)
{
  assert_int_equal (socketpair (AF_UNIX, type | SOCK_CLOEXEC, 0, sv), 0);
}

static void
test_send_and_expect (void **state)
{
  (void) state;
  int sv[2];
  pier_sync_msg *m = xzalloc (sizeof *m);
  pier_error *err = NULL;
  pair (sv, SOCK_SEQPACKET);
  assert_int_equal (pier_sync_send (sv[0], PIER_SYNC_PID, 4242, NULL, &err), 0);
  assert_int_equal (pier_sync_send (sv[0], PIER_SYNC_GO, 0, "{\"status\":\"creating\"}", &err), 0);
  assert_int_equal (pier_sync_expect (sv[1], PIER_SYNC_PID, m, &err), 0);
  assert_int_equal (m->value, 4242);
  assert_string_equal (m->text, "");
  assert_int_equal (pier_sync_expect (sv[1], PIER_SYNC_GO, m, &err), 0);
  assert_string_equal (m->text, "{\"status\":\"creating\"}");
  assert_no_err (err);
  close (sv[0]);
  close (sv[1]);
  free (m);
}

static void
test_error_message_crosses_over (void **state)
{
  (void) state;
  int sv[2];
  pier_sync_msg *m = xzalloc (sizeof *m);
  pier_error *err = NULL;
  pair (sv, SOCK_SEQPACKET);
  assert_int_equal (
      pier_sync_send (sv[0], PIER_SYNC_ERROR, EACCES, "cannot mount `/proc`: Permission denied", &err), 0);
  assert_int_equal (pier_sync_expect (sv[1], PIER_SYNC_READY, m, &err), -1);
  assert_int_equal (err->code, EACCES);
  assert_string_equal (err->msg, "cannot mount `/proc`: Permission denied");
  pier_error_free (&err);
  close (sv[0]);
  close (sv[1]);
  free (m);
}

static void
test_unexpected_type_and_eof (void **state)
{
  (void) state;
  int sv[2];
  pier_sync_msg *m = xzalloc (sizeof *m);
  pier_error *err = NULL;
  pair (sv, SOCK_SEQPACKET);
  assert_int_equal (pier_sync_send (sv[0], PIER_SYNC_HOOKS, 0, NULL, &err), 0);
  assert_int_equal (pier_sync_expect (sv[1], PIER_SYNC_READY, m, &err), -1);
  assert_int_equal (err->code, EPROTO);
  pier_error_free (&err);

  close (sv[0]); /* the container process died */
  assert_int_equal (pier_sync_expect (sv[1], PIER_SYNC_READY, m, &err), -1);
  assert_int_equal (err->code, EIO);
  assert_err_contains (err, "exited unexpectedly");
  pier_error_free (&err);
  close (sv[1]);
  free (m);
}

static void
test_long_text_is_truncated_not_overflowed (void **state)
{
  (void) state;
  int sv[2];
  pier_sync_msg *m = xzalloc (sizeof *m);
  pier_error *err = NULL;
  char *big = xmalloc (PIER_SYNC_TEXT_MAX * 2);
  memset (big, 'x', PIER_SYNC_TEXT_MAX * 2 - 1);
  big[PIER_SYNC_TEXT_MAX * 2 - 1] = '\0';
  pair (sv, SOCK_SEQPACKET);
  assert_int_equal (pier_sync_send (sv[0], PIER_SYNC_GO, 1, big, &err), 0);
  assert_int_equal (pier_sync_expect (sv[1], PIER_SYNC_GO, m, &err), 0);
  assert_int_equal (strlen (m->text), PIER_SYNC_TEXT_MAX - 1);
  close (sv[0]);
  close (sv[1]);
  free (big);
  free (m);
}

static void
test_send_to_dead_peer (void **state)
{
  (void) state;
  int sv[2];
  pier_error *err = NULL;
  pair (sv, SOCK_SEQPACKET);
  close (sv[1]);
  /* MSG_NOSIGNAL: an error, not a SIGPIPE that kills the runtime. */
  assert_int_equal (pier_sync_send (sv[0], PIER_SYNC_GO, 0, NULL, &err), -1);
  assert_int_equal (err->code, EPIPE);
  pier_error_free (&err);
  close (sv[0]);
}

static void
test_fd_passing (void **state)
{
  (void) state;
  int sv[2], p[2], got = -1;
  pier_error *err = NULL;
  pair (sv, SOCK_STREAM);
  assert_int_equal (pipe2 (p, O_CLOEXEC), 0);
  assert_int_equal (pier_send_fd (sv[0], p[1], "/dev/pts/3", &err), 0);
  assert_int_equal (pier_recv_fd (sv[1], &got, &err), 0);
  assert_no_err (err);
  assert_true (got >= 0 && got != p[1]);
  assert_true (fcntl (got, F_GETFD) & FD_CLOEXEC);
  assert_int_equal (write (got, "ok", 2), 2);
  char buf[3] = { 0 };
  assert_int_equal (read (p[0], buf, 2), 2);
  assert_string_equal (buf, "ok");
  close (got);

  /* Data without an fd is an error, not a garbage fd. */
  assert_int_equal (write (sv[0], "x", 2), 2);
  assert_int_equal (pier_recv_fd (sv[1], &got, &err), -1);
  assert_int_equal (err->code, EPROTO);
  pier_error_free (&err);
  close (sv[0]);
  assert_int_equal (pier_recv_fd (sv[1], &got, &err), -1);
  pier_error_free (&err);
  close (sv[1]);
  close (p[0]);
  close (p[1]);
}

int
main (int argc, char **argv)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test (test_send_and_expect),
    cmocka_unit_test (test_error_message_crosses_over),
    cmocka_unit_test (test_unexpected_type_and_eof),
    cmocka_unit_test (test_long_text_is_truncated_not_overflowed),
    cmocka_unit_test (test_send_to_dead_peer),
    cmocka_unit_test (test_fd_passing),
  };
  return unit_run ("test_sync", tests, sizeof tests / sizeof tests[0], NULL, 0, argc, argv);
}
