/* push.c - docker push: each blob the registry lacks is mounted from
 * another repository of the same registry when the image came from there,
 * else uploaded (POST, then one PUT ?digest=); then the manifest, the very
 * bytes stored, so its digest is the image's RepoDigest. */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "image/images.h"
#include "image/manifest.h"
#include "image/reference.h"
#include "registry/client.h"
#include "registry/registry.h"
#include "store/blobs.h"
#include "store/db.h"
#include "util/cleanup.h"
#include "util/digest.h"
#include "util/fs.h"
#include "util/json.h"
#include "util/xalloc.h"
#include "util/banned.h"

void
pier_push_result_clear (pier_push_result *r)
{
  free (r->reference);
  free (r->tag);
  free (r->digest);
  memset (r, 0, sizeof *r);
}

/* Blobs from this size on go up in chunks of this size (PATCH with
 * Content-Range, then PUT ?digest=): a failed chunk is retried from where
 * the registry says the upload stands, not from the start. */
#define CHUNK_SIZE (64u << 20)
#define CHUNK_RETRIES 3

struct push
{
  pier_store *st;
  const pier_registry_opts *o;
  reg_client *c;
  pier_ref *ref;
  char **mount_from;   /* repositories of this registry the image came from */
  const char *cur;     /* the blob being pushed, for progress */
  pthread_mutex_t *mu; /* progress callbacks come from several threads */
  uint64_t cur_size;
};

static void
emit (struct push *p, const char *digest, const char *status, uint64_t cur, uint64_t total)
{
  if (p->o == NULL || p->o->progress == NULL || digest == NULL)
    return;
  char id[13];
  snprintf (id, sizeof id, "%.12s", digest + 7);
  pthread_mutex_lock (p->mu);
  p->o->progress (p->o->progress_data, id, status, cur, total);
  pthread_mutex_unlock (p->mu);
}

static void
push_progress (void *data, uint64_t now, uint64_t total)
{
  struct push *p = data;
  (void) total;
  emit (p, p->cur, "Pushing", now, p->cur_size);
}

static int
status_error (struct push *p, const reg_resp *r, const char *what, pier_error **err)
{
  cleanup_free char *t = reg_error_text (r);
  (void) p;
  return pier_error_makex (err, r->status == 401 || r->status == 403 ? EACCES : EPROTO, "%s%s%s", what,
                           what[0] ? ": " : "", t);
}

/* "Location" made a full URL with the digest parameter added. */
static char *
upload_url (struct push *p, const char *loc, const char *digest)
{
  const char *base = reg_client_base (p->c);
  char *esc = curl_easy_escape (NULL, digest, 0);
  char *u = xasprintf ("%s%s%s%sdigest=%s", loc[0] == '/' ? base : "", loc, "", strchr (loc, '?') ? "&" : "?",
                       esc);
  curl_free (esc);
  return u;
}

/* Where the upload at loc stands: the next byte it wants. */
static int
upload_status (struct push *p, const char *loc, uint64_t *next, pier_error **err)
{
  reg_resp r = { .max_body = 1 << 16 };
  cleanup_free char *url = loc[0] == '/' ? xasprintf ("%s%s", reg_client_base (p->c), loc) : xstrdup (loc);
  if (reg_client_do (p->c, "GET", url, NULL, NULL, &r, err) < 0)
    return -1;
  if (r.status != 204 || r.range == NULL || strncmp (r.range, "0-", 2) != 0)
    {
      status_error (p, &r, "upload status", err);
      reg_resp_clear (&r);
      return -1;
    }
  *next = strtoull (r.range + 2, NULL, 10) + 1;
  /* "0-0" is also what an empty upload says. */
  if (strcmp (r.range, "0-0") == 0)
    *next = 0;
  reg_resp_clear (&r);
  return 0;
}

/* size bytes of fd to the upload at *loc: one PUT, or PATCHes of
 * CHUNK_SIZE then an empty PUT.  *loc follows the registry's Location. */
