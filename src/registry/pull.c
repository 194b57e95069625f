/* pull.c - docker pull: manifest (index -> this platform's manifest),
 * config, layers downloaded several at a time straight into the blob
 * store (hashed as they arrive, resumed with Range after a cut), each
 * unpacked as soon as it is complete, then the image recorded with the
 * manifest exactly as the registry served it. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>

#include "image/images.h"
#include "image/ingest.h"
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

#define ACCEPT_MANIFESTS                                                                                     \
  "Accept: " PIER_MT_OCI_MANIFEST ", " PIER_MT_DOCKER_MANIFEST ", " PIER_MT_OCI_INDEX                        \
  ", " PIER_MT_DOCKER_MANIFEST_LIST

/* Manifests and indexes larger than this are refused (the OCI spec's
 * suggested limit); configs get more room. */
#define MANIFEST_MAX (4u << 20)
#define CONFIG_MAX (64u << 20)
#define RETRIES 5

void
pier_pull_result_clear (pier_pull_result *r)
{
  free (r->id);
  free (r->digest);
  free (r->reference);
  memset (r, 0, sizeof *r);
}

struct pull
{
  pier_store *st;
  const pier_registry_opts *o;
  reg_client *c;
  pier_ref *ref;
  char **blobs;    /* written by this pull (dropped on failure) */
  char **chains;   /* layers recorded by this pull (dropped on failure) */
  bool *completed; /* "Pull complete" shown */
};

static void
emit (struct pull *p, const char *digest, const char *status, uint64_t cur, uint64_t total)
{
  if (p->o == NULL || p->o->progress == NULL)
    return;
  char id[13] = "";
  if (digest)
    snprintf (id, sizeof id, "%.12s", digest + 7);
  p->o->progress (p->o->progress_data, digest ? id : NULL, status, cur, total);
}

static void
host_platform (char **os, char **arch, char **variant)
{
  struct utsname u;
  const char *a = "amd64";
  const char *v = NULL;
  if (uname (&u) == 0)
    {
      if (strcmp (u.machine, "aarch64") == 0)
        {
          a = "arm64";
          v = "v8";
        }
      else if (strncmp (u.machine, "armv7", 5) == 0)
        {
          a = "arm";
          v = "v7";
        }
      else if (strcmp (u.machine, "i686") == 0 || strcmp (u.machine, "i386") == 0)
        a = "386";
      else if (strcmp (u.machine, "x86_64") != 0)
        a = u.machine;
    }
  *os = xstrdup ("linux");
  *arch = xstrdup (a);
  *variant = v ? xstrdup (v) : NULL;
}

/* "os/arch[/variant]" (or NULL: this machine's). */
static int
want_platform (const char *s, char **os, char **arch, char **variant, pier_error **err)
{
  if (s == NULL || *s == '\0')
    {
      host_platform (os, arch, variant);
      return 0;
    }
  cleanup_free char *copy = xstrdup (s);
  char *save = NULL;
  char *a = strtok_r (copy, "/", &save);
  char *b = a ? strtok_r (NULL, "/", &save) : NULL;
  char *c = b ? strtok_r (NULL, "/", &save) : NULL;
  if (a == NULL || b == NULL || strtok_r (NULL, "/", &save))
    return pier_error_makex (err, EINVAL,
                             "\"%s\": unknown operating system or architecture: invalid argument", s);
  for (char *q = copy; q < copy + strlen (s); q++)
    if (*q >= 'A' && *q <= 'Z')
      *q = (char) (*q - 'A' + 'a');
  *os = xstrdup (a);
  *arch = xstrdup (strcmp (b, "x86_64") == 0 ? "amd64" : strcmp (b, "aarch64") == 0 ? "arm64" : b);
  *variant = c ? xstrdup (c) : strcmp (*arch, "arm64") == 0 ? xstrdup ("v8") : NULL;
  return 0;
}

static char *
repo_url (struct pull *p, const char *what, const char *id)
{
  return xasprintf ("/v2/%s/%s/%s", p->ref->path, what, id);
}

