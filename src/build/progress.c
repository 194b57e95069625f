/* progress.c - pier build's progress (see progress.h). */
#include "build/progress.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>

#include "util/cleanup.h"
#include "util/xalloc.h"

#include "util/banned.h"

#define TTY_LINES 8

/* A running step in the terminal view: its header and its last lines. */
struct live
{
  int vertex;
  char *label;
  char *lines[TTY_LINES];
  size_t n_lines;
};

struct pier_build_progress
{
  FILE *out;
  bool tty;
  int cols, rows;
  pthread_mutex_t mu; /* all below, and out */
  int vertex;
  struct live *live;
  size_t n_live, shown; /* shown: the rows the live view holds now */
};

pier_build_progress *
pier_build_progress_new (FILE *out, bool tty)
{
  pier_build_progress *p = xzalloc (sizeof *p);
  p->out = out;
  p->tty = tty && out;
  pthread_mutex_init (&p->mu, NULL);
  if (p->tty)
    {
      struct winsize ws;
      bool known = ioctl (fileno (out), TIOCGWINSZ, &ws) == 0;
      p->cols = known && ws.ws_col ? ws.ws_col : 80;
      p->rows = known && ws.ws_row ? ws.ws_row : 24;
    }
  return p;
}

static void
live_drop (pier_build_progress *p, struct live *l)
{
  free (l->label);
  for (size_t i = 0; i < l->n_lines; i++)
    free (l->lines[i]);
  size_t at = (size_t) (l - p->live);
  memmove (l, l + 1, (p->n_live - at - 1) * sizeof *l);
  p->n_live--;
}

void
pier_build_progress_free (pier_build_progress *p)
{
  if (p == NULL)
    return;
  while (p->n_live)
    live_drop (p, &p->live[0]);
  free (p->live);
  pthread_mutex_destroy (&p->mu);
  free (p);
}

int
pier_build_progress_vertex (pier_build_progress *p)
{
  pthread_mutex_lock (&p->mu);
  int v = ++p->vertex;
  pthread_mutex_unlock (&p->mu);
  return v;
}

/* ---- the terminal view (under mu) ---- */

static void
tty_line (pier_build_progress *p, const char *prefix, const char *text, const char *suffix)
{
  int room = p->cols - (int) strlen (prefix) - (int) strlen (suffix) - 1;
  if (room < 10)
    room = 10;
  /* One terminal row each, or the redraw goes wrong. */
  cleanup_free char *t = xstrndup (text, (size_t) room);
  for (char *c = t; *c; c++)
    if ((unsigned char) *c < ' ' || *c == 0x7f)
      *c = ' ';
  fprintf (p->out, "%s%s%s\n", prefix, t, suffix);
}

static void
tty_clear (pier_build_progress *p)
{
  if (p->shown)
    fprintf (p->out, "\033[%zuA\033[J", p->shown);
  p->shown = 0;
}

/* The live view fits the terminal (the cursor cannot go up past its
 * top): a header per running step while there is room, and their last
 * lines in what is left. */
static void
tty_draw (pier_build_progress *p)
{
  size_t room = p->rows > 6 ? (size_t) p->rows - 2 : 4;
  size_t heads = p->n_live < room ? p->n_live : room;
  size_t per = heads ? (room - heads) / heads : 0;
  if (per > TTY_LINES)
    per = TTY_LINES;
  if (heads > 1 && per > TTY_LINES / 2)
    per = TTY_LINES / 2;
  for (size_t i = 0; i < heads; i++)
    {
      struct live *l = &p->live[i];
      tty_line (p, "\033[1m=> ", l->label, "\033[0m");
      p->shown++;
      for (size_t k = l->n_lines > per ? l->n_lines - per : 0; k < l->n_lines; k++, p->shown++)
        tty_line (p, "   \033[2m", l->lines[k], "\033[0m");
    }
  fflush (p->out);
}

static struct live *
live_find (pier_build_progress *p, int vertex)
{
  for (size_t i = 0; i < p->n_live; i++)
    if (p->live[i].vertex == vertex)
      return &p->live[i];
  return NULL;
}

/* ---- the calls ---- */

