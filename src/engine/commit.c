/* commit.c - a container's writable layer: what changed (diff), the
 * whole filesystem as a tar (export), and a new image from it (commit). */
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "archive/diff.h"
#include "engine/engine.h"
#include "engine/internal.h"
#include "engine/userns.h"
#include "image/images.h"
#include "image/manifest.h"
#include "store/db.h"
#include "util/cleanup.h"
#include "util/fs.h"
#include "util/json.h"
#include "util/timestamp.h"
#include "util/xalloc.h"

#include "util/banned.h"

/* The container's record, its image's layers (chain ids, bottom first)
 * and its writable layer's path. */
static int
container_layers (pier_engine *e, const char *id, json_t **rec, pier_db_image **img, char **upper,
                  pier_error **err)
{
  if (pier_engine_load (e, id, rec, NULL, err) < 0)
    return -1;
  const char *image = json_string_value (json_object_get (*rec, "Image"));
  if (pier_db_get_image (pier_store_db (e->st), image, img, err) < 0)
    {
      json_decref (*rec);
      *rec = NULL;
      return pier_error_wrap (err, "the container's image %s", image);
    }
  *upper = xasprintf ("%s/containers/%s/upper", e->root, id);
  return 0;
}

/* ---- diff ------------------------------------------------------------------- */

/* The mount points a container's start leaves in its writable layer when
 * the image lacks them: not changes of the user's (docker keeps them in
 * an init layer of its own).  sbin/docker-init is --init's. */
static const char *const start_mount_points[]
    = { "dev",     "proc",    "sys",        "etc/hostname",  "etc/hosts",   "etc/resolv.conf",
        "dev/shm", "dev/pts", "dev/mqueue", "sys/fs/cgroup", "dev/console", "sbin/docker-init",
        NULL };

static bool
in_lower (pier_engine *e, const pier_db_image *img, const char *rel)
{
  for (size_t i = img->n_layers; i > 0; i--)
    {
      cleanup_free char *p = xasprintf ("%s/layers/%s/%s", e->root, img->layers[i - 1].chain_id + 7, rel);
      struct stat st;
      if (lstat (p, &st) < 0)
        continue;
      return !(S_ISCHR (st.st_mode) && st.st_rdev == makedev (0, 0));
    }
  return false;
}

static int
cmp_path (const void *a, const void *b)
{
  return strcmp (json_string_value (json_object_get (*(json_t *const *) a, "Path")),
                 json_string_value (json_object_get (*(json_t *const *) b, "Path")));
}

