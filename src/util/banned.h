/* banned.h - functions pier's code must not call (as git does).
 * Every .c file includes it after all other headers. */
#ifndef PIER_UTIL_BANNED_H
#define PIER_UTIL_BANNED_H

#define BANNED(func) sorry_##func##_is_banned_in_pier

#undef strcpy
#define strcpy(x, y) BANNED (strcpy)
#undef strcat
#define strcat(x, y) BANNED (strcat)
#undef sprintf
#define sprintf(...) BANNED (sprintf)
#undef strtok
#define strtok(x, y) BANNED (strtok)
#undef gmtime
#define gmtime(x) BANNED (gmtime)
#undef localtime
#define localtime(x) BANNED (localtime)

#endif
