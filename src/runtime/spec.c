#include "runtime/spec.h"

#include <errno.h>
#include <limits.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/personality.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "runtime/mountopts.h"
#include "util/cleanup.h"
#include "util/fs.h"
#include "util/json.h"
#include "util/xalloc.h"
#include "util/banned.h"

#ifndef CLONE_NEWTIME
#define CLONE_NEWTIME 0x00000080
#endif

const struct pier_ns_info pier_ns_table[PIER_NS_COUNT] = {
  [PIER_NS_USER] = { "user", "user", CLONE_NEWUSER },
  [PIER_NS_CGROUP] = { "cgroup", "cgroup", CLONE_NEWCGROUP },
  [PIER_NS_IPC] = { "ipc", "ipc", CLONE_NEWIPC },
  [PIER_NS_UTS] = { "uts", "uts", CLONE_NEWUTS },
  [PIER_NS_NET] = { "network", "net", CLONE_NEWNET },
  [PIER_NS_PID] = { "pid", "pid", CLONE_NEWPID },
  [PIER_NS_MNT] = { "mount", "mnt", CLONE_NEWNS },
  [PIER_NS_TIME] = { "time", "time", CLONE_NEWTIME },
};

const char *const pier_hook_names[PIER_HOOK_KINDS] = {
  "prestart", "createRuntime", "createContainer", "startContainer", "poststart", "poststop",
};

static const char *const cap_names[] = {
  "CAP_CHOWN",
  "CAP_DAC_OVERRIDE",
  "CAP_DAC_READ_SEARCH",
  "CAP_FOWNER",
  "CAP_FSETID",
  "CAP_KILL",
  "CAP_SETGID",
  "CAP_SETUID",
  "CAP_SETPCAP",
  "CAP_LINUX_IMMUTABLE",
  "CAP_NET_BIND_SERVICE",
  "CAP_NET_BROADCAST",
  "CAP_NET_ADMIN",
  "CAP_NET_RAW",
  "CAP_IPC_LOCK",
  "CAP_IPC_OWNER",
  "CAP_SYS_MODULE",
  "CAP_SYS_RAWIO",
  "CAP_SYS_CHROOT",
  "CAP_SYS_PTRACE",
  "CAP_SYS_PACCT",
  "CAP_SYS_ADMIN",
  "CAP_SYS_BOOT",
  "CAP_SYS_NICE",
  "CAP_SYS_RESOURCE",
  "CAP_SYS_TIME",
  "CAP_SYS_TTY_CONFIG",
  "CAP_MKNOD",
  "CAP_LEASE",
  "CAP_AUDIT_WRITE",
  "CAP_AUDIT_CONTROL",
  "CAP_SETFCAP",
  "CAP_MAC_OVERRIDE",
  "CAP_MAC_ADMIN",
  "CAP_SYSLOG",
  "CAP_WAKE_ALARM",
  "CAP_BLOCK_SUSPEND",
  "CAP_AUDIT_READ",
  "CAP_PERFMON",
  "CAP_BPF",
  "CAP_CHECKPOINT_RESTORE",
};
#define N_CAPS ((int) (sizeof cap_names / sizeof cap_names[0]))

int
pier_cap_last (void)
{
  static int last = -1;
  if (last < 0)
    {
      FILE *f = fopen ("/proc/sys/kernel/cap_last_cap", "re");
      if (f == NULL || fscanf (f, "%d", &last) != 1)
        last = N_CAPS - 1;
      if (f)
        fclose (f);
      if (last >= N_CAPS)
        last = N_CAPS - 1;
    }
  return last;
}

int
pier_cap_from_name (const char *name)
{
  for (int i = 0; i < N_CAPS; i++)
    if (strcasecmp (name, cap_names[i]) == 0 || strcasecmp (name, cap_names[i] + 4) == 0)
      return i;
  return -1;
}

const char *
pier_cap_name (int cap)
{
  return cap >= 0 && cap < N_CAPS ? cap_names[cap] : NULL;
}

