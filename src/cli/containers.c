/* containers.c - docker's container verbs on existing containers: stop,
 * restart, kill, rm, wait, logs, inspect, pause, unpause, rename, top,
 * exec, port, container prune, and the `container` command group. */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include "cli/opt.h"
#include "cli/pier.h"
#include "engine/engine.h"
#include "engine/logfile.h"
#include "image/images.h"
#include "runtime/container.h"
#include "runtime/process.h"
#include "util/cleanup.h"
#include "util/fs.h"
#include "util/json.h"
#include "util/timestamp.h"
#include "util/xalloc.h"

#include "util/banned.h"

extern char **environ;

pier_engine *
pier_cli_engine (struct pier_globals *g)
{
  pier_store *st = pier_cli_store (g);
  if (st == NULL)
    return NULL;
  return pier_engine_new (st, g->runroot);
}

void
pier_cli_engine_close (pier_engine *e)
{
  if (e == NULL)
    return;
  pier_store *st = e->st;
  pier_engine_free (e);
  pier_store_close (st);
}

/* For each named container: fn; prints the name on success as docker. */
typedef int (*each_fn) (pier_engine *e, const char *id, void *data, pier_error **err);

static int
for_each (struct pier_globals *g, int argc, char **argv, int i, each_fn fn, void *data, bool print)
{
  pier_engine *e = pier_cli_engine (g);
  if (e == NULL)
    return PIER_EXIT_ERROR;
  int rc = 0;
  for (; i < argc; i++)
    {
      pier_error *err = NULL;
      cleanup_free char *id = NULL;
      if (pier_engine_find (e, argv[i], &id, &err) < 0 || fn (e, id, data, &err) < 0)
        {
          rc = pier_cli_fail (err, PIER_EXIT_ERROR);
          continue;
        }
      if (print)
        printf ("%s\n", argv[i]);
    }
  pier_cli_engine_close (e);
  return rc;
}

struct stop_args
{
  long timeout;
  const char *signal;
};

/* stop's and restart's flags */
#define STOP_OPTS(a)                                                                                         \
  { "t|time|timeout", OPT_INT, &(a)->timeout, "seconds to wait before killing the container", "int" },       \
      { "s|signal", OPT_STRING, &(a)->signal, "signal to send to the container", "string" }, HELP_OPT,       \
  {                                                                                                          \
    NULL, 0, NULL, NULL, NULL                                                                                \
  }

static int
do_stop (pier_engine *e, const char *id, void *data, pier_error **err)
{
  struct stop_args *a = data;
  return pier_engine_stop (e, id, (int) a->timeout, a->signal, err);
}

int
pier_cmd_stop (struct pier_globals *g, int argc, char **argv)
{
  struct stop_args a = { -1, NULL };
  int i = 1, rc = 0;
  pier_opt opts[] = { STOP_OPTS (&a) };
  if (pier_cli_parse ("stop", "pier stop [OPTIONS] CONTAINER [CONTAINER...]", opts, argc, argv, &i, 1, -1,
                      &rc)
      < 0)
    return rc;
  if (a.signal && pier_signal_parse (a.signal) <= 0)
    return pier_cli_usage ("stop", "invalid signal");
  return for_each (g, argc, argv, i, do_stop, &a, true);
}

static int
do_restart (pier_engine *e, const char *id, void *data, pier_error **err)
{
  struct stop_args *a = data;
  int code;
  if (pier_engine_stop (e, id, (int) a->timeout, a->signal, err) < 0)
    return -1;
  return pier_engine_start (e, id, NULL, NULL, &code, err);
}

int
pier_cmd_restart (struct pier_globals *g, int argc, char **argv)
{
  struct stop_args a = { -1, NULL };
  int i = 1, rc = 0;
  pier_opt opts[] = { STOP_OPTS (&a) };
  if (pier_cli_parse ("restart", "pier restart [OPTIONS] CONTAINER [CONTAINER...]", opts, argc, argv, &i, 1,
                      -1, &rc)
      < 0)
    return rc;
  return for_each (g, argc, argv, i, do_restart, &a, true);
}

static int
do_kill (pier_engine *e, const char *id, void *data, pier_error **err)
{
  return pier_engine_kill (e, id, data, err);
}