static int
upload (struct push *p, char **loc, int fd, uint64_t size, const char *digest, bool layer, pier_error **err)
{
  reg_resp r = { .max_body = 1 << 16 };
  int rc = -1;
  p->cur = digest;
  p->cur_size = size;
  if (size >= CHUNK_SIZE)
    {
      uint64_t off = 0;
      int failures = 0;
      while (off < size)
        {
          uint64_t n = size - off < CHUNK_SIZE ? size - off : CHUNK_SIZE;
          cleanup_free char *url
              = (*loc)[0] == '/' ? xasprintf ("%s%s", reg_client_base (p->c), *loc) : xstrdup (*loc);
          cleanup_free char *cr = xasprintf ("Content-Range: %llu-%llu", (unsigned long long) off,
                                             (unsigned long long) (off + n - 1));
          struct curl_slist *h = curl_slist_append (NULL, cr);
          reg_body b = { NULL, fd, n, off, "application/octet-stream", layer ? push_progress : NULL, p };
          pier_error *e = NULL;
          int r0 = reg_client_do (p->c, "PATCH", url, h, &b, &r, &e);
          curl_slist_free_all (h);
          if (r0 == 0 && r.status == 202 && r.location)
            {
              free (*loc);
              *loc = xstrdup (r.location);
              off += n;
              continue;
            }
          /* The chunk failed: ask where the upload stands and go on from
           * there, a few times. */
          if (++failures > CHUNK_RETRIES)
            {
              if (r0 < 0)
                *err = steal_pointer (&e);
              else
                status_error (p, &r, "", err);
              goto out;
            }
          pier_error_free (&e);
          if (upload_status (p, *loc, &off, err) < 0)
            goto out;
        }
      cleanup_free char *url = upload_url (p, *loc, digest);
      reg_body b = { "", -1, 0, 0, "application/octet-stream", NULL, NULL };
      if (reg_client_do (p->c, "PUT", url, NULL, &b, &r, err) < 0)
        goto out;
    }
  else
    {
      cleanup_free char *url = upload_url (p, *loc, digest);
      reg_body b = { NULL, fd, size, 0, "application/octet-stream", layer ? push_progress : NULL, p };
      if (reg_client_do (p->c, "PUT", url, NULL, &b, &r, err) < 0)
        goto out;
    }
  if (r.status != 201)
    {
      status_error (p, &r, "", err);
      goto out;
    }
  rc = 0;
out:
  reg_resp_clear (&r);
  return rc;
}

/* One blob: skipped when the registry has it, mounted when it can be,
 * uploaded otherwise.  layer: show progress for it. */
static int
push_blob (struct push *p, const char *digest, bool layer, pier_error **err)
{
  cleanup_free char *head = xasprintf ("/v2/%s/blobs/%s", p->ref->path, digest);
  reg_resp r = { .max_body = 1 << 16 };
  int rc = -1;
  cleanup_close int fd = -1;
  cleanup_free char *loc = NULL;
  if (reg_client_do (p->c, "HEAD", head, NULL, NULL, &r, err) < 0)
    goto out;
  if (r.status == 200)
    {
      if (layer)
        emit (p, digest, "Layer already exists", 0, 0);
      rc = 0;
      goto out;
    }
  if (r.status != 404)
    {
      status_error (p, &r, "", err);
      goto out;
    }
  for (size_t k = 0; p->mount_from && p->mount_from[k] && loc == NULL; k++)
    {
      cleanup_free char *path
          = xasprintf ("/v2/%s/blobs/uploads/?mount=%s&from=%s", p->ref->path, digest, p->mount_from[k]);
      if (reg_client_do (p->c, "POST", path, NULL, NULL, &r, err) < 0)
        goto out;
      if (r.status == 201)
        {
          if (layer)
            {
              cleanup_free char *st = xasprintf ("Mounted from %s", p->mount_from[k]);
              emit (p, digest, st, 0, 0);
            }
          rc = 0;
          goto out;
        }
      /* 202: the registry could not mount and opened an upload instead. */
      if (r.status == 202 && r.location)
        loc = xstrdup (r.location);
    }
  if (loc == NULL)
    {
      cleanup_free char *path = xasprintf ("/v2/%s/blobs/uploads/", p->ref->path);
      if (reg_client_do (p->c, "POST", path, NULL, NULL, &r, err) < 0)
        goto out;
      if (r.status != 202 || r.location == NULL)
        {
          status_error (p, &r, "", err);
          goto out;
        }
      loc = xstrdup (r.location);
    }
  uint64_t size = 0;
  fd = pier_blob_open (p->st, digest, err);
  if (fd < 0 || pier_blob_size (p->st, digest, &size, err) < 0)
    goto out;
  if (upload (p, &loc, fd, size, digest, layer, err) < 0)
    goto out;
  if (layer)
    emit (p, digest, "Pushed", 0, 0);
  rc = 0;
out:
  reg_resp_clear (&r);
  return rc;
}

