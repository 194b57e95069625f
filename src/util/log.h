/* log.h - diagnostics for the operator (not errors: those are returned).
 *
 * Messages go to stderr (text) and, when a log file is set, to that file
 * in text or runc's JSON-lines form ({"level","msg","time"}), which
 * containerd and conmon read back to show a runtime's failure.
 */
#ifndef PIER_UTIL_LOG_H
#define PIER_UTIL_LOG_H

enum pier_log_level
{
  PIER_LOG_ERROR = 0,
  PIER_LOG_WARNING = 1,
  PIER_LOG_INFO = 2,
  PIER_LOG_DEBUG = 3,
};

/* path may be NULL (stderr only).  json selects the JSON-lines format for
 * the file.  Returns 0 or -errno when the file cannot be opened. */
int pier_log_init (const char *path, int json, enum pier_log_level level);
/* When quiet, warnings go only to the log file, never to stderr. */
void pier_log_set_stderr (int enabled);
/* Name used as the prefix of messages on stderr (default "pier"). */
void pier_log_set_program (const char *name);
void pier_log (enum pier_log_level level, const char *fmt, ...) __attribute__ ((format (printf, 2, 3)));

#define pier_warn(...) pier_log (PIER_LOG_WARNING, __VA_ARGS__)
#define pier_debug(...) pier_log (PIER_LOG_DEBUG, __VA_ARGS__)

#endif
