#include "server/backends/redis_client.h"

#include <hiredis/hiredis.h>
#include <openssl/sha.h>

#include <sys/time.h>

#include <cstring>
#include <string>

#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"

namespace profile {
namespace {


RedisReply Decode(const redisReply* reply) {
  RedisReply out;
  switch (reply->type) {
    case REDIS_REPLY_INTEGER:
      out.type = RedisReply::Type::kInteger;
      out.integer = reply->integer;
      break;
    case REDIS_REPLY_STRING:
      out.type = RedisReply::Type::kString;
      out.str.assign(reply->str, reply->len);
      break;
    case REDIS_REPLY_STATUS:
      out.type = RedisReply::Type::kStatus;
      out.str.assign(reply->str, reply->len);
      break;
    case REDIS_REPLY_ERROR:
      out.type = RedisReply::Type::kError;
      out.str.assign(reply->str, reply->len);
      break;
    case REDIS_REPLY_ARRAY:
      out.type = RedisReply::Type::kArray;
      for (size_t i = 0; i < reply->elements; ++i) {
        out.elements.push_back(Decode(reply->element[i]));
      }
      break;
    default:
      break;
  }
  return out;
}

absl::Status Unavailable(absl::string_view what) {
  return absl::UnavailableError(absl::StrCat("redis: ", what));
}

// Sends `args` on `context` and decodes the reply; nullopt-like error on a
// transport failure (the context then carries the error).
absl::StatusOr<RedisReply> Send(redisContext* context,
                                const std::vector<std::string>& args) {
  std::vector<const char*> argv;
  std::vector<size_t> lengths;
  argv.reserve(args.size());
  lengths.reserve(args.size());
  for (const std::string& arg : args) {
    argv.push_back(arg.data());
    lengths.push_back(arg.size());
  }
  auto* reply = static_cast<redisReply*>(redisCommandArgv(
      context, static_cast<int>(args.size()), argv.data(), lengths.data()));
  if (reply == nullptr) {
    return Unavailable(context->err != 0 ? context->errstr
                                         : "no reply from the server");
  }
  RedisReply decoded = Decode(reply);
  freeReplyObject(reply);
  return decoded;
}

}  // namespace

absl::string_view RedisScript::sha1() const {
  absl::call_once(sha1_once_, [this] {
    unsigned char digest[SHA_DIGEST_LENGTH];
    SHA1(reinterpret_cast<const unsigned char*>(source_), std::strlen(source_),
         digest);
    static_assert(sizeof(sha1_) == 2 * SHA_DIGEST_LENGTH);
    const std::string hex = absl::BytesToHexString(absl::string_view(
        reinterpret_cast<const char*>(digest), sizeof(digest)));
    std::memcpy(sha1_, hex.data(), sizeof(sha1_));
  });
  return absl::string_view(sha1_, sizeof(sha1_));
}

std::unique_ptr<RedisClient> RedisClient::Create(
    const RedisClientOptions& options) {
  return std::unique_ptr<RedisClient>(new RedisClient(options));
}

RedisClient::RedisClient(const RedisClientOptions& options)
    : options_(options),
      pool_({"redis", options.pool_size, options.timeout},
            [this] { return Connect(); }, redisFree) {}

RedisClient::~RedisClient() = default;

absl::StatusOr<redisContext*> RedisClient::Connect() {
  const timeval timeout = absl::ToTimeval(options_.timeout);
  redisContext* context = redisConnectWithTimeout(
      options_.url.host.c_str(), options_.url.port, timeout);
  if (context == nullptr) return Unavailable("cannot allocate a connection");
  if (context->err != 0) {
    absl::Status status = Unavailable(absl::StrCat(
        "cannot connect to ", options_.url.host, ":", options_.url.port, ": ",
        context->errstr));
    redisFree(context);
    return status;
  }
  redisSetTimeout(context, timeout);
  redisEnableKeepAlive(context);
  std::vector<std::vector<std::string>> setup;
  if (!options_.url.password.empty()) {
    if (options_.url.user.empty()) {
      setup.push_back({"AUTH", options_.url.password});
    } else {
      setup.push_back({"AUTH", options_.url.user, options_.url.password});
    }
  }
  if (!options_.url.database.empty() && options_.url.database != "0") {
    setup.push_back({"SELECT", options_.url.database});
  }
  for (const auto& command : setup) {
    absl::StatusOr<RedisReply> reply = Send(context, command);
    if (!reply.ok() || reply->type == RedisReply::Type::kError) {
      absl::Status status =
          reply.ok() ? absl::UnavailableError(
                           absl::StrCat("redis: ", command[0],
                                        " refused: ", reply->str))
                     : reply.status();
      redisFree(context);
      return status;
    }
  }
  return context;
}

absl::StatusOr<RedisReply> RedisClient::Command(
    const std::vector<std::string>& args) {
  absl::StatusOr<redisContext*> context = pool_.Acquire();
  if (!context.ok()) return context.status();
  round_trips_.fetch_add(1, std::memory_order_relaxed);
  absl::StatusOr<RedisReply> reply = Send(*context, args);
  // A connection that failed a command is dropped even when hiredis saw no
  // error: what it holds unread is unknown.
  pool_.Release(*context, reply.ok() && (*context)->err == 0);
  return reply;
}

absl::StatusOr<RedisReply> RedisClient::Eval(
    const RedisScript& script, const std::vector<std::string>& keys,
    const std::vector<std::string>& args) {
  std::vector<std::string> command = {"EVALSHA", std::string(script.sha1()),
                                      absl::StrCat(keys.size())};
  command.insert(command.end(), keys.begin(), keys.end());
  command.insert(command.end(), args.begin(), args.end());
  absl::StatusOr<RedisReply> reply = Command(command);
  if (reply.ok() && reply->type == RedisReply::Type::kError &&
      absl::StartsWith(reply->str, "NOSCRIPT")) {
    command[0] = "EVAL";
    command[1] = std::string(script.source());
    reply = Command(command);
  }
  if (reply.ok() && reply->type == RedisReply::Type::kError) {
    // A Redis that is starting, busy or out of memory comes back by itself.
    for (absl::string_view transient :
         {"LOADING", "BUSY", "MASTERDOWN", "TRYAGAIN", "OOM", "NOAUTH"}) {
      if (absl::StartsWith(reply->str, transient)) {
        return Unavailable(reply->str);
      }
    }
    return absl::InternalError(absl::StrCat("redis script: ", reply->str));
  }
  return reply;
}

absl::Status RedisClient::Ping() {
  absl::StatusOr<RedisReply> reply = Command({"PING"});
  if (!reply.ok()) return reply.status();
  if (reply->type != RedisReply::Type::kStatus) {
    return Unavailable(absl::StrCat("PING answered ", reply->str));
  }
  return absl::OkStatus();
}

}  // namespace profile