/* GET a manifest or index by tag or digest: its bytes as served, its
 * digest (computed; checked when it was asked for by digest) and media
 * type. */
static int
fetch_manifest (struct pull *p, const char *id, char **raw, size_t *len, char **mt, char **digest,
                pier_error **err)
{
  cleanup_free char *path = repo_url (p, "manifests", id);
  struct curl_slist *h = curl_slist_append (NULL, ACCEPT_MANIFESTS);
  reg_resp r = { .max_body = MANIFEST_MAX };
  int rc = reg_client_do (p->c, "GET", path, h, NULL, &r, err);
  curl_slist_free_all (h);
  if (rc < 0)
    return -1;
  if (r.status != 200)
    {
      cleanup_free char *t = reg_error_text (&r);
      cleanup_free char *fam = pier_ref_familiar (p->ref);
      long st = r.status;
      reg_resp_clear (&r);
      if (st == 404)
        return pier_error_makex (err, ENOENT, "manifest for %s not found: %s", fam, t);
      if (st == 401 || st == 403)
        return pier_error_makex (err, EACCES,
                                 "pull access denied for %s, repository does not exist or may require "
                                 "'docker login': %s",
                                 fam, t);
      return pier_error_makex (err, EPROTO, "%s", t);
    }
  char hex[PIER_SHA256_HEX_LEN + 1];
  pier_sha256_hex (r.body ? r.body : "", r.len, hex);
  char *d = xasprintf ("sha256:%s", hex);
  if (strncmp (id, "sha256:", 7) == 0 && strcmp (id, d) != 0)
    {
      reg_resp_clear (&r);
      free (d);
      return pier_error_makex (err, EBADMSG, "manifest verification failed for digest %s", id);
    }
  cleanup_free char *ct = r.content_type ? xstrndup (r.content_type, strcspn (r.content_type, "; ")) : NULL;
  if (ct == NULL || (!pier_media_type_is_manifest (ct) && !pier_media_type_is_index (ct)))
    {
      /* Served as something generic: the document says what it is. */
      free (ct);
      json_t *j = json_loadb (r.body ? r.body : "", r.len, 0, NULL);
      const char *m = json_string_value (json_object_get (j, "mediaType"));
      ct = xstrdup (m ? m : json_object_get (j, "manifests") ? PIER_MT_OCI_INDEX : PIER_MT_OCI_MANIFEST);
      json_decref (j);
    }
  *raw = steal_pointer (&r.body);
  *len = r.len;
  *mt = steal_pointer (&ct);
  *digest = d;
  reg_resp_clear (&r);
  return 0;
}

/* Remember a blob this pull put into the store (unless it was there). */
static void
wrote (struct pull *p, const char *digest, bool existed)
{
  if (!existed)
    strv_push (&p->blobs, digest);
}

/* A small blob (the config) into memory and the store, verified. */
static int
fetch_config (struct pull *p, const pier_descriptor *d, char **buf, size_t *len, pier_error **err)
{
  int have = pier_blob_exists (p->st, d->digest, err);
  if (have < 0)
    return -1;
  if (have)
    {
      cleanup_close int fd = pier_blob_open (p->st, d->digest, err);
      if (fd < 0)
        return -1;
      return pier_read_fd (fd, d->digest, buf, len, err);
    }
  cleanup_free char *path = repo_url (p, "blobs", d->digest);
  reg_resp r = { .max_body = CONFIG_MAX };
  if (reg_client_do (p->c, "GET", path, NULL, NULL, &r, err) < 0)
    return -1;
  if (r.status != 200)
    {
      cleanup_free char *t = reg_error_text (&r);
      reg_resp_clear (&r);
      return pier_error_makex (err, EPROTO, "config %s: %s", d->digest, t);
    }
  if (pier_blob_put (p->st, r.body ? r.body : "", r.len, d->digest, NULL, err) < 0)
    {
      reg_resp_clear (&r);
      return pier_error_wrap (err, "config %s", d->digest);
    }
  wrote (p, d->digest, false);
  *buf = steal_pointer (&r.body);
  *len = r.len;
  reg_resp_clear (&r);
  return 0;
}

