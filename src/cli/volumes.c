/* volumes.c - pier volume create | ls | inspect | rm | prune. */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/opt.h"
#include "cli/pier.h"
#include "engine/engine.h"
#include "engine/volumes.h"
#include "util/cleanup.h"
#include "util/json.h"
#include "util/xalloc.h"

#include "util/banned.h"

static int
open_engine (struct pier_globals *g, pier_store **st, pier_engine **e)
{
  *st = pier_cli_store (g);
  if (*st == NULL)
    return -1;
  *e = pier_engine_new (*st, g->runroot);
  return 0;
}

static void
close_engine (pier_store *st, pier_engine *e)
{
  pier_engine_free (e);
  pier_store_close (st);
}

/* "k=v" (or "k" when bare is allowed) into obj; -1 when malformed. */
static int
kv_into (json_t *obj, const char *s, bool bare)
{
  cleanup_free char *k = xstrdup (s);
  char *eq = strchr (k, '=');
  if (eq)
    *eq = '\0';
  if (*k == '\0' || (eq == NULL && !bare))
    return -1;
  json_object_set_new (obj, k, json_string (eq ? eq + 1 : ""));
  return 0;
}

static int
cmd_create (struct pier_globals *g, int argc, char **argv)
{
  const char *driver = NULL, *name = NULL;
  cleanup_strv char **labels = NULL, **opts = NULL;
  int i = 1, rc = 0;
  pier_opt o[] = {
    { "d|driver", OPT_STRING, &driver, "volume driver name (local)", "string" },
    { "label", OPT_LIST, &labels, "set metadata for a volume", "list" },
    { "name", OPT_STRING, &name, "volume name", "string" },
    { "o|opt", OPT_LIST, &opts, "set driver specific options (type, device, o)", "map" },
    HELP_OPT,
    { NULL, 0, NULL, NULL, NULL },
  };
  if (pier_cli_parse ("volume create", "pier volume create [OPTIONS] [VOLUME]", o, argc, argv, &i, 0, 1, &rc)
      < 0)
    return rc;
  if (i < argc)
    {
      if (name && strcmp (name, argv[i]) != 0)
        return pier_cli_usage (
            "volume create",
            "conflicting options: either specify --name or provide positional arg, not both");
      name = argv[i];
    }
  cleanup_json json_t *l = json_object ();
  cleanup_json json_t *op = json_object ();
  for (size_t k = 0; labels && labels[k]; k++)
    if (kv_into (l, labels[k], true) < 0)
      {
        char m[512];
        snprintf (m, sizeof m, "invalid argument \"%s\" for \"--label\" flag: invalid label: empty name",
                  labels[k]);
        return pier_cli_usage ("volume create", m);
      }
  for (size_t k = 0; opts && opts[k]; k++)
    if (kv_into (op, opts[k], false) < 0)
      {
        char m[512];
        snprintf (
            m, sizeof m,
            "invalid argument \"%s\" for \"-o, --opt\" flag: invalid key value pair format in driver options",
            opts[k]);
        return pier_cli_usage ("volume create", m);
      }
  pier_store *st;
  pier_engine *e;
  if (open_engine (g, &st, &e) < 0)
    return PIER_EXIT_ERROR;
  pier_error *err = NULL;
  cleanup_json json_t *v = NULL;
  if (pier_engine_volume_create (e, name, driver, l, op, &v, &err) < 0)
    rc = pier_cli_fail (err, PIER_EXIT_ERROR);
  else
    printf ("%s\n", json_string_value (json_object_get (v, "Name")));
  close_engine (st, e);
  return rc;
}

/* ls rows: docker's volume formatter fields. */
static json_t *
ls_row (json_t *v)
{
  cleanup_free char *labels = pier_cli_labels_text (json_object_get (v, "Labels"));
  json_int_t refs = json_integer_value (json_object_get (json_object_get (v, "UsageData"), "RefCount"));
  cleanup_free char *links = xasprintf ("%lld", (long long) refs);
  return json_pack ("{s:O, s:O, s:O, s:O, s:s, s:s, s:s, s:O}", "Name", json_object_get (v, "Name"), "Driver",
                    json_object_get (v, "Driver"), "Scope", json_object_get (v, "Scope"), "Mountpoint",
                    json_object_get (v, "Mountpoint"), "Labels", labels, "Links", links, "Size", "N/A",
                    "CreatedAt", json_object_get (v, "CreatedAt"));
}