static const struct
{
  const char *name;
  int res;
} rlimit_names[] = {
  { "RLIMIT_AS", RLIMIT_AS },
  { "RLIMIT_CORE", RLIMIT_CORE },
  { "RLIMIT_CPU", RLIMIT_CPU },
  { "RLIMIT_DATA", RLIMIT_DATA },
  { "RLIMIT_FSIZE", RLIMIT_FSIZE },
  { "RLIMIT_LOCKS", RLIMIT_LOCKS },
  { "RLIMIT_MEMLOCK", RLIMIT_MEMLOCK },
  { "RLIMIT_MSGQUEUE", RLIMIT_MSGQUEUE },
  { "RLIMIT_NICE", RLIMIT_NICE },
  { "RLIMIT_NOFILE", RLIMIT_NOFILE },
  { "RLIMIT_NPROC", RLIMIT_NPROC },
  { "RLIMIT_RSS", RLIMIT_RSS },
  { "RLIMIT_RTPRIO", RLIMIT_RTPRIO },
  { "RLIMIT_RTTIME", RLIMIT_RTTIME },
  { "RLIMIT_SIGPENDING", RLIMIT_SIGPENDING },
  { "RLIMIT_STACK", RLIMIT_STACK },
};

int
pier_rlimit_from_name (const char *name)
{
  for (size_t i = 0; i < sizeof rlimit_names / sizeof rlimit_names[0]; i++)
    if (strcmp (name, rlimit_names[i].name) == 0)
      return rlimit_names[i].res;
  return -1;
}

static int
parse_idmaps (json_t *parent, const char *key, const char *where, pier_idmap **out, size_t *n,
              pier_error **err)
{
  json_t *arr = NULL, *v;
  size_t i;
  int r = pier_json_arr (parent, key, where, &arr, err);
  if (r <= 0)
    return r;
  *out = xcalloc (json_array_size (arr) + 1, sizeof (pier_idmap));
  *n = json_array_size (arr);
  json_array_foreach (arr, i, v)
  {
    uint64_t c = 0, h = 0, s = 0;
    cleanup_free char *w = xasprintf ("%s.%s[%zu]", where, key, i);
    if (!json_is_object (v))
      return pier_error_makex (err, EINVAL, "%s must be an object", w);
    if (pier_json_u64 (v, "containerID", w, &c, err) < 0 || pier_json_u64 (v, "hostID", w, &h, err) < 0
        || pier_json_u64 (v, "size", w, &s, err) < 0)
      return -1;
    if (c > UINT32_MAX || h > UINT32_MAX || s > UINT32_MAX)
      return pier_error_makex (err, EINVAL, "%s is out of range", w);
    (*out)[i] = (pier_idmap){ (uint32_t) c, (uint32_t) h, (uint32_t) s };
  }
  return 1;
}

static int
parse_caps (json_t *caps, pier_process *p, pier_error **err)
{
  static const char *const sets[PIER_CAP_SETS]
      = { "bounding", "effective", "inheritable", "permitted", "ambient" };
  p->has_caps = true;
  for (int s = 0; s < PIER_CAP_SETS; s++)
    {
      json_t *arr = NULL, *v;
      size_t i;
      cleanup_free char *w = xasprintf ("process.capabilities");
      if (pier_json_arr (caps, sets[s], w, &arr, err) < 0)
        return -1;
      json_array_foreach (arr, i, v)
      {
        if (!json_is_string (v))
          return pier_error_makex (err, EINVAL, "process.capabilities.%s[%zu] must be a string", sets[s], i);
        int c = pier_cap_from_name (json_string_value (v));
        /* The spec: a value that maps to no kernel interface is an error. */
        if (c < 0)
          return pier_error_makex (err, EINVAL, "process.capabilities.%s: unknown capability `%s`", sets[s],
                                   json_string_value (v));
        if (c > pier_cap_last ())
          return pier_error_makex (err, EINVAL,
                                   "process.capabilities.%s: `%s` is not supported by this kernel", sets[s],
                                   json_string_value (v));
        p->caps[s] |= 1ULL << c;
      }
    }
  return 0;
}

void
pier_process_free (pier_process *p)
{
  if (p == NULL)
    return;
  free (p->additional_gids);
  strv_free (p->args);
  strv_free (p->env);
  free (p->cwd);
  free (p->rlimits);
  free (p->apparmor_profile);
  free (p->selinux_label);
  json_decref (p->scheduler);
  free (p);
}

