// The connection-level limits of issue 6, seen from the wire: a raw HTTP/2
// client on a real socket reads what the server advertises and how it treats
// a connection that opens too many streams, stays idle, never answers a
// keepalive ping, floods pings or never says a word. Each test fails if the
// option it covers is no longer applied to the server (the generated stubs
// hide all of this: gRPC's own client obeys the limits before it sends).
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <utility>

#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "gtest/gtest.h"
#include "server/server.h"

namespace profile {
namespace {

// HTTP/2 frame types and codes (RFC 9113).
constexpr uint8_t kData = 0x0;
constexpr uint8_t kHeaders = 0x1;
constexpr uint8_t kRstStream = 0x3;
constexpr uint8_t kSettings = 0x4;
constexpr uint8_t kPing = 0x6;
constexpr uint8_t kGoaway = 0x7;
constexpr uint8_t kFlagAck = 0x1;
constexpr uint8_t kFlagEndHeaders = 0x4;
constexpr uint16_t kSettingsMaxConcurrentStreams = 0x3;
constexpr uint16_t kSettingsMaxHeaderListSize = 0x6;
constexpr uint32_t kEnhanceYourCalm = 0xb;

struct Frame {
  uint8_t type = 0;
  uint8_t flags = 0;
  uint32_t stream = 0;
  std::string payload;
};

uint32_t ReadU32(const std::string& bytes, size_t at) {
  return (uint32_t{static_cast<uint8_t>(bytes[at])} << 24) |
         (uint32_t{static_cast<uint8_t>(bytes[at + 1])} << 16) |
         (uint32_t{static_cast<uint8_t>(bytes[at + 2])} << 8) |
         uint32_t{static_cast<uint8_t>(bytes[at + 3])};
}

// The settings in a SETTINGS frame's payload, by identifier.
std::map<uint16_t, uint32_t> ParseSettings(const std::string& payload) {
  std::map<uint16_t, uint32_t> settings;
  for (size_t at = 0; at + 6 <= payload.size(); at += 6) {
    uint16_t id = static_cast<uint16_t>(
        (static_cast<uint8_t>(payload[at]) << 8) |
        static_cast<uint8_t>(payload[at + 1]));
    settings[id] = ReadU32(payload, at + 2);
  }
  return settings;
}

// An HPACK "literal header field without indexing, new name" (RFC 7541
// 6.2.2) for a name and value under 127 bytes, without Huffman coding.
std::string LiteralHeader(const std::string& name, const std::string& value) {
  std::string out(1, '\0');
  out += static_cast<char>(name.size());
  out += name;
  out += static_cast<char>(value.size());
  out += value;
  return out;
}

// The header block of a GetProfile call from user `user`.
std::string GetProfileHeaders(const std::string& user) {
  return LiteralHeader(":method", "POST") + LiteralHeader(":scheme", "http") +
         LiteralHeader(":path", "/profile.v1.ProfileService/GetProfile") +
         LiteralHeader(":authority", "127.0.0.1") +
         LiteralHeader("content-type", "application/grpc") +
         LiteralHeader("te", "trailers") + LiteralHeader("x-user-id", user);
}

// One HTTP/2 connection spoken by hand. Not thread-safe.
class RawHttp2Connection {
 public:
  RawHttp2Connection() = default;
  RawHttp2Connection(const RawHttp2Connection&) = delete;
  RawHttp2Connection& operator=(const RawHttp2Connection&) = delete;
  ~RawHttp2Connection() {
    if (fd_ >= 0) close(fd_);
  }

  // Connects to 127.0.0.1:`port`; false on failure.
  bool Connect(int port) {
    fd_ = socket(AF_INET, SOCK_STREAM, 0);
    if (fd_ < 0) return false;
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(static_cast<uint16_t>(port));
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    return connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0;
  }

  // Sends the client preface and empty SETTINGS, reads the server's
  // SETTINGS and acknowledges them; returns the server's settings, or
  // nullopt if they did not come.
  std::optional<std::map<uint16_t, uint32_t>> Handshake() {
    static constexpr char kPreface[] = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
    if (!SendBytes(std::string(kPreface, sizeof(kPreface) - 1))) {
      return std::nullopt;
    }
    if (!Send(kSettings, 0, 0, "")) return std::nullopt;
    std::optional<Frame> settings = ReadUntil(
        [](const Frame& f) {
          return f.type == kSettings && (f.flags & kFlagAck) == 0;
        },
        absl::Seconds(10));
    if (!settings.has_value()) return std::nullopt;
    if (!Send(kSettings, kFlagAck, 0, "")) return std::nullopt;
    return ParseSettings(settings->payload);
  }

