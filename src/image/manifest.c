/* manifest.c - strict parsers for image manifests, indexes and configs. */
#include "image/manifest.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "util/cleanup.h"
#include "util/digest.h"
#include "util/json.h"
#include "util/xalloc.h"
#include "util/banned.h"

static const struct
{
  const char *type;
  pier_compression compression;
  bool foreign;
} layer_types[] = {
  { PIER_MT_OCI_LAYER, PIER_COMPRESSION_NONE, false },
  { PIER_MT_OCI_LAYER_GZIP, PIER_COMPRESSION_GZIP, false },
  { PIER_MT_OCI_LAYER_ZSTD, PIER_COMPRESSION_ZSTD, false },
  { PIER_MT_OCI_LAYER_NONDIST, PIER_COMPRESSION_NONE, true },
  { PIER_MT_OCI_LAYER_NONDIST_GZIP, PIER_COMPRESSION_GZIP, true },
  { PIER_MT_OCI_LAYER_NONDIST_ZSTD, PIER_COMPRESSION_ZSTD, true },
  { PIER_MT_DOCKER_LAYER, PIER_COMPRESSION_NONE, false },
  { PIER_MT_DOCKER_LAYER_GZIP, PIER_COMPRESSION_GZIP, false },
  { PIER_MT_DOCKER_LAYER_FOREIGN, PIER_COMPRESSION_NONE, true },
  { PIER_MT_DOCKER_LAYER_FOREIGN_GZIP, PIER_COMPRESSION_GZIP, true },
};

bool
pier_media_type_layer (const char *mt, pier_compression *compression, bool *foreign)
{
  for (size_t i = 0; mt && i < sizeof layer_types / sizeof layer_types[0]; i++)
    if (strcmp (mt, layer_types[i].type) == 0)
      {
        if (compression)
          *compression = layer_types[i].compression;
        if (foreign)
          *foreign = layer_types[i].foreign;
        return true;
      }
  return false;
}

bool
pier_media_type_is_manifest (const char *mt)
{
  return mt && (strcmp (mt, PIER_MT_OCI_MANIFEST) == 0 || strcmp (mt, PIER_MT_DOCKER_MANIFEST) == 0);
}

bool
pier_media_type_is_index (const char *mt)
{
  return mt && (strcmp (mt, PIER_MT_OCI_INDEX) == 0 || strcmp (mt, PIER_MT_DOCKER_MANIFEST_LIST) == 0);
}

bool
pier_media_type_is_config (const char *mt)
{
  return mt && (strcmp (mt, PIER_MT_OCI_CONFIG) == 0 || strcmp (mt, PIER_MT_DOCKER_CONFIG) == 0);
}

/* A present, string-typed member; missing is an error. */
static int
req_str (json_t *obj, const char *key, const char *where, const char **out, pier_error **err)
{
  int r = pier_json_str (obj, key, where, out, err);
  if (r == 0)
    return pier_error_makex (err, EINVAL, "%s.%s is required", where, key);
  return r < 0 ? r : 0;
}

/* An object whose values are all strings (annotations, labels). */
static int
string_map (json_t *obj, const char *key, const char *where, json_t **out, pier_error **err)
{
  json_t *m = NULL, *v;
  const char *k;
  int r = pier_json_obj (obj, key, where, &m, err);
  if (r <= 0)
    return r;
  json_object_foreach (m, k, v)
  {
    if (!json_is_string (v))
      return pier_error_makex (err, EINVAL, "%s.%s[\"%s\"] must be a string", where, key, k);
  }
  *out = m;
  return 1;
}

/* The keys of an object ({"80/tcp": {}}) as a vector. */
static int
object_keys (json_t *obj, const char *key, const char *where, char ***out, pier_error **err)
{
  json_t *m = NULL, *v;
  const char *k;
  int r = pier_json_obj (obj, key, where, &m, err);
  if (r <= 0)
    return r;
  char **vec = xcalloc (json_object_size (m) + 1, sizeof (char *));
  size_t i = 0;
  json_object_foreach (m, k, v) vec[i++] = xstrdup (k);
  *out = vec;
  return 1;
}

