/* archive_dl.h - libarchive, opened on first use (util/dl.h).
 *
 * Include this instead of archive.h and archive_entry.h.  Call pier_archive_dl_open before the first use
 * of the library in a process; the calls below then go through pointers.
 */
#ifndef PIER_ARCHIVE_ARCHIVE_DL_H
#define PIER_ARCHIVE_ARCHIVE_DL_H

#include <archive.h>
#include <archive_entry.h>

#include "util/dl.h"
#include "util/error.h"

#define PIER_ARCHIVE_FUNCS(X)                                                                                \
  X (archive_entry_atime)                                                                                    \
  X (archive_entry_atime_is_set)                                                                             \
  X (archive_entry_atime_nsec)                                                                               \
  X (archive_entry_filetype)                                                                                 \
  X (archive_entry_free)                                                                                     \
  X (archive_entry_gid)                                                                                      \
  X (archive_entry_hardlink)                                                                                 \
  X (archive_entry_mtime)                                                                                    \
  X (archive_entry_mtime_nsec)                                                                               \
  X (archive_entry_new)                                                                                      \
  X (archive_entry_pathname)                                                                                 \
  X (archive_entry_pathname_utf8)                                                                            \
  X (archive_entry_perm)                                                                                     \
  X (archive_entry_rdevmajor)                                                                                \
  X (archive_entry_rdevminor)                                                                                \
  X (archive_entry_set_filetype)                                                                             \
  X (archive_entry_set_gid)                                                                                  \
  X (archive_entry_set_hardlink)                                                                             \
  X (archive_entry_set_mtime)                                                                                \
  X (archive_entry_set_pathname)                                                                             \
  X (archive_entry_set_perm)                                                                                 \
  X (archive_entry_set_rdevmajor)                                                                            \
  X (archive_entry_set_rdevminor)                                                                            \
  X (archive_entry_set_size)                                                                                 \
  X (archive_entry_set_symlink)                                                                              \
  X (archive_entry_set_uid)                                                                                  \
  X (archive_entry_size)                                                                                     \
  X (archive_entry_symlink)                                                                                  \
  X (archive_entry_symlink_utf8)                                                                             \
  X (archive_entry_uid)                                                                                      \
  X (archive_entry_xattr_add_entry)                                                                          \
  X (archive_entry_xattr_next)                                                                               \
  X (archive_entry_xattr_reset)                                                                              \
  X (archive_error_string)                                                                                   \
  X (archive_read_data_block)                                                                                \
  X (archive_read_free)                                                                                      \
  X (archive_read_new)                                                                                       \
  X (archive_read_next_header)                                                                               \
  X (archive_read_open)                                                                                      \
  X (archive_read_open_fd)                                                                                   \
  X (archive_read_support_filter_all)                                                                        \
  X (archive_read_support_filter_gzip)                                                                       \
  X (archive_read_support_filter_zstd)                                                                       \
  X (archive_read_support_format_tar)                                                                        \
  X (archive_set_error)                                                                                      \
  X (archive_write_close)                                                                                    \
  X (archive_write_data)                                                                                     \
  X (archive_write_data_block)                                                                               \
  X (archive_write_disk_new)                                                                                 \
  X (archive_write_disk_set_options)                                                                         \
  X (archive_write_finish_entry)                                                                             \
  X (archive_write_free)                                                                                     \
  X (archive_write_header)                                                                                   \
  X (archive_write_new)                                                                                      \
  X (archive_write_open)                                                                                     \
  X (archive_write_set_bytes_in_last_block)                                                                  \
  X (archive_write_set_bytes_per_block)                                                                      \
  X (archive_write_set_format_pax_restricted)

PIER_DL_DECLARE (PIER_ARCHIVE_FUNCS)

/* Opens libarchive.so.13 once; an error names what is missing. */
int pier_archive_dl_open (pier_error **err);

