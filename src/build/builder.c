/* builder.c - pier build (see builder.h). */
#include "build/builder.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "archive/diff.h"
#include "build/copy.h"
#include "build/dockerfile.h"
#include "build/expand.h"
#include "build/ignore.h"
#include "build/builder_int.h"
#include "build/progress.h"
#include "image/images.h"
#include "image/manifest.h"
#include "store/blobs.h"
#include "store/db.h"
#include "store/db_build.h"
#include "util/cleanup.h"
#include "util/digest.h"
#include "util/forkguard.h"
#include "util/fs.h"
#include "util/json.h"
#include "util/timestamp.h"
#include "util/xalloc.h"

#include "util/banned.h"

#define COMMENT "buildkit.dockerfile.v0"

static double
since (const struct timespec *t)
{
  struct timespec now;
  clock_gettime (CLOCK_MONOTONIC, &now);
  return (double) (now.tv_sec - t->tv_sec) + (double) (now.tv_nsec - t->tv_nsec) / 1e9;
}

/* ---- progress (build/progress.h) ---- */

#define say(b, ...) pier_build_progress_say ((b)->pr, __VA_ARGS__)

static int
next_vertex (struct builder *b)
{
  return pier_build_progress_vertex (b->pr);
}

static void
v_start (struct builder *b, int vertex, const char *label)
{
  pier_build_progress_start (b->pr, vertex, label);
}

static void
v_output (struct builder *b, int vertex, const struct timespec *t0, const char *line)
{
  pier_build_progress_output (b->pr, vertex, since (t0), line);
}

static void
v_end (struct builder *b, int vertex, const char *status, double secs)
{
  pier_build_progress_end (b->pr, vertex, status, secs);
}

static void
v_error (struct builder *b, int vertex, const char *msg)
{
  pier_build_progress_error (b->pr, vertex, msg);
}

static bool
cancelled (struct builder *b)
{
  pthread_mutex_lock (&b->sh->mu);
  bool c = b->sh->failed;
  pthread_mutex_unlock (&b->sh->mu);
  return c;
}

/* A fresh directory in the store's tmp/: whatever a build that dies
 * leaves there is removed by a later pier once the builder is gone. */
static char *
scratch_dir (pier_store *st, pier_error **err)
{
  cleanup_free char *name = pier_store_tmp_name (st);
  char *dir = xasprintf ("%s/tmp/%s", pier_store_root (st), name);
  if (mkdir (dir, 0700) < 0)
    {
      pier_error_make (err, errno, "cannot create %s", dir);
      free (dir);
      return NULL;
    }
  return dir;
}

/* ---- layers and state --------------------------------------------------- */

static void
layers_free (pier_db_image_layer *l, size_t n)
{
  for (size_t i = 0; i < n; i++)
    {
      free (l[i].diff_id);
      free (l[i].chain_id);
      free (l[i].blob_digest);
      free (l[i].media_type);
    }
  free (l);
}

static void
stage_clear (struct stage *s)
{
  json_decref (s->image);
  layers_free (s->layers, s->n_layers);
  strv_free (s->args);
  memset (s, 0, sizeof *s);
}

static void
push_layer (struct stage *s, const char *diff_id, const char *chain, const char *blob, const char *mt,
            int64_t size)
{
  s->layers = xrealloc (s->layers, (s->n_layers + 1) * sizeof *s->layers);
  s->layers[s->n_layers++]
      = (pier_db_image_layer){ xstrdup (diff_id), xstrdup (chain), xstrdup (blob), xstrdup (mt), size };
}

/* Take an image's config and layers as the state (args stay). */
static int
load_image (struct builder *b, struct stage *s, const char *id, pier_error **err)
{
  pier_db_image *img = NULL;
  json_t *cfg = NULL;
  if (pier_db_get_image (pier_store_db (b->st), id, &img, err) < 0)
    return -1;
  if (pier_image_read_json (b->st, img->config_digest, &cfg, err) < 0)
    {
      pier_db_image_free (img);
      return -1;
    }
  json_decref (s->image);
  layers_free (s->layers, s->n_layers);
  s->layers = NULL;
  s->n_layers = 0;
  s->image = cfg;
  for (size_t i = 0; i < img->n_layers; i++)
    push_layer (s, img->layers[i].diff_id, img->layers[i].chain_id, img->layers[i].blob_digest,
                img->layers[i].media_type, img->layers[i].size);
  pier_db_image_free (img);
  if (!json_is_object (json_object_get (s->image, "config")))
    json_object_set_new (s->image, "config", json_object ());
  if (!json_is_object (json_object_get (s->image, "rootfs")))
    json_object_set_new (s->image, "rootfs", json_pack ("{s:s, s:[]}", "type", "layers", "diff_ids"));
  if (!json_is_array (json_object_get (s->image, "history")))
    json_object_set_new (s->image, "history", json_array ());
  return 0;
}

static void
copy_stage (struct stage *dst, const struct stage *src)
{
  json_decref (dst->image);
  layers_free (dst->layers, dst->n_layers);
  dst->layers = NULL;
  dst->n_layers = 0;
  dst->image = json_deep_copy (src->image);
  for (size_t i = 0; i < src->n_layers; i++)
    push_layer (dst, src->layers[i].diff_id, src->layers[i].chain_id, src->layers[i].blob_digest,
                src->layers[i].media_type, src->layers[i].size);
  memcpy (dst->key, src->key, sizeof dst->key);
}

static json_t *
cfg_of (struct stage *s)
{
  return json_object_get (s->image, "config");
}

static void
next_key (char key[PIER_SHA256_HEX_LEN + 1], const char *text)
{
  cleanup_free char *all = xasprintf ("%s\n%s", key, text);
  pier_sha256_hex (all, strlen (all), key);
}

static char **
chains_of (const struct stage *s)
{
  char **v = NULL;
  for (size_t i = 0; i < s->n_layers; i++)
    strv_push (&v, s->layers[i].chain_id);
  return v;
}

/* The time a new layer step records: SOURCE_DATE_EPOCH when set. */
static char *
now_text (struct builder *b)
{
  char buf[64];
  struct timespec ts;
  if (b->o->source_date_epoch >= 0)
    ts = (struct timespec){ b->o->source_date_epoch, 0 };
  else
    clock_gettime (CLOCK_REALTIME, &ts);
  pier_time_format_rfc3339 (&ts, buf, sizeof buf);
  return xstrdup (buf);
}

static void
add_history (struct stage *s, const char *created, const char *created_by, bool empty)
{
  json_t *h = json_pack ("{s:s, s:s, s:s}", "created", created, "created_by", created_by, "comment", COMMENT);
  if (empty)
    json_object_set_new (h, "empty_layer", json_true ());
  json_array_append_new (json_object_get (s->image, "history"), h);
}

/* ---- variables ----------------------------------------------------------- */

static bool
has_str (char *const *v, const char *s)
{
  for (size_t i = 0; v && v[i]; i++)
    if (strcmp (v[i], s) == 0)
      return true;
  return false;
}

static const char *
env_get (char *const *env, const char *name)
{
  const char *found = NULL;
  size_t len = strlen (name);
  for (size_t i = 0; env && env[i]; i++)
    if (strncmp (env[i], name, len) == 0 && env[i][len] == '=')
      found = env[i] + len + 1;
  return found;
}

/* ARGs then ENV (ENV wins: a later entry does). */
static char **
stage_vars (struct stage *s)
{
  char **v = NULL;
  for (size_t i = 0; s->args && s->args[i]; i++)
    if (strchr (s->args[i], '='))
      strv_push (&v, s->args[i]);
  size_t i;
  json_t *e;
  json_array_foreach (json_object_get (cfg_of (s), "Env"), i, e) strv_push (&v, json_string_value (e));
  return v;
}

int
builder_expand (struct builder *b, char *const *env, const char *word, char **out, pier_error **err)
{
  pier_build_vars vars = { .env = env, .escape = b->df->escape };
  return pier_build_expand (word, &vars, out, err);
}

static int
expand_words (struct builder *b, char *const *env, const char *word, char ***out, pier_error **err)
{
  pier_build_vars vars = { .env = env, .escape = b->df->escape };
  return pier_build_expand_words (word, &vars, out, err);
}

