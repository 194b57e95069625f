/* dl.h - shared libraries opened on first use.
 *
 * pier links the libraries every command needs; the big ones that only
 * some commands use (libcurl for registries, libarchive for tar streams)
 * are opened when first needed.  Each costs milliseconds of relocations
 * and megabytes of mapped pages in every process that loads it: every
 * `pier run` and every container's monitor would pay for them.
 *
 * A module lists the functions it calls (X-macro), declares a pointer for
 * each with the header's own type, and maps the names to the pointers
 * with macros, so that its code reads as plain calls.
 */
#ifndef PIER_UTIL_DL_H
#define PIER_UTIL_DL_H

#include <stddef.h>

#include "util/error.h"

typedef struct pier_dl_lib
{
  const char *soname;       /* "libcurl.so.4" */
  const char *package;      /* the Debian package that has it, for errors */
  const char *const *names; /* the functions, n of them */
  void **const *slots;      /* where each one's address goes */
  size_t n;
} pier_dl_lib;

/* Open lib and resolve all its names, once per process (thread safe).
 * A missing library or function is an error naming it. */
int pier_dl_open (const pier_dl_lib *lib, int *state, pier_error **err);

#endif
