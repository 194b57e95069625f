/* Unit tests for store/db: the schema, images with their layers and tags,
 * reference and id-prefix resolution, transactions, layer states, and
 * several processes writing at once. */
#include "unit.h"

#include <sqlite3.h>

#include "store/db.h"
#include "util/digest.h"
#include "util/xalloc.h"

typedef struct fx
{
  char *dir;
  char *path;
  pier_db *db;
} fx;

static int
fx_setup (void **state)
{
  static int n;
  pier_error *err = NULL;
  fx *f = xzalloc (sizeof *f);
  f->dir = xasprintf ("%s/db-%d", unit_dir, n++);
  if (mkdir (f->dir, 0700) < 0)
    fail_msg ("mkdir %s: %s", f->dir, strerror (errno));
  f->path = xasprintf ("%s/pier.db", f->dir);
  if (pier_db_open (f->path, &f->db, &err) < 0)
    fail_msg ("cannot open the database: %s", err->msg);
  *state = f;
  return 0;
}

static int
fx_teardown (void **state)
{
  fx *f = *state;
  pier_db_close (f->db);
  unit_rmrf (f->dir);
  free (f->dir);
  free (f->path);
  free (f);
  return 0;
}

/* A digest named by a label, as a stand-in for real content. */
static char *
dg (const char *label)
{
  char hex[PIER_SHA256_HEX_LEN + 1];
  pier_sha256_hex (label, strlen (label), hex);
  return xasprintf ("sha256:%s", hex);
}

/* A digest with the given hex prefix, padded with zeros. */
static char *
dg_prefix (const char *prefix)
{
  char hex[PIER_SHA256_HEX_LEN + 1];
  memset (hex, '0', PIER_SHA256_HEX_LEN);
  hex[PIER_SHA256_HEX_LEN] = '\0';
  memcpy (hex, prefix, strlen (prefix));
  return xasprintf ("sha256:%s", hex);
}

/* An image with n layers; every string is owned by it. */
static pier_db_image *
make_image (const char *id, size_t n)
{
  pier_db_image *img = xzalloc (sizeof *img);
  img->id = xstrdup (id);
  img->config_digest = xstrdup (id);
  img->created = 1700000000;
  img->size = 1000;
  img->manifest_digest = dg ("manifest");
  img->manifest_media_type = xstrdup ("application/vnd.oci.image.manifest.v1+json");
  img->n_layers = n;
  img->layers = xcalloc (n ? n : 1, sizeof *img->layers);
  for (size_t i = 0; i < n; i++)
    {
      char *label = xasprintf ("%s layer %zu", id, i);
      char *l2 = xasprintf ("%s chain %zu", id, i);
      char *l3 = xasprintf ("%s blob %zu", id, i);
      img->layers[i].diff_id = dg (label);
      img->layers[i].chain_id = dg (l2);
      img->layers[i].blob_digest = dg (l3);
      img->layers[i].media_type = xstrdup ("application/vnd.oci.image.layer.v1.tar+gzip");
      img->layers[i].size = (int64_t) (100 + i);
      free (label);
      free (l2);
      free (l3);
    }
  return img;
}

static void
put (fx *f, const char *id, size_t layers)
{
  pier_error *err = NULL;
  pier_db_image *img = make_image (id, layers);
  if (pier_db_put_image (f->db, img, &err) < 0)
    fail_msg ("put_image %s: %s", id, err->msg);
  pier_db_image_free (img);
}

static void
test_wal_and_schema (void **state)
{
  fx *f = *state;
  pier_error *err = NULL;
  char *mode = NULL;
  int version = 0;

  assert_int_equal (pier_db_journal_mode (f->db, &mode, &err), 0);
  assert_string_equal (mode, "wal");
  assert_int_equal (pier_db_schema_version (f->db, &version, &err), 0);
  assert_int_equal (version, PIER_DB_SCHEMA_VERSION);
  /* Migrating again is a no-op. */
  assert_int_equal (pier_db_migrate (f->db, &err), 0);
  assert_no_err (err);
  free (mode);

  /* Reopened, the mode and the version are the same. */
  pier_db_close (f->db);
  assert_int_equal (pier_db_open (f->path, &f->db, &err), 0);
  assert_int_equal (pier_db_journal_mode (f->db, &mode, &err), 0);
  assert_string_equal (mode, "wal");
  free (mode);
}

