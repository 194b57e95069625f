/* blobs.h - the content-addressed blob store: <root>/blobs/sha256/<hex>.
 *
 * A blob is written to tmp/ (an O_TMPFILE where the filesystem has it,
 * else a uniquely named file), hashed as it is written, and on commit
 * checked against the expected digest, fsynced, linked into place under
 * its digest and the directory fsynced.  So a name under blobs/ always
 * holds the complete content its name promises, after a crash too, and
 * concurrent writers of the same content simply find it already there.
 *
 * Digests are "sha256:<64 lowercase hex>"; anything else is refused with
 * EINVAL before it comes near a path.
 *
 * Deleting a blob others may be reading is the GC's business: hold the
 * store's exclusive lock (pier_store_lock_exclusive) around it.
 */
#ifndef PIER_STORE_BLOBS_H
#define PIER_STORE_BLOBS_H

#include <stddef.h>
#include <stdint.h>

#include "store/store.h"
#include "util/error.h"

typedef struct pier_blob_writer pier_blob_writer;

/* Start writing a blob; NULL on failure with *err set. */
pier_blob_writer *pier_blob_begin (pier_store *st, pier_error **err);

/* Append len bytes.  After a failure the writer only accepts abort (or a
 * commit, which fails). */
int pier_blob_write (pier_blob_writer *w, const void *buf, size_t len, pier_error **err);

/* Append what is left of fd (what names it in a read error). */
int pier_blob_write_fd (pier_blob_writer *w, int fd, const char *what, pier_error **err);

/* Bytes written so far. */
uint64_t pier_blob_written (const pier_blob_writer *w);

/* Finish: when expected_digest is not NULL the content must have that
 * digest (a mismatch is an error naming both, and nothing is left
 * behind).  An already-present blob is success (dedup).  *digest_out, when
 * digest_out is not NULL, gets the blob's digest (caller frees).  The
 * writer is consumed whatever the outcome. */
int pier_blob_commit (pier_blob_writer *w, const char *expected_digest, char **digest_out, pier_error **err);

/* Drop the writer and its tmp file; NULL is allowed. */
void pier_blob_abort (pier_blob_writer *w);

/* Convenience: begin + write + commit of a buffer. */
int pier_blob_put (pier_store *st, const void *data, size_t len, const char *expected_digest,
                   char **digest_out, pier_error **err);

/* A read-only O_CLOEXEC fd on the blob (ENOENT when absent). */
int pier_blob_open (pier_store *st, const char *digest, pier_error **err);

/* 1 when present, 0 when absent, negative on error (a bad digest). */
int pier_blob_exists (pier_store *st, const char *digest, pier_error **err);

/* Size of the blob in bytes. */
int pier_blob_size (pier_store *st, const char *digest, uint64_t *size, pier_error **err);

/* Re-hash the blob: 0 when its content matches its name, else an error
 * with code EBADMSG naming both digests. */
int pier_blob_verify (pier_store *st, const char *digest, pier_error **err);

/* Remove the blob (ENOENT when absent). */
int pier_blob_delete (pier_store *st, const char *digest, pier_error **err);

#endif
