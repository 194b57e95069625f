/* db_volumes.c - the volumes table. */
#include "store/db_volumes.h"
#include "store/db_internal.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <sqlite3.h>

#include "util/cleanup.h"
#include "util/xalloc.h"

#include "util/banned.h"

#define VOLUME_COLUMNS "name, driver, created, anonymous, labels, options"

void
pier_db_volume_free (pier_db_volume *v)
{
  if (v == NULL)
    return;
  free (v->name);
  free (v->driver);
  free (v->labels);
  free (v->options);
  free (v);
}

void
pier_db_volumes_free (pier_db_volume *vs, size_t n)
{
  if (vs == NULL)
    return;
  for (size_t i = 0; i < n; i++)
    {
      free (vs[i].name);
      free (vs[i].driver);
      free (vs[i].labels);
      free (vs[i].options);
    }
  free (vs);
}

static void
volume_from_row (sqlite3_stmt *s, pier_db_volume *v)
{
  v->name = db_col_text (s, 0);
  v->driver = db_col_text (s, 1);
  v->created = sqlite3_column_int64 (s, 2);
  v->anonymous = sqlite3_column_int (s, 3) != 0;
  v->labels = db_col_text (s, 4);
  v->options = db_col_text (s, 5);
}

int
pier_db_volume_add (pier_db *db, const pier_db_volume *v, pier_error **err)
{
  cleanup_tx tx t = { 0 };
  cleanup_stmt sqlite3_stmt *s = NULL;
  if (v->name == NULL || *v->name == '\0' || v->driver == NULL)
    return pier_error_makex (err, EINVAL, "a volume needs a name and a driver");
  if (db_tx_begin (db, &t, err) < 0
      || db_prepare (db, "INSERT INTO volumes (" VOLUME_COLUMNS ") VALUES (?1, ?2, ?3, ?4, ?5, ?6)", &s, err)
             < 0)
    return -1;
  db_bind_text (s, 1, v->name);
  db_bind_text (s, 2, v->driver);
  sqlite3_bind_int64 (s, 3, v->created);
  sqlite3_bind_int (s, 4, v->anonymous ? 1 : 0);
  db_bind_text (s, 5, v->labels ? v->labels : "null");
  db_bind_text (s, 6, v->options ? v->options : "null");
  int rc = sqlite3_step (s);
  if ((rc & 0xff) == SQLITE_CONSTRAINT)
    return pier_error_makex (err, EEXIST, "volume name %s is already in use", v->name);
  if (rc != SQLITE_DONE)
    return db_fail (db, rc, err, "cannot record volume %s", v->name);
  db_stmt_finalize (&s);
  return db_tx_commit (&t, err);
}

int
pier_db_volume_get (pier_db *db, const char *name, pier_db_volume **out, pier_error **err)
{
  cleanup_stmt sqlite3_stmt *s = NULL;
  if (db_prepare (db, "SELECT " VOLUME_COLUMNS " FROM volumes WHERE name = ?1", &s, err) < 0)
    return pier_error_wrap (err, "cannot read volume %s", name);
  db_bind_text (s, 1, name);
  int rc = sqlite3_step (s);
  if (rc == SQLITE_DONE)
    return pier_error_makex (err, ENOENT, "no such volume: %s", name);
  if (rc != SQLITE_ROW)
    return db_fail (db, rc, err, "cannot read volume %s", name);
  pier_db_volume *v = xzalloc (sizeof *v);
  volume_from_row (s, v);
  *out = v;
  return 0;
}

int
pier_db_volume_list (pier_db *db, pier_db_volume **out, size_t *n, pier_error **err)
{
  cleanup_stmt sqlite3_stmt *s = NULL;
  pier_db_volume *vs = NULL;
  size_t cnt = 0, cap = 0;
  int rc;
  if (db_prepare (db, "SELECT " VOLUME_COLUMNS " FROM volumes ORDER BY name", &s, err) < 0)
    return pier_error_wrap (err, "cannot list volumes");
  while ((rc = sqlite3_step (s)) == SQLITE_ROW)
    {
      if (cnt == cap)
        {
          cap = cap ? cap * 2 : 16;
          vs = xrealloc (vs, cap * sizeof *vs);
        }
      volume_from_row (s, &vs[cnt++]);
    }
  if (rc != SQLITE_DONE)
    {
      pier_db_volumes_free (vs, cnt);
      return db_fail (db, rc, err, "cannot list volumes");
    }
  *out = vs;
  *n = cnt;
  return 0;
}

int
pier_db_volume_delete (pier_db *db, const char *name, pier_error **err)
{
  cleanup_tx tx t = { 0 };
  cleanup_stmt sqlite3_stmt *s = NULL;
  if (db_tx_begin (db, &t, err) < 0 || db_prepare (db, "DELETE FROM volumes WHERE name = ?1", &s, err) < 0)
    return -1;
  db_bind_text (s, 1, name);
  int rc = sqlite3_step (s);
  if (rc != SQLITE_DONE)
    return db_fail (db, rc, err, "cannot delete volume %s", name);
  if (sqlite3_changes (db->h) == 0)
    return pier_error_makex (err, ENOENT, "no such volume: %s", name);
  db_stmt_finalize (&s);
  return db_tx_commit (&t, err);
}