static int
digest_field (json_t *obj, const char *key, const char *where, const char **out, pier_error **err)
{
  if (req_str (obj, key, where, out, err) < 0)
    return -1;
  if (!pier_digest_valid (*out))
    return pier_error_makex (err, EINVAL,
                             "%s.%s `%s` is not a sha256 digest (sha256: and 64 lowercase hex digits)", where,
                             key, *out);
  return 0;
}

static void
platform_free (pier_platform *p)
{
  if (p == NULL)
    return;
  strv_free (p->os_features);
  free (p);
}

static void
descriptors_free (pier_descriptor *d, size_t n)
{
  for (size_t i = 0; d && i < n; i++)
    {
      strv_free (d[i].urls);
      platform_free (d[i].platform);
    }
  free (d);
}

static int
parse_platform (json_t *obj, const char *where, pier_platform **out, pier_error **err)
{
  json_t *pj = NULL;
  int r = pier_json_obj (obj, "platform", where, &pj, err);
  if (r <= 0)
    return r;
  cleanup_free char *pw = xasprintf ("%s.platform", where);
  pier_platform *p = xzalloc (sizeof *p);
  if (req_str (pj, "architecture", pw, &p->architecture, err) < 0 || req_str (pj, "os", pw, &p->os, err) < 0
      || pier_json_str (pj, "variant", pw, &p->variant, err) < 0
      || pier_json_str (pj, "os.version", pw, &p->os_version, err) < 0
      || pier_json_strv (pj, "os.features", pw, &p->os_features, err) < 0)
    {
      platform_free (p);
      return -1;
    }
  *out = p;
  return 1;
}

/* Fill d from obj; on failure d may hold allocations (descriptors_free). */
static int
parse_descriptor (json_t *obj, const char *where, pier_descriptor *d, pier_error **err)
{
  if (!json_is_object (obj))
    return pier_error_makex (err, EINVAL, "%s must be an object", where);
  if (req_str (obj, "mediaType", where, &d->media_type, err) < 0
      || digest_field (obj, "digest", where, &d->digest, err) < 0)
    return -1;
  int r = pier_json_i64 (obj, "size", where, &d->size, err);
  if (r < 0)
    return -1;
  if (r == 0)
    return pier_error_makex (err, EINVAL, "%s.size is required", where);
  if (d->size < 0)
    return pier_error_makex (err, EINVAL, "%s.size must not be negative (is %lld)", where,
                             (long long) d->size);
  if (pier_json_strv (obj, "urls", where, &d->urls, err) < 0
      || string_map (obj, "annotations", where, &d->annotations, err) < 0
      || parse_platform (obj, where, &d->platform, err) < 0)
    return -1;
  return 0;
}

/* Common head of manifests and indexes: object, schemaVersion 2, and the
 * media type agreed between the document and the caller's hint. */
static int
parse_head (const char *buf, size_t len, const char *hint, const char *what, bool (*type_ok) (const char *),
            const char *default_type, json_t **json, const char **media_type, pier_error **err)
{
  cleanup_json json_t *j = NULL;
  int64_t version = 0;
  const char *doc_type = NULL;
  if (buf == NULL)
    return pier_error_makex (err, EINVAL, "%s: no document", what);
  if (pier_json_load_buf (buf, len, what, &j, err) < 0)
    return -1;
  if (!json_is_object (j))
    return pier_error_makex (err, EINVAL, "%s must be a JSON object", what);
  int r = pier_json_i64 (j, "schemaVersion", what, &version, err);
  if (r < 0)
    return -1;
  if (r == 0)
    return pier_error_makex (err, EINVAL, "%s.schemaVersion is required", what);
  if (version != 2)
    return pier_error_makex (err, EINVAL, "%s.schemaVersion must be 2 (is %lld)%s", what, (long long) version,
                             version == 1 ? ": Docker schema 1 manifests are not supported" : "");
  if (pier_json_str (j, "mediaType", what, &doc_type, err) < 0)
    return -1;
  if (doc_type && !type_ok (doc_type))
    return pier_error_makex (err, EINVAL, "%s.mediaType `%s` is not an %s media type", what, doc_type, what);
  if (hint && !type_ok (hint))
    return pier_error_makex (err, EINVAL, "%s: media type `%s` is not an %s media type", what, hint, what);
  if (doc_type && hint && strcmp (doc_type, hint) != 0)
    return pier_error_makex (err, EINVAL, "%s: served as `%s` but its mediaType is `%s`", what, hint,
                             doc_type);
  *media_type = doc_type ? doc_type : hint ? hint : default_type;
  *json = steal_pointer (&j);
  return 0;
}