int
pier_cmd_kill (struct pier_globals *g, int argc, char **argv)
{
  const char *sig = "KILL";
  int i = 1, rc = 0;
  pier_opt opts[] = {
    { "s|signal", OPT_STRING, &sig, "signal to send to the container", "string" },
    HELP_OPT,
    { NULL, 0, NULL, NULL, NULL },
  };
  if (pier_cli_parse ("kill", "pier kill [OPTIONS] CONTAINER [CONTAINER...]", opts, argc, argv, &i, 1, -1,
                      &rc)
      < 0)
    return rc;
  if (pier_signal_parse (sig) <= 0)
    {
      fprintf (stderr, "Error: invalid signal: %s\n", sig);
      return PIER_EXIT_ERROR;
    }
  return for_each (g, argc, argv, i, do_kill, (void *) sig, true);
}

struct rm_args
{
  bool force, volumes;
};

int
pier_cmd_rm (struct pier_globals *g, int argc, char **argv)
{
  struct rm_args a = { false, false };
  int i = 1, rc = 0;
  pier_opt opts[] = {
    { "f|force", OPT_BOOL, &a.force, "force the removal of a running container (SIGKILL)", NULL },
    { "v|volumes", OPT_BOOL, &a.volumes, "remove anonymous volumes of the container", NULL },
    HELP_OPT,
    { NULL, 0, NULL, NULL, NULL },
  };
  if (pier_cli_parse ("rm", "pier rm [OPTIONS] CONTAINER [CONTAINER...]", opts, argc, argv, &i, 1, -1, &rc)
      < 0)
    return rc;
  /* docker rm -f of a missing container is not an error. */
  pier_engine *e = pier_cli_engine (g);
  if (e == NULL)
    return PIER_EXIT_ERROR;
  for (; i < argc; i++)
    {
      pier_error *err = NULL;
      cleanup_free char *id = NULL;
      if (pier_engine_find (e, argv[i], &id, &err) < 0)
        {
          if (a.force && err->code == ENOENT)
            {
              pier_error_free (&err);
              continue;
            }
          rc = pier_cli_fail (err, PIER_EXIT_ERROR);
          continue;
        }
      if (pier_engine_remove (e, id, a.force, a.volumes, &err) < 0)
        {
          rc = pier_cli_fail (err, PIER_EXIT_ERROR);
          continue;
        }
      printf ("%s\n", argv[i]);
    }
  pier_cli_engine_close (e);
  return rc;
}

static int
do_wait (pier_engine *e, const char *id, void *data, pier_error **err)
{
  int code;
  (void) data;
  if (pier_engine_wait (e, id, &code, err) < 0)
    return -1;
  printf ("%d\n", code);
  fflush (stdout);
  return 0;
}

int
pier_cmd_wait (struct pier_globals *g, int argc, char **argv)
{
  int i = 1, rc = 0;
  pier_opt opts[] = { HELP_OPT, { NULL, 0, NULL, NULL, NULL } };
  if (pier_cli_parse ("wait", "pier wait CONTAINER [CONTAINER...]", opts, argc, argv, &i, 1, -1, &rc) < 0)
    return rc;
  return for_each (g, argc, argv, i, do_wait, NULL, false);
}

static int
do_pause (pier_engine *e, const char *id, void *data, pier_error **err)
{
  return pier_engine_pause (e, id, data != NULL, err);
}

int
pier_cmd_pause (struct pier_globals *g, int argc, char **argv)
{
  int i = 1, rc = 0;
  pier_opt opts[] = { HELP_OPT, { NULL, 0, NULL, NULL, NULL } };
  if (pier_cli_parse ("pause", "pier pause CONTAINER [CONTAINER...]", opts, argc, argv, &i, 1, -1, &rc) < 0)
    return rc;
  return for_each (g, argc, argv, i, do_pause, (void *) 1, true);
}

int
pier_cmd_unpause (struct pier_globals *g, int argc, char **argv)
{
  int i = 1, rc = 0;
  pier_opt opts[] = { HELP_OPT, { NULL, 0, NULL, NULL, NULL } };
  if (pier_cli_parse ("unpause", "pier unpause CONTAINER [CONTAINER...]", opts, argc, argv, &i, 1, -1, &rc)
      < 0)
    return rc;
  return for_each (g, argc, argv, i, do_pause, NULL, true);
}

