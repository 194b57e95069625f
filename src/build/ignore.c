/* ignore.c - .dockerignore patterns (see ignore.h).
 *
 * moby's patternmatcher sorts patterns into four kinds and pier keeps the
 * distinction, because it shows in results: a pattern with no wildcard is
 * compared as a plain string (a '\' in it is literal); one that is only a
 * prefix and a trailing "**" is a string-prefix test ("a**" takes "ab/c");
 * one that is a leading "**" and a plain rest is a string-suffix test
 * ("**.go" takes "x/main.go" but "**" "/" ".go" would not); everything
 * else is a glob, matched here by a small backtracking matcher over
 * compiled tokens instead of moby's regular expressions.
 */
#include "build/ignore.h"

#include <ctype.h>
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "util/sbuf.h"
#include "util/cleanup.h"
#include "util/xalloc.h"

#include "util/banned.h"

typedef enum tok_kind
{
  T_LIT,       /* one byte */
  T_ONE,       /* '?': one character, not '/' */
  T_STAR,      /* '*': any run without '/' */
  T_CLASS,     /* "[...]" */
  T_DSTAR,     /* "**" or "**" "/" inside: nothing, or anything ending in '/' */
  T_DSTAR_END, /* "**" at the end: anything */
} tok_kind;

typedef struct tok
{
  tok_kind kind;
  char c;
  bool neg;
  uint32_t *ranges; /* lo, hi pairs */
  size_t n_ranges;
} tok;

typedef enum match_kind
{
  M_EXACT,
  M_PREFIX,
  M_SUFFIX,
  M_GLOB,
} match_kind;

typedef struct pattern
{
  char *text;        /* as listed: "!" in front of an exception */
  const char *clean; /* text without the "!" */
  bool exception;
  match_kind kind;
  tok *toks;
  size_t n_toks;
} pattern;

struct pier_ignore
{
  pattern *pats;
  size_t n, cap;
  bool exceptions;
};

/* ---------------------------------------------------------------------- */

char *
pier_ignore_clean_path (const char *path)
{
  size_t n = path ? strlen (path) : 0;
  if (n == 0)
    return xstrdup (".");
  bool rooted = path[0] == '/';
  /* Components kept so far, as offsets into out. */
  cleanup_sbuf sbuf out = { 0 };
  size_t *starts = xcalloc (n + 1, sizeof *starts), depth = 0, dotdots = 0;
  for (size_t i = 0; i < n;)
    {
      while (i < n && path[i] == '/')
        i++;
      size_t s = i;
      while (i < n && path[i] != '/')
        i++;
      size_t len = i - s;
      if (len == 0 || (len == 1 && path[s] == '.'))
        continue;
      if (len == 2 && path[s] == '.' && path[s + 1] == '.')
        {
          if (depth > dotdots)
            {
              depth--;
              out.len = starts[depth] > 0 ? starts[depth] - 1 : 0;
              out.s[out.len] = '\0';
              continue;
            }
          if (rooted)
            continue;
          dotdots++;
        }
      if (out.len > 0)
        sbuf_addc (&out, '/');
      starts[depth++] = out.len;
      sbuf_add (&out, path + s, len);
    }
  free (starts);
  if (rooted)
    {
      cleanup_free char *rel = sbuf_steal (&out);
      return xasprintf ("/%s", rel);
    }
  if (out.len == 0)
    return xstrdup (".");
  return sbuf_steal (&out);
}

static size_t
utf8_decode (const char *s, uint32_t *cp)
{
  const unsigned char *u = (const unsigned char *) s;
  size_t len = u[0] < 0x80 ? 1 : (u[0] >> 5) == 6 ? 2 : (u[0] >> 4) == 14 ? 3 : (u[0] >> 3) == 30 ? 4 : 1;
  uint32_t v = len == 1 ? u[0] : len == 2 ? u[0] & 0x1f : len == 3 ? u[0] & 0x0f : u[0] & 0x07;
  for (size_t k = 1; k < len; k++)
    {
      if ((u[k] & 0xc0) != 0x80)
        {
          *cp = u[0];
          return 1;
        }
      v = (v << 6) | (u[k] & 0x3f);
    }
  *cp = v;
  return len;
}

/* One class member, as Go's filepath.Match reads it: '-' and ']' may not
 * start one, '\' escapes, and something must follow. */
