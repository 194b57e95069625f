/* curl_dl.h - libcurl, opened on first use (util/dl.h).
 *
 * Include this instead of curl/curl.h.  Call pier_curl_dl_open before the first use
 * of the library in a process (it opens libcrypto and libssl too, for
 * ssl_dl.h and util/crypto_dl.h); the calls then go through pointers.
 */
#ifndef PIER_REGISTRY_CURL_DL_H
#define PIER_REGISTRY_CURL_DL_H

/* The function-like macros of curl's type checks would hide the names. */
#define CURL_DISABLE_TYPECHECK 1
#include <curl/curl.h>

#include "registry/ssl_dl.h"
#include "util/crypto_dl.h"
#include "util/dl.h"
#include "util/error.h"

#define PIER_CURL_FUNCS(X)                                                                                   \
  X (curl_easy_cleanup)                                                                                      \
  X (curl_easy_escape)                                                                                       \
  X (curl_easy_getinfo)                                                                                      \
  X (curl_easy_init)                                                                                         \
  X (curl_easy_perform)                                                                                      \
  X (curl_easy_setopt)                                                                                       \
  X (curl_easy_strerror)                                                                                     \
  X (curl_free)                                                                                              \
  X (curl_global_init)                                                                                       \
  X (curl_multi_add_handle)                                                                                  \
  X (curl_multi_cleanup)                                                                                     \
  X (curl_multi_info_read)                                                                                   \
  X (curl_multi_init)                                                                                        \
  X (curl_multi_perform)                                                                                     \
  X (curl_multi_poll)                                                                                        \
  X (curl_multi_remove_handle)                                                                               \
  X (curl_share_cleanup)                                                                                     \
  X (curl_share_init)                                                                                        \
  X (curl_share_setopt)                                                                                      \
  X (curl_slist_append)                                                                                      \
  X (curl_slist_free_all)

PIER_DL_DECLARE (PIER_CURL_FUNCS)

/* Opens libcurl.so.4 once; an error names what is missing. */
int pier_curl_dl_open (pier_error **err);

/* curl.h defines these three as macros of themselves. */
#undef curl_easy_getinfo
#undef curl_easy_setopt
#undef curl_share_setopt
#define curl_easy_cleanup (*pier_dl_curl_easy_cleanup)
#define curl_easy_escape (*pier_dl_curl_easy_escape)
#define curl_easy_getinfo (*pier_dl_curl_easy_getinfo)
#define curl_easy_init (*pier_dl_curl_easy_init)
#define curl_easy_perform (*pier_dl_curl_easy_perform)
#define curl_easy_setopt (*pier_dl_curl_easy_setopt)
#define curl_easy_strerror (*pier_dl_curl_easy_strerror)
#define curl_free (*pier_dl_curl_free)
#define curl_global_init (*pier_dl_curl_global_init)
#define curl_multi_add_handle (*pier_dl_curl_multi_add_handle)
#define curl_multi_cleanup (*pier_dl_curl_multi_cleanup)
#define curl_multi_info_read (*pier_dl_curl_multi_info_read)
#define curl_multi_init (*pier_dl_curl_multi_init)
#define curl_multi_perform (*pier_dl_curl_multi_perform)
#define curl_multi_poll (*pier_dl_curl_multi_poll)
#define curl_multi_remove_handle (*pier_dl_curl_multi_remove_handle)
#define curl_share_cleanup (*pier_dl_curl_share_cleanup)
#define curl_share_init (*pier_dl_curl_share_init)
#define curl_share_setopt (*pier_dl_curl_share_setopt)
#define curl_slist_append (*pier_dl_curl_slist_append)
#define curl_slist_free_all (*pier_dl_curl_slist_free_all)

#endif
