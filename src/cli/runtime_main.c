/* runtime_main.c - pier-runtime: an OCI runtime with runc's command line. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include "cli/opt.h"
#include "runtime/cgroup.h"
#include "runtime/container.h"
#include "runtime/mountopts.h"
#include "runtime/process.h"
#include "runtime/seccomp.h"
#include "runtime/spec.h"
#include "runtime/state.h"
#include "util/cleanup.h"
#include "util/fs.h"
#include "util/json.h"
#include "util/log.h"
#include "util/units.h"
#include "util/xalloc.h"
#include "util/banned.h"

#ifndef PIER_VERSION
#define PIER_VERSION "0.1.0"
#endif

static const char *g_root;

static int
fail (pier_error *err)
{
  pier_log (PIER_LOG_ERROR, "%s", err ? err->msg : "unknown error");
  fprintf (stderr, "pier-runtime: %s\n", err ? err->msg : "unknown error");
  pier_error_free (&err);
  return 1;
}

static int
usage_error (const char *cmd, const char *msg)
{
  pier_log (PIER_LOG_ERROR, "%s: %s", cmd, msg);
  fprintf (stderr, "pier-runtime %s: %s\nSee 'pier-runtime %s --help'.\n", cmd, msg, cmd);
  return 1;
}

static bool want_help;

#define HELP_OPT                                                                                             \
  {                                                                                                          \
    "h|help", OPT_BOOL, &want_help, "show this help", NULL                                                   \
  }

static int
parse (const char *cmd, const char *usage, const pier_opt *opts, int argc, char **argv, int *i, int min_pos,
       int max_pos, int *rc)
{
  char *msg = NULL;
  if (pier_opt_parse (opts, argc, argv, i, &msg) < 0)
    {
      *rc = usage_error (cmd, msg);
      free (msg);
      return -1;
    }
  if (want_help)
    {
      pier_opt_usage (usage, opts);
      *rc = 0;
      return -1;
    }
  int npos = argc - *i;
  if (npos < min_pos || (max_pos >= 0 && npos > max_pos))
    {
      char m[128];
      snprintf (m, sizeof m, "expected %d%s argument%s, got %d", min_pos,
                max_pos < 0 ? " or more" : (max_pos > min_pos ? " or more" : ""),
                min_pos == 1 && max_pos == 1 ? "" : "s", npos);
      *rc = usage_error (cmd, m);
      return -1;
    }
  return 0;
}

/* ---- create / run ----------------------------------------------------- */

static struct termios saved_tio;
static bool tio_saved;

static void
restore_tty (void)
{
  if (tio_saved)
    tcsetattr (0, TCSANOW, &saved_tio);
}

/* Copy between our stdio and the container's pty until the init exits. */
static void
proxy_console (int master, pid_t pid)
{
  int pfd = (int) syscall (SYS_pidfd_open, pid, 0);
  if (isatty (0) && tcgetattr (0, &saved_tio) == 0)
    {
      struct termios raw = saved_tio;
      cfmakeraw (&raw);
      tcsetattr (0, TCSANOW, &raw);
      tio_saved = true;
      atexit (restore_tty);
    }
  /* A resized terminal is copied onto the pty (the kernel then tells the
   * container's foreground process group with SIGWINCH). */
  sigset_t winch;
  sigemptyset (&winch);
  sigaddset (&winch, SIGWINCH);
  sigprocmask (SIG_BLOCK, &winch, NULL);
  int wfd = tio_saved ? signalfd (-1, &winch, SFD_CLOEXEC | SFD_NONBLOCK) : -1;
  /* The size now (read after SIGWINCH is ours, so no resize is lost). */
  struct winsize ws0;
  if (tio_saved && ioctl (0, TIOCGWINSZ, &ws0) == 0)
    ioctl (master, TIOCSWINSZ, &ws0);
  char buf[8192];
  bool in_open = true;
  for (;;)
    {
      struct pollfd p[4] = {
        { master, POLLIN, 0 }, { in_open ? 0 : -1, POLLIN, 0 }, { pfd, POLLIN, 0 }, { wfd, POLLIN, 0 }
      };
      if (poll (p, 4, -1) < 0 && errno != EINTR)
        break;
      if (p[3].revents & POLLIN)
        {
          struct signalfd_siginfo si;
          struct winsize ws;
          while (read (wfd, &si, sizeof si) == sizeof si)
            ;
          if (ioctl (0, TIOCGWINSZ, &ws) == 0)
            ioctl (master, TIOCSWINSZ, &ws);
        }
      if (p[0].revents & POLLIN)
        {
          ssize_t n = read (master, buf, sizeof buf);
          if (n > 0)
            pier_write_all (1, buf, (size_t) n);
          else
            break;
        }
      else if (p[0].revents & (POLLHUP | POLLERR))
        break;
      if (p[1].revents & (POLLIN | POLLHUP))
        {
          ssize_t n = read (0, buf, sizeof buf);
          if (n > 0)
            pier_write_all (master, buf, (size_t) n);
          else
            in_open = false;
        }
      if (pfd >= 0 && (p[2].revents & POLLIN))
        {
          /* Drain what is left, then stop. */
          fcntl (master, F_SETFL, O_NONBLOCK);
          ssize_t n;
          while ((n = read (master, buf, sizeof buf)) > 0)
            pier_write_all (1, buf, (size_t) n);
          break;
        }
    }
  if (pfd >= 0)
    close (pfd);
  if (wfd >= 0)
    close (wfd);
  sigprocmask (SIG_UNBLOCK, &winch, NULL);
  restore_tty ();
}

