/* nft_dl.c - libnftables, opened on first use. */
#include "net/nft_dl.h"

#include "util/dl.h"
#include "util/banned.h"

#define PIER_DL_DEFINE(f) __typeof__ (f) *pier_dl_##f;
PIER_NFT_FUNCS (PIER_DL_DEFINE)
#undef PIER_DL_DEFINE

#define PIER_DL_NAME(f) #f,
static const char *const names[] = { PIER_NFT_FUNCS (PIER_DL_NAME) };
#undef PIER_DL_NAME
#define PIER_DL_SLOT(f) (void **) &pier_dl_##f,
static void **const slots[] = { PIER_NFT_FUNCS (PIER_DL_SLOT) };
#undef PIER_DL_SLOT

int
pier_nft_dl_open (pier_error **err)
{
  static int state;
  static const pier_dl_lib lib
      = { "libnftables.so.1", "libnftables1", names, slots, sizeof names / sizeof names[0] };
  return pier_dl_open (&lib, &state, err);
}