int
pier_process_parse (json_t *obj, const char *where, pier_process **out, pier_error **err)
{
  pier_process *p = xzalloc (sizeof *p);
  json_t *user = NULL, *caps = NULL, *rl = NULL, *cs = NULL, *v, *io = NULL;
  const char *s = NULL;
  size_t i;
  int64_t n;

  if (!json_is_object (obj))
    {
      pier_process_free (p);
      return pier_error_makex (err, EINVAL, "%s must be an object", where);
    }
  if (pier_json_bool (obj, "terminal", where, &p->terminal, err) < 0)
    goto fail;
  if (pier_json_obj (obj, "consoleSize", where, &cs, err) < 0)
    goto fail;
  if (cs)
    {
      uint64_t h = 0, w = 0;
      if (pier_json_u64 (cs, "height", "process.consoleSize", &h, err) < 0
          || pier_json_u64 (cs, "width", "process.consoleSize", &w, err) < 0)
        goto fail;
      p->console_height = (unsigned) h;
      p->console_width = (unsigned) w;
    }
  if (pier_json_obj (obj, "user", where, &user, err) < 0)
    goto fail;
  if (user)
    {
      uint64_t u = 0, g = 0, m = 0;
      json_t *ag = NULL;
      if (pier_json_u64 (user, "uid", "process.user", &u, err) < 0
          || pier_json_u64 (user, "gid", "process.user", &g, err) < 0)
        goto fail;
      int r = pier_json_u64 (user, "umask", "process.user", &m, err);
      if (r < 0)
        goto fail;
      if (u > UINT32_MAX - 1 || g > UINT32_MAX - 1)
        {
          pier_error_makex (err, EINVAL, "process.user uid/gid out of range");
          goto fail;
        }
      p->uid = (uid_t) u;
      p->gid = (gid_t) g;
      p->has_umask = r > 0;
      p->umask = (mode_t) (m & 07777);
      if (pier_json_arr (user, "additionalGids", "process.user", &ag, err) < 0)
        goto fail;
      if (ag)
        {
          p->additional_gids = xcalloc (json_array_size (ag) + 1, sizeof (gid_t));
          json_array_foreach (ag, i, v)
          {
            if (!json_is_integer (v) || json_integer_value (v) < 0)
              {
                pier_error_makex (err, EINVAL,
                                  "process.user.additionalGids[%zu] must be a non-negative integer", i);
                goto fail;
              }
            p->additional_gids[p->n_additional_gids++] = (gid_t) json_integer_value (v);
          }
        }
    }
  if (pier_json_strv (obj, "args", where, &p->args, err) < 0
      || pier_json_strv (obj, "env", where, &p->env, err) < 0)
    goto fail;
  if (p->env)
    for (i = 0; p->env[i]; i++)
      if (strchr (p->env[i], '=') == NULL)
        {
          pier_error_makex (err, EINVAL, "%s.env[%zu] `%s` is not of the form NAME=VALUE", where, i,
                            p->env[i]);
          goto fail;
        }
  if (pier_json_str (obj, "cwd", where, &s, err) < 0)
    goto fail;
  p->cwd = xstrdup (s ? s : "/");
  if (p->cwd[0] != '/')
    {
      pier_error_makex (err, EINVAL, "%s.cwd `%s` must be an absolute path", where, p->cwd);
      goto fail;
    }
  if (pier_json_obj (obj, "capabilities", where, &caps, err) < 0)
    goto fail;
  if (caps && parse_caps (caps, p, err) < 0)
    goto fail;
  if (pier_json_arr (obj, "rlimits", where, &rl, err) < 0)
    goto fail;
  if (rl)
    {
      p->rlimits = xcalloc (json_array_size (rl) + 1, sizeof (pier_rlimit));
      json_array_foreach (rl, i, v)
      {
        const char *type = NULL;
        uint64_t soft = 0, hard = 0;
        cleanup_free char *w = xasprintf ("%s.rlimits[%zu]", where, i);
        if (!json_is_object (v))
          {
            pier_error_makex (err, EINVAL, "%s must be an object", w);
            goto fail;
          }
        if (pier_json_str (v, "type", w, &type, err) < 0 || pier_json_u64 (v, "soft", w, &soft, err) < 0
            || pier_json_u64 (v, "hard", w, &hard, err) < 0)
          goto fail;
        int res = type ? pier_rlimit_from_name (type) : -1;
        if (res < 0)
          {
            pier_error_makex (err, EINVAL, "%s: unknown rlimit type `%s`", w, type ? type : "(missing)");
            goto fail;
          }
        for (size_t k = 0; k < p->n_rlimits; k++)
          if (p->rlimits[k].resource == res)
            {
              pier_error_makex (err, EINVAL, "%s: rlimit `%s` is given twice", w, type);
              goto fail;
            }
        p->rlimits[p->n_rlimits++] = (pier_rlimit){ res, soft, hard };
      }
    }
  if (pier_json_bool (obj, "noNewPrivileges", where, &p->no_new_privileges, err) < 0)
    goto fail;
  int r = pier_json_i64 (obj, "oomScoreAdj", where, &n, err);
  if (r < 0)
    goto fail;
  if (r > 0)
    {
      if (n < -1000 || n > 1000)
        {
          pier_error_makex (err, EINVAL, "%s.oomScoreAdj %lld is outside -1000..1000", where, (long long) n);
          goto fail;
        }
      p->has_oom_score_adj = true;
      p->oom_score_adj = (int) n;
    }
  s = NULL;
  if (pier_json_str (obj, "apparmorProfile", where, &s, err) < 0)
    goto fail;
  if (s && *s)
    p->apparmor_profile = xstrdup (s);
  s = NULL;
  if (pier_json_str (obj, "selinuxLabel", where, &s, err) < 0)
    goto fail;
  if (s && *s)
    p->selinux_label = xstrdup (s);
  if (pier_json_obj (obj, "ioPriority", where, &io, err) < 0)
    goto fail;
  if (io)
    {
      const char *cls = NULL;
      int64_t prio = 0;
      if (pier_json_str (io, "class", "process.ioPriority", &cls, err) < 0
          || pier_json_i64 (io, "priority", "process.ioPriority", &prio, err) < 0)
        goto fail;
      if (cls == NULL
          || (strcmp (cls, "IOPRIO_CLASS_RT") && strcmp (cls, "IOPRIO_CLASS_BE")
              && strcmp (cls, "IOPRIO_CLASS_IDLE")))
        {
          pier_error_makex (err, EINVAL,
                            "process.ioPriority.class `%s` is not one of IOPRIO_CLASS_RT, IOPRIO_CLASS_BE, "
                            "IOPRIO_CLASS_IDLE",
                            cls ? cls : "(missing)");
          goto fail;
        }
      if (prio < 0 || prio > 7)
        {
          pier_error_makex (err, EINVAL, "process.ioPriority.priority must be 0..7");
          goto fail;
        }
      p->has_io_priority = true;
      p->io_prio_class = strcmp (cls, "IOPRIO_CLASS_RT") == 0   ? 1
                         : strcmp (cls, "IOPRIO_CLASS_BE") == 0 ? 2
                                                                : 3;
      p->io_prio_level = (int) prio;
    }
  json_t *sched = NULL;
  if (pier_json_obj (obj, "scheduler", where, &sched, err) < 0)
    goto fail;
  if (sched)
    p->scheduler = json_incref (sched);
  *out = p;
  return 0;
fail:
  pier_process_free (p);
  return -1;
}

