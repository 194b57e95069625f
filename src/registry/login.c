/* login.c - docker login / logout: credentials verified against the
 * registry, kept in docker's config.json (mode 0600). */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>

#include "registry/client.h"
#include "registry/registry.h"
#include "util/cleanup.h"
#include "util/fs.h"
#include "util/json.h"
#include "util/xalloc.h"
#include "util/banned.h"

static char *
config_dir (const pier_registry_opts *o)
{
  const char *dir = o && o->config_dir ? o->config_dir : getenv ("DOCKER_CONFIG");
  if (dir && *dir)
    return xstrdup (dir);
  const char *home = getenv ("HOME");
  return xasprintf ("%s/.docker", home && *home ? home : "/root");
}

static int
load_config (const char *dir, json_t **out, pier_error **err)
{
  cleanup_free char *path = xasprintf ("%s/config.json", dir);
  if (access (path, F_OK) < 0)
    {
      *out = json_object ();
      return 0;
    }
  if (pier_json_load_file (path, out, err) < 0)
    return -1;
  if (!json_is_object (*out))
    {
      json_decref (*out);
      *out = NULL;
      return pier_error_makex (err, EINVAL, "%s is not a JSON object", path);
    }
  return 0;
}

/* Written whole, crash-safe, mode 0600 (it holds passwords). */
static int
save_config (const char *dir, json_t *j, pier_error **err)
{
  if (mkdir (dir, 0700) < 0 && errno != EEXIST)
    return pier_error_make (err, errno, "cannot create %s", dir);
  cleanup_close int dfd = open (dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd < 0)
    return pier_error_make (err, errno, "cannot open %s", dir);
  cleanup_free char *text = json_dumps (j, JSON_INDENT (1) | JSON_PRESERVE_ORDER);
  cleanup_free char *with_nl = xasprintf ("%s\n", text);
  if (pier_atomic_write (dfd, "config.json", with_nl, strlen (with_nl), 0600, err) < 0)
    return pier_error_wrap (err, "cannot save the credentials in %s/config.json", dir);
  return 0;
}

int
pier_registry_login (const char *server, const char *user, const char *password, const pier_registry_opts *o,
                     pier_error **err)
{
  if (user == NULL || *user == '\0')
    return pier_error_makex (err, EINVAL, "Username is required");
  if (password == NULL || *password == '\0')
    return pier_error_makex (err, EINVAL, "Password is required");
  if (pier_curl_dl_open (err) < 0)
    return -1;
  cleanup_free char *key = pier_registry_auth_key (server);
  /* Where to connect: the host of the key (docker.io for the default). */
  const char *domain = strcmp (key, "https://index.docker.io/v1/") == 0 ? "docker.io" : key;
  cleanup_json json_t *conf = NULL;
  if (reg_conf_load (o, &conf, err) < 0)
    return -1;
  reg_client *c = reg_client_for (domain, o, conf, user, password, NULL);
  int rc = reg_client_ping (c, true, err);
  reg_client_free (c);
  if (rc < 0)
    return -1;
  cleanup_free char *dir = config_dir (o);
  cleanup_json json_t *j = NULL;
  if (load_config (dir, &j, err) < 0)
    return -1;
  json_t *auths = json_object_get (j, "auths");
  if (!json_is_object (auths))
    {
      auths = json_object ();
      json_object_set_new (j, "auths", auths);
    }
  cleanup_free char *up = xasprintf ("%s:%s", user, password);
  size_t n = strlen (up);
  cleanup_free char *enc = xmalloc (4 * ((n + 2) / 3) + 1);
  EVP_EncodeBlock ((unsigned char *) enc, (const unsigned char *) up, (int) n);
  explicit_bzero (up, n);
  json_object_set_new (auths, key, json_pack ("{s:s}", "auth", enc));
  return save_config (dir, j, err);
}

int
pier_registry_logout (const char *server, const pier_registry_opts *o, pier_error **err)
{
  cleanup_free char *key = pier_registry_auth_key (server);
  cleanup_free char *dir = config_dir (o);
  cleanup_json json_t *j = NULL;
  if (load_config (dir, &j, err) < 0)
    return -1;
  json_t *auths = json_object_get (j, "auths");
  bool found = false;
  if (json_is_object (auths))
    {
      /* Every spelling of the server goes. */
      const char *k;
      json_t *v;
      void *tmp;
      json_object_foreach_safe (auths, tmp, k, v)
      {
        cleanup_free char *norm = pier_registry_auth_key (k);
        if (strcmp (norm, key) == 0)
          {
            json_object_del (auths, k);
            found = true;
          }
      }
    }
  if (!found)
    {
      const char *shown = server && *server ? server : key;
      return pier_error_makex (err, ENOENT, "Not logged in to %s", shown);
    }
  return save_config (dir, j, err);
}
