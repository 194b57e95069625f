#include "image/images.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>

#include "archive/extract.h"
#include "image/manifest.h"
#include "image/reference.h"
#include "store/blobs.h"
#include "store/db.h"
#include "util/cleanup.h"
#include "util/digest.h"
#include "util/fs.h"
#include "util/json.h"
#include "util/timestamp.h"
#include "util/xalloc.h"
#include "util/banned.h"

#ifndef RENAME_NOREPLACE
#define RENAME_NOREPLACE (1 << 0)
#endif

const char *
pier_image_go_arch (void)
{
  static struct utsname u;
  if (uname (&u) < 0)
    return "amd64";
  if (strcmp (u.machine, "x86_64") == 0)
    return "amd64";
  if (strcmp (u.machine, "aarch64") == 0)
    return "arm64";
  if (strncmp (u.machine, "armv7", 5) == 0)
    return "arm";
  if (strcmp (u.machine, "i686") == 0 || strcmp (u.machine, "i386") == 0)
    return "386";
  return u.machine;
}

int
pier_image_read_json (pier_store *st, const char *digest, json_t **out, pier_error **err)
{
  cleanup_close int fd = pier_blob_open (st, digest, err);
  if (fd < 0)
    return -1;
  cleanup_free char *buf = NULL;
  size_t len = 0;
  if (pier_read_fd (fd, digest, &buf, &len, err) < 0)
    return -1;
  return pier_json_load_buf (buf, len, digest, out, err);
}

int
pier_image_resolve (pier_store *st, const char *name, char **id, pier_error **err)
{
  pier_db *db = pier_store_db (st);
  pier_error *e = NULL;
  cleanup_ref pier_ref *ref = NULL;

  if (strncmp (name, "sha256:", 7) == 0 && pier_digest_valid (name))
    {
      pier_db_image *img = NULL;
      if (pier_db_get_image (db, name, &img, NULL) == 0)
        {
          pier_db_image_free (img);
          *id = xstrdup (name);
          return 0;
        }
    }
  if (pier_ref_parse (name, &ref, &e) == 0)
    {
      cleanup_free char *full = pier_ref_string (ref);
      if (pier_db_resolve_reference (db, full, id, NULL) == 0)
        return 0;
    }
  pier_error_free (&e);
  if (pier_ref_is_id_prefix (name))
    {
      int r = pier_db_resolve_id_prefix (db, name, id, &e);
      if (r == 0)
        return 0;
      if (e && e->code != ENOENT)
        {
          *err = e;
          return -1;
        }
      pier_error_free (&e);
    }
  return pier_error_makex (err, ENOENT, "No such image: %s", name);
}

/* ---- --change ---------------------------------------------------------- */

/* JSON array form (["a", "b"]) or shell form (wrapped in /bin/sh -c). */
static json_t *
exec_form (const char *arg, pier_error **err)
{
  while (*arg == ' ' || *arg == '\t')
    arg++;
  if (*arg == '[')
    {
      json_error_t je;
      json_t *a = json_loads (arg, JSON_DECODE_ANY, &je);
      size_t i;
      json_t *v;
      if (a == NULL || !json_is_array (a))
        {
          json_decref (a);
          pier_error_makex (err, EINVAL, "`%s` is not a JSON array of strings", arg);
          return NULL;
        }
      json_array_foreach (a, i, v) if (!json_is_string (v))
      {
        json_decref (a);
        pier_error_makex (err, EINVAL, "`%s` is not a JSON array of strings", arg);
        return NULL;
      }
      return a;
    }
  return json_pack ("[s, s, s]", "/bin/sh", "-c", arg);
}

