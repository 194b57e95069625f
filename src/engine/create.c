/* create.c - container records: create (docker's config merge with the
 * image), lookup, inspect, list, rename, remove. */
#include "engine/engine.h"
#include "engine/internal.h"
#include "engine/volumes.h"
#include "engine/network.h"
#include "engine/userns.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "image/images.h"
#include "store/db.h"
#include "util/cleanup.h"
#include "util/fs.h"
#include "util/json.h"
#include "util/timestamp.h"
#include "util/xalloc.h"

#include "util/banned.h"

pier_engine *
pier_engine_new (pier_store *st, const char *runroot)
{
  pier_engine *e = xzalloc (sizeof *e);
  e->st = st;
  e->root = xstrdup (pier_store_root (st));
  e->runroot = xstrdup (runroot);
  pier_engine_boot (e);
  return e;
}

void
pier_engine_free (pier_engine *e)
{
  if (e == NULL)
    return;
  free (e->root);
  free (e->runroot);
  free (e);
}

char *
pier_engine_runtime_root (const pier_engine *e)
{
  return pier_path_join (e->runroot, "runtime");
}

char *
pier_engine_seccomp_cache (const char *runroot)
{
  return pier_path_join (runroot, "seccomp");
}

char *
pier_engine_container_dir (const pier_engine *e, const char *id)
{
  return xasprintf ("%s/containers/%s", e->root, id);
}

bool
pier_engine_name_valid (const char *name)
{
  static const char alnum[] = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
  if (name == NULL || strlen (name) < 2 || strchr (alnum, name[0]) == NULL || name[0] == '\0')
    return false;
  for (const char *p = name; *p; p++)
    if (strchr (alnum, *p) == NULL && *p != '_' && *p != '.' && *p != '-')
      return false;
  return true;
}

static const char *const adjectives[] = {
  "admiring", "agitated", "amazing",   "angry",      "awesome",  "blissful", "bold",    "brave",
  "busy",     "charming", "clever",    "cool",       "cranky",   "dazzling", "eager",   "ecstatic",
  "elegant",  "epic",     "festive",   "focused",    "friendly", "gallant",  "gifted",  "happy",
  "hopeful",  "jolly",    "keen",      "kind",       "laughing", "lucid",    "magical", "modest",
  "nervous",  "nifty",    "nostalgic", "optimistic", "peaceful", "pensive",  "quirky",  "relaxed",
  "serene",   "sharp",    "stoic",     "sweet",      "tender",   "upbeat",   "vibrant", "zealous",
};

static const char *const surnames[] = {
  "babbage", "bardeen",  "bohr",     "curie",    "darwin",   "dijkstra", "einstein", "euler",
  "faraday", "fermi",    "feynman",  "franklin", "galileo",  "gauss",    "hamilton", "hopper",
  "hypatia", "kepler",   "knuth",    "lamport",  "lovelace", "maxwell",  "meitner",  "mendel",
  "morse",   "newton",   "noether",  "pascal",   "pasteur",  "planck",   "ritchie",  "shannon",
  "tesla",   "thompson", "torvalds", "turing",   "volta",    "wiles",    "wozniak",  "yalow",
};

char *
pier_engine_random_name (void)
{
  uint32_t r[2] = { 0, 0 };
  if (getrandom (r, sizeof r, 0) != sizeof r)
    r[0] = (uint32_t) getpid (), r[1] = (uint32_t) time (NULL);
  return xasprintf ("%s_%s", adjectives[r[0] % (sizeof adjectives / sizeof *adjectives)],
                    surnames[r[1] % (sizeof surnames / sizeof *surnames)]);
}

static char *
random_id (void)
{
  unsigned char b[32];
  if (getrandom (b, sizeof b, 0) != sizeof b)
    abort ();
  char *hex = xmalloc (65);
  for (size_t i = 0; i < sizeof b; i++)
    snprintf (hex + 2 * i, 3, "%02x", b[i]);
  return hex;
}