static int
cmd_ls (struct pier_globals *g, int argc, char **argv)
{
  bool quiet = false;
  const char *format = NULL;
  cleanup_strv char **filters = NULL;
  int i = 1, rc = 0;
  pier_opt o[] = {
    { "q|quiet", OPT_BOOL, &quiet, "only display volume names", NULL },
    { "f|filter", OPT_LIST, &filters, "provide filter values (dangling, driver, label, name)", "filter" },
    { "format", OPT_STRING, &format, "format output using a template", "string" },
    HELP_OPT,
    { NULL, 0, NULL, NULL, NULL },
  };
  if (pier_cli_parse ("volume ls", "pier volume ls [OPTIONS]", o, argc, argv, &i, 0, 0, &rc) < 0)
    return rc;
  pier_store *st;
  pier_engine *e;
  if (open_engine (g, &st, &e) < 0)
    return PIER_EXIT_ERROR;
  pier_error *err = NULL;
  cleanup_json json_t *list = NULL;
  if (pier_engine_volume_select (e, filters, false, false, &list, &err) < 0)
    {
      close_engine (st, e);
      return pier_cli_fail (err, PIER_EXIT_ERROR);
    }
  close_engine (st, e);
  static const struct pier_format_column heads[] = { { "Name", "VOLUME NAME" },
                                                     { "Driver", "DRIVER" },
                                                     { "Scope", "SCOPE" },
                                                     { "Mountpoint", "MOUNTPOINT" },
                                                     { "Labels", "LABELS" },
                                                     { "Links", "LINKS" },
                                                     { "Size", "SIZE" },
                                                     { "CreatedAt", "CREATED AT" },
                                                     { NULL, NULL } };
  if (quiet)
    format = "{{.Name}}";
  else if (pier_format_is_default (format))
    format = "table {{.Driver}}\t{{.Name}}";
  pier_lister *fl = pier_lister_new (format, heads, &err);
  if (fl == NULL)
    return pier_cli_fail (err, PIER_EXIT_USAGE);
  size_t k;
  json_t *v;
  json_array_foreach (list, k, v)
  {
    if (pier_lister_add (fl, ls_row (v), &err) < 0)
      {
        pier_lister_free (fl);
        return pier_cli_fail (err, PIER_EXIT_USAGE);
      }
  }
  pier_lister_print (fl);
  pier_lister_free (fl);
  return 0;
}

static int
cmd_inspect (struct pier_globals *g, int argc, char **argv)
{
  const char *format = NULL;
  int i = 1, rc = 0;
  pier_opt o[] = {
    { "f|format", OPT_STRING, &format, "format output using a template", "string" },
    HELP_OPT,
    { NULL, 0, NULL, NULL, NULL },
  };
  if (pier_cli_parse ("volume inspect", "pier volume inspect [OPTIONS] VOLUME [VOLUME...]", o, argc, argv, &i,
                      1, -1, &rc)
      < 0)
    return rc;
  if ((rc = pier_format_check (format)) != 0)
    return rc;
  pier_store *st;
  pier_engine *e;
  if (open_engine (g, &st, &e) < 0)
    return PIER_EXIT_ERROR;
  cleanup_json json_t *arr = json_array ();
  for (; i < argc; i++)
    {
      pier_error *err = NULL;
      json_t *v = NULL;
      if (pier_engine_volume_inspect (e, argv[i], &v, &err) < 0)
        {
          if (err->code == ENOENT)
            {
              fprintf (stderr, "Error: No such volume: %s\n", argv[i]);
              pier_error_free (&err);
              rc = PIER_EXIT_ERROR;
            }
          else
            rc = pier_cli_fail (err, PIER_EXIT_ERROR);
          continue;
        }
      int r = pier_inspect_add (format, arr, v);
      if (r != 0)
        {
          rc = r;
          break;
        }
    }
  close_engine (st, e);
  pier_inspect_done (format, arr);
  return rc;
}

static int
cmd_rm (struct pier_globals *g, int argc, char **argv)
{
  bool force = false;
  int i = 1, rc = 0;
  pier_opt o[] = {
    { "f|force", OPT_BOOL, &force, "do not report a volume that does not exist", NULL },
    HELP_OPT,
    { NULL, 0, NULL, NULL, NULL },
  };
  if (pier_cli_parse ("volume rm", "pier volume rm [OPTIONS] VOLUME [VOLUME...]", o, argc, argv, &i, 1, -1,
                      &rc)
      < 0)
    return rc;
  pier_store *st;
  pier_engine *e;
  if (open_engine (g, &st, &e) < 0)
    return PIER_EXIT_ERROR;
  for (; i < argc; i++)
    {
      pier_error *err = NULL;
      if (pier_engine_volume_remove (e, argv[i], force, &err) < 0)
        rc = pier_cli_fail (err, PIER_EXIT_ERROR);
      else
        printf ("%s\n", argv[i]);
    }
  close_engine (st, e);
  return rc;
}

static int
confirm (const char *what)
{
  fprintf (stderr, "WARNING! This will remove %s.\nAre you sure you want to continue? [y/N] ", what);
  char answer[16] = "";
  return fgets (answer, sizeof answer, stdin) != NULL && (answer[0] == 'y' || answer[0] == 'Y');
}

