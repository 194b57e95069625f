/* db.h - the metadata database, <root>/pier.db (sqlite, WAL).
 *
 * Every SQL statement of pier lives in db.c; callers see this typed API.
 * Records are written only after the content they describe is complete:
 * blobs committed (store/blobs.h) before the image that names them, a
 * layer marked complete only once it is unpacked.
 *
 * Concurrency: any number of processes may open the same database.  Each
 * write runs in a transaction begun IMMEDIATE (so two writers queue on the
 * busy timeout instead of failing half-way) and readers see only committed
 * states.  A pier_db is used by one thread at a time and not across fork.
 *
 * Image ids and digests are "sha256:<hex>"; references are stored as the
 * caller gives them (normalizing "busybox" to
 * "docker.io/library/busybox:latest" is the image layer's business).
 *
 * Errors: ENOENT when the thing looked up is absent, ENOTUNIQ for an
 * ambiguous id prefix, EINVAL for a malformed argument, EBUSY when the
 * database stays locked past the busy timeout, EIO for anything else
 * sqlite reports (the message carries sqlite's own).
 */
#ifndef PIER_STORE_DB_H
#define PIER_STORE_DB_H

#include <stddef.h>
#include <stdint.h>

#include "util/error.h"

typedef struct pier_db pier_db;

/* The schema version this pier writes; pier_db_open migrates older
 * databases up to it and refuses newer ones. */
#define PIER_DB_SCHEMA_VERSION 3

/* Open (creating) the database at path, in WAL mode with foreign keys on
 * and a busy timeout, and migrate it.  *out is the caller's. */
int pier_db_open (const char *path, pier_db **out, pier_error **err);

/* NULL is allowed.  An open transaction is rolled back. */
void pier_db_close (pier_db *db);

/* Bring the schema to PIER_DB_SCHEMA_VERSION (pier_db_open does this). */
int pier_db_migrate (pier_db *db, pier_error **err);
int pier_db_schema_version (pier_db *db, int *version, pier_error **err);

/* The journal mode sqlite reports ("wal"); caller frees. */
int pier_db_journal_mode (pier_db *db, char **mode, pier_error **err);

/* Explicit transactions (BEGIN IMMEDIATE).  The functions below run in
 * their own transaction when none is open, and as a savepoint inside the
 * caller's when one is, so a caller can group several of them. */
int pier_db_begin (pier_db *db, pier_error **err);
int pier_db_commit (pier_db *db, pier_error **err);
int pier_db_rollback (pier_db *db, pier_error **err);

/* One layer of an image, bottom first. */
typedef struct pier_db_image_layer
{
  char *diff_id;     /* digest of the uncompressed tar */
  char *chain_id;    /* key of the unpacked layer */
  char *blob_digest; /* digest of the blob as stored (compressed or not) */
  char *media_type;
  int64_t size; /* of the blob */
} pier_db_image_layer;

typedef struct pier_db_image
{
  char *id;                  /* the config digest */
  int64_t created;           /* unix seconds, when pier stored it */
  int64_t size;              /* bytes, as the caller counts them */
  char *config_digest;       /* the config blob */
  char *manifest_digest;     /* may be NULL (an image built locally) */
  char *manifest_media_type; /* may be NULL */
  pier_db_image_layer *layers;
  size_t n_layers;
  char **tags; /* NULL-terminated, sorted; filled by get and list */
} pier_db_image;

/* Free what an image holds and the image itself; NULL is allowed. */
void pier_db_image_free (pier_db_image *img);
void pier_db_images_free (pier_db_image *imgs, size_t n);

/* Insert or replace the image and its layers in one transaction (its tags
 * stay).  img->tags is ignored. */
int pier_db_put_image (pier_db *db, const pier_db_image *img, pier_error **err);

/* Look up a full image id; *out is the caller's. */
int pier_db_get_image (pier_db *db, const char *id, pier_db_image **out, pier_error **err);

/* Every image with its layers and tags, newest first. */
int pier_db_list_images (pier_db *db, pier_db_image **out, size_t *n, pier_error **err);

