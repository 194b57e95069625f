/* cleanup.h - scope-bound cleanup (GCC/Clang cleanup attribute).
 *
 * Every cleanup function accepts NULL / -1 and is safe to run twice.
 * Hand ownership over with steal_pointer() / move_fd().
 */
#ifndef PIER_UTIL_CLEANUP_H
#define PIER_UTIL_CLEANUP_H

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

static inline void
cleanup_freep (void *p)
{
  void **pp = (void **) p;
  free (*pp);
  *pp = NULL;
}

static inline void
cleanup_closep (int *fd)
{
  if (*fd >= 0)
    {
      int saved = errno;
      close (*fd);
      errno = saved;
    }
  *fd = -1;
}

static inline void
cleanup_fclosep (FILE **f)
{
  if (*f)
    fclose (*f);
  *f = NULL;
}

static inline void
cleanup_closedirp (DIR **d)
{
  if (*d)
    closedir (*d);
  *d = NULL;
}

void strv_free (char **v);
static inline void
cleanup_strvp (char ***v)
{
  strv_free (*v);
  *v = NULL;
}

#define cleanup_free __attribute__ ((cleanup (cleanup_freep)))
#define cleanup_close __attribute__ ((cleanup (cleanup_closep)))
#define cleanup_fclose __attribute__ ((cleanup (cleanup_fclosep)))
#define cleanup_dir __attribute__ ((cleanup (cleanup_closedirp)))
#define cleanup_strv __attribute__ ((cleanup (cleanup_strvp)))

static inline void *
steal_ptr (void **pp)
{
  void *p = *pp;
  *pp = NULL;
  return p;
}
#define steal_pointer(pp) ((__typeof__ (*(pp))) steal_ptr ((void **) (pp)))

static inline int
move_fd (int *fd)
{
  int r = *fd;
  *fd = -1;
  return r;
}

#define TEMP_FAILURE_RETRY_INT(expr)                                                                         \
  ({                                                                                                         \
    long _r;                                                                                                 \
    do                                                                                                       \
      _r = (long) (expr);                                                                                    \
    while (_r == -1 && errno == EINTR);                                                                      \
    _r;                                                                                                      \
  })

#endif
