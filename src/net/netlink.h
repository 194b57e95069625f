/* netlink.h - the few rtnetlink requests pier needs, by hand: bridges,
 * veth pairs, addresses, routes, link state.
 *
 * A pier_nl is one NETLINK_ROUTE socket; it acts on the network namespace
 * it was opened in (pier_nl_open_in opens one inside another namespace
 * and returns to the caller's).  Requests are synchronous: each waits for
 * the kernel's ack and returns -1 with *err on a negative ack, errno-style
 * code kept (EEXIST, ENODEV...).  Not thread-safe per socket.
 */
#ifndef PIER_NET_NETLINK_H
#define PIER_NET_NETLINK_H

#include <stdbool.h>
#include <stdint.h>
#include <netinet/in.h>

#include "util/error.h"

typedef struct pier_nl
{
  int fd;
  uint32_t seq;
} pier_nl;

/* In the caller's network namespace. */
int pier_nl_open (pier_nl *nl, pier_error **err);
/* In the namespace netns_fd refers to (the caller stays where it is). */
int pier_nl_open_in (pier_nl *nl, int netns_fd, pier_error **err);
void pier_nl_close (pier_nl *nl);

/* ifindex of name in nl's namespace, 0 when absent. */
int pier_nl_ifindex (pier_nl *nl, const char *name);

/* A bridge named name; EEXIST when it exists. */
int pier_nl_bridge_add (pier_nl *nl, const char *name, pier_error **err);
/* Delete a link (ENODEV when absent). */
int pier_nl_link_del (pier_nl *nl, const char *name, pier_error **err);
/* A veth pair: host_name here, peer_name created directly inside the
 * namespace peer_netns_fd (so it never appears on the host), with
 * peer_mac (6 bytes) unless NULL. */
int pier_nl_veth_add (pier_nl *nl, const char *host_name, const char *peer_name, int peer_netns_fd,
                      const unsigned char *peer_mac, pier_error **err);
/* Enslave name to master (0: none) and/or bring it up. */
int pier_nl_link_set (pier_nl *nl, const char *name, const char *master, bool up, pier_error **err);
/* Add addr/prefix to name (EEXIST when present). */
int pier_nl_addr_add (pier_nl *nl, const char *name, struct in_addr addr, int prefix, pier_error **err);
/* The default route via gw. */
int pier_nl_route_default (pier_nl *nl, struct in_addr gw, pier_error **err);

/* Whether dst/prefix overlaps a route of the main table, in the caller's
 * namespace (pier's own bridges excluded when skip_prefix matches their
 * names). */
int pier_nl_route_overlaps (pier_nl *nl, struct in_addr dst, int prefix, const char *skip_prefix,
                            bool *overlaps, pier_error **err);

#endif