static int
cmd_create_or_run (int argc, char **argv, bool run)
{
  const char *bundle = ".", *pid_file = NULL, *console = NULL;
  bool no_pivot = false, no_keyring = false, detach = false, keep = false, no_subreaper = false;
  long preserve = 0;
  int i = 1, rc = 0;
  pier_error *err = NULL;
  pier_opt opts[] = {
    { "b|bundle", OPT_STRING, &bundle, "path to the bundle directory", "DIR" },
    { "pid-file", OPT_STRING, &pid_file, "write the init's pid to this file", "FILE" },
    { "console-socket", OPT_STRING, &console, "unix socket to receive the pty master", "PATH" },
    { "no-pivot", OPT_BOOL, &no_pivot, "use MS_MOVE + chroot instead of pivot_root", NULL },
    { "no-new-keyring", OPT_BOOL, &no_keyring, "keep the caller's session keyring", NULL },
    { "preserve-fds", OPT_INT, &preserve, "pass N extra fds (from 3) to the container", "N" },
    HELP_OPT,
    { NULL, 0, NULL, NULL, NULL },
    /* room for run's three flags */
    { NULL, 0, NULL, NULL, NULL },
    { NULL, 0, NULL, NULL, NULL },
    { NULL, 0, NULL, NULL, NULL },
  };
  /* run's own flags go where create's table ends. */
  pier_opt run_opts[] = {
    { "d|detach", OPT_BOOL, &detach, "detach from the container's process", NULL },
    { "keep", OPT_BOOL, &keep, "do not delete the container after it exits", NULL },
    { "no-subreaper", OPT_BOOL, &no_subreaper,
      "accepted for runc compatibility (pier-runtime waits on its own child)", NULL },
  };
  if (run)
    {
      size_t base = 6; /* the index of HELP_OPT */
      memmove (&opts[base + 3], &opts[base], 2 * sizeof opts[0]);
      memcpy (&opts[base], run_opts, sizeof run_opts);
    }
  if (parse (argv[0], run ? "pier-runtime run [OPTIONS] ID" : "pier-runtime create [OPTIONS] ID", opts, argc,
             argv, &i, 1, 1, &rc)
      < 0)
    return rc;
  if (preserve < 0)
    return usage_error (argv[0], "--preserve-fds must not be negative");
  const char *id = argv[i];
  pier_create_opts o = { g_root, bundle, console, -1, pid_file, no_pivot, no_keyring, (int) preserve, false };
  /* A foreground `run` with a terminal and no console socket holds the
   * pty itself. */
  int peer = -1;
  if (run && !detach && console == NULL)
    o.own_console = &peer;
  pid_t pid = -1;
  if (pier_container_create (id, &o, &pid, &err) < 0)
    return fail (err);
  if (!run)
    return 0;
  int master = -1;
  if (peer >= 0)
    {
      if (pier_recv_fd (peer, &master, &err) < 0)
        {
          pier_container_delete (g_root, id, true, NULL);
          return fail (err);
        }
      close (peer);
      /* Before the program starts: it must see our terminal's size, and a
       * resize from now on waits (pending) for the proxy to copy it. */
      sigset_t winch;
      struct winsize ws;
      sigemptyset (&winch);
      sigaddset (&winch, SIGWINCH);
      sigprocmask (SIG_BLOCK, &winch, NULL);
      if (ioctl (0, TIOCGWINSZ, &ws) == 0)
        ioctl (master, TIOCSWINSZ, &ws);
    }
  if (!detach)
    pier_forward_signals (pid);
  if (pier_container_start (g_root, id, &err) < 0)
    {
      pier_container_delete (g_root, id, true, NULL);
      return fail (err);
    }
  if (detach)
    return 0;
  if (master >= 0)
    proxy_console (master, pid);
  int ws = 0;
  while (waitpid (pid, &ws, 0) < 0 && errno == EINTR)
    ;
  pier_forward_signals (-1);
  rc = WIFEXITED (ws) ? WEXITSTATUS (ws) : 128 + WTERMSIG (ws);
  if (!keep && pier_container_delete (g_root, id, true, &err) < 0)
    fail (err);
  return rc;
}

static int
cmd_create (int argc, char **argv)
{
  return cmd_create_or_run (argc, argv, false);
}

static int
cmd_run (int argc, char **argv)
{
  return cmd_create_or_run (argc, argv, true);
}

