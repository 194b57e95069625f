/* ps.c - pier ps / container ls: docker's columns, filters and --format. */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "cli/opt.h"
#include "cli/pier.h"
#include "engine/engine.h"
#include "engine/network.h"
#include "engine/logfile.h"
#include "image/images.h"
#include "util/cleanup.h"
#include "util/json.h"
#include "util/timestamp.h"
#include "util/xalloc.h"

#include "util/banned.h"

/* Seconds since an RFC 3339 time of a record (0 when it is not one). */
static double
seconds_since (const char *rfc3339)
{
  struct timespec t, now;
  if (pier_time_parse_rfc3339 (rfc3339, &t) < 0)
    return 0;
  clock_gettime (CLOCK_REALTIME, &now);
  return (double) (pier_time_ns (&now) - pier_time_ns (&t)) / 1e9;
}

/* docker's State.String(). */
static char *
status_text (json_t *state)
{
  const char *st = json_string_value (json_object_get (state, "Status"));
  json_int_t code = json_integer_value (json_object_get (state, "ExitCode"));
  if (strcmp (st, "running") == 0 || strcmp (st, "paused") == 0)
    {
      cleanup_free char *d
          = pier_human_duration (seconds_since (json_string_value (json_object_get (state, "StartedAt"))));
      const char *health = json_string_value (json_object_get (json_object_get (state, "Health"), "Status"));
      if (strcmp (st, "paused") == 0)
        return xasprintf ("Up %s (Paused)", d);
      if (health)
        return xasprintf ("Up %s (%s%s)", d, strcmp (health, "starting") == 0 ? "health: " : "", health);
      return xasprintf ("Up %s", d);
    }
  if (strcmp (st, "restarting") == 0)
    {
      cleanup_free char *d
          = pier_human_duration (seconds_since (json_string_value (json_object_get (state, "FinishedAt"))));
      return xasprintf ("Restarting (%lld) %s ago", (long long) code, d);
    }
  if (strcmp (st, "exited") == 0)
    {
      const char *fin = json_string_value (json_object_get (state, "FinishedAt"));
      if (strncmp (fin, "0001", 4) == 0)
        return xasprintf ("Exited (%lld)", (long long) code);
      cleanup_free char *d = pier_human_duration (seconds_since (fin));
      return xasprintf ("Exited (%lld) %s ago", (long long) code, d);
    }
  if (strcmp (st, "created") == 0)
    return xstrdup ("Created");
  if (strcmp (st, "dead") == 0)
    return xstrdup ("Dead");
  return xstrdup (st);
}

static char *
command_text (json_t *c, bool no_trunc)
{
  cleanup_free char *cmd = xstrdup (json_string_value (json_object_get (c, "Path")) ?: "");
  size_t i;
  json_t *a;
  json_array_foreach (json_object_get (c, "Args"), i, a)
  {
    char *n = xasprintf ("%s %s", cmd, json_string_value (a));
    free (cmd);
    cmd = n;
  }
  cleanup_free char *t = no_trunc ? xstrdup (cmd) : pier_ellipsis (cmd, 20);
  return xasprintf ("\"%s\"", t);
}

char *
pier_cli_labels_text (json_t *labels)
{
  char *out = xstrdup ("");
  const char *k;
  json_t *v;
  json_object_foreach (labels, k, v)
  {
    char *n = xasprintf ("%s%s%s=%s", out, *out ? "," : "", k, json_string_value (v));
    free (out);
    out = n;
  }
  return out;
}

/* The writable layer's size in bytes (du of upper/). */
int64_t
pier_cli_dir_size (const char *path)
{
  int64_t total = 0;
  struct stat st;
  if (lstat (path, &st) < 0)
    return 0;
  if (!S_ISDIR (st.st_mode))
    return st.st_size;
  DIR *d = opendir (path);
  if (d == NULL)
    return 0;
  struct dirent *de;
  while ((de = readdir (d)))
    {
      if (strcmp (de->d_name, ".") == 0 || strcmp (de->d_name, "..") == 0)
        continue;
      cleanup_free char *p = xasprintf ("%s/%s", path, de->d_name);
      total += pier_cli_dir_size (p);
    }
  closedir (d);
  return total;
}

void
pier_table_row (struct pier_table *t, const char *const *cells)
{
  char **r = NULL;
  for (size_t i = 0; cells[i]; i++)
    strv_push (&r, cells[i]);
  t->rows = xrealloc (t->rows, (t->n + 1) * sizeof *t->rows);
  t->rows[t->n++] = r;
}

static size_t
text_width (const char *s)
{
  size_t w = 0;
  for (; *s; s++)
    if (((unsigned char) *s & 0xC0) != 0x80)
      w++;
  return w;
}

