/* Unit tests for util/log: the log file formats (runc's JSON lines, which
 * containerd and conmon read back) and level filtering. */
#include "unit.h"

#include <jansson.h>

#include "util/log.h"
#include "util/xalloc.h"

/* Run fn with stderr going to a file; return what it wrote. */
static char *
capture_stderr (void (*fn) (void))
{
  char *path = xasprintf ("%s/stderr", unit_dir);
  int saved = dup (2);
  int fd = open (path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  dup2 (fd, 2);
  close (fd);
  fn ();
  dup2 (saved, 2);
  close (saved);
  char *r = unit_read (path);
  free (path);
  return r;
}

static json_t *
line_json (const char *line)
{
  json_error_t je;
  json_t *j = json_loadb (line, strcspn (line, "\n"), 0, &je);
  if (j == NULL)
    fail_msg ("log line `%s` is not JSON: %s", line, je.text);
  return j;
}

static void
test_json_lines (void **state)
{
  (void) state;
  char *path = xasprintf ("%s/json.log", unit_dir);
  pier_log_set_stderr (0);
  assert_int_equal (pier_log_init (path, 1, PIER_LOG_INFO), 0);
  pier_log (PIER_LOG_ERROR, "container `%s` failed", "c1");
  pier_log (PIER_LOG_WARNING, "quote \" and newline \n inside");
  pier_log (PIER_LOG_INFO, "info");
  pier_log (PIER_LOG_DEBUG, "debug is filtered out");
  char *text = unit_read (path);
  assert_non_null (text);

  char *save = NULL, *line = strtok_r (text, "\n", &save);
  json_t *j = line_json (line);
  assert_string_equal (json_string_value (json_object_get (j, "level")), "error");
  assert_string_equal (json_string_value (json_object_get (j, "msg")), "container `c1` failed");
  const char *t = json_string_value (json_object_get (j, "time"));
  assert_non_null (t);
  /* RFC 3339 in UTC: 2024-01-02T03:04:05.123456789Z */
  assert_int_equal (strlen (t), 30);
  assert_true (t[4] == '-' && t[10] == 'T' && t[19] == '.' && t[29] == 'Z');
  json_decref (j);

  line = strtok_r (NULL, "\n", &save);
  j = line_json (line);
  assert_string_equal (json_string_value (json_object_get (j, "level")), "warning");
  assert_string_equal (json_string_value (json_object_get (j, "msg")), "quote \" and newline \n inside");
  json_decref (j);

  line = strtok_r (NULL, "\n", &save);
  j = line_json (line);
  assert_string_equal (json_string_value (json_object_get (j, "level")), "info");
  json_decref (j);
  assert_null (strtok_r (NULL, "\n", &save)); /* debug was filtered */
  free (text);
  free (path);
}

static void
test_text_lines_append (void **state)
{
  (void) state;
  char *path = xasprintf ("%s/text.log", unit_dir);
  unit_write (path, "earlier line\n");
  pier_log_set_stderr (0);
  assert_int_equal (pier_log_init (path, 0, PIER_LOG_WARNING), 0);
  pier_log (PIER_LOG_WARNING, "disk %d%% full", 91);
  pier_log (PIER_LOG_INFO, "not at this level");
  char *text = unit_read (path);
  assert_non_null (strstr (text, "earlier line\n"));
  assert_non_null (strstr (text, " warning: disk 91% full\n"));
  assert_null (strstr (text, "not at this level"));
  free (text);
  free (path);
}

static void
log_some (void)
{
  pier_log (PIER_LOG_WARNING, "careful");
  pier_log (PIER_LOG_ERROR, "main prints errors itself");
  pier_log (PIER_LOG_DEBUG, "hidden");
}

static void
test_stderr_echo (void **state)
{
  (void) state;
  assert_int_equal (pier_log_init (NULL, 0, PIER_LOG_WARNING), 0);
  pier_log_set_program ("pier-runtime");
  pier_log_set_stderr (1);
  char *out = capture_stderr (log_some);
  assert_string_equal (out, "pier-runtime: warning: careful\n");
  free (out);

  pier_log_set_stderr (0);
  out = capture_stderr (log_some);
  assert_string_equal (out, "");
  free (out);
}

/* log.h: "Returns 0 or -errno when the file cannot be opened." */
static void
test_init_error_is_negative_errno (void **state)
{
  (void) state;
  assert_int_equal (pier_log_init ("/nonexistent/dir/pier.log", 1, PIER_LOG_WARNING), -ENOENT);
}

static void
log_invalid_utf8 (void)
{
  pier_log (PIER_LOG_WARNING, "cannot open `caf\xe9`");
}

/* A message with bytes that are not UTF-8 (a file name, say) must still
 * reach the JSON log: containerd shows that log when the runtime fails. */
static void
test_json_keeps_non_utf8_messages (void **state)
{
  (void) state;
  char *path = xasprintf ("%s/utf8.log", unit_dir);
  pier_log_set_stderr (0);
  assert_int_equal (pier_log_init (path, 1, PIER_LOG_WARNING), 0);
  char *unused = capture_stderr (log_invalid_utf8);
  free (unused);
  char *text = unit_read (path);
  assert_non_null (text);
  assert_non_null (strstr (text, "cannot open"));
  free (text);
  free (path);
}

static const unit_known_bug bugs[] = {};

int
main (int argc, char **argv)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test (test_json_lines),
    cmocka_unit_test (test_text_lines_append),
    cmocka_unit_test (test_stderr_echo),
    cmocka_unit_test (test_init_error_is_negative_errno),
    cmocka_unit_test (test_json_keeps_non_utf8_messages),
  };
  unit_dir_setup (NULL);
  int rc = UNIT_RUN (tests, bugs, argc, argv);
  unit_dir_teardown (NULL);
  return rc;
}