static int
parse_mounts (pier_spec *s, pier_error **err)
{
  json_t *arr = NULL, *v;
  size_t i;
  if (pier_json_arr (s->json, "mounts", "config", &arr, err) < 0)
    return -1;
  if (arr == NULL)
    return 0;
  s->mounts = xcalloc (json_array_size (arr) + 1, sizeof (pier_mount));
  json_array_foreach (arr, i, v)
  {
    pier_mount *m = &s->mounts[s->n_mounts++];
    const char *dst = NULL, *type = NULL, *src = NULL;
    cleanup_free char *w = xasprintf ("mounts[%zu]", i);
    if (!json_is_object (v))
      return pier_error_makex (err, EINVAL, "%s must be an object", w);
    if (pier_json_str (v, "destination", w, &dst, err) < 0 || pier_json_str (v, "type", w, &type, err) < 0
        || pier_json_str (v, "source", w, &src, err) < 0
        || pier_json_strv (v, "options", w, &m->options, err) < 0)
      return -1;
    if (dst == NULL || *dst == '\0')
      return pier_error_makex (err, EINVAL, "%s.destination is required", w);
    if (dst[0] != '/')
      return pier_error_makex (err, EINVAL, "%s.destination `%s` must be an absolute path", w, dst);
    m->destination = xstrdup (dst);
    m->type = type ? xstrdup (type) : NULL;
    m->source = src ? xstrdup (src) : NULL;
    if (parse_idmaps (v, "uidMappings", w, &m->uid_mappings, &m->n_uid_mappings, err) < 0
        || parse_idmaps (v, "gidMappings", w, &m->gid_mappings, &m->n_gid_mappings, err) < 0)
      return -1;
    if (pier_mount_parse_options (m, err) < 0)
      return pier_error_wrap (err, "%s (`%s`)", w, dst);
    if ((m->type == NULL || strcmp (m->type, "bind") == 0) && !m->bind)
      {
        if (m->type && strcmp (m->type, "bind") == 0)
          m->bind = true;
        else if (m->type == NULL)
          return pier_error_makex (
              err, EINVAL, "%s (`%s`): type is required unless the options say bind or rbind", w, dst);
      }
    if (m->bind && (m->source == NULL || *m->source == '\0'))
      return pier_error_makex (err, EINVAL, "%s (`%s`): a bind mount needs a source", w, dst);
  }
  return 0;
}

