/* check.c - pier system check: is everything the store holds complete,
 * intact and referenced?  --repair removes what is not. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include "image/images.h"
#include "store/blobs.h"
#include "store/db.h"
#include "util/cleanup.h"
#include "util/digest.h"
#include "util/fs.h"
#include "util/xalloc.h"
#include "util/banned.h"

static void
say (char ***report, const char *fmt, const char *a, const char *b)
{
  char *line = xasprintf (fmt, a, b ? b : "");
  strv_push (report, line);
  free (line);
}

static bool
in_list (char **v, const char *s)
{
  for (size_t i = 0; v && v[i]; i++)
    if (strcmp (v[i], s) == 0)
      return true;
  return false;
}

/* Names in a directory (no dot entries). */
static char **
list_dir (int dirfd)
{
  char **out = xcalloc (1, sizeof (char *));
  int fd = openat (dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  DIR *d = fd >= 0 ? fdopendir (fd) : NULL;
  struct dirent *de;
  if (d == NULL)
    {
      if (fd >= 0)
        close (fd);
      return out;
    }
  while ((de = readdir (d)))
    if (strcmp (de->d_name, ".") && strcmp (de->d_name, ".."))
      strv_push (&out, de->d_name);
  closedir (d);
  return out;
}

static const char *
chain_hex (const char *chain)
{
  const char *c = strchr (chain, ':');
  return c ? c + 1 : chain;
}

/* A container whose directory another pier is moving right now: in a
 * live process's tmp/ entry named with its id (a create before its
 * rename, a removal before its delete), or in place since the list. */
static bool
moving (int cfd, char **tmp, const char *id)
{
  if (cfd >= 0 && faccessat (cfd, id, F_OK, AT_SYMLINK_NOFOLLOW) == 0)
    return true;
  size_t l = strlen (id);
  for (size_t i = 0; tmp && tmp[i]; i++)
    {
      size_t t = strlen (tmp[i]);
      if (t > l + 1 && tmp[i][t - l - 1] == '-' && strcmp (tmp[i] + t - l, id) == 0
          && pier_store_tmp_in_use (tmp[i]))
        return true;
    }
  return false;
}

static int
check_containers (pier_store *st, bool repair, char ***report, int *problems, pier_error **err)
{
  pier_db *db = pier_store_db (st);
  pier_db_container *cs = NULL;
  size_t n = 0;
  if (pier_db_container_list (db, &cs, &n, err) < 0)
    return -1;
  cleanup_close int cfd = openat (pier_store_root_fd (st), "containers", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  cleanup_strv char **dirs = cfd >= 0 ? list_dir (cfd) : xcalloc (1, sizeof (char *));
  cleanup_strv char **tmp = list_dir (pier_store_tmp_fd (st));
  for (size_t i = 0; i < n; i++)
    if (!in_list (dirs, cs[i].id) && !moving (cfd, tmp, cs[i].id))
      {
        say (report, "container %s: its directory is missing%s", cs[i].id, NULL);
        (*problems)++;
        if (repair)
          pier_db_container_delete (db, cs[i].id, NULL);
      }
  for (size_t i = 0; dirs[i]; i++)
    {
      bool known = false;
      for (size_t k = 0; k < n && !known; k++)
        known = strcmp (cs[k].id, dirs[i]) == 0;
      pier_db_container *now = NULL;
      /* Recorded since the list was read (a create that just finished). */
      if (!known && pier_db_container_get (db, dirs[i], &now, NULL) == 0)
        {
          pier_db_container_free (now);
          known = true;
        }
      if (!known)
        {
          say (report, "container directory %s: not recorded (left by an interrupted create or rm)%s",
               dirs[i], NULL);
          (*problems)++;
          if (repair && cfd >= 0)
            {
              cleanup_free char *rootfs
                  = xasprintf ("%s/containers/%s/rootfs", pier_store_root (st), dirs[i]);
              umount2 (rootfs, MNT_DETACH);
              pier_rmtree_at (cfd, dirs[i], NULL);
            }
        }
    }
  pier_db_containers_free (cs, n);
  return 0;
}

int
pier_store_check (pier_store *st, bool repair, char ***report, int *problems, pier_error **err)
{
  pier_db *db = pier_store_db (st);
  pier_db_image *imgs = NULL;
  pier_db_layer *layers = NULL;
  size_t n_imgs = 0, n_layers = 0;
  cleanup_strv char **bad_blobs = NULL;
  cleanup_strv char **referenced = NULL;
  cleanup_strv char **used_chains = NULL;
  cleanup_strv char **blob_names = NULL;
  cleanup_strv char **layer_dirs = NULL;
  cleanup_strv char **tmp_names = NULL;
  cleanup_close int layers_fd = -1;
  int rc = -1;

  *problems = 0;
  if (pier_store_lock_exclusive (st, true, err) < 0)
    return -1;
  if (pier_db_list_images (db, &imgs, &n_imgs, err) < 0
      || pier_db_layer_list (db, &layers, &n_layers, err) < 0)
    goto out;

  /* 1. every blob's content matches its name */
  blob_names = list_dir (pier_store_blobs_fd (st));
  for (size_t i = 0; blob_names[i]; i++)
    {
      cleanup_free char *digest = xasprintf ("sha256:%s", blob_names[i]);
      pier_error *e = NULL;
      if (!pier_digest_valid (digest) || pier_blob_verify (st, digest, &e) < 0)
        {
          if (e)
            say (report, "%s%s", e->msg, NULL);
          else
            say (report, "blob %s: %s", digest, "not a blob name");
          pier_error_free (&e);
          strv_push (&bad_blobs, digest);
          (*problems)++;
        }
    }

  /* 2. every image has all its parts, intact */
  for (size_t i = 0; i < n_imgs; i++)
    {
      pier_db_image *im = &imgs[i];
      const char *missing = NULL;
      cleanup_strv char **parts = NULL;
      strv_push (&parts, im->config_digest);
      if (im->manifest_digest)
        strv_push (&parts, im->manifest_digest);
      for (size_t k = 0; k < im->n_layers; k++)
        strv_push (&parts, im->layers[k].blob_digest);
      for (size_t k = 0; parts[k] && missing == NULL; k++)
        if (pier_blob_exists (st, parts[k], NULL) != 1 || in_list (bad_blobs, parts[k]))
          missing = parts[k];
      for (size_t k = 0; k < im->n_layers && missing == NULL; k++)
        {
          pier_db_layer l = { 0 };
          if (pier_db_layer_get (db, im->layers[k].chain_id, &l, NULL) < 0 || l.state != PIER_LAYER_COMPLETE)
            missing = im->layers[k].chain_id;
          pier_db_layer_clear (&l);
        }
      if (missing)
        {
          say (report, "image %s: %s is missing or damaged", im->id, missing);
          (*problems)++;
          /* Its record goes; what only it used is then orphaned and
           * collected below. */
          if (repair && pier_db_delete_image (db, im->id, NULL) == 0)
            say (report, "  repaired: image %s removed%s", im->id, NULL);
          continue;
        }
      for (size_t k = 0; parts[k]; k++)
        strv_push (&referenced, parts[k]);
      for (size_t k = 0; k < im->n_layers; k++)
        strv_push (&used_chains, im->layers[k].chain_id);
    }

  /* 3. layers: complete ones are on disk, incomplete ones and directories
   * nobody records are leftovers of an interrupted unpack */
  layers_fd = openat (pier_store_root_fd (st), "layers", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  layer_dirs = layers_fd >= 0 ? list_dir (layers_fd) : xcalloc (1, sizeof (char *));
  for (size_t i = 0; i < n_layers; i++)
    {
      const char *hex = chain_hex (layers[i].chain_id);
      bool on_disk = in_list (layer_dirs, hex);
      bool used = in_list (used_chains, layers[i].chain_id);
      if (layers[i].state != PIER_LAYER_COMPLETE || !on_disk || !used)
        {
          say (report, "layer %s: %s", layers[i].chain_id,
               layers[i].state != PIER_LAYER_COMPLETE ? "incomplete (an interrupted unpack)"
               : !on_disk                             ? "missing on disk"
                                                      : "no image uses it");
          (*problems)++;
          if (repair)
            {
              if (layers_fd >= 0)
                pier_rmtree_at (layers_fd, hex, NULL);
              pier_db_layer_delete (db, layers[i].chain_id, NULL);
            }
        }
    }
  for (size_t i = 0; layer_dirs[i]; i++)
    {
      bool known = false;
      for (size_t k = 0; k < n_layers && !known; k++)
        known = strcmp (chain_hex (layers[k].chain_id), layer_dirs[i]) == 0;
      if (!known)
        {
          say (report, "layer directory %s: not recorded (left by an interrupted unpack)%s", layer_dirs[i],
               NULL);
          (*problems)++;
          if (repair && layers_fd >= 0)
            pier_rmtree_at (layers_fd, layer_dirs[i], NULL);
        }
    }

  /* 4. blobs no image uses, and temporary files */
  for (size_t i = 0; blob_names[i]; i++)
    {
      cleanup_free char *digest = xasprintf ("sha256:%s", blob_names[i]);
      if (in_list (referenced, digest) && !in_list (bad_blobs, digest))
        continue;
      if (!in_list (bad_blobs, digest))
        {
          say (report, "blob %s: no image uses it%s", digest, NULL);
          (*problems)++;
        }
      if (repair)
        {
          if (pier_digest_valid (digest))
            pier_blob_delete (st, digest, NULL);
          else
            unlinkat (pier_store_blobs_fd (st), blob_names[i], 0);
        }
    }
  /* 5. containers: a directory for each record and a record for each
   * directory (a create interrupted between the two leaves one) */
  if (check_containers (st, repair, report, problems, err) < 0)
    goto out;

  tmp_names = list_dir (pier_store_tmp_fd (st));
  for (size_t i = 0; tmp_names[i]; i++)
    {
      /* Another pier's work in progress (a pull, a removal finishing): not
       * a problem, and not ours to remove. */
      if (pier_store_tmp_in_use (tmp_names[i]))
        continue;
      say (report, "tmp/%s: a leftover temporary file%s", tmp_names[i], NULL);
      (*problems)++;
      if (repair)
        pier_rmtree_at (pier_store_tmp_fd (st), tmp_names[i], NULL);
    }
  rc = 0;
out:
  pier_db_images_free (imgs, n_imgs);
  pier_db_layers_free (layers, n_layers);
  pier_store_unlock (st, NULL);
  return rc;
}
