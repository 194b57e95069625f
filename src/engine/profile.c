#include "engine/profile.h"

#include <errno.h>
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/utsname.h>

#include "runtime/seccomp.h"
#include "runtime/spec.h"
#include "util/cleanup.h"
#include "util/json.h"
#include "util/xalloc.h"
#include "util/banned.h"

/* ---- capabilities ---- */

/* moby daemon/pkg/oci/caps/defaults.go, in its order. */
static const char *const default_caps[] = {
  "CAP_CHOWN",   "CAP_DAC_OVERRIDE", "CAP_FSETID",           "CAP_FOWNER",
  "CAP_MKNOD",   "CAP_NET_RAW",      "CAP_SETGID",           "CAP_SETUID",
  "CAP_SETFCAP", "CAP_SETPCAP",      "CAP_NET_BIND_SERVICE", "CAP_SYS_CHROOT",
  "CAP_KILL",    "CAP_AUDIT_WRITE",
};
#define N_DEFAULT_CAPS (sizeof default_caps / sizeof default_caps[0])

json_t *
pier_profile_default_caps (void)
{
  json_t *a = json_array ();
  for (size_t i = 0; i < N_DEFAULT_CAPS; i++)
    json_array_append_new (a, json_string (default_caps[i]));
  return a;
}

#define CAP_ALL (-2)

/* One --cap-add/--cap-drop name to a capability number or CAP_ALL.  The
 * message shows the name as docker normalises it (upper case, CAP_
 * prefix), which is also how docker reports it. */
static int
cap_parse (const char *name, const char *flag, pier_error **err)
{
  if (strcasecmp (name, "ALL") == 0)
    return CAP_ALL;
  int c = pier_cap_from_name (name);
  if (c < 0 || c > pier_cap_last ())
    {
      cleanup_free char *norm
          = strncasecmp (name, "CAP_", 4) == 0 ? xstrdup (name) : xasprintf ("CAP_%s", name);
      for (char *p = norm; *p; p++)
        if (*p >= 'a' && *p <= 'z')
          *p = (char) (*p - 'a' + 'A');
      if (c < 0)
        return pier_error_makex (err, EINVAL, "%s: unknown capability `%s`", flag, norm);
      return pier_error_makex (err, EINVAL, "%s: capability `%s` is not supported by this kernel", flag,
                               norm);
    }
  return c;
}

/* Parse a list into a mask; *all is set when it holds ALL. */
static int
cap_list (char *const *v, const char *flag, uint64_t *mask, bool *all, pier_error **err)
{
  *mask = 0;
  *all = false;
  for (size_t i = 0; v && v[i]; i++)
    {
      int c = cap_parse (v[i], flag, err);
      if (c == -1)
        return -1;
      if (c == CAP_ALL)
        *all = true;
      else
        *mask |= 1ULL << c;
    }
  return 0;
}

static void
cap_push (char ***out, uint64_t *have, int c)
{
  if (*have & (1ULL << c))
    return;
  *have |= 1ULL << c;
  strv_push (out, pier_cap_name (c));
}

int
pier_profile_caps (char *const *add, char *const *drop, bool privileged, char ***out, pier_error **err)
{
  cleanup_strv char **res = xcalloc (1, sizeof *res);
  uint64_t have = 0, add_mask = 0, drop_mask = 0;
  bool add_all = false, drop_all = false;
  int last = pier_cap_last ();

  /* As docker: privileged wins over the lists, which are not even read. */
  if (!privileged
      && (cap_list (add, "--cap-add", &add_mask, &add_all, err) < 0
          || cap_list (drop, "--cap-drop", &drop_mask, &drop_all, err) < 0))
    return -1;
  if (privileged || add_all)
    {
      for (int c = 0; c <= last; c++)
        if (privileged || !(drop_mask & (1ULL << c)))
          cap_push (&res, &have, c);
    }
  else
    {
      /* Dropping ALL leaves exactly what is added; otherwise the defaults
       * lose what is dropped and then gain what is added (so a capability
       * named in both lists is kept, as in docker). */
      if (!drop_all)
        for (size_t i = 0; i < N_DEFAULT_CAPS; i++)
          {
            int c = pier_cap_from_name (default_caps[i]);
            if (c >= 0 && c <= last && !(drop_mask & (1ULL << c)))
              cap_push (&res, &have, c);
          }
      /* Added in the order given: docker keeps the user's order. */
      for (size_t i = 0; add && add[i]; i++)
        cap_push (&res, &have, pier_cap_from_name (add[i]));
    }
  *out = steal_pointer (&res);
  return 0;
}

/* ---- the build's architecture ---- */

/* Docker matches a rule's "arches" against its own GOARCH, in libseccomp's
 * spelling ("amd64", "arm64", ...), and takes from "archMap" the entry
 * whose architecture is its own.  pier does the same with the architecture
 * it was built for. */
