/* schedule.c - which stage of a build builds when (see builder_int.h). */
#include "build/builder_int.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/cleanup.h"
#include "util/forkguard.h"
#include "util/fs.h"
#include "util/xalloc.h"

#include "util/banned.h"

/* ---- the schedule ------------------------------------------------------------
 *
 * Each stage the target needs builds in a thread of its own, once the
 * stages it names are built, at most sh->cap at once.  The names are
 * known before a stage runs (FROM <stage>, and COPY --from / RUN --mount
 * from= without variables); one known only as the stage runs is asked
 * for then (need_stage), and its thread waits, no longer counting
 * against the cap.  The first failure cancels the rest: their steps'
 * processes are killed and their threads end. */

static void
want (struct builder *b, size_t i)
{
  struct stage *s = &b->stages[i];
  if (s->state != ST_IDLE)
    return;
  s->state = ST_WANTED;
  for (size_t d = 0; d < s->n_deps; d++)
    want (b, s->deps[d]);
}

/* The first failure is the build's; stop everything else. */
static void
fail_locked (struct builder *b, pier_error **err)
{
  struct shared *sh = b->sh;
  if (!sh->failed)
    {
      sh->failed = true;
      sh->error = steal_pointer (err);
      if (pier_write_all (sh->cancel[1], "x", 1) < 0)
        abort ();
    }
  pier_error_free (err);
  pthread_cond_broadcast (&sh->cv);
}

static const char *
stage_name (struct builder *b, size_t i, char buf[32])
{
  if (b->df->stages[i].name)
    return b->df->stages[i].name;
  snprintf (buf, 32, "%zu", i);
  return buf;
}

/* In stage self's thread: wait until stage k is built (starting it when
 * nothing asked for it yet). */
/* pthread_cond_wait on sh's condition, letting go of the fork guard
 * while it waits (taken again before sh->mu: the guard comes first). */
static void
cond_wait_unguarded (struct shared *sh)
{
  pier_fork_guard_block ();
  pthread_cond_wait (&sh->cv, &sh->mu);
  pthread_mutex_unlock (&sh->mu);
  pier_fork_guard_unblock ();
  pthread_mutex_lock (&sh->mu);
}

int
need_stage (struct builder *b, size_t self, size_t k, pier_error **err)
{
  struct shared *sh = b->sh;
  pthread_mutex_lock (&sh->mu);
  for (long w = (long) k; w >= 0; w = b->stages[w].waits_on)
    if ((size_t) w == self)
      {
        char nb[32];
        pthread_mutex_unlock (&sh->mu);
        return pier_error_makex (err, EINVAL, "circular dependency detected on stage: %s",
                                 stage_name (b, k, nb));
      }
  want (b, k);
  b->stages[self].waits_on = (long) k;
  sh->running--;
  pthread_cond_broadcast (&sh->cv);
  while (b->stages[k].state != ST_DONE && b->stages[k].state != ST_FAILED && !sh->failed)
    cond_wait_unguarded (sh);
  b->stages[self].waits_on = -1;
  sh->running++;
  bool ok = b->stages[k].state == ST_DONE;
  pthread_mutex_unlock (&sh->mu);
  if (!ok)
    return pier_error_makex (err, ECANCELED, "cancelled");
  return 0;
}

struct job
{
  struct builder b; /* this thread's */
  size_t i;
};

static void *
stage_main (void *p)
{
  struct job *j = p;
  struct builder *b = &j->b;
  pier_error *err = NULL;
  pier_store *st = NULL;
  pier_fork_guard_join ();
  /* Its own store handle: sqlite's connections are one thread's each. */
  pthread_mutex_lock (&b->sh->open_mu);
  int rc = pier_store_open (pier_store_root (b->st), &st, &err);
  pthread_mutex_unlock (&b->sh->open_mu);
  if (rc == 0)
    {
      b->st = st;
      rc = build_stage (b, j->i, &err);
    }
  pier_store_close (st);
  struct shared *sh = b->sh;
  pthread_mutex_lock (&sh->mu);
  b->stages[j->i].state = rc == 0 ? ST_DONE : ST_FAILED;
  if (rc < 0)
    fail_locked (b, &err);
  sh->running--;
  sh->alive--;
  pthread_cond_broadcast (&sh->cv);
  pthread_mutex_unlock (&sh->mu);
  free (j);
  pier_fork_guard_quit ();
  return NULL;
}

/* The stage a --from / from= word names, when it needs no variables (one
 * that does is known only as its stage runs: need_stage). */
static long
named_stage (struct builder *b, size_t self, const char *word)
{
  if (word == NULL || strchr (word, '$'))
    return -1;
  long k = pier_df_stage_find (b->df, word);
  return k >= 0 && (size_t) k != self ? k : -1;
}

