/* images.h - local image management over the store: import a root
 * filesystem tarball, resolve names, inspect, tag, remove.
 *
 * Every image is an OCI manifest plus config in the blob store, recorded
 * in the database only once its blobs and unpacked layers are complete;
 * layers are unpacked once, under layers/<chain id hex>, and shared.
 */
#ifndef PIER_IMAGE_IMAGES_H
#define PIER_IMAGE_IMAGES_H

#include <stdbool.h>
#include <stdint.h>
#include <time.h>

#include <jansson.h>

#include "archive/dstream.h"
#include "store/db.h"
#include "store/store.h"
#include "util/error.h"

/* "busybox", "busybox:1", "docker.io/library/busybox@sha256:..", a full
 * image id or a unique id prefix -> the image id ("sha256:<hex>").  ENOENT
 * with "No such image: <name>" when nothing matches. */
int pier_image_resolve (pier_store *st, const char *name, char **id, pier_error **err);

typedef struct pier_import_opts
{
  const char *reference; /* tag the image with it, or NULL */
  const char *message;   /* -m: the history comment, or NULL */
  char **changes;        /* --change: Dockerfile instructions, NULL-terminated */
  const char *source;    /* what was imported ("-" for stdin), for history */
} pier_import_opts;

/* Import the tarball on fd (plain, gzip or zstd) as a one-layer image. */
int pier_image_import (pier_store *st, int fd, const pier_import_opts *o, char **id, pier_error **err);

/* Apply one --change instruction (CMD, ENTRYPOINT, ENV, EXPOSE, USER,
 * WORKDIR, LABEL, VOLUME, STOPSIGNAL) to an image config's "config". */
int pier_image_apply_change (json_t *config, const char *change, pier_error **err);

/* Unpack the layer blob on top of parent (a chain id, or NULL for a base
 * layer) into layers/<chain hex>, once, and record it complete.  Sets the
 * layer's chain id (caller frees) and res.  Without sync the caller must
 * make the layers durable (one syncfs for several) before an image that
 * uses them is recorded. */
struct pier_extract_result;
int pier_image_unpack_layer (pier_store *st, const char *blob, const char *parent, bool sync,
                             char **chain_out, struct pier_extract_result *res, pier_error **err);

/* The second half of unpack_layer: the unpacked directory tmp (in the
 * layers directory, fd layers) with diff_id on top of parent is recorded
 * and moved to layers/<chain hex> (an existing copy wins). */
int pier_image_place_layer (pier_store *st, int layers, const char *tmp, const char *diff_id,
                            const char *parent, int64_t size, char **chain_out, pier_error **err);

/* This machine's architecture in Go's (and OCI's) words: "amd64". */
const char *pier_image_go_arch (void);

/* A layer made here (by a build step, a commit). */
typedef struct pier_new_layer
{
  char diff_id[72];
  char *blob;     /* the gzip blob's digest */
  char *chain_id; /* the unpacked layer */
  int64_t blob_size;
  int64_t size; /* unpacked */
} pier_new_layer;
void pier_new_layer_clear (pier_new_layer *l);

/* The changes in the directory dir (an overlay upper directory: see
 * archive/diff.h) as a layer on top of parent (a chain id, or NULL): a
 * gzip blob, and the unpacked layer, which is dir itself, moved into the
 * store (dir is gone on success).  clamp_mtime as in pier_diff_opts. */
int pier_image_layer_from_dir (pier_store *st, const char *dir, const char *parent, int64_t clamp_mtime,
                               pier_new_layer *out, pier_error **err);

/* Record an image made here: config is the whole OCI image config (its
 * rootfs.diff_ids must be the layers'), layers bottom first.  The config
 * and an OCI manifest go into the blob store; the image is recorded and,
 * when tag is not NULL, tagged.  *id gets its id. */
int pier_image_create (pier_store *st, json_t *config, const pier_db_image_layer *layers, size_t n,
                       const char *tag, char **id, pier_error **err);

/* The OCI layer media type of a layer with that compression. */
const char *pier_image_layer_media_type (pier_compression c);

/* After a failed import or load: remove the layers (chain ids, top last)
 * and the blobs that no recorded image uses. */
