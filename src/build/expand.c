/* expand.c - variable substitution in Dockerfile words (see expand.h).
 *
 * One recursive-descent pass over the word.  Two results are built side by
 * side: the whole expanded string, and (for the splitting variant) the
 * list of words, where only characters that reached the output unquoted
 * and unescaped may separate words.
 */
#include "build/expand.h"

#include <ctype.h>
#include <errno.h>
#include <fnmatch.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/sbuf.h"
#include "util/cleanup.h"
#include "util/xalloc.h"

#include "util/banned.h"

typedef struct wordlist
{
  sbuf cur;
  bool in_word;
  char **v; /* NULL-terminated once there is a word */
  size_t n, cap;
} wordlist;

static void
wl_end (wordlist *w)
{
  /* Counted, not strv_push: a variable may split into very many words,
   * and finding the vector's end each time made that quadratic. */
  if (w->cur.len > 0)
    {
      if (w->n + 2 > w->cap)
        {
          w->cap = w->cap ? 2 * w->cap : 8;
          w->v = xrealloc (w->v, w->cap * sizeof *w->v);
        }
      w->v[w->n++] = xstrdup (sbuf_str (&w->cur));
      w->v[w->n] = NULL;
    }
  sbuf_reset (&w->cur);
  w->in_word = false;
}

/* A character that may split (it came out unquoted). */
static void
wl_char (wordlist *w, char c)
{
  if (w == NULL)
    return;
  if (isspace ((unsigned char) c))
    {
      if (w->in_word)
        wl_end (w);
      return;
    }
  sbuf_addc (&w->cur, c);
  w->in_word = true;
}

static void
wl_str (wordlist *w, const char *s)
{
  for (; s && *s; s++)
    wl_char (w, *s);
}

/* Characters that never split (quoted or escaped). */
static void
wl_raw (wordlist *w, const char *s, size_t n)
{
  if (w == NULL)
    return;
  sbuf_add (&w->cur, s, n);
  w->in_word = true;
}

typedef struct lexer
{
  const char *s;
  size_t pos, len;
  char esc;
  const pier_build_vars *vars;
  char *msg; /* what went wrong, set once */
} lexer;

static int __attribute__ ((format (printf, 2, 3))) lex_fail (lexer *lx, const char *fmt, ...)
{
  va_list ap;
  if (lx->msg)
    return -1;
  va_start (ap, fmt);
  if (vasprintf (&lx->msg, fmt, ap) < 0)
    abort ();
  va_end (ap);
  return -1;
}

/* No expansion may grow past this: nested ${a//p/${a//p/...}} grows
 * exponentially with the nesting, and one argument or environment string
 * of a process is at most 128 KiB (MAX_ARG_STRLEN) anyway. */
#define EXPAND_MAX (1024 * 1024)

static int
too_long (lexer *lx, const sbuf *out)
{
  if (out->len <= EXPAND_MAX)
    return 0;
  return lex_fail (lx, "the expansion is longer than %d bytes", EXPAND_MAX);
}

static int
peek (const lexer *lx)
{
  return lx->pos < lx->len ? (unsigned char) lx->s[lx->pos] : -1;
}

static const char *
get_var (const lexer *lx, const char *name)
{
  const pier_build_vars *v = lx->vars;
  if (v == NULL)
    return NULL;
  if (v->lookup)
    {
      const char *r = v->lookup (name, v->data);
      if (r)
        return r;
    }
  const char *found = NULL;
  size_t nl = strlen (name);
  for (char *const *e = v->env; e && *e; e++)
    if (strncmp (*e, name, nl) == 0 && (*e)[nl] == '=')
      found = *e + nl + 1;
  return found;
}

static bool
is_special_param (int c)
{
  return c != -1 && strchr ("@*#?-$!0", c) != NULL;
}

