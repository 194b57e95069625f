/* commit.c - pier diff, pier commit, pier export. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/pier.h"
#include "engine/engine.h"
#include "util/cleanup.h"
#include "util/json.h"
#include "util/xalloc.h"

#include "util/banned.h"

static pier_engine *
engine_for (struct pier_globals *g, const char *name, char **id, int *rc)
{
  pier_engine *e = pier_cli_engine (g);
  if (e == NULL)
    {
      *rc = PIER_EXIT_ERROR;
      return NULL;
    }
  pier_error *err = NULL;
  if (pier_engine_find (e, name, id, &err) < 0)
    {
      *rc = pier_cli_fail (err, PIER_EXIT_ERROR);
      pier_cli_engine_close (e);
      return NULL;
    }
  return e;
}

int
pier_cmd_diff (struct pier_globals *g, int argc, char **argv)
{
  int i = 1, rc = 0;
  pier_opt opts[] = { HELP_OPT, { NULL, 0, NULL, NULL, NULL } };
  if (pier_cli_parse ("diff", "pier diff CONTAINER", opts, argc, argv, &i, 1, 1, &rc) < 0)
    return rc;
  cleanup_free char *id = NULL;
  pier_engine *e = engine_for (g, argv[i], &id, &rc);
  if (e == NULL)
    return rc;
  pier_error *err = NULL;
  cleanup_json json_t *changes = NULL;
  if (pier_engine_diff (e, id, &changes, &err) < 0)
    rc = pier_cli_fail (err, PIER_EXIT_ERROR);
  else
    {
      size_t k;
      json_t *c;
      json_array_foreach (changes, k, c)
      {
        json_int_t kind = json_integer_value (json_object_get (c, "Kind"));
        printf ("%c %s\n",
                kind == 0   ? 'C'
                : kind == 1 ? 'A'
                            : 'D',
                json_string_value (json_object_get (c, "Path")));
      }
    }
  pier_cli_engine_close (e);
  return rc;
}

int
pier_cmd_export (struct pier_globals *g, int argc, char **argv)
{
  int i = 1, rc = 0;
  const char *output = NULL;
  pier_opt opts[] = {
    { "o|output", OPT_STRING, &output, "write to a file, instead of STDOUT", "string" },
    HELP_OPT,
    { NULL, 0, NULL, NULL, NULL },
  };
  if (pier_cli_parse ("export", "pier export [OPTIONS] CONTAINER", opts, argc, argv, &i, 1, 1, &rc) < 0)
    return rc;
  if (output == NULL && isatty (STDOUT_FILENO))
    {
      fprintf (stderr, "Error: cowardly refusing to save to a terminal. Use the -o flag or redirect\n");
      return PIER_EXIT_ERROR;
    }
  cleanup_free char *id = NULL;
  pier_engine *e = engine_for (g, argv[i], &id, &rc);
  if (e == NULL)
    return rc;
  pier_error *err = NULL;
  cleanup_free char *tmp = output ? xasprintf ("%s.tmp-%d", output, getpid ()) : NULL;
  int fd = output ? open (tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644) : STDOUT_FILENO;
  if (fd < 0)
    {
      pier_error_make (&err, errno, "cannot create %s", output);
      rc = pier_cli_fail (err, PIER_EXIT_ERROR);
    }
  else if (pier_engine_export (e, id, fd, &err) < 0)
    {
      rc = pier_cli_fail (err, PIER_EXIT_ERROR);
      if (output)
        unlink (tmp);
    }
  else if (output && (fsync (fd) < 0 || rename (tmp, output) < 0))
    {
      pier_error_make (&err, errno, "cannot write %s", output);
      rc = pier_cli_fail (err, PIER_EXIT_ERROR);
      unlink (tmp);
    }
  if (output && fd >= 0)
    close (fd);
  pier_cli_engine_close (e);
  return rc;
}

int
pier_cmd_commit (struct pier_globals *g, int argc, char **argv)
{
  int i = 1, rc = 0;
  const char *author = NULL, *message = NULL;
  char **changes = NULL;
  bool pause = true;
  pier_opt opts[] = {
    { "a|author", OPT_STRING, &author, "author (e.g., \"John Hannibal Smith <hannibal@a-team.com>\")",
      "string" },
    { "c|change", OPT_LIST, &changes, "apply Dockerfile instruction to the created image", "list" },
    { "m|message", OPT_STRING, &message, "commit message", "string" },
    { "p|pause", OPT_BOOL, &pause, "pause container during commit (default true)", NULL },
    HELP_OPT,
    { NULL, 0, NULL, NULL, NULL },
  };
  if (pier_cli_parse ("commit", "pier commit [OPTIONS] CONTAINER [REPOSITORY[:TAG]]", opts, argc, argv, &i, 1,
                      2, &rc)
      < 0)
    return rc;
  cleanup_strv char **ch = changes;
  cleanup_free char *id = NULL;
  pier_engine *e = engine_for (g, argv[i], &id, &rc);
  if (e == NULL)
    return rc;
  pier_error *err = NULL;
  cleanup_free char *image = NULL;
  pier_engine_commit_opts o = { .reference = argc - i == 2 ? argv[i + 1] : NULL,
                                .author = author,
                                .comment = message,
                                .changes = ch,
                                .pause = pause };
  if (pier_engine_commit (e, id, &o, &image, &err) < 0)
    rc = pier_cli_fail (err, PIER_EXIT_ERROR);
  else
    printf ("%s\n", image);
  pier_cli_engine_close (e);
  return rc;
}
