/* health.c - docker's HEALTHCHECK in the monitor (see health.h).
 *
 * docker's rules (moby daemon/health.go): a probe runs every Interval
 * (StartInterval while the container is still starting within its
 * StartPeriod), measured from the end of the previous one; exit 0 is
 * healthy and resets the failing streak; anything else (1, other codes,
 * a probe that could not start, a timeout: -1) is a failure, which does
 * not count while the container is starting within its StartPeriod, and
 * makes it unhealthy once the streak reaches Retries.  The log keeps the
 * last 5 results, each output cut at 4096 bytes ("..." marks the cut).
 * No probe runs while the container is paused, and it is unhealthy then;
 * once its checks stop (it exited), unhealthy too. */
#include "engine/health.h"
#include "engine/internal.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "util/cleanup.h"
#include "util/fs.h"
#include "util/json.h"
#include "util/timestamp.h"
#include "util/xalloc.h"

#include "util/banned.h"

#define HEALTH_MAX_LOG 5
#define HEALTH_MAX_OUTPUT 4096
#define NS_PER_MS 1000000LL

/* What the probe child reports on its result pipe. */
enum
{
  PROBE_EXITED = 0,  /* the check ran; code is its exit code */
  PROBE_FAILED = 1,  /* it could not start; the text says why */
  PROBE_SKIPPED = 2, /* the container is paused: no probe, as docker */
};

struct pier_health
{
  char **argv;
  int64_t interval, timeout, start_period, start_interval; /* ms */
  int retries;
  char *dir, *rtroot, *runroot, *id;
  int state_dirfd;
  json_t *health; /* State.Health */
  bool running;   /* the container runs: probes are due */
  pid_t init_pid;
  int64_t started_ms, due_ms;
  /* The probe under way (helper 0: none). */
  pid_t helper;
  int out_fd, res_fd;
  int64_t probe_ms, deadline_ms, kill_ms;
  bool timed_out, truncated;
  char start[64];
  size_t out_len;
  char out[HEALTH_MAX_OUTPUT];
};

