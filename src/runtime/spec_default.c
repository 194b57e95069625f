/* spec_default.c - the config.json `pier-runtime spec` writes: the same
 * defaults as `runc spec` (sh in a new set of namespaces, the default
 * capabilities, masked and read-only /proc paths). */
#include "runtime/spec.h"

#include <stdlib.h>
#include <unistd.h>

#include "util/banned.h"

static const char *const default_caps[] = { "CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE", NULL };

static const char *const masked[] = {
  "/proc/acpi",
  "/proc/asound",
  "/proc/kcore",
  "/proc/keys",
  "/proc/latency_stats",
  "/proc/timer_list",
  "/proc/timer_stats",
  "/proc/sched_debug",
  "/sys/firmware",
  "/proc/scsi",
  NULL,
};

static const char *const readonly[] = {
  "/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger", NULL,
};

static json_t *
strarr (const char *const *v)
{
  json_t *a = json_array ();
  for (size_t i = 0; v[i]; i++)
    json_array_append_new (a, json_string (v[i]));
  return a;
}

static json_t *
mnt (const char *dst, const char *type, const char *src, const char *const *opts)
{
  return json_pack ("{s:s, s:s, s:s, s:o}", "destination", dst, "type", type, "source", src, "options",
                    strarr (opts));
}

json_t *
pier_spec_default (bool rootless)
{
  json_t *caps = json_object ();
  const char *sets[] = { "bounding", "effective", "permitted", NULL };
  for (size_t i = 0; sets[i]; i++)
    json_object_set_new (caps, sets[i], strarr (default_caps));

  json_t *process = json_pack ("{s:b, s:{s:i, s:i}, s:[s], s:[s, s], s:s, s:o, s:[{s:s, s:i, s:i}], s:b}",
                               "terminal", 1, "user", "uid", 0, "gid", 0, "args", "sh", "env",
                               "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
                               "TERM=xterm", "cwd", "/", "capabilities", caps, "rlimits", "type",
                               "RLIMIT_NOFILE", "hard", 1024, "soft", 1024, "noNewPrivileges", 1);

  json_t *mounts = json_array ();
  json_array_append_new (mounts, mnt ("/proc", "proc", "proc", (const char *const[]){ NULL }));
  json_array_append_new (
      mounts, mnt ("/dev", "tmpfs", "tmpfs",
                   (const char *const[]){ "nosuid", "strictatime", "mode=755", "size=65536k", NULL }));
  json_array_append_new (mounts,
                         mnt ("/dev/pts", "devpts", "devpts",
                              (const char *const[]){ "nosuid", "noexec", "newinstance", "ptmxmode=0666",
                                                     "mode=0620", rootless ? NULL : "gid=5", NULL }));
  json_array_append_new (
      mounts, mnt ("/dev/shm", "tmpfs", "shm",
                   (const char *const[]){ "nosuid", "noexec", "nodev", "mode=1777", "size=65536k", NULL }));
  json_array_append_new (mounts, mnt ("/dev/mqueue", "mqueue", "mqueue",
                                      (const char *const[]){ "nosuid", "noexec", "nodev", NULL }));
  if (rootless)
    json_array_append_new (mounts,
                           mnt ("/sys", "none", "/sys",
                                (const char *const[]){ "rbind", "nosuid", "noexec", "nodev", "ro", NULL }));
  else
    json_array_append_new (mounts, mnt ("/sys", "sysfs", "sysfs",
                                        (const char *const[]){ "nosuid", "noexec", "nodev", "ro", NULL }));
  json_array_append_new (mounts,
                         mnt ("/sys/fs/cgroup", "cgroup", "cgroup",
                              (const char *const[]){ "nosuid", "noexec", "nodev", "relatime", "ro", NULL }));

  json_t *ns = json_array ();
  const char *nss[] = { "pid", "network", "ipc", "uts", "mount", "cgroup", NULL };
  for (size_t i = 0; nss[i]; i++)
    json_array_append_new (ns, json_pack ("{s:s}", "type", nss[i]));
  json_t *lnx = json_pack ("{s:o, s:o, s:o}", "maskedPaths", strarr (masked), "readonlyPaths",
                           strarr (readonly), "namespaces", ns);
  if (rootless)
    {
      json_array_append_new (ns, json_pack ("{s:s}", "type", "user"));
      json_object_set_new (
          lnx, "uidMappings",
          json_pack ("[{s:i, s:i, s:i}]", "containerID", 0, "hostID", (int) geteuid (), "size", 1));
      json_object_set_new (
          lnx, "gidMappings",
          json_pack ("[{s:i, s:i, s:i}]", "containerID", 0, "hostID", (int) getegid (), "size", 1));
    }
  else
    json_object_set_new (lnx, "resources",
                         json_pack ("{s:[{s:b, s:s}]}", "devices", "allow", 0, "access", "rwm"));

  return json_pack ("{s:s, s:o, s:{s:s, s:b}, s:s, s:o, s:o}", "ociVersion", "1.2.0", "process", process,
                    "root", "path", "rootfs", "readonly", 1, "hostname", "pier", "mounts", mounts, "linux",
                    lnx);
}