#if defined(__x86_64__) && defined(__ILP32__)
#define NATIVE_ARCH "x32"
#define NATIVE_SCMP "SCMP_ARCH_X32"
#elif defined(__x86_64__)
#define NATIVE_ARCH "amd64"
#define NATIVE_SCMP "SCMP_ARCH_X86_64"
#elif defined(__i386__)
#define NATIVE_ARCH "x86"
#define NATIVE_SCMP "SCMP_ARCH_X86"
#elif defined(__aarch64__)
#define NATIVE_ARCH "arm64"
#define NATIVE_SCMP "SCMP_ARCH_AARCH64"
#elif defined(__arm__)
#define NATIVE_ARCH "arm"
#define NATIVE_SCMP "SCMP_ARCH_ARM"
#elif defined(__s390x__)
#define NATIVE_ARCH "s390x"
#define NATIVE_SCMP "SCMP_ARCH_S390X"
#elif defined(__s390__)
#define NATIVE_ARCH "s390"
#define NATIVE_SCMP "SCMP_ARCH_S390"
#elif defined(__powerpc64__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
#define NATIVE_ARCH "ppc64le"
#define NATIVE_SCMP "SCMP_ARCH_PPC64LE"
#elif defined(__powerpc64__)
#define NATIVE_ARCH "ppc64"
#define NATIVE_SCMP "SCMP_ARCH_PPC64"
#elif defined(__powerpc__)
#define NATIVE_ARCH "ppc"
#define NATIVE_SCMP "SCMP_ARCH_PPC"
#elif defined(__riscv) && __riscv_xlen == 64
#define NATIVE_ARCH "riscv64"
#define NATIVE_SCMP "SCMP_ARCH_RISCV64"
#else
/* No arch rule matches and no archMap entry is taken: the profile then
 * filters the native architecture only (libseccomp's default). */
#define NATIVE_ARCH ""
#define NATIVE_SCMP ""
#endif

/* ---- docker's default seccomp profile, as data ----
 *
 * Equivalent to moby's profiles/seccomp default_linux.go (profiles v0.2.3,
 * which refuses AF_ALG as well as AF_VSOCK sockets): the same rules, with
 * the one big allowlist split by concern.  Each row is one docker rule;
 * pier_profile_seccomp() turns the table into docker's profile format and
 * evaluates it with the code that reads profile files, so the default and
 * a user's profile obey the same rules.
 *
 * Syscall names newer than the installed libseccomp (2.5.4 knows nothing
 * numbered 451 and up: cachestat, fchmodat2, futex_wake, listmount, mseal
 * ...) are kept in the object, not filtered out here: the config must not
 * depend on the engine's libseccomp, since the runtime that loads it may
 * have another (pier-runtime can be linked statically).  runtime/seccomp.c
 * skips a name seccomp_syscall_resolve_name() does not know, as runc does;
 * the unit tests hold the default profile to compile with this library. */

struct arg_rule
{
  unsigned index;
  uint64_t value, value_two;
  const char *op;
};

struct rule
{
  const char *const *names;
  unsigned errno_ret;         /* 0: SCMP_ACT_ALLOW; else SCMP_ACT_ERRNO with it */
  const struct arg_rule *arg; /* one comparison or NULL */
  /* Conditions, as docker's includes / excludes. */
  const char *const *inc_caps, *const *inc_arches, *min_kernel;
  const char *const *exc_caps, *const *exc_arches;
};

#define L(...) ((const char *const[]){ __VA_ARGS__, NULL })
#define ARG(i, o, v, v2) (&(const struct arg_rule){ (i), (v), (v2), "SCMP_CMP_" #o })

/* clone(2) flags that make a namespace: without CAP_SYS_ADMIN, clone may
 * not carry any of them (CLONE_NEWNS|NEWUTS|NEWIPC|NEWUSER|NEWPID|NEWNET|
 * NEWCGROUP = 0x7E020000). */
#define CLONE_NS_FLAGS 0x7E020000ULL

/* AF_ALG (38) and AF_VSOCK (40) are refused; the family between them (39,
 * AF_NFC) is allowed, hence three rules. */
#define AF_ALG_ 38
#define AF_VSOCK_ 40

