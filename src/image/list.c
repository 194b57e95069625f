/* list.c - which images `pier images` lists and `pier image prune`
 * removes: docker's filters (moby's image list and image prune) over the
 * images in the store, with the time and labels their configs hold. */
#include <errno.h>
#include <fnmatch.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "image/images.h"
#include "image/reference.h"
#include "store/db.h"
#include "store/db_build.h"
#include "store/db_build.h"
#include "util/cleanup.h"
#include "util/json.h"
#include "util/timestamp.h"
#include "util/xalloc.h"
#include "util/banned.h"

struct pier_image_filter
{
  pier_image_filter_use use;
  int dangling;      /* -1 when not given, else 0 or 1 */
  char **labels;     /* "key" or "key=value": an image must have them all */
  char **not_labels; /* label!: an image that has them all is left out */
  char **references; /* patterns: a tag must match one */
  bool has_before, has_since, has_until;
  struct timespec before, since, until; /* before and since exclusive, until inclusive */
};

#define FOR_LIST (1u << PIER_IMAGE_FILTER_LIST)
#define FOR_PRUNE (1u << PIER_IMAGE_FILTER_PRUNE)

/* The keys each use takes (moby's acceptedImageFilterTags and
 * imagesAcceptedFilters). */
static const struct
{
  const char *key;
  unsigned uses;
} filter_keys[] = {
  { "dangling", FOR_LIST | FOR_PRUNE },
  { "label", FOR_LIST | FOR_PRUNE },
  { "label!", FOR_PRUNE },
  { "until", FOR_LIST | FOR_PRUNE },
  { "before", FOR_LIST },
  { "since", FOR_LIST },
  { "reference", FOR_LIST },
};

void
pier_image_filter_free (pier_image_filter *f)
{
  if (f == NULL)
    return;
  strv_free (f->labels);
  strv_free (f->not_labels);
  strv_free (f->references);
  free (f);
}

/* When the image was created, by its config (the time pier stored it for a
 * config without one), and its labels (an object, maybe empty). */
static int
image_facts (pier_store *st, const pier_db_image *img, struct timespec *created, json_t **labels,
             pier_error **err)
{
  cleanup_json json_t *config = NULL;
  if (pier_image_read_json (st, img->config_digest, &config, err) < 0)
    return pier_error_wrap (err, "image %s", img->id);
  if (pier_time_parse_rfc3339 (json_string_value (json_object_get (config, "created")), created) < 0)
    {
      created->tv_sec = (time_t) img->created;
      created->tv_nsec = 0;
    }
  if (labels)
    {
      json_t *l = json_object_get (json_object_get (config, "config"), "Labels");
      *labels = json_is_object (l) ? json_incref (l) : json_object ();
    }
  return 0;
}

/* The created time of the image name refers to (before= and since=). */
static int
created_of (pier_store *st, const char *name, struct timespec *t, pier_error **err)
{
  cleanup_free char *id = NULL;
  pier_db_image *img = NULL;
  if (pier_image_resolve (st, name, &id, err) < 0
      || pier_db_get_image (pier_store_db (st), id, &img, err) < 0)
    return -1;
  int rc = image_facts (st, img, t, NULL, err);
  pier_db_image_free (img);
  return rc;
}

/* "invalid filter 'key=[v1 v2]'", as moby's invalidFilter prints a key
 * with its values. */
static int
invalid_values (const char *key, char *const *values, pier_error **err)
{
  cleanup_free char *list = xstrdup ("");
  for (size_t i = 0; values && values[i]; i++)
    {
      char *next = xasprintf ("%s%s%s", list, i ? " " : "", values[i]);
      free (list);
      list = next;
    }
  return pier_error_makex (err, EINVAL, "invalid filter '%s=[%s]'", key, list);
}

static char *
trimmed (const char *s, size_t len)
{
  while (len && (*s == ' ' || *s == '\t'))
    s++, len--;
  while (len && (s[len - 1] == ' ' || s[len - 1] == '\t'))
    len--;
  return xstrndup (s, len);
}

