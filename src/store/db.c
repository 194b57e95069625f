#include "store/db.h"
#include "store/db_internal.h"

#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <sqlite3.h>

#include "util/cleanup.h"
#include "util/digest.h"
#include "util/xalloc.h"

#include "util/banned.h"

/* How long a writer waits for another process's transaction (ms). */
#define DB_BUSY_TIMEOUT_MS 30000

/* One string per schema version: migrations[i] takes version i to i + 1.
 * Append only; never edit a released one. */
static const char *const migrations[PIER_DB_SCHEMA_VERSION] = {
  "CREATE TABLE images ("
  "  id TEXT PRIMARY KEY,"
  "  created INTEGER NOT NULL,"
  "  size INTEGER NOT NULL,"
  "  config_digest TEXT NOT NULL,"
  "  manifest_digest TEXT,"
  "  manifest_media_type TEXT);"
  "CREATE TABLE tags ("
  "  reference TEXT PRIMARY KEY,"
  "  image_id TEXT NOT NULL REFERENCES images (id) ON DELETE CASCADE);"
  "CREATE INDEX tags_image ON tags (image_id);"
  "CREATE TABLE image_layers ("
  "  image_id TEXT NOT NULL REFERENCES images (id) ON DELETE CASCADE,"
  "  idx INTEGER NOT NULL,"
  "  diff_id TEXT NOT NULL,"
  "  chain_id TEXT NOT NULL,"
  "  blob_digest TEXT NOT NULL,"
  "  media_type TEXT NOT NULL,"
  "  size INTEGER NOT NULL,"
  "  PRIMARY KEY (image_id, idx));"
  "CREATE INDEX image_layers_chain ON image_layers (chain_id);"
  "CREATE INDEX image_layers_blob ON image_layers (blob_digest);"
  "CREATE TABLE layers ("
  "  chain_id TEXT PRIMARY KEY,"
  "  diff_id TEXT NOT NULL,"
  "  parent TEXT REFERENCES layers (chain_id) ON DELETE RESTRICT,"
  "  state TEXT NOT NULL CHECK (state IN ('incomplete', 'complete')),"
  "  size INTEGER NOT NULL DEFAULT 0,"
  "  created INTEGER NOT NULL);"
  "CREATE INDEX layers_parent ON layers (parent);",
  /* 2: containers.  config is the create request (docker's Config and
   * HostConfig plus what the engine decided), state what the monitor
   * records; both JSON, read and written whole. */
  "CREATE TABLE containers ("
  "  id TEXT PRIMARY KEY,"
  "  name TEXT NOT NULL UNIQUE,"
  "  image_id TEXT NOT NULL,"
  "  created INTEGER NOT NULL,"
  "  config TEXT NOT NULL,"
  "  state TEXT NOT NULL);"
  "CREATE INDEX containers_image ON containers (image_id);",
  /* 3: volumes, networks with their address leases, and the build cache:
   * a build step's cache key names the image the step made (an
   * intermediate image, kept while an entry names it). */
  "CREATE TABLE volumes ("
  "  name TEXT PRIMARY KEY,"
  "  driver TEXT NOT NULL,"
  "  created INTEGER NOT NULL,"
  "  anonymous INTEGER NOT NULL DEFAULT 0,"
  "  labels TEXT NOT NULL,"
  "  options TEXT NOT NULL);"
  "CREATE TABLE networks ("
  "  id TEXT PRIMARY KEY,"
  "  name TEXT NOT NULL UNIQUE,"
  "  created INTEGER NOT NULL,"
  "  config TEXT NOT NULL);"
  "CREATE TABLE network_leases ("
  "  network_id TEXT NOT NULL REFERENCES networks (id) ON DELETE CASCADE,"
  "  address TEXT NOT NULL,"
  "  container_id TEXT NOT NULL,"
  "  PRIMARY KEY (network_id, address));"
  "CREATE INDEX network_leases_container ON network_leases (container_id);"
  "CREATE TABLE build_cache ("
  "  key TEXT PRIMARY KEY,"
  "  image_id TEXT NOT NULL REFERENCES images (id) ON DELETE CASCADE,"
  "  created INTEGER NOT NULL,"
  "  last_used INTEGER NOT NULL);"
  "CREATE INDEX build_cache_image ON build_cache (image_id);",
};

void
db_stmt_finalize (sqlite3_stmt **s)
{
  if (*s)
    sqlite3_finalize (*s);
  *s = NULL;
}

static int
rc_errno (int rc)
{
  switch (rc & 0xff)
    {
    case SQLITE_BUSY:
    case SQLITE_LOCKED: return EBUSY;
    case SQLITE_CONSTRAINT: return EINVAL;
    case SQLITE_CANTOPEN: return EACCES;
    case SQLITE_READONLY: return EROFS;
    case SQLITE_FULL: return ENOSPC;
    default: return EIO;
    }
}

/* "<what>: <sqlite's message>" with an errno-style code. */
int __attribute__ ((format (printf, 4, 5)))
db_fail (pier_db *db, int rc, pier_error **err, const char *fmt, ...)
{
  va_list ap;
  char *what = NULL;
  va_start (ap, fmt);
  if (vasprintf (&what, fmt, ap) < 0)
    abort ();
  va_end (ap);
  const char *why = db && db->h ? sqlite3_errmsg (db->h) : sqlite3_errstr (rc);
  pier_error_makex (err, rc_errno (rc), "%s: %s (in `%s`)", what, why, db ? db->path : "?");
  free (what);
  return -1;
}

