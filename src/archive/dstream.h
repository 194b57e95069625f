/* dstream.h - a layer blob read as its uncompressed tar stream.
 *
 * The compression is detected from the first bytes (gzip 1f 8b, zstd
 * 28 b5 2f fd, anything else is taken as plain tar, which libarchive then
 * checks).  While the stream is read, two SHA-256 digests are kept: of the
 * bytes read from the fd (the blob digest the manifest names) and of the
 * bytes handed out (the DiffID the image config names).  Both are only
 * complete once pier_dstream_read() has returned 0.
 *
 * Each codec is one row of a table in dstream.c (name, magic, vtable).
 * Not thread-safe: one stream per thread.
 */
#ifndef PIER_ARCHIVE_DSTREAM_H
#define PIER_ARCHIVE_DSTREAM_H

#include <stdint.h>
#include <sys/types.h>

#include "util/digest.h"
#include "util/error.h"

typedef enum pier_compression
{
  PIER_COMPRESSION_NONE,
  PIER_COMPRESSION_GZIP,
  PIER_COMPRESSION_ZSTD,
} pier_compression;

/* "none", "gzip", "zstd". */
const char *pier_compression_name (pier_compression c);

typedef struct pier_dstream pier_dstream;

/* Read the magic from fd (which stays owned by the caller and must stay
 * open until pier_dstream_free) and pick the codec.  An empty input is
 * an error. */
int pier_dstream_open (int fd, pier_dstream **out, pier_error **err);

pier_compression pier_dstream_compression (const pier_dstream *s);

/* Up to len uncompressed bytes into buf: the count, 0 at the end of the
 * input, -1 with *err set on a read error or a corrupt or truncated
 * stream. */
ssize_t pier_dstream_read (pier_dstream *s, void *buf, size_t len, pier_error **err);

/* Digests ("sha256:<hex>", 71 bytes plus NUL) and sizes of what was read
 * so far; call after pier_dstream_read returned 0.  Any pointer may be
 * NULL. */
#define PIER_DIGEST_STR_LEN (7 + PIER_SHA256_HEX_LEN)
void pier_dstream_digests (pier_dstream *s, char *diff_id, char *blob_digest, uint64_t *uncompressed_size,
                           uint64_t *compressed_size);

/* NULL is allowed. */
void pier_dstream_free (pier_dstream *s);

#endif