/* "KEY=V" lists: image first, the user's entries replace the image's by
 * key, in place, as docker merges them. */
static json_t *
merge_env (json_t *image_env, json_t *user_env)
{
  json_t *out = json_array ();
  size_t i;
  json_t *v;
  json_array_foreach (image_env, i, v) if (json_is_string (v)) json_array_append (out, v);
  json_array_foreach (user_env, i, v)
  {
    const char *s = json_string_value (v);
    if (s == NULL)
      continue;
    size_t kl = strcspn (s, "=");
    bool replaced = false;
    for (size_t k = 0; k < json_array_size (out); k++)
      {
        const char *o = json_string_value (json_array_get (out, k));
        if (strncmp (o, s, kl) == 0 && (o[kl] == '=' || o[kl] == '\0'))
          {
            json_array_set (out, k, v);
            replaced = true;
            break;
          }
      }
    if (!replaced)
      json_array_append (out, v);
  }
  return out;
}

static bool
empty_strarr (json_t *a)
{
  return a == NULL || json_is_null (a) || (json_is_array (a) && json_array_size (a) == 0);
}

static const char *const health_durations[] = { "Interval", "Timeout", "StartPeriod", "StartInterval", NULL };

/* docker's validateHealthCheck, on the request's Healthcheck (before the
 * image's is merged in). */
static int
check_healthcheck (json_t *hc, pier_error **err)
{
  if (hc == NULL || json_is_null (hc))
    return 0;
  if (!json_is_object (hc))
    return pier_error_makex (err, EINVAL, "Healthcheck must be an object");
  json_t *test = json_object_get (hc, "Test");
  if (test && !json_is_null (test) && !json_is_array (test))
    return pier_error_makex (err, EINVAL, "Healthcheck.Test must be an array of strings");
  for (size_t i = 0; i < json_array_size (test); i++)
    if (!json_is_string (json_array_get (test, i)))
      return pier_error_makex (err, EINVAL, "Healthcheck.Test must be an array of strings");
  for (size_t i = 0; health_durations[i]; i++)
    {
      json_t *v = json_object_get (hc, health_durations[i]);
      if (v && !json_is_null (v) && !json_is_integer (v))
        return pier_error_makex (err, EINVAL, "%s in Healthcheck must be a number of nanoseconds",
                                 health_durations[i]);
      json_int_t ns = json_integer_value (v);
      if (ns != 0 && ns < 1000000)
        return pier_error_makex (err, EINVAL, "%s in Healthcheck cannot be less than 1ms",
                                 health_durations[i]);
    }
  if (json_integer_value (json_object_get (hc, "Retries")) < 0)
    return pier_error_makex (err, EINVAL, "Retries in Healthcheck cannot be negative");
  return 0;
}

/* docker's merge of a Healthcheck: the image's where the user's has none,
 * field by field where the user's leaves a field unset. */
static void
merge_healthcheck (json_t *cfg, json_t *img)
{
  json_t *ih = json_object_get (img, "Healthcheck");
  json_t *uh = json_object_get (cfg, "Healthcheck");
  if (!json_is_object (uh))
    {
      if (json_is_object (ih))
        json_object_set_new (cfg, "Healthcheck", json_deep_copy (ih));
      else
        json_object_del (cfg, "Healthcheck");
      return;
    }
  if (!json_is_object (ih))
    return;
  if (json_array_size (json_object_get (uh, "Test")) == 0 && json_object_get (ih, "Test"))
    json_object_set (uh, "Test", json_object_get (ih, "Test"));
  static const char *const more[] = { "Retries", NULL };
  const char *const *lists[] = { health_durations, more };
  for (size_t l = 0; l < 2; l++)
    for (size_t i = 0; lists[l][i]; i++)
      if (json_integer_value (json_object_get (uh, lists[l][i])) == 0 && json_object_get (ih, lists[l][i]))
        json_object_set (uh, lists[l][i], json_object_get (ih, lists[l][i]));
}

