/* format.c - --format: Go templates (util/template) the way docker's
 * formatter applies them, and docker's tabwriter for table output. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli/pier.h"
#include "util/cleanup.h"
#include "util/template.h"
#include "util/xalloc.h"
#include "util/banned.h"

/* docker's preFormat: "\t" and "\n" typed in the flag are a tab and a
 * newline, and the text is trimmed of spaces. */
static char *
unescape (const char *tmpl)
{
  size_t len = strlen (tmpl);
  while (len && tmpl[len - 1] == ' ')
    len--;
  while (*tmpl == ' ')
    tmpl++, len--;
  char *out = xstrndup (tmpl, len), *w = out;
  for (const char *r = out; *r; r++)
    {
      if (r[0] == '\\' && (r[1] == 'n' || r[1] == 't'))
        {
          *w++ = r[1] == 'n' ? '\n' : '\t';
          r++;
        }
      else
        *w++ = *r;
    }
  *w = '\0';
  return out;
}

static int
parse_format (const char *text, pier_template **t, pier_error **err)
{
  cleanup_free char *tmpl = unescape (text);
  if (pier_template_parse (tmpl, t, err) < 0)
    return pier_error_wrap (err, "template parsing error");
  return 0;
}

char *
pier_format (const char *tmpl, json_t *obj, pier_error **err)
{
  pier_template *t = NULL;
  char *out = NULL;
  if (parse_format (tmpl, &t, err) < 0)
    return NULL;
  if (pier_template_execute (t, obj, 0, &out, err) < 0)
    out = NULL;
  pier_template_free (t);
  return out;
}

int
pier_format_check (const char *tmpl)
{
  pier_template *t = NULL;
  pier_error *err = NULL;
  if (tmpl == NULL)
    return 0;
  if (parse_format (tmpl, &t, &err) < 0)
    return pier_cli_fail (err, PIER_EXIT_USAGE);
  pier_template_free (t);
  return 0;
}

bool
pier_format_is_default (const char *format)
{
  if (format == NULL)
    return true;
  format += strspn (format, " ");
  if (strncmp (format, "table", 5) == 0)
    format += 5;
  return format[strspn (format, " ")] == '\0';
}

typedef struct
{
  char *s;
  size_t len;
} buf_t;

struct pier_lister
{
  pier_template *t;
  bool table;
  json_t *header;
  buf_t out;
};

void
pier_lister_free (pier_lister *l)
{
  if (l == NULL)
    return;
  pier_template_free (l->t);
  json_decref (l->header);
  free (l->out.s);
  free (l);
}

pier_lister *
pier_lister_new (const char *format, const struct pier_format_column *cols, pier_error **err)
{
  pier_lister *l = xzalloc (sizeof *l);
  const char *f = format + strspn (format, " ");
  if (strcmp (f, "json") == 0)
    f = "{{json .}}";
  else if (strncmp (f, "table", 5) == 0)
    {
      l->table = true;
      f += 5;
    }
  if (parse_format (f, &l->t, err) < 0)
    {
      pier_lister_free (l);
      return NULL;
    }
  l->header = json_object ();
  for (size_t i = 0; cols && cols[i].field; i++)
    json_object_set_new (l->header, cols[i].field, json_string (cols[i].header));
  return l;
}

static void
out_add (buf_t *b, const char *s)
{
  size_t n = strlen (s);
  b->s = xrealloc (b->s, b->len + n + 2);
  memcpy (b->s + b->len, s, n);
  b->len += n;
  b->s[b->len++] = '\n';
  b->s[b->len] = '\0';
}

int
pier_lister_add (pier_lister *l, json_t *row, pier_error **err)
{
  cleanup_free char *line = NULL;
  int rc = pier_template_execute (l->t, row, 0, &line, err);
  json_decref (row);
  if (rc < 0)
    return -1;
  out_add (&l->out, line);
  return 0;
}

/* Go's text/tabwriter as docker sets it up (minwidth 10, padding 3,
 * blanks, no flags): a column block is a run of lines that have a cell
 * ended by a tab in that column; the last cell of a line is not
 * aligned. */
struct tw_line
{
  char **cells;
  size_t *w, n;
};

static size_t
utf8_width (const char *s)
{
  size_t w = 0;
  for (; *s; s++)
    w += ((unsigned char) *s & 0xC0) != 0x80;
  return w;
}

static void
tw_write (FILE *f, struct tw_line *lines, size_t l0, size_t l1, size_t nlines, const size_t *widths,
          size_t nw)
{
  for (size_t i = l0; i < l1; i++)
    {
      struct tw_line *ln = &lines[i];
      for (size_t j = 0; j < ln->n; j++)
        {
          fputs (ln->cells[j], f);
          if (j < nw)
            for (size_t k = ln->w[j]; k < widths[j]; k++)
              fputc (' ', f);
        }
      if (i + 1 < nlines)
        fputc ('\n', f);
    }
}

static size_t
tw_format (FILE *f, struct tw_line *lines, size_t l0, size_t l1, size_t nlines, size_t *widths, size_t nw)
{
  size_t column = nw;
  for (size_t this = l0; this < l1; this ++)
    {
      if (column + 1 >= lines[this].n)
        continue;
      tw_write (f, lines, l0, this, nlines, widths, nw);
      l0 = this;
      size_t width = 10;
      for (; this < l1; this ++)
        {
          if (column + 1 >= lines[this].n)
            break;
          if (lines[this].w[column] + 3 > width)
            width = lines[this].w[column] + 3;
        }
      widths[nw] = width;
      tw_format (f, lines, l0, this, nlines, widths, nw + 1);
      l0 = this;
      this --; /* the loop's this++ */
      if (l0 >= l1)
        return l1;
    }
  tw_write (f, lines, l0, l1, nlines, widths, nw);
  return l1;
}

