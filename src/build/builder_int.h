/* builder_int.h - what builder.c (the instructions and stages) and
 * schedule.c (which stage builds when) share. */
#ifndef PIER_BUILD_BUILDER_INT_H
#define PIER_BUILD_BUILDER_INT_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <time.h>

#include <jansson.h>

#include "build/builder.h"
#include "build/dockerfile.h"
#include "build/ignore.h"
#include "build/progress.h"
#include "store/db.h"
#include "util/digest.h"
#include "util/error.h"

/* A stage's progress through the schedule (see schedule). */
enum stage_state
{
  ST_IDLE,    /* not needed (so far) */
  ST_WANTED,  /* needed: starts once its known dependencies are done */
  ST_RUNNING, /* its thread builds it */
  ST_DONE,
  ST_FAILED,
};

struct stage
{
  json_t *image; /* the OCI image config */
  pier_db_image_layer *layers;
  size_t n_layers;
  char key[PIER_SHA256_HEX_LEN + 1]; /* the cache key so far */
  char **args;                       /* "K=V": the ARGs in effect */
  bool cmd_set;                      /* CMD given in this stage */
  /* Scheduling, under shared.mu.  Once ST_DONE the fields above are
   * only read (by the stages that use this one). */
  enum stage_state state;
  size_t *deps; /* the stages it names, as far as known before it runs */
  size_t n_deps;
  long waits_on; /* the stage its thread waits for, or -1 */
  pthread_t thread;
  bool has_thread;
};

/* What the stages' threads share; everything here is under mu. */
struct shared
{
  pthread_mutex_t mu;
  pthread_cond_t cv;        /* a stage changed state */
  pthread_mutex_t fetch_mu; /* o->fetch uses the caller's store: one at a time */
  pthread_mutex_t open_mu;  /* store opens clean tmp/: not two threads on one entry */
  char **consumed;          /* build-arg names some ARG used */
  size_t cap;               /* stages building at once, at most */
  size_t running;           /* stage threads not waiting for another stage */
  size_t alive;             /* stage threads not yet finished */
  bool failed;
  pier_error *error; /* the first failure: the build's error */
  int cancel[2];     /* written on failure: running steps stop */
};

/* One per stage thread (a copy of the coordinator's, with a store handle
 * of its own: sqlite handles are never shared between threads). */
struct builder
{
  pier_engine *e;
  pier_store *st;
  const pier_build_opts *o;
  pier_dockerfile *df;
  int ctxfd;
  pier_ignore *ig;
  struct stage *stages;
  char **meta; /* the global ARGs, "K=V" (or "K" when unset) */
  struct timespec t0;
  char *tmp; /* <root>/build */
  struct shared *sh;
  pier_build_progress *pr;
};

/* word with b's variables (env, then the build args) expanded. */
int builder_expand (struct builder *b, char *const *env, const char *word, char **out, pier_error **err);
/* The value of an instruction's --name=value flag, or NULL. */
const char *builder_flag (const pier_df_instr *in, const char *name);

/* Build stage i of b (in the stage's own thread). */
int build_stage (struct builder *b, size_t i, pier_error **err);

/* schedule.c: build the stages target needs, then target; the first
 * failure is the build's. */
int schedule (struct builder *b, size_t target, pier_error **err);
/* From the thread of stage self: wait until stage k is built (starting
 * it when nothing had asked for it); an error when it failed or when the
 * two wait for each other. */
int need_stage (struct builder *b, size_t self, size_t k, pier_error **err);

#endif
