/* registry.c - pier pull / push / login / logout, and the pull that run
 * and create do for a missing image; progress shown as docker shows it. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include "cli/opt.h"
#include "cli/pier.h"
#include "image/images.h"
#include "image/reference.h"
#include "registry/registry.h"
#include "store/db.h"
#include "util/cleanup.h"
#include "util/fs.h"
#include "util/xalloc.h"
#include "util/banned.h"

/* ---- progress ---------------------------------------------------------- */

struct progress
{
  FILE *out;
  bool tty;
  bool quiet;
  char **ids;   /* layers in the order they first appeared (tty: one line each) */
  char **lines; /* what each shows */
  struct timespec last;
};

static void
progress_free (struct progress *p)
{
  strv_free (p->ids);
  strv_free (p->lines);
  p->ids = p->lines = NULL;
}

static char *
bar_line (const char *id, const char *status, uint64_t cur, uint64_t total)
{
  if (total == 0 || cur == 0)
    return xasprintf ("%s: %s", id, status);
  int width = 50;
  int fill = (int) ((double) cur / (double) total * width);
  if (fill > width)
    fill = width;
  char bar[64];
  int k = 0;
  for (; k < fill - 1; k++)
    bar[k] = '=';
  if (fill > 0)
    bar[k++] = '>';
  for (; k < width; k++)
    bar[k] = ' ';
  bar[k] = '\0';
  cleanup_free char *a = pier_human_size ((double) cur);
  cleanup_free char *b = pier_human_size ((double) total);
  return xasprintf ("%s: %-11s [%s]  %s/%s", id, status, bar, a, b);
}

static void
on_progress (void *data, const char *id, const char *status, uint64_t cur, uint64_t total)
{
  struct progress *p = data;
  if (p->quiet || id == NULL)
    return;
  bool moving = strcmp (status, "Downloading") == 0 || strcmp (status, "Pushing") == 0;
  if (!p->tty)
    {
      /* As docker without a terminal: status changes only, no bars. */
      if (moving || strcmp (status, "Extracting") == 0)
        return;
      fprintf (p->out, "%s: %s\n", id, status);
      fflush (p->out);
      return;
    }
  size_t n = strv_len (p->ids), k;
  for (k = 0; k < n && strcmp (p->ids[k], id) != 0; k++)
    ;
  cleanup_free char *line = moving ? bar_line (id, status, cur, total) : xasprintf ("%s: %s", id, status);
  if (k == n)
    {
      strv_push (&p->ids, id);
      strv_push (&p->lines, line);
      fprintf (p->out, "%s\n", line);
      fflush (p->out);
      return;
    }
  if (moving)
    {
      /* Bars move at most ten times a second. */
      struct timespec now;
      clock_gettime (CLOCK_MONOTONIC, &now);
      long ms = (now.tv_sec - p->last.tv_sec) * 1000 + (now.tv_nsec - p->last.tv_nsec) / 1000000;
      if (ms < 100 && cur < total)
        return;
      p->last = now;
    }
  free (p->lines[k]);
  p->lines[k] = xstrdup (line);
  size_t up = n - k;
  fprintf (p->out, "\033[%zuA\r\033[2K%s\033[%zuB\r", up, line, up);
  fflush (p->out);
}

/* ---- common flags -------------------------------------------------------- */

struct reg_flags
{
  bool tls_verify;
  const char *cert_dir;
};

#define REG_OPTS(f)                                                                                          \
  { "tls-verify", OPT_BOOL, &(f)->tls_verify,                                                                \
    "require HTTPS and verify certificates (false: skip verification, allow plain HTTP)", NULL },            \
  {                                                                                                          \
    "cert-dir", OPT_STRING, &(f)->cert_dir,                                                                  \
        "use certificates (*.crt, *.cert, *.key) at this path instead of /etc/docker/certs.d/HOST", "path"   \
  }

