/* replay.c - run each file of the corpus directories named on the command
 * line through LLVMFuzzerTestOneInput (the normal build's stand-in for
 * libFuzzer).  Exit 0 when every input ran; a crash is the failure. */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "fuzz.h"

/* A target may define its own; this one does nothing. */
__attribute__ ((weak)) int
LLVMFuzzerInitialize (int *argc, char ***argv)
{
  (void) argc, (void) argv;
  return 0;
}

static int
cmp (const void *a, const void *b)
{
  return strcmp (*(char *const *) a, *(char *const *) b);
}

static int
run_file (const char *path)
{
  FILE *f = fopen (path, "rb");
  if (f == NULL)
    {
      fprintf (stderr, "replay: cannot open %s: %s\n", path, strerror (errno));
      return -1;
    }
  size_t cap = 4096, n = 0;
  uint8_t *buf = malloc (cap);
  size_t r;
  while (buf && (r = fread (buf + n, 1, cap - n, f)) > 0)
    {
      n += r;
      if (n == cap)
        buf = realloc (buf, cap *= 2);
    }
  fclose (f);
  if (buf == NULL)
    abort ();
  /* An exact-size copy, so that reading past the input is caught. */
  uint8_t *exact = malloc (n ? n : 1);
  memcpy (exact, buf, n);
  free (buf);
  LLVMFuzzerTestOneInput (exact, n);
  free (exact);
  return 0;
}

int
main (int argc, char **argv)
{
  LLVMFuzzerInitialize (&argc, &argv);
  size_t total = 0;
  for (int i = 1; i < argc; i++)
    {
      struct stat st;
      if (stat (argv[i], &st) < 0)
        {
          fprintf (stderr, "replay: %s: %s\n", argv[i], strerror (errno));
          return 1;
        }
      if (!S_ISDIR (st.st_mode))
        {
          if (run_file (argv[i]) < 0)
            return 1;
          total++;
          continue;
        }
      DIR *d = opendir (argv[i]);
      if (d == NULL)
        return 1;
      char **names = NULL;
      size_t n = 0;
      struct dirent *de;
      while ((de = readdir (d)))
        {
          if (de->d_name[0] == '.')
            continue;
          names = realloc (names, (n + 1) * sizeof *names);
          names[n++] = strdup (de->d_name);
        }
      closedir (d);
      if (n)
        qsort (names, n, sizeof *names, cmp);
      for (size_t k = 0; k < n; k++)
        {
          char path[4096];
          snprintf (path, sizeof path, "%s/%s", argv[i], names[k]);
          if (run_file (path) < 0)
            return 1;
          total++;
          free (names[k]);
        }
      free (names);
    }
  printf ("replayed %zu inputs\n", total);
  return total ? 0 : 1;
}