/* ---- layer downloads ------------------------------------------------ */

struct dl
{
  struct pull *p;
  size_t k;
  const pier_descriptor *d;
  pier_blob_writer *w;
  CURL *h;
  struct curl_slist *hdrs;
  char errbuf[CURL_ERROR_SIZE];
  int attempts;
  bool authed;     /* a 401 got its one new token */
  bool checked;    /* the response's start was checked against the range asked */
  uint64_t from;   /* Range start of this attempt */
  uint64_t range0; /* Content-Range start the server answered with */
  bool too_big;
  pier_error *werr; /* a blob store write failure */
  reg_resp body;    /* a response that is not the blob */
  char *www_auth;
  uint64_t last_emit;
  bool active, done;
};

static size_t
dl_header (char *ptr, size_t size, size_t n, void *data)
{
  struct dl *d = data;
  size_t len = size * n;
  if (len > 14 && strncasecmp (ptr, "Content-Range:", 14) == 0)
    {
      const char *v = ptr + 14;
      while (*v == ' ')
        v++;
      if (strncmp (v, "bytes ", 6) == 0)
        d->range0 = strtoull (v + 6, NULL, 10);
    }
  else if (len > 17 && strncasecmp (ptr, "WWW-Authenticate:", 17) == 0)
    {
      const char *v = ptr + 17;
      while (*v == ' ')
        v++;
      free (d->www_auth);
      d->www_auth = xstrndup (v, strcspn (v, "\r\n"));
    }
  return len;
}

static size_t
dl_write (char *ptr, size_t size, size_t n, void *data)
{
  struct dl *d = data;
  size_t len = size * n;
  long status = 0;
  curl_easy_getinfo (d->h, CURLINFO_RESPONSE_CODE, &status);
  if (status != 200 && status != 206)
    {
      /* An error body: kept (bounded) for the message. */
      if (d->body.len + len < (1u << 16))
        {
          d->body.body = xrealloc (d->body.body, d->body.len + len + 1);
          memcpy (d->body.body + d->body.len, ptr, len);
          d->body.len += len;
          d->body.body[d->body.len] = '\0';
        }
      return len;
    }
  if (!d->checked)
    {
      d->checked = true;
      uint64_t have = pier_blob_written (d->w);
      if (status == 200 && have > 0)
        {
          /* The server ignored the Range: start over. */
          pier_blob_abort (d->w);
          d->w = pier_blob_begin (d->p->st, &d->werr);
          if (d->w == NULL)
            return 0;
        }
      else if (status == 206 && d->range0 != have)
        {
          pier_error_makex (&d->werr, EPROTO, "blob %s: the registry resumed at byte %llu, not %llu",
                            d->d->digest, (unsigned long long) d->range0, (unsigned long long) have);
          return 0;
        }
    }
  /* A registry sending more than the descriptor says is lying. */
  if (pier_blob_written (d->w) + len > (uint64_t) d->d->size)
    {
      d->too_big = true;
      return 0;
    }
  if (pier_blob_write (d->w, ptr, len, &d->werr) < 0)
    return 0;
  uint64_t now = pier_blob_written (d->w);
  if (now - d->last_emit >= (256u << 10) || now == (uint64_t) d->d->size)
    {
      d->last_emit = now;
      emit (d->p, d->d->digest, "Downloading", now, (uint64_t) d->d->size);
    }
  return len;
}

