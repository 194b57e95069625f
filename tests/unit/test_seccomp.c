/* Unit tests for runtime/seccomp: compiling linux.seccomp, and (in a
 * child with no_new_privs, so no privilege is needed) that the compiled
 * filter does what the profile says. */
#include "unit.h"

#include <dirent.h>
#include <stdio.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>

#include "runtime/seccomp.h"
#include "util/xalloc.h"

static json_t *
json_of (const char *text)
{
  json_error_t je;
  json_t *j = json_loads (text, 0, &je);
  if (j == NULL)
    fail_msg ("bad test JSON `%s`: %s", text, je.text);
  return j;
}

static pier_seccomp *
compile_ok (const char *text)
{
  json_t *j = json_of (text);
  pier_seccomp *s = NULL;
  pier_error *err = NULL;
  if (pier_seccomp_compile (j, &s, &err) < 0)
    fail_msg ("profile rejected: %s", err->msg);
  json_decref (j);
  assert_non_null (s);
  return s;
}

static void
expect_bad (const char *text, const char *frag1, const char *frag2)
{
  json_t *j = json_of (text);
  pier_seccomp *s = NULL;
  pier_error *err = NULL;
  if (pier_seccomp_compile (j, &s, &err) == 0)
    fail_msg ("`%s` accepted", text);
  assert_null (s);
  if (err == NULL || strstr (err->msg, frag1) == NULL || (frag2 && strstr (err->msg, frag2) == NULL))
    fail_msg ("`%s`: message `%s` should mention `%s` and `%s`", text, err ? err->msg : "(none)", frag1,
              frag2 ? frag2 : "");
  pier_error_free (&err);
  json_decref (j);
}

static const char docker_like[]
    = "{\"defaultAction\": \"SCMP_ACT_ERRNO\", \"defaultErrnoRet\": 1,"
      " \"architectures\": [\"SCMP_ARCH_X86_64\", \"SCMP_ARCH_X86\", \"SCMP_ARCH_X32\"],"
      " \"syscalls\": ["
      "  {\"names\": [\"read\", \"write\", \"exit_group\", \"not_a_syscall_anywhere\"], \"action\": "
      "\"SCMP_ACT_ALLOW\"},"
      "  {\"names\": [\"personality\"], \"action\": \"SCMP_ACT_ALLOW\","
      "   \"args\": [{\"index\": 0, \"value\": 0, \"op\": \"SCMP_CMP_EQ\"}]},"
      "  {\"names\": [\"personality\"], \"action\": \"SCMP_ACT_ALLOW\","
      "   \"args\": [{\"index\": 0, \"value\": 8, \"op\": \"SCMP_CMP_EQ\"}]},"
      "  {\"names\": [\"clone\"], \"action\": \"SCMP_ACT_ALLOW\","
      "   \"args\": [{\"index\": 0, \"value\": 2114060288, \"valueTwo\": 0, \"op\": "
      "\"SCMP_CMP_MASKED_EQ\"}]},"
      "  {\"names\": [\"socket\"], \"action\": \"SCMP_ACT_ALLOW\","
      "   \"args\": [{\"index\": 0, \"value\": 1, \"op\": \"SCMP_CMP_NE\"},"
      "            {\"index\": 0, \"value\": 40, \"op\": \"SCMP_CMP_NE\"}]},"
      "  {\"names\": [\"ptrace\"], \"action\": \"SCMP_ACT_ERRNO\", \"errnoRet\": 38}"
      " ]}";

static void
test_valid_profile_compiles (void **state)
{
  (void) state;
  pier_seccomp *s = compile_ok (docker_like);
  assert_null (pier_seccomp_listener (s));
  assert_null (pier_seccomp_listener_metadata (s));
  pier_seccomp_free (s);
  pier_seccomp_free (NULL);

  s = compile_ok ("{\"defaultAction\": \"SCMP_ACT_ALLOW\", \"listenerPath\": \"/run/agent.sock\","
                  " \"listenerMetadata\": \"meta\", \"flags\": [\"SECCOMP_FILTER_FLAG_LOG\"],"
                  " \"syscalls\": [{\"names\": [\"mkdir\"], \"action\": \"SCMP_ACT_NOTIFY\"},"
                  "              {\"names\": [\"getpid\"], \"action\": \"SCMP_ACT_ALLOW\"}]}");
  assert_string_equal (pier_seccomp_listener (s), "/run/agent.sock");
  assert_string_equal (pier_seccomp_listener_metadata (s), "meta");
  pier_seccomp_free (s);
}