static void
reg_opts_from (pier_registry_opts *o, const struct reg_flags *f, struct progress *p)
{
  memset (o, 0, sizeof *o);
  o->tls_verify = f->tls_verify ? -1 : 0;
  o->cert_dir = f->cert_dir;
  o->progress = on_progress;
  o->progress_data = p;
}

/* ---- pull ---------------------------------------------------------------- */

/* What docker prints around a pull; 0 or docker's exit code 1. */
static int
pull_one (pier_store *st, const char *name, pier_registry_opts *o, struct progress *p, bool quiet,
          bool header)
{
  pier_error *err = NULL;
  cleanup_ref pier_ref *ref = NULL;
  if (pier_ref_parse (name, &ref, &err) < 0)
    return pier_cli_fail (err, PIER_EXIT_ERROR);
  if (header && !quiet)
    {
      const char *last = strrchr (name, '/');
      last = last ? last : name;
      if (strchr (last, ':') == NULL && strchr (last, '@') == NULL)
        fprintf (p->out, "Using default tag: %s\n", PIER_REF_DEFAULT_TAG);
      fprintf (p->out, "%s: Pulling from %s\n", ref->digest ? ref->digest : ref->tag, ref->path);
      fflush (p->out);
    }
  pier_pull_result res = { 0 };
  if (pier_registry_pull (st, name, o, &res, &err) < 0)
    return pier_cli_fail (err, PIER_EXIT_ERROR);
  if (!quiet)
    {
      cleanup_ref pier_ref *shown = NULL;
      pier_ref_parse (res.reference, &shown, NULL);
      cleanup_free char *fam = shown ? pier_ref_familiar (shown) : xstrdup (res.reference);
      fprintf (p->out, "Digest: %s\n", res.digest);
      fprintf (p->out, "Status: %s for %s\n", res.updated ? "Downloaded newer image" : "Image is up to date",
               fam);
    }
  fprintf (p->out, "%s\n", res.reference);
  fflush (p->out);
  pier_pull_result_clear (&res);
  return 0;
}

int
pier_cmd_pull (struct pier_globals *g, int argc, char **argv)
{
  bool all = false, quiet = false;
  const char *platform = NULL;
  struct reg_flags rf = { true, NULL };
  int i = 1, rc = 0;
  pier_opt opts[] = {
    { "a|all-tags", OPT_BOOL, &all, "download all tagged images in the repository", NULL },
    { "platform", OPT_STRING, &platform,
      "set platform if server is multi-platform capable (os/arch[/variant])", "string" },
    { "q|quiet", OPT_BOOL, &quiet, "suppress verbose output", NULL },
    REG_OPTS (&rf),
    HELP_OPT,
    { NULL, 0, NULL, NULL, NULL },
  };
  if (pier_cli_parse ("pull", "pier pull [OPTIONS] NAME[:TAG|@DIGEST]", opts, argc, argv, &i, 1, 1, &rc) < 0)
    return rc;
  const char *name = argv[i];
  if (all)
    {
      const char *last = strrchr (name, '/');
      last = last ? last : name;
      if (strchr (last, ':') || strchr (last, '@'))
        return pier_cli_usage ("pull", "tag can't be used with --all-tags/-a");
    }
  pier_store *st = pier_cli_store (g);
  if (st == NULL)
    return PIER_EXIT_ERROR;
  struct progress p = { stdout, isatty (1), quiet, NULL, NULL, { 0, 0 } };
  pier_registry_opts o;
  reg_opts_from (&o, &rf, &p);
  o.platform = platform;
  if (!all)
    rc = pull_one (st, name, &o, &p, quiet, true);
  else
    {
      cleanup_strv char **tags = NULL;
      pier_error *err = NULL;
      if (pier_registry_list_tags (name, &o, &tags, &err) < 0)
        rc = pier_cli_fail (err, PIER_EXIT_ERROR);
      else
        {
          cleanup_ref pier_ref *ref = NULL;
          pier_ref_parse (name, &ref, NULL);
          cleanup_free char *base = pier_ref_name (ref);
          if (!quiet)
            fprintf (stdout, "Pulling repository %s\n", base);
          for (size_t k = 0; tags && tags[k] && rc == 0; k++)
            {
              cleanup_free char *one = xasprintf ("%s:%s", base, tags[k]);
              if (!quiet)
                fprintf (stdout, "%s: Pulling from %s\n", tags[k], ref->path);
              rc = pull_one (st, one, &o, &p, quiet, false);
              progress_free (&p);
            }
        }
    }
  progress_free (&p);
  pier_store_close (st);
  return rc;
}