/* docker's merge of the user's Config with the image's. */
static int
merge_config (json_t *cfg, json_t *img, pier_error **err)
{
  json_t *ep = json_object_get (cfg, "Entrypoint");
  json_t *cmd = json_object_get (cfg, "Cmd");
  if (empty_strarr (ep) || json_array_size (ep) == 0)
    {
      if (empty_strarr (cmd))
        json_object_set (cfg, "Cmd", json_object_get (img, "Cmd") ?: json_null ());
      if (ep == NULL || json_is_null (ep))
        json_object_set (cfg, "Entrypoint", json_object_get (img, "Entrypoint") ?: json_null ());
    }
  /* `--entrypoint ""` resets it. */
  ep = json_object_get (cfg, "Entrypoint");
  if (json_array_size (ep) == 1 && strcmp (json_string_value (json_array_get (ep, 0)) ?: "x", "") == 0)
    json_object_set_new (cfg, "Entrypoint", json_null ());
  if (empty_strarr (json_object_get (cfg, "Entrypoint")) && empty_strarr (json_object_get (cfg, "Cmd")))
    return pier_error_makex (err, EINVAL, "no command specified");

  json_object_set_new (cfg, "Env", merge_env (json_object_get (img, "Env"), json_object_get (cfg, "Env")));
  static const char *const inherit[] = { "WorkingDir", "User", "StopSignal", NULL };
  for (size_t i = 0; inherit[i]; i++)
    {
      json_t *v = json_object_get (cfg, inherit[i]);
      if ((v == NULL || json_is_null (v) || (json_is_string (v) && *json_string_value (v) == '\0'))
          && json_object_get (img, inherit[i]))
        json_object_set (cfg, inherit[i], json_object_get (img, inherit[i]));
    }
  merge_healthcheck (cfg, img);
  const char *wd = json_string_value (json_object_get (cfg, "WorkingDir"));
  if (wd && *wd && *wd != '/')
    return pier_error_makex (err, EINVAL,
                             "the working directory '%s' is invalid, it needs to be an absolute path", wd);
  static const char *const objs[] = { "Labels", "ExposedPorts", "Volumes", NULL };
  for (size_t i = 0; objs[i]; i++)
    {
      json_t *merged = json_object ();
      if (json_is_object (json_object_get (img, objs[i])))
        json_object_update (merged, json_object_get (img, objs[i]));
      if (json_is_object (json_object_get (cfg, objs[i])))
        json_object_update (merged, json_object_get (cfg, objs[i]));
      json_object_set_new (cfg, objs[i], merged);
    }
  return 0;
}

