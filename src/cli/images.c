/* images.c - pier images / image ls|inspect|rm|tag|import, import, tag, rmi. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cli/opt.h"
#include "cli/pier.h"
#include "image/images.h"
#include "image/reference.h"
#include "store/db.h"
#include "util/cleanup.h"
#include "util/fs.h"
#include "util/json.h"
#include "util/xalloc.h"
#include "util/banned.h"

struct row
{
  char *repo, *tag, *digest, *id, *created, *size, *created_at;
};

static void
row_free (struct row *r)
{
  free (r->repo);
  free (r->tag);
  free (r->digest);
  free (r->id);
  free (r->created);
  free (r->size);
  free (r->created_at);
}

/* Split a stored reference into docker's REPOSITORY and TAG columns. */
static void
split_ref (const char *full, char **repo, char **tag)
{
  cleanup_ref pier_ref *r = NULL;
  if (pier_ref_parse (full, &r, NULL) < 0)
    {
      *repo = xstrdup (full);
      *tag = xstrdup ("<none>");
      return;
    }
  *repo = pier_ref_familiar_name (r);
  *tag = xstrdup (r->tag ? r->tag : "<none>");
}

/* --filter values are name=value (docker checks this as it parses the flag). */
static int
check_filters (const char *verb, char *const *filters)
{
  for (size_t k = 0; filters && filters[k]; k++)
    if (strchr (filters[k], '=') == NULL)
      {
        cleanup_free char *m = xasprintf (
            "invalid argument \"%s\" for \"-f, --filter\" flag: bad format of filter (expected name=value)",
            filters[k]);
        return pier_cli_usage (verb, m);
      }
  return 0;
}

/* The images the filters select.  A bad filter is docker's usage error
 * (125); a before= or since= image that does not exist is an error (1). */
static int
select_images (pier_store *st, pier_image_filter_use use, char *const *filters, pier_image_summary **imgs,
               size_t *n)
{
  pier_error *err = NULL;
  pier_image_filter *f = NULL;
  int rc = 0;
  if (pier_image_filter_parse (st, use, filters, &f, &err) < 0)
    rc = pier_cli_fail (err, err && err->code == EINVAL ? PIER_EXIT_USAGE : PIER_EXIT_ERROR);
  else if (pier_image_list (st, f, imgs, n, &err) < 0)
    rc = pier_cli_fail (err, PIER_EXIT_ERROR);
  pier_image_filter_free (f);
  return rc;
}

