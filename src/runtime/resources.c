#include "runtime/resources.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "util/cleanup.h"
#include "util/json.h"
#include "util/xalloc.h"
#include "util/banned.h"

void
pier_resources_free (pier_resources *r)
{
  if (r == NULL)
    return;
  free (r->cpus);
  free (r->mems);
  free (r->weight_devs);
  for (int k = 0; k < PIER_THR_KINDS; k++)
    free (r->throttle[k]);
  for (size_t i = 0; i < r->n_hugepages; i++)
    free (r->hugepages[i].pagesize);
  free (r->hugepages);
  for (size_t i = 0; i < r->n_netprio; i++)
    free (r->netprio[i].name);
  free (r->netprio);
  free (r->devices);
  json_decref (r->unified);
  json_decref (r->rdma);
  free (r);
}

uint64_t
pier_shares_to_weight (uint64_t shares)
{
  if (shares == 0)
    return 0;
  if (shares < 2)
    shares = 2;
  if (shares > 262144)
    shares = 262144;
  return 1 + ((shares - 2) * 9999) / 262142;
}

static int
opt_i64 (json_t *o, const char *k, const char *w, bool *has, int64_t *v, pier_error **err)
{
  int r = pier_json_i64 (o, k, w, v, err);
  if (r > 0)
    *has = true;
  return r;
}

static int
opt_u64 (json_t *o, const char *k, const char *w, bool *has, uint64_t *v, pier_error **err)
{
  int r = pier_json_u64 (o, k, w, v, err);
  if (r > 0)
    *has = true;
  return r;
}

static int
parse_memory (json_t *m, pier_resources *r, pier_error **err)
{
  const char *w = "linux.resources.memory";
  if (opt_i64 (m, "limit", w, &r->has_mem_limit, &r->mem_limit, err) < 0
      || opt_i64 (m, "reservation", w, &r->has_mem_reservation, &r->mem_reservation, err) < 0
      || opt_i64 (m, "swap", w, &r->has_mem_swap, &r->mem_swap, err) < 0
      || opt_i64 (m, "kernel", w, &r->has_mem_kernel, &r->mem_kernel, err) < 0
      || opt_i64 (m, "kernelTCP", w, &r->has_mem_kernel_tcp, &r->mem_kernel_tcp, err) < 0
      || opt_u64 (m, "swappiness", w, &r->has_swappiness, &r->swappiness, err) < 0)
    return -1;
  int x = pier_json_bool (m, "disableOOMKiller", w, &r->disable_oom, err);
  if (x < 0)
    return -1;
  r->has_disable_oom = x > 0;
  if (r->has_swappiness && r->swappiness > 100)
    return pier_error_makex (err, EINVAL, "%s.swappiness %llu is above 100", w,
                             (unsigned long long) r->swappiness);
  if (r->has_mem_limit && r->mem_limit == 0)
    r->has_mem_limit = false;
  if (r->has_mem_limit && r->has_mem_swap && r->mem_swap > 0 && r->mem_limit > 0
      && r->mem_swap < r->mem_limit)
    return pier_error_makex (err, EINVAL, "%s: swap (memory+swap, %lld) must not be lower than limit (%lld)",
                             w, (long long) r->mem_swap, (long long) r->mem_limit);
  return 0;
}

static int
parse_cpu (json_t *c, pier_resources *r, pier_error **err)
{
  const char *w = "linux.resources.cpu", *s = NULL;
  if (opt_u64 (c, "shares", w, &r->has_shares, &r->shares, err) < 0
      || opt_i64 (c, "quota", w, &r->has_quota, &r->quota, err) < 0
      || opt_u64 (c, "burst", w, &r->has_burst, &r->burst, err) < 0
      || opt_u64 (c, "period", w, &r->has_period, &r->period, err) < 0
      || opt_i64 (c, "realtimeRuntime", w, &r->has_rt_runtime, &r->rt_runtime, err) < 0
      || opt_u64 (c, "realtimePeriod", w, &r->has_rt_period, &r->rt_period, err) < 0
      || opt_i64 (c, "idle", w, &r->has_idle, &r->idle, err) < 0)
    return -1;
  if (pier_json_str (c, "cpus", w, &s, err) < 0)
    return -1;
  if (s && *s)
    r->cpus = xstrdup (s);
  s = NULL;
  if (pier_json_str (c, "mems", w, &s, err) < 0)
    return -1;
  if (s && *s)
    r->mems = xstrdup (s);
  return 0;
}

static int
parse_dev_pairs (json_t *b, const char *key, pier_throttle **out, size_t *n, pier_error **err)
{
  json_t *arr = NULL, *v;
  size_t i;
  cleanup_free char *w0 = xasprintf ("linux.resources.blockIO");
  int found = pier_json_arr (b, key, w0, &arr, err);
  if (found <= 0)
    return found;
  *out = xcalloc (json_array_size (arr) + 1, sizeof (pier_throttle));
  json_array_foreach (arr, i, v)
  {
    cleanup_free char *w = xasprintf ("linux.resources.blockIO.%s[%zu]", key, i);
    pier_throttle *t = &(*out)[(*n)++];
    if (!json_is_object (v))
      return pier_error_makex (err, EINVAL, "%s must be an object", w);
    if (pier_json_i64 (v, "major", w, &t->major, err) < 0 || pier_json_i64 (v, "minor", w, &t->minor, err) < 0
        || pier_json_u64 (v, "rate", w, &t->rate, err) < 0)
      return -1;
  }
  return 0;
}

