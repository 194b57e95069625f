#include "runtime/container.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "runtime/caps.h"
#include "runtime/cgroup.h"
#include "runtime/hooks.h"
#include "runtime/process.h"
#include "runtime/rootfs.h"
#include "runtime/seccomp.h"
#include "runtime/sync.h"
#include "util/cleanup.h"
#include "util/nschild.h"
#include "util/fs.h"
#include "util/json.h"
#include "util/log.h"
#include "util/timestamp.h"
#include "util/xalloc.h"
#include "util/banned.h"

#ifndef CLONE_NEWTIME
#define CLONE_NEWTIME 0x00000080
#endif
#define CLONE_INTO_CGROUP_FLAG 0x200000000ULL
#ifndef SYS_clone3
#define SYS_clone3 435
#endif

static char *
state_json_text (const char *id, const char *status, pid_t pid, const char *bundle, json_t *annotations)
{
  json_t *j = json_object ();
  json_object_set_new (j, "ociVersion", json_string ("1.2.0"));
  json_object_set_new (j, "id", json_string (id));
  json_object_set_new (j, "status", json_string (status));
  json_object_set_new (j, "pid", json_integer (pid));
  json_object_set_new (j, "bundle", json_string (bundle));
  json_object_set (j, "annotations", annotations ? annotations : json_object ());
  if (annotations == NULL)
    json_decref (json_object_get (j, "annotations"));
  char *s = pier_json_dump (j, 0);
  json_decref (j);
  return s;
}

static int
write_idmap (pid_t pid, const char *file, const pier_idmap *m, size_t n, pier_error **err)
{
  char buf[8192];
  size_t len = 0;
  for (size_t i = 0; i < n && len < sizeof buf - 64; i++)
    len += (size_t) snprintf (buf + len, sizeof buf - len, "%u %u %u\n", m[i].container_id, m[i].host_id,
                              m[i].size);
  cleanup_free char *path = xasprintf ("/proc/%d/%s", (int) pid, file);
  if (pier_write_file_at (AT_FDCWD, path, buf, len, NULL) == 0)
    return 0;
  int e = errno;
  /* Unprivileged: the setuid helpers may map what we cannot. */
  const char *helper = strcmp (file, "uid_map") == 0 ? "newuidmap" : "newgidmap";
  pid_t h = fork ();
  if (h == 0)
    {
      char **argv = xcalloc (3 * n + 3, sizeof (char *));
      size_t k = 0;
      argv[k++] = (char *) helper;
      argv[k++] = xasprintf ("%d", (int) pid);
      for (size_t i = 0; i < n; i++)
        {
          argv[k++] = xasprintf ("%u", m[i].container_id);
          argv[k++] = xasprintf ("%u", m[i].host_id);
          argv[k++] = xasprintf ("%u", m[i].size);
        }
      execvp (helper, argv);
      _exit (127);
    }
  int st = 0;
  if (h > 0 && waitpid (h, &st, 0) == h && WIFEXITED (st) && WEXITSTATUS (st) == 0)
    return 0;
  return pier_error_make (err, e, "cannot write %s of the container's user namespace", file);
}

bool
pier_ns_owned_by (int nsfd, int userns_fd)
{
  if (userns_fd < 0)
    return false;
  /* NS_GET_USERNS: an fd of the user namespace owning nsfd. */
  int owner = ioctl (nsfd, _IO (0xb7, 0x1));
  if (owner < 0)
    return true;
  struct stat a, b;
  bool same
      = fstat (owner, &a) == 0 && fstat (userns_fd, &b) == 0 && a.st_dev == b.st_dev && a.st_ino == b.st_ino;
  close (owner);
  return same;
}

/* Joined namespaces that the container's user namespace (joined, or
 * about to be made: userns_fd -1) does not own are joined first: once in
 * that user namespace we have no privilege over them (a network
 * namespace the engine made and plugged into a bridge, say). */
static int
join_foreign_ns (int nsfds[PIER_NS_COUNT], char *const *paths, pier_error **err)
{
  for (int t = 0; t < PIER_NS_COUNT; t++)
    {
      if (t == PIER_NS_USER || nsfds[t] < 0 || pier_ns_owned_by (nsfds[t], nsfds[PIER_NS_USER]))
        continue;
      if (setns (nsfds[t], pier_ns_table[t].flag) < 0)
        return pier_error_make (err, errno, "cannot join the %s namespace `%s`", pier_ns_table[t].oci_name,
                                paths && paths[t] ? paths[t] : "?");
      close (nsfds[t]);
      nsfds[t] = -1;
    }
  return 0;
}

static uid_t
host_uid_of_root (const pier_spec *s, bool gid)
{
  const pier_idmap *m = gid ? s->gid_mappings : s->uid_mappings;
  size_t n = gid ? s->n_gid_mappings : s->n_uid_mappings;
  if (!s->ns_wanted[PIER_NS_USER])
    return 0;
  for (size_t i = 0; i < n; i++)
    if (m[i].container_id == 0)
      return m[i].host_id;
  return 0;
}

static int
make_userns (void *ctx)
{
  (void) ctx;
  return unshare (CLONE_NEWUSER);
}

int
pier_userns_open (const pier_idmap *uids, size_t n_uids, const pier_idmap *gids, size_t n_gids,
                  pier_error **err)
{
  /* A child makes the user namespace and waits; we write its maps, keep
   * an fd of its namespace and let it go. */
  pier_nschild c;
  if (pier_nschild_start (&c, make_userns, NULL, "a user namespace", err) < 0)
    return -1;
  int fd = -1;
  if (write_idmap (c.pid, "uid_map", uids, n_uids, err) == 0
      && write_idmap (c.pid, "gid_map", gids, n_gids, err) == 0)
    fd = pier_nschild_open (&c, "user", err);
  pier_nschild_end (&c);
  return fd;
}

/* The user namespace of an idmapped mount (its uidMappings/gidMappings). */
static int
make_userns_fd (const pier_mount *m, pier_error **err)
{
  int fd = pier_userns_open (m->uid_mappings, m->n_uid_mappings, m->gid_mappings, m->n_gid_mappings, err);
  if (fd < 0)
    pier_error_wrap (err, "mount `%s`: its idmap", m->destination);
  return fd;
}

