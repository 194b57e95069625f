/* sbuf.h - a growable byte string.
 *
 * Invariant: s is NULL (nothing added yet) or NUL-terminated at len.
 * sbuf_steal() hands the string over (never NULL) and empties the buffer.
 */
#ifndef PIER_UTIL_SBUF_H
#define PIER_UTIL_SBUF_H

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/xalloc.h"

typedef struct sbuf
{
  char *s;
  size_t len, cap;
} sbuf;

static inline void
sbuf_add (sbuf *b, const char *p, size_t n)
{
  if (b->len + n + 1 > b->cap)
    {
      size_t cap = b->cap ? b->cap : 32;
      while (cap < b->len + n + 1)
        cap *= 2;
      b->s = xrealloc (b->s, cap);
      b->cap = cap;
    }
  if (n)
    memcpy (b->s + b->len, p, n);
  b->len += n;
  b->s[b->len] = '\0';
}

static inline void
sbuf_addc (sbuf *b, char c)
{
  sbuf_add (b, &c, 1);
}

static inline void
sbuf_adds (sbuf *b, const char *s)
{
  sbuf_add (b, s, strlen (s));
}

static inline void __attribute__ ((format (printf, 2, 3))) sbuf_printf (sbuf *b, const char *fmt, ...)
{
  va_list ap;
  va_start (ap, fmt);
  char *s = NULL;
  int n = vasprintf (&s, fmt, ap);
  va_end (ap);
  if (n < 0)
    abort ();
  sbuf_add (b, s, (size_t) n);
  free (s);
}

static inline const char *
sbuf_str (const sbuf *b)
{
  return b->s ? b->s : "";
}

static inline char *
sbuf_steal (sbuf *b)
{
  char *s = b->s ? b->s : xstrdup ("");
  b->s = NULL;
  b->len = b->cap = 0;
  return s;
}

static inline void
sbuf_reset (sbuf *b)
{
  b->len = 0;
  if (b->s)
    b->s[0] = '\0';
}

static inline void
sbuf_release (sbuf *b)
{
  free (b->s);
  b->s = NULL;
  b->len = b->cap = 0;
}

#define cleanup_sbuf __attribute__ ((cleanup (sbuf_release)))

/* Make room for one more element in an array of n elements. */
static inline void *
array_grow (void *p, size_t *cap, size_t n, size_t size)
{
  if (n < *cap)
    return p;
  *cap = *cap ? *cap * 2 : 4;
  return xrealloc (p, *cap * size);
}

#endif