static int
cmd_start (int argc, char **argv)
{
  int i = 1, rc = 0;
  pier_error *err = NULL;
  pier_opt opts[] = { HELP_OPT, { NULL, 0, NULL, NULL, NULL } };
  if (parse (argv[0], "pier-runtime start ID", opts, argc, argv, &i, 1, 1, &rc) < 0)
    return rc;
  if (pier_container_start (g_root, argv[i], &err) < 0)
    return fail (err);
  return 0;
}

static int
cmd_state (int argc, char **argv)
{
  int i = 1, rc = 0;
  pier_error *err = NULL;
  pier_state *st = NULL;
  pier_opt opts[] = { HELP_OPT, { NULL, 0, NULL, NULL, NULL } };
  if (parse (argv[0], "pier-runtime state ID", opts, argc, argv, &i, 1, 1, &rc) < 0)
    return rc;
  if (pier_state_load (g_root, argv[i], &st, &err) < 0)
    return fail (err);
  json_t *j = pier_state_to_json (st, pier_state_status (g_root, st));
  char *s = pier_json_dump (j, 1);
  printf ("%s\n", s);
  free (s);
  json_decref (j);
  pier_state_free (st);
  return 0;
}

static int
cmd_kill (int argc, char **argv)
{
  bool all = false;
  int i = 1, rc = 0;
  pier_error *err = NULL;
  pier_opt opts[] = { { "a|all", OPT_BOOL, &all, "signal every process in the container", NULL },
                      HELP_OPT,
                      { NULL, 0, NULL, NULL, NULL } };
  if (parse (argv[0], "pier-runtime kill [--all] ID [SIGNAL]", opts, argc, argv, &i, 1, 2, &rc) < 0)
    return rc;
  int sig = SIGTERM;
  if (argc - i == 2)
    {
      sig = pier_signal_parse (argv[i + 1]);
      if (sig < 0)
        return usage_error (argv[0], "unknown signal");
    }
  if (pier_container_kill (g_root, argv[i], sig, all, &err) < 0)
    return fail (err);
  return 0;
}

static int
cmd_delete (int argc, char **argv)
{
  bool force = false;
  int i = 1, rc = 0;
  pier_error *err = NULL;
  pier_opt opts[] = { { "f|force", OPT_BOOL, &force, "kill the container first if it runs", NULL },
                      HELP_OPT,
                      { NULL, 0, NULL, NULL, NULL } };
  if (parse (argv[0], "pier-runtime delete [--force] ID", opts, argc, argv, &i, 1, -1, &rc) < 0)
    return rc;
  for (; i < argc; i++)
    if (pier_container_delete (g_root, argv[i], force, &err) < 0)
      rc = fail (err);
  return rc;
}

static int
cmd_pause_resume (int argc, char **argv, bool pause)
{
  int i = 1, rc = 0;
  pier_error *err = NULL;
  pier_opt opts[] = { HELP_OPT, { NULL, 0, NULL, NULL, NULL } };
  if (parse (argv[0], pause ? "pier-runtime pause ID" : "pier-runtime resume ID", opts, argc, argv, &i, 1, 1,
             &rc)
      < 0)
    return rc;
  if (pier_container_pause (g_root, argv[i], pause, &err) < 0)
    return fail (err);
  return 0;
}

static int
cmd_pause (int argc, char **argv)
{
  return cmd_pause_resume (argc, argv, true);
}

static int
cmd_resume (int argc, char **argv)
{
  return cmd_pause_resume (argc, argv, false);
}

static int
cmd_list (int argc, char **argv)
{
  const char *format = "table";
  bool quiet = false;
  int i = 1, rc = 0;
  pier_error *err = NULL;
  cleanup_strv char **ids = NULL;
  pier_opt opts[] = { { "f|format", OPT_STRING, &format, "table or json", "FORMAT" },
                      { "q|quiet", OPT_BOOL, &quiet, "print only the ids", NULL },
                      HELP_OPT,
                      { NULL, 0, NULL, NULL, NULL } };
  if (parse (argv[0], "pier-runtime list [OPTIONS]", opts, argc, argv, &i, 0, 0, &rc) < 0)
    return rc;
  if (strcmp (format, "table") && strcmp (format, "json"))
    return usage_error (argv[0], "--format must be table or json");
  if (pier_state_list (g_root, &ids, &err) < 0)
    return fail (err);
  json_t *arr = json_array ();
  if (!quiet && strcmp (format, "table") == 0)
    printf ("%-12s %-8s %-10s %-40s %-30s %s\n", "ID", "PID", "STATUS", "BUNDLE", "CREATED", "OWNER");
  for (size_t k = 0; ids[k]; k++)
    {
      pier_state *st = NULL;
      if (pier_state_load (g_root, ids[k], &st, NULL) < 0)
        continue;
      const char *status = pier_state_status (g_root, st);
      if (quiet)
        printf ("%s\n", st->id);
      else if (strcmp (format, "json") == 0)
        json_array_append_new (arr, pier_state_to_json (st, status));
      else
        printf ("%-12s %-8d %-10s %-40s %-30s %s\n", st->id, strcmp (status, "stopped") ? (int) st->pid : 0,
                status, st->bundle, st->created, st->owner);
      pier_state_free (st);
    }
  if (!quiet && strcmp (format, "json") == 0)
    {
      char *s = pier_json_dump (arr, 0);
      printf ("%s\n", s);
      free (s);
    }
  json_decref (arr);
  return 0;
}