int
pier_cmd_rename (struct pier_globals *g, int argc, char **argv)
{
  int i = 1, rc = 0;
  pier_opt opts[] = { HELP_OPT, { NULL, 0, NULL, NULL, NULL } };
  if (pier_cli_parse ("rename", "pier rename CONTAINER NEW_NAME", opts, argc, argv, &i, 2, 2, &rc) < 0)
    return rc;
  pier_engine *e = pier_cli_engine (g);
  if (e == NULL)
    return PIER_EXIT_ERROR;
  pier_error *err = NULL;
  cleanup_free char *id = NULL;
  if (pier_engine_find (e, argv[i], &id, &err) < 0 || pier_engine_rename (e, id, argv[i + 1], &err) < 0)
    rc = pier_cli_fail (err, PIER_EXIT_ERROR);
  pier_cli_engine_close (e);
  return rc;
}

static int
inspect_containers (struct pier_globals *g, int argc, char **argv, int i, const char *format, bool images_too)
{
  int bad = pier_format_check (format);
  if (bad)
    return bad;
  pier_engine *e = pier_cli_engine (g);
  if (e == NULL)
    return PIER_EXIT_ERROR;
  int rc = 0;
  json_t *arr = json_array ();
  for (; i < argc; i++)
    {
      pier_error *err = NULL;
      cleanup_free char *id = NULL;
      json_t *j = NULL;
      if (pier_engine_find (e, argv[i], &id, &err) == 0)
        {
          if (pier_engine_inspect (e, id, &j, &err) < 0)
            {
              rc = pier_cli_fail (err, PIER_EXIT_ERROR);
              continue;
            }
        }
      else if (images_too && err->code == ENOENT)
        {
          pier_error_free (&err);
          cleanup_free char *iid = NULL;
          if (pier_image_resolve (e->st, argv[i], &iid, &err) < 0
              || pier_image_inspect (e->st, iid, &j, &err) < 0)
            {
              pier_error_free (&err);
              pier_error_makex (&err, ENOENT, "No such object: %s", argv[i]);
              rc = pier_cli_fail (err, PIER_EXIT_ERROR);
              continue;
            }
        }
      else
        {
          rc = pier_cli_fail (err, PIER_EXIT_ERROR);
          continue;
        }
      int r = pier_inspect_add (format, arr, j);
      if (r != 0)
        {
          rc = r;
          break;
        }
    }
  pier_inspect_done (format, arr);
  json_decref (arr);
  pier_cli_engine_close (e);
  return rc;
}

int
pier_cmd_container_inspect (struct pier_globals *g, int argc, char **argv)
{
  const char *format = NULL;
  bool size = false;
  int i = 1, rc = 0;
  pier_opt opts[] = {
    { "f|format", OPT_STRING, &format, "format output with a template", "TEMPLATE" },
    { "s|size", OPT_BOOL, &size, "display total file sizes", NULL },
    HELP_OPT,
    { NULL, 0, NULL, NULL, NULL },
  };
  if (pier_cli_parse ("container inspect", "pier container inspect [OPTIONS] CONTAINER [CONTAINER...]", opts,
                      argc, argv, &i, 1, -1, &rc)
      < 0)
    return rc;
  return inspect_containers (g, argc, argv, i, format, false);
}

int
pier_cmd_inspect (struct pier_globals *g, int argc, char **argv)
{
  const char *format = NULL, *type = NULL;
  bool size = false;
  int i = 1, rc = 0;
  pier_opt opts[] = {
    { "f|format", OPT_STRING, &format, "format output with a template", "TEMPLATE" },
    { "s|size", OPT_BOOL, &size, "display total file sizes", NULL },
    { "type", OPT_STRING, &type, "only objects of this type (container, image)", "string" },
    HELP_OPT,
    { NULL, 0, NULL, NULL, NULL },
  };
  if (pier_cli_parse ("inspect", "pier inspect [OPTIONS] NAME|ID [NAME|ID...]", opts, argc, argv, &i, 1, -1,
                      &rc)
      < 0)
    return rc;
  if (type && strcmp (type, "image") == 0)
    return pier_cmd_image_inspect (g, argc, argv);
  if (type && strcmp (type, "container") != 0)
    {
      fprintf (stderr, "Error: \"%s\" is not a valid value for --type\n", type);
      return PIER_EXIT_ERROR;
    }
  return inspect_containers (g, argc, argv, i, format, type == NULL);
}

/* ---------------------------------------------------------------- logs */

static void
print_entries (pier_log_entry *es, size_t n, size_t from, bool ts, int64_t since, int64_t until)
{
  for (size_t k = from; k < n; k++)
    {
      if ((since > 0 && es[k].time_ns < since) || (until > 0 && es[k].time_ns > until))
        continue;
      FILE *f = strcmp (es[k].stream, "stderr") == 0 ? stderr : stdout;
      if (ts)
        fprintf (f, "%s ", es[k].time);
      fputs (es[k].text, f);
      fflush (f);
    }
}