static int
parse_hooks (pier_spec *s, pier_error **err)
{
  json_t *hooks = NULL;
  if (pier_json_obj (s->json, "hooks", "config", &hooks, err) < 0)
    return -1;
  if (hooks == NULL)
    return 0;
  for (int k = 0; k < PIER_HOOK_KINDS; k++)
    {
      json_t *arr = NULL, *v;
      size_t i;
      if (pier_json_arr (hooks, pier_hook_names[k], "hooks", &arr, err) < 0)
        return -1;
      if (arr == NULL)
        continue;
      s->hooks[k] = xcalloc (json_array_size (arr) + 1, sizeof (pier_hook));
      json_array_foreach (arr, i, v)
      {
        pier_hook *h = &s->hooks[k][s->n_hooks[k]++];
        const char *path = NULL;
        int64_t t = 0;
        cleanup_free char *w = xasprintf ("hooks.%s[%zu]", pier_hook_names[k], i);
        if (!json_is_object (v))
          return pier_error_makex (err, EINVAL, "%s must be an object", w);
        if (pier_json_str (v, "path", w, &path, err) < 0 || pier_json_strv (v, "args", w, &h->args, err) < 0
            || pier_json_strv (v, "env", w, &h->env, err) < 0 || pier_json_i64 (v, "timeout", w, &t, err) < 0)
          return -1;
        if (path == NULL || path[0] != '/')
          return pier_error_makex (err, EINVAL, "%s.path must be an absolute path", w);
        if (t < 0 || (json_object_get (v, "timeout") && t == 0))
          return pier_error_makex (err, EINVAL, "%s.timeout must be greater than zero", w);
        h->path = xstrdup (path);
        h->timeout = (int) t;
      }
    }
  return 0;
}

static int
parse_devices (pier_spec *s, json_t *lnx, pier_error **err)
{
  json_t *arr = NULL, *v;
  size_t i;
  if (pier_json_arr (lnx, "devices", "linux", &arr, err) < 0)
    return -1;
  if (arr == NULL)
    return 0;
  s->devices = xcalloc (json_array_size (arr) + 1, sizeof (pier_device));
  json_array_foreach (arr, i, v)
  {
    pier_device *d = &s->devices[s->n_devices++];
    const char *path = NULL, *type = NULL;
    uint64_t mode = 0, uid = 0, gid = 0;
    int r;
    cleanup_free char *w = xasprintf ("linux.devices[%zu]", i);
    if (!json_is_object (v))
      return pier_error_makex (err, EINVAL, "%s must be an object", w);
    if (pier_json_str (v, "path", w, &path, err) < 0 || pier_json_str (v, "type", w, &type, err) < 0
        || pier_json_i64 (v, "major", w, &d->major, err) < 0
        || pier_json_i64 (v, "minor", w, &d->minor, err) < 0)
      return -1;
    if (path == NULL || path[0] != '/')
      return pier_error_makex (err, EINVAL, "%s.path must be an absolute path", w);
    if (type == NULL || strlen (type) != 1 || strchr ("cbpu", type[0]) == NULL)
      return pier_error_makex (err, EINVAL, "%s.type must be one of c, b, u, p", w);
    d->path = xstrdup (path);
    d->type = type[0];
    if (d->type != 'p' && (!json_object_get (v, "major") || !json_object_get (v, "minor")))
      return pier_error_makex (err, EINVAL, "%s (`%s`): major and minor are required", w, path);
    if ((r = pier_json_u64 (v, "fileMode", w, &mode, err)) < 0)
      return -1;
    d->has_mode = r > 0;
    d->mode = (mode_t) mode;
    if ((r = pier_json_u64 (v, "uid", w, &uid, err)) < 0)
      return -1;
    d->has_uid = r > 0;
    d->uid = (uid_t) uid;
    if ((r = pier_json_u64 (v, "gid", w, &gid, err)) < 0)
      return -1;
    d->has_gid = r > 0;
    d->gid = (gid_t) gid;
  }
  return 0;
}