static int
cmd_ps (int argc, char **argv)
{
  const char *format = "table";
  int i = 1, rc = 0;
  pier_error *err = NULL;
  cleanup_free pid_t *pids = NULL;
  size_t n = 0;
  pier_opt opts[] = { { "f|format", OPT_STRING, &format, "table or json", "FORMAT" },
                      HELP_OPT,
                      { NULL, 0, NULL, NULL, NULL } };
  if (parse (argv[0], "pier-runtime ps [OPTIONS] ID [ps options]", opts, argc, argv, &i, 1, -1, &rc) < 0)
    return rc;
  if (strcmp (format, "table") && strcmp (format, "json"))
    return usage_error (argv[0], "--format must be table or json");
  if (pier_container_pids (g_root, argv[i], &pids, &n, &err) < 0)
    return fail (err);
  if (strcmp (format, "json") == 0)
    {
      printf ("[");
      for (size_t k = 0; k < n; k++)
        printf ("%s%d", k ? "," : "", (int) pids[k]);
      printf ("]\n");
      return 0;
    }
  /* As runc: run ps(1) with the given options and keep the header and
   * the container's lines. */
  int pfd[2];
  if (pipe2 (pfd, O_CLOEXEC) < 0)
    return fail (NULL);
  pid_t c = fork ();
  if (c == 0)
    {
      dup2 (pfd[1], 1);
      char **args = xcalloc ((size_t) (argc - i) + 3, sizeof (char *));
      size_t k = 0;
      args[k++] = (char *) "ps";
      if (argc - i > 1)
        for (int a = i + 1; a < argc; a++)
          args[k++] = argv[a];
      else
        args[k++] = (char *) "-ef";
      execvp ("ps", args);
      _exit (127);
    }
  close (pfd[1]);
  FILE *f = fdopen (pfd[0], "r");
  cleanup_free char *line = NULL;
  size_t cap = 0;
  int pid_col = -1;
  bool header = true;
  while (f && getline (&line, &cap, f) > 0)
    {
      if (header)
        {
          /* find the PID column */
          cleanup_free char *copy = xstrdup (line);
          char *save = NULL;
          int col = 0;
          for (char *t = strtok_r (copy, " \t\n", &save); t; t = strtok_r (NULL, " \t\n", &save), col++)
            if (strcmp (t, "PID") == 0)
              pid_col = col;
          fputs (line, stdout);
          header = false;
          continue;
        }
      cleanup_free char *copy = xstrdup (line);
      char *save = NULL;
      int col = 0;
      for (char *t = strtok_r (copy, " \t\n", &save); t; t = strtok_r (NULL, " \t\n", &save), col++)
        if (col == pid_col)
          {
            long p = strtol (t, NULL, 10);
            for (size_t k = 0; k < n; k++)
              if (pids[k] == p)
                fputs (line, stdout);
            break;
          }
    }
  if (f)
    fclose (f);
  int ws = 0;
  waitpid (c, &ws, 0);
  if (pid_col < 0)
    return usage_error (argv[0], "ps output has no PID column");
  return 0;
}

