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

/* In a module's header, after the library's own headers: a pointer for
 * each function FUNCS (an X-macro) lists, typed as the header declares it. */
#define PIER_DL_DECLARE_ONE(f) extern __typeof__ (f) *pier_dl_##f;
#define PIER_DL_DECLARE(FUNCS) FUNCS (PIER_DL_DECLARE_ONE)

/* In the module's .c: the pointers, and open_fn (pier_error **) that
 * opens soname (from Debian's package) once and fills them. */
#define PIER_DL_DEFINE_ONE(f) __typeof__ (f) *pier_dl_##f;
#define PIER_DL_NAME_ONE(f) #f,
#define PIER_DL_SLOT_ONE(f) (void **) &pier_dl_##f,
#define PIER_DL_DEFINE(FUNCS, open_fn, soname, package)                                                      \
  FUNCS (PIER_DL_DEFINE_ONE)                                                                                 \
  int open_fn (pier_error **err)                                                                             \
  {                                                                                                          \
    static const char *const names[] = { FUNCS (PIER_DL_NAME_ONE) };                                         \
    static void **const slots[] = { FUNCS (PIER_DL_SLOT_ONE) };                                              \
    static const pier_dl_lib lib = { soname, package, names, slots, sizeof names / sizeof names[0] };        \
    static int state;                                                                                        \
    return pier_dl_open (&lib, &state, err);                                                                 \
  }

#endif