void
pier_table_print (struct pier_table *t)
{
  size_t widths[16] = { 0 };
  for (size_t i = 0; i < t->n; i++)
    for (size_t c = 0; t->rows[i][c] && c < 16; c++)
      if (text_width (t->rows[i][c]) + 3 > widths[c])
        widths[c] = text_width (t->rows[i][c]) + 3;
  for (size_t i = 0; i < t->n; i++)
    {
      for (size_t c = 0; t->rows[i][c] && c < 16; c++)
        {
          bool last = t->rows[i][c + 1] == NULL;
          fputs (t->rows[i][c], stdout);
          if (!last)
            for (size_t w = text_width (t->rows[i][c]); w < (widths[c] < 20 ? 20 : widths[c]); w++)
              putchar (' ');
        }
      putchar ('\n');
      strv_free (t->rows[i]);
    }
  free (t->rows);
}

struct filter
{
  char **status, **name, **label, **ancestor, **exited, **id, **health;
  const char *before, *since;
};

static bool
any_match (char **list, bool (*pred) (const char *want, void *ctx), void *ctx)
{
  if (list == NULL)
    return true;
  for (size_t i = 0; list[i]; i++)
    if (pred (list[i], ctx))
      return true;
  return false;
}

static bool
m_status (const char *w, void *c)
{
  return strcmp (w, json_string_value (json_object_get (json_object_get (c, "State"), "Status"))) == 0;
}

/* docker's health filter: the Health status, "none" without a check. */
static bool
m_health (const char *w, void *c)
{
  const char *h = json_string_value (
      json_object_get (json_object_get (json_object_get (c, "State"), "Health"), "Status"));
  return strcmp (w, h ? h : "none") == 0;
}

static bool
m_name (const char *w, void *c)
{
  /* docker: a substring (regexp) of the name. */
  return strstr (json_string_value (json_object_get (c, "Name")) + 1, w) != NULL;
}

static bool
m_id (const char *w, void *c)
{
  return strncmp (json_string_value (json_object_get (c, "Id")), w, strlen (w)) == 0;
}

static bool
m_exited (const char *w, void *c)
{
  json_t *st = json_object_get (c, "State");
  return strcmp (json_string_value (json_object_get (st, "Status")), "exited") == 0
         && json_integer_value (json_object_get (st, "ExitCode")) == strtol (w, NULL, 10);
}

static bool
m_label (const char *w, void *c)
{
  json_t *labels = json_object_get (json_object_get (c, "Config"), "Labels");
  cleanup_free char *k = xstrdup (w);
  char *eq = strchr (k, '=');
  if (eq)
    *eq++ = '\0';
  json_t *v = json_object_get (labels, k);
  return v && (eq == NULL || strcmp (json_string_value (v), eq) == 0);
}

struct anc
{
  json_t *c;
  pier_store *st;
};

static bool
m_ancestor (const char *w, void *ctx)
{
  struct anc *a = ctx;
  const char *image = json_string_value (json_object_get (json_object_get (a->c, "Config"), "Image"));
  if (strcmp (image, w) == 0)
    return true;
  cleanup_free char *id = NULL;
  pier_error *err = NULL;
  if (pier_image_resolve (a->st, w, &id, &err) < 0)
    {
      pier_error_free (&err);
      return false;
    }
  return strcmp (id, json_string_value (json_object_get (a->c, "Image"))) == 0;
}

static int
add_filter (struct filter *f, const char *spec)
{
  cleanup_free char *k = xstrdup (spec);
  char *eq = strchr (k, '=');
  if (eq == NULL)
    return -1;
  *eq++ = '\0';
  if (strcmp (k, "status") == 0)
    {
      static const char *const ok[]
          = { "created", "restarting", "running", "removing", "paused", "exited", "dead", NULL };
      bool valid = false;
      for (size_t i = 0; ok[i]; i++)
        valid |= strcmp (ok[i], eq) == 0;
      if (!valid)
        return -2;
      strv_push (&f->status, eq);
    }
  else if (strcmp (k, "health") == 0)
    {
      if (strcmp (eq, "starting") != 0 && strcmp (eq, "healthy") != 0 && strcmp (eq, "unhealthy") != 0
          && strcmp (eq, "none") != 0)
        return -3;
      strv_push (&f->health, eq);
    }
  else if (strcmp (k, "name") == 0)
    strv_push (&f->name, eq);
  else if (strcmp (k, "label") == 0)
    strv_push (&f->label, eq);
  else if (strcmp (k, "ancestor") == 0)
    strv_push (&f->ancestor, eq);
  else if (strcmp (k, "exited") == 0)
    strv_push (&f->exited, eq);
  else if (strcmp (k, "id") == 0)
    strv_push (&f->id, eq);
  else if (strcmp (k, "before") == 0)
    f->before = spec + (eq - k);
  else if (strcmp (k, "since") == 0)
    f->since = spec + (eq - k);
  else
    return -1;
  return 0;
}