static int
cmd_update (int argc, char **argv)
{
  const char *resources = NULL, *mem = NULL, *memres = NULL, *memswap = NULL, *kmem = NULL, *kmemtcp = NULL,
             *shares = NULL, *quota = NULL, *period = NULL, *cpus = NULL, *mems = NULL, *pids = NULL,
             *blkio = NULL, *rtp = NULL, *rtr = NULL;
  int i = 1, rc = 0;
  pier_error *err = NULL;
  pier_opt opts[] = {
    { "r|resources", OPT_STRING, &resources, "resources JSON file (- for stdin)", "FILE" },
    { "memory", OPT_STRING, &mem, "memory limit", "BYTES" },
    { "memory-reservation", OPT_STRING, &memres, "memory soft limit", "BYTES" },
    { "memory-swap", OPT_STRING, &memswap, "memory+swap limit (-1 unlimited)", "BYTES" },
    { "kernel-memory", OPT_STRING, &kmem, "kernel memory limit (deprecated)", "BYTES" },
    { "kernel-memory-tcp", OPT_STRING, &kmemtcp, "kernel TCP buffer limit", "BYTES" },
    { "cpu-shares", OPT_STRING, &shares, "CPU shares", "N" },
    { "cpu-quota", OPT_STRING, &quota, "CFS quota in microseconds", "N" },
    { "cpu-period", OPT_STRING, &period, "CFS period in microseconds", "N" },
    { "cpuset-cpus", OPT_STRING, &cpus, "CPUs allowed", "LIST" },
    { "cpuset-mems", OPT_STRING, &mems, "memory nodes allowed", "LIST" },
    { "pids-limit", OPT_STRING, &pids, "maximum number of processes", "N" },
    { "blkio-weight", OPT_STRING, &blkio, "block IO weight (10-1000)", "N" },
    { "cpu-rt-period", OPT_STRING, &rtp, "realtime period in microseconds", "N" },
    { "cpu-rt-runtime", OPT_STRING, &rtr, "realtime runtime in microseconds", "N" },
    HELP_OPT,
    { NULL, 0, NULL, NULL, NULL },
  };
  if (parse (argv[0], "pier-runtime update [OPTIONS] ID", opts, argc, argv, &i, 1, 1, &rc) < 0)
    return rc;
  pier_resources *r = NULL;
  cleanup_json json_t *doc = NULL;
  if (resources)
    {
      if (strcmp (resources, "-") == 0)
        {
          json_error_t je;
          doc = json_loadf (stdin, 0, &je);
          if (doc == NULL)
            return usage_error (argv[0], "resources on stdin are not valid JSON");
        }
      else if (pier_json_load_file (resources, &doc, &err) < 0)
        return fail (err);
    }
  if (pier_resources_parse (doc, &r, &err) < 0)
    return fail (err);
  struct
  {
    const char *val, *name;
    bool *has;
    int64_t *i64;
    uint64_t *u64;
  } nums[] = {
    { mem, "--memory", &r->has_mem_limit, &r->mem_limit, NULL },
    { memres, "--memory-reservation", &r->has_mem_reservation, &r->mem_reservation, NULL },
    { memswap, "--memory-swap", &r->has_mem_swap, &r->mem_swap, NULL },
    { kmem, "--kernel-memory", &r->has_mem_kernel, &r->mem_kernel, NULL },
    { kmemtcp, "--kernel-memory-tcp", &r->has_mem_kernel_tcp, &r->mem_kernel_tcp, NULL },
    { shares, "--cpu-shares", &r->has_shares, NULL, &r->shares },
    { quota, "--cpu-quota", &r->has_quota, &r->quota, NULL },
    { period, "--cpu-period", &r->has_period, NULL, &r->period },
    { pids, "--pids-limit", &r->has_pids, &r->pids_limit, NULL },
    { blkio, "--blkio-weight", &r->has_blkio_weight, NULL, &r->blkio_weight },
    { rtp, "--cpu-rt-period", &r->has_rt_period, NULL, &r->rt_period },
    { rtr, "--cpu-rt-runtime", &r->has_rt_runtime, &r->rt_runtime, NULL },
  };
  for (size_t k = 0; k < sizeof nums / sizeof nums[0]; k++)
    {
      int64_t v;
      if (nums[k].val == NULL)
        continue;
      if (pier_parse_ram (nums[k].val, &v) < 0)
        {
          pier_resources_free (r);
          char m[160];
          snprintf (m, sizeof m, "invalid value `%s` for %s", nums[k].val, nums[k].name);
          return usage_error (argv[0], m);
        }
      *nums[k].has = true;
      if (nums[k].i64)
        *nums[k].i64 = v;
      else
        *nums[k].u64 = (uint64_t) v;
    }
  if (cpus)
    r->cpus = xstrdup (cpus);
  if (mems)
    r->mems = xstrdup (mems);
  rc = pier_container_update (g_root, argv[i], r, &err);
  pier_resources_free (r);
  return rc < 0 ? fail (err) : 0;
}

