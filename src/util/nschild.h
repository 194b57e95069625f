/* nschild.h - a short-lived child that enters namespaces and waits, so
 * that its parent can open them (/proc/<pid>/ns/...) or write its id maps
 * while they exist: how a process makes a namespace without entering it. */
#ifndef PIER_UTIL_NSCHILD_H
#define PIER_UTIL_NSCHILD_H

#include <sys/types.h>

#include "util/error.h"

typedef struct pier_nschild
{
  pid_t pid;
  int hold; /* closing it lets the child go */
} pier_nschild;

/* Fork a child that runs enter(ctx) (0 on success) and then waits for
 * pier_nschild_end.  -1 with *err ("cannot create <what>") when the fork
 * or enter failed; the child is gone then. */
int pier_nschild_start (pier_nschild *c, int (*enter) (void *ctx), void *ctx, const char *what,
                        pier_error **err);
/* An fd of the child's namespace ns ("user", "net", ...); -1 with *err. */
int pier_nschild_open (const pier_nschild *c, const char *ns, pier_error **err);
/* Let the child go and reap it. */
void pier_nschild_end (pier_nschild *c);

#endif
