/* extract.h - unpack one OCI image layer, securely.
 *
 * The layer (a tar stream, plain, gzip or zstd: detected from its magic)
 * is read once; while it is read the DiffID (sha256 of the uncompressed
 * tar) and the blob digest (sha256 of the bytes read from fd) are
 * computed, so the caller can verify both against the manifest and the
 * image config without a second pass.
 *
 * Every entry is created relative to the layer directory with *at() calls
 * on parents opened one component at a time with O_NOFOLLOW, never by a
 * string path:
 *  - absolute names and names with a ".." component are refused;
 *  - a path that goes through a symlink (also one from this layer, as in
 *    `a -> /etc` then `a/passwd`) is refused, naming the entry;
 *  - a hardlink must name an entry already extracted from this layer
 *    (the directory must be empty at the start, so everything in it is);
 *  - names longer than PATH_MAX or with a component longer than NAME_MAX,
 *    symlink targets longer than PATH_MAX and xattrs larger than
 *    XATTR_SIZE_MAX are refused (libarchive itself bounds pax headers).
 * Overlay's own xattrs (trusted.overlay.*, user.overlay.*) carried in the
 * tar are dropped: only the whiteout translation below may set them.
 *
 * OCI whiteouts become overlay whiteouts: `.wh.<name>` a char device 0/0
 * named <name>, `.wh..wh..opq` the xattr trusted.overlay.opaque=y on its
 * directory.  With userxattr (rootless overlay mounted with -o userxattr)
 * the opaque xattr is user.overlay.opaque=y, and where mknod is not
 * allowed a whiteout is an empty file with user.overlay.whiteout, its
 * directory marked user.overlay.opaque=x (the xattr whiteouts of Linux
 * 6.8+).
 *
 * Metadata: owner (unless no_chown), then xattrs (chown clears
 * security.capability), then the mode with setuid/setgid bits (chown
 * clears those too), then times; directories get their mode and times
 * after all their contents.  Sparse files keep their holes.
 *
 * Thread-safety: calls on different directories may run in parallel.
 */
#ifndef PIER_ARCHIVE_EXTRACT_H
#define PIER_ARCHIVE_EXTRACT_H

#include <stdbool.h>
#include <stdint.h>

#include "archive/dstream.h"
#include "util/error.h"

typedef struct pier_extract_opts
{
  /* Rootless overlay: user.overlay.* xattrs (see above). */
  bool userxattr;
  /* Keep the caller as the owner of everything (no lchown). */
  bool no_chown;
  /* Skip xattrs the kernel refuses with EPERM or EOPNOTSUPP (rootless
   * cannot set security.* or trusted.*) instead of failing. */
  bool ignore_xattr_errors;
  /* pier_layer_extract_into_new: syncfs the layer and fsync the parent
   * before the rename, so a layer that exists is complete on disk. */
  bool sync;
} pier_extract_opts;

typedef struct pier_extract_result
{
  char diff_id[PIER_DIGEST_STR_LEN + 1];     /* "sha256:<hex>" of the tar */
  char blob_digest[PIER_DIGEST_STR_LEN + 1]; /* "sha256:<hex>" of the input */
  uint64_t blob_size;                        /* bytes read from fd */
  uint64_t tar_size;                         /* uncompressed tar bytes */
  uint64_t unpacked_size;                    /* sum of regular files' sizes */
  uint64_t entries;                          /* tar entries processed */
  pier_compression compression;
} pier_extract_result;

/* Unpack the layer read from fd (read to its end; still the caller's)
 * into dirfd, which must be an empty directory.  o may be NULL (all
 * false); res may be NULL.  0 on success; -1 with *err naming the entry
 * and the reason.  On failure the directory holds a partial layer: the
 * caller must remove it (or use pier_layer_extract_into_new).  Directory
 * modes are applied only once every entry is in, so a partial layer's
 * directories are still 0700 and removable without privileges. */
int pier_layer_extract (int fd, int dirfd, const pier_extract_opts *o, pier_extract_result *res,
                        pier_error **err);

/* Unpack into parentfd/<name>.tmp-<pid> and rename it to <name> only on
 * success (an existing <name> is an error, EEXIST, checked before and
 * enforced by RENAME_NOREPLACE).
 * On failure nothing of it is left in parentfd.  A leftover
 * <name>.tmp-<pid> from a crashed process with the same pid is removed
 * first.  name is one path component. */
int pier_layer_extract_into_new (int parentfd, const char *name, int fd, const pier_extract_opts *o,
                                 pier_extract_result *res, pier_error **err);

#endif