static bool
class_char (const char **p, uint32_t *cp)
{
  const char *s = *p;
  if (*s == '\0' || *s == '-' || *s == ']')
    return false;
  if (*s == '\\')
    {
      s++;
      if (*s == '\0')
        return false;
    }
  s += utf8_decode (s, cp);
  if (*s == '\0')
    return false;
  *p = s;
  return true;
}

static void
tok_push (pattern *p, size_t *cap, tok t)
{
  p->toks = array_grow (p->toks, cap, p->n_toks, sizeof *p->toks);
  p->toks[p->n_toks++] = t;
}

/* Compile p->clean; -1 when it is malformed. */
static int
compile (pattern *p)
{
  const char *s = p->clean;
  size_t cap = 0;
  p->kind = M_EXACT;
  for (int iter = 0; *s; iter++)
    {
      char c = *s++;
      tok t = { 0 };
      switch (c)
        {
        case '*':
          if (*s != '*')
            {
              t.kind = T_STAR;
              tok_push (p, &cap, t);
              p->kind = M_GLOB;
              break;
            }
          s++;
          if (*s == '/')
            s++;
          if (*s == '\0')
            {
              if (p->kind == M_EXACT)
                p->kind = M_PREFIX;
              else
                {
                  t.kind = T_DSTAR_END;
                  tok_push (p, &cap, t);
                  p->kind = M_GLOB;
                }
            }
          else
            {
              t.kind = T_DSTAR;
              tok_push (p, &cap, t);
              p->kind = M_GLOB;
            }
          if (iter == 0)
            p->kind = M_SUFFIX;
          break;
        case '?':
          t.kind = T_ONE;
          tok_push (p, &cap, t);
          p->kind = M_GLOB;
          break;
        case '\\':
          if (*s == '\0')
            return -1;
          t.kind = T_LIT;
          t.c = *s++;
          tok_push (p, &cap, t);
          break;
        case '[':
          {
            size_t rcap = 0;
            t.kind = T_CLASS;
            if (*s == '^')
              {
                t.neg = true;
                s++;
              }
            for (;;)
              {
                uint32_t lo, hi;
                if (*s == ']' && t.n_ranges > 0)
                  {
                    s++;
                    break;
                  }
                if (!class_char (&s, &lo))
                  {
                    free (t.ranges);
                    return -1;
                  }
                hi = lo;
                if (*s == '-')
                  {
                    s++;
                    if (!class_char (&s, &hi) || hi < lo)
                      {
                        free (t.ranges);
                        return -1;
                      }
                  }
                t.ranges = array_grow (t.ranges, &rcap, t.n_ranges, 2 * sizeof *t.ranges);
                t.ranges[2 * t.n_ranges] = lo;
                t.ranges[2 * t.n_ranges + 1] = hi;
                t.n_ranges++;
              }
            tok_push (p, &cap, t);
            p->kind = M_GLOB;
            break;
          }
        case ']':
          t.kind = T_LIT;
          t.c = c;
          tok_push (p, &cap, t);
          p->kind = M_GLOB;
          break;
        default:
          t.kind = T_LIT;
          t.c = c;
          tok_push (p, &cap, t);
        }
    }
  return 0;
}

/* Match tokens against s.  Whole mode: the tokens must take all of s, or a
 * leading part ending just before a '/' (the pattern names a directory
 * above s).  Partial mode (s is "dir/"): true also when s runs out first,
 * since a longer path beneath dir might then match. */
/* The (token, position) pairs known not to match: with several stars,
 * plain backtracking takes time exponential in their number
 * ("*a*a*a*a*b" against "aaaa...a"); remembering the failures bounds it
 * by tokens x positions. */
typedef struct glob_memo
{
  const tok *t0;
  const char *s0;
  size_t len;
  unsigned char *failed; /* bit (token index * (len + 1) + offset) */
} glob_memo;

static bool glob_at (glob_memo *m, const tok *t, size_t nt, const char *s, bool partial);

static bool
glob_try (glob_memo *m, const tok *t, size_t nt, const char *s, bool partial)
{
  size_t bit = (size_t) (t - m->t0) * (m->len + 1) + (size_t) (s - m->s0);
  if (m->failed[bit / 8] & (1u << (bit % 8)))
    return false;
  if (glob_at (m, t, nt, s, partial))
    return true;
  m->failed[bit / 8] |= (unsigned char) (1u << (bit % 8));
  return false;
}

