/* fs.h - safe path operations.
 *
 * Paths inside a container root, layer or volume are resolved relative to
 * a directory fd with openat2(RESOLVE_IN_ROOT): ".." and absolute symlinks
 * stay inside the root, so a planted symlink can never redirect a write or
 * a mount to the host.  Where openat2 is missing (ENOSYS), a component walk
 * with O_NOFOLLOW that resolves symlinks by hand inside the root is used.
 *
 * Every fd returned is O_CLOEXEC and owned by the caller.
 */
#ifndef PIER_UTIL_FS_H
#define PIER_UTIL_FS_H

#include <stddef.h>
#include <sys/types.h>

#include "util/error.h"

/* Open path (absolute or relative, interpreted inside rootfd). */
int pier_open_in_root (int rootfd, const char *path, int flags, mode_t mode, pier_error **err);

/* Create every missing directory of path inside rootfd and return an
 * O_PATH|O_DIRECTORY fd of the last one. */
int pier_mkdir_in_root (int rootfd, const char *path, mode_t mode, pier_error **err);

/* Make sure path exists inside rootfd as a directory (is_dir) or a regular
 * file (created empty), creating parents; returns an O_PATH fd to it.  An
 * existing entry of another type is returned as is. */
int pier_ensure_in_root (int rootfd, const char *path, int is_dir, pier_error **err);

/* Crash-safe write: tmp file in dirfd, fsync, rename over name, fsync the
 * directory. */
int pier_atomic_write (int dirfd, const char *name, const void *data, size_t len, mode_t mode,
                       pier_error **err);
/* The same without the fsyncs: readers see the old or the new content,
 * never a part; after a power loss the file may be old, new or empty.  For files made again
 * from a record whenever they are needed (a container's config.json,
 * a build step's files; runtime state under a tmpfs). */
int pier_atomic_replace (int dirfd, const char *name, const void *data, size_t len, mode_t mode,
                         pier_error **err);

/* Read what is left of fd (what names it in errors).  *out is
 * NUL-terminated. */
int pier_read_fd (int fd, const char *what, char **out, size_t *len, pier_error **err);

/* Read a whole file (dirfd may be AT_FDCWD).  *out is NUL-terminated. */
int pier_read_file_at (int dirfd, const char *path, char **out, size_t *len, pier_error **err);

/* Write a small value to an existing file (sysfs, procfs, cgroupfs). */
int pier_write_file_at (int dirfd, const char *path, const char *data, size_t len, pier_error **err);

/* 0 when the directory dirfd holds nothing; ENOTEMPTY "<what> is not
 * empty (it holds `x`)" otherwise (what: "the layer directory"). */
int pier_dir_check_empty (int dirfd, const char *what, pier_error **err);

/* rm -rf of name inside dirfd; missing is not an error. */
int pier_rmtree_at (int dirfd, const char *name, pier_error **err);

/* Duplicate-free join of a and b with exactly one '/'. */
char *pier_path_join (const char *a, const char *b);

/* Write all of buf to fd, retrying short writes and EINTR. */
int pier_write_all (int fd, const void *buf, size_t len);

#endif
