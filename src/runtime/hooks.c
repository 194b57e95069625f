#include "runtime/hooks.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
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
  /* stdin is a socket so that a hook which never reads cannot raise
   * SIGPIPE in us (send with MSG_NOSIGNAL). */
  int in[2];
  if (socketpair (AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, in) < 0)
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
      /* Its own process group, so a timeout kills what it started too. */
      setpgid (0, 0);
      shutdown (in[0], SHUT_WR);
      dup2 (in[0], 0);
      char *const *argv = h->args && h->args[0] ? h->args : (char *const[]){ h->path, NULL };
      execve (h->path, argv, h->env ? h->env : empty);
      _exit (127);
    }
  setpgid (pid, pid);
  close (in[0]);
  fcntl (in[1], F_SETFL, O_NONBLOCK);
  const char *p = state;
  size_t left_bytes = strlen (state);
  while (left_bytes > 0)
    {
      ssize_t w = send (in[1], p, left_bytes, MSG_NOSIGNAL);
      if (w <= 0)
        break;
      p += w;
      left_bytes -= (size_t) w;
    }
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
          kill (-pid, SIGKILL);
          kill (pid, SIGKILL);
          waitpid (pid, &status, 0);
          if (pidfd >= 0)
            close (pidfd);
          return pier_error_makex (err, ETIMEDOUT, "%s hook `%s` timed out after %d seconds", kind, h->path,
                                   h->timeout);
        }
      if (pidfd >= 0)
        {
          struct pollfd pf = { pidfd, POLLIN, 0 };
          poll (&pf, 1, (int) (left > 1000 ? 1000 : left));
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