int
pier_engine_check_host_config (json_t *hc, pier_error **err)
{
  json_t *rp = json_object_get (hc, "RestartPolicy");
  if (!json_is_object (rp))
    {
      rp = json_pack ("{s:s, s:i}", "Name", "no", "MaximumRetryCount", 0);
      json_object_set_new (hc, "RestartPolicy", rp);
    }
  const char *pol = json_string_value (json_object_get (rp, "Name"));
  if (pol == NULL || *pol == '\0')
    json_object_set_new (rp, "Name", json_string (pol = "no"));
  if (strcmp (pol, "no") != 0 && strcmp (pol, "always") != 0 && strcmp (pol, "on-failure") != 0
      && strcmp (pol, "unless-stopped") != 0)
    return pier_error_makex (err, EINVAL, "invalid restart policy '%s'", pol);
  json_int_t retries = json_integer_value (json_object_get (rp, "MaximumRetryCount"));
  if (retries < 0)
    return pier_error_makex (err, EINVAL, "invalid restart policy: maximum retry count cannot be negative");
  if (retries > 0 && strcmp (pol, "on-failure") != 0)
    return pier_error_makex (
        err, EINVAL, "invalid restart policy: maximum retry count can only be used with 'on-failure'");
  if (json_is_true (json_object_get (hc, "AutoRemove")) && strcmp (pol, "no") != 0)
    return pier_error_makex (err, EINVAL, "can't create 'AutoRemove' container with restart policy");
  json_int_t mem = json_integer_value (json_object_get (hc, "Memory"));
  if (mem > 0 && mem < 6 * 1024 * 1024)
    return pier_error_makex (err, EINVAL, "Minimum memory limit allowed is 6MB");
  json_int_t swap = json_integer_value (json_object_get (hc, "MemorySwap"));
  if (swap > 0 && mem == 0)
    return pier_error_makex (err, EINVAL,
                             "You should always set the Memory limit when using Memoryswap limit, see usage");
  if (swap > 0 && swap < mem)
    return pier_error_makex (err, EINVAL,
                             "Minimum memoryswap limit should be larger than memory limit, see usage");
  json_int_t res = json_integer_value (json_object_get (hc, "MemoryReservation"));
  if (mem > 0 && res > mem)
    return pier_error_makex (err, EINVAL,
                             "Minimum memory limit can not be less than memory reservation limit, see usage");
  json_t *init = json_object_get (hc, "Init");
  if (init && !json_is_boolean (init) && !json_is_null (init))
    return pier_error_makex (err, EINVAL, "HostConfig.Init must be a boolean");
  json_t *lc = json_object_get (hc, "LogConfig");
  if (!json_is_object (lc))
    json_object_set_new (hc, "LogConfig", lc = json_pack ("{s:s, s:{}}", "Type", "json-file", "Config"));
  const char *drv = json_string_value (json_object_get (lc, "Type"));
  if (drv == NULL || *drv == '\0')
    json_object_set_new (lc, "Type", json_string (drv = "json-file"));
  if (strcmp (drv, "json-file") != 0 && strcmp (drv, "none") != 0)
    return pier_error_makex (err, EINVAL, "logging driver `%s` is not supported (json-file or none)", drv);
  if (!json_is_object (json_object_get (lc, "Config")))
    json_object_set_new (lc, "Config", json_object ());
  const char *k;
  json_t *v;
  json_object_foreach (json_object_get (lc, "Config"), k, v)
  {
    if (strcmp (drv, "none") == 0)
      return pier_error_makex (err, EINVAL, "unknown log opt '%s' for none log driver", k);
    if (strcmp (k, "max-size") != 0 && strcmp (k, "max-file") != 0)
      return pier_error_makex (err, EINVAL, "unknown log opt '%s' for json-file log driver", k);
  }
  static const char *const modes[] = { "PidMode", "IpcMode", "UTSMode", NULL };
  for (size_t i = 0; modes[i]; i++)
    {
      const char *m = json_string_value (json_object_get (hc, modes[i]));
      if (m && *m && strcmp (m, "host") != 0 && strncmp (m, "container:", 10) != 0
          && !(strcmp (modes[i], "IpcMode") == 0
               && (strcmp (m, "private") == 0 || strcmp (m, "shareable") == 0)))
        return pier_error_makex (err, EINVAL, "invalid %s: %s", modes[i], m);
      if (m && strcmp (modes[i], "UTSMode") == 0 && strncmp (m, "container:", 10) == 0)
        return pier_error_makex (err, EINVAL, "invalid UTS mode: %s", m);
    }
  return pier_engine_userns_check (hc, err);
}

/* resolv.conf as docker makes it for a container without a bridge: the
 * host's, without nameservers on loopback (they are the host's own). */
char *
pier_engine_resolv_conf (void)
{
  cleanup_free char *host = NULL;
  size_t len;
  char *out = xstrdup ("");
  if (pier_read_file_at (AT_FDCWD, "/etc/resolv.conf", &host, &len, NULL) < 0)
    return out;
  char *save = NULL;
  for (char *line = strtok_r (host, "\n", &save); line; line = strtok_r (NULL, "\n", &save))
    {
      if (strncmp (line, "nameserver", 10) == 0)
        {
          const char *a = line + 10 + strspn (line + 10, " \t");
          if (strncmp (a, "127.", 4) == 0 || strcmp (a, "::1") == 0)
            continue;
        }
      char *n = xasprintf ("%s%s\n", out, line);
      free (out);
      out = n;
    }
  return out;
}