static const struct rule default_rules[] = {
  /* Files: paths, metadata, notifications. */
  { .names
    = L ("access", "cachestat", "chdir", "chmod", "chown", "chown32", "creat", "faccessat", "faccessat2",
         "fadvise64", "fadvise64_64", "fallocate", "fanotify_mark", "fchdir", "fchmod", "fchmodat",
         "fchmodat2", "fchown", "fchown32", "fchownat", "fdatasync", "flock", "fstat", "fstat64", "fstatat64",
         "fstatfs", "fstatfs64", "fsync", "ftruncate", "ftruncate64", "futimesat", "getcwd", "getdents",
         "getdents64", "inotify_add_watch", "inotify_init", "inotify_init1", "inotify_rm_watch", "lchown",
         "lchown32", "link", "linkat", "listmount", "lstat", "lstat64", "mkdir", "mkdirat", "mknod",
         "mknodat", "name_to_handle_at", "newfstatat", "open", "openat", "openat2", "readahead", "readlink",
         "readlinkat", "rename", "renameat", "renameat2", "rmdir", "stat", "stat64", "statfs", "statfs64",
         "statmount", "statx", "symlink", "symlinkat", "sync", "sync_file_range", "syncfs", "truncate",
         "truncate64", "umask", "unlink", "unlinkat", "utime", "utimensat", "utimensat_time64", "utimes") },
  /* Extended attributes. */
  { .names = L ("fgetxattr", "flistxattr", "fremovexattr", "fsetxattr", "getxattr", "getxattrat", "lgetxattr",
                "listxattr", "listxattrat", "llistxattr", "lremovexattr", "lsetxattr", "removexattr",
                "removexattrat", "setxattr", "setxattrat") },
  /* File descriptors: I/O, polling, aio (io_uring is not allowed). */
  { .names = L ("close", "close_range", "copy_file_range", "dup", "dup2", "dup3", "epoll_create",
                "epoll_create1", "epoll_ctl", "epoll_ctl_old", "epoll_pwait", "epoll_pwait2", "epoll_wait",
                "epoll_wait_old", "eventfd", "eventfd2", "fcntl", "fcntl64", "io_cancel", "io_destroy",
                "io_getevents", "io_pgetevents", "io_pgetevents_time64", "io_setup", "io_submit", "ioctl",
                "ioprio_get", "ioprio_set", "_llseek", "lseek", "_newselect", "pipe", "pipe2", "poll",
                "ppoll", "ppoll_time64", "pread64", "preadv", "preadv2", "pselect6", "pselect6_time64",
                "pwrite64", "pwritev", "pwritev2", "read", "readv", "select", "sendfile", "sendfile64",
                "signalfd", "signalfd4", "splice", "tee", "vmsplice", "write", "writev") },
  /* Memory. */
  { .names = L ("brk", "get_robust_list", "madvise", "map_shadow_stack", "membarrier", "memfd_create",
                "memfd_secret", "mincore", "mlock", "mlock2", "mlockall", "mmap", "mmap2", "mprotect",
                "mremap", "mseal", "msync", "munlock", "munlockall", "munmap", "pkey_alloc", "pkey_free",
                "pkey_mprotect", "remap_file_pages", "set_robust_list") },
  /* Processes and threads (clone and clone3 are conditional, below). */
  { .names = L ("capget", "capset", "execve", "execveat", "exit", "exit_group", "fork", "futex",
                "futex_requeue", "futex_time64", "futex_wait", "futex_waitv", "futex_wake", "get_thread_area",
                "getcpu", "getpgid", "getpgrp", "getpid", "getppid", "getpriority", "getrandom", "getrlimit",
                "getrusage", "getsid", "gettid", "landlock_add_rule", "landlock_create_ruleset",
                "landlock_restrict_self", "pidfd_open", "pidfd_send_signal", "prctl", "prlimit64",
                "process_mrelease", "restart_syscall", "riscv_hwprobe", "rseq", "seccomp", "set_thread_area",
                "set_tid_address", "setpgid", "setpriority", "setrlimit", "setsid", "sysinfo", "times",
                "ugetrlimit", "uname", "uretprobe", "vfork", "wait4", "waitid", "waitpid") },
  /* Scheduling. */
  { .names
    = L ("sched_get_priority_max", "sched_get_priority_min", "sched_getaffinity", "sched_getattr",
         "sched_getparam", "sched_getscheduler", "sched_rr_get_interval", "sched_rr_get_interval_time64",
         "sched_setaffinity", "sched_setattr", "sched_setparam", "sched_setscheduler", "sched_yield") },
  /* Signals. */
  { .names = L ("kill", "pause", "rt_sigaction", "rt_sigpending", "rt_sigprocmask", "rt_sigqueueinfo",
                "rt_sigreturn", "rt_sigsuspend", "rt_sigtimedwait", "rt_sigtimedwait_time64",
                "rt_tgsigqueueinfo", "sigaltstack", "sigprocmask", "sigreturn", "tgkill", "tkill") },
  /* User and group ids. */
  { .names = L ("getegid", "getegid32", "geteuid", "geteuid32", "getgid", "getgid32", "getgroups",
                "getgroups32", "getresgid", "getresgid32", "getresuid", "getresuid32", "getuid", "getuid32",
                "setfsgid", "setfsgid32", "setfsuid", "setfsuid32", "setgid", "setgid32", "setgroups",
                "setgroups32", "setregid", "setregid32", "setresgid", "setresgid32", "setresuid",
                "setresuid32", "setreuid", "setreuid32", "setuid", "setuid32") },
  /* Clocks and timers (adjtimex and clock_adjtime only read without
   * CAP_SYS_TIME: the kernel checks). */
  { .names
    = L ("adjtimex", "alarm", "clock_adjtime", "clock_adjtime64", "clock_getres", "clock_getres_time64",
         "clock_gettime", "clock_gettime64", "clock_nanosleep", "clock_nanosleep_time64", "getitimer",
         "gettimeofday", "nanosleep", "setitimer", "time", "timer_create", "timer_delete", "timer_getoverrun",
         "timer_gettime", "timer_gettime64", "timer_settime", "timer_settime64", "timerfd_create",
         "timerfd_gettime", "timerfd_gettime64", "timerfd_settime", "timerfd_settime64") },
  /* Sockets (socket itself is conditional, below). */
  { .names = L ("accept", "accept4", "bind", "connect", "getpeername", "getsockname", "getsockopt", "listen",
                "recv", "recvfrom", "recvmmsg", "recvmmsg_time64", "recvmsg", "send", "sendmmsg", "sendmsg",
                "sendto", "setsockopt", "shutdown", "socketcall", "socketpair") },
  /* System V IPC and POSIX message queues. */
  { .names
    = L ("ipc", "mq_getsetattr", "mq_notify", "mq_open", "mq_timedreceive", "mq_timedreceive_time64",
         "mq_timedsend", "mq_timedsend_time64", "mq_unlink", "msgctl", "msgget", "msgrcv", "msgsnd", "semctl",
         "semget", "semop", "semtimedop", "semtimedop_time64", "shmat", "shmctl", "shmdt", "shmget") },

  /* Since 4.8 seccomp runs after ptrace, so a tracer can no longer bypass
   * the filter: tracing one's own children is harmless. */
  { .names = L ("process_vm_readv", "process_vm_writev", "ptrace"), .min_kernel = "4.8" },

  /* socket(2) for every address family but AF_ALG and AF_VSOCK.  (On
   * 32-bit x86 socketcall(2), allowed above, still reaches them.) */
  { .names = L ("socket"), .arg = ARG (0, LT, AF_ALG_, 0) },
  { .names = L ("socket"), .arg = ARG (0, EQ, AF_ALG_ + 1, 0) },
  { .names = L ("socket"), .arg = ARG (0, GT, AF_VSOCK_, 0) },

  /* personality(2): only PER_LINUX, PER_LINUX32, UNAME26 variants of them,
   * and the query 0xffffffff. */
  { .names = L ("personality"), .arg = ARG (0, EQ, 0x0, 0) },
  { .names = L ("personality"), .arg = ARG (0, EQ, 0x0008, 0) },
  { .names = L ("personality"), .arg = ARG (0, EQ, 0x20000, 0) },
  { .names = L ("personality"), .arg = ARG (0, EQ, 0x20008, 0) },
  { .names = L ("personality"), .arg = ARG (0, EQ, 0xffffffff, 0) },

  /* Architecture-specific calls. */
  { .names = L ("sync_file_range2", "swapcontext"), .inc_arches = L ("ppc64le") },
  { .names = L ("arm_fadvise64_64", "arm_sync_file_range", "sync_file_range2", "breakpoint", "cacheflush",
                "set_tls"),
    .inc_arches = L ("arm", "arm64") },
  { .names = L ("arch_prctl"), .inc_arches = L ("amd64", "x32") },
  { .names = L ("modify_ldt"), .inc_arches = L ("amd64", "x32", "x86") },
  { .names = L ("s390_pci_mmio_read", "s390_pci_mmio_write", "s390_runtime_instr"),
    .inc_arches = L ("s390", "s390x") },
  { .names = L ("riscv_flush_icache"), .inc_arches = L ("riscv64") },

  /* Capability-conditional groups: what the capability already lets the
   * kernel permit, seccomp does not take away. */
  { .names = L ("open_by_handle_at"), .inc_caps = L ("CAP_DAC_READ_SEARCH") },
  { .names = L ("bpf", "clone", "clone3", "fanotify_init", "fsconfig", "fsmount", "fsopen", "fspick",
                "lookup_dcookie", "lsm_get_self_attr", "lsm_list_modules", "lsm_set_self_attr", "mount",
                "mount_setattr", "move_mount", "open_tree", "perf_event_open", "quotactl", "quotactl_fd",
                "setdomainname", "sethostname", "setns", "syslog", "umount", "umount2", "unshare"),
    .inc_caps = L ("CAP_SYS_ADMIN") },
  /* Without CAP_SYS_ADMIN: clone without namespace flags (s390 swaps the
   * first two arguments) ... */
  { .names = L ("clone"),
    .arg = ARG (0, MASKED_EQ, CLONE_NS_FLAGS, 0),
    .exc_caps = L ("CAP_SYS_ADMIN"),
    .exc_arches = L ("s390", "s390x") },
  { .names = L ("clone"),
    .arg = ARG (1, MASKED_EQ, CLONE_NS_FLAGS, 0),
    .inc_arches = L ("s390", "s390x"),
    .exc_caps = L ("CAP_SYS_ADMIN") },
  /* ... and clone3, whose flags live in memory seccomp cannot read, fails
   * with ENOSYS so that libc falls back to clone. */
  { .names = L ("clone3"), .errno_ret = ENOSYS, .exc_caps = L ("CAP_SYS_ADMIN") },
  { .names = L ("reboot"), .inc_caps = L ("CAP_SYS_BOOT") },
  { .names = L ("chroot"), .inc_caps = L ("CAP_SYS_CHROOT") },
  { .names = L ("delete_module", "init_module", "finit_module"), .inc_caps = L ("CAP_SYS_MODULE") },
  { .names = L ("acct"), .inc_caps = L ("CAP_SYS_PACCT") },
  { .names = L ("kcmp", "pidfd_getfd", "process_madvise", "process_vm_readv", "process_vm_writev", "ptrace"),
    .inc_caps = L ("CAP_SYS_PTRACE") },
  { .names = L ("iopl", "ioperm"), .inc_caps = L ("CAP_SYS_RAWIO") },
  { .names = L ("settimeofday", "stime", "clock_settime", "clock_settime64"),
    .inc_caps = L ("CAP_SYS_TIME") },
  { .names = L ("vhangup"), .inc_caps = L ("CAP_SYS_TTY_CONFIG") },
  { .names = L ("get_mempolicy", "mbind", "set_mempolicy", "set_mempolicy_home_node"),
    .inc_caps = L ("CAP_SYS_NICE") },
  { .names = L ("syslog"), .inc_caps = L ("CAP_SYSLOG") },
  { .names = L ("bpf"), .inc_caps = L ("CAP_BPF") },
  { .names = L ("perf_event_open"), .inc_caps = L ("CAP_PERFMON") },
};