/* An OCI manifest for an image stored without one. */
static char *
make_manifest (struct push *p, const pier_db_image *img, pier_error **err)
{
  uint64_t csize = 0;
  if (pier_blob_size (p->st, img->config_digest, &csize, err) < 0)
    return NULL;
  json_t *ls = json_array ();
  for (size_t k = 0; k < img->n_layers; k++)
    json_array_append_new (ls,
                           json_pack ("{s:s, s:s, s:I}", "mediaType", img->layers[k].media_type, "digest",
                                      img->layers[k].blob_digest, "size", (json_int_t) img->layers[k].size));
  json_t *m = json_pack ("{s:i, s:s, s:{s:s, s:s, s:I}, s:o}", "schemaVersion", 2, "mediaType",
                         PIER_MT_OCI_MANIFEST, "config", "mediaType", PIER_MT_OCI_CONFIG, "digest",
                         img->config_digest, "size", (json_int_t) csize, "layers", ls);
  char *text = json_dumps (m, JSON_COMPACT);
  json_decref (m);
  return text;
}

/* A client for the push: pull and push on the repository, pull on those
 * blobs may be mounted from. */
static reg_client *
push_client (struct push *p, pier_error **err)
{
  cleanup_free char *scope = xasprintf ("repository:%s:pull,push", p->ref->path);
  cleanup_json json_t *conf = NULL;
  if (reg_conf_load (p->o, &conf, err) < 0)
    return NULL;
  reg_client *c = reg_client_for (p->ref->domain, p->o, conf, NULL, NULL, scope);
  for (size_t k = 0; p->mount_from && p->mount_from[k]; k++)
    {
      cleanup_free char *s = xasprintf ("repository:%s:pull", p->mount_from[k]);
      reg_client_add_scope (c, s);
    }
  if (reg_client_ping (c, false, err) < 0)
    {
      reg_client_free (c);
      return NULL;
    }
  return c;
}

/* The blobs of a push, shared by its upload threads. */
struct queue
{
  struct push *p;
  pthread_mutex_t mu;
  char **digests;
  size_t n, next, layers; /* the first `layers` are layers (progress shown) */
  pier_error *err;        /* the first failure; the others stop then */
};

static void *
push_worker (void *arg)
{
  struct queue *q = arg;
  struct push mine = *q->p;
  pier_error *e = NULL;
  mine.c = push_client (q->p, &e);
  for (;;)
    {
      pthread_mutex_lock (&q->mu);
      if (e && q->err == NULL)
        q->err = steal_pointer (&e);
      if (q->err || q->next >= q->n || mine.c == NULL)
        {
          pthread_mutex_unlock (&q->mu);
          break;
        }
      size_t i = q->next++;
      pthread_mutex_unlock (&q->mu);
      push_blob (&mine, q->digests[i], i < q->layers, &e);
    }
  pier_error_free (&e);
  reg_client_free (mine.c);
  return NULL;
}

/* Every blob of the image, up to max_concurrent at a time (docker's
 * max-concurrent-uploads), each thread with its own connection. */
static int
push_blobs (struct push *p, const pier_db_image *img, pier_error **err)
{
  struct queue q = { .p = p, .mu = PTHREAD_MUTEX_INITIALIZER };
  for (size_t k = img->n_layers; k > 0; k--)
    strv_push (&q.digests, img->layers[k - 1].blob_digest);
  strv_push (&q.digests, img->config_digest);
  q.n = img->n_layers + 1;
  q.layers = img->n_layers;
  size_t par = (size_t) reg_conf_concurrency (p->o, "max-concurrent-uploads");
  if (par > q.n)
    par = q.n;
  pthread_t th[16];
  size_t started = 0;
  for (; started < par && started < 16; started++)
    if (pthread_create (&th[started], NULL, push_worker, &q) != 0)
      break;
  if (started == 0)
    push_worker (&q);
  for (size_t k = 0; k < started; k++)
    pthread_join (th[k], NULL);
  strv_free (q.digests);
  if (q.err)
    {
      *err = q.err;
      return -1;
    }
  return 0;
}

