/* network.c - pier network create/ls/inspect/rm/prune/connect/disconnect. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/opt.h"
#include "cli/pier.h"
#include "engine/engine.h"
#include "engine/network.h"
#include "util/cleanup.h"
#include "util/json.h"
#include "util/xalloc.h"

#include "util/banned.h"

/* "k=v" labels into an object; 0, or 125 after the usage error. */
static int
labels_of (const char *verb, char **list, json_t *out)
{
  for (size_t k = 0; list && list[k]; k++)
    {
      cleanup_free char *key = xstrdup (list[k]);
      char *eq = strchr (key, '=');
      if (eq)
        *eq = '\0';
      if (*key == '\0')
        {
          char m[300];
          snprintf (m, sizeof m, "invalid label '%s': empty name", list[k]);
          return pier_cli_usage (verb, m);
        }
      json_object_set_new (out, key, json_string (eq ? eq + 1 : ""));
    }
  return 0;
}

static int
cmd_create (struct pier_globals *g, int argc, char **argv)
{
  int i = 1, rc = 0;
  const char *driver = NULL, *subnet = NULL, *gateway = NULL;
  bool internal = false, ipv6 = false, attachable = false;
  cleanup_strv char **labels = NULL, **opts = NULL;
  pier_opt o[] = { { "d|driver", OPT_STRING, &driver, "driver (bridge)", "string" },
                   { "subnet", OPT_STRING, &subnet, "subnet in CIDR form", "string" },
                   { "gateway", OPT_STRING, &gateway, "IPv4 gateway of the subnet", "string" },
                   { "internal", OPT_BOOL, &internal, "no access from or to outside the network", NULL },
                   { "label", OPT_LIST, &labels, "set metadata on the network", "list" },
                   { "o|opt", OPT_LIST, &opts, "driver options (none supported)", "map" },
                   { "ipv6", OPT_BOOL, &ipv6, "enable IPv6 (not supported)", NULL },
                   { "attachable", OPT_BOOL, &attachable, "accepted for compatibility (always true)", NULL },
                   HELP_OPT,
                   { NULL, 0, NULL, NULL, NULL } };
  if (pier_cli_parse ("network create", "pier network create [OPTIONS] NETWORK", o, argc, argv, &i, 1, 1, &rc)
      < 0)
    return rc;
  if (ipv6)
    return pier_cli_usage ("network create", "IPv6 networks are not supported by pier");
  if (opts)
    return pier_cli_usage ("network create", "driver options (-o) are not supported by pier's bridge driver");
  cleanup_json json_t *lab = json_object ();
  if (labels_of ("network create", labels, lab) != 0)
    return PIER_EXIT_USAGE;
  pier_engine *e = pier_cli_engine (g);
  if (e == NULL)
    return PIER_EXIT_USAGE;
  pier_error *err = NULL;
  cleanup_free char *id = NULL;
  pier_network_opts no = { driver, subnet, gateway, internal, lab };
  if (pier_engine_network_create (e, argv[i], &no, &id, &err) < 0)
    rc = pier_cli_fail (err, PIER_EXIT_ERROR);
  else
    printf ("%s\n", id);
  pier_cli_engine_close (e);
  return rc;
}

/* docker's network ls filters: name (substring), id (prefix), driver,
 * label (key or key=value), type (custom, builtin). */
static bool
matches (json_t *n, char **filters)
{
  for (size_t k = 0; filters && filters[k]; k++)
    {
      const char *f = filters[k];
      const char *eq = strchr (f, '=');
      if (eq == NULL)
        return false;
      size_t kl = (size_t) (eq - f);
      const char *v = eq + 1;
      const char *name = json_string_value (json_object_get (n, "Name"));
      bool builtin = strcmp (name, "bridge") == 0 || strcmp (name, "host") == 0 || strcmp (name, "none") == 0;
      if (kl == 4 && strncmp (f, "name", 4) == 0 && strstr (name, v) == NULL)
        return false;
      if (kl == 2 && strncmp (f, "id", 2) == 0
          && strncmp (json_string_value (json_object_get (n, "Id")), v, strlen (v)) != 0)
        return false;
      if (kl == 6 && strncmp (f, "driver", 6) == 0
          && strcmp (json_string_value (json_object_get (n, "Driver")), v) != 0)
        return false;
      if (kl == 4 && strncmp (f, "type", 4) == 0
          && !((strcmp (v, "custom") == 0 && !builtin) || (strcmp (v, "builtin") == 0 && builtin)))
        return false;
      if (kl == 5 && strncmp (f, "label", 5) == 0)
        {
          cleanup_free char *key = xstrdup (v);
          char *e2 = strchr (key, '=');
          if (e2)
            *e2 = '\0';
          json_t *lv = json_object_get (json_object_get (n, "Labels"), key);
          if (lv == NULL || (e2 && strcmp (json_string_value (lv) ?: "", e2 + 1) != 0))
            return false;
        }
    }
  return true;
}

