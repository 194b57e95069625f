/* netdns.h - the embedded DNS resolver of a container on user-defined
 * networks (docker's 127.0.0.11).
 *
 * The container's monitor serves it: a UDP socket bound to
 * 127.0.0.11:53 inside the container's network namespace answers A
 * queries for the names, --network-alias names and short ids of the
 * containers on the same user-defined networks (read from the database at
 * each query, so peers that come and go are seen at once), and forwards
 * every other query, from the host's namespace, to the upstream servers
 * (--dns, else the host's resolv.conf: loopback resolvers such as
 * systemd-resolved's work too, which a container cannot reach itself).
 * UDP only; the container's /etc/hosts names its peers as well.
 */
#ifndef PIER_ENGINE_NETDNS_H
#define PIER_ENGINE_NETDNS_H

#include <jansson.h>

#include "store/db.h"
#include "util/error.h"

typedef struct pier_net_dns pier_net_dns;

#define PIER_DNS_ADDR "127.0.0.11"

/* Listen in netns_fd for container id; upstreams: JSON array of IPv4
 * address strings (may be empty).  db is borrowed and must outlive it. */
int pier_net_dns_start (pier_db *db, const char *id, int netns_fd, json_t *upstreams, pier_net_dns **out,
                        pier_error **err);
/* The two descriptors to poll for input (queries, upstream replies). */
int pier_net_dns_query_fd (const pier_net_dns *d);
int pier_net_dns_upstream_fd (const pier_net_dns *d);
/* Handle what is readable on the query or the upstream descriptor. */
void pier_net_dns_on_query (pier_net_dns *d);
void pier_net_dns_on_upstream (pier_net_dns *d);
/* NULL is allowed. */
void pier_net_dns_free (pier_net_dns *d);

#endif
