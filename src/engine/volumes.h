/* volumes.h - volumes (docker's "local" driver) and the mounts of a
 * container (docker's -v, --mount, --volumes-from and the image's VOLUME).
 *
 * A volume is a record in the database (store/db_volumes.h) and a
 * directory <root>/volumes/<name>/, its data in _data/.  Driver options
 * as docker's local driver takes them: "type=tmpfs,device=tmpfs,o=size=1m"
 * mounts a file system on _data (in the host's mount namespace, from the
 * first start of a container that uses it until the volume is removed);
 * "type=none,o=bind,device=/path" makes /path the volume's data.
 *
 * A container's mounts are resolved once, at create (named volumes are
 * made on demand, anonymous ones get a random 64-hex name), and kept in its
 * record: "MountPoints" (what the engine needs, private) and "Mounts"
 * (docker inspect's view).  At the first start, a volume that is empty is
 * filled from the image's content at its mount point (docker's copy-up).
 *
 * Library code: nothing here prints or exits.
 */
#ifndef PIER_ENGINE_VOLUMES_H
#define PIER_ENGINE_VOLUMES_H

#include <stdbool.h>
#include <stdint.h>

#include <jansson.h>

#include "engine/engine.h"
#include "store/db.h"
#include "util/error.h"

/* The label docker (23+) puts on the anonymous volumes it makes. */
#define PIER_VOLUME_ANON_LABEL "com.docker.volume.anonymous"

/* docker's rule for a local volume name: [a-zA-Z0-9][a-zA-Z0-9_.-]+ */
bool pier_volume_name_valid (const char *name);

/* ---------------------------------------------------------------- volumes */

/* docker volume create.  name NULL or "": a random 64-hex name.  driver
 * NULL means "local" (the only one).  labels and opts are JSON objects of
 * strings (may be NULL).  An existing volume of that name is returned as it
 * is (docker's behaviour).  *out gets docker's volume object. */
int pier_engine_volume_create (pier_engine *e, const char *name, const char *driver, json_t *labels,
                               json_t *opts, json_t **out, pier_error **err);

/* docker volume inspect's object: CreatedAt, Driver, Labels, Mountpoint,
 * Name, Options, Scope.  ENOENT "no such volume: x". */
int pier_engine_volume_inspect (pier_engine *e, const char *name, json_t **out, pier_error **err);

/* The volumes that pass filters ("key=value" strings, NULL-terminated,
 * may be NULL), by name, each docker's object plus "UsageData":
 * {"RefCount": containers using it, "Size": -1}.
 * For `volume ls` (prune false) the keys are dangling, driver, label and
 * name; for prune they are label, label! and all, and only unused volumes
 * (anonymous ones unless all) are selected.  EINVAL with docker's message
 * for a bad filter. */
int pier_engine_volume_select (pier_engine *e, char **filters, bool prune, bool all, json_t **out,
                               pier_error **err);

/* docker volume rm: refused (EBUSY, "remove x: volume is in use - [ids]")
 * while any container uses it.  force: a missing volume is no error. */
int pier_engine_volume_remove (pier_engine *e, const char *name, bool force, pier_error **err);

/* Bytes of a volume's data (0 when it cannot be read). */
int64_t pier_engine_volume_size (pier_engine *e, const char *name);

/* ---------------------------------------------------------------- mounts */

/* At create: resolve rec's Config.Volumes and HostConfig Binds, Mounts and
 * VolumesFrom into rec's "MountPoints" and "Mounts".  Volumes it makes and
 * host directories it creates are listed in *undo (for
 * pier_engine_mounts_undo when the create fails after). */
int pier_engine_mounts_resolve (pier_engine *e, json_t *rec, char ***undo, pier_error **err);
void pier_engine_mounts_undo (pier_engine *e, char **undo);
/* Once the container's record is stored: every volume it names still
 * exists (a `volume rm` checks for users and deletes in one transaction,
 * so either it saw this container or this check sees the removal). */
int pier_engine_mounts_verify (pier_engine *e, json_t *rec, pier_error **err);

/* In the monitor, before it leaves the caller's mount namespace: mount the
 * volumes that have mount options (tmpfs, ...) on their _data. */
int pier_engine_mounts_attach (const char *root, pier_db *db, json_t *rec, pier_error **err);

/* In the monitor, once the container's root is mounted: copy-up of the
 * image's content into the empty volumes marked for it, once (the mark is
 * cleared in the record). */
int pier_engine_mounts_populate (const char *root, pier_db *db, json_t *rec, pier_error **err);

/* The OCI mounts for rec's MountPoints, merged into mounts (an array of
 * OCI mounts): a user mount replaces a default one at the same
 * destination, and mounts are ordered parents first. */
int pier_engine_mounts_oci (json_t *rec, json_t *mounts, pier_error **err);

/* After the container's record is deleted: remove its anonymous volumes
 * that no other container uses (rm -v, --rm). */
int pier_engine_mounts_release (const char *root, pier_db *db, json_t *rec, pier_error **err);

#endif
