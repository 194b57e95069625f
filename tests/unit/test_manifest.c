/* Unit tests for image/manifest: manifests, indexes, image configs and
 * chain IDs.
 *
 * Each malformed-input case starts from a well-formed document, changes
 * one member, and checks that parsing fails with a message naming the
 * field (ASan checks that the error paths free what they built). */
#include "unit.h"

#include "image/manifest.h"
#include "util/json.h"
#include "util/xalloc.h"

#define D(c)                                                                                                 \
  "sha256:" c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c  \
      c c c c c c c c c c c c c c c c
#define DA D ("a")
#define DB D ("b")
#define DC D ("c")
#define DD D ("d")
#define DE D ("e")

static const char docker_manifest[]
    = "{\"schemaVersion\": 2,"
      " \"mediaType\": \"application/vnd.docker.distribution.manifest.v2+json\","
      " \"config\": {\"mediaType\": \"application/vnd.docker.container.image.v1+json\", \"size\": 1469,"
      "   \"digest\": \"" DA "\"},"
      " \"layers\": ["
      "  {\"mediaType\": \"application/vnd.docker.image.rootfs.diff.tar.gzip\", \"size\": 2819, \"digest\": "
      "\"" DB "\"},"
      "  {\"mediaType\": \"application/vnd.docker.image.rootfs.foreign.diff.tar.gzip\", \"size\": 0,"
      "   \"digest\": \"" DC "\", \"urls\": [\"https://example.invalid/layer\"]}]}";

static const char oci_manifest[]
    = "{\"schemaVersion\": 2,"
      " \"config\": {\"mediaType\": \"application/vnd.oci.image.config.v1+json\", \"size\": 7023, "
      "\"digest\": \"" DA "\"},"
      " \"layers\": ["
      "  {\"mediaType\": \"application/vnd.oci.image.layer.v1.tar+zstd\", \"size\": 32654, \"digest\": \"" DB
      "\","
      "   \"annotations\": {\"org.example.layer\": \"base\"}},"
      "  {\"mediaType\": \"application/vnd.oci.image.layer.v1.tar\", \"size\": 16724, \"digest\": \"" DC
      "\"},"
      "  {\"mediaType\": \"application/vnd.oci.image.layer.nondistributable.v1.tar+gzip\", \"size\": 73109,"
      "   \"digest\": \"" DD "\"}],"
      " \"annotations\": {\"org.opencontainers.image.created\": \"2024-01-01T00:00:00Z\"}}";

static const char oci_index[]
    = "{\"schemaVersion\": 2, \"mediaType\": \"application/vnd.oci.image.index.v1+json\","
      " \"manifests\": ["
      "  {\"mediaType\": \"application/vnd.oci.image.manifest.v1+json\", \"size\": 7143, \"digest\": \"" DA
      "\","
      "   \"platform\": {\"architecture\": \"amd64\", \"os\": \"linux\"}},"
      "  {\"mediaType\": \"application/vnd.oci.image.manifest.v1+json\", \"size\": 7682, \"digest\": \"" DB
      "\","
      "   \"platform\": {\"architecture\": \"arm64\", \"os\": \"linux\", \"variant\": \"v8\","
      "     \"os.version\": \"5.10\", \"os.features\": [\"f1\"]}},"
      "  {\"mediaType\": \"application/vnd.example.sbom\", \"size\": 12, \"digest\": \"" DC "\"}],"
      " \"annotations\": {\"com.example.key\": \"value\"}}";

static const char docker_list[]
    = "{\"schemaVersion\": 2, \"mediaType\": \"application/vnd.docker.distribution.manifest.list.v2+json\","
      " \"manifests\": ["
      "  {\"mediaType\": \"application/vnd.docker.distribution.manifest.v2+json\", \"size\": 528,"
      "   \"digest\": \"" DA
      "\", \"platform\": {\"architecture\": \"arm\", \"os\": \"linux\", \"variant\": \"v7\"}}]}";

static const char image_config[]
    = "{\"architecture\": \"amd64\", \"os\": \"linux\", \"created\": \"2024-05-01T10:00:00.5Z\","
      " \"author\": \"pier tests\","
      " \"config\": {\"User\": \"1000:1000\", \"Env\": [\"PATH=/usr/bin:/bin\", \"A=b=c\"],"
      "   \"Entrypoint\": [\"/bin/sh\", \"-c\"], \"Cmd\": [\"echo hi\"], \"WorkingDir\": \"/srv\","
      "   \"Labels\": {\"maintainer\": \"nobody\", \"empty\": \"\"},"
      "   \"ExposedPorts\": {\"80/tcp\": {}, \"53/udp\": {}}, \"Volumes\": {\"/data\": {}},"
      "   \"StopSignal\": \"SIGQUIT\", \"Healthcheck\": {\"Test\": [\"NONE\"]}},"
      " \"rootfs\": {\"type\": \"layers\", \"diff_ids\": [\"" DD "\", \"" DE "\"]},"
      " \"history\": ["
      "  {\"created\": \"2024-05-01T09:00:00Z\", \"created_by\": \"/bin/sh -c #(nop) ADD file:x in /\"},"
      "  {\"created\": \"2024-05-01T09:30:00Z\", \"created_by\": \"ENV A=b\", \"empty_layer\": true,"
      "   \"comment\": \"buildkit\", \"author\": \"me\"},"
      "  {\"created_by\": \"RUN make\"}]}";