static int
cmd_exec (int argc, char **argv)
{
  const char *process = NULL, *cwd = NULL, *user = NULL, *pid_file = NULL, *console = NULL, *label = NULL,
             *apparmor = NULL;
  bool tty = false, detach = false, nnp = false, ignore_paused = false;
  long preserve = 0;
  cleanup_strv char **env = NULL;
  cleanup_strv char **caps = NULL;
  cleanup_strv char **gids = NULL;
  int i = 1, rc = 0;
  pier_error *err = NULL;
  pier_opt opts[] = {
    { "p|process", OPT_STRING, &process, "process.json describing the process", "FILE" },
    { "t|tty", OPT_BOOL, &tty, "allocate a pseudo-TTY", NULL },
    { "e|env", OPT_LIST, &env, "set an environment variable", "NAME=VALUE" },
    { "cwd", OPT_STRING, &cwd, "working directory", "DIR" },
    { "u|user", OPT_STRING, &user, "uid[:gid]", "UID[:GID]" },
    { "g|additional-gids", OPT_LIST, &gids, "additional group", "GID" },
    { "d|detach", OPT_BOOL, &detach, "detach from the process", NULL },
    { "pid-file", OPT_STRING, &pid_file, "write the process's pid to this file", "FILE" },
    { "console-socket", OPT_STRING, &console, "unix socket to receive the pty master", "PATH" },
    { "c|cap", OPT_LIST, &caps, "add a capability", "CAP" },
    { "no-new-privs", OPT_BOOL, &nnp, "set no_new_privs", NULL },
    { "preserve-fds", OPT_INT, &preserve, "pass N extra fds (from 3)", "N" },
    { "ignore-paused", OPT_BOOL, &ignore_paused, "exec even into a paused container", NULL },
    { "process-label", OPT_STRING, &label, "SELinux label (SELinux is not enabled here)", "LABEL" },
    { "apparmor", OPT_STRING, &apparmor, "AppArmor profile (AppArmor is not enabled here)", "PROFILE" },
    HELP_OPT,
    { NULL, 0, NULL, NULL, NULL },
  };
  if (parse (argv[0], "pier-runtime exec [OPTIONS] ID [COMMAND [ARG...]]", opts, argc, argv, &i, 1, -1, &rc)
      < 0)
    return rc;
  if (label && *label)
    return usage_error (argv[0], "--process-label: SELinux is not enabled on this host");
  if (apparmor && *apparmor)
    return usage_error (argv[0], "--apparmor: AppArmor is not enabled on this host");
  const char *id = argv[i];
  pier_state *st = NULL;
  pier_process *p = NULL;
  if (pier_state_load (g_root, id, &st, &err) < 0)
    return fail (err);
  if (process)
    {
      cleanup_json json_t *doc = NULL;
      if (pier_json_load_file (process, &doc, &err) < 0 || pier_process_parse (doc, "process", &p, &err) < 0)
        {
          pier_state_free (st);
          return fail (err);
        }
    }
  else
    {
      json_t *cp = json_object_get (st->config, "process");
      if (cp == NULL)
        cp = json_object ();
      else
        json_incref (cp);
      json_t *copy = json_deep_copy (cp);
      json_decref (cp);
      json_object_del (copy, "args");
      json_object_set_new (copy, "terminal", json_boolean (tty));
      int r2 = pier_process_parse (copy, "process", &p, &err);
      json_decref (copy);
      if (r2 < 0)
        {
          pier_state_free (st);
          return fail (err);
        }
      if (argc - i < 2)
        {
          pier_process_free (p);
          pier_state_free (st);
          return usage_error (argv[0], "exec needs a command to run (or --process)");
        }
      strv_free (p->args);
      p->args = strv_dup (argv + i + 1);
    }
  pier_state_free (st);
  if (tty)
    p->terminal = true;
  for (size_t k = 0; env && env[k]; k++)
    {
      size_t nl = strcspn (env[k], "=");
      bool replaced = false;
      for (size_t e = 0; p->env && p->env[e]; e++)
        if (strncmp (p->env[e], env[k], nl + 1) == 0)
          {
            free (p->env[e]);
            p->env[e] = xstrdup (env[k]);
            replaced = true;
          }
      if (!replaced)
        strv_push (&p->env, env[k]);
    }
  if (cwd)
    {
      free (p->cwd);
      p->cwd = xstrdup (cwd);
    }
  if (user)
    {
      char *end;
      unsigned long u = strtoul (user, &end, 10);
      if (end == user || (*end && *end != ':'))
        {
          pier_process_free (p);
          return usage_error (argv[0], "--user must be UID[:GID]");
        }
      p->uid = (uid_t) u;
      if (*end == ':')
        p->gid = (gid_t) strtoul (end + 1, NULL, 10);
    }
  for (size_t k = 0; gids && gids[k]; k++)
    {
      p->additional_gids = xrealloc (p->additional_gids, (p->n_additional_gids + 1) * sizeof (gid_t));
      p->additional_gids[p->n_additional_gids++] = (gid_t) strtoul (gids[k], NULL, 10);
    }
  for (size_t k = 0; caps && caps[k]; k++)
    {
      int c = pier_cap_from_name (caps[k]);
      if (c < 0)
        {
          pier_process_free (p);
          return usage_error (argv[0], "unknown capability given to --cap");
        }
      p->has_caps = true;
      for (int s = 0; s < PIER_CAP_SETS; s++)
        if (s != PIER_CAP_AMBIENT)
          p->caps[s] |= 1ULL << c;
    }
  if (nnp)
    p->no_new_privileges = true;
  pier_exec_request req = { g_root, id, p, console, -1, pid_file, detach, (int) preserve, ignore_paused };
  pid_t pid = -1;
  int status = 0;
  int sp[2] = { -1, -1 };
  if (p->terminal && console == NULL)
    {
      /* Our own pty: the process starts at our terminal's size. */
      struct winsize ws;
      if (ioctl (0, TIOCGWINSZ, &ws) == 0 && !p->console_height && !p->console_width)
        {
          p->console_height = ws.ws_row;
          p->console_width = ws.ws_col;
        }
      if (detach)
        {
          pier_process_free (p);
          return usage_error (argv[0], "a detached exec with a terminal needs --console-socket");
        }
      socketpair (AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sp);
      req.console_fd = sp[1];
      req.detach = true; /* we wait ourselves, while proxying */
    }
  rc = pier_container_exec (&req, &pid, &status, &err);
  pier_process_free (p);
  if (rc < 0)
    return fail (err);
  if (sp[0] >= 0)
    {
      int master = -1;
      close (sp[1]);
      if (pier_recv_fd (sp[0], &master, &err) < 0)
        return fail (err);
      proxy_console (master, pid);
      int ws = 0;
      waitpid (pid, &ws, 0);
      return WIFEXITED (ws) ? WEXITSTATUS (ws) : 128 + WTERMSIG (ws);
    }
  return detach ? 0 : status;
}

