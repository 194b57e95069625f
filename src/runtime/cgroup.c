#include "runtime/cgroup.h"
#include "runtime/devfilter.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "util/cleanup.h"
#include "util/fs.h"
#include "util/log.h"
#include "util/xalloc.h"
#include "util/banned.h"

#define MAX_HIER 16

static struct
{
  int loaded;
  pier_cgroup_hier v1[MAX_HIER];
  char *v1_ctrls[MAX_HIER]; /* ",cpu,cpuacct," for substring tests */
  size_t n_v1;
  char *v2;       /* mountpoint or NULL */
  char *v2_ctrls; /* " memory pids " from cgroup.controllers */
} host;

static const char *const known_ctrls[] = {
  "cpu",   "cpuacct",    "cpuset",  "memory", "devices", "freezer", "net_cls", "net_prio",
  "blkio", "perf_event", "hugetlb", "pids",   "rdma",    "misc",    NULL,
};

static void
load_host (void)
{
  if (host.loaded)
    return;
  host.loaded = 1;
  cleanup_fclose FILE *f = fopen ("/proc/self/mountinfo", "re");
  cleanup_free char *line = NULL;
  size_t cap = 0;
  if (f == NULL)
    return;
  while (getline (&line, &cap, f) > 0)
    {
      char *sep = strstr (line, " - ");
      if (sep == NULL)
        continue;
      char fstype[64], src[256], opts[1024], root[1024], mp[1024];
      if (sscanf (sep + 3, "%63s %255s %1023s", fstype, src, opts) != 3)
        continue;
      if (sscanf (line, "%*s %*s %*s %1023s %1023s", root, mp) != 2)
        continue;
      if (strcmp (fstype, "cgroup2") == 0 && host.v2 == NULL)
        {
          host.v2 = xstrdup (mp);
          cleanup_free char *c = NULL;
          cleanup_free char *p = pier_path_join (mp, "cgroup.controllers");
          if (pier_read_file_at (AT_FDCWD, p, &c, NULL, NULL) == 0)
            {
              for (char *q = c; *q; q++)
                if (*q == '\n')
                  *q = ' ';
              host.v2_ctrls = xasprintf (" %s ", c);
            }
          else
            host.v2_ctrls = xstrdup (" ");
        }
      else if (strcmp (fstype, "cgroup") == 0 && host.n_v1 < MAX_HIER)
        {
          /* Keep controller names and name=; drop rw, relatime, ... */
          cleanup_free char *kept = xstrdup ("");
          cleanup_free char *copy = xstrdup (opts);
          char *save = NULL;
          for (char *o = strtok_r (copy, ",", &save); o; o = strtok_r (NULL, ",", &save))
            {
              int keep = strncmp (o, "name=", 5) == 0;
              for (int k = 0; !keep && known_ctrls[k]; k++)
                keep = strcmp (o, known_ctrls[k]) == 0;
              if (!keep)
                continue;
              char *n = *kept ? xasprintf ("%s,%s", kept, o) : xstrdup (o);
              free (kept);
              kept = n;
            }
          int dup = 0;
          for (size_t i = 0; i < host.n_v1; i++)
            dup |= strcmp (host.v1[i].options, kept) == 0;
          if (dup || *kept == '\0')
            continue;
          host.v1[host.n_v1].mountpoint = xstrdup (mp);
          host.v1[host.n_v1].options = xstrdup (kept);
          host.v1_ctrls[host.n_v1] = xasprintf (",%s,", kept);
          host.n_v1++;
        }
    }
}

void
pier_cgroup_hierarchies (const pier_cgroup_hier **v1, size_t *n, const char **v2_mount)
{
  load_host ();
  *v1 = host.v1;
  *n = host.n_v1;
  *v2_mount = host.v2;
}

enum pier_cgroup_mode
pier_cgroup_host_mode (void)
{
  load_host ();
  int has_v1_ctrl = 0;
  for (size_t i = 0; i < host.n_v1; i++)
    has_v1_ctrl |= strncmp (host.v1[i].options, "name=", 5) != 0;
  if (!has_v1_ctrl && host.v2)
    return PIER_CGROUP_V2;
  return host.v2 ? PIER_CGROUP_HYBRID : PIER_CGROUP_V1;
}

/* Where a controller lives: 1 = v1 (index in *hier), 2 = v2, 0 = nowhere. */
static int
ctrl_where (const char *ctrl, size_t *hier)
{
  char pat[64];
  load_host ();
  snprintf (pat, sizeof pat, ",%s,", ctrl);
  for (size_t i = 0; i < host.n_v1; i++)
    if (strstr (host.v1_ctrls[i], pat))
      {
        *hier = i;
        return 1;
      }
  snprintf (pat, sizeof pat, " %s ", ctrl);
  if (host.v2 && host.v2_ctrls && strstr (host.v2_ctrls, pat))
    return 2;
  return 0;
}

static char *
ctrl_dir (const char *ctrl, const char *path, int *version)
{
  size_t h = 0;
  *version = ctrl_where (ctrl, &h);
  if (*version == 1)
    return pier_path_join (host.v1[h].mountpoint, path);
  if (*version == 2)
    return pier_path_join (host.v2, path);
  return NULL;
}

