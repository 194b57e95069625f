/* json.h - typed access to jansson values with errors in the user's terms.
 *
 * Getters take the parent object, the key and a "where" label used in the
 * message ("process.user.uid must be an integer").  Optional getters leave
 * *out untouched when the key is absent or null.
 */
#ifndef PIER_UTIL_JSON_H
#define PIER_UTIL_JSON_H

#include <stdbool.h>
#include <stdint.h>

#include <jansson.h>

#include "util/error.h"

static inline void
cleanup_jsonp (json_t **j)
{
  json_decref (*j);
  *j = NULL;
}
#define cleanup_json __attribute__ ((cleanup (cleanup_jsonp)))

int pier_json_load_file (const char *path, json_t **out, pier_error **err);
int pier_json_load_buf (const char *buf, size_t len, const char *what, json_t **out, pier_error **err);

/* Returns 1 when found, 0 when absent, -1 on a type error. */
int pier_json_str (json_t *obj, const char *key, const char *where, const char **out, pier_error **err);
int pier_json_bool (json_t *obj, const char *key, const char *where, bool *out, pier_error **err);
int pier_json_i64 (json_t *obj, const char *key, const char *where, int64_t *out, pier_error **err);
int pier_json_u64 (json_t *obj, const char *key, const char *where, uint64_t *out, pier_error **err);
int pier_json_obj (json_t *obj, const char *key, const char *where, json_t **out, pier_error **err);
int pier_json_arr (json_t *obj, const char *key, const char *where, json_t **out, pier_error **err);
/* Array of strings into a NULL-terminated, newly allocated vector. */
int pier_json_strv (json_t *obj, const char *key, const char *where, char ***out, pier_error **err);

/* Serialize compactly; the caller frees. */
char *pier_json_dump (json_t *j, int pretty);

#endif
