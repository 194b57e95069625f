#include "runtime/hooks.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "util/cleanup.h"
#include "util/fs.h"
#include "util/log.h"
#include "util/banned.h"

static long
now_ms (void)
{
  struct timespec ts;
  clock_gettime (CLOCK_MONOTONIC, &ts);
  return ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int
run_one (const pier_hook *h, const char *kind, const char *state, pier_error **err)
{
  int in[2];
  if (pipe2 (in, O_CLOEXEC) < 0)
    return pier_error_make (err, errno, "cannot run %s hook `%s`", kind, h->path);
  pid_t pid = fork ();
  if (pid < 0)
    {
      close (in[0]);
      close (in[1]);
      return pier_error_make (err, errno, "cannot run %s hook `%s`", kind, h->path);
    }
  if (pid == 0)
    {
      static char *const empty[] = { NULL };
      dup2 (in[0], 0);
      char *const *argv = h->args && h->args[0] ? h->args : (char *const[]){ h->path, NULL };
      execve (h->path, argv, h->env ? h->env : empty);
      _exit (127);
    }
  close (in[0]);
  /* A hook that does not read its stdin must not block us. */
  fcntl (in[1], F_SETFL, O_NONBLOCK);
  signal (SIGPIPE, SIG_IGN);
  pier_write_all (in[1], state, strlen (state));
  close (in[1]);

  int pidfd = (int) syscall (SYS_pidfd_open, pid, 0);
  long deadline = h->timeout > 0 ? now_ms () + h->timeout * 1000L : -1;
  int status = 0;
  for (;;)
    {
      pid_t r = waitpid (pid, &status, WNOHANG);
      if (r == pid)
        break;
      if (r < 0 && errno != EINTR)
        {
          if (pidfd >= 0)
            close (pidfd);
          return pier_error_make (err, errno, "cannot wait for %s hook `%s`", kind, h->path);
        }
      long left = deadline < 0 ? 1000 : deadline - now_ms ();
      if (deadline >= 0 && left <= 0)
        {
          kill (pid, SIGKILL);
          waitpid (pid, &status, 0);
          if (pidfd >= 0)
            close (pidfd);
          return pier_error_makex (err, ETIMEDOUT, "%s hook `%s` timed out after %d seconds", kind, h->path,
                                   h->timeout);
        }
      if (pidfd >= 0)
        {
          struct pollfd p = { pidfd, POLLIN, 0 };
          poll (&p, 1, (int) (left > 1000 ? 1000 : left));
        }
      else
        {
          struct timespec ts = { 0, 5 * 1000 * 1000 };
          nanosleep (&ts, NULL);
        }
    }
  if (pidfd >= 0)
    close (pidfd);
  if (WIFEXITED (status) && WEXITSTATUS (status) == 0)
    return 0;
  if (WIFEXITED (status))
    return pier_error_makex (err, EIO, "%s hook `%s` failed with exit status %d", kind, h->path,
                             WEXITSTATUS (status));
  return pier_error_makex (err, EIO, "%s hook `%s` was killed by signal %d", kind, h->path,
                           WTERMSIG (status));
}

int
pier_hooks_run (const pier_hook *hooks, size_t n, const char *kind, const char *state_json, pier_error **err)
{
  for (size_t i = 0; i < n; i++)
    if (run_one (&hooks[i], kind, state_json, err) < 0)
      return -1;
  return 0;
}

void
pier_hooks_run_all (const pier_hook *hooks, size_t n, const char *kind, const char *state_json)
{
  for (size_t i = 0; i < n; i++)
    {
      pier_error *err = NULL;
      if (run_one (&hooks[i], kind, state_json, &err) < 0)
        {
          pier_warn ("%s", err->msg);
          pier_error_free (&err);
        }
    }
}