int
db_exec (pier_db *db, const char *sql, pier_error **err)
{
  int rc = sqlite3_exec (db->h, sql, NULL, NULL, NULL);
  if (rc != SQLITE_OK)
    return db_fail (db, rc, err, "database statement failed");
  return 0;
}

int
db_prepare (pier_db *db, const char *sql, sqlite3_stmt **s, pier_error **err)
{
  int rc = sqlite3_prepare_v2 (db->h, sql, -1, s, NULL);
  if (rc != SQLITE_OK)
    return db_fail (db, rc, err, "cannot prepare a database query");
  return 0;
}

void
db_bind_text (sqlite3_stmt *s, int i, const char *v)
{
  if (v)
    sqlite3_bind_text (s, i, v, -1, SQLITE_STATIC);
  else
    sqlite3_bind_null (s, i);
}

char *
db_col_text (sqlite3_stmt *s, int i)
{
  const unsigned char *t = sqlite3_column_text (s, i);
  return t ? xstrdup ((const char *) t) : NULL;
}

int
db_tx_begin (pier_db *db, tx *t, pier_error **err)
{
  t->db = db;
  t->savepoint = !sqlite3_get_autocommit (db->h);
  if (db_exec (db, t->savepoint ? "SAVEPOINT pier" : "BEGIN IMMEDIATE", err) < 0)
    return pier_error_wrap (err, "cannot begin a database transaction");
  t->open = true;
  return 0;
}

int
db_tx_commit (tx *t, pier_error **err)
{
  if (db_exec (t->db, t->savepoint ? "RELEASE pier" : "COMMIT", err) < 0)
    return pier_error_wrap (err, "cannot commit a database transaction");
  t->open = false;
  return 0;
}

/* Scope cleanup: undo the unit of work unless it was committed. */
void
db_tx_cleanup (tx *t)
{
  if (!t->open)
    return;
  if (t->savepoint)
    sqlite3_exec (t->db->h, "ROLLBACK TO pier; RELEASE pier", NULL, NULL, NULL);
  else if (!sqlite3_get_autocommit (t->db->h))
    sqlite3_exec (t->db->h, "ROLLBACK", NULL, NULL, NULL);
  t->open = false;
}

/* A read snapshot (deferred transaction) unless the caller has one open. */
int
db_read_begin (pier_db *db, tx *t, pier_error **err)
{
  t->db = db;
  t->savepoint = false;
  if (!sqlite3_get_autocommit (db->h))
    return 0;
  if (db_exec (db, "BEGIN", err) < 0)
    return -1;
  t->open = true;
  return 0;
}

int
db_check_digest (const char *what, const char *d, pier_error **err)
{
  if (!pier_digest_valid (d))
    return pier_error_makex (err, EINVAL, "%s `%s` is not a valid digest", what, d ? d : "(null)");
  return 0;
}

int
pier_db_open (const char *path, pier_db **out, pier_error **err)
{
  pier_db *db = xzalloc (sizeof *db);
  cleanup_free char *mode = NULL;
  int rc;

  db->path = xstrdup (path);
  /* sqlite opens its files O_CLOEXEC. */
  rc = sqlite3_open_v2 (path, &db->h, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, NULL);
  if (rc != SQLITE_OK)
    {
      db_fail (db, rc, err, "cannot open the database");
      goto on_error;
    }
  sqlite3_extended_result_codes (db->h, 1);
  sqlite3_busy_timeout (db->h, DB_BUSY_TIMEOUT_MS);
  /* Each pier command is a process of its own: the WAL stays when it
   * closes (no checkpoint, no delete), so the next one neither waits for
   * a checkpoint's syncs nor creates, syncs and dir-syncs a new WAL before
   * its first commit.  sqlite still checkpoints as the WAL fills. */
  int persist = 1;
  sqlite3_file_control (db->h, "main", SQLITE_FCNTL_PERSIST_WAL, &persist);
  sqlite3_db_config (db->h, SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE, 1, NULL);
  /* synchronous=FULL: a committed record survives a power cut, as the blob
   * it names does. */
  if (db_exec (db, "PRAGMA foreign_keys = ON; PRAGMA synchronous = FULL", err) < 0)
    goto on_error;
  if (pier_db_journal_mode (db, &mode, err) < 0)
    goto on_error;
  if (strcmp (mode, "wal") != 0)
    {
      free (mode);
      mode = NULL;
      cleanup_stmt sqlite3_stmt *s = NULL;
      if (db_prepare (db, "PRAGMA journal_mode = WAL", &s, err) < 0)
        goto on_error;
      /* Switching needs the database to itself, and sqlite answers BUSY
       * at once instead of calling the busy handler when another process
       * is opening it too: wait here as the busy timeout would. */
      for (int waited = 0; (rc = sqlite3_step (s)) != SQLITE_ROW; waited += 10)
        {
          if ((rc & 0xff) != SQLITE_BUSY || waited >= DB_BUSY_TIMEOUT_MS)
            break;
          sqlite3_reset (s);
          nanosleep (&(struct timespec){ .tv_nsec = 10 * 1000 * 1000 }, NULL);
        }
      if (rc != SQLITE_ROW)
        {
          db_fail (db, rc, err, "cannot switch the database to WAL mode");
          goto on_error;
        }
      mode = db_col_text (s, 0);
      if (mode == NULL || strcmp (mode, "wal") != 0)
        {
          pier_error_makex (err, EIO, "cannot switch the database `%s` to WAL mode: it stays in `%s` mode",
                            path, mode ? mode : "?");
          goto on_error;
        }
    }
  if (pier_db_migrate (db, err) < 0)
    goto on_error;
  *out = db;
  return 0;

on_error:
  pier_db_close (db);
  return -1;
}

