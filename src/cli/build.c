/* build.c - pier build and pier builder prune. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "archive/extract.h"
#include "build/builder.h"
#include "build/cache.h"
#include "cli/pier.h"
#include "image/images.h"
#include "engine/engine.h"
#include "util/cleanup.h"
#include "util/fs.h"
#include "util/units.h"
#include "util/xalloc.h"

#include "util/banned.h"

static bool
looks_like_archive (const char *buf, size_t len)
{
  static const unsigned char gz[] = { 0x1f, 0x8b }, zs[] = { 0x28, 0xb5, 0x2f, 0xfd },
                             bz[] = { 'B', 'Z', 'h' }, xz[] = { 0xfd, '7', 'z', 'X', 'Z' };
  if ((len >= 2 && memcmp (buf, gz, 2) == 0) || (len >= 4 && memcmp (buf, zs, 4) == 0)
      || (len >= 3 && memcmp (buf, bz, 3) == 0) || (len >= 5 && memcmp (buf, xz, 5) == 0))
    return true;
  return len >= 262 && memcmp (buf + 257, "ustar", 5) == 0;
}

/* A context tar (from a file, or bytes read from stdin) unpacked into a
 * fresh directory in the store's tmp/ (a later pier removes it if this
 * one dies). */
static int
unpack_context (pier_store *st, int fd, char **dir, pier_error **err)
{
  cleanup_free char *name = pier_store_tmp_name (st);
  pier_extract_opts o = { 0 };
  if (pier_layer_extract_into_new (pier_store_tmp_fd (st), name, fd, &o, NULL, err) < 0)
    return pier_error_wrap (err, "cannot read the build context");
  *dir = xasprintf ("%s/tmp/%s", pier_store_root (st), name);
  return 0;
}

