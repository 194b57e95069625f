#include "runtime/rootfs.h"

#include <errno.h>
#include <sched.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "runtime/cgroup.h"
#include "util/cleanup.h"
#include "util/fs.h"
#include "util/xalloc.h"
#include "util/banned.h"

#ifndef MOUNT_ATTR_RDONLY
#define MOUNT_ATTR_RDONLY 0x00000001
#endif
#ifndef AT_RECURSIVE
#define AT_RECURSIVE 0x8000
#endif
#ifndef SYS_mount_setattr
#define SYS_mount_setattr 442
#endif
#ifndef SYS_open_tree
#define SYS_open_tree 428
#endif
#ifndef SYS_move_mount
#define SYS_move_mount 429
#endif
#ifndef SYS_fsopen
#define SYS_fsopen 430
#define SYS_fsconfig 431
#define SYS_fsmount 432
#endif
#ifndef OPEN_TREE_CLONE
#define OPEN_TREE_CLONE 1
#endif
#ifndef OPEN_TREE_CLOEXEC
#define OPEN_TREE_CLOEXEC O_CLOEXEC
#endif
#ifndef MOVE_MOUNT_F_EMPTY_PATH
#define MOVE_MOUNT_F_EMPTY_PATH 0x00000004
#define MOVE_MOUNT_T_EMPTY_PATH 0x00000040
#endif
#ifndef MOUNT_ATTR_IDMAP
#define MOUNT_ATTR_IDMAP 0x00100000
#endif
struct pier_mount_attr
{
  uint64_t attr_set, attr_clr, propagation, userns_fd;
};

#define FD_PATH(buf, fd) snprintf ((buf), sizeof (buf), "/proc/self/fd/%d", (fd))

/* Flags a remount must keep: in a user namespace the kernel refuses to
 * clear flags the mount inherited from a more privileged one. */
static unsigned long
locked_flags (const char *path)
{
  struct statvfs sv;
  unsigned long f = 0;
  if (statvfs (path, &sv) < 0)
    return 0;
  if (sv.f_flag & ST_NOSUID)
    f |= MS_NOSUID;
  if (sv.f_flag & ST_NODEV)
    f |= MS_NODEV;
  if (sv.f_flag & ST_NOEXEC)
    f |= MS_NOEXEC;
  if (sv.f_flag & ST_RDONLY)
    f |= MS_RDONLY;
  if (sv.f_flag & ST_NOATIME)
    f |= MS_NOATIME;
  if (sv.f_flag & ST_NODIRATIME)
    f |= MS_NODIRATIME;
  if (sv.f_flag & ST_RELATIME)
    f |= MS_RELATIME;
  return f;
}

static int
remount_bind (const char *path, unsigned long flags, bool userns, pier_error **err)
{
  unsigned long keep = userns ? locked_flags (path) : 0;
  /* Keep the atime flags the mount already has unless asked. */
  if (flags & (MS_NOATIME | MS_RELATIME | MS_STRICTATIME))
    keep &= ~(MS_NOATIME | MS_RELATIME | MS_STRICTATIME);
  if (mount (NULL, path, NULL, MS_BIND | MS_REMOUNT | flags | keep, NULL) < 0)
    {
      /* Retry with everything the mount has locked. */
      unsigned long all = locked_flags (path) & ~(MS_RDONLY);
      if (mount (NULL, path, NULL, MS_BIND | MS_REMOUNT | flags | all, NULL) < 0)
        return pier_error_make (err, errno, "cannot remount `%s`", path);
    }
  return 0;
}

static bool
is_dir_path (const char *p)
{
  struct stat st;
  return stat (p, &st) == 0 && S_ISDIR (st.st_mode);
}

