/* cache.h - the build cache's size and its pruning.
 *
 * The cache's size is what removing it would free: the layers of the
 * images only the cache holds (untagged, no container made from them)
 * that no other image uses. */
#ifndef PIER_BUILD_CACHE_H
#define PIER_BUILD_CACHE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "store/store.h"
#include "util/error.h"

int pier_build_cache_usage (pier_store *st, size_t *entries, int64_t *size, pier_error **err);

/* Remove entries, least recently used first: those last used before
 * until (unix seconds; 0 for any), and then more until the cache's size
 * is at most keep (negative: no cap; with keep < 0 and until 0, all).
 * Without all, only dangling entries (whose image nothing but the cache
 * holds: not tagged, no container) go.  The images only they held go.
 * *removed and *reclaimed say how much. */
int pier_build_cache_prune (pier_store *st, bool all, int64_t keep, int64_t until, size_t *removed,
                            int64_t *reclaimed, pier_error **err);

#endif
