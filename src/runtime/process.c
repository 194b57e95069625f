#include "runtime/process.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <linux/sched.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/personality.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <termios.h>
#include <unistd.h>

#include <jansson.h>

#include "runtime/caps.h"
#include "util/cleanup.h"
#include "util/fs.h"
#include "util/log.h"
#include "util/xalloc.h"
#include "util/banned.h"

#ifndef TIOCGPTPEER
#define TIOCGPTPEER _IO ('T', 0x41)
#endif
#ifndef CLOSE_RANGE_CLOEXEC
#define CLOSE_RANGE_CLOEXEC (1U << 2)
#endif
#ifndef SYS_close_range
#define SYS_close_range 436
#endif

static const char default_path[] = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

int
pier_process_find (const pier_process *p, char **out, pier_error **err)
{
  const char *arg0 = p->args[0];
  const char *path = default_path;
  struct stat st;
  if (strchr (arg0, '/'))
    {
      if (stat (arg0, &st) < 0)
        return pier_error_make (err, errno, "exec: `%s`", arg0);
      if (S_ISDIR (st.st_mode))
        return pier_error_makex (err, EACCES, "exec: `%s` is a directory", arg0);
      *out = xstrdup (arg0);
      return 0;
    }
  for (size_t i = 0; p->env && p->env[i]; i++)
    if (strncmp (p->env[i], "PATH=", 5) == 0)
      path = p->env[i] + 5;
  cleanup_free char *copy = xstrdup (path);
  char *save = NULL;
  for (char *dir = strtok_r (copy, ":", &save); dir; dir = strtok_r (NULL, ":", &save))
    {
      cleanup_free char *cand = pier_path_join (*dir ? dir : ".", arg0);
      if (stat (cand, &st) == 0 && S_ISREG (st.st_mode) && (st.st_mode & 0111))
        {
          *out = steal_pointer (&cand);
          return 0;
        }
    }
  return pier_error_makex (err, ENOENT, "exec: `%s`: executable file not found in $PATH", arg0);
}

int
pier_send_fd (int sock, int fd, const char *name, pier_error **err)
{
  char cbuf[CMSG_SPACE (sizeof (int))] = { 0 };
  struct iovec iov = { (void *) name, strlen (name) + 1 };
  struct msghdr msg = { 0 };
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  msg.msg_control = cbuf;
  msg.msg_controllen = sizeof cbuf;
  struct cmsghdr *c = CMSG_FIRSTHDR (&msg);
  c->cmsg_level = SOL_SOCKET;
  c->cmsg_type = SCM_RIGHTS;
  c->cmsg_len = CMSG_LEN (sizeof (int));
  memcpy (CMSG_DATA (c), &fd, sizeof (int));
  if (TEMP_FAILURE_RETRY_INT (sendmsg (sock, &msg, MSG_NOSIGNAL)) < 0)
    return pier_error_make (err, errno, "cannot send the terminal to the console socket");
  return 0;
}

int
pier_recv_fd (int sock, int *fd, pier_error **err)
{
  char cbuf[CMSG_SPACE (sizeof (int))] = { 0 };
  char data[4096];
  struct iovec iov = { data, sizeof data };
  struct msghdr msg = { 0 };
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  msg.msg_control = cbuf;
  msg.msg_controllen = sizeof cbuf;
  if (TEMP_FAILURE_RETRY_INT (recvmsg (sock, &msg, MSG_CMSG_CLOEXEC)) <= 0)
    return pier_error_make (err, errno ? errno : EPIPE, "cannot receive the terminal");
  struct cmsghdr *c = CMSG_FIRSTHDR (&msg);
  if (c == NULL || c->cmsg_type != SCM_RIGHTS)
    return pier_error_makex (err, EPROTO, "no terminal received");
  memcpy (fd, CMSG_DATA (c), sizeof (int));
  return 0;
}