int
pier_image_filter_parse (pier_store *st, pier_image_filter_use use, char *const *args,
                         pier_image_filter **out, pier_error **err)
{
  size_t nkeys = sizeof filter_keys / sizeof filter_keys[0];
  /* docker's filter set: values by key, each value once, in given order */
  char **vals[sizeof filter_keys / sizeof filter_keys[0]] = { NULL };
  int rc = 0;
  for (size_t i = 0; rc == 0 && args && args[i]; i++)
    {
      const char *eq = strchr (args[i], '=');
      if (eq == NULL)
        {
          rc = pier_error_makex (err, EINVAL, "bad format of filter `%s` (expected name=value)", args[i]);
          break;
        }
      cleanup_free char *key = trimmed (args[i], (size_t) (eq - args[i]));
      cleanup_free char *value = trimmed (eq + 1, strlen (eq + 1));
      for (char *c = key; *c; c++)
        if (*c >= 'A' && *c <= 'Z')
          *c = (char) (*c - 'A' + 'a');
      size_t k;
      for (k = 0; k < nkeys; k++)
        if (strcmp (filter_keys[k].key, key) == 0 && (filter_keys[k].uses & (1u << use)))
          break;
      if (k == nkeys)
        {
          rc = pier_error_makex (err, EINVAL, "invalid filter '%s'", key);
          break;
        }
      bool have = false;
      for (size_t v = 0; vals[k] && vals[k][v]; v++)
        have |= strcmp (vals[k][v], value) == 0;
      if (!have)
        strv_push (&vals[k], value);
    }
  pier_image_filter *f = xcalloc (1, sizeof *f);
  f->use = use;
  f->dangling = -1;
  for (size_t k = 0; rc == 0 && k < nkeys; k++)
    {
      const char *key = filter_keys[k].key;
      char **v = vals[k];
      if (v == NULL)
        continue;
      if (strcmp (key, "dangling") == 0)
        {
          /* moby's GetBoolOrDefault: "true"/"1" or "false"/"0", not both */
          bool yes = false, no = false;
          for (size_t i = 0; v[i]; i++)
            {
              yes |= strcmp (v[i], "true") == 0 || strcmp (v[i], "1") == 0;
              no |= strcmp (v[i], "false") == 0 || strcmp (v[i], "0") == 0;
            }
          if (yes == no)
            rc = invalid_values (key, v, err);
          f->dangling = yes;
        }
      else if (strcmp (key, "label") == 0)
        f->labels = steal_pointer (&vals[k]);
      else if (strcmp (key, "label!") == 0)
        f->not_labels = steal_pointer (&vals[k]);
      else if (strcmp (key, "reference") == 0)
        f->references = steal_pointer (&vals[k]);
      else if (strcmp (key, "until") == 0 && use == PIER_IMAGE_FILTER_PRUNE && strv_len (v) > 1)
        rc = pier_error_makex (err, EINVAL, "more than one until filter specified");
      else
        {
          struct timespec now;
          clock_gettime (CLOCK_REALTIME, &now);
          for (size_t i = 0; rc == 0 && v[i]; i++)
            {
              struct timespec t;
              bool since = strcmp (key, "since") == 0;
              if (strcmp (key, "until") == 0)
                rc = pier_time_parse_user (v[i], &now, &t, err);
              else
                rc = created_of (st, v[i], &t, err);
              if (rc < 0)
                break;
              /* Several values narrow: the earliest bound above, the
               * latest below.  Listing, until= is one more bound above. */
              bool *has = since                            ? &f->has_since
                          : use == PIER_IMAGE_FILTER_PRUNE ? &f->has_until
                                                           : &f->has_before;
              struct timespec *bound = since                            ? &f->since
                                       : use == PIER_IMAGE_FILTER_PRUNE ? &f->until
                                                                        : &f->before;
              if (!*has || (since ? pier_time_cmp (&t, bound) > 0 : pier_time_cmp (&t, bound) < 0))
                *bound = t;
              *has = true;
            }
        }
    }
  for (size_t k = 0; k < nkeys; k++)
    strv_free (vals[k]);
  if (rc < 0)
    {
      pier_image_filter_free (f);
      return -1;
    }
  *out = f;
  return 0;
}

/* moby's MatchKVList: every "key" or "key=value" of want is in labels. */
static bool
labels_match (char *const *want, json_t *labels)
{
  if (want == NULL)
    return true;
  if (json_object_size (labels) == 0)
    return false;
  for (size_t i = 0; want[i]; i++)
    {
      const char *eq = strchr (want[i], '=');
      cleanup_free char *key = eq ? xstrndup (want[i], (size_t) (eq - want[i])) : xstrdup (want[i]);
      const char *have = json_string_value (json_object_get (labels, key));
      if (have == NULL || (eq && strcmp (have, eq + 1) != 0))
        return false;
    }
  return true;
}

/* docker's reference.FamiliarMatch: the pattern (path.Match syntax) against
 * "busybox:1", then against "busybox". */