void
pier_db_close (pier_db *db)
{
  if (db == NULL)
    return;
  if (db->h && !sqlite3_get_autocommit (db->h))
    sqlite3_exec (db->h, "ROLLBACK", NULL, NULL, NULL);
  sqlite3_close_v2 (db->h);
  free (db->path);
  free (db);
}

int
pier_db_journal_mode (pier_db *db, char **mode, pier_error **err)
{
  cleanup_stmt sqlite3_stmt *s = NULL;
  if (db_prepare (db, "PRAGMA journal_mode", &s, err) < 0)
    return -1;
  int rc = sqlite3_step (s);
  if (rc != SQLITE_ROW)
    return db_fail (db, rc, err, "cannot read the journal mode");
  *mode = db_col_text (s, 0);
  return 0;
}

static int
read_version (pier_db *db, int *version, pier_error **err)
{
  cleanup_stmt sqlite3_stmt *s = NULL;
  *version = 0;
  if (db_prepare (db, "SELECT max(version) FROM schema_version", &s, err) < 0)
    return -1;
  int rc = sqlite3_step (s);
  if (rc != SQLITE_ROW)
    return db_fail (db, rc, err, "cannot read the schema version");
  *version = sqlite3_column_int (s, 0);
  return 0;
}

int
pier_db_schema_version (pier_db *db, int *version, pier_error **err)
{
  return read_version (db, version, err);
}

int
pier_db_migrate (pier_db *db, pier_error **err)
{
  cleanup_tx tx t = { 0 };
  int version;

  /* IMMEDIATE: two processes opening a new store at once migrate it once. */
  if (db_tx_begin (db, &t, err) < 0)
    return -1;
  if (db_exec (db, "CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)", err) < 0
      || read_version (db, &version, err) < 0)
    return pier_error_wrap (err, "cannot migrate the database");
  if (version > PIER_DB_SCHEMA_VERSION)
    return pier_error_makex (err, EPROTO,
                             "the database `%s` has schema version %d, newer than this pier knows (%d): "
                             "a newer pier wrote it",
                             db->path, version, PIER_DB_SCHEMA_VERSION);
  for (int v = version; v < PIER_DB_SCHEMA_VERSION; v++)
    {
      cleanup_free char *set
          = xasprintf ("DELETE FROM schema_version; INSERT INTO schema_version VALUES (%d)", v + 1);
      if (db_exec (db, migrations[v], err) < 0 || db_exec (db, set, err) < 0)
        return pier_error_wrap (err, "cannot migrate the database from schema version %d to %d", v, v + 1);
    }
  return db_tx_commit (&t, err);
}

int
pier_db_begin (pier_db *db, pier_error **err)
{
  if (db_exec (db, "BEGIN IMMEDIATE", err) < 0)
    return pier_error_wrap (err, "cannot begin a database transaction");
  return 0;
}

int
pier_db_commit (pier_db *db, pier_error **err)
{
  if (db_exec (db, "COMMIT", err) < 0)
    return pier_error_wrap (err, "cannot commit a database transaction");
  return 0;
}

int
pier_db_rollback (pier_db *db, pier_error **err)
{
  if (sqlite3_get_autocommit (db->h))
    return 0;
  if (db_exec (db, "ROLLBACK", err) < 0)
    return pier_error_wrap (err, "cannot roll back a database transaction");
  return 0;
}

/* Images */

static void
image_clear (pier_db_image *img)
{
  free (img->id);
  free (img->config_digest);
  free (img->manifest_digest);
  free (img->manifest_media_type);
  for (size_t i = 0; i < img->n_layers; i++)
    {
      free (img->layers[i].diff_id);
      free (img->layers[i].chain_id);
      free (img->layers[i].blob_digest);
      free (img->layers[i].media_type);
    }
  free (img->layers);
  strv_free (img->tags);
  memset (img, 0, sizeof *img);
}

void
pier_db_image_free (pier_db_image *img)
{
  if (img == NULL)
    return;
  image_clear (img);
  free (img);
}

void
pier_db_images_free (pier_db_image *imgs, size_t n)
{
  if (imgs == NULL)
    return;
  for (size_t i = 0; i < n; i++)
    image_clear (&imgs[i]);
  free (imgs);
}

static int
check_image (const pier_db_image *img, pier_error **err)
{
  if (db_check_digest ("image id", img->id, err) < 0
      || db_check_digest ("config digest", img->config_digest, err) < 0)
    return -1;
  if (img->manifest_digest && db_check_digest ("manifest digest", img->manifest_digest, err) < 0)
    return -1;
  for (size_t i = 0; i < img->n_layers; i++)
    {
      const pier_db_image_layer *l = &img->layers[i];
      if (db_check_digest ("layer diff id", l->diff_id, err) < 0
          || db_check_digest ("layer chain id", l->chain_id, err) < 0
          || db_check_digest ("layer blob digest", l->blob_digest, err) < 0)
        return -1;
      if (l->media_type == NULL)
        return pier_error_makex (err, EINVAL, "layer %zu of image %s has no media type", i, img->id);
    }
  return 0;
}