static int
dl_start (struct dl *d, CURLM *m, pier_error **err)
{
  if (d->w == NULL)
    {
      d->w = pier_blob_begin (d->p->st, err);
      if (d->w == NULL)
        return -1;
    }
  cleanup_free char *path = repo_url (d->p, "blobs", d->d->digest);
  cleanup_free char *url = xasprintf ("%s%s", reg_client_base (d->p->c), path);
  curl_slist_free_all (d->hdrs);
  d->hdrs = NULL;
  d->h = reg_client_easy (d->p->c, url, &d->hdrs);
  d->from = pier_blob_written (d->w);
  d->checked = false;
  d->range0 = 0;
  reg_resp_clear (&d->body);
  if (d->from > 0)
    {
      char range[64];
      snprintf (range, sizeof range, "%llu-", (unsigned long long) d->from);
      curl_easy_setopt (d->h, CURLOPT_RANGE, range);
    }
  d->errbuf[0] = '\0';
  curl_easy_setopt (d->h, CURLOPT_HTTPHEADER, d->hdrs);
  curl_easy_setopt (d->h, CURLOPT_ERRORBUFFER, d->errbuf);
  curl_easy_setopt (d->h, CURLOPT_WRITEFUNCTION, dl_write);
  curl_easy_setopt (d->h, CURLOPT_WRITEDATA, d);
  curl_easy_setopt (d->h, CURLOPT_HEADERFUNCTION, dl_header);
  curl_easy_setopt (d->h, CURLOPT_HEADERDATA, d);
  curl_easy_setopt (d->h, CURLOPT_PRIVATE, d);
  /* Large buffers: fewer callbacks and writes per byte. */
  curl_easy_setopt (d->h, CURLOPT_BUFFERSIZE, 512L * 1024);
  curl_multi_add_handle (m, d->h);
  d->active = true;
  return 0;
}

static void
dl_stop (struct dl *d, CURLM *m)
{
  if (d->h)
    {
      curl_multi_remove_handle (m, d->h);
      curl_easy_cleanup (d->h);
      d->h = NULL;
    }
  d->active = false;
}

static void
dl_free (struct dl *d, CURLM *m)
{
  dl_stop (d, m);
  pier_blob_abort (d->w);
  d->w = NULL;
  curl_slist_free_all (d->hdrs);
  d->hdrs = NULL;
  reg_resp_clear (&d->body);
  free (d->www_auth);
  d->www_auth = NULL;
  pier_error_free (&d->werr);
}

static bool
retryable (CURLcode cc)
{
  return cc == CURLE_PARTIAL_FILE || cc == CURLE_RECV_ERROR || cc == CURLE_SEND_ERROR
         || cc == CURLE_GOT_NOTHING || cc == CURLE_OPERATION_TIMEDOUT || cc == CURLE_HTTP2_STREAM
         || cc == CURLE_HTTP2;
}

struct unpack_ctx
{
  struct pull *p;
  const pier_manifest *m;
};

static void
unpacked (void *data, size_t k)
{
  struct unpack_ctx *x = data;
  if (x->p->completed && !x->p->completed[k])
    {
      x->p->completed[k] = true;
      emit (x->p, x->m->layers[k].digest, "Pull complete", 0, 0);
    }
}

/* One download ended (cc): the blob is committed and its unpacking
 * started, or it goes again (resumed), or the pull fails. */