/* ---- the container's init (runs in every namespace) ------------------- */

struct init_args
{
  const pier_spec *spec;
  const pier_create_opts *o;
  pier_seccomp *seccomp;
  int sync;
  int statedir;
  int console;
  const char *cgroup_path;
  bool in_cgroup;
  const int *tree_fds;
  int root_tree; /* pier_rootfs_root_tree, or -1 */
  int listener;
  const pier_cgroup_join *join; /* how the init joins its cgroup, or NULL */
};

static int
write_oom_score (int adj, pier_error **err)
{
  char b[16];
  int n = snprintf (b, sizeof b, "%d", adj);
  if (pier_write_file_at (AT_FDCWD, "/proc/self/oom_score_adj", b, (size_t) n, err) < 0)
    return pier_error_wrap (err, "cannot set oomScoreAdj %d (lowering it needs CAP_SYS_RESOURCE)", adj);
  return 0;
}

/* The runtime moves the init into its cgroup while the init makes its
 * mounts (a cgroup migration waits for an RCU grace period: milliseconds).
 * The init waits for it before anything that depends on the cgroup: the
 * cgroup namespace, a cgroup mount, the hooks. */
static int
init_wait_cgroup (void *ctx, pier_error **err)
{
  struct init_args *a = ctx;
  pier_sync_msg m;
  if (a->in_cgroup)
    return 0;
  if (pier_sync_expect (a->sync, PIER_SYNC_CGROUP, &m, err) < 0)
    return -1;
  a->in_cgroup = true;
  if (a->spec->ns_wanted[PIER_NS_CGROUP] && !a->spec->ns_path[PIER_NS_CGROUP]
      && unshare (CLONE_NEWCGROUP) < 0)
    return pier_error_make (err, errno, "cannot create a cgroup namespace");
  return 0;
}

static int
init_setup (struct init_args *a, char **exe, char **state_json, pier_error **err)
{
  const pier_spec *s = a->spec;
  pier_rootfs_opts ro = { 0 };
  pier_sync_msg m;

  ro.userns = s->ns_wanted[PIER_NS_USER];
  ro.cgroupns = s->ns_wanted[PIER_NS_CGROUP] && !s->ns_path[PIER_NS_CGROUP];
  ro.cgroup_path = a->cgroup_path;
  ro.tree_fds = a->tree_fds;
  ro.root_tree = a->root_tree;

  if (s->process && s->process->has_oom_score_adj && write_oom_score (s->process->oom_score_adj, err) < 0)
    return -1;
  if (!a->o->no_new_keyring)
    {
      /* A fresh session keyring, so containers never share the host's. */
      syscall (SYS_keyctl, 1 /* KEYCTL_JOIN_SESSION_KEYRING */, NULL);
    }
  ro.before_cgroup = init_wait_cgroup;
  ro.ctx = a;
  /* The seccomp listener lives on the host: connect while we still see
   * it. */
  if (a->seccomp && pier_seccomp_listener (a->seccomp))
    {
      a->listener = pier_unix_connect (pier_seccomp_listener (a->seccomp), "seccomp listener", err);
      if (a->listener < 0)
        return -1;
    }
  int rootfd = pier_rootfs_prepare (s, &ro, err);
  if (rootfd < 0)
    return -1;
  if (init_wait_cgroup (a, err) < 0)
    {
      close (rootfd);
      return -1;
    }
  /* prestart and createRuntime hooks run in the runtime's namespace. */
  if (pier_sync_send (a->sync, PIER_SYNC_HOOKS, 0, NULL, err) < 0
      || pier_sync_expect (a->sync, PIER_SYNC_GO, &m, err) < 0)
    {
      close (rootfd);
      return -1;
    }
  *state_json = xstrdup (m.text);
  if (pier_hooks_run (s->hooks[PIER_HOOK_CREATE_CONTAINER], s->n_hooks[PIER_HOOK_CREATE_CONTAINER],
                      "createContainer", *state_json, err)
      < 0)
    {
      close (rootfd);
      return -1;
    }
  int r = pier_rootfs_pivot (s, rootfd, a->o->no_pivot, err);
  close (rootfd);
  if (r < 0)
    return -1;
  if (s->process && s->process->terminal
      && pier_process_setup_terminal (s->process, a->console, true, err) < 0)
    return -1;
  if (a->console >= 0)
    {
      close (a->console);
      a->console = -1;
    }
  /* As runc: a missing working directory is created (before the root
   * may turn read-only). */
  if (s->process && s->process->cwd && strcmp (s->process->cwd, "/") != 0)
    {
      cleanup_close int top = open ("/", O_PATH | O_DIRECTORY | O_CLOEXEC);
      cleanup_close int cwd = top >= 0 ? pier_mkdir_in_root (top, s->process->cwd, 0755, err) : -1;
      if (cwd < 0)
        return top < 0 ? pier_error_make (err, errno, "open /") : pier_error_wrap (err, "process.cwd");
    }
  /* sysctls go in before /proc/sys becomes read-only. */
  if (pier_rootfs_sysctl (s, err) < 0 || pier_rootfs_finalize (s, &ro, err) < 0)
    return -1;
  if (s->hostname && sethostname (s->hostname, strlen (s->hostname)) < 0)
    return pier_error_make (err, errno, "cannot set hostname `%s`", s->hostname);
  if (s->domainname && setdomainname (s->domainname, strlen (s->domainname)) < 0)
    return pier_error_make (err, errno, "cannot set domainname `%s`", s->domainname);
  if (s->process && pier_process_find (s->process, exe, err) < 0)
    return -1;
  return 0;
}