static int64_t
now_ms (void)
{
  struct timespec ts;
  clock_gettime (CLOCK_MONOTONIC, &ts);
  return (int64_t) ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* A duration of the Healthcheck in ms (rounded up: 1ms is the least
 * docker takes), or dflt when unset or 0. */
static int64_t
duration_ms (json_t *hc, const char *key, int64_t dflt)
{
  json_int_t ns = json_integer_value (json_object_get (hc, key));
  if (ns <= 0)
    return dflt;
  return (int64_t) ((ns + NS_PER_MS - 1) / NS_PER_MS);
}

pier_health *
pier_health_new (json_t *config, const char *dir, const char *rtroot, const char *runroot, const char *id,
                 int state_dirfd)
{
  json_t *hc = json_object_get (config, "Healthcheck");
  json_t *test = json_object_get (hc, "Test");
  const char *kind = json_string_value (json_array_get (test, 0));
  if (kind == NULL)
    return NULL;
  bool shell = strcmp (kind, "CMD-SHELL") == 0;
  if (!shell && strcmp (kind, "CMD") != 0)
    return NULL; /* NONE, or a type docker ignores too */
  char **argv = NULL;
  if (shell)
    {
      json_t *sh = json_object_get (config, "Shell");
      if (json_array_size (sh) > 0)
        for (size_t i = 0; i < json_array_size (sh); i++)
          strv_push (&argv, json_string_value (json_array_get (sh, i)) ?: "");
      else
        {
          strv_push (&argv, "/bin/sh");
          strv_push (&argv, "-c");
        }
    }
  for (size_t i = 1; i < json_array_size (test); i++)
    strv_push (&argv, json_string_value (json_array_get (test, i)) ?: "");
  if (argv == NULL || (!shell && json_array_size (test) < 2))
    {
      strv_free (argv);
      return NULL;
    }
  pier_health *h = xmalloc (sizeof *h);
  memset (h, 0, sizeof *h);
  h->argv = argv;
  h->interval = duration_ms (hc, "Interval", 30000);
  h->timeout = duration_ms (hc, "Timeout", 30000);
  h->start_period = duration_ms (hc, "StartPeriod", 0);
  h->start_interval = duration_ms (hc, "StartInterval", 5000);
  json_int_t r = json_integer_value (json_object_get (hc, "Retries"));
  h->retries = r > 0 && r < INT32_MAX ? (int) r : 3;
  h->dir = xstrdup (dir);
  h->rtroot = xstrdup (rtroot);
  h->runroot = xstrdup (runroot);
  h->id = xstrdup (id);
  h->state_dirfd = state_dirfd;
  h->out_fd = h->res_fd = -1;
  return h;
}

static void
close_probe_fds (pier_health *h)
{
  if (h->out_fd >= 0)
    close (h->out_fd);
  if (h->res_fd >= 0)
    close (h->res_fd);
  h->out_fd = h->res_fd = -1;
}

/* Abandon the probe under way (its pid is reaped by the monitor's loop
 * as any other child; the check itself dies with the container or
 * becomes the monitor's orphan, which it reaps too). */
static void
abandon_probe (pier_health *h)
{
  if (h->helper > 0)
    kill (h->helper, SIGKILL);
  h->helper = 0;
  close_probe_fds (h);
}

void
pier_health_free (pier_health *h)
{
  if (h == NULL)
    return;
  abandon_probe (h);
  strv_free (h->argv);
  free (h->dir);
  free (h->rtroot);
  free (h->runroot);
  free (h->id);
  json_decref (h->health);
  free (h);
}

static char *
file_name (const char *id)
{
  return xasprintf ("%s.health", id);
}

/* The live file, replaced whole (readers never see half of it) and not
 * fsynced: it lives on the runroot and, as docker's, is worth nothing
 * after a crash. */
static void
write_live (pier_health *h)
{
  if (h->state_dirfd < 0)
    return;
  cleanup_free char *name = file_name (h->id);
  cleanup_free char *text = pier_json_dump (h->health, 0);
  pier_atomic_replace (h->state_dirfd, name, text, strlen (text), 0600, NULL);
}

static void
remove_live (pier_health *h)
{
  if (h->state_dirfd < 0)
    return;
  cleanup_free char *name = file_name (h->id);
  unlinkat (h->state_dirfd, name, 0);
}

void
pier_health_started (pier_health *h, json_t *state, pid_t init_pid)
{
  abandon_probe (h);
  /* The log of the last run stays, as docker keeps it. */
  json_t *old = h->health ? json_object_get (h->health, "Log")
                          : json_object_get (json_object_get (state, "Health"), "Log");
  json_t *health = json_pack ("{s:s, s:i, s:o}", "Status", "starting", "FailingStreak", 0, "Log",
                              json_is_array (old) ? json_deep_copy (old) : json_array ());
  json_decref (h->health);
  h->health = health;
  json_object_set_new (state, "Health", json_deep_copy (h->health));
  remove_live (h);
  h->running = true;
  h->init_pid = init_pid;
  h->started_ms = now_ms ();
  h->due_ms = h->started_ms + (h->start_period > 0 ? h->start_interval : h->interval);
}

void
pier_health_stopped (pier_health *h, json_t *state)
{
  abandon_probe (h);
  h->running = false;
  if (h->health)
    {
      json_object_set_new (h->health, "Status", json_string ("unhealthy"));
      json_object_set_new (state, "Health", json_deep_copy (h->health));
    }
  remove_live (h);
}

static const char *
status (const pier_health *h)
{
  return json_string_value (json_object_get (h->health, "Status")) ?: "starting";
}

/* docker's getInterval: the start interval while starting within the
 * start period. */
static int64_t
next_interval (const pier_health *h)
{
  if (now_ms () - h->started_ms < h->start_period && strcmp (status (h), "starting") == 0)
    return h->start_interval;
  return h->interval;
}

int
pier_health_poll_timeout (const pier_health *h)
{
  if (h == NULL)
    return -1;
  int64_t when;
  if (h->helper > 0)
    when = h->timed_out ? h->kill_ms : h->deadline_ms;
  else if (h->running)
    when = h->due_ms;
  else
    return -1;
  int64_t left = when - now_ms ();
  if (left < 0)
    return 0;
  return left > INT32_MAX ? INT32_MAX : (int) left;
}

int
pier_health_fd (const pier_health *h)
{
  return h ? h->out_fd : -1;
}

static void
read_output (pier_health *h)
{
  char scratch[4096];
  while (h->out_fd >= 0)
    {
      size_t room = sizeof h->out - h->out_len;
      char *dst = room ? h->out + h->out_len : scratch;
      size_t want = room ? room : sizeof scratch;
      ssize_t n = read (h->out_fd, dst, want);
      if (n < 0 && errno == EINTR)
        continue;
      if (n < 0)
        return; /* EAGAIN: the rest comes later */
      if (n == 0)
        {
          close (h->out_fd);
          h->out_fd = -1;
          return;
        }
      if (room)
        h->out_len += (size_t) n;
      else
        h->truncated = true;
    }
}

void
pier_health_on_output (pier_health *h)
{
  if (h)
    read_output (h);
}

/* The probe child: the check runs in the container with our pipe as its
 * stdout and stderr; we wait for it and kill it when the monitor asks
 * (SIGTERM: the timeout). */
static void __attribute__ ((noreturn)) probe_child (pier_health *h, int out_w, int res_w)
{
  sigset_t set;
  sigemptyset (&set);
  sigaddset (&set, SIGTERM);
  sigaddset (&set, SIGCHLD);
  sigprocmask (SIG_BLOCK, &set, NULL);
  int devnull = open ("/dev/null", O_RDWR | O_CLOEXEC);
  if (devnull != 0)
    dup2 (devnull, 0);
  dup2 (out_w, 1);
  dup2 (out_w, 2);
  if (res_w != 3)
    dup2 (res_w, 3);
  fcntl (3, F_SETFD, FD_CLOEXEC);
  /* Nothing of the monitor's (clients, the pty, the database) here. */
  syscall (SYS_close_range, 4U, ~0U, 0U);

  char msg[2048];
  int32_t rep[2] = { PROBE_EXITED, 0 };
  size_t len = 0;
  pier_engine_exec_opts o = { .args = h->argv, .console_fd = -1 };
  pier_error *err = NULL;
  pid_t pid = -1;
  if (pier_engine_exec_in (h->dir, h->rtroot, h->runroot, h->id, h->init_pid, &o, &pid, &err) < 0)
    {
      rep[0] = err && strstr (err->msg, "it is paused") ? PROBE_SKIPPED : PROBE_FAILED;
      len = (size_t) snprintf (msg, sizeof msg, "%s", err ? err->msg : "cannot run the health check");
      if (len >= sizeof msg)
        len = sizeof msg - 1;
    }
  else
    {
      /* Only the check holds the output pipe now: its end is EOF.  (fd
       * 0 is /dev/null; devnull itself may have been fd 3.) */
      dup2 (0, 1);
      dup2 (0, 2);
      for (;;)
        {
          int ws;
          pid_t r = waitpid (pid, &ws, WNOHANG);
          if (r == pid)
            {
              rep[1] = WIFEXITED (ws) ? WEXITSTATUS (ws) : 128 + WTERMSIG (ws);
              break;
            }
          if (r < 0 && errno != EINTR)
            {
              rep[0] = PROBE_FAILED;
              len = (size_t) snprintf (msg, sizeof msg, "lost the health check's process");
              break;
            }
          siginfo_t si;
          if (sigwaitinfo (&set, &si) == SIGTERM)
            kill (pid, SIGKILL);
        }
    }
  char buf[sizeof rep + sizeof msg];
  memcpy (buf, rep, sizeof rep);
  memcpy (buf + sizeof rep, msg, len);
  /* One write under PIPE_BUF: the monitor reads it whole. */
  if (write (3, buf, sizeof rep + len) < 0)
    _exit (1);
  _exit (0);
}

static void record (pier_health *h, int code, const char *out, size_t len);

static void
start_probe (pier_health *h)
{
  int out[2] = { -1, -1 }, res[2] = { -1, -1 };
  pier_time_now_rfc3339 (h->start, sizeof h->start);
  h->probe_ms = now_ms ();
  h->out_len = 0;
  h->truncated = h->timed_out = false;
  if (pipe2 (out, O_CLOEXEC) < 0 || pipe2 (res, O_CLOEXEC) < 0)
    {
      char m[128];
      int n = snprintf (m, sizeof m, "cannot run the health check: %s", strerror (errno));
      for (int i = 0; i < 2; i++)
        {
          if (out[i] >= 0)
            close (out[i]);
        }
      record (h, -1, m, (size_t) n);
      return;
    }
  pid_t pid = fork ();
  int fork_errno = errno;
  if (pid == 0)
    {
      close (out[0]);
      close (res[0]);
      probe_child (h, out[1], res[1]);
    }
  close (out[1]);
  close (res[1]);
  if (pid < 0)
    {
      close (out[0]);
      close (res[0]);
      char m[128];
      int n = snprintf (m, sizeof m, "cannot run the health check: %s", strerror (fork_errno));
      record (h, -1, m, (size_t) n);
      return;
    }
  fcntl (out[0], F_SETFL, O_NONBLOCK);
  fcntl (res[0], F_SETFL, O_NONBLOCK);
  h->helper = pid;
  h->out_fd = out[0];
  h->res_fd = res[0];
  h->deadline_ms = now_ms () + h->timeout;
}

void
pier_health_tick (pier_health *h)
{
  if (h == NULL)
    return;
  int64_t now = now_ms ();
  if (h->helper > 0)
    {
      if (!h->timed_out && now >= h->deadline_ms)
        {
          h->timed_out = true;
          kill (h->helper, SIGTERM);
          h->kill_ms = now + 5000;
        }
      else if (h->timed_out && now >= h->kill_ms)
        {
          kill (h->helper, SIGKILL);
          h->kill_ms = INT64_MAX;
        }
      return;
    }
  if (h->running && now >= h->due_ms)
    start_probe (h);
}

/* A JSON string of bytes: invalid UTF-8 becomes U+FFFD, as Go's
 * encoding/json writes it. */
static json_t *
utf8_string (const char *s, size_t n)
{
  char *o = xmalloc (n * 3 + 1);
  size_t k = 0;
  for (size_t i = 0; i < n;)
    {
      unsigned char c = (unsigned char) s[i];
      size_t len = c < 0x80                ? 1
                   : c >= 0xc2 && c < 0xe0 ? 2
                   : c >= 0xe0 && c < 0xf0 ? 3
                   : c >= 0xf0 && c < 0xf5 ? 4
                                           : 0;
      bool ok = len > 0 && i + len <= n;
      for (size_t j = 1; ok && j < len; j++)
        ok = ((unsigned char) s[i + j] & 0xc0) == 0x80;
      if (ok && c != 0)
        {
          memcpy (o + k, s + i, len);
          k += len, i += len;
        }
      else if (ok)
        o[k++] = ' ', i++; /* NUL: jansson strings cannot hold it here */
      else
        {
          memcpy (o + k, "\xef\xbf\xbd", 3);
          k += 3, i++;
        }
    }
  json_t *j = json_stringn (o, k);
  free (o);
  return j ? j : json_string ("");
}

/* docker's handleProbeResult. */
static void
record (pier_health *h, int code, const char *out, size_t len)
{
  char end[64];
  pier_time_now_rfc3339 (end, sizeof end);
  json_t *log = json_object_get (h->health, "Log");
  if (!json_is_array (log))
    json_object_set_new (h->health, "Log", log = json_array ());
  json_t *entry = json_pack ("{s:s, s:s, s:i}", "Start", h->start, "End", end, "ExitCode", code);
  json_object_set_new (entry, "Output", utf8_string (out, len));
  json_array_append_new (log, entry);
  while (json_array_size (log) > HEALTH_MAX_LOG)
    json_array_remove (log, 0);
  json_int_t streak = json_integer_value (json_object_get (h->health, "FailingStreak"));
  if (code == 0)
    {
      streak = 0;
      json_object_set_new (h->health, "Status", json_string ("healthy"));
    }
  else
    {
      /* Failures while starting within the start period do not count
       * (the probe's start against the container's). */
      int64_t since_start = h->probe_ms - h->started_ms;
      if (!(strcmp (status (h), "starting") == 0 && since_start < h->start_period))
        {
          streak++;
          if (streak >= h->retries)
            json_object_set_new (h->health, "Status", json_string ("unhealthy"));
        }
    }
  json_object_set_new (h->health, "FailingStreak", json_integer (streak));
  write_live (h);
  h->due_ms = now_ms () + next_interval (h);
}

bool
pier_health_reaped (pier_health *h, pid_t pid, int wstatus)
{
  if (h == NULL || h->helper <= 0 || pid != h->helper)
    return false;
  h->helper = 0;
  read_output (h);
  char buf[8 + 2048 + 1];
  ssize_t n = h->res_fd >= 0 ? read (h->res_fd, buf, sizeof buf - 1) : -1;
  close_probe_fds (h);
  int32_t rep[2] = { PROBE_FAILED, -1 };
  const char *msg = "the health check's process died";
  if (n >= 8)
    {
      memcpy (rep, buf, sizeof rep);
      buf[n] = '\0';
      msg = buf + 8;
    }
  else if (WIFSIGNALED (wstatus))
    msg = "the health check's process was killed";
  if (h->timed_out)
    {
      char d[32];
      pier_time_format_duration (h->timeout * NS_PER_MS, d, sizeof d);
      cleanup_free char *m = h->out_len ? xasprintf ("Health check exceeded timeout (%s): %.*s%s", d,
                                                     (int) h->out_len, h->out, h->truncated ? "..." : "")
                                        : xasprintf ("Health check exceeded timeout (%s)", d);
      record (h, -1, m, strlen (m));
      return true;
    }
  if (rep[0] == PROBE_SKIPPED)
    {
      /* Paused: docker stops probing and calls it unhealthy until a
       * probe after the unpause says otherwise. */
      if (strcmp (status (h), "unhealthy") != 0)
        {
          json_object_set_new (h->health, "Status", json_string ("unhealthy"));
          write_live (h);
        }
      h->due_ms = now_ms () + next_interval (h);
      return true;
    }
  if (rep[0] != PROBE_EXITED)
    {
      record (h, -1, msg, strlen (msg));
      return true;
    }
  if (h->truncated)
    {
      cleanup_free char *m = xmalloc (h->out_len + 3);
      memcpy (m, h->out, h->out_len);
      memcpy (m + h->out_len, "...", 3);
      record (h, rep[1], m, h->out_len + 3);
    }
  else
    record (h, rep[1], h->out, h->out_len);
  return true;
}

json_t *
pier_health_live (const char *runroot, const char *id)
{
  cleanup_free char *path = xasprintf ("%s/monitors/%s.health", runroot, id);
  cleanup_free char *text = NULL;
  size_t len;
  if (pier_read_file_at (AT_FDCWD, path, &text, &len, NULL) < 0)
    return NULL;
  json_t *j = json_loadb (text, len, 0, NULL);
  if (!json_is_object (j))
    {
      json_decref (j);
      return NULL;
    }
  return j;
}

void
pier_health_forget (const char *runroot, const char *id)
{
  cleanup_free char *path = xasprintf ("%s/monitors/%s.health", runroot, id);
  unlink (path);
}