static int
cmd_features (int argc, char **argv)
{
  int i = 1, rc = 0;
  pier_opt opts[] = { HELP_OPT, { NULL, 0, NULL, NULL, NULL } };
  if (parse (argv[0], "pier-runtime features", opts, argc, argv, &i, 0, 0, &rc) < 0)
    return rc;
  json_t *j = json_object ();
  json_object_set_new (j, "ociVersionMin", json_string ("1.0.0"));
  json_object_set_new (j, "ociVersionMax", json_string ("1.3.0"));
  json_t *hooks = json_array ();
  for (int k = 0; k < PIER_HOOK_KINDS; k++)
    json_array_append_new (hooks, json_string (pier_hook_names[k]));
  json_object_set_new (j, "hooks", hooks);
  json_t *mo = json_array ();
  for (size_t k = 0; pier_mount_option_names[k]; k++)
    json_array_append_new (mo, json_string (pier_mount_option_names[k]));
  json_object_set_new (j, "mountOptions", mo);
  json_t *lnx = json_object ();
  json_t *ns = json_array ();
  for (int t = 0; t < PIER_NS_COUNT; t++)
    json_array_append_new (ns, json_string (pier_ns_table[t].oci_name));
  json_object_set_new (lnx, "namespaces", ns);
  json_t *caps = json_array ();
  for (int c = 0; c <= pier_cap_last (); c++)
    json_array_append_new (caps, json_string (pier_cap_name (c)));
  json_object_set_new (lnx, "capabilities", caps);
  enum pier_cgroup_mode mode = pier_cgroup_host_mode ();
  json_object_set_new (lnx, "cgroup",
                       json_pack ("{s:b, s:b, s:b, s:b, s:b}", "v1", mode != PIER_CGROUP_V2, "v2",
                                  mode != PIER_CGROUP_V1, "systemd", 0, "systemdUser", 0, "rdma", 1));
  json_object_set_new (lnx, "seccomp", pier_seccomp_features ());
  json_object_set_new (lnx, "apparmor", json_pack ("{s:b}", "enabled", 0));
  json_object_set_new (lnx, "selinux", json_pack ("{s:b}", "enabled", 0));
  json_object_set_new (lnx, "intelRdt", json_pack ("{s:b}", "enabled", 0));
  json_object_set_new (lnx, "mountExtensions", json_pack ("{s:{s:b}}", "idmap", "enabled", 1));
  json_object_set_new (j, "linux", lnx);
  json_object_set_new (j, "annotations",
                       json_pack ("{s:s, s:s}", "org.opencontainers.runtime-spec.features", "pier-runtime",
                                  "io.github.pier.version", PIER_VERSION));
  char *s = pier_json_dump (j, 1);
  printf ("%s\n", s);
  free (s);
  json_decref (j);
  return 0;
}

static int
cmd_spec (int argc, char **argv)
{
  const char *bundle = ".";
  bool rootless = false;
  int i = 1, rc = 0;
  pier_error *err = NULL;
  pier_opt opts[] = { { "b|bundle", OPT_STRING, &bundle, "where to write config.json", "DIR" },
                      { "rootless", OPT_BOOL, &rootless, "a config for an unprivileged user", NULL },
                      HELP_OPT,
                      { NULL, 0, NULL, NULL, NULL } };
  if (parse (argv[0], "pier-runtime spec [OPTIONS]", opts, argc, argv, &i, 0, 0, &rc) < 0)
    return rc;
  cleanup_close int dfd = open (bundle, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd < 0)
    return fail ((pier_error_make (&err, errno, "bundle `%s`", bundle), err));
  if (faccessat (dfd, "config.json", F_OK, 0) == 0)
    return fail (
        (pier_error_makex (&err, EEXIST, "File %s/config.json exists. Remove it first", bundle), err));
  json_t *j = pier_spec_default (rootless);
  char *s = pier_json_dump (j, 1);
  json_decref (j);
  size_t len = strlen (s);
  s = xrealloc (s, len + 2);
  s[len] = '\n';
  s[len + 1] = '\0';
  rc = pier_atomic_write (dfd, "config.json", s, len + 1, 0644, &err);
  free (s);
  return rc < 0 ? fail (err) : 0;
}

static int cmd_help (int argc, char **argv);