static int
check_filters (char **filters)
{
  static const char *const keys[] = { "name", "id", "driver", "label", "type", NULL };
  for (size_t k = 0; filters && filters[k]; k++)
    {
      const char *eq = strchr (filters[k], '=');
      bool ok = false;
      for (size_t j = 0; eq && keys[j]; j++)
        ok |= strlen (keys[j]) == (size_t) (eq - filters[k])
              && strncmp (filters[k], keys[j], strlen (keys[j])) == 0;
      if (!ok)
        {
          fprintf (stderr, "Error: invalid filter '%s'\n", filters[k]);
          return PIER_EXIT_USAGE;
        }
      if (strncmp (filters[k], "type=", 5) == 0 && strcmp (eq + 1, "custom") != 0
          && strcmp (eq + 1, "builtin") != 0)
        {
          fprintf (stderr, "Error: invalid filter: 'type'='%s'\n", eq + 1);
          return PIER_EXIT_USAGE;
        }
    }
  return 0;
}

static int
cmd_ls (struct pier_globals *g, int argc, char **argv)
{
  int i = 1, rc = 0;
  bool quiet = false, no_trunc = false;
  const char *format = NULL;
  cleanup_strv char **filters = NULL;
  pier_opt o[]
      = { { "q|quiet", OPT_BOOL, &quiet, "only display network IDs", NULL },
          { "no-trunc", OPT_BOOL, &no_trunc, "do not truncate the output", NULL },
          { "f|filter", OPT_LIST, &filters, "filter output (name, id, driver, label, type)", "filter" },
          { "format", OPT_STRING, &format, "format output with a Go template", "string" },
          HELP_OPT,
          { NULL, 0, NULL, NULL, NULL } };
  if (pier_cli_parse ("network ls", "pier network ls [OPTIONS]", o, argc, argv, &i, 0, 0, &rc) < 0)
    return rc;
  if ((rc = check_filters (filters)) != 0)
    return rc;
  /* docker's network columns, for the header of --format 'table ...'. */
  static const struct pier_format_column heads[] = { { "ID", "NETWORK ID" }, { "Name", "NAME" },
                                                     { "Driver", "DRIVER" }, { "Scope", "SCOPE" },
                                                     { "IPv6", "IPV6" },     { "Internal", "INTERNAL" },
                                                     { "Labels", "LABELS" }, { "CreatedAt", "CREATED AT" },
                                                     { NULL, NULL } };
  pier_error *err = NULL;
  pier_lister *fl = NULL;
  if (!quiet && !pier_format_is_default (format) && (fl = pier_lister_new (format, heads, &err)) == NULL)
    return pier_cli_fail (err, PIER_EXIT_USAGE);
  if (fl == NULL)
    format = NULL;
  pier_engine *e = pier_cli_engine (g);
  if (e == NULL)
    {
      pier_lister_free (fl);
      return PIER_EXIT_USAGE;
    }
  cleanup_json json_t *list = NULL;
  if (pier_engine_network_list (e, &list, &err) < 0)
    {
      pier_lister_free (fl);
      pier_cli_engine_close (e);
      return pier_cli_fail (err, PIER_EXIT_ERROR);
    }
  pier_cli_engine_close (e);
  size_t k;
  json_t *n;
  if (!quiet && format == NULL)
    printf ("%-15s%-20s%-10s%s\n", "NETWORK ID", "NAME", "DRIVER", "SCOPE");
  json_array_foreach (list, k, n)
  {
    if (!matches (n, filters))
      continue;
    const char *id = json_string_value (json_object_get (n, "Id"));
    cleanup_free char *short_id = no_trunc ? xstrdup (id) : xstrndup (id, 12);
    if (quiet)
      printf ("%s\n", short_id);
    else if (fl)
      {
        cleanup_free char *labels = pier_cli_labels_text (json_object_get (n, "Labels"));
        json_t *row
            = json_pack ("{s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s}", "ID", short_id, "Name",
                         json_string_value (json_object_get (n, "Name")), "Driver",
                         json_string_value (json_object_get (n, "Driver")), "Scope", "local", "IPv6", "false",
                         "Internal", json_is_true (json_object_get (n, "Internal")) ? "true" : "false",
                         "CreatedAt", json_string_value (json_object_get (n, "Created")), "Labels", labels);
        if (pier_lister_add (fl, row, &err) < 0)
          {
            pier_lister_free (fl);
            return pier_cli_fail (err, PIER_EXIT_USAGE);
          }
      }
    else
      {
        const char *name = json_string_value (json_object_get (n, "Name"));
        printf ("%-15s%-*s%-10s%s\n", short_id, strlen (name) + 3 > 20 ? (int) strlen (name) + 3 : 20, name,
                json_string_value (json_object_get (n, "Driver")), "local");
      }
  }
  if (fl)
    pier_lister_print (fl);
  pier_lister_free (fl);
  return 0;
}

