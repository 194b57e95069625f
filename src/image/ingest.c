/* ingest.c - layer blobs unpacked in child processes as they arrive,
 * checked and placed in order; images recorded. */
#include "image/ingest.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "archive/extract.h"
#include "image/images.h"
#include "store/blobs.h"
#include "util/cleanup.h"
#include "util/fs.h"
#include "util/xalloc.h"
#include "util/banned.h"

/* What an unpacking child reports. */
struct unpacked
{
  int code; /* 0, or the errno of the failure */
  char diff_id[80];
  uint64_t size;
  pier_compression compression;
  char msg[2048];
};

enum slot_state
{
  SLOT_IDLE,    /* nothing asked yet */
  SLOT_QUEUED,  /* blob ready, waiting for a free child */
  SLOT_RUNNING, /* a child unpacks it */
  SLOT_DONE,    /* the child reported (res) */
  SLOT_HAVE,    /* unpacked before: chain is set */
};

struct slot
{
  enum slot_state state;
  char *blob;
  char *chain; /* SLOT_HAVE */
  char *tmp;   /* layers/<tmp> the child unpacks into */
  pid_t pid;
  int fd;
  struct unpacked res;
};

struct pier_layer_unpacker
{
  pier_store *st;
  int layers; /* <root>/layers */
  size_t n, par, running;
  struct slot *s;
};

