/* Unit tests for engine/profile: docker's capability rules, docker's
 * default seccomp profile, and docker-format profile files.  Profiles are
 * held to parse through runtime/spec, compile with runtime/seccomp and,
 * loaded in a child with no_new_privs (no privilege needed), to refuse
 * and allow what docker's profile does. */
#include "unit.h"

#include <linux/sched.h>
#include <sched.h>
#include <seccomp.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/utsname.h>

#include "engine/profile.h"
#include "runtime/seccomp.h"
#include "runtime/spec.h"
#include "util/cleanup.h"
#include "util/json.h"
#include "util/xalloc.h"

#ifndef AF_VSOCK
#define AF_VSOCK 40
#endif
#ifndef AF_ALG
#define AF_ALG 38
#endif

/* ---- helpers ---- */

static size_t
count (char *const *v)
{
  return strv_len (v);
}

static bool
has (char *const *v, const char *s)
{
  for (size_t i = 0; v && v[i]; i++)
    if (strcmp (v[i], s) == 0)
      return true;
  return false;
}

static char **
caps_ok (char *const *add, char *const *drop, bool privileged)
{
  char **out = NULL;
  pier_error *err = NULL;
  if (pier_profile_caps (add, drop, privileged, &out, &err) < 0)
    fail_msg ("caps refused: %s", err->msg);
  assert_non_null (out);
  /* Never a duplicate. */
  for (size_t i = 0; out[i]; i++)
    for (size_t j = i + 1; out[j]; j++)
      if (strcmp (out[i], out[j]) == 0)
        fail_msg ("%s twice in the result", out[i]);
  return out;
}

#define V(...) ((char *const[]){ __VA_ARGS__, NULL })

static bool
json_names_has (json_t *rule, const char *name)
{
  size_t i;
  json_t *n;
  json_array_foreach (json_object_get (rule, "names"), i, n)
  {
    if (strcmp (json_string_value (n), name) == 0)
      return true;
  }
  return false;
}

/* The rules of profile p that name syscall `name` (a new array). */
static json_t *
rules_for (json_t *p, const char *name)
{
  json_t *res = json_array (), *r;
  size_t i;
  json_array_foreach (json_object_get (p, "syscalls"), i, r)
  {
    if (json_names_has (r, name))
      json_array_append (res, r);
  }
  return res;
}

/* Is name allowed unconditionally (an ALLOW rule without args)? */
static bool
allowed (json_t *p, const char *name)
{
  json_t *rs = rules_for (p, name), *r;
  size_t i;
  bool yes = false;
  json_array_foreach (rs, i, r)
  {
    if (strcmp (json_string_value (json_object_get (r, "action")), "SCMP_ACT_ALLOW") == 0
        && json_array_size (json_object_get (r, "args")) == 0)
      yes = true;
  }
  json_decref (rs);
  return yes;
}

static bool
mentioned (json_t *p, const char *name)
{
  json_t *rs = rules_for (p, name);
  bool yes = json_array_size (rs) > 0;
  json_decref (rs);
  return yes;
}

static void
compiles (json_t *p)
{
  pier_seccomp *s = NULL;
  pier_error *err = NULL;
  if (pier_seccomp_compile (p, &s, &err) < 0)
    fail_msg ("profile does not compile: %s", err->msg);
  pier_seccomp_free (s);
}

static char *
write_tmp (const char *name, const char *content)
{
  char *path = xasprintf ("%s/%s", unit_dir, name);
  unit_write (path, content);
  return path;
}

static json_t *
file_ok (const char *content, char *const *caps)
{
  cleanup_free char *path = write_tmp ("profile.json", content);
  json_t *out = NULL;
  pier_error *err = NULL;
  if (pier_profile_seccomp_file (path, caps, &out, &err) < 0)
    fail_msg ("profile refused: %s", err->msg);
  assert_non_null (out);
  return out;
}

static void
file_bad (const char *content, const char *frag1, const char *frag2)
{
  cleanup_free char *path = write_tmp ("bad.json", content);
  json_t *out = NULL;
  pier_error *err = NULL;
  if (pier_profile_seccomp_file (path, NULL, &out, &err) == 0)
    fail_msg ("profile `%s` accepted", content);
  assert_null (out);
  assert_err_contains (err, path, frag1, frag2 ? frag2 : frag1);
  pier_error_free (&err);
}

/* Load p in a child with no_new_privs and run check() there; returns the
 * child's exit status (0 = every check held). */
