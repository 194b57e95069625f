/* format.c - the {{.Field}} subset of Go templates that --format takes. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli/pier.h"
#include "util/cleanup.h"
#include "util/xalloc.h"
#include "util/banned.h"

static json_t *
lookup (json_t *obj, const char *path, size_t len)
{
  json_t *cur = obj;
  size_t i = 0;
  if (len == 1 && path[0] == '.')
    return obj;
  while (i < len && cur)
    {
      if (path[i] != '.')
        return NULL;
      i++;
      size_t start = i;
      while (i < len && path[i] != '.')
        i++;
      cleanup_free char *key = xstrndup (path + start, i - start);
      cur = json_object_get (cur, key);
    }
  return cur;
}

static void
append (char **out, size_t *n, const char *s, size_t len)
{
  *out = xrealloc (*out, *n + len + 1);
  memcpy (*out + *n, s, len);
  *n += len;
  (*out)[*n] = '\0';
}

char *
pier_format (const char *tmpl, json_t *obj, pier_error **err)
{
  char *out = xstrdup ("");
  size_t n = 0;
  const char *p = tmpl;
  while (*p)
    {
      const char *open = strstr (p, "{{");
      if (open == NULL)
        {
          append (&out, &n, p, strlen (p));
          break;
        }
      append (&out, &n, p, (size_t) (open - p));
      const char *close = strstr (open, "}}");
      if (close == NULL)
        {
          free (out);
          pier_error_makex (err, EINVAL, "--format `%s`: unclosed action", tmpl);
          return NULL;
        }
      const char *a = open + 2, *b = close;
      while (a < b && *a == ' ')
        a++;
      while (b > a && b[-1] == ' ')
        b--;
      bool as_json = false;
      if (b - a > 5 && strncmp (a, "json ", 5) == 0)
        {
          as_json = true;
          a += 5;
          while (a < b && *a == ' ')
            a++;
        }
      json_t *v = a < b && *a == '.' ? lookup (obj, a, (size_t) (b - a)) : NULL;
      if (a >= b || *a != '.' || (v == NULL && !as_json))
        {
          if (a < b && *a == '.')
            v = json_null ();
          else
            {
              free (out);
              pier_error_makex (err, EINVAL,
                                "--format `%s`: only {{.Field}} and {{json .Field}} are supported", tmpl);
              return NULL;
            }
        }
      if (v == NULL)
        v = json_null ();
      if (!as_json && json_is_string (v))
        append (&out, &n, json_string_value (v), strlen (json_string_value (v)));
      else if (!as_json && json_is_null (v))
        append (&out, &n, "<no value>", 10);
      else
        {
          char *s = json_dumps (v, JSON_COMPACT | JSON_ENCODE_ANY);
          append (&out, &n, s, strlen (s));
          free (s);
        }
      p = close + 2;
    }
  /* Go templates take "\n" and "\t" literally in --format; docker users
   * write them as escapes. */
  char *w = out;
  for (char *r = out; *r; r++)
    {
      if (r[0] == '\\' && (r[1] == 'n' || r[1] == 't'))
        {
          *w++ = r[1] == 'n' ? '\n' : '\t';
          r++;
        }
      else
        *w++ = *r;
    }
  *w = '\0';
  return out;
}

/* docker's units.HumanDuration. */
char *
pier_human_duration (double s)
{
  long secs = (long) s, mins = secs / 60;
  long hours = (long) (s / 3600.0 + 0.5);
  if (secs < 1)
    return xstrdup ("Less than a second");
  if (secs == 1)
    return xstrdup ("1 second");
  if (secs < 60)
    return xasprintf ("%ld seconds", secs);
  if (mins == 1)
    return xstrdup ("About a minute");
  if (mins < 60)
    return xasprintf ("%ld minutes", mins);
  if (hours == 1)
    return xstrdup ("About an hour");
  if (hours < 48)
    return xasprintf ("%ld hours", hours);
  if (hours < 24 * 7 * 2)
    return xasprintf ("%ld days", hours / 24);
  if (hours < 24 * 30 * 2)
    return xasprintf ("%ld weeks", hours / 24 / 7);
  if (hours < 24 * 365 * 2)
    return xasprintf ("%ld months", hours / 24 / 30);
  return xasprintf ("%ld years", hours / 24 / 365);
}

char *
pier_human_since (int64_t then)
{
  cleanup_free char *d = pier_human_duration (difftime (time (NULL), (time_t) then));
  return xasprintf ("%s ago", d);
}

/* docker's units.HumanSizeWithPrecision (size, 3): decimal units. */
char *
pier_human_size (double size)
{
  static const char *const units[] = { "B", "kB", "MB", "GB", "TB", "PB", "EB" };
  int u = 0;
  while (size >= 1000.0 && u < 6)
    {
      size /= 1000.0;
      u++;
    }
  return xasprintf ("%.3g%s", size, units[u]);
}

int
pier_format_print (const char *tmpl, json_t *obj)
{
  pier_error *err = NULL;
  char *line = pier_format (tmpl, obj, &err);
  json_decref (obj);
  if (line == NULL)
    return pier_cli_fail (err, PIER_EXIT_USAGE);
  printf ("%s\n", line);
  free (line);
  return 0;
}