static void
test_newer_schema_refused (void **state)
{
  fx *f = *state;
  pier_error *err = NULL;
  sqlite3 *h = NULL;

  pier_db_close (f->db);
  f->db = NULL;
  assert_int_equal (sqlite3_open (f->path, &h), SQLITE_OK);
  assert_int_equal (sqlite3_exec (h, "UPDATE schema_version SET version = 99", NULL, NULL, NULL), SQLITE_OK);
  sqlite3_close (h);
  assert_int_equal (pier_db_open (f->path, &f->db, &err), -1);
  assert_null (f->db);
  assert_err_contains (err, "schema version 99", "newer");
  pier_error_free (&err);
}

static void
test_put_get_image (void **state)
{
  fx *f = *state;
  pier_error *err = NULL;
  char *id = dg ("config");
  pier_db_image *img = make_image (id, 3), *got = NULL;

  assert_int_equal (pier_db_put_image (f->db, img, &err), 0);
  assert_no_err (err);
  assert_int_equal (pier_db_tag (f->db, "docker.io/library/app:1", id, &err), 0);
  assert_int_equal (pier_db_get_image (f->db, id, &got, &err), 0);
  assert_string_equal (got->id, id);
  assert_string_equal (got->config_digest, id);
  assert_string_equal (got->manifest_digest, img->manifest_digest);
  assert_string_equal (got->manifest_media_type, img->manifest_media_type);
  assert_int_equal (got->created, img->created);
  assert_int_equal (got->size, img->size);
  assert_int_equal (got->n_layers, 3);
  for (size_t i = 0; i < 3; i++)
    {
      assert_string_equal (got->layers[i].diff_id, img->layers[i].diff_id);
      assert_string_equal (got->layers[i].chain_id, img->layers[i].chain_id);
      assert_string_equal (got->layers[i].blob_digest, img->layers[i].blob_digest);
      assert_string_equal (got->layers[i].media_type, img->layers[i].media_type);
      assert_int_equal (got->layers[i].size, img->layers[i].size);
    }
  assert_non_null (got->tags);
  assert_string_equal (got->tags[0], "docker.io/library/app:1");
  assert_null (got->tags[1]);
  pier_db_image_free (got);

  /* Put again with one layer: replaced, tags kept. */
  pier_db_image *img2 = make_image (id, 1);
  free (img2->manifest_digest);
  img2->manifest_digest = NULL;
  assert_int_equal (pier_db_put_image (f->db, img2, &err), 0);
  assert_int_equal (pier_db_get_image (f->db, id, &got, &err), 0);
  assert_int_equal (got->n_layers, 1);
  assert_null (got->manifest_digest);
  assert_string_equal (got->tags[0], "docker.io/library/app:1");
  pier_db_image_free (got);

  char *other = dg ("absent");
  assert_int_equal (pier_db_get_image (f->db, other, &got, &err), -1);
  assert_int_equal (err->code, ENOENT);
  assert_err_contains (err, "no such image", other);
  pier_error_free (&err);

  free (other);
  pier_db_image_free (img2);
  pier_db_image_free (img);
  free (id);
}

static void
test_put_image_checks_digests (void **state)
{
  fx *f = *state;
  pier_error *err = NULL;
  char *id = dg ("checked");
  pier_db_image *img = make_image (id, 2);

  free (img->layers[1].blob_digest);
  img->layers[1].blob_digest = xstrdup ("sha256:../../etc");
  assert_int_equal (pier_db_put_image (f->db, img, &err), -1);
  assert_err_contains (err, "layer blob digest", "not a valid digest");
  assert_int_equal (err->code, EINVAL);
  pier_error_free (&err);
  pier_db_image *got = NULL;
  assert_int_equal (pier_db_get_image (f->db, id, &got, &err), -1);
  pier_error_free (&err);
  pier_db_image_free (img);
  free (id);
}

