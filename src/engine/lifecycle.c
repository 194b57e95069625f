/* lifecycle.c - state records and the verbs on existing containers:
 * start (forking a monitor), attach, stop, kill, wait, pause, remove,
 * inspect, list. */
#include "engine/engine.h"
#include "engine/internal.h"
#include "engine/volumes.h"
#include "engine/network.h"
#include "engine/health.h"
#include "engine/userns.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "runtime/container.h"
#include "runtime/state.h"
#include "util/cleanup.h"
#include "util/fs.h"
#include "util/json.h"
#include "util/log.h"
#include "util/timestamp.h"
#include "util/xalloc.h"

#include "util/banned.h"

json_t *
pier_engine_state_new (const char *status)
{
  return json_pack ("{s:s, s:b, s:b, s:b, s:b, s:b, s:i, s:i, s:s, s:s, s:s, s:i}", "Status", status,
                    "Running", 0, "Paused", 0, "Restarting", 0, "OOMKilled", 0, "Dead", 0, "Pid", 0,
                    "ExitCode", 0, "Error", "", "StartedAt", "0001-01-01T00:00:00Z", "FinishedAt",
                    "0001-01-01T00:00:00Z", "RestartCount", 0);
}

int
pier_engine_save_state (pier_db *db, const char *id, json_t *state, pier_error **err)
{
  cleanup_free char *text = pier_json_dump (state, 0);
  return pier_db_container_set_state (db, id, text, err);
}

bool
pier_engine_monitor_alive (json_t *state)
{
  pid_t pid = (pid_t) json_integer_value (json_object_get (state, "MonitorPid"));
  json_int_t start = json_integer_value (json_object_get (state, "MonitorStart"));
  if (pid <= 0)
    return false;
  unsigned long long now = pier_proc_start_time (pid);
  if (now == 0 || (json_int_t) now != start)
    return false;
  /* A zombie is gone too (PID 1 reaps lazily here). */
  char path[64], buf[512];
  snprintf (path, sizeof path, "/proc/%d/stat", pid);
  cleanup_close int fd = open (path, O_RDONLY | O_CLOEXEC);
  ssize_t n = fd < 0 ? -1 : read (fd, buf, sizeof buf - 1);
  if (n <= 0)
    return false;
  buf[n] = '\0';
  char *p = strrchr (buf, ')');
  return p && p[1] == ' ' && p[2] != 'Z' && p[2] != 'X';
}

static bool
status_is (json_t *state, const char *s)
{
  const char *st = json_string_value (json_object_get (state, "Status"));
  return st && strcmp (st, s) == 0;
}

static bool
live_status (json_t *state)
{
  return status_is (state, "running") || status_is (state, "paused") || status_is (state, "restarting");
}

