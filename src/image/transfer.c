/* transfer.c - docker save / docker load: docker-archive and oci-archive
 * tarballs and OCI layout directories, written deterministically (same
 * image, same bytes) and read as hostile input (every blob verified, every
 * layer checked against the config's diff ids, nothing recorded until all
 * of it is in place). */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "archive/archive_dl.h"
#include "archive/dstream.h"
#include "archive/extract.h"
#include "image/images.h"
#include "image/ingest.h"
#include "image/manifest.h"
#include "image/reference.h"
#include "store/blobs.h"
#include "store/db.h"
#include "util/cleanup.h"
#include "util/digest.h"
#include "util/fs.h"
#include "util/json.h"
#include "util/xalloc.h"
#include "util/banned.h"

/* ---- save -------------------------------------------------------------- */

/* Where a save goes: a tar stream (docker-archive, oci-archive) or an OCI
 * image layout directory (oci-dir).  Members are named as in the archive
 * ("blobs/sha256/<hex>", "index.json"), so both forms hold the same bytes
 * under the same names. */
typedef struct save_sink save_sink;
struct save_sink
{
  /* Add member name: size bytes read from fd, from its start. */
  int (*add) (save_sink *s, const char *name, int fd, int64_t size, pier_error **err);
  struct archive *a; /* the tar */
  int dirfd;         /* the layout directory */
};

static int
tar_add (save_sink *s, const char *name, int fd, int64_t size, pier_error **err)
{
  struct archive *a = s->a;
  struct archive_entry *e = archive_entry_new ();
  archive_entry_set_pathname (e, name);
  archive_entry_set_size (e, size);
  archive_entry_set_filetype (e, AE_IFREG);
  archive_entry_set_perm (e, 0644);
  archive_entry_set_mtime (e, 0, 0);
  if (archive_write_header (a, e) != ARCHIVE_OK)
    {
      archive_entry_free (e);
      return pier_error_makex (err, EIO, "cannot write `%s` to the archive: %s", name,
                               archive_error_string (a));
    }
  archive_entry_free (e);
  char buf[1 << 16];
  lseek (fd, 0, SEEK_SET);
  for (;;)
    {
      ssize_t n = read (fd, buf, sizeof buf);
      if (n < 0 && errno == EINTR)
        continue;
      if (n < 0)
        return pier_error_make (err, errno, "cannot read `%s`", name);
      if (n == 0)
        break;
      if (archive_write_data (a, buf, (size_t) n) < 0)
        return pier_error_makex (err, EIO, "cannot write `%s` to the archive: %s", name,
                                 archive_error_string (a));
    }
  return 0;
}

/* A file of the layout, its directory made on first use.  copy_file_range
 * lets the filesystem share or copy the blob's extents in the kernel. */
