/* cgroup.h - container cgroups on v1, v2 and hybrid hosts.
 *
 * The host's layout is read from /proc/self/mountinfo once.  Each
 * controller is driven where it is mounted: a v1 hierarchy when one carries
 * it, else the v2 tree (hybrid hosts split controllers between the two).
 * The v2 tree, when mounted, also gives membership, freezing and
 * cgroup.kill even if it holds no resource controller.
 *
 * Paths are relative to each hierarchy's root; a relative cgroupsPath is
 * taken from the root as well (never from the runtime's own cgroup).
 */
#ifndef PIER_RUNTIME_CGROUP_H
#define PIER_RUNTIME_CGROUP_H

#include <stdbool.h>
#include <sys/types.h>

#include "runtime/resources.h"
#include "util/error.h"

enum pier_cgroup_mode
{
  PIER_CGROUP_V1,
  PIER_CGROUP_V2,
  PIER_CGROUP_HYBRID,
};

typedef struct pier_cgroup
{
  char *path; /* without leading '/', e.g. "pier/abc" */
} pier_cgroup;

enum pier_cgroup_mode pier_cgroup_host_mode (void);

/* Validate and normalise a cgroupsPath (NULL gives "pier/<id>"). */
int pier_cgroup_path_for (const char *cgroups_path, const char *id, char **out, pier_error **err);

/* Make the cgroup in every hierarchy (existing is fine) and apply r (may
 * be NULL).  On failure everything this call created is removed. */
int pier_cgroup_create (const char *path, const pier_resources *r, pier_cgroup **out, pier_error **err);
/* Move pid into the cgroup in every hierarchy. */
int pier_cgroup_enter (const pier_cgroup *cg, pid_t pid, pier_error **err);
/* Move pid into the cgroup in the v1 hierarchies (v1) and the v2 one (v2). */
int pier_cgroup_enter_some (const pier_cgroup *cg, pid_t pid, bool v1, bool v2, pier_error **err);

/* A process moved into a cgroup by another (cgroup.procs) makes the
 * kernel take its global threadgroup lock for writing, which waits for an
 * RCU grace period: 5 to 20 ms, more than the rest of a container's
 * start.  A single thread moving itself into a v1 hierarchy (its `tasks`
 * file, "0") does not take it, nor does a child born in its v2 cgroup
 * (CLONE_INTO_CGROUP).  pier_cgroup_join_open opens what a child needs
 * for both, before the fork; pier_cgroup_join_self_v1 is then called by
 * the single-threaded child itself.  The files are opened by the caller,
 * so the kernel checks the caller's credentials (v1 checks the opener's),
 * and a child in a user namespace can still use them. */
typedef struct pier_cgroup_join
{
  int v2;     /* the v2 directory (for CLONE_INTO_CGROUP) or -1 */
  int *tasks; /* the v1 hierarchies' `tasks` files */
  size_t n_tasks;
} pier_cgroup_join;
void pier_cgroup_join_open (const pier_cgroup *cg, pier_cgroup_join *j);
/* True when the calling thread is now in every v1 hierarchy's cgroup
 * (and there is at least one). */
bool pier_cgroup_join_self_v1 (const pier_cgroup_join *j);
void pier_cgroup_join_close (pier_cgroup_join *j);
int pier_cgroup_apply (const pier_cgroup *cg, const pier_resources *r, pier_error **err);
int pier_cgroup_freeze (const pier_cgroup *cg, bool frozen, pier_error **err);
bool pier_cgroup_is_frozen (const pier_cgroup *cg);
/* Signal every process in the cgroup. */
int pier_cgroup_signal_all (const pier_cgroup *cg, int sig, pier_error **err);
/* Processes in the cgroup (host pids). */
int pier_cgroup_pids (const pier_cgroup *cg, pid_t **pids, size_t *n, pier_error **err);
/* Remove the cgroup everywhere (its processes must be gone). */
int pier_cgroup_destroy (const pier_cgroup *cg, pier_error **err);
void pier_cgroup_free (pier_cgroup *cg);
/* An O_DIRECTORY fd of the cgroup in the v2 tree (for CLONE_INTO_CGROUP),
 * or -1 when there is no v2 tree. */
int pier_cgroup_open_v2 (const pier_cgroup *cg);

/* For the cgroup mount inside a container: the v1 mounts (mountpoint,
 * options) and the v2 mountpoint (NULL when none). */
typedef struct pier_cgroup_hier
{
  char *mountpoint;
  char *options; /* "cpu,cpuacct" or "name=systemd" */
} pier_cgroup_hier;
void pier_cgroup_hierarchies (const pier_cgroup_hier **v1, size_t *n, const char **v2_mount);

#endif