static void __attribute__ ((noreturn)) init_main (struct init_args *a)
{
  pier_error *err = NULL;
  cleanup_free char *exe = NULL;
  cleanup_free char *state_json = NULL;
  const pier_spec *s = a->spec;

  if (init_setup (a, &exe, &state_json, &err) < 0)
    goto fail;
  if (pier_sync_send (a->sync, PIER_SYNC_READY, 0, NULL, &err) < 0)
    _exit (1);
  /* Wait for the runtime to record us before anything else. */
  pier_sync_msg m;
  if (pier_sync_expect (a->sync, PIER_SYNC_GO, &m, &err) < 0)
    _exit (1);
  close (a->sync);

  /* Block until `start` opens the fifo for reading. */
  int fifo = openat (a->statedir, "exec.fifo", O_WRONLY | O_CLOEXEC);
  close (a->statedir);
  if (fifo < 0)
    _exit (1);
  if (s->process == NULL)
    {
      pier_write_all (fifo, "Econfig.json has no process to start", 37);
      _exit (1);
    }
  if (pier_hooks_run (s->hooks[PIER_HOOK_START_CONTAINER], s->n_hooks[PIER_HOOK_START_CONTAINER],
                      "startContainer", state_json, &err)
      < 0)
    {
      cleanup_free char *msg = xasprintf ("E%s", err->msg);
      pier_write_all (fifo, msg, strlen (msg));
      _exit (1);
    }
  /* "0" releases `start`; the fifo stays open (close-on-exec) so that
   * `start` returns once the user's program runs, or reads why not. */
  pier_write_all (fifo, "0", 1);
  json_error_t je;
  json_t *sj = json_loads (state_json, 0, &je);
  pid_t host_pid = sj ? (pid_t) json_integer_value (json_object_get (sj, "pid")) : 0;
  json_decref (sj);
  pier_exec_opts eo = { s, a->seccomp, true, a->o->preserve_fds, state_json, a->listener, host_pid };
  pier_process_exec (s->process, exe, &eo, &err);
  {
    cleanup_free char *msg = xasprintf ("E%s", err ? err->msg : "exec failed");
    pier_write_all (fifo, msg, strlen (msg));
  }
  /* exec failed: the only one left to tell is the container's stderr. */
  dprintf (2, "pier-runtime: %s\n", err ? err->msg : "exec failed");
  _exit (127);
fail:
  pier_sync_send (a->sync, PIER_SYNC_ERROR, err ? err->code : EIO, err ? err->msg : "init failed", NULL);
  _exit (1);
}

/* ---- the intermediate child: enters or creates namespaces ------------- */

static void __attribute__ ((noreturn)) stage1_main (struct init_args *a, int nsfds[PIER_NS_COUNT])
{
  pier_error *err = NULL;
  const pier_spec *s = a->spec;
  pier_sync_msg m;
  int flags = 0;

  /* Into the v1 cgroups first, by ourselves (no wait for the kernel's
   * global lock): the init is born in them. */
  bool in_v1 = a->join && pier_cgroup_join_self_v1 (a->join);
  if (s->ns_wanted[PIER_NS_USER] && join_foreign_ns (nsfds, s->ns_path, &err) < 0)
    goto fail;
  /* The init attaches the root's clone on its working directory: the
   * root's path, which its root may not be allowed to walk. */
  if (a->root_tree >= 0 && chdir (s->root_path) < 0)
    {
      pier_error_make (&err, errno, "cannot enter the root filesystem `%s`", s->root_path);
      goto fail;
    }
  if (nsfds[PIER_NS_USER] >= 0 && setns (nsfds[PIER_NS_USER], CLONE_NEWUSER) < 0)
    {
      pier_error_make (&err, errno, "cannot join the user namespace `%s`", s->ns_path[PIER_NS_USER]);
      goto fail;
    }
  bool new_user = s->ns_wanted[PIER_NS_USER] && nsfds[PIER_NS_USER] < 0;
  if (new_user && unshare (CLONE_NEWUSER) < 0)
    {
      pier_error_make (&err, errno, "cannot create a user namespace");
      goto fail;
    }
  if (pier_sync_send (a->sync, PIER_SYNC_USERNS, new_user, NULL, &err) < 0
      || pier_sync_expect (a->sync, PIER_SYNC_GO, &m, &err) < 0)
    goto fail;
  if (s->ns_wanted[PIER_NS_USER])
    {
      if (setresgid (0, 0, 0) < 0 || setresuid (0, 0, 0) < 0)
        {
          pier_error_make (&err, errno, "cannot become root in the user namespace (is uid/gid 0 mapped?)");
          goto fail;
        }
    }
  for (int t = 0; t < PIER_NS_COUNT; t++)
    {
      if (t == PIER_NS_USER || nsfds[t] < 0)
        continue;
      if (setns (nsfds[t], pier_ns_table[t].flag) < 0)
        {
          pier_error_make (&err, errno, "cannot join the %s namespace `%s`", pier_ns_table[t].oci_name,
                           s->ns_path[t]);
          goto fail;
        }
    }
  for (int t = 0; t < PIER_NS_COUNT; t++)
    if (t != PIER_NS_USER && t != PIER_NS_CGROUP && s->ns_wanted[t] && !s->ns_path[t])
      flags |= pier_ns_table[t].flag;
  if (flags && unshare (flags) < 0)
    {
      pier_error_make (&err, errno, "cannot create namespaces (flags 0x%x)", flags);
      goto fail;
    }
  if (s->has_time_offsets)
    {
      char buf[128];
      int n = snprintf (buf, sizeof buf, "monotonic %lld %lld\nboottime %lld %lld\n",
                        (long long) s->monotonic_secs, (long long) s->monotonic_nsecs,
                        (long long) s->boottime_secs, (long long) s->boottime_nsecs);
      if (pier_write_file_at (AT_FDCWD, "/proc/self/timens_offsets", buf, (size_t) n, &err) < 0)
        goto fail;
    }
  for (int t = 0; t < PIER_NS_COUNT; t++)
    if (nsfds[t] >= 0)
      close (nsfds[t]);
  /* CLONE_PARENT: the init is the runtime's child, not ours, so `run`
   * can wait for it and `create` hands it to the caller's subreaper. */
  /* The init waits on `hold` until its pid reached the runtime, so the
   * runtime always sees PID before anything the init says. */
  int hold[2];
  if (pipe2 (hold, O_CLOEXEC) < 0)
    {
      pier_error_make (&err, errno, "pipe");
      goto fail;
    }
  /* The init is born in its v2 cgroup (CLONE_INTO_CGROUP): no
   * migration, so no wait for an RCU grace period.  Anything that refuses
   * it (an older kernel, a user namespace without write access to the
   * cgroup) falls back to a migration by the runtime, as does a failed
   * move into the v1 cgroups. */
  pid_t g = -1;
  bool in_v2 = false;
  if (a->join && a->join->v2 >= 0)
    {
      struct clone_args_v2
      {
        uint64_t flags, pidfd, child_tid, parent_tid, exit_signal, stack, stack_size, tls, set_tid,
            set_tid_size, cgroup;
      } ca = { 0 };
      ca.flags = CLONE_PARENT | CLONE_INTO_CGROUP_FLAG;
      ca.cgroup = (uint64_t) a->join->v2;
      g = (pid_t) syscall (SYS_clone3, &ca, sizeof ca);
      in_v2 = g >= 0;
    }
  if (g < 0)
    g = (pid_t) syscall (SYS_clone, CLONE_PARENT | SIGCHLD, 0, NULL, NULL, 0);
  if (g < 0)
    {
      pier_error_make (&err, errno, "cannot start the container init");
      goto fail;
    }
  if (g == 0)
    {
      char b;
      close (hold[1]);
      if (TEMP_FAILURE_RETRY_INT (read (hold[0], &b, 1)) != 1)
        _exit (1);
      close (hold[0]);
      init_main (a);
    }
  close (hold[0]);
  pier_sync_send (a->sync, PIER_SYNC_PID, g,
                  in_v1 ? (in_v2 ? "in-v1 in-v2" : "in-v1") : (in_v2 ? "in-v2" : ""), NULL);
  pier_write_all (hold[1], "1", 1);
  _exit (0);
fail:
  pier_sync_send (a->sync, PIER_SYNC_ERROR, err ? err->code : EIO, err ? err->msg : "failed", NULL);
  _exit (1);
}

