/* dns.c - DNS messages for the embedded resolver (dns.h). */
#include "net/dns.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "util/cleanup.h"

#include "util/banned.h"

static uint16_t
get16 (const uint8_t *p)
{
  return (uint16_t) (p[0] << 8 | p[1]);
}

static void
put16 (uint8_t *p, uint16_t v)
{
  p[0] = (uint8_t) (v >> 8);
  p[1] = (uint8_t) v;
}

int
pier_dns_parse_query (const uint8_t *msg, size_t len, pier_dns_question *q)
{
  if (len < 12)
    return -1;
  q->id = get16 (msg);
  q->flags = get16 (msg + 2);
  /* QR must be 0 (a query), opcode 0 (standard) */
  if ((q->flags & 0x8000) || ((q->flags >> 11) & 0xf) != 0 || get16 (msg + 4) != 1)
    return -1;
  size_t off = 12, out = 0;
  for (;;)
    {
      if (off >= len)
        return -1;
      uint8_t l = msg[off++];
      if (l == 0)
        break;
      if (l & 0xc0 || off + l > len || out + l + 1 >= sizeof q->name)
        return -1;
      if (out)
        q->name[out++] = '.';
      for (uint8_t i = 0; i < l; i++)
        q->name[out++] = (char) tolower (msg[off + i]);
      off += l;
    }
  q->name[out] = '\0';
  if (off + 4 > len)
    return -1;
  q->qtype = get16 (msg + off);
  q->qclass = get16 (msg + off + 2);
  q->end = off + 4;
  return 0;
}

size_t
pier_dns_answer (const uint8_t *query, const pier_dns_question *q, int rcode, const struct in_addr *addrs,
                 size_t n, uint32_t ttl, uint8_t *out, size_t cap)
{
  size_t need = q->end + n * 16;
  if (need > cap)
    return 0;
  memcpy (out, query, q->end);
  /* QR, opcode 0, AA, RD as asked, RA, rcode */
  put16 (out + 2, (uint16_t) (0x8000 | 0x0400 | (q->flags & 0x0100) | 0x0080 | (rcode & 0xf)));
  put16 (out + 4, 1);
  put16 (out + 6, (uint16_t) n);
  put16 (out + 8, 0);
  put16 (out + 10, 0);
  size_t off = q->end;
  for (size_t i = 0; i < n; i++)
    {
      put16 (out + off, 0xc00c); /* the name: a pointer to the question's */
      put16 (out + off + 2, PIER_DNS_TYPE_A);
      put16 (out + off + 4, PIER_DNS_CLASS_IN);
      out[off + 6] = (uint8_t) (ttl >> 24);
      out[off + 7] = (uint8_t) (ttl >> 16);
      out[off + 8] = (uint8_t) (ttl >> 8);
      out[off + 9] = (uint8_t) ttl;
      put16 (out + off + 10, 4);
      memcpy (out + off + 12, &addrs[i].s_addr, 4);
      off += 16;
    }
  return off;
}

int
pier_dns_listen (int netns_fd, struct in_addr addr, uint16_t port, int *fd_out, pier_error **err)
{
  cleanup_close int self = open ("/proc/self/ns/net", O_RDONLY | O_CLOEXEC);
  if (self < 0)
    return pier_error_make (err, errno, "cannot open this process's network namespace");
  if (setns (netns_fd, CLONE_NEWNET) < 0)
    return pier_error_make (err, errno, "cannot enter the container's network namespace");
  int fd = socket (AF_INET, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  int e = errno;
  struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons (port), .sin_addr = addr };
  if (fd >= 0 && bind (fd, (struct sockaddr *) &sa, sizeof sa) < 0)
    {
      e = errno;
      close (fd);
      fd = -1;
    }
  if (setns (self, CLONE_NEWNET) < 0)
    abort (); /* never go on in the container's namespace */
  if (fd < 0)
    return pier_error_make (err, e, "cannot listen for DNS queries in the container");
  *fd_out = fd;
  return 0;
}