/* "k=v k2=v2" or the old "k v" form into obj. */
static int
key_values (json_t *obj, const char *arg, const char *what, pier_error **err)
{
  if (strchr (arg, '=') == NULL)
    {
      const char *sp = strpbrk (arg, " \t");
      if (sp == NULL)
        return pier_error_makex (err, EINVAL, "%s `%s` needs a value", what, arg);
      cleanup_free char *k = xstrndup (arg, (size_t) (sp - arg));
      while (*sp == ' ' || *sp == '\t')
        sp++;
      json_object_set_new (obj, k, json_string (sp));
      return 0;
    }
  cleanup_free char *copy = xstrdup (arg);
  char *p = copy;
  while (*p)
    {
      while (*p == ' ' || *p == '\t')
        p++;
      if (*p == '\0')
        break;
      char *eq = strchr (p, '=');
      if (eq == NULL)
        return pier_error_makex (err, EINVAL, "%s: `%s` is not KEY=VALUE", what, p);
      *eq = '\0';
      char *v = eq + 1, *out = v, *end;
      char quote = 0;
      for (end = v; *end && (quote || (*end != ' ' && *end != '\t')); end++)
        {
          if (!quote && (*end == '"' || *end == '\''))
            quote = *end;
          else if (quote && *end == quote)
            quote = 0;
          else if (*end == '\\' && end[1] && quote != '\'')
            *out++ = *++end;
          else
            *out++ = *end;
        }
      char next = *end;
      *out = '\0';
      json_object_set_new (obj, p, json_string (v));
      p = next ? end + 1 : end;
    }
  return 0;
}

int
pier_image_apply_change (json_t *config, const char *change, pier_error **err)
{
  const char *sp = strpbrk (change, " \t");
  if (sp == NULL)
    return pier_error_makex (err, EINVAL, "--change `%s`: an instruction needs an argument", change);
  cleanup_free char *ins = xstrndup (change, (size_t) (sp - change));
  const char *arg = sp;
  while (*arg == ' ' || *arg == '\t')
    arg++;
  for (char *c = ins; *c; c++)
    if (*c >= 'a' && *c <= 'z')
      *c = (char) (*c - 'a' + 'A');

  if (strcmp (ins, "CMD") == 0 || strcmp (ins, "ENTRYPOINT") == 0)
    {
      json_t *v = exec_form (arg, err);
      if (v == NULL)
        return pier_error_wrap (err, "--change %s", ins);
      json_object_set_new (config, strcmp (ins, "CMD") == 0 ? "Cmd" : "Entrypoint", v);
      return 0;
    }
  if (strcmp (ins, "ENV") == 0)
    {
      json_t *env = json_object_get (config, "Env");
      cleanup_json json_t *kv = json_object ();
      const char *k;
      json_t *v;
      if (key_values (kv, arg, "--change ENV", err) < 0)
        return -1;
      if (!json_is_array (env))
        {
          env = json_array ();
          json_object_set_new (config, "Env", env);
        }
      json_object_foreach (kv, k, v)
      {
        size_t i, kl = strlen (k);
        json_t *e;
        cleanup_free char *entry = xasprintf ("%s=%s", k, json_string_value (v));
        bool replaced = false;
        json_array_foreach (env, i, e)
        {
          const char *s = json_string_value (e);
          if (s && strncmp (s, k, kl) == 0 && s[kl] == '=')
            {
              json_array_set_new (env, i, json_string (entry));
              replaced = true;
            }
        }
        if (!replaced)
          json_array_append_new (env, json_string (entry));
      }
      return 0;
    }
  if (strcmp (ins, "LABEL") == 0)
    {
      json_t *labels = json_object_get (config, "Labels");
      if (!json_is_object (labels))
        {
          labels = json_object ();
          json_object_set_new (config, "Labels", labels);
        }
      return key_values (labels, arg, "--change LABEL", err);
    }
  if (strcmp (ins, "EXPOSE") == 0 || strcmp (ins, "VOLUME") == 0)
    {
      bool expose = ins[0] == 'E';
      const char *key = expose ? "ExposedPorts" : "Volumes";
      json_t *set = json_object_get (config, key);
      cleanup_json json_t *list = NULL;
      if (!expose && *arg == '[')
        {
          list = exec_form (arg, err);
          if (list == NULL)
            return pier_error_wrap (err, "--change VOLUME");
        }
      if (!json_is_object (set))
        {
          set = json_object ();
          json_object_set_new (config, key, set);
        }
      if (list)
        {
          size_t i;
          json_t *v;
          json_array_foreach (list, i, v) json_object_set_new (set, json_string_value (v), json_object ());
          return 0;
        }
      cleanup_free char *copy = xstrdup (arg);
      char *save = NULL;
      for (char *w = strtok_r (copy, " \t", &save); w; w = strtok_r (NULL, " \t", &save))
        {
          if (expose)
            {
              char *end;
              long port = strtol (w, &end, 10);
              if (end == w || port < 1 || port > 65535
                  || (*end && strcmp (end, "/tcp") && strcmp (end, "/udp") && strcmp (end, "/sctp")))
                return pier_error_makex (err, EINVAL, "--change EXPOSE: invalid port `%s`", w);
              cleanup_free char *k = *end ? xstrdup (w) : xasprintf ("%ld/tcp", port);
              json_object_set_new (set, k, json_object ());
            }
          else
            json_object_set_new (set, w, json_object ());
        }
      return 0;
    }
  if (strcmp (ins, "USER") == 0 || strcmp (ins, "WORKDIR") == 0 || strcmp (ins, "STOPSIGNAL") == 0)
    {
      const char *key = ins[0] == 'U' ? "User" : ins[0] == 'W' ? "WorkingDir" : "StopSignal";
      if (ins[0] == 'W' && arg[0] != '/')
        return pier_error_makex (err, EINVAL, "--change WORKDIR `%s` must be an absolute path", arg);
      json_object_set_new (config, key, json_string (arg));
      return 0;
    }
  return pier_error_makex (err, EINVAL,
                           "--change: `%s` is not an instruction import accepts "
                           "(CMD, ENTRYPOINT, ENV, EXPOSE, LABEL, STOPSIGNAL, USER, VOLUME, WORKDIR)",
                           ins);
}