int
pier_cgroup_path_for (const char *cgroups_path, const char *id, char **out, pier_error **err)
{
  const char *p = cgroups_path;
  if (p == NULL || *p == '\0')
    {
      *out = xasprintf ("pier/%s", id);
      return 0;
    }
  if (p[0] != '/' && strchr (p, ':'))
    return pier_error_makex (err, EINVAL,
                             "cgroupsPath `%s` is in systemd's slice:prefix:name form, "
                             "but the systemd cgroup driver is not supported (no systemd on this host)",
                             p);
  /* No ".." components: the path must stay inside the hierarchy. */
  cleanup_free char *copy = xstrdup (p);
  char *save = NULL;
  for (char *c = strtok_r (copy, "/", &save); c; c = strtok_r (NULL, "/", &save))
    if (strcmp (c, "..") == 0)
      return pier_error_makex (err, EINVAL, "cgroupsPath `%s` must not contain `..`", p);
  while (*p == '/')
    p++;
  if (*p == '\0')
    return pier_error_makex (err, EINVAL, "cgroupsPath `%s` names the root cgroup", cgroups_path);
  *out = xstrdup (p);
  size_t l = strlen (*out);
  while (l > 0 && (*out)[l - 1] == '/')
    (*out)[--l] = '\0';
  return 0;
}

/* mkdir -p below base, recording what was created (for rollback), and
 * preparing each new level (cpuset needs cpus/mems; v2 needs controllers
 * enabled in the parent's subtree_control). */
static int
mkdir_levels (const char *base, const char *path, int is_cpuset, int is_v2, char ***created, pier_error **err)
{
  cleanup_free char *copy = xstrdup (path);
  cleanup_free char *cur = xstrdup (base);
  char *save = NULL;
  for (char *c = strtok_r (copy, "/", &save); c; c = strtok_r (NULL, "/", &save))
    {
      if (is_v2 && host.v2_ctrls && strlen (host.v2_ctrls) > 2)
        {
          /* Enable every available controller for the children. */
          cleanup_free char *sc = pier_path_join (cur, "cgroup.subtree_control");
          cleanup_free char *want = xstrdup ("");
          cleanup_free char *ctrls = xstrdup (host.v2_ctrls);
          char *s2 = NULL;
          for (char *k = strtok_r (ctrls, " ", &s2); k; k = strtok_r (NULL, " ", &s2))
            {
              char *n = xasprintf ("%s+%s ", want, k);
              free (want);
              want = n;
            }
          if (*want)
            pier_write_file_at (AT_FDCWD, sc, want, strlen (want), NULL);
        }
      char *next = pier_path_join (cur, c);
      if (mkdir (next, 0755) == 0)
        {
          strv_push (created, next);
          if (is_cpuset)
            {
              const char *files[] = { "cpuset.cpus", "cpuset.mems" };
              for (int i = 0; i < 2; i++)
                {
                  cleanup_free char *pf = pier_path_join (cur, files[i]);
                  cleanup_free char *cf = pier_path_join (next, files[i]);
                  cleanup_free char *val = NULL;
                  if (pier_read_file_at (AT_FDCWD, pf, &val, NULL, NULL) == 0 && *val
                      && pier_write_file_at (AT_FDCWD, cf, val, strlen (val), err) < 0)
                    {
                      free (next);
                      return -1;
                    }
                }
            }
        }
      else if (errno != EEXIST)
        {
          int e = errno;
          pier_error_make (err, e, "cannot create cgroup `%s`", next);
          free (next);
          return -1;
        }
      free (cur);
      cur = next;
    }
  return 0;
}

static void
rmdir_retry (const char *dir)
{
  for (int i = 0; i < 100; i++)
    {
      if (rmdir (dir) == 0 || errno == ENOENT)
        return;
      if (errno != EBUSY)
        return;
      struct timespec ts = { 0, 2 * 1000 * 1000 };
      nanosleep (&ts, NULL);
    }
}

int
pier_cgroup_create (const char *path, const pier_resources *r, pier_cgroup **out, pier_error **err)
{
  cleanup_strv char **created = NULL;
  load_host ();
  if (host.n_v1 == 0 && host.v2 == NULL)
    return pier_error_makex (err, ENOENT, "no cgroup filesystem is mounted");
  for (size_t i = 0; i < host.n_v1; i++)
    if (mkdir_levels (host.v1[i].mountpoint, path, strstr (host.v1_ctrls[i], ",cpuset,") != NULL, 0, &created,
                      err)
        < 0)
      goto fail;
  if (host.v2 && mkdir_levels (host.v2, path, 0, 1, &created, err) < 0)
    goto fail;
  pier_cgroup *cg = xzalloc (sizeof *cg);
  cg->path = xstrdup (path);
  if (r && pier_cgroup_apply (cg, r, err) < 0)
    {
      pier_cgroup_free (cg);
      goto fail;
    }
  *out = cg;
  return 0;
fail:
  for (size_t n = strv_len (created); n > 0; n--)
    rmdir (created[n - 1]);
  return -1;
}

