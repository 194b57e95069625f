/* netlink.c - rtnetlink requests by hand (see netlink.h). */
#include "net/netlink.h"

#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <linux/if_link.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <linux/veth.h>

#include "util/cleanup.h"

#include "util/banned.h"

#define NL_BUF 8192

/* A request being built: header, family message, attributes. */
struct req
{
  char buf[NL_BUF];
  struct nlmsghdr *h;
};

static void
req_init (struct req *r, uint16_t type, uint16_t flags, const void *msg, size_t len)
{
  memset (r->buf, 0, sizeof r->buf);
  r->h = (struct nlmsghdr *) r->buf;
  r->h->nlmsg_type = type;
  r->h->nlmsg_flags = NLM_F_REQUEST | NLM_F_ACK | flags;
  r->h->nlmsg_len = NLMSG_LENGTH (len);
  memcpy (NLMSG_DATA (r->h), msg, len);
}

static struct rtattr *
put (struct req *r, uint16_t type, const void *data, size_t len)
{
  struct rtattr *a = (struct rtattr *) (r->buf + NLMSG_ALIGN (r->h->nlmsg_len));
  a->rta_type = type;
  a->rta_len = (unsigned short) RTA_LENGTH (len);
  if (len)
    memcpy (RTA_DATA (a), data, len);
  r->h->nlmsg_len = NLMSG_ALIGN (r->h->nlmsg_len) + RTA_ALIGN (a->rta_len);
  return a;
}

static void
put_str (struct req *r, uint16_t type, const char *s)
{
  put (r, type, s, strlen (s) + 1);
}

static void
put_u32 (struct req *r, uint16_t type, uint32_t v)
{
  put (r, type, &v, sizeof v);
}

static struct rtattr *
nest_begin (struct req *r, uint16_t type)
{
  return put (r, type, NULL, 0);
}

static void
nest_end (struct req *r, struct rtattr *a)
{
  a->rta_len = (unsigned short) (r->buf + r->h->nlmsg_len - (char *) a);
}

int
pier_nl_open (pier_nl *nl, pier_error **err)
{
  nl->seq = 0;
  nl->fd = socket (AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);
  if (nl->fd < 0)
    return pier_error_make (err, errno, "cannot open a netlink socket");
  struct sockaddr_nl sa = { .nl_family = AF_NETLINK };
  if (bind (nl->fd, (struct sockaddr *) &sa, sizeof sa) < 0)
    {
      int e = errno;
      close (nl->fd);
      nl->fd = -1;
      return pier_error_make (err, e, "cannot bind a netlink socket");
    }
  return 0;
}

int
pier_nl_open_in (pier_nl *nl, int netns_fd, pier_error **err)
{
  cleanup_close int self = open ("/proc/self/ns/net", O_RDONLY | O_CLOEXEC);
  if (self < 0)
    return pier_error_make (err, errno, "cannot open this process's network namespace");
  if (setns (netns_fd, CLONE_NEWNET) < 0)
    return pier_error_make (err, errno, "cannot enter the container's network namespace");
  int r = pier_nl_open (nl, err);
  if (setns (self, CLONE_NEWNET) < 0)
    abort (); /* staying in the container's namespace would be worse */
  return r;
}

void
pier_nl_close (pier_nl *nl)
{
  if (nl->fd >= 0)
    close (nl->fd);
  nl->fd = -1;
}

/* Send the request and read its ack. */
static int
talk (pier_nl *nl, struct req *r, const char *what, pier_error **err)
{
  r->h->nlmsg_seq = ++nl->seq;
  struct sockaddr_nl sa = { .nl_family = AF_NETLINK };
  ssize_t n;
  do
    n = sendto (nl->fd, r->buf, r->h->nlmsg_len, 0, (struct sockaddr *) &sa, sizeof sa);
  while (n < 0 && errno == EINTR);
  if (n < 0)
    return pier_error_make (err, errno, "%s: netlink send", what);
  char buf[NL_BUF];
  for (;;)
    {
      n = recv (nl->fd, buf, sizeof buf, 0);
      if (n < 0 && errno == EINTR)
        continue;
      if (n < 0)
        return pier_error_make (err, errno, "%s: netlink receive", what);
      for (struct nlmsghdr *h = (struct nlmsghdr *) buf; NLMSG_OK (h, (unsigned) n); h = NLMSG_NEXT (h, n))
        {
          if (h->nlmsg_seq != nl->seq || h->nlmsg_type != NLMSG_ERROR)
            continue;
          struct nlmsgerr *e = NLMSG_DATA (h);
          if (e->error == 0)
            return 0;
          errno = -e->error;
          return pier_error_make (err, -e->error, "%s", what);
        }
    }
}

