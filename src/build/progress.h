/* progress.h - pier build's progress: BuildKit's plain lines, or a live
 * view on a terminal.
 *
 * Steps are vertices numbered #1, #2... in the order they start.  Plain
 * progress writes whole lines, each with its step's #N, so the lines of
 * steps running at once (stages build in parallel) interleave but never
 * mix.  The terminal view keeps every running step, with its last lines
 * of output, at the bottom and prints a finished one above them for
 * good.
 *
 * Thread-safe: every call may come from any thread.  A NULL out is
 * quiet (every call does nothing).
 */
#ifndef PIER_BUILD_PROGRESS_H
#define PIER_BUILD_PROGRESS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

typedef struct pier_build_progress pier_build_progress;

/* tty: out is a terminal (or asked to be drawn as one). */
pier_build_progress *pier_build_progress_new (FILE *out, bool tty);
void pier_build_progress_free (pier_build_progress *p);

/* The next step's number. */
int pier_build_progress_vertex (pier_build_progress *p);

/* A line of its own (plain or terminal). */
void pier_build_progress_say (pier_build_progress *p, const char *fmt, ...)
    __attribute__ ((format (printf, 2, 3)));

void pier_build_progress_start (pier_build_progress *p, int vertex, const char *label);
/* A line the step's process wrote, secs after the step started. */
void pier_build_progress_output (pier_build_progress *p, int vertex, double secs, const char *line);
/* The step is over: status is "CACHED", "DONE" (after secs) or "CANCELED". */
void pier_build_progress_end (pier_build_progress *p, int vertex, const char *status, double secs);
/* The step failed with msg. */
void pier_build_progress_error (pier_build_progress *p, int vertex, const char *msg);

/* Write len bytes to f (a failing step's output when quiet) without
 * mixing with the progress. */
void pier_build_progress_raw (pier_build_progress *p, FILE *f, const char *buf, size_t len);

#endif
