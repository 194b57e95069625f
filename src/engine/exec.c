/* exec.c - docker exec: a process in a running container, made from the
 * container's own process spec (capabilities, seccomp, rlimits stay as
 * the container has them) with the exec's command, env, user and cwd. */
#include "engine/engine.h"
#include "engine/internal.h"
#include "engine/profile.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "runtime/container.h"
#include "runtime/spec.h"
#include "util/cleanup.h"
#include "util/json.h"
#include "util/xalloc.h"

#include "util/banned.h"

int
pier_engine_exec (pier_engine *e, const char *id, const pier_engine_exec_opts *o, pid_t *pid,
                  pier_error **err)
{
  cleanup_json json_t *rec = NULL;
  cleanup_json json_t *state = NULL;
  if (pier_engine_load (e, id, &rec, &state, err) < 0)
    return -1;
  const char *status = json_string_value (json_object_get (state, "Status"));
  if (strcmp (status, "paused") == 0)
    return pier_error_makex (err, EINVAL, "Container %s is paused, unpause the container before exec", id);
  if (strcmp (status, "running") != 0)
    return pier_error_makex (err, EINVAL, "container %s is not running", id);
  cleanup_free char *dir = pier_engine_container_dir (e, id);
  cleanup_free char *rt = pier_engine_runtime_root (e);
  return pier_engine_exec_in (dir, rt, e->runroot, id,
                              (pid_t) json_integer_value (json_object_get (state, "Pid")), o, pid, err);
}

int
pier_engine_exec_in (const char *dir, const char *rtroot, const char *runroot, const char *id, pid_t init_pid,
                     const pier_engine_exec_opts *o, pid_t *pid, pier_error **err)
{
  cleanup_free char *cfgpath = xasprintf ("%s/config.json", dir);
  cleanup_json json_t *spec = NULL;
  if (pier_json_load_file (cfgpath, &spec, err) < 0)
    return -1;
  json_t *proc = json_deep_copy (json_object_get (spec, "process"));
  cleanup_json json_t *procref = proc;
  if (!json_is_object (proc))
    return pier_error_makex (err, EIO, "container %s: its config has no process", id);
  json_t *args = json_array ();
  for (size_t i = 0; o->args[i]; i++)
    json_array_append_new (args, json_string (o->args[i]));
  json_object_set_new (proc, "args", args);
  json_object_set_new (proc, "terminal", json_boolean (o->tty));
  json_t *env = json_object_get (proc, "env");
  for (size_t i = 0; o->env && o->env[i]; i++)
    {
      size_t kl = strcspn (o->env[i], "=");
      bool replaced = false;
      for (size_t k = 0; k < json_array_size (env) && !replaced; k++)
        {
          const char *cur = json_string_value (json_array_get (env, k));
          if (strncmp (cur, o->env[i], kl) == 0 && cur[kl] == '=')
            {
              json_array_set_new (env, k, json_string (o->env[i]));
              replaced = true;
            }
        }
      if (!replaced)
        json_array_append_new (env, json_string (o->env[i]));
    }
  if (o->tty)
    {
      bool has_term = false;
      for (size_t k = 0; k < json_array_size (env); k++)
        has_term |= strncmp (json_string_value (json_array_get (env, k)), "TERM=", 5) == 0;
      if (!has_term)
        json_array_append_new (env, json_string ("TERM=xterm"));
    }
  if (o->workdir && *o->workdir)
    json_object_set_new (proc, "cwd", json_string (o->workdir));
  if (o->user && *o->user)
    {
      cleanup_free char *root = xasprintf ("/proc/%d/root", (int) init_pid);
      cleanup_close int rootfd = open (root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
      if (rootfd < 0)
        return pier_error_make (err, errno, "cannot open the root of container %s", id);
      json_t *user = json_object ();
      json_object_set_new (proc, "user", user);
      if (pier_engine_resolve_user (rootfd, o->user, NULL, user, NULL, err) < 0)
        return -1;
    }
  if (o->privileged)
    {
      cleanup_strv char **caps = NULL;
      if (pier_profile_caps (NULL, NULL, true, &caps, err) < 0)
        return -1;
      json_t *all = json_array ();
      for (size_t i = 0; caps[i]; i++)
        json_array_append_new (all, json_string (caps[i]));
      json_object_set_new (
          proc, "capabilities",
          json_pack ("{s:O, s:O, s:O}", "bounding", all, "effective", all, "permitted", all));
      json_decref (all);
    }
  pier_process *p = NULL;
  if (pier_process_parse (proc, "exec", &p, err) < 0)
    return -1;
  cleanup_free char *sc = pier_engine_seccomp_cache (runroot);
  pier_exec_request r = {
    .root = rtroot, .id = id, .process = p, .console_fd = o->console_fd, .detach = true, .seccomp_cache = sc
  };
  int st = 0;
  int rc = pier_container_exec (&r, pid, &st, err);
  pier_process_free (p);
  return rc;
}
