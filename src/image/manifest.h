/* manifest.h - OCI and Docker image manifests, indexes and image configs.
 *
 * Strict parsers: a required field that is missing or of the wrong type,
 * a digest that is not sha256:<64 lowercase hex>, a negative size, a
 * layer media type pier cannot unpack: each is an error that names the
 * document, the field and the value.
 *
 * Every parsed struct keeps the bytes it was parsed from (raw, raw_len:
 * the digest of a manifest is over exactly these bytes, so pier stores and
 * serves them unchanged) and the parsed document (json, owned).  Strings
 * typed `const char *` point into json and live as long as the struct;
 * `char **` vectors are owned by the struct.  Free with the matching
 * *_free function, which accepts NULL.  No global state; thread-safe.
 */
#ifndef PIER_IMAGE_MANIFEST_H
#define PIER_IMAGE_MANIFEST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "archive/dstream.h"
#include "util/error.h"

/* OCI image-spec media types. */
#define PIER_MT_OCI_MANIFEST "application/vnd.oci.image.manifest.v1+json"
#define PIER_MT_OCI_INDEX "application/vnd.oci.image.index.v1+json"
#define PIER_MT_OCI_CONFIG "application/vnd.oci.image.config.v1+json"
#define PIER_MT_OCI_LAYER "application/vnd.oci.image.layer.v1.tar"
#define PIER_MT_OCI_LAYER_GZIP "application/vnd.oci.image.layer.v1.tar+gzip"
#define PIER_MT_OCI_LAYER_ZSTD "application/vnd.oci.image.layer.v1.tar+zstd"
#define PIER_MT_OCI_LAYER_NONDIST "application/vnd.oci.image.layer.nondistributable.v1.tar"
#define PIER_MT_OCI_LAYER_NONDIST_GZIP "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip"
#define PIER_MT_OCI_LAYER_NONDIST_ZSTD "application/vnd.oci.image.layer.nondistributable.v1.tar+zstd"

/* Docker image manifest v2, schema 2, media types. */
#define PIER_MT_DOCKER_MANIFEST "application/vnd.docker.distribution.manifest.v2+json"
#define PIER_MT_DOCKER_MANIFEST_LIST "application/vnd.docker.distribution.manifest.list.v2+json"
#define PIER_MT_DOCKER_CONFIG "application/vnd.docker.container.image.v1+json"
#define PIER_MT_DOCKER_LAYER "application/vnd.docker.image.rootfs.diff.tar"
#define PIER_MT_DOCKER_LAYER_GZIP "application/vnd.docker.image.rootfs.diff.tar.gzip"
#define PIER_MT_DOCKER_LAYER_FOREIGN "application/vnd.docker.image.rootfs.foreign.diff.tar"
#define PIER_MT_DOCKER_LAYER_FOREIGN_GZIP "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip"

/* pier_compression (none, gzip, zstd) is archive/'s, the layer below. */

/* True when mt is a layer media type pier can unpack; then *compression
 * (may be NULL) says how it is compressed and *foreign (may be NULL)
 * whether it is non-distributable (fetched from its urls, never pushed). */
bool pier_media_type_layer (const char *mt, pier_compression *compression, bool *foreign);
bool pier_media_type_is_manifest (const char *mt); /* OCI or Docker image manifest */
bool pier_media_type_is_index (const char *mt);    /* OCI index or Docker manifest list */
bool pier_media_type_is_config (const char *mt);   /* OCI or Docker image config */

typedef struct pier_platform
{
  const char *architecture; /* required: "amd64", "arm64", ... */
  const char *os;           /* required: "linux", ... */
  const char *variant;      /* NULL when absent: "v7", "v8" */
  const char *os_version;   /* NULL when absent */
  char **os_features;       /* NULL when absent */
} pier_platform;

typedef struct pier_descriptor
{
  const char *media_type;
  const char *digest;      /* valid sha256 digest */
  int64_t size;            /* >= 0 */
  char **urls;             /* NULL when absent */
  json_t *annotations;     /* borrowed; NULL when absent; every value a string */
  pier_platform *platform; /* index entries only; NULL when absent */
  /* Layers only (set from media_type). */
  pier_compression compression;
  bool foreign;
} pier_descriptor;

typedef struct pier_manifest
{
  char *raw;
  size_t raw_len;
  json_t *json;
  const char *media_type; /* PIER_MT_OCI_MANIFEST or PIER_MT_DOCKER_MANIFEST */
  bool docker;            /* Docker schema 2 rather than OCI */
  pier_descriptor config;
  pier_descriptor *layers;
  size_t n_layers;
  json_t *annotations; /* borrowed; NULL when absent */
} pier_manifest;

typedef struct pier_index
{
  char *raw;
  size_t raw_len;
  json_t *json;
  const char *media_type; /* PIER_MT_OCI_INDEX or PIER_MT_DOCKER_MANIFEST_LIST */
  bool docker;
  /* Entries of any media type: the OCI spec says an unknown one is not an
   * error (it may be an attestation or an artifact); the caller picks. */
  pier_descriptor *manifests;
  size_t n_manifests;
  json_t *annotations;
} pier_index;

typedef struct pier_history
{
  const char *created; /* each NULL when absent */
  const char *created_by;
  const char *author;
  const char *comment;
  bool empty_layer;
} pier_history;

typedef struct pier_image_config
{
  char *raw;
  size_t raw_len;
  json_t *json;
  const char *architecture; /* required */
  const char *os;           /* required */
  const char *variant;      /* the rest NULL when absent */
  const char *created;
  const char *author;
  /* "config": what a container runs by default. */
  const char *user;
  char **env;
  char **entrypoint; /* NULL when absent or null; an empty vector when [];
                      * a lone string (docker accepts one) is one element */
  char **cmd;
  const char *working_dir;
  json_t *labels;       /* borrowed; every value a string */
  char **exposed_ports; /* keys of ExposedPorts: "80/tcp" */
  char **volumes;       /* keys of Volumes */
  const char *stop_signal;
  /* "rootfs" (type "layers"): uncompressed layer digests, bottom first. */
  char **diff_ids;
  size_t n_diff_ids;
  pier_history *history;
  size_t n_history;
} pier_image_config;

/* Parse an image manifest.  media_type is the type the document was served
 * or stored as (HTTP Content-Type, a descriptor's mediaType) or NULL; when
 * both it and the document's own mediaType are set they must agree.  With
 * neither, the document is taken as an OCI manifest. */
int pier_manifest_parse (const char *buf, size_t len, const char *media_type, pier_manifest **out,
                         pier_error **err);
void pier_manifest_free (pier_manifest *m);

/* Parse an OCI image index or a Docker manifest list (media_type as above). */
int pier_index_parse (const char *buf, size_t len, const char *media_type, pier_index **out,
                      pier_error **err);
void pier_index_free (pier_index *idx);

/* Parse an image config (OCI or Docker; the two formats are the same). */
int pier_image_config_parse (const char *buf, size_t len, pier_image_config **out, pier_error **err);
void pier_image_config_free (pier_image_config *c);

/* OCI chain IDs of a layer stack (bottom first):
 *   ChainID(L0) = DiffID(L0)
 *   ChainID(Ln) = "sha256:" + hex(sha256(ChainID(Ln-1) + " " + DiffID(Ln)))
 * *out is a NULL-terminated vector of n digests (caller frees with
 * strv_free).  Fails when a diff ID is not a valid sha256 digest. */
int pier_image_chain_ids (char *const *diff_ids, size_t n, char ***out, pier_error **err);

#endif
