/* volumes_int.h - what volumes.c, mounts.c and copyup.c share (engine
 * only). */
#ifndef PIER_ENGINE_VOLUMES_INT_H
#define PIER_ENGINE_VOLUMES_INT_H

#include <stdbool.h>

#include <jansson.h>

#include "store/db.h"
#include "store/db_volumes.h"
#include "util/error.h"

/* The local driver's options, parsed. */
typedef struct pier_volopts
{
  const char *type, *device; /* NULL when the volume has no options */
  unsigned long flags;       /* MS_* from o= */
  char *data;                /* the rest of o= (file system options) */
  bool bind;                 /* type=none with o=bind|rbind: device is the data */
  bool recursive;            /* rbind */
  bool ro;
} pier_volopts;

/* Parse and check options (a JSON object of strings, or NULL/null).
 * o->type/device point into opts. */
int pier_volopts_parse (json_t *opts, pier_volopts *o, pier_error **err);
void pier_volopts_clear (pier_volopts *o);

/* <root>/volumes/<name> and its _data. Caller frees. */
char *pier_volume_dir (const char *root, const char *name);
char *pier_volume_data (const char *root, const char *name);

/* The volume name, made when absent (labels and opts as for
 * pier_engine_volume_create; anonymous marks one made for a container).
 * *created tells whether this call made it; *out (may be NULL) gets the
 * record. */
int pier_volume_ensure (const char *root, pier_db *db, const char *name, json_t *labels, json_t *opts,
                        bool anonymous, bool *created, pier_db_volume **out, pier_error **err);

/* Remove a volume no container uses (EBUSY with docker's message
 * otherwise): record, then mount and directory. */
int pier_volume_remove (const char *root, pier_db *db, const char *name, pier_error **err);

/* Names of volumes -> array of the ids of the containers whose
 * MountPoints use them. */
int pier_volume_usage (pier_db *db, json_t **out, pier_error **err);

/* A random 64-hex name. Caller frees. */
char *pier_volume_random_name (void);

/* Copy the tree under src (a directory fd) into the empty directory dst:
 * contents with their owners, modes, times, extended attributes, symlinks,
 * hard links and special files; then dst takes src's owner and mode. */
int pier_copy_up (int src, int dst, pier_error **err);

#endif
