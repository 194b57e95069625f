/* internal.h - what the engine's files share (not for callers). */
#ifndef PIER_ENGINE_INTERNAL_H
#define PIER_ENGINE_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include <jansson.h>

#include "engine/engine.h"
#include "store/db.h"
#include "util/error.h"

/* <root>/containers/<id>. Caller frees. */
char *pier_engine_container_dir (const pier_engine *e, const char *id);

/* resolv.conf for a container without a bridge: the host's, without
 * nameservers on loopback.  Caller frees. */
char *pier_engine_resolv_conf (void);

/* What a prespawned monitor may prepare while it waits for its id (bits
 * 40 and up of its packed argument): */
#define PIER_PRESPAWN_NETNS 1u /* the container's network namespace (pier_engine_net_start's spare) */
/* Write the container's hostname, hosts and resolv.conf into dirfd (its
 * directory) from its config and host config: at every start, never
 * synced. */
int pier_engine_write_etc (int dirfd, json_t *cfg, json_t *hc, pier_error **err);

/* HostConfig: docker's defaults and its checks (at create, and again
 * after an update). */
int pier_engine_check_host_config (json_t *hc, pier_error **err);

/* A fresh State object with the given Status. */
json_t *pier_engine_state_new (const char *status);

/* The record (inspect's object without State) and the state of a
 * container, the state reconciled with reality: a container whose
 * monitor is gone is marked exited (255), and what it left is cleaned.
 * rec or state may be NULL when not wanted. */
int pier_engine_load (pier_engine *e, const char *id, json_t **rec, json_t **state, pier_error **err);

/* Write a container's state. */
int pier_engine_save_state (pier_db *db, const char *id, json_t *state, pier_error **err);

/* Whether the monitor recorded in state still runs. */
bool pier_engine_monitor_alive (json_t *state);

/* The monitor's socket path, short enough for sun_path through
 * /proc/self/fd when the runroot is deep: the caller passes a directory
 * fd of <runroot>/monitors and gets "/proc/self/fd/N/<id>.sock" (or the
 * plain path when it fits). Caller frees. */
char *pier_engine_socket_path (const pier_engine *e, const char *id, int *dirfd, pier_error **err);

/* Mount the container's overlay root (image layers under its upper layer)
 * on <dir>/rootfs in the calling process's mount namespace.  With
 * userns_fd (not -1: a user namespace holding the container's maps) the
 * layers are idmapped to it, so that the container's root owns what uid 0
 * owns on disk; that takes idmapped binds over the layers' own paths,
 * which must not be seen outside the caller's own mount namespace. */
int pier_engine_mount_rootfs (const char *root, json_t *rec, pier_db *db, int userns_fd, pier_error **err);

/* Mount an overlay of the layers chains (chain ids, bottom first; none:
 * an empty root) under <dir>/upper (with <dir>/work) on <dir>/rootfs.
 * plain: an upper layer fit to become an image layer (no redirects, no
 * metacopy). */
int pier_engine_mount_overlay (const char *root, const char *const *chains, const char *dir, bool plain,
                               pier_error **err);

/* Mount read-only on target: top (a directory, or NULL) over the layers
 * chains (chain ids, bottom first).  Nothing is mounted when there is
 * nothing to show. */
int pier_engine_mount_lowers (const char *root, const char *top, const char *const *chains,
                              const char *target, pier_error **err);

/* The OCI linux.resources of a HostConfig (no device rules). */
json_t *pier_engine_oci_resources (json_t *hc, pier_error **err);

/* The OCI config.json for a container (rootfd: its mounted root, where
 * users and groups are looked up).  rec's "_Dir", when set, is the
 * directory holding hostname, hosts and resolv.conf instead of the
 * container's. */
int pier_engine_oci_config (const char *root, json_t *rec, int rootfd, json_t **out, pier_error **err);

/* pier_engine_exec without the store: dir is the container's directory
 * (its config.json gives the process spec), rtroot the runtime's state
 * root, init_pid the container's init (for --user lookups).  The caller
 * checked that the container runs.  Safe in a child forked from the
 * monitor (no database). */
int pier_engine_exec_in (const char *dir, const char *rtroot, const char *runroot, const char *id,
                         pid_t init_pid, const pier_engine_exec_opts *o, pid_t *pid, pier_error **err);

/* Run the monitor of container id (never returns).  client is a
 * connected socket that gets STARTED and then the streams in flags. */
void pier_monitor_main (const char *root, const char *runroot, const char *id, int client,
                        unsigned long long packed) __attribute__ ((noreturn));

#endif
