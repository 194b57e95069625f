/* db_networks.c - the networks and network_leases tables. */
#include "store/db_networks.h"
#include "store/db_internal.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include <sqlite3.h>

#include "util/cleanup.h"
#include "util/xalloc.h"

#include "util/banned.h"

void
pier_db_network_free (pier_db_network *n)
{
  if (n == NULL)
    return;
  free (n->id);
  free (n->name);
  free (n->config);
  free (n);
}

void
pier_db_networks_free (pier_db_network *ns, size_t n)
{
  for (size_t i = 0; ns && i < n; i++)
    {
      free (ns[i].id);
      free (ns[i].name);
      free (ns[i].config);
    }
  free (ns);
}

int
pier_db_network_add (pier_db *db, const pier_db_network *n, pier_error **err)
{
  cleanup_tx tx t = { 0 };
  cleanup_stmt sqlite3_stmt *s = NULL;
  if (db_tx_begin (db, &t, err) < 0
      || db_prepare (db, "INSERT INTO networks (id, name, created, config) VALUES (?1, ?2, ?3, ?4)", &s, err)
             < 0)
    return -1;
  db_bind_text (s, 1, n->id);
  db_bind_text (s, 2, n->name);
  sqlite3_bind_int64 (s, 3, n->created);
  db_bind_text (s, 4, n->config);
  int rc = sqlite3_step (s);
  if ((rc & 0xff) == SQLITE_CONSTRAINT)
    return pier_error_makex (err, EEXIST, "network with name %s already exists", n->name);
  if (rc != SQLITE_DONE)
    return db_fail (db, rc, err, "cannot record network %s", n->name);
  db_stmt_finalize (&s);
  return db_tx_commit (&t, err);
}

static void
row_to_network (sqlite3_stmt *s, pier_db_network *n)
{
  n->id = db_col_text (s, 0);
  n->name = db_col_text (s, 1);
  n->created = sqlite3_column_int64 (s, 2);
  n->config = db_col_text (s, 3);
}

int
pier_db_network_get (pier_db *db, const char *id, pier_db_network **out, pier_error **err)
{
  cleanup_stmt sqlite3_stmt *s = NULL;
  if (db_prepare (db, "SELECT id, name, created, config FROM networks WHERE id = ?1", &s, err) < 0)
    return -1;
  db_bind_text (s, 1, id);
  int rc = sqlite3_step (s);
  if (rc == SQLITE_DONE)
    return pier_error_makex (err, ENOENT, "network %s not found", id);
  if (rc != SQLITE_ROW)
    return db_fail (db, rc, err, "cannot read network %s", id);
  pier_db_network *n = xzalloc (sizeof *n);
  row_to_network (s, n);
  *out = n;
  return 0;
}

/* The first column of the rows sql gives for key: *found (NULL when
 * none), *more when there is a second row. */
static int
lookup (pier_db *db, const char *sql, const char *key, char **found, bool *more, pier_error **err)
{
  cleanup_stmt sqlite3_stmt *s = NULL;
  if (db_prepare (db, sql, &s, err) < 0)
    return -1;
  db_bind_text (s, 1, key);
  int rc = sqlite3_step (s);
  if (rc == SQLITE_ROW)
    {
      *found = db_col_text (s, 0);
      if (more)
        *more = sqlite3_step (s) == SQLITE_ROW;
      return 0;
    }
  if (rc != SQLITE_DONE)
    return db_fail (db, rc, err, "cannot look up network %s", key);
  return 0;
}

int
pier_db_network_find (pier_db *db, const char *key, char **id, pier_error **err)
{
  char *found = NULL;
  bool ambiguous = false;
  if (key == NULL || *key == '\0')
    return pier_error_makex (err, ENOENT, "network %s not found", key ? key : "");
  if (lookup (db, "SELECT id FROM networks WHERE id = ?1", key, &found, NULL, err) < 0)
    return -1;
  if (found == NULL && lookup (db, "SELECT id FROM networks WHERE name = ?1", key, &found, NULL, err) < 0)
    return -1;
  if (found == NULL && strspn (key, "0123456789abcdef") == strlen (key))
    {
      cleanup_free char *pattern = xasprintf ("%s*", key);
      if (lookup (db, "SELECT id FROM networks WHERE id GLOB ?1 LIMIT 2", pattern, &found, &ambiguous, err)
          < 0)
        return -1;
      if (ambiguous)
        {
          free (found);
          return pier_error_makex (err, ENOTUNIQ, "network %s is ambiguous (more than one network matches)",
                                   key);
        }
    }
  if (found == NULL)
    return pier_error_makex (err, ENOENT, "network %s not found", key);
  *id = found;
  return 0;
}