static int
parse_namespaces (pier_spec *s, json_t *lnx, pier_error **err)
{
  json_t *arr = NULL, *v;
  size_t i;
  if (pier_json_arr (lnx, "namespaces", "linux", &arr, err) < 0)
    return -1;
  json_array_foreach (arr, i, v)
  {
    const char *type = NULL, *path = NULL;
    cleanup_free char *w = xasprintf ("linux.namespaces[%zu]", i);
    if (!json_is_object (v))
      return pier_error_makex (err, EINVAL, "%s must be an object", w);
    if (pier_json_str (v, "type", w, &type, err) < 0 || pier_json_str (v, "path", w, &path, err) < 0)
      return -1;
    int t;
    for (t = 0; t < PIER_NS_COUNT; t++)
      if (type && strcmp (type, pier_ns_table[t].oci_name) == 0)
        break;
    if (t == PIER_NS_COUNT)
      return pier_error_makex (err, EINVAL, "%s: unknown namespace type `%s`", w, type ? type : "(missing)");
    if (s->ns_wanted[t])
      return pier_error_makex (err, EINVAL, "%s: namespace `%s` is given twice", w, type);
    s->ns_wanted[t] = true;
    if (path && *path)
      {
        if (path[0] != '/')
          return pier_error_makex (err, EINVAL, "%s.path `%s` must be absolute", w, path);
        if (access (path, F_OK) < 0)
          return pier_error_make (err, errno, "%s: cannot join %s namespace `%s`", w, type, path);
        s->ns_path[t] = xstrdup (path);
      }
  }
  return 0;
}

/* True when the container has a namespace of type t of its own (new, or a
 * path that is not the runtime's own namespace). */
static bool
own_namespace (const pier_spec *s, int t)
{
  struct stat a, b;
  char self[64];
  if (!s->ns_wanted[t])
    return false;
  if (s->ns_path[t] == NULL)
    return true;
  snprintf (self, sizeof self, "/proc/self/ns/%s", pier_ns_table[t].proc_name);
  return stat (s->ns_path[t], &a) == 0 && stat (self, &b) == 0
         && (a.st_ino != b.st_ino || a.st_dev != b.st_dev);
}

/* Only namespaced sysctls, and only in a namespace the container owns:
 * anything else would change the host's kernel. */
static int
check_sysctl (const pier_spec *s, const char *k, pier_error **err)
{
  static const char *const ipc_keys[]
      = { "kernel.msgmax", "kernel.msgmnb", "kernel.msgmni",          "kernel.sem", "kernel.shmall",
          "kernel.shmmax", "kernel.shmmni", "kernel.shm_rmid_forced", NULL };
  if (*k == '\0' || strstr (k, "..") || strchr (k, '/') != NULL)
    return pier_error_makex (err, EINVAL, "linux.sysctl: invalid name `%s`", k);
  int need = -1;
  for (size_t i = 0; ipc_keys[i]; i++)
    if (strcmp (k, ipc_keys[i]) == 0)
      need = PIER_NS_IPC;
  if (strncmp (k, "fs.mqueue.", 10) == 0)
    need = PIER_NS_IPC;
  else if (strncmp (k, "net.", 4) == 0)
    need = PIER_NS_NET;
  else if (strcmp (k, "kernel.hostname") == 0 || strcmp (k, "kernel.domainname") == 0)
    need = PIER_NS_UTS;
  if (need < 0)
    return pier_error_makex (err, EPERM, "linux.sysctl: `%s` is not namespaced: it would change the host", k);
  if (!own_namespace (s, need))
    return pier_error_makex (
        err, EPERM,
        "linux.sysctl: `%s` needs a %s namespace of the container's own: it would change the host", k,
        pier_ns_table[need].oci_name);
  return 0;
}

