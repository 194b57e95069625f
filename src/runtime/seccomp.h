/* seccomp.h - linux.seccomp to a libseccomp filter.
 *
 * The filter is compiled in the runtime's process before the container is
 * made (so a bad profile is an error that leaves nothing behind) and
 * loaded by the container process just before exec.
 */
#ifndef PIER_RUNTIME_SECCOMP_H
#define PIER_RUNTIME_SECCOMP_H

#include <jansson.h>

#include "util/error.h"

typedef struct pier_seccomp pier_seccomp;

int pier_seccomp_compile (json_t *obj, pier_seccomp **out, pier_error **err);
/* The same, through a cache of compiled programs in cache_dir (made when
 * missing; NULL: no cache): a profile compiled before is read back as a
 * BPF program instead of being compiled again.  Profiles with a listener
 * are never cached.  The cache is best effort: a cache that cannot be
 * read or written only costs the compilation. */
int pier_seccomp_compile_cached (json_t *obj, const char *cache_dir, pier_seccomp **out, pier_error **err);
/* Load into the calling thread; with a listener, the notify fd is
 * returned in *notify_fd (else -1). */
int pier_seccomp_load (pier_seccomp *s, int *notify_fd, pier_error **err);
/* The listenerPath / listenerMetadata of the profile, or NULL. */
const char *pier_seccomp_listener (const pier_seccomp *s);
const char *pier_seccomp_listener_metadata (const pier_seccomp *s);
void pier_seccomp_free (pier_seccomp *s);

/* For `features`. */
json_t *pier_seccomp_features (void);

#endif
