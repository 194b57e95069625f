/* dockerfile.c - Dockerfile text to stages and instructions.
 *
 * The work goes in three steps, as in buildkit's parser: physical lines
 * are joined into one logical line per instruction (remembering, for each
 * byte, where it came from, so that messages can point into the file),
 * the logical line is split into keyword, flags and arguments by a table
 * of instructions, and heredoc bodies are then taken from the lines that
 * follow.  Stages are formed last.
 */
#include "build/dockerfile.h"

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <jansson.h>

#include "util/sbuf.h"
#include "util/cleanup.h"
#include "util/xalloc.h"

#include "util/banned.h"

/* ---------------------------------------------------------------------- */
/* The logical line and where its bytes came from. */

typedef struct lline
{
  sbuf text;
  size_t *off; /* off[i]: offset in the file of text.s[i] */
  size_t cap;
} lline;

typedef struct df_ctx
{
  const char *file;
  const char *buf;
  size_t len;
  size_t *line_start; /* offset of each physical line */
  size_t n_lines;
  char escape;
  lline ll;
  pier_error **err;
} df_ctx;

static void
ll_add (lline *ll, const char *p, size_t n, size_t file_off)
{
  size_t need = ll->text.len + n + 1;
  if (need > ll->cap)
    {
      size_t cap = ll->cap ? ll->cap : 64;
      while (cap < need)
        cap *= 2;
      ll->off = xrealloc (ll->off, cap * sizeof *ll->off);
      ll->cap = cap;
    }
  for (size_t i = 0; i < n; i++)
    ll->off[ll->text.len + i] = file_off + i;
  ll->off[ll->text.len + n] = file_off + n; /* one past the end */
  sbuf_add (&ll->text, p, n);
}

/* Line and column (1-based) of a file offset. */
static void
file_loc (const df_ctx *ctx, size_t off, int *line, int *col)
{
  size_t lo = 0, hi = ctx->n_lines;
  while (hi - lo > 1)
    {
      size_t mid = (lo + hi) / 2;
      if (ctx->line_start[mid] <= off)
        lo = mid;
      else
        hi = mid;
    }
  *line = (int) lo + 1;
  *col = (int) (off - ctx->line_start[lo]) + 1;
}

/* Line and column of byte pos of the logical line (pos may be its end). */
static void
ll_loc (const df_ctx *ctx, size_t pos, int *line, int *col)
{
  if (ctx->ll.text.len == 0)
    {
      *line = *col = 1;
      return;
    }
  if (pos > ctx->ll.text.len)
    pos = ctx->ll.text.len;
  file_loc (ctx, ctx->ll.off[pos], line, col);
}

static int __attribute__ ((format (printf, 4, 5)))
err_at_line (df_ctx *ctx, int line, int col, const char *fmt, ...)
{
  va_list ap;
  char *msg = NULL;
  va_start (ap, fmt);
  if (vasprintf (&msg, fmt, ap) < 0)
    abort ();
  va_end (ap);
  pier_error_makex (ctx->err, EINVAL, "%s:%d:%d: %s", ctx->file, line, col, msg);
  free (msg);
  return -1;
}

static int __attribute__ ((format (printf, 3, 4))) err_at (df_ctx *ctx, size_t pos, const char *fmt, ...)
{
  va_list ap;
  char *msg = NULL;
  int line, col;
  va_start (ap, fmt);
  if (vasprintf (&msg, fmt, ap) < 0)
    abort ();
  va_end (ap);
  ll_loc (ctx, pos, &line, &col);
  err_at_line (ctx, line, col, "%s", msg);
  free (msg);
  return -1;
}

/* Physical line i without its line ending. */
static void
phys_line (const df_ctx *ctx, size_t i, const char **p, size_t *n)
{
  size_t start = ctx->line_start[i];
  size_t end = i + 1 < ctx->n_lines ? ctx->line_start[i + 1] - 1 : ctx->len;
  while (end > start && (ctx->buf[end - 1] == '\r' || ctx->buf[end - 1] == '\n'))
    end--;
  *p = ctx->buf + start;
  *n = end - start;
}

static bool
is_blank (char c)
{
  return c == ' ' || c == '\t' || c == '\v' || c == '\f' || c == '\r' || c == '\n';
}

static size_t
skip_blanks (const char *s, size_t i, size_t n)
{
  while (i < n && is_blank (s[i]))
    i++;
  return i;
}

/* ---------------------------------------------------------------------- */
/* Parser directives. */

/* 1 when line is a known "# name = value" directive (consumed), 0 when
 * it is not (the directives end there). */
static int
directive (df_ctx *ctx, pier_dockerfile *df, size_t lineno, const char *p, size_t n, bool seen[3])
{
  static const char *const names[] = { "syntax", "escape", "check" };
  size_t i = skip_blanks (p, 0, n);
  if (i == n || p[i] != '#')
    return 0;
  i = skip_blanks (p, i + 1, n);
  size_t name_start = i;
  if (i == n || !isalpha ((unsigned char) p[i]))
    return 0;
  while (i < n && isalnum ((unsigned char) p[i]))
    i++;
  size_t name_len = i - name_start;
  i = skip_blanks (p, i, n);
  if (i == n || p[i] != '=')
    return 0;
  i = skip_blanks (p, i + 1, n);
  size_t end = n;
  while (end > i && is_blank (p[end - 1]))
    end--;
  if (end == i)
    return 0;

  int which = -1;
  for (int k = 0; k < 3; k++)
    if (strlen (names[k]) == name_len && strncasecmp (p + name_start, names[k], name_len) == 0)
      which = k;
  if (which < 0)
    return 0; /* an unknown directive is a comment, and ends the directives */
  int line = (int) lineno + 1, col = (int) name_start + 1;
  if (seen[which])
    return err_at_line (ctx, line, col, "only one %s parser directive can be used", names[which]);
  seen[which] = true;
  char *value = xstrndup (p + i, end - i);
  switch (which)
    {
    case 0: df->syntax = value; break;
    case 2: df->check = value; break;
    default:
      if (strcmp (value, "\\") != 0 && strcmp (value, "`") != 0)
        {
          err_at_line (ctx, line, (int) i + 1, "invalid escape token `%s`: it must be ` or \\", value);
          free (value);
          return -1;
        }
      df->escape = ctx->escape = value[0];
      free (value);
    }
  return 1;
}