static void
test_references (void **state)
{
  fx *f = *state;
  pier_error *err = NULL;
  char *a = dg ("image a"), *b = dg ("image b"), *ghost = dg ("ghost");
  char *got = NULL;

  put (f, a, 1);
  put (f, b, 1);
  assert_int_equal (pier_db_tag (f->db, "docker.io/library/app:1", a, &err), 0);
  assert_int_equal (pier_db_tag (f->db, "docker.io/library/app:latest", a, &err), 0);
  assert_int_equal (pier_db_resolve_reference (f->db, "docker.io/library/app:1", &got, &err), 0);
  assert_string_equal (got, a);
  free (got);

  /* Tagging again moves the tag. */
  assert_int_equal (pier_db_tag (f->db, "docker.io/library/app:latest", b, &err), 0);
  assert_int_equal (pier_db_resolve_reference (f->db, "docker.io/library/app:latest", &got, &err), 0);
  assert_string_equal (got, b);
  free (got);

  /* No tag on an image that is not there. */
  assert_int_equal (pier_db_tag (f->db, "docker.io/library/ghost:1", ghost, &err), -1);
  assert_int_equal (err->code, ENOENT);
  assert_err_contains (err, "ghost:1", ghost);
  pier_error_free (&err);

  assert_int_equal (pier_db_resolve_reference (f->db, "docker.io/library/nope:1", &got, &err), -1);
  assert_int_equal (err->code, ENOENT);
  assert_err_contains (err, "no such image", "nope:1");
  pier_error_free (&err);

  assert_int_equal (pier_db_untag (f->db, "docker.io/library/app:1", &err), 0);
  assert_int_equal (pier_db_resolve_reference (f->db, "docker.io/library/app:1", &got, &err), -1);
  pier_error_free (&err);
  assert_int_equal (pier_db_untag (f->db, "docker.io/library/app:1", &err), -1);
  assert_int_equal (err->code, ENOENT);
  pier_error_free (&err);

  /* Deleting the image takes its tags along. */
  assert_int_equal (pier_db_delete_image (f->db, b, &err), 0);
  assert_int_equal (pier_db_resolve_reference (f->db, "docker.io/library/app:latest", &got, &err), -1);
  assert_int_equal (err->code, ENOENT);
  pier_error_free (&err);
  assert_int_equal (pier_db_delete_image (f->db, b, &err), -1);
  assert_int_equal (err->code, ENOENT);
  pier_error_free (&err);

  free (a);
  free (b);
  free (ghost);
}

static void
test_id_prefix (void **state)
{
  fx *f = *state;
  pier_error *err = NULL;
  char *x = dg_prefix ("abc1"), *y = dg_prefix ("abc2"), *z = dg_prefix ("f00d");
  char *got = NULL;

  put (f, x, 0);
  put (f, y, 0);
  put (f, z, 0);

  assert_int_equal (pier_db_resolve_id_prefix (f->db, "abc", &got, &err), -1);
  assert_int_equal (err->code, ENOTUNIQ);
  assert_err_contains (err, "ambiguous", "abc", x, y);
  pier_error_free (&err);

  assert_int_equal (pier_db_resolve_id_prefix (f->db, "abc1", &got, &err), 0);
  assert_string_equal (got, x);
  free (got);
  assert_int_equal (pier_db_resolve_id_prefix (f->db, "sha256:abc2", &got, &err), 0);
  assert_string_equal (got, y);
  free (got);
  assert_int_equal (pier_db_resolve_id_prefix (f->db, "f", &got, &err), 0);
  assert_string_equal (got, z);
  free (got);
  assert_int_equal (pier_db_resolve_id_prefix (f->db, z, &got, &err), 0);
  assert_string_equal (got, z);
  free (got);

  assert_int_equal (pier_db_resolve_id_prefix (f->db, "abc3", &got, &err), -1);
  assert_int_equal (err->code, ENOENT);
  pier_error_free (&err);

  /* Wildcards and anything not hex never reach the query. */
  const char *bad[] = { "", "sha256:", "a*", "ab?", "[a]", "ABC1", "app", "abc1 ", NULL };
  for (size_t i = 0; bad[i]; i++)
    {
      assert_int_equal (pier_db_resolve_id_prefix (f->db, bad[i], &got, &err), -1);
      assert_int_equal (err->code, EINVAL);
      pier_error_free (&err);
    }
  free (x);
  free (y);
  free (z);
}