pier_layer_unpacker *
pier_layer_unpacker_new (pier_store *st, size_t n, pier_error **err)
{
  int layers = openat (pier_store_root_fd (st), "layers", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (layers < 0)
    {
      pier_error_make (err, errno, "cannot open %s/layers", pier_store_root (st));
      return NULL;
    }
  pier_layer_unpacker *u = xzalloc (sizeof *u);
  long ncpu = sysconf (_SC_NPROCESSORS_ONLN);
  u->st = st;
  u->layers = layers;
  u->n = n;
  u->par = ncpu > 0 ? (size_t) ncpu : 1;
  u->s = xcalloc (n + 1, sizeof *u->s);
  for (size_t k = 0; k < n; k++)
    u->s[k].fd = -1;
  return u;
}

/* Unpack the slot's blob into layers/<tmp> in a child process; the result
 * comes back on a pipe. */
static void
launch (pier_layer_unpacker *u, size_t k)
{
  struct slot *s = &u->s[k];
  int p[2];
  s->tmp = pier_store_tmp_name (u->st);
  s->state = SLOT_DONE;
  if (pipe2 (p, O_CLOEXEC) < 0)
    {
      s->res.code = errno;
      snprintf (s->res.msg, sizeof s->res.msg, "cannot start unpacking layer %zu: %s", k, strerror (errno));
      return;
    }
  pid_t pid = fork ();
  if (pid == 0)
    {
      struct unpacked r = { 0 };
      pier_error *e = NULL;
      pier_extract_result res = { 0 };
      pier_extract_opts eo = { 0 };
      close (p[0]);
      int fd = pier_blob_open (u->st, s->blob, &e);
      if (fd < 0 || pier_layer_extract_into_new (u->layers, s->tmp, fd, &eo, &res, &e) < 0)
        {
          r.code = e && e->code ? e->code : EIO;
          snprintf (r.msg, sizeof r.msg, "layer %s: %s", s->blob, e ? e->msg : "cannot unpack");
        }
      snprintf (r.diff_id, sizeof r.diff_id, "%s", res.diff_id);
      r.size = res.unpacked_size;
      r.compression = res.compression;
      pier_write_all (p[1], &r, sizeof r);
      _exit (0);
    }
  close (p[1]);
  if (pid < 0)
    {
      s->res.code = errno;
      snprintf (s->res.msg, sizeof s->res.msg, "cannot start unpacking layer %zu: %s", k, strerror (errno));
      close (p[0]);
      return;
    }
  s->pid = pid;
  s->fd = p[0];
  s->state = SLOT_RUNNING;
  u->running++;
}

static void
launch_queued (pier_layer_unpacker *u)
{
  for (size_t k = 0; k < u->n && u->running < u->par; k++)
    if (u->s[k].state == SLOT_QUEUED)
      launch (u, k);
}

void
pier_layer_unpacker_start (pier_layer_unpacker *u, size_t k, const char *blob)
{
  if (k >= u->n || u->s[k].state != SLOT_IDLE)
    return;
  u->s[k].blob = xstrdup (blob);
  u->s[k].state = SLOT_QUEUED;
  launch_queued (u);
}

void
pier_layer_unpacker_have (pier_layer_unpacker *u, size_t k, const char *blob, const char *chain)
{
  if (k >= u->n || u->s[k].state != SLOT_IDLE)
    return;
  u->s[k].blob = xstrdup (blob);
  u->s[k].chain = xstrdup (chain);
  u->s[k].state = SLOT_HAVE;
}

size_t
pier_layer_unpacker_fds (pier_layer_unpacker *u, int *fds, size_t max)
{
  size_t m = 0;
  for (size_t k = 0; k < u->n && m < max; k++)
    if (u->s[k].state == SLOT_RUNNING)
      fds[m++] = u->s[k].fd;
  return m;
}

/* The child of slot k reported (or died): take its result. */
static void
reap (pier_layer_unpacker *u, size_t k)
{
  struct slot *s = &u->s[k];
  ssize_t got = TEMP_FAILURE_RETRY_INT (read (s->fd, &s->res, sizeof s->res));
  if (got != (ssize_t) sizeof s->res)
    {
      memset (&s->res, 0, sizeof s->res);
      s->res.code = EIO;
      snprintf (s->res.msg, sizeof s->res.msg, "unpacking layer %zu failed", k);
    }
  close (s->fd);
  s->fd = -1;
  TEMP_FAILURE_RETRY_INT (waitpid (s->pid, NULL, 0));
  s->pid = 0;
  s->state = SLOT_DONE;
  u->running--;
}

size_t
pier_layer_unpacker_poll (pier_layer_unpacker *u, void (*done) (void *data, size_t k), void *data)
{
  size_t ended = 0;
  for (size_t k = 0; k < u->n; k++)
    {
      struct slot *s = &u->s[k];
      if (s->state != SLOT_RUNNING)
        continue;
      struct pollfd pfd = { s->fd, POLLIN, 0 };
      if (poll (&pfd, 1, 0) <= 0)
        continue;
      reap (u, k);
      ended++;
      if (done)
        done (data, k);
    }
  launch_queued (u);
  return ended;
}

void
pier_image_layers_free (pier_db_image_layer *ls, size_t n)
{
  for (size_t k = 0; ls && k < n; k++)
    {
      free (ls[k].diff_id);
      free (ls[k].chain_id);
      free (ls[k].blob_digest);
      free (ls[k].media_type);
    }
  free (ls);
}

int
pier_layer_unpacker_finish (pier_layer_unpacker *u, const pier_image_config *cfg,
                            const char *const *media_types, pier_db_image_layer *out, char ***chains,
                            pier_error **err)
{
  if (u->n != cfg->n_diff_ids)
    return pier_error_makex (err, EINVAL, "the image has %zu layers but its config lists %zu diff ids", u->n,
                             cfg->n_diff_ids);
  /* Everything started runs to its end first. */
  for (;;)
    {
      launch_queued (u);
      size_t k;
      for (k = 0; k < u->n && u->s[k].state != SLOT_RUNNING; k++)
        ;
      if (k == u->n)
        break;
      reap (u, k);
    }
  int rc = 0;
  const char *parent = NULL;
  for (size_t k = 0; k < u->n; k++)
    {
      struct slot *s = &u->s[k];
      char *chain = NULL;
      if (s->state == SLOT_IDLE)
        {
          if (rc == 0)
            rc = pier_error_makex (err, EINVAL, "layer %zu was never fetched", k);
          continue;
        }
      if (s->state == SLOT_HAVE)
        {
          if (rc < 0)
            continue;
          chain = xstrdup (s->chain);
          out[k].diff_id = xstrdup (cfg->diff_ids[k]);
          out[k].media_type = xstrdup (media_types && media_types[k] ? media_types[k] : PIER_MT_OCI_LAYER);
        }
      else
        {
          if (rc < 0 || s->res.code)
            {
              if (rc == 0)
                rc = pier_error_makex (err, s->res.code, "%s", s->res.msg);
              pier_rmtree_at (u->layers, s->tmp, NULL);
              continue;
            }
          if (strcmp (s->res.diff_id, cfg->diff_ids[k]) != 0)
            {
              rc = pier_error_makex (err, EINVAL, "layer %zu: its content has diff id %s, the config says %s",
                                     k, s->res.diff_id, cfg->diff_ids[k]);
              pier_rmtree_at (u->layers, s->tmp, NULL);
              continue;
            }
          if (pier_image_place_layer (u->st, u->layers, s->tmp, s->res.diff_id, parent, (int64_t) s->res.size,
                                      &chain, err)
              < 0)
            {
              rc = -1;
              continue;
            }
          strv_push (chains, chain);
          out[k].diff_id = xstrdup (s->res.diff_id);
          /* A docker-archive says nothing of its layers' media types: what
           * the unpacking found in the file decides. */
          out[k].media_type
              = xstrdup (media_types && media_types[k] ? media_types[k]
                                                       : pier_image_layer_media_type (s->res.compression));
        }
      out[k].chain_id = chain;
      out[k].blob_digest = xstrdup (s->blob);
      uint64_t size = 0;
      pier_blob_size (u->st, s->blob, &size, NULL);
      out[k].size = (int64_t) size;
      parent = out[k].chain_id;
    }
  return rc;
}

void
pier_layer_unpacker_free (pier_layer_unpacker *u)
{
  if (u == NULL)
    return;
  for (size_t k = 0; k < u->n; k++)
    {
      struct slot *s = &u->s[k];
      if (s->state == SLOT_RUNNING)
        {
          /* Killed mid-way, the child leaves its work directory
           * (<tmp>.tmp-<pid>, see archive/extract.h) behind: it goes too. */
          pid_t pid = s->pid;
          kill (pid, SIGKILL);
          reap (u, k);
          cleanup_free char *partial = xasprintf ("%s.tmp-%d", s->tmp, (int) pid);
          pier_rmtree_at (u->layers, partial, NULL);
        }
      if (s->state == SLOT_DONE && s->tmp)
        pier_rmtree_at (u->layers, s->tmp, NULL);
      free (s->blob);
      free (s->chain);
      free (s->tmp);
    }
  free (u->s);
  close (u->layers);
  free (u);
}

static int64_t
unpacked_size (pier_store *st, const pier_db_image_layer *ls, size_t n)
{
  int64_t total = 0;
  for (size_t k = 0; k < n; k++)
    {
      pier_db_layer l = { 0 };
      if (pier_db_layer_get (pier_store_db (st), ls[k].chain_id, &l, NULL) == 0)
        total += l.size;
      pier_db_layer_clear (&l);
    }
  return total;
}

int
pier_image_record (pier_store *st, const char *config_digest, const char *manifest_digest,
                   const char *manifest_media_type, pier_db_image_layer *layers, size_t n, char *const *refs,
                   bool *existed, pier_error **err)
{
  pier_db *db = pier_store_db (st);
  pier_db_image img = { (char *) config_digest,
                        time (NULL),
                        unpacked_size (st, layers, n),
                        (char *) config_digest,
                        (char *) manifest_digest,
                        (char *) manifest_media_type,
                        layers,
                        n,
                        NULL };
  /* The layers were unpacked without a sync each: one for all of them,
   * before anything refers to them. */
  {
    cleanup_close int lfd = openat (pier_store_root_fd (st), "layers", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (lfd < 0 || syncfs (lfd) < 0)
      return pier_error_make (err, errno, "cannot flush the unpacked layers");
  }
  pier_db_image *have = NULL;
  bool exists = pier_db_get_image (db, config_digest, &have, NULL) == 0;
  pier_db_image_free (have);
  if (existed)
    *existed = exists;
  if (pier_db_begin (db, err) < 0)
    return -1;
  /* An image already here (same config) keeps its record; it only gains
   * the tags. */
  if (!exists && pier_db_put_image (db, &img, err) < 0)
    goto rollback;
  for (size_t k = 0; refs && refs[k]; k++)
    if (pier_db_tag (db, refs[k], config_digest, err) < 0)
      goto rollback;
  if (pier_db_commit (db, err) < 0)
    goto rollback;
  return 0;
rollback:
  pier_db_rollback (db, NULL);
  return -1;
}