/* The archMap of docker's default profile, for the architectures pier's
 * seccomp loader knows (docker's also lists loongarch64). */
static const struct
{
  const char *arch;
  const char *const *sub;
} default_arch_map[] = {
  { "SCMP_ARCH_X86_64", L ("SCMP_ARCH_X86", "SCMP_ARCH_X32") },
  { "SCMP_ARCH_AARCH64", L ("SCMP_ARCH_ARM") },
  { "SCMP_ARCH_MIPS64", L ("SCMP_ARCH_MIPS", "SCMP_ARCH_MIPS64N32") },
  { "SCMP_ARCH_MIPS64N32", L ("SCMP_ARCH_MIPS", "SCMP_ARCH_MIPS64") },
  { "SCMP_ARCH_MIPSEL64", L ("SCMP_ARCH_MIPSEL", "SCMP_ARCH_MIPSEL64N32") },
  { "SCMP_ARCH_MIPSEL64N32", L ("SCMP_ARCH_MIPSEL", "SCMP_ARCH_MIPSEL64") },
  { "SCMP_ARCH_S390X", L ("SCMP_ARCH_S390") },
  { "SCMP_ARCH_RISCV64", NULL },
};

static json_t *
strv_json (const char *const *v)
{
  json_t *a = json_array ();
  for (size_t i = 0; v && v[i]; i++)
    json_array_append_new (a, json_string (v[i]));
  return a;
}