/* ---- import ------------------------------------------------------------ */

const char *
pier_image_layer_media_type (pier_compression c)
{
  return c == PIER_COMPRESSION_GZIP   ? PIER_MT_OCI_LAYER_GZIP
         : c == PIER_COMPRESSION_ZSTD ? PIER_MT_OCI_LAYER_ZSTD
                                      : PIER_MT_OCI_LAYER;
}

int
pier_image_place_layer (pier_store *st, int layers, const char *tmp, const char *diff_id, const char *parent,
                        int64_t size, char **chain_out, pier_error **err)
{
  pier_db *db = pier_store_db (st);
  cleanup_free char *chain = NULL;
  /* ChainID(L0) = DiffID(L0); ChainID(Ln) = sha256(ChainID(Ln-1) + " " + DiffID(Ln)) */
  if (parent)
    {
      char hex[PIER_SHA256_HEX_LEN + 1];
      cleanup_free char *text = xasprintf ("%s %s", parent, diff_id);
      pier_sha256_hex (text, strlen (text), hex);
      chain = xasprintf ("sha256:%s", hex);
    }
  else
    chain = xstrdup (diff_id);
  if (pier_db_layer_add (db, chain, diff_id, parent, err) < 0)
    {
      pier_rmtree_at (layers, tmp, NULL);
      return -1;
    }
  if (renameat2 (layers, tmp, layers, chain + 7, RENAME_NOREPLACE) < 0)
    {
      int e = errno;
      pier_rmtree_at (layers, tmp, NULL);
      if (e != EEXIST && e != ENOTEMPTY)
        return pier_error_make (err, e, "cannot move layer %s into place", chain);
      /* Unpacked before: that copy stays. */
    }
  fsync (layers);
  if (pier_db_layer_set_state (db, chain, PIER_LAYER_COMPLETE, size, err) < 0)
    return -1;
  if (chain_out)
    *chain_out = steal_pointer (&chain);
  return 0;
}