int
pier_cmd_logs (struct pier_globals *g, int argc, char **argv)
{
  bool follow = false, timestamps = false, details = false;
  const char *tail = "all", *since_s = NULL, *until_s = NULL;
  int i = 1, rc = 0;
  pier_opt opts[] = {
    { "f|follow", OPT_BOOL, &follow, "follow log output", NULL },
    { "n|tail", OPT_STRING, &tail, "number of lines to show from the end", "string" },
    { "since", OPT_STRING, &since_s, "show logs since a timestamp or relative time (e.g. 42m)", "string" },
    { "until", OPT_STRING, &until_s, "show logs before a timestamp or relative time", "string" },
    { "t|timestamps", OPT_BOOL, &timestamps, "show timestamps", NULL },
    { "details", OPT_BOOL, &details, "show extra details (none with json-file)", NULL },
    HELP_OPT,
    { NULL, 0, NULL, NULL, NULL },
  };
  if (pier_cli_parse ("logs", "pier logs [OPTIONS] CONTAINER", opts, argc, argv, &i, 1, 1, &rc) < 0)
    return rc;
  int64_t since = 0, until = 0;
  struct timespec now, t;
  clock_gettime (CLOCK_REALTIME, &now);
  const char *tv[2] = { since_s, until_s };
  int64_t *tout[2] = { &since, &until };
  for (int k = 0; k < 2; k++)
    if (tv[k])
      {
        pier_error *terr = NULL;
        if (pier_time_parse_user (tv[k], &now, &t, &terr) < 0)
          return pier_cli_fail (terr, PIER_EXIT_USAGE);
        *tout[k] = pier_time_ns (&t);
      }
  long ntail = -1;
  if (strcmp (tail, "all") != 0)
    {
      char *end;
      ntail = strtol (tail, &end, 10);
      if (*end || ntail < 0)
        ntail = -1;
    }
  pier_engine *e = pier_cli_engine (g);
  if (e == NULL)
    return PIER_EXIT_ERROR;
  pier_error *err = NULL;
  cleanup_free char *id = NULL;
  cleanup_json json_t *obj = NULL;
  if (pier_engine_find (e, argv[i], &id, &err) < 0 || pier_engine_inspect (e, id, &obj, &err) < 0)
    {
      pier_cli_engine_close (e);
      return pier_cli_fail (err, PIER_EXIT_ERROR);
    }
  const char *path = json_string_value (json_object_get (obj, "LogPath"));
  if (path == NULL || *path == '\0')
    {
      pier_cli_engine_close (e);
      fprintf (stderr, "Error: configured logging driver does not support reading\n");
      return PIER_EXIT_ERROR;
    }
  cleanup_free char *logpath = xstrdup (path);
  int64_t offset = 0;
  pier_log_entry *es = NULL;
  size_t n = 0;
  if (pier_logfile_read (logpath, true, &offset, &es, &n, &err) < 0)
    {
      pier_cli_engine_close (e);
      return pier_cli_fail (err, PIER_EXIT_ERROR);
    }
  size_t from = ntail >= 0 && (size_t) ntail < n ? n - (size_t) ntail : 0;
  print_entries (es, n, from, timestamps, since, until);
  pier_log_entries_free (es, n);
  const char *status = json_string_value (json_object_get (json_object_get (obj, "State"), "Status"));
  if (follow
      && (strcmp (status, "running") == 0 || strcmp (status, "restarting") == 0
          || strcmp (status, "paused") == 0))
    {
      /* Until the container stops: its monitor closes our connection. */
      pier_attach a = { false, false, false, 0, 0 };
      int mon = -1;
      if (pier_engine_attach (e, id, &a, &mon, &err) < 0)
        pier_error_free (&err);
      pier_cli_engine_close (e);
      e = NULL;
      bool done = mon < 0;
      for (;;)
        {
          struct pollfd p = { mon, POLLIN, 0 };
          if (!done && poll (&p, 1, 100) > 0)
            {
              char buf[PIER_MSG_MAX + 1];
              ssize_t r = recv (mon, buf, sizeof buf, MSG_DONTWAIT);
              if (r == 0 || (r > 0 && buf[0] == PIER_MSG_EXIT)
                  || (r < 0 && errno != EAGAIN && errno != EINTR))
                done = true;
            }
          es = NULL;
          n = 0;
          if (pier_logfile_read (logpath, false, &offset, &es, &n, NULL) == 0)
            {
              print_entries (es, n, 0, timestamps, since, until);
              pier_log_entries_free (es, n);
            }
          if (done)
            break;
          if (until > 0)
            {
              clock_gettime (CLOCK_REALTIME, &now);
              if (pier_time_ns (&now) > until)
                break;
            }
        }
      if (mon >= 0)
        close (mon);
    }
  pier_cli_engine_close (e);
  return 0;
}

