/* crypto_dl.c - OpenSSL's libcrypto (SHA-256 and base64), opened on first use. */
#include "util/crypto_dl.h"

#include "util/banned.h"

PIER_DL_DEFINE (PIER_CRYPTO_FUNCS, pier_crypto_dl_open, "libcrypto.so.3", "libssl3")
