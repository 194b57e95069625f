/* ingest.h - blobs already in the store become an image.
 *
 * Used by `pier load` (an archive's members) and by the registry client
 * (blobs as they arrive): each layer blob is unpacked in a child process
 * as soon as it is complete, several at a time, while the caller goes on
 * (downloading the next ones); then the layers are checked against the
 * config's diff ids and placed in order, bottom first, and the image is
 * recorded in one transaction.
 *
 * A pier_layer_unpacker belongs to one thread; it forks, so the caller
 * must not hold locks other threads need in the children.
 */
#ifndef PIER_IMAGE_INGEST_H
#define PIER_IMAGE_INGEST_H

#include <stdbool.h>
#include <stddef.h>

#include "image/manifest.h"
#include "store/db.h"
#include "store/store.h"
#include "util/error.h"

typedef struct pier_layer_unpacker pier_layer_unpacker;

/* For an image of n layers.  At most as many children as CPUs run at once;
 * the rest wait their turn. */
pier_layer_unpacker *pier_layer_unpacker_new (pier_store *st, size_t n, pier_error **err);

/* Layer k's blob (a digest, copied) is complete in the store: unpack it. */
void pier_layer_unpacker_start (pier_layer_unpacker *u, size_t k, const char *blob);

/* Layer k is unpacked already, as chain (copied), from blob: nothing to do. */
void pier_layer_unpacker_have (pier_layer_unpacker *u, size_t k, const char *blob, const char *chain);

/* The fds that become readable when a child finishes (for poll(2)); up to
 * max of them in fds; returns how many. */
size_t pier_layer_unpacker_fds (pier_layer_unpacker *u, int *fds, size_t max);

/* Without blocking: collect the children that finished and start waiting
 * ones.  For each layer whose unpacking ended (well or not), done(k) is
 * called.  Returns how many ended. */
size_t pier_layer_unpacker_poll (pier_layer_unpacker *u, void (*done) (void *data, size_t k), void *data);

/* Wait for every started layer, check each against cfg's diff ids and
 * record and place them in order, bottom first.  out (n entries) gets
 * the image's layers (free with pier_image_layers_free); media_types[k]
 * is the layer's media type, or NULL for what its content shows.  Every
 * layer recorded here is appended to *chains (for pier_image_drop_unused
 * after a later failure).  Every layer must have been started or had. */
int pier_layer_unpacker_finish (pier_layer_unpacker *u, const pier_image_config *cfg,
                                const char *const *media_types, pier_db_image_layer *out, char ***chains,
                                pier_error **err);

/* Stop and reap the children still running and remove what they
 * unpacked; NULL is allowed. */
void pier_layer_unpacker_free (pier_layer_unpacker *u);

void pier_image_layers_free (pier_db_image_layer *ls, size_t n);

/* Record the image (id = config digest) with its layers (unpacked, not
 * yet synced) and tags (full references: "domain/path:tag" and
 * "domain/path@digest"), after one syncfs of the layers.  An image already
 * recorded keeps its record and gains the tags.  *existed (may be NULL)
 * says whether it was there before. */
int pier_image_record (pier_store *st, const char *config_digest, const char *manifest_digest,
                       const char *manifest_media_type, pier_db_image_layer *layers, size_t n,
                       char *const *refs, bool *existed, pier_error **err);

#endif