/* ---------------------------------------------------------------------- */
/* Words. */

typedef struct word
{
  char *s;
  size_t pos; /* where it starts in the logical line */
} word;

typedef struct words
{
  word *v;
  size_t n, cap;
} words;

static void
words_push (words *w, char *s, size_t pos)
{
  w->v = array_grow (w->v, &w->cap, w->n, sizeof *w->v);
  w->v[w->n].s = s;
  w->v[w->n].pos = pos;
  w->n++;
}

static void
words_release (words *w)
{
  for (size_t i = 0; i < w->n; i++)
    free (w->v[i].s);
  free (w->v);
  w->v = NULL;
  w->n = w->cap = 0;
}
#define cleanup_words __attribute__ ((cleanup (words_release)))

/* Split s[i..n) on runs of blanks (docker's parseStringsWhitespaceDelimited). */
static void
split_blanks (const char *s, size_t i, size_t n, words *out)
{
  for (;;)
    {
      i = skip_blanks (s, i, n);
      if (i == n)
        return;
      size_t start = i;
      while (i < n && !is_blank (s[i]))
        i++;
      words_push (out, xstrndup (s + start, i - start), start);
    }
}

/* Split on unquoted blanks keeping quotes and escapes in the words
 * (docker's parseWords, used for ENV, LABEL and ARG): the escape
 * character keeps the next character in the word, even a quote or a blank,
 * except inside single quotes. */
static void
split_words_raw (const char *s, size_t i, size_t n, char esc, words *out)
{
  for (;;)
    {
      i = skip_blanks (s, i, n);
      if (i == n)
        return;
      size_t start = i;
      char quote = 0;
      cleanup_sbuf sbuf w = { 0 };
      while (i < n)
        {
          char c = s[i];
          if (!quote && is_blank (c))
            break;
          if (c == esc && (!quote || quote != '\''))
            {
              if (i + 1 == n)
                {
                  i++;
                  continue; /* a trailing escape is dropped */
                }
              sbuf_addc (&w, c);
              sbuf_addc (&w, s[i + 1]);
              i += 2;
              continue;
            }
          if (quote && c == quote)
            quote = 0;
          else if (!quote && (c == '\'' || c == '"'))
            quote = c;
          sbuf_addc (&w, c);
          i++;
        }
      words_push (out, sbuf_steal (&w), start);
    }
}

/* Split the heredoc-looking words of a line: blanks outside quotes
 * separate, quotes and backslash escapes stay in the word. */
static void
split_words_shell (const char *s, size_t i, size_t n, words *out)
{
  split_words_raw (s, i, n, '\\', out);
}

/* ---------------------------------------------------------------------- */
/* Flags. */

typedef enum flag_type
{
  FLAG_STRING,
  FLAG_BOOL,
  FLAG_LIST,
} flag_type;

typedef struct flag_spec
{
  const char *name;
  flag_type type;
} flag_spec;

/* Pull "--flag" words off the front of s[i..n) (docker's
 * extractBuilderFlags: quotes and backslashes are removed, "--" alone ends
 * the flags).  Returns the index where the arguments start. */
static size_t
extract_flags (const char *s, size_t i, size_t n, words *out)
{
  for (;;)
    {
      i = skip_blanks (s, i, n);
      if (i + 1 >= n || s[i] != '-' || s[i + 1] != '-')
        return i;
      size_t start = i;
      char quote = 0;
      bool quoted = false;
      cleanup_sbuf sbuf w = { 0 };
      while (i < n && (quote || !is_blank (s[i])))
        {
          char c = s[i++];
          if (quote && c == quote)
            {
              quote = 0;
              continue;
            }
          if (!quote && (c == '\'' || c == '"'))
            {
              quote = c;
              quoted = true;
              continue;
            }
          if (c == '\\')
            {
              if (i == n)
                continue;
              c = s[i++];
            }
          sbuf_addc (&w, c);
        }
      if (!quoted && strcmp (sbuf_str (&w), "--") == 0)
        return skip_blanks (s, i, n);
      words_push (out, sbuf_steal (&w), start);
    }
}

static bool
parse_bool (const char *v, bool *out)
{
  if (v == NULL || *v == '\0' || strcasecmp (v, "true") == 0)
    *out = true;
  else if (strcasecmp (v, "false") == 0)
    *out = false;
  else
    return false;
  return true;
}

