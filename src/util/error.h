/* error.h - pier's error contract.
 *
 * Library functions return 0 (or a non-negative value) on success and a
 * negative value on failure, filling *err with an errno-style code and a
 * message in the user's terms.  Only main() or an API handler prints an
 * error.  Going up, callers add context with pier_error_wrap().
 *
 * A NULL err is allowed: the failure is still returned, the message dropped.
 */
#ifndef PIER_UTIL_ERROR_H
#define PIER_UTIL_ERROR_H

#include <stdarg.h>

typedef struct pier_error
{
  int code;  /* errno value, or 0 when no errno applies */
  char *msg; /* heap string, owned by the error */
} pier_error;

/* Set *err (which must be NULL or unset) and return -1.  When code is not
 * zero, ": strerror(code)" is appended to the message. */
int pier_error_make (pier_error **err, int code, const char *fmt, ...)
    __attribute__ ((format (printf, 3, 4)));

/* Same, but the message is used as given (no strerror suffix). */
int pier_error_makex (pier_error **err, int code, const char *fmt, ...)
    __attribute__ ((format (printf, 3, 4)));

/* Prefix the existing message with "<context>: " and return -1. */
int pier_error_wrap (pier_error **err, const char *fmt, ...) __attribute__ ((format (printf, 2, 3)));

void pier_error_free (pier_error **err);

/* Build an error in place from a code and a ready message (no formatting);
 * used to carry an error across a process boundary. */
int pier_error_set (pier_error **err, int code, const char *msg);

#endif
