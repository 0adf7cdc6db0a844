// LibpqLibrary: the libpq functions the PostgreSQL user store calls, from
// libpq loaded (dlopen, server/common/shared_library.h) when --postgres_url
// is first parsed. A server that keeps its profiles in memory never maps
// libpq and the ~22 libraries it brings (Kerberos, LDAP, GnuTLS...).
// <libpq-fe.h> still gives the types and constants.
//
//   absl::StatusOr<const LibpqLibrary*> pq = LoadLibpq();
//   if (!pq.ok()) return pq.status();
//   PGconn* conn = (*pq)->PQconnectdbParams(keywords, values, 1);
//   ...
//   Libpq().PQfinish(conn);  // anywhere after LoadLibpq() succeeded
//
// Each member is the libpq function of the same name.
//
// Thread-safety: LoadLibpq() and Libpq() may be called concurrently; the
// table is immutable and lives as long as the process.
#ifndef PROFILE_SERVER_BACKENDS_LIBPQ_LIBRARY_H_
#define PROFILE_SERVER_BACKENDS_LIBPQ_LIBRARY_H_

#include <libpq-fe.h>

#include "absl/status/statusor.h"

namespace profile {

struct LibpqLibrary {
  decltype(&::PQclear) PQclear;
  decltype(&::PQconnectdbParams) PQconnectdbParams;
  decltype(&::PQconninfoFree) PQconninfoFree;
  decltype(&::PQconninfoParse) PQconninfoParse;
  decltype(&::PQerrorMessage) PQerrorMessage;
  decltype(&::PQexec) PQexec;
  decltype(&::PQexecParams) PQexecParams;
  decltype(&::PQexecPrepared) PQexecPrepared;
  decltype(&::PQfinish) PQfinish;
  decltype(&::PQfreemem) PQfreemem;
  decltype(&::PQgetlength) PQgetlength;
  decltype(&::PQgetvalue) PQgetvalue;
  decltype(&::PQnfields) PQnfields;
  decltype(&::PQntuples) PQntuples;
  decltype(&::PQprepare) PQprepare;
  decltype(&::PQresultErrorField) PQresultErrorField;
  decltype(&::PQresultErrorMessage) PQresultErrorMessage;
  decltype(&::PQresultStatus) PQresultStatus;
  decltype(&::PQstatus) PQstatus;
  decltype(&::PQtransactionStatus) PQtransactionStatus;
};

// Returns libpq, loaded by the first call that succeeds (the soname of
// Debian's libpq5, from the build). Returns FAILED_PRECONDITION naming the
// library if it cannot be loaded; a later call tries again.
absl::StatusOr<const LibpqLibrary*> LoadLibpq();

// Returns the libpq that LoadLibpq() loaded.
// REQUIRES: a call of LoadLibpq() returned OK.
const LibpqLibrary& Libpq();

// Returns the functions of the libpq `soname`. LoadLibpq() is this for the
// build's soname, once; for tests of the errors.
absl::StatusOr<LibpqLibrary> OpenLibpq(const char* soname);

}  // namespace profile

#endif  // PROFILE_SERVER_BACKENDS_LIBPQ_LIBRARY_H_
