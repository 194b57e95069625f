/* db_volumes.h - the volumes table of the metadata database.
 *
 * A volume record names a directory <root>/volumes/<name>/ (its data in
 * _data/); the engine (engine/volumes.h) owns what labels and options
 * mean.  Both are JSON text kept whole ("null" when the volume has none).
 * The record is written only after the directory exists.
 *
 * Errors as db.h: ENOENT "no such volume", EEXIST when the name is taken.
 */
#ifndef PIER_STORE_DB_VOLUMES_H
#define PIER_STORE_DB_VOLUMES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "store/db.h"
#include "util/error.h"

typedef struct pier_db_volume
{
  char *name;
  char *driver;    /* "local" */
  int64_t created; /* unix nanoseconds */
  bool anonymous;  /* made for a container's anonymous mount */
  char *labels;    /* JSON object or "null" */
  char *options;   /* JSON object or "null" (the driver's options) */
} pier_db_volume;

void pier_db_volume_free (pier_db_volume *v);
void pier_db_volumes_free (pier_db_volume *vs, size_t n);

/* Insert a new volume; EEXIST when the name is taken. */
int pier_db_volume_add (pier_db *db, const pier_db_volume *v, pier_error **err);
/* Look one up by its exact name; *out is the caller's. */
int pier_db_volume_get (pier_db *db, const char *name, pier_db_volume **out, pier_error **err);
/* Every volume, by name. */
int pier_db_volume_list (pier_db *db, pier_db_volume **out, size_t *n, pier_error **err);
/* Delete the record (ENOENT when absent). */
int pier_db_volume_delete (pier_db *db, const char *name, pier_error **err);

#endif
