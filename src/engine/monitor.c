/* monitor.c - the one process per running container (conmon's job).
 *
 * Forked by `pier start`/`run` and detached from it, the monitor:
 *   - mounts the container's overlay root in a mount namespace of its own
 *     (the mount lives and dies with the monitor and the container);
 *   - writes config.json and creates and starts the container through the
 *     runtime library, in-process, with pipes (or a pty) for its stdio;
 *   - copies the container's output to the json-file log and to attached
 *     clients, and clients' input to the container;
 *   - reaps the container (it is a subreaper), records the exit code, the
 *     time and OOM kills, applies the restart policy, handles stop
 *     requests (signal, then SIGKILL after the timeout) and --rm.
 * Clients talk to it over a SOCK_SEQPACKET socket (engine.h, PIER_MSG_*).
 */
#include "engine/internal.h"
#include "engine/userns.h"
#include "engine/logfile.h"
#include "engine/volumes.h"
#include "engine/network.h"
#include "engine/health.h"

#include <errno.h>
#include <fcntl.h>
#include <malloc.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/timerfd.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "net/bridge.h"
#include "runtime/container.h"
#include "runtime/process.h"
#include "runtime/state.h"
#include "store/db.h"
#include "util/cleanup.h"
#include "util/fs.h"
#include "util/json.h"
#include "util/log.h"
#include "util/timestamp.h"
#include "util/xalloc.h"

#include "util/banned.h"

#define MAX_CLIENTS 64

struct client
{
  int fd;
  unsigned flags;
};

struct mon
{
  char *root, *runroot, *id, *rtroot, *dir;
  json_t *rec;
  pier_db *db;
  int listen_fd;
  int sock_dirfd;
  struct client clients[MAX_CLIENTS];
  size_t n_clients;
  int out_fd, err_fd, in_fd; /* container side: its stdout, stderr (pipes or the pty master), stdin */
  bool tty;
  pid_t pid;
  bool exited;
  int exit_code;
  bool stop_requested;
  int timer_fd;
  int sig_fd;
  pier_logfile *log;
  bool ran_before;     /* the container ran before this monitor */
  bool net_started;    /* joined pier's networks (pier_engine_net_start) */
  bool removed;        /* auto_remove done */
  char *leftover;      /* the removed container's tmp/ directory, to delete */
  bool shed;           /* shed () done for this run */
  pier_net_dns *dns;   /* the embedded resolver, on user-defined networks */
  int host_mntns;      /* the mount namespace we were started in */
  int spare_netns;     /* a network namespace made while waiting for our id */
  int userns_fd;       /* the container's user namespace (held here), or -1 */
  pier_health *health; /* the HEALTHCHECK probe, NULL when none */
  unsigned short rows, cols;
};

static void
db_open (struct mon *m)
{
  if (m->db)
    return;
  cleanup_free char *path = pier_path_join (m->root, "pier.db");
  if (pier_db_open (path, &m->db, NULL) < 0)
    m->db = NULL;
}

static json_t *
load_state (struct mon *m)
{
  pier_db_container *c = NULL;
  json_t *st = NULL;
  db_open (m);
  if (m->db && pier_db_container_get (m->db, m->id, &c, NULL) == 0)
    {
      st = json_loads (c->state, 0, NULL);
      pier_db_container_free (c);
    }
  return st ? st : pier_engine_state_new ("created");
}

static void
save_state (struct mon *m, json_t *st)
{
  db_open (m);
  if (m->db)
    pier_engine_save_state (m->db, m->id, st, NULL);
}

/* A socket closed with messages unread resets its peer, whose next recv
 * then fails with ECONNRESET before the messages we sent it (the EXIT
 * report): refuse further messages, drop those queued, then close. */
static void
client_drop (struct mon *m, size_t i)
{
  int fd = m->clients[i].fd;
  char buf[512];
  shutdown (fd, SHUT_RD);
  while (recv (fd, buf, sizeof buf, MSG_DONTWAIT) > 0)
    ;
  close (fd);
  m->clients[i] = m->clients[--m->n_clients];
}

static void
client_add (struct mon *m, int fd, unsigned flags)
{
  if (m->n_clients == MAX_CLIENTS)
    {
      close (fd);
      return;
    }
  m->clients[m->n_clients++] = (struct client){ fd, flags };
}

static void
broadcast (struct mon *m, int type, unsigned need, const void *data, size_t len)
{
  for (size_t i = 0; i < m->n_clients;)
    {
      if ((m->clients[i].flags & need) != need)
        {
          i++;
          continue;
        }
      if (pier_msg_send (m->clients[i].fd, type, data, len) < 0)
        client_drop (m, i);
      else
        i++;
    }
}

static void
send_started (int fd, int code, const char *msg)
{
  char buf[PIER_MSG_MAX];
  int32_t c = code;
  size_t l = msg ? strlen (msg) : 0;
  if (l > sizeof buf - 8)
    l = sizeof buf - 8;
  memcpy (buf, &c, 4);
  if (l)
    memcpy (buf + 4, msg, l);
  pier_msg_send (fd, PIER_MSG_STARTED, buf, 4 + l);
}

