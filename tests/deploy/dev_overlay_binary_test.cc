// The dev overlay, as Kubernetes would run it: `kubectl kustomize` renders
// deploy/overlays/dev, the container's args and its ConfigMap flagfile are
// taken from the rendered objects, the real profile_server starts with them
// (only the listen addresses moved to 127.0.0.1 port 0), and its readiness
// and liveness are probed exactly as the kubelet does: grpc.health.v1 Check,
// plaintext, on the probe's port with the probe's service name. Then SIGTERM
// must end it within terminationGracePeriodSeconds.
#include <signal.h>

#include <chrono>
#include <cstdlib>
#include <fstream>
#include <map>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "gmock/gmock.h"
#include "grpc/health/v1/health.grpc.pb.h"
#include "grpcpp/grpcpp.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "tests/testing/health_probe.h"
#include "tests/testing/server_process.h"
#include "tests/testing/test_crypto.h"

namespace profile {
namespace {

using ::grpc::health::v1::Health;
using ::grpc::health::v1::HealthCheckRequest;
using ::grpc::health::v1::HealthCheckResponse;
using ::profile::testing::ServerProcess;
using ::profile::testing::TestDir;

const char kBinary[] = PROFILE_SERVER_BINARY;
const char kSourceDir[] = PROFILE_SOURCE_DIR;

// Which field of the "serving" log line reports the port a flag binds.
const std::map<std::string, std::string> kPortField = {
    {"listen", "port"},
    {"health_listen", "health_port"},
    {"metrics_listen", "metrics_port"}};

int PortOf(const std::string& listen) {
  int port = 0;
  absl::SimpleAtoi(listen.substr(listen.rfind(':') + 1), &port);
  return port;
}

int LogPort(const std::string& log, const std::string& field) {
  for (absl::string_view line : absl::StrSplit(log, '\n')) {
    nlohmann::json parsed = nlohmann::json::parse(line, nullptr, false);
    if (parsed.is_object() && parsed.value("message", "") == "serving") {
      int port = 0;
      absl::SimpleAtoi(parsed.value(field, ""), &port);
      return port;
    }
  }
  return 0;
}

TEST(DevOverlayBinaryTest, StartsWithTheOverlaysFlagsAndAnswersItsProbes) {
  const std::string rendered = testing::Run(absl::StrCat(
      "kubectl kustomize '", kSourceDir, "/deploy/overlays/dev' | node '",
      kSourceDir, "/tests/deploy/check_manifests.mjs' --json"));
  nlohmann::json objects = nlohmann::json::parse(rendered, nullptr, false);
  ASSERT_TRUE(objects.is_array()) << rendered.substr(0, 2000);

  nlohmann::json deployment, config_maps = nlohmann::json::array();
  for (const nlohmann::json& o : objects) {
    if (o["kind"] == "Deployment") deployment = o;
    if (o["kind"] == "ConfigMap") config_maps.push_back(o);
  }
  ASSERT_TRUE(deployment.is_object());
  const nlohmann::json& pod = deployment["spec"]["template"]["spec"];
  ASSERT_EQ(pod["containers"].size(), 1u);
  const nlohmann::json& container = pod["containers"][0];

  // The args, with each --flagfile rewritten to a copy of the ConfigMap key
  // it is mounted from, and the listen addresses moved to loopback.
  TestDir dir;
  std::vector<std::string> args;
  std::map<int, std::string> flag_of_port;  // container port -> flag
  for (const nlohmann::json& arg_json : container["args"]) {
    const std::string arg = arg_json.get<std::string>();
    ASSERT_FALSE(absl::StartsWith(arg, "--listen") ||
                 absl::StartsWith(arg, "--health_listen"))
        << "listen flags belong in the flagfile: " << arg;
    if (!absl::StartsWith(arg, "--flagfile=")) {
      args.push_back(arg);
      continue;
    }
    const std::string path = arg.substr(strlen("--flagfile="));
    std::string contents;
    for (const nlohmann::json& mount : container["volumeMounts"]) {
      const std::string mount_path = mount["mountPath"];
      if (!absl::StartsWith(path, mount_path + "/")) continue;
      const std::string key = path.substr(mount_path.size() + 1);
      for (const nlohmann::json& volume : pod["volumes"]) {
        if (volume["name"] != mount["name"]) continue;
        for (const nlohmann::json& cm : config_maps) {
          if (cm["metadata"]["name"] == volume["configMap"]["name"]) {
            contents = cm["data"].value(key, "");
          }
        }
      }
    }
    ASSERT_FALSE(contents.empty()) << "no ConfigMap data behind " << path;
    std::vector<std::string> lines;
    for (absl::string_view line : absl::StrSplit(contents, '\n')) {
      std::string text(line);
      for (const auto& [flag, field] : kPortField) {
        const std::string prefix = "--" + flag + "=";
        if (absl::StartsWith(text, prefix)) {
          flag_of_port[PortOf(text.substr(prefix.size()))] = flag;
          text = prefix + "127.0.0.1:0";
        }
      }
      lines.push_back(text);
    }
    args.push_back("--flagfile=" +
                   dir.Write("flags", absl::StrJoin(lines, "\n")));
  }

  ServerProcess server;
  ASSERT_TRUE(server.Start(kBinary, args)) << server.log();

  for (const char* probe : {"readinessProbe", "livenessProbe"}) {
    ASSERT_TRUE(container.contains(probe)) << probe;
    const nlohmann::json& grpc = container[probe]["grpc"];
    ASSERT_TRUE(grpc.is_object()) << probe << " is not a gRPC probe";
    const int container_port = grpc["port"].get<int>();
    ASSERT_TRUE(flag_of_port.count(container_port))
        << probe << " port " << container_port << " is bound by no flag";
    const int port =
        LogPort(server.log(), kPortField.at(flag_of_port[container_port]));
    ASSERT_GT(port, 0) << server.log();
    const std::string service = grpc.value("service", "");
    EXPECT_EQ(testing::HealthOf(port, service), HealthCheckResponse::SERVING)
        << probe << " service \"" << service << "\"";
  }

  const int grace = pod.value("terminationGracePeriodSeconds", 30);
  EXPECT_EQ(server.Stop(SIGTERM, absl::Seconds(grace)), 0) << server.log();
}

}  // namespace
}  // namespace profile