static char *
read_name (lexer *lx)
{
  sbuf name = { 0 };
  int c = peek (lx);
  if (c != -1 && isdigit (c))
    {
      while ((c = peek (lx)) != -1 && isdigit (c))
        sbuf_addc (&name, (char) c), lx->pos++;
      return sbuf_steal (&name);
    }
  if (is_special_param (c))
    {
      lx->pos++;
      sbuf_addc (&name, (char) c);
      return sbuf_steal (&name);
    }
  while ((c = peek (lx)) != -1 && (isalnum (c) || c == '_' || c >= 0x80))
    sbuf_addc (&name, (char) c), lx->pos++;
  return sbuf_steal (&name);
}

static int lex_until (lexer *lx, int stop, sbuf *out, wordlist *words);
static int lex_dollar (lexer *lx, sbuf *out);

static int
lex_single (lexer *lx, sbuf *out)
{
  lx->pos++; /* the opening quote */
  for (;;)
    {
      int c = peek (lx);
      if (c == -1)
        return lex_fail (lx, "unexpected end of statement while looking for matching single-quote");
      lx->pos++;
      if (c == '\'')
        return 0;
      sbuf_addc (out, (char) c);
    }
}

static int
lex_double (lexer *lx, sbuf *out)
{
  lx->pos++;
  for (;;)
    {
      int c = peek (lx);
      if (c == -1)
        return lex_fail (lx, "unexpected end of statement while looking for matching double-quote");
      if (c == '"')
        {
          lx->pos++;
          return 0;
        }
      if (c == '$')
        {
          if (lex_dollar (lx, out) < 0)
            return -1;
          continue;
        }
      lx->pos++;
      if (c == lx->esc)
        {
          int n = peek (lx);
          if (n == -1)
            continue; /* reported as a missing quote above */
          if (n == '"' || n == '$' || n == lx->esc)
            {
              lx->pos++;
              c = n;
            }
        }
      sbuf_addc (out, (char) c);
    }
}

/* Remove the shortest or longest prefix or suffix of value matching pat. */
static char *
trim_match (const char *value, const char *pat, bool suffix, bool longest)
{
  size_t n = strlen (value);
  cleanup_free char *tmp = xmalloc (n + 1);
  for (size_t k = 0; k <= n; k++)
    {
      size_t len = longest ? n - k : k;
      if (!suffix)
        {
          memcpy (tmp, value, len);
          tmp[len] = '\0';
          if (fnmatch (pat, tmp, 0) == 0)
            return xstrdup (value + len);
        }
      else if (fnmatch (pat, value + (n - len), 0) == 0)
        return xstrndup (value, n - len);
    }
  return xstrdup (value);
}

/* The bytes a glob without '*' matches (each '?', class or character is
 * one byte, as fnmatch without FNM_... flags in pier's C locale counts),
 * or -1 when it has a star. */
static long
glob_fixed_len (const char *p)
{
  long n = 0;
  for (size_t i = 0; p[i]; n++)
    {
      if (p[i] == '*')
        return -1;
      if (p[i] == '\\' && p[i + 1])
        {
          i += 2;
          continue;
        }
      if (p[i] == '[')
        {
          size_t j = i + 1;
          if (p[j] == '!' || p[j] == '^')
            j++;
          if (p[j] == ']')
            j++;
          while (p[j] && p[j] != ']')
            j++;
          if (p[j] == ']')
            {
              i = j + 1;
              continue;
            }
        }
      i++;
    }
  return n;
}

/* ${name/pattern/word} and ${name//pattern/word}: the first (or every)
 * longest match of the glob pattern, leftmost first, replaced by word;
 * after "${name/".  The pattern is taken literally up to the next
 * unescaped '/' or '}'. */