static int
open_listener (struct mon *m, pier_error **err)
{
  pier_engine e = { .root = m->root, .runroot = m->runroot };
  cleanup_free char *path = pier_engine_socket_path (&e, m->id, &m->sock_dirfd, err);
  if (path == NULL)
    return -1;
  cleanup_free char *name = xasprintf ("%s.sock", m->id);
  unlinkat (m->sock_dirfd, name, 0);
  struct sockaddr_un sun = { .sun_family = AF_UNIX };
  memcpy (sun.sun_path, path, strlen (path) + 1);
  m->listen_fd = socket (AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (m->listen_fd < 0 || bind (m->listen_fd, (struct sockaddr *) &sun, sizeof sun) < 0
      || listen (m->listen_fd, 16) < 0)
    return pier_error_make (err, errno, "cannot listen on the monitor's socket");
  return 0;
}

static void
remove_listener (struct mon *m)
{
  if (m->sock_dirfd >= 0)
    {
      cleanup_free char *name = xasprintf ("%s.sock", m->id);
      unlinkat (m->sock_dirfd, name, 0);
    }
}

/* The memory cgroup's OOM kill count (v1 memory.oom_control, v2
 * memory.events). */
static long
oom_kills (const char *id)
{
  static const char *const files[]
      = { "/sys/fs/cgroup/memory/pier/%s/memory.oom_control", "/sys/fs/cgroup/pier/%s/memory.events" };
  for (size_t i = 0; i < 2; i++)
    {
      cleanup_free char *p = xasprintf (files[i], id);
      cleanup_free char *text = NULL;
      size_t len;
      if (pier_read_file_at (AT_FDCWD, p, &text, &len, NULL) < 0)
        continue;
      char *k = strstr (text, "oom_kill ");
      return k ? strtol (k + 9, NULL, 10) : 0;
    }
  return 0;
}

/* Resolve "container:<name>" modes to the other container's pid. */
static int
resolve_container_modes (struct mon *m, pier_error **err)
{
  json_t *hc = json_object_get (m->rec, "HostConfig");
  json_t *pids = json_object ();
  static const char *const keys[] = { "NetworkMode", "PidMode", "IpcMode", NULL };
  json_object_set_new (m->rec, "_ContainerPids", pids);
  for (size_t i = 0; keys[i]; i++)
    {
      const char *mode = json_string_value (json_object_get (hc, keys[i]));
      if (mode == NULL || strncmp (mode, "container:", 10) != 0)
        continue;
      cleanup_free char *other = NULL;
      if (pier_db_container_find (m->db, mode + 10, &other, err) < 0)
        return -1;
      pier_db_container *c = NULL;
      if (pier_db_container_get (m->db, other, &c, err) < 0)
        return -1;
      cleanup_json json_t *st = json_loads (c->state, 0, NULL);
      pier_db_container_free (c);
      json_int_t pid = json_integer_value (json_object_get (st, "Pid"));
      if (pid <= 0 || !pier_engine_monitor_alive (st))
        return pier_error_makex (err, EINVAL, "cannot join the namespaces of container %s: it is not running",
                                 mode + 10);
      json_object_set_new (pids, mode + 10, json_integer (pid));
    }
  return 0;
}

static int
write_config (struct mon *m, pier_error **err)
{
  cleanup_free char *rootfs = pier_path_join (m->dir, "rootfs");
  cleanup_close int rootfd = open (rootfs, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (rootfd < 0)
    return pier_error_make (err, errno, "cannot open %s", rootfs);
  cleanup_json json_t *spec = NULL;
  if (resolve_container_modes (m, err) < 0
      || pier_engine_oci_config (m->root, m->rec, rootfd, &spec, err) < 0)
    return -1;
  if (m->tty && m->rows && m->cols)
    json_object_set_new (json_object_get (spec, "process"), "consoleSize",
                         json_pack ("{s:i, s:i}", "height", m->rows, "width", m->cols));
  cleanup_free char *text = pier_json_dump (spec, 1);
  cleanup_close int dfd = open (m->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd < 0)
    return pier_error_make (err, errno, "cannot open %s", m->dir);
  return pier_atomic_replace (dfd, "config.json", text, strlen (text), 0600, err);
}

/* A container in a user namespace: the namespace, its root filesystem
 * again, idmapped (the plain one was there for filling volumes with the
 * image's ids as they are on disk), and its hostname, hosts and
 * resolv.conf owned by its root, as docker's userns-remap makes them. */
static int
userns_rootfs (struct mon *m, pier_error **err)
{
  json_t *hc = json_object_get (m->rec, "HostConfig");
  if (!pier_engine_userns_enabled (hc))
    return 0;
  uid_t uid;
  gid_t gid;
  pier_engine_userns_root (hc, &uid, &gid);
  cleanup_free char *rootfs = pier_path_join (m->dir, "rootfs");
  if (umount2 (rootfs, 0) < 0)
    return pier_error_make (err, errno, "cannot unmount %s", rootfs);
  /* Held by us, as the network namespace is: the container joins it,
   * and its network namespace is made in it. */
  m->userns_fd = pier_engine_userns_fd (hc, err);
  if (m->userns_fd < 0 || pier_engine_mount_rootfs (m->root, m->rec, m->db, m->userns_fd, err) < 0)
    return pier_error_wrap (err, "the container's user namespace");
  cleanup_free char *nsp = xasprintf ("/proc/%d/fd/%d", (int) getpid (), m->userns_fd);
  json_object_set_new (m->rec, "_UsernsPath", json_string (nsp));
  static const char *const files[] = { "hostname", "hosts", "resolv.conf", NULL };
  for (size_t i = 0; files[i]; i++)
    {
      cleanup_free char *p = pier_path_join (m->dir, files[i]);
      if (chown (p, uid, gid) < 0)
        return pier_error_make (err, errno, "cannot give %s to the container's root (%u:%u)", p, uid, gid);
    }
  return 0;
}

static void
close_fd (int *fd)
{
  if (*fd >= 0)
    close (*fd);
  *fd = -1;
}

/* Create and start the container once.  0, or -1 with *err (and *code
 * docker's exit code for the failure). */
static int
start_once (struct mon *m, int *code, pier_error **err)
{
  json_t *cfg = json_object_get (m->rec, "Config");
  bool open_stdin = json_is_true (json_object_get (cfg, "OpenStdin"));
  int in[2] = { -1, -1 }, out[2] = { -1, -1 }, errp[2] = { -1, -1 };
  int console_peer = -1;
  *code = 125;
  if (write_config (m, err) < 0)
    return -1;
  int devnull = open ("/dev/null", O_RDWR | O_CLOEXEC);
  if (open_stdin && !m->tty && pipe2 (in, O_CLOEXEC) < 0)
    return pier_error_make (err, errno, "cannot make the container's stdin");
  if (!m->tty && (pipe2 (out, O_CLOEXEC) < 0 || pipe2 (errp, O_CLOEXEC) < 0))
    return pier_error_make (err, errno, "cannot make the container's stdout");
  /* The runtime hands the container our 0, 1 and 2. */
  dup2 (in[0] >= 0 ? in[0] : devnull, 0);
  dup2 (out[1] >= 0 ? out[1] : devnull, 1);
  dup2 (errp[1] >= 0 ? errp[1] : devnull, 2);
  close_fd (&in[0]);
  close_fd (&out[1]);
  close_fd (&errp[1]);
  cleanup_free char *sc = pier_engine_seccomp_cache (m->runroot);
  pier_create_opts o = { .root = m->rtroot, .bundle = m->dir, .console_fd = -1, .seccomp_cache = sc };
  if (m->tty)
    o.own_console = &console_peer;
  pid_t pid = -1;
  int r = pier_container_create (m->id, &o, &pid, err);
  dup2 (devnull, 0);
  dup2 (devnull, 1);
  dup2 (devnull, 2);
  close (devnull);
  if (r < 0)
    {
      close_fd (&in[1]);
      close_fd (&out[0]);
      close_fd (&errp[0]);
      close_fd (&console_peer);
      *code = pier_engine_start_code (*err);
      return -1;
    }
  if (m->tty)
    {
      int master = -1;
      if (pier_recv_fd (console_peer, &master, err) < 0)
        {
          close_fd (&console_peer);
          pier_container_delete (m->rtroot, m->id, true, NULL);
          return -1;
        }
      close_fd (&console_peer);
      m->out_fd = master;
      m->in_fd = open_stdin ? dup (master) : -1;
      m->err_fd = -1;
    }
  else
    {
      m->in_fd = in[1];
      m->out_fd = out[0];
      m->err_fd = errp[0];
    }
  m->pid = pid;
  m->exited = false;
  json_t *st = load_state (m);
  char now[64];
  pier_time_now_rfc3339 (now, sizeof now);
  json_object_set_new (st, "Status", json_string ("running"));
  json_object_set_new (st, "Running", json_true ());
  json_object_set_new (st, "Paused", json_false ());
  json_object_set_new (st, "Restarting", json_false ());
  json_object_set_new (st, "OOMKilled", json_false ());
  json_object_set_new (st, "Pid", json_integer (pid));
  json_object_set_new (st, "ExitCode", json_integer (0));
  json_object_set_new (st, "Error", json_string (""));
  json_object_set_new (st, "StartedAt", json_string (now));
  json_object_set_new (st, "FinishedAt", json_string ("0001-01-01T00:00:00Z"));
  json_object_set_new (st, "MonitorPid", json_integer (getpid ()));
  json_object_set_new (st, "MonitorStart", json_integer ((json_int_t) pier_proc_start_time (getpid ())));
  if (m->health)
    pier_health_started (m->health, st, pid);
  /* Recorded while the process starts (a commit waits for the disk). */
  if (pier_container_start (m->rtroot, m->id, err) < 0)
    {
      json_decref (st);
      *code = pier_engine_start_code (*err);
      pier_container_delete (m->rtroot, m->id, true, NULL);
      return -1;
    }
  save_state (m, st);
  json_decref (st);
  return 0;
}

static void
on_output (struct mon *m, int type, const char *buf, size_t n)
{
  if (m->log)
    pier_logfile_write (m->log, type == PIER_MSG_STDERR ? "stderr" : "stdout", buf, n);
  broadcast (m, type, type == PIER_MSG_STDERR ? PIER_ATTACH_ERR : PIER_ATTACH_OUT, buf, n);
}

/* Read what fd has; false at EOF (the fd is closed then). */
static bool
pump (struct mon *m, int *fd, int type)
{
  char buf[16384];
  ssize_t n = read (*fd, buf, sizeof buf);
  if (n < 0 && (errno == EINTR || errno == EAGAIN))
    return true;
  if (n <= 0)
    {
      close_fd (fd);
      return false;
    }
  on_output (m, type, buf, (size_t) n);
  return true;
}

static void
stop_container (struct mon *m, int timeout, int sig)
{
  m->stop_requested = true;
  json_t *st = load_state (m);
  const char *status = json_string_value (json_object_get (st, "Status"));
  if (status && strcmp (status, "paused") == 0)
    pier_container_pause (m->rtroot, m->id, false, NULL);
  json_object_set_new (st, "StoppedByUser", json_true ());
  save_state (m, st);
  json_decref (st);
  if (m->exited)
    return;
  if (timeout <= 0 || sig == SIGKILL)
    {
      pier_container_kill (m->rtroot, m->id, SIGKILL, true, NULL);
      return;
    }
  pier_container_kill (m->rtroot, m->id, sig, false, NULL);
  struct itimerspec its = { .it_value = { .tv_sec = timeout } };
  timerfd_settime (m->timer_fd, 0, &its, NULL);
}

static void
on_client_message (struct mon *m, size_t ci)
{
  char buf[PIER_MSG_MAX + 1];
  ssize_t n = recv (m->clients[ci].fd, buf, sizeof buf, MSG_DONTWAIT);
  if (n < 0 && (errno == EINTR || errno == EAGAIN))
    return;
  if (n <= 0)
    {
      /* A client with stdin leaving closes the container's stdin when it
       * asked for stdin once (docker's StdinOnce). */
      if ((m->clients[ci].flags & PIER_ATTACH_IN) && !m->tty
          && json_is_true (json_object_get (json_object_get (m->rec, "Config"), "StdinOnce")))
        close_fd (&m->in_fd);
      client_drop (m, ci);
      return;
    }
  switch (buf[0])
    {
    case PIER_MSG_HELLO:
      if (n >= 2)
        m->clients[ci].flags = (unsigned char) buf[1];
      break;
    case PIER_MSG_STDIN:
      if (m->in_fd >= 0 && pier_write_all (m->in_fd, buf + 1, (size_t) n - 1) < 0)
        close_fd (&m->in_fd);
      break;
    case PIER_MSG_STDIN_EOF:
      if (!m->tty)
        close_fd (&m->in_fd);
      break;
    case PIER_MSG_RESIZE:
      if (m->tty && m->out_fd >= 0 && n >= 5)
        {
          uint16_t rc[2];
          memcpy (rc, buf + 1, 4);
          struct winsize ws = { .ws_row = rc[0], .ws_col = rc[1] };
          ioctl (m->out_fd, TIOCSWINSZ, &ws);
        }
      break;
    case PIER_MSG_STOP:
      if (n >= 9)
        {
          int32_t req[2];
          memcpy (req, buf + 1, 8);
          stop_container (m, req[0], req[1]);
        }
      break;
    default: break;
    }
}

static void
accept_clients (struct mon *m)
{
  for (;;)
    {
      int fd = accept4 (m->listen_fd, NULL, NULL, SOCK_CLOEXEC);
      if (fd < 0)
        return;
      client_add (m, fd, 0);
    }
}

static void
reap (struct mon *m)
{
  struct signalfd_siginfo si;
  while (read (m->sig_fd, &si, sizeof si) == sizeof si)
    ;
  for (;;)
    {
      int status;
      pid_t p = waitpid (-1, &status, WNOHANG);
      if (p <= 0)
        return;
      if (pier_health_reaped (m->health, p, status))
        continue;
      if (p == m->pid)
        {
          m->exited = true;
          m->exit_code = WIFEXITED (status) ? WEXITSTATUS (status) : 128 + WTERMSIG (status);
        }
    }
}

static int64_t
now_ms (void)
{
  struct timespec ts;
  clock_gettime (CLOCK_MONOTONIC, &ts);
  return (int64_t) ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* How long a container runs before its monitor sheds what only the start
 * needed: a short-lived one (run --rm true) never pays for it. */
#define SHED_AFTER_MS 1000

/* The container keeps running: the monitor gives back what only its start
 * needed.  The database closes (db_open opens it again at the exit), freed
 * heap goes back to the kernel, and the file pages of pier and its
 * libraries (code, read-only data) leave this process's resident set:
 * MADV_DONTNEED on the read-only file mappings that hold no page of ours
 * (smaps says Anonymous: 0, so relocated data is never touched).  The few
 * pages the loop uses come back at their first use, from the page cache,
 * as after the kernel reclaimed them under memory pressure. */
static void
shed (struct mon *m)
{
  m->shed = true;
  pier_db_close (m->db);
  m->db = NULL;
  FILE *f = fopen ("/proc/self/smaps", "re");
  char line[512];
  unsigned long start = 0, end = 0, inode = 0, anon;
  char perms[8] = "";
  /* Collected first and dropped last, so that reading smaps does not
   * fault back in what was just dropped. */
  struct
  {
    unsigned long start, len;
  } drop[256];
  size_t n = 0;
  while (f && fgets (line, sizeof line, f))
    {
      unsigned long s, e, ino;
      char p[8];
      if (sscanf (line, "%lx-%lx %7s %*s %*s %lu", &s, &e, p, &ino) == 4)
        {
          start = s, end = e, inode = ino;
          memcpy (perms, p, sizeof perms);
        }
      else if (sscanf (line, "Anonymous: %lu kB", &anon) == 1 && anon == 0 && inode != 0 && perms[0] == 'r'
               && perms[1] == '-' && perms[3] == 'p' && n < sizeof drop / sizeof drop[0])
        {
          drop[n].start = start;
          drop[n++].len = end - start;
        }
    }
  if (f)
    fclose (f);
  malloc_trim (0);
  for (size_t i = 0; i < n; i++)
    madvise ((void *) drop[i].start, drop[i].len, MADV_DONTNEED);
}

/* Serve the running container until it exited and its output is drained. */
static void
serve (struct mon *m)
{
  int64_t exited_at = -1;
  int64_t shed_at = now_ms () + SHED_AFTER_MS;
  for (;;)
    {
      if (m->exited && exited_at < 0)
        exited_at = now_ms ();
      if (m->exited && ((m->out_fd < 0 && m->err_fd < 0) || now_ms () - exited_at > 2000))
        break;
      struct pollfd p[MAX_CLIENTS + 8];
      size_t n = 0;
      p[n++] = (struct pollfd){ m->sig_fd, POLLIN, 0 };
      p[n++] = (struct pollfd){ m->timer_fd, POLLIN, 0 };
      p[n++] = (struct pollfd){ m->listen_fd, POLLIN, 0 };
      p[n++] = (struct pollfd){ m->out_fd, POLLIN, 0 };
      p[n++] = (struct pollfd){ m->err_fd, POLLIN, 0 };
      p[n++] = (struct pollfd){ pier_net_dns_query_fd (m->dns), POLLIN, 0 };
      p[n++] = (struct pollfd){ pier_net_dns_upstream_fd (m->dns), POLLIN, 0 };
      p[n++] = (struct pollfd){ pier_health_fd (m->health), POLLIN, 0 };
      size_t first_client = n;
      for (size_t i = 0; i < m->n_clients; i++)
        p[n++] = (struct pollfd){ m->clients[i].fd, POLLIN, 0 };
      int timeout = m->exited ? 100 : pier_health_poll_timeout (m->health);
      if (!m->exited && !m->shed)
        {
          int64_t left = shed_at - now_ms ();
          if (left < 0)
            left = 0;
          if (timeout < 0 || left < timeout)
            timeout = (int) left;
        }
      int r = poll (p, n, timeout);
      if (r < 0 && errno != EINTR)
        break;
      if (!m->exited && !m->shed && now_ms () >= shed_at)
        shed (m);
      if (!m->exited)
        pier_health_tick (m->health);
      if (r <= 0)
        continue;
      if (p[0].revents)
        reap (m);
      if (p[1].revents)
        {
          uint64_t x;
          if (read (m->timer_fd, &x, sizeof x) > 0 && !m->exited)
            pier_container_kill (m->rtroot, m->id, SIGKILL, true, NULL);
        }
      if (p[2].revents)
        accept_clients (m);
      if (p[3].revents)
        pump (m, &m->out_fd, PIER_MSG_STDOUT);
      if (p[4].revents)
        pump (m, &m->err_fd, PIER_MSG_STDERR);
      if (p[5].revents)
        pier_net_dns_on_query (m->dns);
      if (p[6].revents)
        pier_net_dns_on_upstream (m->dns);
      if (p[7].revents)
        pier_health_on_output (m->health);
      /* Clients from the back: dropping one moves the last into its place. */
      for (size_t i = n; i > first_client; i--)
        if (p[i - 1].revents && i - 1 - first_client < m->n_clients)
          on_client_message (m, i - 1 - first_client);
    }
  close_fd (&m->out_fd);
  close_fd (&m->err_fd);
  close_fd (&m->in_fd);
  struct itimerspec off = { 0 };
  timerfd_settime (m->timer_fd, 0, &off, NULL);
}

static bool auto_remove (struct mon *m);
static void drop_leftover (struct mon *m);

/* Record the exit; returns the restart delay in ms, or -1 for none. */
static int64_t
finish (struct mon *m, int64_t started_ms, int64_t *delay)
{
  long ooms = oom_kills (m->id);
  json_t *st = load_state (m);
  char now[64];
  pier_time_now_rfc3339 (now, sizeof now);
  json_object_set_new (st, "Status", json_string ("exited"));
  json_object_set_new (st, "Running", json_false ());
  json_object_set_new (st, "Paused", json_false ());
  json_object_set_new (st, "Restarting", json_false ());
  json_object_set_new (st, "OOMKilled", json_boolean (ooms > 0));
  json_object_set_new (st, "Pid", json_integer (0));
  json_object_set_new (st, "ExitCode", json_integer (m->exit_code));
  json_object_set_new (st, "FinishedAt", json_string (now));
  if (m->health)
    pier_health_stopped (m->health, st);
  char ex[5];
  int32_t code = m->exit_code;
  memcpy (ex, &code, 4);
  ex[4] = ooms > 0;

  /* The policy as recorded now (`pier update --restart` may have
   * changed it since the start; never for --rm, which has none). */
  if (!json_is_true (json_object_get (json_object_get (m->rec, "HostConfig"), "AutoRemove")))
    {
      pier_db_container *c = NULL;
      db_open (m);
      if (m->db && pier_db_container_get (m->db, m->id, &c, NULL) == 0)
        {
          cleanup_json json_t *now_rec = json_loads (c->config, 0, NULL);
          json_t *nrp = json_object_get (json_object_get (now_rec, "HostConfig"), "RestartPolicy");
          if (nrp)
            json_object_set (json_object_get (m->rec, "HostConfig"), "RestartPolicy", nrp);
          pier_db_container_free (c);
        }
    }
  json_t *rp = json_object_get (json_object_get (m->rec, "HostConfig"), "RestartPolicy");
  const char *pol = json_string_value (json_object_get (rp, "Name")) ?: "no";
  json_int_t max = json_integer_value (json_object_get (rp, "MaximumRetryCount"));
  json_int_t count = json_integer_value (json_object_get (st, "RestartCount"));
  bool restart = false;
  if (!m->stop_requested && !json_is_true (json_object_get (st, "StoppedByUser")))
    {
      if (strcmp (pol, "always") == 0 || strcmp (pol, "unless-stopped") == 0)
        restart = true;
      else if (strcmp (pol, "on-failure") == 0 && m->exit_code != 0 && (max == 0 || count < max))
        restart = true;
    }
  /* docker's back-off: 100 ms doubling, reset after 10 s of running. */
  if (now_ms () - started_ms > 10000)
    *delay = 100;
  else
    *delay = *delay > 0 ? *delay * 2 : 100;
  if (*delay > 60000)
    *delay = 60000;
  if (restart)
    {
      json_object_set_new (st, "Status", json_string ("restarting"));
      json_object_set_new (st, "Restarting", json_true ());
      json_object_set_new (st, "RestartCount", json_integer (count + 1));
    }
  else
    {
      json_object_del (st, "MonitorPid");
      json_object_del (st, "MonitorStart");
    }
  bool remove
      = !restart && json_is_true (json_object_get (json_object_get (m->rec, "HostConfig"), "AutoRemove"));
  /* The runtime's state and cgroups go now, or, for a container about to
   * be removed, after its clients heard of the exit (its processes are
   * gone: the kernel killed them with its init). */
  /* A record about to go needs no exit state (clients get the code),
   * unless it stays after all. */
  if (!remove)
    {
      pier_container_delete (m->rtroot, m->id, true, NULL);
      save_state (m, st);
    }
  if (!restart)
    {
      /* The last exit: release the network and, with --rm, remove the
       * container before telling clients, so `run --rm` returns when it
       * is gone (as docker's). */
      if (m->net_started)
        pier_engine_net_stop (m->root, m->runroot, m->db, m->id);
      if (remove && !auto_remove (m))
        save_state (m, st);
    }
  json_decref (st);
  broadcast (m, PIER_MSG_EXIT, 0, ex, sizeof ex);
  while (m->n_clients)
    client_drop (m, 0);
  if (remove)
    pier_container_delete (m->rtroot, m->id, true, NULL);
  drop_leftover (m);
  return restart ? *delay : -1;
}

/* Wait out a restart delay, serving clients (a stop cancels it). */
static bool
restart_wait (struct mon *m, int64_t ms)
{
  int64_t until = now_ms () + ms;
  while (!m->stop_requested)
    {
      int64_t left = until - now_ms ();
      if (left <= 0)
        return true;
      struct pollfd p[MAX_CLIENTS + 2];
      size_t n = 0;
      p[n++] = (struct pollfd){ m->listen_fd, POLLIN, 0 };
      p[n++] = (struct pollfd){ m->sig_fd, POLLIN, 0 };
      for (size_t i = 0; i < m->n_clients; i++)
        p[n++] = (struct pollfd){ m->clients[i].fd, POLLIN, 0 };
      if (poll (p, n, (int) left) <= 0)
        continue;
      if (p[0].revents)
        accept_clients (m);
      if (p[1].revents)
        reap (m);
      for (size_t i = n; i > 2; i--)
        if (p[i - 1].revents && i - 3 < m->n_clients)
          on_client_message (m, i - 3);
    }
  /* Stopped while waiting: exited it stays. */
  json_t *st = load_state (m);
  json_object_set_new (st, "Status", json_string ("exited"));
  json_object_set_new (st, "Restarting", json_false ());
  json_object_del (st, "MonitorPid");
  json_object_del (st, "MonitorStart");
  save_state (m, st);
  json_decref (st);
  char ex[5] = { 0 };
  int32_t code = m->exit_code;
  memcpy (ex, &code, 4);
  broadcast (m, PIER_MSG_EXIT, 0, ex, sizeof ex);
  return false;
}

/* The files of a removed container: gone for everyone else already, so
 * deleted after clients heard of the exit. */
static void
drop_leftover (struct mon *m)
{
  if (m->leftover == NULL)
    return;
  /* The root is still mounted here (its unmount syncs the upper layer's
   * file system: a millisecond or more). */
  cleanup_free char *rootfs = pier_path_join (m->leftover, "rootfs");
  umount2 (rootfs, MNT_DETACH);
  /* In a user namespace, also the idmapped bind its layers go through
   * (pier_engine_mount_rootfs). */
  if (m->userns_fd >= 0)
    {
      cleanup_free char *work = pier_path_join (m->leftover, "work");
      umount2 (work, MNT_DETACH);
    }
  pier_rmtree_at (AT_FDCWD, m->leftover, NULL);
  free (m->leftover);
  m->leftover = NULL;
}

/* Remove the --rm container; true when it is gone. */
static bool
auto_remove (struct mon *m)
{
  if (m->removed)
    return true;
  m->removed = true;
  db_open (m);
  if (m->db == NULL || pier_engine_container_remove (m->root, m->db, m->id, &m->leftover, NULL) < 0)
    return false;
  pier_engine_mounts_release (m->root, m->db, m->rec, NULL);
  return true;
}

/* A start that failed: the container stays (created, or exited when it
 * ran before) with the error recorded, as docker keeps it. */
static void
record_failure (struct mon *m, int code, const char *msg, bool ran)
{
  json_t *st = load_state (m);
  json_object_set_new (st, "Status", json_string (ran ? "exited" : "created"));
  json_object_set_new (st, "Running", json_false ());
  json_object_set_new (st, "Restarting", json_false ());
  json_object_set_new (st, "Pid", json_integer (0));
  json_object_set_new (st, "ExitCode", json_integer (code));
  json_object_set_new (st, "Error", json_string (msg));
  if (m->health)
    pier_health_stopped (m->health, st);
  if (!ran)
    json_object_set_new (st, "StartedAt", json_string ("0001-01-01T00:00:00Z"));
  json_object_del (st, "MonitorPid");
  json_object_del (st, "MonitorStart");
  save_state (m, st);
  json_decref (st);
}

void
pier_monitor_main (const char *root, const char *runroot, const char *id, int client,
                   unsigned long long packed)
{
  unsigned flags = (unsigned) (packed & 0xff);
  struct mon mon = { .listen_fd = -1,
                     .sock_dirfd = -1,
                     .out_fd = -1,
                     .err_fd = -1,
                     .in_fd = -1,
                     .timer_fd = -1,
                     .sig_fd = -1,
                     .host_mntns = -1,
                     .spare_netns = -1,
                     .userns_fd = -1 };
  struct mon *m = &mon;
  pier_error *err = NULL;
  int code = 125;

  /* Only what the monitor needs stays open. */
  if (client != 3)
    {
      dup2 (client, 3);
      close (client);
      client = 3;
    }
  fcntl (client, F_SETFD, FD_CLOEXEC);
  syscall (SYS_close_range, 4U, ~0U, 0U);
  int devnull = open ("/dev/null", O_RDWR | O_CLOEXEC);
  dup2 (devnull, 0);
  dup2 (devnull, 1);
  dup2 (devnull, 2);
  close (devnull);
  prctl (PR_SET_NAME, "pier-monitor");
  prctl (PR_SET_CHILD_SUBREAPER, 1);
  pier_log_set_program ("pier-monitor");

  m->root = xstrdup (root);
  m->runroot = xstrdup (runroot);
  m->rtroot = pier_path_join (runroot, "runtime");
  client_add (m, client, flags);
  m->rows = (unsigned short) (packed >> 8 & 0xffff);
  m->cols = (unsigned short) (packed >> 24 & 0xffff);

  sigset_t set;
  sigemptyset (&set);
  sigaddset (&set, SIGCHLD);
  sigaddset (&set, SIGTERM);
  sigaddset (&set, SIGINT);
  sigaddset (&set, SIGHUP);
  sigprocmask (SIG_BLOCK, &set, NULL);
  signal (SIGPIPE, SIG_IGN);
  m->sig_fd = signalfd (-1, &set, SFD_CLOEXEC | SFD_NONBLOCK);
  m->timer_fd = timerfd_create (CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK);

  db_open (m);
  /* Prespawned: loaded while the CLI records the container; its id comes
   * once it is (the CLI gone or failed first: nothing was made). */
  char given[128];
  if (strcmp (id, PIER_MONITOR_ID_LATER) == 0)
    {
      /* Made now, while the CLI records the container (half a
       * millisecond of the kernel's, otherwise on the way to its start). */
      if ((packed >> 40) & PIER_PRESPAWN_NETNS)
        pier_netns_new (NULL, &m->spare_netns, NULL);
      ssize_t n;
      do
        n = recv (client, given, sizeof given - 1, 0);
      while (n < 0 && errno == EINTR);
      if (n < 2 || given[0] != PIER_MSG_ID)
        {
          pier_db_close (m->db);
          _exit (0);
        }
      given[n] = '\0';
      if (strlen (given + 1) == strlen (id))
        memcpy ((char *) id, given + 1, strlen (id)); /* our argv: ps shows the id */
      id = given + 1;
    }
  m->id = xstrdup (id);
  m->dir = xasprintf ("%s/containers/%s", root, id);
  pier_db_container *c = NULL;
  if (m->db == NULL || pier_db_container_get (m->db, id, &c, &err) < 0)
    goto fail;
  m->rec = json_loads (c->config, 0, NULL);
  pier_db_container_free (c);
  if (m->rec == NULL)
    {
      pier_error_makex (&err, EIO, "container %s: its record is damaged", id);
      goto fail;
    }
  m->tty = json_is_true (json_object_get (json_object_get (m->rec, "Config"), "Tty"));
  {
    json_t *st0 = load_state (m);
    m->ran_before
        = strncmp (json_string_value (json_object_get (st0, "StartedAt")) ?: "0001", "0001", 4) != 0;
    json_decref (st0);
  }
  if (pier_engine_mounts_attach (root, m->db, m->rec, &err) < 0)
    goto fail;
  /* /etc's files, before anything gives them to a user namespace's root
   * (a network rewrites its own). */
  {
    cleanup_close int dfd = open (m->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd < 0)
      {
        pier_error_make (&err, errno, "cannot open the container's directory %s", m->dir);
        goto fail;
      }
    if (pier_engine_write_etc (dfd, json_object_get (m->rec, "Config"),
                               json_object_get (m->rec, "HostConfig"), &err)
        < 0)
      goto fail;
  }
  m->host_mntns = open ("/proc/self/ns/mnt", O_RDONLY | O_CLOEXEC);
  if (unshare (CLONE_NEWNS) < 0)
    {
      pier_error_make (&err, errno, "cannot make the monitor's mount namespace");
      goto fail;
    }
  mount (NULL, "/", NULL, MS_REC | MS_SLAVE, NULL);
  if (pier_engine_mount_rootfs (root, m->rec, m->db, -1, &err) < 0
      || pier_engine_mounts_populate (root, m->db, m->rec, &err) < 0 || userns_rootfs (m, &err) < 0
      || open_listener (m, &err) < 0)
    goto fail;
  m->health = pier_health_new (json_object_get (m->rec, "Config"), m->dir, m->rtroot, m->runroot, m->id,
                               m->sock_dirfd);
  const char *logpath = json_string_value (json_object_get (m->rec, "LogPath"));
  if (logpath && *logpath)
    {
      json_t *lopts
          = json_object_get (json_object_get (json_object_get (m->rec, "HostConfig"), "LogConfig"), "Config");
      if (pier_logfile_open (logpath, json_string_value (json_object_get (lopts, "max-size")),
                             json_string_value (json_object_get (lopts, "max-file")), &m->log, &err)
          < 0)
        goto fail;
    }

  /* The network namespace (held by us, so it lives as long as we do). */
  int netns_fd = -1;
  int joined
      = pier_engine_net_start (root, runroot, m->db, m->rec, &m->spare_netns, &netns_fd, &m->dns, &err);
  close_fd (&m->spare_netns);
  if (joined < 0)
    goto fail;
  m->net_started = joined > 0;
  if (netns_fd >= 0)
    {
      cleanup_free char *nsp = xasprintf ("/proc/%d/fd/%d", (int) getpid (), netns_fd);
      json_object_set_new (m->rec, "_NetnsPath", json_string (nsp));
    }

  int64_t delay = 0;
  bool first = true;
  for (;;)
    {
      int64_t started = now_ms ();
      if (start_once (m, &code, &err) < 0)
        {
          if (first)
            goto fail;
          /* A restart that cannot start: the container stays exited. */
          record_failure (m, code, err->msg, true);
          break;
        }
      if (first)
        {
          for (size_t i = 0; i < m->n_clients; i++)
            send_started (m->clients[i].fd, 0, NULL);
          first = false;
        }
      serve (m);
      int64_t wait = finish (m, started, &delay);
      if (wait < 0 || !restart_wait (m, wait))
        break;
    }
  pier_net_dns_free (m->dns);
  m->dns = NULL;
  if (m->net_started)
    pier_engine_net_stop (m->root, m->runroot, m->db, m->id);
  remove_listener (m);
  if (json_is_true (json_object_get (json_object_get (m->rec, "HostConfig"), "AutoRemove")))
    auto_remove (m);
  drop_leftover (m);
  if (m->net_started)
    pier_engine_net_idle_spawn (m->root, m->runroot, m->host_mntns);
  pier_logfile_close (m->log);
  pier_db_close (m->db);
  _exit (0);

fail:
  pier_net_dns_free (m->dns);
  if (m->net_started && m->db)
    pier_engine_net_stop (m->root, m->runroot, m->db, m->id);
  if (err)
    {
      record_failure (m, code, err->msg, m->ran_before);
      for (size_t i = 0; i < m->n_clients; i++)
        send_started (m->clients[i].fd, code, err->msg);
    }
  remove_listener (m);
  if (m->rec && json_is_true (json_object_get (json_object_get (m->rec, "HostConfig"), "AutoRemove")))
    auto_remove (m);
  drop_leftover (m);
  if (m->net_started)
    pier_engine_net_idle_spawn (m->root, m->runroot, m->host_mntns);
  pier_db_close (m->db);
  _exit (1);
}

int
pier_engine_monitor_exec (int argc, char **argv)
{
  if (argc != 7)
    return 125;
  pier_monitor_main (argv[2], argv[3], argv[4], atoi (argv[5]), strtoull (argv[6], NULL, 10));
}