static int
dl_done (struct dl *d, CURLM *m, CURLcode cc, pier_layer_unpacker *u, pier_error **err)
{
  long status = 0;
  long oserr = 0;
  curl_easy_getinfo (d->h, CURLINFO_RESPONSE_CODE, &status);
  curl_easy_getinfo (d->h, CURLINFO_OS_ERRNO, &oserr);
  cleanup_free char *url = NULL;
  {
    char *u0 = NULL;
    curl_easy_getinfo (d->h, CURLINFO_EFFECTIVE_URL, &u0);
    url = xstrdup (u0 ? u0 : "");
  }
  dl_stop (d, m);
  if (d->werr)
    {
      *err = steal_pointer (&d->werr);
      return -1;
    }
  if (d->too_big)
    return pier_error_makex (err, EBADMSG, "filesystem layer verification failed for digest %s",
                             d->d->digest);
  if (cc == CURLE_OK && status == 401 && !d->authed)
    {
      d->authed = true;
      reg_resp r = { .www_auth = steal_pointer (&d->www_auth), .status = 401 };
      int rc = reg_client_reauth (d->p->c, &r, err);
      reg_resp_clear (&r);
      return rc < 0 ? -1 : dl_start (d, m, err);
    }
  if (cc == CURLE_OK && status != 200 && status != 206)
    {
      d->body.status = status;
      cleanup_free char *t = reg_error_text (&d->body);
      return pier_error_makex (err, status == 404 ? ENOENT : EPROTO, "blob %s: %s", d->d->digest, t);
    }
  if (cc != CURLE_OK || pier_blob_written (d->w) < (uint64_t) d->d->size)
    {
      /* Cut off: go on from where it stopped. */
      if ((cc == CURLE_OK || retryable (cc)) && ++d->attempts <= RETRIES)
        {
          if (d->attempts > 1)
            {
              struct timespec ts = { 0, 200000000L * d->attempts };
              nanosleep (&ts, NULL);
            }
          return dl_start (d, m, err);
        }
      if (cc == CURLE_OK)
        return pier_error_makex (err, EBADMSG, "filesystem layer verification failed for digest %s",
                                 d->d->digest);
      return reg_transfer_error (err, "Get", url, cc, oserr, d->errbuf);
    }
  emit (d->p, d->d->digest, "Verifying Checksum", 0, 0);
  pier_blob_writer *w = steal_pointer (&d->w);
  if (pier_blob_commit (w, d->d->digest, NULL, err) < 0)
    {
      pier_error_free (err);
      return pier_error_makex (err, EBADMSG, "filesystem layer verification failed for digest %s",
                               d->d->digest);
    }
  wrote (d->p, d->d->digest, false);
  d->done = true;
  emit (d->p, d->d->digest, "Download complete", 0, 0);
  emit (d->p, d->d->digest, "Extracting", 0, 0);
  pier_layer_unpacker_start (u, d->k, d->d->digest);
  return 0;
}

/* Download the layers marked in need (in parallel), handing each to the
 * unpacker as it completes. */
static int
download_layers (struct pull *p, const pier_manifest *m, const bool *need, pier_layer_unpacker *u,
                 pier_error **err)
{
  size_t n = m->n_layers;
  size_t max = (size_t) reg_conf_concurrency (p->o, "max-concurrent-downloads");
  struct dl *ds = xcalloc (n + 1, sizeof *ds);
  CURLM *cm = curl_multi_init ();
  struct unpack_ctx ux = { p, m };
  size_t next = 0, active = 0, left = 0;
  int rc = 0;
  for (size_t k = 0; k < n; k++)
    {
      ds[k] = (struct dl){ .p = p, .k = k, .d = &m->layers[k] };
      left += need[k];
    }
  while (rc == 0 && left > 0)
    {
      while (active < max && next < n)
        {
          if (!need[next])
            {
              next++;
              continue;
            }
          if (dl_start (&ds[next], cm, err) < 0)
            {
              rc = -1;
              break;
            }
          active++;
          next++;
        }
      if (rc < 0)
        break;
      int running = 0;
      curl_multi_perform (cm, &running);
      CURLMsg *msg;
      int q;
      while (rc == 0 && (msg = curl_multi_info_read (cm, &q)))
        {
          if (msg->msg != CURLMSG_DONE)
            continue;
          struct dl *d = NULL;
          curl_easy_getinfo (msg->easy_handle, CURLINFO_PRIVATE, (char **) &d);
          CURLcode cc = msg->data.result;
          if (dl_done (d, cm, cc, u, err) < 0)
            rc = -1;
          else if (d->done)
            {
              active--;
              left--;
            }
        }
      if (rc < 0 || left == 0)
        break;
      int fds[64];
      size_t nf = pier_layer_unpacker_fds (u, fds, 64);
      struct curl_waitfd wf[64];
      for (size_t i = 0; i < nf; i++)
        wf[i] = (struct curl_waitfd){ fds[i], CURL_WAIT_POLLIN, 0 };
      curl_multi_poll (cm, wf, (unsigned) nf, 500, NULL);
      pier_layer_unpacker_poll (u, unpacked, &ux);
    }
  for (size_t k = 0; k < n; k++)
    dl_free (&ds[k], cm);
  curl_multi_cleanup (cm);
  free (ds);
  return rc;
}

/* ---- the pull -------------------------------------------------------- */