/* run/create: pull the image when policy ("missing" when NULL, "always",
 * "never") says so; messages on stderr as docker's.  0, or the exit code. */
int
pier_cli_pull_for_run (pier_store *st, const char *image, const char *policy, const char *platform)
{
  const char *pol = policy ? policy : "missing";
  if (strcmp (pol, "missing") != 0 && strcmp (pol, "always") != 0 && strcmp (pol, "never") != 0)
    {
      fprintf (stderr,
               "Error: invalid pull option: '%s': must be one of \"always\", \"missing\" or \"never\"\n",
               pol);
      return PIER_EXIT_USAGE;
    }
  if (strcmp (pol, "never") == 0)
    return 0;
  if (strcmp (pol, "missing") == 0)
    {
      cleanup_free char *id = NULL;
      if (pier_image_resolve (st, image, &id, NULL) == 0)
        return 0;
      /* An id (prefix) that is not here cannot be pulled: the create
       * reports it. */
      cleanup_ref pier_ref *ref = NULL;
      if (pier_ref_parse (image, &ref, NULL) < 0 || strncmp (image, "sha256:", 7) == 0)
        return 0;
      cleanup_free char *fam = pier_ref_familiar (ref);
      fprintf (stderr, "Unable to find image '%s' locally\n", fam);
    }
  struct progress p = { stderr, isatty (2), false, NULL, NULL, { 0, 0 } };
  struct reg_flags rf = { true, NULL };
  pier_registry_opts o;
  reg_opts_from (&o, &rf, &p);
  o.platform = platform;
  int rc = pull_one (st, image, &o, &p, false, true);
  progress_free (&p);
  return rc ? PIER_EXIT_USAGE : 0;
}

/* ---- push ---------------------------------------------------------------- */

static int
push_one (pier_store *st, const char *name, pier_registry_opts *o, struct progress *p, bool quiet)
{
  pier_error *err = NULL;
  pier_push_result res = { 0 };
  if (pier_registry_push (st, name, o, &res, &err) < 0)
    return pier_cli_fail (err, PIER_EXIT_ERROR);
  if (quiet)
    printf ("%s\n", res.reference);
  else
    printf ("%s: digest: %s size: %lld\n", res.tag, res.digest, (long long) res.size);
  fflush (stdout);
  (void) p;
  pier_push_result_clear (&res);
  return 0;
}