int
pier_db_put_image (pier_db *db, const pier_db_image *img, pier_error **err)
{
  cleanup_tx tx t = { 0 };
  cleanup_stmt sqlite3_stmt *ins = NULL;
  cleanup_stmt sqlite3_stmt *del = NULL;
  cleanup_stmt sqlite3_stmt *lay = NULL;
  int rc;

  if (check_image (img, err) < 0)
    return pier_error_wrap (err, "cannot record image");
  if (db_tx_begin (db, &t, err) < 0)
    return pier_error_wrap (err, "cannot record image %s", img->id);
  /* An upsert, not REPLACE: the row keeps its identity and its tags. */
  if (db_prepare (
          db,
          "INSERT INTO images (id, created, size, config_digest, manifest_digest, manifest_media_type)"
          " VALUES (?1, ?2, ?3, ?4, ?5, ?6) ON CONFLICT (id) DO UPDATE SET"
          " created = excluded.created, size = excluded.size, config_digest = excluded.config_digest,"
          " manifest_digest = excluded.manifest_digest, manifest_media_type = excluded.manifest_media_type",
          &ins, err)
          < 0
      || db_prepare (db, "DELETE FROM image_layers WHERE image_id = ?1", &del, err) < 0
      || db_prepare (
             db,
             "INSERT INTO image_layers (image_id, idx, diff_id, chain_id, blob_digest, media_type, size)"
             " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
             &lay, err)
             < 0)
    return pier_error_wrap (err, "cannot record image %s", img->id);

  db_bind_text (ins, 1, img->id);
  sqlite3_bind_int64 (ins, 2, img->created ? img->created : (int64_t) time (NULL));
  sqlite3_bind_int64 (ins, 3, img->size);
  db_bind_text (ins, 4, img->config_digest);
  db_bind_text (ins, 5, img->manifest_digest);
  db_bind_text (ins, 6, img->manifest_media_type);
  if ((rc = sqlite3_step (ins)) != SQLITE_DONE)
    return db_fail (db, rc, err, "cannot record image %s", img->id);

  db_bind_text (del, 1, img->id);
  if ((rc = sqlite3_step (del)) != SQLITE_DONE)
    return db_fail (db, rc, err, "cannot record the layers of image %s", img->id);

  for (size_t i = 0; i < img->n_layers; i++)
    {
      const pier_db_image_layer *l = &img->layers[i];
      sqlite3_reset (lay);
      db_bind_text (lay, 1, img->id);
      sqlite3_bind_int64 (lay, 2, (int64_t) i);
      db_bind_text (lay, 3, l->diff_id);
      db_bind_text (lay, 4, l->chain_id);
      db_bind_text (lay, 5, l->blob_digest);
      db_bind_text (lay, 6, l->media_type);
      sqlite3_bind_int64 (lay, 7, l->size);
      if ((rc = sqlite3_step (lay)) != SQLITE_DONE)
        return db_fail (db, rc, err, "cannot record layer %zu of image %s", i, img->id);
    }
  if (db_tx_commit (&t, err) < 0)
    return pier_error_wrap (err, "cannot record image %s", img->id);
  return 0;
}

/* Fill layers and tags of an image whose row is loaded. */
static int
load_image_rest (pier_db *db, pier_db_image *img, pier_error **err)
{
  cleanup_stmt sqlite3_stmt *s = NULL;
  cleanup_stmt sqlite3_stmt *t = NULL;
  size_t cap = 0;
  int rc;

  if (db_prepare (db,
                  "SELECT diff_id, chain_id, blob_digest, media_type, size FROM image_layers"
                  " WHERE image_id = ?1 ORDER BY idx",
                  &s, err)
      < 0)
    return -1;
  db_bind_text (s, 1, img->id);
  while ((rc = sqlite3_step (s)) == SQLITE_ROW)
    {
      if (img->n_layers == cap)
        {
          cap = cap ? cap * 2 : 8;
          img->layers = xrealloc (img->layers, cap * sizeof *img->layers);
        }
      pier_db_image_layer *l = &img->layers[img->n_layers++];
      l->diff_id = db_col_text (s, 0);
      l->chain_id = db_col_text (s, 1);
      l->blob_digest = db_col_text (s, 2);
      l->media_type = db_col_text (s, 3);
      l->size = sqlite3_column_int64 (s, 4);
    }
  if (rc != SQLITE_DONE)
    return db_fail (db, rc, err, "cannot read the layers of image %s", img->id);

  if (db_prepare (db, "SELECT reference FROM tags WHERE image_id = ?1 ORDER BY reference", &t, err) < 0)
    return -1;
  db_bind_text (t, 1, img->id);
  img->tags = xzalloc (sizeof (char *));
  while ((rc = sqlite3_step (t)) == SQLITE_ROW)
    strv_push (&img->tags, (const char *) sqlite3_column_text (t, 0));
  if (rc != SQLITE_DONE)
    return db_fail (db, rc, err, "cannot read the tags of image %s", img->id);
  return 0;
}

#define IMAGE_COLUMNS "id, created, size, config_digest, manifest_digest, manifest_media_type"

static void
image_from_row (sqlite3_stmt *s, pier_db_image *img)
{
  img->id = db_col_text (s, 0);
  img->created = sqlite3_column_int64 (s, 1);
  img->size = sqlite3_column_int64 (s, 2);
  img->config_digest = db_col_text (s, 3);
  img->manifest_digest = db_col_text (s, 4);
  img->manifest_media_type = db_col_text (s, 5);
}