/* Bytes read from stdin, as a file to unpack (unnamed: nothing to leave). */
static int
write_tmp (pier_store *st, const char *data, size_t len, int *fd, pier_error **err)
{
  *fd = openat (pier_store_tmp_fd (st), ".", O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
  if (*fd < 0 || pier_write_all (*fd, data, len) < 0 || lseek (*fd, 0, SEEK_SET) < 0)
    return pier_error_make (err, errno, "cannot stage the build context");
  return 0;
}

int
pier_cmd_build (struct pier_globals *g, int argc, char **argv)
{
  char **tags = NULL, **build_args = NULL, **labels = NULL, **secrets = NULL, **outputs = NULL;
  const char *file = NULL, *target = NULL, *iidfile = NULL, *network = NULL, *progress = "auto",
             *platform = NULL;
  bool no_cache = false, pull = false, quiet = false;
  int i = 1, rc = 0;
  pier_opt opts[] = {
    { "t|tag", OPT_LIST, &tags, "name and optionally a tag (name:tag)", "list" },
    { "f|file", OPT_STRING, &file, "name of the Dockerfile (default: PATH/Dockerfile; - for stdin)",
      "string" },
    { "build-arg", OPT_LIST, &build_args, "set build-time variables", "list" },
    { "label", OPT_LIST, &labels, "set metadata for an image", "list" },
    { "target", OPT_STRING, &target, "set the target build stage to build", "string" },
    { "no-cache", OPT_BOOL, &no_cache, "do not use cache when building the image", NULL },
    { "pull", OPT_BOOL, &pull, "always attempt to pull a newer version of the image", NULL },
    { "q|quiet", OPT_BOOL, &quiet, "suppress the build output and print image ID on success", NULL },
    { "iidfile", OPT_STRING, &iidfile, "write the image ID to the file", "string" },
    { "network", OPT_STRING, &network, "networking mode for the RUN instructions (none, host)", "string" },
    { "o|output", OPT_LIST, &outputs, "output destination (type=local,dest=path | type=tar,dest=path|-)",
      "list" },
    { "progress", OPT_STRING, &progress, "type of progress output (auto, plain, tty, quiet)", "string" },
    { "secret", OPT_LIST, &secrets, "secret to expose to the build (id=mysecret[,src=/local/secret|env=VAR])",
      "list" },
    { "platform", OPT_STRING, &platform, "set the target platform (this machine's only)", "string" },
    HELP_OPT,
    { NULL, 0, NULL, NULL, NULL },
  };
  cleanup_strv char **t1 = NULL, **t2 = NULL, **t3 = NULL, **t4 = NULL, **t5 = NULL;
  if (pier_cli_parse ("build", "pier build [OPTIONS] PATH | -", opts, argc, argv, &i, 1, 1, &rc) < 0)
    return rc;
  t1 = tags;
  t2 = build_args;
  t3 = labels;
  t4 = secrets;
  t5 = outputs;
  if (network && strcmp (network, "none") != 0 && strcmp (network, "host") != 0
      && strcmp (network, "default") != 0)
    return pier_cli_usage ("build", "--network: pier build runs RUN with network none (the default) or host");
  if (strcmp (progress, "auto") != 0 && strcmp (progress, "plain") != 0 && strcmp (progress, "tty") != 0
      && strcmp (progress, "quiet") != 0 && strcmp (progress, "rawjson") != 0)
    return pier_cli_usage ("build", "--progress: auto, plain, tty or quiet");
  if (strcmp (progress, "rawjson") == 0)
    return pier_cli_usage ("build", "--progress=rawjson is not supported by pier");
  if (platform)
    {
      cleanup_free char *mine = xasprintf ("linux/%s", pier_image_go_arch ());
      if (strcmp (platform, mine) != 0)
        return pier_cli_usage ("build", "--platform: pier builds for this machine's platform only");
    }
  const char *out_type = NULL, *out_dest = NULL;
  cleanup_free char *out_copy = NULL;
  if (outputs && outputs[0])
    {
      if (outputs[1])
        return pier_cli_usage ("build", "only one --output is supported");
      out_copy = xstrdup (outputs[0]);
      if (strchr (out_copy, '=') == NULL)
        {
          out_type = "local";
          out_dest = out_copy;
        }
      else
        {
          char *save = NULL;
          for (char *kv = strtok_r (out_copy, ",", &save); kv; kv = strtok_r (NULL, ",", &save))
            if (strncmp (kv, "type=", 5) == 0)
              out_type = kv + 5;
            else if (strncmp (kv, "dest=", 5) == 0)
              out_dest = kv + 5;
            else
              return pier_cli_usage ("build", "--output: only the keys type and dest are supported");
        }
      if (out_type == NULL || (strcmp (out_type, "local") != 0 && strcmp (out_type, "tar") != 0))
        return pier_cli_usage ("build", "--output: type=local or type=tar");
      if (out_dest == NULL)
        return pier_cli_usage ("build", "--output: dest is required");
    }
  for (size_t k = 0; tags && tags[k]; k++)
    if (*tags[k] == 0)
      return pier_cli_usage ("build", "invalid tag: an empty name");

  pier_error *err = NULL;
  const char *path = argv[i];
  cleanup_free char *ctx = NULL, *unpacked = NULL, *df_text = NULL, *id = NULL;
  size_t df_len = 0;
  bool df_from_stdin = file && strcmp (file, "-") == 0;
  pier_store *st = pier_cli_store (g);
  if (st == NULL)
    return PIER_EXIT_ERROR;
  pier_engine *e = pier_engine_new (st, g->runroot);
  cleanup_free char *df_name = xstrdup (file && !df_from_stdin ? file : "Dockerfile");

  if (strcmp (path, "-") == 0)
    {
      if (df_from_stdin)
        {
          rc = pier_cli_usage ("build", "cannot read both the context and the Dockerfile from stdin");
          goto out;
        }
      cleanup_free char *in = NULL;
      size_t len = 0;
      if (pier_read_fd (0, "stdin", &in, &len, &err) < 0)
        goto fail;
      if (looks_like_archive (in, len))
        {
          cleanup_close int fd = -1;
          if (write_tmp (st, in, len, &fd, &err) < 0 || unpack_context (st, fd, &unpacked, &err) < 0)
            goto fail;
          ctx = xstrdup (unpacked);
        }
      else
        {
          /* A Dockerfile alone: the context is empty. */
          df_text = steal_pointer (&in);
          df_len = len;
          cleanup_free char *name = pier_store_tmp_name (st);
          unpacked = xasprintf ("%s/tmp/%s", pier_store_root (st), name);
          if (mkdir (unpacked, 0700) < 0)
            {
              pier_error_make (&err, errno, "cannot create %s", unpacked);
              goto fail;
            }
          ctx = xstrdup (unpacked);
        }
    }
  else
    {
      struct stat sb;
      if (stat (path, &sb) < 0)
        {
          pier_error_make (&err, errno, "unable to prepare context: path \"%s\" not found", path);
          goto fail;
        }
      if (S_ISDIR (sb.st_mode))
        ctx = xstrdup (path);
      else
        {
          cleanup_close int fd = open (path, O_RDONLY | O_CLOEXEC);
          if (fd < 0 || unpack_context (st, fd, &unpacked, &err) < 0)
            {
              if (fd < 0)
                pier_error_make (&err, errno, "cannot open %s", path);
              goto fail;
            }
          ctx = xstrdup (unpacked);
        }
    }
  if (df_text == NULL)
    {
      if (df_from_stdin)
        {
          if (pier_read_fd (0, "stdin", &df_text, &df_len, &err) < 0)
            goto fail;
        }
      else
        {
          /* -f names a file relative to the current directory (docker);
           * without -f, PATH/Dockerfile (or dockerfile). */
          cleanup_free char *p = NULL;
          if (file)
            p = unpacked && file[0] != '/' ? xasprintf ("%s/%s", ctx, file) : xstrdup (file);
          else
            {
              p = xasprintf ("%s/Dockerfile", ctx);
              if (access (p, F_OK) < 0)
                {
                  free (p);
                  p = xasprintf ("%s/dockerfile", ctx);
                }
            }
          if (pier_read_file_at (AT_FDCWD, p, &df_text, &df_len, &err) < 0)
            {
              pier_error_free (&err);
              pier_error_makex (&err, ENOENT, "failed to read dockerfile: open %s: no such file or directory",
                                p);
              goto fail;
            }
        }
    }

  bool plain = !quiet && strcmp (progress, "quiet") != 0;
  int64_t sde = -1;
  const char *sde_env = getenv ("SOURCE_DATE_EPOCH");
  if (sde_env && *sde_env)
    {
      char *end;
      long long v = strtoll (sde_env, &end, 10);
      if (*end || v < 0)
        {
          pier_error_makex (&err, EINVAL, "invalid SOURCE_DATE_EPOCH: %s", sde_env);
          goto fail;
        }
      sde = v;
    }
  pier_build_opts bo = {
    .context = ctx,
    .dockerfile_name = df_name,
    .dockerfile = df_text,
    .dockerfile_len = df_len,
    .tags = tags,
    .build_args = build_args,
    .labels = labels,
    .secrets = secrets,
    .target = target,
    .network = network && strcmp (network, "default") != 0 ? network : "none",
    .no_cache = no_cache,
    .pull = pull,
    .fetch = pier_cli_build_fetch,
    .fetch_data = st,
    .source_date_epoch = sde,
    .progress = plain ? stderr : NULL,
    .tty
    = plain && (strcmp (progress, "tty") == 0 || (strcmp (progress, "auto") == 0 && isatty (STDERR_FILENO))),
    .output = stderr,
  };
  if (pier_build (e, &bo, &id, &err) < 0)
    goto fail;
  if (out_type)
    {
      int r;
      if (strcmp (out_type, "local") == 0)
        r = pier_build_export (e, id, out_dest, -1, &err);
      else if (strcmp (out_dest, "-") == 0)
        r = pier_build_export (e, id, NULL, 1, &err);
      else
        {
          cleanup_close int fd = open (out_dest, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
          if (fd < 0)
            {
              pier_error_make (&err, errno, "cannot create %s", out_dest);
              goto fail;
            }
          r = pier_build_export (e, id, NULL, fd, &err);
        }
      if (r < 0)
        goto fail;
    }
  if (iidfile)
    {
      cleanup_close int fd = open (iidfile, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
      if (fd < 0 || pier_write_all (fd, id, strlen (id)) < 0)
        {
          pier_error_make (&err, errno, "cannot write the image id to %s", iidfile);
          goto fail;
        }
    }
  if (quiet)
    printf ("%s\n", id);
  goto out;
fail:
  rc = pier_cli_fail (err, PIER_EXIT_ERROR);
out:
  if (unpacked)
    pier_rmtree_at (AT_FDCWD, unpacked, NULL);
  pier_engine_free (e);
  pier_store_close (st);
  return rc;
}

int
pier_cmd_builder_prune (struct pier_globals *g, int argc, char **argv)
{
  bool all = false, force = false;
  char **filters = NULL;
  const char *keep = NULL;
  int i = 1, rc = 0;
  pier_opt opts[] = {
    { "a|all", OPT_BOOL, &all, "remove all unused build cache, not just dangling ones", NULL },
    { "f|force", OPT_BOOL, &force, "do not prompt for confirmation", NULL },
    { "filter", OPT_LIST, &filters, "provide filter values (until=<duration>)", "filter" },
    { "keep-storage", OPT_STRING, &keep, "amount of disk space to keep for cache", "bytes" },
    HELP_OPT,
    { NULL, 0, NULL, NULL, NULL },
  };
  if (pier_cli_parse ("builder prune", "pier builder prune [OPTIONS]", opts, argc, argv, &i, 0, 0, &rc) < 0)
    return rc;
  cleanup_strv char **f = filters;
  int64_t keep_bytes = -1, until = 0;
  if (keep)
    {
      if (pier_parse_ram (keep, &keep_bytes) < 0 || keep_bytes < 0)
        return pier_cli_usage ("builder prune", "--keep-storage: a size such as 512MB or 2GB");
    }
  for (size_t k = 0; f && f[k]; k++)
    {
      if (strncmp (f[k], "until=", 6) != 0)
        return pier_cli_usage ("builder prune", "--filter: only until=<duration> is supported");
      char *end;
      double secs = strtod (f[k] + 6, &end);
      double mult = *end == 's' ? 1 : *end == 'm' ? 60 : *end == 'h' ? 3600 : -1;
      if (end == f[k] + 6 || mult < 0 || end[1] != 0)
        return pier_cli_usage ("builder prune", "--filter until=: a duration such as 30m or 24h");
      until = (int64_t) time (NULL) - (int64_t) (secs * mult);
    }
  if (!force && isatty (0))
    {
      fprintf (
          stderr,
          "WARNING! This will remove all dangling build cache. Are you sure you want to continue? [y/N] ");
      char line[16] = "";
      if (fgets (line, sizeof line, stdin) == NULL || (line[0] != 'y' && line[0] != 'Y'))
        return 0;
    }
  pier_store *st = pier_cli_store (g);
  if (st == NULL)
    return PIER_EXIT_ERROR;
  pier_error *err = NULL;
  size_t removed = 0;
  int64_t reclaimed = 0;
  if (pier_build_cache_prune (st, all, keep_bytes, until, &removed, &reclaimed, &err) < 0)
    rc = pier_cli_fail (err, PIER_EXIT_ERROR);
  else
    {
      cleanup_free char *h = pier_human_size ((double) reclaimed);
      printf ("Deleted build cache objects: %zu\nTotal reclaimed space: %s\n", removed, h);
    }
  pier_store_close (st);
  return rc;
}

int
pier_cmd_builder (struct pier_globals *g, int argc, char **argv)
{
  if (argc < 2 || strcmp (argv[1], "--help") == 0)
    {
      printf ("Usage: pier builder COMMAND\n\nCommands:\n  build   Build an image from a Dockerfile\n"
              "  prune   Remove build cache\n");
      return argc < 2 ? PIER_EXIT_USAGE : 0;
    }
  if (strcmp (argv[1], "prune") == 0)
    return pier_cmd_builder_prune (g, argc - 1, argv + 1);
  if (strcmp (argv[1], "build") == 0)
    return pier_cmd_build (g, argc - 1, argv + 1);
  fprintf (stderr, "pier: 'builder %s' is not a pier command.\nSee 'pier builder --help'.\n", argv[1]);
  return PIER_EXIT_USAGE;
}