static int
list_images (struct pier_globals *g, int argc, char **argv, const char *verb)
{
  bool quiet = false, all = false, no_trunc = false, digests = false;
  const char *format = NULL;
  cleanup_strv char **filters = NULL;
  int i = 1, rc = 0;
  pier_opt opts[] = {
    { "a|all", OPT_BOOL, &all,
      "show all images (by default the build cache's intermediate images are hidden)", NULL },
    { "q|quiet", OPT_BOOL, &quiet, "only show image IDs", NULL },
    { "no-trunc", OPT_BOOL, &no_trunc, "don't truncate output", NULL },
    { "digests", OPT_BOOL, &digests, "show digests", NULL },
    { "f|filter", OPT_LIST, &filters,
      "filter output (dangling=true|false, label=KEY[=VALUE], before=IMAGE, since=IMAGE, reference=PATTERN, "
      "until=TIME)",
      "FILTER" },
    { "format", OPT_STRING, &format, "format output with a template ({{.Repository}} ...)", "TEMPLATE" },
    HELP_OPT,
    { NULL, 0, NULL, NULL, NULL },
  };
  if (pier_cli_parse (verb, "pier images [OPTIONS] [REPOSITORY[:TAG]]", opts, argc, argv, &i, 0, 1, &rc) < 0)
    return rc;
  if ((rc = check_filters (verb, filters)) != 0)
    return rc;
  /* As docker: the argument is one more reference filter. */
  if (argc - i == 1)
    {
      cleanup_free char *r = xasprintf ("reference=%s", argv[i]);
      strv_push (&filters, r);
    }
  /* docker's image columns, for the header of --format 'table ...'. */
  static const struct pier_format_column heads[] = { { "ID", "IMAGE ID" },
                                                     { "Repository", "REPOSITORY" },
                                                     { "Tag", "TAG" },
                                                     { "Digest", "DIGEST" },
                                                     { "CreatedSince", "CREATED" },
                                                     { "CreatedAt", "CREATED AT" },
                                                     { "Size", "SIZE" },
                                                     { "Containers", "CONTAINERS" },
                                                     { "VirtualSize", "VIRTUAL SIZE" },
                                                     { "SharedSize", "SHARED SIZE" },
                                                     { "UniqueSize", "UNIQUE SIZE" },
                                                     { NULL, NULL } };
  pier_error *ferr = NULL;
  pier_lister *fl = NULL;
  if (!quiet && !pier_format_is_default (format) && (fl = pier_lister_new (format, heads, &ferr)) == NULL)
    return pier_cli_fail (ferr, PIER_EXIT_USAGE);
  pier_store *st = pier_cli_store (g);
  if (st == NULL)
    {
      pier_lister_free (fl);
      return PIER_EXIT_ERROR;
    }
  pier_image_summary *imgs = NULL;
  size_t n = 0;
  if ((rc = select_images (st, PIER_IMAGE_FILTER_LIST, filters, &imgs, &n)) != 0)
    {
      pier_lister_free (fl);
      pier_store_close (st);
      return rc;
    }
  size_t nrows = 0, cap = 16;
  struct row *rows = xcalloc (cap, sizeof *rows);
  for (size_t k = 0; k < n; k++)
    {
      if (imgs[k].intermediate && !all)
        continue;
      /* Rows for the tags; an image known only by digest (pulled by
       * digest) gets a <none> tag row per repository, as docker shows. */
      cleanup_strv char **shown = NULL;
      for (size_t t = 0; imgs[k].tags && imgs[k].tags[t]; t++)
        if (strchr (imgs[k].tags[t], '@') == NULL)
          strv_push (&shown, imgs[k].tags[t]);
      bool digest_only = shown == NULL;
      if (shown == NULL)
        for (size_t t = 0; imgs[k].tags && imgs[k].tags[t]; t++)
          {
            cleanup_free char *name = xstrndup (imgs[k].tags[t], strcspn (imgs[k].tags[t], "@"));
            bool dup = false;
            for (size_t j = 0; shown && shown[j]; j++)
              dup |= strcmp (shown[j], name) == 0;
            if (!dup)
              strv_push (&shown, name);
          }
      size_t ntags = strv_len (shown);
      for (size_t t = 0; t < (ntags ? ntags : 1); t++)
        {
          struct row r = { 0 };
          if (ntags && digest_only)
            {
              split_ref (shown[t], &r.repo, &r.tag);
              free (r.tag);
              r.tag = xstrdup ("<none>");
            }
          else if (ntags)
            split_ref (shown[t], &r.repo, &r.tag);
          else
            {
              r.repo = xstrdup ("<none>");
              r.tag = xstrdup ("<none>");
            }
          r.id = no_trunc ? xstrdup (imgs[k].id) : xstrndup (imgs[k].id + 7, 12);
          r.digest = NULL;
          /* The DIGEST column: the repository's digest, when it has one. */
          for (size_t d = 0; ntags && r.digest == NULL && imgs[k].tags && imgs[k].tags[d]; d++)
            {
              const char *at = strchr (imgs[k].tags[d], '@');
              cleanup_ref pier_ref *dr = NULL;
              if (at && pier_ref_parse (imgs[k].tags[d], &dr, NULL) == 0)
                {
                  cleanup_free char *fam = pier_ref_familiar_name (dr);
                  if (strcmp (fam, r.repo) == 0)
                    r.digest = xstrdup (at + 1);
                }
            }
          if (r.digest == NULL)
            r.digest = xstrdup ("<none>");
          r.created = pier_human_since ((int64_t) imgs[k].created.tv_sec);
          r.created_at = pier_format_time ((int64_t) imgs[k].created.tv_sec);
          r.size = pier_human_size ((double) imgs[k].size);
          if (nrows == cap)
            rows = xrealloc (rows, (cap *= 2) * sizeof *rows);
          rows[nrows++] = r;
        }
    }
  if (quiet)
    {
      for (size_t k = 0; k < nrows; k++)
        {
          bool seen = false;
          for (size_t j = 0; j < k; j++)
            seen |= strcmp (rows[j].id, rows[k].id) == 0;
          if (!seen)
            printf ("%s\n", rows[k].id);
        }
    }
  else if (fl)
    {
      for (size_t k = 0; k < nrows; k++)
        {
          json_t *o = json_pack ("{s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s}", "Repository",
                                 rows[k].repo, "Tag", rows[k].tag, "Digest", rows[k].digest, "ID", rows[k].id,
                                 "CreatedSince", rows[k].created, "CreatedAt", rows[k].created_at, "Size",
                                 rows[k].size, "Containers", "N/A", "VirtualSize", rows[k].size, "SharedSize",
                                 "N/A", "UniqueSize", "N/A");
          if (pier_lister_add (fl, o, &ferr) < 0)
            {
              rc = pier_cli_fail (ferr, PIER_EXIT_USAGE);
              break;
            }
        }
      if (rc == 0)
        pier_lister_print (fl);
    }
  else
    {
      int w[6] = { 10, 3, 6, 8, 7, 4 };
      for (size_t k = 0; k < nrows; k++)
        {
          const char *c[6]
              = { rows[k].repo, rows[k].tag, rows[k].digest, rows[k].id, rows[k].created, rows[k].size };
          for (int j = 0; j < 6; j++)
            if ((int) strlen (c[j]) > w[j])
              w[j] = (int) strlen (c[j]);
        }
      if (digests)
        printf ("%-*s   %-*s   %-*s   %-*s   %-*s   %s\n", w[0], "REPOSITORY", w[1], "TAG", w[2], "DIGEST",
                w[3], "IMAGE ID", w[4], "CREATED", "SIZE");
      else
        printf ("%-*s   %-*s   %-*s   %-*s   %s\n", w[0], "REPOSITORY", w[1], "TAG", w[3], "IMAGE ID", w[4],
                "CREATED", "SIZE");
      for (size_t k = 0; k < nrows; k++)
        {
          if (digests)
            printf ("%-*s   %-*s   %-*s   %-*s   %-*s   %s\n", w[0], rows[k].repo, w[1], rows[k].tag, w[2],
                    rows[k].digest, w[3], rows[k].id, w[4], rows[k].created, rows[k].size);
          else
            printf ("%-*s   %-*s   %-*s   %-*s   %s\n", w[0], rows[k].repo, w[1], rows[k].tag, w[3],
                    rows[k].id, w[4], rows[k].created, rows[k].size);
        }
    }
  pier_lister_free (fl);
  for (size_t k = 0; k < nrows; k++)
    row_free (&rows[k]);
  free (rows);
  pier_image_summaries_free (imgs, n);
  pier_store_close (st);
  return rc;
}