int
pier_db_get_image (pier_db *db, const char *id, pier_db_image **out, pier_error **err)
{
  cleanup_tx tx t = { 0 };
  cleanup_stmt sqlite3_stmt *s = NULL;
  int rc;

  if (db_check_digest ("image id", id, err) < 0)
    return -1;
  /* One snapshot for the row, its layers and its tags. */
  if (db_read_begin (db, &t, err) < 0)
    return pier_error_wrap (err, "cannot read image %s", id);
  if (db_prepare (db, "SELECT " IMAGE_COLUMNS " FROM images WHERE id = ?1", &s, err) < 0)
    return -1;
  db_bind_text (s, 1, id);
  rc = sqlite3_step (s);
  if (rc == SQLITE_DONE)
    return pier_error_makex (err, ENOENT, "no such image: %s", id);
  if (rc != SQLITE_ROW)
    return db_fail (db, rc, err, "cannot read image %s", id);
  pier_db_image *img = xzalloc (sizeof *img);
  image_from_row (s, img);
  if (load_image_rest (db, img, err) < 0)
    {
      pier_db_image_free (img);
      return -1;
    }
  *out = img;
  return 0;
}

int
pier_db_list_images (pier_db *db, pier_db_image **out, size_t *n, pier_error **err)
{
  cleanup_tx tx t = { 0 };
  cleanup_stmt sqlite3_stmt *s = NULL;
  pier_db_image *imgs = NULL;
  size_t cnt = 0, cap = 0;
  int rc;

  if (db_read_begin (db, &t, err) < 0)
    return pier_error_wrap (err, "cannot list images");
  if (db_prepare (db, "SELECT " IMAGE_COLUMNS " FROM images ORDER BY created DESC, id", &s, err) < 0)
    return -1;
  while ((rc = sqlite3_step (s)) == SQLITE_ROW)
    {
      if (cnt == cap)
        {
          cap = cap ? cap * 2 : 16;
          imgs = xrealloc (imgs, cap * sizeof *imgs);
        }
      memset (&imgs[cnt], 0, sizeof imgs[cnt]);
      image_from_row (s, &imgs[cnt]);
      cnt++;
      if (load_image_rest (db, &imgs[cnt - 1], err) < 0)
        {
          pier_db_images_free (imgs, cnt);
          return -1;
        }
    }
  if (rc != SQLITE_DONE)
    {
      pier_db_images_free (imgs, cnt);
      return db_fail (db, rc, err, "cannot list images");
    }
  *out = imgs;
  *n = cnt;
  return 0;
}

/* Run one modifying statement with up to three text parameters in its own
 * unit of work; returns the number of rows changed, or -1 with *err set
 * (-2 when a constraint refused the change). */
static int
run_change (pier_db *db, const char *sql, const char *a, const char *b, const char *c, pier_error **err)
{
  cleanup_tx tx t = { 0 };
  cleanup_stmt sqlite3_stmt *s = NULL;
  int rc, changed;

  if (db_tx_begin (db, &t, err) < 0 || db_prepare (db, sql, &s, err) < 0)
    return -1;
  db_bind_text (s, 1, a);
  if (sqlite3_bind_parameter_count (s) >= 2)
    db_bind_text (s, 2, b);
  if (sqlite3_bind_parameter_count (s) >= 3)
    db_bind_text (s, 3, c);
  rc = sqlite3_step (s);
  if (rc != SQLITE_DONE)
    {
      db_fail (db, rc, err, "database update failed");
      return (rc & 0xff) == SQLITE_CONSTRAINT ? -2 : -1;
    }
  changed = sqlite3_changes (db->h);
  db_stmt_finalize (&s);
  if (db_tx_commit (&t, err) < 0)
    return -1;
  return changed;
}

int
pier_db_delete_image (pier_db *db, const char *id, pier_error **err)
{
  if (db_check_digest ("image id", id, err) < 0)
    return -1;
  int n = run_change (db, "DELETE FROM images WHERE id = ?1", id, NULL, NULL, err);
  if (n < 0)
    return pier_error_wrap (err, "cannot delete image %s", id);
  if (n == 0)
    return pier_error_makex (err, ENOENT, "no such image: %s", id);
  return 0;
}

int
pier_db_tag (pier_db *db, const char *reference, const char *image_id, pier_error **err)
{
  if (reference == NULL || reference[0] == '\0')
    return pier_error_makex (err, EINVAL, "cannot tag image: empty reference");
  if (db_check_digest ("image id", image_id, err) < 0)
    return -1;
  int n = run_change (db,
                      "INSERT INTO tags (reference, image_id) VALUES (?1, ?2)"
                      " ON CONFLICT (reference) DO UPDATE SET image_id = excluded.image_id",
                      reference, image_id, NULL, err);
  if (n < 0)
    {
      if (n == -2)
        return pier_error_makex (err, ENOENT, "cannot tag `%s`: no such image: %s", reference, image_id);
      return pier_error_wrap (err, "cannot tag image %s as `%s`", image_id, reference);
    }
  return 0;
}

int
pier_db_untag (pier_db *db, const char *reference, pier_error **err)
{
  int n = run_change (db, "DELETE FROM tags WHERE reference = ?1", reference, NULL, NULL, err);
  if (n < 0)
    return pier_error_wrap (err, "cannot untag `%s`", reference);
  if (n == 0)
    return pier_error_makex (err, ENOENT, "no such image reference: %s", reference);
  return 0;
}