int
pier_db_network_list (pier_db *db, pier_db_network **out, size_t *n, pier_error **err)
{
  cleanup_stmt sqlite3_stmt *s = NULL;
  if (db_prepare (db, "SELECT id, name, created, config FROM networks ORDER BY name", &s, err) < 0)
    return -1;
  pier_db_network *v = NULL;
  size_t len = 0;
  int rc;
  while ((rc = sqlite3_step (s)) == SQLITE_ROW)
    {
      v = xrealloc (v, (len + 1) * sizeof *v);
      row_to_network (s, &v[len++]);
    }
  if (rc != SQLITE_DONE)
    {
      pier_db_networks_free (v, len);
      return db_fail (db, rc, err, "cannot list networks");
    }
  *out = v;
  *n = len;
  return 0;
}

/* Run one change statement with up to three text parameters; the number
 * of rows changed, or -1. */
static int
change (pier_db *db, const char *sql, const char *a, const char *b, const char *c, const char *what,
        pier_error **err)
{
  cleanup_tx tx t = { 0 };
  cleanup_stmt sqlite3_stmt *s = NULL;
  if (db_tx_begin (db, &t, err) < 0 || db_prepare (db, sql, &s, err) < 0)
    return -1;
  const char *vals[3] = { a, b, c };
  for (int i = 0; i < 3 && i < sqlite3_bind_parameter_count (s); i++)
    db_bind_text (s, i + 1, vals[i]);
  int rc = sqlite3_step (s);
  if ((rc & 0xff) == SQLITE_CONSTRAINT)
    return pier_error_makex (err, EEXIST, "%s: already taken", what);
  if (rc != SQLITE_DONE)
    return db_fail (db, rc, err, "%s", what);
  int changed = sqlite3_changes (db->h);
  db_stmt_finalize (&s);
  if (db_tx_commit (&t, err) < 0)
    return -1;
  return changed;
}

int
pier_db_network_set_config (pier_db *db, const char *id, const char *config, pier_error **err)
{
  int n = change (db, "UPDATE networks SET config = ?2 WHERE id = ?1", id, config, NULL,
                  "cannot update network", err);
  if (n == 0)
    return pier_error_makex (err, ENOENT, "network %s not found", id);
  return n < 0 ? -1 : 0;
}

int
pier_db_network_delete (pier_db *db, const char *id, pier_error **err)
{
  int n = change (db, "DELETE FROM networks WHERE id = ?1", id, NULL, NULL, "cannot remove network", err);
  if (n == 0)
    return pier_error_makex (err, ENOENT, "network %s not found", id);
  return n < 0 ? -1 : 0;
}

void
pier_db_leases_free (pier_db_lease *ls, size_t n)
{
  for (size_t i = 0; ls && i < n; i++)
    {
      free (ls[i].network_id);
      free (ls[i].address);
      free (ls[i].container_id);
    }
  free (ls);
}

int
pier_db_lease_add (pier_db *db, const char *network_id, const char *address, const char *container_id,
                   pier_error **err)
{
  int n = change (db, "INSERT INTO network_leases (network_id, address, container_id) VALUES (?1, ?2, ?3)",
                  network_id, address, container_id, "cannot lease the address", err);
  if (n < 0 && (*err)->code == EEXIST)
    {
      pier_error_free (err);
      return pier_error_makex (err, EEXIST, "address %s is already in use", address);
    }
  return n < 0 ? -1 : 0;
}

int
pier_db_lease_list (pier_db *db, const char *network_id, const char *container_id, pier_db_lease **out,
                    size_t *n, pier_error **err)
{
  cleanup_stmt sqlite3_stmt *s = NULL;
  const char *sql
      = network_id ? "SELECT network_id, address, container_id FROM network_leases WHERE network_id = ?1"
                   : "SELECT network_id, address, container_id FROM network_leases WHERE container_id = ?1";
  if (db_prepare (db, sql, &s, err) < 0)
    return -1;
  db_bind_text (s, 1, network_id ? network_id : container_id);
  pier_db_lease *v = NULL;
  size_t len = 0;
  int rc;
  while ((rc = sqlite3_step (s)) == SQLITE_ROW)
    {
      v = xrealloc (v, (len + 1) * sizeof *v);
      v[len].network_id = db_col_text (s, 0);
      v[len].address = db_col_text (s, 1);
      v[len].container_id = db_col_text (s, 2);
      len++;
    }
  if (rc != SQLITE_DONE)
    {
      pier_db_leases_free (v, len);
      return db_fail (db, rc, err, "cannot list address leases");
    }
  *out = v;
  *n = len;
  return 0;
}

int
pier_db_lease_release (pier_db *db, const char *container_id, const char *network_id, pier_error **err)
{
  int n = network_id ? change (db, "DELETE FROM network_leases WHERE container_id = ?1 AND network_id = ?2",
                               container_id, network_id, NULL, "cannot release addresses", err)
                     : change (db, "DELETE FROM network_leases WHERE container_id = ?1", container_id, NULL,
                               NULL, "cannot release addresses", err);
  return n < 0 ? -1 : 0;
}
