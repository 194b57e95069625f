/* logfile.h - docker's json-file log: one JSON object per line,
 * {"log":"<text>","stream":"stdout|stderr","time":"<RFC 3339 nano>"},
 * lines split at newlines (and at 16 KiB), rotated by size into
 * <path>.1 ... <path>.<max-file - 1>. */
#ifndef PIER_ENGINE_LOGFILE_H
#define PIER_ENGINE_LOGFILE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util/error.h"

typedef struct pier_logfile pier_logfile;

/* max_size ("10m", "1k", bytes; NULL: unlimited) and max_file (NULL: 1). */
int pier_logfile_open (const char *path, const char *max_size, const char *max_file, pier_logfile **out,
                       pier_error **err);
/* Append output of a stream; partial lines wait for their end. */
void pier_logfile_write (pier_logfile *l, const char *stream, const char *buf, size_t n);
/* Flush partial lines and close; NULL is allowed. */
void pier_logfile_close (pier_logfile *l);

/* One log entry as read back. */
typedef struct pier_log_entry
{
  char *stream;
  char *text;
  int64_t time_ns; /* unix nanoseconds */
  char *time;      /* as written */
} pier_log_entry;

/* Read every entry of the log at path (rotated files first, oldest
 * first).  *n entries in *out; free with pier_log_entries_free.  When
 * offset is not NULL, reading of the current file starts there and
 * *offset is set to where it ended (for following). */
int pier_logfile_read (const char *path, bool rotated, int64_t *offset, pier_log_entry **out, size_t *n,
                       pier_error **err);
void pier_log_entries_free (pier_log_entry *e, size_t n);

#endif
