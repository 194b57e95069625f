#include "util/nschild.h"

#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <sys/wait.h>
#include <unistd.h>

#include "util/cleanup.h"
#include "util/xalloc.h"
#include "util/banned.h"

int
pier_nschild_start (pier_nschild *c, int (*enter) (void *ctx), void *ctx, const char *what, pier_error **err)
{
  int ready[2], hold[2];
  c->pid = -1;
  c->hold = -1;
  if (pipe2 (ready, O_CLOEXEC) < 0)
    return pier_error_make (err, errno, "pipe");
  if (pipe2 (hold, O_CLOEXEC) < 0)
    {
      close (ready[0]);
      close (ready[1]);
      return pier_error_make (err, errno, "pipe");
    }
  pid_t pid = fork ();
  int e = errno;
  if (pid == 0)
    {
      char b = enter (ctx) == 0 ? '1' : '0';
      close (hold[1]);
      if (write (ready[1], &b, 1) != 1 || b != '1')
        _exit (1);
      /* Until the parent closes its end. */
      TEMP_FAILURE_RETRY_INT (read (hold[0], &b, 1));
      _exit (0);
    }
  close (ready[1]);
  close (hold[0]);
  char b = '0';
  bool ok = pid > 0 && TEMP_FAILURE_RETRY_INT (read (ready[0], &b, 1)) == 1 && b == '1';
  close (ready[0]);
  c->pid = pid;
  c->hold = hold[1];
  if (ok)
    return 0;
  pier_nschild_end (c);
  if (pid < 0)
    return pier_error_make (err, e, "fork");
  return pier_error_makex (err, EPERM, "cannot create %s", what);
}

int
pier_nschild_open (const pier_nschild *c, const char *ns, pier_error **err)
{
  char path[64];
  snprintf (path, sizeof path, "/proc/%d/ns/%s", (int) c->pid, ns);
  int fd = open (path, O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    return pier_error_make (err, errno, "cannot open `%s`", path);
  return fd;
}

void
pier_nschild_end (pier_nschild *c)
{
  if (c->hold >= 0)
    close (c->hold);
  c->hold = -1;
  if (c->pid > 0)
    while (waitpid (c->pid, NULL, 0) < 0 && errno == EINTR)
      ;
  c->pid = -1;
}
