/* archive_dl.c - libarchive, opened on first use. */
#include "archive/archive_dl.h"

#include "util/banned.h"

PIER_DL_DEFINE (PIER_ARCHIVE_FUNCS, pier_archive_dl_open, "libarchive.so.13", "libarchive13")