static int
parse_linux (pier_spec *s, pier_error **err)
{
  json_t *lnx = NULL, *to = NULL, *pers = NULL;
  const char *str = NULL;
  if (pier_json_obj (s->json, "linux", "config", &lnx, err) < 0)
    return -1;
  if (lnx == NULL)
    return 0;
  if (parse_namespaces (s, lnx, err) < 0
      || parse_idmaps (lnx, "uidMappings", "linux", &s->uid_mappings, &s->n_uid_mappings, err) < 0
      || parse_idmaps (lnx, "gidMappings", "linux", &s->gid_mappings, &s->n_gid_mappings, err) < 0
      || parse_devices (s, lnx, err) < 0)
    return -1;
  if ((s->n_uid_mappings || s->n_gid_mappings) && !s->ns_wanted[PIER_NS_USER])
    return pier_error_makex (err, EINVAL, "linux.uidMappings/gidMappings need a user namespace");
  if (s->ns_wanted[PIER_NS_USER] && !s->ns_path[PIER_NS_USER] && (!s->n_uid_mappings || !s->n_gid_mappings))
    return pier_error_makex (err, EINVAL,
                             "a new user namespace needs linux.uidMappings and linux.gidMappings");
  if (pier_json_obj (lnx, "sysctl", "linux", &s->sysctl, err) < 0)
    return -1;
  if (s->sysctl)
    {
      const char *k;
      json_t *v;
      json_object_foreach (s->sysctl, k, v)
      {
        if (!json_is_string (v))
          return pier_error_makex (err, EINVAL, "linux.sysctl.%s must be a string", k);
        if (check_sysctl (s, k, err) < 0)
          return -1;
      }
    }
  if (pier_json_obj (lnx, "resources", "linux", &s->resources, err) < 0)
    return -1;
  if (pier_json_str (lnx, "cgroupsPath", "linux", &str, err) < 0)
    return -1;
  if (str && *str)
    s->cgroups_path = xstrdup (str);
  str = NULL;
  if (pier_json_str (lnx, "rootfsPropagation", "linux", &str, err) < 0)
    return -1;
  if (str && *str)
    {
      s->rootfs_propagation = xstrdup (str);
      s->rootfs_propagation_flags = pier_propagation_from_name (str);
      if (s->rootfs_propagation_flags == 0)
        return pier_error_makex (err, EINVAL, "linux.rootfsPropagation `%s` is not a propagation type", str);
    }
  if (pier_json_strv (lnx, "maskedPaths", "linux", &s->masked_paths, err) < 0
      || pier_json_strv (lnx, "readonlyPaths", "linux", &s->readonly_paths, err) < 0)
    return -1;
  if (pier_json_obj (lnx, "seccomp", "linux", &s->seccomp, err) < 0)
    return -1;
  if (pier_json_obj (lnx, "personality", "linux", &pers, err) < 0)
    return -1;
  if (pers)
    {
      const char *dom = NULL;
      if (pier_json_str (pers, "domain", "linux.personality", &dom, err) < 0)
        return -1;
      if (dom && strcmp (dom, "LINUX") == 0)
        s->personality = PER_LINUX;
      else if (dom && strcmp (dom, "LINUX32") == 0)
        s->personality = PER_LINUX32;
      else
        return pier_error_makex (err, EINVAL, "linux.personality.domain `%s` is not LINUX or LINUX32",
                                 dom ? dom : "(missing)");
      s->has_personality = true;
    }
  if (pier_json_obj (lnx, "timeOffsets", "linux", &to, err) < 0)
    return -1;
  if (to)
    {
      json_t *m = json_object_get (to, "monotonic"), *b = json_object_get (to, "boottime");
      if ((m && pier_json_i64 (m, "secs", "linux.timeOffsets.monotonic", &s->monotonic_secs, err) < 0)
          || (m && pier_json_i64 (m, "nanosecs", "linux.timeOffsets.monotonic", &s->monotonic_nsecs, err) < 0)
          || (b && pier_json_i64 (b, "secs", "linux.timeOffsets.boottime", &s->boottime_secs, err) < 0)
          || (b && pier_json_i64 (b, "nanosecs", "linux.timeOffsets.boottime", &s->boottime_nsecs, err) < 0))
        return -1;
      s->has_time_offsets = true;
      if (!s->ns_wanted[PIER_NS_TIME] || s->ns_path[PIER_NS_TIME])
        return pier_error_makex (err, EINVAL, "linux.timeOffsets needs a new time namespace");
    }
  str = NULL;
  if (pier_json_str (lnx, "mountLabel", "linux", &str, err) < 0)
    return -1;
  if (str && *str)
    s->mount_label = xstrdup (str);
  json_t *rdt = NULL;
  if (pier_json_obj (lnx, "intelRdt", "linux", &rdt, err) < 0)
    return -1;
  if (rdt && json_object_size (rdt) > 0)
    return pier_error_makex (
        err, ENOTSUP,
        "linux.intelRdt: Intel RDT is not supported by pier-runtime (no resctrl filesystem on this host)");
  return 0;
}

void
pier_spec_free (pier_spec *s)
{
  if (s == NULL)
    return;
  free (s->oci_version);
  free (s->bundle);
  free (s->root_path);
  free (s->hostname);
  free (s->domainname);
  pier_process_free (s->process);
  for (size_t i = 0; i < s->n_mounts; i++)
    {
      pier_mount *m = &s->mounts[i];
      free (m->destination);
      free (m->type);
      free (m->source);
      strv_free (m->options);
      free (m->data);
      free (m->uid_mappings);
      free (m->gid_mappings);
    }
  free (s->mounts);
  for (int k = 0; k < PIER_HOOK_KINDS; k++)
    {
      for (size_t i = 0; i < s->n_hooks[k]; i++)
        {
          free (s->hooks[k][i].path);
          strv_free (s->hooks[k][i].args);
          strv_free (s->hooks[k][i].env);
        }
      free (s->hooks[k]);
    }
  for (int t = 0; t < PIER_NS_COUNT; t++)
    free (s->ns_path[t]);
  free (s->uid_mappings);
  free (s->gid_mappings);
  free (s->cgroups_path);
  free (s->rootfs_propagation);
  strv_free (s->masked_paths);
  strv_free (s->readonly_paths);
  for (size_t i = 0; i < s->n_devices; i++)
    free (s->devices[i].path);
  free (s->devices);
  free (s->mount_label);
  json_decref (s->json);
  free (s);
}

