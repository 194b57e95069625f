/* step.c - build steps: a throwaway container, or a function run with
 * the root mounted, over a stack of layers (see engine.h).
 *
 * Each step runs in a child process with a mount namespace of its own,
 * so its overlay mount goes when the child does, whatever happens; the
 * changes stay in <dir>/upper for the caller to turn into a layer.  No
 * database and no monitor are involved: a build step is the builder's
 * own child, not a container the user manages.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "engine/engine.h"
#include "engine/internal.h"
#include "runtime/container.h"
#include "util/cleanup.h"
#include "util/forkguard.h"
#include "util/fs.h"
#include "util/json.h"
#include "util/xalloc.h"

#include "util/banned.h"

/* What the child reports: a failure before the process ran. */
static void __attribute__ ((noreturn)) child_fail (int report, pier_error *err)
{
  const char *msg = err && err->msg ? err->msg : "build step failed";
  if (pier_write_all (report, msg, strlen (msg)) < 0)
    _exit (126);
  _exit (125);
}

static int
prepare_dir (const pier_engine_step *s, const char *id, pier_error **err)
{
  cleanup_close int d = open (s->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (d < 0)
    return pier_error_make (err, errno, "cannot open %s", s->dir);
  static const char *const subdirs[] = { "upper", "work", "rootfs", NULL };
  for (size_t i = 0; subdirs[i]; i++)
    if (mkdirat (d, subdirs[i], i == 0 ? 0755 : 0700) < 0 && errno != EEXIST)
      return pier_error_make (err, errno, "cannot create %s/%s", s->dir, subdirs[i]);
  cleanup_free char *hn = xasprintf ("%.12s\n", id);
  cleanup_free char *hosts
      = xasprintf ("127.0.0.1\tlocalhost %.12s\n::1\tlocalhost ip6-localhost ip6-loopback\n", id);
  cleanup_free char *resolv = pier_engine_resolv_conf ();
  if (pier_atomic_replace (d, "hostname", hn, strlen (hn), 0644, err) < 0
      || pier_atomic_replace (d, "hosts", hosts, strlen (hosts), 0644, err) < 0
      || pier_atomic_replace (d, "resolv.conf", resolv, strlen (resolv), 0644, err) < 0)
    return -1;
  return 0;
}

/* In the child: a private mount namespace with the root mounted. */
static int
enter_and_mount (pier_engine *e, const pier_engine_step *s, pier_error **err)
{
  if (unshare (CLONE_NEWNS) < 0)
    return pier_error_make (err, errno, "cannot make the build step's mount namespace");
  if (mount (NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0)
    return pier_error_make (err, errno, "cannot make the build step's mounts private");
  return pier_engine_mount_overlay (e->root, s->layers, s->dir, true, err);
}

/* The first missing component of path inside rootfd ("/run" for a
 * missing /run/secrets/x), or NULL when path exists. */
static char *
first_missing (int rootfd, const char *path)
{
  cleanup_free char *p = xstrdup (path);
  for (char *c = p + 1;; c++)
    if (*c == '/' || *c == 0)
      {
        char saved = *c;
        *c = 0;
        struct stat st;
        if (fstatat (rootfd, p + 1, &st, AT_SYMLINK_NOFOLLOW) < 0)
          return xstrdup (p);
        *c = saved;
        if (saved == 0)
          return NULL;
      }
}

/* Remove what the runtime made for a mount: the mount point, then each
 * parent up to top (the first missing one before the run) while empty. */
static void
remove_mount_point (int rootfd, const char *dst, const char *top)
{
  cleanup_free char *p = xstrdup (dst + 1);
  size_t top_len = strlen (top + 1);
  for (;;)
    {
      if (unlinkat (rootfd, p, 0) < 0 && unlinkat (rootfd, p, AT_REMOVEDIR) < 0)
        return;
      if (strlen (p) <= top_len)
        return;
      char *slash = strrchr (p, '/');
      if (slash == NULL)
        return;
      *slash = 0;
    }
}

/* In the child: the mount's layers go read-only on <dir>/bind-<n>, and
 * the mount binds _sub resolved inside them (a symlink in the layers
 * cannot point it at the host's files). */
static json_t *
layers_mount (pier_engine *e, const pier_engine_step *s, json_t *m, size_t n, pier_error **err)
{
  cleanup_strv char **chains = NULL;
  size_t i;
  json_t *c;
  json_array_foreach (json_object_get (m, "_layers"), i, c) strv_push (&chains, json_string_value (c));
  cleanup_free char *dir = xasprintf ("%s/bind-%zu", s->dir, n);
  if (mkdir (dir, 0700) < 0)
    {
      pier_error_make (err, errno, "cannot create %s", dir);
      return NULL;
    }
  if (pier_engine_mount_lowers (e->root, NULL, (const char *const *) chains, dir, err) < 0)
    return NULL;
  cleanup_close int dfd = open (dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  const char *sub = json_string_value (json_object_get (m, "_sub"));
  cleanup_close int fd = dfd < 0 ? -1 : pier_open_in_root (dfd, sub ? sub : ".", O_PATH, 0, err);
  if (fd < 0)
    {
      if (dfd < 0)
        pier_error_make (err, errno, "cannot open %s", dir);
      return NULL;
    }
  char proc[64], real[PATH_MAX];
  snprintf (proc, sizeof proc, "/proc/self/fd/%d", fd);
  ssize_t rl = readlink (proc, real, sizeof real - 1);
  if (rl < 0)
    {
      pier_error_make (err, errno, "cannot resolve %s in the mount's source", sub);
      return NULL;
    }
  real[rl] = 0;
  json_t *out = json_deep_copy (m);
  json_object_del (out, "_layers");
  json_object_del (out, "_sub");
  json_object_set_new (out, "source", json_string (real));
  return out;
}

static volatile sig_atomic_t cancelled;

static void
on_cancel (int sig)
{
  (void) sig;
  cancelled = 1;
}

static int
run_container (pier_engine *e, const pier_engine_step *s, const char *id, pier_error **err)
{
  cleanup_free char *rootfs = pier_path_join (s->dir, "rootfs");
  cleanup_close int rootfd = open (rootfs, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (rootfd < 0)
    return pier_error_make (err, errno, "cannot open %s", rootfs);
  cleanup_json json_t *cfg = json_deep_copy (s->config);
  json_object_set_new (cfg, "Hostname", json_sprintf ("%.12s", id));
  json_object_set_new (cfg, "Tty", json_false ());
  json_object_set_new (cfg, "Entrypoint", json_null ());
  cleanup_json json_t *rec = json_pack ("{s:s, s:s, s:O, s:{s:s}}", "Id", id, "_Dir", s->dir, "Config", cfg,
                                        "HostConfig", "NetworkMode", s->network ? s->network : "none");
  cleanup_json json_t *spec = NULL;
  if (pier_engine_oci_config (e->root, rec, rootfd, &spec, err) < 0)
    return -1;
  json_t *mounts = json_object_get (spec, "mounts");
  size_t i;
  json_t *m;
  json_t *made = json_array (); /* [dst, top] of mount points to remove after */
  json_array_foreach (s->mounts, i, m)
  {
    if (json_object_get (m, "_layers"))
      {
        json_t *lm = layers_mount (e, s, m, i, err);
        if (lm == NULL)
          {
            json_decref (made);
            return -1;
          }
        json_array_append_new (mounts, lm);
      }
    else
      json_array_append (mounts, m);
    const char *dst = json_string_value (json_object_get (m, "destination"));
    char *top = dst ? first_missing (rootfd, dst) : NULL;
    if (top)
      json_array_append_new (made, json_pack ("[s, s]", dst, top));
    free (top);
  }
  /* A build step's cgroup is its own, next to the containers'. */
  cleanup_free char *cg = xasprintf ("pier/build-%s", id);
  json_object_set_new (json_object_get (spec, "linux"), "cgroupsPath", json_string (cg));
  cleanup_free char *text = pier_json_dump (spec, 0);
  cleanup_close int dfd = open (s->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd < 0 || pier_atomic_replace (dfd, "config.json", text, strlen (text), 0600, err) < 0)
    {
      if (dfd < 0)
        pier_error_make (err, errno, "cannot open %s", s->dir);
      json_decref (made);
      return -1;
    }

  /* Cancelling (SIGTERM from the parent) kills the container, not just
   * this process: its cgroup and state go with pier_container_delete. */
  struct sigaction sa = { .sa_handler = on_cancel };
  sigaction (SIGTERM, &sa, NULL);
  cleanup_free char *rtroot = pier_engine_runtime_root (e);
  int devnull = open ("/dev/null", O_RDWR | O_CLOEXEC);
  dup2 (devnull, 0);
  dup2 (s->out_fd, 1);
  dup2 (s->out_fd, 2);
  cleanup_free char *sc = pier_engine_seccomp_cache (e->runroot);
  pier_create_opts o = { .root = rtroot, .bundle = s->dir, .console_fd = -1, .seccomp_cache = sc };
  pid_t pid = -1;
  if (pier_container_create (id, &o, &pid, err) < 0)
    {
      json_decref (made);
      return -1;
    }
  dup2 (devnull, 1);
  dup2 (devnull, 2);
  if (cancelled || pier_container_start (rtroot, id, err) < 0)
    {
      pier_container_delete (rtroot, id, true, NULL);
      json_decref (made);
      if (cancelled)
        pier_error_makex (err, ECANCELED, "cancelled");
      return -1;
    }
  int status = 0;
  bool killed = false;
  for (;;)
    {
      if (cancelled && !killed)
        {
          pier_container_kill (rtroot, id, SIGKILL, true, NULL);
          killed = true;
        }
      pid_t w = waitpid (-1, &status, 0);
      if (w == pid)
        break;
      if (w < 0 && errno != EINTR)
        {
          status = 255 << 8;
          break;
        }
    }
  /* What the process left behind (daemons it started) goes with it, and
   * the mount points made for the step's mounts (never in a layer). */
  pier_container_delete (rtroot, id, true, NULL);
  json_array_foreach (made, i, m) remove_mount_point (rootfd, json_string_value (json_array_get (m, 0)),
                                                      json_string_value (json_array_get (m, 1)));
  json_decref (made);
  while (waitpid (-1, NULL, WNOHANG) > 0)
    ;
  return WIFEXITED (status) ? WEXITSTATUS (status) : 128 + WTERMSIG (status);
}

static double
now_secs (void)
{
  struct timespec ts;
  clock_gettime (CLOCK_MONOTONIC, &ts);
  return (double) ts.tv_sec + (double) ts.tv_nsec / 1e9;
}

/* Append what the non-blocking fd holds now to *msg; *open is false
 * once it ended. */
static void
drain (int fd, bool *open, char **msg, size_t *len)
{
  while (*open)
    {
      char buf[4096];
      ssize_t n = read (fd, buf, sizeof buf);
      if (n <= 0)
        {
          if (n == 0 || (errno != EAGAIN && errno != EINTR))
            *open = false;
          if (n == 0 || errno != EINTR)
            return;
          continue;
        }
      *msg = xrealloc (*msg, *len + (size_t) n + 1);
      memcpy (*msg + *len, buf, (size_t) n);
      *len += (size_t) n;
      (*msg)[*len] = 0;
    }
}

/* Wait for the step's child, collecting what it reports on fd; nothing
 * here waits for the end of a pipe: a step forked by another thread at
 * the same time holds copies of this one's pipes until it ends.  A
 * readable cancel_fd sends the child SIGTERM (it kills its container),
 * again every half second, then SIGKILL after 5 s.  Without pidfds
 * (before Linux 5.3, or under valgrind) the child is polled. */
/* What the step's process wrote (s->out_read_fd, non-blocking) so far. */
static void
pump_output (const pier_engine_step *s)
{
  char buf[4096];
  ssize_t n;
  if (s->out_read_fd < 0)
    return;
  while ((n = read (s->out_read_fd, buf, sizeof buf)) > 0 || (n < 0 && errno == EINTR))
    if (n > 0 && s->on_output)
      s->on_output (s->out_data, buf, (size_t) n);
}

static int
wait_step (const pier_engine_step *s, pid_t child, int fd, char **msg, size_t *len, int *status,
           pier_error **err)
{
  cleanup_close int pidfd = (int) syscall (SYS_pidfd_open, child, 0);
  int fl = fcntl (fd, F_GETFL);
  fcntl (fd, F_SETFL, fl | O_NONBLOCK);
  double cancelled_at = 0, last_kill = 0;
  bool open_fd = true, reaped = false;
  while (!reaped)
    {
      /* The output is read here, by the thread that forked: no other
       * thread runs while a step forks (a sanitizer's allocator is not
       * safe to fork in the middle of another thread's malloc). */
      struct pollfd p[4] = { { pidfd, POLLIN, 0 },
                             { open_fd ? fd : -1, POLLIN, 0 },
                             { s->out_read_fd, POLLIN, 0 },
                             { cancelled_at == 0 ? s->cancel_fd : -1, POLLIN, 0 } };
      pier_fork_guard_block ();
      int r = poll (p, 4, pidfd < 0 ? 50 : cancelled_at > 0 ? 500 : -1);
      pier_fork_guard_unblock ();
      if (r < 0 && errno != EINTR)
        {
          int e = errno;
          kill (child, SIGKILL);
          while (waitpid (child, status, 0) < 0 && errno == EINTR)
            ;
          return pier_error_make (err, e, "cannot wait for the build step");
        }
      if (r > 0 && p[2].revents)
        pump_output (s);
      /* The child writes its report before it exits: read it first. */
      drain (fd, &open_fd, msg, len);
      if (pidfd < 0 || (r > 0 && (p[0].revents & POLLIN)))
        {
          pid_t w = waitpid (child, status, pidfd < 0 ? WNOHANG : 0);
          if (w == child)
            reaped = true;
          else if (w < 0 && errno != EINTR)
            return pier_error_make (err, errno, "cannot wait for the build step");
          if (reaped)
            break;
        }
      double now = now_secs ();
      if (cancelled_at == 0 && r > 0 && (p[3].revents & POLLIN))
        {
          cancelled_at = last_kill = now;
          kill (child, SIGTERM);
        }
      else if (cancelled_at > 0 && now - last_kill >= 0.5)
        {
          last_kill = now;
          kill (child, now - cancelled_at < 5 ? SIGTERM : SIGKILL);
        }
    }
  /* What it wrote just before it ended (the end of the pipe may never
   * come: another thread's step holds a copy of its write end). */
  drain (fd, &open_fd, msg, len);
  pump_output (s);
  return 0;
}

static int
step (pier_engine *e, const pier_engine_step *s, pier_engine_step_fn fn, void *data, int *exit_code,
      pier_error **err)
{
  unsigned char r[16];
  char id[40];
  if (getrandom (r, sizeof r, 0) != sizeof r)
    return pier_error_make (err, errno, "cannot draw a build step id");
  for (size_t i = 0; i < sizeof r; i++)
    snprintf (id + 2 * i, 3, "%02x", r[i]);
  if (prepare_dir (s, id, err) < 0)
    return -1;
  int report[2];
  if (pipe2 (report, O_CLOEXEC) < 0)
    return pier_error_make (err, errno, "cannot make a pipe");
  pid_t child = fork ();
  if (child < 0)
    {
      close (report[0]);
      close (report[1]);
      return pier_error_make (err, errno, "cannot fork a build step");
    }
  if (child == 0)
    {
      pier_error *cerr = NULL;
      close (report[0]);
      signal (SIGPIPE, SIG_DFL);
      prctl (PR_SET_PDEATHSIG, SIGKILL);
      prctl (PR_SET_CHILD_SUBREAPER, 1);
      if (enter_and_mount (e, s, &cerr) < 0)
        child_fail (report[1], cerr);
      if (fn)
        {
          cleanup_free char *rootfs = pier_path_join (s->dir, "rootfs");
          int rootfd = open (rootfs, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
          if (rootfd < 0)
            {
              pier_error_make (&cerr, errno, "cannot open %s", rootfs);
              child_fail (report[1], cerr);
            }
          if (fn (rootfd, data, &cerr) < 0)
            child_fail (report[1], cerr);
          _exit (0);
        }
      int code = run_container (e, s, id, &cerr);
      if (code < 0)
        child_fail (report[1], cerr);
      _exit (code);
    }
  close (report[1]);
  cleanup_free char *msg = NULL;
  size_t len = 0;
  int status = 0;
  if (wait_step (s, child, report[0], &msg, &len, &status, err) < 0)
    {
      close (report[0]);
      return -1;
    }
  close (report[0]);
  if (s->cancel_fd >= 0 && poll (&(struct pollfd){ s->cancel_fd, POLLIN, 0 }, 1, 0) == 1)
    return pier_error_makex (err, ECANCELED, "cancelled");
  if (msg && len)
    {
      pier_error_makex (err, EIO, "%.*s", (int) len, msg);
      if (exit_code)
        *exit_code = pier_engine_start_code (*err);
      return -1;
    }
  if (!WIFEXITED (status))
    return pier_error_makex (err, EIO, "the build step was killed by signal %d", WTERMSIG (status));
  if (exit_code)
    *exit_code = WEXITSTATUS (status);
  else if (WEXITSTATUS (status) != 0)
    return pier_error_makex (err, EIO, "the build step failed (exit %d)", WEXITSTATUS (status));
  return 0;
}

int
pier_engine_step_run (pier_engine *e, const pier_engine_step *s, int *exit_code, pier_error **err)
{
  return step (e, s, NULL, NULL, exit_code, err);
}

int
pier_engine_step_apply (pier_engine *e, const pier_engine_step *s, pier_engine_step_fn fn, void *data,
                        pier_error **err)
{
  return step (e, s, fn, data, NULL, err);
}

int
pier_engine_mount_layers (pier_engine *e, const char *const *chains, const char *target, pier_error **err)
{
  return pier_engine_mount_lowers (e->root, NULL, chains, target, err);
}
