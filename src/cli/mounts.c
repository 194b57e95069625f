/* mounts.c - run/create's -v, --mount and --volumes-from, turned into
 * docker's HostConfig.Binds, HostConfig.Mounts, HostConfig.VolumesFrom and
 * Config.Volumes (the engine checks and resolves them). */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/pier.h"
#include "util/cleanup.h"
#include "util/json.h"
#include "util/units.h"
#include "util/xalloc.h"

#include "util/banned.h"

static int
mount_bad (const char *verb, const char *fmt, const char *a, const char *b)
{
  char msg[1024];
  snprintf (msg, sizeof msg, fmt, a, b);
  return pier_cli_usage (verb, msg);
}

/* -v "./dir:/x": docker's CLI (23+) takes a source starting with "." as a
 * path relative to the current directory. */
static char *
absolute_source (const char *spec)
{
  if (spec[0] != '.' || strchr (spec, ':') == NULL)
    return xstrdup (spec);
  char cwd[PATH_MAX];
  if (getcwd (cwd, sizeof cwd) == NULL)
    return xstrdup (spec);
  return xasprintf ("%s/%s", cwd, spec);
}

/* One CSV field list as docker's --mount reads it: commas separate
 * fields, double quotes protect commas. */
static char **
csv_fields (const char *s)
{
  char **out = NULL;
  cleanup_free char *cur = xmalloc (strlen (s) + 1);
  size_t n = 0;
  bool quoted = false;
  for (const char *p = s;; p++)
    {
      if (*p == '"')
        {
          quoted = !quoted;
          continue;
        }
      if ((*p == ',' && !quoted) || *p == '\0')
        {
          cur[n] = '\0';
          strv_push (&out, cur);
          n = 0;
          if (*p == '\0')
            break;
          continue;
        }
      cur[n++] = *p;
    }
  return out;
}

static int
parse_bool (const char *v, bool *out)
{
  if (v == NULL || strcmp (v, "1") == 0 || strcasecmp (v, "true") == 0)
    *out = true;
  else if (strcmp (v, "0") == 0 || strcasecmp (v, "false") == 0)
    *out = false;
  else
    return -1;
  return 0;
}

static json_t *
sub (json_t *o, const char *key)
{
  json_t *s = json_object_get (o, key);
  if (s == NULL)
    json_object_set_new (o, key, s = json_object ());
  return s;
}

