/* netinternal.h - what the engine's network files share (engine only):
 * network.c (networks, prepare, inspect, helpers), netports.c (published
 * ports) and netattach.c (a container's networking, connect/disconnect). */
#ifndef PIER_ENGINE_NETINTERNAL_H
#define PIER_ENGINE_NETINTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <netinet/in.h>

#include <jansson.h>

#include "engine/engine.h"
#include "store/db.h"
#include "util/error.h"

#define DEFAULT_NET "bridge"
#define DEFAULT_BRIDGE "pier0"

/* "a.b.c.d/n": 0, or -1 when malformed. */
int pier_enet_parse_cidr (const char *s, struct in_addr *net, int *prefix);
/* The netmask of a prefix length, host order. */
uint32_t pier_enet_mask_of (int prefix);
/* Dotted text of a host-order address. Caller frees. */
char *pier_enet_ip_str (uint32_t host_order);
/* bridge, host or none. */
bool pier_enet_predefined (const char *name);
/* The store's nftables table and default bridge: "pier" and "pier0" for
 * /var/lib/pier, "pier_<tag>" and "pier<tag>" for another root (a tag
 * from its path), so stores side by side never share them. Caller frees. */
char *pier_enet_table_name (const char *root);
char *pier_enet_default_bridge (const char *root);
/* The host-wide lock under which a subnet is chosen and its bridge made
 * (two stores never pick the same free subnet); an fd to close. */
int pier_enet_subnet_lock (pier_error **err);
/* bytes random bytes in hex. Caller frees. */
char *pier_enet_random_hex (size_t bytes);
/* The store's network lock (<runroot>/network.lock): every change of
 * leases, rules and hosts files; an fd to close (cleanup_netlock). */
int pier_enet_net_lock (const char *runroot, pier_error **err);
void pier_enet_net_unlockp (int *fd);
/* A network's config (its inspect object without Containers). */
int pier_enet_net_load (pier_db *db, const char *id, json_t **cfg, pier_error **err);
/* Parts of a network config: bridge device (NULL for host and none), the
 * first IPAM config, whether the driver is bridge. */
const char *pier_enet_net_bridge (json_t *cfg);
json_t *pier_enet_net_ipam0 (json_t *cfg);
bool pier_enet_is_bridge_driver (json_t *cfg);
/* The first /24 of 10.89.0.0-10.254.0.0 no host route and no pier
 * network of this store uses (host order). */
int pier_enet_free_subnet (pier_db *db, uint32_t *net, pier_error **err);
/* bridge, host and none, recorded the first time pier needs them. */
int pier_enet_ensure_predefined (pier_db *db, const char *root, pier_error **err);
/* *s gets fmt (two %s) appended. */
void pier_enet_append (char **s, const char *fmt, const char *a, const char *b);
/* *s gets the --add-host entries of hc as hosts lines. */
void pier_enet_append_extra_hosts (char **s, json_t *hc);
/* Write text over path in place: the file is bind-mounted into running
 * containers, a rename would leave them the old inode. */
void pier_enet_write_in_place (const char *path, const char *text);
/* Whether a NetworkMode names one of pier's (bridge) networks. */
bool pier_enet_bridged_mode (const char *mode);
/* Whether ip is a host address of network cfg's subnet (-1 and *err when not). */
int pier_enet_check_ip (json_t *cfg, const char *ip, pier_error **err);
/* The engine's database. */
pier_db *pier_enet_edb (pier_engine *e);
/* The host ports a starting container gets (docker's NetworkSettings.Ports)
 * for its PortBindings and, with PublishAllPorts, its ExposedPorts. */
int pier_enet_resolve_ports (pier_db *db, const char *id, json_t *rec, json_t **out, pier_error **err);
/* Rewrite the store's nftables table from the database: its bridge
 * networks, and the ports of every container whose monitor lives
 * (self_id's from self_net instead: it is being set up; exclude_id's left
 * out).  Called under the network lock. */
int pier_enet_fw_sync (const char *root, pier_db *db, const char *self_id, json_t *self_net,
                       const char *exclude_id, pier_error **err);
/* Rewrite container id's hosts file; refresh_peers: those of every
 * container leasing on network nid. */
void pier_enet_render_hosts (const char *root, pier_db *db, const char *id);
void pier_enet_refresh_peers (const char *root, pier_db *db, const char *nid);
/* With no container on them, the default bridge goes, and with no
 * user-defined network either, the store's table.  Under the network lock. */
void pier_enet_idle_cleanup (const char *root, pier_db *db);
#define cleanup_netlock __attribute__ ((cleanup (pier_enet_net_unlockp)))

#endif
