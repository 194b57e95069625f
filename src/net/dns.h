/* dns.h - the DNS wire format pier's embedded resolver needs (RFC 1035):
 * reading one question, writing an answer of A records, and a UDP socket
 * inside a container's network namespace.  Pure functions besides
 * pier_dns_listen; no allocation. */
#ifndef PIER_NET_DNS_H
#define PIER_NET_DNS_H

#include <stddef.h>
#include <stdint.h>
#include <netinet/in.h>

#include "util/error.h"

#define PIER_DNS_MAX 4096
#define PIER_DNS_TYPE_A 1
#define PIER_DNS_TYPE_AAAA 28
#define PIER_DNS_CLASS_IN 1
#define PIER_DNS_NOERROR 0
#define PIER_DNS_SERVFAIL 2
#define PIER_DNS_NXDOMAIN 3

typedef struct pier_dns_question
{
  uint16_t id;
  uint16_t flags;
  char name[256]; /* lower case, no trailing dot; "" for the root */
  uint16_t qtype, qclass;
  size_t end; /* offset just past the question */
} pier_dns_question;

/* 0 for a standard query (QR 0, opcode 0) with exactly one question;
 * -1 for anything else (malformed, compressed question name, ...). */
int pier_dns_parse_query (const uint8_t *msg, size_t len, pier_dns_question *q);

/* The response to query (its first q->end bytes echoed): rcode, and one
 * A record (TTL ttl) per address.  Returns its length, 0 when cap is too
 * small. */
size_t pier_dns_answer (const uint8_t *query, const pier_dns_question *q, int rcode,
                        const struct in_addr *addrs, size_t n, uint32_t ttl, uint8_t *out, size_t cap);

/* A non-blocking UDP socket bound to addr:port inside the network
 * namespace netns_fd (the caller stays in its own). */
int pier_dns_listen (int netns_fd, struct in_addr addr, uint16_t port, int *fd, pier_error **err);

#endif