static int
parse_blkio (json_t *b, pier_resources *r, pier_error **err)
{
  static const char *const keys[PIER_THR_KINDS] = { "throttleReadBpsDevice", "throttleWriteBpsDevice",
                                                    "throttleReadIOPSDevice", "throttleWriteIOPSDevice" };
  const char *w = "linux.resources.blockIO";
  json_t *arr = NULL, *v;
  size_t i;
  if (opt_u64 (b, "weight", w, &r->has_blkio_weight, &r->blkio_weight, err) < 0
      || opt_u64 (b, "leafWeight", w, &r->has_blkio_leaf_weight, &r->blkio_leaf_weight, err) < 0)
    return -1;
  if (pier_json_arr (b, "weightDevice", w, &arr, err) < 0)
    return -1;
  if (arr)
    {
      r->weight_devs = xcalloc (json_array_size (arr) + 1, sizeof (pier_weight_dev));
      json_array_foreach (arr, i, v)
      {
        cleanup_free char *wi = xasprintf ("%s.weightDevice[%zu]", w, i);
        pier_weight_dev *d = &r->weight_devs[r->n_weight_devs++];
        if (!json_is_object (v))
          return pier_error_makex (err, EINVAL, "%s must be an object", wi);
        if (pier_json_i64 (v, "major", wi, &d->major, err) < 0
            || pier_json_i64 (v, "minor", wi, &d->minor, err) < 0
            || opt_u64 (v, "weight", wi, &d->has_weight, &d->weight, err) < 0
            || opt_u64 (v, "leafWeight", wi, &d->has_leaf_weight, &d->leaf_weight, err) < 0)
          return -1;
      }
    }
  for (int k = 0; k < PIER_THR_KINDS; k++)
    if (parse_dev_pairs (b, keys[k], &r->throttle[k], &r->n_throttle[k], err) < 0)
      return -1;
  return 0;
}

static int
parse_devices (json_t *arr, pier_resources *r, pier_error **err)
{
  json_t *v;
  size_t i;
  r->devices = xcalloc (json_array_size (arr) + 1, sizeof (pier_dev_rule));
  json_array_foreach (arr, i, v)
  {
    cleanup_free char *w = xasprintf ("linux.resources.devices[%zu]", i);
    pier_dev_rule *d = &r->devices[r->n_devices++];
    const char *type = NULL, *access = NULL;
    bool allow = false;
    if (!json_is_object (v))
      return pier_error_makex (err, EINVAL, "%s must be an object", w);
    if (pier_json_bool (v, "allow", w, &allow, err) < 0 || pier_json_str (v, "type", w, &type, err) < 0
        || pier_json_str (v, "access", w, &access, err) < 0)
      return -1;
    if (!json_is_boolean (json_object_get (v, "allow")))
      return pier_error_makex (err, EINVAL, "%s.allow is required", w);
    d->allow = allow;
    d->type = type && *type ? type[0] : 'a';
    if (strchr ("acb", d->type) == NULL || (type && strlen (type) > 1))
      return pier_error_makex (err, EINVAL, "%s.type `%s` must be a, c or b", w, type);
    d->major = d->minor = -1;
    if (pier_json_i64 (v, "major", w, &d->major, err) < 0
        || pier_json_i64 (v, "minor", w, &d->minor, err) < 0)
      return -1;
    if (access == NULL || *access == '\0')
      access = "rwm";
    if (strlen (access) > 3 || strspn (access, "rwm") != strlen (access))
      return pier_error_makex (err, EINVAL, "%s.access `%s` must be made of r, w and m", w, access);
    memcpy (d->access, access, strlen (access) + 1);
  }
  return 0;
}