static int
parse_mount_flag (const char *verb, const char *arg, json_t **out)
{
  cleanup_strv char **fields = csv_fields (arg);
  cleanup_json json_t *m = json_pack ("{s:s}", "Type", "volume");
  for (size_t i = 0; fields && fields[i]; i++)
    {
      char *f = fields[i];
      char *eq = strchr (f, '=');
      const char *val = NULL;
      if (eq)
        *eq = '\0', val = eq + 1;
      for (char *c = f; *c; c++)
        *c = (char) (*c >= 'A' && *c <= 'Z' ? *c - 'A' + 'a' : *c);
      bool b;
      if (strcmp (f, "readonly") == 0 || strcmp (f, "ro") == 0 || strcmp (f, "volume-nocopy") == 0
          || strcmp (f, "bind-nonrecursive") == 0)
        {
          if (parse_bool (val, &b) < 0)
            return mount_bad (verb, "invalid argument \"%s\" for \"--mount\" flag: invalid value for %s", arg,
                              f);
          if (f[0] == 'r')
            json_object_set_new (m, "ReadOnly", json_boolean (b));
          else if (strcmp (f, "volume-nocopy") == 0)
            json_object_set_new (sub (m, "VolumeOptions"), "NoCopy", json_boolean (b));
          else
            json_object_set_new (sub (m, "BindOptions"), "NonRecursive", json_boolean (b));
          continue;
        }
      if (val == NULL)
        return mount_bad (
            verb, "invalid argument \"%s\" for \"--mount\" flag: invalid field '%s' must be a key=value pair",
            arg, f);
      if (strcmp (f, "type") == 0)
        json_object_set_new (m, "Type", json_string (val));
      else if (strcmp (f, "source") == 0 || strcmp (f, "src") == 0)
        json_object_set_new (m, "Source", json_string (val));
      else if (strcmp (f, "target") == 0 || strcmp (f, "dst") == 0 || strcmp (f, "destination") == 0)
        json_object_set_new (m, "Target", json_string (val));
      else if (strcmp (f, "consistency") == 0)
        json_object_set_new (m, "Consistency", json_string (val));
      else if (strcmp (f, "bind-propagation") == 0)
        json_object_set_new (sub (m, "BindOptions"), "Propagation", json_string (val));
      else if (strcmp (f, "bind-recursive") == 0)
        {
          if (strcmp (val, "enabled") == 0)
            json_object_set_new (sub (m, "BindOptions"), "NonRecursive", json_false ());
          else if (strcmp (val, "disabled") == 0)
            json_object_set_new (sub (m, "BindOptions"), "NonRecursive", json_true ());
          else
            return mount_bad (
                verb,
                "invalid argument \"%s\" for \"--mount\" flag: bind-recursive=%s is not supported "
                "(enabled or disabled)",
                arg, val);
        }
      else if (strcmp (f, "volume-driver") == 0)
        json_object_set_new (sub (sub (m, "VolumeOptions"), "DriverConfig"), "Name", json_string (val));
      else if (strcmp (f, "volume-subpath") == 0)
        json_object_set_new (sub (m, "VolumeOptions"), "Subpath", json_string (val));
      else if (strcmp (f, "volume-label") == 0 || strcmp (f, "volume-opt") == 0)
        {
          cleanup_free char *kv = xstrdup (val);
          char *e2 = strchr (kv, '=');
          if (e2)
            *e2 = '\0';
          if (*kv == '\0' || (e2 == NULL && f[7] == 'o'))
            return mount_bad (verb, "invalid argument \"%s\" for \"--mount\" flag: invalid value for %s", arg,
                              f);
          json_t *target = f[7] == 'l' ? sub (sub (m, "VolumeOptions"), "Labels")
                                       : sub (sub (sub (m, "VolumeOptions"), "DriverConfig"), "Options");
          json_object_set_new (target, kv, json_string (e2 ? e2 + 1 : ""));
        }
      else if (strcmp (f, "tmpfs-size") == 0)
        {
          int64_t sz;
          if (pier_parse_ram (val, &sz) < 0 || sz < 0)
            return mount_bad (
                verb, "invalid argument \"%s\" for \"--mount\" flag: invalid value for tmpfs-size: %s", arg,
                val);
          json_object_set_new (sub (m, "TmpfsOptions"), "SizeBytes", json_integer (sz));
        }
      else if (strcmp (f, "tmpfs-mode") == 0)
        {
          char *end;
          unsigned long mode = strtoul (val, &end, 8);
          if (*val == '\0' || *end || mode > 07777)
            return mount_bad (
                verb, "invalid argument \"%s\" for \"--mount\" flag: invalid value for tmpfs-mode: %s", arg,
                val);
          json_object_set_new (sub (m, "TmpfsOptions"), "Mode", json_integer ((json_int_t) mode));
        }
      else
        {
          char msg[1024];
          snprintf (msg, sizeof msg,
                    "invalid argument \"%s\" for \"--mount\" flag: unexpected key '%s' in '%s=%s'", arg, f, f,
                    val);
          return pier_cli_usage (verb, msg);
        }
    }
  *out = steal_pointer (&m);
  return 0;
}

int
pier_cli_mount_flags (const char *verb, char **volumes, char **mounts, char **volumes_from, json_t *body,
                      json_t *hc)
{
  json_t *binds = json_array (), *ms = json_array (), *from = json_array ();
  json_object_set_new (hc, "Binds", binds);
  json_object_set_new (hc, "Mounts", ms);
  json_object_set_new (hc, "VolumesFrom", from);
  json_t *vols = json_object_get (body, "Volumes");
  for (size_t k = 0; volumes && volumes[k]; k++)
    {
      if (volumes[k][0] == '\0')
        return pier_cli_usage (verb,
                               "invalid argument \"\" for \"-v, --volume\" flag: empty volume specification");
      if (strchr (volumes[k], ':') == NULL)
        {
          /* An anonymous volume, as the image's VOLUME. */
          if (vols == NULL)
            json_object_set_new (body, "Volumes", vols = json_object ());
          json_object_set_new (vols, volumes[k], json_object ());
          continue;
        }
      cleanup_free char *spec = absolute_source (volumes[k]);
      json_array_append_new (binds, json_string (spec));
    }
  for (size_t k = 0; mounts && mounts[k]; k++)
    {
      json_t *m = NULL;
      int rc = parse_mount_flag (verb, mounts[k], &m);
      if (rc != 0)
        return rc;
      json_array_append_new (ms, m);
    }
  for (size_t k = 0; volumes_from && volumes_from[k]; k++)
    json_array_append_new (from, json_string (volumes_from[k]));
  return 0;
}