void
pier_cgroup_free (pier_cgroup *cg)
{
  if (cg == NULL)
    return;
  free (cg->path);
  free (cg);
}

int
pier_cgroup_enter_some (const pier_cgroup *cg, pid_t pid, bool v1, bool v2, pier_error **err)
{
  char buf[32];
  int len = snprintf (buf, sizeof buf, "%d", (int) pid);
  load_host ();
  for (size_t i = 0; v1 && i < host.n_v1; i++)
    {
      cleanup_free char *d = pier_path_join (host.v1[i].mountpoint, cg->path);
      cleanup_free char *f = pier_path_join (d, "cgroup.procs");
      if (pier_write_file_at (AT_FDCWD, f, buf, (size_t) len, err) < 0)
        return pier_error_wrap (err, "cannot join the %s cgroup", host.v1[i].options);
    }
  if (v2 && host.v2)
    {
      cleanup_free char *d = pier_path_join (host.v2, cg->path);
      cleanup_free char *f = pier_path_join (d, "cgroup.procs");
      if (pier_write_file_at (AT_FDCWD, f, buf, (size_t) len, err) < 0)
        return pier_error_wrap (err, "cannot join the unified cgroup");
    }
  return 0;
}

int
pier_cgroup_enter (const pier_cgroup *cg, pid_t pid, pier_error **err)
{
  return pier_cgroup_enter_some (cg, pid, true, true, err);
}

void
pier_cgroup_join_open (const pier_cgroup *cg, pier_cgroup_join *j)
{
  load_host ();
  j->v2 = pier_cgroup_open_v2 (cg);
  j->tasks = host.n_v1 ? xcalloc (host.n_v1, sizeof (int)) : NULL;
  j->n_tasks = 0;
  for (size_t i = 0; i < host.n_v1; i++)
    {
      cleanup_free char *d = pier_path_join (host.v1[i].mountpoint, cg->path);
      cleanup_free char *f = pier_path_join (d, "tasks");
      int fd = open (f, O_WRONLY | O_CLOEXEC);
      if (fd < 0)
        {
          /* One missing: the child is moved by its parent instead. */
          pier_cgroup_join_close (j);
          j->v2 = pier_cgroup_open_v2 (cg);
          return;
        }
      j->tasks[j->n_tasks++] = fd;
    }
}

bool
pier_cgroup_join_self_v1 (const pier_cgroup_join *j)
{
  if (j->n_tasks == 0)
    return false;
  for (size_t i = 0; i < j->n_tasks; i++)
    if (TEMP_FAILURE_RETRY_INT (write (j->tasks[i], "0", 1)) != 1)
      return false;
  return true;
}

void
pier_cgroup_join_close (pier_cgroup_join *j)
{
  if (j->v2 >= 0)
    close (j->v2);
  j->v2 = -1;
  for (size_t i = 0; i < j->n_tasks; i++)
    close (j->tasks[i]);
  free (j->tasks);
  j->tasks = NULL;
  j->n_tasks = 0;
}

/* Write "value" to <dir>/<file>; a missing file is reported with what
 * the user asked for. */
static int put (const char *dir, const char *file, const char *what, pier_error **err, const char *fmt, ...)
    __attribute__ ((format (printf, 5, 6)));
static int
put (const char *dir, const char *file, const char *what, pier_error **err, const char *fmt, ...)
{
  char val[512];
  va_list ap;
  va_start (ap, fmt);
  vsnprintf (val, sizeof val, fmt, ap);
  va_end (ap);
  cleanup_free char *p = pier_path_join (dir, file);
  cleanup_close int fd = open (p, O_WRONLY | O_CLOEXEC);
  if (fd < 0)
    {
      if (errno == ENOENT)
        return pier_error_makex (err, ENOTSUP, "cannot set %s: the kernel has no `%s` in this cgroup", what,
                                 file);
      return pier_error_make (err, errno, "cannot set %s: cannot open `%s`", what, p);
    }
  ssize_t w;
  do
    w = write (fd, val, strlen (val));
  while (w < 0 && errno == EINTR);
  if (w < 0)
    return pier_error_make (err, errno, "cannot set %s: writing `%s` to `%s`", what, val, p);
  return 0;
}

static char *
need_dir (const char *ctrl, const char *path, const char *what, int *ver, pier_error **err)
{
  char *d = ctrl_dir (ctrl, path, ver);
  if (d == NULL)
    pier_error_makex (err, ENOTSUP, "cannot set %s: the %s controller is not mounted", what, ctrl);
  return d;
}

