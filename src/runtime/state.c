#include "runtime/state.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "runtime/cgroup.h"
#include "util/cleanup.h"
#include "util/fs.h"
#include "util/json.h"
#include "util/xalloc.h"
#include "util/banned.h"

int
pier_state_check_id (const char *id, pier_error **err)
{
  if (id == NULL || *id == '\0')
    return pier_error_makex (err, EINVAL, "container id must not be empty");
  if (strcmp (id, ".") == 0 || strcmp (id, "..") == 0 || strlen (id) > 1024)
    return pier_error_makex (err, EINVAL, "invalid container id `%s`", id);
  for (const char *p = id; *p; p++)
    if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') || *p == '_'
          || *p == '+' || *p == '-' || *p == '.'))
      return pier_error_makex (err, EINVAL,
                               "invalid container id `%s`: only letters, digits and _ + - . are allowed", id);
  return 0;
}

int
pier_state_dir_create (const char *root, const char *id, int *dirfd, pier_error **err)
{
  if (mkdir (root, 0711) < 0 && errno != EEXIST)
    {
      /* Create missing parents of root too (e.g. /run/pier-runtime). */
      cleanup_free char *copy = xstrdup (root);
      for (char *p = copy + 1; *p; p++)
        if (*p == '/')
          {
            *p = '\0';
            mkdir (copy, 0755);
            *p = '/';
          }
      if (mkdir (root, 0711) < 0 && errno != EEXIST)
        return pier_error_make (err, errno, "cannot create state directory `%s`", root);
    }
  cleanup_close int rfd = open (root, O_PATH | O_DIRECTORY | O_CLOEXEC);
  if (rfd < 0)
    return pier_error_make (err, errno, "cannot open state directory `%s`", root);
  if (mkdirat (rfd, id, 0711) < 0)
    {
      if (errno == EEXIST)
        return pier_error_makex (err, EEXIST, "container `%s` already exists", id);
      return pier_error_make (err, errno, "cannot create state for `%s`", id);
    }
  int fd = openat (rfd, id, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0)
    return pier_error_make (err, errno, "cannot open state for `%s`", id);
  *dirfd = fd;
  return 0;
}

json_t *
pier_state_to_json (const pier_state *st, const char *status)
{
  json_t *j = json_object ();
  json_object_set_new (j, "ociVersion", json_string ("1.2.0"));
  json_object_set_new (j, "id", json_string (st->id));
  json_object_set_new (j, "status", json_string (status));
  if (strcmp (status, "stopped") != 0)
    json_object_set_new (j, "pid", json_integer (st->pid));
  else
    json_object_set_new (j, "pid", json_integer (0));
  json_object_set_new (j, "bundle", json_string (st->bundle ? st->bundle : ""));
  json_object_set_new (j, "rootfs", json_string (st->rootfs ? st->rootfs : ""));
  json_object_set_new (j, "created", json_string (st->created ? st->created : ""));
  json_object_set_new (j, "owner", json_string (st->owner ? st->owner : ""));
  if (st->annotations && json_object_size (st->annotations))
    json_object_set (j, "annotations", st->annotations);
  return j;
}

int
pier_state_save (const char *root, const pier_state *st, pier_error **err)
{
  cleanup_free char *dir = pier_path_join (root, st->id);
  cleanup_close int dfd = open (dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd < 0)
    return pier_error_make (err, errno, "cannot open state for `%s`", st->id);
  json_t *j = json_object ();
  json_object_set_new (j, "id", json_string (st->id));
  json_object_set_new (j, "pid", json_integer (st->pid));
  json_object_set_new (j, "startTime", json_integer ((json_int_t) st->start_time));
  json_object_set_new (j, "bundle", json_string (st->bundle ? st->bundle : ""));
  json_object_set_new (j, "rootfs", json_string (st->rootfs ? st->rootfs : ""));
  json_object_set_new (j, "created", json_string (st->created ? st->created : ""));
  json_object_set_new (j, "owner", json_string (st->owner ? st->owner : ""));
  json_object_set_new (j, "cgroupPath", json_string (st->cgroup_path ? st->cgroup_path : ""));
  json_object_set_new (j, "rootless", json_boolean (st->rootless));
  if (st->annotations)
    json_object_set (j, "annotations", st->annotations);
  if (st->config)
    json_object_set (j, "config", st->config);
  cleanup_free char *s = pier_json_dump (j, 0);
  json_decref (j);
  return pier_atomic_replace (dfd, "state.json", s, strlen (s), 0600, err);
}

