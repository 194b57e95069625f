/* ssl_dl.h - OpenSSL's libssl (a registry's own CAs), opened on first use (util/dl.h).
 *
 * Include this instead of openssl/ssl.h.  Call pier_ssl_dl_open before the first use
 * of the library in a process; the calls below then go through pointers.
 */
#ifndef PIER_REGISTRY_SSL_DL_H
#define PIER_REGISTRY_SSL_DL_H

#include <openssl/ssl.h>

#include "util/dl.h"
#include "util/error.h"

#define PIER_SSL_FUNCS(X) X (SSL_CTX_load_verify_locations)

PIER_DL_DECLARE (PIER_SSL_FUNCS)

/* Opens libssl.so.3 once; an error names what is missing. */
int pier_ssl_dl_open (pier_error **err);

#define SSL_CTX_load_verify_locations (*pier_dl_SSL_CTX_load_verify_locations)

#endif
