/* userns.h - containers in a user namespace of their own, whose root is
 * an unprivileged host uid: `--userns=auto[:size=N]` (as podman: a range
 * of host ids no other container holds, from the subordinate ids of the
 * user `containers` in /etc/subuid and /etc/subgid, else from pier's
 * pool) and podman's explicit `--uidmap`/`--gidmap`.
 *
 * The record keeps docker's HostConfig.UsernsMode ("auto", "auto:size=N",
 * or "private" for explicit maps) and, once the maps are known, podman's
 * HostConfig.IDMappings: {"UidMap": ["0:134217728:65536"], "GidMap": [...]}
 * ("container:host:size").  Files on disk keep the container's view of
 * ids (uid 0 on disk is the container's root): the monitor mounts the
 * layers and the upper layer idmapped, the runtime mounts named volumes
 * idmapped. */
#ifndef PIER_ENGINE_USERNS_H
#define PIER_ENGINE_USERNS_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "runtime/spec.h"
#include "store/db.h"
#include "util/error.h"

/* pier's own pool, when the user `containers` has no subordinate ids:
 * from 2^27 up to 2^31 (the ids below are the host's users, the ids
 * above the ones some tools take as negative). */
#define PIER_USERNS_POOL_START 134217728u
#define PIER_USERNS_POOL_END 2147483648u
#define PIER_USERNS_AUTO_SIZE 65536u
#define PIER_USERNS_SUBID_USER "containers"

typedef struct pier_idrange
{
  uint32_t start, size;
} pier_idrange;

/* "container:host:size" (podman's --uidmap) into *m; EINVAL naming flag. */
int pier_userns_map_parse (const char *text, const char *flag, pier_idmap *m, pier_error **err);

/* A map is usable: each range non-empty and within 32 bits, no two
 * ranges overlapping on either side, and the container's root (id 0)
 * mapped.  EINVAL naming flag. */
int pier_userns_maps_check (const pier_idmap *m, size_t n, const char *flag, pier_error **err);

/* The ranges /etc/subuid-format text gives user (by name, or by uid when
 * uid is not NULL).  Returns how many are in *out (malloc'd, NULL when
 * none); malformed lines are skipped. */
size_t pier_userns_subid_ranges (const char *text, const char *user, const char *uid, pier_idrange **out);

/* The lowest start of size free ids inside one of pool's ranges that
 * overlaps none of used.  0, or -1 when there is no room. */
int pier_userns_alloc (const pier_idrange *pool, size_t n_pool, const pier_idrange *used, size_t n_used,
                       uint32_t size, uint32_t *start);

/* Validate (and normalise) HostConfig.UsernsMode and IDMappings of a new
 * container: EINVAL with a message for the user. */
int pier_engine_userns_check (json_t *hc, pier_error **err);

/* A bind mount's `idmap` option (rec's MountPoints) needs a user
 * namespace: EINVAL without one. */
int pier_engine_userns_check_mounts (json_t *rec, pier_error **err);

/* For `--userns=auto`: pick host id ranges that no container recorded in
 * db holds and set HostConfig.IDMappings.  Call it inside the transaction
 * that records the container, so that concurrent creates see each other.
 * Nothing to do (0) for other modes. */
int pier_engine_userns_allocate (pier_db *db, json_t *hc, pier_error **err);

/* The maps of a container (HostConfig.IDMappings): *n_uids 0 when it has
 * no user namespace.  The arrays are malloc'd. */
int pier_engine_userns_maps (json_t *hc, pier_idmap **uids, size_t *n_uids, pier_idmap **gids, size_t *n_gids,
                             pier_error **err);

/* Whether the container asks for `--userns=auto`. */
bool pier_engine_userns_auto (json_t *hc);

/* Whether the container runs in a user namespace of its own. */
bool pier_engine_userns_enabled (json_t *hc);

/* The host uid and gid of the container's root (0, 0 without a user
 * namespace). */
void pier_engine_userns_root (json_t *hc, uid_t *uid, gid_t *gid);

/* An fd of a user namespace holding the container's maps, for idmapped
 * mounts; -1 with *err. */
int pier_engine_userns_fd (json_t *hc, pier_error **err);

/* Take uid and gid as this thread's filesystem ids, keeping every
 * capability (a non-zero fsuid drops the file capabilities): a write
 * through an idmapped mount whose map holds uid and gid but not host root
 * (overlay's work through idmapped layers, pier cp into a running
 * container).  leave: back to 0, which restores them. */
void pier_engine_fsids_enter (uid_t uid, gid_t gid);
void pier_engine_fsids_leave (void);

/* The OCI form of the container's maps ([{containerID, hostID, size}]),
 * new references. */
json_t *pier_engine_userns_oci_maps (json_t *hc, bool gid);

#endif
