/* devfilter.h - device access rules for cgroup v2, as an eBPF program
 * (BPF_PROG_TYPE_CGROUP_DEVICE) attached to the container's cgroup.
 *
 * cgroup v2 has no devices.allow/deny files: the kernel asks the attached
 * program for every open/mknod of a device node.  The program evaluates the
 * rules the way the v1 controller would end up: the last matching rule wins,
 * nothing matching is denied.
 */
#ifndef PIER_RUNTIME_DEVFILTER_H
#define PIER_RUNTIME_DEVFILTER_H

#include "runtime/resources.h"
#include "util/error.h"

/* Build the program for rules (plus the defaults every container gets),
 * load it and attach it to the cgroup v2 directory dir. */
int pier_devfilter_attach (const char *dir, const pier_dev_rule *rules, size_t n,
                           const pier_dev_rule *defaults, size_t n_defaults, pier_error **err);

#endif