int
pier_db_resolve_reference (pier_db *db, const char *reference, char **image_id, pier_error **err)
{
  cleanup_stmt sqlite3_stmt *s = NULL;
  if (db_prepare (db, "SELECT image_id FROM tags WHERE reference = ?1", &s, err) < 0)
    return pier_error_wrap (err, "cannot resolve `%s`", reference);
  db_bind_text (s, 1, reference);
  int rc = sqlite3_step (s);
  if (rc == SQLITE_DONE)
    return pier_error_makex (err, ENOENT, "no such image: %s", reference);
  if (rc != SQLITE_ROW)
    return db_fail (db, rc, err, "cannot resolve `%s`", reference);
  *image_id = db_col_text (s, 0);
  return 0;
}

int
pier_db_resolve_id_prefix (pier_db *db, const char *prefix, char **image_id, pier_error **err)
{
  cleanup_stmt sqlite3_stmt *s = NULL;
  cleanup_free char *pattern = NULL;
  const char *hex = prefix;
  size_t len;
  int rc;

  if (hex && strncmp (hex, "sha256:", 7) == 0)
    hex += 7;
  len = hex ? strlen (hex) : 0;
  if (len == 0 || len > PIER_SHA256_HEX_LEN || strspn (hex, "0123456789abcdef") != len)
    return pier_error_makex (err, EINVAL, "`%s` is not an image id or a prefix of one", prefix ? prefix : "");
  /* Only hex digits reach the pattern: no GLOB wildcard can. */
  pattern = xasprintf ("sha256:%s*", hex);
  if (db_prepare (db, "SELECT id FROM images WHERE id GLOB ?1 ORDER BY id LIMIT 2", &s, err) < 0)
    return pier_error_wrap (err, "cannot resolve image id `%s`", prefix);
  db_bind_text (s, 1, pattern);
  rc = sqlite3_step (s);
  if (rc == SQLITE_DONE)
    return pier_error_makex (err, ENOENT, "no such image: %s", prefix);
  if (rc != SQLITE_ROW)
    return db_fail (db, rc, err, "cannot resolve image id `%s`", prefix);
  cleanup_free char *first = db_col_text (s, 0);
  rc = sqlite3_step (s);
  if (rc == SQLITE_ROW)
    return pier_error_makex (err, ENOTUNIQ,
                             "image id prefix `%s` is ambiguous: it matches %s and %s at least", prefix,
                             first, (const char *) sqlite3_column_text (s, 0));
  if (rc != SQLITE_DONE)
    return db_fail (db, rc, err, "cannot resolve image id `%s`", prefix);
  *image_id = steal_pointer (&first);
  return 0;
}

/* Layers */

static const char *
state_name (pier_layer_state st)
{
  return st == PIER_LAYER_COMPLETE ? "complete" : "incomplete";
}

void
pier_db_layer_clear (pier_db_layer *l)
{
  if (l == NULL)
    return;
  free (l->chain_id);
  free (l->diff_id);
  free (l->parent);
  memset (l, 0, sizeof *l);
}

void
pier_db_layers_free (pier_db_layer *ls, size_t n)
{
  if (ls == NULL)
    return;
  for (size_t i = 0; i < n; i++)
    pier_db_layer_clear (&ls[i]);
  free (ls);
}

int
pier_db_layer_add (pier_db *db, const char *chain_id, const char *diff_id, const char *parent,
                   pier_error **err)
{
  if (db_check_digest ("layer chain id", chain_id, err) < 0
      || db_check_digest ("layer diff id", diff_id, err) < 0
      || (parent && db_check_digest ("parent chain id", parent, err) < 0))
    return -1;
  int n = run_change (db,
                      "INSERT INTO layers (chain_id, diff_id, parent, state, size, created)"
                      " VALUES (?1, ?2, ?3, 'incomplete', 0, CAST (strftime ('%s', 'now') AS INTEGER))"
                      " ON CONFLICT (chain_id) DO NOTHING",
                      chain_id, diff_id, parent, err);
  if (n < 0)
    {
      if (n == -2 && parent)
        return pier_error_makex (err, ENOENT, "cannot record layer %s: its parent %s is not recorded",
                                 chain_id, parent);
      return pier_error_wrap (err, "cannot record layer %s", chain_id);
    }
  return 0;
}

int
pier_db_layer_set_state (pier_db *db, const char *chain_id, pier_layer_state state, int64_t size,
                         pier_error **err)
{
  if (db_check_digest ("layer chain id", chain_id, err) < 0)
    return -1;
  cleanup_free char *sz = size >= 0 ? xasprintf ("%lld", (long long) size) : NULL;
  int n = run_change (db,
                      "UPDATE layers SET state = ?2, size = coalesce (CAST (?3 AS INTEGER), size)"
                      " WHERE chain_id = ?1",
                      chain_id, state_name (state), sz, err);
  if (n < 0)
    return pier_error_wrap (err, "cannot mark layer %s %s", chain_id, state_name (state));
  if (n == 0)
    return pier_error_makex (err, ENOENT, "no such layer: %s", chain_id);
  return 0;
}

#define LAYER_COLUMNS "chain_id, diff_id, parent, state, size, created"

static void
layer_from_row (sqlite3_stmt *s, pier_db_layer *l)
{
  l->chain_id = db_col_text (s, 0);
  l->diff_id = db_col_text (s, 1);
  l->parent = db_col_text (s, 2);
  l->state = strcmp ((const char *) sqlite3_column_text (s, 3), "complete") == 0 ? PIER_LAYER_COMPLETE
                                                                                 : PIER_LAYER_INCOMPLETE;
  l->size = sqlite3_column_int64 (s, 4);
  l->created = sqlite3_column_int64 (s, 5);
}