static bool
glob_at (glob_memo *m, const tok *t, size_t nt, const char *s, bool partial)
{
  for (;; t++, nt--)
    {
      if (partial && *s == '\0')
        return true;
      if (nt == 0)
        return *s == '\0' || *s == '/';
      uint32_t cp;
      switch (t->kind)
        {
        case T_LIT:
          if (*s != t->c)
            return false;
          s++;
          break;
        case T_ONE:
          if (*s == '\0' || *s == '/')
            return false;
          s += utf8_decode (s, &cp);
          break;
        case T_CLASS:
          {
            if (*s == '\0')
              return false;
            size_t len = utf8_decode (s, &cp);
            bool in = false;
            for (size_t k = 0; k < t->n_ranges; k++)
              in |= t->ranges[2 * k] <= cp && cp <= t->ranges[2 * k + 1];
            if (in == t->neg)
              return false;
            s += len;
            break;
          }
        case T_STAR:
          for (const char *q = s;; q++)
            {
              if (glob_try (m, t + 1, nt - 1, q, partial))
                return true;
              if (*q == '\0' || *q == '/')
                return false;
            }
        case T_DSTAR:
          if (partial || glob_try (m, t + 1, nt - 1, s, partial))
            return true;
          for (const char *q = s; *q; q++)
            if (*q == '/' && glob_try (m, t + 1, nt - 1, q + 1, partial))
              return true;
          return false;
        case T_DSTAR_END: return true;
        }
    }
}

static bool
glob (const tok *t, size_t nt, const char *s, bool partial)
{
  size_t len = strlen (s);
  size_t bits = (nt + 1) * (len + 1);
  glob_memo m = { .t0 = t, .s0 = s, .len = len, .failed = xcalloc (bits / 8 + 1, 1) };
  bool r = glob_at (&m, t, nt, s, partial);
  free (m.failed);
  return r;
}

static bool
has_suffix (const char *s, const char *suffix)
{
  size_t n = strlen (s), m = strlen (suffix);
  return m <= n && memcmp (s + n - m, suffix, m) == 0;
}

static bool
pattern_match (const pattern *p, const char *path)
{
  switch (p->kind)
    {
    case M_EXACT: return strcmp (path, p->clean) == 0;
    case M_PREFIX: return strncmp (path, p->clean, strlen (p->clean) - 2) == 0;
    case M_SUFFIX:
      {
        const char *suffix = p->clean + 2;
        return has_suffix (path, suffix) || (suffix[0] == '/' && strcmp (path, suffix + 1) == 0);
      }
    case M_GLOB: return glob (p->toks, p->n_toks, path, false);
    }
  return false;
}

/* The path as patterns see it: cleaned, no leading "/". */
static char *
normalize (const char *path)
{
  char *c = pier_ignore_clean_path (path);
  if (c[0] == '/')
    {
      char *r = xstrdup (c[1] ? c + 1 : ".");
      free (c);
      return r;
    }
  return c;
}

bool
pier_ignore_excluded (const pier_ignore *ig, const char *path)
{
  if (ig == NULL || path == NULL)
    return false;
  cleanup_free char *p = normalize (path);
  bool matched = false;
  for (size_t k = 0; k < ig->n; k++)
    {
      const pattern *pat = &ig->pats[k];
      /* An exclusion cannot change an excluded path, nor an exception an
       * included one. */
      if (pat->exception != matched)
        continue;
      bool m = pattern_match (pat, p);
      /* Or a parent directory matches. */
      for (char *slash = strchr (p, '/'); !m && slash; slash = strchr (slash + 1, '/'))
        {
          *slash = '\0';
          m = pattern_match (pat, p);
          *slash = '/';
        }
      if (m)
        matched = !pat->exception;
    }
  return matched;
}

bool
pier_ignore_may_reinclude (const pier_ignore *ig, const char *dir)
{
  if (ig == NULL || !ig->exceptions || dir == NULL)
    return false;
  cleanup_free char *d = normalize (dir);
  cleanup_free char *dslash = xasprintf ("%s/", d);
  size_t dl = strlen (dslash);
  for (size_t k = 0; k < ig->n; k++)
    {
      const pattern *pat = &ig->pats[k];
      if (!pat->exception)
        continue;
      switch (pat->kind)
        {
        case M_EXACT:
          if (strcmp (pat->clean, d) == 0 || strncmp (pat->clean, dslash, dl) == 0)
            return true;
          break;
        case M_PREFIX:
          {
            size_t pl = strlen (pat->clean) - 2;
            if (strncmp (pat->clean, dslash, pl < dl ? pl : dl) == 0)
              return true;
            break;
          }
        case M_SUFFIX: return true;
        case M_GLOB:
          if (glob (pat->toks, pat->n_toks, dslash, true))
            return true;
          break;
        }
    }
  return false;
}

