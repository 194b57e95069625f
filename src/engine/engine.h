/* engine.h - containers: records, bundles, the monitor, and the verbs that
 * act on them.
 *
 * A container is a record in the database (store/db.h: its create request
 * and its state, both JSON in docker's shapes), a directory under
 * <root>/containers/<id>/ (the writable layer upper/ and work/, the rootfs
 * mount point, hostname, hosts, resolv.conf, the json-file log and the
 * OCI config.json made at each start), and, while it runs, one monitor
 * process (engine/monitor.c) that owns its stdio, log and exit.
 *
 * The monitor mounts the overlay root in a mount namespace of its own, so
 * the mount lives exactly as long as the container and its monitor, and a
 * crash leaves no stray mount on the host.
 *
 * Runtime state lives under <runroot>: runtime/ (pier-runtime's state
 * root) and monitors/<id>.sock (each monitor's socket).
 *
 * Library code: nothing here prints or exits.
 */
#ifndef PIER_ENGINE_ENGINE_H
#define PIER_ENGINE_ENGINE_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include <jansson.h>

#include "store/store.h"
#include "util/error.h"

typedef struct pier_engine
{
  pier_store *st;
  char *root;    /* the store root */
  char *runroot; /* runtime state */
} pier_engine;

/* A container's directory and record go, in the order that lets a pier
 * killed at any point leave a consistent store: the directory is moved to
 * tmp/ (marked with the id), the record deleted, the directory removed.
 * With leftover, the last step is the caller's: *leftover is the tmp/
 * directory to remove (with pier_rmtree_at), when the container is gone
 * to everyone else already. */
int pier_engine_container_remove (const char *root, pier_db *db, const char *id, char **leftover,
                                  pier_error **err);

/* Open the engine over an open store (not owned).  The first engine of a
 * boot restarts what must run again (pier_engine_boot). */
pier_engine *pier_engine_new (pier_store *st, const char *runroot);
void pier_engine_free (pier_engine *e);

/* <runroot>/runtime: pier-runtime's state root. Caller frees. */
char *pier_engine_runtime_root (const pier_engine *e);
/* <runroot>/seccomp: compiled seccomp programs, keyed by profile. */
char *pier_engine_seccomp_cache (const char *runroot);

/* docker's create: body is docker's ContainerCreate request (Config
 * fields at the top with "HostConfig" inside, as the Engine API takes it);
 * name may be NULL (one is generated).  *id gets the new id.  Warnings
 * (as docker's "Warnings") are appended to *warnings when not NULL. */
int pier_engine_create (pier_engine *e, const char *name, json_t *body, char **id, char ***warnings,
                        pier_error **err);

/* Find a container by full id, name or unique id prefix. */
int pier_engine_find (pier_engine *e, const char *key, char **id, pier_error **err);

/* docker inspect's object for a container (state reconciled first). */
int pier_engine_inspect (pier_engine *e, const char *id, json_t **out, pier_error **err);

/* Every container's inspect object, newest first. */
int pier_engine_list (pier_engine *e, json_t **out, pier_error **err);

/* How a started container's output reaches the caller. */
typedef struct pier_attach
{
  bool in, out, err;         /* which streams */
  unsigned short rows, cols; /* the client's terminal size, 0 when none */
} pier_attach;

/* Start a created or exited container: a monitor is forked, which creates
 * and starts it through the runtime.  When client is not NULL, *client
 * gets a socket already attached (as with pier_engine_attach) before the
 * process runs, so no output is lost.  Returns once the container runs or
 * failed to; on failure *exit_code (when not NULL) is docker's code for
 * it: 127 command not found, 126 not executable, 125 otherwise. */
int pier_engine_start (pier_engine *e, const char *id, const pier_attach *a, int *client, int *exit_code,
                       pier_error **err);
/* `run` forks the monitor before it creates the container, so the
 * monitor loads (exec, libraries, database, and the network namespace
 * when body's HostConfig gives the container one of its own) while the
 * container is recorded: pier_engine_prespawn gives the monitor's socket
 * in *sock, and pier_engine_start_prespawned, called right after the
 * create, hands it the new container's id (and takes sock, which may be
 * -1: then it is pier_engine_start).  A prespawned monitor whose socket
 * closes before it got an id exits, having made nothing. */
int pier_engine_prespawn (pier_engine *e, json_t *body, const pier_attach *a, int *sock, pier_error **err);
/* A prespawned monitor not needed after all: it exits (before this
 * returns, so nothing of it is left), and sock is closed. */
void pier_engine_prespawn_cancel (int sock);
int pier_engine_start_prespawned (pier_engine *e, const char *id, int sock, const pier_attach *a, int *client,
                                  int *exit_code, pier_error **err);

/* After a reboot (this boot's id is not the one in <runroot>/boot-id):
 * the containers that were running with restart policy `always`, or
 * `unless-stopped` and not stopped by the user, start again, as dockerd
 * does when it starts.  Quick when there is nothing to do (one read);
 * failures are warnings.  Returns how many started. */