int
pier_cmd_push (struct pier_globals *g, int argc, char **argv)
{
  bool all = false, quiet = false;
  struct reg_flags rf = { true, NULL };
  int i = 1, rc = 0;
  pier_opt opts[] = {
    { "a|all-tags", OPT_BOOL, &all, "push all tags of an image to the repository", NULL },
    { "q|quiet", OPT_BOOL, &quiet, "suppress verbose output", NULL },
    REG_OPTS (&rf),
    HELP_OPT,
    { NULL, 0, NULL, NULL, NULL },
  };
  if (pier_cli_parse ("push", "pier push [OPTIONS] NAME[:TAG]", opts, argc, argv, &i, 1, 1, &rc) < 0)
    return rc;
  const char *name = argv[i];
  pier_error *err = NULL;
  cleanup_ref pier_ref *ref = NULL;
  if (pier_ref_parse (name, &ref, &err) < 0)
    return pier_cli_fail (err, PIER_EXIT_ERROR);
  const char *last = strrchr (name, '/');
  last = last ? last : name;
  bool tagged = strchr (last, ':') != NULL;
  if (all && tagged)
    return pier_cli_usage ("push", "tag can't be used with --all-tags/-a");
  pier_store *st = pier_cli_store (g);
  if (st == NULL)
    return PIER_EXIT_ERROR;
  struct progress p = { stdout, isatty (1), quiet, NULL, NULL, { 0, 0 } };
  pier_registry_opts o;
  reg_opts_from (&o, &rf, &p);
  cleanup_free char *repo = pier_ref_name (ref);
  cleanup_free char *fam = pier_ref_familiar_name (ref);
  if (!quiet)
    printf ("The push refers to repository [%s]\n", repo);
  if (!all)
    rc = push_one (st, name, &o, &p, quiet);
  else
    {
      /* Every local tag of the repository, in order. */
      pier_db_image *imgs = NULL;
      size_t n = 0;
      cleanup_strv char **names = NULL;
      cleanup_free char *prefix = xasprintf ("%s:", repo);
      if (pier_db_list_images (pier_store_db (st), &imgs, &n, &err) < 0)
        rc = pier_cli_fail (err, PIER_EXIT_ERROR);
      for (size_t k = 0; rc == 0 && k < n; k++)
        for (size_t t = 0; imgs[k].tags && imgs[k].tags[t]; t++)
          if (strncmp (imgs[k].tags[t], prefix, strlen (prefix)) == 0
              && !strchr (imgs[k].tags[t] + strlen (prefix), '/'))
            strv_push (&names, imgs[k].tags[t]);
      pier_db_images_free (imgs, n);
      if (rc == 0 && names == NULL)
        {
          pier_error_makex (&err, ENOENT, "An image does not exist locally with the tag: %s", fam);
          rc = pier_cli_fail (err, PIER_EXIT_ERROR);
        }
      for (size_t k = 0; rc == 0 && names && names[k]; k++)
        {
          rc = push_one (st, names[k], &o, &p, quiet);
          progress_free (&p);
        }
    }
  progress_free (&p);
  pier_store_close (st);
  return rc;
}

/* ---- login / logout ------------------------------------------------------ */

static char *
read_line (FILE *in, bool echo)
{
  struct termios saved, t;
  bool restore = false;
  if (!echo && isatty (fileno (in)) && tcgetattr (fileno (in), &saved) == 0)
    {
      t = saved;
      t.c_lflag &= ~(tcflag_t) ECHO;
      restore = tcsetattr (fileno (in), TCSAFLUSH, &t) == 0;
    }
  char *line = NULL;
  size_t cap = 0;
  ssize_t n = getline (&line, &cap, in);
  if (restore)
    {
      tcsetattr (fileno (in), TCSAFLUSH, &saved);
      fputc ('\n', stderr);
    }
  if (n < 0)
    {
      free (line);
      return xstrdup ("");
    }
  while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r'))
    line[--n] = '\0';
  return line;
}

