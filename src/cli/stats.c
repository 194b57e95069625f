/* stats.c - pier stats: a live table of containers' resource usage. */
#include <errno.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli/pier.h"
#include "engine/engine.h"
#include "util/cleanup.h"
#include "util/json.h"
#include "util/xalloc.h"

#include "util/banned.h"

/* docker's units.BytesSize: binary units, 4 significant digits. */
static char *
bytes_size (double v)
{
  static const char *const u[] = { "B", "KiB", "MiB", "GiB", "TiB", "PiB" };
  size_t i = 0;
  while (v >= 1024 && i + 1 < sizeof u / sizeof *u)
    {
      v /= 1024;
      i++;
    }
  return xasprintf ("%.4g%s", v, u[i]);
}

static int64_t
host_cpu_ns (void)
{
  cleanup_fclose FILE *f = fopen ("/proc/stat", "re");
  unsigned long long v[8] = { 0 };
  if (f == NULL
      || fscanf (f, "cpu %llu %llu %llu %llu %llu %llu %llu %llu", &v[0], &v[1], &v[2], &v[3], &v[4], &v[5],
                 &v[6], &v[7])
             != 8)
    return 0;
  unsigned long long t = 0;
  for (int i = 0; i < 8; i++)
    t += v[i];
  return (int64_t) (t * (1000000000ULL / (unsigned long long) sysconf (_SC_CLK_TCK)));
}

struct target
{
  char *id, *name;
  pier_engine_stats_sample prev, cur;
};

static volatile sig_atomic_t stop;
static void
on_signal (int sig)
{
  (void) sig;
  stop = 1;
}

static json_t *
row_of (struct target *t, int64_t sys_delta, long ncpu, bool no_trunc)
{
  double cpu = 0;
  int64_t cd = t->cur.cpu_ns - t->prev.cpu_ns;
  if (sys_delta > 0 && cd > 0)
    cpu = (double) cd / (double) sys_delta * (double) ncpu * 100.0;
  double memp = t->cur.mem_limit > 0 ? (double) t->cur.mem_usage / (double) t->cur.mem_limit * 100.0 : 0;
  cleanup_free char *mu = bytes_size ((double) t->cur.mem_usage),
                    *ml = bytes_size ((double) t->cur.mem_limit);
  cleanup_free char *rx = pier_human_size ((double) t->cur.net_rx),
                    *tx = pier_human_size ((double) t->cur.net_tx);
  cleanup_free char *br = pier_human_size ((double) t->cur.blk_read),
                    *bw = pier_human_size ((double) t->cur.blk_write);
  char cpus[32], mems[32], pids[32];
  snprintf (cpus, sizeof cpus, "%.2f%%", t->cur.running ? cpu : 0.0);
  snprintf (mems, sizeof mems, "%.2f%%", t->cur.running ? memp : 0.0);
  snprintf (pids, sizeof pids, "%lld", (long long) t->cur.pids);
  cleanup_free char *memusage = t->cur.running ? xasprintf ("%s / %s", mu, ml) : xstrdup ("0B / 0B");
  cleanup_free char *netio = t->cur.running ? xasprintf ("%s / %s", rx, tx) : xstrdup ("0B / 0B");
  cleanup_free char *blockio = t->cur.running ? xasprintf ("%s / %s", br, bw) : xstrdup ("0B / 0B");
  cleanup_free char *id = no_trunc ? xstrdup (t->id) : xstrndup (t->id, 12);
  return json_pack ("{s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s}", "ID", id, "Container", t->name, "Name",
                    t->name, "CPUPerc", cpus, "MemUsage", memusage, "MemPerc", mems, "NetIO", netio,
                    "BlockIO", blockio, "PIDs", pids);
}

/* docker's stats columns, for the header of --format 'table ...'. */
static const struct pier_format_column stats_heads[] = { { "Container", "CONTAINER" },
                                                         { "ID", "CONTAINER ID" },
                                                         { "Name", "NAME" },
                                                         { "CPUPerc", "CPU %" },
                                                         { "MemUsage", "MEM USAGE / LIMIT" },
                                                         { "MemPerc", "MEM %" },
                                                         { "NetIO", "NET I/O" },
                                                         { "BlockIO", "BLOCK I/O" },
                                                         { "PIDs", "PIDS" },
                                                         { NULL, NULL } };