int
pier_resources_parse (json_t *obj, pier_resources **out, pier_error **err)
{
  pier_resources *r = xzalloc (sizeof *r);
  json_t *o = NULL, *arr = NULL, *v;
  size_t i;
  const char *W = "linux.resources";

  if (obj == NULL)
    goto done;
  if (pier_json_obj (obj, "memory", W, &o, err) < 0 || (o && parse_memory (o, r, err) < 0))
    goto fail;
  o = NULL;
  if (pier_json_obj (obj, "cpu", W, &o, err) < 0 || (o && parse_cpu (o, r, err) < 0))
    goto fail;
  o = NULL;
  if (pier_json_obj (obj, "pids", W, &o, err) < 0)
    goto fail;
  if (o)
    {
      if (opt_i64 (o, "limit", "linux.resources.pids", &r->has_pids, &r->pids_limit, err) < 0)
        goto fail;
    }
  o = NULL;
  if (pier_json_obj (obj, "blockIO", W, &o, err) < 0 || (o && parse_blkio (o, r, err) < 0))
    goto fail;
  if (pier_json_arr (obj, "hugepageLimits", W, &arr, err) < 0)
    goto fail;
  if (arr)
    {
      r->hugepages = xcalloc (json_array_size (arr) + 1, sizeof (*r->hugepages));
      json_array_foreach (arr, i, v)
      {
        cleanup_free char *w = xasprintf ("%s.hugepageLimits[%zu]", W, i);
        const char *ps = NULL;
        uint64_t lim = 0;
        if (!json_is_object (v) || pier_json_str (v, "pageSize", w, &ps, err) < 0
            || pier_json_u64 (v, "limit", w, &lim, err) < 0)
          {
            if (!json_is_object (v))
              pier_error_makex (err, EINVAL, "%s must be an object", w);
            goto fail;
          }
        if (ps == NULL || strchr (ps, '/') || strstr (ps, ".."))
          {
            pier_error_makex (err, EINVAL, "%s.pageSize is missing or invalid", w);
            goto fail;
          }
        r->hugepages[r->n_hugepages].pagesize = xstrdup (ps);
        r->hugepages[r->n_hugepages++].limit = lim;
      }
    }
  o = NULL;
  if (pier_json_obj (obj, "network", W, &o, err) < 0)
    goto fail;
  if (o)
    {
      uint64_t cid = 0;
      json_t *pr = NULL;
      int x = pier_json_u64 (o, "classID", "linux.resources.network", &cid, err);
      if (x < 0)
        goto fail;
      r->has_classid = x > 0;
      r->classid = (uint32_t) cid;
      if (pier_json_arr (o, "priorities", "linux.resources.network", &pr, err) < 0)
        goto fail;
      if (pr)
        {
          r->netprio = xcalloc (json_array_size (pr) + 1, sizeof (*r->netprio));
          json_array_foreach (pr, i, v)
          {
            const char *name = NULL;
            uint64_t p = 0;
            if (pier_json_str (v, "name", "linux.resources.network.priorities", &name, err) < 0
                || pier_json_u64 (v, "priority", "linux.resources.network.priorities", &p, err) < 0)
              goto fail;
            if (name == NULL)
              {
                pier_error_makex (err, EINVAL, "linux.resources.network.priorities[%zu].name is required", i);
                goto fail;
              }
            r->netprio[r->n_netprio].name = xstrdup (name);
            r->netprio[r->n_netprio++].priority = (uint32_t) p;
          }
        }
    }
  arr = NULL;
  if (pier_json_arr (obj, "devices", W, &arr, err) < 0 || (arr && parse_devices (arr, r, err) < 0))
    goto fail;
  o = NULL;
  if (pier_json_obj (obj, "unified", W, &o, err) < 0)
    goto fail;
  if (o)
    {
      const char *k;
      json_object_foreach (o, k, v) if (!json_is_string (v) || strchr (k, '/') || strstr (k, ".."))
      {
        pier_error_makex (err, EINVAL, "linux.resources.unified.%s must be a string naming a cgroup file", k);
        goto fail;
      }
      r->unified = json_incref (o);
    }
  o = NULL;
  if (pier_json_obj (obj, "rdma", W, &o, err) < 0)
    goto fail;
  if (o)
    r->rdma = json_incref (o);
done:
  *out = r;
  return 0;
fail:
  pier_resources_free (r);
  return -1;
}

#define MERGE(f)                                                                                             \
  do                                                                                                         \
    if (src->has_##f)                                                                                        \
      {                                                                                                      \
        dst->has_##f = true;                                                                                 \
        dst->f = src->f;                                                                                     \
      }                                                                                                      \
  while (0)

void
pier_resources_merge (pier_resources *dst, const pier_resources *src)
{
  MERGE (mem_limit);
  MERGE (mem_reservation);
  MERGE (mem_swap);
  MERGE (swappiness);
  MERGE (mem_kernel);
  MERGE (mem_kernel_tcp);
  if (src->has_disable_oom)
    {
      dst->has_disable_oom = true;
      dst->disable_oom = src->disable_oom;
    }
  MERGE (shares);
  MERGE (quota);
  MERGE (period);
  MERGE (burst);
  MERGE (rt_runtime);
  MERGE (rt_period);
  MERGE (idle);
  if (src->cpus)
    {
      free (dst->cpus);
      dst->cpus = xstrdup (src->cpus);
    }
  if (src->mems)
    {
      free (dst->mems);
      dst->mems = xstrdup (src->mems);
    }
  if (src->has_pids)
    {
      dst->has_pids = true;
      dst->pids_limit = src->pids_limit;
    }
  if (src->has_blkio_weight)
    {
      dst->has_blkio_weight = true;
      dst->blkio_weight = src->blkio_weight;
    }
  if (src->has_blkio_leaf_weight)
    {
      dst->has_blkio_leaf_weight = true;
      dst->blkio_leaf_weight = src->blkio_leaf_weight;
    }
  if (src->unified)
    {
      json_decref (dst->unified);
      dst->unified = json_incref (src->unified);
    }
}