/* Delete the image record with its layer list and tags (ENOENT when
 * absent).  The blobs and layers stay for the GC. */
int pier_db_delete_image (pier_db *db, const char *id, pier_error **err);

/* Point reference at image id (moving it from another image if needed). */
int pier_db_tag (pier_db *db, const char *reference, const char *image_id, pier_error **err);
/* Remove reference (ENOENT when absent). */
int pier_db_untag (pier_db *db, const char *reference, pier_error **err);
/* The image id reference points at; caller frees. */
int pier_db_resolve_reference (pier_db *db, const char *reference, char **image_id, pier_error **err);

/* The one image whose id starts with prefix ("sha256:" optional, at least
 * one hex digit).  As docker: several matches is an error (ENOTUNIQ). */
int pier_db_resolve_id_prefix (pier_db *db, const char *prefix, char **image_id, pier_error **err);

/* Unpacked layers, keyed by chain ID. */
typedef enum pier_layer_state
{
  PIER_LAYER_INCOMPLETE = 0,
  PIER_LAYER_COMPLETE = 1,
} pier_layer_state;

typedef struct pier_db_layer
{
  char *chain_id;
  char *diff_id;
  char *parent; /* chain ID of the parent, NULL for a base layer */
  pier_layer_state state;
  int64_t size;
  int64_t created;
} pier_db_layer;

void pier_db_layer_clear (pier_db_layer *l);
void pier_db_layers_free (pier_db_layer *ls, size_t n);

/* Record a layer about to be unpacked, as incomplete (nothing changes when
 * it is already recorded).  The parent must be recorded first. */
int pier_db_layer_add (pier_db *db, const char *chain_id, const char *diff_id, const char *parent,
                       pier_error **err);
/* Mark a layer's state; size is recorded when it is not negative. */
int pier_db_layer_set_state (pier_db *db, const char *chain_id, pier_layer_state state, int64_t size,
                             pier_error **err);
/* Look up one layer; *out is filled (clear it with pier_db_layer_clear). */
int pier_db_layer_get (pier_db *db, const char *chain_id, pier_db_layer *out, pier_error **err);
int pier_db_layer_list (pier_db *db, pier_db_layer **out, size_t *n, pier_error **err);
/* Remove a layer record (ENOENT when absent; EBUSY while a child layer is
 * recorded on top of it). */
int pier_db_layer_delete (pier_db *db, const char *chain_id, pier_error **err);

/* Containers.  The engine owns the meaning of config and state (JSON
 * text); the database keeps them whole, with the name unique. */
typedef struct pier_db_container
{
  char *id; /* 64 hex digits */
  char *name;
  char *image_id;
  int64_t created; /* unix nanoseconds */
  char *config;
  char *state;
} pier_db_container;

void pier_db_container_free (pier_db_container *c);
void pier_db_containers_free (pier_db_container *cs, size_t n);
/* Insert a new container; EEXIST when the name or id is taken. */
int pier_db_container_add (pier_db *db, const pier_db_container *c, pier_error **err);
int pier_db_container_get (pier_db *db, const char *id, pier_db_container **out, pier_error **err);
/* docker's lookup: a full id, then an exact name, then a unique id
 * prefix.  ENOENT "No such container: x"; ENOTUNIQ for an ambiguous
 * prefix. */
int pier_db_container_find (pier_db *db, const char *name_or_id, char **id, pier_error **err);
/* Every container, newest first. */
int pier_db_container_list (pier_db *db, pier_db_container **out, size_t *n, pier_error **err);
int pier_db_container_set_state (pier_db *db, const char *id, const char *state, pier_error **err);
int pier_db_container_set_config (pier_db *db, const char *id, const char *config, pier_error **err);
/* EEXIST when another container has the name. */
int pier_db_container_rename (pier_db *db, const char *id, const char *name, pier_error **err);
int pier_db_container_delete (pier_db *db, const char *id, pier_error **err);
/* Ids of the containers made from image_id (NULL-terminated, caller frees). */
int pier_db_containers_of_image (pier_db *db, const char *image_id, char ***ids, pier_error **err);

#endif