/* The default profile in docker's own format (what default.json holds). */
static json_t *
default_profile_docker (void)
{
  json_t *p = json_object (), *map = json_array (), *calls = json_array ();
  json_object_set_new (p, "defaultAction", json_string ("SCMP_ACT_ERRNO"));
  json_object_set_new (p, "defaultErrnoRet", json_integer (EPERM));
  for (size_t i = 0; i < sizeof default_arch_map / sizeof default_arch_map[0]; i++)
    json_array_append_new (map, json_pack ("{s:s, s:o}", "architecture", default_arch_map[i].arch,
                                           "subArchitectures", strv_json (default_arch_map[i].sub)));
  json_object_set_new (p, "archMap", map);
  for (size_t i = 0; i < sizeof default_rules / sizeof default_rules[0]; i++)
    {
      const struct rule *r = &default_rules[i];
      json_t *c = json_object ();
      json_object_set_new (c, "names", strv_json (r->names));
      json_object_set_new (c, "action", json_string (r->errno_ret ? "SCMP_ACT_ERRNO" : "SCMP_ACT_ALLOW"));
      if (r->errno_ret)
        json_object_set_new (c, "errnoRet", json_integer (r->errno_ret));
      if (r->arg)
        json_object_set_new (c, "args",
                             json_pack ("[{s:I, s:I, s:I, s:s}]", "index", (json_int_t) r->arg->index,
                                        "value", (json_int_t) r->arg->value, "valueTwo",
                                        (json_int_t) r->arg->value_two, "op", r->arg->op));
      if (r->inc_caps || r->inc_arches || r->min_kernel)
        {
          json_t *f = json_object ();
          if (r->inc_caps)
            json_object_set_new (f, "caps", strv_json (r->inc_caps));
          if (r->inc_arches)
            json_object_set_new (f, "arches", strv_json (r->inc_arches));
          if (r->min_kernel)
            json_object_set_new (f, "minKernel", json_string (r->min_kernel));
          json_object_set_new (c, "includes", f);
        }
      if (r->exc_caps || r->exc_arches)
        {
          json_t *f = json_object ();
          if (r->exc_caps)
            json_object_set_new (f, "caps", strv_json (r->exc_caps));
          if (r->exc_arches)
            json_object_set_new (f, "arches", strv_json (r->exc_arches));
          json_object_set_new (c, "excludes", f);
        }
      json_array_append_new (calls, c);
    }
  json_object_set_new (p, "syscalls", calls);
  return p;
}

/* ---- evaluating a docker-format profile ---- */

