/* Fuzz target: the Dockerfile variable expander (build/expand.c).  The
 * first byte picks the escape character and the lookup function; the
 * rest is the word. */
#include <string.h>

#include "fuzz.h"

#include "build/expand.h"

static const char *
lookup (const char *name, void *data)
{
  (void) data;
  if (strcmp (name, "L") == 0)
    return "from lookup";
  if (strcmp (name, "GLOB") == 0)
    return "a*b?c[d]";
  return NULL;
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  if (size < 1)
    return 0;
  char *word = malloc (size);
  memcpy (word, data + 1, size - 1);
  word[size - 1] = '\0';
  static char *const env[] = { "A=x y", "B=", "C=*", "EMPTY=", "A=last wins", "PATH=/usr/bin:/bin", NULL };
  pier_build_vars vars = {
    .lookup = data[0] & 1 ? lookup : NULL,
    .env = env,
    .escape = data[0] & 2 ? '`' : '\\',
  };
  pier_error *err = NULL;
  char *out = NULL;
  if (pier_build_expand (word, &vars, &out, &err) == 0)
    {
      FUZZ_ASSERT (out != NULL);
      free (out);
    }
  else
    {
      FUZZ_ASSERT (err && err->msg && out == NULL);
      pier_error_free (&err);
    }
  char **words = NULL;
  if (pier_build_expand_words (word, &vars, &words, &err) == 0)
    {
      FUZZ_ASSERT (words != NULL);
      for (size_t i = 0; words[i]; i++)
        {
          FUZZ_ASSERT (words[i][0] != '\0');
          free (words[i]);
        }
      free (words);
    }
  else
    pier_error_free (&err);
  free (word);
  return 0;
}