int
pier_nl_ifindex (pier_nl *nl, const char *name)
{
  /* if_nametoindex uses an ioctl on a socket of the caller's namespace;
   * a netlink lookup works in nl's. */
  struct ifinfomsg ifi = { .ifi_family = AF_UNSPEC };
  struct req r;
  req_init (&r, RTM_GETLINK, 0, &ifi, sizeof ifi);
  r.h->nlmsg_flags = NLM_F_REQUEST;
  put_str (&r, IFLA_IFNAME, name);
  r.h->nlmsg_seq = ++nl->seq;
  if (send (nl->fd, r.buf, r.h->nlmsg_len, 0) < 0)
    return 0;
  char buf[NL_BUF];
  ssize_t n;
  do
    n = recv (nl->fd, buf, sizeof buf, 0);
  while (n < 0 && errno == EINTR);
  for (struct nlmsghdr *h = (struct nlmsghdr *) buf; n > 0 && NLMSG_OK (h, (unsigned) n);
       h = NLMSG_NEXT (h, n))
    {
      if (h->nlmsg_seq != nl->seq)
        continue;
      if (h->nlmsg_type == RTM_NEWLINK)
        return ((struct ifinfomsg *) NLMSG_DATA (h))->ifi_index;
      return 0;
    }
  return 0;
}

int
pier_nl_bridge_add (pier_nl *nl, const char *name, pier_error **err)
{
  struct ifinfomsg ifi = { .ifi_family = AF_UNSPEC };
  struct req r;
  req_init (&r, RTM_NEWLINK, NLM_F_CREATE | NLM_F_EXCL, &ifi, sizeof ifi);
  put_str (&r, IFLA_IFNAME, name);
  struct rtattr *li = nest_begin (&r, IFLA_LINKINFO);
  put_str (&r, IFLA_INFO_KIND, "bridge");
  nest_end (&r, li);
  if (talk (nl, &r, "cannot create bridge", err) < 0)
    return pier_error_wrap (err, "bridge %s", name);
  return 0;
}

int
pier_nl_link_del (pier_nl *nl, const char *name, pier_error **err)
{
  struct ifinfomsg ifi = { .ifi_family = AF_UNSPEC };
  struct req r;
  req_init (&r, RTM_DELLINK, 0, &ifi, sizeof ifi);
  put_str (&r, IFLA_IFNAME, name);
  if (talk (nl, &r, "cannot delete link", err) < 0)
    return pier_error_wrap (err, "%s", name);
  return 0;
}

int
pier_nl_veth_add (pier_nl *nl, const char *host_name, const char *peer_name, int peer_netns_fd,
                  const unsigned char *peer_mac, pier_error **err)
{
  struct ifinfomsg ifi = { .ifi_family = AF_UNSPEC };
  struct req r;
  req_init (&r, RTM_NEWLINK, NLM_F_CREATE | NLM_F_EXCL, &ifi, sizeof ifi);
  put_str (&r, IFLA_IFNAME, host_name);
  struct rtattr *li = nest_begin (&r, IFLA_LINKINFO);
  put_str (&r, IFLA_INFO_KIND, "veth");
  struct rtattr *data = nest_begin (&r, IFLA_INFO_DATA);
  struct rtattr *peer = nest_begin (&r, VETH_INFO_PEER);
  /* The peer's own ifinfomsg, then its attributes. */
  struct ifinfomsg pifi = { .ifi_family = AF_UNSPEC };
  memcpy (r.buf + r.h->nlmsg_len, &pifi, sizeof pifi);
  r.h->nlmsg_len += NLMSG_ALIGN (sizeof pifi);
  put_str (&r, IFLA_IFNAME, peer_name);
  put_u32 (&r, IFLA_NET_NS_FD, (uint32_t) peer_netns_fd);
  if (peer_mac)
    put (&r, IFLA_ADDRESS, peer_mac, 6);
  nest_end (&r, peer);
  nest_end (&r, data);
  nest_end (&r, li);
  if (talk (nl, &r, "cannot create veth pair", err) < 0)
    return pier_error_wrap (err, "veth %s", host_name);
  return 0;
}

int
pier_nl_link_set (pier_nl *nl, const char *name, const char *master, bool up, pier_error **err)
{
  struct ifinfomsg ifi = { .ifi_family = AF_UNSPEC };
  if (up)
    ifi.ifi_flags = ifi.ifi_change = IFF_UP;
  struct req r;
  req_init (&r, RTM_NEWLINK, 0, &ifi, sizeof ifi);
  put_str (&r, IFLA_IFNAME, name);
  if (master)
    {
      int m = pier_nl_ifindex (nl, master);
      if (m == 0)
        return pier_error_makex (err, ENODEV, "bridge %s does not exist", master);
      put_u32 (&r, IFLA_MASTER, (uint32_t) m);
    }
  if (talk (nl, &r, "cannot configure link", err) < 0)
    return pier_error_wrap (err, "%s", name);
  return 0;
}