static bool
strv_has (char *const *v, const char *s)
{
  for (size_t i = 0; v && v[i]; i++)
    if (strcmp (v[i], s) == 0)
      return true;
  return false;
}

static bool
json_has (json_t *arr, const char *s)
{
  size_t i;
  json_t *v;
  json_array_foreach (arr, i, v)
  {
    if (json_is_string (v) && strcmp (json_string_value (v), s) == 0)
      return true;
  }
  return false;
}

/* "<kernel>.<major>", both numbers, not 0.0 (docker's KernelVersion). */
static int
parse_kernel (const char *s, unsigned *k, unsigned *m)
{
  int n = 0;
  if (strspn (s, "0123456789.") != strlen (s) || sscanf (s, "%u.%u%n", k, m, &n) != 2 || s[n] != '\0'
      || (*k == 0 && *m == 0) || *k > 255 || *m > 255)
    return -1;
  return 0;
}

/* Is the running kernel at least k.m?  Like docker, only the first two
 * numbers of the release count ("5.15.0-91-generic" is 5.15). */
static int
kernel_at_least (unsigned k, unsigned m, bool *yes, pier_error **err)
{
  struct utsname u;
  unsigned hk, hm;
  if (uname (&u) < 0)
    return pier_error_make (err, errno, "cannot read the kernel version");
  if (sscanf (u.release, "%u.%u", &hk, &hm) != 2)
    return pier_error_makex (err, EINVAL, "cannot parse the kernel version `%s`", u.release);
  *yes = hk > k || (hk == k && hm >= m);
  return 0;
}

/* Is s among the names the runtime's seccomp loader knows?  kn is
 * pier_seccomp_features(); list is "actions", "operators", "archs" or
 * "knownFlags". */
static bool
known_has (json_t *kn, const char *list, const char *s)
{
  return json_has (json_object_get (kn, list), s);
}

/* An array of strings (or absent / null) at obj[key]; *out borrowed. */
static int
str_array (json_t *obj, const char *key, const char *where, json_t **out, pier_error **err)
{
  json_t *a = NULL, *v;
  size_t i;
  *out = NULL;
  if (pier_json_arr (obj, key, where, &a, err) < 0)
    return -1;
  json_array_foreach (a, i, v)
  {
    if (!json_is_string (v))
      return pier_error_makex (err, EINVAL, "%s.%s[%zu] must be a string", where, key, i);
  }
  *out = a;
  return 0;
}

/* Does a rule's includes (include = true) or excludes filter match the
 * container?  Docker's meaning: includes match when the build arch is
 * one of "arches", every one of "caps" is held and the kernel is at least
 * "minKernel"; excludes match when the arch is one of "arches", any one of
 * "caps" is held, or the kernel is at least "minKernel". */
static int
filter_matches (json_t *f, bool include, const char *where, char *const *caps, bool *match, pier_error **err)
{
  json_t *arches = NULL, *fcaps = NULL, *v;
  const char *mk = NULL;
  size_t i;

  if (!json_is_object (f))
    return pier_error_makex (err, EINVAL, "%s must be an object", where);
  if (str_array (f, "arches", where, &arches, err) < 0 || str_array (f, "caps", where, &fcaps, err) < 0
      || pier_json_str (f, "minKernel", where, &mk, err) < 0)
    return -1;
  bool kernel_ok = false;
  if (mk && *mk)
    {
      unsigned k, m;
      if (parse_kernel (mk, &k, &m) < 0)
        return pier_error_makex (err, EINVAL,
                                 "%s.minKernel `%s` is not a kernel version \"<kernel>.<major>\"", where, mk);
      if (kernel_at_least (k, m, &kernel_ok, err) < 0)
        return -1;
    }
  if (include)
    {
      *match = true;
      if (json_array_size (arches) && !json_has (arches, NATIVE_ARCH))
        *match = false;
      json_array_foreach (fcaps, i, v)
      {
        if (!strv_has (caps, json_string_value (v)))
          *match = false;
      }
      if (mk && *mk && !kernel_ok)
        *match = false;
    }
  else
    {
      *match = json_has (arches, NATIVE_ARCH) || (mk && *mk && kernel_ok);
      json_array_foreach (fcaps, i, v)
      {
        if (strv_has (caps, json_string_value (v)))
          *match = true;
      }
    }
  return 0;
}

static int
check_action (json_t *kn, json_t *obj, const char *key, const char *where, const char **out, pier_error **err)
{
  if (pier_json_str (obj, key, where, out, err) < 0)
    return -1;
  if (*out && !known_has (kn, "actions", *out))
    return pier_error_makex (err, EINVAL, "%s.%s: unknown seccomp action `%s`", where, key, *out);
  return 0;
}

static int
check_errno (json_t *obj, const char *key, const char *where, pier_error **err)
{
  uint64_t v = 0;
  if (pier_json_u64 (obj, key, where, &v, err) < 0)
    return -1;
  if (v > 0xffff)
    return pier_error_makex (err, EINVAL, "%s.%s %" PRIu64 " is not an errno value", where, key, v);
  return 0;
}

