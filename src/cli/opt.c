#include "cli/opt.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/xalloc.h"
#include "util/banned.h"

static const pier_opt *
find (const pier_opt *opts, const char *name, size_t len)
{
  for (const pier_opt *o = opts; o && o->names; o++)
    {
      const char *n = o->names;
      while (*n)
        {
          size_t l = strcspn (n, "|");
          if (l == len && strncmp (n, name, len) == 0)
            return o;
          n += l;
          if (*n == '|')
            n++;
        }
    }
  return NULL;
}

int
pier_opt_parse (const pier_opt *opts, int argc, char **argv, int *i, char **msg)
{
  while (*i < argc)
    {
      const char *a = argv[*i];
      if (strcmp (a, "--") == 0)
        {
          (*i)++;
          return 0;
        }
      if (a[0] != '-' || a[1] == '\0')
        return 0;
      const char *name = a + (a[1] == '-' ? 2 : 1);
      const char *eq = strchr (name, '=');
      size_t len = eq ? (size_t) (eq - name) : strlen (name);
      const pier_opt *o = find (opts, name, len);
      if (o == NULL)
        {
          /* Clustered short booleans: -dt */
          if (a[1] != '-' && len > 1 && eq == NULL)
            {
              int all = 1;
              for (size_t k = 0; k < len && all; k++)
                {
                  const pier_opt *s = find (opts, name + k, 1);
                  all = s && s->kind == OPT_BOOL;
                }
              if (all)
                {
                  for (size_t k = 0; k < len; k++)
                    *(bool *) find (opts, name + k, 1)->out = true;
                  (*i)++;
                  continue;
                }
            }
          *msg = xasprintf ("unknown flag: %.*s", (int) (len + (size_t) (name - a)), a);
          return -1;
        }
      (*i)++;
      if (o->kind == OPT_BOOL)
        {
          bool v = true;
          if (eq)
            {
              if (strcmp (eq + 1, "true") == 0 || strcmp (eq + 1, "1") == 0)
                v = true;
              else if (strcmp (eq + 1, "false") == 0 || strcmp (eq + 1, "0") == 0)
                v = false;
              else
                {
                  *msg = xasprintf ("invalid boolean value `%s` for flag %s", eq + 1, a);
                  return -1;
                }
            }
          *(bool *) o->out = v;
          continue;
        }
      const char *val;
      if (eq)
        val = eq + 1;
      else if (*i < argc)
        val = argv[(*i)++];
      else
        {
          *msg = xasprintf ("flag needs an argument: %s", a);
          return -1;
        }
      if (o->kind == OPT_STRING)
        *(const char **) o->out = val;
      else if (o->kind == OPT_LIST)
        strv_push ((char ***) o->out, val);
      else
        {
          char *end;
          errno = 0;
          long v = strtol (val, &end, 10);
          if (errno || *end || end == val)
            {
              *msg = xasprintf ("invalid number `%s` for flag %s", val, a);
              return -1;
            }
          *(long *) o->out = v;
        }
    }
  return 0;
}

void
pier_opt_usage (const char *usage, const pier_opt *opts)
{
  printf ("Usage: %s\n", usage);
  if (opts && opts->names)
    printf ("\nOptions:\n");
  for (const pier_opt *o = opts; o && o->names; o++)
    {
      char flags[128];
      size_t n = 0;
      const char *p = o->names;
      while (*p && n < sizeof flags - 8)
        {
          size_t l = strcspn (p, "|");
          n += (size_t) snprintf (flags + n, sizeof flags - n, "%s%s%.*s", n ? ", " : "", l == 1 ? "-" : "--",
                                  (int) l, p);
          p += l;
          if (*p == '|')
            p++;
        }
      if (o->kind != OPT_BOOL && n < sizeof flags - 1)
        snprintf (flags + n, sizeof flags - n, " %s", o->arg ? o->arg : "value");
      printf ("  %-34s %s\n", flags, o->help ? o->help : "");
    }
}
