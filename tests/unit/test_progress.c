/* Unit tests for build/progress: the lines of steps running at once in
 * several threads (stages building in parallel) stay whole and carry
 * their step's number; the terminal view holds every running step. */
#include "unit.h"

#include <pthread.h>

#include "build/progress.h"
#include "util/xalloc.h"

#define THREADS 4
#define LINES 2000

struct writer
{
  pier_build_progress *p;
  int vertex;
};

static void *
writer_main (void *data)
{
  struct writer *w = data;
  pier_build_progress_start (w->p, w->vertex, "[s 2/2] RUN many lines");
  for (int i = 0; i < LINES; i++)
    pier_build_progress_output (w->p, w->vertex, 0.5,
                                "a line long enough to be written in more than one piece "
                                "if it were not written whole");
  pier_build_progress_end (w->p, w->vertex, "DONE", 1.0);
  return NULL;
}

static char *
run_writers (bool tty)
{
  char *buf = NULL;
  size_t len = 0;
  FILE *f = open_memstream (&buf, &len);
  assert_non_null (f);
  pier_build_progress *p = pier_build_progress_new (f, tty);
  struct writer w[THREADS];
  pthread_t th[THREADS];
  for (int i = 0; i < THREADS; i++)
    {
      w[i] = (struct writer){ p, pier_build_progress_vertex (p) };
      assert_int_equal (w[i].vertex, i + 1);
      pthread_create (&th[i], NULL, writer_main, &w[i]);
    }
  for (int i = 0; i < THREADS; i++)
    pthread_join (th[i], NULL);
  pier_build_progress_free (p);
  fclose (f);
  return buf;
}

static void
test_plain_lines_are_whole (void **state)
{
  (void) state;
  char *out = run_writers (false);
  size_t counts[THREADS + 1] = { 0 };
  char *save = NULL;
  for (char *line = strtok_r (out, "\n", &save); line; line = strtok_r (NULL, "\n", &save))
    {
      int v = 0, n = 0;
      if (sscanf (line, "#%d %n", &v, &n) != 1 || v < 1 || v > THREADS)
        fail_msg ("line `%s` has no step number", line);
      const char *rest = line + n;
      if (strcmp (rest,
                  "0.500 a line long enough to be written in more than one piece if it were not written "
                  "whole")
          == 0)
        counts[v]++;
      else if (strcmp (rest, "[s 2/2] RUN many lines") != 0 && strcmp (rest, "DONE 1.0s") != 0)
        fail_msg ("line `%s` is not whole", line);
    }
  for (int v = 1; v <= THREADS; v++)
    assert_int_equal (counts[v], LINES);
  free (out);
}

static void
test_tty_view_shows_running_steps (void **state)
{
  (void) state;
  char *out = NULL;
  size_t len = 0;
  FILE *f = open_memstream (&out, &len);
  pier_build_progress *p = pier_build_progress_new (f, true);
  pier_build_progress_start (p, 1, "[a 2/2] RUN sleep 2");
  pier_build_progress_start (p, 2, "[b 2/2] RUN sleep 2");
  pier_build_progress_output (p, 1, 0.1, "from a");
  fflush (f);
  /* The last redraw holds both running steps and a's line. */
  const char *last = strrchr (out, 'J');
  assert_non_null (last);
  assert_non_null (strstr (last, "=> [a 2/2] RUN sleep 2"));
  assert_non_null (strstr (last, "=> [b 2/2] RUN sleep 2"));
  assert_non_null (strstr (last, "from a"));
  /* A finished step goes above for good; the other stays live, and the
   * redraw moves up over exactly the rows it drew (b's header). */
  pier_build_progress_end (p, 1, "DONE", 2.0);
  pier_build_progress_end (p, 2, "CANCELED", 0);
  pier_build_progress_free (p);
  fclose (f);
  assert_non_null (strstr (out, "=> [a 2/2] RUN sleep 2  2.0s\n"));
  assert_non_null (strstr (out, "\033[1A\033[J=> [b 2/2] RUN sleep 2  \033[33mCANCELED"));
  free (out);
  /* Control characters cannot break a row in two. */
  out = NULL;
  f = open_memstream (&out, &len);
  p = pier_build_progress_new (f, true);
  pier_build_progress_start (p, 1, "RUN <<EOF\nline two");
  pier_build_progress_free (p);
  fclose (f);
  assert_non_null (strstr (out, "RUN <<EOF line two"));
  free (out);
}

static void
test_tty_view_fits_the_terminal (void **state)
{
  (void) state;
  char *out = NULL;
  size_t len = 0;
  FILE *f = open_memstream (&out, &len);
  /* Not a terminal: drawn for 24 rows. */
  pier_build_progress *p = pier_build_progress_new (f, true);
  for (int v = 1; v <= 30; v++)
    {
      char label[32];
      snprintf (label, sizeof label, "[s%d 2/2] RUN x", v);
      pier_build_progress_start (p, v, label);
      pier_build_progress_output (p, v, 0, "out");
    }
  fflush (f);
  const char *last = strrchr (out, 'J');
  size_t rows = 0;
  for (const char *c = last; *c; c++)
    rows += *c == '\n';
  assert_true (rows > 0 && rows <= 22);
  size_t at = (size_t) (last - out); /* out moves as the stream grows */
  /* The redraw moves up over what it drew, no more. */
  char up[32];
  snprintf (up, sizeof up, "\033[%zuA\033[J", rows);
  pier_build_progress_end (p, 1, "DONE", 1);
  fflush (f);
  assert_non_null (strstr (out + at, up));
  pier_build_progress_free (p);
  fclose (f);
  free (out);
}

static void
test_quiet_prints_nothing (void **state)
{
  (void) state;
  pier_build_progress *p = pier_build_progress_new (NULL, true);
  assert_int_equal (pier_build_progress_vertex (p), 1);
  pier_build_progress_start (p, 1, "x");
  pier_build_progress_output (p, 1, 0, "y");
  pier_build_progress_error (p, 1, "z");
  pier_build_progress_say (p, "w");
  pier_build_progress_free (p);
}

static const unit_known_bug bugs[] = {};

int
main (int argc, char **argv)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test (test_plain_lines_are_whole),
    cmocka_unit_test (test_tty_view_shows_running_steps),
    cmocka_unit_test (test_tty_view_fits_the_terminal),
    cmocka_unit_test (test_quiet_prints_nothing),
  };
  unit_dir_setup (NULL);
  int rc = UNIT_RUN (tests, bugs, argc, argv);
  unit_dir_teardown (NULL);
  return rc;
}
