/* Fuzz target: image references (image/reference.c).  Property: a
 * reference that parses prints as a string that parses back to the same
 * reference. */
#include <stdbool.h>
#include <string.h>

#include "fuzz.h"

#include "image/reference.h"

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  char *s = malloc (size + 1);
  memcpy (s, data, size);
  s[size] = '\0';
  (void) pier_ref_is_id_prefix (s);
  pier_ref *r = NULL;
  pier_error *err = NULL;
  if (pier_ref_parse (s, &r, &err) < 0)
    {
      FUZZ_ASSERT (r == NULL && err && err->msg);
      pier_error_free (&err);
      free (s);
      return 0;
    }
  char *full = pier_ref_string (r);
  char *fam = pier_ref_familiar (r);
  char *famname = pier_ref_familiar_name (r);
  char *name = pier_ref_name (r);
  pier_ref *d = pier_ref_dup (r);
  char *dfull = pier_ref_string (d);
  FUZZ_ASSERT (strcmp (full, dfull) == 0);
  pier_ref *again = NULL;
  FUZZ_ASSERT (pier_ref_parse (full, &again, &err) == 0);
  char *again_full = pier_ref_string (again);
  FUZZ_ASSERT (strcmp (full, again_full) == 0);
  /* The familiar form parses back too, except where docker's own is
   * ambiguous: docker.io/a.b/c is familiar "a.b/c", which names the
   * registry a.b (docker's familiarizeName does the same). */
  size_t first = strcspn (fam, "/");
  bool domain_like
      = fam[first] == '/'
        && (memchr (fam, '.', first) || memchr (fam, ':', first) || strncmp (fam, "localhost/", 10) == 0);
  if (!domain_like)
    {
      pier_ref *from_familiar = NULL;
      FUZZ_ASSERT (pier_ref_parse (fam, &from_familiar, &err) == 0);
      char *ff = pier_ref_string (from_familiar);
      FUZZ_ASSERT (strcmp (full, ff) == 0);
      free (ff);
      pier_ref_free (from_familiar);
    }
  free (again_full);
  pier_ref_free (again);
  free (dfull);
  pier_ref_free (d);
  free (name);
  free (famname);
  free (fam);
  free (full);
  pier_ref_free (r);
  free (s);
  return 0;
}
