/* update.c - pier update: a container's resources and restart policy. */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/pier.h"
#include "engine/engine.h"
#include "util/cleanup.h"
#include "util/json.h"
#include "util/units.h"
#include "util/xalloc.h"

#include "util/banned.h"

int
pier_cmd_update (struct pier_globals *g, int argc, char **argv)
{
  const char *memory = NULL, *swap = NULL, *reservation = NULL, *cpus = NULL, *cpuset_cpus = NULL,
             *cpuset_mems = NULL, *restart = NULL;
  long shares = LONG_MIN, quota = LONG_MIN, period = LONG_MIN, pids = LONG_MIN, weight = LONG_MIN;
  int i = 1, rc = 0;
  pier_opt opts[] = {
    { "m|memory", OPT_STRING, &memory, "memory limit", "bytes" },
    { "memory-swap", OPT_STRING, &swap, "memory plus swap limit (-1: unlimited)", "bytes" },
    { "memory-reservation", OPT_STRING, &reservation, "memory soft limit", "bytes" },
    { "cpus", OPT_STRING, &cpus, "number of CPUs", "decimal" },
    { "c|cpu-shares", OPT_INT, &shares, "CPU shares (relative weight)", "int" },
    { "cpu-quota", OPT_INT, &quota, "limit CPU CFS quota", "int" },
    { "cpu-period", OPT_INT, &period, "limit CPU CFS period", "int" },
    { "cpuset-cpus", OPT_STRING, &cpuset_cpus, "CPUs allowed (0-3, 0,1)", "string" },
    { "cpuset-mems", OPT_STRING, &cpuset_mems, "memory nodes allowed", "string" },
    { "pids-limit", OPT_INT, &pids, "process limit (-1: unlimited)", "int" },
    { "blkio-weight", OPT_INT, &weight, "block IO weight (10-1000, 0 to disable)", "int" },
    { "restart", OPT_STRING, &restart, "restart policy", "string" },
    HELP_OPT,
    { NULL, 0, NULL, NULL, NULL },
  };
  if (pier_cli_parse ("update", "pier update [OPTIONS] CONTAINER [CONTAINER...]", opts, argc, argv, &i, 1, -1,
                      &rc)
      < 0)
    return rc;
  cleanup_json json_t *ch = json_object ();
  const struct
  {
    const char *v, *key, *flag;
  } sizes[] = { { memory, "Memory", "--memory" },
                { swap, "MemorySwap", "--memory-swap" },
                { reservation, "MemoryReservation", "--memory-reservation" } };
  for (size_t k = 0; k < sizeof sizes / sizeof *sizes; k++)
    if (sizes[k].v)
      {
        int64_t n;
        if (pier_parse_ram (sizes[k].v, &n) < 0
            || (n < 0 && !(n == -1 && strcmp (sizes[k].key, "MemorySwap") == 0)))
          {
            cleanup_free char *msg
                = xasprintf ("invalid argument \"%s\" for \"%s\" flag", sizes[k].v, sizes[k].flag);
            return pier_cli_usage ("update", msg);
          }
        json_object_set_new (ch, sizes[k].key, json_integer (n));
      }
  if (cpus)
    {
      char *end;
      double c = strtod (cpus, &end);
      if (*end || c < 0)
        {
          cleanup_free char *msg = xasprintf (
              "invalid argument \"%s\" for \"--cpus\" flag: failed to parse as a decimal number", cpus);
          return pier_cli_usage ("update", msg);
        }
      json_object_set_new (ch, "NanoCpus", json_integer ((json_int_t) (c * 1e9)));
    }
  if (shares != LONG_MIN)
    json_object_set_new (ch, "CpuShares", json_integer (shares));
  if (quota != LONG_MIN)
    json_object_set_new (ch, "CpuQuota", json_integer (quota));
  if (period != LONG_MIN)
    json_object_set_new (ch, "CpuPeriod", json_integer (period));
  if (cpuset_cpus)
    json_object_set_new (ch, "CpusetCpus", json_string (cpuset_cpus));
  if (cpuset_mems)
    json_object_set_new (ch, "CpusetMems", json_string (cpuset_mems));
  if (pids != LONG_MIN)
    json_object_set_new (ch, "PidsLimit", json_integer (pids));
  if (weight != LONG_MIN)
    {
      if (weight != 0 && (weight < 10 || weight > 1000))
        return pier_cli_usage ("update", "Range of blkio weight is from 10 to 1000");
      json_object_set_new (ch, "BlkioWeight", json_integer (weight));
    }
  if (restart)
    {
      json_t *rp = pier_cli_restart_policy (restart);
      if (rp == NULL)
        {
          cleanup_free char *msg = xasprintf ("invalid restart policy format: %s", restart);
          return pier_cli_usage ("update", msg);
        }
      json_object_set_new (ch, "RestartPolicy", rp);
    }
  if (json_object_size (ch) == 0)
    return pier_cli_usage ("update", "you must provide one or more flags when using this command");
  pier_engine *e = pier_cli_engine (g);
  if (e == NULL)
    return PIER_EXIT_ERROR;
  for (; i < argc; i++)
    {
      pier_error *err = NULL;
      cleanup_free char *id = NULL;
      if (pier_engine_find (e, argv[i], &id, &err) < 0 || pier_engine_update (e, id, ch, &err) < 0)
        rc = pier_cli_fail (err, PIER_EXIT_ERROR);
      else
        printf ("%s\n", argv[i]);
    }
  pier_cli_engine_close (e);
  return rc;
}
