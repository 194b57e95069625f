/* netdns.c - the embedded DNS resolver (netdns.h). */
#include "engine/netdns.h"
#include "engine/network.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "net/dns.h"
#include "util/cleanup.h"
#include "util/json.h"
#include "util/xalloc.h"

#include "util/banned.h"

#define MAX_UPSTREAMS 3
#define MAX_PENDING 64
#define PENDING_MS 5000
#define TTL 600

struct pending
{
  bool used;
  uint16_t our_id, client_id;
  struct sockaddr_in client;
  int64_t at;
};

struct pier_net_dns
{
  pier_db *db;
  char *id;
  int query_fd, up_fd;
  struct sockaddr_in up[MAX_UPSTREAMS];
  size_t n_up;
  struct pending pend[MAX_PENDING];
  uint16_t next_id;
};

static int64_t
now_ms (void)
{
  struct timespec ts;
  clock_gettime (CLOCK_MONOTONIC, &ts);
  return (int64_t) ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int
pier_net_dns_start (pier_db *db, const char *id, int netns_fd, json_t *upstreams, pier_net_dns **out,
                    pier_error **err)
{
  pier_net_dns *d = xzalloc (sizeof *d);
  d->db = db;
  d->id = xstrdup (id);
  d->query_fd = d->up_fd = -1;
  size_t i;
  json_t *v;
  json_array_foreach (upstreams, i, v)
  {
    struct in_addr a;
    if (d->n_up < MAX_UPSTREAMS && inet_pton (AF_INET, json_string_value (v) ?: "", &a) == 1)
      d->up[d->n_up++] = (struct sockaddr_in){ .sin_family = AF_INET, .sin_port = htons (53), .sin_addr = a };
  }
  struct in_addr listen_addr;
  inet_pton (AF_INET, PIER_DNS_ADDR, &listen_addr);
  if (pier_dns_listen (netns_fd, listen_addr, 53, &d->query_fd, err) < 0)
    {
      pier_net_dns_free (d);
      return -1;
    }
  /* Upstream queries leave from the host's namespace (ours). */
  d->up_fd = socket (AF_INET, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (d->up_fd < 0)
    {
      int e = errno;
      pier_net_dns_free (d);
      return pier_error_make (err, e, "cannot open the DNS forwarder's socket");
    }
  *out = d;
  return 0;
}

int
pier_net_dns_query_fd (const pier_net_dns *d)
{
  return d ? d->query_fd : -1;
}

int
pier_net_dns_upstream_fd (const pier_net_dns *d)
{
  return d ? d->up_fd : -1;
}

/* The addresses name has among the container's peers (itself included). */
static size_t
lookup (pier_net_dns *d, const char *name, struct in_addr *addrs, size_t max)
{
  cleanup_json json_t *peers = pier_engine_net_peers (d->db, d->id, true);
  size_t n = 0, i;
  json_t *p;
  json_array_foreach (peers, i, p)
  {
    size_t k;
    json_t *nm;
    json_array_foreach (json_object_get (p, "Names"), k, nm)
    {
      if (strcasecmp (json_string_value (nm) ?: "", name) != 0 || n >= max)
        continue;
      struct in_addr a;
      if (inet_pton (AF_INET, json_string_value (json_object_get (p, "IP")) ?: "", &a) != 1)
        continue;
      bool dup = false;
      for (size_t j = 0; j < n; j++)
        dup |= addrs[j].s_addr == a.s_addr;
      if (!dup)
        addrs[n++] = a;
    }
  }
  return n;
}

static void
reply (pier_net_dns *d, const uint8_t *msg, const pier_dns_question *q, int rcode,
       const struct in_addr *addrs, size_t n, const struct sockaddr_in *to)
{
  uint8_t out[PIER_DNS_MAX];
  size_t len = pier_dns_answer (msg, q, rcode, addrs, n, TTL, out, sizeof out);
  if (len)
    sendto (d->query_fd, out, len, MSG_DONTWAIT, (const struct sockaddr *) to, sizeof *to);
}

static void
forward (pier_net_dns *d, uint8_t *msg, size_t len, const pier_dns_question *q,
         const struct sockaddr_in *from)
{
  int64_t now = now_ms ();
  struct pending *slot = NULL, *oldest = &d->pend[0];
  for (size_t i = 0; i < MAX_PENDING; i++)
    {
      struct pending *p = &d->pend[i];
      if (p->used && now - p->at > PENDING_MS)
        p->used = false;
      if (!p->used && slot == NULL)
        slot = p;
      if (p->at < oldest->at)
        oldest = p;
    }
  if (slot == NULL)
    slot = oldest;
  *slot = (struct pending){ true, d->next_id++, q->id, *from, now };
  msg[0] = (uint8_t) (slot->our_id >> 8);
  msg[1] = (uint8_t) slot->our_id;
  bool sent = false;
  for (size_t i = 0; i < d->n_up && !sent; i++)
    sent = sendto (d->up_fd, msg, len, MSG_DONTWAIT, (struct sockaddr *) &d->up[i], sizeof d->up[i]) >= 0;
  if (!sent)
    {
      slot->used = false;
      msg[0] = (uint8_t) (q->id >> 8);
      msg[1] = (uint8_t) q->id;
      reply (d, msg, q, PIER_DNS_SERVFAIL, NULL, 0, from);
    }
}

void
pier_net_dns_on_query (pier_net_dns *d)
{
  for (;;)
    {
      uint8_t msg[PIER_DNS_MAX];
      struct sockaddr_in from;
      socklen_t fl = sizeof from;
      ssize_t n = recvfrom (d->query_fd, msg, sizeof msg, MSG_DONTWAIT, (struct sockaddr *) &from, &fl);
      if (n < 0 && errno == EINTR)
        continue;
      if (n <= 0)
        return;
      pier_dns_question q;
      if (pier_dns_parse_query (msg, (size_t) n, &q) < 0)
        continue;
      struct in_addr addrs[16];
      size_t found = q.qclass == PIER_DNS_CLASS_IN ? lookup (d, q.name, addrs, 16) : 0;
      if (found)
        /* A name of ours: its addresses for A, no data for other types. */
        reply (d, msg, &q, PIER_DNS_NOERROR, addrs, q.qtype == PIER_DNS_TYPE_A ? found : 0, &from);
      else if (d->n_up)
        forward (d, msg, (size_t) n, &q, &from);
      else
        reply (d, msg, &q, strchr (q.name, '.') ? PIER_DNS_SERVFAIL : PIER_DNS_NXDOMAIN, NULL, 0, &from);
    }
}

void
pier_net_dns_on_upstream (pier_net_dns *d)
{
  for (;;)
    {
      uint8_t msg[PIER_DNS_MAX];
      struct sockaddr_in from;
      socklen_t fl = sizeof from;
      ssize_t n = recvfrom (d->up_fd, msg, sizeof msg, MSG_DONTWAIT, (struct sockaddr *) &from, &fl);
      if (n < 0 && errno == EINTR)
        continue;
      if (n <= 0)
        return;
      if (n < 12)
        continue;
      bool known = false;
      for (size_t i = 0; i < d->n_up; i++)
        known |= from.sin_addr.s_addr == d->up[i].sin_addr.s_addr && from.sin_port == d->up[i].sin_port;
      if (!known)
        continue;
      uint16_t id = (uint16_t) (msg[0] << 8 | msg[1]);
      for (size_t i = 0; i < MAX_PENDING; i++)
        {
          struct pending *p = &d->pend[i];
          if (!p->used || p->our_id != id)
            continue;
          msg[0] = (uint8_t) (p->client_id >> 8);
          msg[1] = (uint8_t) p->client_id;
          sendto (d->query_fd, msg, (size_t) n, MSG_DONTWAIT, (struct sockaddr *) &p->client,
                  sizeof p->client);
          p->used = false;
          break;
        }
    }
}

void
pier_net_dns_free (pier_net_dns *d)
{
  if (d == NULL)
    return;
  if (d->query_fd >= 0)
    close (d->query_fd);
  if (d->up_fd >= 0)
    close (d->up_fd);
  free (d->id);
  free (d);
}