/* The files bind-mounted on the container's /etc: hostname, hosts and
 * resolv.conf, from its record.  Written by its monitor at every start
 * (as docker's), so never synced: a power cut that empties them is
 * mended by the next start. */
int
pier_engine_write_etc (int dirfd, json_t *cfg, json_t *hc, pier_error **err)
{
  const char *hostname = json_string_value (json_object_get (cfg, "Hostname"));
  cleanup_free char *hn = xasprintf ("%s\n", hostname ? hostname : "");
  const char *net = json_string_value (json_object_get (hc, "NetworkMode"));
  cleanup_free char *hosts = NULL;
  if (net && strcmp (net, "host") == 0)
    {
      size_t l;
      if (pier_read_file_at (AT_FDCWD, "/etc/hosts", &hosts, &l, NULL) < 0)
        hosts = xstrdup ("127.0.0.1\tlocalhost\n");
    }
  else
    hosts = xasprintf ("127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n"
                       "fe00::0\tip6-localnet\nff00::0\tip6-mcastprefix\nff02::1\tip6-allnodes\n"
                       "ff02::2\tip6-allrouters\n");
  pier_engine_net_extra_hosts (hc, &hosts);
  cleanup_free char *host_resolv = pier_engine_resolv_conf ();
  cleanup_free char *resolv = pier_engine_net_resolv_conf (hc, host_resolv);
  const char *names[] = { "hostname", "hosts", "resolv.conf" };
  const char *texts[] = { hn, hosts, resolv };
  for (size_t i = 0; i < 3; i++)
    {
      cleanup_close int fd
          = openat (dirfd, names[i], O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0644);
      if (fd < 0 || pier_write_all (fd, texts[i], strlen (texts[i])) < 0)
        return pier_error_make (err, errno, "cannot write the container's %s", names[i]);
    }
  return 0;
}

/* The container's directory is made in the store's tmp/ (under tmp_name,
 * which holds the container's id) and moved into containers/ once the
 * record is committed: a pier killed before the commit leaves only a
 * tmp/ entry, one killed after it a move the next pier finishes. */