void
pier_tabwrite (FILE *f, const char *text)
{
  size_t nlines = 0, maxcells = 0;
  struct tw_line *lines = NULL;
  const char *p = text;
  while (1)
    {
      const char *nl = strchr (p, '\n');
      size_t len = nl ? (size_t) (nl - p) : strlen (p);
      lines = xrealloc (lines, (nlines + 1) * sizeof *lines);
      struct tw_line *ln = &lines[nlines++];
      memset (ln, 0, sizeof *ln);
      for (size_t s = 0;;)
        {
          const char *tab = memchr (p + s, '\t', len - s);
          size_t e = tab ? (size_t) (tab - p) : len;
          ln->cells = xrealloc (ln->cells, (ln->n + 1) * sizeof *ln->cells);
          ln->w = xrealloc (ln->w, (ln->n + 1) * sizeof *ln->w);
          ln->cells[ln->n] = xstrndup (p + s, e - s);
          ln->w[ln->n] = utf8_width (ln->cells[ln->n]);
          ln->n++;
          if (!tab)
            break;
          s = e + 1;
        }
      if (ln->n > maxcells)
        maxcells = ln->n;
      if (!nl)
        break;
      p = nl + 1;
    }
  size_t *widths = xcalloc (maxcells + 1, sizeof *widths);
  tw_format (f, lines, 0, nlines, nlines, widths, 0);
  free (widths);
  for (size_t i = 0; i < nlines; i++)
    {
      for (size_t j = 0; j < lines[i].n; j++)
        free (lines[i].cells[j]);
      free (lines[i].cells);
      free (lines[i].w);
    }
  free (lines);
}

void
pier_lister_print (pier_lister *l)
{
  if (!l->table)
    {
      if (l->out.s)
        fputs (l->out.s, stdout);
      return;
    }
  cleanup_free char *head = NULL;
  if (pier_template_execute (l->t, l->header, PIER_TEMPLATE_HEADER, &head, NULL) < 0)
    head = xstrdup ("");
  cleanup_free char *all = xasprintf ("%s\n%s", head, l->out.s ? l->out.s : "");
  pier_tabwrite (stdout, all);
}

/* Go's time.Time String() in local time, as docker's CreatedAt columns:
 * "2006-01-02 15:04:05 -0700 MST". */
char *
pier_format_time (int64_t secs)
{
  char b[64];
  struct tm tm;
  time_t t = (time_t) secs;
  localtime_r (&t, &tm);
  strftime (b, sizeof b, "%Y-%m-%d %H:%M:%S %z %Z", &tm);
  return xstrdup (b);
}

/* docker's units.HumanDuration. */
char *
pier_human_duration (double s)
{
  long secs = (long) s, mins = secs / 60;
  long hours = (long) (s / 3600.0 + 0.5);
  if (secs < 1)
    return xstrdup ("Less than a second");
  if (secs == 1)
    return xstrdup ("1 second");
  if (secs < 60)
    return xasprintf ("%ld seconds", secs);
  if (mins == 1)
    return xstrdup ("About a minute");
  if (mins < 60)
    return xasprintf ("%ld minutes", mins);
  if (hours == 1)
    return xstrdup ("About an hour");
  if (hours < 48)
    return xasprintf ("%ld hours", hours);
  if (hours < 24 * 7 * 2)
    return xasprintf ("%ld days", hours / 24);
  if (hours < 24 * 30 * 2)
    return xasprintf ("%ld weeks", hours / 24 / 7);
  if (hours < 24 * 365 * 2)
    return xasprintf ("%ld months", hours / 24 / 30);
  return xasprintf ("%ld years", hours / 24 / 365);
}

char *
pier_human_since (int64_t then)
{
  cleanup_free char *d = pier_human_duration (difftime (time (NULL), (time_t) then));
  return xasprintf ("%s ago", d);
}

/* docker's units.HumanSizeWithPrecision (size, 3): decimal units. */
char *
pier_human_size (double size)
{
  static const char *const units[] = { "B", "kB", "MB", "GB", "TB", "PB", "EB" };
  int u = 0;
  while (size >= 1000.0 && u < 6)
    {
      size /= 1000.0;
      u++;
    }
  return xasprintf ("%.3g%s", size, units[u]);
}

int
pier_inspect_add (const char *tmpl, json_t *arr, json_t *obj)
{
  if (tmpl)
    return pier_format_print (tmpl, obj);
  json_array_append_new (arr, obj);
  return 0;
}

void
pier_inspect_done (const char *tmpl, json_t *arr)
{
  if (tmpl)
    return;
  char *s = json_dumps (arr, JSON_INDENT (4));
  printf ("%s\n", s);
  free (s);
}

int
pier_format_print (const char *tmpl, json_t *obj)
{
  pier_error *err = NULL;
  char *text = pier_format (tmpl, obj, &err);
  json_decref (obj);
  if (text == NULL)
    return pier_cli_fail (err, PIER_EXIT_USAGE);
  printf ("%s\n", text);
  free (text);
  return 0;
}
