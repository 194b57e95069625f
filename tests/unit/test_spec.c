/* Unit tests for runtime/spec: config.json parsing and validation.
 *
 * Every malformed-input case starts from the config `pier-runtime spec`
 * writes, changes one thing, and checks that parsing fails with a message
 * naming the field (and nothing leaks: ASan checks the error paths). */
#include "unit.h"

#include <sys/mount.h>
#include <sys/resource.h>

#include "runtime/spec.h"
#include "util/xalloc.h"

static char *bundle;

static int
group_setup (void **state)
{
  (void) state;
  bundle = unit_mkdtemp ();
  char *rootfs = xasprintf ("%s/rootfs", bundle);
  int r = mkdir (rootfs, 0755);
  free (rootfs);
  return r;
}

static int
group_teardown (void **state)
{
  (void) state;
  unit_rmrf (bundle);
  free (bundle);
  return 0;
}

/* Set (or with value NULL delete) the member at a dotted path such as
 * "process.rlimits.0.type"; "+" appends to an array.  Steals value. */
static void
set_path (json_t *doc, const char *path, json_t *value)
{
  char *copy = xstrdup (path), *save = NULL;
  json_t *cur = doc;
  char *tok = strtok_r (copy, ".", &save);
  while (tok)
    {
      char *next = strtok_r (NULL, ".", &save);
      if (json_is_array (cur))
        {
          if (strcmp (tok, "+") == 0)
            {
              assert_null (next);
              json_array_append_new (cur, value);
              break;
            }
          size_t idx = strtoul (tok, NULL, 10);
          if (next == NULL)
            {
              if (value)
                json_array_set_new (cur, idx, value);
              else
                json_array_remove (cur, idx);
              break;
            }
          cur = json_array_get (cur, idx);
        }
      else
        {
          if (next == NULL)
            {
              if (value)
                json_object_set_new (cur, tok, value);
              else
                json_object_del (cur, tok);
              break;
            }
          json_t *child = json_object_get (cur, tok);
          if (child == NULL)
            {
              child = json_object ();
              json_object_set_new (cur, tok, child);
            }
          cur = child;
        }
      if (cur == NULL)
        fail_msg ("path `%s` does not exist in the default config", path);
      tok = next;
    }
  free (copy);
}

static json_t *
json_of (const char *text)
{
  json_error_t je;
  json_t *j = json_loads (text, JSON_DECODE_ANY, &je);
  if (j == NULL)
    fail_msg ("bad test JSON `%s`: %s", text, je.text);
  return j;
}

static int
parse (json_t *doc, pier_spec **out, pier_error **err)
{
  return pier_spec_parse (doc, bundle, out, err);
}

/* ---- valid configs ---- */