  bool Send(uint8_t type, uint8_t flags, uint32_t stream,
            const std::string& payload) {
    std::string frame;
    frame += static_cast<char>((payload.size() >> 16) & 0xff);
    frame += static_cast<char>((payload.size() >> 8) & 0xff);
    frame += static_cast<char>(payload.size() & 0xff);
    frame += static_cast<char>(type);
    frame += static_cast<char>(flags);
    for (int shift = 24; shift >= 0; shift -= 8) {
      frame += static_cast<char>((stream >> shift) & (shift == 24 ? 0x7f : 0xff));
    }
    return SendBytes(frame + payload);
  }

  // Returns the first frame for which `match` holds, reading (and dropping)
  // the frames before it; nullopt if none came within `timeout` or the
  // server closed the connection first.
  template <typename Match>
  std::optional<Frame> ReadUntil(Match match, absl::Duration timeout) {
    const absl::Time deadline = absl::Now() + timeout;
    for (;;) {
      while (std::optional<Frame> frame = TakeBufferedFrame()) {
        if (match(*frame)) return frame;
      }
      if (closed_ || !Fill(deadline)) return std::nullopt;
    }
  }

  // Waits until the server closes the connection; false if it is still
  // open at `timeout`. Frames that come first are dropped.
  bool WaitClosed(absl::Duration timeout) {
    const absl::Time deadline = absl::Now() + timeout;
    while (!closed_) {
      buffer_.clear();
      if (!Fill(deadline)) return closed_;
    }
    return true;
  }

 private:
  bool SendBytes(const std::string& bytes) {
    size_t sent = 0;
    while (sent < bytes.size()) {
      ssize_t n = send(fd_, bytes.data() + sent, bytes.size() - sent,
                       MSG_NOSIGNAL);
      if (n <= 0) return false;
      sent += static_cast<size_t>(n);
    }
    return true;
  }

  // Reads what has arrived by `deadline` into the buffer; false on timeout.
  // End of stream or a reset sets closed_.
  bool Fill(absl::Time deadline) {
    pollfd pfd{fd_, POLLIN, 0};
    int64_t wait_ms = absl::ToInt64Milliseconds(deadline - absl::Now());
    if (wait_ms < 0) return false;
    if (poll(&pfd, 1, static_cast<int>(wait_ms)) <= 0) return false;
    char chunk[16384];
    ssize_t n = recv(fd_, chunk, sizeof(chunk), 0);
    if (n <= 0) {
      closed_ = true;
      return true;
    }
    buffer_.append(chunk, static_cast<size_t>(n));
    return true;
  }

  std::optional<Frame> TakeBufferedFrame() {
    if (buffer_.size() < 9) return std::nullopt;
    const size_t length = (size_t{static_cast<uint8_t>(buffer_[0])} << 16) |
                          (size_t{static_cast<uint8_t>(buffer_[1])} << 8) |
                          size_t{static_cast<uint8_t>(buffer_[2])};
    if (buffer_.size() < 9 + length) return std::nullopt;
    Frame frame;
    frame.type = static_cast<uint8_t>(buffer_[3]);
    frame.flags = static_cast<uint8_t>(buffer_[4]);
    frame.stream = ReadU32(buffer_, 5) & 0x7fffffff;
    frame.payload = buffer_.substr(9, length);
    buffer_.erase(0, 9 + length);
    return frame;
  }

  int fd_ = -1;
  bool closed_ = false;
  std::string buffer_;
};

bool IsGoaway(const Frame& frame) { return frame.type == kGoaway; }

// The error code of a GOAWAY frame (after the last stream id).
uint32_t GoawayError(const Frame& frame) {
  return frame.payload.size() >= 8 ? ReadU32(frame.payload, 4) : ~0u;
}

class TransportLimitsE2eTest : public ::testing::Test {
 protected:
  static ServerOptions BaseOptions() {
    ServerOptions options;
    options.listen = "127.0.0.1:0";
    options.core.sms.sender = "log";
    return options;
  }