/* A --build-arg's value: 1 with *value, 0 when none was given. */
static int
build_arg (struct builder *b, const char *name, const char **value)
{
  size_t len = strlen (name);
  for (size_t i = 0; b->o->build_args && b->o->build_args[i]; i++)
    {
      const char *a = b->o->build_args[i];
      if (strncmp (a, name, len) != 0 || (a[len] != '=' && a[len] != 0))
        continue;
      if (b->sh)
        {
          pthread_mutex_lock (&b->sh->mu);
          if (!(b->sh->consumed && has_str (b->sh->consumed, name)))
            strv_push (&b->sh->consumed, name);
          pthread_mutex_unlock (&b->sh->mu);
        }
      if (a[len] == '=')
        {
          *value = a + len + 1;
          return 1;
        }
      const char *v = getenv (name);
      if (v)
        {
          *value = v;
          return 1;
        }
      return 0;
    }
  return 0;
}

static void
set_kv (char ***v, const char *key, const char *value)
{
  size_t len = strlen (key);
  for (size_t i = 0; *v && (*v)[i]; i++)
    if (strncmp ((*v)[i], key, len) == 0 && ((*v)[i][len] == '=' || (*v)[i][len] == 0))
      {
        free ((*v)[i]);
        (*v)[i] = value ? xasprintf ("%s=%s", key, value) : xstrdup (key);
        return;
      }
  cleanup_free char *kv = value ? xasprintf ("%s=%s", key, value) : xstrdup (key);
  strv_push (v, kv);
}

static void
set_env (json_t *cfg, const char *key, const char *value)
{
  json_t *env = json_object_get (cfg, "Env");
  if (!json_is_array (env))
    {
      env = json_array ();
      json_object_set_new (cfg, "Env", env);
    }
  cleanup_free char *kv = xasprintf ("%s=%s", key, value);
  size_t len = strlen (key), i;
  json_t *e;
  json_array_foreach (env, i, e)
  {
    const char *s = json_string_value (e);
    if (s && strncmp (s, key, len) == 0 && s[len] == '=')
      {
        json_array_set_new (env, i, json_string (kv));
        return;
      }
  }
  json_array_append_new (env, json_string (kv));
}

/* ---- errors -------------------------------------------------------------- */

static char *stage_label (struct builder *b, size_t i, size_t k);

/* The failing step, named as the progress names it: "[stage k/n] ...". */
static int
instr_fail (struct builder *b, size_t i, size_t k, pier_error **err)
{
  const pier_df_instr *in = &b->df->stages[i].instrs[k];
  cleanup_free char *label = stage_label (b, i, k);
  return pier_error_wrap (err, "%s:%d: %s", b->o->dockerfile_name, in->line, label);
}

/* o->fetch uses the caller's store handle: one thread at a time (the
 * coordinator's thread only waits while stages build). */
static int
fetch (struct builder *b, const char *ref, char **id, pier_error **err)
{
  pthread_mutex_lock (&b->sh->fetch_mu);
  int r = b->o->fetch (b->o->fetch_data, ref, id, err);
  pthread_mutex_unlock (&b->sh->fetch_mu);
  return r;
}

/* ---- RUN output ------------------------------------------------------------ */

/* A RUN's output, as the step's thread reads it (pier_engine_step's
 * on_output): whole lines to the progress, the last bytes kept for an
 * error report. */
struct pump
{
  struct builder *b;
  int vertex;
  struct timespec t0;
  char *tail; /* the last bytes, for an error report */
  size_t tail_len;
  char line[4096];
  size_t ll;
};

#define TAIL_MAX 8192

static void
pump_output (void *p, const char *buf, size_t n)
{
  struct pump *pu = p;
  if (pu->tail_len + n > TAIL_MAX)
    {
      size_t drop = pu->tail_len + n - TAIL_MAX;
      if (drop > pu->tail_len)
        drop = pu->tail_len;
      memmove (pu->tail, pu->tail + drop, pu->tail_len - drop);
      pu->tail_len -= drop;
    }
  size_t take = n > TAIL_MAX ? TAIL_MAX : n;
  memcpy (pu->tail + pu->tail_len, buf + n - take, take);
  pu->tail_len += take;
  for (size_t i = 0; i < n; i++)
    {
      if (buf[i] != '\n' && pu->ll < sizeof pu->line - 1)
        {
          pu->line[pu->ll++] = buf[i];
          continue;
        }
      pu->line[pu->ll] = 0;
      v_output (pu->b, pu->vertex, &pu->t0, pu->line);
      pu->ll = 0;
    }
}

/* The last line, without its newline. */
static void
pump_flush (struct pump *pu)
{
  if (pu->ll)
    {
      pu->line[pu->ll] = 0;
      v_output (pu->b, pu->vertex, &pu->t0, pu->line);
      pu->ll = 0;
    }
}

/* ---- layer steps ------------------------------------------------------------- */

enum step_kind
{
  STEP_RUN,
  STEP_COPY,
  STEP_MKDIR,
};

struct step_ctx
{
  struct builder *b;
  enum step_kind kind;
  /* RUN */
  const char *network; /* RUN --network, or NULL: the build's */
  json_t *config;
  json_t *mounts;
  char *shown; /* the command, for an error */
  /* COPY */
  pier_copy copy;
  char **from_chains; /* the source stage's or image's layers, or NULL (context) */
  bool from_other;
  char *src_dir; /* where they are mounted */
  /* WORKDIR */
  char *path;
  uid_t uid;
  gid_t gid;
};

