/* units.h - sizes as docker and runc write them on command lines. */
#ifndef PIER_UTIL_UNITS_H
#define PIER_UTIL_UNITS_H

#include <stdint.h>

/* docker's and runc's RAMInBytes: a number (sign and fraction allowed)
 * with an optional b/k/m/g/t/p unit, binary multiples, and an optional
 * trailing "b" ("512m", "1.5G", "64mb", "-1").  0, or -1 when s is not
 * such a size.  Callers decide what a negative value means. */
int pier_parse_ram (const char *s, int64_t *out);

#endif
