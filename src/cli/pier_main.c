/* pier_main.c - the `pier` command: docker's verbs over pier's libraries.
 * Daemonless: it opens the store under --root itself. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/opt.h"
#include "cli/pier.h"
#include "engine/engine.h"
#include "engine/network.h"
#include "runtime/cgroup.h"
#include "util/log.h"
#include "util/xalloc.h"
#include "util/banned.h"

#ifndef PIER_VERSION
#define PIER_VERSION "0.1.0"
#endif

int
pier_cli_fail (pier_error *err, int code)
{
  fprintf (stderr, "Error: %s\n", err ? err->msg : "unknown error");
  pier_error_free (&err);
  return code;
}

int
pier_cli_usage (const char *verb, const char *msg)
{
  fprintf (stderr, "pier %s: %s\nSee 'pier %s --help'.\n", verb, msg, verb);
  return PIER_EXIT_USAGE;
}

pier_store *
pier_cli_store (struct pier_globals *g)
{
  pier_store *st = NULL;
  pier_error *err = NULL;
  if (pier_store_open (g->root, &st, &err) < 0)
    {
      pier_error_wrap (&err, "cannot open the store at %s", g->root);
      pier_cli_fail (err, PIER_EXIT_ERROR);
      return NULL;
    }
  return st;
}

bool pier_cli_want_help;

int
pier_cli_parse (const char *verb, const char *usage, const pier_opt *opts, int argc, char **argv, int *i,
                int min, int max, int *rc)
{
  char *msg = NULL;
  pier_cli_want_help = false;
  if (pier_opt_parse (opts, argc, argv, i, &msg) < 0)
    {
      *rc = pier_cli_usage (verb, msg);
      free (msg);
      return -1;
    }
  if (pier_cli_want_help)
    {
      pier_opt_usage (usage, opts);
      *rc = 0;
      return -1;
    }
  int n = argc - *i;
  if (n < min || (max >= 0 && n > max))
    {
      char m[160];
      snprintf (m, sizeof m, "\"%s\" requires %s%d argument%s", verb,
                max < 0 ? "at least " : (min == max ? "exactly " : "at most "),
                max < 0 || min == max ? min : max, (max < 0 ? min : max) == 1 ? "" : "s");
      *rc = pier_cli_usage (verb, m);
      return -1;
    }
  return 0;
}

char *
pier_ellipsis (const char *s, size_t n)
{
  size_t chars = 0, i = 0;
  for (; s[i] && chars < n; i++)
    if (((unsigned char) s[i] & 0xC0) != 0x80)
      chars++;
  if (s[i] == '\0')
    return xstrdup (s);
  /* back to the start of the n-th character, and one fewer for the "…" */
  size_t keep = 0, c = 0;
  for (size_t k = 0; s[k] && c < n - 1; k++)
    {
      if (((unsigned char) s[k] & 0xC0) != 0x80)
        c++;
      keep = k + 1;
    }
  while (s[keep] && ((unsigned char) s[keep] & 0xC0) == 0x80)
    keep++;
  return xasprintf ("%.*s…", (int) keep, s);
}

static int
cmd_version (struct pier_globals *g, int argc, char **argv)
{
  (void) g;
  (void) argc;
  (void) argv;
  printf ("pier version %s\n", PIER_VERSION);
  return 0;
}

static int
cmd_info (struct pier_globals *g, int argc, char **argv)
{
  (void) argc;
  (void) argv;
  static const char *const modes[] = { "v1", "v2", "hybrid" };
  printf ("Root Dir: %s\nRun Root: %s\nCgroup Version: %s\nRuntime: pier-runtime (in-process)\n", g->root,
          g->runroot, modes[pier_cgroup_host_mode ()]);
  return 0;
}

static int cmd_help (struct pier_globals *g, int argc, char **argv);

