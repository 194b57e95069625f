/* rootfs.h - the container's mount namespace: mounts, devices, pivot_root.
 *
 * Runs in the container's init, inside its new mount namespace.  Every
 * destination is resolved inside the root with openat2(RESOLVE_IN_ROOT)
 * and mounted through its fd, so a symlink planted in the image can never
 * redirect a mount to the host (CVE-2021-30465).
 */
#ifndef PIER_RUNTIME_ROOTFS_H
#define PIER_RUNTIME_ROOTFS_H

#include <stdbool.h>

#include "runtime/spec.h"
#include "util/error.h"

typedef struct pier_rootfs_opts
{
  bool userns;   /* in a new user namespace: no mknod, locked flags */
  bool cgroupns; /* a new cgroup namespace */
  const char *cgroup_path;
  const char *console_path; /* pty slave to bind on /dev/console, or NULL */
  /* Called once, before the first cgroup mount (the init may still be on
   * its way into its cgroup while the other mounts are made). */
  int (*before_cgroup) (void *ctx, pier_error **err);
  /* For each mount (by index), the tree the runtime prepared on the host
   * (a detached mount from pier_rootfs_tree: idmapped, or any bind in a
   * new user namespace), or -1; NULL when there is none. */
  const int *tree_fds;
  /* In a new user namespace: the root, cloned on the host
   * (pier_rootfs_root_tree), to attach on our working directory (the
   * root's path, entered before the user namespace); else -1. */
  int root_tree;
  void *ctx;
} pier_rootfs_opts;

/* Before pivot_root.  Returns an O_PATH fd of the new root. */
int pier_rootfs_prepare (const pier_spec *s, const pier_rootfs_opts *o, pier_error **err);
/* Switch to the new root (pivot_root, or MS_MOVE+chroot when no_pivot). */
int pier_rootfs_pivot (const pier_spec *s, int rootfd, bool no_pivot, pier_error **err);
/* After pivot: readonly and masked paths, readonly root, propagation. */
int pier_rootfs_finalize (const pier_spec *s, const pier_rootfs_opts *o, pier_error **err);
/* Write linux.sysctl under /proc/sys (inside the container). */
int pier_rootfs_sysctl (const pier_spec *s, pier_error **err);

/* In the runtime's own namespaces: clone m's source as a detached tree
 * and, with userns (not -1), idmap it with that user namespace.  Returns
 * the tree's fd.  A container in a new user namespace gets its binds so:
 * its root cannot be trusted to reach their paths (a 0700 directory on the
 * way), the runtime can. */
int pier_rootfs_tree (const pier_spec *s, const pier_mount *m, int userns, pier_error **err);

/* A detached sysfs of the network namespace netns (with flags' ro,
 * nosuid, nodev, noexec): a new user namespace cannot mount the sysfs of
 * a network namespace it does not own, the runtime can. */
int pier_rootfs_sysfs_tree (const char *netns, unsigned long flags, pier_error **err);

/* The same for the root filesystem (recursively). */
int pier_rootfs_root_tree (const pier_spec *s, pier_error **err);

#endif
