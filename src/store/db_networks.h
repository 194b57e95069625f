/* db_networks.h - networks and their address leases (schema 3).
 *
 * A network is a row (id, unique name, created, config JSON: the engine
 * owns its meaning); a lease binds one address of a network to one
 * container.  (network_id, address) is unique, so two pier processes
 * drawing an address at once cannot both get it: the second insert fails
 * with EEXIST and draws again.  Leases go with their network (ON DELETE
 * CASCADE).  Errors as in db.h.
 */
#ifndef PIER_STORE_DB_NETWORKS_H
#define PIER_STORE_DB_NETWORKS_H

#include <stddef.h>
#include <stdint.h>

#include "store/db.h"
#include "util/error.h"

typedef struct pier_db_network
{
  char *id; /* 64 hex digits */
  char *name;
  int64_t created; /* unix nanoseconds */
  char *config;
} pier_db_network;

void pier_db_network_free (pier_db_network *n);
void pier_db_networks_free (pier_db_network *ns, size_t n);

/* EEXIST when the name or id is taken. */
int pier_db_network_add (pier_db *db, const pier_db_network *n, pier_error **err);
int pier_db_network_get (pier_db *db, const char *id, pier_db_network **out, pier_error **err);
/* docker's lookup: full id, exact name, then a unique id prefix.  ENOENT
 * "network x not found"; ENOTUNIQ for an ambiguous prefix. */
int pier_db_network_find (pier_db *db, const char *name_or_id, char **id, pier_error **err);
/* Every network, by name. */
int pier_db_network_list (pier_db *db, pier_db_network **out, size_t *n, pier_error **err);
int pier_db_network_set_config (pier_db *db, const char *id, const char *config, pier_error **err);
/* Removes the network and its leases; ENOENT when absent. */
int pier_db_network_delete (pier_db *db, const char *id, pier_error **err);

typedef struct pier_db_lease
{
  char *network_id;
  char *address; /* dotted IPv4 */
  char *container_id;
} pier_db_lease;

void pier_db_leases_free (pier_db_lease *ls, size_t n);

/* EEXIST when the address is leased already. */
int pier_db_lease_add (pier_db *db, const char *network_id, const char *address, const char *container_id,
                       pier_error **err);
/* The leases of a network (network_id) or of a container (container_id);
 * exactly one of them is not NULL. */
int pier_db_lease_list (pier_db *db, const char *network_id, const char *container_id, pier_db_lease **out,
                        size_t *n, pier_error **err);
/* Drop a container's leases, on one network or (network_id NULL) on all. */
int pier_db_lease_release (pier_db *db, const char *container_id, const char *network_id, pier_error **err);

#endif