static void
test_list_images (void **state)
{
  fx *f = *state;
  pier_error *err = NULL;
  char *a = dg ("list a"), *b = dg ("list b");
  pier_db_image *imgs = NULL;
  size_t n = 99;

  assert_int_equal (pier_db_list_images (f->db, &imgs, &n, &err), 0);
  assert_int_equal (n, 0);
  pier_db_images_free (imgs, n);

  pier_db_image *img = make_image (a, 2);
  img->created = 100;
  assert_int_equal (pier_db_put_image (f->db, img, &err), 0);
  pier_db_image_free (img);
  img = make_image (b, 1);
  img->created = 200;
  assert_int_equal (pier_db_put_image (f->db, img, &err), 0);
  pier_db_image_free (img);
  assert_int_equal (pier_db_tag (f->db, "r/b:2", b, &err), 0);
  assert_int_equal (pier_db_tag (f->db, "r/b:1", b, &err), 0);

  assert_int_equal (pier_db_list_images (f->db, &imgs, &n, &err), 0);
  assert_no_err (err);
  assert_int_equal (n, 2);
  /* Newest first; tags sorted. */
  assert_string_equal (imgs[0].id, b);
  assert_int_equal (imgs[0].n_layers, 1);
  assert_string_equal (imgs[0].tags[0], "r/b:1");
  assert_string_equal (imgs[0].tags[1], "r/b:2");
  assert_null (imgs[0].tags[2]);
  assert_string_equal (imgs[1].id, a);
  assert_int_equal (imgs[1].n_layers, 2);
  assert_null (imgs[1].tags[0]);
  pier_db_images_free (imgs, n);
  free (a);
  free (b);
}

