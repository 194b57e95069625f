#include "util/units.h"

#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "util/banned.h"

int
pier_parse_ram (const char *s, int64_t *out)
{
  char *end;
  errno = 0;
  double v = strtod (s, &end);
  if (end == s || errno)
    return -1;
  int64_t mul = 1;
  if (*end)
    {
      static const char units[] = "bkmgtp";
      const char *u = strchr (units, tolower ((unsigned char) *end));
      if (u == NULL)
        return -1;
      for (const char *k = units; k < u; k++)
        mul *= 1024;
      end++;
      if (*end == 'b' || *end == 'B')
        end++;
      if (*end)
        return -1;
    }
  *out = (int64_t) (v * (double) mul);
  return 0;
}