static int
apply_memory (const char *path, const pier_resources *r, pier_error **err)
{
  int v;
  if (!(r->has_mem_limit || r->has_mem_reservation || r->has_mem_swap || r->has_swappiness
        || r->has_disable_oom || r->has_mem_kernel || r->has_mem_kernel_tcp))
    return 0;
  cleanup_free char *d = need_dir ("memory", path, "the memory limit", &v, err);
  if (d == NULL)
    return -1;
  if (v == 1)
    {
      /* memsw must stay >= limit: order the two writes so that every
       * intermediate state is valid. */
      int swap_first = r->has_mem_swap && (r->mem_swap == -1 || !r->has_mem_limit);
      if (swap_first
          && put (d, "memory.memsw.limit_in_bytes", "the memory+swap limit", err, "%lld",
                  (long long) r->mem_swap)
                 < 0)
        return -1;
      if (r->has_mem_limit)
        {
          pier_error *e2 = NULL;
          if (put (d, "memory.limit_in_bytes", "the memory limit", &e2, "%lld", (long long) r->mem_limit) < 0)
            {
              /* Raising the limit above the current memsw: memsw first. */
              if (!r->has_mem_swap || swap_first)
                {
                  *err = e2;
                  return -1;
                }
              pier_error_free (&e2);
              if (put (d, "memory.memsw.limit_in_bytes", "the memory+swap limit", err, "%lld",
                       (long long) r->mem_swap)
                      < 0
                  || put (d, "memory.limit_in_bytes", "the memory limit", err, "%lld",
                          (long long) r->mem_limit)
                         < 0)
                return -1;
              swap_first = 1;
            }
        }
      if (r->has_mem_swap && !swap_first
          && put (d, "memory.memsw.limit_in_bytes", "the memory+swap limit", err, "%lld",
                  (long long) r->mem_swap)
                 < 0)
        return -1;
      if (r->has_mem_reservation
          && put (d, "memory.soft_limit_in_bytes", "the memory reservation", err, "%lld",
                  (long long) r->mem_reservation)
                 < 0)
        return -1;
      if (r->has_swappiness
          && put (d, "memory.swappiness", "memory swappiness", err, "%llu",
                  (unsigned long long) r->swappiness)
                 < 0)
        return -1;
      if (r->has_disable_oom
          && put (d, "memory.oom_control", "the OOM killer", err, "%d", r->disable_oom ? 1 : 0) < 0)
        return -1;
      if (r->has_mem_kernel)
        pier_warn ("linux.resources.memory.kernel is deprecated and ignored by the kernel");
      if (r->has_mem_kernel_tcp
          && put (d, "memory.kmem.tcp.limit_in_bytes", "the kernel TCP memory limit", err, "%lld",
                  (long long) r->mem_kernel_tcp)
                 < 0)
        return -1;
      return 0;
    }
  if (r->has_mem_limit)
    {
      if (r->mem_limit < 0)
        {
          if (put (d, "memory.max", "the memory limit", err, "max") < 0)
            return -1;
        }
      else if (put (d, "memory.max", "the memory limit", err, "%lld", (long long) r->mem_limit) < 0)
        return -1;
    }
  if (r->has_mem_reservation
      && put (d, "memory.low", "the memory reservation", err, "%lld", (long long) r->mem_reservation) < 0)
    return -1;
  if (r->has_mem_swap)
    {
      /* OCI swap is memory+swap; v2's memory.swap.max is swap alone. */
      if (r->mem_swap < 0)
        {
          if (put (d, "memory.swap.max", "the swap limit", err, "max") < 0)
            return -1;
        }
      else
        {
          long long lim = r->has_mem_limit ? r->mem_limit : 0;
          if (put (d, "memory.swap.max", "the swap limit", err, "%lld", (long long) r->mem_swap - lim) < 0)
            return -1;
        }
    }
  if (r->has_swappiness && r->swappiness != 60)
    return pier_error_makex (err, ENOTSUP,
                             "cannot set memory swappiness: cgroup v2 has no per-cgroup swappiness");
  if (r->has_disable_oom && r->disable_oom)
    return pier_error_makex (err, ENOTSUP, "cannot disable the OOM killer: cgroup v2 has no oom_control");
  return 0;
}