int
pier_cmd_stats (struct pier_globals *g, int argc, char **argv)
{
  bool all = false, no_stream = false, no_trunc = false;
  const char *format = NULL;
  int i = 1, rc = 0;
  pier_opt opts[] = {
    { "a|all", OPT_BOOL, &all, "show all containers (default shows just running)", NULL },
    { "format", OPT_STRING, &format, "format output using a Go template ({{.Name}}, {{json .}}, table ...)",
      "string" },
    { "no-stream", OPT_BOOL, &no_stream, "disable streaming stats and only pull the first result", NULL },
    { "no-trunc", OPT_BOOL, &no_trunc, "do not truncate output", NULL },
    HELP_OPT,
    { NULL, 0, NULL, NULL, NULL },
  };
  if (pier_cli_parse ("stats", "pier stats [OPTIONS] [CONTAINER...]", opts, argc, argv, &i, 0, -1, &rc) < 0)
    return rc;
  pier_error *err = NULL;
  /* A bad template fails before anything is read or printed. */
  if (!pier_format_is_default (format))
    {
      pier_lister *check = pier_lister_new (format, stats_heads, &err);
      if (check == NULL)
        return pier_cli_fail (err, PIER_EXIT_USAGE);
      pier_lister_free (check);
    }
  else
    format = NULL;
  pier_engine *e = pier_cli_engine (g);
  if (e == NULL)
    return PIER_EXIT_ERROR;
  struct target *ts = NULL;
  size_t n = 0;
  if (i < argc)
    for (; i < argc; i++)
      {
        char *id = NULL;
        if (pier_engine_find (e, argv[i], &id, &err) < 0)
          {
            rc = pier_cli_fail (err, PIER_EXIT_ERROR);
            goto out;
          }
        ts = xrealloc (ts, (n + 1) * sizeof *ts);
        ts[n++] = (struct target){ .id = id, .name = xstrdup (argv[i]) };
      }
  else
    {
      cleanup_json json_t *list = NULL;
      if (pier_engine_list (e, &list, &err) < 0)
        {
          rc = pier_cli_fail (err, PIER_EXIT_ERROR);
          goto out;
        }
      size_t k;
      json_t *c;
      json_array_foreach (list, k, c)
      {
        if (!all && !json_is_true (json_object_get (json_object_get (c, "State"), "Running")))
          continue;
        const char *nm = json_string_value (json_object_get (c, "Name"));
        ts = xrealloc (ts, (n + 1) * sizeof *ts);
        ts[n++] = (struct target){ .id = xstrdup (json_string_value (json_object_get (c, "Id"))),
                                   .name = xstrdup (nm && *nm == '/' ? nm + 1
                                                    : nm             ? nm
                                                                     : "") };
      }
    }
  signal (SIGINT, on_signal);
  signal (SIGTERM, on_signal);
  long ncpu = sysconf (_SC_NPROCESSORS_ONLN);
  int64_t sys_prev = host_cpu_ns ();
  for (size_t k = 0; k < n; k++)
    pier_engine_stats (e, ts[k].id, &ts[k].prev, NULL);
  while (!stop)
    {
      /* docker computes CPU % from two readings. */
      struct timespec half = { 0, 500 * 1000 * 1000 };
      nanosleep (&half, NULL);
      int64_t sys_now = host_cpu_ns ();
      for (size_t k = 0; k < n; k++)
        if (pier_engine_stats (e, ts[k].id, &ts[k].cur, &err) < 0)
          {
            rc = pier_cli_fail (err, PIER_EXIT_ERROR);
            goto out;
          }
      if (!no_stream)
        fputs ("\033[2J\033[H", stdout);
      struct pier_table t = { 0 };
      pier_lister *fl = format ? pier_lister_new (format, stats_heads, NULL) : NULL;
      if (fl == NULL)
        pier_table_row (&t, (const char *[]){ "CONTAINER ID", "NAME", "CPU %", "MEM USAGE / LIMIT", "MEM %",
                                              "NET I/O", "BLOCK I/O", "PIDS", NULL });
      for (size_t k = 0; k < n; k++)
        {
          json_t *row = row_of (&ts[k], sys_now - sys_prev, ncpu, no_trunc);
          ts[k].prev = ts[k].cur;
          if (fl)
            {
              if (pier_lister_add (fl, row, &err) < 0)
                {
                  pier_lister_free (fl);
                  rc = pier_cli_fail (err, PIER_EXIT_USAGE);
                  goto out;
                }
              continue;
            }
          cleanup_free char *sid = no_trunc ? xstrdup (ts[k].id) : xstrndup (ts[k].id, 12);
          pier_table_row (&t, (const char *[]){ sid, ts[k].name,
                                                json_string_value (json_object_get (row, "CPUPerc")),
                                                json_string_value (json_object_get (row, "MemUsage")),
                                                json_string_value (json_object_get (row, "MemPerc")),
                                                json_string_value (json_object_get (row, "NetIO")),
                                                json_string_value (json_object_get (row, "BlockIO")),
                                                json_string_value (json_object_get (row, "PIDs")), NULL });
          json_decref (row);
        }
      if (fl)
        pier_lister_print (fl);
      pier_lister_free (fl);
      if (t.n)
        pier_table_print (&t);
      fflush (stdout);
      sys_prev = sys_now;
      if (no_stream)
        break;
    }
out:
  for (size_t k = 0; k < n; k++)
    {
      free (ts[k].id);
      free (ts[k].name);
    }
  free (ts);
  pier_cli_engine_close (e);
  return rc;
}
