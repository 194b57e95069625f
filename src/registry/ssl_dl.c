/* ssl_dl.c - OpenSSL's libssl (a registry's own CAs), opened on first use. */
#include "registry/ssl_dl.h"

#include "util/banned.h"

PIER_DL_DEFINE (PIER_SSL_FUNCS, pier_ssl_dl_open, "libssl.so.3", "libssl3")
