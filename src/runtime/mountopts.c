#include "runtime/mountopts.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>

#include "util/xalloc.h"
#include "util/banned.h"

#ifndef MOUNT_ATTR_RDONLY
#define MOUNT_ATTR_RDONLY 0x00000001
#define MOUNT_ATTR_NOSUID 0x00000002
#define MOUNT_ATTR_NODEV 0x00000004
#define MOUNT_ATTR_NOEXEC 0x00000008
#define MOUNT_ATTR__ATIME 0x00000070
#define MOUNT_ATTR_RELATIME 0x00000000
#define MOUNT_ATTR_NOATIME 0x00000010
#define MOUNT_ATTR_STRICTATIME 0x00000020
#define MOUNT_ATTR_NODIRATIME 0x00000080
#endif
#ifndef MOUNT_ATTR_NOSYMFOLLOW
#define MOUNT_ATTR_NOSYMFOLLOW 0x00200000
#endif
#ifndef MS_NOSYMFOLLOW
#define MS_NOSYMFOLLOW 256
#endif

struct flag_opt
{
  const char *name;
  int clear;
  unsigned long flag;
};

static const struct flag_opt flag_opts[] = {
  { "defaults", 0, 0 },
  { "ro", 0, MS_RDONLY },
  { "rw", 1, MS_RDONLY },
  { "nosuid", 0, MS_NOSUID },
  { "suid", 1, MS_NOSUID },
  { "nodev", 0, MS_NODEV },
  { "dev", 1, MS_NODEV },
  { "noexec", 0, MS_NOEXEC },
  { "exec", 1, MS_NOEXEC },
  { "sync", 0, MS_SYNCHRONOUS },
  { "async", 1, MS_SYNCHRONOUS },
  { "dirsync", 0, MS_DIRSYNC },
  { "remount", 0, MS_REMOUNT },
  { "mand", 0, MS_MANDLOCK },
  { "nomand", 1, MS_MANDLOCK },
  { "atime", 1, MS_NOATIME },
  { "noatime", 0, MS_NOATIME },
  { "diratime", 1, MS_NODIRATIME },
  { "nodiratime", 0, MS_NODIRATIME },
  { "relatime", 0, MS_RELATIME },
  { "norelatime", 1, MS_RELATIME },
  { "strictatime", 0, MS_STRICTATIME },
  { "nostrictatime", 1, MS_STRICTATIME },
  { "lazytime", 0, MS_LAZYTIME },
  { "nolazytime", 1, MS_LAZYTIME },
  { "silent", 0, MS_SILENT },
  { "loud", 1, MS_SILENT },
  { "iversion", 0, MS_I_VERSION },
  { "noiversion", 1, MS_I_VERSION },
  { "symfollow", 1, MS_NOSYMFOLLOW },
  { "nosymfollow", 0, MS_NOSYMFOLLOW },
};

struct rec_opt
{
  const char *name;
  int clear;
  unsigned long attr;
};

/* Recursive variants (mount_setattr with AT_RECURSIVE). */
static const struct rec_opt rec_opts[] = {
  { "rro", 0, MOUNT_ATTR_RDONLY },
  { "rrw", 1, MOUNT_ATTR_RDONLY },
  { "rnosuid", 0, MOUNT_ATTR_NOSUID },
  { "rsuid", 1, MOUNT_ATTR_NOSUID },
  { "rnodev", 0, MOUNT_ATTR_NODEV },
  { "rdev", 1, MOUNT_ATTR_NODEV },
  { "rnoexec", 0, MOUNT_ATTR_NOEXEC },
  { "rexec", 1, MOUNT_ATTR_NOEXEC },
  { "rnodiratime", 0, MOUNT_ATTR_NODIRATIME },
  { "rdiratime", 1, MOUNT_ATTR_NODIRATIME },
  { "rrelatime", 0, MOUNT_ATTR_RELATIME },
  { "rnorelatime", 1, MOUNT_ATTR_RELATIME },
  { "rnoatime", 0, MOUNT_ATTR_NOATIME },
  { "ratime", 1, MOUNT_ATTR_NOATIME },
  { "rstrictatime", 0, MOUNT_ATTR_STRICTATIME },
  { "rnostrictatime", 1, MOUNT_ATTR_STRICTATIME },
  { "rnosymfollow", 0, MOUNT_ATTR_NOSYMFOLLOW },
  { "rsymfollow", 1, MOUNT_ATTR_NOSYMFOLLOW },
};

