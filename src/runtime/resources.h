/* resources.h - linux.resources, parsed and validated.
 *
 * Parsing happens before anything is created; the cgroup backends apply
 * the parsed form.  "has_*" flags mark fields the config sets. */
#ifndef PIER_RUNTIME_RESOURCES_H
#define PIER_RUNTIME_RESOURCES_H

#include <stdbool.h>
#include <stdint.h>

#include <jansson.h>

#include "util/error.h"

typedef struct pier_throttle
{
  int64_t major, minor;
  uint64_t rate;
} pier_throttle;

typedef struct pier_weight_dev
{
  int64_t major, minor;
  bool has_weight, has_leaf_weight;
  uint64_t weight, leaf_weight;
} pier_weight_dev;

typedef struct pier_dev_rule
{
  bool allow;
  char type;            /* 'a', 'c', 'b' */
  int64_t major, minor; /* -1 is the wildcard */
  char access[4];       /* subset of "rwm" */
} pier_dev_rule;

enum
{
  PIER_THR_READ_BPS,
  PIER_THR_WRITE_BPS,
  PIER_THR_READ_IOPS,
  PIER_THR_WRITE_IOPS,
  PIER_THR_KINDS
};

typedef struct pier_resources
{
  bool has_mem_limit, has_mem_reservation, has_mem_swap, has_swappiness;
  bool has_disable_oom, disable_oom, has_mem_kernel, has_mem_kernel_tcp;
  int64_t mem_limit, mem_reservation, mem_swap, mem_kernel, mem_kernel_tcp;
  uint64_t swappiness;

  bool has_shares, has_quota, has_period, has_burst, has_rt_runtime, has_rt_period, has_idle;
  uint64_t shares, period, burst, rt_period;
  int64_t quota, rt_runtime, idle;
  char *cpus, *mems;

  bool has_pids;
  int64_t pids_limit;

  bool has_blkio_weight, has_blkio_leaf_weight;
  uint64_t blkio_weight, blkio_leaf_weight;
  pier_weight_dev *weight_devs;
  size_t n_weight_devs;
  pier_throttle *throttle[PIER_THR_KINDS];
  size_t n_throttle[PIER_THR_KINDS];

  struct pier_hugepage
  {
    char *pagesize;
    uint64_t limit;
  } * hugepages;
  size_t n_hugepages;

  bool has_classid;
  uint32_t classid;
  struct pier_netprio
  {
    char *name;
    uint32_t priority;
  } * netprio;
  size_t n_netprio;

  pier_dev_rule *devices;
  size_t n_devices;

  json_t *unified; /* key -> string, cgroup v2 files */
  json_t *rdma;    /* device -> {hcaHandles, hcaObjects} */
} pier_resources;

/* obj may be NULL (an empty set). */
int pier_resources_parse (json_t *obj, pier_resources **out, pier_error **err);
void pier_resources_free (pier_resources *r);

/* Overlay src onto dst (for `update`: only the fields src sets). */
void pier_resources_merge (pier_resources *dst, const pier_resources *src);

/* cpu.shares (2..262144) to cgroup v2 cpu.weight (1..10000). */
uint64_t pier_shares_to_weight (uint64_t shares);

#endif