static int
dir_add (save_sink *s, const char *name, int fd, int64_t size, pier_error **err)
{
  const char *slash = strrchr (name, '/');
  cleanup_close int parent = -1;
  if (slash)
    {
      cleanup_free char *dir = xstrndup (name, (size_t) (slash - name));
      parent = pier_mkdir_in_root (s->dirfd, dir, 0755, err);
      if (parent < 0)
        return -1;
    }
  cleanup_close int out = openat (slash ? parent : s->dirfd, slash ? slash + 1 : name,
                                  O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
  if (out < 0)
    return pier_error_make (err, errno, "cannot create `%s`", name);
  int64_t done = 0;
  bool plain = false;
  char buf[1 << 16];
  lseek (fd, 0, SEEK_SET);
  while (done < size)
    {
      ssize_t n = plain ? read (fd, buf, sizeof buf)
                        : copy_file_range (fd, NULL, out, NULL, (size_t) (size - done), 0);
      if (n < 0 && errno == EINTR)
        continue;
      if (n < 0 && !plain && (errno == EXDEV || errno == EINVAL || errno == ENOSYS || errno == EOPNOTSUPP))
        {
          plain = true;
          continue;
        }
      if (n < 0)
        return pier_error_make (err, errno, "cannot write `%s`", name);
      if (n == 0)
        return pier_error_makex (err, EIO, "cannot write `%s`: its source ended early", name);
      if (plain && pier_write_all (out, buf, (size_t) n) < 0)
        return pier_error_make (err, errno, "cannot write `%s`", name);
      done += n;
    }
  return 0;
}

static int
sink_add_buf (save_sink *s, const char *name, const char *data, size_t len, pier_error **err)
{
  cleanup_close int fd = (int) memfd_create ("pier-save", MFD_CLOEXEC);
  if (fd < 0 || pier_write_all (fd, data, len) < 0)
    return pier_error_make (err, errno, "memfd");
  return s->add (s, name, fd, (int64_t) len, err);
}

static ssize_t
archive_fd_write (struct archive *a, void *ctx, const void *buf, size_t len)
{
  (void) a;
  int fd = *(int *) ctx;
  if (pier_write_all (fd, buf, len) < 0)
    return -1;
  return (ssize_t) len;
}

/* The uncompressed tar of a stored layer blob, in a memfd. */
static int
layer_tar (pier_store *st, const char *blob, int64_t *size, pier_error **err)
{
  cleanup_close int in = pier_blob_open (st, blob, err);
  if (in < 0)
    return -1;
  cleanup_close int out = (int) memfd_create ("pier-layer", MFD_CLOEXEC);
  if (out < 0)
    return pier_error_make (err, errno, "memfd");
  pier_dstream *ds = NULL;
  if (pier_dstream_open (in, &ds, err) < 0)
    return -1;
  char buf[1 << 16];
  int64_t total = 0;
  for (;;)
    {
      ssize_t n = pier_dstream_read (ds, buf, sizeof buf, err);
      if (n < 0)
        {
          pier_dstream_free (ds);
          return pier_error_wrap (err, "layer %s", blob);
        }
      if (n == 0)
        break;
      if (pier_write_all (out, buf, (size_t) n) < 0)
        {
          pier_dstream_free (ds);
          return pier_error_make (err, errno, "memfd");
        }
      total += n;
    }
  pier_dstream_free (ds);
  *size = total;
  return move_fd (&out);
}

static int
add_blob (save_sink *s, pier_store *st, const char *name, const char *digest, pier_error **err)
{
  uint64_t size = 0;
  cleanup_close int fd = pier_blob_open (st, digest, err);
  if (fd < 0 || pier_blob_size (st, digest, &size, err) < 0)
    return -1;
  return s->add (s, name, fd, (int64_t) size, err);
}

int
pier_image_save (pier_store *st, char *const *names, const char *format, int fd, pier_error **err)
{
  pier_db *db = pier_store_db (st);
  bool dir = strcmp (format, "oci-dir") == 0;
  bool oci = dir || strcmp (format, "oci-archive") == 0;
  if (!oci && strcmp (format, "docker-archive") != 0)
    return pier_error_makex (err, EINVAL, "unknown format `%s` (docker-archive, oci-archive or oci-dir)",
                             format);
  /* Resolve everything first: a missing image writes nothing. */
  size_t n = strv_len (names);
  cleanup_strv char **ids = NULL;
  cleanup_strv char **tags = NULL;
  for (size_t i = 0; i < n; i++)
    {
      char *id = NULL;
      if (pier_image_resolve (st, names[i], &id, err) < 0)
        return -1;
      strv_push (&ids, id);
      free (id);
      /* The tag it was named by, when it was named by one. */
      cleanup_ref pier_ref *r = NULL;
      char *tag = NULL;
      if (strncmp (names[i], "sha256:", 7) != 0 && !pier_ref_is_id_prefix (names[i])
          && pier_ref_parse (names[i], &r, NULL) == 0 && r->digest == NULL)
        tag = pier_ref_familiar (r);
      strv_push (&tags, tag ? tag : "");
      free (tag);
    }
  save_sink sink = { dir ? dir_add : tar_add, NULL, fd };
  int outfd = fd;
  /* A save never mixes with what is there. */
  if (dir && pier_dir_check_empty (fd, "the output directory", err) < 0)
    return -1;
  if (!dir && pier_archive_dl_open (err) < 0)
    return -1;
  if (!dir)
    {
      sink.a = archive_write_new ();
      archive_write_set_format_pax_restricted (sink.a);
      archive_write_set_bytes_in_last_block (sink.a, 1);
      if (archive_write_open (sink.a, &outfd, NULL, archive_fd_write, NULL) != ARCHIVE_OK)
        {
          archive_write_free (sink.a);
          return pier_error_makex (err, EIO, "cannot start the archive");
        }
    }
  int rc = -1;
  json_t *top = json_array ();
  cleanup_strv char **written = NULL;
  cleanup_strv char **layer_names = NULL;
  if (oci && (sink_add_buf (&sink, "oci-layout", "{\"imageLayoutVersion\":\"1.0.0\"}", 30, err) < 0))
    goto out;
  for (size_t i = 0; i < n; i++)
    {
      pier_db_image *img = NULL;
      if (pier_db_get_image (db, ids[i], &img, err) < 0)
        goto out;
      bool dup = false;
      for (size_t k = 0; written && written[k]; k++)
        dup |= strcmp (written[k], ids[i]) == 0;
      if (oci)
        {
          cleanup_free char *mname = xasprintf ("blobs/sha256/%s", img->manifest_digest + 7);
          cleanup_free char *cname = xasprintf ("blobs/sha256/%s", img->config_digest + 7);
          int r = dup ? 0 : add_blob (&sink, st, cname, img->config_digest, err);
          for (size_t k = 0; r == 0 && !dup && k < img->n_layers; k++)
            {
              cleanup_free char *lname = xasprintf ("blobs/sha256/%s", img->layers[k].blob_digest + 7);
              bool have = false;
              for (size_t w = 0; layer_names && layer_names[w]; w++)
                have |= strcmp (layer_names[w], lname) == 0;
              if (have)
                continue;
              strv_push (&layer_names, lname);
              r = add_blob (&sink, st, lname, img->layers[k].blob_digest, err);
            }
          if (r == 0 && !dup)
            r = add_blob (&sink, st, mname, img->manifest_digest, err);
          uint64_t msize = 0;
          pier_blob_size (st, img->manifest_digest, &msize, NULL);
          json_t *d = json_pack ("{s:s, s:s, s:I}", "mediaType", PIER_MT_OCI_MANIFEST, "digest",
                                 img->manifest_digest, "size", (json_int_t) msize);
          if (*tags[i])
            {
              cleanup_ref pier_ref *ref = NULL;
              pier_ref_parse (tags[i], &ref, NULL);
              cleanup_free char *full = ref ? pier_ref_string (ref) : xstrdup (tags[i]);
              json_object_set_new (d, "annotations",
                                   json_pack ("{s:s, s:s}", "io.containerd.image.name", full,
                                              "org.opencontainers.image.ref.name",
                                              ref && ref->tag ? ref->tag : ""));
            }
          json_array_append_new (top, d);
          pier_db_image_free (img);
          if (r < 0)
            goto out;
        }
      else
        {
          cleanup_free char *cname = xasprintf ("%s.json", img->config_digest + 7);
          json_t *layers = json_array ();
          int r = dup ? 0 : add_blob (&sink, st, cname, img->config_digest, err);
          for (size_t k = 0; k < img->n_layers; k++)
            {
              cleanup_free char *lname = xasprintf ("%s.tar", img->layers[k].diff_id + 7);
              json_array_append_new (layers, json_string (lname));
              /* A layer several images share is in the archive once. */
              bool have = false;
              for (size_t w = 0; layer_names && layer_names[w]; w++)
                have |= strcmp (layer_names[w], lname) == 0;
              if (r < 0 || dup || have)
                continue;
              strv_push (&layer_names, lname);
              int64_t size = 0;
              cleanup_close int tfd = layer_tar (st, img->layers[k].blob_digest, &size, err);
              r = tfd < 0 ? -1 : sink.add (&sink, lname, tfd, size, err);
            }
          /* One entry per image: a second name adds to its RepoTags. */
          json_t *entry = NULL, *e;
          size_t x;
          json_array_foreach (top, x, e) if (strcmp (json_string_value (json_object_get (e, "Config")), cname)
                                             == 0) entry
              = e;
          if (entry == NULL)
            {
              entry = json_pack ("{s:s, s:[], s:o}", "Config", cname, "RepoTags", "Layers", layers);
              json_array_append_new (top, entry);
            }
          else
            json_decref (layers);
          json_t *repo_tags = json_object_get (entry, "RepoTags");
          bool listed = false;
          json_array_foreach (repo_tags, x, e) listed |= strcmp (json_string_value (e), tags[i]) == 0;
          if (*tags[i] && !listed)
            json_array_append_new (repo_tags, json_string (tags[i]));
          pier_db_image_free (img);
          if (r < 0)
            goto out;
        }
      strv_push (&written, ids[i]);
    }
  {
    json_t *doc = oci ? json_pack ("{s:i, s:s, s:O}", "schemaVersion", 2, "mediaType", PIER_MT_OCI_INDEX,
                                   "manifests", top)
                      : json_incref (top);
    cleanup_free char *text = json_dumps (doc, JSON_COMPACT);
    json_decref (doc);
    if (sink_add_buf (&sink, oci ? "index.json" : "manifest.json", text, strlen (text), err) < 0)
      goto out;
  }
  if (sink.a && archive_write_close (sink.a) != ARCHIVE_OK)
    {
      pier_error_makex (err, EIO, "cannot finish the archive: %s", archive_error_string (sink.a));
      goto out;
    }
  /* The layout is durable before anyone renames it into place. */
  if (dir && syncfs (fd) < 0)
    {
      pier_error_make (err, errno, "cannot flush the image layout");
      goto out;
    }
  rc = 0;
out:
  json_decref (top);
  if (sink.a)
    archive_write_free (sink.a);
  return rc;
}

/* ---- load -------------------------------------------------------------- */

struct loading
{
  pier_store *st;
  json_t *members; /* archive member name -> digest of its content, in the blob store */
  char **blobs;    /* committed during this load (dropped on failure) */
  char **chains;   /* layers recorded during this load (dropped on failure) */
  char **report;
  int dirfd;        /* an OCI layout directory: members are read from it when first named; else -1 */
  const char *what; /* "archive" or "image layout", for messages */
};

/* "./a//b" and "a/b" name the same member. */
static char *
member_key (const char *name)
{
  while (name[0] == '.' && name[1] == '/')
    name += 2;
  while (*name == '/')
    name++;
  char *k = xstrdup (name), *w = k;
  for (const char *r = k; *r; r++)
    if (!(*r == '/' && (w == k || w[-1] == '/')))
      *w++ = *r;
  *w = '\0';
  return k;
}

/* The content of member key (its data from w) is in the blob store now. */
static int
member_commit (struct loading *l, const char *key, pier_blob_writer *w, pier_error **err)
{
  char *digest = NULL;
  if (pier_blob_commit (w, NULL, &digest, err) < 0)
    return -1;
  strv_push (&l->blobs, digest);
  json_object_set_new (l->members, key, json_string (digest));
  free (digest);
  return 0;
}

/* A file of a layout directory into the blob store, hashed as it is
 * copied, as an archive member is; absent is not an error here. */
static int
read_layout_file (struct loading *l, const char *key, pier_error **err)
{
  pier_error *e = NULL;
  /* O_NONBLOCK: a FIFO planted in the layout must not hang the load. */
  cleanup_close int fd = pier_open_in_root (l->dirfd, key, O_RDONLY | O_NONBLOCK | O_CLOEXEC, 0, &e);
  if (fd < 0)
    {
      if (e && (e->code == ENOENT || e->code == ENOTDIR || e->code == ELOOP))
        {
          pier_error_free (&e);
          return 0;
        }
      *err = e;
      return pier_error_wrap (err, "image layout");
    }
  struct stat sb;
  if (fstat (fd, &sb) < 0 || !S_ISREG (sb.st_mode))
    return pier_error_makex (err, EINVAL, "`%s` in the image layout is not a regular file", key);
  pier_blob_writer *w = pier_blob_begin (l->st, err);
  if (w == NULL)
    return -1;
  cleanup_free char *what = xasprintf ("`%s` in the image layout", key);
  if (pier_blob_write_fd (w, fd, what, err) < 0)
    {
      pier_blob_abort (w);
      return -1;
    }
  return member_commit (l, key, w, err);
}

static const char *
member_digest (struct loading *l, const char *name, pier_error **err)
{
  cleanup_free char *key = member_key (name);
  const char *d = json_string_value (json_object_get (l->members, key));
  if (d == NULL && l->dirfd >= 0)
    {
      if (read_layout_file (l, key, err) < 0)
        return NULL;
      d = json_string_value (json_object_get (l->members, key));
    }
  if (d == NULL)
    pier_error_makex (err, ENOENT, "`%s` is missing from the %s", name, l->what);
  return d;
}

static int
read_member (struct loading *l, const char *name, char **buf, size_t *len, pier_error **err)
{
  const char *digest = member_digest (l, name, err);
  if (digest == NULL)
    return -1;
  cleanup_close int fd = pier_blob_open (l->st, digest, err);
  if (fd < 0)
    return -1;
  return pier_read_fd (fd, name, buf, len, err);
}

/* The blob an archive member went into; with want set, the member's
 * content must have that digest. */
static int
store_member (struct loading *l, const char *name, const char *want, char **digest, pier_error **err)
{
  const char *d = member_digest (l, name, err);
  if (d == NULL)
    return -1;
  if (want && strcmp (want, d) != 0)
    return pier_error_makex (err, EBADMSG, "`%s` in the %s should have digest %s but has %s", name, l->what,
                             want, d);
  *digest = xstrdup (d);
  return 0;
}

/* Every regular file of the archive goes straight into the blob store
 * (hashed as it is written): no copy of the archive on disk. */
static int
read_archive (struct loading *l, int fd, pier_error **err)
{
  if (pier_archive_dl_open (err) < 0)
    return -1;
  struct archive *a = archive_read_new ();
  struct archive_entry *e;
  int rc = 0;
  archive_read_support_filter_gzip (a);
  archive_read_support_filter_zstd (a);
  archive_read_support_format_tar (a);
  if (archive_read_open_fd (a, fd, 1 << 16) != ARCHIVE_OK)
    {
      rc = pier_error_makex (err, EINVAL, "not an image archive: %s", archive_error_string (a));
      archive_read_free (a);
      return rc;
    }
  for (;;)
    {
      int r = archive_read_next_header (a, &e);
      if (r == ARCHIVE_EOF)
        break;
      if (r != ARCHIVE_OK && r != ARCHIVE_WARN)
        {
          rc = pier_error_makex (err, EINVAL, "cannot read the archive: %s", archive_error_string (a));
          break;
        }
      const char *name = archive_entry_pathname (e);
      if (name == NULL || archive_entry_filetype (e) != AE_IFREG)
        continue;
      if (strlen (name) > 4096)
        {
          rc = pier_error_makex (err, EINVAL, "archive entry name too long");
          break;
        }
      pier_blob_writer *w = pier_blob_begin (l->st, err);
      if (w == NULL)
        {
          rc = -1;
          break;
        }
      const void *buf;
      size_t len;
      int64_t off;
      for (;;)
        {
          r = archive_read_data_block (a, &buf, &len, &off);
          if (r == ARCHIVE_EOF)
            break;
          if (r != ARCHIVE_OK && r != ARCHIVE_WARN)
            {
              rc = pier_error_makex (err, EINVAL, "entry `%s`: cannot read its data: %s", name,
                                     archive_error_string (a));
              break;
            }
          if ((uint64_t) off != pier_blob_written (w))
            {
              rc = pier_error_makex (err, EINVAL, "entry `%s`: sparse entries are not image blobs", name);
              break;
            }
          if (pier_blob_write (w, buf, len, err) < 0)
            {
              rc = -1;
              break;
            }
        }
      if (rc < 0)
        {
          pier_blob_abort (w);
          break;
        }
      cleanup_free char *key = member_key (name);
      if (member_commit (l, key, w, err) < 0)
        {
          rc = -1;
          break;
        }
    }
  archive_read_free (a);
  return rc;
}

/* Unpack layers (bottom first), checking each against the config.  The
 * unpacking itself runs in parallel (see image/ingest.h); recording and
 * moving them into place is in order. */
static int
load_layers (struct loading *l, pier_image_config *cfg, char **blobs, const char **media_types, size_t n,
             pier_db_image_layer *out, pier_error **err)
{
  if (n != cfg->n_diff_ids)
    return pier_error_makex (err, EINVAL, "the image has %zu layers but its config lists %zu diff ids", n,
                             cfg->n_diff_ids);
  pier_layer_unpacker *u = pier_layer_unpacker_new (l->st, n, err);
  if (u == NULL)
    return -1;
  for (size_t k = 0; k < n; k++)
    pier_layer_unpacker_start (u, k, blobs[k]);
  int rc = pier_layer_unpacker_finish (u, cfg, media_types, out, &l->chains, err);
  pier_layer_unpacker_free (u);
  return rc;
}

/* Record one image with its tags (full references), in one transaction. */
static int
record (struct loading *l, const char *config_digest, const char *manifest_digest,
        pier_db_image_layer *layers, size_t n, char **refs, pier_error **err)
{
  if (pier_image_record (l->st, config_digest, manifest_digest, PIER_MT_OCI_MANIFEST, layers, n, refs, NULL,
                         err)
      < 0)
    return -1;
  bool any = false;
  for (size_t k = 0; refs && refs[k]; k++)
    {
      cleanup_ref pier_ref *r = NULL;
      if (pier_ref_parse (refs[k], &r, NULL) == 0)
        {
          cleanup_free char *fam = pier_ref_familiar (r);
          char *line = xasprintf ("Loaded image: %s", fam);
          strv_push (&l->report, line);
          free (line);
          any = true;
        }
    }
  if (!any)
    {
      char *line = xasprintf ("Loaded image ID: %s", config_digest);
      strv_push (&l->report, line);
      free (line);
    }
  return 0;
}

/* An OCI manifest of our own for an image that came without one. */
static int
make_manifest (struct loading *l, const char *config_digest, size_t config_size, pier_db_image_layer *layers,
               size_t n, char **digest, pier_error **err)
{
  json_t *ls = json_array ();
  for (size_t k = 0; k < n; k++)
    json_array_append_new (ls, json_pack ("{s:s, s:s, s:I}", "mediaType", layers[k].media_type, "digest",
                                          layers[k].blob_digest, "size", (json_int_t) layers[k].size));
  json_t *m = json_pack ("{s:i, s:s, s:{s:s, s:s, s:I}, s:o}", "schemaVersion", 2, "mediaType",
                         PIER_MT_OCI_MANIFEST, "config", "mediaType", PIER_MT_OCI_CONFIG, "digest",
                         config_digest, "size", (json_int_t) config_size, "layers", ls);
  cleanup_free char *text = json_dumps (m, JSON_COMPACT);
  json_decref (m);
  if (pier_blob_put (l->st, text, strlen (text), NULL, digest, err) < 0)
    return -1;
  strv_push (&l->blobs, *digest);
  return 0;
}

static int
load_docker (struct loading *l, pier_error **err)
{
  cleanup_free char *text = NULL;
  size_t len = 0;
  cleanup_json json_t *top = NULL;
  size_t i;
  json_t *entry;
  if (read_member (l, "manifest.json", &text, &len, err) < 0
      || pier_json_load_buf (text, len, "manifest.json", &top, err) < 0)
    return -1;
  if (!json_is_array (top) || json_array_size (top) == 0)
    return pier_error_makex (err, EINVAL, "manifest.json lists no image");
  json_array_foreach (top, i, entry)
  {
    const char *cpath = json_string_value (json_object_get (entry, "Config"));
    json_t *lpaths = json_object_get (entry, "Layers");
    if (cpath == NULL || !json_is_array (lpaths))
      return pier_error_makex (err, EINVAL, "manifest.json entry %zu has no Config or Layers", i);
    cleanup_free char *cbuf = NULL;
    size_t clen = 0;
    pier_image_config *cfg = NULL;
    cleanup_free char *config_digest = NULL;
    if (read_member (l, cpath, &cbuf, &clen, err) < 0 || pier_image_config_parse (cbuf, clen, &cfg, err) < 0)
      return pier_error_wrap (err, "image %zu", i);
    /* "<hex>.json" or "blobs/sha256/<hex>": the name is the digest the
     * content must have. */
    cleanup_free char *named = NULL;
    const char *base = strrchr (cpath, '/') ? strrchr (cpath, '/') + 1 : cpath;
    size_t bl = strlen (base);
    if (bl == 69 && strcmp (base + 64, ".json") == 0)
      named = xasprintf ("sha256:%.64s", base);
    else if (bl == 64 && strncmp (cpath, "blobs/sha256/", 13) == 0)
      named = xasprintf ("sha256:%s", base);
    if (named && !pier_digest_valid (named))
      {
        free (named);
        named = NULL;
      }
    if (pier_blob_put (l->st, cbuf, clen, named, &config_digest, err) < 0)
      {
        pier_image_config_free (cfg);
        return pier_error_wrap (err, "config `%s`", cpath);
      }
    strv_push (&l->blobs, config_digest);
    size_t n = json_array_size (lpaths);
    cleanup_strv char **blobs = xcalloc (n + 1, sizeof (char *));
    const char **mts = xcalloc (n + 1, sizeof (char *));
    int r = 0;
    for (size_t k = 0; r == 0 && k < n; k++)
      {
        const char *lp = json_string_value (json_array_get (lpaths, k));
        if (lp == NULL)
          r = pier_error_makex (err, EINVAL, "manifest.json: layer %zu is not a path", k);
        else
          r = store_member (l, lp, NULL, &blobs[k], err);
        mts[k] = NULL; /* what the file holds decides */
      }
    pier_db_image_layer *layers = xcalloc (n + 1, sizeof *layers);
    if (r == 0)
      r = load_layers (l, cfg, blobs, mts, n, layers, err);
    cleanup_free char *manifest_digest = NULL;
    if (r == 0)
      r = make_manifest (l, config_digest, clen, layers, n, &manifest_digest, err);
    cleanup_strv char **refs = NULL;
    size_t t;
    json_t *tag;
    json_array_foreach (json_object_get (entry, "RepoTags"), t, tag)
    {
      cleanup_ref pier_ref *ref = NULL;
      if (r == 0 && json_is_string (tag) && pier_ref_parse (json_string_value (tag), &ref, err) < 0)
        r = -1;
      if (ref)
        {
          char *full = pier_ref_string (ref);
          strv_push (&refs, full);
          free (full);
        }
    }
    if (r == 0)
      r = record (l, config_digest, manifest_digest, layers, n, refs, err);
    pier_image_layers_free (layers, n);
    free (mts);
    pier_image_config_free (cfg);
    if (r < 0)
      return -1;
  }
  return 0;
}

static int load_oci_manifest (struct loading *l, const pier_descriptor *d, char **refs, pier_error **err);

static int
load_oci_index (struct loading *l, const char *name, const char *media_type, char **refs, int depth,
                pier_error **err)
{
  cleanup_free char *buf = NULL;
  size_t len = 0;
  pier_index *idx = NULL;
  if (depth > 2)
    return pier_error_makex (err, EINVAL, "image indexes nested too deeply");
  if (read_member (l, name, &buf, &len, err) < 0 || pier_index_parse (buf, len, media_type, &idx, err) < 0)
    return -1;
  int r = 0, loaded = 0;
  for (size_t i = 0; r == 0 && i < idx->n_manifests; i++)
    {
      const pier_descriptor *d = &idx->manifests[i];
      cleanup_strv char **my_refs = refs ? strv_dup (refs) : NULL;
      /* docker and containerd name the image in an annotation. */
      const char *full
          = d->annotations ? json_string_value (json_object_get (d->annotations, "io.containerd.image.name"))
                           : NULL;
      const char *refname
          = d->annotations
                ? json_string_value (json_object_get (d->annotations, "org.opencontainers.image.ref.name"))
                : NULL;
      if (full == NULL && refname && (strchr (refname, ':') || strchr (refname, '/')))
        full = refname;
      if (full)
        {
          cleanup_ref pier_ref *ref = NULL;
          if (pier_ref_parse (full, &ref, err) < 0)
            r = -1;
          else
            {
              char *s = pier_ref_string (ref);
              strv_push (&my_refs, s);
              free (s);
            }
        }
      if (r < 0)
        break;
      cleanup_free char *child = xasprintf ("blobs/sha256/%s", d->digest + 7);
      if (d->platform && (strcmp (d->platform->os, "linux") != 0))
        continue;
      if (strcmp (d->media_type, PIER_MT_OCI_INDEX) == 0
          || strcmp (d->media_type, PIER_MT_DOCKER_MANIFEST_LIST) == 0)
        r = load_oci_index (l, child, d->media_type, my_refs, depth + 1, err);
      else if (strcmp (d->media_type, PIER_MT_OCI_MANIFEST) == 0
               || strcmp (d->media_type, PIER_MT_DOCKER_MANIFEST) == 0)
        r = load_oci_manifest (l, d, my_refs, err);
      else
        continue;
      loaded++;
      if (depth > 0 && r == 0)
        break; /* one platform of a multi-platform index */
    }
  pier_index_free (idx);
  if (r == 0 && loaded == 0)
    return pier_error_makex (err, EINVAL, "%s lists no linux image", name);
  return r;
}

static int
load_oci_manifest (struct loading *l, const pier_descriptor *d, char **refs, pier_error **err)
{
  cleanup_free char *mname = xasprintf ("blobs/sha256/%s", d->digest + 7);
  cleanup_free char *mdigest = NULL;
  cleanup_free char *buf = NULL;
  size_t len = 0;
  pier_manifest *m = NULL;
  pier_image_config *cfg = NULL;
  if (store_member (l, mname, d->digest, &mdigest, err) < 0)
    return -1;
  if (read_member (l, mname, &buf, &len, err) < 0
      || pier_manifest_parse (buf, len, d->media_type, &m, err) < 0)
    return -1;
  int r = 0;
  cleanup_free char *cname = xasprintf ("blobs/sha256/%s", m->config.digest + 7);
  cleanup_free char *cdigest = NULL;
  cleanup_free char *cbuf = NULL;
  size_t clen = 0;
  if (store_member (l, cname, m->config.digest, &cdigest, err) < 0
      || read_member (l, cname, &cbuf, &clen, err) < 0 || pier_image_config_parse (cbuf, clen, &cfg, err) < 0)
    r = -1;
  size_t n = m->n_layers;
  cleanup_strv char **blobs = xcalloc (n + 1, sizeof (char *));
  const char **mts = xcalloc (n + 1, sizeof (char *));
  pier_db_image_layer *layers = xcalloc (n + 1, sizeof *layers);
  for (size_t k = 0; r == 0 && k < n; k++)
    {
      cleanup_free char *lname = xasprintf ("blobs/sha256/%s", m->layers[k].digest + 7);
      if (m->layers[k].foreign)
        r = pier_error_makex (err, ENOTSUP, "layer %s is a foreign layer (pier does not fetch urls)",
                              m->layers[k].digest);
      else
        r = store_member (l, lname, m->layers[k].digest, &blobs[k], err);
      mts[k] = m->layers[k].media_type;
    }
  if (r == 0)
    r = load_layers (l, cfg, blobs, mts, n, layers, err);
  if (r == 0)
    r = record (l, cdigest, mdigest, layers, n, refs, err);
  pier_image_layers_free (layers, n);
  free (mts);
  pier_image_config_free (cfg);
  pier_manifest_free (m);
  return r;
}

int
pier_image_load (pier_store *st, int fd, char ***report, pier_error **err)
{
  struct loading l = { st, json_object (), NULL, NULL, NULL, -1, "archive" };
  int rc = -1;
  struct stat sb;
  if (fstat (fd, &sb) == 0 && S_ISDIR (sb.st_mode))
    {
      /* An OCI image layout: what the index names is read from it as
       * needed, every file checked as an archive member is. */
      l.dirfd = fd;
      l.what = "image layout";
      if (fstatat (fd, "oci-layout", &sb, AT_SYMLINK_NOFOLLOW) < 0 || !S_ISREG (sb.st_mode))
        rc = pier_error_makex (err, EINVAL, "not an OCI image layout: the directory has no oci-layout file");
      else
        rc = load_oci_index (&l, "index.json", PIER_MT_OCI_INDEX, NULL, 0, err);
    }
  else if (read_archive (&l, fd, err) < 0)
    {
      pier_error_wrap (err, "cannot read the archive");
      goto out;
    }
  else if (json_object_get (l.members, "manifest.json"))
    rc = load_docker (&l, err);
  else if (json_object_get (l.members, "index.json"))
    rc = load_oci_index (&l, "index.json", PIER_MT_OCI_INDEX, NULL, 0, err);
  else
    rc = pier_error_makex (err, EINVAL, "not an image archive: it has neither manifest.json nor index.json");
out:
  if (rc < 0)
    {
      /* Nothing of a failed load stays. */
      pier_image_drop_unused (st, (const char *const *) l.chains, strv_len (l.chains),
                              (const char *const *) l.blobs, strv_len (l.blobs));
      strv_free (l.report);
    }
  else
    {
      *report = l.report;
      pier_image_drop_unreferenced (st, (const char *const *) l.blobs, strv_len (l.blobs));
    }
  json_decref (l.members);
  strv_free (l.blobs);
  strv_free (l.chains);
  return rc;
}
