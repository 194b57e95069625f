/* bridge.c - bridges, veth pairs and namespaces (bridge.h). */
#include "net/bridge.h"

#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "net/netlink.h"
#include "util/cleanup.h"
#include "util/nschild.h"
#include "util/fs.h"
#include "util/xalloc.h"

#include "util/banned.h"

static void
nl_closep (pier_nl *nl)
{
  pier_nl_close (nl);
}
#define cleanup_nl __attribute__ ((cleanup (nl_closep)))

static int
write_knob (const char *path, const char *value, pier_error **err)
{
  cleanup_close int fd = open (path, O_WRONLY | O_CLOEXEC);
  if (fd < 0 || write (fd, value, strlen (value)) < 0)
    return pier_error_make (err, errno, "cannot write %s", path);
  return 0;
}

bool
pier_bridge_exists (const char *name)
{
  return if_nametoindex (name) != 0;
}

int
pier_bridge_ensure (const char *name, struct in_addr gw, int prefix, pier_error **err)
{
  cleanup_nl pier_nl nl = { .fd = -1 };
  if (pier_nl_open (&nl, err) < 0)
    return -1;
  if (pier_nl_bridge_add (&nl, name, err) < 0)
    {
      if ((*err)->code != EEXIST)
        return -1;
      pier_error_free (err);
    }
  if (pier_nl_addr_add (&nl, name, gw, prefix, err) < 0)
    {
      if ((*err)->code != EEXIST)
        return -1;
      pier_error_free (err);
    }
  cleanup_free char *knob = xasprintf ("/proc/sys/net/ipv4/conf/%s/route_localnet", name);
  if (write_knob (knob, "1", err) < 0)
    return -1;
  /* Containers reach beyond the host only when it forwards (docker turns
   * it on the same way). */
  cleanup_free char *fwd = NULL;
  size_t len;
  if (pier_read_file_at (AT_FDCWD, "/proc/sys/net/ipv4/ip_forward", &fwd, &len, NULL) == 0 && fwd[0] == '0'
      && write_knob ("/proc/sys/net/ipv4/ip_forward", "1", err) < 0)
    return -1;
  return pier_nl_link_set (&nl, name, NULL, true, err);
}

int
pier_bridge_remove (const char *name, pier_error **err)
{
  cleanup_nl pier_nl nl = { .fd = -1 };
  if (pier_nl_open (&nl, err) < 0)
    return -1;
  if (pier_nl_link_del (&nl, name, err) < 0)
    {
      if ((*err)->code != ENODEV)
        return -1;
      pier_error_free (err);
    }
  return 0;
}

static int
enter_userns_make_netns (void *ctx)
{
  int ufd = *(int *) ctx;
  return setns (ufd, CLONE_NEWUSER) == 0 && unshare (CLONE_NEWNET) == 0 ? 0 : -1;
}

/* A network namespace owned by the user namespace at path userns: a
 * child joins that user namespace, makes it and waits while we open it. */
static int
netns_in_userns (const char *userns, pier_error **err)
{
  cleanup_close int ufd = open (userns, O_RDONLY | O_CLOEXEC);
  if (ufd < 0)
    return pier_error_make (err, errno, "cannot open the user namespace `%s`", userns);
  pier_nschild c;
  cleanup_free char *what = xasprintf ("a network namespace in the user namespace `%s`", userns);
  if (pier_nschild_start (&c, enter_userns_make_netns, &ufd, what, err) < 0)
    return -1;
  int fd = pier_nschild_open (&c, "net", err);
  pier_nschild_end (&c);
  return fd;
}

int
pier_netns_new (const char *userns, int *netns_fd, pier_error **err)
{
  cleanup_close int self = open ("/proc/self/ns/net", O_RDONLY | O_CLOEXEC);
  if (self < 0)
    return pier_error_make (err, errno, "cannot open this process's network namespace");
  int fd;
  if (userns)
    {
      fd = netns_in_userns (userns, err);
      if (fd < 0)
        return -1;
      if (setns (fd, CLONE_NEWNET) < 0)
        {
          int e = errno;
          close (fd);
          return pier_error_make (err, e, "cannot enter the new network namespace");
        }
    }
  else if (unshare (CLONE_NEWNET) < 0)
    return pier_error_make (err, errno, "cannot create a network namespace");
  else
    fd = open ("/proc/self/ns/net", O_RDONLY | O_CLOEXEC);
  int e = errno;
  pier_nl nl = { .fd = -1 };
  int r = fd < 0 ? -1 : pier_nl_open (&nl, err);
  if (setns (self, CLONE_NEWNET) < 0)
    abort (); /* never go on in the wrong namespace */
  if (fd < 0)
    return pier_error_make (err, e, "cannot open the new network namespace");
  if (r == 0)
    r = pier_nl_link_set (&nl, "lo", NULL, true, err);
  pier_nl_close (&nl);
  if (r < 0)
    {
      close (fd);
      return -1;
    }
  *netns_fd = fd;
  return 0;
}

int
pier_bridge_attach (int netns_fd, const char *bridge, const char *host_if, const char *ifname,
                    const unsigned char mac[6], struct in_addr addr, int prefix, struct in_addr gw,
                    bool default_route, pier_error **err)
{
  cleanup_nl pier_nl nl = { .fd = -1 };
  cleanup_nl pier_nl in = { .fd = -1 };
  if (pier_nl_open (&nl, err) < 0 || pier_nl_open_in (&in, netns_fd, err) < 0)
    return -1;
  if (pier_nl_veth_add (&nl, host_if, ifname, netns_fd, mac, err) < 0)
    {
      /* A host end left by a crashed container whose namespace the kernel
       * has not reaped yet: it is ours (pier's names), take it away. */
      if ((*err)->code != EEXIST)
        return -1;
      pier_error_free (err);
      if (pier_nl_link_del (&nl, host_if, err) < 0 && (*err)->code != ENODEV)
        return -1;
      pier_error_free (err);
      if (pier_nl_veth_add (&nl, host_if, ifname, netns_fd, mac, err) < 0)
        return -1;
    }
  cleanup_free char *hairpin = xasprintf ("/sys/class/net/%s/brport/hairpin_mode", host_if);
  if (pier_nl_link_set (&nl, host_if, bridge, false, err) < 0 || write_knob (hairpin, "1", err) < 0
      || pier_nl_link_set (&nl, host_if, NULL, true, err) < 0
      || pier_nl_addr_add (&in, ifname, addr, prefix, err) < 0
      || pier_nl_link_set (&in, ifname, NULL, true, err) < 0)
    goto fail;
  if (default_route && pier_nl_route_default (&in, gw, err) < 0)
    goto fail;
  return 0;
fail:
  pier_nl_link_del (&nl, host_if, NULL);
  return -1;
}

int
pier_subnet_in_use (struct in_addr net, int prefix, bool *in_use, pier_error **err)
{
  cleanup_nl pier_nl nl = { .fd = -1 };
  if (pier_nl_open (&nl, err) < 0)
    return -1;
  return pier_nl_route_overlaps (&nl, net, prefix, NULL, in_use, err);
}