int
pier_nl_addr_add (pier_nl *nl, const char *name, struct in_addr addr, int prefix, pier_error **err)
{
  int idx = pier_nl_ifindex (nl, name);
  if (idx == 0)
    return pier_error_makex (err, ENODEV, "link %s does not exist", name);
  struct ifaddrmsg ifa
      = { .ifa_family = AF_INET, .ifa_prefixlen = (unsigned char) prefix, .ifa_index = (unsigned) idx };
  struct req r;
  req_init (&r, RTM_NEWADDR, NLM_F_CREATE | NLM_F_EXCL, &ifa, sizeof ifa);
  put (&r, IFA_LOCAL, &addr, sizeof addr);
  put (&r, IFA_ADDRESS, &addr, sizeof addr);
  if (prefix < 31)
    {
      uint32_t mask = prefix ? htonl (~0U << (32 - prefix)) : 0;
      struct in_addr brd = { addr.s_addr | ~mask };
      put (&r, IFA_BROADCAST, &brd, sizeof brd);
    }
  if (talk (nl, &r, "cannot add address", err) < 0)
    return pier_error_wrap (err, "%s", name);
  return 0;
}

int
pier_nl_route_default (pier_nl *nl, struct in_addr gw, pier_error **err)
{
  struct rtmsg rt = { .rtm_family = AF_INET,
                      .rtm_table = RT_TABLE_MAIN,
                      .rtm_protocol = RTPROT_BOOT,
                      .rtm_scope = RT_SCOPE_UNIVERSE,
                      .rtm_type = RTN_UNICAST };
  struct req r;
  req_init (&r, RTM_NEWROUTE, NLM_F_CREATE | NLM_F_EXCL, &rt, sizeof rt);
  put (&r, RTA_GATEWAY, &gw, sizeof gw);
  return talk (nl, &r, "cannot add the default route", err);
}

static bool
overlap (uint32_t a, int alen, uint32_t b, int blen)
{
  int l = alen < blen ? alen : blen;
  uint32_t mask = l ? ~0U << (32 - l) : 0;
  return (a & mask) == (b & mask);
}

int
pier_nl_route_overlaps (pier_nl *nl, struct in_addr dst, int prefix, const char *skip_prefix, bool *overlaps,
                        pier_error **err)
{
  struct rtmsg rt = { .rtm_family = AF_INET };
  struct req r;
  req_init (&r, RTM_GETROUTE, NLM_F_DUMP, &rt, sizeof rt);
  r.h->nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP;
  r.h->nlmsg_seq = ++nl->seq;
  *overlaps = false;
  if (send (nl->fd, r.buf, r.h->nlmsg_len, 0) < 0)
    return pier_error_make (err, errno, "cannot list routes");
  char buf[32768];
  for (;;)
    {
      ssize_t n = recv (nl->fd, buf, sizeof buf, 0);
      if (n < 0 && errno == EINTR)
        continue;
      if (n < 0)
        return pier_error_make (err, errno, "cannot list routes");
      for (struct nlmsghdr *h = (struct nlmsghdr *) buf; NLMSG_OK (h, (unsigned) n); h = NLMSG_NEXT (h, n))
        {
          if (h->nlmsg_type == NLMSG_DONE)
            return 0;
          if (h->nlmsg_type == NLMSG_ERROR)
            return pier_error_makex (err, EIO, "cannot list routes");
          if (h->nlmsg_type != RTM_NEWROUTE)
            continue;
          struct rtmsg *m = NLMSG_DATA (h);
          if (m->rtm_table != RT_TABLE_MAIN || m->rtm_dst_len == 0)
            continue;
          uint32_t rdst = 0;
          int oif = 0;
          int alen = (int) RTM_PAYLOAD (h);
          for (struct rtattr *a = RTM_RTA (m); RTA_OK (a, alen); a = RTA_NEXT (a, alen))
            if (a->rta_type == RTA_DST)
              memcpy (&rdst, RTA_DATA (a), 4);
            else if (a->rta_type == RTA_OIF)
              memcpy (&oif, RTA_DATA (a), 4);
          char ifname[IF_NAMESIZE] = "";
          if (skip_prefix && oif && if_indextoname ((unsigned) oif, ifname)
              && strncmp (ifname, skip_prefix, strlen (skip_prefix)) == 0)
            continue;
          if (overlap (ntohl (rdst), m->rtm_dst_len, ntohl (dst.s_addr), prefix))
            *overlaps = true;
        }
    }
}
