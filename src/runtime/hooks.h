/* hooks.h - run OCI hooks: the state JSON on stdin, args and env as
 * given, killed after their timeout. */
#ifndef PIER_RUNTIME_HOOKS_H
#define PIER_RUNTIME_HOOKS_H

#include <stddef.h>

#include "runtime/spec.h"
#include "util/error.h"

/* Run hooks in order; stop at the first failure. */
int pier_hooks_run (const pier_hook *hooks, size_t n, const char *kind, const char *state_json,
                    pier_error **err);

/* Run every hook even when some fail; each failure is logged as a
 * warning (poststart and poststop, as the spec requires). */
void pier_hooks_run_all (const pier_hook *hooks, size_t n, const char *kind, const char *state_json);

#endif