static int
apply_cpu (const char *path, const pier_resources *r, pier_error **err)
{
  int v;
  if (r->has_shares || r->has_quota || r->has_period || r->has_burst || r->has_rt_runtime || r->has_rt_period
      || r->has_idle)
    {
      cleanup_free char *d = need_dir ("cpu", path, "the CPU limit", &v, err);
      if (d == NULL)
        return -1;
      if (v == 1)
        {
          if (r->has_shares && r->shares
              && put (d, "cpu.shares", "CPU shares", err, "%llu", (unsigned long long) r->shares) < 0)
            return -1;
          if (r->has_period && r->period
              && put (d, "cpu.cfs_period_us", "the CPU period", err, "%llu", (unsigned long long) r->period)
                     < 0)
            return -1;
          if (r->has_quota && r->quota
              && put (d, "cpu.cfs_quota_us", "the CPU quota", err, "%lld", (long long) r->quota) < 0)
            return -1;
          if (r->has_burst
              && put (d, "cpu.cfs_burst_us", "the CPU burst", err, "%llu", (unsigned long long) r->burst) < 0)
            return -1;
          if (r->has_rt_period && r->rt_period
              && put (d, "cpu.rt_period_us", "the realtime period", err, "%llu",
                      (unsigned long long) r->rt_period)
                     < 0)
            return -1;
          if (r->has_rt_runtime && r->rt_runtime
              && put (d, "cpu.rt_runtime_us", "the realtime runtime", err, "%lld", (long long) r->rt_runtime)
                     < 0)
            return -1;
          if (r->has_idle && put (d, "cpu.idle", "CPU idle", err, "%lld", (long long) r->idle) < 0)
            return -1;
        }
      else
        {
          if (r->has_shares && r->shares
              && put (d, "cpu.weight", "CPU shares", err, "%llu",
                      (unsigned long long) pier_shares_to_weight (r->shares))
                     < 0)
            return -1;
          if (r->has_quota || r->has_period)
            {
              char q[32];
              if (!r->has_quota || r->quota <= 0)
                snprintf (q, sizeof q, "max");
              else
                snprintf (q, sizeof q, "%lld", (long long) r->quota);
              if (put (d, "cpu.max", "the CPU quota", err, "%s %llu", q,
                       (unsigned long long) (r->has_period && r->period ? r->period : 100000))
                  < 0)
                return -1;
            }
          if (r->has_burst
              && put (d, "cpu.max.burst", "the CPU burst", err, "%llu", (unsigned long long) r->burst) < 0)
            return -1;
          if (r->has_idle && put (d, "cpu.idle", "CPU idle", err, "%lld", (long long) r->idle) < 0)
            return -1;
          if (r->has_rt_runtime || r->has_rt_period)
            return pier_error_makex (
                err, ENOTSUP, "cannot set the realtime CPU limits: cgroup v2 has no realtime controller");
        }
    }
  if (r->cpus || r->mems)
    {
      cleanup_free char *d = need_dir ("cpuset", path, "the cpuset", &v, err);
      if (d == NULL)
        return -1;
      if (r->cpus && put (d, "cpuset.cpus", "the cpuset CPUs", err, "%s", r->cpus) < 0)
        return -1;
      if (r->mems && put (d, "cpuset.mems", "the cpuset memory nodes", err, "%s", r->mems) < 0)
        return -1;
    }
  return 0;
}

static int
apply_blkio (const char *path, const pier_resources *r, pier_error **err)
{
  int v;
  size_t nthr = 0;
  for (int k = 0; k < PIER_THR_KINDS; k++)
    nthr += r->n_throttle[k];
  if (!(r->has_blkio_weight || r->has_blkio_leaf_weight || r->n_weight_devs || nthr))
    return 0;
  cleanup_free char *d = ctrl_dir ("blkio", path, &v);
  if (d == NULL)
    d = ctrl_dir ("io", path, &v);
  if (d == NULL)
    return pier_error_makex (
        err, ENOTSUP, "cannot set block IO limits: the blkio (v1) or io (v2) controller is not mounted");
  if (v == 1)
    {
      static const char *const thr_files[PIER_THR_KINDS]
          = { "blkio.throttle.read_bps_device", "blkio.throttle.write_bps_device",
              "blkio.throttle.read_iops_device", "blkio.throttle.write_iops_device" };
      cleanup_free char *wfile = pier_path_join (d, "blkio.weight");
      const char *wname = access (wfile, F_OK) == 0 ? "blkio.weight" : "blkio.bfq.weight";
      if (r->has_blkio_weight
          && put (d, wname, "the block IO weight", err, "%llu", (unsigned long long) r->blkio_weight) < 0)
        return -1;
      if (r->has_blkio_leaf_weight
          && put (d, "blkio.leaf_weight", "the block IO leaf weight", err, "%llu",
                  (unsigned long long) r->blkio_leaf_weight)
                 < 0)
        return -1;
      for (size_t i = 0; i < r->n_weight_devs; i++)
        {
          const pier_weight_dev *w = &r->weight_devs[i];
          const char *wdname
              = strcmp (wname, "blkio.weight") == 0 ? "blkio.weight_device" : "blkio.bfq.weight_device";
          if (w->has_weight
              && put (d, wdname, "a device's block IO weight", err, "%lld:%lld %llu", (long long) w->major,
                      (long long) w->minor, (unsigned long long) w->weight)
                     < 0)
            return -1;
          if (w->has_leaf_weight
              && put (d, "blkio.leaf_weight_device", "a device's block IO leaf weight", err, "%lld:%lld %llu",
                      (long long) w->major, (long long) w->minor, (unsigned long long) w->leaf_weight)
                     < 0)
            return -1;
        }
      for (int k = 0; k < PIER_THR_KINDS; k++)
        for (size_t i = 0; i < r->n_throttle[k]; i++)
          if (put (d, thr_files[k], "a block IO throttle", err, "%lld:%lld %llu",
                   (long long) r->throttle[k][i].major, (long long) r->throttle[k][i].minor,
                   (unsigned long long) r->throttle[k][i].rate)
              < 0)
            return -1;
      return 0;
    }
  static const char *const keys[PIER_THR_KINDS] = { "rbps", "wbps", "riops", "wiops" };
  if (r->has_blkio_weight)
    {
      /* blkio weight 10..1000 to io.weight 1..10000 */
      unsigned long long w = 1 + (r->blkio_weight - 10) * 9999 / 990;
      if (put (d, "io.weight", "the block IO weight", err, "default %llu", w) < 0
          && put (d, "io.bfq.weight", "the block IO weight", err, "default %llu",
                  (unsigned long long) r->blkio_weight)
                 < 0)
        return -1;
      pier_error_free (err);
    }
  for (size_t i = 0; i < r->n_weight_devs; i++)
    if (r->weight_devs[i].has_weight
        && put (d, "io.bfq.weight", "a device's block IO weight", err, "%lld:%lld %llu",
                (long long) r->weight_devs[i].major, (long long) r->weight_devs[i].minor,
                (unsigned long long) r->weight_devs[i].weight)
               < 0)
      return -1;
  for (int k = 0; k < PIER_THR_KINDS; k++)
    for (size_t i = 0; i < r->n_throttle[k]; i++)
      if (put (d, "io.max", "a block IO throttle", err, "%lld:%lld %s=%llu",
               (long long) r->throttle[k][i].major, (long long) r->throttle[k][i].minor, keys[k],
               (unsigned long long) r->throttle[k][i].rate)
          < 0)
        return -1;
  return 0;
}