static void
test_invalid_profiles (void **state)
{
  (void) state;
  expect_bad ("{}", "linux.seccomp.defaultAction", "required");
  expect_bad ("{\"defaultAction\": 1}", "linux.seccomp.defaultAction must be a string", NULL);
  expect_bad ("{\"defaultAction\": \"SCMP_ACT_BOGUS\"}", "unknown seccomp action `SCMP_ACT_BOGUS`",
              "defaultAction");
  expect_bad ("{\"defaultAction\": \"SCMP_ACT_ALLOW\", \"syscalls\": [{\"names\": [\"read\"], \"action\": "
              "\"SCMP_ACT_NOPE\"}]}",
              "linux.seccomp.syscalls[0]", "SCMP_ACT_NOPE");
  expect_bad (
      "{\"defaultAction\": \"SCMP_ACT_ALLOW\", \"architectures\": [\"SCMP_ARCH_X86_64\", \"SCMP_ARCH_VAX\"]}",
      "linux.seccomp.architectures[1]", "SCMP_ARCH_VAX");
  expect_bad ("{\"defaultAction\": \"SCMP_ACT_ALLOW\", \"architectures\": [64]}",
              "linux.seccomp.architectures[0]", NULL);
  expect_bad ("{\"defaultAction\": \"SCMP_ACT_ALLOW\", \"flags\": [\"SECCOMP_FILTER_FLAG_MAGIC\"]}",
              "linux.seccomp.flags[0]", "SECCOMP_FILTER_FLAG_MAGIC");
  expect_bad ("{\"defaultAction\": \"SCMP_ACT_ALLOW\", \"syscalls\": {}}",
              "linux.seccomp.syscalls must be an array", NULL);
  expect_bad ("{\"defaultAction\": \"SCMP_ACT_ALLOW\", \"syscalls\": [\"read\"]}",
              "linux.seccomp.syscalls[0]", NULL);
  expect_bad ("{\"defaultAction\": \"SCMP_ACT_ALLOW\", \"syscalls\": [{\"names\": [\"read\"]}]}",
              "linux.seccomp.syscalls[0]", "action");
  expect_bad ("{\"defaultAction\": \"SCMP_ACT_ALLOW\", \"syscalls\": [{\"names\": [1], \"action\": "
              "\"SCMP_ACT_KILL\"}]}",
              "linux.seccomp.syscalls[0].names[0]", NULL);
  expect_bad ("{\"defaultAction\": \"SCMP_ACT_ALLOW\", \"syscalls\": [{\"names\": [\"mkdir\"], \"action\": "
              "\"SCMP_ACT_NOTIFY\"}]}",
              "SCMP_ACT_NOTIFY", "listenerPath");
  expect_bad ("{\"defaultAction\": \"SCMP_ACT_ALLOW\", \"syscalls\": [{\"names\": [\"read\"], \"action\": "
              "\"SCMP_ACT_KILL\","
              " \"args\": [{\"index\": 0, \"value\": 1, \"op\": \"SCMP_CMP_ALMOST\"}]}]}",
              "linux.seccomp.syscalls[0].args[0]", "SCMP_CMP_ALMOST");
  expect_bad ("{\"defaultAction\": \"SCMP_ACT_ALLOW\", \"syscalls\": [{\"names\": [\"read\"], \"action\": "
              "\"SCMP_ACT_KILL\","
              " \"args\": [{\"index\": 6, \"value\": 1, \"op\": \"SCMP_CMP_EQ\"}]}]}",
              "linux.seccomp.syscalls[0].args[0]", NULL);
  expect_bad ("{\"defaultAction\": \"SCMP_ACT_ALLOW\", \"syscalls\": [{\"names\": [\"read\"], \"action\": "
              "\"SCMP_ACT_KILL\","
              " \"args\": [{\"index\": 0, \"value\": -1, \"op\": \"SCMP_CMP_EQ\"}]}]}",
              "linux.seccomp.syscalls[0].args[0].value", NULL);
}

/* Load the profile in a child with no_new_privs and run check() there;
 * returns the child's exit status (0 = check held). */
