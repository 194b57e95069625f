/* network.h - networks and container networking (the engine's side).
 *
 * A network is a row of the networks table (store/db_networks.h) whose
 * config is docker's inspect object without Containers; the bridge
 * driver (net/bridge.h) gives it a bridge device, and pier's nftables
 * table (net/firewall.h) its NAT and isolation.  Three networks always
 * exist, as with docker: "bridge" (the default, device pier0, a subnet
 * no host route uses), "host" and "none".
 *
 * A container on bridge networks gets, when its monitor starts, a network
 * namespace held by the monitor, one veth per network (eth0, eth1...),
 * an address leased from the network, its published ports in the
 * firewall, and on user-defined networks names for its peers: the
 * embedded DNS resolver (engine/netdns.h) and an /etc/hosts listing them
 * (rewritten in place whenever a peer comes or goes).  When the monitor
 * ends, the namespace (and the veths with it) goes, and the leases and
 * port rules are released; a monitor that died is reconciled the same way
 * by the next pier command that loads the container.
 *
 * Every change to leases, rules or hosts files runs under one lock,
 * <runroot>/network.lock, and the firewall is rewritten from the database
 * as a whole, so concurrent pier processes agree.
 */
#ifndef PIER_ENGINE_NETWORK_H
#define PIER_ENGINE_NETWORK_H

#include <stdbool.h>

#include <jansson.h>

#include "engine/engine.h"
#include "engine/netdns.h"
#include "store/db.h"
#include "util/error.h"

typedef struct pier_network_opts
{
  const char *driver;  /* NULL or "bridge" */
  const char *subnet;  /* NULL: the first free /24 of 10.89-10.254 */
  const char *gateway; /* NULL: the subnet's first address */
  bool internal;
  json_t *labels; /* object, may be NULL */
} pier_network_opts;

int pier_engine_network_create (pier_engine *e, const char *name, const pier_network_opts *o, char **id,
                                pier_error **err);
int pier_engine_network_find (pier_engine *e, const char *key, char **id, pier_error **err);
/* docker's inspect object (Containers filled). */
int pier_engine_network_inspect (pier_engine *e, const char *id, json_t **out, pier_error **err);
/* Every network's inspect object, by name. */
int pier_engine_network_list (pier_engine *e, json_t **out, pier_error **err);
/* Refused for the predefined networks and while a container uses it. */
int pier_engine_network_remove (pier_engine *e, const char *id, pier_error **err);
/* Remove user-defined networks no container uses; *names (NULL-
 * terminated, caller frees) the ones removed. */
int pier_engine_network_prune (pier_engine *e, char ***names, pier_error **err);
/* Connect a container (running or not) to a network; aliases a JSON
 * array or NULL, ip NULL for any. */
int pier_engine_network_connect (pier_engine *e, const char *net, const char *ctr, json_t *aliases,
                                 const char *ip, pier_error **err);
int pier_engine_network_disconnect (pier_engine *e, const char *net, const char *ctr, bool force,
                                    pier_error **err);

/* docker's -p syntax: "[[ip:]hostPort:]containerPort[/proto]" and ranges
 * "a-b"; adds to bindings (PortBindings) and exposed (ExposedPorts). */
int pier_engine_port_parse (const char *spec, json_t *bindings, json_t *exposed, pier_error **err);

/* "0.0.0.0:8080->80/tcp, ..." for ps, from an inspect object. Caller frees. */
char *pier_engine_ports_string (json_t *inspect);

/* --- used by the engine's own files --- */

/* At create: checks and normalizes NetworkMode and the body's
 * NetworkingConfig into rec's NetworkSettings.Networks (endpoint
 * configs); makes the predefined networks on first use.  Warnings (as
 * docker's) are appended to *warnings when it is not NULL. */
int pier_engine_net_prepare (pier_engine *e, json_t *hc, json_t *body, json_t **networks, char ***warnings,
                             pier_error **err);

/* In the monitor before the first start: the container's network
 * namespace (*netns_fd, -1 when the container does not get one of
 * pier's; *spare, when not -1, is one made ahead with lo up, taken if it
 * fits: the container is in no user namespace), leases, veths, ports, hosts, resolv.conf, and on user-defined
 * networks the embedded DNS resolver (*dns, else NULL; the caller serves
 * and frees it, engine/netdns.h).  1 when the container joined
 * pier's networks (pier_engine_net_stop then releases them), 0 when it
 * did not (none, host, container:), -1 on failure, which leaves nothing. */
int pier_engine_net_start (const char *root, const char *runroot, pier_db *db, json_t *rec, int *spare,
                           int *netns_fd, pier_net_dns **dns, pier_error **err);
/* Release what net_start took (leases, port rules, peers' hosts entries)
 * for a container whose monitor ends or died; nothing when it has none. */
void pier_engine_net_stop (const char *root, const char *runroot, pier_db *db, const char *id);

/* The containers container id can name on its user-defined networks
 * (itself too when self): [{"IP": "a.b.c.d", "Names": [name, aliases...,
 * short id]}], from the leases and each one's state. */
json_t *pier_engine_net_peers (pier_db *db, const char *id, bool self);

/* Append the --add-host entries ("name:ip") to *hosts. */
void pier_engine_net_extra_hosts (json_t *hc, char **hosts);
/* base (the host's resolv.conf, loopback servers dropped) with --dns,
 * --dns-search and --dns-option replacing its lines. Caller frees. */
char *pier_engine_net_resolv_conf (json_t *hc, const char *base);

/* A store that runs nothing leaves nothing on the host: after a
 * container's networking is released, a detached helper (pier's binary
 * re-executed with PIER_NETIDLE_ARG, root, runroot, the time, the table
 * and default bridge names) waits a
 * grace period and, when no container started meanwhile and none holds an
 * address, removes the default bridge and (with no user-defined network
 * left) the store's nftables table; when the store itself was deleted
 * meanwhile, both go.  The next container brings them back. */
#define PIER_NETIDLE_ARG "__netidle"
/* mntns_fd: the mount namespace the helper runs in, -1 for the caller's. */
void pier_engine_net_idle_spawn (const char *root, const char *runroot, int mntns_fd);
int pier_engine_net_idle_exec (int argc, char **argv);

/* inspect's NetworkSettings from the record and the state. */
json_t *pier_engine_net_settings (json_t *rec, json_t *state);

#endif
