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

#include "util/sbuf.h"

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
void tpl_print_value (sbuf *b, json_t *v);
bool tpl_truth (json_t *v);
const char *tpl_type_name (const json_t *v);
/* An object's keys, sorted as Go sorts map keys; free the array only. */
const char **tpl_sorted_keys (json_t *o, size_t *n);

#endif