static char *
copy_raw (const char *buf, size_t len)
{
  char *raw = xmalloc (len + 1);
  memcpy (raw, buf, len);
  raw[len] = '\0';
  return raw;
}

void
pier_manifest_free (pier_manifest *m)
{
  if (m == NULL)
    return;
  descriptors_free (m->layers, m->n_layers);
  strv_free (m->config.urls);
  platform_free (m->config.platform);
  json_decref (m->json);
  free (m->raw);
  free (m);
}

int
pier_manifest_parse (const char *buf, size_t len, const char *media_type, pier_manifest **out,
                     pier_error **err)
{
  static const char what[] = "image manifest";
  pier_manifest *m = xzalloc (sizeof *m);
  json_t *cj = NULL, *layers = NULL, *lj;
  size_t i;

  if (parse_head (buf, len, media_type, what, pier_media_type_is_manifest, PIER_MT_OCI_MANIFEST, &m->json,
                  &m->media_type, err)
      < 0)
    goto on_error;
  m->docker = strcmp (m->media_type, PIER_MT_DOCKER_MANIFEST) == 0;
  if (json_object_get (m->json, "manifests") && !json_object_get (m->json, "layers"))
    {
      pier_error_makex (err, EINVAL, "%s: the document is an image index (it has manifests, no layers)",
                        what);
      goto on_error;
    }

  if (pier_json_obj (m->json, "config", what, &cj, err) < 0)
    goto on_error;
  if (cj == NULL)
    {
      pier_error_makex (err, EINVAL, "%s.config is required", what);
      goto on_error;
    }
  if (parse_descriptor (cj, "image manifest.config", &m->config, err) < 0)
    goto on_error;
  if (!pier_media_type_is_config (m->config.media_type))
    {
      pier_error_makex (err, EINVAL, "%s.config.mediaType `%s` is not an image config media type", what,
                        m->config.media_type);
      goto on_error;
    }

  if (pier_json_arr (m->json, "layers", what, &layers, err) < 0)
    goto on_error;
  if (layers == NULL)
    {
      pier_error_makex (err, EINVAL, "%s.layers is required", what);
      goto on_error;
    }
  m->layers = xcalloc (json_array_size (layers) + 1, sizeof *m->layers);
  json_array_foreach (layers, i, lj)
  {
    cleanup_free char *where = xasprintf ("%s.layers[%zu]", what, i);
    pier_descriptor *d = &m->layers[i];
    m->n_layers = i + 1;
    if (parse_descriptor (lj, where, d, err) < 0)
      goto on_error;
    if (!pier_media_type_layer (d->media_type, &d->compression, &d->foreign))
      {
        pier_error_makex (err, EINVAL, "%s.mediaType `%s` is not a layer type pier can unpack", where,
                          d->media_type);
        goto on_error;
      }
  }
  if (string_map (m->json, "annotations", what, &m->annotations, err) < 0)
    goto on_error;

  m->raw = copy_raw (buf, len);
  m->raw_len = len;
  *out = m;
  return 0;

on_error:
  pier_manifest_free (m);
  return -1;
}

void
pier_index_free (pier_index *idx)
{
  if (idx == NULL)
    return;
  descriptors_free (idx->manifests, idx->n_manifests);
  json_decref (idx->json);
  free (idx->raw);
  free (idx);
}

