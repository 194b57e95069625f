/* profile.h - the security defaults the engine writes into the OCI config
 * of a container it creates, as docker does: the capability set after
 * --cap-add/--cap-drop/--privileged, and the linux.seccomp object from
 * docker's default seccomp profile or from a docker-format profile file
 * (--security-opt seccomp=<file>).
 *
 * Docker evaluates a seccomp profile for one container: a rule's
 * "includes"/"excludes" name capabilities (matched against the container's
 * bounding set), architectures (matched against the engine's own build
 * architecture, in Go's names: amd64, x86, arm64, arm, s390x ...) and a
 * minimum kernel (matched against the running kernel).  The functions here
 * do the same and return a plain OCI linux.seccomp object, which
 * runtime/seccomp.c compiles.
 *
 * Everything here is pure computation on the calling thread's data (plus
 * uname(2) for minKernel): thread-safe.
 */
#ifndef PIER_ENGINE_PROFILE_H
#define PIER_ENGINE_PROFILE_H

#include <stdbool.h>

#include <jansson.h>

#include "util/error.h"

/* Docker's default capability set, as a new JSON array of "CAP_X" names. */
json_t *pier_profile_default_caps (void);

/* The capability set of a container, by docker's rules:
 *   - privileged: every capability this kernel knows (add/drop ignored);
 *   - names are case-insensitive, with or without the CAP_ prefix; "ALL"
 *     stands for every capability;
 *   - add ALL: every capability but those dropped;
 *   - else drop ALL: exactly those added;
 *   - else the default set minus those dropped, plus those added.
 * add and drop may be NULL.  *out is a new NULL-terminated vector of
 * "CAP_X" names without duplicates (strv_free it).  An unknown name, or
 * one this kernel lacks, is an error that names it. */
int pier_profile_caps (char *const *add, char *const *drop, bool privileged, char ***out, pier_error **err);

/* Docker's default seccomp profile evaluated for a container whose
 * bounding set is caps (NULL-terminated "CAP_X" names; NULL = none): a
 * new OCI linux.seccomp object.  Syscall names the installed libseccomp
 * does not know stay in the object; the loader skips them (see
 * profile.c).  Never returns NULL: a container must not lose its filter
 * by accident, so the impossible failures (pier's own table broken,
 * uname(2) failing) abort. */
json_t *pier_profile_seccomp (char *const *caps);

/* Read the docker-format seccomp profile at path and evaluate it for caps
 * as above.  The result is checked by compiling it (not loading it), so a
 * profile the runtime would refuse is refused here, naming the file.  A
 * profile with neither defaultAction nor syscalls means "no seccomp", as
 * in docker: *out is then NULL and 0 is returned. */
int pier_profile_seccomp_file (const char *path, char *const *caps, json_t **out, pier_error **err);

/* The same for a profile already parsed; what names it in errors. */
int pier_profile_seccomp_convert (json_t *profile, const char *what, char *const *caps, json_t **out,
                                  pier_error **err);

#endif
