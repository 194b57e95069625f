/* db_build.h - the build cache's table: a build step's cache key (a
 * SHA-256 of its parent's key, the instruction as evaluated and the
 * content it reads) names the image the step produced.  The images stay
 * while an entry names them (an entry goes with its image). */
#ifndef PIER_STORE_DB_BUILD_H
#define PIER_STORE_DB_BUILD_H

#include <stddef.h>
#include <stdint.h>

#include "store/store.h"
#include "util/error.h"

/* 1 and *image_id (caller frees) when key is cached, 0 when not.  A hit
 * refreshes the entry's last use. */
int pier_db_cache_get (pier_db *db, const char *key, char **image_id, pier_error **err);
/* Record (or repoint) key. */
int pier_db_cache_put (pier_db *db, const char *key, const char *image_id, pier_error **err);

typedef struct pier_db_cache_entry
{
  char *key;
  char *image_id;
  int64_t created, last_used; /* unix seconds */
} pier_db_cache_entry;

/* Every entry, least recently used first. */
int pier_db_cache_list (pier_db *db, pier_db_cache_entry **out, size_t *n, pier_error **err);
void pier_db_cache_entries_free (pier_db_cache_entry *e, size_t n);
int pier_db_cache_delete (pier_db *db, const char *key, pier_error **err);
/* Whether some entry names image_id: 1 yes, 0 no. */
int pier_db_cache_holds (pier_db *db, const char *image_id, pier_error **err);

#endif