static bool
reference_matches (char *const *patterns, const char *full)
{
  cleanup_ref pier_ref *r = NULL;
  if (pier_ref_parse (full, &r, NULL) < 0)
    return false;
  cleanup_free char *fam = pier_ref_familiar (r);
  cleanup_free char *name = pier_ref_familiar_name (r);
  for (size_t i = 0; patterns[i]; i++)
    if (fnmatch (patterns[i], fam, FNM_PATHNAME) == 0 || fnmatch (patterns[i], name, FNM_PATHNAME) == 0)
      return true;
  return false;
}

/* Whether f selects img, and the tags to show for it. */
static int
selects (pier_store *st, const pier_image_filter *f, const pier_db_image *img, struct timespec *created,
         char ***tags, bool *keep, pier_error **err)
{
  cleanup_json json_t *labels = NULL;
  *keep = false;
  if (image_facts (st, img, created, &labels, err) < 0)
    return -1;
  for (size_t i = 0; img->tags && img->tags[i]; i++)
    if (f == NULL || f->references == NULL || reference_matches (f->references, img->tags[i]))
      strv_push (tags, img->tags[i]);
  if (f == NULL)
    {
      *keep = true;
      return 0;
    }
  bool tagged = img->tags && img->tags[0];
  /* An untagged image the build cache holds (a build step's) is not
   * dangling: `pier builder prune` owns it. */
  if (!tagged && f->use == PIER_IMAGE_FILTER_PRUNE)
    {
      int held = pier_db_cache_holds (pier_store_db (st), img->id, err);
      if (held != 0)
        return held < 0 ? -1 : 0;
    }
  /* Pruning takes only dangling images unless told dangling=false (-a). */
  int dangling = f->dangling >= 0 ? f->dangling : f->use == PIER_IMAGE_FILTER_PRUNE ? 1 : -1;
  if ((dangling == 1 && tagged) || (dangling == 0 && !tagged && f->use == PIER_IMAGE_FILTER_LIST))
    return 0;
  /* Filtering by reference, an image none of whose tags match is not listed. */
  if (f->references && *tags == NULL)
    return 0;
  if (f->has_before && pier_time_cmp (created, &f->before) >= 0)
    return 0;
  if (f->has_since && pier_time_cmp (created, &f->since) <= 0)
    return 0;
  if (f->has_until && pier_time_cmp (created, &f->until) > 0)
    return 0;
  if (!labels_match (f->labels, labels) || (f->not_labels && labels_match (f->not_labels, labels)))
    return 0;
  /* Pruning removes unused images only: none a container was made from. */
  if (f->use == PIER_IMAGE_FILTER_PRUNE)
    {
      cleanup_strv char **users = NULL;
      if (pier_db_containers_of_image (pier_store_db (st), img->id, &users, err) < 0)
        return -1;
      if (users && users[0])
        return 0;
    }
  *keep = true;
  return 0;
}

void
pier_image_summaries_free (pier_image_summary *s, size_t n)
{
  for (size_t i = 0; s && i < n; i++)
    {
      free (s[i].id);
      strv_free (s[i].tags);
    }
  free (s);
}

static int
newest_first (const void *a, const void *b)
{
  const pier_image_summary *x = a, *y = b;
  int c = pier_time_cmp (&y->created, &x->created);
  return c ? c : strcmp (x->id, y->id);
}

int
pier_image_list (pier_store *st, const pier_image_filter *f, pier_image_summary **out, size_t *n,
                 pier_error **err)
{
  pier_db_image *imgs = NULL;
  size_t count = 0, kept = 0;
  if (pier_db_list_images (pier_store_db (st), &imgs, &count, err) < 0)
    return -1;
  pier_image_summary *s = xcalloc (count + 1, sizeof *s);
  int rc = 0;
  for (size_t i = 0; rc == 0 && i < count; i++)
    {
      pier_image_summary one = { 0 };
      bool keep = false;
      rc = selects (st, f, &imgs[i], &one.created, &one.tags, &keep, err);
      if (rc < 0 || !keep)
        {
          strv_free (one.tags);
          continue;
        }
      one.id = xstrdup (imgs[i].id);
      one.size = imgs[i].size;
      if (!(imgs[i].tags && imgs[i].tags[0]))
        {
          rc = pier_db_cache_holds (pier_store_db (st), imgs[i].id, err);
          one.intermediate = rc == 1;
          rc = rc < 0 ? -1 : 0;
        }
      s[kept++] = one;
    }
  pier_db_images_free (imgs, count);
  if (rc < 0)
    {
      pier_image_summaries_free (s, kept);
      return -1;
    }
  qsort (s, kept, sizeof *s, newest_first);
  *out = s;
  *n = kept;
  return 0;
}
