/* commit.c - images made here: a directory of changes becomes a layer,
 * a config and its layers become an image (see images.h). */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <zlib.h>

#include "archive/diff.h"
#include "archive/extract.h"
#include "image/images.h"
#include "image/manifest.h"
#include "image/reference.h"
#include "store/blobs.h"
#include "store/db.h"
#include "util/cleanup.h"
#include "util/digest.h"
#include "util/json.h"
#include "util/xalloc.h"

#include "util/banned.h"

void
pier_new_layer_clear (pier_new_layer *l)
{
  free (l->blob);
  free (l->chain_id);
  memset (l, 0, sizeof *l);
}

/* The tar goes through sha256 (the diff id) and gzip into a blob. */
struct sink
{
  pier_sha256 *tar_hash;
  z_stream z;
  pier_blob_writer *w;
  unsigned char out[1 << 16];
};

static int
deflate_some (struct sink *s, int flush, pier_error **err)
{
  do
    {
      s->z.next_out = s->out;
      s->z.avail_out = sizeof s->out;
      int r = deflate (&s->z, flush);
      if (r == Z_STREAM_ERROR)
        return pier_error_makex (err, EIO, "cannot compress the layer");
      size_t n = sizeof s->out - s->z.avail_out;
      if (n && pier_blob_write (s->w, s->out, n, err) < 0)
        return -1;
    }
  while (s->z.avail_out == 0);
  return 0;
}

static int
on_tar (void *data, const void *buf, size_t len, pier_error **err)
{
  struct sink *s = data;
  pier_sha256_update (s->tar_hash, buf, len);
  s->z.next_in = (unsigned char *) buf;
  s->z.avail_in = (uInt) len;
  return deflate_some (s, Z_NO_FLUSH, err);
}