/* ---- create ----------------------------------------------------------- */

/* A sysfs of a network namespace the container joins and its user
 * namespace does not own: it could not mount that sysfs itself. */
static bool
is_foreign_sysfs (const pier_spec *s, const int nsfds[PIER_NS_COUNT], size_t i)
{
  return nsfds[PIER_NS_NET] >= 0 && !pier_ns_owned_by (nsfds[PIER_NS_NET], nsfds[PIER_NS_USER])
         && s->mounts[i].type && strcmp (s->mounts[i].type, "sysfs") == 0;
}

/* As runc: an LSM label for an LSM the host does not run cannot apply.
 * Say so rather than drop it silently. */
static void
warn_unenforced_lsm (const pier_spec *s)
{
  bool apparmor = pier_apparmor_enabled (), selinux = pier_selinux_enabled ();
  if (s->process && s->process->apparmor_profile && !apparmor)
    pier_warn ("process.apparmorProfile `%s` is not applied: AppArmor is not enabled on this host",
               s->process->apparmor_profile);
  if (s->process && s->process->selinux_label && !selinux)
    pier_warn ("process.selinuxLabel `%s` is not applied: SELinux is not enabled on this host",
               s->process->selinux_label);
  if (s->mount_label && !selinux)
    pier_warn ("linux.mountLabel `%s` is not applied: SELinux is not enabled on this host", s->mount_label);
}

/* True when linux.resources asks for nothing but device rules (which an
 * unprivileged user cannot apply, and which its user namespace enforces
 * anyway). */
static bool
resources_empty (json_t *r)
{
  const char *k;
  json_t *v;
  if (r == NULL)
    return true;
  json_object_foreach (r, k, v) if (strcmp (k, "devices") != 0 && !json_is_null (v)
                                    && !(json_is_object (v) && json_object_size (v) == 0)) return false;
  return true;
}

/* The name of uid from /etc/passwd (no NSS: pier-runtime links
 * statically), or the number. */
static char *
user_name (uid_t uid)
{
  cleanup_fclose FILE *f = fopen ("/etc/passwd", "re");
  cleanup_free char *line = NULL;
  size_t cap = 0;
  while (f && getline (&line, &cap, f) > 0)
    {
      char *name = line, *c1 = strchr (line, ':');
      char *c2 = c1 ? strchr (c1 + 1, ':') : NULL;
      if (c2 && strtoul (c2 + 1, NULL, 10) == uid && c2[1] >= '0' && c2[1] <= '9')
        {
          *c1 = '\0';
          return xstrdup (name);
        }
    }
  return xasprintf ("%u", (unsigned) uid);
}

static pid_t
reap_or_kill (pid_t pid)
{
  if (pid > 0)
    {
      kill (pid, SIGKILL);
      waitpid (pid, NULL, 0);
    }
  return -1;
}