void pier_image_drop_unused (pier_store *st, const char *const *chains, size_t n_chains,
                             const char *const *blobs, size_t n_blobs);

/* After a failed write: remove the blobs no recorded image uses. */
void pier_image_drop_unreferenced (pier_store *st, const char *const *digests, size_t n);

/* docker save.  format "docker-archive" or "oci-archive": a tar written to
 * fd; "oci-dir": an OCI image layout (oci-layout, index.json, blobs/sha256)
 * written into fd, a directory that must be empty, and synced.  The layout
 * holds the same files, byte for byte, as the oci-archive of the same
 * images.  On failure the caller removes what was written. */
int pier_image_save (pier_store *st, char *const *names, const char *format, int fd, pier_error **err);
/* docker load from fd: a tar (plain, gzip or zstd) holding a docker-archive
 * or an OCI layout, or an OCI layout directory (one with an oci-layout
 * file), whose files are read as the index names them and verified as an
 * archive's members are.  Lines "Loaded image: x" / "Loaded image ID:
 * sha256:.." go to *report. */
int pier_image_load (pier_store *st, int fd, char ***report, pier_error **err);

/* A stored blob (an image config, a manifest) parsed as JSON. */
int pier_image_read_json (pier_store *st, const char *digest, json_t **out, pier_error **err);

/* What selects images: docker's filters of `images` and of `image prune`. */
typedef enum pier_image_filter_use
{
  PIER_IMAGE_FILTER_LIST,  /* dangling, label, before, since, reference, until */
  PIER_IMAGE_FILTER_PRUNE, /* dangling (default true), label, label!, until; never an image in use */
} pier_image_filter_use;

typedef struct pier_image_filter pier_image_filter;

/* Parse "key=value" filters (NULL-terminated; NULL for none) for use.  As
 * moby: the values of one key narrow together (`reference` matches any
 * pattern; `label` and `label!` need all; of several `before`/`until` the
 * earliest counts, of several `since` the latest); different keys must all
 * hold.  Times are the images' config "created".  EINVAL with docker's
 * message ("invalid filter 'x'", "invalid filter 'dangling=[maybe]'", a bad
 * until= time) for a key use does not take or a bad value; ENOENT when
 * before= or since= names no image. */
int pier_image_filter_parse (pier_store *st, pier_image_filter_use use, char *const *args,
                             pier_image_filter **out, pier_error **err);
/* NULL is allowed. */
void pier_image_filter_free (pier_image_filter *f);

typedef struct pier_image_summary
{
  char *id;
  char **tags;             /* full references the reference filter let through; NULL for none */
  struct timespec created; /* the config's "created" (when stored, for a config without) */
  int64_t size;
  bool intermediate; /* untagged, kept by the build cache: shown by `images -a` only */
} pier_image_summary;

/* The images f selects (f NULL: all of them), newest first. */
int pier_image_list (pier_store *st, const pier_image_filter *f, pier_image_summary **out, size_t *n,
                     pier_error **err);
void pier_image_summaries_free (pier_image_summary *s, size_t n);

/* docker image inspect's object for one image. */
int pier_image_inspect (pier_store *st, const char *id, json_t **out, pier_error **err);

/* docker history's rows for an image, newest first: a JSON array of
 * {"Id", "Created" (unix seconds), "CreatedBy", "Size", "Comment"}; "Id" is
 * the image id on the top row and "<missing>" below, as docker shows. */
int pier_image_history (pier_store *st, const char *id, json_t **out, pier_error **err);

/* Tag the image source resolves to as target. */
int pier_image_tag (pier_store *st, const char *source, const char *target, pier_error **err);

/* docker rmi: a tag of an image with others is untagged; otherwise the
 * image goes, with its blobs and the layers no other image uses.  Lines
 * "Untagged: x" / "Deleted: sha256:.." are appended to *report. */
int pier_image_remove (pier_store *st, const char *name, bool force, char ***report, pier_error **err);

/* pier system check: blobs match their digests, images have all their
 * parts, layers are complete and recorded, nothing is orphaned.  Each
 * finding is a line in *report; *problems counts them.  With repair,
 * what is incomplete, damaged or orphaned is removed. */
int pier_store_check (pier_store *st, bool repair, char ***report, int *problems, pier_error **err);

#endif