static int
cmd_inspect (struct pier_globals *g, int argc, char **argv)
{
  int i = 1, rc = 0;
  const char *format = NULL;
  bool verbose = false;
  pier_opt o[] = { { "f|format", OPT_STRING, &format, "format output with a Go template", "string" },
                   { "v|verbose", OPT_BOOL, &verbose, "accepted for compatibility", NULL },
                   HELP_OPT,
                   { NULL, 0, NULL, NULL, NULL } };
  if (pier_cli_parse ("network inspect", "pier network inspect [OPTIONS] NETWORK [NETWORK...]", o, argc, argv,
                      &i, 1, -1, &rc)
      < 0)
    return rc;
  if ((rc = pier_format_check (format)) != 0)
    return rc;
  pier_engine *e = pier_cli_engine (g);
  if (e == NULL)
    return PIER_EXIT_USAGE;
  cleanup_json json_t *arr = json_array ();
  for (; i < argc; i++)
    {
      pier_error *err = NULL;
      cleanup_free char *id = NULL;
      json_t *obj = NULL;
      if (pier_engine_network_find (e, argv[i], &id, &err) < 0
          || pier_engine_network_inspect (e, id, &obj, &err) < 0)
        {
          rc = pier_cli_fail (err, PIER_EXIT_ERROR);
          continue;
        }
      int r = pier_inspect_add (format, arr, obj);
      if (r != 0)
        {
          rc = r;
          break;
        }
    }
  pier_cli_engine_close (e);
  pier_inspect_done (format, arr);
  return rc;
}

static int
cmd_rm (struct pier_globals *g, int argc, char **argv)
{
  int i = 1, rc = 0;
  bool force = false;
  pier_opt o[] = { { "f|force", OPT_BOOL, &force, "do not error when the network does not exist", NULL },
                   HELP_OPT,
                   { NULL, 0, NULL, NULL, NULL } };
  if (pier_cli_parse ("network rm", "pier network rm NETWORK [NETWORK...]", o, argc, argv, &i, 1, -1, &rc)
      < 0)
    return rc;
  pier_engine *e = pier_cli_engine (g);
  if (e == NULL)
    return PIER_EXIT_USAGE;
  for (; i < argc; i++)
    {
      pier_error *err = NULL;
      cleanup_free char *id = NULL;
      if (pier_engine_network_find (e, argv[i], &id, &err) < 0)
        {
          if (force && err->code == ENOENT)
            pier_error_free (&err);
          else
            rc = pier_cli_fail (err, PIER_EXIT_ERROR);
          continue;
        }
      if (pier_engine_network_remove (e, id, &err) < 0)
        rc = pier_cli_fail (err, PIER_EXIT_ERROR);
      else
        printf ("%s\n", argv[i]);
    }
  pier_cli_engine_close (e);
  return rc;
}

static int
cmd_prune (struct pier_globals *g, int argc, char **argv)
{
  int i = 1, rc = 0;
  bool force = false;
  cleanup_strv char **filters = NULL;
  pier_opt o[] = { { "f|force", OPT_BOOL, &force, "do not prompt for confirmation", NULL },
                   { "filter", OPT_LIST, &filters, "filters (not supported)", "filter" },
                   HELP_OPT,
                   { NULL, 0, NULL, NULL, NULL } };
  if (pier_cli_parse ("network prune", "pier network prune [OPTIONS]", o, argc, argv, &i, 0, 0, &rc) < 0)
    return rc;
  if (filters)
    return pier_cli_usage ("network prune", "--filter is not supported by pier's network prune");
  if (!force)
    {
      fprintf (stderr, "WARNING! This will remove all custom networks not used by at least one container.\n"
                       "Are you sure you want to continue? [y/N] ");
      char line[16] = "";
      if (fgets (line, sizeof line, stdin) == NULL || (line[0] != 'y' && line[0] != 'Y'))
        return 0;
    }
  pier_engine *e = pier_cli_engine (g);
  if (e == NULL)
    return PIER_EXIT_USAGE;
  pier_error *err = NULL;
  cleanup_strv char **names = NULL;
  if (pier_engine_network_prune (e, &names, &err) < 0)
    rc = pier_cli_fail (err, PIER_EXIT_ERROR);
  else if (names && names[0])
    {
      printf ("Deleted Networks:\n");
      for (size_t k = 0; names[k]; k++)
        printf ("%s\n", names[k]);
    }
  pier_cli_engine_close (e);
  return rc;
}