static int
check_flags (df_ctx *ctx, const char *kw, const flag_spec *specs, words *raw, pier_df_instr *in)
{
  if (raw->n == 0)
    return 0;
  in->flags = xcalloc (raw->n, sizeof *in->flags);
  for (size_t k = 0; k < raw->n; k++)
    {
      const char *w = raw->v[k].s + 2;
      const char *eq = strchr (w, '=');
      size_t name_len = eq ? (size_t) (eq - w) : strlen (w);
      const flag_spec *spec = NULL;
      for (size_t j = 0; specs && specs[j].name; j++)
        if (strlen (specs[j].name) == name_len && strncmp (specs[j].name, w, name_len) == 0)
          spec = &specs[j];
      if (spec == NULL)
        return err_at (ctx, raw->v[k].pos, "unknown flag for %s: --%.*s", kw, (int) name_len, w);
      if (spec->type != FLAG_LIST)
        for (size_t j = 0; j < in->n_flags; j++)
          if (strcmp (in->flags[j].name, spec->name) == 0)
            return err_at (ctx, raw->v[k].pos, "duplicate flag specified: --%s", spec->name);
      if (spec->type == FLAG_BOOL)
        {
          bool b;
          if (!parse_bool (eq ? eq + 1 : NULL, &b))
            return err_at (ctx, raw->v[k].pos, "expecting a boolean value for flag --%s, not `%s`",
                           spec->name, eq + 1);
        }
      else if (eq == NULL)
        return err_at (ctx, raw->v[k].pos, "missing a value on flag --%s", spec->name);
      pier_df_flag *f = &in->flags[in->n_flags++];
      f->name = xstrdup (spec->name);
      f->value = eq ? xstrdup (eq + 1) : NULL;
      ll_loc (ctx, raw->v[k].pos, &f->line, &f->column);
    }
  return 0;
}

/* ---------------------------------------------------------------------- */
/* Arguments. */

static void
args_set_words (pier_df_instr *in, words *w)
{
  in->args = xcalloc (w->n + 1, sizeof *in->args);
  for (size_t k = 0; k < w->n; k++)
    {
      in->args[k] = w->v[k].s;
      w->v[k].s = NULL;
    }
  in->n_args = w->n;
}

static void
args_set_one (pier_df_instr *in, const char *s, size_t n)
{
  in->args = xcalloc (2, sizeof *in->args);
  in->args[0] = xstrndup (s, n);
  in->n_args = 1;
}

/* docker's parseJSON: 1 when s is a JSON array of strings (in->args set,
 * exec form), 0 when it is not JSON (shell form), -1 when it is a JSON
 * array holding something else. */
static int
maybe_json (df_ctx *ctx, const char *kw, size_t pos, pier_df_instr *in)
{
  const char *s = ctx->ll.text.s + pos;
  if (*s != '[')
    return 0;
  json_error_t jerr;
  json_t *j = json_loads (s, 0, &jerr);
  if (j == NULL || !json_is_array (j))
    {
      json_decref (j);
      return 0;
    }
  size_t n = json_array_size (j);
  for (size_t k = 0; k < n; k++)
    if (!json_is_string (json_array_get (j, k)))
      {
        json_decref (j);
        return err_at (ctx, pos, "%s: a JSON array must hold only strings", kw);
      }
  in->args = xcalloc (n + 1, sizeof *in->args);
  for (size_t k = 0; k < n; k++)
    in->args[k] = xstrdup (json_string_value (json_array_get (j, k)));
  in->n_args = n;
  in->exec_form = true;
  json_decref (j);
  return 1;
}

/* Exec or shell form (RUN, CMD, ENTRYPOINT, HEALTHCHECK CMD). */
static int
parse_command (df_ctx *ctx, const char *kw, size_t pos, pier_df_instr *in)
{
  int r = maybe_json (ctx, kw, pos, in);
  if (r < 0)
    return -1;
  if (r == 0)
    args_set_one (in, ctx->ll.text.s + pos, ctx->ll.text.len - pos);
  return 0;
}

/* JSON array or blank-separated words (ADD, COPY, VOLUME). */
static int
parse_list (df_ctx *ctx, const char *kw, size_t pos, pier_df_instr *in)
{
  int r = maybe_json (ctx, kw, pos, in);
  if (r < 0)
    return -1;
  if (r == 0)
    {
      cleanup_words words w = { 0 };
      split_blanks (ctx->ll.text.s, pos, ctx->ll.text.len, &w);
      args_set_words (in, &w);
    }
  return 0;
}

static void
pair_push (pier_df_instr *in, size_t *cap, char *key, char *value)
{
  in->pairs = array_grow (in->pairs, cap, in->n_pairs, sizeof *in->pairs);
  in->pairs[in->n_pairs].key = key;
  in->pairs[in->n_pairs].value = value;
  in->n_pairs++;
}

/* ENV and LABEL: "k=v k2=v2 ..." or the legacy "k some value". */
static int
parse_pairs (df_ctx *ctx, const char *kw, size_t pos, pier_df_instr *in)
{
  const char *s = ctx->ll.text.s;
  size_t n = ctx->ll.text.len, cap = 0;
  cleanup_words words w = { 0 };
  split_words_raw (s, pos, n, ctx->escape, &w);
  if (w.n == 0)
    return err_at (ctx, pos, "%s requires at least one argument", kw);
  if (strchr (w.v[0].s, '=') == NULL)
    {
      /* Legacy form: the key is the first blank-delimited word, the value
       * all the rest as written. */
      size_t k = pos;
      while (k < n && !is_blank (s[k]))
        k++;
      size_t v = skip_blanks (s, k, n);
      if (v == n)
        return err_at (ctx, pos, "%s must have two arguments (%s name value, or %s name=value)", kw, kw, kw);
      pair_push (in, &cap, xstrndup (s + pos, k - pos), xstrndup (s + v, n - v));
      return 0;
    }
  for (size_t k = 0; k < w.n; k++)
    {
      char *eq = strchr (w.v[k].s, '=');
      if (eq == NULL)
        return err_at (ctx, w.v[k].pos, "syntax error: no `=` in `%s`; write %s name=value", w.v[k].s, kw);
      if (eq == w.v[k].s)
        return err_at (ctx, w.v[k].pos, "%s names can not be blank", kw);
      pair_push (in, &cap, xstrndup (w.v[k].s, (size_t) (eq - w.v[k].s)), xstrdup (eq + 1));
    }
  return 0;
}