static const char minimal_config[]
    = "{\"architecture\": \"arm64\", \"os\": \"linux\", \"rootfs\": {\"type\": \"layers\", \"diff_ids\": []},"
      " \"config\": {\"Entrypoint\": null, \"Cmd\": [], \"Labels\": null}}";

/* ---- documents that parse ------------------------------------------- */

static void
test_docker_manifest (void **state)
{
  (void) state;
  pier_error *err = NULL;
  pier_manifest *m = NULL;
  assert_int_equal (pier_manifest_parse (docker_manifest, strlen (docker_manifest), NULL, &m, &err), 0);
  assert_no_err (err);
  assert_true (m->docker);
  assert_string_equal (m->media_type, PIER_MT_DOCKER_MANIFEST);
  assert_string_equal (m->config.media_type, PIER_MT_DOCKER_CONFIG);
  assert_string_equal (m->config.digest, DA);
  assert_int_equal (m->config.size, 1469);
  assert_int_equal (m->n_layers, 2);
  assert_string_equal (m->layers[0].digest, DB);
  assert_int_equal (m->layers[0].size, 2819);
  assert_int_equal (m->layers[0].compression, PIER_COMPRESSION_GZIP);
  assert_false (m->layers[0].foreign);
  assert_null (m->layers[0].urls);
  assert_true (m->layers[1].foreign);
  assert_int_equal (m->layers[1].size, 0);
  assert_non_null (m->layers[1].urls);
  assert_string_equal (m->layers[1].urls[0], "https://example.invalid/layer");
  assert_null (m->layers[1].urls[1]);
  assert_null (m->annotations);
  /* The bytes are kept exactly, and the document beside them. */
  assert_int_equal (m->raw_len, strlen (docker_manifest));
  assert_memory_equal (m->raw, docker_manifest, m->raw_len);
  assert_true (json_is_object (m->json));
  assert_int_equal (json_integer_value (json_object_get (m->json, "schemaVersion")), 2);
  pier_manifest_free (m);
}

static void
test_oci_manifest (void **state)
{
  (void) state;
  pier_error *err = NULL;
  pier_manifest *m = NULL;
  /* No mediaType in the document: the caller's type is used. */
  assert_int_equal (pier_manifest_parse (oci_manifest, strlen (oci_manifest), PIER_MT_OCI_MANIFEST, &m, &err),
                    0);
  assert_no_err (err);
  assert_false (m->docker);
  assert_string_equal (m->media_type, PIER_MT_OCI_MANIFEST);
  assert_int_equal (m->n_layers, 3);
  assert_int_equal (m->layers[0].compression, PIER_COMPRESSION_ZSTD);
  assert_string_equal (json_string_value (json_object_get (m->layers[0].annotations, "org.example.layer")),
                       "base");
  assert_int_equal (m->layers[1].compression, PIER_COMPRESSION_NONE);
  assert_null (m->layers[1].annotations);
  assert_int_equal (m->layers[2].compression, PIER_COMPRESSION_GZIP);
  assert_true (m->layers[2].foreign);
  assert_non_null (m->annotations);
  pier_manifest_free (m);

  /* Neither: an OCI manifest is assumed. */
  assert_int_equal (pier_manifest_parse (oci_manifest, strlen (oci_manifest), NULL, &m, &err), 0);
  assert_string_equal (m->media_type, PIER_MT_OCI_MANIFEST);
  pier_manifest_free (m);
}

static void
test_manifest_without_layers (void **state)
{
  (void) state;
  static const char doc[]
      = "{\"schemaVersion\": 2, \"config\": {\"mediaType\": "
        "\"application/vnd.oci.image.config.v1+json\", \"size\": 2, \"digest\": \"" DA "\"},"
        " \"layers\": []}";
  pier_error *err = NULL;
  pier_manifest *m = NULL;
  assert_int_equal (pier_manifest_parse (doc, strlen (doc), NULL, &m, &err), 0);
  assert_int_equal (m->n_layers, 0);
  pier_manifest_free (m);
}