int
pier_cmd_images (struct pier_globals *g, int argc, char **argv)
{
  return list_images (g, argc, argv, "images");
}

int
pier_cmd_image_inspect (struct pier_globals *g, int argc, char **argv)
{
  const char *format = NULL;
  int i = 1, rc = 0;
  pier_opt opts[] = {
    { "f|format", OPT_STRING, &format, "format output with a template ({{.Id}} ...)", "TEMPLATE" },
    HELP_OPT,
    { NULL, 0, NULL, NULL, NULL },
  };
  if (pier_cli_parse ("image inspect", "pier image inspect [OPTIONS] IMAGE [IMAGE...]", opts, argc, argv, &i,
                      1, -1, &rc)
      < 0)
    return rc;
  if ((rc = pier_format_check (format)) != 0)
    return rc;
  pier_store *st = pier_cli_store (g);
  if (st == NULL)
    return PIER_EXIT_ERROR;
  json_t *arr = json_array ();
  for (; i < argc; i++)
    {
      pier_error *err = NULL;
      cleanup_free char *id = NULL;
      json_t *j = NULL;
      if (pier_image_resolve (st, argv[i], &id, &err) < 0 || pier_image_inspect (st, id, &j, &err) < 0)
        {
          rc = pier_cli_fail (err, PIER_EXIT_ERROR);
          continue;
        }
      if ((rc = pier_inspect_add (format, arr, j)) != 0)
        break;
    }
  pier_inspect_done (format, arr);
  json_decref (arr);
  pier_store_close (st);
  return rc;
}

