/* crypto_dl.c - OpenSSL's libcrypto (SHA-256 and base64), opened on first use. */
#include "util/crypto_dl.h"

#include "util/dl.h"
#include "util/banned.h"

#define PIER_DL_DEFINE(f) __typeof__ (f) *pier_dl_##f;
PIER_CRYPTO_FUNCS (PIER_DL_DEFINE)
#undef PIER_DL_DEFINE

#define PIER_DL_NAME(f) #f,
static const char *const names[] = { PIER_CRYPTO_FUNCS (PIER_DL_NAME) };
#undef PIER_DL_NAME
#define PIER_DL_SLOT(f) (void **) &pier_dl_##f,
static void **const slots[] = { PIER_CRYPTO_FUNCS (PIER_DL_SLOT) };
#undef PIER_DL_SLOT

int
pier_crypto_dl_open (pier_error **err)
{
  static int state;
  static const pier_dl_lib lib
      = { "libcrypto.so.3", "libssl3", names, slots, sizeof names / sizeof names[0] };
  return pier_dl_open (&lib, &state, err);
}
