/* container.h - the OCI lifecycle: create, start, kill, delete, exec,
 * pause, resume, update, ps.  Each call is one runc-style operation on the
 * state under opts->root. */
#ifndef PIER_RUNTIME_CONTAINER_H
#define PIER_RUNTIME_CONTAINER_H

#include <stdbool.h>
#include <sys/types.h>

#include "runtime/resources.h"
#include "runtime/spec.h"
#include "runtime/state.h"
#include "util/error.h"

typedef struct pier_create_opts
{
  const char *root; /* state root */
  const char *bundle;
  const char *console_socket; /* path, or NULL */
  int console_fd;             /* already connected socket, or -1 */
  const char *pid_file;
  bool no_pivot;
  bool no_new_keyring;
  int preserve_fds;
  bool rootless;
  /* When not NULL and the config asks for a terminal but names no console
   * socket: the runtime holds the pty itself.  A socketpair stands in for
   * the console socket and its other end comes back here (the pty master
   * arrives on it); -1 when the config asks for no terminal. */
  int *own_console;
  /* Where compiled seccomp programs are cached (NULL: not cached). */
  const char *seccomp_cache;
} pier_create_opts;

/* Create the container; returns its init's pid in *pid. */
int pier_container_create (const char *id, const pier_create_opts *o, pid_t *pid, pier_error **err);
int pier_container_start (const char *root, const char *id, pier_error **err);
int pier_container_kill (const char *root, const char *id, int sig, bool all, pier_error **err);
int pier_container_delete (const char *root, const char *id, bool force, pier_error **err);
int pier_container_pause (const char *root, const char *id, bool pause, pier_error **err);
int pier_container_update (const char *root, const char *id, const pier_resources *r, pier_error **err);
int pier_container_pids (const char *root, const char *id, pid_t **pids, size_t *n, pier_error **err);

typedef struct pier_exec_request
{
  const char *root;
  const char *id;
  pier_process *process; /* owned by the caller */
  const char *console_socket;
  int console_fd;
  const char *pid_file;
  bool detach;
  int preserve_fds;
  bool ignore_paused;
  const char *seccomp_cache; /* as pier_create_opts' */
} pier_exec_request;

/* Run a process in the container.  Detached: returns 0 once it runs
 * (*pid set).  Otherwise waits and returns its exit status in *status
 * (128+signal when killed). */
int pier_container_exec (const pier_exec_request *r, pid_t *pid, int *status, pier_error **err);

/* A new user namespace holding these uid and gid maps, for idmapped
 * mounts (MOUNT_ATTR_IDMAP): an O_CLOEXEC fd of it, or -1 with *err.  No
 * process stays in it; the fd keeps it alive. */
int pier_userns_open (const pier_idmap *uids, size_t n_uids, const pier_idmap *gids, size_t n_gids,
                      pier_error **err);

/* Whether the namespace nsfd is owned by the user namespace userns_fd
 * (false when userns_fd is -1; true when the kernel cannot say). */
bool pier_ns_owned_by (int nsfd, int userns_fd);

/* Signal name ("TERM", "SIGTERM", "15") to number; -1 when unknown. */
int pier_signal_parse (const char *s);

/* Make our own binary a sealed memfd and re-exec from it, so that a
 * process in the container can never write through /proc/PID/exe to the
 * runtime binary on the host (the CVE-2019-5736 class). */
int pier_ensure_cloned_binary (char **argv, pier_error **err);

#endif