static const struct
{
  const char *name;
  unsigned long flags;
} prop_opts[] = {
  { "shared", MS_SHARED },         { "rshared", MS_SHARED | MS_REC },
  { "private", MS_PRIVATE },       { "rprivate", MS_PRIVATE | MS_REC },
  { "slave", MS_SLAVE },           { "rslave", MS_SLAVE | MS_REC },
  { "unbindable", MS_UNBINDABLE }, { "runbindable", MS_UNBINDABLE | MS_REC },
};

const char *const pier_mount_option_names[] = {
  "defaults",    "ro",         "rw",          "nosuid",       "suid",           "nodev",
  "dev",         "noexec",     "exec",        "sync",         "async",          "dirsync",
  "remount",     "mand",       "nomand",      "atime",        "noatime",        "diratime",
  "nodiratime",  "relatime",   "norelatime",  "strictatime",  "nostrictatime",  "lazytime",
  "nolazytime",  "silent",     "loud",        "iversion",     "noiversion",     "symfollow",
  "nosymfollow", "rro",        "rrw",         "rnosuid",      "rsuid",          "rnodev",
  "rdev",        "rnoexec",    "rexec",       "rnodiratime",  "rdiratime",      "rrelatime",
  "rnorelatime", "rnoatime",   "ratime",      "rstrictatime", "rnostrictatime", "rnosymfollow",
  "rsymfollow",  "shared",     "rshared",     "private",      "rprivate",       "slave",
  "rslave",      "unbindable", "runbindable", "bind",         "rbind",          "idmap",
  "ridmap",      "tmpcopyup",  NULL,
};

unsigned long
pier_propagation_from_name (const char *name)
{
  for (size_t i = 0; i < sizeof prop_opts / sizeof prop_opts[0]; i++)
    if (strcmp (name, prop_opts[i].name) == 0)
      return prop_opts[i].flags;
  return 0;
}

int
pier_mount_parse_options (pier_mount *m, pier_error **err)
{
  size_t datalen = 0;
  char *data = xstrdup ("");

  for (size_t i = 0; m->options && m->options[i]; i++)
    {
      const char *o = m->options[i];
      int done = 0;
      for (size_t k = 0; !done && k < sizeof flag_opts / sizeof flag_opts[0]; k++)
        if (strcmp (o, flag_opts[k].name) == 0)
          {
            if (flag_opts[k].clear)
              m->flags &= ~flag_opts[k].flag;
            else
              m->flags |= flag_opts[k].flag;
            done = 1;
          }
      for (size_t k = 0; !done && k < sizeof rec_opts / sizeof rec_opts[0]; k++)
        if (strcmp (o, rec_opts[k].name) == 0)
          {
            if (rec_opts[k].clear)
              {
                m->rec_clear |= rec_opts[k].attr;
                m->rec_set &= ~rec_opts[k].attr;
              }
            else
              {
                m->rec_set |= rec_opts[k].attr;
                m->rec_clear &= ~rec_opts[k].attr;
              }
            done = 1;
          }
      if (!done)
        {
          unsigned long p = pier_propagation_from_name (o);
          if (p)
            {
              m->propagation = p;
              done = 1;
            }
        }
      if (!done && (strcmp (o, "bind") == 0 || strcmp (o, "rbind") == 0))
        {
          m->bind = true;
          m->rbind = o[0] == 'r';
          done = 1;
        }
      if (!done && (strcmp (o, "idmap") == 0 || strcmp (o, "ridmap") == 0))
        {
          m->idmap = true;
          done = 1;
        }
      if (!done && strcmp (o, "tmpcopyup") == 0)
        done = 1; /* handled by the mount code for tmpfs */
      if (!done)
        {
          size_t l = strlen (o);
          data = xrealloc (data, datalen + l + 2);
          if (datalen)
            data[datalen++] = ',';
          memcpy (data + datalen, o, l + 1);
          datalen += l;
        }
    }
  if (m->idmap && (m->n_uid_mappings == 0 || m->n_gid_mappings == 0))
    {
      free (data);
      return pier_error_makex (err, EINVAL, "an idmap mount needs uidMappings and gidMappings");
    }
  if (datalen)
    m->data = data;
  else
    free (data);
  return 0;
}