int
pier_spec_parse (json_t *doc, const char *bundle, pier_spec **out, pier_error **err)
{
  pier_spec *s = xzalloc (sizeof *s);
  json_t *root = NULL, *proc = NULL;
  const char *str = NULL;

  s->json = json_incref (doc);
  s->bundle = xstrdup (bundle);
  if (!json_is_object (doc))
    {
      pier_error_makex (err, EINVAL, "config.json must hold a JSON object");
      goto fail;
    }
  if (pier_json_str (doc, "ociVersion", "config", &str, err) < 0)
    goto fail;
  if (str == NULL)
    {
      pier_error_makex (err, EINVAL, "config.json: ociVersion is required");
      goto fail;
    }
  if (strncmp (str, "1.", 2) != 0)
    {
      pier_error_makex (err, EINVAL,
                        "config.json: ociVersion `%s` is not supported (pier-runtime implements 1.x)", str);
      goto fail;
    }
  s->oci_version = xstrdup (str);
  if (pier_json_obj (doc, "root", "config", &root, err) < 0)
    goto fail;
  if (root == NULL)
    {
      pier_error_makex (err, EINVAL, "config.json: root is required");
      goto fail;
    }
  str = NULL;
  if (pier_json_str (root, "path", "root", &str, err) < 0
      || pier_json_bool (root, "readonly", "root", &s->root_readonly, err) < 0)
    goto fail;
  if (str == NULL || *str == '\0')
    {
      pier_error_makex (err, EINVAL, "config.json: root.path is required");
      goto fail;
    }
  s->root_path = str[0] == '/' ? xstrdup (str) : pier_path_join (bundle, str);
  {
    char resolved[PATH_MAX];
    if (realpath (s->root_path, resolved) == NULL)
      {
        pier_error_make (err, errno, "root filesystem `%s`", s->root_path);
        goto fail;
      }
    free (s->root_path);
    s->root_path = xstrdup (resolved);
  }
  str = NULL;
  if (pier_json_str (doc, "hostname", "config", &str, err) < 0)
    goto fail;
  if (str && *str)
    s->hostname = xstrdup (str);
  str = NULL;
  if (pier_json_str (doc, "domainname", "config", &str, err) < 0)
    goto fail;
  if (str && *str)
    s->domainname = xstrdup (str);
  if (pier_json_obj (doc, "process", "config", &proc, err) < 0)
    goto fail;
  if (proc && pier_process_parse (proc, "process", &s->process, err) < 0)
    goto fail;
  if (s->process && (s->process->args == NULL || s->process->args[0] == NULL))
    {
      pier_error_makex (err, EINVAL, "config.json: process.args must name a program");
      goto fail;
    }
  if (parse_mounts (s, err) < 0 || parse_hooks (s, err) < 0 || parse_linux (s, err) < 0)
    goto fail;
  if (pier_json_obj (doc, "annotations", "config", &s->annotations, err) < 0)
    goto fail;
  if (s->annotations)
    {
      const char *k;
      json_t *v;
      json_object_foreach (s->annotations, k, v) if (!json_is_string (v))
      {
        pier_error_makex (err, EINVAL, "annotations.%s must be a string", k);
        goto fail;
      }
    }
  if ((s->hostname || s->domainname) && !s->ns_wanted[PIER_NS_UTS])
    {
      pier_error_makex (err, EINVAL, "config.json: hostname and domainname need a uts namespace");
      goto fail;
    }
  *out = s;
  return 0;
fail:
  pier_spec_free (s);
  return -1;
}

int
pier_spec_load (const char *bundle, pier_spec **out, pier_error **err)
{
  char abs[PATH_MAX];
  cleanup_json json_t *doc = NULL;
  if (realpath (bundle, abs) == NULL)
    return pier_error_make (err, errno, "bundle `%s`", bundle);
  cleanup_free char *cfg = pier_path_join (abs, "config.json");
  if (pier_json_load_file (cfg, &doc, err) < 0)
    return -1;
  return pier_spec_parse (doc, abs, out, err);
}