int
pier_process_setup_terminal (const pier_process *p, int console_fd, bool console_dev, pier_error **err)
{
  cleanup_close int master = open ("/dev/ptmx", O_RDWR | O_NOCTTY | O_CLOEXEC);
  if (master < 0)
    return pier_error_make (err, errno, "cannot open /dev/ptmx");
  int unlock = 0;
  if (ioctl (master, TIOCSPTLCK, &unlock) < 0)
    return pier_error_make (err, errno, "cannot unlock the pty");
  cleanup_close int slave = ioctl (master, TIOCGPTPEER, O_RDWR | O_NOCTTY | O_CLOEXEC);
  if (slave < 0)
    return pier_error_make (err, errno, "cannot open the pty peer");
  if (p->console_height || p->console_width)
    {
      struct winsize ws = { (unsigned short) p->console_height, (unsigned short) p->console_width, 0, 0 };
      ioctl (slave, TIOCSWINSZ, &ws);
    }
  if (console_dev)
    {
      char path[64];
      int n = 0;
      if (ioctl (master, TIOCGPTN, &n) == 0)
        {
          snprintf (path, sizeof path, "/dev/pts/%d", n);
          int f = open ("/dev/console", O_CREAT | O_WRONLY | O_NOFOLLOW | O_CLOEXEC, 0600);
          if (f >= 0)
            close (f);
          if (mount (path, "/dev/console", NULL, MS_BIND, NULL) < 0)
            return pier_error_make (err, errno, "cannot bind the terminal on /dev/console");
        }
    }
  if (pier_send_fd (console_fd, master, "/dev/ptmx", err) < 0)
    return -1;
  if (setsid () < 0 && errno != EPERM)
    return pier_error_make (err, errno, "setsid");
  if (ioctl (slave, TIOCSCTTY, 0) < 0)
    return pier_error_make (err, errno, "cannot make the pty the controlling terminal");
  for (int i = 0; i < 3; i++)
    if (dup2 (slave, i) < 0)
      return pier_error_make (err, errno, "dup2");
  return 0;
}

static int
set_rlimits (const pier_process *p, pier_error **err)
{
  for (size_t i = 0; i < p->n_rlimits; i++)
    {
      struct rlimit rl = { (rlim_t) p->rlimits[i].soft, (rlim_t) p->rlimits[i].hard };
      if (setrlimit (p->rlimits[i].resource, &rl) == 0)
        continue;
      if (errno != EPERM)
        return pier_error_make (err, errno, "cannot set rlimit %d", p->rlimits[i].resource);
      /* Without CAP_SYS_RESOURCE the hard limit cannot go up: clamp to
       * what is allowed and say so. */
      struct rlimit cur;
      getrlimit (p->rlimits[i].resource, &cur);
      if (rl.rlim_max > cur.rlim_max)
        rl.rlim_max = cur.rlim_max;
      if (rl.rlim_cur > rl.rlim_max)
        rl.rlim_cur = rl.rlim_max;
      if (setrlimit (p->rlimits[i].resource, &rl) < 0)
        return pier_error_make (err, errno, "cannot set rlimit %d", p->rlimits[i].resource);
      pier_warn ("rlimit %d clamped to %llu/%llu: the hard limit cannot be raised here",
                 p->rlimits[i].resource, (unsigned long long) rl.rlim_cur, (unsigned long long) rl.rlim_max);
    }
  return 0;
}

struct sched_attr_compat
{
  uint32_t size, sched_policy;
  uint64_t sched_flags;
  int32_t sched_nice;
  uint32_t sched_priority;
  uint64_t sched_runtime, sched_deadline, sched_period;
};