static void
add_dep (struct stage *s, long k)
{
  if (k < 0)
    return;
  for (size_t d = 0; d < s->n_deps; d++)
    if (s->deps[d] == (size_t) k)
      return;
  s->deps = xrealloc (s->deps, (s->n_deps + 1) * sizeof *s->deps);
  s->deps[s->n_deps++] = (size_t) k;
}

/* The stages stage i names, as far as known before it runs. */
static void
find_deps (struct builder *b, size_t i)
{
  const pier_df_stage *st = &b->df->stages[i];
  struct stage *s = &b->stages[i];
  cleanup_free char *base = NULL;
  if (builder_expand (b, b->meta, st->base, &base, NULL) == 0)
    {
      long k = pier_df_stage_find (b->df, base);
      if (k >= 0 && (size_t) k < i && b->df->stages[k].name)
        add_dep (s, k);
    }
  for (size_t n = 1; n < st->n_instrs; n++)
    {
      const pier_df_instr *in = &st->instrs[n];
      if (in->kind == PIER_DF_COPY)
        add_dep (s, named_stage (b, i, builder_flag (in, "from")));
      if (in->kind != PIER_DF_RUN)
        continue;
      for (size_t f = 0; f < in->n_flags; f++)
        {
          if (strcmp (in->flags[f].name, "mount") != 0 || in->flags[f].value == NULL)
            continue;
          cleanup_free char *spec = xstrdup (in->flags[f].value);
          char *save = NULL;
          for (char *kv = strtok_r (spec, ",", &save); kv; kv = strtok_r (NULL, ",", &save))
            if (strncmp (kv, "from=", 5) == 0)
              add_dep (s, named_stage (b, i, kv + 5));
        }
    }
}

static bool
deps_done (struct builder *b, size_t i)
{
  struct stage *s = &b->stages[i];
  for (size_t d = 0; d < s->n_deps; d++)
    if (b->stages[s->deps[d]].state != ST_DONE)
      return false;
  return true;
}

/* Build the target and what it needs; the first failure is the error. */
int
schedule (struct builder *b, size_t target, pier_error **err)
{
  struct shared *sh = b->sh;
  for (size_t i = 0; i < b->df->n_stages; i++)
    {
      b->stages[i].waits_on = -1;
      find_deps (b, i);
    }
  pier_fork_guard_join ();
  pthread_mutex_lock (&sh->mu);
  want (b, target);
  for (;;)
    {
      if (sh->alive == 0 && (sh->failed || b->stages[target].state == ST_DONE))
        break;
      bool started = false;
      for (size_t i = 0; i < b->df->n_stages && !sh->failed && sh->running < sh->cap; i++)
        {
          struct stage *s = &b->stages[i];
          if (s->state != ST_WANTED || !deps_done (b, i))
            continue;
          struct job *j = xzalloc (sizeof *j);
          j->b = *b;
          j->i = i;
          s->state = ST_RUNNING;
          if (pthread_create (&s->thread, NULL, stage_main, j) != 0)
            {
              pier_error *e = NULL;
              pier_error_makex (&e, EAGAIN, "cannot start a thread for a stage");
              free (j);
              s->state = ST_FAILED;
              fail_locked (b, &e);
              break;
            }
          s->has_thread = true;
          sh->running++;
          sh->alive++;
          started = true;
        }
      if (started)
        continue;
      /* Nothing runs, nothing can start and no waiting stage's wait is
       * over: the stages wait for each other. */
      bool waking = false;
      for (size_t i = 0; i < b->df->n_stages; i++)
        {
          long w = b->stages[i].waits_on;
          waking |= w >= 0 && (b->stages[w].state == ST_DONE || b->stages[w].state == ST_FAILED);
        }
      if (!sh->failed && sh->running == 0 && !waking)
        {
          char nb[32];
          size_t w = target;
          for (size_t i = 0; i < b->df->n_stages; i++)
            if (b->stages[i].state == ST_WANTED || b->stages[i].waits_on >= 0)
              {
                w = i;
                break;
              }
          pier_error *e = NULL;
          pier_error_makex (&e, EINVAL, "circular dependency detected on stage: %s", stage_name (b, w, nb));
          fail_locked (b, &e);
          continue;
        }
      cond_wait_unguarded (sh);
    }
  pthread_mutex_unlock (&sh->mu);
  pier_fork_guard_quit ();
  for (size_t i = 0; i < b->df->n_stages; i++)
    if (b->stages[i].has_thread)
      {
        pthread_join (b->stages[i].thread, NULL);
        b->stages[i].has_thread = false;
      }
  if (sh->failed)
    {
      *err = steal_pointer (&sh->error);
      return -1;
    }
  return 0;
}

/* ---- entry points ------------------------------------------------------------ */
