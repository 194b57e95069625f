/* store.h - pier's on-disk store: the directory layout, its lock, and the
 * handles the blob store and the metadata database hang off.
 *
 *   <root>/pier.db            metadata (see store/db.h)
 *   <root>/store.lock         flock: shared while open, exclusive for GC
 *   <root>/blobs/sha256/<hex> content-addressed blobs (see store/blobs.h)
 *   <root>/layers/            unpacked layers, by chain ID
 *   <root>/containers/        container bundles
 *   <root>/volumes/           named volumes
 *   <root>/tmp/               work in progress, named by pier_store_tmp_name
 *
 * Any number of pier processes may have the same store open at once: each
 * holds a shared flock on store.lock for as long as the store is open, and
 * writers never touch a path another writer may be using (tmp names are
 * unique, content is linked into place atomically, records are written in
 * sqlite transactions).  An operation that removes things others may be
 * reading (GC, image removal of blobs) takes the lock exclusively first.
 *
 * A pier_store is used by one thread at a time and must not be used across
 * fork(): a child opens its own.
 */
#ifndef PIER_STORE_STORE_H
#define PIER_STORE_STORE_H

#include <stdbool.h>

#include "util/error.h"

typedef struct pier_store pier_store;
typedef struct pier_db pier_db;

/* Open (creating as needed) the store at root: the root directory is made
 * mode 0700 when missing, the subdirectories likewise; the database is
 * opened and migrated; a shared lock is taken (waiting while another
 * process holds it exclusively); tmp/ entries left by processes that no
 * longer exist are removed.  *out is the caller's, to be
 * closed with pier_store_close. */
int pier_store_open (const char *root, pier_store **out, pier_error **err);

/* Release the lock, close the database and the directory fds; NULL is
 * allowed. */
void pier_store_close (pier_store *st);

/* Trade the shared lock for an exclusive one.  With wait false, fail with
 * EWOULDBLOCK instead of waiting for other processes to close the store.
 * flock converts by dropping the shared lock first, so two processes
 * asking at once cannot deadlock, but the caller must not assume that
 * nothing changed between its shared and exclusive hold. */
int pier_store_lock_exclusive (pier_store *st, bool wait, pier_error **err);

/* Back from exclusive to shared. */
int pier_store_unlock (pier_store *st, pier_error **err);

/* The root path as given to pier_store_open. */
const char *pier_store_root (const pier_store *st);

/* Directory fds (O_RDONLY|O_DIRECTORY|O_CLOEXEC) owned by the
 * store, valid until pier_store_close. */
int pier_store_root_fd (const pier_store *st);
int pier_store_tmp_fd (const pier_store *st);
int pier_store_blobs_fd (const pier_store *st); /* <root>/blobs/sha256 */

/* The metadata database, owned by the store. */
pier_db *pier_store_db (pier_store *st);

/* A fresh name for an entry in tmp/ ("<pid>-<starttime>-<random>"); the
 * entry is removed by a later pier_store_open once its creator is gone.
 * st may be NULL (a process without the store open).  Caller frees. */
char *pier_store_tmp_name (const pier_store *st);

/* A tmp/ name for container id's directory while it is made or removed:
 * pier_store_tmp_name's with "-<id>" after it.  When its creator died, the
 * next store open moves the directory to containers/<id> if the container
 * is recorded (a create killed after its commit, a removal killed before
 * its delete), and removes it otherwise.  Caller frees. */
char *pier_store_container_tmp_name (const pier_store *st, const char *id);

/* What piers before the name above marked such a directory with: a file
 * holding the id (still read, for what they left). */
#define PIER_STORE_CONTAINER_MARK ".pier-container-id"

/* Remove the tmp/ entries whose creating process no longer exists (a pid
 * now used by a process started later does not count); returns how many
 * were removed. */
int pier_store_clean_tmp (pier_store *st, pier_error **err);
/* Whether tmp/ entry name is a live process's work in progress. */
bool pier_store_tmp_in_use (const char *name);

#endif
