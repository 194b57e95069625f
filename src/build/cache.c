/* cache.c - the build cache's size and its pruning (see cache.h). */
#include "build/cache.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "image/images.h"
#include "store/db.h"
#include "store/db_build.h"
#include "util/cleanup.h"
#include "util/xalloc.h"

#include "util/banned.h"

static bool
in (char *const *v, const char *s)
{
  for (size_t i = 0; v && v[i]; i++)
    if (strcmp (v[i], s) == 0)
      return true;
  return false;
}

/* Whether only the cache keeps image (untagged, no container). */
static int
cache_only (pier_db *db, const pier_db_image *img, pier_error **err)
{
  if (img->tags && img->tags[0])
    return 0;
  cleanup_strv char **users = NULL;
  if (pier_db_containers_of_image (db, img->id, &users, err) < 0)
    return -1;
  return users == NULL || users[0] == NULL;
}

int
pier_build_cache_usage (pier_store *st, size_t *entries, int64_t *size, pier_error **err)
{
  pier_db *db = pier_store_db (st);
  pier_db_cache_entry *es = NULL;
  size_t n = 0, n_imgs = 0;
  pier_db_image *imgs = NULL;
  cleanup_strv char **held = NULL, **kept = NULL, **counted = NULL;
  *entries = 0;
  *size = 0;
  if (pier_db_cache_list (db, &es, &n, err) < 0)
    return -1;
  for (size_t i = 0; i < n; i++)
    if (!in (held, es[i].image_id))
      strv_push (&held, es[i].image_id);
  pier_db_cache_entries_free (es, n);
  *entries = n;
  if (pier_db_list_images (db, &imgs, &n_imgs, err) < 0)
    return -1;
  int rc = 0;
  /* Layers that something besides the cache uses stay anyway. */
  for (size_t i = 0; i < n_imgs && rc == 0; i++)
    {
      int only = in (held, imgs[i].id) ? cache_only (db, &imgs[i], err) : 0;
      if (only < 0)
        rc = -1;
      else if (!only)
        for (size_t k = 0; k < imgs[i].n_layers; k++)
          strv_push (&kept, imgs[i].layers[k].chain_id);
    }
  for (size_t i = 0; i < n_imgs && rc == 0; i++)
    {
      if (!in (held, imgs[i].id))
        continue;
      for (size_t k = 0; k < imgs[i].n_layers; k++)
        {
          const char *c = imgs[i].layers[k].chain_id;
          if (in (kept, c) || in (counted, c))
            continue;
          strv_push (&counted, c);
          pier_db_layer l = { 0 };
          if (pier_db_layer_get (db, c, &l, NULL) == 0)
            *size += l.size;
          pier_db_layer_clear (&l);
        }
    }
  pier_db_images_free (imgs, n_imgs);
  return rc;
}

/* Remove one entry, and its image when nothing else holds it. */
static int
drop_entry (pier_store *st, const pier_db_cache_entry *e, pier_error **err)
{
  pier_db *db = pier_store_db (st);
  if (pier_db_cache_delete (db, e->key, err) < 0)
    return -1;
  int still = pier_db_cache_holds (db, e->image_id, err);
  if (still != 0)
    return still < 0 ? -1 : 0;
  pier_db_image *img = NULL;
  if (pier_db_get_image (db, e->image_id, &img, NULL) < 0)
    return 0;
  int only = cache_only (db, img, err);
  pier_db_image_free (img);
  if (only <= 0)
    return only;
  cleanup_strv char **report = NULL;
  return pier_image_remove (st, e->image_id, false, &report, err);
}

/* Whether only the cache holds the entry's image (a dangling entry). */
static int
entry_dangling (pier_db *db, const pier_db_cache_entry *e, pier_error **err)
{
  pier_db_image *img = NULL;
  if (pier_db_get_image (db, e->image_id, &img, NULL) < 0)
    return 1;
  int only = cache_only (db, img, err);
  pier_db_image_free (img);
  return only;
}

int
pier_build_cache_prune (pier_store *st, bool all, int64_t keep, int64_t until, size_t *removed,
                        int64_t *reclaimed, pier_error **err)
{
  pier_db *db = pier_store_db (st);
  pier_db_cache_entry *es = NULL;
  size_t n = 0, dummy = 0;
  int64_t before = 0, after = 0;
  *removed = 0;
  *reclaimed = 0;
  if (pier_build_cache_usage (st, &dummy, &before, err) < 0 || pier_db_cache_list (db, &es, &n, err) < 0)
    return -1;
  int rc = 0;
  int64_t now_size = before;
  for (size_t i = 0; i < n && rc == 0; i++)
    {
      bool old = until > 0 && es[i].last_used < until;
      bool over = keep >= 0 && now_size > keep;
      bool every = keep < 0 && until == 0;
      if (!(old || over || every))
        continue;
      if (!all)
        {
          int d = entry_dangling (db, &es[i], err);
          if (d < 0)
            {
              rc = -1;
              break;
            }
          if (d == 0)
            continue;
        }
      rc = drop_entry (st, &es[i], err);
      if (rc == 0)
        {
          (*removed)++;
          if (keep >= 0 && pier_build_cache_usage (st, &dummy, &now_size, err) < 0)
            rc = -1;
        }
    }
  pier_db_cache_entries_free (es, n);
  if (rc < 0)
    return -1;
  if (pier_build_cache_usage (st, &dummy, &after, err) < 0)
    return -1;
  *reclaimed = before - after;
  return 0;
}