static int
parse_arg (df_ctx *ctx, size_t pos, pier_df_instr *in)
{
  cleanup_words words w = { 0 };
  size_t cap = 0;
  split_words_raw (ctx->ll.text.s, pos, ctx->ll.text.len, ctx->escape, &w);
  for (size_t k = 0; k < w.n; k++)
    {
      char *eq = strchr (w.v[k].s, '=');
      if (eq == w.v[k].s)
        return err_at (ctx, w.v[k].pos, "ARG names can not be blank");
      if (eq)
        pair_push (in, &cap, xstrndup (w.v[k].s, (size_t) (eq - w.v[k].s)), xstrdup (eq + 1));
      else
        pair_push (in, &cap, xstrdup (w.v[k].s), NULL);
    }
  return 0;
}

static bool
valid_stage_name (const char *s)
{
  if (!islower ((unsigned char) *s))
    return false;
  for (s++; *s; s++)
    if (!islower ((unsigned char) *s) && !isdigit ((unsigned char) *s) && *s != '-' && *s != '_' && *s != '.')
      return false;
  return true;
}

static int
parse_from (df_ctx *ctx, size_t pos, pier_df_instr *in)
{
  cleanup_words words w = { 0 };
  split_blanks (ctx->ll.text.s, pos, ctx->ll.text.len, &w);
  if (w.n != 1 && w.n != 3)
    return err_at (ctx, pos, "FROM requires either one argument, or three: FROM <image> AS <name>");
  if (w.n == 3)
    {
      if (strcasecmp (w.v[1].s, "as") != 0)
        return err_at (ctx, w.v[1].pos, "FROM: expected AS <name>, found `%s`", w.v[1].s);
      for (char *c = w.v[2].s; *c; c++)
        *c = (char) tolower ((unsigned char) *c);
      if (!valid_stage_name (w.v[2].s))
        return err_at (
            ctx, w.v[2].pos,
            "invalid name for build stage: `%s`: it must start with a letter and hold only letters, "
            "digits, '-', '_' and '.'",
            w.v[2].s);
    }
  args_set_words (in, &w);
  return 0;
}

/* Go's time.ParseDuration, as docker reads HEALTHCHECK durations. */
static bool
parse_duration (const char *s, int64_t *out)
{
  static const struct
  {
    const char *unit;
    int64_t ns;
  } units[] = {
    { "ns", 1 },           { "us", 1000 },      { "\xc2\xb5s", 1000 }, /* U+00B5 micro sign */
    { "\xce\xbcs", 1000 },                                             /* U+03BC Greek mu */
    { "ms", 1000000 },     { "s", 1000000000 }, { "m", 60LL * 1000000000 }, { "h", 3600LL * 1000000000 },
  };
  bool neg = false;
  double total = 0;
  if (*s == '-' || *s == '+')
    neg = *s++ == '-';
  if (strcmp (s, "0") == 0)
    {
      *out = 0;
      return true;
    }
  if (*s == '\0')
    return false;
  while (*s)
    {
      const char *start = s;
      double v = 0, scale = 1;
      bool digits = false;
      while (isdigit ((unsigned char) *s))
        {
          v = v * 10 + (*s++ - '0');
          digits = true;
        }
      if (*s == '.')
        {
          s++;
          while (isdigit ((unsigned char) *s))
            {
              scale /= 10;
              v += (*s++ - '0') * scale;
              digits = true;
            }
        }
      if (!digits || s == start)
        return false;
      size_t best = 0;
      int64_t mult = 0;
      for (size_t k = 0; k < sizeof units / sizeof units[0]; k++)
        {
          size_t ul = strlen (units[k].unit);
          if (strncmp (s, units[k].unit, ul) == 0 && ul > best)
            {
              best = ul;
              mult = units[k].ns;
            }
        }
      if (best == 0)
        return false;
      s += best;
      total += v * (double) mult;
      if (total > (double) INT64_MAX)
        return false;
    }
  *out = (int64_t) (neg ? -total : total);
  return true;
}

static int
parse_health (df_ctx *ctx, size_t pos, pier_df_instr *in)
{
  const char *s = ctx->ll.text.s;
  size_t n = ctx->ll.text.len, k = pos;
  while (k < n && !is_blank (s[k]))
    k++;
  size_t rest = skip_blanks (s, k, n);
  if (k - pos == 4 && strncasecmp (s + pos, "NONE", 4) == 0)
    {
      if (rest != n)
        return err_at (ctx, rest, "HEALTHCHECK NONE takes no arguments");
      if (in->n_flags)
        return err_at (ctx, pos, "HEALTHCHECK NONE takes no flags");
      in->health.none = true;
      return 0;
    }
  if (k - pos != 3 || strncasecmp (s + pos, "CMD", 3) != 0)
    return err_at (ctx, pos, "unknown type `%.*s` in HEALTHCHECK (try CMD or NONE)", (int) (k - pos),
                   s + pos);
  if (rest == n)
    return err_at (ctx, k, "missing command after HEALTHCHECK CMD");
  if (parse_command (ctx, "HEALTHCHECK", rest, in) < 0)
    return -1;
  if (in->exec_form && in->n_args == 0)
    return err_at (ctx, rest, "missing command after HEALTHCHECK CMD");

  static const struct
  {
    const char *name;
    size_t off;
  } durations[] = {
    { "interval", offsetof (pier_df_health, interval) },
    { "timeout", offsetof (pier_df_health, timeout) },
    { "start-period", offsetof (pier_df_health, start_period) },
    { "start-interval", offsetof (pier_df_health, start_interval) },
  };
  for (size_t f = 0; f < in->n_flags; f++)
    {
      pier_df_flag *fl = &in->flags[f];
      int line = fl->line, col = fl->column;
      if (strcmp (fl->name, "retries") == 0)
        {
          char *end = NULL;
          errno = 0;
          long r = strtol (fl->value, &end, 10);
          if (*fl->value == '\0' || *end || errno || r > INT_MAX || r < INT_MIN)
            return err_at_line (ctx, line, col, "invalid value for --retries: `%s`", fl->value);
          if (r < 0)
            return err_at_line (ctx, line, col, "--retries cannot be negative (%ld)", r);
          in->health.retries = (int) r;
          continue;
        }
      for (size_t d = 0; d < sizeof durations / sizeof durations[0]; d++)
        if (strcmp (fl->name, durations[d].name) == 0)
          {
            int64_t v;
            if (!parse_duration (fl->value, &v))
              return err_at_line (ctx, line, col, "invalid duration `%s` for --%s", fl->value, fl->name);
            if (v != 0 && v < 1000000)
              return err_at_line (ctx, line, col, "--%s cannot be less than 1ms", fl->name);
            *(int64_t *) ((char *) &in->health + durations[d].off) = v;
          }
    }
  return 0;
}