/* pier_engine_load for a row already read. */
static int
load_row (pier_engine *e, const pier_db_container *c, json_t **rec_out, json_t **state_out, pier_error **err)
{
  pier_db *db = pier_store_db (e->st);
  const char *id = c->id;
  cleanup_json json_t *rec = NULL;
  cleanup_json json_t *state = NULL;
  if (pier_json_load_buf (c->config, strlen (c->config), "container record", &rec, err) < 0
      || pier_json_load_buf (c->state, strlen (c->state), "container state", &state, err) < 0)
    return -1;
  if (json_object_get (state, "_Network") && !pier_engine_monitor_alive (state))
    {
      /* Its addresses, port rules and peers' hosts entries go back. */
      pier_engine_net_stop (e->root, e->runroot, db, id);
      pier_engine_net_idle_spawn (e->root, e->runroot, -1);
      json_object_del (state, "_Network");
      if (!live_status (state) && pier_engine_save_state (db, id, state, err) < 0)
        return -1;
    }
  if (live_status (state) && !pier_engine_monitor_alive (state))
    {
      /* Its monitor died (killed, or the machine went down): as docker
       * after a daemon crash, the container is stopped, exit code 255. */
      cleanup_free char *rt = pier_engine_runtime_root (e);
      pier_container_kill (rt, id, SIGKILL, true, NULL);
      pier_container_delete (rt, id, true, NULL);
      char now[64];
      pier_time_now_rfc3339 (now, sizeof now);
      json_object_set_new (state, "Status", json_string ("exited"));
      json_object_set_new (state, "Running", json_false ());
      json_object_set_new (state, "Paused", json_false ());
      json_object_set_new (state, "Restarting", json_false ());
      json_object_set_new (state, "Pid", json_integer (0));
      json_object_set_new (state, "ExitCode", json_integer (255));
      json_object_set_new (state, "Error", json_string ("the container's monitor exited unexpectedly"));
      json_object_set_new (state, "FinishedAt", json_string (now));
      json_object_del (state, "MonitorPid");
      json_object_del (state, "MonitorStart");
      json_t *health = json_object_get (state, "Health");
      if (health)
        {
          /* Its checks stopped with it (docker's rule: unhealthy). */
          json_t *live = pier_health_live (e->runroot, id);
          if (live)
            json_object_set_new (state, "Health", health = live);
          json_object_set_new (health, "Status", json_string ("unhealthy"));
          pier_health_forget (e->runroot, id);
        }
      int dirfd = -1;
      cleanup_free char *sock = pier_engine_socket_path (e, id, &dirfd, NULL);
      if (dirfd >= 0)
        {
          cleanup_free char *name = xasprintf ("%s.sock", id);
          unlinkat (dirfd, name, 0);
          close (dirfd);
        }
      if (pier_engine_save_state (db, id, state, err) < 0)
        return -1;
    }
  /* A running container's health as its monitor last probed it. */
  if (json_object_get (state, "Health") && live_status (state))
    {
      json_t *live = pier_health_live (e->runroot, id);
      if (live)
        json_object_set_new (state, "Health", live);
      /* docker's rule: no probes while paused, and unhealthy meanwhile
       * (the monitor writes it too at the next probe it skips). */
      if (status_is (state, "paused"))
        json_object_set_new (json_object_get (state, "Health"), "Status", json_string ("unhealthy"));
    }
  if (rec_out)
    *rec_out = steal_pointer (&rec);
  if (state_out)
    *state_out = steal_pointer (&state);
  return 0;
}

int
pier_engine_load (pier_engine *e, const char *id, json_t **rec_out, json_t **state_out, pier_error **err)
{
  pier_db_container *c = NULL;
  if (pier_db_container_get (pier_store_db (e->st), id, &c, err) < 0)
    return -1;
  int r = load_row (e, c, rec_out, state_out, err);
  pier_db_container_free (c);
  return r;
}

/* Whether a container recorded as running must run again after the
 * machine came back: as dockerd at its start, for `always` and for
 * `unless-stopped` unless the user stopped it. */
static bool
restarts_at_boot (const pier_db_container *c)
{
  cleanup_json json_t *rec = json_loads (c->config, 0, NULL);
  cleanup_json json_t *state = json_loads (c->state, 0, NULL);
  if (rec == NULL || state == NULL || !live_status (state) || pier_engine_monitor_alive (state)
      || json_is_true (json_object_get (state, "StoppedByUser")))
    return false;
  json_t *rp = json_object_get (json_object_get (rec, "HostConfig"), "RestartPolicy");
  const char *pol = json_string_value (json_object_get (rp, "Name"));
  return pol && (strcmp (pol, "always") == 0 || strcmp (pol, "unless-stopped") == 0);
}

static int
read_boot_id (int dirfd, const char *path, char *buf, size_t size)
{
  cleanup_close int fd = openat (dirfd, path, O_RDONLY | O_CLOEXEC);
  ssize_t n = fd < 0 ? -1 : read (fd, buf, size - 1);
  if (n <= 0)
    return -1;
  buf[n] = '\0';
  buf[strcspn (buf, "\n")] = '\0';
  return 0;
}