static void
test_oci_index (void **state)
{
  (void) state;
  pier_error *err = NULL;
  pier_index *idx = NULL;
  assert_int_equal (pier_index_parse (oci_index, strlen (oci_index), PIER_MT_OCI_INDEX, &idx, &err), 0);
  assert_no_err (err);
  assert_false (idx->docker);
  assert_int_equal (idx->n_manifests, 3);
  pier_descriptor *d = idx->manifests;
  assert_string_equal (d[0].platform->architecture, "amd64");
  assert_string_equal (d[0].platform->os, "linux");
  assert_null (d[0].platform->variant);
  assert_null (d[0].platform->os_features);
  assert_string_equal (d[1].digest, DB);
  assert_int_equal (d[1].size, 7682);
  assert_string_equal (d[1].platform->variant, "v8");
  assert_string_equal (d[1].platform->os_version, "5.10");
  assert_string_equal (d[1].platform->os_features[0], "f1");
  /* An entry of a type pier does not know is kept, not refused. */
  assert_string_equal (d[2].media_type, "application/vnd.example.sbom");
  assert_null (d[2].platform);
  assert_non_null (idx->annotations);
  assert_memory_equal (idx->raw, oci_index, idx->raw_len);
  pier_index_free (idx);
}

static void
test_docker_list (void **state)
{
  (void) state;
  pier_error *err = NULL;
  pier_index *idx = NULL;
  assert_int_equal (pier_index_parse (docker_list, strlen (docker_list), NULL, &idx, &err), 0);
  assert_true (idx->docker);
  assert_string_equal (idx->media_type, PIER_MT_DOCKER_MANIFEST_LIST);
  assert_int_equal (idx->n_manifests, 1);
  assert_string_equal (idx->manifests[0].media_type, PIER_MT_DOCKER_MANIFEST);
  assert_string_equal (idx->manifests[0].platform->variant, "v7");
  assert_null (idx->annotations);
  pier_index_free (idx);
}

static void
test_image_config (void **state)
{
  (void) state;
  pier_error *err = NULL;
  pier_image_config *c = NULL;
  assert_int_equal (pier_image_config_parse (image_config, strlen (image_config), &c, &err), 0);
  assert_no_err (err);
  assert_string_equal (c->architecture, "amd64");
  assert_string_equal (c->os, "linux");
  assert_null (c->variant);
  assert_string_equal (c->created, "2024-05-01T10:00:00.5Z");
  assert_string_equal (c->author, "pier tests");
  assert_string_equal (c->user, "1000:1000");
  assert_int_equal (strv_len (c->env), 2);
  assert_string_equal (c->env[1], "A=b=c");
  assert_int_equal (strv_len (c->entrypoint), 2);
  assert_string_equal (c->entrypoint[0], "/bin/sh");
  assert_int_equal (strv_len (c->cmd), 1);
  assert_string_equal (c->working_dir, "/srv");
  assert_string_equal (json_string_value (json_object_get (c->labels, "maintainer")), "nobody");
  assert_int_equal (strv_len (c->exposed_ports), 2);
  bool saw80 = false;
  for (size_t i = 0; c->exposed_ports[i]; i++)
    saw80 |= strcmp (c->exposed_ports[i], "80/tcp") == 0;
  assert_true (saw80);
  assert_int_equal (strv_len (c->volumes), 1);
  assert_string_equal (c->volumes[0], "/data");
  assert_string_equal (c->stop_signal, "SIGQUIT");
  assert_int_equal (c->n_diff_ids, 2);
  assert_string_equal (c->diff_ids[0], DD);
  assert_string_equal (c->diff_ids[1], DE);
  assert_null (c->diff_ids[2]);
  assert_int_equal (c->n_history, 3);
  assert_false (c->history[0].empty_layer);
  assert_true (c->history[1].empty_layer);
  assert_string_equal (c->history[1].comment, "buildkit");
  assert_string_equal (c->history[1].author, "me");
  assert_null (c->history[2].created);
  assert_string_equal (c->history[2].created_by, "RUN make");
  /* What pier does not model (Healthcheck) is still in the document. */
  assert_non_null (json_object_get (json_object_get (c->json, "config"), "Healthcheck"));
  assert_memory_equal (c->raw, image_config, c->raw_len);
  pier_image_config_free (c);
}

static void
test_minimal_config (void **state)
{
  (void) state;
  pier_error *err = NULL;
  pier_image_config *c = NULL;
  assert_int_equal (pier_image_config_parse (minimal_config, strlen (minimal_config), &c, &err), 0);
  assert_no_err (err);
  assert_null (c->entrypoint); /* null: absent */
  assert_non_null (c->cmd);    /* []: present and empty */
  assert_null (c->cmd[0]);
  assert_null (c->labels);
  assert_null (c->env);
  assert_null (c->user);
  assert_int_equal (c->n_diff_ids, 0);
  assert_int_equal (c->n_history, 0);
  assert_null (c->history);
  pier_image_config_free (c);
}

