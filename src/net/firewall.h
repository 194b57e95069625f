/* firewall.h - pier's nftables table (`ip pier`, or `ip pier_<tag>` for
 * a store other than the default one), and nothing else.
 *
 * The table is always written whole from a description of what should
 * be (the networks and the published ports of running containers), in
 * one nftables transaction ("add, delete, add" of the table), so a
 * crash or a concurrent writer never leaves half a ruleset, and a stale
 * rule from a dead container disappears at the next write.  The caller
 * serializes writers (the engine holds a lock while it reads the truth
 * from the database and applies it).
 *
 * Rules: DNAT of published ports in prerouting and in output (priority
 * -100: nft 1.0.6 rejects `dstnat` on output) for local destination
 * addresses, through two maps (host address + protocol + port, and any
 * address + protocol + port); masquerade of outbound traffic from
 * non-internal subnets, of 127.0.0.0/8 towards a pier bridge (with
 * route_localnet on the bridge this makes 127.0.0.1:port work), and of
 * DNAT'ed traffic between pier subnets (hairpin); a forward filter that
 * keeps the table's bridges apart and internal networks inside.  Every
 * rule names only the table's own bridges, so several stores (each its
 * own table) never filter each other's traffic.
 */
#ifndef PIER_NET_FIREWALL_H
#define PIER_NET_FIREWALL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util/error.h"

typedef struct pier_fw_net
{
  const char *bridge; /* interface name */
  const char *subnet; /* "a.b.c.d/n" */
  bool internal;
} pier_fw_net;

typedef struct pier_fw_port
{
  const char *host_ip; /* NULL or "" or "0.0.0.0": every local address */
  uint16_t host_port;
  const char *proto; /* "tcp" or "udp" */
  const char *ctr_ip;
  uint16_t ctr_port;
} pier_fw_port;

/* Replace table (an `ip` family table name) with this description. */
int pier_fw_apply (const char *table, const pier_fw_net *nets, size_t n_nets, const pier_fw_port *ports,
                   size_t n_ports, pier_error **err);
/* Remove the table (nothing when absent). */
int pier_fw_remove (const char *table, pier_error **err);

#endif