int
pier_engine_boot (pier_engine *e)
{
  char boot[64], seen[64];
  if (read_boot_id (AT_FDCWD, "/proc/sys/kernel/random/boot_id", boot, sizeof boot) < 0)
    return 0;
  if (mkdir (e->runroot, 0700) < 0 && errno != EEXIST)
    return 0;
  cleanup_close int dfd = open (e->runroot, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd < 0 || (read_boot_id (dfd, "boot-id", seen, sizeof seen) == 0 && strcmp (seen, boot) == 0))
    return 0;
  /* One pier does it; the others wait for it and find it done. */
  cleanup_close int lk = openat (dfd, "boot.lock", O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
  if (lk < 0 || flock (lk, LOCK_EX) < 0)
    return 0;
  if (read_boot_id (dfd, "boot-id", seen, sizeof seen) == 0 && strcmp (seen, boot) == 0)
    return 0;
  pier_db_container *cs = NULL;
  size_t n = 0;
  int started = 0;
  if (pier_db_container_list (pier_store_db (e->st), &cs, &n, NULL) == 0)
    {
      for (size_t i = n; i-- > 0;) /* oldest first, as they were started */
        {
          pier_error *err = NULL;
          if (!restarts_at_boot (&cs[i]))
            continue;
          if (pier_engine_load (e, cs[i].id, NULL, NULL, &err) < 0
              || pier_engine_start (e, cs[i].id, NULL, NULL, NULL, &err) < 0)
            {
              pier_warn ("cannot restart container %s after the reboot: %s", cs[i].name,
                         err ? err->msg : "unknown error");
              pier_error_free (&err);
              continue;
            }
          started++;
        }
      pier_db_containers_free (cs, n);
    }
  pier_atomic_write (dfd, "boot-id", boot, strlen (boot), 0600, NULL);
  return started;
}

char *
pier_engine_socket_path (const pier_engine *e, const char *id, int *dirfd, pier_error **err)
{
  cleanup_free char *dir = pier_path_join (e->runroot, "monitors");
  if (mkdir (e->runroot, 0700) < 0 && errno != EEXIST)
    {
      pier_error_make (err, errno, "cannot create %s", e->runroot);
      return NULL;
    }
  if (mkdir (dir, 0700) < 0 && errno != EEXIST)
    {
      pier_error_make (err, errno, "cannot create %s", dir);
      return NULL;
    }
  *dirfd = open (dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (*dirfd < 0)
    {
      pier_error_make (err, errno, "cannot open %s", dir);
      return NULL;
    }
  return xasprintf ("/proc/self/fd/%d/%s.sock", *dirfd, id);
}

int
pier_msg_send (int fd, int type, const void *data, size_t len)
{
  char buf[PIER_MSG_MAX + 1];
  if (len > PIER_MSG_MAX)
    len = PIER_MSG_MAX;
  buf[0] = (char) type;
  if (len)
    memcpy (buf + 1, data, len);
  ssize_t n;
  do
    n = send (fd, buf, len + 1, MSG_NOSIGNAL);
  while (n < 0 && errno == EINTR);
  return n < 0 ? -1 : 0;
}

int
pier_engine_start_code (const pier_error *err)
{
  const char *m = err ? err->msg : "";
  if (strstr (m, "executable file not found") || strstr (m, "No such file or directory")
      || strstr (m, "no such file or directory"))
    return 127;
  if (strstr (m, "Permission denied") || strstr (m, "permission denied") || strstr (m, "is a directory")
      || strstr (m, "Exec format error") || strstr (m, "not executable"))
    return 126;
  return 125;
}

static unsigned
attach_flags (const pier_attach *a)
{
  unsigned f = 0;
  if (a && a->in)
    f |= PIER_ATTACH_IN;
  if (a && a->out)
    f |= PIER_ATTACH_OUT;
  if (a && a->err)
    f |= PIER_ATTACH_ERR;
  return f;
}

/* Read the monitor's STARTED report. */
static int
read_started (int fd, int *exit_code, pier_error **err)
{
  char buf[PIER_MSG_MAX + 1];
  for (;;)
    {
      ssize_t n = recv (fd, buf, sizeof buf - 1, 0);
      if (n < 0 && errno == EINTR)
        continue;
      if (n <= 0)
        return pier_error_makex (err, EIO, "the container's monitor exited before the container started");
      buf[n] = '\0';
      if (buf[0] != PIER_MSG_STARTED || n < 5)
        continue;
      int32_t code;
      memcpy (&code, buf + 1, 4);
      if (code == 0)
        return 0;
      if (exit_code)
        *exit_code = code;
      return pier_error_makex (err, code == 127 ? ENOENT : code == 126 ? EACCES : EIO, "%s", buf + 5);
    }
}

/* Fork a monitor for container id, or, with id NULL, one that waits for
 * its id on *sock (pier_engine_prespawn).  *sock: our end of its client
 * socket. */
static int
spawn_monitor (pier_engine *e, const char *id, const pier_attach *a, unsigned hints, int *sock,
               pier_error **err)
{
  int sv[2];
  if (socketpair (AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0)
    return pier_error_make (err, errno, "cannot create the monitor's socket");
  fflush (stdout);
  fflush (stderr);
  pid_t child = fork ();
  if (child < 0)
    {
      close (sv[0]);
      close (sv[1]);
      return pier_error_make (err, errno, "cannot fork the monitor");
    }
  if (child == 0)
    {
      /* Twice, so the monitor is nobody's child but init's and survives
       * this CLI; setsid so no terminal signal reaches it. */
      setsid ();
      pid_t m = fork ();
      if (m != 0)
        _exit (m < 0 ? 1 : 0);
      /* A fresh image: state of the libraries in this process (sqlite's
       * open-file table above all) must not leak into the monitor. */
      char fd[16], packed_s[32];
      snprintf (fd, sizeof fd, "%d", sv[1]);
      /* flags, and the terminal size for the pty's first size */
      unsigned long long packed = attach_flags (a);
      if (a)
        packed |= (unsigned long long) a->rows << 8 | (unsigned long long) a->cols << 24;
      packed |= (unsigned long long) hints << 40;
      snprintf (packed_s, sizeof packed_s, "%llu", packed);
      fcntl (sv[1], F_SETFD, 0);
      char *args[] = { (char *) "pier-monitor",
                       (char *) PIER_MONITOR_ARG,
                       e->root,
                       e->runroot,
                       (char *) (id ? id : PIER_MONITOR_ID_LATER),
                       fd,
                       packed_s,
                       NULL };
      execv ("/proc/self/exe", args);
      _exit (127);
    }
  close (sv[1]);
  int status;
  while (waitpid (child, &status, 0) < 0 && errno == EINTR)
    ;
  *sock = sv[0];
  return 0;
}

int
pier_engine_prespawn (pier_engine *e, json_t *body, const pier_attach *a, int *sock, pier_error **err)
{
  json_t *hc = json_object_get (body, "HostConfig");
  const char *net = json_string_value (json_object_get (hc, "NetworkMode"));
  /* What pier_engine_net_start would make: not host's, not another
   * container's, and not in a user namespace of the container's. */
  bool netns = !(net && (strcmp (net, "host") == 0 || strncmp (net, "container:", 10) == 0))
               && !pier_engine_userns_enabled (hc);
  return spawn_monitor (e, NULL, a, netns ? PIER_PRESPAWN_NETNS : 0, sock, err);
}

void
pier_engine_prespawn_cancel (int sock)
{
  if (sock < 0)
    return;
  /* Its only message is its id: shut, it exits, and its end closes. */
  shutdown (sock, SHUT_WR);
  char buf[64];
  ssize_t n;
  while ((n = recv (sock, buf, sizeof buf, 0)) > 0 || (n < 0 && errno == EINTR))
    ;
  close (sock);
}

int
pier_engine_start_prespawned (pier_engine *e, const char *id, int sock, const pier_attach *a, int *client,
                              int *exit_code, pier_error **err)
{
  cleanup_close int fd = sock;
  if (exit_code)
    *exit_code = 125;
  /* Just created: nothing to check of its state. */
  if (fd < 0)
    return pier_engine_start (e, id, a, client, exit_code, err);
  if (pier_msg_send (fd, PIER_MSG_ID, id, strlen (id)) < 0)
    return pier_error_make (err, errno,
                            "cannot start container %s: its monitor exited before it got the container's id "
                            "(pier start %.12s tries again)",
                            id, id);
  if (read_started (fd, exit_code, err) < 0)
    return -1;
  if (client)
    *client = move_fd (&fd);
  return 0;
}

int
pier_engine_start (pier_engine *e, const char *id, const pier_attach *a, int *client, int *exit_code,
                   pier_error **err)
{
  cleanup_json json_t *state = NULL;
  if (exit_code)
    *exit_code = 125;
  if (pier_engine_load (e, id, NULL, &state, err) < 0)
    return -1;
  if (status_is (state, "paused"))
    return pier_error_makex (err, EBUSY, "cannot start a paused container, try unpause instead");
  if (live_status (state))
    return client ? pier_engine_attach (e, id, a, client, err) : 0;
  int sock = -1;
  if (spawn_monitor (e, id, a, 0, &sock, err) < 0)
    return -1;
  if (read_started (sock, exit_code, err) < 0)
    {
      close (sock);
      return -1;
    }
  if (client)
    *client = sock;
  else
    close (sock);
  return 0;
}

static int
connect_monitor (pier_engine *e, const char *id, pier_error **err)
{
  int dirfd = -1;
  cleanup_free char *path = pier_engine_socket_path (e, id, &dirfd, err);
  cleanup_close int dfd = dirfd;
  if (path == NULL)
    return -1;
  struct sockaddr_un sun = { .sun_family = AF_UNIX };
  if (strlen (path) >= sizeof sun.sun_path)
    return pier_error_makex (err, ENAMETOOLONG, "socket path %s is too long", path);
  memcpy (sun.sun_path, path, strlen (path) + 1);
  cleanup_close int fd = socket (AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
  if (fd < 0)
    return pier_error_make (err, errno, "cannot create a socket");
  int r;
  do
    r = connect (fd, (struct sockaddr *) &sun, sizeof sun);
  while (r < 0 && errno == EINTR);
  if (r < 0)
    return pier_error_make (err, errno, "cannot reach the monitor of container %s", id);
  return move_fd (&fd);
}

int
pier_engine_attach (pier_engine *e, const char *id, const pier_attach *a, int *client, pier_error **err)
{
  cleanup_json json_t *state = NULL;
  if (pier_engine_load (e, id, NULL, &state, err) < 0)
    return -1;
  if (!live_status (state))
    return pier_error_makex (err, EINVAL, "You cannot attach to a stopped container, start it first");
  if (status_is (state, "paused"))
    return pier_error_makex (err, EINVAL, "You cannot attach to a paused container, unpause it first");
  cleanup_close int fd = connect_monitor (e, id, err);
  if (fd < 0)
    return -1;
  unsigned char f = (unsigned char) attach_flags (a);
  if (pier_msg_send (fd, PIER_MSG_HELLO, &f, 1) < 0)
    return pier_error_make (err, errno, "cannot attach to container %s", id);
  *client = move_fd (&fd);
  return 0;
}

/* Wait until the monitor closes the connection (the container stopped). */
static void
wait_closed (int fd)
{
  char buf[PIER_MSG_MAX + 1];
  for (;;)
    {
      ssize_t n = recv (fd, buf, sizeof buf, 0);
      if (n < 0 && errno == EINTR)
        continue;
      if (n <= 0)
        return;
      if (buf[0] == PIER_MSG_EXIT)
        return;
    }
}

/* Until the monitor state names is gone (it tells its clients about the
 * exit before it releases the network and exits), for at most ms. */
static void
wait_monitor_gone (json_t *state, int ms)
{
  for (int waited = 0; waited < ms && pier_engine_monitor_alive (state); waited += 5)
    nanosleep (&(struct timespec){ .tv_nsec = 5 * 1000 * 1000 }, NULL);
}

int
pier_engine_stop (pier_engine *e, const char *id, int timeout, const char *sig, pier_error **err)
{
  cleanup_json json_t *rec = NULL;
  cleanup_json json_t *state = NULL;
  if (pier_engine_load (e, id, &rec, &state, err) < 0)
    return -1;
  if (!live_status (state))
    return 0;
  json_t *cfg = json_object_get (rec, "Config");
  if (sig == NULL)
    sig = json_string_value (json_object_get (cfg, "StopSignal"));
  int signo = sig && *sig ? pier_signal_parse (sig) : SIGTERM;
  if (signo <= 0)
    return pier_error_makex (err, EINVAL, "invalid signal: %s", sig);
  if (timeout < 0)
    {
      json_t *t = json_object_get (cfg, "StopTimeout");
      timeout = json_is_integer (t) ? (int) json_integer_value (t) : 10;
    }
  cleanup_close int fd = connect_monitor (e, id, err);
  if (fd < 0)
    return -1;
  unsigned char f = 0;
  int32_t req[2] = { timeout, signo };
  if (pier_msg_send (fd, PIER_MSG_HELLO, &f, 1) < 0 || pier_msg_send (fd, PIER_MSG_STOP, req, sizeof req) < 0)
    return pier_error_make (err, errno, "cannot stop container %s", id);
  wait_closed (fd);
  /* Stopped by the user: no restart, so the monitor exits too; when stop
   * returns nothing of the container runs. */
  wait_monitor_gone (state, 10000);
  return 0;
}

int
pier_engine_kill (pier_engine *e, const char *id, const char *sig, pier_error **err)
{
  cleanup_json json_t *state = NULL;
  if (pier_engine_load (e, id, NULL, &state, err) < 0)
    return -1;
  int signo = sig ? pier_signal_parse (sig) : SIGKILL;
  if (signo <= 0)
    return pier_error_makex (err, EINVAL, "invalid signal: %s", sig);
  if (!status_is (state, "running") && !status_is (state, "paused"))
    return pier_error_makex (err, EINVAL, "cannot kill container: %s: container %s is not running", id, id);
  cleanup_free char *rt = pier_engine_runtime_root (e);
  if (status_is (state, "paused") && signo == SIGKILL)
    pier_container_pause (rt, id, false, NULL); /* a v1-frozen task holds a SIGKILL until thawed */
  return pier_container_kill (rt, id, signo, false, err);
}

int
pier_engine_wait (pier_engine *e, const char *id, int *code, pier_error **err)
{
  cleanup_json json_t *state = NULL;
  if (pier_engine_load (e, id, NULL, &state, err) < 0)
    return -1;
  if (live_status (state))
    {
      pier_error *cerr = NULL;
      int fd = connect_monitor (e, id, &cerr);
      if (fd >= 0)
        {
          unsigned char f = 0;
          pier_msg_send (fd, PIER_MSG_HELLO, &f, 1);
          /* Through restarts: until the monitor goes. */
          char buf[PIER_MSG_MAX + 1];
          ssize_t n;
          while ((n = recv (fd, buf, sizeof buf, 0)) > 0 || (n < 0 && errno == EINTR))
            if (n > 0 && buf[0] == PIER_MSG_EXIT)
              break;
          close (fd);
        }
      pier_error_free (&cerr);
      json_decref (state);
      state = NULL;
      if (pier_engine_load (e, id, NULL, &state, err) < 0)
        return -1;
    }
  *code = (int) json_integer_value (json_object_get (state, "ExitCode"));
  return 0;
}

int
pier_engine_pause (pier_engine *e, const char *id, bool pause, pier_error **err)
{
  cleanup_json json_t *state = NULL;
  if (pier_engine_load (e, id, NULL, &state, err) < 0)
    return -1;
  if (pause && status_is (state, "paused"))
    return pier_error_makex (err, EINVAL, "container %s is already paused", id);
  if (!pause && !status_is (state, "paused"))
    return pier_error_makex (err, EINVAL, "container %s is not paused", id);
  if (pause && !status_is (state, "running"))
    return pier_error_makex (err, EINVAL, "container %s is not running", id);
  cleanup_free char *rt = pier_engine_runtime_root (e);
  if (pier_container_pause (rt, id, pause, err) < 0)
    return -1;
  json_object_set_new (state, "Status", json_string (pause ? "paused" : "running"));
  json_object_set_new (state, "Paused", json_boolean (pause));
  return pier_engine_save_state (pier_store_db (e->st), id, state, err);
}

int
pier_engine_pids (pier_engine *e, const char *id, pid_t **pids, size_t *n, pier_error **err)
{
  cleanup_json json_t *state = NULL;
  if (pier_engine_load (e, id, NULL, &state, err) < 0)
    return -1;
  if (!status_is (state, "running") && !status_is (state, "paused"))
    return pier_error_makex (err, EINVAL, "container %s is not running", id);
  cleanup_free char *rt = pier_engine_runtime_root (e);
  return pier_container_pids (rt, id, pids, n, err);
}

int
pier_engine_remove (pier_engine *e, const char *id, bool force, bool volumes, pier_error **err)
{
  cleanup_json json_t *state = NULL;
  cleanup_json json_t *rec = NULL;
  if (pier_engine_load (e, id, &rec, &state, err) < 0)
    return -1;
  if (live_status (state))
    {
      if (!force)
        {
          const char *what = status_is (state, "paused") ? "paused" : "running";
          return pier_error_makex (
              err, EBUSY,
              "cannot remove container \"%s\": container is %s: stop the container before "
              "removing or force remove",
              id, what);
        }
      if (pier_engine_stop (e, id, 0, "KILL", err) < 0)
        return -1;
      /* The monitor may be removing it itself (--rm). */
      for (int i = 0; i < 500; i++)
        {
          json_decref (state);
          state = NULL;
          pier_error *lerr = NULL;
          if (pier_engine_load (e, id, NULL, &state, &lerr) < 0)
            {
              pier_error_free (&lerr);
              return 0;
            }
          if (!pier_engine_monitor_alive (state))
            break;
          nanosleep (&(struct timespec){ .tv_nsec = 10 * 1000 * 1000 }, NULL);
        }
    }
  cleanup_free char *rt = pier_engine_runtime_root (e);
  pier_container_delete (rt, id, true, NULL);
  if (pier_engine_container_remove (e->root, pier_store_db (e->st), id, NULL, err) < 0)
    return -1;
  return volumes ? pier_engine_mounts_release (e->root, pier_store_db (e->st), rec, err) : 0;
}

/* inspect's object: the record with State in docker's place. */
static json_t *
inspect_object (json_t *rec, json_t *state)
{
  static const char *const order[] = { "Id",
                                       "Created",
                                       "Path",
                                       "Args",
                                       "State",
                                       "Image",
                                       "ResolvConfPath",
                                       "HostnamePath",
                                       "HostsPath",
                                       "LogPath",
                                       "Name",
                                       "RestartCount",
                                       "Driver",
                                       "Platform",
                                       "MountLabel",
                                       "ProcessLabel",
                                       "AppArmorProfile",
                                       "ExecIDs",
                                       "HostConfig",
                                       "GraphDriver",
                                       "Mounts",
                                       "Config",
                                       "NetworkSettings",
                                       NULL };
  json_t *out = json_object ();
  json_t *st = json_deep_copy (state);
  json_object_del (st, "MonitorPid");
  json_object_del (st, "MonitorStart");
  json_object_del (st, "StoppedByUser");
  json_object_del (st, "_Network");
  json_int_t restarts = json_integer_value (json_object_get (st, "RestartCount"));
  json_object_del (st, "RestartCount");
  for (size_t i = 0; order[i]; i++)
    {
      if (strcmp (order[i], "State") == 0)
        json_object_set_new (out, "State", st);
      else if (strcmp (order[i], "RestartCount") == 0)
        json_object_set_new (out, "RestartCount", json_integer (restarts));
      else if (strcmp (order[i], "ProcessLabel") == 0 || strcmp (order[i], "AppArmorProfile") == 0)
        json_object_set_new (out, order[i], json_string (""));
      else if (strcmp (order[i], "ExecIDs") == 0)
        json_object_set_new (out, order[i], json_null ());
      else if (strcmp (order[i], "NetworkSettings") == 0)
        json_object_set_new (out, order[i], pier_engine_net_settings (rec, state));
      else if (json_object_get (rec, order[i]))
        json_object_set (out, order[i], json_object_get (rec, order[i]));
    }
  return out;
}

int
pier_engine_inspect (pier_engine *e, const char *id, json_t **out, pier_error **err)
{
  cleanup_json json_t *rec = NULL;
  cleanup_json json_t *state = NULL;
  if (pier_engine_load (e, id, &rec, &state, err) < 0)
    return -1;
  *out = inspect_object (rec, state);
  return 0;
}

int
pier_engine_list (pier_engine *e, json_t **out, pier_error **err)
{
  pier_db_container *cs = NULL;
  size_t n = 0;
  if (pier_db_container_list (pier_store_db (e->st), &cs, &n, err) < 0)
    return -1;
  json_t *arr = json_array ();
  for (size_t i = 0; i < n; i++)
    {
      json_t *rec = NULL, *state = NULL;
      if (load_row (e, &cs[i], &rec, &state, err) < 0)
        {
          pier_db_containers_free (cs, n);
          json_decref (arr);
          return -1;
        }
      json_array_append_new (arr, inspect_object (rec, state));
      json_decref (rec);
      json_decref (state);
    }
  pier_db_containers_free (cs, n);
  *out = arr;
  return 0;
}