int
pier_db_layer_get (pier_db *db, const char *chain_id, pier_db_layer *out, pier_error **err)
{
  cleanup_stmt sqlite3_stmt *s = NULL;
  if (db_check_digest ("layer chain id", chain_id, err) < 0)
    return -1;
  if (db_prepare (db, "SELECT " LAYER_COLUMNS " FROM layers WHERE chain_id = ?1", &s, err) < 0)
    return pier_error_wrap (err, "cannot read layer %s", chain_id);
  db_bind_text (s, 1, chain_id);
  int rc = sqlite3_step (s);
  if (rc == SQLITE_DONE)
    return pier_error_makex (err, ENOENT, "no such layer: %s", chain_id);
  if (rc != SQLITE_ROW)
    return db_fail (db, rc, err, "cannot read layer %s", chain_id);
  layer_from_row (s, out);
  return 0;
}

int
pier_db_layer_list (pier_db *db, pier_db_layer **out, size_t *n, pier_error **err)
{
  cleanup_stmt sqlite3_stmt *s = NULL;
  pier_db_layer *ls = NULL;
  size_t cnt = 0, cap = 0;
  int rc;

  if (db_prepare (db, "SELECT " LAYER_COLUMNS " FROM layers ORDER BY created, chain_id", &s, err) < 0)
    return pier_error_wrap (err, "cannot list layers");
  while ((rc = sqlite3_step (s)) == SQLITE_ROW)
    {
      if (cnt == cap)
        {
          cap = cap ? cap * 2 : 16;
          ls = xrealloc (ls, cap * sizeof *ls);
        }
      layer_from_row (s, &ls[cnt++]);
    }
  if (rc != SQLITE_DONE)
    {
      pier_db_layers_free (ls, cnt);
      return db_fail (db, rc, err, "cannot list layers");
    }
  *out = ls;
  *n = cnt;
  return 0;
}

int
pier_db_layer_delete (pier_db *db, const char *chain_id, pier_error **err)
{
  if (db_check_digest ("layer chain id", chain_id, err) < 0)
    return -1;
  int n = run_change (db, "DELETE FROM layers WHERE chain_id = ?1", chain_id, NULL, NULL, err);
  if (n < 0)
    {
      if (n == -2)
        return pier_error_makex (err, EBUSY, "cannot delete layer %s: another layer is recorded on top of it",
                                 chain_id);
      return pier_error_wrap (err, "cannot delete layer %s", chain_id);
    }
  if (n == 0)
    return pier_error_makex (err, ENOENT, "no such layer: %s", chain_id);
  return 0;
}

/* Containers */

#define CONTAINER_COLUMNS "id, name, image_id, created, config, state"

void
pier_db_container_free (pier_db_container *c)
{
  if (c == NULL)
    return;
  free (c->id);
  free (c->name);
  free (c->image_id);
  free (c->config);
  free (c->state);
  free (c);
}

void
pier_db_containers_free (pier_db_container *cs, size_t n)
{
  for (size_t i = 0; i < n; i++)
    {
      free (cs[i].id);
      free (cs[i].name);
      free (cs[i].image_id);
      free (cs[i].config);
      free (cs[i].state);
    }
  free (cs);
}

static void
container_from_row (sqlite3_stmt *s, pier_db_container *c)
{
  c->id = db_col_text (s, 0);
  c->name = db_col_text (s, 1);
  c->image_id = db_col_text (s, 2);
  c->created = sqlite3_column_int64 (s, 3);
  c->config = db_col_text (s, 4);
  c->state = db_col_text (s, 5);
}

int
pier_db_container_add (pier_db *db, const pier_db_container *c, pier_error **err)
{
  cleanup_tx tx t = { 0 };
  cleanup_stmt sqlite3_stmt *s = NULL;
  if (db_tx_begin (db, &t, err) < 0
      || db_prepare (db, "INSERT INTO containers (" CONTAINER_COLUMNS ") VALUES (?1, ?2, ?3, ?4, ?5, ?6)", &s,
                     err)
             < 0)
    return -1;
  db_bind_text (s, 1, c->id);
  db_bind_text (s, 2, c->name);
  db_bind_text (s, 3, c->image_id);
  sqlite3_bind_int64 (s, 4, c->created);
  db_bind_text (s, 5, c->config);
  db_bind_text (s, 6, c->state);
  int rc = sqlite3_step (s);
  if ((rc & 0xff) == SQLITE_CONSTRAINT)
    return pier_error_makex (err, EEXIST, "the container name \"/%s\" is already in use", c->name);
  if (rc != SQLITE_DONE)
    return db_fail (db, rc, err, "cannot record container %s", c->name);
  db_stmt_finalize (&s);
  return db_tx_commit (&t, err);
}

int
pier_db_container_get (pier_db *db, const char *id, pier_db_container **out, pier_error **err)
{
  cleanup_stmt sqlite3_stmt *s = NULL;
  if (db_prepare (db, "SELECT " CONTAINER_COLUMNS " FROM containers WHERE id = ?1", &s, err) < 0)
    return -1;
  db_bind_text (s, 1, id);
  int rc = sqlite3_step (s);
  if (rc == SQLITE_DONE)
    return pier_error_makex (err, ENOENT, "No such container: %s", id);
  if (rc != SQLITE_ROW)
    return db_fail (db, rc, err, "cannot read container %s", id);
  pier_db_container *c = xzalloc (sizeof *c);
  container_from_row (s, c);
  *out = c;
  return 0;
}