static bool
platform_matches (const pier_platform *pl, const char *os, const char *arch, const char *variant)
{
  if (pl == NULL || strcmp (pl->os, os) != 0 || strcmp (pl->architecture, arch) != 0)
    return false;
  if (variant == NULL || pl->variant == NULL)
    return true;
  return strcmp (pl->variant, variant) == 0;
}

/* The layers already here unpacked from the same blob (docker's "Already
 * exists"): no download, no unpacking. */
static bool
layer_here (pier_store *st, pier_db_image *all, size_t n_all, const char *blob, const char *chain)
{
  pier_db_layer l = { 0 };
  bool complete
      = pier_db_layer_get (pier_store_db (st), chain, &l, NULL) == 0 && l.state == PIER_LAYER_COMPLETE;
  pier_db_layer_clear (&l);
  if (!complete || pier_blob_exists (st, blob, NULL) != 1)
    return false;
  for (size_t i = 0; i < n_all; i++)
    for (size_t k = 0; k < all[i].n_layers; k++)
      if (strcmp (all[i].layers[k].blob_digest, blob) == 0 && strcmp (all[i].layers[k].chain_id, chain) == 0)
        return true;
  return false;
}

static int
pull_image (struct pull *p, pier_pull_result *res, pier_error **err)
{
  cleanup_free char *os = NULL, *arch = NULL, *variant = NULL;
  cleanup_free char *raw = NULL, *mt = NULL, *digest = NULL;
  cleanup_free char *repo_digest = NULL;
  cleanup_free char *cbuf = NULL;
  cleanup_free char *full = NULL;
  cleanup_strv char **chain_ids = NULL;
  cleanup_strv char **refs = NULL;
  size_t len = 0, clen = 0;
  pier_manifest *m = NULL;
  pier_image_config *cfg = NULL;
  pier_layer_unpacker *u = NULL;
  pier_db_image_layer *layers = NULL;
  pier_db_image *all = NULL;
  size_t n_all = 0;
  bool *need = NULL;
  const char **mts = NULL;
  int rc = -1;

  if (want_platform (p->o ? p->o->platform : NULL, &os, &arch, &variant, err) < 0)
    return -1;
  if (fetch_manifest (p, p->ref->digest ? p->ref->digest : p->ref->tag, &raw, &len, &mt, &digest, err) < 0)
    goto out;
  repo_digest = xstrdup (digest);
  if (pier_media_type_is_index (mt))
    {
      pier_index *idx = NULL;
      if (pier_index_parse (raw, len, mt, &idx, err) < 0)
        goto out;
      const pier_descriptor *pick = NULL;
      for (size_t i = 0; i < idx->n_manifests && pick == NULL; i++)
        if (pier_media_type_is_manifest (idx->manifests[i].media_type)
            && platform_matches (idx->manifests[i].platform, os, arch, variant))
          pick = &idx->manifests[i];
      if (pick == NULL)
        {
          pier_index_free (idx);
          pier_error_makex (err, ENOENT, "no matching manifest for %s/%s%s%s in the manifest list entries",
                            os, arch, variant ? "/" : "", variant ? variant : "");
          goto out;
        }
      cleanup_free char *want = xstrdup (pick->digest);
      pier_index_free (idx);
      free (raw);
      free (mt);
      free (digest);
      raw = mt = digest = NULL;
      if (fetch_manifest (p, want, &raw, &len, &mt, &digest, err) < 0)
        goto out;
      if (!pier_media_type_is_manifest (mt))
        {
          pier_error_makex (err, EPROTO, "manifest %s is a %s, not an image manifest", want, mt);
          goto out;
        }
    }
  if (pier_manifest_parse (raw, len, mt, &m, err) < 0)
    goto out;
  if (fetch_config (p, &m->config, &cbuf, &clen, err) < 0
      || pier_image_config_parse (cbuf, clen, &cfg, err) < 0)
    goto out;
  if (p->o && p->o->platform && (strcmp (cfg->os, os) != 0 || strcmp (cfg->architecture, arch) != 0))
    {
      cleanup_free char *fam = pier_ref_familiar (p->ref);
      pier_error_makex (err, EINVAL,
                        "image with reference %s was found but does not match the specified platform: wanted "
                        "%s/%s, actual: %s/%s",
                        fam, os, arch, cfg->os, cfg->architecture);
      goto out;
    }
  if (cfg->n_diff_ids != m->n_layers)
    {
      pier_error_makex (err, EINVAL, "the image has %zu layers but its config lists %zu diff ids",
                        m->n_layers, cfg->n_diff_ids);
      goto out;
    }
  if (m->n_layers && pier_image_chain_ids (cfg->diff_ids, cfg->n_diff_ids, &chain_ids, err) < 0)
    goto out;
  u = pier_layer_unpacker_new (p->st, m->n_layers, err);
  if (u == NULL)
    goto out;
  if (pier_db_list_images (pier_store_db (p->st), &all, &n_all, err) < 0)
    goto out;
  need = xcalloc (m->n_layers + 1, sizeof *need);
  p->completed = xcalloc (m->n_layers + 1, sizeof *p->completed);
  mts = xcalloc (m->n_layers + 1, sizeof *mts);
  for (size_t k = 0; k < m->n_layers; k++)
    {
      const pier_descriptor *d = &m->layers[k];
      mts[k] = d->media_type;
      if (d->foreign)
        {
          pier_error_makex (err, ENOTSUP, "layer %s is a foreign layer (pier does not fetch urls)",
                            d->digest);
          goto out;
        }
      if (layer_here (p->st, all, n_all, d->digest, chain_ids[k]))
        {
          pier_layer_unpacker_have (u, k, d->digest, chain_ids[k]);
          emit (p, d->digest, "Already exists", 0, 0);
          continue;
        }
      int have = pier_blob_exists (p->st, d->digest, err);
      if (have < 0)
        goto out;
      if (have)
        {
          emit (p, d->digest, "Extracting", 0, 0);
          pier_layer_unpacker_start (u, k, d->digest);
          continue;
        }
      need[k] = true;
      emit (p, d->digest, "Pulling fs layer", 0, 0);
    }
  {
    size_t max = (size_t) reg_conf_concurrency (p->o, "max-concurrent-downloads"), started = 0;
    for (size_t k = 0; k < m->n_layers; k++)
      if (need[k] && started++ >= max)
        emit (p, m->layers[k].digest, "Waiting", 0, 0);
  }
  if (download_layers (p, m, need, u, err) < 0)
    goto out;
  layers = xcalloc (m->n_layers + 1, sizeof *layers);
  if (pier_layer_unpacker_finish (u, cfg, mts, layers, &p->chains, err) < 0)
    goto out;
  for (size_t k = 0; k < m->n_layers; k++)
    if (need[k] && !p->completed[k])
      emit (p, m->layers[k].digest, "Pull complete", 0, 0);
  {
    int had = pier_blob_exists (p->st, digest, err);
    if (had < 0 || pier_blob_put (p->st, raw, len, digest, NULL, err) < 0)
      goto out;
    wrote (p, digest, had == 1);
  }
  {
    cleanup_free char *name = pier_ref_name (p->ref);
    if (p->ref->digest == NULL)
      {
        full = xasprintf ("%s:%s", name, p->ref->tag);
        strv_push (&refs, full);
      }
    else
      full = xasprintf ("%s@%s", name, p->ref->digest);
    cleanup_free char *dref = xasprintf ("%s@%s", name, repo_digest);
    strv_push (&refs, dref);
  }
  /* Up to date: the name already pointed at this very image. */
  bool same = false;
  {
    cleanup_free char *before = NULL;
    if (pier_db_resolve_reference (pier_store_db (p->st), full, &before, NULL) == 0)
      same = strcmp (before, m->config.digest) == 0;
  }
  if (pier_image_record (p->st, m->config.digest, digest, mt, layers, m->n_layers, refs, NULL, err) < 0)
    goto out;
  res->id = xstrdup (m->config.digest);
  res->digest = steal_pointer (&repo_digest);
  res->reference = steal_pointer (&full);
  res->updated = !same;
  rc = 0;
out:
  pier_layer_unpacker_free (u);
  if (layers)
    pier_image_layers_free (layers, m ? m->n_layers : 0);
  pier_db_images_free (all, n_all);
  free (need);
  free (p->completed);
  p->completed = NULL;
  free (mts);
  pier_image_config_free (cfg);
  pier_manifest_free (m);
  return rc;
}

