/* db_internal.h - what the database modules share (store/ only).
 *
 * db.c holds the schema and the image, layer and container tables; each
 * further table group has its own file (db_<group>.c) written with these
 * helpers, so that one module's queries never depend on another's.
 */
#ifndef PIER_STORE_DB_INTERNAL_H
#define PIER_STORE_DB_INTERNAL_H

#include <stdbool.h>

#include <sqlite3.h>

#include "store/db.h"
#include "util/error.h"

struct pier_db
{
  sqlite3 *h;
  char *path;
};

/* "<what>: <sqlite's message>" with an errno-style code; returns -1. */
int __attribute__ ((format (printf, 4, 5)))
db_fail (pier_db *db, int rc, pier_error **err, const char *fmt, ...);
int db_exec (pier_db *db, const char *sql, pier_error **err);
int db_prepare (pier_db *db, const char *sql, sqlite3_stmt **s, pier_error **err);
/* Binds v, or NULL when v is NULL; v must outlive the statement's step. */
void db_bind_text (sqlite3_stmt *s, int i, const char *v);
/* A copy of column i's text, NULL for NULL. */
char *db_col_text (sqlite3_stmt *s, int i);
int db_check_digest (const char *what, const char *d, pier_error **err);

void db_stmt_finalize (sqlite3_stmt **s);
#define cleanup_stmt __attribute__ ((cleanup (db_stmt_finalize)))

/* A unit of work: its own IMMEDIATE transaction, or a savepoint inside the
 * caller's. */
typedef struct tx
{
  pier_db *db;
  bool savepoint;
  bool open;
} tx;

int db_tx_begin (pier_db *db, tx *t, pier_error **err);
int db_tx_commit (tx *t, pier_error **err);
/* Scope cleanup: undo the unit of work unless it was committed. */
void db_tx_cleanup (tx *t);
#define cleanup_tx __attribute__ ((cleanup (db_tx_cleanup)))
/* A read snapshot (deferred transaction) unless the caller has one open. */
int db_read_begin (pier_db *db, tx *t, pier_error **err);

#endif