static void __attribute__ ((format (printf, 2, 0))) vsay (pier_build_progress *p, const char *fmt, va_list ap)
{
  cleanup_free char *line = NULL;
  if (vasprintf (&line, fmt, ap) < 0)
    abort ();
  pthread_mutex_lock (&p->mu);
  if (p->tty)
    tty_clear (p);
  fprintf (p->out, "%s\n", line);
  if (p->tty)
    tty_draw (p);
  fflush (p->out);
  pthread_mutex_unlock (&p->mu);
}

void
pier_build_progress_say (pier_build_progress *p, const char *fmt, ...)
{
  if (p->out == NULL)
    return;
  va_list ap;
  va_start (ap, fmt);
  vsay (p, fmt, ap);
  va_end (ap);
}

/* A plain line (plain progress only). */
static void __attribute__ ((format (printf, 2, 3))) plain (pier_build_progress *p, const char *fmt, ...)
{
  va_list ap;
  va_start (ap, fmt);
  vsay (p, fmt, ap);
  va_end (ap);
}

void
pier_build_progress_start (pier_build_progress *p, int vertex, const char *label)
{
  if (p->out == NULL)
    return;
  if (!p->tty)
    {
      plain (p, "#%d %s", vertex, label);
      return;
    }
  pthread_mutex_lock (&p->mu);
  tty_clear (p);
  p->live = xrealloc (p->live, (p->n_live + 1) * sizeof *p->live);
  p->live[p->n_live++] = (struct live){ .vertex = vertex, .label = xstrdup (label) };
  tty_draw (p);
  pthread_mutex_unlock (&p->mu);
}

void
pier_build_progress_output (pier_build_progress *p, int vertex, double secs, const char *line)
{
  if (p->out == NULL)
    return;
  if (!p->tty)
    {
      plain (p, "#%d %.3f %s", vertex, secs, line);
      return;
    }
  pthread_mutex_lock (&p->mu);
  struct live *l = live_find (p, vertex);
  if (l)
    {
      if (l->n_lines == TTY_LINES)
        {
          free (l->lines[0]);
          memmove (l->lines, l->lines + 1, (TTY_LINES - 1) * sizeof *l->lines);
          l->n_lines--;
        }
      l->lines[l->n_lines++] = xstrdup (line);
      tty_clear (p);
      tty_draw (p);
    }
  pthread_mutex_unlock (&p->mu);
}

void
pier_build_progress_end (pier_build_progress *p, int vertex, const char *status, double secs)
{
  if (p->out == NULL)
    return;
  if (!p->tty)
    {
      if (strcmp (status, "DONE") == 0)
        plain (p, "#%d DONE %.1fs", vertex, secs);
      else
        plain (p, "#%d %s", vertex, status);
      return;
    }
  pthread_mutex_lock (&p->mu);
  tty_clear (p);
  char suffix[48];
  if (strcmp (status, "CACHED") == 0)
    snprintf (suffix, sizeof suffix, "  \033[36mCACHED\033[0m");
  else if (strcmp (status, "DONE") == 0)
    snprintf (suffix, sizeof suffix, "  %.1fs", secs);
  else
    snprintf (suffix, sizeof suffix, "  \033[33m%s\033[0m", status);
  struct live *l = live_find (p, vertex);
  tty_line (p, "=> ", l ? l->label : "", suffix);
  if (l)
    live_drop (p, l);
  tty_draw (p);
  pthread_mutex_unlock (&p->mu);
}

void
pier_build_progress_error (pier_build_progress *p, int vertex, const char *msg)
{
  if (p->out == NULL)
    return;
  if (!p->tty)
    {
      plain (p, "#%d ERROR: %s", vertex, msg);
      return;
    }
  pthread_mutex_lock (&p->mu);
  tty_clear (p);
  struct live *l = live_find (p, vertex);
  if (l)
    {
      tty_line (p, "=> ", l->label, "  \033[31mERROR\033[0m");
      live_drop (p, l);
    }
  fprintf (p->out, "\033[31mERROR: %s\033[0m\n", msg);
  tty_draw (p);
  pthread_mutex_unlock (&p->mu);
}

void
pier_build_progress_raw (pier_build_progress *p, FILE *f, const char *buf, size_t len)
{
  pthread_mutex_lock (&p->mu);
  fwrite (buf, 1, len, f);
  fflush (f);
  pthread_mutex_unlock (&p->mu);
}
