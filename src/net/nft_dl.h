/* nft_dl.h - libnftables, opened on first use (util/dl.h).
 *
 * Include this instead of nftables/libnftables.h.  Call pier_nft_dl_open before the first use
 * of the library in a process; the calls below then go through pointers.
 */
#ifndef PIER_NET_NFT_DL_H
#define PIER_NET_NFT_DL_H

#include <nftables/libnftables.h>

#include "util/dl.h"
#include "util/error.h"

#define PIER_NFT_FUNCS(X)                                                                                    \
  X (nft_ctx_new)                                                                                            \
  X (nft_ctx_free)                                                                                           \
  X (nft_ctx_buffer_output)                                                                                  \
  X (nft_ctx_buffer_error)                                                                                   \
  X (nft_run_cmd_from_buffer)                                                                                \
  X (nft_ctx_get_error_buffer)

PIER_DL_DECLARE (PIER_NFT_FUNCS)

/* Opens libnftables.so.1 once; an error names what is missing. */
int pier_nft_dl_open (pier_error **err);

#define nft_ctx_new (*pier_dl_nft_ctx_new)
#define nft_ctx_free (*pier_dl_nft_ctx_free)
#define nft_ctx_buffer_output (*pier_dl_nft_ctx_buffer_output)
#define nft_ctx_buffer_error (*pier_dl_nft_ctx_buffer_error)
#define nft_run_cmd_from_buffer (*pier_dl_nft_run_cmd_from_buffer)
#define nft_ctx_get_error_buffer (*pier_dl_nft_ctx_get_error_buffer)

#endif