static int
apply_fn (int rootfd, void *data, pier_error **err)
{
  struct step_ctx *c = data;
  if (c->kind == STEP_MKDIR)
    {
      if (fchdir (rootfd) < 0 || chroot (".") < 0)
        return pier_error_make (err, errno, "cannot enter the build root");
      cleanup_free char *p = xstrdup (c->path);
      for (char *s = p + 1;; s++)
        if (*s == '/' || *s == 0)
          {
            char saved = *s;
            *s = 0;
            struct stat st;
            if (stat (p, &st) < 0)
              {
                if (mkdir (p, 0755) < 0)
                  return pier_error_make (err, errno, "cannot create the working directory %s", p);
                if (lchown (p, c->uid, c->gid) < 0)
                  return pier_error_make (err, errno, "cannot chown %s", p);
              }
            else if (!S_ISDIR (st.st_mode))
              return pier_error_makex (err, ENOTDIR, "the working directory %s is not a directory", p);
            *s = saved;
            if (saved == 0)
              break;
          }
      return 0;
    }
  if (c->from_other)
    {
      if (pier_engine_mount_layers (c->b->e, (const char *const *) c->from_chains, c->src_dir, err) < 0)
        return -1;
      c->copy.srcfd = open (c->src_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
      if (c->copy.srcfd < 0)
        return pier_error_make (err, errno, "cannot open %s", c->src_dir);
    }
  return pier_copy_apply (rootfd, &c->copy, err);
}

static bool
dir_empty (const char *path)
{
  cleanup_dir DIR *d = opendir (path);
  if (d == NULL)
    return true;
  struct dirent *de;
  while ((de = readdir (d)))
    if (strcmp (de->d_name, ".") != 0 && strcmp (de->d_name, "..") != 0)
      return false;
  return true;
}

static int
layer_step (struct builder *b, struct stage *s, const char *label, const char *created_by,
            const char *keytext, struct step_ctx *c, bool maybe_empty, int *exit_code, pier_error **err)
{
  int vertex = next_vertex (b);
  struct timespec t0;
  clock_gettime (CLOCK_MONOTONIC, &t0);
  next_key (s->key, keytext);
  v_start (b, vertex, label);
  if (!b->o->no_cache)
    {
      cleanup_free char *hit = NULL;
      int r = pier_db_cache_get (pier_store_db (b->st), s->key, &hit, err);
      if (r < 0)
        return -1;
      if (r == 1)
        {
          if (load_image (b, s, hit, err) < 0)
            return -1;
          v_end (b, vertex, "CACHED", 0);
          return 0;
        }
    }

  cleanup_free char *dir = scratch_dir (b->st, err);
  cleanup_free char *upper = NULL, *created = NULL;
  if (dir == NULL)
    return pier_error_wrap (err, "cannot make the build step's directory");
  cleanup_strv char **chains = chains_of (s);
  int out[2] = { -1, -1 };
  struct pump pu = { .b = b, .vertex = vertex, .t0 = t0 };
  int rc = -1, code = 0;
  bool reported = false;
  const char *net = c->network ? c->network : b->o->network;
  pier_engine_step es = { .layers = (const char *const *) chains,
                          .dir = dir,
                          .config = c->config,
                          .network = net ? net : "none",
                          .mounts = c->mounts,
                          .out_fd = -1,
                          .cancel_fd = b->sh->cancel[0],
                          .out_read_fd = -1,
                          .on_output = pump_output,
                          .out_data = &pu };
  if (c->kind == STEP_RUN)
    {
      if (pipe2 (out, O_CLOEXEC) < 0)
        {
          pier_error_make (err, errno, "cannot make a pipe");
          goto out;
        }
      fcntl (out[0], F_SETFL, O_NONBLOCK);
      es.out_fd = out[1];
      es.out_read_fd = out[0];
      pu.tail = xmalloc (TAIL_MAX);
      int r = pier_engine_step_run (b->e, &es, &code, err);
      pump_flush (&pu);
      close (out[1]);
      close (out[0]);
      if (r < 0)
        {
          if (exit_code)
            *exit_code = code;
          goto out;
        }
      if (code != 0)
        {
          if (exit_code)
            *exit_code = code;
          pier_error_makex (err, EIO, "process \"%s\" did not complete successfully: exit code: %d", c->shown,
                            code);
          if (b->o->progress == NULL && b->o->output && pu.tail_len)
            pier_build_progress_raw (b->pr, b->o->output, pu.tail, pu.tail_len);
          v_error (b, vertex, (*err)->msg);
          reported = true;
          goto out;
        }
    }
  else
    {
      if (c->from_other)
        {
          c->src_dir = xasprintf ("%s/src", dir);
          if (mkdir (c->src_dir, 0700) < 0)
            {
              pier_error_make (err, errno, "cannot create %s", c->src_dir);
              goto out;
            }
        }
      if (pier_engine_step_apply (b->e, &es, apply_fn, c, err) < 0)
        goto out;
    }

  upper = xasprintf ("%s/upper", dir);
  created = now_text (b);
  if (maybe_empty && dir_empty (upper))
    {
      add_history (s, json_string_value (json_object_get (s->image, "created")) ?: created, created_by, true);
    }
  else
    {
      pier_new_layer nl = { 0 };
      const char *parent = s->n_layers ? s->layers[s->n_layers - 1].chain_id : NULL;
      if (pier_image_layer_from_dir (b->st, upper, parent, b->o->source_date_epoch, true, NULL, &nl, err) < 0)
        goto out;
      push_layer (s, nl.diff_id, nl.chain_id, nl.blob, PIER_MT_OCI_LAYER_GZIP, nl.blob_size);
      json_array_append_new (json_object_get (json_object_get (s->image, "rootfs"), "diff_ids"),
                             json_string (nl.diff_id));
      pier_new_layer_clear (&nl);
      add_history (s, created, created_by, false);
      json_object_set_new (s->image, "created", json_string (created));
    }
  {
    cleanup_free char *id = NULL;
    if (pier_image_create (b->st, s->image, s->layers, s->n_layers, NULL, &id, err) < 0
        || pier_db_cache_put (pier_store_db (b->st), s->key, id, err) < 0)
      goto out;
  }
  v_end (b, vertex, "DONE", since (&t0));
  rc = 0;
out:
  if (rc < 0 && *err && (*err)->code == ECANCELED)
    v_end (b, vertex, "CANCELED", 0);
  else if (rc < 0 && !reported)
    v_error (b, vertex, *err ? (*err)->msg : "failed");
  free (pu.tail);
  pier_rmtree_at (AT_FDCWD, dir, NULL);
  return rc;
}

/* ---- instructions ------------------------------------------------------------ */

const char *
builder_flag (const pier_df_instr *in, const char *name)
{
  return pier_df_flag_get (in, name);
}

static int
check_flags (const pier_df_instr *in, const char *const *known, pier_error **err)
{
  for (size_t i = 0; i < in->n_flags; i++)
    {
      bool ok = false;
      for (size_t k = 0; known[k]; k++)
        ok |= strcmp (in->flags[i].name, known[k]) == 0;
      if (!ok)
        return pier_error_makex (err, EINVAL, "%s --%s is not supported by pier build",
                                 pier_df_kind_name (in->kind), in->flags[i].name);
    }
  return 0;
}

static json_t *
strv_to_json (char *const *v)
{
  json_t *a = json_array ();
  for (size_t i = 0; v && v[i]; i++)
    json_array_append_new (a, json_string (v[i]));
  return a;
}

/* The process of RUN/CMD/ENTRYPOINT: exec form as is, shell form through
 * the stage's SHELL. */
static json_t *
command_of (struct stage *s, const pier_df_instr *in, const char *text)
{
  if (in->exec_form)
    return strv_to_json (in->args);
  json_t *shell = json_object_get (cfg_of (s), "Shell");
  json_t *a = json_is_array (shell) && json_array_size (shell) ? json_deep_copy (shell)
                                                               : json_pack ("[s, s]", "/bin/sh", "-c");
  json_array_append_new (a, json_string (text));
  return a;
}

static char *
json_words (json_t *a)
{
  char *out = xstrdup ("");
  size_t i;
  json_t *v;
  json_array_foreach (a, i, v)
  {
    char *n = xasprintf ("%s%s%s", out, i ? " " : "", json_string_value (v));
    free (out);
    out = n;
  }
  return out;
}

static char *
clean_abs (const char *base, const char *p)
{
  cleanup_free char *joined = p[0] == '/' ? xstrdup (p) : xasprintf ("%s/%s", base && *base ? base : "/", p);
  cleanup_free char *clean = pier_ignore_clean_path (joined);
  return clean[0] == '/' ? xstrdup (clean) : xasprintf ("/%s", clean);
}

/* --from / from=: a stage (built first) or an image. */
static int
source_of (struct builder *b, size_t self, const char *name, char ***chains, char key[65], pier_error **err)
{
  long k = pier_df_stage_find (b->df, name);
  if (k >= 0 && (size_t) k != self)
    {
      if (need_stage (b, self, (size_t) k, err) < 0)
        return -1;
      pthread_mutex_lock (&b->sh->mu);
      *chains = chains_of (&b->stages[k]);
      memcpy (key, b->stages[k].key, 65);
      pthread_mutex_unlock (&b->sh->mu);
      return 0;
    }
  if (k >= 0)
    return pier_error_makex (err, EINVAL, "circular dependency detected on stage: %s", name);
  cleanup_free char *id = NULL;
  if (pier_image_resolve (b->st, name, &id, err) < 0)
    {
      if ((*err)->code != ENOENT || b->o->fetch == NULL)
        return -1;
      pier_error_free (err);
      if (fetch (b, name, &id, err) < 0)
        return -1;
    }
  struct stage tmp = { 0 };
  if (load_image (b, &tmp, id, err) < 0)
    return -1;
  *chains = chains_of (&tmp);
  pier_sha256_hex (id, strlen (id), key);
  stage_clear (&tmp);
  return 0;
}

static int
parse_mounts (struct builder *b, size_t self, struct stage *s, const pier_df_instr *in, json_t *mounts,
              char **keytext, char ***scratch_files, pier_error **err)
{
  cleanup_strv char **env = stage_vars (s);
  for (size_t f = 0; f < in->n_flags; f++)
    {
      if (strcmp (in->flags[f].name, "mount") != 0)
        continue;
      cleanup_free char *spec = NULL;
      if (builder_expand (b, env, in->flags[f].value ? in->flags[f].value : "", &spec, err) < 0)
        return -1;
      const char *type = "bind", *target = NULL, *source = NULL, *from = NULL, *id = NULL, *mode = NULL;
      const char *sharing = NULL, *uid = NULL, *gid = NULL;
      bool rw = false, required = false;
      cleanup_free char *copy = xstrdup (spec);
      char *save = NULL;
      for (char *kv = strtok_r (copy, ",", &save); kv; kv = strtok_r (NULL, ",", &save))
        {
          char *v = strchr (kv, '=');
          if (v)
            *v++ = 0;
          if (strcmp (kv, "type") == 0)
            type = v ? v : "";
          else if (strcmp (kv, "target") == 0 || strcmp (kv, "dst") == 0 || strcmp (kv, "destination") == 0)
            target = v;
          else if (strcmp (kv, "source") == 0 || strcmp (kv, "src") == 0)
            source = v;
          else if (strcmp (kv, "from") == 0)
            from = v;
          else if (strcmp (kv, "id") == 0)
            id = v;
          else if (strcmp (kv, "mode") == 0)
            mode = v;
          else if (strcmp (kv, "rw") == 0 || strcmp (kv, "readwrite") == 0)
            rw = v == NULL || strcmp (v, "true") == 0;
          else if (strcmp (kv, "ro") == 0 || strcmp (kv, "readonly") == 0)
            rw = !(v == NULL || strcmp (v, "true") == 0);
          else if (strcmp (kv, "required") == 0)
            required = v == NULL || strcmp (v, "true") == 0;
          else if (strcmp (kv, "sharing") == 0)
            sharing = v;
          else if (strcmp (kv, "uid") == 0)
            uid = v;
          else if (strcmp (kv, "gid") == 0)
            gid = v;
          else
            return pier_error_makex (err, EINVAL, "--mount=%s: `%s` is not supported by pier build", spec,
                                     kv);
        }
      /* What a key means depends on the type; one pier cannot honour is
       * refused rather than dropped. */
      bool is_cache = strcmp (type, "cache") == 0, is_bind = strcmp (type, "bind") == 0;
      if ((sharing || uid || gid || mode) && !is_cache)
        return pier_error_makex (
            err, EINVAL, "--mount=%s: sharing, uid, gid and mode apply to cache mounts only here", spec);
      if ((from || source) && !is_bind)
        return pier_error_makex (err, EINVAL, "--mount=%s: from and source apply to bind mounts only here",
                                 spec);
      if (sharing && strcmp (sharing, "shared") != 0)
        return pier_error_makex (err, ENOTSUP, "--mount=%s: sharing=%s is not supported (only shared)", spec,
                                 sharing);
      if (rw)
        return pier_error_makex (
            err, ENOTSUP,
            "--mount=%s: rw bind mounts are not supported (their writes would reach the source)", spec);
      const char *wd = json_string_value (json_object_get (cfg_of (s), "WorkingDir"));
      if (strcmp (type, "cache") == 0)
        {
          if (target == NULL)
            return pier_error_makex (err, EINVAL, "--mount=%s: a cache mount needs a target", spec);
          cleanup_free char *dst = clean_abs (wd, target);
          char hex[PIER_SHA256_HEX_LEN + 1];
          const char *cid = id ? id : dst;
          pier_sha256_hex (cid, strlen (cid), hex);
          cleanup_free char *base = xasprintf ("%s/cache-mounts", b->tmp);
          cleanup_free char *host = xasprintf ("%s/%s", base, hex);
          char *end = NULL;
          long m = mode ? strtol (mode, &end, 8) : 0755;
          long u = uid ? strtol (uid, &end, 10) : 0;
          long g = gid ? strtol (gid, &end, 10) : 0;
          if ((mode || uid || gid) && (*end || m < 0 || m > 07777 || u < 0 || g < 0))
            return pier_error_makex (err, EINVAL, "--mount=%s: mode is octal, uid and gid are numbers", spec);
          if (mkdir (base, 0700) < 0 && errno != EEXIST)
            return pier_error_make (err, errno, "cannot create the cache mounts' directory %s", base);
          if (mkdir (host, (mode_t) m) == 0)
            {
              /* A new cache gets the owner and mode asked for. */
              if (chmod (host, (mode_t) m) < 0 || chown (host, (uid_t) u, (gid_t) g) < 0)
                return pier_error_make (err, errno, "cannot set up the cache mount %s", host);
            }
          else if (errno != EEXIST)
            return pier_error_make (err, errno, "cannot create the cache mount %s", host);
          json_array_append_new (mounts, json_pack ("{s:s, s:s, s:s, s:[s, s]}", "destination", dst, "type",
                                                    "bind", "source", host, "options", "rbind", "rw"));
        }
      else if (strcmp (type, "secret") == 0)
        {
          if (id == NULL && target)
            id = strrchr (target, '/') ? strrchr (target, '/') + 1 : target;
          if (id == NULL)
            return pier_error_makex (err, EINVAL, "--mount=%s: a secret mount needs an id", spec);
          cleanup_free char *dst = target ? clean_abs (wd, target) : xasprintf ("/run/secrets/%s", id);
          cleanup_free char *src = NULL;
          for (size_t k = 0; b->o->secrets && b->o->secrets[k]; k++)
            {
              cleanup_free char *sc = xstrdup (b->o->secrets[k]);
              char *sv = NULL, *sid = NULL, *ssrc = NULL, *senv = NULL;
              for (char *kv = strtok_r (sc, ",", &sv); kv; kv = strtok_r (NULL, ",", &sv))
                {
                  if (strncmp (kv, "id=", 3) == 0)
                    sid = kv + 3;
                  else if (strncmp (kv, "src=", 4) == 0 || strncmp (kv, "source=", 7) == 0)
                    ssrc = strchr (kv, '=') + 1;
                  else if (strncmp (kv, "env=", 4) == 0)
                    senv = kv + 4;
                }
              if (sid == NULL || strcmp (sid, id) != 0)
                continue;
              if (ssrc)
                src = xstrdup (ssrc);
              else
                {
                  const char *val = getenv (senv ? senv : sid);
                  if (val == NULL)
                    return pier_error_makex (err, ENOENT, "secret %s: the environment variable %s is not set",
                                             id, senv ? senv : sid);
                  cleanup_free char *name = pier_store_tmp_name (b->st);
                  cleanup_free char *tmpl = xasprintf ("%s/tmp/%s", pier_store_root (b->st), name);
                  int fd = open (tmpl, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
                  if (fd < 0 || pier_write_all (fd, val, strlen (val)) < 0)
                    {
                      if (fd >= 0)
                        close (fd);
                      return pier_error_make (err, errno, "cannot stage secret %s", id);
                    }
                  close (fd);
                  strv_push (scratch_files, tmpl);
                  src = xstrdup (tmpl);
                }
            }
          if (src == NULL)
            {
              if (required)
                return pier_error_makex (err, ENOENT,
                                         "secret %s: not provided (use --secret id=%s,src=<file>)", id, id);
              continue;
            }
          if (access (src, R_OK) < 0)
            return pier_error_make (err, errno, "secret %s: cannot read %s", id, src);
          json_array_append_new (mounts, json_pack ("{s:s, s:s, s:s, s:[s, s, s, s]}", "destination", dst,
                                                    "type", "bind", "source", src, "options", "bind", "ro",
                                                    "nosuid", "nodev"));
        }
      else if (strcmp (type, "tmpfs") == 0)
        {
          if (target == NULL)
            return pier_error_makex (err, EINVAL, "--mount=%s: a tmpfs mount needs a target", spec);
          cleanup_free char *dst = clean_abs (wd, target);
          json_array_append_new (mounts,
                                 json_pack ("{s:s, s:s, s:s, s:[s, s]}", "destination", dst, "type", "tmpfs",
                                            "source", "tmpfs", "options", "nosuid", "nodev"));
        }
      else if (strcmp (type, "bind") == 0)
        {
          if (target == NULL)
            return pier_error_makex (err, EINVAL, "--mount=%s: a bind mount needs a target", spec);
          cleanup_free char *dst = clean_abs (wd, target);
          cleanup_free char *src = NULL;
          if (from)
            {
              cleanup_strv char **chains = NULL;
              char k[65];
              if (source_of (b, self, from, &chains, k, err) < 0)
                return -1;
              /* The source's root is its layers' merged view, mounted
               * read-only by the step (engine.h): source is a path
               * inside it.  The key holds the source's key (a stage)
               * or image id, so a new source is a new step. */
              cleanup_free char *sub = source ? pier_ignore_clean_path (source) : xstrdup (".");
              cleanup_free char *kt = xasprintf ("%s bind-from=%s", *keytext, k);
              free (*keytext);
              *keytext = steal_pointer (&kt);
              json_t *lj = strv_to_json (chains);
              json_array_append_new (mounts, json_pack ("{s:s, s:s, s:o, s:s, s:[s, s]}", "destination", dst,
                                                        "type", "bind", "_layers", lj, "_sub", sub, "options",
                                                        "rbind", "ro"));
              continue;
            }
          else
            {
              cleanup_free char *sub = source ? pier_ignore_clean_path (source) : xstrdup (".");
              if (strstr (sub, "..") && strncmp (sub, "..", 2) == 0)
                return pier_error_makex (err, EINVAL, "--mount=%s: the source leaves the context", spec);
              /* The path as resolved inside the context (a symlink in it
               * cannot point the mount at the host's files). */
              cleanup_close int sfd = pier_open_in_root (b->ctxfd, sub, O_PATH, 0, err);
              if (sfd < 0)
                return pier_error_wrap (err, "--mount=%s", spec);
              char proc[64], real[PATH_MAX];
              snprintf (proc, sizeof proc, "/proc/self/fd/%d", sfd);
              ssize_t rl = readlink (proc, real, sizeof real - 1);
              if (rl < 0)
                return pier_error_make (err, errno, "--mount=%s: cannot resolve %s in the context", spec,
                                        sub);
              real[rl] = 0;
              src = xstrdup (real);
              pier_copy cc
                  = { .srcfd = b->ctxfd, .ig = b->ig, .sources = (char *[]){ sub, NULL }, .clamp_mtime = -1 };
              char sum[65];
              if (pier_copy_checksum (&cc, sum, err) < 0)
                return -1;
              cleanup_free char *kt = xasprintf ("%s bind-ctx=%s", *keytext, sum);
              free (*keytext);
              *keytext = steal_pointer (&kt);
            }
          json_array_append_new (mounts, json_pack ("{s:s, s:s, s:s, s:[s, s]}", "destination", dst, "type",
                                                    "bind", "source", src, "options", "rbind", "ro"));
        }
      else
        return pier_error_makex (err, ENOTSUP, "--mount=type=%s is not supported by pier build", type);
    }
  return 0;
}

static int
do_run (struct builder *b, size_t self, struct stage *s, const pier_df_instr *in, const char *label,
        int *exit_code, pier_error **err)
{
  static const char *const known[] = { "mount", "network", NULL };
  if (check_flags (in, known, err) < 0)
    return -1;
  const char *net = builder_flag (in, "network");
  if (net && strcmp (net, "default") != 0 && strcmp (net, "none") != 0 && strcmp (net, "host") != 0)
    return pier_error_makex (err, EINVAL, "RUN --network=%s: only default, none and host", net);
  /* The command: a heredoc alone is the script; otherwise the bodies
   * follow the line, as a shell reads them. */
  cleanup_free char *text = NULL;
  if (!in->exec_form)
    {
      const char *line = in->args[0];
      if (in->n_heredocs == 1 && line[strspn (line, " \t")] == '<' && strchr (line, ' ') == NULL)
        text = xstrdup (in->heredocs[0].content);
      else if (in->n_heredocs)
        {
          text = xstrdup (line);
          for (size_t i = 0; i < in->n_heredocs; i++)
            {
              char *n = xasprintf ("%s\n%s%s", text, in->heredocs[i].content, in->heredocs[i].name);
              free (text);
              text = n;
            }
        }
      else
        text = xstrdup (line);
    }
  cleanup_json json_t *cmd = command_of (s, in, text);
  cleanup_free char *shown = json_words (cmd);
  cleanup_json json_t *config = json_deep_copy (cfg_of (s));
  json_object_set (config, "Cmd", cmd);
  /* ARGs reach the process's environment; ENV wins over them. */
  json_t *env = json_array ();
  json_t *img_env = json_object_get (cfg_of (s), "Env");
  for (size_t i = 0; s->args && s->args[i]; i++)
    {
      const char *eq = strchr (s->args[i], '=');
      if (eq == NULL)
        continue;
      bool in_env = false;
      size_t k;
      json_t *e;
      json_array_foreach (img_env, k, e) in_env
          |= strncmp (json_string_value (e) ?: "", s->args[i], (size_t) (eq - s->args[i]) + 1) == 0;
      if (!in_env)
        json_array_append_new (env, json_string (s->args[i]));
    }
  json_array_extend (env, json_object_get (cfg_of (s), "Env"));
  json_object_set_new (config, "Env", env);
  cleanup_json json_t *mounts = json_array ();
  cleanup_strv char **scratch = NULL;
  cleanup_free char *argtext = NULL;
  {
    char *a = xstrdup ("");
    for (size_t i = 0; s->args && s->args[i]; i++)
      {
        char *n = xasprintf ("%s %s", a, s->args[i]);
        free (a);
        a = n;
      }
    argtext = a;
  }
  cleanup_free char *cmdjson = json_dumps (cmd, JSON_COMPACT);
  char *keytext = xasprintf ("RUN %s|args%s|net=%s", cmdjson, argtext, net ? net : "");
  for (size_t i = 0; i < in->n_flags; i++)
    if (strcmp (in->flags[i].name, "mount") == 0)
      {
        char *n = xasprintf ("%s|mount=%s", keytext, in->flags[i].value ? in->flags[i].value : "");
        free (keytext);
        keytext = n;
      }
  int rc = parse_mounts (b, self, s, in, mounts, &keytext, &scratch, err);
  cleanup_free char *kt = keytext;
  if (rc < 0)
    {
      for (size_t i = 0; scratch && scratch[i]; i++)
        unlink (scratch[i]);
      return -1;
    }
  cleanup_free char *created_by = xasprintf ("RUN %s # buildkit", shown);
  struct step_ctx c = { .b = b,
                        .kind = STEP_RUN,
                        .network = net && strcmp (net, "default") != 0 ? net : NULL,
                        .config = config,
                        .mounts = mounts,
                        .shown = shown };
  rc = layer_step (b, s, label, created_by, kt, &c, false, exit_code, err);
  for (size_t i = 0; scratch && scratch[i]; i++)
    unlink (scratch[i]);
  return rc;
}

static int
do_copy (struct builder *b, size_t self, struct stage *s, const pier_df_instr *in, const char *label,
         pier_error **err)
{
  bool add = in->kind == PIER_DF_ADD;
  static const char *const known_copy[] = { "from", "chown", "chmod", "link", NULL };
  static const char *const known_add[] = { "chown", "chmod", "link", NULL };
  if (check_flags (in, add ? known_add : known_copy, err) < 0)
    return -1;
  cleanup_strv char **env = stage_vars (s);
  cleanup_strv char **sources = NULL;
  for (size_t i = 0; i + 1 < in->n_args; i++)
    {
      if (strncmp (in->args[i], "<<", 2) == 0)
        {
          strv_push (&sources, in->args[i]);
          continue;
        }
      cleanup_free char *w = NULL;
      if (builder_expand (b, env, in->args[i], &w, err) < 0)
        return -1;
      if (add && (strstr (w, "://") || strncmp (w, "git@", 4) == 0))
        return pier_error_makex (
            err, ENOTSUP,
            "ADD %s: remote sources are not supported by pier build (it does not fetch over "
            "the network); download the file and ADD or COPY it from the context",
            w);
      strv_push (&sources, w);
    }
  cleanup_free char *dest_raw = NULL;
  if (builder_expand (b, env, in->args[in->n_args - 1], &dest_raw, err) < 0)
    return -1;
  const char *wd = json_string_value (json_object_get (cfg_of (s), "WorkingDir"));
  size_t dl = strlen (dest_raw);
  bool dest_dir = dl
                  && (dest_raw[dl - 1] == '/' || strcmp (dest_raw, ".") == 0
                      || (dl >= 2 && strcmp (dest_raw + dl - 2, "/.") == 0));
  cleanup_free char *dest = clean_abs (wd, dest_raw);
  cleanup_free char *chown = NULL, *chmod = NULL;
  if (builder_flag (in, "chown") && builder_expand (b, env, builder_flag (in, "chown"), &chown, err) < 0)
    return -1;
  if (builder_flag (in, "chmod") && builder_expand (b, env, builder_flag (in, "chmod"), &chmod, err) < 0)
    return -1;
  struct step_ctx c = { .b = b, .kind = STEP_COPY };
  c.copy = (pier_copy){ .srcfd = b->ctxfd,
                        .ig = b->ig,
                        .sources = sources,
                        .heredocs = in->heredocs,
                        .n_heredocs = in->n_heredocs,
                        .dest = dest,
                        .dest_is_dir = dest_dir,
                        .chown = chown,
                        .chmod = chmod,
                        .add = add,
                        .link = pier_df_flag_bool (in, "link"),
                        .clamp_mtime = b->o->source_date_epoch };
  char srckey[65] = "context";
  const char *from = builder_flag (in, "from");
  cleanup_free char *from_x = NULL;
  if (from)
    {
      if (builder_expand (b, env, from, &from_x, err) < 0)
        return -1;
      if (source_of (b, self, from_x, &c.from_chains, srckey, err) < 0)
        return -1;
      c.from_other = true;
      c.copy.ig = NULL;
    }
  char sum[65] = "";
  if (!from)
    {
      if (pier_copy_checksum (&c.copy, sum, err) < 0)
        {
          strv_free (c.from_chains);
          return -1;
        }
    }
  cleanup_json json_t *srcj = strv_to_json (sources);
  cleanup_free char *joined = json_words (srcj);
  cleanup_free char *created_by
      = xasprintf ("%s%s # buildkit", add ? "ADD" : "COPY", in->original + strcspn (in->original, " \t"));
  cleanup_free char *keytext
      = xasprintf ("%s|from=%s|sum=%s|dest=%s|chown=%s|chmod=%s|srcs=%s", add ? "ADD" : "COPY", srckey, sum,
                   dest, chown ? chown : "", chmod ? chmod : "", joined);
  int rc = layer_step (b, s, label, created_by, keytext, &c, false, NULL, err);
  strv_free (c.from_chains);
  free (c.src_dir);
  return rc;
}

static int
do_workdir (struct builder *b, struct stage *s, const pier_df_instr *in, const char *label, pier_error **err)
{
  cleanup_strv char **env = stage_vars (s);
  cleanup_free char *w = NULL;
  if (builder_expand (b, env, in->args[0], &w, err) < 0)
    return -1;
  const char *cur = json_string_value (json_object_get (cfg_of (s), "WorkingDir"));
  cleanup_free char *path = clean_abs (cur, w);
  json_object_set_new (cfg_of (s), "WorkingDir", json_string (path));
  cleanup_free char *created_by = xasprintf ("WORKDIR %s", path);
  cleanup_free char *cfgtext = json_dumps (cfg_of (s), JSON_COMPACT | JSON_SORT_KEYS);
  cleanup_free char *keytext = xasprintf ("WORKDIR %s|%s", path, cfgtext);
  struct step_ctx c = { .b = b, .kind = STEP_MKDIR, .path = path };
  return layer_step (b, s, label, created_by, keytext, &c, true, NULL, err);
}

/* A metadata instruction's effect on the config; the history and key
 * follow. */
static int
do_meta (struct builder *b, struct stage *s, const pier_df_instr *in, pier_error **err)
{
  json_t *cfg = cfg_of (s);
  cleanup_strv char **env = stage_vars (s);
  cleanup_free char *created_by = NULL;
  switch (in->kind)
    {
    case PIER_DF_ENV:
      {
        cleanup_free char *shown = xstrdup ("");
        for (size_t i = 0; i < in->n_pairs; i++)
          {
            cleanup_free char *k = NULL, *v = NULL;
            if (builder_expand (b, env, in->pairs[i].key, &k, err) < 0
                || builder_expand (b, env, in->pairs[i].value ? in->pairs[i].value : "", &v, err) < 0)
              return -1;
            if (*k == 0)
              return pier_error_makex (err, EINVAL, "ENV names must not be empty");
            set_env (cfg, k, v);
            char *n = xasprintf ("%s%s%s=%s", shown, i ? " " : "", k, v);
            free (shown);
            shown = n;
          }
        created_by = xasprintf ("ENV %s", shown);
        break;
      }
    case PIER_DF_LABEL:
      {
        json_t *labels = json_object_get (cfg, "Labels");
        if (!json_is_object (labels))
          {
            labels = json_object ();
            json_object_set_new (cfg, "Labels", labels);
          }
        cleanup_free char *shown = xstrdup ("");
        for (size_t i = 0; i < in->n_pairs; i++)
          {
            cleanup_free char *k = NULL, *v = NULL;
            if (builder_expand (b, env, in->pairs[i].key, &k, err) < 0
                || builder_expand (b, env, in->pairs[i].value ? in->pairs[i].value : "", &v, err) < 0)
              return -1;
            json_object_set_new (labels, k, json_string (v));
            char *n = xasprintf ("%s%s%s=%s", shown, i ? " " : "", k, v);
            free (shown);
            shown = n;
          }
        created_by = xasprintf ("LABEL %s", shown);
        break;
      }
    case PIER_DF_ARG:
      {
        cleanup_free char *shown = xstrdup ("");
        for (size_t i = 0; i < in->n_pairs; i++)
          {
            const char *name = in->pairs[i].key;
            const char *given = NULL;
            cleanup_free char *def = NULL;
            if (in->pairs[i].value && builder_expand (b, env, in->pairs[i].value, &def, err) < 0)
              return -1;
            const char *value = def;
            if (build_arg (b, name, &given))
              value = given;
            else if (value == NULL)
              value = env_get (b->meta, name);
            set_kv (&s->args, name, value);
            char *n
                = xasprintf ("%s%s%s%s%s", shown, i ? " " : "", name, value ? "=" : "", value ? value : "");
            free (shown);
            shown = n;
          }
        created_by = xasprintf ("ARG %s", shown);
        break;
      }
    case PIER_DF_CMD:
    case PIER_DF_ENTRYPOINT:
      {
        json_t *cmd = command_of (s, in, in->exec_form ? NULL : in->args[0]);
        cleanup_free char *shown = json_dumps (cmd, JSON_COMPACT);
        if (in->kind == PIER_DF_CMD)
          {
            json_object_set_new (cfg, "Cmd", cmd);
            s->cmd_set = true;
            created_by = xasprintf ("CMD %s", shown);
          }
        else
          {
            json_object_set_new (cfg, "Entrypoint", cmd);
            if (!s->cmd_set)
              json_object_set_new (cfg, "Cmd", json_null ());
            created_by = xasprintf ("ENTRYPOINT %s", shown);
          }
        break;
      }
    case PIER_DF_EXPOSE:
      {
        json_t *ports = json_object_get (cfg, "ExposedPorts");
        if (!json_is_object (ports))
          {
            ports = json_object ();
            json_object_set_new (cfg, "ExposedPorts", ports);
          }
        cleanup_free char *shown = xstrdup ("");
        for (size_t i = 0; i < in->n_args; i++)
          {
            cleanup_strv char **words = NULL;
            if (expand_words (b, env, in->args[i], &words, err) < 0)
              return -1;
            for (size_t k = 0; words && words[k]; k++)
              {
                char *proto = strchr (words[k], '/');
                if (proto)
                  *proto++ = 0;
                if (proto && strcmp (proto, "tcp") != 0 && strcmp (proto, "udp") != 0
                    && strcmp (proto, "sctp") != 0)
                  return pier_error_makex (err, EINVAL, "invalid proto: %s", proto);
                char *end;
                long lo = strtol (words[k], &end, 10), hi = lo;
                if (*end == '-')
                  hi = strtol (end + 1, &end, 10);
                if (*end || lo < 1 || hi > 65535 || hi < lo)
                  return pier_error_makex (err, EINVAL, "invalid containerPort: %s", words[k]);
                for (long p = lo; p <= hi; p++)
                  {
                    cleanup_free char *key = xasprintf ("%ld/%s", p, proto ? proto : "tcp");
                    json_object_set_new (ports, key, json_object ());
                    char *n = xasprintf ("%s%s%s", shown, *shown ? " " : "", key);
                    free (shown);
                    shown = n;
                  }
              }
          }
        created_by = xasprintf ("EXPOSE map[%s]", shown);
        break;
      }
    case PIER_DF_USER:
      {
        cleanup_free char *u = NULL;
        if (builder_expand (b, env, in->args[0], &u, err) < 0)
          return -1;
        json_object_set_new (cfg, "User", json_string (u));
        created_by = xasprintf ("USER %s", u);
        break;
      }
    case PIER_DF_VOLUME:
      {
        json_t *vols = json_object_get (cfg, "Volumes");
        if (!json_is_object (vols))
          {
            vols = json_object ();
            json_object_set_new (cfg, "Volumes", vols);
          }
        cleanup_free char *shown = xstrdup ("");
        for (size_t i = 0; i < in->n_args; i++)
          {
            cleanup_free char *v = NULL;
            if (builder_expand (b, env, in->args[i], &v, err) < 0)
              return -1;
            if (*v == 0)
              return pier_error_makex (err, EINVAL, "VOLUME specified can not be an empty string");
            json_object_set_new (vols, v, json_object ());
            char *n = xasprintf ("%s%s%s", shown, i ? " " : "", v);
            free (shown);
            shown = n;
          }
        created_by = xasprintf ("VOLUME [%s]", shown);
        break;
      }
    case PIER_DF_STOPSIGNAL:
      {
        cleanup_free char *sig = NULL;
        if (builder_expand (b, env, in->args[0], &sig, err) < 0)
          return -1;
        json_object_set_new (cfg, "StopSignal", json_string (sig));
        created_by = xasprintf ("STOPSIGNAL %s", sig);
        break;
      }
    case PIER_DF_HEALTHCHECK:
      {
        json_t *hc;
        if (in->health.none)
          hc = json_pack ("{s:[s]}", "Test", "NONE");
        else
          {
            json_t *test = in->exec_form ? strv_to_json (in->args) : json_pack ("[s]", in->args[0]);
            json_array_insert_new (test, 0, json_string (in->exec_form ? "CMD" : "CMD-SHELL"));
            hc = json_pack ("{s:o}", "Test", test);
            if (in->health.interval)
              json_object_set_new (hc, "Interval", json_integer (in->health.interval));
            if (in->health.timeout)
              json_object_set_new (hc, "Timeout", json_integer (in->health.timeout));
            if (in->health.start_period)
              json_object_set_new (hc, "StartPeriod", json_integer (in->health.start_period));
            if (in->health.start_interval)
              json_object_set_new (hc, "StartInterval", json_integer (in->health.start_interval));
            if (in->health.retries)
              json_object_set_new (hc, "Retries", json_integer (in->health.retries));
          }
        json_object_set_new (cfg, "Healthcheck", hc);
        created_by = xasprintf ("HEALTHCHECK %s", in->original + strcspn (in->original, " \t") + 1);
        break;
      }
    case PIER_DF_SHELL:
      json_object_set_new (cfg, "Shell", strv_to_json (in->args));
      created_by = xasprintf ("SHELL %s", in->original + strcspn (in->original, " \t") + 1);
      break;
    case PIER_DF_MAINTAINER:
      json_object_set_new (s->image, "author", json_string (in->args[0]));
      created_by = xasprintf ("MAINTAINER %s", in->args[0]);
      break;
    case PIER_DF_ONBUILD:
      {
        json_t *ob = json_object_get (cfg, "OnBuild");
        if (!json_is_array (ob))
          {
            ob = json_array ();
            json_object_set_new (cfg, "OnBuild", ob);
          }
        json_array_append_new (ob, json_string (in->args[0]));
        created_by = xasprintf ("ONBUILD %s", in->args[0]);
        break;
      }
    default: return pier_error_makex (err, EINVAL, "unexpected instruction %s", pier_df_kind_name (in->kind));
    }
  const char *created = json_string_value (json_object_get (s->image, "created"));
  cleanup_free char *now = NULL;
  if (created == NULL)
    created = now = now_text (b);
  add_history (s, created, created_by, true);
  cleanup_free char *cfgtext = json_dumps (cfg, JSON_COMPACT | JSON_SORT_KEYS);
  cleanup_free char *keytext = xasprintf ("%s|%s|%s", created_by, cfgtext,
                                          json_string_value (json_object_get (s->image, "author")) ?: "");
  next_key (s->key, keytext);
  return 0;
}

/* ---- stages ---------------------------------------------------------------- */

static char *
stage_label (struct builder *b, size_t i, size_t k)
{
  const pier_df_stage *st = &b->df->stages[i];
  const pier_df_instr *in = &st->instrs[k];
  cleanup_free char *name = st->name              ? xstrdup (st->name)
                            : b->df->n_stages > 1 ? xasprintf ("stage-%zu", i)
                                                  : xstrdup ("");
  return xasprintf ("[%s%s%zu/%zu] %s", name, *name ? " " : "", k + 1, st->n_instrs, in->original);
}

static int run_instr (struct builder *b, size_t i, struct stage *s, const pier_df_instr *in,
                      const char *label, int *exit_code, pier_error **err);

static int
do_from (struct builder *b, size_t i, struct stage *s, pier_error **err)
{
  const pier_df_stage *st = &b->df->stages[i];
  cleanup_free char *base = NULL;
  if (builder_expand (b, b->meta, st->base, &base, err) < 0)
    return -1;
  if (st->platform)
    {
      cleanup_free char *p = NULL;
      if (builder_expand (b, b->meta, st->platform, &p, err) < 0)
        return -1;
      cleanup_free char *mine = xasprintf ("linux/%s", pier_image_go_arch ());
      if (strcmp (p, mine) != 0)
        return pier_error_makex (err, ENOTSUP, "FROM --platform=%s: pier builds for %s only", p, mine);
    }
  cleanup_free char *label = stage_label (b, i, 0);
  long k = pier_df_stage_find (b->df, base);
  if (k >= 0 && (size_t) k == i && b->df->stages[k].name)
    return pier_error_makex (err, EINVAL, "circular dependency detected on stage: %s", b->df->stages[k].name);
  if (k >= 0 && (size_t) k < i && b->df->stages[k].name)
    {
      if (need_stage (b, i, (size_t) k, err) < 0)
        return -1;
      pthread_mutex_lock (&b->sh->mu);
      copy_stage (s, &b->stages[k]);
      pthread_mutex_unlock (&b->sh->mu);
      int vertex = next_vertex (b);
      v_start (b, vertex, label);
      v_end (b, vertex, "DONE", 0);
      return 0;
    }
  if (strcasecmp (base, "scratch") == 0)
    {
      cleanup_free char *created = now_text (b);
      s->image = json_pack ("{s:s, s:s, s:{}, s:{s:s, s:[]}, s:[]}", "architecture", pier_image_go_arch (),
                            "os", "linux", "config", "rootfs", "type", "layers", "diff_ids", "history");
      pier_sha256_hex ("scratch", 7, s->key);
      int vertex = next_vertex (b);
      v_start (b, vertex, label);
      v_end (b, vertex, "DONE", 0);
      return 0;
    }
  cleanup_free char *id = NULL;
  if (b->o->pull && b->o->fetch)
    {
      if (fetch (b, base, &id, err) < 0)
        return -1;
    }
  else if (pier_image_resolve (b->st, base, &id, err) < 0)
    {
      if ((*err)->code != ENOENT || b->o->fetch == NULL)
        return pier_error_wrap (err, "failed to resolve source metadata for %s", base);
      pier_error_free (err);
      if (fetch (b, base, &id, err) < 0)
        return -1;
    }
  int vertex = next_vertex (b);
  v_start (b, vertex, label);
  v_end (b, vertex, "DONE", 0);
  if (load_image (b, s, id, err) < 0)
    return -1;
  cleanup_free char *kt = xasprintf ("FROM %s", id);
  pier_sha256_hex (kt, strlen (kt), s->key);
  /* ONBUILD triggers of the base run now, and are not inherited. */
  json_t *ob = json_incref (json_object_get (cfg_of (s), "OnBuild"));
  json_object_del (cfg_of (s), "OnBuild");
  size_t n;
  json_t *t;
  json_array_foreach (ob, n, t)
  {
    cleanup_free char *text = xasprintf ("FROM scratch\n%s\n", json_string_value (t));
    pier_dockerfile *trig = NULL;
    if (pier_dockerfile_parse (text, strlen (text), "ONBUILD", &trig, err) < 0)
      {
        json_decref (ob);
        return -1;
      }
    int rc = 0;
    for (size_t x = 1; x < trig->stages[0].n_instrs && rc == 0; x++)
      {
        cleanup_free char *l
            = xasprintf ("[%s ONBUILD] %s", st->name ? st->name : "", trig->stages[0].instrs[x].original);
        rc = run_instr (b, i, s, &trig->stages[0].instrs[x], l, NULL, err);
      }
    pier_dockerfile_free (trig);
    if (rc < 0)
      {
        json_decref (ob);
        return -1;
      }
  }
  json_decref (ob);
  return 0;
}

static int
run_instr (struct builder *b, size_t i, struct stage *s, const pier_df_instr *in, const char *label,
           int *exit_code, pier_error **err)
{
  switch (in->kind)
    {
    case PIER_DF_RUN: return do_run (b, i, s, in, label, exit_code, err);
    case PIER_DF_COPY:
    case PIER_DF_ADD: return do_copy (b, i, s, in, label, err);
    case PIER_DF_WORKDIR: return do_workdir (b, s, in, label, err);
    case PIER_DF_FROM: return pier_error_makex (err, EINVAL, "FROM is not allowed here");
    default:
      {
        int vertex = next_vertex (b);
        v_start (b, vertex, label);
        if (do_meta (b, s, in, err) < 0)
          return -1;
        v_end (b, vertex, "DONE", 0);
        return 0;
      }
    }
}

int
build_stage (struct builder *b, size_t i, pier_error **err)
{
  const pier_df_stage *st = &b->df->stages[i];
  struct stage *s = &b->stages[i];
  if (do_from (b, i, s, err) < 0)
    return instr_fail (b, i, 0, err);
  for (size_t k = 1; k < st->n_instrs; k++)
    {
      if (cancelled (b))
        return pier_error_makex (err, ECANCELED, "cancelled");
      cleanup_free char *label = stage_label (b, i, k);
      int code = 0;
      if (run_instr (b, i, s, &st->instrs[k], label, &code, err) < 0)
        return instr_fail (b, i, k, err);
    }
  return 0;
}

int
pier_build (pier_engine *e, const pier_build_opts *o, char **out_id, pier_error **err)
{
  struct shared sh = { .mu = PTHREAD_MUTEX_INITIALIZER,
                       .cv = PTHREAD_COND_INITIALIZER,
                       .fetch_mu = PTHREAD_MUTEX_INITIALIZER,
                       .open_mu = PTHREAD_MUTEX_INITIALIZER,
                       .cancel = { -1, -1 } };
  struct builder b = {
    .e = e, .st = e->st, .o = o, .ctxfd = -1, .sh = &sh, .pr = pier_build_progress_new (o->progress, o->tty)
  };
  cleanup_free char *id = NULL;
  int rc = -1;
  /* BuildKit builds as many stages at once as it can; pier as many as
   * there are CPUs (at least two: a stage mostly waits for its steps). */
  long ncpu = sysconf (_SC_NPROCESSORS_ONLN);
  sh.cap = ncpu > 2 ? (size_t) ncpu : 2;
  clock_gettime (CLOCK_MONOTONIC, &b.t0);
  cleanup_dockerfile pier_dockerfile *df = NULL;
  if (pipe2 (sh.cancel, O_CLOEXEC) < 0)
    {
      pier_error_make (err, errno, "cannot make a pipe");
      goto out;
    }
  if (pier_dockerfile_parse (o->dockerfile, o->dockerfile_len, o->dockerfile_name, &df, err) < 0)
    goto out;
  b.df = df;
  b.ctxfd = open (o->context, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (b.ctxfd < 0)
    {
      pier_error_make (err, errno, "unable to prepare context: path \"%s\" not found", o->context);
      goto out;
    }
  /* <Dockerfile>.dockerignore wins over .dockerignore. */
  {
    cleanup_free char *text = NULL;
    size_t len = 0;
    const char *slash = strrchr (o->dockerfile_name, '/');
    cleanup_free char *own = xasprintf ("%s.dockerignore", slash ? slash + 1 : o->dockerfile_name);
    if (pier_read_file_at (b.ctxfd, own, &text, &len, NULL) == 0
        || pier_read_file_at (b.ctxfd, ".dockerignore", &text, &len, NULL) == 0)
      if (pier_ignore_parse (text, len, ".dockerignore", &b.ig, err) < 0)
        goto out;
  }
  /* Global ARGs: --build-arg overrides, BuildKit's platform args exist. */
  {
    const char *arch = pier_image_go_arch ();
    cleanup_free char *plat = xasprintf ("linux/%s", arch);
    const char *auto_args[][2]
        = { { "TARGETPLATFORM", plat }, { "TARGETOS", "linux" }, { "TARGETARCH", arch },
            { "BUILDPLATFORM", plat },  { "BUILDOS", "linux" },  { "BUILDARCH", arch } };
    for (size_t i = 0; i < sizeof auto_args / sizeof *auto_args; i++)
      set_kv (&b.meta, auto_args[i][0], auto_args[i][1]);
    for (size_t i = 0; i < df->n_global_args; i++)
      for (size_t k = 0; k < df->global_args[i].n_pairs; k++)
        {
          const pier_df_pair *p = &df->global_args[i].pairs[k];
          const char *given = NULL;
          cleanup_free char *def = NULL;
          if (p->value && builder_expand (&b, b.meta, p->value, &def, err) < 0)
            goto out;
          if (build_arg (&b, p->key, &given))
            set_kv (&b.meta, p->key, given);
          else
            set_kv (&b.meta, p->key, def);
        }
  }
  size_t target = df->n_stages - 1;
  if (o->target)
    {
      long t = pier_df_stage_find (df, o->target);
      if (t < 0 || df->stages[t].name == NULL)
        {
          pier_error_makex (err, EINVAL, "failed to reach build target %s in Dockerfile", o->target);
          goto out;
        }
      target = (size_t) t;
    }
  b.tmp = xasprintf ("%s/build", e->root);
  if (mkdir (b.tmp, 0700) < 0 && errno != EEXIST)
    {
      pier_error_make (err, errno, "cannot create %s", b.tmp);
      goto out;
    }
  b.stages = xcalloc (df->n_stages, sizeof *b.stages);
  if (o->tty && o->progress)
    say (&b, "[+] Building with pier %s: %s", PIER_VERSION, o->dockerfile_name);
  else
    {
      say (&b, "#0 building with pier %s", PIER_VERSION);
      say (&b, "#0 load build definition from %s", o->dockerfile_name);
    }
  if (schedule (&b, target, err) < 0)
    goto out;

  /* Unused build args are worth a warning, as docker gives. */
  for (size_t i = 0; o->build_args && o->build_args[i]; i++)
    {
      cleanup_free char *name = xstrndup (o->build_args[i], strcspn (o->build_args[i], "="));
      if (!(sh.consumed && has_str (sh.consumed, name)) && !env_get (b.meta, name))
        say (&b, "#0 WARNING: build-arg %s was not consumed", name);
    }

  struct stage *fin = &b.stages[target];
  if (o->labels && o->labels[0])
    {
      json_t *labels = json_object_get (cfg_of (fin), "Labels");
      if (!json_is_object (labels))
        {
          labels = json_object ();
          json_object_set_new (cfg_of (fin), "Labels", labels);
        }
      for (size_t i = 0; o->labels[i]; i++)
        {
          cleanup_free char *k = xstrndup (o->labels[i], strcspn (o->labels[i], "="));
          const char *v = strchr (o->labels[i], '=');
          json_object_set_new (labels, k, json_string (v ? v + 1 : ""));
        }
    }
  if (json_object_get (fin->image, "created") == NULL)
    {
      cleanup_free char *created = now_text (&b);
      json_object_set_new (fin->image, "created", json_string (created));
    }
  int vertex = next_vertex (&b);
  v_start (&b, vertex, "exporting to image");
  if (pier_image_create (b.st, fin->image, fin->layers, fin->n_layers, o->tags ? o->tags[0] : NULL, &id, err)
      < 0)
    goto out;
  for (size_t i = 1; o->tags && o->tags[i]; i++)
    if (pier_image_tag (b.st, id, o->tags[i], err) < 0)
      goto out;
  if (!o->tty)
    {
      say (&b, "#%d writing image %s done", vertex, id);
      for (size_t i = 0; o->tags && o->tags[i]; i++)
        say (&b, "#%d naming to %s done", vertex, o->tags[i]);
    }
  v_end (&b, vertex, "DONE", since (&b.t0));
  if (o->tty && o->progress)
    {
      say (&b, "=> writing image %s", id);
      for (size_t i = 0; o->tags && o->tags[i]; i++)
        say (&b, "=> naming to %s", o->tags[i]);
    }
  *out_id = steal_pointer (&id);
  rc = 0;
out:
  if (b.ctxfd >= 0)
    close (b.ctxfd);
  pier_ignore_free (b.ig);
  for (size_t i = 0; b.stages && i < df->n_stages; i++)
    {
      free (b.stages[i].deps);
      stage_clear (&b.stages[i]);
    }
  free (b.stages);
  strv_free (b.meta);
  strv_free (sh.consumed);
  free (b.tmp);
  pier_build_progress_free (b.pr);
  pier_error_free (&sh.error);
  if (sh.cancel[0] >= 0)
    {
      close (sh.cancel[0]);
      close (sh.cancel[1]);
    }
  return rc;
}

/* ---- export ------------------------------------------------------------------ */

struct export_ctx
{
  const char *dest;
  int fd;
};

static int
export_sink (void *data, const void *buf, size_t len, pier_error **err)
{
  struct export_ctx *x = data;
  if (pier_write_all (x->fd, buf, len) < 0)
    return pier_error_make (err, errno, "cannot write the export");
  return 0;
}

static int
export_fn (int rootfd, void *data, pier_error **err)
{
  struct export_ctx *x = data;
  if (x->dest == NULL)
    {
      pier_diff_opts o = { .clamp_mtime = -1 };
      return pier_layer_diff (rootfd, &o, export_sink, x, NULL, err);
    }
  pier_copy c = { .srcfd = rootfd,
                  .sources = (char *[]){ ".", NULL },
                  .dest = x->dest,
                  .dest_is_dir = true,
                  .clamp_mtime = -1 };
  /* Copy out: the destination is on the host, so no chroot; the
   * source stays confined to the image's root. */
  cleanup_close int hostroot = open ("/", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  return pier_copy_apply (hostroot, &c, err);
}

int
pier_build_export (pier_engine *e, const char *image_id, const char *dest, int fd, pier_error **err)
{
  struct builder b = { .e = e, .st = e->st };
  struct stage s = { 0 };
  if (load_image (&b, &s, image_id, err) < 0)
    return -1;
  cleanup_strv char **chains = chains_of (&s);
  stage_clear (&s);
  cleanup_free char *dir = scratch_dir (e->st, err);
  if (dir == NULL)
    return pier_error_wrap (err, "cannot make the export's directory");
  cleanup_free char *absdest = NULL;
  if (dest)
    {
      if (mkdir (dest, 0755) < 0 && errno != EEXIST)
        {
          pier_rmtree_at (AT_FDCWD, dir, NULL);
          return pier_error_make (err, errno, "cannot create %s", dest);
        }
      absdest = realpath (dest, NULL);
    }
  struct export_ctx x = { absdest, fd };
  pier_engine_step es = { .layers = (const char *const *) chains,
                          .dir = dir,
                          .network = "none",
                          .out_fd = -1,
                          .cancel_fd = -1,
                          .out_read_fd = -1 };
  int rc = pier_engine_step_apply (e, &es, export_fn, &x, err);
  pier_rmtree_at (AT_FDCWD, dir, NULL);
  return rc;
}