/* ---------------------------------------------------------------------- */
/* The instruction table. */

static const flag_spec no_flags[] = { { NULL, 0 } };
static const flag_spec add_flags[] = {
  { "chown", FLAG_STRING },    { "chmod", FLAG_STRING },
  { "link", FLAG_BOOL },       { "keep-git-dir", FLAG_BOOL },
  { "checksum", FLAG_STRING }, { "exclude", FLAG_LIST },
  { "unpack", FLAG_BOOL },     { NULL, 0 },
};
static const flag_spec copy_flags[] = {
  { "from", FLAG_STRING },
  { "chown", FLAG_STRING },
  { "chmod", FLAG_STRING },
  { "link", FLAG_BOOL },
  { "parents", FLAG_BOOL },
  { "exclude", FLAG_LIST },
  { NULL, 0 },
};
static const flag_spec from_flags[] = { { "platform", FLAG_STRING }, { NULL, 0 } };
static const flag_spec run_flags[] = {
  { "mount", FLAG_LIST },
  { "network", FLAG_STRING },
  { "security", FLAG_STRING },
  { NULL, 0 },
};
static const flag_spec health_flags[] = {
  { "interval", FLAG_STRING },       { "timeout", FLAG_STRING }, { "start-period", FLAG_STRING },
  { "start-interval", FLAG_STRING }, { "retries", FLAG_STRING }, { NULL, 0 },
};

typedef enum arg_shape
{
  SHAPE_COMMAND, /* exec or shell form */
  SHAPE_EXEC,    /* exec form only (SHELL) */
  SHAPE_LIST,    /* JSON array or words (ADD, COPY, VOLUME) */
  SHAPE_WORDS,   /* blank-separated words (EXPOSE) */
  SHAPE_STRING,  /* the whole text */
  SHAPE_PAIRS,   /* ENV, LABEL */
  SHAPE_ARG,
  SHAPE_FROM,
  SHAPE_HEALTH,
  SHAPE_ONBUILD,
} arg_shape;

typedef struct instr_spec
{
  const char *name;
  pier_df_kind kind;
  arg_shape shape;
  const flag_spec *flags;
} instr_spec;

/* In pier_df_kind order. */
static const instr_spec instr_table[] = {
  { "ADD", PIER_DF_ADD, SHAPE_LIST, add_flags },
  { "ARG", PIER_DF_ARG, SHAPE_ARG, no_flags },
  { "CMD", PIER_DF_CMD, SHAPE_COMMAND, no_flags },
  { "COPY", PIER_DF_COPY, SHAPE_LIST, copy_flags },
  { "ENTRYPOINT", PIER_DF_ENTRYPOINT, SHAPE_COMMAND, no_flags },
  { "ENV", PIER_DF_ENV, SHAPE_PAIRS, no_flags },
  { "EXPOSE", PIER_DF_EXPOSE, SHAPE_WORDS, no_flags },
  { "FROM", PIER_DF_FROM, SHAPE_FROM, from_flags },
  { "HEALTHCHECK", PIER_DF_HEALTHCHECK, SHAPE_HEALTH, health_flags },
  { "LABEL", PIER_DF_LABEL, SHAPE_PAIRS, no_flags },
  { "MAINTAINER", PIER_DF_MAINTAINER, SHAPE_STRING, no_flags },
  { "ONBUILD", PIER_DF_ONBUILD, SHAPE_ONBUILD, no_flags },
  { "RUN", PIER_DF_RUN, SHAPE_COMMAND, run_flags },
  { "SHELL", PIER_DF_SHELL, SHAPE_EXEC, no_flags },
  { "STOPSIGNAL", PIER_DF_STOPSIGNAL, SHAPE_STRING, no_flags },
  { "USER", PIER_DF_USER, SHAPE_STRING, no_flags },
  { "VOLUME", PIER_DF_VOLUME, SHAPE_LIST, no_flags },
  { "WORKDIR", PIER_DF_WORKDIR, SHAPE_STRING, no_flags },
};

const char *
pier_df_kind_name (pier_df_kind kind)
{
  if ((size_t) kind >= sizeof instr_table / sizeof instr_table[0])
    return "?";
  return instr_table[kind].name;
}

static void instr_release (pier_df_instr *in);

/* Does the argument text start a heredoc word ("<<EOF", "<<-'X'", "2<<EOF")?
 * On success name/expand/chomp/fd are set. */
