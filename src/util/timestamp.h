/* timestamp.h - times as image configs carry them and as docker takes them
 * on its command line (`--filter until=`, `before`/`since` values). */
#ifndef PIER_UTIL_TIMESTAMP_H
#define PIER_UTIL_TIMESTAMP_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "util/error.h"

/* An RFC 3339 time with its zone, as image configs and history entries
 * hold it ("2024-01-02T03:04:05Z", "2024-01-02T03:04:05.123456789+02:00").
 * 0, or -1 when s is not one (s may be NULL). */
int pier_time_parse_rfc3339 (const char *s, struct timespec *out);

/* A time given to docker's `until=` filter (moby's GetTimestamp), in order:
 * a Go duration before now ("10m", "1h30m", "1.5h"; not "0"), an RFC 3339
 * date or time, whole or cut short ("2024-01-02", "2024-01-02T15:04",
 * "2024-01-02T15:04:05.5Z"), in the local zone when it names none, or unix
 * seconds with an optional fraction ("1700000000.5").  EINVAL with docker's
 * message for anything else. */
int pier_time_parse_user (const char *value, const struct timespec *now, struct timespec *out,
                          pier_error **err);

/* t as RFC 3339 in UTC with nanoseconds ("2024-01-02T03:04:05.000000001Z"),
 * the form docker writes in inspect, logs and image configs; buf holds at
 * least 40 bytes.  The _now form formats CLOCK_REALTIME. */
void pier_time_format_rfc3339 (const struct timespec *t, char *buf, size_t n);
void pier_time_now_rfc3339 (char *buf, size_t n);

/* Go's time.ParseDuration ("1m30s", "500ms", "-2h", "0"): 0, or -1 when
 * s is not one. */
int pier_time_parse_duration (const char *s, int64_t *ns);

/* Go's time.Duration.String ("1m30s", "500ms", "1h0m0s") into buf. */
void pier_time_format_duration (int64_t ns, char *buf, size_t n);

/* Unix nanoseconds of t. */
static inline long long
pier_time_ns (const struct timespec *t)
{
  return (long long) t->tv_sec * 1000000000LL + t->tv_nsec;
}

/* Negative, 0 or positive as a is before, at or after b. */
int pier_time_cmp (const struct timespec *a, const struct timespec *b);

#endif