static void
test_default_config_parses (void **state)
{
  (void) state;
  json_t *doc = pier_spec_default (false);
  pier_spec *s = NULL;
  pier_error *err = NULL;
  assert_int_equal (parse (doc, &s, &err), 0);
  assert_no_err (err);

  assert_string_equal (s->oci_version, "1.2.0");
  char *rootfs = xasprintf ("%s/rootfs", bundle);
  char real[4096];
  assert_non_null (realpath (rootfs, real));
  assert_string_equal (s->root_path, real); /* relative root.path joined to the bundle */
  free (rootfs);
  assert_true (s->root_readonly);
  assert_string_equal (s->hostname, "pier");

  assert_non_null (s->process);
  assert_true (s->process->terminal);
  assert_string_equal (s->process->args[0], "sh");
  assert_null (s->process->args[1]);
  assert_string_equal (s->process->cwd, "/");
  assert_int_equal (s->process->uid, 0);
  assert_true (s->process->no_new_privileges);
  assert_true (s->process->has_caps);
  uint64_t want = (1ULL << pier_cap_from_name ("CAP_AUDIT_WRITE")) | (1ULL << pier_cap_from_name ("CAP_KILL"))
                  | (1ULL << pier_cap_from_name ("CAP_NET_BIND_SERVICE"));
  assert_true (s->process->caps[PIER_CAP_BOUNDING] == want);
  assert_true (s->process->caps[PIER_CAP_EFFECTIVE] == want);
  assert_true (s->process->caps[PIER_CAP_INHERITABLE] == 0);
  assert_int_equal (s->process->n_rlimits, 1);
  assert_int_equal (s->process->rlimits[0].resource, RLIMIT_NOFILE);
  assert_true (s->process->rlimits[0].soft == 1024 && s->process->rlimits[0].hard == 1024);

  static const int want_ns[]
      = { PIER_NS_PID, PIER_NS_NET, PIER_NS_IPC, PIER_NS_UTS, PIER_NS_MNT, PIER_NS_CGROUP };
  for (size_t i = 0; i < sizeof want_ns / sizeof want_ns[0]; i++)
    assert_true (s->ns_wanted[want_ns[i]]);
  assert_false (s->ns_wanted[PIER_NS_USER]);
  assert_false (s->ns_wanted[PIER_NS_TIME]);

  assert_int_equal (s->n_mounts, 7);
  assert_string_equal (s->mounts[0].destination, "/proc");
  assert_string_equal (s->mounts[0].type, "proc");
  assert_string_equal (s->mounts[1].destination, "/dev");
  assert_true (s->mounts[1].flags & MS_NOSUID);
  assert_true (s->mounts[1].flags & MS_STRICTATIME);
  assert_string_equal (s->mounts[1].data, "mode=755,size=65536k");
  assert_true (s->mounts[5].flags & MS_RDONLY); /* /sys */

  assert_int_equal (strv_len (s->masked_paths), 10);
  assert_int_equal (strv_len (s->readonly_paths), 5);
  assert_non_null (s->resources);
  assert_null (s->seccomp);
  pier_spec_free (s);
  json_decref (doc);
}

static void
test_rootless_default_config_parses (void **state)
{
  (void) state;
  json_t *doc = pier_spec_default (true);
  pier_spec *s = NULL;
  pier_error *err = NULL;
  assert_int_equal (parse (doc, &s, &err), 0);
  assert_no_err (err);
  assert_true (s->ns_wanted[PIER_NS_USER]);
  assert_int_equal (s->n_uid_mappings, 1);
  assert_int_equal (s->n_gid_mappings, 1);
  assert_int_equal (s->uid_mappings[0].container_id, 0);
  assert_int_equal (s->uid_mappings[0].host_id, geteuid ());
  assert_int_equal (s->uid_mappings[0].size, 1);
  assert_int_equal (s->gid_mappings[0].host_id, getegid ());
  /* /sys is an rbind of the host's in a rootless container. */
  pier_mount *sys = NULL;
  for (size_t i = 0; i < s->n_mounts; i++)
    if (strcmp (s->mounts[i].destination, "/sys") == 0)
      sys = &s->mounts[i];
  assert_non_null (sys);
  assert_true (sys->bind && sys->rbind);
  pier_spec_free (s);
  json_decref (doc);
}

static void
test_load_from_bundle (void **state)
{
  (void) state;
  json_t *doc = pier_spec_default (false);
  char *cfg = xasprintf ("%s/config.json", bundle);
  pier_spec *s = NULL;
  pier_error *err = NULL;

  set_path (doc, "process.args", json_of ("[\"/bin/echo\", \"hi\"]"));
  assert_int_equal (json_dump_file (doc, cfg, 0), 0);
  assert_int_equal (pier_spec_load (bundle, &s, &err), 0);
  assert_no_err (err);
  assert_string_equal (s->process->args[1], "hi");
  char real[4096];
  assert_non_null (realpath (bundle, real));
  assert_string_equal (s->bundle, real);
  pier_spec_free (s);

  unit_write (cfg, "{\"ociVersion\": ");
  assert_int_equal (pier_spec_load (bundle, &s, &err), -1);
  assert_err_contains (err, "config.json", "not valid JSON");
  pier_error_free (&err);

  unlink (cfg);
  assert_int_equal (pier_spec_load (bundle, &s, &err), -1);
  assert_int_equal (err->code, ENOENT);
  assert_err_contains (err, "config.json");
  pier_error_free (&err);

  assert_int_equal (pier_spec_load ("/nonexistent/bundle", &s, &err), -1);
  assert_err_contains (err, "/nonexistent/bundle");
  pier_error_free (&err);
  free (cfg);
  json_decref (doc);
}

