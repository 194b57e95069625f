/* conf.c - pier's registries file: insecure registries and mirrors. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "registry/client.h"
#include "util/cleanup.h"
#include "util/json.h"
#include "util/xalloc.h"
#include "util/banned.h"

int
reg_conf_load (const pier_registry_opts *o, json_t **out, pier_error **err)
{
  const char *path = o && o->registries_conf ? o->registries_conf : getenv ("PIER_REGISTRIES_CONF");
  if (path == NULL || *path == '\0')
    path = "/etc/pier/registries.json";
  if (access (path, F_OK) < 0)
    {
      *out = json_object ();
      return 0;
    }
  json_t *j = NULL;
  if (pier_json_load_file (path, &j, err) < 0)
    return pier_error_wrap (err, "registries file");
  const char *bad = NULL;
  json_t *ins = json_object_get (j, "insecure-registries");
  json_t *dm = json_object_get (j, "registry-mirrors");
  json_t *mirrors = json_object_get (j, "mirrors");
  size_t i;
  json_t *v;
  const char *k;
  if (!json_is_object (j))
    bad = "it is not a JSON object";
  else if (ins && !json_is_array (ins))
    bad = "\"insecure-registries\" is not a list";
  else if (dm && !json_is_array (dm))
    bad = "\"registry-mirrors\" is not a list";
  else if ((json_object_get (j, "max-concurrent-downloads")
            && json_integer_value (json_object_get (j, "max-concurrent-downloads")) < 1)
           || (json_object_get (j, "max-concurrent-uploads")
               && json_integer_value (json_object_get (j, "max-concurrent-uploads")) < 1))
    bad = "\"max-concurrent-downloads\" and \"max-concurrent-uploads\" must be positive integers";
  else if (mirrors && !json_is_object (mirrors))
    bad = "\"mirrors\" is not an object of registry -> list of mirror URLs";
  json_array_foreach (ins, i, v) if (!json_is_string (v)) bad = "\"insecure-registries\" holds a non-string";
  json_array_foreach (dm, i, v) if (!json_is_string (v)
                                    || (strncmp (json_string_value (v), "http://", 7) != 0
                                        && strncmp (json_string_value (v), "https://", 8) != 0)) bad
      = "a mirror is not an http:// or https:// URL";
  json_object_foreach (mirrors, k, v)
  {
    if (!json_is_array (v))
      bad = "\"mirrors\" holds a registry whose mirrors are not a list";
    json_array_foreach (v, i, dm) if (!json_is_string (dm)
                                      || (strncmp (json_string_value (dm), "http://", 7) != 0
                                          && strncmp (json_string_value (dm), "https://", 8) != 0)) bad
        = "a mirror is not an http:// or https:// URL";
  }
  if (bad)
    {
      json_decref (j);
      return pier_error_makex (err, EINVAL, "registries file %s: %s", path, bad);
    }
  *out = j;
  return 0;
}

bool
reg_conf_insecure (json_t *conf, const char *domain)
{
  size_t i;
  json_t *v;
  json_array_foreach (json_object_get (conf, "insecure-registries"), i, v)
  {
    cleanup_free char *key = pier_registry_auth_key (json_string_value (v));
    cleanup_free char *want = pier_registry_auth_key (domain);
    if (strcmp (key, want) == 0)
      return true;
  }
  return false;
}

char **
reg_conf_mirrors (json_t *conf, const char *domain)
{
  char **out = NULL;
  size_t i;
  json_t *v;
  if (strcmp (domain, "docker.io") == 0)
    json_array_foreach (json_object_get (conf, "registry-mirrors"), i, v)
        strv_push (&out, json_string_value (v));
  json_array_foreach (json_object_get (json_object_get (conf, "mirrors"), domain), i, v)
      strv_push (&out, json_string_value (v));
  return out;
}

reg_client *
reg_client_for (const char *domain, const pier_registry_opts *o, json_t *conf, const char *user,
                const char *password, const char *scope)
{
  reg_client *c = reg_client_new (domain, o, user, password, scope);
  if (reg_conf_insecure (conf, domain))
    reg_client_set_insecure (c);
  return c;
}

reg_client *
reg_client_for_mirror (const char *url, const pier_registry_opts *o, const char *scope)
{
  bool https = strncmp (url, "https://", 8) == 0;
  const char *h = url + (https ? 8 : 7);
  cleanup_free char *host = xstrndup (h, strcspn (h, "/"));
  reg_client *c = reg_client_new (host, o, NULL, NULL, scope);
  reg_client_force_scheme (c, https ? "https" : "http");
  return c;
}

int
reg_conf_concurrency (const pier_registry_opts *o, const char *key)
{
  if (o && o->max_concurrent > 0)
    return o->max_concurrent;
  json_t *conf = NULL;
  if (reg_conf_load (o, &conf, NULL) < 0)
    return 3;
  json_int_t v = json_integer_value (json_object_get (conf, key));
  json_decref (conf);
  return v > 0 ? (int) v : 3;
}
