/* state.h - a container's runtime state under <root>/<id>/.
 *
 * state.json records what the OCI `state` operation reports plus what
 * later operations need (the init's start time against pid reuse, the
 * cgroup, the config as it was at create).  exec.fifo exists while the
 * container is "created": `start` reads it to release the init.
 */
#ifndef PIER_RUNTIME_STATE_H
#define PIER_RUNTIME_STATE_H

#include <stdbool.h>
#include <sys/types.h>

#include <jansson.h>

#include "util/error.h"

typedef struct pier_state
{
  char *id;
  pid_t pid;
  unsigned long long start_time; /* /proc/PID/stat field 22 */
  char *bundle;
  char *rootfs;
  char *created; /* RFC 3339 */
  char *owner;
  char *cgroup_path;
  json_t *annotations;
  json_t *config; /* the config.json used at create */
  bool rootless;
} pier_state;

/* Ids are what runc accepts: [A-Za-z0-9_+.-], not "." or "..". */
int pier_state_check_id (const char *id, pier_error **err);

/* Create <root> (0700, if missing) and <root>/<id> (must not exist). */
int pier_state_dir_create (const char *root, const char *id, int *dirfd, pier_error **err);
int pier_state_save (const char *root, const pier_state *st, pier_error **err);
/* ENOENT error ("container `x` does not exist") when missing. */
int pier_state_load (const char *root, const char *id, pier_state **out, pier_error **err);
void pier_state_free (pier_state *st);
int pier_state_remove (const char *root, const char *id, pier_error **err);

/* "created", "running", "paused" or "stopped". */
const char *pier_state_status (const char *root, const pier_state *st);

/* The spec's state JSON (ociVersion, id, status, pid, bundle, annotations)
 * plus runc's rootfs, created and owner. */
json_t *pier_state_to_json (const pier_state *st, const char *status);

/* Start time of a process (0 when it does not exist or is a zombie). */
unsigned long long pier_proc_start_time (pid_t pid);

/* List container ids under root (sorted). */
int pier_state_list (const char *root, char ***ids, pier_error **err);

#endif