void
pier_state_free (pier_state *st)
{
  if (st == NULL)
    return;
  free (st->id);
  free (st->bundle);
  free (st->rootfs);
  free (st->created);
  free (st->owner);
  free (st->cgroup_path);
  json_decref (st->annotations);
  json_decref (st->config);
  free (st);
}

int
pier_state_load (const char *root, const char *id, pier_state **out, pier_error **err)
{
  if (pier_state_check_id (id, err) < 0)
    return -1;
  cleanup_free char *dir = pier_path_join (root, id);
  cleanup_free char *path = pier_path_join (dir, "state.json");
  cleanup_json json_t *j = NULL;
  json_error_t je;
  j = json_load_file (path, 0, &je);
  if (j == NULL)
    {
      if (access (dir, F_OK) < 0)
        return pier_error_makex (err, ENOENT, "container `%s` does not exist", id);
      return pier_error_makex (
          err, EIO, "container `%s` has no valid state (still being created, or damaged): %s", id, je.text);
    }
  pier_state *st = xzalloc (sizeof *st);
  st->id = xstrdup (id);
  st->pid = (pid_t) json_integer_value (json_object_get (j, "pid"));
  st->start_time = (unsigned long long) json_integer_value (json_object_get (j, "startTime"));
  st->bundle = xstrdup (json_string_value (json_object_get (j, "bundle")));
  st->rootfs = xstrdup (json_string_value (json_object_get (j, "rootfs")));
  st->created = xstrdup (json_string_value (json_object_get (j, "created")));
  st->owner = xstrdup (json_string_value (json_object_get (j, "owner")));
  st->cgroup_path = xstrdup (json_string_value (json_object_get (j, "cgroupPath")));
  st->rootless = json_is_true (json_object_get (j, "rootless"));
  json_t *a = json_object_get (j, "annotations");
  if (json_is_object (a))
    st->annotations = json_incref (a);
  json_t *c = json_object_get (j, "config");
  if (json_is_object (c))
    st->config = json_incref (c);
  *out = st;
  return 0;
}

int
pier_state_remove (const char *root, const char *id, pier_error **err)
{
  cleanup_close int rfd = open (root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (rfd < 0)
    return pier_error_make (err, errno, "cannot open state directory `%s`", root);
  return pier_rmtree_at (rfd, id, err);
}

unsigned long long
pier_proc_start_time (pid_t pid)
{
  char path[64];
  cleanup_free char *buf = NULL;
  snprintf (path, sizeof path, "/proc/%d/stat", (int) pid);
  if (pid <= 0 || pier_read_file_at (AT_FDCWD, path, &buf, NULL, NULL) < 0)
    return 0;
  /* The command name may hold spaces and parentheses: parse after the
   * last ')'. */
  char *p = strrchr (buf, ')');
  if (p == NULL)
    return 0;
  char state = 0;
  unsigned long long start = 0;
  p += 2;
  state = *p;
  if (state == 'Z' || state == 'X')
    return 0;
  /* field 3 is state; start time is field 22 */
  int field = 3;
  while (*p && field < 22)
    {
      if (*p == ' ')
        field++;
      p++;
    }
  start = strtoull (p, NULL, 10);
  return start;
}

const char *
pier_state_status (const char *root, const pier_state *st)
{
  if (st->pid <= 0)
    return "stopped";
  unsigned long long t = pier_proc_start_time (st->pid);
  if (t == 0 || t != st->start_time)
    return "stopped";
  cleanup_free char *dir = pier_path_join (root, st->id);
  cleanup_free char *fifo = pier_path_join (dir, "exec.fifo");
  if (access (fifo, F_OK) == 0)
    return "created";
  if (st->cgroup_path && *st->cgroup_path)
    {
      pier_cgroup cg = { st->cgroup_path };
      if (pier_cgroup_is_frozen (&cg))
        return "paused";
    }
  return "running";
}

static int
cmp_str (const void *a, const void *b)
{
  return strcmp (*(char *const *) a, *(char *const *) b);
}

int
pier_state_list (const char *root, char ***ids, pier_error **err)
{
  cleanup_dir DIR *d = opendir (root);
  char **out = xcalloc (1, sizeof (char *));
  struct dirent *de;
  if (d == NULL)
    {
      if (errno == ENOENT)
        {
          *ids = out;
          return 0;
        }
      free (out);
      return pier_error_make (err, errno, "cannot read state directory `%s`", root);
    }
  while ((de = readdir (d)))
    {
      if (de->d_name[0] == '.')
        continue;
      cleanup_free char *p = xasprintf ("%s/%s/state.json", root, de->d_name);
      if (access (p, F_OK) == 0)
        strv_push (&out, de->d_name);
    }
  qsort (out, strv_len (out), sizeof (char *), cmp_str);
  *ids = out;
  return 0;
}