/* As runc: the devices every container gets are always usable, and nodes
 * may be created (mknod), just not opened, unless allowed. */
static const pier_dev_rule default_dev_rules[] = {
  { true, 'c', -1, -1, "m" }, { true, 'b', -1, -1, "m" },    { true, 'c', 1, 3, "rwm" },
  { true, 'c', 1, 5, "rwm" }, { true, 'c', 1, 7, "rwm" },    { true, 'c', 1, 8, "rwm" },
  { true, 'c', 1, 9, "rwm" }, { true, 'c', 5, 0, "rwm" },    { true, 'c', 5, 1, "rwm" },
  { true, 'c', 5, 2, "rwm" }, { true, 'c', 136, -1, "rwm" }, { true, 'c', 10, 200, "rwm" },
};
#define N_DEFAULT_DEV_RULES (sizeof default_dev_rules / sizeof default_dev_rules[0])

/* Write rule x to fds[allow] (devices.allow, or devices.deny), opened
 * once for all the rules. */
static int
put_dev_rule (const char *d, const int fds[2], const pier_dev_rule *x, pier_error **err)
{
  char val[96], maj[24], min[24];
  if (x->type == 'a' && x->major < 0 && x->minor < 0 && strlen (x->access) == 3)
    snprintf (val, sizeof val, "a");
  else
    {
      if (x->major < 0)
        snprintf (maj, sizeof maj, "*");
      else
        snprintf (maj, sizeof maj, "%lld", (long long) x->major);
      if (x->minor < 0)
        snprintf (min, sizeof min, "*");
      else
        snprintf (min, sizeof min, "%lld", (long long) x->minor);
      snprintf (val, sizeof val, "%c %s:%s %.8s", x->type == 'a' ? 'a' : x->type, maj, min, x->access);
    }
  if (TEMP_FAILURE_RETRY_INT (write (fds[x->allow], val, strlen (val))) < 0)
    return pier_error_make (err, errno, "cannot set a device rule: writing `%s` to `%s/%s`", val, d,
                            x->allow ? "devices.allow" : "devices.deny");
  return 0;
}

static int
apply_devices (const char *path, const pier_resources *r, pier_error **err)
{
  int v;
  if (r->n_devices == 0)
    return 0;
  cleanup_free char *d = ctrl_dir ("devices", path, &v);
  if (d == NULL)
    {
      if (host.v2 == NULL)
        return pier_error_makex (err, ENOTSUP,
                                 "cannot apply linux.resources.devices: neither the devices "
                                 "controller nor cgroup v2 is mounted");
      cleanup_free char *v2 = pier_path_join (host.v2, path);
      return pier_devfilter_attach (v2, r->devices, r->n_devices, default_dev_rules, N_DEFAULT_DEV_RULES,
                                    err);
    }
  static const char *const files[2] = { "devices.deny", "devices.allow" };
  cleanup_close int deny = -1, allow = -1;
  int *fds[2] = { &deny, &allow };
  for (int k = 0; k < 2; k++)
    {
      cleanup_free char *p = pier_path_join (d, files[k]);
      *fds[k] = open (p, O_WRONLY | O_CLOEXEC);
      if (*fds[k] < 0 && errno == ENOENT)
        return pier_error_makex (err, ENOTSUP,
                                 "cannot set a device rule: the kernel has no `%s` in this cgroup", files[k]);
      if (*fds[k] < 0)
        return pier_error_make (err, errno, "cannot set a device rule: cannot open `%s`", p);
    }
  const int open_fds[2] = { deny, allow };
  for (size_t i = 0; i < r->n_devices; i++)
    if (put_dev_rule (d, open_fds, &r->devices[i], err) < 0)
      return -1;
  for (size_t i = 0; i < N_DEFAULT_DEV_RULES; i++)
    if (put_dev_rule (d, open_fds, &default_dev_rules[i], err) < 0)
      return -1;
  return 0;
}