static int
in_child (json_t *p, int (*check) (void))
{
  pier_seccomp *s = NULL;
  pier_error *err = NULL;
  if (pier_seccomp_compile (p, &s, &err) < 0)
    fail_msg ("profile does not compile: %s", err->msg);
  fflush (NULL);
  pid_t pid = fork ();
  assert_true (pid >= 0);
  if (pid == 0)
    {
      if (prctl (PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0 || pier_seccomp_load (s, NULL, &err) < 0)
        _exit (100);
      /* exit_group directly: the sanitizers' _exit may make calls the
       * filter denies. */
      syscall (SYS_exit_group, check ());
    }
  int status = 0;
  assert_int_equal (waitpid (pid, &status, 0), pid);
  pier_seccomp_free (s);
  if (!WIFEXITED (status))
    fail_msg ("child killed by signal %d", WTERMSIG (status));
  if (WEXITSTATUS (status) == 100)
    fail_msg ("child could not load the filter");
  return WEXITSTATUS (status);
}

/* errno of a raw syscall that must fail, or 0 when it succeeded. */
#define FAILS_WITH(call) (errno = 0, (call) < 0 ? errno : 0)

/* ---- capabilities ---- */

static void
test_default_caps_json (void **state)
{
  (void) state;
  json_t *a = pier_profile_default_caps ();
  const char *want[] = { "CAP_CHOWN",   "CAP_DAC_OVERRIDE", "CAP_FSETID",           "CAP_FOWNER",
                         "CAP_MKNOD",   "CAP_NET_RAW",      "CAP_SETGID",           "CAP_SETUID",
                         "CAP_SETFCAP", "CAP_SETPCAP",      "CAP_NET_BIND_SERVICE", "CAP_SYS_CHROOT",
                         "CAP_KILL",    "CAP_AUDIT_WRITE" };
  assert_int_equal (json_array_size (a), 14);
  for (size_t i = 0; i < 14; i++)
    assert_string_equal (json_string_value (json_array_get (a, i)), want[i]);
  json_decref (a);
}

static void
test_caps_no_flags_is_default (void **state)
{
  (void) state;
  char **c = caps_ok (NULL, NULL, false);
  json_t *a = pier_profile_default_caps ();
  assert_int_equal (count (c), json_array_size (a));
  for (size_t i = 0; c[i]; i++)
    assert_string_equal (c[i], json_string_value (json_array_get (a, i)));
  assert_false (has (c, "CAP_SYS_ADMIN"));
  assert_false (has (c, "CAP_NET_ADMIN"));
  json_decref (a);
  strv_free (c);
  /* Empty lists are the same as none. */
  c = caps_ok (V (NULL), V (NULL), false);
  assert_int_equal (count (c), 14);
  strv_free (c);
}

static void
test_caps_add_any_spelling (void **state)
{
  (void) state;
  char **c = caps_ok (V ("sys_admin", "CAP_net_admin", "Sys_Ptrace", "cap_ipc_lock"), NULL, false);
  assert_int_equal (count (c), 18);
  assert_true (has (c, "CAP_SYS_ADMIN"));
  assert_true (has (c, "CAP_NET_ADMIN"));
  assert_true (has (c, "CAP_SYS_PTRACE"));
  assert_true (has (c, "CAP_IPC_LOCK"));
  /* Added after the defaults, in the order given. */
  assert_string_equal (c[14], "CAP_SYS_ADMIN");
  assert_string_equal (c[17], "CAP_IPC_LOCK");
  strv_free (c);
}

static void
test_caps_drop (void **state)
{
  (void) state;
  char **c = caps_ok (NULL, V ("chown", "CAP_NET_RAW", "Mknod"), false);
  assert_int_equal (count (c), 11);
  assert_false (has (c, "CAP_CHOWN"));
  assert_false (has (c, "CAP_NET_RAW"));
  assert_false (has (c, "CAP_MKNOD"));
  assert_true (has (c, "CAP_KILL"));
  strv_free (c);
  /* Dropping what is not in the set is not an error. */
  c = caps_ok (NULL, V ("SYS_ADMIN"), false);
  assert_int_equal (count (c), 14);
  strv_free (c);
}

static void
test_caps_drop_all (void **state)
{
  (void) state;
  char **c = caps_ok (NULL, V ("ALL"), false);
  assert_int_equal (count (c), 0);
  strv_free (c);
  c = caps_ok (NULL, V ("all", "chown"), false);
  assert_int_equal (count (c), 0);
  strv_free (c);
}

static void
test_caps_drop_all_add_some (void **state)
{
  (void) state;
  char **c = caps_ok (V ("NET_BIND_SERVICE", "chown"), V ("ALL"), false);
  assert_int_equal (count (c), 2);
  assert_string_equal (c[0], "CAP_NET_BIND_SERVICE");
  assert_string_equal (c[1], "CAP_CHOWN");
  strv_free (c);
}

static void
test_caps_add_all (void **state)
{
  (void) state;
  int n = pier_cap_last () + 1;
  char **c = caps_ok (V ("ALL"), NULL, false);
  assert_int_equal (count (c), n);
  assert_true (has (c, "CAP_SYS_ADMIN"));
  assert_string_equal (c[0], pier_cap_name (0));
  strv_free (c);
  /* add ALL wins over drop ALL, as in docker. */
  c = caps_ok (V ("all"), V ("ALL"), false);
  assert_int_equal (count (c), n);
  strv_free (c);
}

static void
test_caps_add_all_drop_some (void **state)
{
  (void) state;
  char **c = caps_ok (V ("All"), V ("SYS_ADMIN", "cap_net_admin"), false);
  assert_int_equal (count (c), pier_cap_last () + 1 - 2);
  assert_false (has (c, "CAP_SYS_ADMIN"));
  assert_false (has (c, "CAP_NET_ADMIN"));
  assert_true (has (c, "CAP_SYS_PTRACE"));
  strv_free (c);
}

static void
test_caps_privileged (void **state)
{
  (void) state;
  char **c = caps_ok (NULL, NULL, true);
  assert_int_equal (count (c), pier_cap_last () + 1);
  for (int i = 0; i <= pier_cap_last (); i++)
    assert_true (has (c, pier_cap_name (i)));
  strv_free (c);
  /* As docker, privileged ignores the lists (it does not even read them). */
  c = caps_ok (V ("NOT_A_CAP"), V ("ALL"), true);
  assert_int_equal (count (c), pier_cap_last () + 1);
  strv_free (c);
}

static void
test_caps_add_existing_no_duplicate (void **state)
{
  (void) state;
  char **c = caps_ok (V ("CHOWN", "cap_kill", "SYS_ADMIN", "sys_admin"), NULL, false);
  assert_int_equal (count (c), 15);
  strv_free (c);
}

static void
test_caps_add_and_drop_same_keeps_it (void **state)
{
  (void) state;
  /* Docker drops from the defaults first, then adds. */
  char **c = caps_ok (V ("CHOWN", "SYS_TIME"), V ("chown", "sys_time"), false);
  assert_true (has (c, "CAP_CHOWN"));
  assert_true (has (c, "CAP_SYS_TIME"));
  assert_int_equal (count (c), 15);
  strv_free (c);
}

static void
test_caps_unknown_names (void **state)
{
  (void) state;
  const struct
  {
    char *const *add, *const *drop;
    const char *flag, *shown;
  } cases[] = {
    { V ("CAP_FOO"), NULL, "--cap-add", "CAP_FOO" },
    { V ("chown", "bogus"), NULL, "--cap-add", "CAP_BOGUS" },
    { NULL, V ("cap_nope"), "--cap-drop", "CAP_NOPE" },
    { V ("CAP_ALL"), NULL, "--cap-add", "CAP_ALL" }, /* only bare ALL is magic */
    { NULL, V (""), "--cap-drop", "CAP_`" },
    { V ("ALL"), V ("SYS_ADMIN", "NET_ADMINS"), "--cap-drop", "CAP_NET_ADMINS" },
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
    {
      char **out = NULL;
      pier_error *err = NULL;
      assert_int_equal (pier_profile_caps (cases[i].add, cases[i].drop, false, &out, &err), -1);
      assert_null (out);
      assert_err_contains (err, cases[i].flag, "unknown capability", cases[i].shown);
      assert_int_equal (err->code, EINVAL);
      pier_error_free (&err);
    }
}

/* ---- the default seccomp profile ---- */

static void
test_default_profile_shape (void **state)
{
  (void) state;
  json_t *p = pier_profile_seccomp (V ("CAP_CHOWN"));
  assert_string_equal (json_string_value (json_object_get (p, "defaultAction")), "SCMP_ACT_ERRNO");
  assert_int_equal (json_integer_value (json_object_get (p, "defaultErrnoRet")), EPERM);
  json_t *a = json_object_get (p, "architectures");
#if defined(__x86_64__) && !defined(__ILP32__)
  assert_int_equal (json_array_size (a), 3);
  assert_string_equal (json_string_value (json_array_get (a, 0)), "SCMP_ARCH_X86_64");
  assert_string_equal (json_string_value (json_array_get (a, 1)), "SCMP_ARCH_X86");
  assert_string_equal (json_string_value (json_array_get (a, 2)), "SCMP_ARCH_X32");
#elif defined(__aarch64__)
  assert_int_equal (json_array_size (a), 2);
  assert_string_equal (json_string_value (json_array_get (a, 0)), "SCMP_ARCH_AARCH64");
  assert_string_equal (json_string_value (json_array_get (a, 1)), "SCMP_ARCH_ARM");
#else
  (void) a;
#endif
  /* Plain OCI: no docker-only keys survive. */
  assert_null (json_object_get (p, "archMap"));
  size_t i;
  json_t *r;
  json_array_foreach (json_object_get (p, "syscalls"), i, r)
  {
    assert_null (json_object_get (r, "includes"));
    assert_null (json_object_get (r, "excludes"));
    assert_true (json_array_size (json_object_get (r, "names")) > 0);
  }
  json_decref (p);
}

static void
test_default_allows_common_syscalls (void **state)
{
  (void) state;
  json_t *p = pier_profile_seccomp (NULL);
  const char *names[] = { "read",       "write",
                          "openat",     "close",
                          "execve",     "getpid",
                          "futex",      "epoll_wait",
                          "mmap",       "rt_sigaction",
                          "exit_group", "fork",
                          "wait4",      "accept4",
                          "setuid",     "capset",
                          "prctl",      "statx",
                          "mknod",      "ioctl",
                          "sendmsg",    "clock_gettime",
                          "shmget",     "setsid",
                          "pidfd_open", "landlock_create_ruleset",
                          "rseq",       "chown32",
                          "_llseek",    "seccomp" };
  for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
    if (!allowed (p, names[i]))
      fail_msg ("%s is not allowed by the default profile", names[i]);
  json_decref (p);
}

static void
test_default_refuses_without_sys_admin (void **state)
{
  (void) state;
  char **caps = caps_ok (NULL, NULL, false);
  json_t *p = pier_profile_seccomp (caps);
  const char *admin[] = { "mount",       "umount2", "unshare", "setns",    "bpf",       "perf_event_open",
                          "sethostname", "fsopen",  "syslog",  "quotactl", "open_tree", "move_mount" };
  for (size_t i = 0; i < sizeof admin / sizeof admin[0]; i++)
    if (mentioned (p, admin[i]))
      fail_msg ("%s is in the profile without CAP_SYS_ADMIN", admin[i]);
  /* Never allowed, whatever the capabilities (not in docker's profile). */
  const char *never[] = { "keyctl", "add_key",    "request_key", "io_uring_setup", "userfaultfd",
                          "swapon", "kexec_load", "init_module", "reboot",         "acct" };
  for (size_t i = 0; i < sizeof never / sizeof never[0]; i++)
    if (mentioned (p, never[i]))
      fail_msg ("%s is in the default profile", never[i]);
  assert_false (allowed (p, "clone"));
  assert_false (allowed (p, "clone3"));
  json_decref (p);
  strv_free (caps);
}

static void
test_default_clone_rules_without_sys_admin (void **state)
{
  (void) state;
  json_t *p = pier_profile_seccomp (V ("CAP_CHOWN"));
  json_t *rs = rules_for (p, "clone");
  assert_int_equal (json_array_size (rs), 1);
  json_t *args = json_object_get (json_array_get (rs, 0), "args");
  assert_int_equal (json_array_size (args), 1);
  json_t *a = json_array_get (args, 0);
  assert_string_equal (json_string_value (json_object_get (a, "op")), "SCMP_CMP_MASKED_EQ");
  assert_int_equal (json_integer_value (json_object_get (a, "value")), 0x7E020000);
  assert_int_equal (json_integer_value (json_object_get (a, "valueTwo")), 0);
#if defined(__s390x__) || defined(__s390__)
  assert_int_equal (json_integer_value (json_object_get (a, "index")), 1);
#else
  assert_int_equal (json_integer_value (json_object_get (a, "index")), 0);
#endif
  json_decref (rs);

  rs = rules_for (p, "clone3");
  assert_int_equal (json_array_size (rs), 1);
  json_t *r = json_array_get (rs, 0);
  assert_string_equal (json_string_value (json_object_get (r, "action")), "SCMP_ACT_ERRNO");
  assert_int_equal (json_integer_value (json_object_get (r, "errnoRet")), ENOSYS);
  json_decref (rs);
  json_decref (p);
}

static void
test_default_with_sys_admin (void **state)
{
  (void) state;
  char **caps = caps_ok (V ("SYS_ADMIN"), NULL, false);
  json_t *p = pier_profile_seccomp (caps);
  const char *admin[]
      = { "mount",       "umount2", "unshare", "setns",         "clone",  "clone3",      "bpf",
          "sethostname", "fsopen",  "fsmount", "mount_setattr", "syslog", "quotactl_fd", "perf_event_open" };
  for (size_t i = 0; i < sizeof admin / sizeof admin[0]; i++)
    if (!allowed (p, admin[i]))
      fail_msg ("%s is not allowed with CAP_SYS_ADMIN", admin[i]);
  /* The restricted clone and the clone3 refusal are gone. */
  json_t *rs = rules_for (p, "clone3");
  assert_int_equal (json_array_size (rs), 1);
  json_decref (rs);
  rs = rules_for (p, "clone");
  assert_int_equal (json_array_size (rs), 1);
  assert_null (json_object_get (json_array_get (rs, 0), "args"));
  json_decref (rs);
  assert_false (mentioned (p, "reboot"));
  json_decref (p);
  strv_free (caps);
}

static void
test_default_capability_groups (void **state)
{
  (void) state;
  static const struct
  {
    const char *cap;
    const char *calls[5];
  } groups[] = {
    { "CAP_SYS_PTRACE", { "kcmp", "pidfd_getfd", "process_madvise", "ptrace", NULL } },
    { "CAP_SYS_MODULE", { "init_module", "finit_module", "delete_module", NULL } },
    { "CAP_SYS_BOOT", { "reboot", NULL } },
    { "CAP_SYS_TIME", { "settimeofday", "clock_settime", "stime", NULL } },
    { "CAP_SYS_NICE", { "mbind", "set_mempolicy", "get_mempolicy", NULL } },
    { "CAP_SYS_RAWIO", { "iopl", "ioperm", NULL } },
    { "CAP_SYS_CHROOT", { "chroot", NULL } },
    { "CAP_SYS_PACCT", { "acct", NULL } },
    { "CAP_SYSLOG", { "syslog", NULL } },
    { "CAP_SYS_TTY_CONFIG", { "vhangup", NULL } },
    { "CAP_BPF", { "bpf", NULL } },
    { "CAP_PERFMON", { "perf_event_open", NULL } },
    { "CAP_DAC_READ_SEARCH", { "open_by_handle_at", NULL } },
  };
  json_t *none = pier_profile_seccomp (NULL);
  for (size_t g = 0; g < sizeof groups / sizeof groups[0]; g++)
    {
      char *const caps[] = { (char *) groups[g].cap, NULL };
      json_t *p = pier_profile_seccomp (caps);
      for (size_t k = 0; groups[g].calls[k]; k++)
        {
          if (!allowed (p, groups[g].calls[k]))
            fail_msg ("%s is not allowed with %s", groups[g].calls[k], groups[g].cap);
          /* ptrace is allowed anyway since 4.8 (below). */
          if (strcmp (groups[g].calls[k], "ptrace") != 0 && mentioned (none, groups[g].calls[k]))
            fail_msg ("%s is in the profile without %s", groups[g].calls[k], groups[g].cap);
        }
      json_decref (p);
    }
  json_decref (none);
}

static void
test_default_ptrace_by_kernel_version (void **state)
{
  (void) state;
  struct utsname u;
  unsigned k = 0, m = 0;
  assert_int_equal (uname (&u), 0);
  assert_int_equal (sscanf (u.release, "%u.%u", &k, &m), 2);
  json_t *p = pier_profile_seccomp (NULL);
  bool new_kernel = k > 4 || (k == 4 && m >= 8);
  assert_int_equal (allowed (p, "ptrace"), new_kernel);
  assert_int_equal (allowed (p, "process_vm_readv"), new_kernel);
  assert_false (mentioned (p, "kcmp"));
  json_decref (p);
}

static void
test_default_argument_rules (void **state)
{
  (void) state;
  json_t *p = pier_profile_seccomp (NULL);
  /* personality: exactly five values, each its own rule. */
  json_t *rs = rules_for (p, "personality"), *r;
  const json_int_t pers[] = { 0x0, 0x8, 0x20000, 0x20008, 0xffffffff };
  size_t i;
  assert_int_equal (json_array_size (rs), 5);
  json_array_foreach (rs, i, r)
  {
    json_t *a = json_array_get (json_object_get (r, "args"), 0);
    assert_string_equal (json_string_value (json_object_get (a, "op")), "SCMP_CMP_EQ");
    assert_int_equal (json_integer_value (json_object_get (a, "value")), pers[i]);
  }
  json_decref (rs);
  /* socket: every family below AF_ALG, AF_NFC between, above AF_VSOCK. */
  rs = rules_for (p, "socket");
  assert_int_equal (json_array_size (rs), 3);
  const char *ops[] = { "SCMP_CMP_LT", "SCMP_CMP_EQ", "SCMP_CMP_GT" };
  const json_int_t vals[] = { AF_ALG, AF_ALG + 1, AF_VSOCK };
  json_array_foreach (rs, i, r)
  {
    json_t *a = json_array_get (json_object_get (r, "args"), 0);
    assert_string_equal (json_string_value (json_object_get (a, "op")), ops[i]);
    assert_int_equal (json_integer_value (json_object_get (a, "value")), vals[i]);
  }
  json_decref (rs);
  json_decref (p);
}

static void
test_default_arch_specific (void **state)
{
  (void) state;
  json_t *p = pier_profile_seccomp (NULL);
#if defined(__x86_64__) && !defined(__ILP32__)
  assert_true (allowed (p, "arch_prctl"));
  assert_true (allowed (p, "modify_ldt"));
  assert_false (mentioned (p, "set_tls"));
#elif defined(__aarch64__)
  assert_true (allowed (p, "set_tls"));
  assert_false (mentioned (p, "arch_prctl"));
#endif
  assert_false (mentioned (p, "s390_runtime_instr"));
  assert_false (mentioned (p, "riscv_flush_icache"));
  assert_false (mentioned (p, "swapcontext"));
  json_decref (p);
}

static void
test_default_profile_compiles (void **state)
{
  (void) state;
  char **def = caps_ok (NULL, NULL, false), **all = caps_ok (NULL, NULL, true);
  char *const *sets[] = { NULL, def, all, V ("CAP_SYS_ADMIN"), V ("CAP_SYS_PTRACE", "CAP_BPF") };
  for (size_t i = 0; i < sizeof sets / sizeof sets[0]; i++)
    {
      json_t *p = pier_profile_seccomp (sets[i]);
      compiles (p);
      json_decref (p);
    }
  strv_free (def);
  strv_free (all);
}

static void
test_default_names_newer_than_libseccomp (void **state)
{
  (void) state;
  /* The profile lists syscalls newer than libseccomp 2.5.4 (mseal,
   * listmount, ...); the loader must skip those, not fail. */
  json_t *p = pier_profile_seccomp (NULL);
  size_t i, j, unknown = 0;
  json_t *r, *n;
  json_array_foreach (json_object_get (p, "syscalls"), i, r)
  {
    json_array_foreach (json_object_get (r, "names"), j, n)
    {
      if (seccomp_syscall_resolve_name (json_string_value (n)) == __NR_SCMP_ERROR)
        unknown++;
    }
  }
  compiles (p);
  json_decref (p);
  if (unknown == 0)
    print_message ("note: this libseccomp knows every name of the default profile; "
                   "the skipping of unknown names was not exercised here\n");
  else
    print_message ("%zu names of the default profile are unknown to this libseccomp and skipped\n", unknown);
}

static void
test_default_profile_through_spec (void **state)
{
  (void) state;
  /* A whole config, as the engine would write it, read back by the
   * runtime's own parser, then compiled. */
  cleanup_free char *bundle = xasprintf ("%s/bundle", unit_dir);
  cleanup_free char *rootfs = xasprintf ("%s/rootfs", bundle);
  assert_int_equal (mkdir (bundle, 0700), 0);
  assert_int_equal (mkdir (rootfs, 0700), 0);

  char **caps = caps_ok (V ("SYS_PTRACE"), V ("NET_RAW"), false);
  json_t *doc = pier_spec_default (false);
  json_t *jc = json_array ();
  for (size_t i = 0; caps[i]; i++)
    json_array_append_new (jc, json_string (caps[i]));
  json_t *pc = json_pack ("{s:O, s:O, s:O}", "bounding", jc, "effective", jc, "permitted", jc);
  json_object_set_new (json_object_get (doc, "process"), "capabilities", pc);
  json_object_set_new (json_object_get (doc, "linux"), "seccomp", pier_profile_seccomp (caps));
  json_decref (jc);

  pier_spec *s = NULL;
  pier_error *err = NULL;
  if (pier_spec_parse (doc, bundle, &s, &err) < 0)
    fail_msg ("config refused: %s", err->msg);
  assert_true (s->process->has_caps);
  uint64_t bound = s->process->caps[PIER_CAP_BOUNDING];
  assert_true (bound & (1ULL << pier_cap_from_name ("CAP_SYS_PTRACE")));
  assert_true (bound & (1ULL << pier_cap_from_name ("CAP_CHOWN")));
  assert_false (bound & (1ULL << pier_cap_from_name ("CAP_NET_RAW")));
  assert_non_null (s->seccomp);
  assert_true (allowed (s->seccomp, "kcmp"));
  compiles (s->seccomp);
  pier_spec_free (s);
  json_decref (doc);
  strv_free (caps);
  unit_rmrf (bundle);
}

static int
check_default_enforced (void)
{
  if (syscall (SYS_getpid) <= 0)
    return 1;
  if (FAILS_WITH (syscall (SYS_unshare, 0)) != EPERM)
    return 2;
  if (FAILS_WITH (syscall (SYS_keyctl, 0 /* KEYCTL_GET_KEYRING_ID */, -3, 0)) != EPERM)
    return 3;
  if (FAILS_WITH (syscall (SYS_mount, "none", "/", "tmpfs", 0, NULL)) != EPERM)
    return 4;
  if (FAILS_WITH (syscall (SYS_clone3, NULL, 0)) != ENOSYS)
    return 5;
  if (FAILS_WITH (syscall (SYS_socket, AF_VSOCK, SOCK_STREAM, 0)) != EPERM)
    return 6;
  if (FAILS_WITH (syscall (SYS_socket, AF_ALG, SOCK_SEQPACKET, 0)) != EPERM)
    return 7;
  long fd = syscall (SYS_socket, AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0)
    return 8;
  syscall (SYS_close, fd);
  if (syscall (SYS_personality, 0xffffffffUL) < 0)
    return 9;
  if (FAILS_WITH (syscall (SYS_personality, 0x0400000UL /* READ_IMPLIES_EXEC */)) != EPERM)
    return 10;
  /* clone with a namespace flag is refused; without one it works. */
  long r = syscall (SYS_clone, CLONE_NEWUTS | SIGCHLD, 0, 0, 0, 0);
  if (r == 0)
    syscall (SYS_exit_group, 0);
  if (r >= 0 || errno != EPERM)
    return 11;
  r = syscall (SYS_clone, SIGCHLD, 0, 0, 0, 0);
  if (r == 0)
    syscall (SYS_exit_group, 0);
  if (r < 0 || syscall (SYS_wait4, r, NULL, 0, NULL) != r)
    return 12;
  if (FAILS_WITH (syscall (SYS_reboot, 0, 0, 0, 0)) != EPERM)
    return 13;
  return 0;
}

static void
test_default_enforced_in_child (void **state)
{
  (void) state;
  char **caps = caps_ok (NULL, NULL, false);
  json_t *p = pier_profile_seccomp (caps);
  int r = in_child (p, check_default_enforced);
  if (r != 0)
    fail_msg ("check %d of the default profile failed in the child", r);
  json_decref (p);
  strv_free (caps);
}

static int
check_sys_admin_enforced (void)
{
  /* unshare(0) does nothing and succeeds once seccomp lets it through;
   * clone3 reaches the kernel (EINVAL for no arguments, not ENOSYS). */
  if (syscall (SYS_unshare, 0) != 0)
    return 1;
  int e = FAILS_WITH (syscall (SYS_clone3, NULL, 0));
  if (e == ENOSYS || e == EPERM)
    return 2;
  if (FAILS_WITH (syscall (SYS_keyctl, 0, -3, 0)) != EPERM)
    return 3;
  return 0;
}

static void
test_sys_admin_enforced_in_child (void **state)
{
  (void) state;
  char **caps = caps_ok (V ("SYS_ADMIN"), NULL, false);
  json_t *p = pier_profile_seccomp (caps);
  int r = in_child (p, check_sys_admin_enforced);
  if (r != 0)
    fail_msg ("check %d of the CAP_SYS_ADMIN profile failed in the child", r);
  json_decref (p);
  strv_free (caps);
}

/* ---- docker-format profile files ---- */

static const char docker_file[]
    = "{\"defaultAction\": \"SCMP_ACT_ERRNO\", \"defaultErrnoRet\": 1,"
      " \"archMap\": ["
      "  {\"architecture\": \"SCMP_ARCH_X86_64\", \"subArchitectures\": [\"SCMP_ARCH_X86\", "
      "\"SCMP_ARCH_X32\"]},"
      "  {\"architecture\": \"SCMP_ARCH_AARCH64\", \"subArchitectures\": [\"SCMP_ARCH_ARM\"]},"
      "  {\"architecture\": \"SCMP_ARCH_RISCV64\", \"subArchitectures\": null}],"
      " \"syscalls\": ["
      "  {\"names\": [\"read\", \"write\", \"exit_group\", \"getpid\", \"rt_sigreturn\", \"not_a_syscall\"],"
      "   \"action\": \"SCMP_ACT_ALLOW\", \"comment\": \"basics\"},"
      "  {\"name\": \"getppid\", \"action\": \"SCMP_ACT_ERRNO\", \"errnoRet\": 42},"
      "  {\"names\": [\"mount\"], \"action\": \"SCMP_ACT_ALLOW\", \"includes\": {\"caps\": "
      "[\"CAP_SYS_ADMIN\"]}},"
      "  {\"names\": [\"chroot\"], \"action\": \"SCMP_ACT_ALLOW\","
      "   \"includes\": {\"caps\": [\"CAP_SYS_ADMIN\", \"CAP_SYS_CHROOT\"]}},"
      "  {\"names\": [\"clone\"], \"action\": \"SCMP_ACT_ALLOW\","
      "   \"args\": [{\"index\": 0, \"value\": 2114060288, \"valueTwo\": 0, \"op\": \"SCMP_CMP_MASKED_EQ\"}],"
      "   \"excludes\": {\"caps\": [\"CAP_SYS_ADMIN\", \"CAP_SYS_BOOT\"]}},"
      "  {\"names\": [\"arch_prctl\"], \"action\": \"SCMP_ACT_ALLOW\", \"includes\": {\"arches\": "
      "[\"amd64\", "
      "\"x32\"]}},"
      "  {\"names\": [\"set_tls\"], \"action\": \"SCMP_ACT_ALLOW\", \"includes\": {\"arches\": [\"arm64\"]}},"
      "  {\"names\": [\"getcwd\"], \"action\": \"SCMP_ACT_ALLOW\", \"excludes\": {\"arches\": [\"amd64\", "
      "\"arm64\"]}},"
      "  {\"names\": [\"uname\"], \"action\": \"SCMP_ACT_ALLOW\", \"includes\": {\"minKernel\": \"1.0\"}},"
      "  {\"names\": [\"sysinfo\"], \"action\": \"SCMP_ACT_ALLOW\", \"includes\": {\"minKernel\": \"99.0\"}},"
      "  {\"names\": [\"times\"], \"action\": \"SCMP_ACT_ALLOW\", \"excludes\": {\"minKernel\": \"2.6\"}},"
      "  {\"names\": [\"umask\"], \"action\": \"SCMP_ACT_ALLOW\", \"includes\": {}, \"excludes\": null}"
      " ]}";

static void
test_file_converted (void **state)
{
  (void) state;
  json_t *p = file_ok (docker_file, V ("CAP_CHOWN", "CAP_SYS_CHROOT"));
  assert_string_equal (json_string_value (json_object_get (p, "defaultAction")), "SCMP_ACT_ERRNO");
  assert_int_equal (json_integer_value (json_object_get (p, "defaultErrnoRet")), 1);
#if defined(__x86_64__) && !defined(__ILP32__)
  json_t *a = json_object_get (p, "architectures");
  assert_int_equal (json_array_size (a), 3);
  assert_string_equal (json_string_value (json_array_get (a, 0)), "SCMP_ARCH_X86_64");
  assert_true (allowed (p, "arch_prctl"));
  assert_false (mentioned (p, "set_tls"));
  assert_false (mentioned (p, "getcwd"));
#endif
  assert_true (allowed (p, "read"));
  assert_true (allowed (p, "not_a_syscall")); /* kept: the loader skips it */
  /* "name" became "names"; errnoRet kept; "comment" dropped. */
  json_t *rs = rules_for (p, "getppid");
  assert_int_equal (json_array_size (rs), 1);
  assert_int_equal (json_integer_value (json_object_get (json_array_get (rs, 0), "errnoRet")), 42);
  assert_null (json_object_get (json_array_get (rs, 0), "name"));
  json_decref (rs);
  rs = rules_for (p, "read");
  assert_null (json_object_get (json_array_get (rs, 0), "comment"));
  json_decref (rs);
  /* includes.caps needs every one; excludes.caps any one. */
  assert_false (mentioned (p, "mount"));
  assert_false (mentioned (p, "chroot"));
  assert_true (mentioned (p, "clone"));
  /* minKernel: 1.0 and 2.6 hold on any kernel that runs this, 99.0 not. */
  assert_true (allowed (p, "uname"));
  assert_false (mentioned (p, "sysinfo"));
  assert_false (mentioned (p, "times"));
  assert_true (allowed (p, "umask"));
  compiles (p);
  json_decref (p);

  p = file_ok (docker_file, V ("CAP_SYS_ADMIN", "CAP_SYS_CHROOT"));
  assert_true (allowed (p, "mount"));
  assert_true (allowed (p, "chroot"));
  assert_false (mentioned (p, "clone"));
  compiles (p);
  json_decref (p);
}

static int
check_file_enforced (void)
{
  if (syscall (SYS_getpid) <= 0)
    return 1;
  if (FAILS_WITH (syscall (SYS_getppid)) != 42)
    return 2;
  if (FAILS_WITH (syscall (SYS_gettid)) != EPERM) /* default action */
    return 3;
  return 0;
}

static void
test_file_enforced_in_child (void **state)
{
  (void) state;
  json_t *p = file_ok (docker_file, NULL);
  int r = in_child (p, check_file_enforced);
  if (r != 0)
    fail_msg ("check %d of the converted profile failed in the child", r);
  json_decref (p);
}

static void
test_file_architectures_and_extras (void **state)
{
  (void) state;
  json_t *p = file_ok ("{\"defaultAction\": \"SCMP_ACT_ALLOW\", \"architectures\": [\"SCMP_ARCH_X86_64\","
                       " \"SCMP_ARCH_AARCH64\"], \"flags\": [\"SECCOMP_FILTER_FLAG_LOG\"],"
                       " \"listenerPath\": \"/run/agent.sock\", \"listenerMetadata\": \"m\","
                       " \"syscalls\": [{\"names\": [\"mkdir\"], \"action\": \"SCMP_ACT_NOTIFY\"}]}",
                       NULL);
  assert_int_equal (json_array_size (json_object_get (p, "architectures")), 2);
  assert_string_equal (json_string_value (json_array_get (json_object_get (p, "flags"), 0)),
                       "SECCOMP_FILTER_FLAG_LOG");
  assert_string_equal (json_string_value (json_object_get (p, "listenerPath")), "/run/agent.sock");
  assert_string_equal (json_string_value (json_object_get (p, "listenerMetadata")), "m");
  assert_null (json_object_get (p, "defaultErrnoRet"));
  json_decref (p);
}

static void
test_file_empty_means_unconfined (void **state)
{
  (void) state;
  cleanup_free char *path = write_tmp ("empty.json", "{\"syscalls\": []}");
  json_t *out = json_object ();
  pier_error *err = NULL;
  json_t *keep = out;
  assert_int_equal (pier_profile_seccomp_file (path, NULL, &out, &err), 0);
  assert_no_err (err);
  assert_null (out);
  json_decref (keep);
}

static void
test_file_unreadable (void **state)
{
  (void) state;
  cleanup_free char *path = xasprintf ("%s/missing.json", unit_dir);
  json_t *out = NULL;
  pier_error *err = NULL;
  assert_int_equal (pier_profile_seccomp_file (path, NULL, &out, &err), -1);
  assert_null (out);
  assert_err_contains (err, "seccomp profile", path);
  pier_error_free (&err);

  file_bad ("{\"defaultAction\": \"SCMP_ACT_ALLOW\",", "not valid JSON", NULL);
  file_bad ("[1, 2]", "must be a JSON object", NULL);
}

static void
test_file_bad_structure (void **state)
{
  (void) state;
  file_bad ("{\"syscalls\": [{\"names\": [\"read\"], \"action\": \"SCMP_ACT_ALLOW\"}]}", "defaultAction",
            "required");
  file_bad ("{\"defaultAction\": \"SCMP_ACT_MAYBE\"}", "defaultAction", "SCMP_ACT_MAYBE");
  file_bad ("{\"defaultAction\": \"SCMP_ACT_ERRNO\", \"defaultErrnoRet\": -1}", "defaultErrnoRet", NULL);
  file_bad ("{\"defaultAction\": \"SCMP_ACT_ALLOW\", \"architectures\": [\"SCMP_ARCH_X86_64\"],"
            " \"archMap\": [{\"architecture\": \"SCMP_ARCH_X86_64\"}]}",
            "architectures", "archMap");
  file_bad ("{\"defaultAction\": \"SCMP_ACT_ALLOW\", \"architectures\": [\"SCMP_ARCH_VAX\"]}",
            "architectures[0]", "SCMP_ARCH_VAX");
  file_bad ("{\"defaultAction\": \"SCMP_ACT_ALLOW\", \"archMap\": [{\"subArchitectures\": []}]}",
            "archMap[0]", "architecture");
  file_bad ("{\"defaultAction\": \"SCMP_ACT_ALLOW\", \"flags\": [\"SECCOMP_FILTER_FLAG_NOPE\"]}", "flags[0]",
            "SECCOMP_FILTER_FLAG_NOPE");
  file_bad ("{\"defaultAction\": \"SCMP_ACT_ALLOW\", \"syscalls\": {}}", "syscalls", "array");
  file_bad ("{\"defaultAction\": \"SCMP_ACT_ALLOW\", \"syscalls\": [\"read\"]}", "syscalls[0]", "object");
}

static void
test_file_bad_rules (void **state)
{
  (void) state;
  static const struct
  {
    const char *rule, *frag1, *frag2;
  } cases[] = {
    { "{\"names\": [\"read\"], \"action\": \"SCMP_ACT_BOGUS\"}", "syscalls[1].action", "SCMP_ACT_BOGUS" },
    { "{\"names\": [\"read\"]}", "syscalls[1].action", "required" },
    { "{\"action\": \"SCMP_ACT_ALLOW\"}", "syscalls[1]", "names no syscall" },
    { "{\"name\": \"read\", \"names\": [\"write\"], \"action\": \"SCMP_ACT_ALLOW\"}", "syscalls[1]",
      "`name`" },
    { "{\"names\": [\"read\", 3], \"action\": \"SCMP_ACT_ALLOW\"}", "syscalls[1].names[1]", "string" },
    { "{\"names\": [\"read\"], \"action\": \"SCMP_ACT_ERRNO\", \"errnoRet\": \"EPERM\"}", "syscalls[1]",
      "errnoRet" },
    { "{\"names\": [\"read\"], \"action\": \"SCMP_ACT_ALLOW\", \"args\": [{\"index\": 7, \"value\": 1, "
      "\"op\": "
      "\"SCMP_CMP_EQ\"}]}",
      "syscalls[1].args[0].index", "out of range" },
    { "{\"names\": [\"read\"], \"action\": \"SCMP_ACT_ALLOW\", \"args\": [{\"index\": 0, \"value\": 1, "
      "\"op\": "
      "\"SCMP_CMP_ABOUT\"}]}",
      "syscalls[1].args[0].op", "SCMP_CMP_ABOUT" },
    { "{\"names\": [\"read\"], \"action\": \"SCMP_ACT_ALLOW\", \"args\": [{\"index\": 0, \"value\": 1}]}",
      "syscalls[1].args[0].op", "missing" },
    { "{\"names\": [\"read\"], \"action\": \"SCMP_ACT_ALLOW\", \"args\": [3]}", "syscalls[1].args[0]",
      "object" },
    { "{\"names\": [\"read\"], \"action\": \"SCMP_ACT_ALLOW\", \"includes\": []}", "syscalls[1].includes",
      "object" },
    { "{\"names\": [\"read\"], \"action\": \"SCMP_ACT_ALLOW\", \"includes\": {\"caps\": \"CAP_SYS_ADMIN\"}}",
      "syscalls[1].includes.caps", "array" },
    { "{\"names\": [\"read\"], \"action\": \"SCMP_ACT_ALLOW\", \"excludes\": {\"arches\": [1]}}",
      "syscalls[1].excludes.arches[0]", "string" },
    { "{\"names\": [\"read\"], \"action\": \"SCMP_ACT_ALLOW\", \"includes\": {\"minKernel\": \"4\"}}",
      "syscalls[1].includes.minKernel", "`4`" },
    { "{\"names\": [\"read\"], \"action\": \"SCMP_ACT_ALLOW\", \"includes\": {\"minKernel\": \"0.0\"}}",
      "syscalls[1].includes.minKernel", "`0.0`" },
    { "{\"names\": [\"read\"], \"action\": \"SCMP_ACT_ALLOW\", \"excludes\": {\"minKernel\": \"4.x\"}}",
      "syscalls[1].excludes.minKernel", "`4.x`" },
    /* Only the compile check finds this one. */
    { "{\"names\": [\"mkdir\"], \"action\": \"SCMP_ACT_NOTIFY\"}", "does not compile", "listenerPath" },
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
    {
      cleanup_free char *text = xasprintf ("{\"defaultAction\": \"SCMP_ACT_ERRNO\", \"syscalls\": ["
                                           "{\"names\": [\"write\"], \"action\": \"SCMP_ACT_ALLOW\"}, %s]}",
                                           cases[i].rule);
      file_bad (text, cases[i].frag1, cases[i].frag2);
    }
}

static void
test_file_bad_rule_skipped_still_checked (void **state)
{
  (void) state;
  /* A rule excluded for this container is still checked: a profile is
   * valid or not whatever the container's capabilities. */
  file_bad ("{\"defaultAction\": \"SCMP_ACT_ERRNO\", \"syscalls\": [{\"names\": [\"mount\"], \"action\": "
            "\"SCMP_ACT_WHATEVER\", \"includes\": {\"caps\": [\"CAP_SYS_ADMIN\"]}}]}",
            "syscalls[0].action", "SCMP_ACT_WHATEVER");
}

static void
test_convert_in_memory (void **state)
{
  (void) state;
  json_error_t je;
  json_t *doc = json_loads (docker_file, 0, &je), *out = NULL;
  pier_error *err = NULL;
  assert_non_null (doc);
  assert_int_equal (pier_profile_seccomp_convert (doc, "inline", V ("CAP_SYS_ADMIN"), &out, &err), 0);
  assert_no_err (err);
  assert_true (allowed (out, "mount"));
  json_decref (out);
  json_decref (doc);

  doc = json_string ("nope");
  assert_int_equal (pier_profile_seccomp_convert (doc, "inline", NULL, &out, &err), -1);
  assert_err_contains (err, "seccomp profile `inline`", "JSON object");
  pier_error_free (&err);
  json_decref (doc);
}

int
main (int argc, char **argv)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test (test_default_caps_json),
    cmocka_unit_test (test_caps_no_flags_is_default),
    cmocka_unit_test (test_caps_add_any_spelling),
    cmocka_unit_test (test_caps_drop),
    cmocka_unit_test (test_caps_drop_all),
    cmocka_unit_test (test_caps_drop_all_add_some),
    cmocka_unit_test (test_caps_add_all),
    cmocka_unit_test (test_caps_add_all_drop_some),
    cmocka_unit_test (test_caps_privileged),
    cmocka_unit_test (test_caps_add_existing_no_duplicate),
    cmocka_unit_test (test_caps_add_and_drop_same_keeps_it),
    cmocka_unit_test (test_caps_unknown_names),
    cmocka_unit_test (test_default_profile_shape),
    cmocka_unit_test (test_default_allows_common_syscalls),
    cmocka_unit_test (test_default_refuses_without_sys_admin),
    cmocka_unit_test (test_default_clone_rules_without_sys_admin),
    cmocka_unit_test (test_default_with_sys_admin),
    cmocka_unit_test (test_default_capability_groups),
    cmocka_unit_test (test_default_ptrace_by_kernel_version),
    cmocka_unit_test (test_default_argument_rules),
    cmocka_unit_test (test_default_arch_specific),
    cmocka_unit_test (test_default_profile_compiles),
    cmocka_unit_test (test_default_names_newer_than_libseccomp),
    cmocka_unit_test (test_default_profile_through_spec),
    cmocka_unit_test (test_default_enforced_in_child),
    cmocka_unit_test (test_sys_admin_enforced_in_child),
    cmocka_unit_test (test_file_converted),
    cmocka_unit_test (test_file_enforced_in_child),
    cmocka_unit_test (test_file_architectures_and_extras),
    cmocka_unit_test (test_file_empty_means_unconfined),
    cmocka_unit_test (test_file_unreadable),
    cmocka_unit_test (test_file_bad_structure),
    cmocka_unit_test (test_file_bad_rules),
    cmocka_unit_test (test_file_bad_rule_skipped_still_checked),
    cmocka_unit_test (test_convert_in_memory),
  };
  unit_dir_setup (NULL);
  int rc = unit_run ("test_profile", tests, sizeof tests / sizeof tests[0], NULL, 0, argc, argv);
  unit_dir_teardown (NULL);
  return rc;
}
