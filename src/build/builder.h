/* builder.h - pier build: a Dockerfile and a context become an image.
 *
 * Only the stages the target needs are built (the target and what it
 * names with FROM, COPY --from and RUN --mount from=), each in a thread
 * of its own with its own store handle, as soon as the stages it names
 * are built: independent stages build at once (at most as many as there
 * are CPUs, at least two).  The first failure cancels the others (their
 * steps' processes are killed) and is the build's error.  Images and
 * cache keys do not depend on which stage ends first.
 *
 * Each filesystem step (RUN, COPY, ADD, a WORKDIR that creates its
 * directory) makes one layer through the engine's build steps, metadata
 * steps change only the config.  A filesystem step's cache key is its
 * parent's key, the instruction as evaluated (with the build args in
 * effect) and, for COPY and ADD, a checksum of the files' content and
 * metadata (for a bind mount from=, its source's key or image id); a hit
 * reuses the image the step made before (store/db_build.h) without
 * running anything.
 *
 * Library code: progress goes to o->progress (plain lines in BuildKit's
 * shape, whole lines each with its step's #N, however the stages'
 * steps interleave), nothing else is printed.  o->fetch may be called
 * from any of the stages' threads, one call at a time.
 */
#ifndef PIER_BUILD_BUILDER_H
#define PIER_BUILD_BUILDER_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "engine/engine.h"
#include "util/error.h"

/* Asked for a FROM image missing from the store (a pull); NULL: missing
 * images are an error.  0 with *id set, or -1 with *err. */
typedef int (*pier_build_fetch_fn) (void *data, const char *ref, char **id, pier_error **err);

typedef struct pier_build_opts
{
  const char *context;         /* the context directory */
  const char *dockerfile_name; /* for messages and <name>.dockerignore */
  const char *dockerfile;      /* its bytes */
  size_t dockerfile_len;
  char *const *tags;       /* NULL-terminated, may be NULL */
  char *const *build_args; /* "K=V" (or "K": from the environment) */
  char *const *labels;     /* "K=V" */
  char *const *secrets;    /* "id=x,src=path" / "id=x,env=VAR" */
  const char *target;      /* stage name, or NULL for the last */
  const char *network;     /* RUN's network: "none" (default) or "host" */
  bool no_cache;
  bool pull;                 /* fetch FROM images even when present */
  int64_t source_date_epoch; /* -1 when not set */
  pier_build_fetch_fn fetch;
  void *fetch_data;
  FILE *progress; /* NULL: quiet */
  bool tty;       /* progress is a terminal: a live view, not lines */
  FILE *output;   /* where a failing step's output goes when quiet */
} pier_build_opts;

/* Build; *id gets the image id.  On a failing RUN, *exit_code (when not
 * NULL) is the process's exit code. */
int pier_build (pier_engine *e, const pier_build_opts *o, char **id, pier_error **err);

/* Export an image's filesystem: into the directory dest (created when
 * missing), or as a tar on fd (dest NULL). */
int pier_build_export (pier_engine *e, const char *image_id, const char *dest, int fd, pier_error **err);

#endif