static int
apply_misc (const char *path, const pier_resources *r, pier_error **err)
{
  int v;
  if (r->has_pids)
    {
      cleanup_free char *d = need_dir ("pids", path, "the pids limit", &v, err);
      if (d == NULL)
        return -1;
      if (r->pids_limit <= 0)
        {
          if (put (d, "pids.max", "the pids limit", err, "max") < 0)
            return -1;
        }
      else if (put (d, "pids.max", "the pids limit", err, "%lld", (long long) r->pids_limit) < 0)
        return -1;
    }
  for (size_t i = 0; i < r->n_hugepages; i++)
    {
      cleanup_free char *d = need_dir ("hugetlb", path, "a hugepage limit", &v, err);
      if (d == NULL)
        return -1;
      cleanup_free char *f
          = xasprintf ("hugetlb.%s.%s", r->hugepages[i].pagesize, v == 1 ? "limit_in_bytes" : "max");
      if (put (d, f, "a hugepage limit", err, "%llu", (unsigned long long) r->hugepages[i].limit) < 0)
        return -1;
    }
  if (r->has_classid)
    {
      cleanup_free char *d = need_dir ("net_cls", path, "the network class id", &v, err);
      if (d == NULL || put (d, "net_cls.classid", "the network class id", err, "%u", r->classid) < 0)
        return -1;
    }
  for (size_t i = 0; i < r->n_netprio; i++)
    {
      cleanup_free char *d = need_dir ("net_prio", path, "network priorities", &v, err);
      if (d == NULL
          || put (d, "net_prio.ifpriomap", "network priorities", err, "%s %u", r->netprio[i].name,
                  r->netprio[i].priority)
                 < 0)
        return -1;
    }
  if (r->rdma && json_object_size (r->rdma))
    {
      cleanup_free char *d = need_dir ("rdma", path, "RDMA limits", &v, err);
      const char *dev;
      json_t *lim;
      if (d == NULL)
        return -1;
      json_object_foreach (r->rdma, dev, lim)
      {
        json_t *h = json_object_get (lim, "hcaHandles"), *o = json_object_get (lim, "hcaObjects");
        char hb[32] = "max", ob[32] = "max";
        if (json_is_integer (h))
          snprintf (hb, sizeof hb, "%lld", (long long) json_integer_value (h));
        if (json_is_integer (o))
          snprintf (ob, sizeof ob, "%lld", (long long) json_integer_value (o));
        if (put (d, "rdma.max", "RDMA limits", err, "%s hca_handle=%s hca_object=%s", dev, hb, ob) < 0)
          return -1;
      }
    }
  if (r->unified && json_object_size (r->unified))
    {
      const char *k;
      json_t *val;
      if (host.v2 == NULL)
        return pier_error_makex (err, ENOTSUP,
                                 "cannot apply linux.resources.unified: cgroup v2 is not mounted");
      cleanup_free char *d = pier_path_join (host.v2, path);
      json_object_foreach (r->unified, k,
                           val) if (put (d, k, k, err, "%s", json_string_value (val)) < 0) return -1;
    }
  return 0;
}

int
pier_cgroup_apply (const pier_cgroup *cg, const pier_resources *r, pier_error **err)
{
  load_host ();
  if (apply_memory (cg->path, r, err) < 0 || apply_cpu (cg->path, r, err) < 0
      || apply_blkio (cg->path, r, err) < 0 || apply_devices (cg->path, r, err) < 0
      || apply_misc (cg->path, r, err) < 0)
    return -1;
  return 0;
}

static char *
v2_dir (const pier_cgroup *cg)
{
  load_host ();
  return host.v2 ? pier_path_join (host.v2, cg->path) : NULL;
}

bool
pier_cgroup_is_frozen (const pier_cgroup *cg)
{
  int v;
  cleanup_free char *d = ctrl_dir ("freezer", cg->path, &v);
  cleanup_free char *val = NULL;
  if (d && v == 1)
    {
      cleanup_free char *f = pier_path_join (d, "freezer.state");
      if (pier_read_file_at (AT_FDCWD, f, &val, NULL, NULL) == 0)
        return strncmp (val, "FROZEN", 6) == 0;
    }
  cleanup_free char *v2 = v2_dir (cg);
  if (v2)
    {
      cleanup_free char *f = pier_path_join (v2, "cgroup.freeze");
      free (val);
      val = NULL;
      if (pier_read_file_at (AT_FDCWD, f, &val, NULL, NULL) == 0)
        return val[0] == '1';
    }
  return false;
}