static int
set_scheduler (json_t *s, pier_error **err)
{
  static const struct
  {
    const char *name;
    uint32_t v;
  } pol[] = { { "SCHED_OTHER", 0 }, { "SCHED_FIFO", 1 }, { "SCHED_RR", 2 },      { "SCHED_BATCH", 3 },
              { "SCHED_ISO", 4 },   { "SCHED_IDLE", 5 }, { "SCHED_DEADLINE", 6 } };
  static const struct
  {
    const char *name;
    uint64_t v;
  } fl[] = { { "SCHED_FLAG_RESET_ON_FORK", 1 },  { "SCHED_FLAG_RECLAIM", 2 },
             { "SCHED_FLAG_DL_OVERRUN", 4 },     { "SCHED_FLAG_KEEP_POLICY", 8 },
             { "SCHED_FLAG_KEEP_PARAMS", 16 },   { "SCHED_FLAG_UTIL_CLAMP_MIN", 32 },
             { "SCHED_FLAG_UTIL_CLAMP_MAX", 64 } };
  struct sched_attr_compat a = { 0 };
  const char *policy = json_string_value (json_object_get (s, "policy"));
  size_t i;
  json_t *v;
  a.size = sizeof a;
  for (i = 0; policy && i < sizeof pol / sizeof pol[0]; i++)
    if (strcmp (policy, pol[i].name) == 0)
      break;
  if (policy == NULL || i == sizeof pol / sizeof pol[0])
    return pier_error_makex (err, EINVAL, "process.scheduler.policy `%s` is unknown",
                             policy ? policy : "(missing)");
  a.sched_policy = pol[i].v;
  a.sched_nice = (int32_t) json_integer_value (json_object_get (s, "nice"));
  a.sched_priority = (uint32_t) json_integer_value (json_object_get (s, "priority"));
  a.sched_runtime = (uint64_t) json_integer_value (json_object_get (s, "runtime"));
  a.sched_deadline = (uint64_t) json_integer_value (json_object_get (s, "deadline"));
  a.sched_period = (uint64_t) json_integer_value (json_object_get (s, "period"));
  json_array_foreach (json_object_get (s, "flags"), i,
                      v) for (size_t k = 0; k < sizeof fl / sizeof fl[0];
                              k++) if (json_is_string (v) && strcmp (json_string_value (v), fl[k].name) == 0)
      a.sched_flags
      |= fl[k].v;
  if (syscall (SYS_sched_setattr, 0, &a, 0) < 0)
    return pier_error_make (err, errno, "cannot set the scheduler policy %s", policy);
  return 0;
}

/* The label our next execve gets: /proc/self/attr/<lsm>/exec where the
 * kernel has per-LSM files, else the shared /proc/self/attr/exec. */
static int
set_exec_label (const char *lsm, const char *value, pier_error **err)
{
  cleanup_free char *own = xasprintf ("/proc/self/attr/%s/exec", lsm);
  if (pier_write_file_at (AT_FDCWD, own, value, strlen (value), NULL) == 0)
    return 0;
  if (pier_write_file_at (AT_FDCWD, "/proc/self/attr/exec", value, strlen (value), err) < 0)
    return pier_error_wrap (err, "cannot set the %s label `%s`", lsm, value);
  return 0;
}

