/* digest.h - SHA-256 (OpenSSL libcrypto). */
#ifndef PIER_UTIL_DIGEST_H
#define PIER_UTIL_DIGEST_H

#include <stddef.h>

#include "util/error.h"

#define PIER_SHA256_HEX_LEN 64

/* hex must hold PIER_SHA256_HEX_LEN + 1 bytes. */
void pier_sha256_hex (const void *data, size_t len, char *hex);

typedef struct pier_sha256 pier_sha256;
pier_sha256 *pier_sha256_new (void);
void pier_sha256_update (pier_sha256 *h, const void *data, size_t len);
/* Writes the hex digest and frees h. */
void pier_sha256_final (pier_sha256 *h, char *hex);

/* Digest a whole file read from fd (from its current offset). */
int pier_sha256_fd (int fd, char *hex, pier_error **err);

/* True when s is "sha256:" followed by 64 lowercase hex digits. */
int pier_digest_valid (const char *s);

#endif
