/* process.h - turning the current process into the container's process:
 * terminal, rlimits, scheduling, cwd, user, capabilities, seccomp, exec.
 * Used by the container init and by `exec`. */
#ifndef PIER_RUNTIME_PROCESS_H
#define PIER_RUNTIME_PROCESS_H

#include <stdbool.h>

#include "runtime/seccomp.h"
#include "runtime/spec.h"
#include "util/error.h"

/* Find argv0 in the process's PATH (from its env, else a default) inside
 * the current root.  Returns a newly allocated path. */
int pier_process_find (const pier_process *p, char **out, pier_error **err);

/* Create a pty in the current mount namespace (/dev/ptmx), send its
 * master over console_fd (SCM_RIGHTS), make the slave our controlling
 * terminal and stdio.  When console_dev is set the slave is also bound on
 * /dev/console. */
int pier_process_setup_terminal (const pier_process *p, int console_fd, bool console_dev, pier_error **err);

/* Send fd over a unix socket with a name as payload. */
int pier_send_fd (int sock, int fd, const char *name, pier_error **err);
/* Receive one fd from a unix socket. */
int pier_recv_fd (int sock, int *fd, pier_error **err);

/* Connect to a console socket (AF_UNIX stream) at path. */
int pier_console_connect (const char *path, pier_error **err);
/* Connect to the AF_UNIX stream socket at path; what names it in errors. */
int pier_unix_connect (const char *path, const char *what, pier_error **err);

/* Write pid to path crash-safely (tmp + rename), as --pid-file wants. */
int pier_write_pid_file (const char *path, pid_t pid, pier_error **err);

/* Forward the signals a terminal sends (INT, TERM, HUP, QUIT, USR1, USR2,
 * WINCH) to pid while we wait for it; pid <= 0 stops forwarding. */
void pier_forward_signals (pid_t pid);

/* Whether the host runs AppArmor / SELinux (labels apply only then). */
bool pier_apparmor_enabled (void);
bool pier_selinux_enabled (void);

typedef struct pier_exec_opts
{
  const pier_spec *spec; /* for personality; may be NULL */
  pier_seccomp *seccomp; /* may be NULL */
  bool setgroups_allowed;
  int preserve_fds;       /* fds 3 .. 3+n-1 survive exec */
  const char *state_json; /* the container's state, for a seccomp listener */
  int listener_fd;        /* connected to linux.seccomp.listenerPath, or -1 */
  pid_t host_pid;         /* our pid as the listener sees it */
} pier_exec_opts;

/* Everything after the root is in place; on success does not return. */
int pier_process_exec (const pier_process *p, const char *path, const pier_exec_opts *o, pier_error **err);

#endif