static const struct
{
  const char *name;
  int (*fn) (int, char **);
  bool enters_container; /* re-exec from a sealed copy first */
  const char *help;
} commands[] = {
  { "create", cmd_create, true, "create a container" },
  { "start", cmd_start, false, "start the user process of a created container" },
  { "run", cmd_run, true, "create and start a container" },
  { "state", cmd_state, false, "print the state of a container" },
  { "kill", cmd_kill, false, "send a signal to the container's init" },
  { "delete", cmd_delete, false, "delete a container" },
  { "exec", cmd_exec, true, "run a new process inside a container" },
  { "list", cmd_list, false, "list containers" },
  { "ps", cmd_ps, false, "list the processes of a container" },
  { "pause", cmd_pause, false, "freeze every process of a container" },
  { "resume", cmd_resume, false, "thaw a paused container" },
  { "update", cmd_update, false, "change a container's resource limits" },
  { "features", cmd_features, false, "print what this runtime supports (JSON)" },
  { "spec", cmd_spec, false, "write a default config.json" },
  { "help", cmd_help, false, "show help" },
};

static int
cmd_help (int argc, char **argv)
{
  (void) argc;
  (void) argv;
  printf ("pier-runtime: an OCI runtime with runc's command line\n\n"
          "Usage: pier-runtime [GLOBAL OPTIONS] COMMAND [OPTIONS] ARGS...\n\nCommands:\n");
  for (size_t k = 0; k < sizeof commands / sizeof commands[0]; k++)
    printf ("  %-10s %s\n", commands[k].name, commands[k].help);
  printf ("\nGlobal options:\n"
          "  --root DIR            state directory (default /run/pier-runtime)\n"
          "  --log FILE            also write diagnostics to FILE\n"
          "  --log-format FORMAT   text or json\n"
          "  --debug               log debug messages\n"
          "  --systemd-cgroup      use systemd for cgroups (not supported: no systemd)\n"
          "  --rootless VALUE      true, false or auto\n"
          "  -v, --version         print the version\n");
  return 0;
}

int
main (int argc, char **argv)
{
  const char *root = NULL, *log = NULL, *log_format = "text", *rootless = "auto", *criu = NULL;
  bool debug = false, systemd = false, version = false, help = false;
  pier_opt gopts[] = {
    { "root", OPT_STRING, &root, NULL, NULL },
    { "log", OPT_STRING, &log, NULL, NULL },
    { "log-format", OPT_STRING, &log_format, NULL, NULL },
    { "debug", OPT_BOOL, &debug, NULL, NULL },
    { "systemd-cgroup", OPT_BOOL, &systemd, NULL, NULL },
    { "rootless", OPT_STRING, &rootless, NULL, NULL },
    { "criu", OPT_STRING, &criu, NULL, NULL },
    { "v|version", OPT_BOOL, &version, NULL, NULL },
    { "h|help", OPT_BOOL, &help, NULL, NULL },
    { NULL, 0, NULL, NULL, NULL },
  };
  int i = 1;
  char *msg = NULL;
  pier_error *err = NULL;

  pier_log_set_program ("pier-runtime");
  if (pier_opt_parse (gopts, argc, argv, &i, &msg) < 0)
    {
      fprintf (stderr, "pier-runtime: %s\n", msg);
      return 1;
    }
  if (strcmp (log_format, "text") && strcmp (log_format, "json"))
    {
      fprintf (stderr, "pier-runtime: --log-format must be text or json\n");
      return 1;
    }
  if (pier_log_init (log, strcmp (log_format, "json") == 0, debug ? PIER_LOG_DEBUG : PIER_LOG_WARNING) < 0)
    {
      fprintf (stderr, "pier-runtime: cannot open log file `%s`: %s\n", log, strerror (errno));
      return 1;
    }
  if (version)
    {
      printf ("pier-runtime version %s\nspec: 1.2.0\n", PIER_VERSION);
      return 0;
    }
  if (help || i >= argc)
    {
      cmd_help (0, NULL);
      return help ? 0 : 1;
    }
  if (systemd)
    {
      pier_error_makex (&err, ENOTSUP,
                        "--systemd-cgroup: the systemd cgroup driver is not supported "
                        "(pier-runtime drives cgroupfs directly; use a plain cgroupsPath)");
      return fail (err);
    }
  if (strcmp (rootless, "true") && strcmp (rootless, "false") && strcmp (rootless, "auto"))
    {
      fprintf (stderr, "pier-runtime: --rootless must be true, false or auto\n");
      return 1;
    }
  if (root == NULL)
    {
      const char *xdg = getenv ("XDG_RUNTIME_DIR");
      if (geteuid () != 0 && xdg && *xdg)
        root = xasprintf ("%s/pier-runtime", xdg);
      else
        root = "/run/pier-runtime";
    }
  g_root = root;
  for (size_t k = 0; k < sizeof commands / sizeof commands[0]; k++)
    if (strcmp (argv[i], commands[k].name) == 0
        || (strcmp (argv[i], "ls") == 0 && commands[k].fn == cmd_list))
      {
        if (commands[k].enters_container && getenv ("PIER_RUNTIME_NO_CLONE") == NULL)
          {
            if (pier_ensure_cloned_binary (argv, &err) < 0)
              return fail (err);
          }
        want_help = false;
        return commands[k].fn (argc - i, argv + i);
      }
  fprintf (stderr, "pier-runtime: unknown command `%s`\nSee 'pier-runtime help'.\n", argv[i]);
  return 1;
}