static void
test_optional_fields_parse (void **state)
{
  (void) state;
  json_t *doc = pier_spec_default (false);
  pier_spec *s = NULL;
  pier_error *err = NULL;

  set_path (doc, "linux.namespaces.+", json_of ("{\"type\": \"time\"}"));
  set_path (doc, "linux.namespaces.1.path", json_of ("\"/proc/self/ns/net\""));
  set_path (doc, "linux.timeOffsets", json_of ("{\"monotonic\": {\"secs\": 5, \"nanosecs\": 7}}"));
  set_path (doc, "linux.sysctl", json_of ("{\"kernel.msgmax\": \"8192\"}"));
  set_path (doc, "linux.rootfsPropagation", json_of ("\"rslave\""));
  set_path (doc, "linux.devices",
            json_of ("[{\"path\": \"/dev/fuse\", \"type\": \"c\", \"major\": 10, "
                     "\"minor\": 229, \"fileMode\": 438, \"uid\": 0}]"));
  set_path (doc, "process.oomScoreAdj", json_of ("-500"));
  set_path (doc, "process.user.umask", json_of ("18"));
  set_path (doc, "process.user.additionalGids", json_of ("[1, 2]"));
  set_path (doc, "process.capabilities.ambient", json_of ("[\"CAP_KILL\"]"));
  set_path (doc, "hooks.prestart",
            json_of ("[{\"path\": \"/bin/true\", \"args\": [\"true\"], \"timeout\": 3}]"));
  set_path (doc, "mounts.+",
            json_of ("{\"destination\": \"/data\", \"source\": \"/tmp\", "
                     "\"options\": [\"rbind\", \"ro\"]}"));
  set_path (doc, "annotations", json_of ("{\"org.example\": \"v\"}"));

  assert_int_equal (parse (doc, &s, &err), 0);
  assert_no_err (err);
  assert_string_equal (s->ns_path[PIER_NS_NET], "/proc/self/ns/net");
  assert_true (s->has_time_offsets);
  assert_int_equal (s->monotonic_secs, 5);
  assert_int_equal (s->monotonic_nsecs, 7);
  assert_true (s->rootfs_propagation_flags == (MS_SLAVE | MS_REC));
  assert_int_equal (s->n_devices, 1);
  assert_int_equal (s->devices[0].type, 'c');
  assert_int_equal (s->devices[0].major, 10);
  assert_true (s->devices[0].has_mode && s->devices[0].mode == 0666);
  assert_true (s->devices[0].has_uid && !s->devices[0].has_gid);
  assert_true (s->process->has_oom_score_adj);
  assert_int_equal (s->process->oom_score_adj, -500);
  assert_true (s->process->has_umask);
  assert_int_equal (s->process->umask, 022);
  assert_int_equal (s->process->n_additional_gids, 2);
  assert_true (s->process->caps[PIER_CAP_AMBIENT] == (1ULL << pier_cap_from_name ("CAP_KILL")));
  assert_int_equal (s->n_hooks[PIER_HOOK_PRESTART], 1);
  assert_int_equal (s->hooks[PIER_HOOK_PRESTART][0].timeout, 3);
  pier_mount *m = &s->mounts[s->n_mounts - 1];
  assert_true (m->bind && m->rbind);
  assert_true (m->flags & MS_RDONLY);
  assert_null (m->type);
  pier_spec_free (s);
  json_decref (doc);
}