int
pier_registry_pull (pier_store *st, const char *name, const pier_registry_opts *o, pier_pull_result *res,
                    pier_error **err)
{
  cleanup_ref pier_ref *ref = NULL;
  if (pier_curl_dl_open (err) < 0)
    return -1;
  if (pier_ref_parse (name, &ref, err) < 0)
    return -1;
  cleanup_free char *scope = xasprintf ("repository:%s:pull", ref->path);
  cleanup_json json_t *conf = NULL;
  if (reg_conf_load (o, &conf, err) < 0)
    return -1;
  cleanup_strv char **mirrors = reg_conf_mirrors (conf, ref->domain);
  struct pull p = { st, o, NULL, ref, NULL, NULL, NULL };
  int rc = -1;
  /* The mirrors first, in order; then the registry itself.  A mirror's
   * failure only means the next one is tried. */
  for (size_t k = 0; k <= strv_len (mirrors) && rc < 0; k++)
    {
      bool mirror = k < strv_len (mirrors);
      pier_error *e = NULL;
      p.c = mirror ? reg_client_for_mirror (mirrors[k], o, scope)
                   : reg_client_for (ref->domain, o, conf, NULL, NULL, scope);
      rc = reg_client_ping (p.c, false, &e);
      if (rc == 0)
        rc = pull_image (&p, res, &e);
      reg_client_free (p.c);
      p.c = NULL;
      if (rc < 0 && mirror)
        pier_error_free (&e);
      else if (rc < 0)
        *err = e;
    }
  if (rc < 0)
    pier_image_drop_unused (st, (const char *const *) p.chains, strv_len (p.chains),
                            (const char *const *) p.blobs, strv_len (p.blobs));
  else
    /* What this pull wrote that the image does not use (a blob another
     * pull recorded first) goes. */
    pier_image_drop_unreferenced (st, (const char *const *) p.blobs, strv_len (p.blobs));
  strv_free (p.blobs);
  strv_free (p.chains);
  return rc;
}

