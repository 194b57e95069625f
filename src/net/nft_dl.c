/* nft_dl.c - libnftables, opened on first use. */
#include "net/nft_dl.h"

#include "util/banned.h"

PIER_DL_DEFINE (PIER_NFT_FUNCS, pier_nft_dl_open, "libnftables.so.1", "libnftables1")