/* ---------------------------------------------------------------- top */

/* Run argv, capturing its stdout. */
static int
capture (char **argv, char **out)
{
  int p[2];
  if (pipe2 (p, O_CLOEXEC) < 0)
    return -1;
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init (&fa);
  posix_spawn_file_actions_adddup2 (&fa, p[1], 1);
  pid_t pid;
  int r = posix_spawnp (&pid, argv[0], &fa, NULL, argv, environ);
  posix_spawn_file_actions_destroy (&fa);
  close (p[1]);
  if (r != 0)
    {
      close (p[0]);
      errno = r;
      return -1;
    }
  size_t len;
  r = pier_read_fd (p[0], argv[0], out, &len, NULL);
  close (p[0]);
  int st;
  waitpid (pid, &st, 0);
  return r < 0 || !WIFEXITED (st) || WEXITSTATUS (st) != 0 ? -1 : 0;
}

int
pier_cmd_top (struct pier_globals *g, int argc, char **argv)
{
  int i = 1, rc = 0;
  pier_opt opts[] = { HELP_OPT, { NULL, 0, NULL, NULL, NULL } };
  if (pier_cli_parse ("top", "pier top CONTAINER [ps OPTIONS]", opts, argc, argv, &i, 1, -1, &rc) < 0)
    return rc;
  pier_engine *e = pier_cli_engine (g);
  if (e == NULL)
    return PIER_EXIT_ERROR;
  pier_error *err = NULL;
  cleanup_free char *id = NULL;
  pid_t *pids = NULL;
  size_t n = 0;
  if (pier_engine_find (e, argv[i], &id, &err) < 0 || pier_engine_pids (e, id, &pids, &n, &err) < 0)
    {
      pier_cli_engine_close (e);
      return pier_cli_fail (err, PIER_EXIT_ERROR);
    }
  pier_cli_engine_close (e);
  char **ps = NULL;
  strv_push (&ps, "ps");
  if (argc - i > 1)
    for (int k = i + 1; k < argc; k++)
      strv_push (&ps, argv[k]);
  else
    strv_push (&ps, "-ef");
  cleanup_strv char **psv = ps;
  cleanup_free char *out = NULL;
  if (capture (psv, &out) < 0)
    {
      free (pids);
      fprintf (stderr, "Error: ps failed (is procps installed?)\n");
      return PIER_EXIT_ERROR;
    }
  /* The header names the PID column; keep the rows of our pids. */
  char *save = NULL;
  char *header = strtok_r (out, "\n", &save);
  int pidcol = -1, col = 0;
  if (header)
    {
      cleanup_free char *h = xstrdup (header);
      char *s2 = NULL;
      for (char *w = strtok_r (h, " \t", &s2); w; w = strtok_r (NULL, " \t", &s2), col++)
        if (strcmp (w, "PID") == 0)
          pidcol = col;
      printf ("%s\n", header);
    }
  if (pidcol < 0)
    {
      free (pids);
      fprintf (stderr, "Error: couldn't find PID field in ps output\n");
      return PIER_EXIT_ERROR;
    }
  for (char *line = strtok_r (NULL, "\n", &save); line; line = strtok_r (NULL, "\n", &save))
    {
      cleanup_free char *l = xstrdup (line);
      char *s2 = NULL;
      char *w = strtok_r (l, " \t", &s2);
      for (int c = 0; c < pidcol && w; c++)
        w = strtok_r (NULL, " \t", &s2);
      if (w == NULL)
        continue;
      long p = strtol (w, NULL, 10);
      for (size_t k = 0; k < n; k++)
        if (pids[k] == p)
          {
            printf ("%s\n", line);
            break;
          }
    }
  free (pids);
  return 0;
}