static void
test_config_string_entrypoint (void **state)
{
  (void) state;
  static const char doc[]
      = "{\"architecture\": \"amd64\", \"os\": \"linux\", \"config\": {\"Entrypoint\": "
        "\"/init\", \"Cmd\": \"run\"}, \"rootfs\": {\"type\": \"layers\", \"diff_ids\": []}}";
  pier_error *err = NULL;
  pier_image_config *c = NULL;
  assert_int_equal (pier_image_config_parse (doc, strlen (doc), &c, &err), 0);
  assert_int_equal (strv_len (c->entrypoint), 1);
  assert_string_equal (c->entrypoint[0], "/init");
  assert_string_equal (c->cmd[0], "run");
  pier_image_config_free (c);
}

static void
test_media_types (void **state)
{
  (void) state;
  static const struct
  {
    const char *mt;
    pier_compression comp;
    bool foreign;
  } layers[] = {
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
  for (size_t i = 0; i < sizeof layers / sizeof layers[0]; i++)
    {
      pier_compression comp = (pier_compression) -1;
      bool foreign = !layers[i].foreign;
      if (!pier_media_type_layer (layers[i].mt, &comp, &foreign))
        fail_msg ("%s is not taken as a layer", layers[i].mt);
      assert_int_equal (comp, layers[i].comp);
      assert_int_equal (foreign, layers[i].foreign);
    }
  assert_true (pier_media_type_layer (PIER_MT_OCI_LAYER_GZIP, NULL, NULL));
  assert_false (pier_media_type_layer (PIER_MT_OCI_MANIFEST, NULL, NULL));
  assert_false (pier_media_type_layer ("application/vnd.oci.image.layer.v1.tar+bzip2", NULL, NULL));
  assert_false (pier_media_type_layer (NULL, NULL, NULL));
  assert_true (pier_media_type_is_manifest (PIER_MT_OCI_MANIFEST));
  assert_true (pier_media_type_is_manifest (PIER_MT_DOCKER_MANIFEST));
  assert_false (pier_media_type_is_manifest (PIER_MT_OCI_INDEX));
  assert_true (pier_media_type_is_index (PIER_MT_OCI_INDEX));
  assert_true (pier_media_type_is_index (PIER_MT_DOCKER_MANIFEST_LIST));
  assert_false (pier_media_type_is_index (PIER_MT_DOCKER_MANIFEST));
  assert_true (pier_media_type_is_config (PIER_MT_OCI_CONFIG));
  assert_true (pier_media_type_is_config (PIER_MT_DOCKER_CONFIG));
  assert_false (pier_media_type_is_config (NULL));
}

/* ---- chain IDs -------------------------------------------------------- */

/* Diff IDs are the sha256 of "layer0", "layer1", "layer2"; the chain IDs
 * were computed with coreutils:
 *   c1=$(printf '%s %s' "$l0" "$l1" | sha256sum), c2 likewise from c1, l2. */
#define L0 "sha256:4fbec69b941195fd56f8212a5000e304129451d82efca94ff0e0fb2d5355472e"
#define L1 "sha256:77ea7eee3d80b1a38f83906dd3048e2689457eb90e18a7d12f839c5ae37106a2"
#define L2 "sha256:95cf1a2e1698fe3ca1fcc3f653119146b271d0b62e487ec264441e886a11bd06"
#define C1 "sha256:ef232af0eb422cdfd7917631657cd8ed2bfd5b9461b37c427aa0d3e0a19adf79"
#define C2 "sha256:7ad3896338947cc04ee0b35b50d400ff32538d63f42f85ec87feac78bf71a54d"

static void
test_chain_ids (void **state)
{
  (void) state;
  char *diff[] = { L0, L1, L2 };
  char **ids = NULL;
  pier_error *err = NULL;
  assert_int_equal (pier_image_chain_ids (diff, 3, &ids, &err), 0);
  assert_no_err (err);
  assert_string_equal (ids[0], L0);
  assert_string_equal (ids[1], C1);
  assert_string_equal (ids[2], C2);
  assert_null (ids[3]);
  strv_free (ids);

  /* A prefix of the stack has a prefix of the chain. */
  assert_int_equal (pier_image_chain_ids (diff, 2, &ids, &err), 0);
  assert_string_equal (ids[1], C1);
  assert_null (ids[2]);
  strv_free (ids);

  /* No layers: an empty vector. */
  assert_int_equal (pier_image_chain_ids (diff, 0, &ids, &err), 0);
  assert_non_null (ids);
  assert_null (ids[0]);
  strv_free (ids);

  /* Order matters. */
  char *swapped[] = { L1, L0 };
  assert_int_equal (pier_image_chain_ids (swapped, 2, &ids, &err), 0);
  assert_string_not_equal (ids[1], C1);
  strv_free (ids);
}

static void
test_chain_ids_bad_diff_id (void **state)
{
  (void) state;
  char *diff[] = { L0, "sha256:xyz" };
  char **ids = NULL;
  pier_error *err = NULL;
  assert_int_equal (pier_image_chain_ids (diff, 2, &ids, &err), -1);
  assert_null (ids);
  assert_err_contains (err, "diff id 1", "sha256:xyz");
  pier_error_free (&err);
}

/* ---- documents that must not parse --------------------------------- */

enum kind
{
  MANIFEST,
  INDEX,
  CONFIG
};

typedef struct bad_case
{
  const char *name;
  enum kind kind;
  const char *base;  /* the document to start from */
  const char *path;  /* member to change ("layers.0.size"); NULL: base as is */
  const char *value; /* its new JSON value; NULL deletes it */
  const char *hint;  /* media type the caller passes */
  const char *frag[2];
} bad_case;

#define M docker_manifest
#define O oci_manifest
#define I oci_index
#define C image_config

static const bad_case bad_cases[] = {
  /* Manifests. */
  { "m_schema_missing",
    MANIFEST,
    M,
    "schemaVersion",
    NULL,
    NULL,
    { "image manifest.schemaVersion is required" } },
  { "m_schema_1", MANIFEST, M, "schemaVersion", "1", NULL, { "schemaVersion must be 2", "schema 1" } },
  { "m_schema_3", MANIFEST, M, "schemaVersion", "3", NULL, { "schemaVersion must be 2 (is 3)" } },
  { "m_schema_string", MANIFEST, M, "schemaVersion", "\"2\"", NULL, { "schemaVersion must be an integer" } },
  { "m_media_type_index",
    MANIFEST,
    M,
    "mediaType",
    "\"" PIER_MT_OCI_INDEX "\"",
    NULL,
    { "mediaType `" PIER_MT_OCI_INDEX "`", "is not an image manifest media type" } },
  { "m_media_type_number", MANIFEST, M, "mediaType", "5", NULL, { "mediaType must be a string" } },
  { "m_hint_mismatch",
    MANIFEST,
    M,
    NULL,
    NULL,
    PIER_MT_OCI_MANIFEST,
    { "served as `" PIER_MT_OCI_MANIFEST "`", PIER_MT_DOCKER_MANIFEST } },
  { "m_hint_not_manifest",
    MANIFEST,
    O,
    NULL,
    NULL,
    PIER_MT_OCI_CONFIG,
    { "is not an image manifest media type" } },
  { "m_is_an_index", MANIFEST, I, "mediaType", NULL, NULL, { "is an image index" } },
  { "m_not_object", MANIFEST, "[1, 2]", NULL, NULL, NULL, { "image manifest must be a JSON object" } },
  { "m_not_json",
    MANIFEST,
    "{\"schemaVersion\": 2,",
    NULL,
    NULL,
    NULL,
    { "image manifest is not valid JSON" } },
  { "m_duplicate_key",
    MANIFEST,
    "{\"schemaVersion\": 2, \"schemaVersion\": 2}",
    NULL,
    NULL,
    NULL,
    { "not valid JSON", "duplicate" } },
  { "m_config_missing", MANIFEST, M, "config", NULL, NULL, { "image manifest.config is required" } },
  { "m_config_not_object", MANIFEST, M, "config", "[]", NULL, { "image manifest.config must be an object" } },
  { "m_config_layer_type",
    MANIFEST,
    M,
    "config.mediaType",
    "\"" PIER_MT_OCI_LAYER "\"",
    NULL,
    { "config.mediaType `" PIER_MT_OCI_LAYER "` is not an image config" } },
  { "m_config_media_type_missing",
    MANIFEST,
    M,
    "config.mediaType",
    NULL,
    NULL,
    { "config.mediaType is required" } },
  { "m_config_digest_missing", MANIFEST, M, "config.digest", NULL, NULL, { "config.digest is required" } },
  { "m_config_digest_bad",
    MANIFEST,
    M,
    "config.digest",
    "\"sha256:1234\"",
    NULL,
    { "config.digest `sha256:1234` is not a sha256 digest" } },
  { "m_config_size_missing", MANIFEST, M, "config.size", NULL, NULL, { "config.size is required" } },
  { "m_config_size_negative",
    MANIFEST,
    M,
    "config.size",
    "-1",
    NULL,
    { "config.size must not be negative" } },
  { "m_config_size_string",
    MANIFEST,
    M,
    "config.size",
    "\"12\"",
    NULL,
    { "config.size must be an integer" } },
  { "m_layers_missing", MANIFEST, M, "layers", NULL, NULL, { "image manifest.layers is required" } },
  { "m_layers_object", MANIFEST, M, "layers", "{}", NULL, { "image manifest.layers must be an array" } },
  { "m_layer_not_object", MANIFEST, M, "layers.1", "\"x\"", NULL, { "layers[1] must be an object" } },
  { "m_layer_unknown_type",
    MANIFEST,
    M,
    "layers.0.mediaType",
    "\"application/x-foo\"",
    NULL,
    { "layers[0].mediaType `application/x-foo`", "not a layer type" } },
  { "m_layer_bzip2",
    MANIFEST,
    O,
    "layers.1.mediaType",
    "\"application/vnd.oci.image.layer.v1.tar+bzip2\"",
    NULL,
    { "layers[1].mediaType `application/vnd.oci.image.layer.v1.tar+bzip2`" } },
  { "m_layer_config_type",
    MANIFEST,
    O,
    "layers.2.mediaType",
    "\"" PIER_MT_OCI_CONFIG "\"",
    NULL,
    { "layers[2].mediaType", "not a layer type" } },
  { "m_layer_media_type_missing",
    MANIFEST,
    M,
    "layers.0.mediaType",
    NULL,
    NULL,
    { "layers[0].mediaType is required" } },
  { "m_layer_digest_uppercase",
    MANIFEST,
    M,
    "layers.0.digest",
    "\"sha256:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\"",
    NULL,
    { "layers[0].digest", "is not a sha256 digest" } },
  { "m_layer_digest_sha512",
    MANIFEST,
    M,
    "layers.1.digest",
    "\"sha512:abcd\"",
    NULL,
    { "layers[1].digest `sha512:abcd`" } },
  { "m_layer_digest_number",
    MANIFEST,
    M,
    "layers.0.digest",
    "7",
    NULL,
    { "layers[0].digest must be a string" } },
  { "m_layer_size_fraction",
    MANIFEST,
    M,
    "layers.0.size",
    "1.5",
    NULL,
    { "layers[0].size must be an integer" } },
  { "m_layer_size_negative",
    MANIFEST,
    O,
    "layers.0.size",
    "-42",
    NULL,
    { "layers[0].size must not be negative" } },
  { "m_layer_urls_string",
    MANIFEST,
    M,
    "layers.1.urls",
    "\"https://x\"",
    NULL,
    { "layers[1].urls must be an array" } },
  { "m_layer_url_number",
    MANIFEST,
    M,
    "layers.1.urls",
    "[1]",
    NULL,
    { "layers[1].urls[0] must be a string" } },
  { "m_layer_annotation_number",
    MANIFEST,
    O,
    "layers.0.annotations.org.example.layer",
    "5",
    NULL,
    { "layers[0].annotations[\"org.example.layer\"] must be a string" } },
  { "m_annotations_array",
    MANIFEST,
    O,
    "annotations",
    "[]",
    NULL,
    { "image manifest.annotations must be an object" } },
  { "m_annotation_bool",
    MANIFEST,
    O,
    "annotations",
    "{\"k\": true}",
    NULL,
    { "image manifest.annotations[\"k\"] must be a string" } },
  /* Indexes. */
  { "i_manifests_missing", INDEX, I, "manifests", NULL, NULL, { "image index.manifests is required" } },
  { "i_given_a_manifest", INDEX, O, NULL, NULL, NULL, { "manifests is required", "is an image manifest" } },
  { "i_manifests_object", INDEX, I, "manifests", "{}", NULL, { "image index.manifests must be an array" } },
  { "i_schema_1", INDEX, I, "schemaVersion", "1", NULL, { "image index.schemaVersion must be 2" } },
  { "i_media_type_manifest",
    INDEX,
    I,
    "mediaType",
    "\"" PIER_MT_DOCKER_MANIFEST "\"",
    NULL,
    { "is not an image index media type" } },
  { "i_hint_mismatch",
    INDEX,
    I,
    NULL,
    NULL,
    PIER_MT_DOCKER_MANIFEST_LIST,
    { "served as", PIER_MT_OCI_INDEX } },
  { "i_entry_digest_bad",
    INDEX,
    I,
    "manifests.1.digest",
    "\"sha256:zz\"",
    NULL,
    { "image index.manifests[1].digest `sha256:zz`" } },
  { "i_entry_size_negative",
    INDEX,
    I,
    "manifests.0.size",
    "-5",
    NULL,
    { "manifests[0].size must not be negative" } },
  { "i_entry_media_type_missing",
    INDEX,
    I,
    "manifests.2.mediaType",
    NULL,
    NULL,
    { "manifests[2].mediaType is required" } },
  { "i_platform_os_missing",
    INDEX,
    I,
    "manifests.0.platform.os",
    NULL,
    NULL,
    { "manifests[0].platform.os is required" } },
  { "i_platform_arch_missing",
    INDEX,
    I,
    "manifests.1.platform.architecture",
    NULL,
    NULL,
    { "manifests[1].platform.architecture is required" } },
  { "i_platform_arch_number",
    INDEX,
    I,
    "manifests.0.platform.architecture",
    "64",
    NULL,
    { "platform.architecture must be a string" } },
  { "i_platform_variant_number",
    INDEX,
    I,
    "manifests.1.platform.variant",
    "8",
    NULL,
    { "platform.variant must be a string" } },
  { "i_platform_string",
    INDEX,
    I,
    "manifests.0.platform",
    "\"linux/amd64\"",
    NULL,
    { "manifests[0].platform must be an object" } },
  { "i_entry_not_object", INDEX, I, "manifests.0", "null", NULL, { "manifests[0] must be an object" } },
  /* Image configs. */
  { "c_not_object", CONFIG, "[\"config\"]", NULL, NULL, NULL, { "image config must be a JSON object" } },
  { "c_architecture_missing",
    CONFIG,
    C,
    "architecture",
    NULL,
    NULL,
    { "image config.architecture is required" } },
  { "c_os_missing", CONFIG, C, "os", NULL, NULL, { "image config.os is required" } },
  { "c_os_number", CONFIG, C, "os", "1", NULL, { "image config.os must be a string" } },
  { "c_created_number",
    CONFIG,
    C,
    "created",
    "1700000000",
    NULL,
    { "image config.created must be a string" } },
  { "c_config_array", CONFIG, C, "config", "[]", NULL, { "image config.config must be an object" } },
  { "c_user_number", CONFIG, C, "config.User", "0", NULL, { "image config.config.User must be a string" } },
  { "c_env_string", CONFIG, C, "config.Env", "\"A=b\"", NULL, { "config.Env must be an array" } },
  { "c_env_element", CONFIG, C, "config.Env", "[\"A=b\", 3]", NULL, { "config.Env[1] must be a string" } },
  { "c_entrypoint_object",
    CONFIG,
    C,
    "config.Entrypoint",
    "{}",
    NULL,
    { "config.Entrypoint must be an array" } },
  { "c_cmd_element", CONFIG, C, "config.Cmd", "[null]", NULL, { "config.Cmd[0] must be a string" } },
  { "c_workdir_array",
    CONFIG,
    C,
    "config.WorkingDir",
    "[\"/\"]",
    NULL,
    { "config.WorkingDir must be a string" } },
  { "c_label_number",
    CONFIG,
    C,
    "config.Labels",
    "{\"a\": \"b\", \"n\": 1}",
    NULL,
    { "config.Labels[\"n\"] must be a string" } },
  { "c_ports_array",
    CONFIG,
    C,
    "config.ExposedPorts",
    "[\"80/tcp\"]",
    NULL,
    { "config.ExposedPorts must be an object" } },
  { "c_volumes_string",
    CONFIG,
    C,
    "config.Volumes",
    "\"/data\"",
    NULL,
    { "config.Volumes must be an object" } },
  { "c_stop_signal_number",
    CONFIG,
    C,
    "config.StopSignal",
    "15",
    NULL,
    { "config.StopSignal must be a string" } },
  { "c_rootfs_missing", CONFIG, C, "rootfs", NULL, NULL, { "image config.rootfs is required" } },
  { "c_rootfs_type",
    CONFIG,
    C,
    "rootfs.type",
    "\"snapshot\"",
    NULL,
    { "rootfs.type must be `layers` (is `snapshot`)" } },
  { "c_rootfs_type_missing", CONFIG, C, "rootfs.type", NULL, NULL, { "rootfs.type is required" } },
  { "c_diff_ids_missing", CONFIG, C, "rootfs.diff_ids", NULL, NULL, { "rootfs.diff_ids is required" } },
  { "c_diff_ids_object", CONFIG, C, "rootfs.diff_ids", "{}", NULL, { "rootfs.diff_ids must be an array" } },
  { "c_diff_id_bad",
    CONFIG,
    C,
    "rootfs.diff_ids.1",
    "\"sha256:abc\"",
    NULL,
    { "rootfs.diff_ids[1] `sha256:abc` is not a sha256 digest" } },
  { "c_diff_id_number",
    CONFIG,
    C,
    "rootfs.diff_ids.0",
    "0",
    NULL,
    { "rootfs.diff_ids[0] must be a string" } },
  { "c_history_object", CONFIG, C, "history", "{}", NULL, { "image config.history must be an array" } },
  { "c_history_entry_string", CONFIG, C, "history.2", "\"RUN x\"", NULL, { "history[2] must be an object" } },
  { "c_history_empty_layer_string",
    CONFIG,
    C,
    "history.1.empty_layer",
    "\"true\"",
    NULL,
    { "history[1].empty_layer must be a boolean" } },
  { "c_history_created_by_number",
    CONFIG,
    C,
    "history.0.created_by",
    "1",
    NULL,
    { "history[0].created_by must be a string" } },
};

/* Set (value non-NULL, JSON text) or delete the member at a dotted path;
 * numeric parts index arrays.  The last part may itself hold dots when it
 * names an existing key ("annotations.org.example.layer"). */
static void
mutate (json_t *doc, const char *path, const char *value)
{
  json_t *cur = doc;
  const char *p = path;
  for (;;)
    {
      const char *dot = strchr (p, '.');
      if (json_is_object (cur) && (dot == NULL || json_object_get (cur, p)))
        break;
      if (dot == NULL)
        break;
      char *part = xstrndup (p, (size_t) (dot - p));
      json_t *next = json_is_array (cur) ? json_array_get (cur, strtoul (part, NULL, 10))
                                         : json_object_get (cur, part);
      free (part);
      if (next == NULL)
        fail_msg ("test path `%s` does not exist", path);
      cur = next;
      p = dot + 1;
    }
  json_t *v = NULL;
  if (value)
    {
      json_error_t je;
      v = json_loads (value, JSON_DECODE_ANY, &je);
      if (v == NULL)
        fail_msg ("test value `%s` is not JSON: %s", value, je.text);
    }
  if (json_is_array (cur))
    {
      size_t idx = strtoul (p, NULL, 10);
      if (v)
        json_array_set_new (cur, idx, v);
      else
        json_array_remove (cur, idx);
    }
  else if (v)
    json_object_set_new (cur, p, v);
  else
    json_object_del (cur, p);
}

static void
test_bad_case (void **state)
{
  const bad_case *c = *state;
  pier_error *err = NULL;
  char *doc = NULL;
  int rc;

  if (c->path)
    {
      json_error_t je;
      json_t *j = json_loads (c->base, 0, &je);
      if (j == NULL)
        fail_msg ("%s: base document: %s", c->name, je.text);
      mutate (j, c->path, c->value);
      doc = json_dumps (j, JSON_COMPACT);
      json_decref (j);
    }
  else
    doc = xstrdup (c->base);

  void *sentinel = &err, *out = sentinel;
  switch (c->kind)
    {
    case MANIFEST:
      rc = pier_manifest_parse (doc, strlen (doc), c->hint, (pier_manifest **) &out, &err);
      break;
    case INDEX: rc = pier_index_parse (doc, strlen (doc), c->hint, (pier_index **) &out, &err); break;
    default: rc = pier_image_config_parse (doc, strlen (doc), (pier_image_config **) &out, &err); break;
    }
  if (rc == 0)
    fail_msg ("%s: accepted: %s", c->name, doc);
  assert_int_equal (rc, -1);
  assert_ptr_equal (out, sentinel);
  if (err == NULL || err->msg == NULL)
    fail_msg ("%s: failed without a message", c->name);
  for (size_t i = 0; i < 2 && c->frag[i]; i++)
    if (strstr (err->msg, c->frag[i]) == NULL)
      fail_msg ("%s: message `%s` does not mention `%s`", c->name, err->msg, c->frag[i]);
  assert_int_equal (err->code, EINVAL);
  pier_error_free (&err);
  free (doc);
}

static void
test_null_buffer (void **state)
{
  (void) state;
  pier_error *err = NULL;
  pier_manifest *m = NULL;
  pier_index *idx = NULL;
  pier_image_config *c = NULL;
  assert_int_equal (pier_manifest_parse (NULL, 0, NULL, &m, &err), -1);
  assert_err_contains (err, "no document");
  pier_error_free (&err);
  assert_int_equal (pier_index_parse (NULL, 0, NULL, &idx, NULL), -1);
  assert_int_equal (pier_image_config_parse (NULL, 0, &c, NULL), -1);
  assert_null (m);
  assert_null (idx);
  assert_null (c);
  pier_manifest_free (NULL);
  pier_index_free (NULL);
  pier_image_config_free (NULL);
}

int
main (int argc, char **argv)
{
  static const struct CMUnitTest fixed[] = {
    cmocka_unit_test (test_docker_manifest),
    cmocka_unit_test (test_oci_manifest),
    cmocka_unit_test (test_manifest_without_layers),
    cmocka_unit_test (test_oci_index),
    cmocka_unit_test (test_docker_list),
    cmocka_unit_test (test_image_config),
    cmocka_unit_test (test_minimal_config),
    cmocka_unit_test (test_config_string_entrypoint),
    cmocka_unit_test (test_media_types),
    cmocka_unit_test (test_chain_ids),
    cmocka_unit_test (test_chain_ids_bad_diff_id),
    cmocka_unit_test (test_null_buffer),
  };
  size_t nfixed = sizeof fixed / sizeof fixed[0], nbad = sizeof bad_cases / sizeof bad_cases[0];
  struct CMUnitTest *tests = xcalloc (nfixed + nbad, sizeof *tests);
  memcpy (tests, fixed, sizeof fixed);
  for (size_t i = 0; i < nbad; i++)
    {
      struct CMUnitTest t = cmocka_unit_test_prestate (test_bad_case, (void *) &bad_cases[i]);
      t.name = bad_cases[i].name;
      tests[nfixed + i] = t;
    }
  int rc = unit_run ("test_manifest", tests, nfixed + nbad, NULL, 0, argc, argv);
  free (tests);
  return rc;
}