static void
test_cap_and_rlimit_names (void **state)
{
  (void) state;
  assert_int_equal (pier_cap_from_name ("CAP_CHOWN"), 0);
  assert_int_equal (pier_cap_from_name ("CAP_SYS_ADMIN"), 21);
  assert_int_equal (pier_cap_from_name ("SYS_ADMIN"), 21);
  assert_int_equal (pier_cap_from_name ("cap_net_raw"), 13);
  assert_int_equal (pier_cap_from_name ("CAP_BOGUS"), -1);
  assert_int_equal (pier_cap_from_name (""), -1);
  assert_string_equal (pier_cap_name (21), "CAP_SYS_ADMIN");
  assert_null (pier_cap_name (-1));
  assert_null (pier_cap_name (64));
  assert_true (pier_cap_last () >= 36 && pier_cap_last () < 64);
  assert_int_equal (pier_rlimit_from_name ("RLIMIT_NOFILE"), RLIMIT_NOFILE);
  assert_int_equal (pier_rlimit_from_name ("RLIMIT_CORE"), RLIMIT_CORE);
  assert_int_equal (pier_rlimit_from_name ("NOFILE"), -1);
  assert_int_equal (pier_rlimit_from_name ("rlimit_nofile"), -1);
}

static void
test_process_parse_alone (void **state)
{
  (void) state;
  /* runc exec -p process.json goes through the same parser. */
  json_t *p = json_of ("{\"args\": [\"ls\"], \"cwd\": \"/tmp\", \"env\": [\"A=1\"], "
                       "\"user\": {\"uid\": 1000, \"gid\": 1000}, \"terminal\": false}");
  pier_process *proc = NULL;
  pier_error *err = NULL;
  assert_int_equal (pier_process_parse (p, "process.json", &proc, &err), 0);
  assert_no_err (err);
  assert_int_equal (proc->uid, 1000);
  assert_string_equal (proc->cwd, "/tmp");
  assert_string_equal (proc->env[0], "A=1");
  pier_process_free (proc);
  json_decref (p);

  p = json_of ("[]");
  assert_int_equal (pier_process_parse (p, "process.json", &proc, &err), -1);
  assert_err_contains (err, "process.json must be an object");
  pier_error_free (&err);
  json_decref (p);

  p = json_of ("{\"args\": [\"ls\"], \"cwd\": \"tmp\"}");
  assert_int_equal (pier_process_parse (p, "process.json", &proc, &err), -1);
  assert_err_contains (err, "process.json.cwd", "absolute");
  pier_error_free (&err);
  json_decref (p);
}

/* ---- malformed configs: one change each ---- */

typedef struct bad_case
{
  const char *name;
  bool rootless;     /* start from the rootless default */
  const char *path;  /* dotted path to change */
  const char *value; /* JSON, or NULL to delete */
  const char *frag[3];
  const char *path2; /* optional second change */
  const char *value2;
} bad_case;