int
pier_cmd_port (struct pier_globals *g, int argc, char **argv)
{
  int i = 1, rc = 0;
  pier_opt opts[] = { HELP_OPT, { NULL, 0, NULL, NULL, NULL } };
  if (pier_cli_parse ("port", "pier port CONTAINER [PRIVATE_PORT[/PROTO]]", opts, argc, argv, &i, 1, 2, &rc)
      < 0)
    return rc;
  pier_engine *e = pier_cli_engine (g);
  if (e == NULL)
    return PIER_EXIT_ERROR;
  pier_error *err = NULL;
  cleanup_free char *id = NULL;
  cleanup_json json_t *obj = NULL;
  if (pier_engine_find (e, argv[i], &id, &err) < 0 || pier_engine_inspect (e, id, &obj, &err) < 0)
    {
      pier_cli_engine_close (e);
      return pier_cli_fail (err, PIER_EXIT_ERROR);
    }
  pier_cli_engine_close (e);
  json_t *ports = json_object_get (json_object_get (obj, "NetworkSettings"), "Ports");
  cleanup_free char *want = NULL;
  if (argc - i == 2)
    want = strchr (argv[i + 1], '/') ? xstrdup (argv[i + 1]) : xasprintf ("%s/tcp", argv[i + 1]);
  bool found = false;
  const char *key;
  json_t *binds;
  json_object_foreach (ports, key, binds)
  {
    if (want && strcmp (key, want) != 0)
      continue;
    size_t k;
    json_t *b;
    json_array_foreach (binds, k, b)
    {
      const char *hip = json_string_value (json_object_get (b, "HostIp")) ?: "";
      const char *hp = json_string_value (json_object_get (b, "HostPort")) ?: "";
      if (want)
        printf ("%s:%s\n", *hip ? hip : "0.0.0.0", hp);
      else
        printf ("%s -> %s:%s\n", key, *hip ? hip : "0.0.0.0", hp);
      found = true;
    }
  }
  if (want && !found)
    {
      fprintf (stderr, "Error: No public port '%s' published for %s\n", want, argv[i]);
      rc = PIER_EXIT_ERROR;
    }
  return rc;
}

/* ---------------------------------------------------------------- exec */

static struct termios exec_tio;
static bool exec_tio_saved;

static void
exec_restore (void)
{
  if (exec_tio_saved)
    tcsetattr (0, TCSADRAIN, &exec_tio);
  exec_tio_saved = false;
}

/* Copy between our terminal and the exec's pty until it exits. */
static int
proxy_pty (int master, pid_t pid, bool in)
{
  if (in && isatty (0) && tcgetattr (0, &exec_tio) == 0)
    {
      struct termios raw = exec_tio;
      cfmakeraw (&raw);
      raw.c_oflag |= OPOST;
      exec_tio_saved = true;
      tcsetattr (0, TCSADRAIN, &raw);
      atexit (exec_restore);
    }
  struct winsize ws;
  if (ioctl (0, TIOCGWINSZ, &ws) == 0 || ioctl (1, TIOCGWINSZ, &ws) == 0)
    ioctl (master, TIOCSWINSZ, &ws);
  bool stdin_open = in;
  for (;;)
    {
      struct pollfd p[2] = { { master, POLLIN, 0 }, { stdin_open ? 0 : -1, POLLIN, 0 } };
      if (poll (p, 2, -1) < 0)
        {
          if (errno == EINTR)
            continue;
          break;
        }
      if (p[0].revents)
        {
          char buf[16384];
          ssize_t n = read (master, buf, sizeof buf);
          if (n <= 0)
            break;
          pier_write_all (1, buf, (size_t) n);
        }
      if (p[1].revents)
        {
          char buf[4096];
          ssize_t n = read (0, buf, sizeof buf);
          if (n <= 0)
            stdin_open = false;
          else
            pier_write_all (master, buf, (size_t) n);
        }
    }
  exec_restore ();
  int st = 0;
  while (waitpid (pid, &st, 0) < 0 && errno == EINTR)
    ;
  return WIFEXITED (st) ? WEXITSTATUS (st) : 128 + WTERMSIG (st);
}

