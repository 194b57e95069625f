/* stats.c - a running container's resource usage, read from its cgroups
 * (v1, v2 or hybrid) and its network namespace. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "engine/engine.h"
#include "engine/internal.h"
#include "util/cleanup.h"
#include "util/fs.h"
#include "util/json.h"
#include "util/xalloc.h"

#include "util/banned.h"

/* The first of the files that can be read (under /sys/fs/cgroup). */
static char *
read_cg (const char *id, const char *const *candidates)
{
  for (size_t i = 0; candidates[i]; i++)
    {
      cleanup_free char *p = xasprintf ("/sys/fs/cgroup/%s", candidates[i]);
      char *at = strstr (p, "%s");
      cleanup_free char *path = NULL;
      if (at)
        path = xasprintf ("%.*s%s%s", (int) (at - p), p, id, at + 2);
      char *text = NULL;
      size_t len;
      if (pier_read_file_at (AT_FDCWD, path ? path : p, &text, &len, NULL) == 0)
        return text;
    }
  return NULL;
}

static int64_t
num_of (const char *text)
{
  if (text == NULL)
    return -1;
  if (strncmp (text, "max", 3) == 0)
    return INT64_MAX;
  return strtoll (text, NULL, 10);
}

/* "key value" lines (memory.stat, cpu.stat). */
static int64_t
key_of (const char *text, const char *key)
{
  if (text == NULL)
    return -1;
  size_t n = strlen (key);
  for (const char *l = text; l && *l; l = strchr (l, '\n') ? strchr (l, '\n') + 1 : NULL)
    if (strncmp (l, key, n) == 0 && l[n] == ' ')
      return strtoll (l + n + 1, NULL, 10);
  return -1;
}

int
pier_engine_stats (pier_engine *e, const char *id, pier_engine_stats_sample *s, pier_error **err)
{
  cleanup_json json_t *state = NULL;
  memset (s, 0, sizeof *s);
  if (pier_engine_load (e, id, NULL, &state, err) < 0)
    return -1;
  const char *status = json_string_value (json_object_get (state, "Status"));
  s->running = status && (strcmp (status, "running") == 0 || strcmp (status, "paused") == 0);
  if (!s->running)
    return 0;
  pid_t pid = (pid_t) json_integer_value (json_object_get (state, "Pid"));

  cleanup_free char *cpu = read_cg (
      id, (const char *[]){ "cpuacct/pier/%s/cpuacct.usage", "cpu,cpuacct/pier/%s/cpuacct.usage", NULL });
  if (cpu)
    s->cpu_ns = num_of (cpu);
  else
    {
      cleanup_free char *st
          = read_cg (id, (const char *[]){ "pier/%s/cpu.stat", "unified/pier/%s/cpu.stat", NULL });
      int64_t us = key_of (st, "usage_usec");
      s->cpu_ns = us >= 0 ? us * 1000 : 0;
    }
  cleanup_free char *usage = read_cg (
      id, (const char *[]){ "memory/pier/%s/memory.usage_in_bytes", "pier/%s/memory.current", NULL });
  cleanup_free char *mstat
      = read_cg (id, (const char *[]){ "memory/pier/%s/memory.stat", "pier/%s/memory.stat", NULL });
  cleanup_free char *limit
      = read_cg (id, (const char *[]){ "memory/pier/%s/memory.limit_in_bytes", "pier/%s/memory.max", NULL });
  /* As docker: the page cache that can be dropped is not usage. */
  int64_t inactive = key_of (mstat, "total_inactive_file");
  if (inactive < 0)
    inactive = key_of (mstat, "inactive_file");
  s->mem_usage = num_of (usage);
  if (s->mem_usage > 0 && inactive > 0 && inactive < s->mem_usage)
    s->mem_usage -= inactive;
  if (s->mem_usage < 0)
    s->mem_usage = 0;
  long pages = sysconf (_SC_PHYS_PAGES), psize = sysconf (_SC_PAGESIZE);
  int64_t host = (int64_t) pages * psize;
  s->mem_limit = num_of (limit);
  if (s->mem_limit <= 0 || s->mem_limit > host)
    s->mem_limit = host;
  cleanup_free char *pids
      = read_cg (id, (const char *[]){ "pids/pier/%s/pids.current", "pier/%s/pids.current", NULL });
  s->pids = pids ? num_of (pids) : 0;

  cleanup_free char *bio
      = read_cg (id, (const char *[]){ "blkio/pier/%s/blkio.throttle.io_service_bytes", NULL });
  if (bio)
    {
      char *save = NULL;
      for (char *l = strtok_r (bio, "\n", &save); l; l = strtok_r (NULL, "\n", &save))
        {
          char dev[32], op[16];
          long long v;
          if (sscanf (l, "%31s %15s %lld", dev, op, &v) == 3)
            {
              if (strcmp (op, "Read") == 0)
                s->blk_read += v;
              else if (strcmp (op, "Write") == 0)
                s->blk_write += v;
            }
        }
    }
  else
    {
      cleanup_free char *io = read_cg (id, (const char *[]){ "pier/%s/io.stat", NULL });
      for (char *p = io; p && (p = strstr (p, "bytes=")); p += 6)
        {
          if (p - io >= 1 && p[-1] == 'r')
            s->blk_read += strtoll (p + 6, NULL, 10);
          else if (p - io >= 1 && p[-1] == 'w')
            s->blk_write += strtoll (p + 6, NULL, 10);
        }
    }

  /* The network namespace's interfaces, loopback aside. */
  if (pid > 0)
    {
      cleanup_free char *path = xasprintf ("/proc/%d/net/dev", (int) pid);
      cleanup_free char *dev = NULL;
      size_t len;
      if (pier_read_file_at (AT_FDCWD, path, &dev, &len, NULL) == 0)
        {
          char *save = NULL;
          for (char *l = strtok_r (dev, "\n", &save); l; l = strtok_r (NULL, "\n", &save))
            {
              char *colon = strchr (l, ':');
              if (colon == NULL)
                continue;
              *colon = 0;
              while (*l == ' ')
                l++;
              if (strcmp (l, "lo") == 0)
                continue;
              unsigned long long v[16] = { 0 };
              if (sscanf (colon + 1, "%llu %llu %llu %llu %llu %llu %llu %llu %llu", &v[0], &v[1], &v[2],
                          &v[3], &v[4], &v[5], &v[6], &v[7], &v[8])
                  == 9)
                {
                  s->net_rx += (int64_t) v[0];
                  s->net_tx += (int64_t) v[8];
                }
            }
        }
    }
  return 0;
}
