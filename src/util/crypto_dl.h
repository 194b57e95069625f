/* crypto_dl.h - OpenSSL's libcrypto (SHA-256 and base64), opened on first use (util/dl.h).
 *
 * Include this instead of openssl/evp.h.  Call pier_crypto_dl_open before the first use
 * of the library in a process; the calls below then go through pointers.
 */
#ifndef PIER_UTIL_CRYPTO_DL_H
#define PIER_UTIL_CRYPTO_DL_H

#include <openssl/evp.h>

#include "util/dl.h"
#include "util/error.h"

#define PIER_CRYPTO_FUNCS(X)                                                                                 \
  X (EVP_sha256)                                                                                             \
  X (EVP_MD_CTX_new)                                                                                         \
  X (EVP_MD_CTX_free)                                                                                        \
  X (EVP_DigestInit_ex)                                                                                      \
  X (EVP_DigestUpdate)                                                                                       \
  X (EVP_DigestFinal_ex)                                                                                     \
  X (EVP_EncodeBlock)                                                                                        \
  X (EVP_DecodeBlock)

PIER_DL_DECLARE (PIER_CRYPTO_FUNCS)

/* Opens libcrypto.so.3 once; an error names what is missing. */
int pier_crypto_dl_open (pier_error **err);

#define EVP_sha256 (*pier_dl_EVP_sha256)
#define EVP_MD_CTX_new (*pier_dl_EVP_MD_CTX_new)
#define EVP_MD_CTX_free (*pier_dl_EVP_MD_CTX_free)
#define EVP_DigestInit_ex (*pier_dl_EVP_DigestInit_ex)
#define EVP_DigestUpdate (*pier_dl_EVP_DigestUpdate)
#define EVP_DigestFinal_ex (*pier_dl_EVP_DigestFinal_ex)
#define EVP_EncodeBlock (*pier_dl_EVP_EncodeBlock)
#define EVP_DecodeBlock (*pier_dl_EVP_DecodeBlock)

#endif