int
pier_image_unpack_layer (pier_store *st, const char *blob, const char *parent, bool sync, char **chain_out,
                         pier_extract_result *res, pier_error **err)
{
  cleanup_close int layers = openat (pier_store_root_fd (st), "layers", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  cleanup_close int fd = pier_blob_open (st, blob, err);
  cleanup_free char *tmp = pier_store_tmp_name (st);
  if (fd < 0)
    return -1;
  if (layers < 0)
    return pier_error_make (err, errno, "cannot open %s/layers", pier_store_root (st));
  pier_extract_opts eo = { .sync = sync };
  if (pier_layer_extract_into_new (layers, tmp, fd, &eo, res, err) < 0)
    return pier_error_wrap (err, "layer %s", blob);
  return pier_image_place_layer (st, layers, tmp, res->diff_id, parent, (int64_t) res->unpacked_size,
                                 chain_out, err);
}

static bool used_elsewhere (pier_db_image *all, size_t n, const char *except, const char *chain,
                            const char *blob);

static void drop_unreferenced (pier_store *st, const char *const *digests, size_t n);

void
pier_image_drop_unreferenced (pier_store *st, const char *const *digests, size_t n)
{
  drop_unreferenced (st, digests, n);
}

void
pier_image_drop_unused (pier_store *st, const char *const *chains, size_t n_chains, const char *const *blobs,
                        size_t n_blobs)
{
  pier_db_image *all = NULL;
  size_t n_all = 0;
  pier_db *db = pier_store_db (st);
  if (pier_db_list_images (db, &all, &n_all, NULL) == 0)
    {
      cleanup_close int layers
          = openat (pier_store_root_fd (st), "layers", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
      /* Top layers first: a layer below is still a parent until then. */
      for (size_t k = n_chains; k > 0; k--)
        if (chains[k - 1] && !used_elsewhere (all, n_all, "", chains[k - 1], NULL)
            && pier_db_layer_delete (db, chains[k - 1], NULL) == 0 && layers >= 0)
          pier_rmtree_at (layers, chains[k - 1] + 7, NULL);
      pier_db_images_free (all, n_all);
    }
  drop_unreferenced (st, blobs, n_blobs);
}

/* After a failed import: the blobs it wrote go again, unless an image
 * already in the store uses them (the same tarball imported before). */
static void
drop_unreferenced (pier_store *st, const char *const *digests, size_t n)
{
  pier_db_image *all = NULL;
  size_t n_all = 0;
  if (pier_db_list_images (pier_store_db (st), &all, &n_all, NULL) < 0)
    return;
  for (size_t i = 0; i < n; i++)
    if (digests[i] && !used_elsewhere (all, n_all, "", NULL, digests[i]))
      pier_blob_delete (st, digests[i], NULL);
  pier_db_images_free (all, n_all);
}

static int
put_json (pier_store *st, json_t *j, char **digest, size_t *size, pier_error **err)
{
  cleanup_free char *text = json_dumps (j, JSON_COMPACT);
  *size = strlen (text);
  return pier_blob_put (st, text, *size, NULL, digest, err);
}

int
pier_image_import (pier_store *st, int fd, const pier_import_opts *o, char **out_id, pier_error **err)
{
  cleanup_ref pier_ref *ref = NULL;
  cleanup_free char *blob = NULL;
  cleanup_free char *config_digest = NULL;
  cleanup_free char *manifest_digest = NULL;
  cleanup_json json_t *config = NULL;
  cleanup_json json_t *manifest = NULL;
  cleanup_free char *created_by = NULL;
  pier_extract_result res = { 0 };
  size_t config_size = 0, manifest_size = 0;
  char created[64];
  struct timespec now;

  if (o->reference && pier_ref_parse (o->reference, &ref, err) < 0)
    return -1;
  if (ref && ref->digest)
    return pier_error_makex (err, EINVAL, "cannot import as `%s`: a tag may not hold a digest", o->reference);

  /* A bad --change is refused before any work. */
  {
    cleanup_json json_t *probe = json_object ();
    for (size_t i = 0; o->changes && o->changes[i]; i++)
      if (pier_image_apply_change (probe, o->changes[i], err) < 0)
        return -1;
  }

  /* 1. the tarball, as it came, is the layer blob */
  pier_blob_writer *w = pier_blob_begin (st, err);
  if (w == NULL)
    return -1;
  if (pier_blob_write_fd (w, fd, "the tarball", err) < 0)
    {
      pier_blob_abort (w);
      return -1;
    }
  if (pier_blob_written (w) == 0)
    {
      pier_blob_abort (w);
      return pier_error_makex (err, EINVAL, "the tarball is empty");
    }
  if (pier_blob_commit (w, NULL, &blob, err) < 0)
    return -1;

  /* 2. unpack it once, securely; this also gives its diff id */
  if (pier_image_unpack_layer (st, blob, NULL, true, NULL, &res, err) < 0)
    {
      drop_unreferenced (st, (const char *[]){ blob }, 1);
      return pier_error_wrap (err, "import");
    }

  /* 3. config */
  clock_gettime (CLOCK_REALTIME, &now);
  pier_time_format_rfc3339 (&now, created, sizeof created);
  json_t *cfg = json_object ();
  for (size_t i = 0; o->changes && o->changes[i]; i++)
    if (pier_image_apply_change (cfg, o->changes[i], err) < 0)
      {
        json_decref (cfg);
        goto drop;
      }
  created_by = xasprintf ("pier import %s", o->source ? o->source : "-");
  json_t *hist = json_pack ("{s:s, s:s}", "created", created, "created_by", created_by);
  if (o->message && *o->message)
    json_object_set_new (hist, "comment", json_string (o->message));
  config = json_pack ("{s:s, s:s, s:s, s:o, s:{s:s, s:[s]}, s:[o]}", "architecture", pier_image_go_arch (),
                      "os", "linux", "created", created, "config", cfg, "rootfs", "type", "layers",
                      "diff_ids", res.diff_id, "history", hist);
  if (put_json (st, config, &config_digest, &config_size, err) < 0)
    goto drop;

  /* 4. manifest */
  manifest = json_pack ("{s:i, s:s, s:{s:s, s:s, s:I}, s:[{s:s, s:s, s:I}]}", "schemaVersion", 2, "mediaType",
                        PIER_MT_OCI_MANIFEST, "config", "mediaType", PIER_MT_OCI_CONFIG, "digest",
                        config_digest, "size", (json_int_t) config_size, "layers", "mediaType",
                        pier_image_layer_media_type (res.compression), "digest", blob, "size",
                        (json_int_t) res.blob_size);
  if (put_json (st, manifest, &manifest_digest, &manifest_size, err) < 0)
    goto drop;

  /* 5. record it, and the tag */
  pier_db_image_layer layer
      = { res.diff_id, res.diff_id, blob, (char *) pier_image_layer_media_type (res.compression),
          (int64_t) res.blob_size };
  pier_db_image img = { config_digest,
                        now.tv_sec,
                        (int64_t) res.unpacked_size,
                        config_digest,
                        manifest_digest,
                        (char *) PIER_MT_OCI_MANIFEST,
                        &layer,
                        1,
                        NULL };
  pier_db *db = pier_store_db (st);
  if (pier_db_begin (db, err) < 0)
    goto drop;
  if (pier_db_put_image (db, &img, err) < 0)
    goto rollback;
  if (ref)
    {
      cleanup_free char *full = pier_ref_string (ref);
      if (pier_db_tag (db, full, config_digest, err) < 0)
        goto rollback;
    }
  if (pier_db_commit (db, err) < 0)
    goto rollback;
  *out_id = steal_pointer (&config_digest);
  return 0;
rollback:
  pier_db_rollback (db, NULL);
drop:
  pier_image_drop_unused (st, (const char *[]){ res.diff_id[0] ? res.diff_id : NULL }, 1,
                          (const char *[]){ blob, config_digest, manifest_digest }, 3);
  return -1;
}

/* ---- inspect ----------------------------------------------------------- */

int
pier_image_inspect (pier_store *st, const char *id, json_t **out, pier_error **err)
{
  pier_db *db = pier_store_db (st);
  pier_db_image *img = NULL;
  cleanup_json json_t *config = NULL;
  if (pier_db_get_image (db, id, &img, err) < 0)
    return -1;
  if (pier_image_read_json (st, img->config_digest, &config, err) < 0)
    {
      pier_db_image_free (img);
      return -1;
    }
  json_t *tags = json_array (), *digests = json_array ();
  for (size_t i = 0; img->tags && img->tags[i]; i++)
    {
      cleanup_ref pier_ref *r = NULL;
      if (pier_ref_parse (img->tags[i], &r, NULL) == 0)
        {
          /* name@digest references are where the image is in registries. */
          cleanup_free char *fam = pier_ref_familiar (r);
          json_array_append_new (r->digest ? digests : tags, json_string (fam));
        }
    }
  json_t *layers = json_array ();
  json_t *diff_ids = json_object_get (json_object_get (config, "rootfs"), "diff_ids");
  size_t i;
  json_t *v;
  json_array_foreach (diff_ids, i, v) json_array_append (layers, v);
  json_t *history = json_object_get (config, "history");
  const char *comment = json_string_value (json_object_get (json_array_get (history, 0), "comment"));
  json_t *cfg = json_object_get (config, "config");
  json_t *j = json_pack (
      "{s:s, s:o, s:o, s:s, s:s, s:s, s:s, s:s, s:O, s:s, s:s, s:I, s:{s:s, s:o}, s:{s:s}}", "Id", img->id,
      "RepoTags", tags, "RepoDigests", digests, "Parent", "", "Comment", comment ? comment : "", "Created",
      json_string_value (json_object_get (config, "created"))
          ? json_string_value (json_object_get (config, "created"))
          : "",
      "DockerVersion", "", "Author",
      json_string_value (json_object_get (config, "author"))
          ? json_string_value (json_object_get (config, "author"))
          : "",
      "Config", cfg ? cfg : json_null (), "Architecture",
      json_string_value (json_object_get (config, "architecture"))
          ? json_string_value (json_object_get (config, "architecture"))
          : "",
      "Os",
      json_string_value (json_object_get (config, "os")) ? json_string_value (json_object_get (config, "os"))
                                                         : "",
      "Size", (json_int_t) img->size, "RootFS", "Type", "layers", "Layers", layers, "Metadata", "LastTagTime",
      "");
  pier_db_image_free (img);
  if (j == NULL)
    return pier_error_makex (err, EIO, "image %s: cannot build its description", id);
  *out = j;
  return 0;
}

/* ---- history ----------------------------------------------------------- */

static int64_t
parse_time (const char *s)
{
  struct tm tm = { 0 };
  if (s == NULL || strptime (s, "%Y-%m-%dT%H:%M:%S", &tm) == NULL)
    return 0;
  return (int64_t) timegm (&tm);
}

int
pier_image_history (pier_store *st, const char *id, json_t **out, pier_error **err)
{
  pier_db *db = pier_store_db (st);
  cleanup_json json_t *config = NULL;
  pier_db_image *img = NULL;
  cleanup_strv char **diffs = NULL;
  cleanup_strv char **chains = NULL;
  if (pier_db_get_image (db, id, &img, err) < 0)
    return -1;
  int rc = pier_image_read_json (st, img->config_digest, &config, err);
  pier_db_image_free (img);
  if (rc < 0)
    return -1;
  json_t *diff_ids = json_object_get (json_object_get (config, "rootfs"), "diff_ids");
  size_t i;
  json_t *v;
  json_array_foreach (diff_ids, i, v) strv_push (&diffs, json_string_value (v));
  if (diffs && pier_image_chain_ids (diffs, strv_len (diffs), &chains, err) < 0)
    return -1;
  json_t *rows = json_array ();
  json_t *history = json_object_get (config, "history");
  size_t layer = 0;
  json_array_foreach (history, i, v)
  {
    int64_t size = 0;
    if (!json_is_true (json_object_get (v, "empty_layer")) && chains && layer < strv_len (chains))
      {
        pier_db_layer l = { 0 };
        if (pier_db_layer_get (db, chains[layer], &l, NULL) == 0)
          size = l.size;
        pier_db_layer_clear (&l);
        layer++;
      }
    const char *by = json_string_value (json_object_get (v, "created_by"));
    const char *comment = json_string_value (json_object_get (v, "comment"));
    json_array_insert_new (
        rows, 0,
        json_pack ("{s:s, s:I, s:s, s:I, s:s}", "Id", "<missing>", "Created",
                   (json_int_t) parse_time (json_string_value (json_object_get (v, "created"))), "CreatedBy",
                   by ? by : "", "Size", (json_int_t) size, "Comment", comment ? comment : ""));
  }
  if (json_array_size (rows))
    json_object_set_new (json_array_get (rows, 0), "Id", json_string (id));
  *out = rows;
  return 0;
}

/* ---- tag, remove ------------------------------------------------------- */

int
pier_image_tag (pier_store *st, const char *source, const char *target, pier_error **err)
{
  cleanup_free char *id = NULL;
  cleanup_ref pier_ref *ref = NULL;
  if (pier_image_resolve (st, source, &id, err) < 0)
    return -1;
  if (pier_ref_parse (target, &ref, err) < 0)
    return -1;
  if (ref->digest)
    return pier_error_makex (err, EINVAL, "refusing to create a tag with a digest reference: `%s`", target);
  cleanup_free char *full = pier_ref_string (ref);
  return pier_db_tag (pier_store_db (st), full, id, err);
}

/* True when another image than except uses chain (its unpacked layer) or
 * blob (as config, manifest or layer). */
static bool
used_elsewhere (pier_db_image *all, size_t n, const char *except, const char *chain, const char *blob)
{
  for (size_t i = 0; i < n; i++)
    {
      if (strcmp (all[i].id, except) == 0)
        continue;
      if (blob
          && (strcmp (all[i].config_digest, blob) == 0
              || (all[i].manifest_digest && strcmp (all[i].manifest_digest, blob) == 0)))
        return true;
      for (size_t k = 0; k < all[i].n_layers; k++)
        if ((chain && strcmp (all[i].layers[k].chain_id, chain) == 0)
            || (blob && strcmp (all[i].layers[k].blob_digest, blob) == 0))
          return true;
    }
  return false;
}

int
pier_image_remove (pier_store *st, const char *name, bool force, char ***report, pier_error **err)
{
  /* Before any goto: the cleanup runs at out. */
  char **users = NULL;
  pier_db *db = pier_store_db (st);
  cleanup_free char *id = NULL;
  cleanup_ref pier_ref *ref = NULL;
  pier_db_image *img = NULL, *all = NULL;
  size_t n_all = 0;
  int rc = -1;
  cleanup_free char *full = NULL;
  cleanup_close int layers = -1;

  if (pier_image_resolve (st, name, &id, err) < 0)
    return -1;
  if (pier_store_lock_exclusive (st, true, err) < 0)
    return -1;
  if (pier_db_get_image (db, id, &img, err) < 0)
    goto out;
  /* name@digest references (RepoDigests) do not count as tags. */
  size_t ntags = 0;
  for (size_t i = 0; img->tags && img->tags[i]; i++)
    ntags += strchr (img->tags[i], '@') == NULL;
  bool by_tag = false;
  if (pier_ref_parse (name, &ref, NULL) == 0)
    {
      full = pier_ref_string (ref);
      for (size_t i = 0; img->tags && img->tags[i]; i++)
        by_tag |= strcmp (img->tags[i], full) == 0;
    }
  if (by_tag)
    {
      /* As moby: this name goes; a tag that was its repository's last
       * takes the repository's digest references with it; the image
       * goes only when no name is left. */
      cleanup_free char *repo = pier_ref_name (ref);
      size_t rl = strlen (repo);
      cleanup_strv char **drop = NULL;
      size_t left = 0;
      bool repo_tagged = false;
      strv_push (&drop, full);
      for (size_t i = 0; img->tags && img->tags[i]; i++)
        if (strcmp (img->tags[i], full) != 0 && strncmp (img->tags[i], repo, rl) == 0
            && img->tags[i][rl] == ':')
          repo_tagged = true;
      for (size_t i = 0; img->tags && img->tags[i]; i++)
        {
          if (strcmp (img->tags[i], full) == 0)
            continue;
          if (ref->digest == NULL && !repo_tagged && strncmp (img->tags[i], repo, rl) == 0
              && img->tags[i][rl] == '@')
            strv_push (&drop, img->tags[i]);
          else
            left++;
        }
      if (left > 0)
        {
          for (size_t i = 0; drop[i]; i++)
            {
              cleanup_ref pier_ref *t = NULL;
              if (pier_db_untag (db, drop[i], err) < 0)
                goto out;
              if (pier_ref_parse (drop[i], &t, NULL) == 0)
                {
                  cleanup_free char *fam = pier_ref_familiar (t);
                  char *line = xasprintf ("Untagged: %s", fam);
                  strv_push (report, line);
                  free (line);
                }
            }
          rc = 0;
          goto out;
        }
    }
  /* A container's image stays while the container does: without -f it
   * is refused, with -f only its names go (it shows as <none>). */
  if (pier_db_containers_of_image (db, id, &users, err) < 0)
    goto out;
  if (users[0] && !force)
    {
      if (by_tag)
        pier_error_makex (
            err, EBUSY,
            "conflict: unable to remove repository reference \"%s\" (must force) - container %.12s "
            "is using its referenced image %.12s",
            name, users[0], id + 7);
      else
        pier_error_makex (
            err, EBUSY,
            "conflict: unable to delete %.12s (must be forced) - image is being used by container "
            "%.12s",
            id + 7, users[0]);
      goto out;
    }
  if (users[0])
    {
      for (size_t i = 0; img->tags && img->tags[i]; i++)
        {
          cleanup_ref pier_ref *t = NULL;
          if (pier_db_untag (db, img->tags[i], err) < 0)
            goto out;
          if (pier_ref_parse (img->tags[i], &t, NULL) == 0)
            {
              cleanup_free char *fam = pier_ref_familiar (t);
              char *line = xasprintf ("Untagged: %s", fam);
              strv_push (report, line);
              free (line);
            }
        }
      rc = 0;
      goto out;
    }
  if (!by_tag && ntags > 1 && !force)
    {
      pier_error_makex (err, EBUSY,
                        "conflict: unable to delete %.12s (must be forced) - image is referenced in multiple "
                        "repositories",
                        id + 7);
      goto out;
    }
  if (pier_db_list_images (db, &all, &n_all, err) < 0)
    goto out;
  for (size_t i = 0; img->tags && img->tags[i]; i++)
    {
      cleanup_ref pier_ref *t = NULL;
      if (pier_ref_parse (img->tags[i], &t, NULL) == 0)
        {
          cleanup_free char *fam = pier_ref_familiar (t);
          char *line = xasprintf ("Untagged: %s", fam);
          strv_push (report, line);
          free (line);
        }
    }
  /* The record goes first: from then on nothing refers to the blobs and
   * layers below, and a crash leaves only orphans (which a check can
   * collect), never an image with missing parts. */
  if (pier_db_delete_image (db, id, err) < 0)
    goto out;
  layers = openat (pier_store_root_fd (st), "layers", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  /* Top layer first: a layer is a parent until the one above it goes;
   * a directory goes only once its record did. */
  for (size_t k = img->n_layers; k-- > 0;)
    {
      const pier_db_image_layer *l = &img->layers[k];
      if (!used_elsewhere (all, n_all, id, l->chain_id, NULL)
          && pier_db_layer_delete (db, l->chain_id, NULL) == 0 && layers >= 0)
        pier_rmtree_at (layers, l->chain_id + 7, NULL);
      if (!used_elsewhere (all, n_all, id, NULL, l->blob_digest))
        pier_blob_delete (st, l->blob_digest, NULL);
    }
  if (!used_elsewhere (all, n_all, id, NULL, img->config_digest))
    pier_blob_delete (st, img->config_digest, NULL);
  if (img->manifest_digest && !used_elsewhere (all, n_all, id, NULL, img->manifest_digest))
    pier_blob_delete (st, img->manifest_digest, NULL);
  char *line = xasprintf ("Deleted: %s", id);
  strv_push (report, line);
  free (line);
  rc = 0;
out:
  strv_free (users);
  pier_db_images_free (all, n_all);
  pier_db_image_free (img);
  pier_store_unlock (st, NULL);
  return rc;
}
