/* spec.h - the OCI runtime-spec config.json, parsed and validated.
 *
 * pier_spec_load() reads a bundle's config.json and checks every field it
 * uses before anything is created, so a malformed config is an error that
 * leaves nothing behind.  Parts that have their own module keep their JSON
 * (linux.resources for cgroup.c, linux.seccomp for seccomp.c) but are
 * validated by those modules at load time as well.
 */
#ifndef PIER_RUNTIME_SPEC_H
#define PIER_RUNTIME_SPEC_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include <jansson.h>

#include "util/error.h"

enum pier_ns_type
{
  PIER_NS_USER,
  PIER_NS_CGROUP,
  PIER_NS_IPC,
  PIER_NS_UTS,
  PIER_NS_NET,
  PIER_NS_PID,
  PIER_NS_MNT,
  PIER_NS_TIME,
  PIER_NS_COUNT
};

/* Namespace table: OCI type name, /proc/PID/ns name, clone flag; in the
 * order they must be joined (user first, mount late). */
struct pier_ns_info
{
  const char *oci_name;
  const char *proc_name;
  int flag;
};
extern const struct pier_ns_info pier_ns_table[PIER_NS_COUNT];

typedef struct pier_idmap
{
  uint32_t container_id, host_id, size;
} pier_idmap;

typedef struct pier_mount
{
  char *destination;
  char *type;
  char *source;
  char **options;
  unsigned long flags;   /* MS_* flags from options */
  unsigned long rec_set; /* MOUNT_ATTR_* to set recursively (rro ...) */
  unsigned long rec_clear;
  unsigned long propagation; /* MS_SHARED/MS_SLAVE/... (| MS_REC) or 0 */
  char *data;                /* options the kernel parses itself */
  bool bind, rbind, idmap;
  pier_idmap *uid_mappings, *gid_mappings;
  size_t n_uid_mappings, n_gid_mappings;
} pier_mount;

typedef struct pier_rlimit
{
  int resource;
  uint64_t soft, hard;
} pier_rlimit;

enum
{
  PIER_CAP_BOUNDING,
  PIER_CAP_EFFECTIVE,
  PIER_CAP_INHERITABLE,
  PIER_CAP_PERMITTED,
  PIER_CAP_AMBIENT,
  PIER_CAP_SETS
};

typedef struct pier_process
{
  bool terminal;
  unsigned console_height, console_width;
  uid_t uid;
  gid_t gid;
  bool has_umask;
  mode_t umask;
  gid_t *additional_gids;
  size_t n_additional_gids;
  char **args;
  char **env;
  char *cwd;
  bool has_caps;
  uint64_t caps[PIER_CAP_SETS]; /* bitmasks by capability number */
  pier_rlimit *rlimits;
  size_t n_rlimits;
  bool no_new_privileges;
  bool has_oom_score_adj;
  int oom_score_adj;
  char *apparmor_profile;
  char *selinux_label;
  bool has_io_priority;
  int io_prio_class, io_prio_level;
  json_t *scheduler; /* process.scheduler, applied with sched_setattr */
} pier_process;

typedef struct pier_hook
{
  char *path;
  char **args;
  char **env;
  int timeout; /* seconds; 0 = none */
} pier_hook;

enum
{
  PIER_HOOK_PRESTART,
  PIER_HOOK_CREATE_RUNTIME,
  PIER_HOOK_CREATE_CONTAINER,
  PIER_HOOK_START_CONTAINER,
  PIER_HOOK_POSTSTART,
  PIER_HOOK_POSTSTOP,
  PIER_HOOK_KINDS
};
extern const char *const pier_hook_names[PIER_HOOK_KINDS];

typedef struct pier_device
{
  char *path;
  char type; /* 'c', 'b', 'p', 'u' */
  int64_t major, minor;
  bool has_mode, has_uid, has_gid;
  mode_t mode;
  uid_t uid;
  gid_t gid;
} pier_device;

typedef struct pier_spec
{
  json_t *json; /* the whole document, owned */
  char *oci_version;
  char *bundle;    /* absolute path of the bundle directory */
  char *root_path; /* absolute path of the root filesystem */
  bool root_readonly;
  char *hostname;
  char *domainname;
  pier_process *process; /* may be NULL for "create" only if not started */
  pier_mount *mounts;
  size_t n_mounts;
  pier_hook *hooks[PIER_HOOK_KINDS];
  size_t n_hooks[PIER_HOOK_KINDS];
  json_t *annotations;

  /* linux */
  bool ns_wanted[PIER_NS_COUNT];
  char *ns_path[PIER_NS_COUNT];
  pier_idmap *uid_mappings, *gid_mappings;
  size_t n_uid_mappings, n_gid_mappings;
  json_t *sysctl;
  json_t *resources;
  char *cgroups_path;
  char *rootfs_propagation;
  unsigned long rootfs_propagation_flags;
  char **masked_paths;
  char **readonly_paths;
  pier_device *devices;
  size_t n_devices;
  json_t *seccomp;
  bool has_personality;
  unsigned long personality;
  bool has_time_offsets;
  int64_t monotonic_secs, monotonic_nsecs, boottime_secs, boottime_nsecs;
  char *mount_label;
} pier_spec;

/* Load <bundle>/config.json.  bundle may be relative (made absolute). */
int pier_spec_load (const char *bundle, pier_spec **out, pier_error **err);
/* Parse a config from an already loaded document (takes a reference). */
int pier_spec_parse (json_t *doc, const char *bundle, pier_spec **out, pier_error **err);
void pier_spec_free (pier_spec *s);

/* Parse a "process" object (config.json's, or runc exec's process.json). */
int pier_process_parse (json_t *obj, const char *where, pier_process **out, pier_error **err);
void pier_process_free (pier_process *p);

/* Capability names <-> numbers ("CAP_SYS_ADMIN"); -1 when unknown. */
int pier_cap_from_name (const char *name);
const char *pier_cap_name (int cap);
int pier_cap_last (void);

/* Rlimit names ("RLIMIT_NOFILE"); -1 when unknown. */
int pier_rlimit_from_name (const char *name);

/* Parse a mount's options into m (flags, propagation, data). */
int pier_mount_parse_options (pier_mount *m, pier_error **err);

/* Default OCI config as runc spec writes it (rootless when asked). */
json_t *pier_spec_default (bool rootless);

#endif