/* ---------------------------------------------------------------------- */

static void
pattern_release (pattern *p)
{
  for (size_t k = 0; k < p->n_toks; k++)
    free (p->toks[k].ranges);
  free (p->toks);
  free (p->text);
}

void
pier_ignore_free (pier_ignore *ig)
{
  if (ig == NULL)
    return;
  for (size_t k = 0; k < ig->n; k++)
    pattern_release (&ig->pats[k]);
  free (ig->pats);
  free (ig);
}

static char *
trim (const char *s, size_t n)
{
  while (n > 0 && isspace ((unsigned char) *s))
    s++, n--;
  while (n > 0 && isspace ((unsigned char) s[n - 1]))
    n--;
  return xstrndup (s, n);
}

/* Clean one listed pattern as docker's ignorefile reader does.  Returns
 * NULL for a blank. */
static char *
clean_listed (const char *line, size_t n)
{
  cleanup_free char *p = trim (line, n);
  if (*p == '\0')
    return NULL;
  bool invert = p[0] == '!';
  cleanup_free char *body = invert ? trim (p + 1, strlen (p + 1)) : xstrdup (p);
  if (*body)
    {
      char *c = pier_ignore_clean_path (body);
      free (body);
      body = c;
      if (body[0] == '/' && body[1])
        {
          c = xstrdup (body + 1);
          free (body);
          body = c;
        }
    }
  return xasprintf ("%s%s", invert ? "!" : "", body);
}

/* Add a cleaned pattern; -1 with a message (no location) when bad. */
static int
add_pattern (pier_ignore *ig, char *text, pier_error **err)
{
  pattern p = { 0 };
  p.text = text;
  p.exception = text[0] == '!';
  p.clean = text + (p.exception ? 1 : 0);
  if (p.exception && *p.clean == '\0')
    {
      free (text);
      return pier_error_makex (err, EINVAL, "illegal exclusion pattern: `!`");
    }
  if (compile (&p) < 0)
    {
      pier_error_makex (err, EINVAL, "syntax error in pattern `%s`", text);
      pattern_release (&p);
      return -1;
    }
  ig->pats = array_grow (ig->pats, &ig->cap, ig->n, sizeof *ig->pats);
  ig->pats[ig->n++] = p;
  ig->exceptions |= p.exception;
  return 0;
}

int
pier_ignore_new (const char *const *patterns, size_t n, pier_ignore **out, pier_error **err)
{
  cleanup_ignore pier_ignore *ig = xzalloc (sizeof *ig);
  for (size_t k = 0; k < n; k++)
    {
      if (patterns[k] == NULL)
        continue;
      char *c = clean_listed (patterns[k], strlen (patterns[k]));
      if (c && add_pattern (ig, c, err) < 0)
        return -1;
    }
  *out = steal_pointer (&ig);
  return 0;
}

int
pier_ignore_parse (const char *buf, size_t len, const char *filename, pier_ignore **out, pier_error **err)
{
  cleanup_ignore pier_ignore *ig = xzalloc (sizeof *ig);
  const char *file = filename ? filename : ".dockerignore";
  if (buf == NULL)
    len = 0;
  if (len >= 3 && memcmp (buf, "\xef\xbb\xbf", 3) == 0)
    buf += 3, len -= 3;
  int lineno = 0;
  for (size_t i = 0; i < len;)
    {
      const char *nl = memchr (buf + i, '\n', len - i);
      size_t end = nl ? (size_t) (nl - buf) : len;
      const char *line = buf + i;
      size_t n = end - i;
      i = end + 1;
      lineno++;
      if (n > 0 && line[0] == '#')
        continue;
      if (memchr (line, '\0', n))
        return pier_error_makex (err, EINVAL, "%s:%d: the line holds a NUL byte", file, lineno);
      char *c = clean_listed (line, n);
      if (c && add_pattern (ig, c, err) < 0)
        return pier_error_wrap (err, "%s:%d", file, lineno);
    }
  *out = steal_pointer (&ig);
  return 0;
}

bool
pier_ignore_has_exceptions (const pier_ignore *ig)
{
  return ig && ig->exceptions;
}

size_t
pier_ignore_count (const pier_ignore *ig)
{
  return ig ? ig->n : 0;
}

const char *
pier_ignore_pattern (const pier_ignore *ig, size_t i)
{
  return ig && i < ig->n ? ig->pats[i].text : NULL;
}