int
pier_process_exec (const pier_process *p, const char *path, const pier_exec_opts *o, pier_error **err)
{
  if (o->spec && o->spec->has_personality && personality (o->spec->personality) < 0)
    return pier_error_make (err, errno, "cannot set the personality");
  if (set_rlimits (p, err) < 0)
    return -1;
  if (p->has_io_priority && syscall (SYS_ioprio_set, 1, 0, (p->io_prio_class << 13) | p->io_prio_level) < 0)
    return pier_error_make (err, errno, "cannot set the IO priority");
  if (p->scheduler && set_scheduler (p->scheduler, err) < 0)
    return -1;
  int cwd_done = chdir (p->cwd) == 0;
  if (!cwd_done && errno != EACCES)
    return pier_error_make (err, errno, "cannot change to the working directory `%s`", p->cwd);
  umask (p->has_umask ? p->umask : 022);

  if (pier_caps_drop_bounding (p, err) < 0)
    return -1;
  /* Without no_new_privs, loading a filter needs CAP_SYS_ADMIN: load it
   * while we still have it.  With it, load last so that as few syscalls
   * as possible run under the filter before exec. */
  int notify = -1;
  if (o->seccomp && !p->no_new_privileges && pier_seccomp_load (o->seccomp, &notify, err) < 0)
    return -1;
  if (pier_caps_switch_user (p, o->setgroups_allowed, err) < 0)
    return -1;
  if (!cwd_done && chdir (p->cwd) < 0)
    return pier_error_make (err, errno, "cannot change to the working directory `%s`", p->cwd);
  if (p->no_new_privileges && prctl (PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
    return pier_error_make (err, errno, "cannot set no_new_privs");
  if (o->seccomp && p->no_new_privileges && pier_seccomp_load (o->seccomp, &notify, err) < 0)
    return -1;
  if (notify >= 0)
    {
      /* The listener gets the notify fd with the spec's
       * ContainerProcessState; the socket was connected before we left
       * the host's mount namespace. */
      json_t *cps = json_object ();
      json_error_t je;
      json_t *state = o->state_json ? json_loads (o->state_json, 0, &je) : NULL;
      const char *md = pier_seccomp_listener_metadata (o->seccomp);
      json_object_set_new (cps, "ociVersion", json_string ("1.2.0"));
      json_object_set_new (cps, "fds", json_pack ("[s]", "seccompFd"));
      json_object_set_new (cps, "pid", json_integer (o->host_pid));
      json_object_set_new (cps, "metadata", json_string (md ? md : ""));
      json_object_set_new (cps, "state", state ? state : json_object ());
      cleanup_free char *text = json_dumps (cps, JSON_COMPACT);
      json_decref (cps);
      if (o->listener_fd < 0)
        return pier_error_makex (err, EINVAL, "no connection to the seccomp listener");
      if (pier_send_fd (o->listener_fd, notify, text, err) < 0)
        return pier_error_wrap (err, "seccomp listener `%s`", pier_seccomp_listener (o->seccomp));
      close (o->listener_fd);
      close (notify);
    }
  if (p->apparmor_profile && pier_apparmor_enabled ())
    {
      cleanup_free char *v = xasprintf ("exec %s", p->apparmor_profile);
      if (set_exec_label ("apparmor", v, err) < 0)
        return -1;
    }
  if (p->selinux_label && pier_selinux_enabled () && set_exec_label ("selinux", p->selinux_label, err) < 0)
    return -1;
  /* Nothing of ours crosses exec: every fd above the preserved range is
   * marked close-on-exec (the CVE-2024-21626 class). */
  unsigned first = 3 + (unsigned) (o->preserve_fds > 0 ? o->preserve_fds : 0);
  if (syscall (SYS_close_range, first, ~0U, CLOSE_RANGE_CLOEXEC) < 0)
    for (int fd = (int) first; fd < 1024; fd++)
      fcntl (fd, F_SETFD, FD_CLOEXEC);
  /* The signal mask crosses exec: a caller that blocks signals for a
   * signalfd (a monitor, an attached CLI) must not hand that on. */
  sigset_t none;
  sigemptyset (&none);
  sigprocmask (SIG_SETMASK, &none, NULL);
  static char *const empty_env[] = { NULL };
  execve (path, p->args, p->env ? p->env : empty_env);
  return pier_error_make (err, errno, "exec `%s`", path);
}

int
pier_unix_connect (const char *path, const char *what, pier_error **err)
{
  struct sockaddr_un sa = { .sun_family = AF_UNIX };
  if (strlen (path) >= sizeof sa.sun_path)
    return pier_error_makex (err, ENAMETOOLONG, "%s path `%s` is too long", what, path);
  memcpy (sa.sun_path, path, strlen (path) + 1);
  int fd = socket (AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0 || connect (fd, (struct sockaddr *) &sa, sizeof sa) < 0)
    {
      int e = errno;
      if (fd >= 0)
        close (fd);
      return pier_error_make (err, e, "cannot connect to the %s `%s`", what, path);
    }
  return fd;
}

int
pier_console_connect (const char *path, pier_error **err)
{
  return pier_unix_connect (path, "console socket", err);
}

int
pier_write_pid_file (const char *path, pid_t pid, pier_error **err)
{
  char buf[32];
  int n = snprintf (buf, sizeof buf, "%d", (int) pid);
  cleanup_free char *dir = xstrdup (path);
  char *slash = strrchr (dir, '/');
  const char *base = path;
  if (slash)
    {
      *slash = '\0';
      base = slash + 1;
    }
  cleanup_close int dfd = open (slash ? (*dir ? dir : "/") : ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd < 0)
    return pier_error_make (err, errno, "cannot open the directory of pid file `%s`", path);
  return pier_atomic_write (dfd, base, buf, (size_t) n, 0644, err);
}

static volatile pid_t forward_to = -1;

static void
forward_signal (int sig)
{
  if (forward_to > 0)
    kill (forward_to, sig);
}

void
pier_forward_signals (pid_t pid)
{
  static const int sigs[] = { SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2, SIGWINCH };
  struct sigaction sa = { 0 };
  forward_to = pid;
  sa.sa_handler = pid > 0 ? forward_signal : SIG_DFL;
  for (size_t i = 0; i < sizeof sigs / sizeof sigs[0]; i++)
    sigaction (sigs[i], &sa, NULL);
}

bool
pier_apparmor_enabled (void)
{
  cleanup_free char *v = NULL;
  return pier_read_file_at (AT_FDCWD, "/sys/module/apparmor/parameters/enabled", &v, NULL, NULL) == 0
         && v[0] == 'Y';
}

bool
pier_selinux_enabled (void)
{
  return access ("/sys/fs/selinux/enforce", F_OK) == 0;
}
