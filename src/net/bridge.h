/* bridge.h - bridges and container interfaces (the bridge driver).
 *
 * A network's bridge carries its gateway address, is up, and has
 * route_localnet on (so DNAT of 127.0.0.1 towards it is routed).  A
 * container joins through a veth pair: the host end is a port of the
 * bridge with hairpin_mode on (a container reaching its own published
 * port through the host comes back out the same port), the other end is
 * made directly inside the container's network namespace.  That end dies
 * with the namespace, which takes the host end along: nothing to delete
 * when a container stops.
 */
#ifndef PIER_NET_BRIDGE_H
#define PIER_NET_BRIDGE_H

#include <stdbool.h>
#include <netinet/in.h>

#include "util/error.h"

/* Make the bridge unless it exists, with gw/prefix on it, up; turns the
 * host's IPv4 forwarding on when it is off. */
int pier_bridge_ensure (const char *name, struct in_addr gw, int prefix, pier_error **err);
/* Delete the bridge (nothing when absent). */
int pier_bridge_remove (const char *name, pier_error **err);
bool pier_bridge_exists (const char *name);

/* Plug the namespace netns_fd into bridge: host end host_if, inner end
 * ifname with mac and addr/prefix, up; lo up; a default route via gw when
 * default_route. */
int pier_bridge_attach (int netns_fd, const char *bridge, const char *host_if, const char *ifname,
                        const unsigned char mac[6], struct in_addr addr, int prefix, struct in_addr gw,
                        bool default_route, pier_error **err);

/* A fresh network namespace held by *netns_fd (the caller stays in its
 * own); lo is up in it.  With userns (a path, else NULL) it is owned by
 * that user namespace, so that a container there may mount its sysfs and
 * use its capabilities on it (ports below 1024, raw sockets). */
int pier_netns_new (const char *userns, int *netns_fd, pier_error **err);

/* Whether subnet/prefix overlaps a route of the host's main table. */
int pier_subnet_in_use (struct in_addr net, int prefix, bool *in_use, pier_error **err);

#endif