static int
copy_args (json_t *kn, json_t *args, const char *where, json_t **out, pier_error **err)
{
  size_t i;
  json_t *a;
  *out = NULL;
  if (json_array_size (args) > 6)
    return pier_error_makex (err, EINVAL, "%s.args has more than 6 comparisons", where);
  json_t *res = json_array ();
  json_array_foreach (args, i, a)
  {
    cleanup_free char *w = xasprintf ("%s.args[%zu]", where, i);
    uint64_t index = 0, value = 0, value_two = 0;
    const char *op = NULL;
    if (!json_is_object (a))
      {
        pier_error_makex (err, EINVAL, "%s must be an object", w);
        goto fail;
      }
    if (pier_json_u64 (a, "index", w, &index, err) < 0 || pier_json_u64 (a, "value", w, &value, err) < 0
        || pier_json_u64 (a, "valueTwo", w, &value_two, err) < 0 || pier_json_str (a, "op", w, &op, err) < 0)
      goto fail;
    if (index > 5)
      {
        pier_error_makex (err, EINVAL, "%s.index %" PRIu64 " is out of range (0 to 5)", w, index);
        goto fail;
      }
    if (op == NULL || !known_has (kn, "operators", op))
      {
        pier_error_makex (err, EINVAL, "%s.op: %s seccomp operator%s%s%s", w, op ? "unknown" : "missing",
                          op ? " `" : "", op ? op : "", op ? "`" : "");
        goto fail;
      }
    json_array_append_new (res, json_pack ("{s:I, s:I, s:I, s:s}", "index", (json_int_t) index, "value",
                                           (json_int_t) value, "valueTwo", (json_int_t) value_two, "op", op));
  }
  *out = res;
  return 0;
fail:
  json_decref (res);
  return -1;
}

static int
convert_syscall (json_t *kn, json_t *call, const char *where, char *const *caps, json_t *outv,
                 pier_error **err)
{
  json_t *names = NULL, *args = NULL, *inc, *exc;
  const char *name = NULL, *act = NULL;
  bool m;

  if (!json_is_object (call))
    return pier_error_makex (err, EINVAL, "%s must be an object", where);
  if (str_array (call, "names", where, &names, err) < 0 || pier_json_str (call, "name", where, &name, err) < 0
      || check_action (kn, call, "action", where, &act, err) < 0
      || check_errno (call, "errnoRet", where, err) < 0
      || pier_json_arr (call, "args", where, &args, err) < 0)
    return -1;
  if (name && *name && json_array_size (names))
    return pier_error_makex (err, EINVAL, "%s has both `name` and `names`; use `names`", where);
  if (act == NULL)
    return pier_error_makex (err, EINVAL, "%s.action is required", where);
  if (!(name && *name) && json_array_size (names) == 0)
    return pier_error_makex (err, EINVAL, "%s names no syscall", where);
  cleanup_json json_t *oargs = NULL;
  if (copy_args (kn, args, where, &oargs, err) < 0)
    return -1;

  /* Both filters are checked for errors before either decides. */
  bool skip = false;
  if ((exc = json_object_get (call, "excludes")) && !json_is_null (exc))
    {
      cleanup_free char *w = xasprintf ("%s.excludes", where);
      if (filter_matches (exc, false, w, caps, &m, err) < 0)
        return -1;
      skip |= m;
    }
  if ((inc = json_object_get (call, "includes")) && !json_is_null (inc))
    {
      cleanup_free char *w = xasprintf ("%s.includes", where);
      if (filter_matches (inc, true, w, caps, &m, err) < 0)
        return -1;
      skip |= !m;
    }
  if (skip)
    return 0;

  json_t *o = json_object ();
  if (name && *name)
    json_object_set_new (o, "names", json_pack ("[s]", name));
  else
    json_object_set (o, "names", names);
  json_object_set_new (o, "action", json_string (act));
  if (json_is_integer (json_object_get (call, "errnoRet")))
    json_object_set (o, "errnoRet", json_object_get (call, "errnoRet"));
  if (json_array_size (oargs))
    json_object_set (o, "args", oargs);
  json_array_append_new (outv, o);
  return 0;
}

/* The architectures of the result: "architectures" as given, or from
 * "archMap" the entry of the build architecture with its sub-arches. */