/* Remove the unused volumes filters select; prints docker's report. */
static int
prune_volumes (pier_engine *e, char **filters, bool all, int64_t *reclaimed)
{
  pier_error *err = NULL;
  cleanup_json json_t *list = NULL;
  if (pier_engine_volume_select (e, filters, true, all, &list, &err) < 0)
    return pier_cli_fail (err, PIER_EXIT_ERROR);
  int rc = 0;
  bool header = false;
  size_t k;
  json_t *v;
  json_array_foreach (list, k, v)
  {
    const char *name = json_string_value (json_object_get (v, "Name"));
    int64_t size = pier_engine_volume_size (e, name);
    if (pier_engine_volume_remove (e, name, false, &err) < 0)
      {
        /* Taken by a container meanwhile: not pruned, not an error. */
        if (err->code == EBUSY)
          pier_error_free (&err);
        else
          rc = pier_cli_fail (err, PIER_EXIT_ERROR);
        continue;
      }
    if (!header)
      printf ("Deleted Volumes:\n");
    header = true;
    printf ("%s\n", name);
    *reclaimed += size;
  }
  if (header)
    printf ("\n");
  return rc;
}

static int
cmd_prune (struct pier_globals *g, int argc, char **argv)
{
  bool all = false, force = false;
  cleanup_strv char **filters = NULL;
  int i = 1, rc = 0;
  pier_opt o[] = {
    { "a|all", OPT_BOOL, &all, "remove all unused volumes, not just anonymous ones", NULL },
    { "filter", OPT_LIST, &filters, "provide filter values (label=<key>[=<value>], label!=..., all=true)",
      "filter" },
    { "f|force", OPT_BOOL, &force, "do not prompt for confirmation", NULL },
    HELP_OPT,
    { NULL, 0, NULL, NULL, NULL },
  };
  if (pier_cli_parse ("volume prune", "pier volume prune [OPTIONS]", o, argc, argv, &i, 0, 0, &rc) < 0)
    return rc;
  pier_store *st;
  pier_engine *e;
  if (open_engine (g, &st, &e) < 0)
    return PIER_EXIT_ERROR;
  /* A bad filter is refused before the question. */
  pier_error *err = NULL;
  cleanup_json json_t *probe = NULL;
  if (pier_engine_volume_select (e, filters, true, all, &probe, &err) < 0)
    {
      close_engine (st, e);
      return pier_cli_fail (err, PIER_EXIT_ERROR);
    }
  if (!force
      && !confirm (all ? "all local volumes not used by at least one container"
                       : "anonymous local volumes not used by at least one container"))
    {
      close_engine (st, e);
      return 0;
    }
  int64_t reclaimed = 0;
  rc = prune_volumes (e, filters, all, &reclaimed);
  close_engine (st, e);
  cleanup_free char *total = pier_human_size ((double) reclaimed);
  printf ("Total reclaimed space: %s\n", total);
  return rc;
}

/* system prune --volumes: the anonymous unused volumes (no question: the
 * caller asked it). */
int
pier_cli_prune_volumes (struct pier_globals *g, char **filters, int64_t *reclaimed)
{
  pier_store *st;
  pier_engine *e;
  if (open_engine (g, &st, &e) < 0)
    return PIER_EXIT_ERROR;
  int rc = prune_volumes (e, filters, false, reclaimed);
  close_engine (st, e);
  return rc;
}

int
pier_cmd_volume (struct pier_globals *g, int argc, char **argv)
{
  static const struct
  {
    const char *name;
    int (*fn) (struct pier_globals *, int, char **);
  } sub[] = {
    { "create", cmd_create }, { "ls", cmd_ls },     { "list", cmd_ls },     { "inspect", cmd_inspect },
    { "rm", cmd_rm },         { "remove", cmd_rm }, { "prune", cmd_prune },
  };
  if (argc < 2 || strcmp (argv[1], "--help") == 0)
    {
      printf ("Usage: pier volume COMMAND\n\nManage volumes\n\nCommands:\n"
              "  create    Create a volume\n  inspect   Display detailed information on one or more volumes\n"
              "  ls        List volumes\n  prune     Remove unused local volumes\n"
              "  rm        Remove one or more volumes\n");
      return argc < 2 ? PIER_EXIT_USAGE : 0;
    }
  for (size_t k = 0; k < sizeof sub / sizeof *sub; k++)
    if (strcmp (argv[1], sub[k].name) == 0)
      return sub[k].fn (g, argc - 1, argv + 1);
  fprintf (stderr, "pier: 'volume %s' is not a pier command.\nSee 'pier volume --help'.\n", argv[1]);
  return PIER_EXIT_USAGE;
}
