/* Fuzz target: .dockerignore patterns and matching (build/ignore.c). */
#include <string.h>

#include "fuzz.h"

#include "build/ignore.h"

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  pier_ignore *ig = NULL;
  pier_error *err = NULL;
  /* The input's own NUL-terminated copy, as a path to clean and match. */
  char *text = malloc (size + 1);
  memcpy (text, data, size);
  text[size] = '\0';
  char *clean = pier_ignore_clean_path (text);
  if (pier_ignore_parse ((const char *) data, size, ".dockerignore", &ig, &err) < 0)
    {
      FUZZ_ASSERT (ig == NULL && err && err->msg);
      pier_error_free (&err);
      free (clean);
      free (text);
      return 0;
    }
  static const char *const paths[]
      = { "a", "a/b", "a/b/c.txt", ".git", "dir/sub/file", "Dockerfile", "x.go", "" };
  for (size_t i = 0; i < sizeof paths / sizeof *paths; i++)
    {
      (void) pier_ignore_excluded (ig, paths[i]);
      (void) pier_ignore_may_reinclude (ig, paths[i]);
    }
  if (clean)
    (void) pier_ignore_excluded (ig, clean);
  /* Each pattern against itself and the others. */
  for (size_t i = 0; i < pier_ignore_count (ig) && i < 16; i++)
    {
      const char *pat = pier_ignore_pattern (ig, i);
      FUZZ_ASSERT (pat != NULL);
      (void) pier_ignore_excluded (ig, pat);
      (void) pier_ignore_may_reinclude (ig, pat);
    }
  (void) pier_ignore_has_exceptions (ig);
  pier_ignore_free (ig);
  free (clean);
  free (text);
  return 0;
}