static void
walk_changes (pier_engine *e, const pier_db_image *img, int dirfd, const char *rel, json_t *out)
{
  cleanup_dir DIR *d = fdopendir (dup (dirfd));
  if (d == NULL)
    return;
  struct dirent *de;
  while ((de = readdir (d)))
    {
      if (strcmp (de->d_name, ".") == 0 || strcmp (de->d_name, "..") == 0)
        continue;
      cleanup_free char *path = xasprintf ("%s/%s", rel, de->d_name);
      struct stat st;
      if (fstatat (dirfd, de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0)
        continue;
      if (!in_lower (e, img, path + 1)
          && pier_diff_is_empty_listed (dirfd, de->d_name, path + 1, start_mount_points))
        continue;
      int kind;
      if (S_ISCHR (st.st_mode) && st.st_rdev == makedev (0, 0))
        kind = 2;
      else
        kind = in_lower (e, img, path + 1) ? 0 : 1;
      json_array_append_new (out, json_pack ("{s:s, s:i}", "Path", path, "Kind", kind));
      if (S_ISDIR (st.st_mode))
        {
          cleanup_close int sub = openat (dirfd, de->d_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
          if (sub >= 0)
            walk_changes (e, img, sub, path, out);
        }
    }
}

int
pier_engine_diff (pier_engine *e, const char *id, json_t **changes, pier_error **err)
{
  cleanup_json json_t *rec = NULL;
  pier_db_image *img = NULL;
  cleanup_free char *upper = NULL;
  if (container_layers (e, id, &rec, &img, &upper, err) < 0)
    return -1;
  cleanup_close int fd = open (upper, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0)
    {
      pier_db_image_free (img);
      return pier_error_make (err, errno, "cannot open the writable layer %s", upper);
    }
  json_t *out = json_array ();
  walk_changes (e, img, fd, "", out);
  pier_db_image_free (img);
  /* Sorted by path, as docker lists them. */
  size_t n = json_array_size (out);
  json_t **v = xcalloc (n + 1, sizeof *v);
  for (size_t i = 0; i < n; i++)
    v[i] = json_incref (json_array_get (out, i));
  qsort (v, n, sizeof *v, cmp_path);
  json_array_clear (out);
  for (size_t i = 0; i < n; i++)
    json_array_append_new (out, v[i]);
  free (v);
  *changes = out;
  return 0;
}

/* ---- export ----------------------------------------------------------------- */

static int
export_sink (void *data, const void *buf, size_t len, pier_error **err)
{
  int fd = *(int *) data;
  if (pier_write_all (fd, buf, len) < 0)
    return pier_error_make (err, errno, "cannot write the export");
  return 0;
}

struct root_job
{
  pier_engine *e;
  const char *id;
  const pier_db_image *img;
  const char *upper, *target;
  bool writable;
  pid_t monitor; /* a running container's monitor, or 0 */
  json_t *hc;    /* the container's HostConfig */
  pier_engine_idmaps *ids;
  pier_engine_step_fn fn;
  void *data;
};

static int
root_child (struct root_job *j, pier_error **err)
{
  cleanup_free char *dir = xasprintf ("%s/containers/%s", j->e->root, j->id);
  cleanup_free char *live = xasprintf ("%s/rootfs", dir);
  const char *root = j->target;
  if (j->writable && j->monitor > 0)
    {
      /* A running container's root is mounted in its monitor's mount
       * namespace: write through that mount. */
      cleanup_free char *ns = xasprintf ("/proc/%d/ns/mnt", (int) j->monitor);
      cleanup_close int nsfd = open (ns, O_RDONLY | O_CLOEXEC);
      if (nsfd < 0 || setns (nsfd, CLONE_NEWNS) < 0)
        return pier_error_make (err, errno, "cannot enter the container's mount namespace");
      root = live;
    }
  else
    {
      if (unshare (CLONE_NEWNS) < 0 || mount (NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0)
        return pier_error_make (err, errno, "cannot make a private mount namespace");
      if (j->writable)
        {
          cleanup_strv char **chains = NULL;
          for (size_t i = 0; i < j->img->n_layers; i++)
            strv_push (&chains, j->img->layers[i].chain_id);
          if (pier_engine_mount_overlay (j->e->root, (const char *const *) chains, dir, false, err) < 0)
            return -1;
          root = live;
        }
      else
        {
          cleanup_strv char **chains = NULL;
          for (size_t i = 0; i < j->img->n_layers; i++)
            strv_push (&chains, j->img->layers[i].chain_id);
          if (pier_engine_mount_lowers (j->e->root, j->upper, (const char *const *) chains, j->target, err)
              < 0)
            return -1;
        }
    }
  cleanup_close int rootfd = open (root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (rootfd < 0)
    return pier_error_make (err, errno, "cannot open %s", root);
  if (root == live && pier_engine_userns_enabled (j->hc))
    {
      /* The live root of a container in a user namespace is idmapped,
       * and host root is not mapped there: write as the container root's
       * host ids, giving owners through its maps. */
      uid_t uid;
      gid_t gid;
      pier_engine_userns_root (j->hc, &uid, &gid);
      if (j->ids
          && pier_engine_userns_maps (j->hc, &j->ids->uids, &j->ids->n_uids, &j->ids->gids, &j->ids->n_gids,
                                      err)
                 < 0)
        return -1;
      pier_engine_fsids_enter (uid, gid);
    }
  return j->fn (rootfd, j->data, err);
}

/* Run j's function in a child; its error comes back through a pipe. */
static int
run_root_job (struct root_job *j, pier_error **err)
{
  if (mkdir (j->target, 0700) < 0 && errno != EEXIST)
    return pier_error_make (err, errno, "cannot create %s", j->target);
  int report[2];
  if (pipe2 (report, O_CLOEXEC) < 0)
    return pier_error_make (err, errno, "cannot make a pipe");
  pid_t child = fork ();
  if (child == 0)
    {
      pier_error *cerr = NULL;
      close (report[0]);
      prctl (PR_SET_PDEATHSIG, SIGKILL);
      if (root_child (j, &cerr) < 0)
        {
          const char *m = cerr && cerr->msg ? cerr->msg : "failed";
          if (pier_write_all (report[1], m, strlen (m)) < 0)
            _exit (2);
          _exit (1);
        }
      _exit (0);
    }
  close (report[1]);
  if (child < 0)
    {
      close (report[0]);
      rmdir (j->target);
      return pier_error_make (err, errno, "cannot fork");
    }
  cleanup_free char *msg = NULL;
  size_t len = 0;
  pier_read_fd (report[0], "the container's filesystem", &msg, &len, NULL);
  close (report[0]);
  int status = 0;
  while (waitpid (child, &status, 0) < 0 && errno == EINTR)
    ;
  rmdir (j->target);
  if (len)
    return pier_error_makex (err, EIO, "%.*s", (int) len, msg);
  if (WIFSIGNALED (status))
    return pier_error_makex (err, EIO,
                             "the process working on container %.12s's filesystem was killed by signal %d",
                             j->id, WTERMSIG (status));
  if (!WIFEXITED (status) || WEXITSTATUS (status) != 0)
    return pier_error_makex (err, EIO, "the process working on container %.12s's filesystem failed (exit %d)",
                             j->id, WEXITSTATUS (status));
  return 0;
}

int
pier_engine_with_root (pier_engine *e, const char *id, bool writable, pier_engine_step_fn fn, void *data,
                       pier_engine_idmaps *ids, pier_error **err)
{
  cleanup_json json_t *rec = NULL, *state = NULL;
  pier_db_image *img = NULL;
  cleanup_free char *upper = NULL;
  if (container_layers (e, id, &rec, &img, &upper, err) < 0)
    return -1;
  if (pier_engine_load (e, id, NULL, &state, err) < 0)
    {
      pier_db_image_free (img);
      return -1;
    }
  cleanup_free char *target = xasprintf ("%s/containers/%s/view", e->root, id);
  pid_t mon = pier_engine_monitor_alive (state)
                  ? (pid_t) json_integer_value (json_object_get (state, "MonitorPid"))
                  : 0;
  struct root_job j
      = { e, id, img, upper, target, writable, mon, json_object_get (rec, "HostConfig"), ids, fn, data };
  int r = run_root_job (&j, err);
  pier_db_image_free (img);
  return r;
}

static int
export_fn (int rootfd, void *data, pier_error **err)
{
  pier_diff_opts o = { .clamp_mtime = -1 };
  return pier_layer_diff (rootfd, &o, export_sink, data, NULL, err);
}

int
pier_engine_export (pier_engine *e, const char *id, int fd, pier_error **err)
{
  return pier_engine_with_root (e, id, false, export_fn, &fd, NULL, err);
}

/* ---- commit ----------------------------------------------------------------- */

int
pier_engine_commit (pier_engine *e, const char *id, const pier_engine_commit_opts *o, char **image_id,
                    pier_error **err)
{
  cleanup_json json_t *rec = NULL, *state = NULL, *image = NULL;
  pier_db_image *img = NULL;
  cleanup_free char *upper = NULL;
  /* A bad --change is refused before any work. */
  {
    cleanup_json json_t *probe = json_object ();
    for (size_t i = 0; o->changes && o->changes[i]; i++)
      if (pier_image_apply_change (probe, o->changes[i], err) < 0)
        return -1;
  }
  if (container_layers (e, id, &rec, &img, &upper, err) < 0)
    return -1;
  if (pier_engine_load (e, id, NULL, &state, err) < 0
      || pier_image_read_json (e->st, img->config_digest, &image, err) < 0)
    {
      pier_db_image_free (img);
      return -1;
    }
  const char *status = json_string_value (json_object_get (state, "Status"));
  bool paused = false;
  if (o->pause && status && strcmp (status, "running") == 0)
    {
      if (pier_engine_pause (e, id, true, err) < 0)
        {
          pier_db_image_free (img);
          return -1;
        }
      paused = true;
    }
  pier_new_layer nl = { 0 };
  const char *parent = img->n_layers ? img->layers[img->n_layers - 1].chain_id : NULL;
  int r = pier_image_layer_from_dir (e->st, upper, parent, -1, false, start_mount_points, &nl, err);
  if (paused)
    pier_engine_pause (e, id, false, NULL);
  if (r < 0)
    {
      pier_db_image_free (img);
      return -1;
    }

  /* The container's config is the new image's, with the changes. */
  json_t *ccfg = json_object_get (rec, "Config");
  json_t *cfg = json_object ();
  static const char *const keys[]
      = { "User",       "ExposedPorts", "Env",    "Cmd",        "Healthcheck", "Volumes", "WorkingDir",
          "Entrypoint", "OnBuild",      "Labels", "StopSignal", "Shell",       NULL };
  for (size_t i = 0; keys[i]; i++)
    {
      json_t *v = json_object_get (ccfg, keys[i]);
      if (v && !json_is_null (v))
        json_object_set (cfg, keys[i], v);
    }
  for (size_t i = 0; o->changes && o->changes[i]; i++)
    pier_image_apply_change (cfg, o->changes[i], NULL);
  json_object_set_new (image, "config", cfg);
  char now[64];
  pier_time_now_rfc3339 (now, sizeof now);
  json_object_set_new (image, "created", json_string (now));
  json_object_set_new (image, "container", json_string (id));
  if (o->author && *o->author)
    json_object_set_new (image, "author", json_string (o->author));
  json_t *rootfs = json_object_get (image, "rootfs");
  if (!json_is_object (rootfs))
    json_object_set_new (image, "rootfs", rootfs = json_pack ("{s:s, s:[]}", "type", "layers", "diff_ids"));
  if (!json_is_array (json_object_get (rootfs, "diff_ids")))
    json_object_set_new (rootfs, "diff_ids", json_array ());
  json_array_append_new (json_object_get (rootfs, "diff_ids"), json_string (nl.diff_id));
  cleanup_free char *by = xstrdup (json_string_value (json_object_get (rec, "Path")) ?: "");
  size_t i;
  json_t *a;
  json_array_foreach (json_object_get (rec, "Args"), i, a)
  {
    char *n = xasprintf ("%s %s", by, json_string_value (a));
    free (by);
    by = n;
  }
  json_t *h = json_pack ("{s:s, s:s}", "created", now, "created_by", by);
  if (o->comment && *o->comment)
    json_object_set_new (h, "comment", json_string (o->comment));
  if (o->author && *o->author)
    json_object_set_new (h, "author", json_string (o->author));
  if (!json_is_array (json_object_get (image, "history")))
    json_object_set_new (image, "history", json_array ());
  json_array_append_new (json_object_get (image, "history"), h);

  pier_db_image_layer *layers = xcalloc (img->n_layers + 1, sizeof *layers);
  memcpy (layers, img->layers, img->n_layers * sizeof *layers);
  layers[img->n_layers] = (pier_db_image_layer){ nl.diff_id, nl.chain_id, nl.blob,
                                                 (char *) PIER_MT_OCI_LAYER_GZIP, nl.blob_size };
  r = pier_image_create (e->st, image, layers, img->n_layers + 1, o->reference, image_id, err);
  if (r < 0)
    /* No image holds the new layer: it goes, and its blob. */
    pier_image_drop_unused (e->st, (const char *[]){ nl.chain_id }, 1, (const char *[]){ nl.blob }, 1);
  free (layers);
  pier_db_image_free (img);
  pier_new_layer_clear (&nl);
  return r;
}