int
pier_registry_list_tags (const char *name, const pier_registry_opts *o, char ***tags, pier_error **err)
{
  cleanup_ref pier_ref *ref = NULL;
  if (pier_curl_dl_open (err) < 0)
    return -1;
  if (pier_ref_parse (name, &ref, err) < 0)
    return -1;
  cleanup_free char *scope = xasprintf ("repository:%s:pull", ref->path);
  cleanup_json json_t *conf = NULL;
  if (reg_conf_load (o, &conf, err) < 0)
    return -1;
  reg_client *c = reg_client_for (ref->domain, o, conf, NULL, NULL, scope);
  cleanup_free char *path = xasprintf ("/v2/%s/tags/list", ref->path);
  reg_resp r = { .max_body = 16u << 20 };
  int rc = reg_client_do (c, "GET", path, NULL, NULL, &r, err);
  reg_client_free (c);
  if (rc < 0)
    return -1;
  if (r.status != 200)
    {
      cleanup_free char *t = reg_error_text (&r);
      cleanup_free char *fam = pier_ref_familiar_name (ref);
      reg_resp_clear (&r);
      return pier_error_makex (err, r.status == 404 ? ENOENT : EPROTO, "tags of %s: %s", fam, t);
    }
  json_t *j = json_loadb (r.body ? r.body : "", r.len, 0, NULL);
  reg_resp_clear (&r);
  json_t *arr = json_object_get (j, "tags");
  size_t i;
  json_t *v;
  char **out = xcalloc (1, sizeof (char *));
  json_array_foreach (arr, i, v) if (json_is_string (v)) strv_push (&out, json_string_value (v));
  json_decref (j);
  *tags = out;
  return 0;
}