int
pier_cmd_import (struct pier_globals *g, int argc, char **argv)
{
  cleanup_strv char **changes = NULL;
  const char *message = NULL, *platform = NULL;
  int i = 1, rc = 0;
  pier_error *err = NULL;
  pier_opt opts[] = {
    { "c|change", OPT_LIST, &changes, "apply a Dockerfile instruction to the image", "INSTRUCTION" },
    { "m|message", OPT_STRING, &message, "set a commit message for the imported image", "MESSAGE" },
    { "platform", OPT_STRING, &platform, "the platform of the image (this host's only)", "OS/ARCH" },
    HELP_OPT,
    { NULL, 0, NULL, NULL, NULL },
  };
  if (pier_cli_parse ("import", "pier import [OPTIONS] file|- [REPOSITORY[:TAG]]", opts, argc, argv, &i, 1, 2,
                      &rc)
      < 0)
    return rc;
  if (platform && strncmp (platform, "linux", 5) != 0)
    return pier_cli_usage ("import", "--platform: only linux images can be imported");
  const char *src = argv[i];
  cleanup_close int fd = strcmp (src, "-") == 0 ? dup (0) : open (src, O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    {
      pier_error_make (&err, errno, "cannot open `%s`", src);
      return pier_cli_fail (err, PIER_EXIT_ERROR);
    }
  pier_store *st = pier_cli_store (g);
  if (st == NULL)
    return PIER_EXIT_ERROR;
  pier_import_opts o = { argc - i == 2 ? argv[i + 1] : NULL, message, changes, src };
  cleanup_free char *id = NULL;
  if (pier_image_import (st, fd, &o, &id, &err) < 0)
    rc = pier_cli_fail (err, PIER_EXIT_ERROR);
  else
    printf ("%s\n", id);
  pier_store_close (st);
  return rc;
}

int
pier_cmd_tag (struct pier_globals *g, int argc, char **argv)
{
  int i = 1, rc = 0;
  pier_error *err = NULL;
  pier_opt opts[] = { HELP_OPT, { NULL, 0, NULL, NULL, NULL } };
  if (pier_cli_parse ("tag", "pier tag SOURCE_IMAGE[:TAG] TARGET_IMAGE[:TAG]", opts, argc, argv, &i, 2, 2,
                      &rc)
      < 0)
    return rc;
  pier_store *st = pier_cli_store (g);
  if (st == NULL)
    return PIER_EXIT_ERROR;
  if (pier_image_tag (st, argv[i], argv[i + 1], &err) < 0)
    rc = pier_cli_fail (err, PIER_EXIT_ERROR);
  pier_store_close (st);
  return rc;
}

int
pier_cmd_rmi (struct pier_globals *g, int argc, char **argv)
{
  bool force = false, no_prune = false;
  int i = 1, rc = 0;
  pier_opt opts[] = {
    { "f|force", OPT_BOOL, &force, "force removal of the image", NULL },
    { "no-prune", OPT_BOOL, &no_prune, "do not delete untagged parents (pier images have none)", NULL },
    HELP_OPT,
    { NULL, 0, NULL, NULL, NULL },
  };
  if (pier_cli_parse ("rmi", "pier rmi [OPTIONS] IMAGE [IMAGE...]", opts, argc, argv, &i, 1, -1, &rc) < 0)
    return rc;
  pier_store *st = pier_cli_store (g);
  if (st == NULL)
    return PIER_EXIT_ERROR;
  for (; i < argc; i++)
    {
      pier_error *err = NULL;
      cleanup_strv char **report = NULL;
      int r = pier_image_remove (st, argv[i], force, &report, &err);
      for (size_t k = 0; report && report[k]; k++)
        printf ("%s\n", report[k]);
      if (r < 0)
        rc = pier_cli_fail (err, PIER_EXIT_ERROR);
    }
  pier_store_close (st);
  return rc;
}

int
pier_cmd_history (struct pier_globals *g, int argc, char **argv)
{
  bool human = true, no_trunc = false, quiet = false;
  const char *format = NULL;
  int i = 1, rc = 0;
  pier_error *err = NULL;
  pier_opt opts[] = {
    { "H|human", OPT_BOOL, &human, "print sizes and dates in human readable format (default true)", NULL },
    { "no-trunc", OPT_BOOL, &no_trunc, "don't truncate output", NULL },
    { "q|quiet", OPT_BOOL, &quiet, "only show image IDs", NULL },
    { "format", OPT_STRING, &format, "format output with a template ({{.CreatedBy}} ...)", "TEMPLATE" },
    HELP_OPT,
    { NULL, 0, NULL, NULL, NULL },
  };
  if (pier_cli_parse ("history", "pier history [OPTIONS] IMAGE", opts, argc, argv, &i, 1, 1, &rc) < 0)
    return rc;
  /* docker's history columns, for the header of --format 'table ...'. */
  static const struct pier_format_column heads[] = { { "ID", "IMAGE" },
                                                     { "CreatedSince", "CREATED" },
                                                     { "CreatedAt", "CREATED AT" },
                                                     { "CreatedBy", "CREATED BY" },
                                                     { "Size", "SIZE" },
                                                     { "Comment", "COMMENT" },
                                                     { NULL, NULL } };
  pier_lister *fl = NULL;
  if (!quiet && !pier_format_is_default (format) && (fl = pier_lister_new (format, heads, &err)) == NULL)
    return pier_cli_fail (err, PIER_EXIT_USAGE);
  if (fl == NULL)
    format = NULL;
  pier_store *st = pier_cli_store (g);
  if (st == NULL)
    {
      pier_lister_free (fl);
      return PIER_EXIT_ERROR;
    }
  cleanup_free char *id = NULL;
  json_t *rows = NULL;
  if (pier_image_resolve (st, argv[i], &id, &err) < 0 || pier_image_history (st, id, &rows, &err) < 0)
    {
      pier_lister_free (fl);
      pier_store_close (st);
      return pier_cli_fail (err, PIER_EXIT_ERROR);
    }
  size_t k;
  json_t *r;
  if (!quiet && !format)
    printf ("%-12s   %-22s   %-45s   %-7s   %s\n", "IMAGE", "CREATED", "CREATED BY", "SIZE", "COMMENT");
  json_array_foreach (rows, k, r)
  {
    const char *rid = json_string_value (json_object_get (r, "Id"));
    cleanup_free char *shown_id
        = strcmp (rid, "<missing>") == 0 || no_trunc ? xstrdup (rid) : xstrndup (rid + 7, 12);
    int64_t created = json_integer_value (json_object_get (r, "Created"));
    int64_t size = json_integer_value (json_object_get (r, "Size"));
    cleanup_free char *when = NULL;
    if (human)
      when = pier_human_since (created);
    else
      {
        char b[64];
        struct tm tm;
        time_t t = (time_t) created;
        gmtime_r (&t, &tm);
        strftime (b, sizeof b, "%Y-%m-%dT%H:%M:%SZ", &tm);
        when = xstrdup (b);
      }
    cleanup_free char *sz = human ? pier_human_size ((double) size) : xasprintf ("%lld", (long long) size);
    const char *by_full = json_string_value (json_object_get (r, "CreatedBy"));
    cleanup_free char *by = no_trunc ? xstrdup (by_full) : pier_ellipsis (by_full, 45);
    const char *comment = json_string_value (json_object_get (r, "Comment"));
    if (quiet)
      printf ("%s\n", shown_id);
    else if (fl)
      {
        char at[64];
        struct tm tm;
        time_t t = (time_t) created;
        localtime_r (&t, &tm);
        strftime (at, sizeof at, "%Y-%m-%dT%H:%M:%S%z", &tm);
        /* RFC 3339 writes the offset with a colon (or Z for UTC). */
        size_t al = strlen (at);
        cleanup_free char *created_at = tm.tm_gmtoff == 0
                                            ? xasprintf ("%.*sZ", (int) al - 5, at)
                                            : xasprintf ("%.*s:%s", (int) al - 2, at, at + al - 2);
        json_t *o = json_pack ("{s:s, s:s, s:s, s:s, s:s, s:s}", "ID", shown_id, "CreatedSince", when,
                               "CreatedAt", created_at, "CreatedBy", by, "Size", sz, "Comment", comment);
        if (pier_lister_add (fl, o, &err) < 0)
          {
            rc = pier_cli_fail (err, PIER_EXIT_USAGE);
            break;
          }
      }
    else
      printf ("%-12s   %-22s   %-45s   %-7s   %s\n", shown_id, when, by, sz, comment);
  }
  if (fl && rc == 0)
    pier_lister_print (fl);
  pier_lister_free (fl);
  json_decref (rows);
  pier_store_close (st);
  return rc;
}

int
pier_cmd_image_prune (struct pier_globals *g, int argc, char **argv)
{
  bool all = false, force = false;
  cleanup_strv char **filters = NULL;
  int i = 1, rc = 0;
  pier_error *err = NULL;
  pier_opt opts[] = {
    { "a|all", OPT_BOOL, &all, "remove all unused images, not just dangling ones", NULL },
    { "filter", OPT_LIST, &filters,
      "provide filter values (until=TIME, label=KEY[=VALUE], label!=KEY[=VALUE])", "FILTER" },
    { "f|force", OPT_BOOL, &force, "do not prompt for confirmation", NULL },
    HELP_OPT,
    { NULL, 0, NULL, NULL, NULL },
  };
  if (pier_cli_parse ("image prune", "pier image prune [OPTIONS]", opts, argc, argv, &i, 0, 0, &rc) < 0)
    return rc;
  if ((rc = check_filters ("image prune", filters)) != 0)
    return rc;
  /* As docker's CLI: -a is the filter dangling=false. */
  strv_push (&filters, all ? "dangling=false" : "dangling=true");
  pier_store *st = pier_cli_store (g);
  if (st == NULL)
    return PIER_EXIT_ERROR;
  /* A bad filter is refused before the question. */
  pier_image_summary *imgs = NULL;
  size_t n = 0;
  if ((rc = select_images (st, PIER_IMAGE_FILTER_PRUNE, filters, &imgs, &n)) != 0)
    {
      pier_store_close (st);
      return rc;
    }
  if (!force)
    {
      fprintf (stderr, "WARNING! This will remove all %s.\nAre you sure you want to continue? [y/N] ",
               all ? "images without at least one container associated to them" : "dangling images");
      char answer[16] = "";
      if (fgets (answer, sizeof answer, stdin) == NULL || (answer[0] != 'y' && answer[0] != 'Y'))
        {
          pier_image_summaries_free (imgs, n);
          pier_store_close (st);
          return 0;
        }
    }
  int64_t reclaimed = 0;
  bool header = false;
  for (size_t k = 0; k < n; k++)
    {
      /* Images containers were made from were not selected. */
      cleanup_strv char **report = NULL;
      if (pier_image_remove (st, imgs[k].id, true, &report, &err) < 0)
        {
          rc = pier_cli_fail (err, PIER_EXIT_ERROR);
          err = NULL;
          continue;
        }
      reclaimed += imgs[k].size;
      if (!header)
        printf ("Deleted Images:\n");
      header = true;
      for (size_t l = 0; report && report[l]; l++)
        {
          /* docker's prune report is lower case: "untagged: x", "deleted: x" */
          char *line = report[l];
          line[0] = (char) (line[0] - 'A' + 'a');
          char *colon = strchr (line, ':');
          printf ("%.*s%s\n", (int) (colon - line), line, colon);
        }
    }
  cleanup_free char *total = pier_human_size ((double) reclaimed);
  printf ("%sTotal reclaimed space: %s\n", header ? "\n" : "", total);
  pier_image_summaries_free (imgs, n);
  pier_store_close (st);
  return rc;
}

/* oci-dir: the target may not exist yet (*mode 0), or be an empty
 * directory (*mode its mode, which the layout keeps); nothing is ever
 * written among other files. */
static int
check_layout_target (const char *path, mode_t *mode, pier_error **err)
{
  struct stat sb;
  *mode = 0;
  if (stat (path, &sb) < 0)
    return errno == ENOENT ? 0 : pier_error_make (err, errno, "cannot save to `%s`", path);
  if (!S_ISDIR (sb.st_mode))
    return pier_error_makex (err, ENOTDIR, "cannot save to `%s`: it exists and is not a directory", path);
  *mode = sb.st_mode & 07777;
  cleanup_close int fd = open (path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0 || pier_dir_check_empty (fd, "the directory", err) < 0)
    {
      if (fd < 0)
        pier_error_make (err, errno, "cannot open the directory");
      return pier_error_wrap (err, "cannot save to `%s`", path);
    }
  return 0;
}

int
pier_cmd_save (struct pier_globals *g, int argc, char **argv)
{
  const char *output = NULL, *format = "docker-archive";
  int i = 1, rc = 0;
  pier_error *err = NULL;
  pier_opt opts[] = {
    { "o|output", OPT_STRING, &output, "write to a file (a directory for oci-dir), instead of STDOUT",
      "FILE" },
    { "format", OPT_STRING, &format,
      "docker-archive (default), oci-archive, or oci-dir (an OCI image layout directory, with -o)",
      "FORMAT" },
    HELP_OPT,
    { NULL, 0, NULL, NULL, NULL },
  };
  if (pier_cli_parse ("save", "pier save [OPTIONS] IMAGE [IMAGE...]", opts, argc, argv, &i, 1, -1, &rc) < 0)
    return rc;
  bool dir = strcmp (format, "oci-dir") == 0;
  if (!dir && strcmp (format, "docker-archive") && strcmp (format, "oci-archive"))
    return pier_cli_usage ("save", "--format must be docker-archive, oci-archive or oci-dir");
  if (dir && output == NULL)
    return pier_cli_usage ("save", "--format oci-dir writes a directory: name it with -o");
  if (output == NULL && isatty (1))
    return pier_cli_usage ("save", "cowardly refusing to save to a terminal. Use the -o flag or redirect");
  mode_t mode = 0;
  if (dir && check_layout_target (output, &mode, &err) < 0)
    return pier_cli_fail (err, PIER_EXIT_ERROR);
  pier_store *st = pier_cli_store (g);
  if (st == NULL)
    return PIER_EXIT_ERROR;
  /* The output appears only complete: written beside, renamed into place
   * (a directory replaces an empty one). */
  size_t len = output ? strlen (output) : 0;
  while (len > 1 && output[len - 1] == '/')
    len--;
  cleanup_free char *tmp = output ? xasprintf ("%.*s.pier-tmp-%d", (int) len, output, (int) getpid ()) : NULL;
  cleanup_close int fd = -1;
  if (dir)
    fd = mkdir (tmp, mode ? mode : 0755) < 0 ? -1 : open (tmp, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  else
    fd = tmp ? open (tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644) : dup (1);
  if (fd < 0)
    {
      pier_error_make (&err, errno, "cannot create `%s`", output ? output : "stdout");
      if (dir)
        rmdir (tmp);
      pier_store_close (st);
      return pier_cli_fail (err, PIER_EXIT_ERROR);
    }
  if (pier_image_save (st, argv + i, format, fd, &err) < 0)
    rc = pier_cli_fail (err, PIER_EXIT_ERROR);
  else if (tmp && ((dir ? (mode ? fchmod (fd, mode) : 0) : fsync (fd)) < 0 || rename (tmp, output) < 0))
    {
      pier_error_make (&err, errno, "cannot write `%s`", output);
      rc = pier_cli_fail (err, PIER_EXIT_ERROR);
    }
  if (rc != 0 && tmp)
    pier_rmtree_at (AT_FDCWD, tmp, NULL);
  pier_store_close (st);
  return rc;
}

int
pier_cmd_load (struct pier_globals *g, int argc, char **argv)
{
  const char *input = NULL;
  bool quiet = false;
  int i = 1, rc = 0;
  pier_error *err = NULL;
  pier_opt opts[] = {
    { "i|input", OPT_STRING, &input,
      "read from a tar archive file or an OCI image layout directory, instead of STDIN", "FILE" },
    { "q|quiet", OPT_BOOL, &quiet, "suppress progress output (pier shows none; the loaded images are listed)",
      NULL },
    HELP_OPT,
    { NULL, 0, NULL, NULL, NULL },
  };
  if (pier_cli_parse ("load", "pier load [OPTIONS]", opts, argc, argv, &i, 0, 0, &rc) < 0)
    return rc;
  if (input == NULL && isatty (0))
    return pier_cli_usage ("load", "requested load from stdin, but stdin is empty (use -i or redirect)");
  cleanup_close int fd = input ? open (input, O_RDONLY | O_CLOEXEC) : dup (0);
  if (fd < 0)
    {
      pier_error_make (&err, errno, "cannot open `%s`", input);
      return pier_cli_fail (err, PIER_EXIT_ERROR);
    }
  pier_store *st = pier_cli_store (g);
  if (st == NULL)
    return PIER_EXIT_ERROR;
  cleanup_strv char **report = NULL;
  if (pier_image_load (st, fd, &report, &err) < 0)
    rc = pier_cli_fail (err, PIER_EXIT_ERROR);
  /* As docker: -q hides progress, never the list of what was loaded. */
  (void) quiet;
  for (size_t k = 0; report && report[k]; k++)
    printf ("%s\n", report[k]);
  pier_store_close (st);
  return rc;
}

int
pier_cmd_image (struct pier_globals *g, int argc, char **argv)
{
  static const struct
  {
    const char *name;
    int (*fn) (struct pier_globals *, int, char **);
  } sub[] = {
    { "ls", pier_cmd_images },     { "list", pier_cmd_images },     { "inspect", pier_cmd_image_inspect },
    { "rm", pier_cmd_rmi },        { "remove", pier_cmd_rmi },      { "tag", pier_cmd_tag },
    { "import", pier_cmd_import }, { "history", pier_cmd_history }, { "prune", pier_cmd_image_prune },
    { "save", pier_cmd_save },     { "load", pier_cmd_load },
  };
  if (argc < 2 || strcmp (argv[1], "--help") == 0)
    {
      printf (
          "Usage: pier image COMMAND\n\nCommands:\n  import    Import a root filesystem tarball as an image\n"
          "  inspect   Display detailed information on images\n  ls        List images\n"
          "  history   Show the history of an image\n  prune     Remove unused images\n"
          "  rm        Remove images\n  tag       Tag an image\n");
      return argc < 2 ? PIER_EXIT_USAGE : 0;
    }
  for (size_t k = 0; k < sizeof sub / sizeof sub[0]; k++)
    if (strcmp (argv[1], sub[k].name) == 0)
      return sub[k].fn (g, argc - 1, argv + 1);
  fprintf (stderr, "pier: 'image %s' is not a pier command.\nSee 'pier image --help'.\n", argv[1]);
  return PIER_EXIT_USAGE;
}