static int
lex_replace (lexer *lx, sbuf *out, const char *value)
{
  bool all = peek (lx) == '/';
  if (all)
    lx->pos++;
  cleanup_sbuf sbuf pat = { 0 };
  int c;
  while ((c = peek (lx)) != -1 && c != '/' && c != '}')
    {
      lx->pos++;
      if (c == lx->esc && peek (lx) != -1)
        {
          c = peek (lx);
          lx->pos++;
          if (strchr ("*?[]\\", c))
            sbuf_addc (&pat, '\\');
        }
      sbuf_addc (&pat, (char) c);
    }
  if (c == -1)
    return lex_fail (lx, "syntax error: missing '}'");
  cleanup_sbuf sbuf w = { 0 };
  if (c == '/')
    {
      lx->pos++;
      if (lex_until (lx, '}', &w, NULL) < 0)
        return -1;
    }
  else
    lx->pos++;
  const char *v = value ? value : "";
  const char *p = sbuf_str (&pat);
  size_t n = strlen (v);
  cleanup_free char *tmp = xmalloc (n + 1);
  size_t i = 0;
  bool done = false;
  /* A pattern without '*' matches one length only: trying every length
   * at every position made ${v//?/x} cubic in the value's length. */
  long fixed = glob_fixed_len (p);
  while (i < n)
    {
      size_t best = 0;
      bool found = false;
      if (!done && *p)
        for (size_t len = n - i; len > 0; len--)
          {
            if (fixed >= 0 && len != (size_t) fixed)
              {
                if ((size_t) fixed > len)
                  break;
                len = (size_t) fixed + 1;
                continue;
              }
            memcpy (tmp, v + i, len);
            tmp[len] = '\0';
            if (fnmatch (p, tmp, 0) == 0)
              {
                best = len;
                found = true;
                break;
              }
          }
      if (found)
        {
          sbuf_adds (out, sbuf_str (&w));
          i += best;
          done = !all;
          if (too_long (lx, out) < 0)
            return -1;
        }
      else
        sbuf_addc (out, v[i++]);
    }
  return 0;
}

/* After "${": the braced forms. */
static int
lex_braced (lexer *lx, sbuf *out)
{
  int c = peek (lx);
  if (c == -1)
    return lex_fail (lx, "syntax error: missing '}'");
  if (c == '{' || c == '}' || c == ':')
    return lex_fail (lx, "syntax error: bad substitution");
  cleanup_free char *name = read_name (lx);
  c = peek (lx);
  if (c == -1)
    return lex_fail (lx, "syntax error: missing '}'");
  lx->pos++;
  const char *value = get_var (lx, name);
  if (c == '}')
    {
      sbuf_adds (out, value ? value : "");
      return 0;
    }

  bool colon = false;
  int op = c;
  if (c == ':')
    {
      colon = true;
      op = peek (lx);
      if (op == -1)
        return lex_fail (lx, "syntax error: missing '}'");
      lx->pos++;
    }
  bool longest = false;
  if (!colon && (op == '#' || op == '%') && peek (lx) == op)
    {
      longest = true;
      lx->pos++;
    }
  if (!colon && op == '/')
    return lex_replace (lx, out, value);
  if (!strchr ("-+?", op) && (colon || !strchr ("#%", op)))
    return lex_fail (lx, "unsupported modifier (%c) in substitution", op);

  cleanup_sbuf sbuf w = { 0 };
  if (lex_until (lx, '}', &w, NULL) < 0)
    return -1;
  const char *word = sbuf_str (&w);
  bool set = value != NULL, full = value != NULL && *value != '\0';
  switch (op)
    {
    case '-': sbuf_adds (out, (colon ? full : set) ? value : word); return 0;
    case '+': sbuf_adds (out, (colon ? full : set) ? word : ""); return 0;
    case '?':
      if (!set)
        return lex_fail (lx, "%s: %s", name, *word ? word : "is not allowed to be unset");
      if (colon && !full)
        return lex_fail (lx, "%s: %s", name, *word ? word : "is not allowed to be empty");
      sbuf_adds (out, value);
      return 0;
    default:
      {
        cleanup_free char *r = trim_match (value ? value : "", word, op == '%', longest);
        sbuf_adds (out, r);
        return 0;
      }
    }
}