int
pier_cgroup_freeze (const pier_cgroup *cg, bool frozen, pier_error **err)
{
  int v;
  cleanup_free char *d = ctrl_dir ("freezer", cg->path, &v);
  cleanup_free char *v2 = v2_dir (cg);
  const char *what = frozen ? "pause the container" : "resume the container";
  if (d && v == 1)
    {
      if (put (d, "freezer.state", what, err, "%s", frozen ? "FROZEN" : "THAWED") < 0)
        return -1;
      /* v1 freezing is asynchronous: wait until it settles. */
      for (int i = 0; i < 1000; i++)
        {
          cleanup_free char *f = pier_path_join (d, "freezer.state");
          cleanup_free char *val = NULL;
          if (pier_read_file_at (AT_FDCWD, f, &val, NULL, NULL) < 0)
            break;
          if (strncmp (val, frozen ? "FROZEN" : "THAWED", 6) == 0)
            return 0;
          if (frozen && i % 50 == 49)
            put (d, "freezer.state", what, NULL, "FROZEN");
          struct timespec ts = { 0, 1000 * 1000 };
          nanosleep (&ts, NULL);
        }
      return pier_error_makex (err, EBUSY, "cannot %s: the freezer did not settle", what);
    }
  if (v2)
    {
      if (put (v2, "cgroup.freeze", what, err, "%d", frozen ? 1 : 0) < 0)
        return -1;
      cleanup_free char *ev = pier_path_join (v2, "cgroup.events");
      for (int i = 0; i < 1000; i++)
        {
          cleanup_free char *val = NULL;
          if (pier_read_file_at (AT_FDCWD, ev, &val, NULL, NULL) < 0)
            break;
          char *fz = strstr (val, "frozen ");
          if (fz && fz[7] == (frozen ? '1' : '0'))
            return 0;
          struct timespec ts = { 0, 1000 * 1000 };
          nanosleep (&ts, NULL);
        }
      return 0;
    }
  return pier_error_makex (err, ENOTSUP, "cannot %s: neither the v1 freezer nor cgroup v2 is mounted", what);
}

int
pier_cgroup_pids (const pier_cgroup *cg, pid_t **pids, size_t *n, pier_error **err)
{
  cleanup_free char *dir = NULL;
  cleanup_free char *content = NULL;
  int v;
  load_host ();
  dir = ctrl_dir ("pids", cg->path, &v);
  if (dir == NULL)
    dir = v2_dir (cg);
  if (dir == NULL && host.n_v1)
    dir = pier_path_join (host.v1[0].mountpoint, cg->path);
  if (dir == NULL)
    return pier_error_makex (err, ENOENT, "no cgroup hierarchy to list processes from");
  cleanup_free char *f = pier_path_join (dir, "cgroup.procs");
  if (pier_read_file_at (AT_FDCWD, f, &content, NULL, err) < 0)
    return -1;
  size_t cap = 16, cnt = 0;
  pid_t *out = xcalloc (cap, sizeof (pid_t));
  for (char *p = content; *p;)
    {
      char *end;
      long v2 = strtol (p, &end, 10);
      if (end == p)
        break;
      if (cnt == cap)
        out = xrealloc (out, (cap *= 2) * sizeof (pid_t));
      out[cnt++] = (pid_t) v2;
      p = end;
      while (*p == '\n')
        p++;
    }
  *pids = out;
  *n = cnt;
  return 0;
}

int
pier_cgroup_signal_all (const pier_cgroup *cg, int sig, pier_error **err)
{
  cleanup_free char *v2 = v2_dir (cg);
  if (sig == SIGKILL && v2)
    {
      /* cgroup.kill is atomic against forks (kernel 5.14+). */
      cleanup_free char *f = pier_path_join (v2, "cgroup.kill");
      if (access (f, W_OK) == 0 && pier_write_file_at (AT_FDCWD, f, "1", 1, NULL) == 0)
        return 0;
    }
  /* Freeze so that nothing forks between listing and signalling. */
  bool was_frozen = pier_cgroup_is_frozen (cg);
  bool froze = !was_frozen && pier_cgroup_freeze (cg, true, NULL) == 0;
  cleanup_free pid_t *pids = NULL;
  size_t n = 0;
  int rc = pier_cgroup_pids (cg, &pids, &n, err);
  for (size_t i = 0; rc == 0 && i < n; i++)
    if (kill (pids[i], sig) < 0 && errno != ESRCH)
      rc = pier_error_make (err, errno, "cannot signal process %d", (int) pids[i]);
  if (froze)
    pier_cgroup_freeze (cg, false, NULL);
  return rc;
}

int
pier_cgroup_destroy (const pier_cgroup *cg, pier_error **err)
{
  (void) err;
  load_host ();
  /* Remove the leaf everywhere; parents are left for other containers,
   * except our own "pier" parent when it became empty. */
  for (size_t i = 0; i < host.n_v1; i++)
    {
      cleanup_free char *d = pier_path_join (host.v1[i].mountpoint, cg->path);
      rmdir_retry (d);
    }
  if (host.v2)
    {
      cleanup_free char *d = pier_path_join (host.v2, cg->path);
      rmdir_retry (d);
    }
  /* The parent ("pier") stays, as runc leaves its parents: the next
   * container would only make it again (and copy cpuset's cpus and mems
   * into it). */
  return 0;
}

int
pier_cgroup_open_v2 (const pier_cgroup *cg)
{
  cleanup_free char *d = v2_dir (cg);
  return d ? open (d, O_RDONLY | O_DIRECTORY | O_CLOEXEC) : -1;
}
