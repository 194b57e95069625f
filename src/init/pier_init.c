/* pier_init.c - pier-init, the init `pier run --init` puts in a container
 * (bind-mounted read-only at /sbin/docker-init, where docker puts its
 * own, and run as `/sbin/docker-init -- COMMAND [ARG...]`).
 *
 * A process that is PID 1 of a PID namespace gets no signal it has no
 * handler for (so `sleep` ignores `pier stop`'s SIGTERM) and inherits
 * every orphan of the container (which stay zombies unless it waits for
 * them).  pier-init does both jobs for the command:
 *   - it runs COMMAND as its only child, in a process group of its own
 *     that it makes the terminal's foreground group when stdin is a
 *     terminal (so ^C reaches the command once, from the terminal);
 *   - every signal it can take is forwarded to that child (to the child
 *     only, not its group: the default of docker's init too);
 *   - it reaps every process that dies under it;
 *   - when the child exits, it exits with the child's code, or 128 plus
 *     the signal that killed it.  What else still runs dies with the PID
 *     namespace as PID 1 goes.
 *
 * Linked statically: it runs inside any image, with or without a libc.
 * Standalone: nothing from pier's libraries.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

/* Signals the kernel sends for a fault of the process itself: these must
 * keep their default action; and the terminal stop signals a background
 * process group gets. */
static const int own_signals[]
    = { SIGFPE, SIGILL, SIGSEGV, SIGBUS, SIGABRT, SIGTRAP, SIGSYS, SIGTTIN, SIGTTOU };

static void
usage (void)
{
  fputs ("Usage: pier-init [--] COMMAND [ARG...]\n"
         "Run COMMAND as the only child of an init that forwards signals to it,\n"
         "reaps every orphan and exits with COMMAND's exit code.\n",
         stderr);
}

static void __attribute__ ((noreturn)) run_child (char **argv, const sigset_t *old)
{
  setpgid (0, 0);
  if (isatty (STDIN_FILENO))
    {
      /* Becoming the foreground group from the background raises SIGTTOU. */
      signal (SIGTTOU, SIG_IGN);
      if (tcsetpgrp (STDIN_FILENO, getpgrp ()) < 0 && errno != ENOTTY && errno != ENXIO)
        fprintf (stderr, "pier-init: cannot make %s the terminal's foreground: %s\n", argv[0],
                 strerror (errno));
      signal (SIGTTOU, SIG_DFL);
    }
  sigprocmask (SIG_SETMASK, old, NULL);
  execvp (argv[0], argv);
  int e = errno;
  fprintf (stderr, "pier-init: cannot run %s: %s\n", argv[0], strerror (e));
  _exit (e == ENOENT ? 127 : 126);
}

int
main (int argc, char **argv)
{
  int first = 1;
  if (first < argc && (strcmp (argv[first], "-h") == 0 || strcmp (argv[first], "--help") == 0))
    {
      usage ();
      return 0;
    }
  if (first < argc && strcmp (argv[first], "--") == 0)
    first++;
  if (first >= argc)
    {
      usage ();
      return 2;
    }

  /* Every signal waits for sigwaitinfo below, but faults. */
  sigset_t all, old;
  sigfillset (&all);
  for (size_t i = 0; i < sizeof own_signals / sizeof own_signals[0]; i++)
    sigdelset (&all, own_signals[i]);
  sigprocmask (SIG_BLOCK, &all, &old);

  /* Not PID 1 (in a container sharing another's PID namespace): orphans
   * of the child come to us all the same. */
  if (getpid () != 1)
    prctl (PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0);

  pid_t child = fork ();
  if (child < 0)
    {
      fprintf (stderr, "pier-init: cannot fork: %s\n", strerror (errno));
      return 1;
    }
  if (child == 0)
    run_child (argv + first, &old);

  for (;;)
    {
      siginfo_t si;
      int sig = sigwaitinfo (&all, &si);
      if (sig < 0)
        {
          if (errno == EINTR)
            continue;
          fprintf (stderr, "pier-init: sigwaitinfo: %s\n", strerror (errno));
          return 1;
        }
      if (sig != SIGCHLD)
        {
          /* The child gone already: it is reaped just below. */
          if (kill (child, sig) < 0 && errno != ESRCH)
            fprintf (stderr, "pier-init: cannot forward signal %d: %s\n", sig, strerror (errno));
          continue;
        }
      /* SIGCHLD: reap all that died (signals of one kind merge). */
      for (;;)
        {
          int status;
          pid_t p = waitpid (-1, &status, WNOHANG);
          if (p < 0 && errno == EINTR)
            continue;
          if (p <= 0)
            break;
          if (p != child)
            continue;
          /* Zombies that exist now go too; the rest die with the PID
           * namespace when we exit. */
          while (waitpid (-1, NULL, WNOHANG) > 0)
            ;
          if (WIFEXITED (status))
            return WEXITSTATUS (status);
          return 128 + WTERMSIG (status);
        }
    }
}