int pier_engine_boot (pier_engine *e);

/* Connect to a running container's monitor as a client. */
int pier_engine_attach (pier_engine *e, const char *id, const pier_attach *a, int *client, pier_error **err);

/* stop: the stop signal, then SIGKILL after timeout seconds (negative:
 * the container's own StopTimeout, else 10).  Marks the stop as the
 * user's, so no restart policy applies.  sig NULL: the container's. */
int pier_engine_stop (pier_engine *e, const char *id, int timeout, const char *sig, pier_error **err);

/* Send a signal to the container's init (signal name or number). */
int pier_engine_kill (pier_engine *e, const char *id, const char *sig, pier_error **err);

/* Wait for the container to stop; *code is its exit code. */
int pier_engine_wait (pier_engine *e, const char *id, int *code, pier_error **err);

/* Remove: refused while running unless force (then killed first).
 * volumes: also its anonymous volumes. */
int pier_engine_remove (pier_engine *e, const char *id, bool force, bool volumes, pier_error **err);

int pier_engine_pause (pier_engine *e, const char *id, bool pause, pier_error **err);
int pier_engine_rename (pier_engine *e, const char *id, const char *name, pier_error **err);

/* The pids of a running container (host pids). */
int pier_engine_pids (pier_engine *e, const char *id, pid_t **pids, size_t *n, pier_error **err);

/* Names and ids of the containers made from image_id. */
int pier_engine_containers_of_image (pier_engine *e, const char *image_id, char ***ids, pier_error **err);

/* docker exec.  The process runs detached from the runtime's point of
 * view but is the caller's child: *pid is for waitpid.  With tty,
 * console_fd is a socket that receives the pty master. */
typedef struct pier_engine_exec_opts
{
  char *const *args;
  char *const *env; /* "K=V" added to the container's */
  const char *user, *workdir;
  bool tty, privileged;
  int console_fd;
} pier_engine_exec_opts;
int pier_engine_exec (pier_engine *e, const char *id, const pier_engine_exec_opts *o, pid_t *pid,
                      pier_error **err);

/* docker's user resolution ("user[:group]" plus --group-add names) in
 * the container's /etc/passwd and /etc/group; fills an OCI user object. */
int pier_engine_resolve_user (int rootfd, const char *spec, json_t *groups_add, json_t *user_out, char **home,
                              pier_error **err);

/* Build steps: a throwaway container (RUN), or a function run with the
 * root mounted (COPY, ADD), over a stack of layers, in a child process
 * with a mount namespace of its own.  The changes are left in
 * <dir>/upper (overlay's form: see archive/diff.h) for the caller. */
typedef struct pier_engine_step
{
  const char *const *layers; /* chain ids, bottom first; NULL: an empty root */
  const char *dir;           /* the caller's empty directory for the step */
  json_t *config;            /* docker's Config: Cmd is the process; Env, User, WorkingDir */
  const char *network;       /* "none" or "host" */
  json_t *mounts;            /* OCI mounts to add, or NULL; one with "_layers" (chain ids,
                              * bottom first) and "_sub" (a path) instead of "source" binds
                              * _sub inside those layers, mounted read-only in the step */
  int out_fd;                /* the process's stdout and stderr */
  int cancel_fd;             /* readable: stop the step (its process is killed), or -1 */
  /* The read end of out_fd's pipe (non-blocking), or -1: what arrives
   * there goes to on_output while the step runs, from the calling thread. */
  int out_read_fd;
  void (*on_output) (void *data, const char *buf, size_t n);
  void *out_data;
} pier_engine_step;

/* Run config's Cmd; *exit_code is its exit code (a step that could not
 * start is -1 with *err, and *exit_code docker's 125, 126 or 127).
 * Thread-safe: steps may run from several threads at once (each waits
 * for its own child only, and nothing waits for a pipe's end, which
 * another thread's child may hold open).  A cancelled step is -1 with
 * ECANCELED once its process and container are gone. */
int pier_engine_step_run (pier_engine *e, const pier_engine_step *s, int *exit_code, pier_error **err);

/* Call fn in the step's child with rootfd the mounted root.  fn must not
 * touch the store (it runs in a forked child). */
typedef int (*pier_engine_step_fn) (int rootfd, void *data, pier_error **err);
int pier_engine_step_apply (pier_engine *e, const pier_engine_step *s, pier_engine_step_fn fn, void *data,
                            pier_error **err);

/* docker update: changes holds HostConfig fields (Memory, MemorySwap,
 * MemoryReservation, NanoCpus, CpuShares, CpuQuota, CpuPeriod,
 * CpusetCpus, CpusetMems, PidsLimit, BlkioWeight, RestartPolicy); they
 * are recorded and, while the container runs, applied to its cgroups. */
int pier_engine_update (pier_engine *e, const char *id, json_t *changes, pier_error **err);

