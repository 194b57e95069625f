/* db_build.c - the build cache's table (see db_build.h). */
#include "store/db_build.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "store/db_internal.h"
#include "util/cleanup.h"
#include "util/xalloc.h"

#include "util/banned.h"

int
pier_db_cache_get (pier_db *db, const char *key, char **image_id, pier_error **err)
{
  cleanup_stmt sqlite3_stmt *s = NULL;
  cleanup_stmt sqlite3_stmt *u = NULL;
  if (db_prepare (db, "SELECT image_id FROM build_cache WHERE key = ?1", &s, err) < 0)
    return -1;
  db_bind_text (s, 1, key);
  int rc = sqlite3_step (s);
  if (rc == SQLITE_DONE)
    return 0;
  if (rc != SQLITE_ROW)
    return db_fail (db, rc, err, "cannot read the build cache");
  *image_id = db_col_text (s, 0);
  db_stmt_finalize (&s);
  /* The last use is advisory (for pruning): a failure to note it is not
   * the build's problem. */
  if (db_prepare (db, "UPDATE build_cache SET last_used = ?2 WHERE key = ?1", &u, NULL) == 0)
    {
      db_bind_text (u, 1, key);
      sqlite3_bind_int64 (u, 2, (sqlite3_int64) time (NULL));
      sqlite3_step (u);
    }
  return 1;
}

int
pier_db_cache_put (pier_db *db, const char *key, const char *image_id, pier_error **err)
{
  cleanup_stmt sqlite3_stmt *s = NULL;
  if (db_prepare (
          db,
          "INSERT INTO build_cache (key, image_id, created, last_used) VALUES (?1, ?2, ?3, ?3)"
          " ON CONFLICT (key) DO UPDATE SET image_id = excluded.image_id, last_used = excluded.last_used",
          &s, err)
      < 0)
    return -1;
  db_bind_text (s, 1, key);
  db_bind_text (s, 2, image_id);
  sqlite3_bind_int64 (s, 3, (sqlite3_int64) time (NULL));
  int rc = sqlite3_step (s);
  if (rc != SQLITE_DONE)
    return db_fail (db, rc, err, "cannot record a build cache entry");
  return 0;
}

void
pier_db_cache_entries_free (pier_db_cache_entry *e, size_t n)
{
  for (size_t i = 0; i < n; i++)
    {
      free (e[i].key);
      free (e[i].image_id);
    }
  free (e);
}

int
pier_db_cache_list (pier_db *db, pier_db_cache_entry **out, size_t *n, pier_error **err)
{
  cleanup_stmt sqlite3_stmt *s = NULL;
  pier_db_cache_entry *v = NULL;
  size_t count = 0, cap = 0;
  int rc;
  if (db_prepare (db, "SELECT key, image_id, created, last_used FROM build_cache ORDER BY last_used, key", &s,
                  err)
      < 0)
    return -1;
  while ((rc = sqlite3_step (s)) == SQLITE_ROW)
    {
      if (count == cap)
        v = xrealloc (v, (cap = cap ? cap * 2 : 16) * sizeof *v);
      v[count].key = db_col_text (s, 0);
      v[count].image_id = db_col_text (s, 1);
      v[count].created = sqlite3_column_int64 (s, 2);
      v[count].last_used = sqlite3_column_int64 (s, 3);
      count++;
    }
  if (rc != SQLITE_DONE)
    {
      pier_db_cache_entries_free (v, count);
      return db_fail (db, rc, err, "cannot list the build cache");
    }
  *out = v;
  *n = count;
  return 0;
}

int
pier_db_cache_delete (pier_db *db, const char *key, pier_error **err)
{
  cleanup_stmt sqlite3_stmt *s = NULL;
  if (db_prepare (db, "DELETE FROM build_cache WHERE key = ?1", &s, err) < 0)
    return -1;
  db_bind_text (s, 1, key);
  int rc = sqlite3_step (s);
  if (rc != SQLITE_DONE)
    return db_fail (db, rc, err, "cannot remove a build cache entry");
  return 0;
}

int
pier_db_cache_holds (pier_db *db, const char *image_id, pier_error **err)
{
  cleanup_stmt sqlite3_stmt *s = NULL;
  if (db_prepare (db, "SELECT 1 FROM build_cache WHERE image_id = ?1 LIMIT 1", &s, err) < 0)
    return -1;
  db_bind_text (s, 1, image_id);
  int rc = sqlite3_step (s);
  if (rc == SQLITE_ROW)
    return 1;
  if (rc != SQLITE_DONE)
    return db_fail (db, rc, err, "cannot read the build cache");
  return 0;
}