static bool
heredoc_word (const char *w, pier_df_heredoc *h)
{
  const char *p = w;
  int fd = -1;
  if (isdigit ((unsigned char) *p))
    {
      long v = 0;
      while (isdigit ((unsigned char) *p))
        {
          if (v < 100000)
            v = v * 10 + (*p - '0');
          p++;
        }
      fd = (int) v;
    }
  if (p[0] != '<' || p[1] != '<')
    return false;
  p += 2;
  bool chomp = *p == '-';
  if (chomp)
    p++;
  if (*p == '\0' || strchr (p, '<'))
    return false;
  /* Unquote: quotes and backslashes go; quoting means "do not expand". */
  cleanup_sbuf sbuf name = { 0 };
  bool quoted = false;
  char quote = 0;
  for (; *p; p++)
    {
      if (quote)
        {
          if (*p == quote)
            quote = 0;
          else if (*p == '\\' && quote == '"' && (p[1] == '"' || p[1] == '\\' || p[1] == '$'))
            sbuf_addc (&name, *++p);
          else
            sbuf_addc (&name, *p);
          continue;
        }
      if (*p == '\'' || *p == '"')
        {
          quote = *p;
          quoted = true;
          continue;
        }
      if (*p == '\\' && p[1])
        p++;
      sbuf_addc (&name, *p);
    }
  if (quote || name.len == 0)
    return false;
  h->name = sbuf_steal (&name);
  h->expand = !quoted;
  h->chomp = chomp;
  h->fd = fd;
  return true;
}

/* Parse the instruction starting at byte pos of the logical line. */
static int
parse_instruction (df_ctx *ctx, size_t pos, bool trigger, pier_df_instr *in)
{
  const char *s = ctx->ll.text.s;
  size_t n = ctx->ll.text.len;
  size_t kw_end = pos;
  while (kw_end < n && !is_blank (s[kw_end]))
    kw_end++;

  const instr_spec *spec = NULL;
  for (size_t k = 0; k < sizeof instr_table / sizeof instr_table[0]; k++)
    if (strlen (instr_table[k].name) == kw_end - pos
        && strncasecmp (instr_table[k].name, s + pos, kw_end - pos) == 0)
      spec = &instr_table[k];
  if (spec == NULL)
    return err_at (ctx, pos, "unknown instruction: %.*s", (int) (kw_end - pos), s + pos);

  in->kind = spec->kind;
  ll_loc (ctx, pos, &in->line, &in->column);
  in->original = xstrndup (s + pos, n - pos);

  if (trigger && spec->kind == PIER_DF_ONBUILD)
    return err_at (ctx, pos, "chaining ONBUILD via `ONBUILD ONBUILD` isn't allowed");
  if (trigger && (spec->kind == PIER_DF_FROM || spec->kind == PIER_DF_MAINTAINER))
    return err_at (ctx, pos, "%s isn't allowed as an ONBUILD trigger", spec->name);

  cleanup_words words flags = { 0 };
  size_t args = extract_flags (s, kw_end, n, &flags);
  if (check_flags (ctx, spec->name, spec->flags, &flags, in) < 0)
    return -1;
  if (args == n)
    return err_at (ctx, pos, "%s requires at least one argument", spec->name);

  switch (spec->shape)
    {
    case SHAPE_COMMAND:
      if (parse_command (ctx, spec->name, args, in) < 0)
        return -1;
      if (spec->kind == PIER_DF_RUN && in->n_args == 0)
        return err_at (ctx, args, "RUN requires at least one argument");
      return 0;
    case SHAPE_EXEC:
      {
        int r = maybe_json (ctx, spec->name, args, in);
        if (r < 0)
          return -1;
        if (r == 0)
          return err_at (ctx, args, "%s requires the arguments to be in JSON form", spec->name);
      }
      if (in->n_args == 0)
        return err_at (ctx, args, "%s requires at least one argument", spec->name);
      return 0;
    case SHAPE_LIST:
      if (parse_list (ctx, spec->name, args, in) < 0)
        return -1;
      if ((spec->kind == PIER_DF_ADD || spec->kind == PIER_DF_COPY) && in->n_args < 2)
        return err_at (ctx, args, "%s requires at least two arguments (source and destination)", spec->name);
      if (in->n_args == 0)
        return err_at (ctx, args, "%s requires at least one argument", spec->name);
      return 0;
    case SHAPE_WORDS:
      {
        cleanup_words words w = { 0 };
        split_blanks (s, args, n, &w);
        args_set_words (in, &w);
        return 0;
      }
    case SHAPE_STRING: args_set_one (in, s + args, n - args); return 0;
    case SHAPE_PAIRS: return parse_pairs (ctx, spec->name, args, in);
    case SHAPE_ARG: return parse_arg (ctx, args, in);
    case SHAPE_FROM: return parse_from (ctx, args, in);
    case SHAPE_HEALTH: return parse_health (ctx, args, in);
    case SHAPE_ONBUILD:
      args_set_one (in, s + args, n - args);
      in->trigger = xzalloc (sizeof *in->trigger);
      if (parse_instruction (ctx, args, true, in->trigger) < 0)
        return -1;
      in->trigger->end_line = in->trigger->line;
      return 0;
    }
  return 0;
}

/* Take heredoc bodies from the lines after *lineno, updating it.  A body
 * keeps its lines' endings as written ("\r\n" too; none on a last line
 * without one); for <<- the tabs that start each line are dropped. */