/* One reading of a container's usage, as docker stats shows it. */
typedef struct pier_engine_stats_sample
{
  bool running;
  int64_t cpu_ns;               /* CPU time used, cumulative */
  int64_t mem_usage, mem_limit; /* bytes; the limit is the host's memory when unset */
  int64_t net_rx, net_tx;       /* bytes, all interfaces but lo */
  int64_t blk_read, blk_write;  /* bytes */
  int64_t pids;
} pier_engine_stats_sample;
int pier_engine_stats (pier_engine *e, const char *id, pier_engine_stats_sample *s, pier_error **err);

/* docker diff: the writable layer's changes, sorted by path, as the
 * Engine API's [{"Path": "/x", "Kind": 0 changed | 1 added | 2 deleted}]. */
int pier_engine_diff (pier_engine *e, const char *id, json_t **changes, pier_error **err);

/* The maps a write must apply to the owners it gives (container ids to
 * host ids); n_uids 0: none, owners are written as they are. */
typedef struct pier_engine_idmaps
{
  struct pier_idmap *uids, *gids;
  size_t n_uids, n_gids;
} pier_engine_idmaps;

/* Call fn in a child process with rootfd the container's filesystem:
 * read-only (its image's layers under its writable layer), or writable
 * (a running container's live root, else its layers mounted with the
 * writable layer on top).  fn must not touch the store.  The live root of
 * a container in a user namespace is idmapped: fn then runs with the
 * container root's host ids as its filesystem ids, and, before it runs,
 * *ids (when not NULL) gets the container's maps, which the owners it
 * writes must go through; else *ids is left empty. */
int pier_engine_with_root (pier_engine *e, const char *id, bool writable, pier_engine_step_fn fn, void *data,
                           pier_engine_idmaps *ids, pier_error **err);

/* docker export: the container's whole filesystem as a tar on fd. */
int pier_engine_export (pier_engine *e, const char *id, int fd, pier_error **err);

/* docker commit: the writable layer on top of the image's, with the
 * container's config (and changes, Dockerfile instructions) as the new
 * image's; tagged reference when not NULL.  *image_id gets its id. */
typedef struct pier_engine_commit_opts
{
  const char *reference, *author, *comment;
  char *const *changes;
  bool pause; /* pause a running container while its layer is read */
} pier_engine_commit_opts;
int pier_engine_commit (pier_engine *e, const char *id, const pier_engine_commit_opts *o, char **image_id,
                        pier_error **err);

/* In a step's child (fn of pier_engine_step_apply): mount the layers
 * chains (bottom first) read-only on target, an existing directory. */
int pier_engine_mount_layers (pier_engine *e, const char *const *chains, const char *target,
                              pier_error **err);

/* The monitor is pier's own binary re-executed with this first argument
 * (then root, runroot, id, client fd, and the attach flags with the
 * terminal size packed in one number): main() hands such
 * an argv to pier_engine_monitor_exec. */
#define PIER_MONITOR_ARG "__monitor"
/* The id argument of a prespawned monitor, as long as an id: it reads its
 * id (PIER_MSG_ID) and writes it over this one, so ps shows it. */
#define PIER_MONITOR_ID_LATER "----------------------------------------------------------------"
int pier_engine_monitor_exec (int argc, char **argv);

/* docker's exit code for a start failure, from the runtime's message:
 * 127 command not found, 126 cannot execute, 125 otherwise. */
int pier_engine_start_code (const pier_error *err);

/* Whether name is a valid container name ([a-zA-Z0-9][a-zA-Z0-9_.-]+). */
bool pier_engine_name_valid (const char *name);

/* A docker-style random name (adjective_surname). Caller frees. */
char *pier_engine_random_name (void);

/* The monitor's wire protocol (SOCK_SEQPACKET, one message per packet,
 * the first byte its type). */
enum
{
  PIER_MSG_STDOUT = 1,  /* monitor -> client: data */
  PIER_MSG_STDERR = 2,  /* monitor -> client: data */
  PIER_MSG_EXIT = 3,    /* monitor -> client: int32 code, u8 oom */
  PIER_MSG_STARTED = 4, /* monitor -> client: int32 exit code (0 ok) + error text */
  PIER_MSG_HELLO = 20,  /* client -> monitor: u8 flags (PIER_ATTACH_*) */
  PIER_MSG_STDIN = 21,  /* client -> monitor: data */
  PIER_MSG_STDIN_EOF = 22,
  PIER_MSG_RESIZE = 23, /* client -> monitor: u16 rows, u16 cols */
  PIER_MSG_STOP = 24,   /* client -> monitor: int32 timeout, int32 signal */
  PIER_MSG_ID = 25,     /* client -> prespawned monitor: the container's id */
};

enum
{
  PIER_ATTACH_IN = 1,
  PIER_ATTACH_OUT = 2,
  PIER_ATTACH_ERR = 4,
  PIER_ATTACH_LOGS = 8,
};

#define PIER_MSG_MAX 65536

/* Send one message (type + payload) on a monitor socket; -1 on error. */
int pier_msg_send (int fd, int type, const void *data, size_t len);

#endif