int
pier_cmd_login (struct pier_globals *g, int argc, char **argv)
{
  (void) g;
  const char *user = NULL, *password = NULL;
  bool stdin_pw = false;
  struct reg_flags rf = { true, NULL };
  int i = 1, rc = 0;
  pier_opt opts[] = {
    { "u|username", OPT_STRING, &user, "username", "string" },
    { "p|password", OPT_STRING, &password, "password", "string" },
    { "password-stdin", OPT_BOOL, &stdin_pw, "take the password from stdin", NULL },
    REG_OPTS (&rf),
    HELP_OPT,
    { NULL, 0, NULL, NULL, NULL },
  };
  if (pier_cli_parse ("login", "pier login [OPTIONS] [SERVER]", opts, argc, argv, &i, 0, 1, &rc) < 0)
    return rc;
  const char *server = argc - i == 1 ? argv[i] : NULL;
  cleanup_free char *pw = NULL;
  cleanup_free char *u = user ? xstrdup (user) : NULL;
  pier_error *err = NULL;
  if (stdin_pw && password)
    return pier_cli_fail (
        (pier_error_makex (&err, EINVAL, "--password and --password-stdin are mutually exclusive"), err),
        PIER_EXIT_ERROR);
  if (stdin_pw && user == NULL)
    return pier_cli_fail (
        (pier_error_makex (&err, EINVAL, "Must provide --username with --password-stdin"), err),
        PIER_EXIT_ERROR);
  if (password)
    {
      fprintf (stderr, "WARNING! Using --password via the CLI is insecure. Use --password-stdin.\n");
      pw = xstrdup (password);
    }
  else if (stdin_pw)
    {
      cleanup_free char *all = NULL;
      size_t len = 0;
      if (pier_read_fd (0, "stdin", &all, &len, &err) < 0)
        return pier_cli_fail (err, PIER_EXIT_ERROR);
      while (len > 0 && (all[len - 1] == '\n' || all[len - 1] == '\r'))
        all[--len] = '\0';
      pw = steal_pointer (&all);
    }
  if (u == NULL || pw == NULL)
    {
      if (!isatty (0))
        return pier_cli_fail (
            (pier_error_makex (&err, EINVAL, "Cannot perform an interactive login from a non TTY device"),
             err),
            PIER_EXIT_ERROR);
      if (u == NULL)
        {
          fprintf (stderr, "Username: ");
          fflush (stderr);
          u = read_line (stdin, true);
        }
      if (pw == NULL)
        {
          fprintf (stderr, "Password: ");
          fflush (stderr);
          pw = read_line (stdin, false);
        }
    }
  pier_registry_opts o;
  reg_opts_from (&o, &rf, NULL);
  o.progress = NULL;
  rc = pier_registry_login (server, u, pw, &o, &err);
  if (pw)
    explicit_bzero (pw, strlen (pw));
  if (rc < 0)
    return pier_cli_fail (err, PIER_EXIT_ERROR);
  const char *dir = getenv ("DOCKER_CONFIG");
  const char *home = getenv ("HOME");
  cleanup_free char *path = dir && *dir
                                ? xasprintf ("%s/config.json", dir)
                                : xasprintf ("%s/.docker/config.json", home && *home ? home : "/root");
  fprintf (stderr, "WARNING! Your password will be stored unencrypted in %s.\n", path);
  printf ("Login Succeeded\n");
  return 0;
}

int
pier_cmd_logout (struct pier_globals *g, int argc, char **argv)
{
  (void) g;
  int i = 1, rc = 0;
  pier_opt opts[] = {
    HELP_OPT,
    { NULL, 0, NULL, NULL, NULL },
  };
  if (pier_cli_parse ("logout", "pier logout [SERVER]", opts, argc, argv, &i, 0, 1, &rc) < 0)
    return rc;
  const char *server = argc - i == 1 ? argv[i] : NULL;
  cleanup_free char *key = pier_registry_auth_key (server);
  pier_error *err = NULL;
  if (pier_registry_logout (server, NULL, &err) < 0)
    {
      if (err && err->code == ENOENT)
        {
          printf ("%s\n", err->msg);
          pier_error_free (&err);
          return 0;
        }
      return pier_cli_fail (err, PIER_EXIT_ERROR);
    }
  printf ("Removing login credentials for %s\n", server ? server : key);
  return 0;
}

int
pier_cli_build_fetch (void *data, const char *ref, char **id, pier_error **err)
{
  pier_store *st = data;
  if (pier_cli_pull_for_run (st, ref, "always", NULL) != 0)
    return pier_error_makex (err, ENOENT, "failed to resolve source metadata for %s: the pull failed", ref);
  return pier_image_resolve (st, ref, id, err);
}
