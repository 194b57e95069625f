/* curl_dl.c - libcurl, opened on first use. */
#include "registry/curl_dl.h"

#include "util/banned.h"

static int open_libcurl (pier_error **err);
PIER_DL_DEFINE (PIER_CURL_FUNCS, open_libcurl, "libcurl.so.4", "libcurl4")

int
pier_curl_dl_open (pier_error **err)
{
  /* The registry code also calls libcrypto (base64) and libssl (CAs). */
  if (pier_crypto_dl_open (err) < 0 || pier_ssl_dl_open (err) < 0)
    return -1;
  return open_libcurl (err);
}
