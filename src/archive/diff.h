/* diff.h - write a directory of changes as an OCI layer tar.
 *
 * The directory is an overlay upper directory (or any tree in overlay's
 * form): a char device 0/0 is a whiteout and becomes `.wh.<name>`; a
 * directory with the opaque xattr (trusted.overlay.opaque=y, or
 * user.overlay.opaque=y) is followed by its `.wh..wh..opq`; an empty file
 * with user.overlay.whiteout is a whiteout too.  Overlay's own xattrs are
 * never written; others are (pax headers).
 *
 * The tar is deterministic: entries in byte order of their names, a
 * directory before its contents, numeric owners only, no atime or ctime,
 * hardlinks for files met again.  With clamp_mtime >= 0 (the build's
 * SOURCE_DATE_EPOCH) no mtime is later than it.
 */
#ifndef PIER_ARCHIVE_DIFF_H
#define PIER_ARCHIVE_DIFF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util/error.h"

/* Where the tar goes; returns 0 or -1 with *err. */
typedef int (*pier_diff_sink) (void *data, const void *buf, size_t len, pier_error **err);

typedef struct pier_diff_opts
{
  int64_t clamp_mtime; /* -1: keep every mtime */
  /* Make the tree itself what the tar says, so it can serve as the
   * unpacked layer: overlay's private xattrs (all but opaque) removed,
   * mtimes clamped as in the tar. */
  bool fix_tree;
  /* Paths (relative, no leading '/') left out when they are an empty
   * file or directory: mount points a runtime made, not content. */
  const char *const *skip_empty;
} pier_diff_opts;

/* Write the tree at dirfd (not closed) to sink.  *file_bytes (when not
 * NULL) gets the sum of the regular files' sizes. */
int pier_layer_diff (int dirfd, const pier_diff_opts *o, pier_diff_sink sink, void *data,
                     uint64_t *file_bytes, pier_error **err);

/* Whether name (at path) in dirfd is one of skip and empty. */
bool pier_diff_is_empty_listed (int dirfd, const char *name, const char *path, const char *const *skip);

#endif
