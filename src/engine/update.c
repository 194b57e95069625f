/* update.c - docker update: a container's resources and restart policy,
 * changed in its record and, while it runs, in its cgroups. */
#include <errno.h>
#include <string.h>

#include "engine/engine.h"
#include "engine/internal.h"
#include "runtime/container.h"
#include "runtime/resources.h"
#include "store/db.h"
#include "util/cleanup.h"
#include "util/json.h"
#include "util/xalloc.h"

#include "util/banned.h"

int
pier_engine_update (pier_engine *e, const char *id, json_t *changes, pier_error **err)
{
  cleanup_json json_t *rec = NULL, *state = NULL;
  if (pier_engine_load (e, id, &rec, &state, err) < 0)
    return -1;
  json_t *hc = json_object_get (rec, "HostConfig");
  int64_t mem = json_integer_value (json_object_get (changes, "Memory"));
  int64_t cur_swap = json_integer_value (json_object_get (hc, "MemorySwap"));
  if (mem > 0 && !json_object_get (changes, "MemorySwap") && cur_swap > 0 && mem > cur_swap)
    return pier_error_makex (err, EINVAL,
                             "Memory limit should be smaller than already set memoryswap limit, update the "
                             "memoryswap at the same time");
  const char *key;
  json_t *v;
  json_object_foreach (changes, key, v) json_object_set (hc, key, v);
  /* The same checks as at create, on the merged result. */
  if (pier_engine_check_host_config (hc, err) < 0)
    return -1;

  /* A running container gets the new limits now. */
  const char *status = json_string_value (json_object_get (state, "Status"));
  if (status && (strcmp (status, "running") == 0 || strcmp (status, "paused") == 0))
    {
      json_t *res = pier_engine_oci_resources (hc, err);
      if (res == NULL)
        return -1;
      json_object_del (res, "devices");
      pier_resources *r = NULL;
      int rc = pier_resources_parse (res, &r, err);
      json_decref (res);
      if (rc < 0)
        return -1;
      cleanup_free char *rt = pier_engine_runtime_root (e);
      rc = pier_container_update (rt, id, r, err);
      pier_resources_free (r);
      if (rc < 0)
        return pier_error_wrap (err, "Cannot update container %s", id);
    }
  cleanup_free char *text = pier_json_dump (rec, 0);
  return pier_db_container_set_config (pier_store_db (e->st), id, text, err);
}