static int
make_container_dir (pier_engine *e, const char *tmp_name, pier_error **err)
{
  int tmpfd = pier_store_tmp_fd (e->st);
  if (mkdirat (tmpfd, tmp_name, 0710) < 0)
    return pier_error_make (err, errno, "cannot create %s/tmp/%s", e->root, tmp_name);
  cleanup_close int d = openat (tmpfd, tmp_name, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
  if (d < 0)
    return pier_error_make (err, errno, "cannot open %s/tmp/%s", e->root, tmp_name);
  static const char *const subdirs[] = { "upper", "work", "rootfs", NULL };
  for (size_t i = 0; subdirs[i]; i++)
    if (mkdirat (d, subdirs[i], i == 0 ? 0755 : 0700) < 0)
      return pier_error_make (err, errno, "cannot create %s/tmp/%s/%s", e->root, tmp_name, subdirs[i]);
  /* Its /etc files come with each start (pier_engine_write_etc). */
  if (fsync (d) < 0)
    return pier_error_make (err, errno, "cannot sync %s/tmp/%s", e->root, tmp_name);
  return 0;
}

/* Move a recorded container's directory from tmp/ to containers/<id>
 * (after the record's commit; a pier killed before it leaves the
 * directory in tmp/, and the next store open finishes the move:
 * pier_store_clean_tmp). */
static int
place_container_dir (pier_engine *e, const char *tmp_name, const char *id, pier_error **err)
{
  cleanup_close int cdir
      = openat (pier_store_root_fd (e->st), "containers", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (cdir < 0)
    return pier_error_make (err, errno, "cannot open %s/containers", e->root);
  if (renameat (pier_store_tmp_fd (e->st), tmp_name, cdir, id) < 0)
    return pier_error_make (err, errno, "cannot move the container's directory to %s/containers/%s", e->root,
                            id);
  /* Not synced: lost in a power cut, the move is made again from tmp/. */
  return 0;
}

int
pier_engine_container_remove (const char *root, pier_db *db, const char *id, char **leftover,
                              pier_error **err)
{
  cleanup_close int rfd = open (root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (rfd < 0)
    return pier_error_make (err, errno, "cannot open %s", root);
  cleanup_free char *rel = xasprintf ("containers/%s", id);
  /* Named with the id, so that a pier killed before the record goes has
   * the next store open put it back. */
  cleanup_free char *name = pier_store_container_tmp_name (NULL, id);
  cleanup_free char *tmp = xasprintf ("tmp/%s", name);
  bool moved = renameat (rfd, rel, rfd, tmp) == 0;
  if (!moved && errno != ENOENT)
    return pier_error_make (err, errno, "cannot remove container %s: cannot move %s/%s to %s/tmp", id, root,
                            rel, root);
  if (pier_db_container_delete (db, id, err) < 0)
    {
      /* Still recorded: the directory goes back. */
      if (moved)
        renameat (rfd, tmp, rfd, rel);
      return -1;
    }
  /* What cannot go now goes with a later pier (a tmp/ entry of ours). */
  if (leftover)
    *leftover = xasprintf ("%s/%s", root, tmp);
  else
    pier_rmtree_at (rfd, tmp, NULL);
  return 0;
}

int
pier_engine_create (pier_engine *e, const char *name, json_t *body, char **id_out, char ***warnings,
                    pier_error **err)
{
  pier_db *db = pier_store_db (e->st);
  cleanup_free char *image_id = NULL;
  cleanup_free char *gen_name = NULL;
  cleanup_json json_t *img = NULL;
  bool generated = false;
  int draws = 0;

  if (name && *name == '/')
    name++;
  if (name && *name)
    {
      if (!pier_engine_name_valid (name))
        return pier_error_makex (
            err, EINVAL, "Invalid container name (%s), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed", name);
    }
  else
    {
      /* A free random name; a few tries, then the id decides. */
      for (int tries = 0; tries < 10 && gen_name == NULL; tries++)
        {
          char *n = pier_engine_random_name ();
          cleanup_free char *found = NULL;
          if (pier_db_container_find (db, n, &found, NULL) < 0)
            gen_name = n;
          else
            free (n);
        }
      name = gen_name;
      generated = true;
    }

  const char *image = json_string_value (json_object_get (body, "Image"));
  if (image == NULL || *image == '\0')
    return pier_error_makex (err, EINVAL, "no image given");
  if (pier_image_resolve (e->st, image, &image_id, err) < 0)
    return -1;
  if (pier_image_inspect (e->st, image_id, &img, err) < 0)
    return -1;
  json_t *imgcfg = json_object_get (img, "Config");

  cleanup_free char *id = random_id ();
  if (name == NULL)
    name = gen_name = xstrndup (id, 12);
  cleanup_json json_t *cfg = json_deep_copy (body);
  json_t *hc = json_object_get (cfg, "HostConfig");
  hc = hc ? json_incref (hc) : json_object ();
  json_object_del (cfg, "HostConfig");
  cleanup_json json_t *hcref = hc;
  if (!json_is_object (hc))
    return pier_error_makex (err, EINVAL, "HostConfig must be an object");
  cleanup_json json_t *networks = NULL;
  if (check_healthcheck (json_object_get (cfg, "Healthcheck"), err) < 0 || merge_config (cfg, imgcfg, err) < 0
      || pier_engine_check_host_config (hc, err) < 0
      || pier_engine_net_prepare (e, hc, body, &networks, warnings, err) < 0)
    return -1;
  json_object_del (cfg, "NetworkingConfig");
  const char *hostname = json_string_value (json_object_get (cfg, "Hostname"));
  if (hostname == NULL || *hostname == '\0')
    {
      cleanup_free char *short_id = xstrndup (id, 12);
      json_object_set_new (cfg, "Hostname", json_string (short_id));
    }
  if (json_object_get (cfg, "Domainname") == NULL)
    json_object_set_new (cfg, "Domainname", json_string (""));

  /* Path and Args: the entrypoint and command together. */
  json_t *argv = json_array ();
  json_array_extend (argv, json_object_get (cfg, "Entrypoint"));
  json_array_extend (argv, json_object_get (cfg, "Cmd"));
  cleanup_json json_t *argvref = argv;

  char created[64];
  pier_time_now_rfc3339 (created, sizeof created);
  cleanup_free char *dir = pier_engine_container_dir (e, id);
  cleanup_free char *logpath = xasprintf ("%s/%s-json.log", dir, id);
  cleanup_free char *upper = xasprintf ("%s/upper", dir);
  cleanup_free char *work = xasprintf ("%s/work", dir);
  cleanup_free char *merged = xasprintf ("%s/rootfs", dir);
  cleanup_free char *hostsp = xasprintf ("%s/hosts", dir);
  cleanup_free char *hostnamep = xasprintf ("%s/hostname", dir);
  cleanup_free char *resolvp = xasprintf ("%s/resolv.conf", dir);
  cleanup_free char *dname = xasprintf ("/%s", name);
  json_t *args = json_array ();
  for (size_t i = 1; i < json_array_size (argv); i++)
    json_array_append (args, json_array_get (argv, i));
  cleanup_json json_t *rec = json_pack (
      "{s:s, s:s, s:s, s:o, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:O, s:{s:{s:s, s:s, s:s}, s:s}, "
      "s:[], s:O, s:{s:s, s:{}}}",
      "Id", id, "Created", created, "Path", json_string_value (json_array_get (argv, 0)), "Args", args,
      "Image", image_id, "ResolvConfPath", resolvp, "HostnamePath", hostnamep, "HostsPath", hostsp, "LogPath",
      strcmp (json_string_value (json_object_get (json_object_get (hc, "LogConfig"), "Type")), "none") == 0
          ? ""
          : logpath,
      "Name", dname, "Driver", "overlay2", "Platform", "linux", "MountLabel", "", "HostConfig", hc,
      "GraphDriver", "Data", "UpperDir", upper, "WorkDir", work, "MergedDir", merged, "Name", "overlay2",
      "Mounts", "Config", cfg, "NetworkSettings", "SandboxID", "", "Ports");
  if (rec == NULL)
    return pier_error_makex (err, EINVAL, "malformed container request");
  json_object_set (json_object_get (rec, "Config"), "Image", json_object_get (body, "Image"));
  cleanup_strv char **undo = NULL;
  if (pier_engine_mounts_resolve (e, rec, &undo, err) < 0 || pier_engine_userns_check_mounts (rec, err) < 0)
    {
      pier_engine_mounts_undo (e, undo);
      return -1;
    }
  json_object_set (json_object_get (rec, "NetworkSettings"), "Networks", networks);
  cleanup_json json_t *state = pier_engine_state_new ("created");
  cleanup_free char *rec_text = pier_json_dump (rec, 0);
  cleanup_free char *state_text = pier_json_dump (state, 0);

  cleanup_free char *tmp_name = pier_store_container_tmp_name (e->st, id);
  if (make_container_dir (e, tmp_name, err) < 0)
    {
      pier_rmtree_at (pier_store_tmp_fd (e->st), tmp_name, NULL);
      pier_engine_mounts_undo (e, undo);
      return -1;
    }
  struct timespec now;
  clock_gettime (CLOCK_REALTIME, &now);
  pier_db_container c = { id,       (char *) name, image_id, (int64_t) now.tv_sec * 1000000000 + now.tv_nsec,
                          rec_text, state_text };
  int r = 0;
  /* --userns=auto: the host ids are picked in the transaction that
   * records the container, so that concurrent creates see each other. */
  bool tx = pier_engine_userns_auto (hc);
  if (tx && (r = pier_db_begin (db, err)) == 0 && (r = pier_engine_userns_allocate (db, hc, err)) == 0)
    {
      free (rec_text);
      rec_text = c.config = pier_json_dump (rec, 0);
    }
  /* A generated name another pier took meanwhile: draw again. */
  while (r == 0 && (r = pier_db_container_add (db, &c, err)) < 0 && (*err)->code == EEXIST && generated
         && ++draws < 50)
    {
      pier_error_free (err);
      r = 0; /* and add again */
      free (gen_name);
      gen_name = pier_engine_random_name ();
      if (draws > 20)
        {
          char *n = xasprintf ("%s_%.6s", gen_name, id);
          free (gen_name);
          gen_name = n;
        }
      name = c.name = gen_name;
      cleanup_free char *dn = xasprintf ("/%s", name);
      json_object_set_new (rec, "Name", json_string (dn));
      free (rec_text);
      rec_text = c.config = pier_json_dump (rec, 0);
    }
  if (r == 0 && tx)
    r = pier_db_commit (db, err);
  if (r < 0)
    {
      if (tx)
        pier_db_rollback (db, NULL);
      pier_rmtree_at (pier_store_tmp_fd (e->st), tmp_name, NULL);
      pier_engine_mounts_undo (e, undo);
      if ((*err)->code == EEXIST)
        {
          cleanup_free char *other = NULL;
          if (pier_db_container_find (db, name, &other, NULL) == 0)
            {
              pier_error_free (err);
              return pier_error_makex (
                  err, EEXIST,
                  "Conflict. The container name \"/%s\" is already in use by container \"%s\". "
                  "You have to remove (or rename) that container to be able to reuse that "
                  "name.",
                  name, other);
            }
        }
      return -1;
    }
  if (place_container_dir (e, tmp_name, id, err) < 0)
    {
      pier_db_container_delete (db, id, NULL);
      pier_rmtree_at (pier_store_tmp_fd (e->st), tmp_name, NULL);
      pier_engine_mounts_undo (e, undo);
      return -1;
    }
  /* A volume removed between its lookup and the record: not ours now. */
  if (pier_engine_mounts_verify (e, rec, err) < 0)
    {
      pier_db_container_delete (db, id, NULL);
      pier_rmtree_at (AT_FDCWD, dir, NULL);
      pier_engine_mounts_undo (e, undo);
      return -1;
    }
  *id_out = steal_pointer (&id);
  return 0;
}

int
pier_engine_find (pier_engine *e, const char *key, char **id, pier_error **err)
{
  return pier_db_container_find (pier_store_db (e->st), key, id, err);
}

int
pier_engine_rename (pier_engine *e, const char *id, const char *name, pier_error **err)
{
  if (*name == '/')
    name++;
  if (!pier_engine_name_valid (name))
    return pier_error_makex (err, EINVAL,
                             "Invalid container name (%s), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed", name);
  cleanup_json json_t *rec = NULL;
  pier_db *db = pier_store_db (e->st);
  if (pier_engine_load (e, id, &rec, NULL, err) < 0)
    return -1;
  cleanup_free char *dname = xasprintf ("/%s", name);
  if (strcmp (json_string_value (json_object_get (rec, "Name")), dname) == 0)
    return pier_error_makex (err, EINVAL, "Renaming a container with the same name as its current name");
  json_object_set_new (rec, "Name", json_string (dname));
  cleanup_free char *text = pier_json_dump (rec, 0);
  if (pier_db_begin (db, err) < 0)
    return -1;
  if (pier_db_container_rename (db, id, name, err) < 0
      || pier_db_container_set_config (db, id, text, err) < 0)
    {
      pier_db_rollback (db, NULL);
      if ((*err)->code == EEXIST)
        {
          pier_error_free (err);
          return pier_error_makex (
              err, EEXIST,
              "Error when allocating new name: Conflict. The container name \"/%s\" is already in use", name);
        }
      return -1;
    }
  return pier_db_commit (db, err);
}

int
pier_engine_containers_of_image (pier_engine *e, const char *image_id, char ***ids, pier_error **err)
{
  return pier_db_containers_of_image (pier_store_db (e->st), image_id, ids, err);
}