#define archive_entry_atime (*pier_dl_archive_entry_atime)
#define archive_entry_atime_is_set (*pier_dl_archive_entry_atime_is_set)
#define archive_entry_atime_nsec (*pier_dl_archive_entry_atime_nsec)
#define archive_entry_filetype (*pier_dl_archive_entry_filetype)
#define archive_entry_free (*pier_dl_archive_entry_free)
#define archive_entry_gid (*pier_dl_archive_entry_gid)
#define archive_entry_hardlink (*pier_dl_archive_entry_hardlink)
#define archive_entry_mtime (*pier_dl_archive_entry_mtime)
#define archive_entry_mtime_nsec (*pier_dl_archive_entry_mtime_nsec)
#define archive_entry_new (*pier_dl_archive_entry_new)
#define archive_entry_pathname (*pier_dl_archive_entry_pathname)
#define archive_entry_pathname_utf8 (*pier_dl_archive_entry_pathname_utf8)
#define archive_entry_perm (*pier_dl_archive_entry_perm)
#define archive_entry_rdevmajor (*pier_dl_archive_entry_rdevmajor)
#define archive_entry_rdevminor (*pier_dl_archive_entry_rdevminor)
#define archive_entry_set_filetype (*pier_dl_archive_entry_set_filetype)
#define archive_entry_set_gid (*pier_dl_archive_entry_set_gid)
#define archive_entry_set_hardlink (*pier_dl_archive_entry_set_hardlink)
#define archive_entry_set_mtime (*pier_dl_archive_entry_set_mtime)
#define archive_entry_set_pathname (*pier_dl_archive_entry_set_pathname)
#define archive_entry_set_perm (*pier_dl_archive_entry_set_perm)
#define archive_entry_set_rdevmajor (*pier_dl_archive_entry_set_rdevmajor)
#define archive_entry_set_rdevminor (*pier_dl_archive_entry_set_rdevminor)
#define archive_entry_set_size (*pier_dl_archive_entry_set_size)
#define archive_entry_set_symlink (*pier_dl_archive_entry_set_symlink)
#define archive_entry_set_uid (*pier_dl_archive_entry_set_uid)
#define archive_entry_size (*pier_dl_archive_entry_size)
#define archive_entry_symlink (*pier_dl_archive_entry_symlink)
#define archive_entry_symlink_utf8 (*pier_dl_archive_entry_symlink_utf8)
#define archive_entry_uid (*pier_dl_archive_entry_uid)
#define archive_entry_xattr_add_entry (*pier_dl_archive_entry_xattr_add_entry)
#define archive_entry_xattr_next (*pier_dl_archive_entry_xattr_next)
#define archive_entry_xattr_reset (*pier_dl_archive_entry_xattr_reset)
#define archive_error_string (*pier_dl_archive_error_string)
#define archive_read_data_block (*pier_dl_archive_read_data_block)
#define archive_read_free (*pier_dl_archive_read_free)
#define archive_read_new (*pier_dl_archive_read_new)
#define archive_read_next_header (*pier_dl_archive_read_next_header)
#define archive_read_open (*pier_dl_archive_read_open)
#define archive_read_open_fd (*pier_dl_archive_read_open_fd)
#define archive_read_support_filter_all (*pier_dl_archive_read_support_filter_all)
#define archive_read_support_filter_gzip (*pier_dl_archive_read_support_filter_gzip)
#define archive_read_support_filter_zstd (*pier_dl_archive_read_support_filter_zstd)
#define archive_read_support_format_tar (*pier_dl_archive_read_support_format_tar)
#define archive_set_error (*pier_dl_archive_set_error)
#define archive_write_close (*pier_dl_archive_write_close)
#define archive_write_data (*pier_dl_archive_write_data)
#define archive_write_data_block (*pier_dl_archive_write_data_block)
#define archive_write_disk_new (*pier_dl_archive_write_disk_new)
#define archive_write_disk_set_options (*pier_dl_archive_write_disk_set_options)
#define archive_write_finish_entry (*pier_dl_archive_write_finish_entry)
#define archive_write_free (*pier_dl_archive_write_free)
#define archive_write_header (*pier_dl_archive_write_header)
#define archive_write_new (*pier_dl_archive_write_new)
#define archive_write_open (*pier_dl_archive_write_open)
#define archive_write_set_bytes_in_last_block (*pier_dl_archive_write_set_bytes_in_last_block)
#define archive_write_set_bytes_per_block (*pier_dl_archive_write_set_bytes_per_block)
#define archive_write_set_format_pax_restricted (*pier_dl_archive_write_set_format_pax_restricted)

#endif
