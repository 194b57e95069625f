/* Fuzz target: the Go template engine behind --format (util/template.c),
 * run over a record shaped like docker's inspect output, and in header
 * mode over a header map. */
#include <ctype.h>
#include <string.h>

#include "fuzz.h"

#include "util/template.h"

static json_t *data, *header;

int
LLVMFuzzerInitialize (int *argc, char ***argv)
{
  (void) argc, (void) argv;
  data
      = json_loads ("{\"Id\": \"abc\", \"Name\": \"/web\", \"Count\": 3, \"Ratio\": 0.5, \"On\": true,"
                    " \"Nil\": null, \"Args\": [\"-c\", \"x\"], \"Labels\": {\"a\": \"1\", \"b\": \"\"},"
                    " \"State\": {\"Status\": \"running\", \"Pid\": 42, \"Health\": null},"
                    " \"Nested\": [[1, 2], {\"k\": [true, null]}], \"Empty\": [], \"Text\": \"héllo wörld\"}",
                    0, NULL);
  header = json_pack ("{s:s, s:s, s:s}", "Id", "ID", "Name", "NAME", "Labels", "LABELS");
  return 0;
}

int
LLVMFuzzerTestOneInput (const uint8_t *d, size_t size)
{
  if (data == NULL)
    LLVMFuzzerInitialize (NULL, NULL);
  /* Big numbers ask for huge ranges, pads or widths, and nested ranges
   * multiply (a template may ask Go for 2^depth iterations too): time
   * spent as asked, not bugs.  Keep inputs where that stays small. */
  if (size > 4096)
    return 0;
  size_t run = 0;
  for (size_t i = 0; i < size; i++)
    {
      run = isdigit (d[i]) ? run + 1 : 0;
      if (run > 2)
        return 0;
    }
  char *text = malloc (size + 1);
  memcpy (text, d, size);
  text[size] = '\0';
  int ranges = 0;
  for (const char *r = text; (r = strstr (r, "range")); r++)
    ranges++;
  if (ranges > 2)
    {
      free (text);
      return 0;
    }
  pier_template *t = NULL;
  pier_error *err = NULL;
  if (pier_template_parse (text, &t, &err) < 0)
    {
      FUZZ_ASSERT (t == NULL && err && strncmp (err->msg, "template: :", 11) == 0);
      pier_error_free (&err);
      free (text);
      return 0;
    }
  char *out = NULL;
  if (pier_template_execute (t, data, 0, &out, &err) == 0)
    free (out);
  else
    {
      FUZZ_ASSERT (out == NULL && err && strncmp (err->msg, "template: :", 11) == 0);
      pier_error_free (&err);
    }
  out = NULL;
  FUZZ_ASSERT (pier_template_execute (t, header, PIER_TEMPLATE_HEADER, &out, &err) == 0);
  free (out);
  if (pier_template_execute (t, NULL, 0, &out, &err) == 0)
    free (out);
  else
    pier_error_free (&err);
  pier_template_free (t);
  free (text);
  return 0;
}