int
pier_container_create (const char *id, const pier_create_opts *o, pid_t *out_pid, pier_error **err)
{
  pier_spec *s = NULL;
  pier_resources *res = NULL;
  pier_seccomp *sc = NULL;
  pier_cgroup *cg = NULL;
  cleanup_free char *cgpath = NULL;
  cleanup_free char *state_text = NULL;
  cleanup_free char *owner = NULL;
  int *tree_fds = NULL;
  int root_tree = -1;
  int peer = -1; /* our end of the stand-in console socket */
  pier_cgroup_join join = { -1, NULL, 0 };
  int statedir = -1, sp[2] = { -1, -1 }, console = o->console_fd;
  int nsfds[PIER_NS_COUNT];
  pid_t c = -1, g = -1;
  bool state_made = false;
  int rc = -1;
  pier_sync_msg m;

  for (int t = 0; t < PIER_NS_COUNT; t++)
    nsfds[t] = -1;
  if (pier_state_check_id (id, err) < 0)
    return -1;
  if (pier_spec_load (o->bundle, &s, err) < 0)
    return -1;
  if (!s->ns_wanted[PIER_NS_MNT])
    {
      pier_error_makex (err, EINVAL, "config.json: a mount namespace is required");
      goto out;
    }
  if (o->own_console)
    *o->own_console = -1;
  if (s->process && s->process->terminal && o->console_socket == NULL && console < 0)
    {
      int pair[2];
      if (o->own_console == NULL)
        {
          pier_error_makex (err, EINVAL, "process.terminal is set: --console-socket is required");
          goto out;
        }
      if (socketpair (AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, pair) < 0)
        {
          pier_error_make (err, errno, "socketpair");
          goto out;
        }
      console = pair[1];
      peer = pair[0];
    }
  if (s->process && !s->process->terminal && o->console_socket)
    {
      pier_error_makex (err, EINVAL, "--console-socket given but process.terminal is false");
      goto out;
    }
  if (s->process)
    pier_caps_clamp_to_host (s->process);
  warn_unenforced_lsm (s);
  if (pier_resources_parse (s->resources, &res, err) < 0)
    goto out;
  if (s->seccomp && pier_seccomp_compile_cached (s->seccomp, o->seccomp_cache, &sc, err) < 0)
    goto out;
  if (pier_cgroup_path_for (s->cgroups_path, id, &cgpath, err) < 0)
    goto out;
  for (int t = 0; t < PIER_NS_COUNT; t++)
    if (s->ns_path[t])
      {
        nsfds[t] = open (s->ns_path[t], O_RDONLY | O_CLOEXEC);
        if (nsfds[t] < 0)
          {
            pier_error_make (err, errno, "cannot open %s namespace `%s`", pier_ns_table[t].oci_name,
                             s->ns_path[t]);
            goto out;
          }
      }
  if (pier_state_dir_create (o->root, id, &statedir, err) < 0)
    goto out;
  state_made = true;
  if (mkfifoat (statedir, "exec.fifo", 0600) < 0)
    {
      pier_error_make (err, errno, "cannot create exec.fifo");
      goto out;
    }
  if (fchownat (statedir, "exec.fifo", host_uid_of_root (s, false), host_uid_of_root (s, true), 0) < 0)
    {
      pier_error_make (err, errno, "cannot chown exec.fifo");
      goto out;
    }
  pier_debug ("create %s: config loaded", id);
  if (pier_cgroup_create (cgpath, res, &cg, err) < 0)
    {
      /* Unprivileged without a delegated cgroup: as runc, run without one
       * when the config asks for no limits; otherwise say why. */
      int code = err && *err ? (*err)->code : 0;
      if (geteuid () == 0 || !(code == EACCES || code == EPERM || code == EROFS))
        goto out;
      if (!resources_empty (s->resources))
        {
          pier_error_wrap (err, "rootless: cannot apply linux.resources (no delegated cgroup)");
          goto out;
        }
      pier_error_free (err);
      pier_debug ("rootless: running without a cgroup of its own (no delegated cgroup)");
    }
  if (o->console_socket && console < 0)
    {
      console = pier_console_connect (o->console_socket, err);
      if (console < 0)
        goto out;
    }
  pier_debug ("create %s: cgroup %s ready", id, cgpath);
  /* A user namespace's root cannot be trusted to reach the root and
   * the bind sources (a 0700 directory on the way): as root we clone them
   * here, and the init attaches the clones. */
  bool own_userns = s->ns_wanted[PIER_NS_USER] && !s->ns_path[PIER_NS_MNT] && geteuid () == 0;
  for (size_t i = 0; i < s->n_mounts; i++)
    if (s->mounts[i].idmap || (own_userns && s->mounts[i].bind)
        || (own_userns && is_foreign_sysfs (s, nsfds, i)))
      {
        if (tree_fds == NULL)
          {
            tree_fds = xcalloc (s->n_mounts, sizeof (int));
            for (size_t k = 0; k < s->n_mounts; k++)
              tree_fds[k] = -1;
          }
        if (!s->mounts[i].bind)
          {
            if ((tree_fds[i] = pier_rootfs_sysfs_tree (s->ns_path[PIER_NS_NET], s->mounts[i].flags, err)) < 0)
              goto out;
            continue;
          }
        int userns = s->mounts[i].idmap ? make_userns_fd (&s->mounts[i], err) : -1;
        if (s->mounts[i].idmap && userns < 0)
          goto out;
        tree_fds[i] = pier_rootfs_tree (s, &s->mounts[i], userns, err);
        if (userns >= 0)
          close (userns);
        if (tree_fds[i] < 0)
          goto out;
      }
  if (own_userns && (root_tree = pier_rootfs_root_tree (s, err)) < 0)
    goto out;
  if (socketpair (AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sp) < 0)
    {
      pier_error_make (err, errno, "socketpair");
      goto out;
    }
  if (cg)
    {
      pier_cgroup_join_open (cg, &join);
      /* A user namespace's root may not clone into a cgroup it does not
       * own. */
      if (s->ns_wanted[PIER_NS_USER] && join.v2 >= 0)
        {
          close (join.v2);
          join.v2 = -1;
        }
    }
  struct init_args args
      = { s, o, sc, sp[1], statedir, console, cgpath, false, tree_fds, root_tree, -1, cg ? &join : NULL };
  c = fork ();
  if (c < 0)
    {
      pier_error_make (err, errno, "fork");
      goto out;
    }
  if (c == 0)
    {
      close (sp[0]);
      stage1_main (&args, nsfds);
    }
  close (sp[1]);
  sp[1] = -1;

  if (pier_sync_expect (sp[0], PIER_SYNC_USERNS, &m, err) < 0)
    goto out;
  if (m.value)
    {
      if (geteuid () != 0)
        {
          cleanup_free char *p = xasprintf ("/proc/%d/setgroups", (int) c);
          pier_write_file_at (AT_FDCWD, p, "deny", 4, NULL);
        }
      if (write_idmap (c, "uid_map", s->uid_mappings, s->n_uid_mappings, err) < 0
          || write_idmap (c, "gid_map", s->gid_mappings, s->n_gid_mappings, err) < 0)
        goto out;
    }
  if (pier_sync_send (sp[0], PIER_SYNC_GO, 0, NULL, err) < 0)
    goto out;
  if (pier_sync_expect (sp[0], PIER_SYNC_PID, &m, err) < 0)
    goto out;
  g = (pid_t) m.value;
  waitpid (c, NULL, 0);
  c = -1;
  pier_debug ("create %s: init is pid %d", id, (int) g);
  if (cg
      && pier_cgroup_enter_some (cg, g, strstr (m.text, "in-v1") == NULL, strstr (m.text, "in-v2") == NULL,
                                 err)
             < 0)
    goto out;
  pier_debug ("create %s: init moved into its cgroup", id);
  if (pier_sync_send (sp[0], PIER_SYNC_CGROUP, 0, NULL, err) < 0)
    {
      /* The init died first: report what it said. */
      pier_error_free (err);
      pier_sync_expect (sp[0], PIER_SYNC_HOOKS, &m, err);
      goto out;
    }

  if (pier_sync_expect (sp[0], PIER_SYNC_HOOKS, &m, err) < 0)
    goto out;
  pier_debug ("create %s: mounts made", id);
  state_text = state_json_text (id, "created", g, s->bundle, s->annotations);
  if (pier_hooks_run (s->hooks[PIER_HOOK_PRESTART], s->n_hooks[PIER_HOOK_PRESTART], "prestart", state_text,
                      err)
          < 0
      || pier_hooks_run (s->hooks[PIER_HOOK_CREATE_RUNTIME], s->n_hooks[PIER_HOOK_CREATE_RUNTIME],
                         "createRuntime", state_text, err)
             < 0)
    goto out;
  if (pier_sync_send (sp[0], PIER_SYNC_GO, 0, state_text, err) < 0)
    goto out;
  if (pier_sync_expect (sp[0], PIER_SYNC_READY, &m, err) < 0)
    goto out;
  pier_debug ("create %s: init ready", id);

  pier_state st = { 0 };
  char created[64];
  owner = user_name (geteuid ());
  pier_time_now_rfc3339 (created, sizeof created);
  st.id = (char *) id;
  st.pid = g;
  st.start_time = pier_proc_start_time (g);
  st.bundle = s->bundle;
  st.rootfs = s->root_path;
  st.created = created;
  st.owner = owner;
  st.cgroup_path = cg ? cgpath : (char *) "";
  st.annotations = s->annotations;
  st.config = s->json;
  st.rootless = o->rootless;
  if (pier_state_save (o->root, &st, err) < 0)
    goto out;
  if (o->pid_file && pier_write_pid_file (o->pid_file, g, err) < 0)
    goto out;
  if (pier_sync_send (sp[0], PIER_SYNC_GO, 0, NULL, err) < 0)
    goto out;
  *out_pid = g;
  g = -1;
  if (o->own_console)
    *o->own_console = move_fd (&peer);
  rc = 0;
out:
  if (rc < 0)
    {
      reap_or_kill (c);
      reap_or_kill (g);
      if (cg)
        pier_cgroup_destroy (cg, NULL);
      if (state_made)
        pier_state_remove (o->root, id, NULL);
    }
  for (int t = 0; t < PIER_NS_COUNT; t++)
    if (nsfds[t] >= 0)
      close (nsfds[t]);
  if (sp[0] >= 0)
    close (sp[0]);
  if (sp[1] >= 0)
    close (sp[1]);
  if (statedir >= 0)
    close (statedir);
  if (console >= 0 && console != o->console_fd)
    close (console);
  pier_cgroup_join_close (&join);
  if (peer >= 0)
    close (peer);
  for (size_t i = 0; tree_fds && i < s->n_mounts; i++)
    if (tree_fds[i] >= 0)
      close (tree_fds[i]);
  free (tree_fds);
  if (root_tree >= 0)
    close (root_tree);
  pier_cgroup_free (cg);
  pier_seccomp_free (sc);
  pier_resources_free (res);
  pier_spec_free (s);
  return rc;
}