  void StartServer(const ServerOptions& options) {
    absl::StatusOr<std::unique_ptr<ProfileServer>> server =
        ProfileServer::Start(options);
    ASSERT_TRUE(server.ok()) << server.status();
    server_ = *std::move(server);
  }

  // A raw connection to the server, past the HTTP/2 handshake.
  std::unique_ptr<RawHttp2Connection> Connect(
      std::map<uint16_t, uint32_t>* settings = nullptr) {
    auto connection = std::make_unique<RawHttp2Connection>();
    EXPECT_TRUE(connection->Connect(server_->port()));
    std::optional<std::map<uint16_t, uint32_t>> server_settings =
        connection->Handshake();
    EXPECT_TRUE(server_settings.has_value());
    if (settings != nullptr && server_settings.has_value()) {
      *settings = *std::move(server_settings);
    }
    return connection;
  }

  std::unique_ptr<ProfileServer> server_;
};

TEST_F(TransportLimitsE2eTest, SettingsAdvertiseTheStreamAndMetadataLimits) {
  ServerOptions options = BaseOptions();
  options.max_concurrent_streams = 7;
  options.max_metadata_bytes = 3000;
  StartServer(options);
  std::map<uint16_t, uint32_t> settings;
  std::unique_ptr<RawHttp2Connection> connection = Connect(&settings);
  EXPECT_EQ(settings[kSettingsMaxConcurrentStreams], 7u);
  EXPECT_EQ(settings[kSettingsMaxHeaderListSize], 3000u);
}

// Sends a ping and reads up to its ack; returns the RST_STREAM frames that
// came first (stream -> error code), or nullopt if the connection closed
// instead. Frames on a connection are handled in order, so the ack comes
// after whatever the server answered to the frames sent before the ping.
std::optional<std::map<uint32_t, uint32_t>> ResetsBeforePingAck(
    RawHttp2Connection& connection) {
  if (!connection.Send(kPing, 0, 0, std::string(8, 'p'))) return std::nullopt;
  std::map<uint32_t, uint32_t> resets;
  std::optional<Frame> ack = connection.ReadUntil(
      [&](const Frame& f) {
        if (f.type == kRstStream && f.payload.size() == 4) {
          resets[f.stream] = ReadU32(f.payload, 0);
        }
        return f.type == kPing && (f.flags & kFlagAck) != 0;
      },
      absl::Seconds(10));
  if (!ack.has_value()) return std::nullopt;
  return resets;
}

// gRPC's own client queues calls past the advertised limit. A client that
// ignores it loses the connection: gRPC 1.51 treats a stream over the
// acknowledged MAX_CONCURRENT_STREAMS as a connection error ("Max stream
// count exceeded"), not as a REFUSED_STREAM of that stream alone.
TEST_F(TransportLimitsE2eTest, StreamsOverMaxConcurrentStreamsCloseTheConnection) {
  ServerOptions options = BaseOptions();
  options.max_concurrent_streams = 2;
  StartServer(options);
  std::unique_ptr<RawHttp2Connection> connection = Connect();
  // Two calls whose request messages never come: each holds its stream,
  // and the connection carries on.
  for (uint32_t stream : {1u, 3u}) {
    ASSERT_TRUE(connection->Send(kHeaders, kFlagEndHeaders, stream,
                                 GetProfileHeaders("u1")));
  }
  std::optional<std::map<uint32_t, uint32_t>> resets =
      ResetsBeforePingAck(*connection);
  ASSERT_TRUE(resets.has_value());
  EXPECT_TRUE(resets->empty());
  // A third one is over the limit.
  ASSERT_TRUE(connection->Send(kHeaders, kFlagEndHeaders, 5,
                               GetProfileHeaders("u1")));
  EXPECT_FALSE(ResetsBeforePingAck(*connection).has_value());
  EXPECT_TRUE(connection->WaitClosed(absl::Seconds(10)));
}

TEST_F(TransportLimitsE2eTest, IdleConnectionIsSentGoaway) {
  ServerOptions options = BaseOptions();
  options.max_connection_idle = absl::Seconds(1);
  StartServer(options);
  const absl::Time start = absl::Now();
  std::unique_ptr<RawHttp2Connection> connection = Connect();
  std::optional<Frame> goaway =
      connection->ReadUntil(IsGoaway, absl::Seconds(15));
  ASSERT_TRUE(goaway.has_value());
  EXPECT_GE(absl::Now() - start, absl::Milliseconds(900));
  // No call was started on it: the last stream id is 0.
  EXPECT_EQ(ReadU32(goaway->payload, 0), 0u);
}

// A peer that has gone away without a FIN (a dead node, a dropped NAT
// entry) never answers the server's keepalive ping; the server closes the
// connection keepalive_timeout later.
TEST_F(TransportLimitsE2eTest, UnansweredKeepalivePingClosesTheConnection) {
  ServerOptions options = BaseOptions();
  options.keepalive_time = absl::Seconds(10);  // the flag's least value
  options.keepalive_timeout = absl::Seconds(1);
  options.max_connection_idle = absl::ZeroDuration();
  StartServer(options);
  const absl::Time start = absl::Now();
  std::unique_ptr<RawHttp2Connection> connection = Connect();
  std::optional<Frame> ping = connection->ReadUntil(
      [](const Frame& f) { return f.type == kPing && (f.flags & kFlagAck) == 0; },
      absl::Seconds(30));
  ASSERT_TRUE(ping.has_value());
  const absl::Time pinged = absl::Now();
  EXPECT_GE(pinged - start, absl::Seconds(9));
  EXPECT_TRUE(connection->WaitClosed(absl::Seconds(10)));
  EXPECT_LE(absl::Now() - pinged, absl::Seconds(9));
}

// Pings cost the server work; a client pinging an idle connection more
// often than kMinClientPingInterval is told to calm down and disconnected
// after kMaxPingStrikes. (gRPC's defaults punish this too, only later: the
// test keeps a change to the server's settings from turning it off.)
TEST_F(TransportLimitsE2eTest, PingFloodIsSentGoawayEnhanceYourCalm) {
  StartServer(BaseOptions());
  std::unique_ptr<RawHttp2Connection> connection = Connect();
  for (int i = 0; i < kMaxPingStrikes + 3; ++i) {
    ASSERT_TRUE(connection->Send(kPing, 0, 0, std::string(8, 'a' + i)));
  }
  std::optional<Frame> goaway =
      connection->ReadUntil(IsGoaway, absl::Seconds(10));
  ASSERT_TRUE(goaway.has_value());
  EXPECT_EQ(GoawayError(*goaway), kEnhanceYourCalm);
  EXPECT_NE(goaway->payload.find("too_many_pings"), std::string::npos)
      << goaway->payload.substr(8);
}

// A socket that connects and never sends the HTTP/2 preface (slowloris) is
// closed once handshake_timeout has passed.
TEST_F(TransportLimitsE2eTest, SilentConnectionIsClosedAfterHandshakeTimeout) {
  ServerOptions options = BaseOptions();
  options.handshake_timeout = absl::Seconds(1);
  StartServer(options);
  const absl::Time start = absl::Now();
  RawHttp2Connection silent;
  ASSERT_TRUE(silent.Connect(server_->port()));
  EXPECT_TRUE(silent.WaitClosed(absl::Seconds(15)));
  EXPECT_GE(absl::Now() - start, absl::Milliseconds(900));
}

// A well-behaved request on a raw connection is answered, so the refusals
// above are the limits at work, not a malformed client.
TEST_F(TransportLimitsE2eTest, RawClientIsServed) {
  StartServer(BaseOptions());
  std::unique_ptr<RawHttp2Connection> connection = Connect();
  ASSERT_TRUE(connection->Send(kHeaders, kFlagEndHeaders, 1,
                               GetProfileHeaders("raw")));
  // An empty GetProfileRequest: the 5-byte gRPC prefix, uncompressed, 0.
  ASSERT_TRUE(connection->Send(kData, /*END_STREAM=*/0x1, 1,
                               std::string(5, '\0')));
  std::optional<Frame> data = connection->ReadUntil(
      [](const Frame& f) { return f.type == kData && f.stream == 1; },
      absl::Seconds(10));
  ASSERT_TRUE(data.has_value());
  // The response message names the caller.
  EXPECT_NE(data->payload.find("raw"), std::string::npos);
}

}  // namespace
}  // namespace profile