static int
cmd_connect (struct pier_globals *g, int argc, char **argv)
{
  int i = 1, rc = 0;
  const char *ip = NULL;
  cleanup_strv char **aliases = NULL;
  pier_opt o[] = { { "alias", OPT_LIST, &aliases, "network-scoped alias for the container", "list" },
                   { "ip", OPT_STRING, &ip, "IPv4 address", "string" },
                   HELP_OPT,
                   { NULL, 0, NULL, NULL, NULL } };
  if (pier_cli_parse ("network connect", "pier network connect [OPTIONS] NETWORK CONTAINER", o, argc, argv,
                      &i, 2, 2, &rc)
      < 0)
    return rc;
  pier_engine *e = pier_cli_engine (g);
  if (e == NULL)
    return PIER_EXIT_USAGE;
  cleanup_json json_t *a = NULL;
  if (aliases)
    {
      a = json_array ();
      for (size_t k = 0; aliases[k]; k++)
        json_array_append_new (a, json_string (aliases[k]));
    }
  pier_error *err = NULL;
  if (pier_engine_network_connect (e, argv[i], argv[i + 1], a, ip, &err) < 0)
    rc = pier_cli_fail (err, PIER_EXIT_ERROR);
  pier_cli_engine_close (e);
  return rc;
}

static int
cmd_disconnect (struct pier_globals *g, int argc, char **argv)
{
  int i = 1, rc = 0;
  bool force = false;
  pier_opt o[] = { { "f|force", OPT_BOOL, &force, "force the container to disconnect", NULL },
                   HELP_OPT,
                   { NULL, 0, NULL, NULL, NULL } };
  if (pier_cli_parse ("network disconnect", "pier network disconnect [OPTIONS] NETWORK CONTAINER", o, argc,
                      argv, &i, 2, 2, &rc)
      < 0)
    return rc;
  pier_engine *e = pier_cli_engine (g);
  if (e == NULL)
    return PIER_EXIT_USAGE;
  pier_error *err = NULL;
  if (pier_engine_network_disconnect (e, argv[i], argv[i + 1], force, &err) < 0)
    rc = pier_cli_fail (err, PIER_EXIT_ERROR);
  pier_cli_engine_close (e);
  return rc;
}

int
pier_cmd_network (struct pier_globals *g, int argc, char **argv)
{
  static const struct
  {
    const char *name;
    int (*fn) (struct pier_globals *, int, char **);
    const char *help;
  } sub[] = {
    { "create", cmd_create, "create a network" },
    { "ls", cmd_ls, "list networks" },
    { "list", cmd_ls, NULL },
    { "inspect", cmd_inspect, "display detailed information on one or more networks" },
    { "rm", cmd_rm, "remove one or more networks" },
    { "remove", cmd_rm, NULL },
    { "prune", cmd_prune, "remove all unused networks" },
    { "connect", cmd_connect, "connect a container to a network" },
    { "disconnect", cmd_disconnect, "disconnect a container from a network" },
  };
  if (argc < 2 || strcmp (argv[1], "--help") == 0)
    {
      printf ("Usage: pier network COMMAND\n\nCommands:\n");
      for (size_t k = 0; k < sizeof sub / sizeof sub[0]; k++)
        if (sub[k].help)
          printf ("  %-11s %s\n", sub[k].name, sub[k].help);
      return argc < 2 ? PIER_EXIT_USAGE : 0;
    }
  for (size_t k = 0; k < sizeof sub / sizeof sub[0]; k++)
    if (strcmp (argv[1], sub[k].name) == 0)
      return sub[k].fn (g, argc - 1, argv + 1);
  fprintf (stderr, "pier: 'network %s' is not a pier command.\nSee 'pier network --help'.\n", argv[1]);
  return PIER_EXIT_USAGE;
}
