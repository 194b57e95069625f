/* curl_dl.c - libcurl, opened on first use. */
#include "registry/curl_dl.h"

#include "util/dl.h"
#include "util/banned.h"

#define PIER_DL_DEFINE(f) __typeof__ (f) *pier_dl_##f;
PIER_CURL_FUNCS (PIER_DL_DEFINE)
#undef PIER_DL_DEFINE

#define PIER_DL_NAME(f) #f,
static const char *const names[] = { PIER_CURL_FUNCS (PIER_DL_NAME) };
#undef PIER_DL_NAME
#define PIER_DL_SLOT(f) (void **) &pier_dl_##f,
static void **const slots[] = { PIER_CURL_FUNCS (PIER_DL_SLOT) };
#undef PIER_DL_SLOT

int
pier_curl_dl_open (pier_error **err)
{
  /* The registry code also calls libcrypto (base64) and libssl (CAs). */
  if (pier_crypto_dl_open (err) < 0 || pier_ssl_dl_open (err) < 0)
    return -1;
  static int state;
  static const pier_dl_lib lib = { "libcurl.so.4", "libcurl4", names, slots, sizeof names / sizeof names[0] };
  return pier_dl_open (&lib, &state, err);
}
