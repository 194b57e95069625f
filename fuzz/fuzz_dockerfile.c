/* Fuzz target: the Dockerfile parser (build/dockerfile.c). */
#include "fuzz.h"

#include "build/dockerfile.h"

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  pier_dockerfile *df = NULL;
  pier_error *err = NULL;
  if (pier_dockerfile_parse ((const char *) data, size, "Dockerfile", &df, &err) < 0)
    {
      FUZZ_ASSERT (df == NULL && err && err->msg);
      pier_error_free (&err);
      return 0;
    }
  FUZZ_ASSERT (df->n_stages >= 1);
  for (size_t i = 0; i < df->n_stages; i++)
    if (df->stages[i].name)
      FUZZ_ASSERT (pier_df_stage_find (df, df->stages[i].name) >= 0);
  pier_dockerfile_free (df);
  return 0;
}