static int
read_heredocs (df_ctx *ctx, pier_df_instr *in, size_t *lineno)
{
  const char *s = ctx->ll.text.s;
  size_t n = ctx->ll.text.len;
  if (in->exec_form || strstr (s, "<<") == NULL)
    return 0;
  /* Flags never look like heredocs, so the whole line can be split (the
   * keyword, and for ONBUILD the trigger's keyword, are skipped). */
  cleanup_words words w = { 0 };
  split_words_shell (s, 0, n, &w);
  size_t cap = 0;
  for (size_t k = 1; k < w.n; k++)
    {
      pier_df_heredoc h = { 0 };
      if (!heredoc_word (w.v[k].s, &h))
        continue;
      in->heredocs = array_grow (in->heredocs, &cap, in->n_heredocs, sizeof *in->heredocs);
      in->heredocs[in->n_heredocs++] = h;
      pier_df_heredoc *hd = &in->heredocs[in->n_heredocs - 1];
      cleanup_sbuf sbuf body = { 0 };
      bool done = false;
      while (*lineno + 1 < ctx->n_lines)
        {
          const char *p;
          size_t len;
          (*lineno)++;
          phys_line (ctx, *lineno, &p, &len);
          size_t raw_end = *lineno + 1 < ctx->n_lines ? ctx->line_start[*lineno + 1] : ctx->len;
          size_t tabs = 0;
          if (hd->chomp)
            while (tabs < len && p[tabs] == '\t')
              tabs++;
          if (len - tabs == strlen (hd->name) && memcmp (p + tabs, hd->name, len - tabs) == 0)
            {
              done = true;
              break;
            }
          sbuf_add (&body, p + tabs, raw_end - (size_t) (p - ctx->buf) - tabs);
        }
      if (!done)
        return err_at (ctx, w.v[k].pos, "unterminated heredoc: no line `%s` ends it", hd->name);
      hd->content = sbuf_steal (&body);
    }
  return 0;
}

/* ---------------------------------------------------------------------- */

static void
instr_release (pier_df_instr *in)
{
  if (in == NULL)
    return;
  free (in->original);
  for (size_t k = 0; k < in->n_flags; k++)
    {
      free (in->flags[k].name);
      free (in->flags[k].value);
    }
  free (in->flags);
  strv_free (in->args);
  for (size_t k = 0; k < in->n_pairs; k++)
    {
      free (in->pairs[k].key);
      free (in->pairs[k].value);
    }
  free (in->pairs);
  for (size_t k = 0; k < in->n_heredocs; k++)
    {
      free (in->heredocs[k].name);
      free (in->heredocs[k].content);
    }
  free (in->heredocs);
  if (in->trigger)
    {
      instr_release (in->trigger);
      free (in->trigger);
    }
  memset (in, 0, sizeof *in);
}

void
pier_dockerfile_free (pier_dockerfile *df)
{
  if (df == NULL)
    return;
  for (size_t k = 0; k < df->n_global_args; k++)
    instr_release (&df->global_args[k]);
  free (df->global_args);
  for (size_t s = 0; s < df->n_stages; s++)
    {
      pier_df_stage *st = &df->stages[s];
      for (size_t k = 0; k < st->n_instrs; k++)
        instr_release (&st->instrs[k]);
      free (st->instrs);
      free (st->name);
      free (st->base);
      free (st->platform);
    }
  free (df->stages);
  free (df->syntax);
  free (df->check);
  free (df);
}

typedef struct df_build
{
  pier_dockerfile *df;
  size_t cap_args, cap_stages, cap_instrs;
} df_build;

/* Append a parsed instruction to the right list (takes it over). */
static int
place (df_ctx *ctx, df_build *b, pier_df_instr *in)
{
  pier_dockerfile *df = b->df;
  if (in->kind == PIER_DF_FROM)
    {
      const char *name = in->n_args == 3 ? in->args[2] : NULL;
      for (size_t s = 0; name && s < df->n_stages; s++)
        if (df->stages[s].name && strcmp (df->stages[s].name, name) == 0)
          return err_at_line (ctx, in->line, in->column, "duplicate stage name `%s` (first used on line %d)",
                              name, df->stages[s].instrs[0].line);
      df->stages = array_grow (df->stages, &b->cap_stages, df->n_stages, sizeof *df->stages);
      pier_df_stage *st = &df->stages[df->n_stages++];
      memset (st, 0, sizeof *st);
      st->name = name ? xstrdup (name) : NULL;
      st->base = xstrdup (in->args[0]);
      const char *platform = pier_df_flag_get (in, "platform");
      st->platform = platform ? xstrdup (platform) : NULL;
      b->cap_instrs = 0;
    }
  else if (df->n_stages == 0)
    {
      if (in->kind != PIER_DF_ARG)
        return err_at_line (ctx, in->line, in->column,
                            "%s before the first FROM: no build stage in current context (only ARG may come "
                            "before FROM)",
                            pier_df_kind_name (in->kind));
      df->global_args
          = array_grow (df->global_args, &b->cap_args, df->n_global_args, sizeof *df->global_args);
      df->global_args[df->n_global_args++] = *in;
      memset (in, 0, sizeof *in);
      return 0;
    }
  pier_df_stage *st = &df->stages[df->n_stages - 1];
  st->instrs = array_grow (st->instrs, &b->cap_instrs, st->n_instrs, sizeof *st->instrs);
  st->instrs[st->n_instrs++] = *in;
  memset (in, 0, sizeof *in);
  return 0;
}

/* Append physical line text p[0..n) at file offset off; true when it
 * ends in a continuation (the escape, then only blanks), which is cut. */
static bool
add_segment (df_ctx *ctx, const char *p, size_t n, size_t off)
{
  size_t end = n;
  while (end > 0 && (p[end - 1] == ' ' || p[end - 1] == '\t'))
    end--;
  /* An escape preceded by another one does not continue the line (as in
   * buildkit: "dir c:" with two backslashes ends there). */
  if (end > 0 && p[end - 1] == ctx->escape && (end == 1 || p[end - 2] != ctx->escape))
    {
      ll_add (&ctx->ll, p, end - 1, off);
      return true;
    }
  ll_add (&ctx->ll, p, n, off);
  return false;
}