static const bad_case bad_cases[] = {
  { "missing ociVersion", false, "ociVersion", NULL, { "ociVersion", "required" } },
  { "ociVersion not a string", false, "ociVersion", "1", { "config.ociVersion must be a string" } },
  { "ociVersion 2", false, "ociVersion", "\"2.0.0\"", { "ociVersion `2.0.0`", "not supported" } },
  { "missing root", false, "root", NULL, { "root is required" } },
  { "root not an object", false, "root", "\"rootfs\"", { "config.root must be an object" } },
  { "missing root.path", false, "root.path", NULL, { "root.path is required" } },
  { "root.path missing on disk",
    false,
    "root.path",
    "\"no-such-rootfs\"",
    { "root filesystem", "no-such-rootfs" } },
  { "root.readonly not bool", false, "root.readonly", "\"yes\"", { "root.readonly must be a boolean" } },
  { "hostname not a string", false, "hostname", "7", { "config.hostname must be a string" } },
  { "process not an object", false, "process", "[]", { "config.process must be an object" } },
  { "process.args not an array", false, "process.args", "\"sh\"", { "process.args must be an array" } },
  { "process.args empty", false, "process.args", "[]", { "process.args" } },
  { "process.args item not a string", false, "process.args.+", "1", { "process.args[1] must be a string" } },
  { "process.terminal not bool", false, "process.terminal", "1", { "process.terminal must be a boolean" } },
  { "process.user.uid string", false, "process.user.uid", "\"0\"", { "process.user.uid" } },
  { "process.user.uid negative", false, "process.user.uid", "-1", { "process.user.uid" } },
  { "process.user.gid too big", false, "process.user.gid", "4294967296", { "process.user" } },
  { "process.user.additionalGids bad",
    false,
    "process.user.additionalGids",
    "[\"wheel\"]",
    { "process.user.additionalGids[0]" } },
  { "process.env without =", false, "process.env.+", "\"NOVALUE\"", { "process.env[2]", "NOVALUE" } },
  { "process.cwd relative", false, "process.cwd", "\"tmp\"", { "process.cwd", "absolute" } },
  { "capability set not an array",
    false,
    "process.capabilities.bounding",
    "\"CAP_KILL\"",
    { "process.capabilities.bounding must be an array" } },
  { "capability not a string",
    false,
    "process.capabilities.effective.+",
    "5",
    { "process.capabilities.effective[3]" } },
  { "capability unknown",
    false,
    "process.capabilities.ambient",
    "[\"CAP_KILL\", \"CAP_NOT_A_CAP\"]",
    { "process.capabilities.ambient", "CAP_NOT_A_CAP" } },
  { "rlimit unknown type",
    false,
    "process.rlimits.0.type",
    "\"RLIMIT_BOGUS\"",
    { "process.rlimits[0]", "RLIMIT_BOGUS" } },
  { "rlimit missing type", false, "process.rlimits.0.type", NULL, { "process.rlimits[0]", "rlimit" } },
  { "rlimit soft negative", false, "process.rlimits.0.soft", "-1", { "process.rlimits[0].soft" } },
  { "rlimit hard string", false, "process.rlimits.0.hard", "\"1024\"", { "process.rlimits[0].hard" } },
  { "rlimit not an object",
    false,
    "process.rlimits.0",
    "\"RLIMIT_NOFILE\"",
    { "process.rlimits[0] must be an object" } },
  { "rlimit given twice",
    false,
    "process.rlimits.+",
    "{\"type\": \"RLIMIT_NOFILE\", \"soft\": 1, \"hard\": 1}",
    { "process.rlimits[1]", "twice" } },
  { "oomScoreAdj out of range", false, "process.oomScoreAdj", "1001", { "process.oomScoreAdj", "1001" } },
  { "ioPriority bad class",
    false,
    "process.ioPriority",
    "{\"class\": \"IOPRIO_CLASS_X\", \"priority\": 1}",
    { "process.ioPriority.class", "IOPRIO_CLASS_X" } },
  { "ioPriority bad level",
    false,
    "process.ioPriority",
    "{\"class\": \"IOPRIO_CLASS_BE\", \"priority\": 8}",
    { "process.ioPriority.priority" } },
  { "mounts not an array", false, "mounts", "{}", { "config.mounts must be an array" } },
  { "mount not an object", false, "mounts.0", "\"/proc\"", { "mounts[0] must be an object" } },
  { "mount relative destination",
    false,
    "mounts.0.destination",
    "\"proc\"",
    { "mounts[0].destination", "proc", "absolute" } },
  { "mount missing destination",
    false,
    "mounts.2.destination",
    NULL,
    { "mounts[2].destination", "required" } },
  { "mount options not strings",
    false,
    "mounts.1.options.+",
    "7",
    { "mounts[1].options[4] must be a string" } },
  { "mount without type", false, "mounts.0.type", NULL, { "mounts[0]", "type is required" } },
  { "bind mount without source",
    false,
    "mounts.+",
    "{\"destination\": \"/x\", \"options\": [\"bind\"]}",
    { "mounts[7]", "source" } },
  { "idmap mount without mappings",
    false,
    "mounts.+",
    "{\"destination\": \"/x\", \"source\": \"/tmp\", \"options\": [\"rbind\", \"idmap\"]}",
    { "mounts[7]", "idmap" } },
  { "hooks not an object", false, "hooks", "[]", { "config.hooks must be an object" } },
  { "hook timeout zero",
    false,
    "hooks.prestart",
    "[{\"path\": \"/bin/true\", \"timeout\": 0}]",
    { "hooks.prestart[0].timeout" } },
  { "hook timeout negative",
    false,
    "hooks.poststop",
    "[{\"path\": \"/bin/true\", \"timeout\": -5}]",
    { "hooks.poststop[0].timeout" } },
  { "hook timeout string",
    false,
    "hooks.createRuntime",
    "[{\"path\": \"/bin/true\", \"timeout\": \"5\"}]",
    { "hooks.createRuntime[0].timeout must be an integer" } },
  { "hook path relative", false, "hooks.poststart", "[{\"path\": \"true\"}]", { "hooks.poststart[0].path" } },
  { "hook args not strings",
    false,
    "hooks.prestart",
    "[{\"path\": \"/bin/true\", \"args\": [1]}]",
    { "hooks.prestart[0].args[0]" } },
  { "linux not an object", false, "linux", "[]", { "config.linux must be an object" } },
  { "namespaces not an array", false, "linux.namespaces", "{}", { "linux.namespaces must be an array" } },
  { "namespace unknown type",
    false,
    "linux.namespaces.+",
    "{\"type\": \"bogus\"}",
    { "linux.namespaces[6]", "unknown namespace type `bogus`" } },
  { "namespace missing type",
    false,
    "linux.namespaces.0.type",
    NULL,
    { "linux.namespaces[0]", "namespace type" } },
  { "namespace given twice",
    false,
    "linux.namespaces.+",
    "{\"type\": \"pid\"}",
    { "linux.namespaces[6]", "`pid`", "twice" } },
  { "namespace path relative",
    false,
    "linux.namespaces.1.path",
    "\"proc/self/ns/net\"",
    { "linux.namespaces[1].path", "absolute" } },
  { "namespace path missing",
    false,
    "linux.namespaces.1.path",
    "\"/nonexistent/ns/net\"",
    { "linux.namespaces[1]", "/nonexistent/ns/net" } },
  { "uidMappings without user ns",
    false,
    "linux.uidMappings",
    "[{\"containerID\": 0, \"hostID\": 0, \"size\": 1}]",
    { "uidMappings", "user namespace" } },
  { "gidMappings without user ns",
    false,
    "linux.gidMappings",
    "[{\"containerID\": 0, \"hostID\": 0, \"size\": 1}]",
    { "gidMappings", "user namespace" } },
  { "user ns without mappings", true, "linux.uidMappings", NULL, { "linux.uidMappings" } },
  { "idmap not an object", true, "linux.uidMappings.0", "5", { "linux.uidMappings[0] must be an object" } },
  { "idmap size string", true, "linux.gidMappings.0.size", "\"1\"", { "linux.gidMappings[0].size" } },
  { "idmap out of range",
    true,
    "linux.uidMappings.0.hostID",
    "4294967296",
    { "linux.uidMappings[0]", "range" } },
  { "hostname without uts ns", false, "linux.namespaces.3", NULL, { "hostname", "uts namespace" } },
  { "device bad type",
    false,
    "linux.devices",
    "[{\"path\": \"/dev/x\", \"type\": \"x\", \"major\": 1, \"minor\": 3}]",
    { "linux.devices[0].type" } },
  { "device relative path",
    false,
    "linux.devices",
    "[{\"path\": \"dev/x\", \"type\": \"c\", \"major\": 1, \"minor\": 3}]",
    { "linux.devices[0].path" } },
  { "device missing major",
    false,
    "linux.devices",
    "[{\"path\": \"/dev/x\", \"type\": \"c\", \"minor\": 3}]",
    { "linux.devices[0]", "major" } },
  { "sysctl not a string",
    false,
    "linux.sysctl",
    "{\"net.ipv4.ip_forward\": 1}",
    { "linux.sysctl.net.ipv4.ip_forward must be a string" } },
  { "sysctl not namespaced",
    false,
    "linux.sysctl",
    "{\"vm.swappiness\": \"10\"}",
    { "vm.swappiness", "not namespaced" } },
  { "sysctl path traversal",
    false,
    "linux.sysctl",
    "{\"../../etc/x\": \"1\"}",
    { "linux.sysctl", "../../etc/x" } },
  { "rootfsPropagation unknown",
    false,
    "linux.rootfsPropagation",
    "\"sideways\"",
    { "linux.rootfsPropagation", "sideways" } },
  { "maskedPaths not strings", false, "linux.maskedPaths.+", "1", { "linux.maskedPaths[10]" } },
  { "personality unknown",
    false,
    "linux.personality",
    "{\"domain\": \"BSD\"}",
    { "linux.personality.domain", "BSD" } },
  { "timeOffsets without time ns",
    false,
    "linux.timeOffsets",
    "{\"boottime\": {\"secs\": 1}}",
    { "linux.timeOffsets", "time namespace" } },
  { "intelRdt", false, "linux.intelRdt", "{\"closID\": \"x\"}", { "linux.intelRdt" } },
  { "annotation not a string", false, "annotations", "{\"a\": 1}", { "annotations.a must be a string" } },
  { "not an object", false, NULL, NULL, { "config.json must hold a JSON object" } },
};