int
pier_index_parse (const char *buf, size_t len, const char *media_type, pier_index **out, pier_error **err)
{
  static const char what[] = "image index";
  pier_index *idx = xzalloc (sizeof *idx);
  json_t *arr = NULL, *ej;
  size_t i;

  if (parse_head (buf, len, media_type, what, pier_media_type_is_index, PIER_MT_OCI_INDEX, &idx->json,
                  &idx->media_type, err)
      < 0)
    goto on_error;
  idx->docker = strcmp (idx->media_type, PIER_MT_DOCKER_MANIFEST_LIST) == 0;
  if (pier_json_arr (idx->json, "manifests", what, &arr, err) < 0)
    goto on_error;
  if (arr == NULL)
    {
      pier_error_makex (err, EINVAL, "%s.manifests is required%s", what,
                        json_object_get (idx->json, "layers") ? " (the document is an image manifest)" : "");
      goto on_error;
    }
  idx->manifests = xcalloc (json_array_size (arr) + 1, sizeof *idx->manifests);
  json_array_foreach (arr, i, ej)
  {
    cleanup_free char *where = xasprintf ("%s.manifests[%zu]", what, i);
    idx->n_manifests = i + 1;
    if (parse_descriptor (ej, where, &idx->manifests[i], err) < 0)
      goto on_error;
  }
  if (string_map (idx->json, "annotations", what, &idx->annotations, err) < 0)
    goto on_error;

  idx->raw = copy_raw (buf, len);
  idx->raw_len = len;
  *out = idx;
  return 0;

on_error:
  pier_index_free (idx);
  return -1;
}

void
pier_image_config_free (pier_image_config *c)
{
  if (c == NULL)
    return;
  strv_free (c->env);
  strv_free (c->entrypoint);
  strv_free (c->cmd);
  strv_free (c->exposed_ports);
  strv_free (c->volumes);
  strv_free (c->diff_ids);
  free (c->history);
  json_decref (c->json);
  free (c->raw);
  free (c);
}

/* Entrypoint and Cmd: docker's strslice takes an array of strings or a
 * single string (one element). */
static int
strslice (json_t *obj, const char *key, const char *where, char ***out, pier_error **err)
{
  json_t *v = json_object_get (obj, key);
  if (json_is_string (v))
    {
      char **vec = xcalloc (2, sizeof (char *));
      vec[0] = xstrdup (json_string_value (v));
      *out = vec;
      return 1;
    }
  return pier_json_strv (obj, key, where, out, err);
}

static int
parse_run_config (pier_image_config *c, pier_error **err)
{
  static const char where[] = "image config.config";
  json_t *rc = NULL;
  if (pier_json_obj (c->json, "config", "image config", &rc, err) < 0)
    return -1;
  if (rc == NULL)
    return 0;
  if (pier_json_str (rc, "User", where, &c->user, err) < 0
      || pier_json_strv (rc, "Env", where, &c->env, err) < 0
      || strslice (rc, "Entrypoint", where, &c->entrypoint, err) < 0
      || strslice (rc, "Cmd", where, &c->cmd, err) < 0
      || pier_json_str (rc, "WorkingDir", where, &c->working_dir, err) < 0
      || string_map (rc, "Labels", where, &c->labels, err) < 0
      || object_keys (rc, "ExposedPorts", where, &c->exposed_ports, err) < 0
      || object_keys (rc, "Volumes", where, &c->volumes, err) < 0
      || pier_json_str (rc, "StopSignal", where, &c->stop_signal, err) < 0)
    return -1;
  return 0;
}

