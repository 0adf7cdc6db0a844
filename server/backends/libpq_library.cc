#include "server/backends/libpq_library.h"

#include <atomic>
#include <cstdio>
#include <cstdlib>

#include "absl/base/const_init.h"
#include "absl/synchronization/mutex.h"
#include "server/common/shared_library.h"

namespace profile {
namespace {

ABSL_CONST_INIT absl::Mutex load_mu(absl::kConstInit);
// Set once, never freed: libpq is never unloaded. Read without the lock by
// Libpq(), which every libpq call of the store goes through.
std::atomic<const LibpqLibrary*> loaded{nullptr};

}  // namespace

absl::StatusOr<LibpqLibrary> OpenLibpq(const char* soname) {
  absl::StatusOr<SharedLibrary> library =
      SharedLibrary::Open(soname, PROFILE_LIBPQ_PACKAGE);
  if (!library.ok()) return library.status();
  LibpqLibrary pq;
  for (absl::Status found : {
           library->Resolve("PQclear", &pq.PQclear),
           library->Resolve("PQconnectdbParams", &pq.PQconnectdbParams),
           library->Resolve("PQconninfoFree", &pq.PQconninfoFree),
           library->Resolve("PQconninfoParse", &pq.PQconninfoParse),
           library->Resolve("PQerrorMessage", &pq.PQerrorMessage),
           library->Resolve("PQexec", &pq.PQexec),
           library->Resolve("PQexecParams", &pq.PQexecParams),
           library->Resolve("PQexecPrepared", &pq.PQexecPrepared),
           library->Resolve("PQfinish", &pq.PQfinish),
           library->Resolve("PQfreemem", &pq.PQfreemem),
           library->Resolve("PQgetlength", &pq.PQgetlength),
           library->Resolve("PQgetvalue", &pq.PQgetvalue),
           library->Resolve("PQnfields", &pq.PQnfields),
           library->Resolve("PQntuples", &pq.PQntuples),
           library->Resolve("PQprepare", &pq.PQprepare),
           library->Resolve("PQresultErrorField", &pq.PQresultErrorField),
           library->Resolve("PQresultErrorMessage", &pq.PQresultErrorMessage),
           library->Resolve("PQresultStatus", &pq.PQresultStatus),
           library->Resolve("PQstatus", &pq.PQstatus),
           library->Resolve("PQtransactionStatus", &pq.PQtransactionStatus),
       }) {
    if (!found.ok()) return found;
  }
  return pq;
}

absl::StatusOr<const LibpqLibrary*> LoadLibpq() {
  if (const LibpqLibrary* pq = loaded.load(std::memory_order_acquire)) {
    return pq;
  }
  absl::MutexLock lock(&load_mu);
  if (const LibpqLibrary* pq = loaded.load(std::memory_order_relaxed)) {
    return pq;
  }
  absl::StatusOr<LibpqLibrary> pq = OpenLibpq(PROFILE_LIBPQ_SONAME);
  if (!pq.ok()) return pq.status();
  const LibpqLibrary* table = new LibpqLibrary(*pq);
  loaded.store(table, std::memory_order_release);
  return table;
}

const LibpqLibrary& Libpq() {
  const LibpqLibrary* pq = loaded.load(std::memory_order_acquire);
  if (pq == nullptr) {
    // A bug: every way to a PostgresOptions parses the URL, which loads it.
    std::fprintf(stderr, "fatal: libpq used before LoadLibpq()\n");
    std::abort();
  }
  return *pq;
}

}  // namespace profile