static void
test_bad_case (void **state)
{
  const bad_case *c = *state;
  json_t *doc = c->path ? pier_spec_default (c->rootless) : json_array ();
  pier_spec *s = NULL;
  pier_error *err = NULL;

  if (c->path)
    set_path (doc, c->path, c->value ? json_of (c->value) : NULL);
  if (c->path2)
    set_path (doc, c->path2, c->value2 ? json_of (c->value2) : NULL);
  int r = parse (doc, &s, &err);
  if (r == 0)
    fail_msg ("%s: accepted", c->name);
  assert_int_equal (r, -1);
  assert_null (s);
  if (err == NULL)
    fail_msg ("%s: failed without a message", c->name);
  for (size_t i = 0; i < 3 && c->frag[i]; i++)
    if (strstr (err->msg, c->frag[i]) == NULL)
      fail_msg ("%s: message `%s` does not mention `%s`", c->name, err->msg, c->frag[i]);
  pier_error_free (&err);
  json_decref (doc);
}

int
main (int argc, char **argv)
{
  static const struct CMUnitTest fixed[] = {
    cmocka_unit_test (test_default_config_parses), cmocka_unit_test (test_rootless_default_config_parses),
    cmocka_unit_test (test_load_from_bundle),      cmocka_unit_test (test_optional_fields_parse),
    cmocka_unit_test (test_cap_and_rlimit_names),  cmocka_unit_test (test_process_parse_alone),
  };
  size_t nfixed = sizeof fixed / sizeof fixed[0], nbad = sizeof bad_cases / sizeof bad_cases[0];
  struct CMUnitTest *tests = xcalloc (nfixed + nbad, sizeof *tests);
  memcpy (tests, fixed, sizeof fixed);
  for (size_t i = 0; i < nbad; i++)
    {
      struct CMUnitTest t = cmocka_unit_test_prestate (test_bad_case, (void *) &bad_cases[i]);
      t.name = bad_cases[i].name;
      tests[nfixed + i] = t;
    }
  if (group_setup (NULL) < 0)
    return 1;
  int rc = unit_run ("test_spec", tests, nfixed + nbad, NULL, 0, argc, argv);
  group_teardown (NULL);
  free (tests);
  return rc;
}