/* Recursive copy of the directory under a tmpfs into it (tmpcopyup). */
static int
copy_tree (int from, int to, pier_error **err)
{
  DIR *d = fdopendir (dup (from));
  struct dirent *de;
  if (d == NULL)
    return pier_error_make (err, errno, "tmpcopyup: cannot read directory");
  while ((de = readdir (d)))
    {
      struct stat st;
      if (strcmp (de->d_name, ".") == 0 || strcmp (de->d_name, "..") == 0)
        continue;
      if (fstatat (from, de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0)
        continue;
      if (S_ISDIR (st.st_mode))
        {
          mkdirat (to, de->d_name, st.st_mode & 07777);
          int a = openat (from, de->d_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
          int b = openat (to, de->d_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
          int r = (a >= 0 && b >= 0) ? copy_tree (a, b, err) : 0;
          if (a >= 0)
            close (a);
          if (b >= 0)
            close (b);
          if (r < 0)
            {
              closedir (d);
              return -1;
            }
        }
      else if (S_ISLNK (st.st_mode))
        {
          char t[PATH_MAX];
          ssize_t n = readlinkat (from, de->d_name, t, sizeof t - 1);
          if (n >= 0)
            {
              t[n] = '\0';
              symlinkat (t, to, de->d_name);
            }
        }
      else if (S_ISREG (st.st_mode))
        {
          int a = openat (from, de->d_name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
          int b = openat (to, de->d_name, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, st.st_mode & 07777);
          char buf[65536];
          ssize_t n;
          while (a >= 0 && b >= 0 && (n = read (a, buf, sizeof buf)) > 0)
            pier_write_all (b, buf, (size_t) n);
          if (a >= 0)
            close (a);
          if (b >= 0)
            close (b);
        }
      else
        mknodat (to, de->d_name, st.st_mode, st.st_rdev);
      fchownat (to, de->d_name, st.st_uid, st.st_gid, AT_SYMLINK_NOFOLLOW);
    }
  closedir (d);
  return 0;
}

static int
mount_cgroup (int rootfd, const pier_mount *m, const pier_rootfs_opts *o, pier_error **err)
{
  const pier_cgroup_hier *v1;
  size_t n;
  const char *v2;
  char p[64];
  unsigned long fl = m->flags & ~MS_RDONLY;
  cleanup_close int dst = pier_mkdir_in_root (rootfd, m->destination, 0755, err);
  if (dst < 0)
    return -1;
  FD_PATH (p, dst);
  pier_cgroup_hierarchies (&v1, &n, &v2);
  if (pier_cgroup_host_mode () == PIER_CGROUP_V2)
    {
      if (o->cgroupns)
        {
          if (mount ("cgroup2", p, "cgroup2", fl, NULL) < 0)
            return pier_error_make (err, errno, "cannot mount cgroup2 on `%s`", m->destination);
        }
      else
        {
          cleanup_free char *src = pier_path_join (v2, o->cgroup_path);
          if (mount (src, p, NULL, MS_BIND | MS_REC, NULL) < 0)
            return pier_error_make (err, errno, "cannot bind the container's cgroup on `%s`", m->destination);
        }
    }
  else
    {
      if (mount ("tmpfs", p, "tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC, "mode=755") < 0)
        return pier_error_make (err, errno, "cannot mount tmpfs on `%s`", m->destination);
      cleanup_close int base = pier_open_in_root (rootfd, m->destination, O_PATH | O_DIRECTORY, 0, err);
      if (base < 0)
        return -1;
      for (size_t i = 0; i <= n; i++)
        {
          const char *opts = i < n ? v1[i].options : "unified";
          const char *name = strncmp (opts, "name=", 5) == 0 ? opts + 5 : opts;
          if (i == n && v2 == NULL)
            break;
          cleanup_free char *rel = pier_path_join (m->destination, name);
          cleanup_close int d = pier_mkdir_in_root (rootfd, rel, 0755, err);
          char dp[64];
          if (d < 0)
            return -1;
          FD_PATH (dp, d);
          int r;
          if (o->cgroupns)
            r = i < n ? mount ("cgroup", dp, "cgroup", fl, opts) : mount ("cgroup2", dp, "cgroup2", fl, NULL);
          else
            {
              cleanup_free char *src = pier_path_join (i < n ? v1[i].mountpoint : v2, o->cgroup_path);
              r = mount (src, dp, NULL, MS_BIND | MS_REC, NULL);
            }
          if (r < 0)
            return pier_error_make (err, errno, "cannot mount the %s cgroup on `%s`", name, rel);
          if (m->flags & MS_RDONLY)
            {
              cleanup_close int again = pier_open_in_root (rootfd, rel, O_PATH, 0, err);
              if (again < 0)
                return -1;
              FD_PATH (dp, again);
              if (remount_bind (dp, MS_RDONLY | fl, o->userns, err) < 0)
                return -1;
            }
          /* "cpu,cpuacct" is also reachable as "cpu" and "cpuacct". */
          if (strchr (name, ','))
            {
              cleanup_free char *copy = xstrdup (name);
              char *save = NULL;
              for (char *c = strtok_r (copy, ",", &save); c; c = strtok_r (NULL, ",", &save))
                {
                  cleanup_close int bfd = openat (base, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
                  if (bfd >= 0)
                    symlinkat (name, bfd, c);
                }
            }
        }
      if (m->flags & MS_RDONLY)
        {
          cleanup_close int again = pier_open_in_root (rootfd, m->destination, O_PATH, 0, err);
          if (again < 0)
            return -1;
          FD_PATH (p, again);
          if (remount_bind (p, MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC, o->userns, err) < 0)
            return -1;
        }
    }
  return 0;
}

static int
do_mount (const pier_spec *s, int rootfd, const pier_mount *m, const pier_rootfs_opts *o, pier_error **err)
{
  char p[64];
  cleanup_free char *src = NULL;
  bool src_dir = true;

  if (m->type && strcmp (m->type, "cgroup") == 0)
    {
      if (o->before_cgroup && o->before_cgroup (o->ctx, err) < 0)
        return -1;
      return mount_cgroup (rootfd, m, o, err);
    }
  if (m->idmap && !m->bind)
    return pier_error_makex (err, ENOTSUP, "mount `%s`: idmap is only supported on bind mounts",
                             m->destination);
  int tree = o->tree_fds ? o->tree_fds[m - s->mounts] : -1;
  if (m->bind)
    {
      src = m->source[0] == '/' ? xstrdup (m->source) : pier_path_join (s->bundle, m->source);
      struct stat st;
      if ((tree >= 0 ? fstat (tree, &st) : stat (src, &st)) < 0)
        return pier_error_make (err, errno, "mount `%s`: source `%s`", m->destination, src);
      src_dir = S_ISDIR (st.st_mode);
    }
  cleanup_close int dst = pier_ensure_in_root (rootfd, m->destination, src_dir, err);
  if (dst < 0)
    return pier_error_wrap (err, "mount `%s`", m->destination);
  FD_PATH (p, dst);

  bool tmpcopyup = false;
  for (size_t i = 0; m->options && m->options[i]; i++)
    tmpcopyup |= strcmp (m->options[i], "tmpcopyup") == 0;
  cleanup_close int under = -1;
  if (tmpcopyup)
    under = openat (dst, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);

  if (!m->bind && tree >= 0)
    {
      /* A filesystem the runtime made on the host (sysfs of a network
       * namespace this user namespace does not own). */
      if (syscall (SYS_move_mount, tree, "", dst, "", MOVE_MOUNT_F_EMPTY_PATH | MOVE_MOUNT_T_EMPTY_PATH) < 0)
        return pier_error_make (err, errno, "cannot attach %s on `%s`", m->type, m->destination);
    }
  else if (m->bind && (m->idmap || tree >= 0))
    {
      /* The runtime made the tree on the host (only there may it be
       * idmapped, or its source be reachable): move it into place. */
      if (tree < 0)
        return pier_error_makex (err, EINVAL, "mount `%s`: no idmapped tree prepared", m->destination);
      if (syscall (SYS_move_mount, tree, "", dst, "", MOVE_MOUNT_F_EMPTY_PATH | MOVE_MOUNT_T_EMPTY_PATH) < 0)
        return pier_error_make (err, errno, "cannot move the idmapped mount of `%s` to `%s`", src,
                                m->destination);
    }
  else if (m->bind)
    {
      if (mount (src, p, NULL, MS_BIND | (m->rbind ? MS_REC : 0), NULL) < 0)
        return pier_error_make (err, errno, "cannot bind `%s` on `%s`", src, m->destination);
    }
  else
    {
      const char *type = m->type;
      const char *source = m->source ? m->source : type;
      unsigned long fl = m->flags & ~MS_REMOUNT;
      if (mount (source, p, type, fl, m->data) < 0)
        {
          int e = errno;
          /* sysfs cannot be mounted without a network namespace of our own
           * (or in a user namespace): bind the host's, as runc does. */
          if (strcmp (type, "sysfs") == 0 && (e == EPERM || e == EBUSY))
            {
              if (mount ("/sys", p, NULL, MS_BIND | MS_REC, NULL) < 0)
                return pier_error_make (err, errno, "cannot mount sysfs on `%s`", m->destination);
              cleanup_close int again = pier_open_in_root (rootfd, m->destination, O_PATH, 0, err);
              if (again < 0)
                return -1;
              FD_PATH (p, again);
              return remount_bind (p, fl | MS_RDONLY, o->userns, err);
            }
          if (strcmp (type, "mqueue") == 0 && (e == EPERM || e == EBUSY))
            {
              if (mount ("/dev/mqueue", p, NULL, MS_BIND | MS_REC, NULL) < 0)
                return pier_error_make (err, errno, "cannot mount mqueue on `%s`", m->destination);
              return 0;
            }
          return pier_error_make (err, e, "cannot mount %s on `%s`", type, m->destination);
        }
    }
  /* Reopen: the fd we mounted on now sits under the new mount. */
  cleanup_close int top = pier_open_in_root (rootfd, m->destination, O_PATH, 0, err);
  if (top < 0)
    return -1;
  FD_PATH (p, top);
  if (tmpcopyup && under >= 0)
    {
      cleanup_close int to = openat (top, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
      if (to >= 0 && copy_tree (under, to, err) < 0)
        return -1;
    }
  if (m->bind)
    {
      unsigned long fl = m->flags & ~(MS_REMOUNT | MS_BIND | MS_REC);
      if (fl && remount_bind (p, fl, o->userns, err) < 0)
        return pier_error_wrap (err, "mount `%s`", m->destination);
    }
  if (m->rec_set || m->rec_clear)
    {
      struct pier_mount_attr a = { m->rec_set, m->rec_clear, 0, 0 };
      if ((m->rec_set | m->rec_clear) & 0x70)
        a.attr_clr |= 0x70; /* MOUNT_ATTR__ATIME must be cleared to change atime */
      if (syscall (SYS_mount_setattr, top, "", AT_EMPTY_PATH | AT_RECURSIVE, &a, sizeof a) < 0)
        return pier_error_make (err, errno, "cannot set recursive attributes on `%s`", m->destination);
    }
  if (m->propagation && mount (NULL, p, NULL, m->propagation, NULL) < 0)
    return pier_error_make (err, errno, "cannot set propagation of `%s`", m->destination);
  return 0;
}

static const struct
{
  const char *path;
  unsigned maj, min;
} default_devices[] = {
  { "/dev/null", 1, 3 },   { "/dev/zero", 1, 5 },    { "/dev/full", 1, 7 },
  { "/dev/random", 1, 8 }, { "/dev/urandom", 1, 9 }, { "/dev/tty", 5, 0 },
};

static int
make_device (int rootfd, const char *path, char type, unsigned maj, unsigned min, mode_t mode, uid_t uid,
             gid_t gid, bool userns, pier_error **err)
{
  cleanup_free char *dir = xstrdup (path);
  char *slash = strrchr (dir, '/');
  const char *base = slash + 1;
  *slash = '\0';
  cleanup_close int dfd = pier_mkdir_in_root (rootfd, *dir ? dir : "/", 0755, err);
  if (dfd < 0)
    return -1;
  cleanup_close int d = openat (dfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (d < 0)
    return pier_error_make (err, errno, "cannot open `%s`", dir);
  if (userns || type == 'p')
    {
      if (type == 'p')
        {
          unlinkat (d, base, 0);
          if (mkfifoat (d, base, mode & 07777) < 0 || fchmodat (d, base, mode & 07777, 0) < 0)
            return pier_error_make (err, errno, "cannot create fifo `%s`", path);
          fchownat (d, base, uid, gid, AT_SYMLINK_NOFOLLOW);
          return 0;
        }
      /* No mknod in a user namespace: bind the host's node instead. */
      int f = openat (d, base, O_CREAT | O_WRONLY | O_NOFOLLOW | O_CLOEXEC, 0600);
      if (f < 0 && errno != EEXIST)
        return pier_error_make (err, errno, "cannot create `%s`", path);
      if (f >= 0)
        close (f);
      cleanup_close int t = openat (d, base, O_PATH | O_NOFOLLOW | O_CLOEXEC);
      char p[64];
      if (t < 0)
        return pier_error_make (err, errno, "cannot open `%s`", path);
      FD_PATH (p, t);
      /* The host's node of the same path when it is the same device,
       * else udev's /dev/char or /dev/block alias. */
      char hostpath[PATH_MAX];
      struct stat hs;
      if (stat (path, &hs) == 0 && (S_ISCHR (hs.st_mode) || S_ISBLK (hs.st_mode))
          && hs.st_rdev == makedev (maj, min))
        snprintf (hostpath, sizeof hostpath, "%s", path);
      else
        snprintf (hostpath, sizeof hostpath, "/dev/%s/%u:%u", type == 'b' ? "block" : "char", maj, min);
      if (mount (hostpath, p, NULL, MS_BIND, NULL) < 0)
        return pier_error_make (err, errno, "cannot bind device `%s` (%s)", path, hostpath);
      return 0;
    }
  unlinkat (d, base, 0);
  mode_t ft = type == 'b' ? S_IFBLK : S_IFCHR;
  mode_t old = umask (0);
  int r = mknodat (d, base, ft | (mode & 07777), makedev (maj, min));
  umask (old);
  if (r < 0)
    return pier_error_make (err, errno, "cannot create device `%s`", path);
  if (fchownat (d, base, uid, gid, AT_SYMLINK_NOFOLLOW) < 0)
    return pier_error_make (err, errno, "cannot chown device `%s`", path);
  return 0;
}

static int
setup_devices (const pier_spec *s, int rootfd, const pier_rootfs_opts *o, pier_error **err)
{
  for (size_t i = 0; i < s->n_devices; i++)
    {
      const pier_device *d = &s->devices[i];
      char t = d->type == 'u' ? 'c' : d->type;
      if (make_device (rootfd, d->path, t, (unsigned) d->major, (unsigned) d->minor,
                       d->has_mode ? d->mode : 0666, d->has_uid ? d->uid : 0, d->has_gid ? d->gid : 0,
                       o->userns, err)
          < 0)
        return -1;
    }
  for (size_t k = 0; k < sizeof default_devices / sizeof default_devices[0]; k++)
    {
      bool given = false;
      for (size_t i = 0; i < s->n_devices; i++)
        given |= strcmp (s->devices[i].path, default_devices[k].path) == 0;
      if (!given
          && make_device (rootfd, default_devices[k].path, 'c', default_devices[k].maj,
                          default_devices[k].min, 0666, 0, 0, o->userns, err)
                 < 0)
        return -1;
    }
  static const char *const links[][2] = {
    { "/proc/self/fd", "/dev/fd" },
    { "/proc/self/fd/0", "/dev/stdin" },
    { "/proc/self/fd/1", "/dev/stdout" },
    { "/proc/self/fd/2", "/dev/stderr" },
  };
  cleanup_close int devfd = pier_open_in_root (rootfd, "/dev", O_RDONLY | O_DIRECTORY, 0, err);
  if (devfd < 0)
    return -1;
  for (size_t k = 0; k < 4; k++)
    if (symlinkat (links[k][0], devfd, links[k][1] + 5) < 0 && errno != EEXIST)
      return pier_error_make (err, errno, "cannot create `%s`", links[k][1]);
  /* With a devpts of our own, /dev/ptmx must be its ptmx. */
  struct stat st;
  if (fstatat (devfd, "pts/ptmx", &st, AT_SYMLINK_NOFOLLOW) == 0)
    {
      unlinkat (devfd, "ptmx", 0);
      if (symlinkat ("pts/ptmx", devfd, "ptmx") < 0)
        return pier_error_make (err, errno, "cannot create /dev/ptmx");
    }
  if (o->console_path)
    {
      int f = openat (devfd, "console", O_CREAT | O_WRONLY | O_NOFOLLOW | O_CLOEXEC, 0600);
      if (f >= 0)
        close (f);
      cleanup_close int t = openat (devfd, "console", O_PATH | O_NOFOLLOW | O_CLOEXEC);
      char p[64];
      if (t < 0)
        return pier_error_make (err, errno, "cannot create /dev/console");
      FD_PATH (p, t);
      if (mount (o->console_path, p, NULL, MS_BIND, NULL) < 0)
        return pier_error_make (err, errno, "cannot bind the console on /dev/console");
    }
  return 0;
}

int
pier_rootfs_prepare (const pier_spec *s, const pier_rootfs_opts *o, pier_error **err)
{
  /* Nothing we mount may propagate back to the host. */
  unsigned long prop = MS_SLAVE | MS_REC;
  /* rootfsPropagation itself is applied after pivot_root (an unbindable
   * / could not even be bind-mounted here). */
  if (s->rootfs_propagation_flags & MS_PRIVATE)
    prop = MS_PRIVATE | MS_REC;
  if (mount (NULL, "/", NULL, prop, NULL) < 0)
    return pier_error_make (err, errno, "cannot make / %s", "a slave mount");
  int rootfd;
  if (o->root_tree >= 0)
    {
      char p[64];
      if (syscall (SYS_move_mount, o->root_tree, "", AT_FDCWD, ".", MOVE_MOUNT_F_EMPTY_PATH) < 0)
        return pier_error_make (err, errno, "cannot attach the root filesystem `%s`", s->root_path);
      FD_PATH (p, o->root_tree);
      mount (NULL, p, NULL, MS_PRIVATE, NULL);
      rootfd = fcntl (o->root_tree, F_DUPFD_CLOEXEC, 3);
    }
  else
    {
      if (mount (s->root_path, s->root_path, NULL, MS_BIND | MS_REC, NULL) < 0)
        return pier_error_make (err, errno, "cannot bind the root filesystem `%s`", s->root_path);
      /* pivot_root needs the new root's parent to be private. */
      mount (NULL, s->root_path, NULL, MS_PRIVATE, NULL);
      rootfd = open (s->root_path, O_PATH | O_DIRECTORY | O_CLOEXEC);
    }
  if (rootfd < 0)
    return pier_error_make (err, errno, "cannot open the root filesystem `%s`", s->root_path);
  for (size_t i = 0; i < s->n_mounts; i++)
    if (do_mount (s, rootfd, &s->mounts[i], o, err) < 0)
      {
        close (rootfd);
        return -1;
      }
  bool dev_mounted = false;
  for (size_t i = 0; i < s->n_mounts; i++)
    dev_mounted |= strcmp (s->mounts[i].destination, "/dev") == 0;
  struct stat st;
  cleanup_close int devdir = pier_open_in_root (rootfd, "/dev", O_PATH | O_DIRECTORY, 0, NULL);
  if (dev_mounted || devdir >= 0 || fstatat (rootfd, "dev", &st, 0) == 0 || s->n_devices)
    {
      if (devdir < 0)
        {
          devdir = pier_mkdir_in_root (rootfd, "/dev", 0755, err);
          if (devdir < 0)
            {
              close (rootfd);
              return -1;
            }
        }
      if (setup_devices (s, rootfd, o, err) < 0)
        {
          close (rootfd);
          return -1;
        }
    }
  return rootfd;
}

int
pier_rootfs_pivot (const pier_spec *s, int rootfd, bool no_pivot, pier_error **err)
{
  (void) s;
  if (fchdir (rootfd) < 0)
    return pier_error_make (err, errno, "cannot enter the root filesystem");
  if (no_pivot)
    {
      if (mount (".", "/", NULL, MS_MOVE, NULL) < 0)
        return pier_error_make (err, errno, "cannot move the root filesystem to /");
      if (chroot (".") < 0)
        return pier_error_make (err, errno, "cannot chroot into the root filesystem");
    }
  else
    {
      if (syscall (SYS_pivot_root, ".", ".") < 0)
        return pier_error_make (err, errno, "pivot_root");
      /* The old root is stacked under the new one: make it a slave so the
       * detach does not propagate to the host, then drop it. */
      if (mount (NULL, ".", NULL, MS_SLAVE | MS_REC, NULL) < 0)
        return pier_error_make (err, errno, "cannot make the old root a slave");
      if (umount2 (".", MNT_DETACH) < 0)
        return pier_error_make (err, errno, "cannot detach the old root");
    }
  if (chdir ("/") < 0)
    return pier_error_make (err, errno, "chdir /");
  return 0;
}

int
pier_rootfs_finalize (const pier_spec *s, const pier_rootfs_opts *o, pier_error **err)
{
  for (size_t i = 0; s->readonly_paths && s->readonly_paths[i]; i++)
    {
      const char *rp = s->readonly_paths[i];
      if (access (rp, F_OK) < 0)
        continue;
      if (mount (rp, rp, NULL, MS_BIND | MS_REC, NULL) < 0)
        return pier_error_make (err, errno, "cannot bind readonly path `%s`", rp);
      if (remount_bind (rp, MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC, o->userns, err) < 0)
        return -1;
    }
  for (size_t i = 0; s->masked_paths && s->masked_paths[i]; i++)
    {
      const char *mp = s->masked_paths[i];
      if (access (mp, F_OK) < 0)
        continue;
      int r = is_dir_path (mp) ? mount ("tmpfs", mp, "tmpfs", MS_RDONLY, NULL)
                               : mount ("/dev/null", mp, NULL, MS_BIND, NULL);
      if (r < 0)
        return pier_error_make (err, errno, "cannot mask `%s`", mp);
    }
  if (s->root_readonly && remount_bind ("/", MS_RDONLY, o->userns, err) < 0)
    return pier_error_wrap (err, "cannot make the root filesystem read-only");
  if (s->rootfs_propagation_flags && mount (NULL, "/", NULL, s->rootfs_propagation_flags, NULL) < 0)
    return pier_error_make (err, errno, "cannot set rootfsPropagation `%s`", s->rootfs_propagation);
  return 0;
}

int
pier_rootfs_sysctl (const pier_spec *s, pier_error **err)
{
  const char *k;
  json_t *v;
  if (s->sysctl == NULL)
    return 0;
  json_object_foreach (s->sysctl, k, v)
  {
    cleanup_free char *path = xasprintf ("/proc/sys/%s", k);
    for (char *c = path + 10; *c; c++)
      if (*c == '.')
        *c = '/';
    const char *val = json_string_value (v);
    if (pier_write_file_at (AT_FDCWD, path, val, strlen (val), err) < 0)
      return pier_error_wrap (err, "sysctl `%s`", k);
  }
  return 0;
}

int
pier_rootfs_tree (const pier_spec *s, const pier_mount *m, int userns, pier_error **err)
{
  cleanup_free char *src = m->source[0] == '/' ? xstrdup (m->source) : pier_path_join (s->bundle, m->source);
  unsigned rec = m->rbind ? AT_RECURSIVE : 0;
  int tree = (int) syscall (SYS_open_tree, AT_FDCWD, src, OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | rec);
  if (tree < 0)
    return pier_error_make (err, errno, "mount `%s`: cannot clone `%s`", m->destination, src);
  struct pier_mount_attr a = { MOUNT_ATTR_IDMAP, 0, 0, (uint64_t) userns };
  if (userns >= 0 && syscall (SYS_mount_setattr, tree, "", AT_EMPTY_PATH | rec, &a, sizeof a) < 0)
    {
      int e = errno;
      close (tree);
      return pier_error_make (err, e, "mount `%s`: cannot idmap `%s`", m->destination, src);
    }
  return tree;
}

int
pier_rootfs_root_tree (const pier_spec *s, pier_error **err)
{
  int tree = (int) syscall (SYS_open_tree, AT_FDCWD, s->root_path,
                            OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | AT_RECURSIVE);
  if (tree < 0)
    return pier_error_make (err, errno, "cannot clone the root filesystem `%s`", s->root_path);
  return tree;
}

int
pier_rootfs_sysfs_tree (const char *netns, unsigned long flags, pier_error **err)
{
  cleanup_close int self = open ("/proc/self/ns/net", O_RDONLY | O_CLOEXEC);
  cleanup_close int target = open (netns, O_RDONLY | O_CLOEXEC);
  if (self < 0 || target < 0)
    return pier_error_make (err, errno, "cannot open the network namespace `%s`", netns);
  /* sysfs shows the network namespace of whoever opens its context. */
  if (setns (target, CLONE_NEWNET) < 0)
    return pier_error_make (err, errno, "cannot enter the network namespace `%s`", netns);
  cleanup_close int fs = (int) syscall (SYS_fsopen, "sysfs", 1 /* FSOPEN_CLOEXEC */);
  int e = errno;
  if (setns (self, CLONE_NEWNET) < 0)
    return pier_error_make (err, errno, "cannot go back to the runtime's network namespace");
  if (fs < 0)
    return pier_error_make (err, e, "cannot open a sysfs context");
  if (syscall (SYS_fsconfig, fs, 6 /* FSCONFIG_CMD_CREATE */, NULL, NULL, 0) < 0)
    return pier_error_make (err, errno, "cannot create a sysfs for `%s`", netns);
  unsigned attr = 0;
  if (flags & MS_RDONLY)
    attr |= MOUNT_ATTR_RDONLY;
  if (flags & MS_NOSUID)
    attr |= 0x2; /* MOUNT_ATTR_NOSUID */
  if (flags & MS_NODEV)
    attr |= 0x4; /* MOUNT_ATTR_NODEV */
  if (flags & MS_NOEXEC)
    attr |= 0x8; /* MOUNT_ATTR_NOEXEC */
  int mnt = (int) syscall (SYS_fsmount, fs, 1 /* FSMOUNT_CLOEXEC */, attr);
  if (mnt < 0)
    return pier_error_make (err, errno, "cannot mount a sysfs for `%s`", netns);
  return mnt;
}
