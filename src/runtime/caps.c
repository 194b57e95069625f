#include "runtime/caps.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <grp.h>
#include <linux/capability.h>
#include <stdint.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "util/log.h"
#include "util/banned.h"

#ifndef PR_CAP_AMBIENT
#define PR_CAP_AMBIENT 47
#define PR_CAP_AMBIENT_RAISE 2
#define PR_CAP_AMBIENT_CLEAR_ALL 4
#endif

int
pier_caps_drop_bounding (const pier_process *p, pier_error **err)
{
  if (!p->has_caps)
    return 0;
  int last = pier_cap_last ();
  for (int c = 0; c <= last; c++)
    {
      if (p->caps[PIER_CAP_BOUNDING] & (1ULL << c))
        continue;
      if (prctl (PR_CAPBSET_DROP, c, 0, 0, 0) < 0 && errno != EINVAL)
        return pier_error_make (err, errno, "cannot drop %s from the bounding set", pier_cap_name (c));
    }
  return 0;
}

static int
set_caps (const pier_process *p, pier_error **err)
{
  struct __user_cap_header_struct hdr = { _LINUX_CAPABILITY_VERSION_3, 0 };
  struct __user_cap_data_struct data[2] = { { 0 } };
  uint64_t eff = p->caps[PIER_CAP_EFFECTIVE], perm = p->caps[PIER_CAP_PERMITTED],
           inh = p->caps[PIER_CAP_INHERITABLE];
  data[0].effective = (uint32_t) eff;
  data[1].effective = (uint32_t) (eff >> 32);
  data[0].permitted = (uint32_t) perm;
  data[1].permitted = (uint32_t) (perm >> 32);
  data[0].inheritable = (uint32_t) inh;
  data[1].inheritable = (uint32_t) (inh >> 32);
  if (syscall (SYS_capset, &hdr, data) < 0)
    return pier_error_make (err, errno, "cannot set capabilities");
  if (prctl (PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) < 0 && errno != EINVAL)
    return pier_error_make (err, errno, "cannot clear ambient capabilities");
  int last = pier_cap_last ();
  for (int c = 0; c <= last; c++)
    if (p->caps[PIER_CAP_AMBIENT] & (1ULL << c))
      if (prctl (PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, c, 0, 0) < 0)
        {
          /* As runc: an ambient capability missing from the permitted or
           * inheritable set cannot be raised; that is not fatal. */
          if (errno != EPERM)
            return pier_error_make (err, errno, "cannot raise ambient %s", pier_cap_name (c));
        }
  return 0;
}

int
pier_caps_switch_user (const pier_process *p, bool setgroups_allowed, pier_error **err)
{
  if (p->has_caps && prctl (PR_SET_KEEPCAPS, 1, 0, 0, 0) < 0)
    return pier_error_make (err, errno, "cannot keep capabilities across the user switch");
  if (setgroups_allowed)
    {
      /* A user namespace made by an unprivileged user denies setgroups. */
      char buf[16] = "";
      int fd = open ("/proc/self/setgroups", O_RDONLY | O_CLOEXEC);
      if (fd >= 0)
        {
          ssize_t n = read (fd, buf, sizeof buf - 1);
          close (fd);
          if (n > 0 && strncmp (buf, "deny", 4) == 0)
            setgroups_allowed = false;
        }
    }
  if (setgroups_allowed)
    {
      if (setgroups (p->n_additional_gids, p->additional_gids) < 0)
        return pier_error_make (err, errno, "cannot set additional groups");
    }
  else if (p->n_additional_gids)
    return pier_error_makex (err, EPERM,
                             "cannot set additional groups: setgroups is denied in this user namespace");
  if (setresgid (p->gid, p->gid, p->gid) < 0)
    return pier_error_make (err, errno, "cannot switch to gid %u", (unsigned) p->gid);
  if (setresuid (p->uid, p->uid, p->uid) < 0)
    return pier_error_make (err, errno, "cannot switch to uid %u", (unsigned) p->uid);
  if (p->has_caps)
    {
      if (prctl (PR_SET_KEEPCAPS, 0, 0, 0, 0) < 0)
        return pier_error_make (err, errno, "cannot reset keepcaps");
      return set_caps (p, err);
    }
  return 0;
}

void
pier_caps_clamp_to_host (pier_process *p)
{
  if (!p->has_caps)
    return;
  int last = pier_cap_last ();
  uint64_t wanted = 0;
  for (int s = 0; s < PIER_CAP_SETS; s++)
    wanted |= p->caps[s];
  for (int c = 0; c <= last; c++)
    if ((wanted & (1ULL << c)) && prctl (PR_CAPBSET_READ, c, 0, 0, 0) == 0)
      {
        pier_warn ("%s is not available on this host (missing from the runtime's bounding set); "
                   "the container runs without it",
                   pier_cap_name (c));
        for (int s = 0; s < PIER_CAP_SETS; s++)
          p->caps[s] &= ~(1ULL << c);
      }
}
