/* xalloc.h - allocation that aborts on failure (out of memory is not an
 * error pier can report usefully). */
#ifndef PIER_UTIL_XALLOC_H
#define PIER_UTIL_XALLOC_H

#include <stddef.h>

void *xmalloc (size_t n);
void *xzalloc (size_t n);
void *xcalloc (size_t n, size_t size);
void *xrealloc (void *p, size_t n);
char *xstrdup (const char *s);
char *xstrndup (const char *s, size_t n);
char *xasprintf (const char *fmt, ...) __attribute__ ((format (printf, 1, 2)));

/* NULL-terminated string vectors. */
char **strv_dup (char *const *v);
size_t strv_len (char *const *v);
void strv_free (char **v);
/* Append a copy of s; *v may be NULL. */
void strv_push (char ***v, const char *s);

#endif