int
pier_image_layer_from_dir (pier_store *st, const char *dir, const char *parent, int64_t clamp_mtime,
                           bool adopt, const char *const *skip_empty, pier_new_layer *out, pier_error **err)
{
  struct sink s = { 0 };
  char hex[PIER_SHA256_HEX_LEN + 1];
  pier_diff_opts o = { .clamp_mtime = clamp_mtime, .fix_tree = adopt, .skip_empty = skip_empty };
  cleanup_free char *blob = NULL;
  uint64_t bytes = 0;
  memset (out, 0, sizeof *out);
  cleanup_close int dirfd = open (dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dirfd < 0)
    return pier_error_make (err, errno, "cannot open %s", dir);
  s.w = pier_blob_begin (st, err);
  if (s.w == NULL)
    return -1;
  s.tar_hash = pier_sha256_new ();
  /* Level 1: a layer is written once per build step, and speed matters
   * more there than the last few percent of size. gzip's header carries
   * no name and no time, so equal trees give equal blobs. */
  if (deflateInit2 (&s.z, 1, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK)
    {
      pier_blob_abort (s.w);
      pier_sha256_final (s.tar_hash, hex);
      return pier_error_makex (err, ENOMEM, "cannot start compressing a layer");
    }
  int r = pier_layer_diff (dirfd, &o, on_tar, &s, &bytes, err);
  if (r == 0)
    {
      s.z.next_in = NULL;
      s.z.avail_in = 0;
      r = deflate_some (&s, Z_FINISH, err);
    }
  deflateEnd (&s.z);
  pier_sha256_final (s.tar_hash, hex);
  if (r < 0)
    {
      pier_blob_abort (s.w);
      return -1;
    }
  out->blob_size = (int64_t) pier_blob_written (s.w);
  if (pier_blob_commit (s.w, NULL, &blob, err) < 0)
    return -1;
  snprintf (out->diff_id, sizeof out->diff_id, "sha256:%s", hex);

  /* The directory now is what the blob says (fix_tree): it becomes the
   * unpacked layer as it is, with no second copy of every file.  On
   * another filesystem the blob is unpacked instead. */
  cleanup_close int layers = openat (pier_store_root_fd (st), "layers", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  cleanup_free char *tmp = pier_store_tmp_name (st);
  if (adopt && layers >= 0 && syncfs (dirfd) == 0 && renameat (AT_FDCWD, dir, layers, tmp) == 0)
    {
      fsync (layers);
      if (pier_image_place_layer (st, layers, tmp, out->diff_id, parent, (int64_t) bytes, &out->chain_id, err)
          < 0)
        {
          pier_image_drop_unreferenced (st, (const char *[]){ blob }, 1);
          return -1;
        }
      out->size = (int64_t) bytes;
      out->blob = steal_pointer (&blob);
      return 0;
    }

  pier_extract_result res = { 0 };
  if (pier_image_unpack_layer (st, blob, parent, false, &out->chain_id, &res, err) < 0)
    {
      pier_image_drop_unreferenced (st, (const char *[]){ blob }, 1);
      return -1;
    }
  if (strcmp (res.diff_id, out->diff_id) != 0)
    {
      pier_image_drop_unused (st, (const char *[]){ out->chain_id }, 1, (const char *[]){ blob }, 1);
      return pier_error_makex (err, EIO, "layer %s: unpacked as %s, written as %s", blob, res.diff_id,
                               out->diff_id);
    }
  out->size = (int64_t) res.unpacked_size;
  out->blob = steal_pointer (&blob);
  return 0;
}

static int
put_json (pier_store *st, json_t *j, char **digest, size_t *size, pier_error **err)
{
  cleanup_free char *text = json_dumps (j, JSON_COMPACT | JSON_SORT_KEYS);
  *size = strlen (text);
  return pier_blob_put (st, text, *size, NULL, digest, err);
}

int
pier_image_create (pier_store *st, json_t *config, const pier_db_image_layer *layers, size_t n,
                   const char *tag, char **id, pier_error **err)
{
  cleanup_ref pier_ref *ref = NULL;
  cleanup_free char *config_digest = NULL;
  cleanup_free char *manifest_digest = NULL;
  size_t config_size = 0, manifest_size = 0;
  pier_db *db = pier_store_db (st);
  int64_t size = 0;

  if (tag && pier_ref_parse (tag, &ref, err) < 0)
    return -1;
  if (ref && ref->digest)
    return pier_error_makex (err, EINVAL, "invalid tag `%s`: a tag may not hold a digest", tag);
  if (json_array_size (json_object_get (json_object_get (config, "rootfs"), "diff_ids")) != n)
    return pier_error_makex (
        err, EINVAL, "the image config names %zu layers, %zu given",
        json_array_size (json_object_get (json_object_get (config, "rootfs"), "diff_ids")), n);
  json_t *mlayers = json_array ();
  for (size_t i = 0; i < n; i++)
    {
      pier_db_layer l = { 0 };
      if (pier_db_layer_get (db, layers[i].chain_id, &l, err) < 0)
        {
          json_decref (mlayers);
          return pier_error_wrap (err, "layer %s", layers[i].chain_id);
        }
      size += l.size;
      pier_db_layer_clear (&l);
      json_array_append_new (mlayers,
                             json_pack ("{s:s, s:s, s:I}", "mediaType", layers[i].media_type, "digest",
                                        layers[i].blob_digest, "size", (json_int_t) layers[i].size));
    }
  if (put_json (st, config, &config_digest, &config_size, err) < 0)
    {
      json_decref (mlayers);
      return -1;
    }
  cleanup_json json_t *manifest
      = json_pack ("{s:i, s:s, s:{s:s, s:s, s:I}, s:o}", "schemaVersion", 2, "mediaType",
                   PIER_MT_OCI_MANIFEST, "config", "mediaType", PIER_MT_OCI_CONFIG, "digest", config_digest,
                   "size", (json_int_t) config_size, "layers", mlayers);
  if (put_json (st, manifest, &manifest_digest, &manifest_size, err) < 0)
    {
      pier_image_drop_unreferenced (st, (const char *[]){ config_digest }, 1);
      return -1;
    }
  pier_db_image img = { config_digest,
                        (int64_t) time (NULL),
                        size,
                        config_digest,
                        manifest_digest,
                        (char *) PIER_MT_OCI_MANIFEST,
                        (pier_db_image_layer *) layers,
                        n,
                        NULL };
  if (pier_db_begin (db, err) < 0)
    goto rollback;
  if (pier_db_put_image (db, &img, err) < 0)
    goto rollback;
  if (ref)
    {
      cleanup_free char *full = pier_ref_string (ref);
      if (pier_db_tag (db, full, config_digest, err) < 0)
        goto rollback;
    }
  if (pier_db_commit (db, err) < 0)
    goto rollback;
  *id = steal_pointer (&config_digest);
  return 0;
rollback:
  pier_db_rollback (db, NULL);
  /* The config and manifest written for it go, unless an image has them. */
  pier_image_drop_unreferenced (st, (const char *[]){ config_digest, manifest_digest }, 2);
  return -1;
}