int
pier_cmd_exec (struct pier_globals *g, int argc, char **argv)
{
  bool interactive = false, tty = false, detach = false, privileged = false;
  const char *user = NULL, *workdir = NULL, *detach_keys = NULL;
  cleanup_strv char **env = NULL, **env_file = NULL;
  int i = 1, rc = 0;
  pier_opt opts[] = {
    { "i|interactive", OPT_BOOL, &interactive, "keep STDIN open", NULL },
    { "t|tty", OPT_BOOL, &tty, "allocate a pseudo-TTY", NULL },
    { "d|detach", OPT_BOOL, &detach, "run the command in the background", NULL },
    { "e|env", OPT_LIST, &env, "set environment variables", "list" },
    { "env-file", OPT_LIST, &env_file, "read environment variables from a file", "list" },
    { "u|user", OPT_STRING, &user, "user[:group] to run as", "string" },
    { "w|workdir", OPT_STRING, &workdir, "working directory inside the container", "string" },
    { "privileged", OPT_BOOL, &privileged, "give extended privileges to the command", NULL },
    { "detach-keys", OPT_STRING, &detach_keys, "key sequence for detaching", "string" },
    HELP_OPT,
    { NULL, 0, NULL, NULL, NULL },
  };
  if (pier_cli_parse ("exec", "pier exec [OPTIONS] CONTAINER COMMAND [ARG...]", opts, argc, argv, &i, 2, -1,
                      &rc)
      < 0)
    return rc;
  cleanup_json json_t *envj = json_array ();
  for (size_t k = 0; env_file && env_file[k]; k++)
    if ((rc = pier_cli_env_file ("exec", env_file[k], envj)) != 0)
      return rc;
  for (size_t k = 0; env && env[k]; k++)
    pier_cli_env_push (envj, env[k]);
  char **envv = NULL;
  size_t ek;
  json_t *ev;
  json_array_foreach (envj, ek, ev) strv_push (&envv, json_string_value (ev));
  cleanup_strv char **envs = envv;
  if (workdir && *workdir != '/')
    return pier_cli_usage ("exec", "the working directory must be an absolute path");
  pier_engine *e = pier_cli_engine (g);
  if (e == NULL)
    return PIER_EXIT_USAGE;
  pier_error *err = NULL;
  cleanup_free char *id = NULL;
  if (pier_engine_find (e, argv[i], &id, &err) < 0)
    {
      pier_cli_engine_close (e);
      return pier_cli_fail (err, PIER_EXIT_ERROR);
    }
  int sv[2] = { -1, -1 };
  if (tty && socketpair (AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
    {
      pier_cli_engine_close (e);
      fprintf (stderr, "Error: cannot make a socket: %s\n", strerror (errno));
      return PIER_EXIT_USAGE;
    }
  /* Without -i the command's stdin is empty, as docker's. */
  int saved_in = -1;
  if (!interactive || detach)
    {
      saved_in = dup (0);
      int dn = open ("/dev/null", O_RDONLY | O_CLOEXEC);
      dup2 (dn, 0);
      close (dn);
    }
  int devnull_out = -1, saved_out = -1, saved_err = -1;
  if (detach && !tty)
    {
      devnull_out = open ("/dev/null", O_WRONLY | O_CLOEXEC);
      saved_out = dup (1);
      saved_err = dup (2);
      dup2 (devnull_out, 1);
      dup2 (devnull_out, 2);
    }
  pier_engine_exec_opts o = { argv + i + 1, envs, user, workdir, tty, privileged, tty ? sv[1] : -1 };
  pid_t pid = -1;
  int r = pier_engine_exec (e, id, &o, &pid, &err);
  if (saved_in >= 0)
    {
      dup2 (saved_in, 0);
      close (saved_in);
    }
  if (saved_out >= 0)
    {
      dup2 (saved_out, 1);
      dup2 (saved_err, 2);
      close (saved_out);
      close (saved_err);
      close (devnull_out);
    }
  pier_cli_engine_close (e);
  if (sv[1] >= 0)
    close (sv[1]);
  if (r < 0)
    {
      if (sv[0] >= 0)
        close (sv[0]);
      /* Not running: 1; the command missing or not executable: 127 or
       * 126, as for run; any other exec failure: 126, as docker's. */
      int code = err->code == EINVAL ? PIER_EXIT_ERROR : pier_engine_start_code (err);
      if (code == PIER_EXIT_USAGE)
        code = 126;
      return pier_cli_fail (err, code);
    }
  if (detach)
    {
      if (sv[0] >= 0)
        close (sv[0]);
      return 0;
    }
  if (tty)
    {
      int master = -1;
      if (pier_recv_fd (sv[0], &master, &err) < 0)
        {
          close (sv[0]);
          return pier_cli_fail (err, PIER_EXIT_USAGE);
        }
      close (sv[0]);
      (void) detach_keys;
      int code = proxy_pty (master, pid, interactive);
      close (master);
      return code;
    }
  /* Our signals go to the command, as docker's exec proxies them. */
  pier_forward_signals (pid);
  int st = 0;
  while (waitpid (pid, &st, 0) < 0 && errno == EINTR)
    ;
  return WIFEXITED (st) ? WEXITSTATUS (st) : 128 + WTERMSIG (st);
}

/* ---------------------------------------------------------------- prune */

int
pier_cmd_container_prune (struct pier_globals *g, int argc, char **argv)
{
  bool force = false;
  int i = 1, rc = 0;
  pier_opt opts[] = {
    { "f|force", OPT_BOOL, &force, "do not prompt for confirmation", NULL },
    HELP_OPT,
    { NULL, 0, NULL, NULL, NULL },
  };
  if (pier_cli_parse ("container prune", "pier container prune [OPTIONS]", opts, argc, argv, &i, 0, 0, &rc)
      < 0)
    return rc;
  if (!force)
    {
      printf ("WARNING! This will remove all stopped containers.\nAre you sure you want to continue? [y/N] ");
      fflush (stdout);
      char ans[16] = "";
      if (fgets (ans, sizeof ans, stdin) == NULL || (ans[0] != 'y' && ans[0] != 'Y'))
        return 0;
    }
  pier_engine *e = pier_cli_engine (g);
  if (e == NULL)
    return PIER_EXIT_ERROR;
  pier_error *err = NULL;
  cleanup_json json_t *list = NULL;
  if (pier_engine_list (e, &list, &err) < 0)
    {
      pier_cli_engine_close (e);
      return pier_cli_fail (err, PIER_EXIT_ERROR);
    }
  size_t k;
  json_t *c;
  bool any = false;
  json_array_foreach (list, k, c)
  {
    const char *status = json_string_value (json_object_get (json_object_get (c, "State"), "Status"));
    if (strcmp (status, "exited") != 0 && strcmp (status, "created") != 0 && strcmp (status, "dead") != 0)
      continue;
    const char *id = json_string_value (json_object_get (c, "Id"));
    if (pier_engine_remove (e, id, false, false, &err) < 0)
      {
        rc = pier_cli_fail (err, PIER_EXIT_ERROR);
        continue;
      }
    if (!any)
      printf ("Deleted Containers:\n");
    any = true;
    printf ("%s\n", id);
  }
  printf ("%sTotal reclaimed space: 0B\n", any ? "\n" : "");
  pier_cli_engine_close (e);
  return rc;
}

int
pier_cmd_container (struct pier_globals *g, int argc, char **argv)
{
  static const struct
  {
    const char *name;
    int (*fn) (struct pier_globals *, int, char **);
  } sub[] = {
    { "create", pier_cmd_create },   { "run", pier_cmd_run },
    { "start", pier_cmd_start },     { "stop", pier_cmd_stop },
    { "restart", pier_cmd_restart }, { "kill", pier_cmd_kill },
    { "rm", pier_cmd_rm },           { "remove", pier_cmd_rm },
    { "ls", pier_cmd_ps },           { "list", pier_cmd_ps },
    { "ps", pier_cmd_ps },           { "logs", pier_cmd_logs },
    { "wait", pier_cmd_wait },       { "inspect", pier_cmd_container_inspect },
    { "pause", pier_cmd_pause },     { "unpause", pier_cmd_unpause },
    { "rename", pier_cmd_rename },   { "top", pier_cmd_top },
    { "exec", pier_cmd_exec },       { "attach", pier_cmd_attach },
    { "port", pier_cmd_port },       { "prune", pier_cmd_container_prune },
    { "diff", pier_cmd_diff },       { "commit", pier_cmd_commit },
    { "export", pier_cmd_export },   { "cp", pier_cmd_cp },
    { "update", pier_cmd_update },   { "stats", pier_cmd_stats },
  };
  if (argc < 2 || strcmp (argv[1], "--help") == 0)
    {
      printf ("Usage: pier container COMMAND\n\nCommands:\n");
      for (size_t k = 0; k < sizeof sub / sizeof sub[0]; k++)
        printf ("  %s\n", sub[k].name);
      return argc < 2 ? PIER_EXIT_USAGE : 0;
    }
  for (size_t k = 0; k < sizeof sub / sizeof sub[0]; k++)
    if (strcmp (argv[1], sub[k].name) == 0)
      return sub[k].fn (g, argc - 1, argv + 1);
  fprintf (stderr, "pier: 'container %s' is not a pier command.\nSee 'pier container --help'.\n", argv[1]);
  return PIER_EXIT_USAGE;
}