static int
lex_dollar (lexer *lx, sbuf *out)
{
  lx->pos++; /* '$' */
  if (peek (lx) == '{')
    {
      lx->pos++;
      return lex_braced (lx, out);
    }
  cleanup_free char *name = read_name (lx);
  if (*name == '\0')
    {
      sbuf_addc (out, '$');
      return 0;
    }
  const char *value = get_var (lx, name);
  sbuf_adds (out, value ? value : "");
  return 0;
}

/* Lex up to stop (consumed) or the end (stop == -1). */
static int
lex_until (lexer *lx, int stop, sbuf *out, wordlist *words)
{
  for (;;)
    {
      int c = peek (lx);
      if (c == -1)
        break;
      if (stop != -1 && c == stop)
        {
          lx->pos++;
          return 0;
        }
      if (c == '\'' || c == '"' || c == '$')
        {
          cleanup_sbuf sbuf part = { 0 };
          int r = c == '\''  ? lex_single (lx, &part)
                  : c == '"' ? lex_double (lx, &part)
                             : lex_dollar (lx, &part);
          if (r < 0)
            return -1;
          sbuf_add (out, sbuf_str (&part), part.len);
          if (too_long (lx, out) < 0)
            return -1;
          if (c == '$')
            wl_str (words, sbuf_str (&part));
          else
            wl_raw (words, sbuf_str (&part), part.len);
          continue;
        }
      lx->pos++;
      if (c == lx->esc)
        {
          c = peek (lx);
          if (c == -1)
            break; /* a trailing escape is dropped */
          lx->pos++;
          char ch = (char) c;
          sbuf_addc (out, ch);
          wl_raw (words, &ch, 1);
          continue;
        }
      sbuf_addc (out, (char) c);
      wl_char (words, (char) c);
    }
  if (stop != -1)
    return lex_fail (lx, "syntax error: missing '%c'", stop);
  return 0;
}

static int
expand (const char *word, const pier_build_vars *vars, char **out, char ***out_words, pier_error **err)
{
  lexer lx = { 0 };
  cleanup_sbuf sbuf result = { 0 };
  wordlist wl = { 0 };
  if (word == NULL)
    return pier_error_makex (err, EINVAL, "no word to expand");
  lx.s = word;
  lx.len = strlen (word);
  lx.vars = vars;
  lx.esc = vars && vars->escape ? vars->escape : '\\';
  if (lex_until (&lx, -1, &result, out_words ? &wl : NULL) < 0)
    {
      pier_error_makex (err, EINVAL, "cannot expand `%s`: %s", word, lx.msg);
      free (lx.msg);
      sbuf_release (&wl.cur);
      strv_free (wl.v);
      return -1;
    }
  if (out_words)
    {
      wl_end (&wl);
      sbuf_release (&wl.cur);
      *out_words = wl.v ? wl.v : xcalloc (1, sizeof (char *));
    }
  if (out)
    *out = sbuf_steal (&result);
  return 0;
}

int
pier_build_expand (const char *word, const pier_build_vars *vars, char **out, pier_error **err)
{
  return expand (word, vars, out, NULL, err);
}

int
pier_build_expand_words (const char *word, const pier_build_vars *vars, char ***out, pier_error **err)
{
  return expand (word, vars, NULL, out, err);
}

bool
pier_build_instr_expands (pier_df_kind kind)
{
  switch (kind)
    {
    case PIER_DF_ADD:
    case PIER_DF_ARG:
    case PIER_DF_COPY:
    case PIER_DF_ENV:
    case PIER_DF_EXPOSE:
    case PIER_DF_FROM:
    case PIER_DF_LABEL:
    case PIER_DF_STOPSIGNAL:
    case PIER_DF_USER:
    case PIER_DF_VOLUME:
    case PIER_DF_WORKDIR: return true;
    default: return false;
    }
}