static int
in_child_with (pier_seccomp *s, int (*check) (void))
{
  fflush (NULL);
  pid_t pid = fork ();
  assert_true (pid >= 0);
  if (pid == 0)
    {
      pier_error *err = NULL;
      if (prctl (PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0 || pier_seccomp_load (s, NULL, &err) < 0)
        _exit (100);
      /* exit_group directly: the sanitizers' _exit makes calls the
       * filter may deny. */
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

static int
in_child (const char *profile, int (*check) (void))
{
  return in_child_with (compile_ok (profile), check);
}

static int
check_errno_rules (void)
{
  /* getppid -> errno 42; close(12345) -> errno 77 only for that fd. */
  errno = 0;
  if (syscall (SYS_getppid) != -1 || errno != 42)
    return 1;
  if (syscall (SYS_close, 12345) != -1 || errno != 77)
    return 2;
  if (syscall (SYS_close, 12346) != -1 || errno != EBADF)
    return 3;
  if (syscall (SYS_getpid) <= 0) /* default action: allowed */
    return 4;
  return 0;
}

static void
test_filter_enforces_profile (void **state)
{
  (void) state;
  int r = in_child ("{\"defaultAction\": \"SCMP_ACT_ALLOW\", \"syscalls\": ["
                    " {\"names\": [\"getppid\"], \"action\": \"SCMP_ACT_ERRNO\", \"errnoRet\": 42},"
                    " {\"names\": [\"close\"], \"action\": \"SCMP_ACT_ERRNO\", \"errnoRet\": 77,"
                    "  \"args\": [{\"index\": 0, \"value\": 12345, \"op\": \"SCMP_CMP_EQ\"}]}]}",
                    check_errno_rules);
  if (r != 0)
    fail_msg ("rule %d of the filter was not enforced", r);
}

static int
check_default_errno (void)
{
  errno = 0;
  if (syscall (SYS_getppid) != -1 || errno != 13)
    return 1;
  return 0;
}

static void
test_default_errno_ret (void **state)
{
  (void) state;
  /* Everything but what the child needs to exit returns EACCES. */
  int r = in_child ("{\"defaultAction\": \"SCMP_ACT_ERRNO\", \"defaultErrnoRet\": 13, \"syscalls\": ["
                    " {\"names\": [\"exit\", \"exit_group\", \"write\", \"rt_sigreturn\"], \"action\": "
                    "\"SCMP_ACT_ALLOW\"}]}",
                    check_default_errno);
  assert_int_equal (r, 0);
}

#define ERRNO_PROFILE                                                                                        \
  "{\"defaultAction\": \"SCMP_ACT_ALLOW\", \"syscalls\": ["                                                  \
  " {\"names\": [\"getppid\"], \"action\": \"SCMP_ACT_ERRNO\", \"errnoRet\": 42},"                           \
  " {\"names\": [\"close\"], \"action\": \"SCMP_ACT_ERRNO\", \"errnoRet\": 77,"                              \
  "  \"args\": [{\"index\": 0, \"value\": 12345, \"op\": \"SCMP_CMP_EQ\"}]}]}"

static pier_seccomp *
compile_cached_ok (const char *text, const char *dir)
{
  json_t *j = json_of (text);
  pier_seccomp *s = NULL;
  pier_error *err = NULL;
  if (pier_seccomp_compile_cached (j, dir, &s, &err) < 0)
    fail_msg ("profile rejected: %s", err->msg);
  json_decref (j);
  return s;
}

/* The one file in dir (its name in *name), or fails. */
static off_t
only_entry (const char *dir, char *name, size_t size)
{
  DIR *d = opendir (dir);
  struct dirent *de;
  int n = 0;
  struct stat st = { 0 };
  assert_non_null (d);
  while ((de = readdir (d)))
    if (de->d_name[0] != '.')
      {
        n++;
        snprintf (name, size, "%s/%s", dir, de->d_name);
      }
  closedir (d);
  assert_int_equal (n, 1);
  assert_int_equal (stat (name, &st), 0);
  assert_int_equal (st.st_mode & 0777, 0600);
  return st.st_size;
}

static void
test_cached_program (void **state)
{
  (void) state;
  char tmpl[] = "/tmp/pier-seccomp-cache-XXXXXX", path[512];
  assert_non_null (mkdtemp (tmpl));
  char *dir = xasprintf ("%s/cache", tmpl);
  /* A miss compiles, and writes the program; what is loaded enforces
   * the profile. */
  assert_int_equal (in_child_with (compile_cached_ok (ERRNO_PROFILE, dir), check_errno_rules), 0);
  off_t size = only_entry (dir, path, sizeof path);
  /* A hit is read back and enforces the same profile. */
  assert_int_equal (in_child_with (compile_cached_ok (ERRNO_PROFILE, dir), check_errno_rules), 0);
  /* A damaged entry is no hit: compiled again and rewritten whole. */
  FILE *f = fopen (path, "r+");
  assert_non_null (f);
  fseek (f, 40, SEEK_SET);
  fputs ("garbage", f);
  fclose (f);
  assert_int_equal (in_child_with (compile_cached_ok (ERRNO_PROFILE, dir), check_errno_rules), 0);
  assert_int_equal (only_entry (dir, path, sizeof path), size);
  /* No cache directory: compiled, nothing written. */
  pier_seccomp_free (compile_cached_ok (ERRNO_PROFILE, NULL));
  assert_int_equal (only_entry (dir, path, sizeof path), size);
  unlink (path);
  rmdir (dir);
  rmdir (tmpl);
  free (dir);
}

static void
test_features (void **state)
{
  (void) state;
  json_t *f = pier_seccomp_features ();
  assert_true (json_is_true (json_object_get (f, "enabled")));
  json_t *actions = json_object_get (f, "actions");
  assert_true (json_array_size (actions) >= 8);
  bool found = false;
  size_t i;
  json_t *v;
  json_array_foreach (actions, i, v) found |= strcmp (json_string_value (v), "SCMP_ACT_NOTIFY") == 0;
  assert_true (found);
  assert_true (json_array_size (json_object_get (f, "archs")) > 0);
  assert_true (json_array_size (json_object_get (f, "operators")) == 7);
  json_decref (f);
}

int
main (int argc, char **argv)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test (test_valid_profile_compiles),  cmocka_unit_test (test_invalid_profiles),
    cmocka_unit_test (test_filter_enforces_profile), cmocka_unit_test (test_default_errno_ret),
    cmocka_unit_test (test_cached_program),          cmocka_unit_test (test_features),
  };
  return unit_run ("test_seccomp", tests, sizeof tests / sizeof tests[0], NULL, 0, argc, argv);
}