static int
convert_arches (json_t *kn, json_t *p, json_t *res, pier_error **err)
{
  json_t *archs = NULL, *map = NULL, *v, *e;
  size_t i;
  json_t *out = json_array ();
  json_object_set_new (res, "architectures", out);

  if (str_array (p, "architectures", "", &archs, err) < 0 || pier_json_arr (p, "archMap", "", &map, err) < 0)
    return -1;
  if (json_array_size (archs) && json_array_size (map))
    return pier_error_makex (err, EINVAL, "both .architectures and .archMap are given; use one of them");
  json_array_foreach (archs, i, v)
  {
    if (!known_has (kn, "archs", json_string_value (v)))
      return pier_error_makex (err, EINVAL, ".architectures[%zu]: unknown architecture `%s`", i,
                               json_string_value (v));
    json_array_append (out, v);
  }
  json_array_foreach (map, i, e)
  {
    cleanup_free char *w = xasprintf (".archMap[%zu]", i);
    const char *a = NULL;
    json_t *subs = NULL, *s;
    size_t k;
    if (!json_is_object (e))
      return pier_error_makex (err, EINVAL, "%s must be an object", w);
    if (pier_json_str (e, "architecture", w, &a, err) < 0
        || str_array (e, "subArchitectures", w, &subs, err) < 0)
      return -1;
    if (a == NULL)
      return pier_error_makex (err, EINVAL, "%s.architecture is required", w);
    if (strcmp (a, NATIVE_SCMP) != 0 || json_array_size (out) > 0)
      continue; /* docker takes the first entry of its own arch */
    json_array_append_new (out, json_string (a));
    json_array_foreach (subs, k, s)
    {
      if (!known_has (kn, "archs", json_string_value (s)))
        return pier_error_makex (err, EINVAL, "%s.subArchitectures[%zu]: unknown architecture `%s`", w, k,
                                 json_string_value (s));
      json_array_append (out, s);
    }
  }
  return 0;
}

static int
convert (json_t *p, char *const *caps, bool check, json_t **out, pier_error **err)
{
  cleanup_json json_t *kn = pier_seccomp_features ();
  cleanup_json json_t *res = NULL;
  json_t *calls = NULL, *flags = NULL, *v;
  const char *def = NULL, *lp = NULL, *lm = NULL;
  size_t i;

  *out = NULL;
  if (!json_is_object (p))
    return pier_error_makex (err, EINVAL, "a seccomp profile must be a JSON object");
  if (check_action (kn, p, "defaultAction", "", &def, err) < 0
      || pier_json_arr (p, "syscalls", "", &calls, err) < 0)
    return -1;
  /* Docker: no default action and no rules means seccomp is off. */
  if ((def == NULL || *def == '\0') && json_array_size (calls) == 0)
    return 0;
  if (def == NULL || *def == '\0')
    return pier_error_makex (err, EINVAL, ".defaultAction is required");
  if (check_errno (p, "defaultErrnoRet", "", err) < 0)
    return -1;

  res = json_object ();
  json_object_set_new (res, "defaultAction", json_string (def));
  if (json_is_integer (json_object_get (p, "defaultErrnoRet")))
    json_object_set (res, "defaultErrnoRet", json_object_get (p, "defaultErrnoRet"));
  if (convert_arches (kn, p, res, err) < 0)
    return -1;
  if (str_array (p, "flags", "", &flags, err) < 0)
    return -1;
  json_array_foreach (flags, i, v)
  {
    if (!known_has (kn, "knownFlags", json_string_value (v)))
      return pier_error_makex (err, EINVAL, ".flags[%zu]: unknown seccomp flag `%s`", i,
                               json_string_value (v));
  }
  if (json_array_size (flags))
    json_object_set (res, "flags", flags);
  if (pier_json_str (p, "listenerPath", "", &lp, err) < 0
      || pier_json_str (p, "listenerMetadata", "", &lm, err) < 0)
    return -1;
  if (lp && *lp)
    json_object_set_new (res, "listenerPath", json_string (lp));
  if (lm && *lm)
    json_object_set_new (res, "listenerMetadata", json_string (lm));

  json_t *ocalls = json_array ();
  json_object_set_new (res, "syscalls", ocalls);
  json_array_foreach (calls, i, v)
  {
    cleanup_free char *w = xasprintf (".syscalls[%zu]", i);
    if (convert_syscall (kn, v, w, caps, ocalls, err) < 0)
      return -1;
  }

  /* What the runtime would refuse (SCMP_ACT_NOTIFY without a listener, a
   * rule libseccomp rejects) is refused now, before a container exists. */
  if (check)
    {
      pier_seccomp *s = NULL;
      if (pier_seccomp_compile (res, &s, err) < 0)
        return pier_error_wrap (err, "the profile does not compile");
      pier_seccomp_free (s);
    }
  *out = steal_pointer (&res);
  return 0;
}

int
pier_profile_seccomp_convert (json_t *profile, const char *what, char *const *caps, json_t **out,
                              pier_error **err)
{
  if (convert (profile, caps, true, out, err) < 0)
    return pier_error_wrap (err, "seccomp profile `%s`", what);
  return 0;
}

int
pier_profile_seccomp_file (const char *path, char *const *caps, json_t **out, pier_error **err)
{
  cleanup_json json_t *p = NULL;
  *out = NULL;
  if (pier_json_load_file (path, &p, err) < 0)
    return pier_error_wrap (err, "seccomp profile");
  return pier_profile_seccomp_convert (p, path, caps, out, err);
}

json_t *
pier_profile_seccomp (char *const *caps)
{
  cleanup_json json_t *p = default_profile_docker ();
  json_t *out = NULL;
  pier_error *err = NULL;
  /* The table is pier's own data: the only way for this to fail is a
   * broken table (or uname failing), which the unit tests would show. */
  if (convert (p, caps, false, &out, &err) < 0)
    {
      pier_error_free (&err);
      abort ();
    }
  return out;
}