/* The first column of the one row sql gives for a; NULL when none. */
static int
lookup_one (pier_db *db, const char *sql, const char *a, char **out, bool *ambiguous, pier_error **err)
{
  cleanup_stmt sqlite3_stmt *s = NULL;
  *out = NULL;
  if (db_prepare (db, sql, &s, err) < 0)
    return -1;
  db_bind_text (s, 1, a);
  int rc = sqlite3_step (s);
  if (rc == SQLITE_DONE)
    return 0;
  if (rc != SQLITE_ROW)
    return db_fail (db, rc, err, "cannot look up `%s`", a);
  *out = db_col_text (s, 0);
  if (ambiguous)
    *ambiguous = sqlite3_step (s) == SQLITE_ROW;
  return 0;
}

int
pier_db_container_find (pier_db *db, const char *key, char **id, pier_error **err)
{
  char *found = NULL;
  bool ambiguous = false;
  if (key == NULL || *key == '\0')
    return pier_error_makex (err, ENOENT, "No such container: %s", key ? key : "");
  if (*key == '/')
    key++;
  if (lookup_one (db, "SELECT id FROM containers WHERE id = ?1", key, &found, NULL, err) < 0)
    return -1;
  if (found == NULL
      && lookup_one (db, "SELECT id FROM containers WHERE name = ?1", key, &found, NULL, err) < 0)
    return -1;
  if (found == NULL && strspn (key, "0123456789abcdef") == strlen (key))
    {
      cleanup_free char *pattern = xasprintf ("%s*", key);
      if (lookup_one (db, "SELECT id FROM containers WHERE id GLOB ?1 LIMIT 2", pattern, &found, &ambiguous,
                      err)
          < 0)
        return -1;
      if (ambiguous)
        {
          free (found);
          return pier_error_makex (err, ENOTUNIQ, "multiple IDs found with provided prefix: %s", key);
        }
    }
  if (found == NULL)
    return pier_error_makex (err, ENOENT, "No such container: %s", key);
  *id = found;
  return 0;
}

int
pier_db_container_list (pier_db *db, pier_db_container **out, size_t *n, pier_error **err)
{
  cleanup_stmt sqlite3_stmt *s = NULL;
  pier_db_container *cs = NULL;
  size_t cnt = 0, cap = 0;
  int rc;
  if (db_prepare (db, "SELECT " CONTAINER_COLUMNS " FROM containers ORDER BY created DESC, id", &s, err) < 0)
    return -1;
  while ((rc = sqlite3_step (s)) == SQLITE_ROW)
    {
      if (cnt == cap)
        {
          cap = cap ? cap * 2 : 16;
          cs = xrealloc (cs, cap * sizeof *cs);
        }
      memset (&cs[cnt], 0, sizeof cs[cnt]);
      container_from_row (s, &cs[cnt++]);
    }
  if (rc != SQLITE_DONE)
    {
      pier_db_containers_free (cs, cnt);
      return db_fail (db, rc, err, "cannot list containers");
    }
  *out = cs;
  *n = cnt;
  return 0;
}

static int
container_change (pier_db *db, const char *sql, const char *id, const char *v, pier_error **err)
{
  int n = run_change (db, sql, id, v, NULL, err);
  if (n == -2)
    return pier_error_makex (err, EEXIST, "the container name \"/%s\" is already in use", v ? v : "");
  if (n < 0)
    return pier_error_wrap (err, "cannot update container %s", id);
  if (n == 0)
    return pier_error_makex (err, ENOENT, "No such container: %s", id);
  return 0;
}

int
pier_db_container_set_state (pier_db *db, const char *id, const char *state, pier_error **err)
{
  return container_change (db, "UPDATE containers SET state = ?2 WHERE id = ?1", id, state, err);
}

int
pier_db_container_set_config (pier_db *db, const char *id, const char *config, pier_error **err)
{
  return container_change (db, "UPDATE containers SET config = ?2 WHERE id = ?1", id, config, err);
}

int
pier_db_container_rename (pier_db *db, const char *id, const char *name, pier_error **err)
{
  return container_change (db, "UPDATE containers SET name = ?2 WHERE id = ?1", id, name, err);
}

int
pier_db_container_delete (pier_db *db, const char *id, pier_error **err)
{
  int n = run_change (db, "DELETE FROM containers WHERE id = ?1", id, NULL, NULL, err);
  if (n < 0)
    return pier_error_wrap (err, "cannot remove container %s", id);
  if (n == 0)
    return pier_error_makex (err, ENOENT, "No such container: %s", id);
  return 0;
}

int
pier_db_containers_of_image (pier_db *db, const char *image_id, char ***ids, pier_error **err)
{
  cleanup_stmt sqlite3_stmt *s = NULL;
  char **out = NULL;
  int rc;
  if (db_prepare (db, "SELECT id FROM containers WHERE image_id = ?1 ORDER BY created", &s, err) < 0)
    return -1;
  db_bind_text (s, 1, image_id);
  out = xcalloc (1, sizeof *out);
  while ((rc = sqlite3_step (s)) == SQLITE_ROW)
    strv_push (&out, (const char *) sqlite3_column_text (s, 0));
  if (rc != SQLITE_DONE)
    {
      strv_free (out);
      return db_fail (db, rc, err, "cannot list the containers of image %s", image_id);
    }
  *ids = out;
  return 0;
}