/* ---- start, kill, delete ---------------------------------------------- */

static int
load_spec_from_state (const pier_state *st, pier_spec **out, pier_error **err)
{
  if (st->config == NULL)
    return pier_error_makex (err, EIO, "container `%s` has no saved config", st->id);
  return pier_spec_parse (st->config, st->bundle, out, err);
}

int
pier_container_start (const char *root, const char *id, pier_error **err)
{
  pier_state *st = NULL;
  pier_spec *s = NULL;
  int rc = -1;
  cleanup_free char *dir = pier_path_join (root, id);
  cleanup_free char *fifo = pier_path_join (dir, "exec.fifo");
  cleanup_close int fd = -1;
  if (pier_state_load (root, id, &st, err) < 0)
    return -1;
  const char *status = pier_state_status (root, st);
  if (strcmp (status, "created") != 0)
    {
      pier_error_makex (err, EINVAL, "cannot start container `%s`: it is %s, not created", id, status);
      goto out;
    }
  fd = open (fifo, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
  if (fd < 0)
    {
      pier_error_make (err, errno, "cannot start container `%s`", id);
      goto out;
    }
  /* The init may not have reached its open of the fifo yet: until it
   * writes, EOF only means "no writer so far" while it is alive. */
  char buf[4096];
  ssize_t n = 0;
  for (;;)
    {
      struct pollfd pf = { fd, POLLIN, 0 };
      poll (&pf, 1, 100);
      n = read (fd, buf, sizeof buf - 1);
      if (n > 0)
        break;
      if (n < 0 && errno != EAGAIN && errno != EINTR)
        {
          pier_error_make (err, errno, "cannot start container `%s`", id);
          goto out;
        }
      if (pier_proc_start_time (st->pid) != st->start_time)
        {
          pier_error_makex (err, EIO, "cannot start container `%s`: its init exited", id);
          goto out;
        }
      if (n == 0)
        {
          struct timespec ts = { 0, 200 * 1000 };
          nanosleep (&ts, NULL);
        }
    }
  unlink (fifo);
  if (buf[0] == '0')
    {
      /* Wait for the exec (EOF) and collect an error written instead. */
      fcntl (fd, F_SETFL, fcntl (fd, F_GETFL) & ~O_NONBLOCK);
      ssize_t more;
      size_t len = (size_t) n;
      while (len < sizeof buf - 1 && (more = read (fd, buf + len, sizeof buf - 1 - len)) != 0)
        {
          if (more < 0 && errno == EINTR)
            continue;
          if (more < 0)
            break;
          len += (size_t) more;
        }
      n = (ssize_t) len;
    }
  buf[n] = '\0';
  if (buf[0] != '0' || n > 1)
    {
      const char *why = buf[0] == '0' ? buf + 1 : buf;
      pier_error_makex (err, EIO, "cannot start container `%s`: %s", id, *why == 'E' ? why + 1 : why);
      goto out;
    }
  if (load_spec_from_state (st, &s, NULL) == 0 && s->n_hooks[PIER_HOOK_POSTSTART])
    {
      cleanup_free char *text = state_json_text (id, "running", st->pid, st->bundle, st->annotations);
      pier_hooks_run_all (s->hooks[PIER_HOOK_POSTSTART], s->n_hooks[PIER_HOOK_POSTSTART], "poststart", text);
    }
  rc = 0;
out:
  pier_spec_free (s);
  pier_state_free (st);
  return rc;
}

int
pier_signal_parse (const char *s)
{
  static const struct
  {
    const char *name;
    int sig;
  } sigs[] = {
    { "HUP", SIGHUP },       { "INT", SIGINT },   { "QUIT", SIGQUIT },     { "ILL", SIGILL },
    { "TRAP", SIGTRAP },     { "ABRT", SIGABRT }, { "IOT", SIGIOT },       { "BUS", SIGBUS },
    { "FPE", SIGFPE },       { "KILL", SIGKILL }, { "USR1", SIGUSR1 },     { "SEGV", SIGSEGV },
    { "USR2", SIGUSR2 },     { "PIPE", SIGPIPE }, { "ALRM", SIGALRM },     { "TERM", SIGTERM },
    { "STKFLT", SIGSTKFLT }, { "CHLD", SIGCHLD }, { "CONT", SIGCONT },     { "STOP", SIGSTOP },
    { "TSTP", SIGTSTP },     { "TTIN", SIGTTIN }, { "TTOU", SIGTTOU },     { "URG", SIGURG },
    { "XCPU", SIGXCPU },     { "XFSZ", SIGXFSZ }, { "VTALRM", SIGVTALRM }, { "PROF", SIGPROF },
    { "WINCH", SIGWINCH },   { "IO", SIGIO },     { "POLL", SIGPOLL },     { "PWR", SIGPWR },
    { "SYS", SIGSYS },
  };
  char *end;
  if (s == NULL || *s == '\0')
    return -1;
  long n = strtol (s, &end, 10);
  if (*end == '\0')
    return n > 0 && n < NSIG ? (int) n : -1;
  if (strncasecmp (s, "SIG", 3) == 0)
    s += 3;
  for (size_t i = 0; i < sizeof sigs / sizeof sigs[0]; i++)
    if (strcasecmp (s, sigs[i].name) == 0)
      return sigs[i].sig;
  if (strncasecmp (s, "RTMIN", 5) == 0 || strncasecmp (s, "RTMAX", 5) == 0)
    {
      int base = strncasecmp (s, "RTMIN", 5) == 0 ? SIGRTMIN : SIGRTMAX;
      if (s[5] == '\0')
        return base;
      long off = strtol (s + 5, &end, 10);
      if (*end == '\0')
        {
          int r = (int) (base + off);
          return r >= SIGRTMIN && r <= SIGRTMAX ? r : -1;
        }
    }
  return -1;
}

static int
signal_pid (const pier_state *st, int sig, pier_error **err)
{
  int pfd = (int) syscall (SYS_pidfd_open, st->pid, 0);
  if (pfd >= 0)
    {
      /* The pidfd pins the process: check it is still our init. */
      if (pier_proc_start_time (st->pid) != st->start_time)
        {
          close (pfd);
          return pier_error_makex (err, ESRCH, "container `%s` is not running", st->id);
        }
      int r = (int) syscall (SYS_pidfd_send_signal, pfd, sig, NULL, 0);
      int e = errno;
      close (pfd);
      if (r < 0)
        return pier_error_make (err, e, "cannot signal container `%s`", st->id);
      return 0;
    }
  if (kill (st->pid, sig) < 0)
    return pier_error_make (err, errno, "cannot signal container `%s`", st->id);
  return 0;
}

int
pier_container_kill (const char *root, const char *id, int sig, bool all, pier_error **err)
{
  pier_state *st = NULL;
  int rc;
  if (pier_state_load (root, id, &st, err) < 0)
    return -1;
  const char *status = pier_state_status (root, st);
  if (strcmp (status, "stopped") == 0 && !(all && st->cgroup_path && *st->cgroup_path))
    {
      pier_state_free (st);
      return pier_error_makex (err, ESRCH, "container `%s` is not running", id);
    }
  if (all && st->cgroup_path && *st->cgroup_path)
    {
      pier_cgroup cg = { st->cgroup_path };
      rc = pier_cgroup_signal_all (&cg, sig, err);
      if (rc == 0 && (sig == SIGKILL || sig == SIGTERM) && strcmp (status, "paused") == 0)
        pier_cgroup_freeze (&cg, false, NULL);
    }
  else
    {
      rc = signal_pid (st, sig, err);
      if (rc == 0 && strcmp (status, "paused") == 0 && sig == SIGKILL)
        {
          pier_cgroup cg = { st->cgroup_path };
          pier_cgroup_freeze (&cg, false, NULL);
        }
    }
  pier_state_free (st);
  return rc;
}

static void
wait_gone (const pier_state *st, int ms)
{
  int pfd = (int) syscall (SYS_pidfd_open, st->pid, 0);
  if (pfd >= 0)
    {
      if (pier_proc_start_time (st->pid) == st->start_time)
        {
          struct pollfd p = { pfd, POLLIN, 0 };
          poll (&p, 1, ms);
        }
      close (pfd);
      return;
    }
  for (int i = 0; i < ms && pier_proc_start_time (st->pid) == st->start_time; i++)
    {
      struct timespec ts = { 0, 1000 * 1000 };
      nanosleep (&ts, NULL);
    }
}

int
pier_container_delete (const char *root, const char *id, bool force, pier_error **err)
{
  pier_state *st = NULL;
  pier_spec *s = NULL;
  if (pier_state_load (root, id, &st, err) < 0)
    {
      if (force && err && *err && (*err)->code == ENOENT)
        {
          pier_error_free (err);
          return 0;
        }
      /* A half-created container (no state.json yet) can still be removed. */
      if (force && err && *err && (*err)->code == EIO)
        {
          pier_error_free (err);
          return pier_state_remove (root, id, err);
        }
      return -1;
    }
  pier_cgroup cg = { st->cgroup_path };
  const char *status = pier_state_status (root, st);
  if (strcmp (status, "stopped") != 0)
    {
      if (!force)
        {
          pier_state_free (st);
          return pier_error_makex (err, EBUSY,
                                   "cannot delete container `%s`: it is %s (stop it first, or use --force)",
                                   id, status);
        }
    }
  if (strcmp (status, "stopped") != 0)
    {
      if (st->cgroup_path && *st->cgroup_path)
        pier_cgroup_signal_all (&cg, SIGKILL, NULL);
      signal_pid (st, SIGKILL, NULL);
      if (strcmp (status, "paused") == 0)
        pier_cgroup_freeze (&cg, false, NULL);
      wait_gone (st, 5000);
    }
  else if (st->cgroup_path && *st->cgroup_path)
    {
      /* The init is gone; with a shared pid namespace its children may
       * not be.  Nothing may outlive the container. */
      pier_cgroup_signal_all (&cg, SIGKILL, NULL);
    }
  if (st->cgroup_path && *st->cgroup_path)
    pier_cgroup_destroy (&cg, NULL);
  if (load_spec_from_state (st, &s, NULL) == 0 && s->n_hooks[PIER_HOOK_POSTSTOP])
    {
      cleanup_free char *text = state_json_text (id, "stopped", st->pid, st->bundle, st->annotations);
      pier_hooks_run_all (s->hooks[PIER_HOOK_POSTSTOP], s->n_hooks[PIER_HOOK_POSTSTOP], "poststop", text);
    }
  int rc = pier_state_remove (root, id, err);
  pier_spec_free (s);
  pier_state_free (st);
  return rc;
}

int
pier_container_pause (const char *root, const char *id, bool pause, pier_error **err)
{
  pier_state *st = NULL;
  if (pier_state_load (root, id, &st, err) < 0)
    return -1;
  const char *status = pier_state_status (root, st);
  int rc;
  if (pause && strcmp (status, "running") != 0)
    rc = pier_error_makex (err, EINVAL, "cannot pause container `%s`: it is %s", id, status);
  else if (!pause && strcmp (status, "paused") != 0)
    rc = pier_error_makex (err, EINVAL, "cannot resume container `%s`: it is %s", id, status);
  else
    {
      pier_cgroup cg = { st->cgroup_path };
      rc = pier_cgroup_freeze (&cg, pause, err);
    }
  pier_state_free (st);
  return rc;
}

int
pier_container_update (const char *root, const char *id, const pier_resources *r, pier_error **err)
{
  pier_state *st = NULL;
  if (pier_state_load (root, id, &st, err) < 0)
    return -1;
  const char *status = pier_state_status (root, st);
  int rc;
  if (strcmp (status, "stopped") == 0)
    rc = pier_error_makex (err, EINVAL, "cannot update container `%s`: it is stopped", id);
  else
    {
      pier_cgroup cg = { st->cgroup_path };
      rc = pier_cgroup_apply (&cg, r, err);
    }
  pier_state_free (st);
  return rc;
}

int
pier_container_pids (const char *root, const char *id, pid_t **pids, size_t *n, pier_error **err)
{
  pier_state *st = NULL;
  if (pier_state_load (root, id, &st, err) < 0)
    return -1;
  pier_cgroup cg = { st->cgroup_path };
  int rc = pier_cgroup_pids (&cg, pids, n, err);
  pier_state_free (st);
  return rc;
}

/* ---- CVE-2019-5736 ---------------------------------------------------- */

int
pier_ensure_cloned_binary (char **argv, pier_error **err)
{
  cleanup_close int self = open ("/proc/self/exe", O_RDONLY | O_CLOEXEC);
  if (self < 0)
    return pier_error_make (err, errno, "cannot open /proc/self/exe");
  /* Already running from a sealed copy? */
  int seals = fcntl (self, F_GET_SEALS);
  if (seals >= 0 && (seals & F_SEAL_WRITE))
    return 0;
  cleanup_close int mfd = (int) syscall (SYS_memfd_create, "pier-runtime", MFD_CLOEXEC | MFD_ALLOW_SEALING);
  if (mfd < 0)
    return pier_error_make (err, errno, "memfd_create");
  struct stat st;
  if (fstat (self, &st) < 0)
    return pier_error_make (err, errno, "fstat /proc/self/exe");
  /* A plain copy: sendfile's pipe would keep references to the memfd's
   * pages for a moment, and sealing waits for those. */
  char buf[1 << 16];
  off_t copied = 0;
  while (copied < st.st_size)
    {
      ssize_t n = read (self, buf, sizeof buf);
      if (n < 0 && errno == EINTR)
        continue;
      if (n <= 0)
        return pier_error_make (err, n < 0 ? errno : EIO, "cannot copy the runtime binary");
      if (pier_write_all (mfd, buf, (size_t) n) < 0)
        return pier_error_make (err, errno, "cannot copy the runtime binary");
      copied += n;
    }
  /* F_SEAL_WRITE fails with EBUSY while something still pins the pages
   * (it has been seen here, rarely): retry for up to 100 ms. */
  int sealed = -1;
  for (int attempt = 0; attempt < 200; attempt++)
    {
      sealed = fcntl (mfd, F_ADD_SEALS, F_SEAL_SEAL | F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE);
      if (sealed == 0 || errno != EBUSY)
        break;
      struct timespec ts = { 0, 500 * 1000 };
      nanosleep (&ts, NULL);
    }
  if (sealed < 0)
    return pier_error_make (err, errno, "cannot seal the runtime binary copy");
  extern char **environ;
  syscall (SYS_execveat, mfd, "", argv, environ, AT_EMPTY_PATH);
  return pier_error_make (err, errno, "cannot re-exec the sealed runtime binary");
}