static int
count_rows (fx *f, const char *table)
{
  sqlite3 *h = NULL;
  sqlite3_stmt *s = NULL;
  char *sql = xasprintf ("SELECT count(*) FROM %s", table);
  int n = -1;
  assert_int_equal (sqlite3_open_v2 (f->path, &h, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
  assert_int_equal (sqlite3_prepare_v2 (h, sql, -1, &s, NULL), SQLITE_OK);
  if (sqlite3_step (s) == SQLITE_ROW)
    n = sqlite3_column_int (s, 0);
  sqlite3_finalize (s);
  sqlite3_close (h);
  free (sql);
  return n;
}

static void
test_rollback_leaves_no_partial_image (void **state)
{
  fx *f = *state;
  pier_error *err = NULL;
  char *id = dg ("rolled back");
  pier_db_image *got = NULL;
  char *ref = NULL;

  /* The caller's transaction rolled back: neither the image nor its tag. */
  assert_int_equal (pier_db_begin (f->db, &err), 0);
  put (f, id, 2);
  assert_int_equal (pier_db_tag (f->db, "r/rb:1", id, &err), 0);
  assert_int_equal (pier_db_rollback (f->db, &err), 0);
  assert_no_err (err);
  assert_int_equal (pier_db_get_image (f->db, id, &got, &err), -1);
  assert_int_equal (err->code, ENOENT);
  pier_error_free (&err);
  assert_int_equal (pier_db_resolve_reference (f->db, "r/rb:1", &ref, &err), -1);
  pier_error_free (&err);

  /* A failure half-way through put_image (the second layer row refused by
   * a trigger planted here) undoes the image row and the first layer. */
  sqlite3 *h = NULL;
  assert_int_equal (sqlite3_open (f->path, &h), SQLITE_OK);
  assert_int_equal (sqlite3_exec (h,
                                  "CREATE TRIGGER fail_second BEFORE INSERT ON image_layers WHEN NEW.idx = 1"
                                  " BEGIN SELECT RAISE (ABORT, 'injected failure'); END",
                                  NULL, NULL, NULL),
                    SQLITE_OK);
  sqlite3_close (h);
  pier_db_image *img = make_image (id, 2);
  assert_int_equal (pier_db_put_image (f->db, img, &err), -1);
  assert_err_contains (err, "layer 1", id, "injected failure");
  pier_error_free (&err);
  assert_int_equal (pier_db_get_image (f->db, id, &got, &err), -1);
  assert_int_equal (err->code, ENOENT);
  pier_error_free (&err);
  assert_int_equal (count_rows (f, "images"), 0);
  assert_int_equal (count_rows (f, "image_layers"), 0);

  /* The same failure inside the caller's transaction undoes only its own
   * part: what the caller did before stays for the caller to commit. */
  char *other = dg ("kept");
  assert_int_equal (pier_db_begin (f->db, &err), 0);
  put (f, other, 1);
  assert_int_equal (pier_db_put_image (f->db, img, &err), -1);
  pier_error_free (&err);
  assert_int_equal (pier_db_commit (f->db, &err), 0);
  assert_no_err (err);
  assert_int_equal (count_rows (f, "images"), 1);
  assert_int_equal (count_rows (f, "image_layers"), 1);
  assert_int_equal (pier_db_get_image (f->db, other, &got, &err), 0);
  pier_db_image_free (got);

  pier_db_image_free (img);
  free (other);
  free (id);
}

static void
test_layers (void **state)
{
  fx *f = *state;
  pier_error *err = NULL;
  char *base = dg ("chain base"), *top = dg ("chain top"), *orphan = dg ("chain orphan");
  char *d1 = dg ("diff 1"), *d2 = dg ("diff 2");
  pier_db_layer l = { 0 };
  pier_db_layer *ls = NULL;
  size_t n = 0;

  assert_int_equal (pier_db_layer_add (f->db, base, d1, NULL, &err), 0);
  assert_int_equal (pier_db_layer_add (f->db, top, d2, base, &err), 0);
  assert_no_err (err);
  /* Added again: nothing changes, not an error. */
  assert_int_equal (pier_db_layer_add (f->db, base, d1, NULL, &err), 0);

  assert_int_equal (pier_db_layer_get (f->db, top, &l, &err), 0);
  assert_string_equal (l.chain_id, top);
  assert_string_equal (l.diff_id, d2);
  assert_string_equal (l.parent, base);
  assert_int_equal (l.state, PIER_LAYER_INCOMPLETE);
  assert_true (l.created > 1600000000);
  pier_db_layer_clear (&l);

  assert_int_equal (pier_db_layer_set_state (f->db, base, PIER_LAYER_COMPLETE, 4096, &err), 0);
  assert_int_equal (pier_db_layer_get (f->db, base, &l, &err), 0);
  assert_int_equal (l.state, PIER_LAYER_COMPLETE);
  assert_int_equal (l.size, 4096);
  assert_null (l.parent);
  pier_db_layer_clear (&l);
  /* A negative size keeps the recorded one. */
  assert_int_equal (pier_db_layer_set_state (f->db, base, PIER_LAYER_INCOMPLETE, -1, &err), 0);
  assert_int_equal (pier_db_layer_get (f->db, base, &l, &err), 0);
  assert_int_equal (l.state, PIER_LAYER_INCOMPLETE);
  assert_int_equal (l.size, 4096);
  pier_db_layer_clear (&l);

  /* The parent must be recorded first. */
  assert_int_equal (pier_db_layer_add (f->db, orphan, d1, d2, &err), -1);
  assert_int_equal (err->code, ENOENT);
  assert_err_contains (err, orphan, "parent", d2);
  pier_error_free (&err);
  assert_int_equal (pier_db_layer_set_state (f->db, orphan, PIER_LAYER_COMPLETE, 1, &err), -1);
  assert_int_equal (err->code, ENOENT);
  pier_error_free (&err);
  assert_int_equal (pier_db_layer_get (f->db, orphan, &l, &err), -1);
  assert_int_equal (err->code, ENOENT);
  pier_error_free (&err);

  assert_int_equal (pier_db_layer_list (f->db, &ls, &n, &err), 0);
  assert_int_equal (n, 2);
  pier_db_layers_free (ls, n);

  /* A layer with another on top of it stays. */
  assert_int_equal (pier_db_layer_delete (f->db, base, &err), -1);
  assert_int_equal (err->code, EBUSY);
  assert_err_contains (err, base, "on top");
  pier_error_free (&err);
  assert_int_equal (pier_db_layer_delete (f->db, top, &err), 0);
  assert_int_equal (pier_db_layer_delete (f->db, base, &err), 0);
  assert_int_equal (pier_db_layer_delete (f->db, base, &err), -1);
  assert_int_equal (err->code, ENOENT);
  pier_error_free (&err);
  assert_int_equal (pier_db_layer_list (f->db, &ls, &n, &err), 0);
  assert_int_equal (n, 0);
  pier_db_layers_free (ls, n);

  free (base);
  free (top);
  free (orphan);
  free (d1);
  free (d2);
}

#define N_PROCS 8
#define PER_PROC 10

static void
test_concurrent_processes (void **state)
{
  fx *f = *state;
  pier_error *err = NULL;
  pid_t pids[N_PROCS];

  fflush (NULL);
  for (int k = 0; k < N_PROCS; k++)
    {
      pids[k] = fork ();
      assert_true (pids[k] >= 0);
      if (pids[k] == 0)
        {
          pier_db *db = NULL;
          int rc = 0;
          /* Its own connection: sqlite handles do not cross fork. */
          if (pier_db_open (f->path, &db, &err) < 0)
            rc = 1;
          for (int i = 0; rc == 0 && i < PER_PROC; i++)
            {
              char *label = xasprintf ("proc %d image %d", k, i);
              char *id = dg (label);
              char *ref = xasprintf ("r/p%d:%d", k, i);
              pier_db_image *img = make_image (id, 2);
              if (pier_db_put_image (db, img, &err) < 0 || pier_db_tag (db, ref, id, &err) < 0
                  || pier_db_tag (db, "r/shared:latest", id, &err) < 0)
                rc = 1;
              pier_db_image_free (img);
              free (ref);
              free (id);
              free (label);
            }
          if (err)
            fprintf (stderr, "process %d: %s\n", k, err->msg);
          pier_db_close (db);
          _exit (rc);
        }
    }
  for (int k = 0; k < N_PROCS; k++)
    {
      int status = 0;
      assert_int_equal (waitpid (pids[k], &status, 0), pids[k]);
      if (!WIFEXITED (status) || WEXITSTATUS (status) != 0)
        fail_msg ("process %d failed (status %#x)", k, status);
    }
  pier_db_image *imgs = NULL;
  size_t n = 0;
  assert_int_equal (pier_db_list_images (f->db, &imgs, &n, &err), 0);
  assert_no_err (err);
  assert_int_equal (n, N_PROCS * PER_PROC);
  size_t tags = 0;
  for (size_t i = 0; i < n; i++)
    {
      assert_int_equal (imgs[i].n_layers, 2);
      tags += strv_len (imgs[i].tags);
    }
  assert_int_equal (tags, N_PROCS * PER_PROC + 1);
  pier_db_images_free (imgs, n);
  assert_int_equal (count_rows (f, "image_layers"), 2 * N_PROCS * PER_PROC);
}

static const unit_known_bug bugs[] = {};

#define DB_TEST(t) cmocka_unit_test_setup_teardown (t, fx_setup, fx_teardown)

int
main (int argc, char **argv)
{
  const struct CMUnitTest tests[] = {
    DB_TEST (test_wal_and_schema), DB_TEST (test_newer_schema_refused),
    DB_TEST (test_put_get_image),  DB_TEST (test_put_image_checks_digests),
    DB_TEST (test_references),     DB_TEST (test_id_prefix),
    DB_TEST (test_list_images),    DB_TEST (test_rollback_leaves_no_partial_image),
    DB_TEST (test_layers),         DB_TEST (test_concurrent_processes),
  };
  unit_dir_setup (NULL);
  int rc = UNIT_RUN (tests, bugs, argc, argv);
  unit_dir_teardown (NULL);
  return rc;
}