int
pier_registry_push (pier_store *st, const char *name, const pier_registry_opts *o, pier_push_result *res,
                    pier_error **err)
{
  cleanup_ref pier_ref *ref = NULL;
  cleanup_free char *full = NULL;
  cleanup_free char *id = NULL;
  cleanup_free char *mbuf = NULL;
  cleanup_free char *mdigest = NULL;
  cleanup_free char *repo = NULL;
  pier_db_image *img = NULL;
  size_t mlen = 0;
  pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
  struct push p = { st, o, NULL, NULL, NULL, NULL, &mu };
  int rc = -1;
  reg_resp r = { .max_body = 1 << 16 };

  if (pier_ref_parse (name, &ref, err) < 0 || pier_curl_dl_open (err) < 0)
    return -1;
  if (ref->digest)
    return pier_error_makex (err, EINVAL, "cannot push a digest reference (%s): push a tag", name);
  full = pier_ref_string (ref);
  if (pier_db_resolve_reference (pier_store_db (st), full, &id, NULL) < 0)
    {
      cleanup_free char *fam = pier_ref_familiar (ref);
      return pier_error_makex (err, ENOENT, "An image does not exist locally with the tag: %s", fam);
    }
  if (pier_db_get_image (pier_store_db (st), id, &img, err) < 0)
    return -1;
  p.ref = ref;
  repo = pier_ref_name (ref);
  /* Where the registry may already hold its blobs: the repositories of the
   * same registry this image was pulled from or pushed to. */
  for (size_t k = 0; img->tags && img->tags[k]; k++)
    {
      cleanup_ref pier_ref *t = NULL;
      if (pier_ref_parse (img->tags[k], &t, NULL) == 0 && t->digest && strcmp (t->domain, ref->domain) == 0
          && strcmp (t->path, ref->path) != 0)
        {
          bool dup = false;
          for (size_t j = 0; p.mount_from && p.mount_from[j]; j++)
            dup |= strcmp (p.mount_from[j], t->path) == 0;
          if (!dup)
            strv_push (&p.mount_from, t->path);
        }
    }
  if (img->manifest_digest)
    {
      cleanup_close int fd = pier_blob_open (st, img->manifest_digest, err);
      if (fd < 0 || pier_read_fd (fd, img->manifest_digest, &mbuf, &mlen, err) < 0)
        goto out;
      mdigest = xstrdup (img->manifest_digest);
    }
  else
    {
      mbuf = make_manifest (&p, img, err);
      if (mbuf == NULL)
        goto out;
      mlen = strlen (mbuf);
      char hex[PIER_SHA256_HEX_LEN + 1];
      pier_sha256_hex (mbuf, mlen, hex);
      mdigest = xasprintf ("sha256:%s", hex);
    }
  p.c = push_client (&p, err);
  if (p.c == NULL)
    goto out;
  for (size_t k = 0; k < img->n_layers; k++)
    emit (&p, img->layers[k].blob_digest, "Preparing", 0, 0);
  if (push_blobs (&p, img, err) < 0)
    goto out;
  {
    const char *mt = img->manifest_media_type ? img->manifest_media_type : PIER_MT_OCI_MANIFEST;
    cleanup_free char *path = xasprintf ("/v2/%s/manifests/%s", ref->path, ref->tag);
    reg_body b = { mbuf, -1, mlen, 0, mt, NULL, NULL };
    if (reg_client_do (p.c, "PUT", path, NULL, &b, &r, err) < 0)
      goto out;
    if (r.status != 201)
      {
        status_error (&p, &r, "", err);
        goto out;
      }
    if (r.digest && strcmp (r.digest, mdigest) != 0)
      {
        pier_error_makex (err, EPROTO, "the registry stored the manifest as %s, pier sent %s", r.digest,
                          mdigest);
        goto out;
      }
  }
  /* The image now has this RepoDigest too. */
  {
    cleanup_free char *dref = xasprintf ("%s@%s", repo, mdigest);
    if (pier_db_tag (pier_store_db (st), dref, id, err) < 0)
      goto out;
  }
  res->reference = steal_pointer (&full);
  res->tag = xstrdup (ref->tag);
  res->digest = steal_pointer (&mdigest);
  res->size = (int64_t) mlen;
  rc = 0;
out:
  reg_resp_clear (&r);
  reg_client_free (p.c);
  strv_free (p.mount_from);
  pier_db_image_free (img);
  return rc;
}
