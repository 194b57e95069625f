#include "util/json.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "util/xalloc.h"
#include "util/banned.h"

int
pier_json_load_file (const char *path, json_t **out, pier_error **err)
{
  json_error_t je;
  json_t *j = json_load_file (path, JSON_REJECT_DUPLICATES, &je);
  if (j == NULL)
    {
      if (je.line <= 0 && je.position == 0)
        return pier_error_makex (err, ENOENT, "cannot read `%s`: %s", path, je.text);
      return pier_error_makex (err, EINVAL, "`%s` is not valid JSON: %s (line %d, column %d)", path, je.text,
                               je.line, je.column);
    }
  *out = j;
  return 0;
}

int
pier_json_load_buf (const char *buf, size_t len, const char *what, json_t **out, pier_error **err)
{
  json_error_t je;
  json_t *j = json_loadb (buf, len, JSON_REJECT_DUPLICATES, &je);
  if (j == NULL)
    return pier_error_makex (err, EINVAL, "%s is not valid JSON: %s (line %d, column %d)", what, je.text,
                             je.line, je.column);
  *out = j;
  return 0;
}

static json_t *
lookup (json_t *obj, const char *key)
{
  json_t *v = obj ? json_object_get (obj, key) : NULL;
  return json_is_null (v) ? NULL : v;
}

int
pier_json_str (json_t *obj, const char *key, const char *where, const char **out, pier_error **err)
{
  json_t *v = lookup (obj, key);
  if (v == NULL)
    return 0;
  if (!json_is_string (v))
    return pier_error_makex (err, EINVAL, "%s.%s must be a string", where, key);
  *out = json_string_value (v);
  return 1;
}

int
pier_json_bool (json_t *obj, const char *key, const char *where, bool *out, pier_error **err)
{
  json_t *v = lookup (obj, key);
  if (v == NULL)
    return 0;
  if (!json_is_boolean (v))
    return pier_error_makex (err, EINVAL, "%s.%s must be a boolean", where, key);
  *out = json_is_true (v);
  return 1;
}

int
pier_json_i64 (json_t *obj, const char *key, const char *where, int64_t *out, pier_error **err)
{
  json_t *v = lookup (obj, key);
  if (v == NULL)
    return 0;
  if (!json_is_integer (v))
    return pier_error_makex (err, EINVAL, "%s.%s must be an integer", where, key);
  *out = json_integer_value (v);
  return 1;
}

int
pier_json_u64 (json_t *obj, const char *key, const char *where, uint64_t *out, pier_error **err)
{
  json_t *v = lookup (obj, key);
  if (v == NULL)
    return 0;
  /* jansson holds integers as signed 64-bit and refuses bigger ones when
   * parsing ("too big integer"); a whole number written as a real (1e3)
   * is accepted, a fraction is not. */
  if (json_is_real (v))
    {
      double d = json_real_value (v);
      if (d < 0 || d >= 18446744073709551616.0 || d != (double) (uint64_t) d)
        return pier_error_makex (err, EINVAL, "%s.%s must be a non-negative integer", where, key);
      *out = (uint64_t) d;
      return 1;
    }
  if (!json_is_integer (v) || json_integer_value (v) < 0)
    return pier_error_makex (err, EINVAL, "%s.%s must be a non-negative integer", where, key);
  *out = (uint64_t) json_integer_value (v);
  return 1;
}

int
pier_json_obj (json_t *obj, const char *key, const char *where, json_t **out, pier_error **err)
{
  json_t *v = lookup (obj, key);
  if (v == NULL)
    return 0;
  if (!json_is_object (v))
    return pier_error_makex (err, EINVAL, "%s.%s must be an object", where, key);
  *out = v;
  return 1;
}

int
pier_json_arr (json_t *obj, const char *key, const char *where, json_t **out, pier_error **err)
{
  json_t *v = lookup (obj, key);
  if (v == NULL)
    return 0;
  if (!json_is_array (v))
    return pier_error_makex (err, EINVAL, "%s.%s must be an array", where, key);
  *out = v;
  return 1;
}

int
pier_json_strv (json_t *obj, const char *key, const char *where, char ***out, pier_error **err)
{
  json_t *arr = NULL, *v;
  size_t i;
  int r = pier_json_arr (obj, key, where, &arr, err);
  if (r <= 0)
    return r;
  char **vec = xcalloc (json_array_size (arr) + 1, sizeof (char *));
  json_array_foreach (arr, i, v)
  {
    if (!json_is_string (v))
      {
        strv_free (vec);
        return pier_error_makex (err, EINVAL, "%s.%s[%zu] must be a string", where, key, i);
      }
    vec[i] = xstrdup (json_string_value (v));
  }
  *out = vec;
  return 1;
}

char *
pier_json_dump (json_t *j, int pretty)
{
  char *s = json_dumps (j, pretty ? JSON_INDENT (2) : JSON_COMPACT);
  if (s == NULL)
    abort ();
  return s;
}
