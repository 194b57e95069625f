/* Fuzz target: image manifest, index and config parsing
 * (image/manifest.c).  The first byte picks the parser and the media
 * type; the rest is the document. */
#include <string.h>

#include "fuzz.h"

#include "image/manifest.h"
#include "util/xalloc.h"

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  if (size < 1)
    return 0;
  static const char *const types[] = {
    PIER_MT_OCI_MANIFEST, PIER_MT_DOCKER_MANIFEST, PIER_MT_OCI_INDEX, PIER_MT_DOCKER_MANIFEST_LIST, NULL,
    "application/json"
  };
  const char *mt = types[(data[0] >> 2) % (sizeof types / sizeof *types)];
  const char *buf = (const char *) data + 1;
  size_t len = size - 1;
  pier_error *err = NULL;
  switch (data[0] & 3)
    {
    case 0:
      {
        pier_manifest *m = NULL;
        if (pier_manifest_parse (buf, len, mt, &m, &err) == 0)
          pier_manifest_free (m);
        else
          pier_error_free (&err);
        break;
      }
    case 1:
      {
        pier_index *idx = NULL;
        if (pier_index_parse (buf, len, mt, &idx, &err) == 0)
          pier_index_free (idx);
        else
          pier_error_free (&err);
        break;
      }
    default:
      {
        pier_image_config *c = NULL;
        if (pier_image_config_parse (buf, len, &c, &err) == 0)
          {
            char **chain = NULL;
            if (pier_image_chain_ids (c->diff_ids, c->n_diff_ids, &chain, &err) == 0)
              strv_free (chain);
            else
              pier_error_free (&err);
            pier_image_config_free (c);
          }
        else
          pier_error_free (&err);
        break;
      }
    }
  bool foreign = false;
  pier_compression comp;
  char *s = malloc (len + 1);
  memcpy (s, buf, len);
  s[len] = '\0';
  (void) pier_media_type_layer (s, &comp, &foreign);
  (void) pier_media_type_is_manifest (s);
  (void) pier_media_type_is_index (s);
  (void) pier_media_type_is_config (s);
  free (s);
  return 0;
}