static int
parse_lines (df_ctx *ctx, df_build *b)
{
  bool directives_open = true, seen[3] = { false, false, false };
  for (size_t i = 0; i < ctx->n_lines; i++)
    {
      const char *p;
      size_t n;
      phys_line (ctx, i, &p, &n);
      if (directives_open)
        {
          int r = directive (ctx, b->df, i, p, n, seen);
          if (r < 0)
            return -1;
          if (r > 0)
            continue;
          directives_open = false;
        }
      size_t ws = skip_blanks (p, 0, n);
      if (ws == n || p[ws] == '#')
        continue;

      sbuf_reset (&ctx->ll.text);
      bool more = add_segment (ctx, p + ws, n - ws, (size_t) (p + ws - ctx->buf));
      while (more && i + 1 < ctx->n_lines)
        {
          i++;
          phys_line (ctx, i, &p, &n);
          ws = skip_blanks (p, 0, n);
          if (ws == n || p[ws] == '#')
            continue; /* comments and blank lines inside a continuation */
          more = add_segment (ctx, p, n, (size_t) (p - ctx->buf));
        }
      /* Trim trailing blanks of the logical line. */
      while (ctx->ll.text.len > 0 && is_blank (ctx->ll.text.s[ctx->ll.text.len - 1]))
        ctx->ll.text.s[--ctx->ll.text.len] = '\0';
      if (ctx->ll.text.len == 0)
        continue;

      pier_df_instr in = { 0 };
      int r = parse_instruction (ctx, 0, false, &in);
      /* Heredocs, also for an ONBUILD trigger (they go with the trigger). */
      pier_df_instr *target = in.kind == PIER_DF_ONBUILD ? in.trigger : &in;
      if (r == 0
          && (target->kind == PIER_DF_RUN || target->kind == PIER_DF_COPY || target->kind == PIER_DF_ADD))
        r = read_heredocs (ctx, target, &i);
      if (r == 0 && in.trigger)
        in.trigger->end_line = (int) i + 1;
      if (r == 0 && (target->kind == PIER_DF_COPY || target->kind == PIER_DF_ADD) && !target->exec_form)
        {
          pier_df_heredoc h = { 0 };
          if (heredoc_word (target->args[target->n_args - 1], &h))
            {
              free (h.name);
              r = err_at_line (ctx, target->line, target->column,
                               "%s cannot accept a heredoc as a destination",
                               pier_df_kind_name (target->kind));
            }
        }
      in.end_line = (int) i + 1;
      if (r == 0)
        r = place (ctx, b, &in);
      instr_release (&in);
      if (r < 0)
        return -1;
    }
  return 0;
}

int
pier_dockerfile_parse (const char *buf, size_t len, const char *filename, pier_dockerfile **out,
                       pier_error **err)
{
  df_ctx ctx = { 0 };
  df_build b = { 0 };
  int r = -1;
  ctx.file = filename ? filename : "Dockerfile";
  ctx.err = err;
  ctx.escape = '\\';
  if (buf == NULL && len > 0)
    return pier_error_makex (err, EINVAL, "%s: no content", ctx.file);
  if (buf == NULL)
    buf = "";
  const char *nul = memchr (buf, '\0', len);
  ctx.buf = buf;
  ctx.len = len;

  size_t start = 0;
  if (len >= 3 && memcmp (buf, "\xef\xbb\xbf", 3) == 0)
    start = 3;
  size_t cap = 0;
  for (size_t i = start;;)
    {
      ctx.line_start = array_grow (ctx.line_start, &cap, ctx.n_lines, sizeof *ctx.line_start);
      ctx.line_start[ctx.n_lines++] = i;
      const char *nl = memchr (buf + i, '\n', len - i);
      if (nl == NULL)
        break;
      i = (size_t) (nl - buf) + 1;
      if (i == len)
        break;
    }
  if (nul)
    {
      int line, col;
      file_loc (&ctx, (size_t) (nul - buf), &line, &col);
      err_at_line (&ctx, line, col, "the file holds a NUL byte: it is not a text file");
      goto out;
    }

  b.df = xzalloc (sizeof *b.df);
  b.df->escape = '\\';
  if (parse_lines (&ctx, &b) < 0)
    goto out;
  if (b.df->n_stages == 0)
    {
      if (b.df->n_global_args == 0)
        err_at_line (&ctx, 1, 1, "file with no instructions: a Dockerfile needs at least a FROM");
      else
        err_at_line (&ctx, b.df->global_args[0].line, 1,
                     "no FROM instruction: only ARG instructions, and no build stage");
      goto out;
    }
  *out = steal_pointer (&b.df);
  r = 0;
out:
  pier_dockerfile_free (b.df);
  free (ctx.line_start);
  sbuf_release (&ctx.ll.text);
  free (ctx.ll.off);
  return r;
}

const char *
pier_df_flag_get (const pier_df_instr *in, const char *name)
{
  const char *v = NULL;
  if (in == NULL || name == NULL)
    return NULL;
  for (size_t k = 0; k < in->n_flags; k++)
    if (strcmp (in->flags[k].name, name) == 0)
      v = in->flags[k].value ? in->flags[k].value : "";
  return v;
}

bool
pier_df_flag_bool (const pier_df_instr *in, const char *name)
{
  const char *v = pier_df_flag_get (in, name);
  bool b = false;
  return v != NULL && parse_bool (v, &b) && b;
}

long
pier_df_stage_find (const pier_dockerfile *df, const char *name)
{
  if (df == NULL || name == NULL || *name == '\0')
    return -1;
  for (size_t s = 0; s < df->n_stages; s++)
    if (df->stages[s].name && strcasecmp (df->stages[s].name, name) == 0)
      return (long) s;
  char *end = NULL;
  errno = 0;
  long v = isdigit ((unsigned char) *name) ? strtol (name, &end, 10) : -1;
  if (v < 0 || errno || *end || (size_t) v >= df->n_stages)
    return -1;
  return v;
}
