/* template_int.h - what util/template.c (the language) and
 * util/template_funcs.c (values and functions) share; private to them. */
#ifndef PIER_UTIL_TEMPLATE_INT_H
#define PIER_UTIL_TEMPLATE_INT_H

#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "util/xalloc.h"

/* ------------------------------------------------------------ buffers */

typedef struct buf
{
  char *s;
  size_t len, cap;
} buf;

static inline void
buf_add (buf *b, const char *p, size_t n)
{
  if (b->len + n + 1 > b->cap)
    {
      size_t cap = b->cap ? b->cap : 64;
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
buf_adds (buf *b, const char *s)
{
  buf_add (b, s, strlen (s));
}

static inline void
buf_addc (buf *b, char c)
{
  buf_add (b, &c, 1);
}

static inline void __attribute__ ((format (printf, 2, 3))) buf_printf (buf *b, const char *fmt, ...)
{
  va_list ap;
  va_start (ap, fmt);
  char *s = NULL;
  int n = vasprintf (&s, fmt, ap);
  va_end (ap);
  if (n < 0)
    abort ();
  buf_add (b, s, (size_t) n);
  free (s);
}

static inline char *
buf_steal (buf *b)
{
  char *s = b->s ? b->s : xstrdup ("");
  b->s = NULL;
  b->len = b->cap = 0;
  return s;
}

struct exec;

/* A function gets its arguments (references it may not keep; a missing
 * value is a JSON null, as Go passes a nil interface) and sets *out (a
 * new reference), or returns -1 with *msg. */
typedef int (*func_fn) (struct exec *x, json_t **args, size_t n, json_t **out, char **msg);

struct func
{
  const char *name;
  func_fn fn;
  int min, max; /* max -1: variadic */
  bool header;  /* a docker function: gives its first argument in header mode */
};

/* The function named name, or NULL. */
const struct func *tpl_find_func (const char *name);
bool tpl_builtin_exists (const char *name);

/* Go's fmt %v of v (NULL: "<no value>"), truth, type names, map keys. */
void tpl_print_value (buf *b, json_t *v);
bool tpl_truth (json_t *v);
const char *tpl_type_name (const json_t *v);
/* An object's keys, sorted as Go sorts map keys; free the array only. */
const char **tpl_sorted_keys (json_t *o, size_t *n);

#endif