static const struct
{
  const char *name;
  int (*fn) (struct pier_globals *, int, char **);
  const char *help;
} commands[] = {
  { "run", pier_cmd_run, "create and run a new container from an image" },
  { "create", pier_cmd_create, "create a new container" },
  { "start", pier_cmd_start, "start one or more stopped containers" },
  { "stop", pier_cmd_stop, "stop one or more running containers" },
  { "restart", pier_cmd_restart, "restart one or more containers" },
  { "kill", pier_cmd_kill, "kill one or more running containers" },
  { "rm", pier_cmd_rm, "remove one or more containers" },
  { "ps", pier_cmd_ps, "list containers" },
  { "logs", pier_cmd_logs, "fetch the logs of a container" },
  { "exec", pier_cmd_exec, "run a command in a running container" },
  { "attach", pier_cmd_attach, "attach to a running container's streams" },
  { "wait", pier_cmd_wait, "wait for containers to stop, print their exit codes" },
  { "inspect", pier_cmd_inspect, "low-level information on containers or images" },
  { "pause", pier_cmd_pause, "pause all processes within containers" },
  { "unpause", pier_cmd_unpause, "unpause all processes within containers" },
  { "rename", pier_cmd_rename, "rename a container" },
  { "top", pier_cmd_top, "display the running processes of a container" },
  { "port", pier_cmd_port, "list port mappings of a container" },
  { "container", pier_cmd_container, "manage containers" },
  { "network", pier_cmd_network, "manage networks" },
  { "image", pier_cmd_image, "manage images (ls, inspect, rm, tag, import)" },
  { "images", pier_cmd_images, "list images" },
  { "history", pier_cmd_history, "show the history of an image" },
  { "import", pier_cmd_import, "import a root filesystem tarball as an image" },
  { "tag", pier_cmd_tag, "create a tag TARGET_IMAGE that refers to SOURCE_IMAGE" },
  { "rmi", pier_cmd_rmi, "remove one or more images" },
  { "save", pier_cmd_save, "save images to a tar archive (docker-archive or oci-archive)" },
  { "load", pier_cmd_load, "load images from a tar archive" },
  { "build", pier_cmd_build, "build an image from a Dockerfile" },
  { "commit", pier_cmd_commit, "create a new image from a container's changes" },
  { "cp", pier_cmd_cp, "copy files between a container and the host" },
  { "stats", pier_cmd_stats, "a live stream of containers' resource usage" },
  { "update", pier_cmd_update, "update the resources and restart policy of containers" },
  { "diff", pier_cmd_diff, "inspect changes to files on a container's filesystem" },
  { "export", pier_cmd_export, "export a container's filesystem as a tar archive" },
  { "builder", pier_cmd_builder, "manage builds (prune the build cache)" },
  { "volume", pier_cmd_volume, "manage volumes (create, ls, inspect, rm, prune)" },
  { "pull", pier_cmd_pull, "download an image from a registry" },
  { "push", pier_cmd_push, "upload an image to a registry" },
  { "login", pier_cmd_login, "log in to a registry" },
  { "logout", pier_cmd_logout, "log out from a registry" },
  { "system", pier_cmd_system, "check the store, show disk usage, prune" },
  { "info", cmd_info, "show where pier keeps its state and what the host offers" },
  { "version", cmd_version, "show the pier version" },
  { "help", cmd_help, "show help" },
};

static int
cmd_help (struct pier_globals *g, int argc, char **argv)
{
  (void) g;
  (void) argc;
  (void) argv;
  printf ("Usage: pier [--root DIR] [--runroot DIR] COMMAND\n\nCommands:\n");
  for (size_t k = 0; k < sizeof commands / sizeof commands[0]; k++)
    printf ("  %-10s %s\n", commands[k].name, commands[k].help);
  printf ("\nGlobal options:\n  --root DIR      persistent state (default /var/lib/pier)\n"
          "  --runroot DIR   runtime state (default /run/pier)\n"
          "\nThe OCI runtime is the pier-runtime command.\n");
  return 0;
}

int
main (int argc, char **argv)
{
  struct pier_globals g = { "/var/lib/pier", "/run/pier" };
  bool version = false, help = false;
  pier_opt opts[] = {
    { "root", OPT_STRING, &g.root, NULL, NULL },
    { "runroot", OPT_STRING, &g.runroot, NULL, NULL },
    { "v|version", OPT_BOOL, &version, NULL, NULL },
    { "h|help", OPT_BOOL, &help, NULL, NULL },
    { NULL, 0, NULL, NULL, NULL },
  };
  int i = 1;
  char *msg = NULL;
  pier_log_set_program ("pier");
  if (argc > 1 && strcmp (argv[1], PIER_MONITOR_ARG) == 0)
    return pier_engine_monitor_exec (argc, argv);
  if (argc > 1 && strcmp (argv[1], PIER_NETIDLE_ARG) == 0)
    return pier_engine_net_idle_exec (argc, argv);
  if (pier_opt_parse (opts, argc, argv, &i, &msg) < 0)
    {
      fprintf (stderr, "pier: %s\nSee 'pier --help'.\n", msg);
      free (msg);
      return PIER_EXIT_USAGE;
    }
  if (version)
    return cmd_version (&g, 0, NULL);
  if (help || i >= argc)
    {
      cmd_help (&g, 0, NULL);
      return help ? 0 : PIER_EXIT_USAGE;
    }
  for (size_t k = 0; k < sizeof commands / sizeof commands[0]; k++)
    if (strcmp (argv[i], commands[k].name) == 0)
      return commands[k].fn (&g, argc - i, argv + i);
  fprintf (stderr, "pier: '%s' is not a pier command.\nSee 'pier --help'.\n", argv[i]);
  return PIER_EXIT_USAGE;
}