static int
parse_rootfs (pier_image_config *c, pier_error **err)
{
  static const char where[] = "image config.rootfs";
  json_t *rf = NULL, *ids = NULL, *v;
  const char *type = NULL;
  size_t i;
  if (pier_json_obj (c->json, "rootfs", "image config", &rf, err) < 0)
    return -1;
  if (rf == NULL)
    return pier_error_makex (err, EINVAL, "image config.rootfs is required");
  if (req_str (rf, "type", where, &type, err) < 0)
    return -1;
  if (strcmp (type, "layers") != 0)
    return pier_error_makex (err, EINVAL, "%s.type must be `layers` (is `%s`)", where, type);
  if (pier_json_arr (rf, "diff_ids", where, &ids, err) < 0)
    return -1;
  if (ids == NULL)
    return pier_error_makex (err, EINVAL, "%s.diff_ids is required", where);
  c->diff_ids = xcalloc (json_array_size (ids) + 1, sizeof (char *));
  json_array_foreach (ids, i, v)
  {
    const char *s = json_string_value (v);
    if (s == NULL)
      return pier_error_makex (err, EINVAL, "%s.diff_ids[%zu] must be a string", where, i);
    if (!pier_digest_valid (s))
      return pier_error_makex (
          err, EINVAL, "%s.diff_ids[%zu] `%s` is not a sha256 digest (sha256: and 64 lowercase hex digits)",
          where, i, s);
    c->diff_ids[i] = xstrdup (s);
    c->n_diff_ids = i + 1;
  }
  return 0;
}

static int
parse_history (pier_image_config *c, pier_error **err)
{
  json_t *arr = NULL, *h;
  size_t i;
  if (pier_json_arr (c->json, "history", "image config", &arr, err) < 0)
    return -1;
  if (arr == NULL)
    return 0;
  c->history = xcalloc (json_array_size (arr) + 1, sizeof *c->history);
  json_array_foreach (arr, i, h)
  {
    cleanup_free char *where = xasprintf ("image config.history[%zu]", i);
    pier_history *e = &c->history[i];
    if (!json_is_object (h))
      return pier_error_makex (err, EINVAL, "%s must be an object", where);
    if (pier_json_str (h, "created", where, &e->created, err) < 0
        || pier_json_str (h, "created_by", where, &e->created_by, err) < 0
        || pier_json_str (h, "author", where, &e->author, err) < 0
        || pier_json_str (h, "comment", where, &e->comment, err) < 0
        || pier_json_bool (h, "empty_layer", where, &e->empty_layer, err) < 0)
      return -1;
    c->n_history = i + 1;
  }
  return 0;
}

int
pier_image_config_parse (const char *buf, size_t len, pier_image_config **out, pier_error **err)
{
  static const char what[] = "image config";
  pier_image_config *c = xzalloc (sizeof *c);
  if (buf == NULL)
    {
      pier_error_makex (err, EINVAL, "%s: no document", what);
      goto on_error;
    }
  if (pier_json_load_buf (buf, len, what, &c->json, err) < 0)
    goto on_error;
  if (!json_is_object (c->json))
    {
      pier_error_makex (err, EINVAL, "%s must be a JSON object", what);
      goto on_error;
    }
  if (req_str (c->json, "architecture", what, &c->architecture, err) < 0
      || req_str (c->json, "os", what, &c->os, err) < 0
      || pier_json_str (c->json, "variant", what, &c->variant, err) < 0
      || pier_json_str (c->json, "created", what, &c->created, err) < 0
      || pier_json_str (c->json, "author", what, &c->author, err) < 0 || parse_run_config (c, err) < 0
      || parse_rootfs (c, err) < 0 || parse_history (c, err) < 0)
    goto on_error;
  c->raw = copy_raw (buf, len);
  c->raw_len = len;
  *out = c;
  return 0;

on_error:
  pier_image_config_free (c);
  return -1;
}

int
pier_image_chain_ids (char *const *diff_ids, size_t n, char ***out, pier_error **err)
{
  for (size_t i = 0; i < n; i++)
    if (!pier_digest_valid (diff_ids[i]))
      return pier_error_makex (err, EINVAL, "chain id: diff id %zu `%s` is not a sha256 digest", i,
                               diff_ids[i] ? diff_ids[i] : "(null)");
  char **ids = xcalloc (n + 1, sizeof (char *));
  for (size_t i = 0; i < n; i++)
    {
      if (i == 0)
        {
          ids[0] = xstrdup (diff_ids[0]);
          continue;
        }
      char hex[PIER_SHA256_HEX_LEN + 1];
      cleanup_free char *in = xasprintf ("%s %s", ids[i - 1], diff_ids[i]);
      pier_sha256_hex (in, strlen (in), hex);
      ids[i] = xasprintf ("sha256:%s", hex);
    }
  *out = ids;
  return 0;
}