static void
free_filter (struct filter *f)
{
  strv_free (f->status);
  strv_free (f->name);
  strv_free (f->label);
  strv_free (f->ancestor);
  strv_free (f->exited);
  strv_free (f->id);
  strv_free (f->health);
}

int
pier_cmd_ps (struct pier_globals *g, int argc, char **argv)
{
  bool all = false, quiet = false, latest = false, size = false, no_trunc = false;
  long last = -1;
  const char *format = NULL;
  cleanup_strv char **filters = NULL;
  int i = 1, rc = 0;
  pier_opt opts[] = {
    { "a|all", OPT_BOOL, &all, "show all containers (default shows just running)", NULL },
    { "q|quiet", OPT_BOOL, &quiet, "only display container IDs", NULL },
    { "l|latest", OPT_BOOL, &latest, "show the latest created container", NULL },
    { "n|last", OPT_INT, &last, "show n last created containers", "int" },
    { "s|size", OPT_BOOL, &size, "display total file sizes", NULL },
    { "no-trunc", OPT_BOOL, &no_trunc, "don't truncate output", NULL },
    { "f|filter", OPT_LIST, &filters, "filter output based on conditions provided", "filter" },
    { "format", OPT_STRING, &format, "format output using a Go template", "string" },
    HELP_OPT,
    { NULL, 0, NULL, NULL, NULL },
  };
  if (pier_cli_parse ("ps", "pier ps [OPTIONS]", opts, argc, argv, &i, 0, 0, &rc) < 0)
    return rc;
  struct filter f = { 0 };
  for (size_t k = 0; filters && filters[k]; k++)
    {
      int r = add_filter (&f, filters[k]);
      if (r < 0)
        {
          char m[256];
          snprintf (m, sizeof m,
                    r == -2   ? "invalid filter 'status=%s'"
                    : r == -3 ? "Unrecognised filter value for health: %s"
                              : "invalid filter '%s'",
                    r <= -2 ? strchr (filters[k], '=') + 1 : filters[k]);
          return pier_cli_usage ("ps", m);
        }
    }
  if (latest)
    last = 1;
  if (last > 0 || f.status || f.exited)
    all = true;
  /* docker's container columns, for the header of --format 'table ...'. */
  static const struct pier_format_column heads[]
      = { { "ID", "CONTAINER ID" },    { "Image", "IMAGE" },
          { "Command", "COMMAND" },    { "CreatedAt", "CREATED AT" },
          { "RunningFor", "CREATED" }, { "Ports", "PORTS" },
          { "State", "STATE" },        { "Status", "STATUS" },
          { "Size", "SIZE" },          { "Names", "NAMES" },
          { "Labels", "LABELS" },      { "Mounts", "MOUNTS" },
          { "Networks", "NETWORKS" },  { "LocalVolumes", "LOCAL VOLUMES" },
          { "Platform", "PLATFORM" },  { NULL, NULL } };
  pier_error *err = NULL;
  pier_lister *fl = NULL;
  if (!quiet && !pier_format_is_default (format) && (fl = pier_lister_new (format, heads, &err)) == NULL)
    {
      free_filter (&f);
      return pier_cli_fail (err, PIER_EXIT_USAGE);
    }
  pier_store *st = pier_cli_store (g);
  if (st == NULL)
    {
      free_filter (&f);
      pier_lister_free (fl);
      return PIER_EXIT_ERROR;
    }
  pier_engine *e = pier_engine_new (st, g->runroot);
  cleanup_json json_t *list = NULL;
  if (pier_engine_list (e, &list, &err) < 0)
    {
      pier_engine_free (e);
      pier_store_close (st);
      pier_lister_free (fl);
      free_filter (&f);
      return pier_cli_fail (err, PIER_EXIT_ERROR);
    }
  /* before/since: relative to another container's creation. */
  const char *before_c = NULL, *since_c = NULL;
  const char *marks[2] = { f.before, f.since };
  for (int k = 0; k < 2; k++)
    if (marks[k])
      {
        cleanup_free char *mid = NULL;
        if (pier_engine_find (e, marks[k], &mid, &err) < 0)
          {
            pier_engine_free (e);
            pier_store_close (st);
            pier_lister_free (fl);
            free_filter (&f);
            return pier_cli_fail (err, PIER_EXIT_ERROR);
          }
        size_t j;
        json_t *c;
        json_array_foreach (list, j, c) if (strcmp (json_string_value (json_object_get (c, "Id")), mid) == 0)
            * (k ? &since_c : &before_c)
            = json_string_value (json_object_get (c, "Created"));
      }
  struct pier_table t = { 0 };
  if (fl == NULL && !quiet)
    pier_table_row (&t, (const char *[]){ "CONTAINER ID", "IMAGE", "COMMAND", "CREATED", "STATUS", "PORTS",
                                          "NAMES", size ? "SIZE" : NULL, NULL });
  long shown = 0;
  size_t k;
  json_t *c;
  json_array_foreach (list, k, c)
  {
    json_t *state = json_object_get (c, "State");
    const char *status = json_string_value (json_object_get (state, "Status"));
    if (!all && strcmp (status, "running") != 0 && strcmp (status, "paused") != 0
        && strcmp (status, "restarting") != 0)
      continue;
    struct anc a = { c, st };
    if (!any_match (f.status, m_status, c) || !any_match (f.name, m_name, c) || !any_match (f.id, m_id, c)
        || !any_match (f.exited, m_exited, c) || !any_match (f.ancestor, m_ancestor, &a)
        || !any_match (f.health, m_health, c))
      continue;
    bool labels_ok = true;
    for (size_t j = 0; f.label && f.label[j]; j++)
      labels_ok &= m_label (f.label[j], c); /* label filters must all match */
    if (!labels_ok)
      continue;
    const char *created = json_string_value (json_object_get (c, "Created"));
    if (before_c && strcmp (created, before_c) >= 0)
      continue;
    if (since_c && strcmp (created, since_c) <= 0)
      continue;
    if (last >= 0 && shown >= last)
      break;
    shown++;
    const char *id = json_string_value (json_object_get (c, "Id"));
    cleanup_free char *short_id = no_trunc ? xstrdup (id) : xstrndup (id, 12);
    if (quiet)
      {
        printf ("%s\n", short_id);
        continue;
      }
    json_t *cfg = json_object_get (c, "Config");
    const char *image = json_string_value (json_object_get (cfg, "Image"));
    /* A tag that moved on: docker shows the image id instead. */
    cleanup_free char *now_id = NULL;
    cleanup_free char *image_col = NULL;
    if (pier_image_resolve (st, image, &now_id, &err) < 0)
      pier_error_free (&err);
    const char *img_id = json_string_value (json_object_get (c, "Image"));
    if (now_id && strcmp (now_id, img_id) == 0)
      image_col = xstrdup (image);
    else
      image_col = no_trunc ? xstrdup (img_id) : xstrndup (img_id + 7, 12);
    cleanup_free char *cmd = command_text (c, no_trunc);
    struct timespec ct = { 0, 0 };
    pier_time_parse_rfc3339 (created, &ct);
    cleanup_free char *since = pier_human_since (ct.tv_sec);
    cleanup_free char *stat = status_text (state);
    const char *name = json_string_value (json_object_get (c, "Name")) + 1;
    cleanup_free char *sz = NULL;
    cleanup_free char *ports = pier_engine_ports_string (c);
    if (size)
      {
        cleanup_free char *upper = xasprintf ("%s/containers/%s/upper", g->root, id);
        cleanup_free char *h = pier_human_size ((double) pier_cli_dir_size (upper));
        sz = xasprintf ("%s (virtual %s)", h, h);
      }
    if (fl)
      {
        cleanup_free char *labels = pier_cli_labels_text (json_object_get (cfg, "Labels"));
        char created_at[64];
        struct tm tm;
        localtime_r (&ct.tv_sec, &tm);
        strftime (created_at, sizeof created_at, "%Y-%m-%d %H:%M:%S %z %Z", &tm);
        json_t *row = json_pack (
            "{s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s}", "ID", short_id, "Image",
            image_col, "Command", cmd, "CreatedAt", created_at, "RunningFor", since, "Ports", ports, "State",
            status, "Status", stat, "Size", sz ? sz : "", "Names", name, "Labels", labels, "Mounts", "",
            "Networks",
            json_string_value (json_object_get (json_object_get (c, "HostConfig"), "NetworkMode")));
        if (pier_lister_add (fl, row, &err) < 0)
          {
            rc = pier_cli_fail (err, PIER_EXIT_USAGE);
            break;
          }
        continue;
      }
    pier_table_row (&t, (const char *[]){ short_id, image_col, cmd, since, stat, ports, name, sz, NULL });
  }
  if (fl && rc == 0)
    pier_lister_print (fl);
  pier_lister_free (fl);
  pier_table_print (&t);
  free_filter (&f);
  pier_engine_free (e);
  pier_store_close (st);
  return rc;
}
